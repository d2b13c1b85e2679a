"""A small synthetic BOSS plate with known sky, for the sky family's tests and benchmarks.

Writes, in the real layouts (through :mod:`sdssflow.io.boss` and :mod:`sdssflow.io.fluxcal`),
an spPlate header with ``EXPIDnn`` keywords, spFrame files (sky-subtracted flux + sky model in
electrons per native pixel, Poisson + read noise, consistent ivar, a few masked pixels),
spFluxcalib files and flux-calibration ``calib-{expid}.fits`` files of one known instrument
response, so that every calibration mode must recover the injected sky. The injected sky is a
power-law continuum plus Gaussian lines of the project's line list (the throughput of exposure k
is 1 + 0.1 k times that of the first, so the ``reference`` mode is visibly different) (and, optionally, airglow
lines kept 15 A away from every line-list window) with the frame's line-spread sigma.

This is not the demo survey (``sdssflow.synth``): it is a fast, self-contained fixture whose
truth is returned in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from sdssflow.sky.calibration import native_bin_ratio
from sdssflow.sky.contfit import read_airglow_lines
from sdssflow.sky.lines import read_line_list

__all__ = ["FakePlate", "make_plate", "sky_truth", "instrument_fluxcalib"]

NPIX = {"b": 4112, "r": 4128}
LOGLAM_RANGE = {"b": (3.5505, 3.8050), "r": (3.7490, 4.0190)}
DISP_PIX = 1.1


@dataclass
class FakePlate:
    """What was written and the truth.

    Attributes
    ----------
    plate_dir : pathlib.Path
    plate, mjd : int
    expids : list of int
    cameras : list of str
    sky_fibers : dict camera -> numpy.ndarray of row indices
    line_flux : dict (expid, camera) -> dict name -> flux (1e-17 erg/s/cm2) of line-list entries
    cont_amp : dict expid -> continuum amplitude at 5000 A (1e-17 erg/s/cm2/A)
    truth_flux : dict (expid, camera) -> (nfib, npix) injected flux density at pixel centres
    fluxcal_dir : pathlib.Path
        Holds ``{mjd}/calib-{expid}.fits``.
    reference_calib : str
        spFluxcalib path pattern with ``{camera}``.
    """

    plate_dir: Path
    plate: int
    mjd: int
    expids: list
    cameras: list
    sky_fibers: dict = field(default_factory=dict)
    line_flux: dict = field(default_factory=dict)
    cont_amp: dict = field(default_factory=dict)
    truth_flux: dict = field(default_factory=dict)
    fluxcal_dir: Path | None = None
    reference_calib: str = ""


def _loglam(camera: str, nfib: int) -> np.ndarray:
    lo, hi = LOGLAM_RANGE[camera[0]]
    x = np.linspace(-1, 1, NPIX[camera[0]])
    base = 0.5 * (lo + hi) + 0.5 * (hi - lo) * (x + 0.02 * (x**2 - 1))
    return base[None, :] + 2e-5 * np.linspace(-1, 1, nfib)[:, None]


def instrument_fluxcalib(loglam: np.ndarray) -> np.ndarray:
    """Smooth positive spFluxcalib-like response (electrons per 1e-4 dex per 1e-17 flux unit)."""
    lam = 10.0**loglam
    return 8.0 * np.exp(-0.5 * ((lam - 6500.0) / 2200.0) ** 2) + 0.8


def sky_truth(wave: np.ndarray, sigma: np.ndarray, amp: float, line_flux: dict, extra: np.ndarray, extra_flux: np.ndarray):
    """Injected sky flux density (1e-17 erg/s/cm2/A) on ``wave`` (A), lines with sigma (A)."""
    flux = amp * (wave / 5000.0) ** -1.0
    entries = {e.name: e for e in read_line_list()}
    centres, fluxes = [], []
    for name, f in line_flux.items():
        comps = entries[name].components
        for c in comps:
            centres.append(c)
            fluxes.append(f / len(comps))
    centres = np.concatenate([np.array(centres), extra])
    fluxes = np.concatenate([np.array(fluxes), extra_flux])
    keep = (centres > wave.min() - 20) & (centres < wave.max() + 20)
    for c, f in zip(centres[keep], fluxes[keep]):
        near = np.abs(wave - c) < 8 * sigma
        if near.any():
            flux = flux + np.where(near, f * np.exp(-0.5 * ((wave - c) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma), 0.0)
    return flux


def make_plate(
    root: str | Path,
    *,
    plate: int = 9001,
    mjd: int = 55500,
    expids: tuple[int, ...] = (200001, 200002),
    cameras: tuple[str, ...] = ("b1", "r1"),
    nfib: int = 24,
    nsky: int = 12,
    seed: int = 1,
    airglow: bool = True,
    scale: float = 1.0,
    exact: bool = True,
) -> FakePlate:
    """Write a synthetic plate directory and flux-calibration files; return the truth.

    Parameters
    ----------
    root : path-like
        Directory to write into (``<root>/boss/<plate>``, ``<root>/fluxcal/<plate>``).
    nfib, nsky : int
        Fibres per frame and how many of them are SKY.
    scale : float
        Multiplies the line fluxes (S/N control).
    exact : bool
        Evaluate the sky on every fibre's own wavelengths (tests); False evaluates it once on
        the middle fibre and copies it (benchmarks of 500-fibre frames; truth then approximate).
    """
    from sdssflow.io.fluxcal import CameraCalibration, write_calibration
    from sdssflow.synth.boss_files import write_spfluxcalib, write_spframe

    rng = np.random.default_rng(seed)
    root = Path(root)
    pdir = root / "boss" / f"{plate:04d}"
    pdir.mkdir(parents=True, exist_ok=True)
    fdir = root / "fluxcal" / f"{plate}"
    entries = read_line_list()
    airg = read_airglow_lines()
    blocked = [(e.bands[0][0] - 15, e.bands[1][1] + 15) if e.kind == "line" else (e.window[0] - 15, e.window[1] + 15) for e in entries]
    fake = FakePlate(pdir, plate, mjd, list(expids), list(cameras), fluxcal_dir=fdir,
                     reference_calib=str(pdir / f"spFluxcalib-{{camera}}-{expids[0]:08d}.fits"))
    base_ra, base_dec = 150.0, 20.0
    tai0 = mjd * 86400.0 + 4 * 3600.0
    keys = {}
    for k, expid in enumerate(expids):
        amp = float(rng.uniform(1.0, 3.0))
        fake.cont_amp[expid] = amp
        for cam in cameras:
            arm = cam[0]
            lf = {e.name: scale * float(rng.uniform(100, 600)) for e in entries if e.kind == "line" and e.camera == arm}
            extra = np.array([w for w in airg[arm] if not any(lo < w < hi for lo, hi in blocked)]) if airglow else np.zeros(0)
            extra_flux = rng.uniform(5, 60, extra.size)
            loglam = _loglam(cam, nfib)
            wave = 10.0**loglam
            sigma = DISP_PIX * np.abs(np.gradient(wave, axis=1))
            if exact:
                truth = sky_truth(wave, sigma, amp, lf, extra, extra_flux)
            else:
                mid = nfib // 2
                truth = np.repeat(sky_truth(wave[mid : mid + 1], sigma[mid : mid + 1], amp, lf, extra, extra_flux), nfib, axis=0)
            fluxcalib = instrument_fluxcalib(loglam) * (1.0 + 0.1 * k)  # throughput changes per exposure
            cal = native_bin_ratio(loglam) / fluxcalib
            electrons = truth / cal
            var = np.clip(electrons, 0, None) + 3.0**2
            noisy = electrons + rng.normal(0, np.sqrt(var))
            sky_model = 0.98 * electrons
            mask = np.zeros(loglam.shape, np.int32)
            mask[:, 100:103] |= 1 << 18  # FULLREJECT columns
            mask[0, 2000] |= 1 << 16  # NEARBADPIXEL, not a bad bit
            objtype = np.array(["SKY"] * nsky + ["STAR"] * (nfib - nsky))
            order = rng.permutation(nfib)
            objtype = objtype[order]
            spec = int(cam[1])
            fiberid = np.arange(1, nfib + 1) + 500 * (spec - 1)
            plug = Table({
                "FIBERID": fiberid.astype(np.int32),
                "OBJTYPE": objtype,
                "RA": base_ra + rng.uniform(-1, 1, nfib),
                "DEC": base_dec + rng.uniform(-1, 1, nfib),
                "XFOCAL": rng.uniform(-300, 300, nfib),
                "YFOCAL": rng.uniform(-300, 300, nfib),
            })
            fake.sky_fibers[cam] = np.flatnonzero(objtype == "SKY")
            fake.line_flux[(expid, cam)] = lf
            fake.truth_flux[(expid, cam)] = truth
            x = np.arange(loglam.shape[1])
            xmid = 0.5 * (x[0] + x[-1])
            xx = 2 * (x - xmid) / (x[-1] - x[0])
            coeff = np.polynomial.legendre.legfit(xx, loglam.T, 5).T
            wset = {"FUNC": "legendre", "XMIN": 0.0, "XMAX": float(x[-1]), "COEFF": coeff}
            dcoeff = np.zeros((nfib, 2))
            dcoeff[:, 0] = DISP_PIX
            dispset = {"FUNC": "legendre", "XMIN": 0.0, "XMAX": float(x[-1]), "COEFF": dcoeff}
            tbeg = tai0 + k * 1000.0
            header = {
                "PLATEID": plate, "MJD": mjd, "EXPOSURE": expid, "CAMERAS": cam, "FLAVOR": "science",
                "EXPTIME": 900.0, "TAI-BEG": tbeg, "TAI-END": tbeg + 900.0, "RA": base_ra, "DEC": base_dec,
                "AIRMASS": 1.1, "QUALITY": "excellent", "SEEING50": 1.4,
            }
            write_spframe(
                pdir / f"spFrame-{cam}-{expid:08d}.fits",
                flux=(noisy - sky_model).astype(np.float32), ivar=(1.0 / var).astype(np.float32), mask=mask,
                wset=wset, dispset=dispset, plugmap=plug, sky=sky_model.astype(np.float32),
                x=np.zeros(loglam.shape, np.float32), superflat=np.ones(loglam.shape, np.float32), header=header,
            )
            write_spfluxcalib(pdir / f"spFluxcalib-{cam}-{expid:08d}.fits", fluxcalib.astype(np.float32), header={"CAMERAS": cam, "EXPOSURE": expid})
            keys[(expid, cam)] = CameraCalibration(
                camera=cam, wave=np.median(wave, axis=0), cal_factor=cal.astype(np.float32),
                ivar=np.full(cal.shape, 1e6, np.float32), mask=np.zeros(cal.shape, np.int16),
            )
    hdr = fits.Header()
    hdr["PLATEID"] = plate
    hdr["MJD"] = mjd
    hdr["NEXP"] = len(expids) * len(cameras)
    n = 1
    for expid in expids:
        for cam in cameras:
            hdr[f"EXPID{n:02d}"] = f"{cam}-{expid:08d}-{expid - 1:08d}-{expid - 2:08d}"
            n += 1
    fits.PrimaryHDU(header=hdr).writeto(pdir / f"spPlate-{plate:04d}-{mjd}.fits", overwrite=True)
    for expid in expids:
        cams = {cam: keys[(expid, cam)] for cam in cameras}
        write_calibration(fdir / f"{mjd}" / f"calib-{expid:08d}.fits", cams, Table(), {"PLATE": plate, "MJD": mjd, "EXPID": expid}, "test")
    return fake
