"""The demo survey's catalogues (photometry, targets) and ``truth/`` files (DESIGN.md contract)."""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from astropy.table import Table

from sdssflow.io.products import add_provenance, atomic_path, write_hdulist
from sdssflow.photometry import FILTER_NAMES
from sdssflow.synth import frames
from sdssflow.synth import sky as skymod

__all__ = ["new_rows", "collect", "write_truth", "read_truth", "truth_cal_factor", "README"]

NPAD = 4128

def read_truth(root) -> dict:
    """Read the truth tables of a demo survey.

    Parameters
    ----------
    root : path-like
        The demo root (the folder holding ``truth/``).

    Returns
    -------
    dict of astropy.table.Table
        ``calibration``, ``sky``, ``stars`` and ``visits``.

    Raises
    ------
    FileNotFoundError
        If a truth file is missing (the message names it).
    """
    from pathlib import Path

    tdir = Path(root) / "truth"
    out = {}
    for key, name, hdu in (
        ("calibration", "calibration.fits", "CALIBRATION"),
        ("sky", "sky.fits", "SKY"),
        ("stars", "stars.fits", "STARS"),
        ("visits", "stars.fits", "VISITS"),
    ):
        path = tdir / name
        if not path.exists():
            raise FileNotFoundError(f"{path}: demo truth file not found")
        out[key] = Table.read(path, hdu=hdu)
    return out


def truth_cal_factor(calibration: Table, expid: int, camera: str, wave: np.ndarray) -> np.ndarray:
    """The injected cal_factor of a camera-exposure at any wavelengths.

    Parameters
    ----------
    calibration : astropy.table.Table
        ``read_truth(root)["calibration"]``.
    expid : int
        Exposure number.
    camera : str
        ``b1``, ``r1``, ``b2`` or ``r2``.
    wave : numpy.ndarray, any shape
        Vacuum wavelength, A (e.g. a frame's ``wave`` (500, npix)).

    Returns
    -------
    numpy.ndarray, same shape as ``wave``
        1e-17 erg/s/cm2/A per electron per native pixel (linear interpolation of the
        tabulated median-fibre curve; exact to < 1e-4 for every fibre).

    Raises
    ------
    KeyError
        If the table has no row for (expid, camera).
    """
    sel = (calibration["expid"] == expid) & (calibration["camera"] == camera)
    if not np.any(sel):
        raise KeyError(f"no truth calibration for exposure {expid} camera {camera}")
    row = calibration[sel][0]
    n = int(row["npix"])
    return np.interp(wave, np.asarray(row["wave"][:n]), np.asarray(row["cal_factor"][:n]))


def new_rows() -> dict:
    """Accumulators of the truth rows (filled by :func:`collect`)."""
    return {"calibration": [], "sky": []}


def _pad(a: np.ndarray) -> np.ndarray:
    out = np.full(NPAD, np.nan)
    out[: a.size] = a
    return out


def collect(rows, plan, e, camera, sp, fr, fibres, lines, strengths, table, cond) -> None:
    """Add the truth of one camera-exposure: its calibration row and its sky-fibre rows."""
    npix = fr.wave_ref.size
    rows["calibration"].append(
        {
            "plate": e.plate,
            "mjd": e.mjd,
            "expid": e.expid,
            "camera": camera,
            "npix": npix,
            "wave": _pad(fr.wave_ref),
            "cal_factor": _pad(fr.cal_factor_ref),
            "fluxcalib": _pad(fr.fluxcalib_ref),
            "exptime": e.exptime,
            "airmass": e.airmass,
            "seeing": e.seeing,
            "transparency": e.transparency,
        }
    )
    arm = camera[0]
    values = skymod.window_fluxes(table, lines, strengths, frames.arm_sigma(arm), cond)
    names = list(table["name"])
    arms = dict(zip(table["name"], table["camera"]))
    base = (sp - 1) * 500
    sky_rows = np.flatnonzero(fibres["objtype"][base : base + 500] == "SKY")
    for i in sky_rows:
        row = {
            "plate": e.plate,
            "mjd": e.mjd,
            "expid": e.expid,
            "camera": camera,
            "fiberid": int(fibres["fiberid"][base + i]),
            "fibre_factor": float(fr.fibre_factor[i]),
            "airmass": e.airmass,
            "hours_into_night": e.hours_into_night,
            "moon_illumination": e.moon_illumination,
            "moon_alt": e.moon_alt,
            "moon_sep": e.moon_sep,
            "sun_alt": cond.sun_alt,
            "f107": cond.f107,
            "f107_81": cond.f107_81,
            "zodi": cond.zodi,
            "isl": cond.isl,
            "continuum_5000": float(
                skymod.continuum(np.array([5000.0]), cond)[0] * fr.fibre_factor[i]
            ),
        }
        for name in names:
            row[name] = values[name] * fr.fibre_factor[i] if arms[name] == arm else np.nan
        rows["sky"].append(row)


