"""APOGEE apVisit and apStar files of the demo survey (DR17-style names, DR13-era layout).

apVisit (``astra_mwm.md`` section 6): HDU0 header only (SNR, STARFLAG, MJD5, FIBERID,
TELESCOP, DATE-OBS, JD-MID, OBJID, CATID, SDSS_ID, VRAD, BC, HISTORY "APOGEE ..."); HDUs 1-8
(3, 4096) images, red chip first, wavelength decreasing along each row: flux and error
(1e-17 erg/s/cm2/A), mask (int16), wavelength (float64, vacuum, observed frame), sky, sky
error, telluric, telluric error; HDU9 wavelength coefficients (3, 14); HDU10 LSF coefficients
(3, 26); HDU11 a one-row table.

apStar: HDU0 header with the log-linear grid (CRVAL1 = 4.179, CDELT1 = 6e-6), NVISITS, VRAD,
VSCATTER, SNR and per-visit SFILEi, DATEi, JDi, FIBERi, BCi, VRADi, SNRVISi, FLAGi; HDUs 1-7
(NVISITS + 2, 8575) images (or (1, 8575) for one visit): row 0 the stack, row 1 zeros
("global"), rows 2+ the visits shifted to the rest frame; HDU8 the LSF table, HDU9 an RV table.

Spectra are the toy model at R = 22,500 (Gaussian sigma = lambda / 22500 / 2.3548), Doppler
shifted by the truth v_rad of the visit (no barycentric correction: BC = 0), with Gaussian
noise of S/N 60-150 and a few flagged pixels (mask bit 0 BADPIX, error 1e10).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from sdssflow.constants import C_KMS
from sdssflow.io.products import provenance_cards, write_hdulist
from sdssflow.synth.stellar import surface_flux

__all__ = [
    "CHIP_RANGES",
    "APSTAR_CRVAL1",
    "APSTAR_CDELT1",
    "APSTAR_NPIX",
    "apogee_id",
    "visit_wavelengths",
    "apstar_wavelength",
    "write_apvisit",
    "write_apstar",
]

#: Chip ranges (A, vacuum), in file row order (red, green, blue).
CHIP_RANGES = ((16470.0, 16960.0), (15860.0, 16430.0), (15140.0, 15800.0))
APSTAR_CRVAL1, APSTAR_CDELT1, APSTAR_NPIX = 4.179, 6e-6, 8575
_R_APOGEE = 22500.0
_HISTORY = [
    "AP1DVISIT: sdssflow demo survey (synthetic), APOGEE layout",
    "AP1DVISIT:  HDU0 = Header only",
    "AP1DVISIT:  HDU1 - Flux (10^-17 ergs/s/cm^2/Ang)",
    "AP1DVISIT:  HDU2 - Error (10^-17 ergs/s/cm^2/Ang)",
    "AP1DVISIT:  HDU3 - Flag mask (bitwise OR combined)",
    "AP1DVISIT:  HDU4 - Wavelength (Ang)",
    "AP1DVISIT:  HDU5 - Sky (10^-17 ergs/s/cm^2/Ang)",
    "AP1DVISIT:  HDU6 - Sky Error (10^-17 ergs/s/cm^2/Ang)",
    "AP1DVISIT:  HDU7 - Telluric",
    "AP1DVISIT:  HDU8 - Telluric Error",
    "AP1DVISIT:  HDU9 - Wavelength coefficients",
    "AP1DVISIT:  HDU10 - LSF coefficients",
]


def apogee_id(ra: float, dec: float) -> str:
    """2MASS-style identifier ``2MHHMMSSss+DDMMSSs`` of a position (deg).

    Examples
    --------
    >>> apogee_id(11.339304, 16.579082)
    '2M00452143+1634446'
    """
    h = ra / 15.0
    hh, mm = int(h), int((h * 60) % 60)
    ss = (h * 3600) % 60
    sign = "+" if dec >= 0 else "-"
    d = abs(dec)
    dd, dm = int(d), int((d * 60) % 60)
    ds = (d * 3600) % 60
    return f"2M{hh:02d}{mm:02d}{int(ss * 100):04d}{sign}{dd:02d}{dm:02d}{int(ds * 10):03d}"


def visit_wavelengths() -> np.ndarray:
    """(3, 4096) observed-frame vacuum wavelengths (A), red chip first, decreasing in each row."""
    x = np.arange(4096) / 4095.0
    rows = []
    for lo, hi in CHIP_RANGES:
        rows.append(hi - (hi - lo) * (x + 0.02 * x * (1 - x)))
    return np.array(rows)


def apstar_wavelength() -> np.ndarray:
    """The apStar rest-frame grid: 10^(4.179 + 6e-6 i), i < 8575 (A, vacuum)."""
    return 10.0 ** (APSTAR_CRVAL1 + APSTAR_CDELT1 * np.arange(APSTAR_NPIX))


def _model(wave: np.ndarray, star, v: float) -> np.ndarray:
    """f_lambda (1e-17 erg/s/cm2/A) of a star at R=22500 on increasing wavelengths."""
    flux, _ = surface_flux(
        wave, star.params, sigma_inst=lambda lam: lam / _R_APOGEE / 2.3548, v_rad=v
    )
    return star.scale * flux


def write_apvisit(
    path, star, visit: dict, rng: np.random.Generator, version: str = "demo"
) -> tuple[Path, dict]:
    """Write one apVisit file.

    Parameters
    ----------
    path : path-like
        Output file.
    star : sdssflow.synth.targets.Star
    visit : dict
        ``plate``, ``mjd``, ``fiber``, ``v_rad`` (km/s), ``snr``, ``telescope``, ``field``, ``jd``.
    rng : numpy.random.Generator
    version : str

    Returns
    -------
    path : pathlib.Path
    info : dict
        ``snr`` (median S/N of the middle chip), ``date`` and ``jd``.
    """
    wave = visit_wavelengths()
    flux = np.empty_like(wave)
    for c in range(3):
        inc = wave[c, ::-1]
        flux[c] = _model(inc, star, visit["v_rad"])[::-1]
    err = flux / visit["snr"]
    noisy = flux + err * rng.standard_normal(flux.shape)
    mask = np.zeros(flux.shape, np.int16)
    bad = rng.integers(0, flux.size, 25)
    mask.flat[bad] = 1
    err.flat[bad] = 1e10
    snr = float(np.median(flux[1] / err[1]))
    date = Time(visit["jd"] - 2400000.5, format="mjd").isot[:23]
    hdr = fits.Header()
    for key, value, comment in [
        ("SURVEY", visit.get("survey", "apogee"), "survey (apogee, or sdss-v for SDSS-V)"),
        ("TELESCOP", visit["telescope"], "telescope"),
        ("PLATE", str(visit["plate"]), "plate ID"),
        ("FIELD", visit["field"], "field name"),
        ("MJD5", visit["mjd"], "MJD of observation"),
        ("FIBERID", visit["fiber"], "APOGEE fibre ID 1-300"),
        ("DATE-OBS", date, "start of the visit (UTC)"),
        ("EXPTIME", 4002.0, "total visit exposure time, s"),
        ("JD-MID", visit["jd"], "JD at mid-visit"),
        ("OBJID", apogee_id(star.ra, star.dec), "object ID"),
        ("OBJTYPE", "STAR", "object type"),
        ("CATID", star.source.catalogid, "SDSS-V catalogid"),
        ("SDSS_ID", star.source.sdss_id, "SDSS-V sdss_id"),
        ("RA", star.ra, "deg, J2000"),
        ("DEC", star.dec, "deg, J2000"),
        ("J", round(star.mags["2mass_j"] - 0.91, 3), "2MASS J (Vega)"),
        ("H", round(star.mags["2mass_h"] - 1.39, 3), "2MASS H (Vega)"),
        ("K", round(star.mags["2mass_ks"] - 1.85, 3), "2MASS Ks (Vega)"),
        ("SNR", round(snr, 3), "median S/N, middle chip"),
        ("STARFLAG", 0, "star data quality flag"),
        ("BC", 0.0, "barycentric correction (km/s): 0 in the demo"),
        ("VTYPE", 2, "RV type (1=chisq, 2=xcorr)"),
        ("VRAD", visit["v_rad"], "doppler shift (km/s), truth of the demo"),
        ("VRADERR", 0.1, "km/s"),
        ("VHELIO", visit["v_rad"], "heliocentric velocity (km/s) (= VRAD, BC = 0)"),
    ]:
        hdr[key] = (value, comment)
    for line in _HISTORY:
        hdr.add_history(line)
    for key, value, comment in provenance_cards(version, (), "demo_survey"):
        hdr[key] = (value, comment)
    units = [
        ("FLUX", "Flux (10^-17 erg/s/cm^2/Ang)", noisy.astype(np.float32)),
        ("ERROR", "Flux error (10^-17 erg/s/cm^2/Ang)", err.astype(np.float32)),
        ("MASK", "Flag mask", mask),
        ("WAVELENGTH", "Wavelength (Ang)", wave),
        ("SKY", "Sky (10^-17 erg/s/cm^2/Ang)", np.zeros_like(flux, np.float32)),
        ("SKYERR", "Sky error (10^-17 erg/s/cm^2/Ang)", np.ones_like(flux, np.float32)),
        ("TELLURIC", "Telluric", np.ones_like(flux, np.float32)),
        ("TELLERR", "Telluric error", np.full(flux.shape, 0.01, np.float32)),
        ("WCOEF", "Wavelength Coefficients", np.zeros((3, 14))),
        ("LSFCOEF", "LSF Coefficients", np.zeros((3, 26))),
    ]
    hdus = [fits.PrimaryHDU(header=hdr)]
    for name, bunit, data in units:
        h = fits.ImageHDU(data, name=name)
        h.header["BUNIT"] = bunit
        hdus.append(h)
    table = Table(
        {
            "APOGEE_ID": [apogee_id(star.ra, star.dec)],
            "SDSS_ID": [np.int64(star.source.sdss_id)],
            "FILE": [Path(path).name],
            "FIBERID": [np.int16(visit["fiber"])],
            "PLATE": [str(visit["plate"])],
            "MJD": [np.int32(visit["mjd"])],
            "VRAD": [visit["v_rad"]],
            "SNR": [np.float32(snr)],
        }
    )
    th = fits.BinTableHDU(table, name="VISIT")
    th.header["BUNIT"] = ""
    hdus.append(th)
    write_hdulist(fits.HDUList(hdus), path)
    return Path(path), {
        "snr": snr,
        "date": date,
        "jd": visit["jd"],
        "flux": noisy,
        "err": err,
        "mask": mask,
    }


def write_apstar(
    path, star, visits: list[dict], infos: list[dict], version: str = "demo", apred: str = "dr17"
) -> Path:
    """Write the apStar file of a star from its apVisit contents (``APRED`` = ``apred``).

    Each visit is shifted to the rest frame (lambda / (1 + v/c)) and linearly interpolated
    onto the apStar grid; the stack (row 0) is their inverse-variance mean.
    """
    grid = apstar_wavelength()
    nvis = len(visits)
    rows_flux, rows_err, rows_mask = [], [], []
    for visit, info in zip(visits, infos):
        wave = visit_wavelengths()
        f_row = np.zeros(APSTAR_NPIX)
        e_row = np.full(APSTAR_NPIX, 1e10)
        m_row = np.zeros(APSTAR_NPIX, np.int16)
        for c in range(3):
            w = wave[c, ::-1] / (1.0 + visit["v_rad"] / C_KMS)
            inside = (grid >= w[0]) & (grid <= w[-1])
            f_row[inside] = np.interp(grid[inside], w, info["flux"][c, ::-1])
            e_row[inside] = np.interp(grid[inside], w, info["err"][c, ::-1])
            near = np.clip(np.searchsorted(w, grid[inside]), 0, w.size - 1)
            m_row[inside] = info["mask"][c, ::-1][near]
        rows_flux.append(f_row)
        rows_err.append(e_row)
        rows_mask.append(m_row)
    f = np.array(rows_flux)
    e = np.array(rows_err)
    m = np.array(rows_mask)
    w = np.where(e < 1e9, 1.0 / e**2, 0.0)
    wsum = w.sum(axis=0)
    stack = np.where(wsum > 0, (w * f).sum(axis=0) / np.where(wsum > 0, wsum, 1), 0.0)
    stack_err = np.where(wsum > 0, 1.0 / np.sqrt(np.where(wsum > 0, wsum, 1)), 1e10)
    stack_mask = np.bitwise_or.reduce(m, axis=0)
    if nvis == 1:
        flux_img, err_img, mask_img = stack[None], stack_err[None], stack_mask[None]
    else:
        flux_img = np.vstack([stack, np.zeros(APSTAR_NPIX), f])
        err_img = np.vstack([stack_err, np.zeros(APSTAR_NPIX), e])
        mask_img = np.vstack([stack_mask, np.zeros(APSTAR_NPIX, np.int16), m])
    vrads = np.array([v["v_rad"] for v in visits])
    snrs = np.array([i["snr"] for i in infos])
    hdr = fits.Header()
    head = [
        ("OBJID", apogee_id(star.ra, star.dec), "object ID"),
        ("SDSS_ID", star.source.sdss_id, "SDSS-V sdss_id"),
        ("CATID", star.source.catalogid, "SDSS-V catalogid"),
        ("TELESCOP", visits[0]["telescope"], "telescope"),
        ("FIELD", visits[0]["field"], "field name"),
        ("APRED", apred, "APOGEE reduction version"),
        ("RA", star.ra, "deg, J2000"),
        ("DEC", star.dec, "deg, J2000"),
        ("J", round(star.mags["2mass_j"] - 0.91, 3), "2MASS J (Vega)"),
        ("H", round(star.mags["2mass_h"] - 1.39, 3), "2MASS H (Vega)"),
        ("K", round(star.mags["2mass_ks"] - 1.85, 3), "2MASS Ks (Vega)"),
        ("NVISITS", nvis, "number of visit spectra combined"),
        ("CRVAL1", APSTAR_CRVAL1, "log10 lambda of pixel 1"),
        ("CDELT1", APSTAR_CDELT1, "log10 lambda step"),
        ("CRPIX1", 1, ""),
        ("CTYPE1", "LOG-LINEAR", ""),
        ("DC-FLAG", 1, "log10 lambda"),
        ("VRAD", 0.0, "Doppler shift (km/s): rest frame"),
        ("VHELIO", round(float(vrads.mean()), 4), "mean heliocentric velocity (km/s)"),
        ("VSCATTER", round(float(vrads.std()), 4), "STDEV of VHELIO (km/s)"),
        ("VERR", 0.1, "km/s"),
        ("SNR", round(float(np.sqrt(np.sum(snrs**2))), 3), "final median S/N"),
        ("STARFLAG", 0, "bitwise OR of visit starflags"),
        ("ANDFLAG", 0, "bitwise AND of visit starflags"),
        ("N_COMP", 1, "components"),
        ("RV_TEFF", star.params.teff, "K (truth of the demo)"),
        ("RV_LOGG", star.params.logg, "dex (truth)"),
        ("RV_FEH", star.params.feh, "dex (truth)"),
        ("MEANFIB", float(np.mean([v["fiber"] for v in visits])), "mean fibre"),
        ("SIGFIB", float(np.std([v["fiber"] for v in visits])), "std of fibre"),
        ("NRES", "", ""),
    ]
    for key, value, comment in head:
        hdr[key] = (value, comment)
    for i, (v, info) in enumerate(zip(visits, infos), start=1):
        hdr[f"SFILE{i}"] = (v["file"], f"Visit #{i} spectrum file")
        hdr[f"DATE{i}"] = (info["date"], f"DATE-OBS of visit {i}")
        hdr[f"JD{i}"] = (info["jd"], f"Julian date of visit {i}")
        hdr[f"FIBER{i}"] = (v["fiber"], f"Fiber, visit {i}")
        hdr[f"BC{i}"] = (0.0, f"Barycentric correction (km/s), visit {i}")
        hdr[f"VRAD{i}"] = (v["v_rad"], f"Doppler shift (km/s) of visit {i}")
        hdr[f"VHELIO{i}"] = (v["v_rad"], f"Heliocentric velocity (km/s), visit {i}")
        hdr[f"SNRVIS{i}"] = (round(info["snr"], 3), f"Signal/Noise ratio, visit {i}")
        hdr[f"FLAG{i}"] = (0, f"STARFLAG for visit {i}")
    hdr.add_history("APSTAR: APOGEE apStar layout, sdssflow demo survey (synthetic)")
    hdr.add_history(
        "APSTAR: HDU1 flux, 2 error, 3 mask, 4 sky, 5 sky error, 6 telluric, 7 telluric error"
    )
    for key, value, comment in provenance_cards(
        version, [v["file"] for v in visits], "demo_survey"
    ):
        hdr[key] = (value, comment)
    hdus = [fits.PrimaryHDU(header=hdr)]
    zeros = np.zeros_like(flux_img, np.float32)
    for name, bunit, data in [
        ("FLUX", "Flux (10^-17 erg/s/cm^2/Ang)", flux_img.astype(np.float32)),
        ("ERROR", "Err (10^-17 erg/s/cm^2/Ang)", err_img.astype(np.float32)),
        ("MASK", "Flag mask", mask_img.astype(np.int16)),
        ("SKY", "Sky (10^-17 erg/s/cm^2/Ang)", zeros),
        ("SKYERR", "Sky error (10^-17 erg/s/cm^2/Ang)", zeros + 1),
        ("TELLURIC", "Telluric", zeros + 1),
        ("TELLERR", "Telluric error", zeros + 0.01),
    ]:
        h = fits.ImageHDU(data, name=name)
        for key, value in [
            ("CRVAL1", APSTAR_CRVAL1),
            ("CDELT1", APSTAR_CDELT1),
            ("CRPIX1", 1),
            ("CTYPE1", "LOG-LINEAR"),
            ("DC-FLAG", 1),
            ("BUNIT", bunit),
        ]:
            h.header[key] = value
        hdus.append(h)
    lsf = fits.ImageHDU(np.zeros(26), name="LSF")
    lsf.header["BUNIT"] = ""
    hdus.append(lsf)
    rv = Table(
        {
            "FILE": [v["file"] for v in visits],
            "MJD": [v["mjd"] for v in visits],
            "FIBER": [v["fiber"] for v in visits],
            "VRAD": vrads,
            "SNR": snrs,
        }
    )
    rvh = fits.BinTableHDU(rv, name="RV")
    rvh.header["BUNIT"] = ""
    hdus.append(rvh)
    write_hdulist(fits.HDUList(hdus), path)
    return Path(path)
