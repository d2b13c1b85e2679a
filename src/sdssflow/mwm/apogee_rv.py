"""APOGEE visit radial velocities measured from the spectra, not copied from headers.

Every apVisit of a source is resampled without shift onto the APOGEE grid (so it stays in
the observed, topocentric frame) and its velocity v_rel is measured by cross-correlation
(:func:`measure_velocity`: FFT correlation at integer pixel lags, then the χ² parabola of
:mod:`sdssflow.mwm.rv` on a ±2 px grid) against a reference chosen per source:

``apstar_coadd``
    the source has apStar rows of other visits than the one measured: those rows are
    already in the rest frame (the DRP shifted them by its own template RVs, which sets
    the zero point), and their ivar co-add is the reference (the visit's own row never
    is: it was shifted by the very velocity being checked);
``template``
    otherwise, with an H-band template library (:mod:`sdssflow.mwm.hband_templates`: the
    ``apogee_templates`` product, built once from a BOSZ mirror), against the templates
    (absolute velocities);
``header``
    neither: the header velocity is kept, unchecked.

Visits that exist only as apStar rows are already rest frame: they keep the apStar's
per-visit VHELIOi (``apstar_row``).

The barycentric velocity is v_rad = v_rel + bc, with bc the header's BC (apVisit BC,
apStar BCi) or, when absent, :func:`barycentric_correction` (astropy, from the site, the
time and the position). The header's heliocentric velocity stays in ``v_rad_header``; a
visit whose two velocities differ by more than max(3σ, 5 km/s), σ the measurement error,
gets STARFLAG bit RV_REJECT in ``spectrum_flags`` and is left out of the stack
(:data:`sdssflow.mwm.stack.APOGEE_STARFLAG_BAD`).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.optimize import nnls

from sdssflow.io.apogee import APOGEE_NRES
from sdssflow.io.mwm_flags import APOGEE_BAD_PIXEL_BITS, APOGEE_PIXMASK, APOGEE_STARFLAG
from sdssflow.io.mwm_grids import APOGEE, C_KMS
from sdssflow.mwm.hband_templates import HBandTemplates, LazyTemplates, smooth_to
from sdssflow.mwm.resample import resample_spectrum
from sdssflow.mwm.rv import (
    TemplateLibrary,
    _fine_velocity,
    _shifted_rows,
    _tonry_davis_r,
    normalise,
    prepare_templates,
    template_chi2,
)
from sdssflow.mwm.stack import coadd

__all__ = [
    "RV_DISAGREE_KMS",
    "RV_DISAGREE_SIGMA",
    "RV_MASK_BITS",
    "reference_library",
    "measure_velocity",
    "barycentric_correction",
    "measure_source_rvs",
    "pixel_offset",
    "usable",
]

log = logging.getLogger(__name__)

#: A visit is flagged RV_REJECT when |v_measured - v_header| exceeds both of these.
RV_DISAGREE_KMS = 5.0
RV_DISAGREE_SIGMA = 3.0
#: Tonry & Davis r below which a correlation peak is not trusted (a false peak against an
#: ill-matched template, e.g. a 6000 K model for an M dwarf, reaches r = 2.7): RV_FAIL.
MIN_RXC = 3.0
#: APOGEE_PIXMASK bits whose pixels do not enter a velocity measurement: the bad level
#: and the significant sky-line and telluric residuals, which sit still in the observed
#: frame and pull every cross-correlation towards zero topocentric velocity.
RV_MASK_BITS = (
    APOGEE_BAD_PIXEL_BITS
    | (1 << APOGEE_PIXMASK["SIG_SKYLINE"])
    | (1 << APOGEE_PIXMASK["SIG_TELLURIC"])
)


def usable(flux, ivar) -> np.ndarray:
    """Pixels that can enter a velocity: finite flux, not exactly 0 (the fill of chip gaps),
    and ivar above 1e-6 of the median (gaps filled with error 1e10 in apStar rows)."""
    flux = np.asarray(flux, float)
    ivar = np.asarray(ivar, float)
    ok = (ivar > 0) & np.isfinite(flux) & np.isfinite(ivar) & (flux != 0)
    if ok.any():
        ok &= ivar > 1e-6 * np.median(ivar[ok])
    return ok


def reference_library(flux, ivar) -> TemplateLibrary:
    """A one-template library from a rest-frame spectrum on the APOGEE grid.

    Pixels without data (ivar 0: chip gaps, edges) are set to the continuum (1) after
    normalisation so that they do not correlate.
    """
    flux = np.asarray(flux, float)
    ivar = np.asarray(ivar, float)
    ok = usable(flux, ivar)
    norm = np.where(ok, normalise(np.where(ok, flux, 0.0), np.where(ok, ivar, 0.0)), 1.0)
    return prepare_templates(APOGEE.wavelength, norm[None, :], np.zeros((1, 3)), APOGEE.cdelt,
                             None, oversample=4)  # fmt: skip


def measure_velocity(
    wave: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    lib: TemplateLibrary,
    v_max: float = 1000.0,
    n_combine: int = 3,
) -> dict[str, float]:
    """Velocity of a spectrum against a template library by cross-correlation.

    Parameters
    ----------
    wave : ndarray, shape (n,)
        Log-linear vacuum wavelength grid, Å (the APOGEE grid).
    flux, ivar : ndarray, shape (n,)
        Spectrum and inverse variance, in the frame whose velocity is measured.
    lib : TemplateLibrary
        Rest-frame templates (:mod:`sdssflow.mwm.hband_templates` or :func:`reference_library`).
    v_max : float
        Largest |velocity| searched, km/s.
    n_combine : int
        The best ``n_combine`` templates at the velocity are combined with non-negative
        weights before the final refinement (as :func:`sdssflow.mwm.rv.measure_rv`).

    Returns
    -------
    dict
        ``v`` (km/s), ``e_v`` (km/s, curvature of χ² scaled by √χ²_ν when > 1), ``rxc``
        (Tonry & Davis r), ``template`` (index of the best template); NaN without 100
        usable pixels.
    """
    out = {"v": np.nan, "e_v": np.nan, "rxc": np.nan, "template": -1}
    wave = np.asarray(wave, float)
    flux = np.asarray(flux, float)
    ivar = np.asarray(ivar, float)
    loglam = np.log10(wave)
    good = usable(flux, ivar) & (loglam > lib.loglam[0]) & (loglam < lib.loglam[-1])
    if good.sum() < 100:
        return out
    ratio = normalise(np.where(good, flux, 0.0), np.where(good, ivar, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        cont = np.where(ratio != 0, flux / ratio, 0.0)
    w = np.where(good, ivar * cont**2, 0.0)
    d = np.where(good, ratio, 1.0)
    dpix = loglam[1] - loglam[0]
    dv_pix = C_KMS * np.log(10.0) * dpix
    nlag = int(np.ceil(v_max / dv_pix))
    # integer-lag correlation of (data - 1) with every (template - 1), by FFT
    tpl = np.array([np.interp(loglam, lib.loglam, f, left=1.0, right=1.0) for f in lib.flux]) - 1.0
    dn = np.where(good, d - 1.0, 0.0)
    dn -= dn[good].mean()
    nfft = 1 << int(np.ceil(np.log2(2 * loglam.size)))
    spec = np.fft.rfft(dn, nfft)
    tspec = np.fft.rfft(tpl * good, nfft, axis=1)
    cc = np.fft.irfft(spec[None, :] * np.conj(tspec), nfft, axis=1)
    lags = np.arange(-nlag, nlag + 1)
    ccf = cc[:, lags % nfft]
    norm = np.sqrt(np.sum((tpl * good) ** 2, axis=1) * np.sum(dn**2))
    ccf /= np.maximum(norm, 1e-300)[:, None]
    k, j = np.unravel_index(np.argmax(ccf), ccf.shape)
    out["rxc"] = _tonry_davis_r(ccf[k], int(j))
    out["template"] = int(k)
    weights = {int(k): 1.0}
    v, e_v, chi = _fine_velocity(d, w, lib, weights, loglam, lags[j] * dv_pix, dv_pix)
    if lib.flux.shape[0] > 1 and n_combine > 1:
        chis = template_chi2(d, w, lib, loglam, v)
        top = np.argsort(chis)[:n_combine]
        T = _shifted_rows(lib.flux[top], lib.loglam, loglam, v)
        sw = np.sqrt(w)
        coef, _ = nnls((T * sw).T, d * sw)
        if coef.sum() > 0:
            weights = {int(i): float(c) for i, c in zip(top, coef) if c > 0}
            v, e_v, chi = _fine_velocity(d, w, lib, weights, loglam, v, dv_pix)
    dof = max(int(good.sum()) - 2, 1)
    out["v"] = float(v)
    out["e_v"] = float(e_v * np.sqrt(max(chi / dof, 1.0)))
    return out


def barycentric_correction(ra: float, dec: float, jd: float, telescope: str) -> float:
    """Barycentric velocity correction (km/s) of an observation, from astropy.

    v_bary = v_topo + bc. ``telescope`` starting with ``apo`` or ``lco`` picks the site
    (:func:`sdssflow.sites.location`); ``jd`` is the UTC Julian date of the mid-exposure.

    Raises
    ------
    ValueError
        If the site is unknown or a value is not finite.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.time import Time

    from sdssflow.sites import location

    try:
        loc = location(telescope)
    except KeyError as err:
        raise ValueError(f"no barycentric correction: {err}") from err
    if not np.all(np.isfinite([ra, dec, jd])):
        raise ValueError(f"no barycentric correction for RA {ra}, Dec {dec}, JD {jd}")
    coord = SkyCoord(ra * u.deg, dec * u.deg)
    t = Time(jd, format="jd", scale="utc")
    return float(
        coord.radial_velocity_correction("barycentric", obstime=t, location=loc).to_value(
            u.km / u.s
        )
    )