def _table_hdu(t: Table, name: str) -> fits.BinTableHDU:
    hdu = fits.BinTableHDU(t, name=name)
    hdu.header["BUNIT"] = ""
    return hdu


def write_truth(plan, stars, rows, apogee_visits, table, version) -> list:
    """Write ``truth/calibration.fits``, ``sky.fits``, ``stars.fits`` and ``README.md``."""
    out = []
    tdir = plan.truth
    prim = fits.PrimaryHDU()
    add_provenance(prim.header, version, step="demo_survey")
    cal = Table(rows=rows["calibration"]) if rows["calibration"] else Table()
    # cal_factor (1e-17 erg/s/cm2/A per electron per pixel) and fluxcalib have no FITS unit
    for col, unit in (("wave", "Angstrom"), ("exptime", "s"), ("seeing", "arcsec")):
        if col in cal.colnames:
            cal[col].unit = unit
    out.append(
        write_hdulist(
            fits.HDUList([prim.copy(), _table_hdu(cal, "CALIBRATION")]), tdir / "calibration.fits"
        )
    )
    sky = Table(rows=rows["sky"]) if rows["sky"] else Table()
    for name, kind in zip(table["name"], table["type"]):
        if name in sky.colnames:
            sky[name].unit = "1e-17 erg/(s cm2)" if kind == "line" else "1e-17 erg/(s cm2 Angstrom)"
    out.append(
        write_hdulist(fits.HDUList([prim.copy(), _table_hdu(sky, "SKY")]), tdir / "sky.fits")
    )
    coeffs = skymod.truth_coefficients(table)
    out.append(
        write_hdulist(
            fits.HDUList([prim.copy(), _table_hdu(coeffs, "SKY_MODEL")]), tdir / "sky_model.fits"
        )
    )

    nv = max(len(s.v_visit) for s in stars)
    srows, vrows = [], []
    for s in stars:
        mjds = sorted(s.v_visit)
        mj = np.zeros(nv, np.int32)
        vr = np.full(nv, np.nan)
        mj[: len(mjds)] = mjds
        vr[: len(mjds)] = [s.v_visit[m] for m in mjds]
        row = {
            "sdss_id": s.source.sdss_id,
            "catalogid": s.source.catalogid,
            "kind": s.source.kind,
            "plate": s.source.plate,
            "teff": s.params.teff,
            "logg": s.params.logg,
            "fe_h": s.params.feh,
            "v_rad_mean": s.v_mean,
            "apogee": s.source.apogee,
            "ra": s.ra,
            "dec": s.dec,
            "flux_scale": s.scale,
            "n_visits": len(mjds),
            "mjd": mj,
            "v_rad": vr,
        }
        for b in FILTER_NAMES:
            row[f"mag_{b}"] = s.mags[b]
        srows.append(row)
        for m in mjds:
            vrows.append(
                {"sdss_id": s.source.sdss_id, "mjd": m, "v_rad": s.v_visit[m], "instrument": "boss"}
            )
    for v in apogee_visits:
        vrows.append(
            {"sdss_id": v["sdss_id"], "mjd": v["mjd"], "v_rad": v["v_rad"], "instrument": "apogee"}
        )
    st = Table(rows=srows)
    st["teff"].unit, st["v_rad"].unit, st["v_rad_mean"].unit = "K", "km/s", "km/s"
    vt = Table(rows=vrows)
    vt["v_rad"].unit = "km/s"
    out.append(
        write_hdulist(
            fits.HDUList([prim.copy(), _table_hdu(st, "STARS"), _table_hdu(vt, "VISITS")]),
            tdir / "stars.fits",
        )
    )
    readme = tdir / "README.md"
    with atomic_path(readme) as tmp:
        tmp.write_text(README)
    out.append(readme)
    return out


