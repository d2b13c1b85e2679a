"""Synthetic inputs for the tests and benchmarks of the flux calibration.

A toy template library (black bodies with a fixed set of absorption lines whose depths
depend on Teff, log g and [M/H], plus Balmer lines) on the BOSZ r10000 ln(lambda) grid,
and BOSS-like spFrames of an exposure whose standard stars are library templates,
shifted, convolved, scaled to a distance and multiplied by a known response. Nothing
here is used by the pipeline itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table
from scipy.ndimage import gaussian_filter1d

from sdssflow import photometry
from sdssflow.constants import C_KMS
from sdssflow.fluxcal.priors import BandTable
from sdssflow.io.boss import BossFrame
from sdssflow.io.bosz_library import TemplateLibrary

__all__ = ["toy_library", "toy_response", "ToyExposure", "toy_exposure", "CAMERA_RANGES"]

#: (lambda_min, lambda_max, npix) of the toy BOSS cameras (native pixels ~0.6e-4 dex).
CAMERA_RANGES = {"b": (3600.0, 6350.0, 4112), "r": (5800.0, 10400.0, 4128)}
_BALMER = (6564.61, 4862.68, 4341.68, 4102.89, 3971.20)


def _planck(wave, teff):
    x = 1.438777e8 / (wave[None, :] * np.asarray(teff, float)[:, None])
    return 1e27 / wave[None, :] ** 5 / np.expm1(x)


def toy_library(
    teffs=(5500, 5750, 6000, 6250, 6500, 6750, 7000),
    loggs=(4.0, 4.5),
    fehs=(-0.5, 0.0),
    wave_range=(3400.0, 10800.0),
    nlines: int = 400,
    seed: int = 1,
) -> TemplateLibrary:
    """A toy template library on the BOSZ r10000 ln(lambda) grid (vacuum).

    Returns
    -------
    TemplateLibrary
        flux in erg/s/cm2/A-like units (4 pi H of a toy star), resolution 10000.
    """
    rng = np.random.default_rng(seed)
    i = np.arange(150000)
    wave = np.exp(np.log(500.0) + i * np.log(640.0) / 150000)
    wave = wave[(wave >= wave_range[0]) & (wave <= wave_range[1])]
    grid = [(t, g, f) for t in teffs for g in loggs for f in fehs]
    p = np.array(grid, float)
    centres = np.sort(rng.uniform(wave[0] + 5, wave[-1] - 5, nlines))
    d0 = rng.uniform(0.1, 0.6, nlines)
    coef = rng.normal(0.0, 1.0, (3, nlines)) * np.array([[0.5], [0.3], [0.6]])
    depth = d0[None, :] * np.exp(
        coef[0][None, :] * (p[:, 0:1] - 6250) / 1000.0
        + coef[1][None, :] * (p[:, 1:2] - 4.25)
        + coef[2][None, :] * p[:, 2:3]
    )
    sigma_ln = 1.0 / (10000 * 2.3548)
    ln = np.log(wave)
    tau = np.zeros((len(grid), wave.size))
    for c, row in zip(centres, depth.T):
        lo, hi = np.searchsorted(wave, [c * (1 - 8 * sigma_ln), c * (1 + 8 * sigma_ln)])
        prof = np.exp(-0.5 * ((ln[lo:hi] - np.log(c)) / sigma_ln) ** 2)
        tau[:, lo:hi] += row[:, None] * prof[None, :]
    for c in _BALMER:
        width = (
            8.0 * np.clip((p[:, 0] - 4500) / 2000, 0.2, 2.0) / np.sqrt(1 + 0.3 * (4.5 - p[:, 1]))
        )
        tau += 0.8 * np.exp(-0.5 * ((wave[None, :] - c) / width[:, None]) ** 2)
    cont = _planck(wave, p[:, 0]) * (1 - 0.1 * np.tanh((4000 - wave) / 300))[None, :]
    flux = (cont * np.exp(-tau)).astype(np.float32)
    params = pd.DataFrame(
        {
            "teff": p[:, 0],
            "logg": p[:, 1],
            "feh": p[:, 2],
            "alpha": 0.0,
            "carbon": 0.0,
            "vmicro": 1.0,
            "atmos": "mp",
            "name": [f"toy_t{int(t)}_g{g:+.1f}_m{f:+.2f}" for t, g, f in grid],
        }
    )
    return TemplateLibrary(
        wave=wave, flux=flux, continuum=cont.astype(np.float32), params=params, resolution=10000
    )


def toy_response(wave: np.ndarray, arm: str) -> np.ndarray:
    """A smooth instrument response A (electrons per 1e-17 erg/cm2) of a toy camera."""
    if arm == "b":
        return (
            400.0
            * np.exp(-0.5 * ((wave - 5000.0) / 1100.0) ** 2)
            * (1 + 0.1 * np.sin(wave / 400.0))
        )
    return (
        500.0 * np.exp(-0.5 * ((wave - 7600.0) / 1800.0) ** 2) * (1 + 0.05 * np.cos(wave / 500.0))
    )


@dataclass
class ToyExposure:
    """Frames and truth of a toy exposure.

    Attributes
    ----------
    frames : dict of str to BossFrame
    catalog : pandas.DataFrame
        Refcat2-like photometry of the standards (native systems).
    truth : dict
        ``cal`` {camera: (npix,) cal_factor}, ``wave`` {camera: (npix,)}, ``stars``
        (DataFrame: fiberid, template index, teff, logg, feh, rv, snr).
    """

    frames: dict
    catalog: pd.DataFrame
    truth: dict


def toy_exposure(
    library: TemplateLibrary,
    bands: BandTable,
    nstd: int = 5,
    seed: int = 3,
    mag_range=(15.5, 17.0),
    mag_noise: float = 0.01,
    disp_pix: float = 1.1,
    cameras=("b1", "r1"),
    nfiber: int = 500,
    std_templates=None,
) -> ToyExposure:
    """Build a toy exposure: standards are library templates; A is :func:`toy_response`."""
    rng = np.random.default_rng(seed)
    nt = library.ntemplate
    tidx = np.asarray(std_templates) if std_templates is not None else rng.integers(0, nt, nstd)
    nstd = tidx.size
    rv = rng.uniform(-150, 150, nstd)
    rmag = rng.uniform(*mag_range, nstd)
    fibers = np.sort(rng.choice(np.arange(1, nfiber + 1), nstd, replace=False))
    synr = photometry.ab_magnitude(library.wave, library.flux[tidx], "ps1_r")
    scale = 10 ** (-0.4 * (rmag - synr))
    ra = 150.0 + rng.uniform(-1, 1, nstd)
    dec = 20.0 + rng.uniform(-1, 1, nstd)
    plug = Table(
        {
            "FIBERID": np.arange(1, nfiber + 1),
            "OBJTYPE": np.array(["SKY"] * nfiber, dtype="U16"),
            "RA": rng.uniform(149, 151, nfiber),
            "DEC": rng.uniform(19, 21, nfiber),
            "CATALOGID": np.zeros(nfiber, np.int64),
        }
    )
    rows = fibers - 1
    plug["OBJTYPE"][rows] = "SPECTROPHOTO_STD"
    plug["RA"][rows] = ra
    plug["DEC"][rows] = dec
    frames, truth_cal, truth_wave = {}, {}, {}
    lnw = np.log(library.wave)
    dln = float(np.mean(np.diff(lnw)))
    for cam in cameras:
        lo, hi, npix = CAMERA_RANGES[cam[0]]
        loglam1 = np.linspace(np.log10(lo), np.log10(hi), npix)
        loglam = np.repeat(loglam1[None, :], nfiber, axis=0)
        step_ln = np.log(10) * (loglam1[1] - loglam1[0])
        sig_ln = np.sqrt((disp_pix * step_ln) ** 2 - (1 / (10000 * 2.3548)) ** 2)
        conv = gaussian_filter1d(
            library.flux[tidx].astype(float), sig_ln / dln, axis=1, mode="nearest"
        )
        wave = 10**loglam1
        dwave = wave * np.log(10) * np.gradient(loglam1)
        resp = toy_response(wave, cam[0])
        flux = np.zeros((nfiber, npix), np.float32)
        ivar = np.zeros((nfiber, npix), np.float32)
        for k in range(nstd):
            model = (
                np.interp(np.log(wave) - np.log1p(rv[k] / C_KMS), lnw, conv[k]) * scale[k] * 1e17
            )
            counts = model * dwave * resp
            var = counts + 25.0
            flux[rows[k]] = counts + rng.normal(0, np.sqrt(var))
            ivar[rows[k]] = 1.0 / var
        frames[cam] = BossFrame(
            flux=flux,
            ivar=ivar,
            mask=np.zeros((nfiber, npix), np.int32),
            loglam=loglam,
            disp=np.full((nfiber, npix), disp_pix),
            plugmap=plug,
            sky=np.zeros_like(flux),
            x=np.zeros_like(flux),
            superflat=np.ones_like(flux),
            header=None,
            camera=cam,
            expid=1,
            path=Path(f"toy-{cam}"),
        )
        truth_cal[cam] = 1.0 / (resp * dwave)
        truth_wave[cam] = wave
    mags = np.column_stack(
        [
            photometry.ab_magnitude(library.wave, library.flux[tidx] * scale[:, None], f)
            for f in bands.filter
        ]
    )
    catalog = pd.DataFrame({"RA": ra, "Dec": dec})
    for j, (mcol, ecol) in enumerate(zip(bands.mag_column, bands.err_column)):
        good = np.isfinite(mags[:, j])
        catalog[mcol] = np.where(
            good, mags[:, j] - bands.vega_to_ab[j] + rng.normal(0, mag_noise, nstd), 99.99
        )
        catalog[ecol] = np.where(good, mag_noise, 9.99)
    p = library.params.iloc[tidx]
    stars = pd.DataFrame(
        {
            "fiberid": fibers,
            "template": tidx,
            "teff": p["teff"].to_numpy(),
            "logg": p["logg"].to_numpy(),
            "feh": p["feh"].to_numpy(),
            "rv": rv,
        }
    )
    return ToyExposure(frames, catalog, {"cal": truth_cal, "wave": truth_wave, "stars": stars})


#: The ten Refcat2 bands of the toy exposures (Gaia, Pan-STARRS, 2MASS).
TOY_BANDS = (
    "gaia_g",
    "gaia_bp",
    "gaia_rp",
    "ps1_g",
    "ps1_r",
    "ps1_i",
    "ps1_z",
    "2mass_j",
    "2mass_h",
    "2mass_k",
)


def write_toy_frames(frames, plate_dir, expid: int, plate: int = 4100, mjd: int = 55500) -> None:
    """Write toy camera frames as spFrame files (linear Legendre trace sets).

    Parameters
    ----------
    frames : dict of str to BossFrame-like
        Camera -> frame with flux, ivar, mask, loglam (nfiber, npix), disp, plugmap, sky,
        x and superflat, as :func:`toy_exposure` returns them.
    plate_dir : path-like
        Plate directory to write into.
    expid : int
        Exposure number of the file names and headers.
    """
    from pathlib import Path

    from sdssflow.synth.boss_files import write_spframe

    for cam, f in frames.items():
        npix = f.flux.shape[1]
        l0, l1 = f.loglam[:, 0], f.loglam[:, -1]
        wset = {
            "FUNC": "legendre",
            "XMIN": 0.0,
            "XMAX": npix - 1.0,
            "COEFF": np.column_stack([(l0 + l1) / 2, (l1 - l0) / 2]),
        }
        dset = {"FUNC": "legendre", "XMIN": 0.0, "XMAX": npix - 1.0, "COEFF": f.disp[:, :1].copy()}
        write_spframe(
            Path(plate_dir) / f"spFrame-{cam}-{expid:08d}.fits",
            flux=f.flux,
            ivar=f.ivar,
            mask=f.mask,
            wset=wset,
            dispset=dset,
            plugmap=f.plugmap,
            sky=f.sky,
            x=f.x,
            superflat=f.superflat,
            header={"PLATEID": plate, "MJD": mjd, "EXPOSURE": expid, "CAMERAS": cam},
        )