def pixel_offset(flux, ivar, ref_flux, ref_ivar, max_lag: int = 10) -> float:
    """Shift (pixels, positive = redward) of a spectrum against a reference on one grid.

    Both are normalised (:func:`sdssflow.mwm.rv.normalise`); the correlation at integer
    lags (pixels where both have data) gets a parabola through its peak.
    """
    a_ok = usable(flux, ivar)
    b_ok = usable(ref_flux, ref_ivar)
    a = np.where(a_ok, normalise(np.where(a_ok, flux, 0.0), np.where(a_ok, ivar, 0.0)) - 1.0, 0.0)
    b = np.where(
        b_ok, normalise(np.where(b_ok, ref_flux, 0.0), np.where(b_ok, ref_ivar, 0.0)) - 1.0, 0.0
    )
    lags = np.arange(-max_lag, max_lag + 1)
    n = a.size
    c = np.array(
        [np.sum(a[max(0, L) : n + min(0, L)] * b[max(0, -L) : n - max(0, L)]) for L in lags]
    )
    i = int(np.clip(np.argmax(c), 1, lags.size - 2))
    c0, c1, c2 = c[i - 1 : i + 2]
    den = c0 - 2 * c1 + c2
    return float(lags[i] + (0.5 * (c0 - c2) / den if den < 0 else 0.0))