README = """# Truth of the sdssflow demo survey

Written by `sdssflow.synth` (rule `demo_survey`). Everything here is what was injected; the
survey files beside this folder are the "observations". Wavelengths are vacuum Angstrom;
flux densities are 1e-17 erg/s/cm2/A; RVs are km/s with no barycentric correction (BC = 0).

## calibration.fits (HDU CALIBRATION): one row per (plate, mjd, expid, camera)

| column | meaning |
| --- | --- |
| plate, mjd, expid, camera | the camera-exposure (camera b1, r1, b2, r2) |
| npix | valid length of the array columns (4112 blue, 4128 red); arrays are NaN-padded to 4128 |
| wave | vacuum wavelength (A) of the pixels of the median fibre (row 250) |
| cal_factor | the injected instrument response: flux density (1e-17 erg/s/cm2/A) per electron per native pixel. spFrame electrons x cal_factor = f_lambda; cal_factor = R / fluxcalib with R = 1e-4 / dlog10(lambda)/dpixel. Fibres differ only by a wavelength zero-point shift (< 0.5 A), so interpolating cal_factor in wavelength gives every fibre's value to < 1e-4 |
| fluxcalib | the same response as spFluxcalib HDU0: electrons per 1e-4-dex bin per 1e-17 erg/s/cm2/A |
| exptime, airmass, seeing, transparency | the inputs of the response (s, -, arcsec FWHM, grey factor) |

## sky.fits (HDU SKY): one row per (plate, mjd, expid, camera, fiberid) of each sky fibre

| column | meaning |
| --- | --- |
| plate, mjd, expid, camera, fiberid | the sky spectrum |
| fibre_factor | this fibre's multiplicative factor on the whole sky (1 + N(0, 0.01)) |
| airmass, hours_into_night, moon_illumination, moon_alt, moon_sep | conditions that drove the sky (moon alt/sep in deg) |
| sun_alt, f107, f107_81, zodi, isl | the other conditions of the sky-model terms (deg, sfu, sfu, table units) |
| continuum_5000 | injected continuum at 5000 A (1e-17 erg/s/cm2/A), including fibre_factor |
| <line name> (type line in sdssflow/data/sky/line_list.csv) | injected line flux inside the entry's window [lo, hi] (1e-17 erg/s/cm2), summed over every injected line (blend components and any other line) and including fibre_factor; NaN for entries of the other arm |
| <cont name> (type cont) | injected continuum f_lambda at the entry's wavelength (1e-17 erg/s/cm2/A); NaN for the other arm |

## sky_model.fits (HDU SKY_MODEL): the injected sky-model coefficients, one row per line-list entry

The demo's sky is `sum_k c_k term_k(conditions)` with the terms of `sdssflow.sky.model_terms`
(airglow = van Rhijn x extinction, airglow_f107, airglow_f107_81, airglow_twilight,
airglow_season_cos/sin, zodi, isl, moon = Krisciunas-Schaefer in 100 nL, sun, dark).

| column | meaning |
| --- | --- |
| name, type, wave | the line-list entry (A) |
| <term> | its coefficient c_k per arcsec2: 1e-17 erg/s/cm2/arcsec2 per unit term for lines (total flux of the entry's components, before the window fraction and the per-night / per-exposure variability factors of OI5577, OH and lamps), 1e-17 erg/s/cm2/A/arcsec2 for continuum entries; 0 = not injected. Per fibre = x pi arcsec2 |

The sky in a spFrame: (HDU0 + HDU6) x cal_factor = injected sky + noise for sky fibres; HDU6 is
the noiseless injected sky in electrons.

## stars.fits

HDU STARS, one row per target:

| column | meaning |
| --- | --- |
| sdss_id, catalogid | SDSS-V identifiers (as in the plug maps and spec headers) |
| kind, plate | science (on every plate; plate 0) or std (SPECTROPHOTO_STD of that plate) |
| teff, logg, fe_h | parameters of the toy model (K, cgs dex, dex) used for its spectra |
| v_rad_mean | mean radial velocity, km/s |
| n_visits, mjd, v_rad | the MJDs observed (padded with 0) and the Doppler shift applied on each (km/s, padded with NaN) |
| apogee | whether the star has apVisit/apStar files |
| ra, dec | deg, J2000 |
| flux_scale | f_lambda at Earth (1e-17 erg/s/cm2/A) = flux_scale x model surface flux (erg/s/cm2/A) |
| mag_<filter> | AB magnitude through the project's filter curve sdssflow/data/filters/<filter>.dat |

HDU VISITS, one row per (sdss_id, mjd, instrument): v_rad (km/s) of that visit; instrument is
boss or apogee (the same v_rad for both on the same MJD).

## Noise and defects

BOSS: Poisson noise on star + sky electrons plus Gaussian read noise (4.0 e blue, 4.5 e red per
pixel); spFrame ivar = 1 / (expected electrons + read noise^2). About 60 cosmic rays per frame
(ivar 0, FULLREJECT), two bad-pixel runs (ivar 0, FULLREJECT | NEARBADPIXEL), one dead filler
fibre per spectrograph (BADTRACE, ivar 0), BRIGHTSKY on bright sky-line pixels, a few COMBINEREJ
bits in spCFrames. APOGEE: Gaussian noise with the stored error, 25 flagged pixels (mask bit 0,
error 1e10) per visit.

## The other files

photometry/refcat2.csv: Refcat2 columns; Gaia G/BP/RP and 2MASS J/H/K in Vega magnitudes
(AB minus sdssflow.photometry.VEGA_TO_AB), PS1 g/r/i/z in AB, all noiseless synthetic magnitudes
of the injected spectra through sdssflow/data/filters/; about 20 % of the stars miss one band (99.9 as
magnitude and error). bosz_mirror/: the toy model at R = 10000 in the BOSZ 2024 layout
(demo_subgrid.yaml lists the grid).
"""