def _header_vhelio(meta: dict) -> float:
    v = meta.get("v_rad_header", np.nan)
    return float(v) if v is not None else np.nan


def measure_source_rvs(
    visits, templates: HBandTemplates | LazyTemplates | None, v_max: float = 1000.0
) -> None:
    """Measure and check the velocities of one source's APOGEE visits, in place.

    Parameters
    ----------
    visits : list of sdssflow.mwm.build.ApogeeVisit
        ``meta`` needs ``v_rad_header`` (the header heliocentric RV, km/s), ``bc``
        (km/s, NaN if unknown), ``telescope``, ``jd`` and ``ra``/``dec`` for astropy's bc.
        Visits with ``chips`` are measured; visits with only ``rest`` (apStar rows) keep
        their v_rad.
    templates : HBandTemplates, LazyTemplates or None
        H-band templates (:mod:`sdssflow.mwm.hband_templates`), read only if a visit needs them.
    v_max : float
        Largest |velocity| searched, km/s.

    Notes
    -----
    Sets ``v_rel`` (topocentric, the shift applied when resampling), ``v_rad`` (= v_rel
    + bc), ``e_v_rel``, ``bc``, ``xcorr_v_rel``, ``xcorr_v_rad``, ``xcorr_e_v_rel``,
    ``rv_method`` and the RV_REJECT and RV_FAIL (no finite peak, or Tonry & Davis
    r < :data:`MIN_RXC`) bits of ``spectrum_flags``.
    """
    for v in visits:
        if not v.chips and v.rest is not None:
            v.meta.setdefault("rv_method", "apstar_row")
    rows = [v for v in visits if v.rest is not None]  # every apStar row, matched or not
    grid = APOGEE.wavelength
    for vis in (v for v in visits if v.chips):
        m = vis.meta
        # reference: the apStar rows of the *other* visits (never this visit's own row,
        # which the DRP shifted by its own velocity), else the templates
        others = [v for v in rows if v is not vis]
        lib, method = None, "header"
        if others:
            ivars = np.array([_rv_ivar(v.rest[1], v.rest[2]) for v in others])
            f, iv, _ = coadd(np.array([v.rest[0] for v in others]), ivars,
                             np.zeros((len(others), APOGEE.npix), np.int64),
                             np.ones(len(others), bool))  # fmt: skip
            lib, method = reference_library(np.nan_to_num(f), iv), "apstar_coadd"
        elif templates is not None:
            if isinstance(templates, LazyTemplates):
                templates = templates.get()
            lib, method = templates.library, "template"
        bc = m.get("bc", np.nan)
        if bc is None or not np.isfinite(bc):
            try:
                bc = barycentric_correction(m.get("ra", np.nan), m.get("dec", np.nan),
                                            m.get("jd", np.nan), m.get("telescope", ""))  # fmt: skip
            except ValueError:
                bc = np.nan
        m["bc"] = bc
        header = _header_vhelio(m)
        if lib is None or not np.isfinite(bc):
            m["rv_method"] = "header"
            continue
        chips = [(w, fl, _rv_ivar(iv, mk), mk, nres)
                 for (w, fl, iv, mk), nres in zip(vis.chips, APOGEE_NRES)]  # fmt: skip
        flux, ivar, mask = resample_spectrum(chips, grid, 0.0)
        ivar = _rv_ivar(ivar, mask)
        factor = 1.0
        if method == "template":
            flux, factor = smooth_to(flux, ivar, templates.resolution)
        r = measure_velocity(grid, flux, ivar, lib, v_max=v_max, n_combine=1)
        r["e_v"] *= factor
        if not np.isfinite(r["v"]):
            m["rv_method"] = "header"
            m["spectrum_flags"] = int(m.get("spectrum_flags", 0)) | 1 << APOGEE_STARFLAG["RV_FAIL"]
            continue
        v_rad = r["v"] + bc
        m.update(v_rel=r["v"], e_v_rel=r["e_v"], v_rad=v_rad, xcorr_v_rel=r["v"], xcorr_v_rad=v_rad,
                 xcorr_e_v_rel=r["e_v"], rv_method=method)  # fmt: skip
        if not r["rxc"] >= MIN_RXC:
            m["spectrum_flags"] = int(m.get("spectrum_flags", 0)) | 1 << APOGEE_STARFLAG["RV_FAIL"]
            log.warning("APOGEE visit MJD %s fiber %s: correlation peak r = %.1f < %.0f (%s): RV_FAIL, "
                        "left out of the stack", m.get("mjd"), m.get("fiber"), r["rxc"], MIN_RXC, method)  # fmt: skip
        tol = max(RV_DISAGREE_SIGMA * (r["e_v"] if np.isfinite(r["e_v"]) else 0.0), RV_DISAGREE_KMS)
        if np.isfinite(header) and abs(v_rad - header) > tol:
            m["spectrum_flags"] = (
                int(m.get("spectrum_flags", 0)) | 1 << APOGEE_STARFLAG["RV_REJECT"]
            )
            log.warning("APOGEE visit MJD %s fiber %s: measured RV %.2f km/s, header %.2f km/s: "
                        "RV_REJECT, left out of the stack", m.get("mjd"), m.get("fiber"), v_rad,
                        header)  # fmt: skip


def _rv_ivar(ivar, mask) -> np.ndarray:
    """ivar with the pixels of :data:`RV_MASK_BITS` set to 0 (for velocities only)."""
    return np.where(np.asarray(mask).astype(np.int64) & RV_MASK_BITS, 0.0, ivar)
