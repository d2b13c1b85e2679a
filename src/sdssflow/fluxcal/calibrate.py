"""Flux calibration of one BOSS exposure (all cameras) from its standard stars.

:func:`calibrate_exposure` is the science of the ``flux_calibration`` step; it takes
frames, photometry and the prepared template library in memory and returns calibration
vectors and status rows (no file access). Per spectrograph:

1. the SPECTROPHOTO_STD fibres are matched to the photometry (catalogid or position);
2. each standard is fitted (:func:`sdssflow.fluxcal.matching.fit_star`) with the SED
   prior of its photometry, after a check that the template grid covers its colour;
3. the chosen template, convolved to the camera resolution and shifted by the RV, is
   scaled to the photometry with the bands the full-range model covers entirely
   (:func:`scale_to_photometry`; kspecdr W4 integrated a partly covered, resampled
   model), and a smooth response is fitted per camera (:mod:`.vectors`);
4. the responses are combined robustly and turned into ``cal_factor`` on every fibre's
   native pixels.

Failures of a star are recorded in its row; a spectrograph without usable standards
makes the exposure BAD_FLUXCAL with the reason, and the other cameras go on.
"""

from __future__ import annotations

import logging
import weakref
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sdssflow import photometry
from sdssflow.fluxcal.interpolation import log_interpolate
from sdssflow.fluxcal.matching import (
    C_KMS,
    ModelGrid,
    ParameterSpace,
    Segment,
    core_mask,
    fit_star,
)
from sdssflow.fluxcal.priors import BandTable, match_standards, sed_chi2, teff_from_bp_rp
from sdssflow.fluxcal.resolution import bosz_sigma_ln, convolve_ln, frame_sigma_ln
from sdssflow.fluxcal.vectors import (
    MASKBITS,
    combine_responses,
    fit_response,
    pixel_widths,
    telluric_mask,
)
from sdssflow.io.bosz_library import TemplateLibrary
from sdssflow.io.fluxcal import CameraCalibration

__all__ = [
    "Settings",
    "PreparedLibrary",
    "prepare_library",
    "scale_to_photometry",
    "ExposureResult",
    "calibrate_exposure",
    "BAD_PIXEL_BITS",
]

log = logging.getLogger(__name__)

#: SPPIXMASK bits that make a pixel unusable for the calibration.
BAD_PIXEL_BITS = (0, 1, 2, 3, 4, 5, 18, 24)
_BAD_MASK = int(sum(1 << b for b in BAD_PIXEL_BITS))


@dataclass
class Settings:
    """Tunables of the flux calibration (CLI options of the step).

    Attributes
    ----------
    telluric : numpy.ndarray, (nregion, 2)
        Telluric intervals, vacuum A.
    cores : numpy.ndarray, (nline, 2), optional
        Strong-line cores (rest vacuum A, half-width A) left out of the template
        matching and of the response fits (``sdssflow/data/fluxcal/line_cores.csv``).
    degree : int
        Per-camera response polynomial degree used in template matching.
    knot_spacing : float
        Response spline knot spacing, ln(lambda).
    rv_max, rv_step : float
        Coarse RV search half-range and step, km/s.
    nsigma, floor : float
        Star rejection threshold and robust-sigma floor of the combination.
    min_snr : float
        Standards with a lower median S/N per pixel are not used.
    match_radius : float
        Position match radius, arcsec.
    mag_floor : float
        Error floor added in quadrature to the photometric errors, mag (filter-curve
        and model systematics); it sets the weight of the SED prior against the
        spectrum.
    interpolate : bool
        Interpolate the template between grid nodes (see
        :func:`sdssflow.fluxcal.interpolation.interpolation_weights`); False uses the node.
    cover_margin : float
        A star whose Teff from its native BP-RP lies more than this (K, at least two
        grid steps) outside the library's Teff range is "not covered by the grid".
    sed_chi2_max : float
        A star whose best template sits at a Teff edge of the grid with an SED
        chi^2 per degree of freedom above this is also "not covered".
    """

    telluric: np.ndarray
    cores: np.ndarray | None = None
    degree: int = 15
    knot_spacing: float = 0.02
    rv_max: float = 500.0
    rv_step: float = 10.0
    nsigma: float = 4.0
    floor: float = 0.01
    min_snr: float = 5.0
    match_radius: float = 1.0
    mag_floor: float = 0.01
    cover_margin: float = 500.0
    interpolate: bool = True
    sed_chi2_max: float = 25.0


#: Relative LSF difference below which a convolved library cube is reused (see
#: :meth:`PreparedLibrary.camera_grid`): 0.5 % of the LSF width changes a convolved line's
#: depth by less than 0.5 % of that depth, far below what the smooth response fit resolves.
GRID_SIGMA_TOLERANCE = 0.005
#: Convolved cubes kept (one per camera of a 2-spectrograph exposure).
MAX_GRIDS = 4


@dataclass
class PreparedLibrary:
    """The template library with what every exposure reuses.

    Attributes
    ----------
    library : TemplateLibrary
    bands : BandTable
    synmag : numpy.ndarray, (ntemplate, nband)
        Synthetic AB magnitudes of the unscaled templates (F = 4 pi H); NaN where the
        library range does not cover the whole filter.
    ln : numpy.ndarray, (nwave,)
        ln(lambda / A) of the library pixels.
    dln : float
        Median step of ``ln`` (the grid is uniform in ln lambda to ~1e-5 relative, so
        convolution works in pixels).
    grids : dict
        Cache of camera-resolution cubes.
    """

    library: TemplateLibrary
    bands: BandTable
    synmag: np.ndarray
    ln: np.ndarray
    dln: float
    grids: dict = field(default_factory=dict)

    @property
    def teff(self) -> np.ndarray:
        return self.library.params["teff"].to_numpy(float)

    def camera_grid(
        self, lnmin: float, lnmax: float, ln_sigma: np.ndarray, sigma: np.ndarray
    ) -> ModelGrid:
        """Templates convolved to a camera's LSF (sigma in ln lambda at ln_sigma), cached."""
        pad = 0.01  # about 3000 km/s: room for RV shifts
        i0 = max(int(np.searchsorted(self.ln, lnmin - pad)) - 1, 0)
        i1 = min(int(np.searchsorted(self.ln, lnmax + pad)) + 1, self.ln.size)
        if i1 - i0 < 10 or self.ln[0] > lnmin or self.ln[-1] < lnmax:
            raise ValueError(
                f"library ({np.exp(self.ln[0]):.0f}-{np.exp(self.ln[-1]):.0f} A) does not cover "
                f"{np.exp(lnmin):.0f}-{np.exp(lnmax):.0f} A"
            )
        # The exposures of a night share a camera's LSF to well under 1 %: a cube is reused
        # while the LSF (at 7 wavelengths) stays within GRID_SIGMA_TOLERANCE of the one it
        # was made for, so the library is convolved once per camera, not once per exposure.
        probe = np.interp(np.linspace(lnmin, lnmax, 7), ln_sigma, sigma)
        for (j0, j1, made), grid in self.grids.items():
            if (j0, j1) == (i0, i1) and np.all(np.abs(probe / np.asarray(made) - 1.0) <= GRID_SIGMA_TOLERANCE):
                return grid
        target = np.interp(self.ln[i0:i1], ln_sigma, sigma)
        cube = convolve_ln(
            self.library.flux[:, i0:i1],
            self.dln,
            target,
            bosz_sigma_ln(self.library.resolution),
        )
        while len(self.grids) >= MAX_GRIDS:  # bounded memory: ~ntemplate x npix x 4 B each
            self.grids.pop(next(iter(self.grids)))
        grid = ModelGrid(ln=self.ln[i0:i1], cube=cube)
        self.grids[(i0, i1, tuple(probe))] = grid
        return grid


def prepare_library(library: TemplateLibrary, bands: BandTable) -> PreparedLibrary:
    """Synthetic magnitudes of every template in every band, and the ln(lambda) grid.

    Raises
    ------
    ValueError
        If the library wavelengths depart from a uniform ln(lambda) grid by more than
        5 % of a pixel.
    """
    ln = np.log(library.wave)
    steps = np.diff(ln)
    dln = float(np.median(steps))
    # 8-digit grid files quantise single steps by ~2e-3; vacuum conversion drifts ~1e-5
    if np.max(np.abs(steps / dln - 1.0)) > 0.05:
        raise ValueError("template library is not uniform in ln(lambda) (steps differ by > 5 %)")
    synmag = (
        np.column_stack(
            [photometry.ab_magnitude(library.wave, library.flux, f) for f in bands.filter]
        )
        if len(bands.band)
        else np.zeros((library.ntemplate, 0))
    )
    return PreparedLibrary(library, bands, synmag, ln, dln)


def scale_to_photometry(
    mag_obs, err_obs, mag_syn, floor: float = 0.02
) -> tuple[float, float, np.ndarray]:
    """Scale s of a template so that s * template matches the photometry.

    s = 10^(-0.4 dm) with dm the inverse-variance weighted mean of m_obs - m_syn over
    bands present in both; sigma_s = s 0.4 ln(10) sigma_dm, where sigma_dm is the
    larger of the formal error and the scatter of the offsets (kspecdr ignored the
    scatter).

    Parameters
    ----------
    mag_obs, err_obs : numpy.ndarray, (nband,)
        Observed AB magnitudes and errors (NaN = missing).
    mag_syn : numpy.ndarray, (nband,)
        Synthetic AB magnitudes of the unscaled template (NaN = filter not covered).
    floor : float
        Error floor, mag.

    Returns
    -------
    scale, scale_err : float
    residuals : numpy.ndarray, (nband,)
        m_syn(s * template) - m_obs (NaN where unused).

    Raises
    ------
    ValueError
        If no band is usable.

    Examples
    --------
    >>> s, e, r = scale_to_photometry(np.array([15.0, 15.2]), np.array([0.01, 0.01]), np.array([10.0, 10.2]))
    >>> round(s, 8), np.round(r, 6).tolist()
    (0.01, [0.0, 0.0])
    """
    d = np.asarray(mag_obs, float) - np.asarray(mag_syn, float)
    ok = np.isfinite(d) & np.isfinite(err_obs)
    if not ok.any():
        raise ValueError("no photometric band is both measured and fully covered by the template")
    w = 1.0 / (np.asarray(err_obs, float)[ok] ** 2 + floor**2)
    dm = float(np.sum(w * d[ok]) / np.sum(w))
    sig = 1.0 / np.sqrt(np.sum(w))
    if ok.sum() > 1:
        sig = max(sig, float(np.sqrt(np.sum(w * (d[ok] - dm) ** 2) / np.sum(w) / (ok.sum() - 1))))
    scale = 10.0 ** (-0.4 * dm)
    resid = np.where(ok, dm - d, np.nan)
    return scale, scale * 0.4 * np.log(10.0) * sig, resid


@dataclass
class ExposureResult:
    """Output of :func:`calibrate_exposure`.

    Attributes
    ----------
    cameras : dict of str to CameraCalibration
        Calibrated cameras.
    stars : list of dict
        One row per standard (status USED / REJECTED and the reason, fit results).
    row : dict
        Exposure summary (counts, rms, FLAG = '' or 'BAD_FLUXCAL', REASON).
    """

    cameras: dict
    stars: list
    row: dict


def _star_row(fiber, specid, catalogid):
    return {
        "FIBERID": int(fiber),
        "SPECID": int(specid),
        "CATALOGID": int(catalogid),
        "STATUS": "REJECTED",
        "REASON": "",
        "TEFF": np.nan,
        "LOGG": np.nan,
        "FEH": np.nan,
        "ALPHA": np.nan,
        "TEMPLATE": "",
        "RV": np.nan,
        "RV_ERR": np.nan,
        "SNR": np.nan,
        "CHI2R": np.nan,
        "SCALE": np.nan,
        "SCALE_ERR": np.nan,
        "NBANDS": 0,
        "TEFF_NODE": np.nan,
        "TEFF_PHOT": np.nan,
    }


_REFERENCE_CACHE: dict = {}


def _frame_cached(kind: str, frame, compute):
    """``compute(frame)``, cached per frame object. The cache holds a weak reference to the
    frame (a strong one kept every exposure's frames of a night alive: ~250 MB each)."""
    key = (kind, id(frame))
    hit = _REFERENCE_CACHE.get(key)
    if hit is not None and hit[0]() is frame:
        return hit[1]
    value = compute(frame)
    while len(_REFERENCE_CACHE) >= 16:  # the cameras of an exposure, two kinds, and spares
        _REFERENCE_CACHE.pop(next(iter(_REFERENCE_CACHE)))
    _REFERENCE_CACHE[key] = (weakref.ref(frame), value)
    return value


def _camera_reference(frame):
    """Reference ln(lambda) (median over fibres) and LSF sigma profile of a frame (cached)."""
    return _frame_cached("reference", frame, _camera_reference_uncached)


def _camera_range(frame) -> tuple[float, float]:
    """ln(lambda) range of all the fibres of a frame (cached)."""

    def compute(f):
        loglam = np.asarray(f.loglam)
        return float(loglam.min()) * np.log(10.0), float(loglam.max()) * np.log(10.0)

    return _frame_cached("range", frame, compute)


def _camera_reference_uncached(frame):
    loglam = np.asarray(frame.loglam, float)
    ref = np.median(loglam, axis=0) * np.log(10.0)
    sigma = np.median(frame_sigma_ln(loglam, frame.disp), axis=0)
    return ref, sigma


def _fit_one(prep, frames, rows, mag, err, row, settings, previous=None):
    """Fit one standard; returns per-camera ResponseFit dict or raises ValueError."""
    bands = prep.bands
    if not np.isfinite(mag).any():
        raise ValueError("all photometric bands missing")
    # colour check: is the star inside the grid? (native Gaia colour, W18)
    ib = bands.band.index("gaia_bp") if "gaia_bp" in bands.band else None
    ir = bands.band.index("gaia_rp") if "gaia_rp" in bands.band else None
    teff = prep.teff
    step = prep.library.teff_step()
    if ib is not None and ir is not None and np.isfinite(mag[ib]) and np.isfinite(mag[ir]):
        bp_rp = (mag[ib] - bands.vega_to_ab[ib]) - (mag[ir] - bands.vega_to_ab[ir])
        row["TEFF_PHOT"] = float(teff_from_bp_rp(bp_rp))
        # beyond the relation's colour range, its end value is a bound on Teff
        tphot = float(teff_from_bp_rp(np.clip(bp_rp, 0.39, 1.50)))
        margin = max(2 * step, settings.cover_margin)
        if (tphot < teff.min() - margin and bp_rp >= 0.39) or (
            tphot > teff.max() + margin and bp_rp <= 1.50
        ):
            raise ValueError(
                f"template grid ({teff.min():.0f}-{teff.max():.0f} K) does not cover the star "
                f"(BP-RP = {bp_rp:.2f}, Teff {'<' if bp_rp > 1.5 else '>' if bp_rp < 0.39 else '='} {tphot:.0f} K)"
            )
    prior = sed_chi2(mag, err, prep.synmag, floor=settings.mag_floor)
    segments, grids = [], {}
    for cam, frame in frames.items():
        i = rows[cam]
        loglam = np.asarray(frame.loglam[i], float)
        lnlam = loglam * np.log(10.0)
        good = (
            (frame.ivar[i] > 0)
            & ((frame.mask[i] & _BAD_MASK) == 0)
            & ~telluric_mask(10**loglam, settings.telluric)
        )
        ref, sig = _camera_reference(frame)
        # the frame's whole range (not this fibre's): one convolved cube serves every star
        lo, hi = _camera_range(frame)
        grids[cam] = prep.camera_grid(lo, hi, ref, sig)
        segments.append(
            Segment(
                cam, lnlam, np.asarray(frame.flux[i], float), np.asarray(frame.ivar[i], float), good
            )
        )
    fit = fit_star(
        segments,
        grids,
        prior=prior,
        teff=teff,
        rv_max=settings.rv_max,
        rv_step=settings.rv_step,
        degree=settings.degree,
        cores=settings.cores,
        previous=previous,
        space=ParameterSpace(prep.library.params, prep.synmag, mag, err, settings.mag_floor)
        if settings.interpolate
        else None,
    )
    row["_fit"] = fit
    p = prep.library.params.iloc[fit.best]
    if settings.interpolate and fit.weights:
        weights, point = fit.weights, fit.point
    else:
        weights, point = {fit.best: 1.0}, {k: float(p[k]) for k in ("teff", "logg", "feh")}
    idx = np.array(list(weights))
    wts = np.array([weights[i] for i in idx])
    row.update(
        TEFF=point["teff"],
        LOGG=point["logg"],
        FEH=point["feh"],
        ALPHA=float(p["alpha"]),
        TEFF_NODE=float(p["teff"]),
        TEMPLATE=str(p["name"]),
        RV=fit.rv,
        RV_ERR=fit.rv_err,
        SNR=fit.snr,
        CHI2R=fit.reduced_chi2,
    )
    if fit.snr < settings.min_snr:
        raise ValueError(f"S/N {fit.snr:.1f} below {settings.min_snr}")
    flux_full = log_interpolate(prep.library.flux[idx], wts)
    synmag = np.array(
        [photometry.ab_magnitude(prep.library.wave, flux_full, f) for f in prep.bands.filter]
    )
    scale, scale_err, _ = scale_to_photometry(mag, err, synmag, settings.mag_floor)
    nb = int(np.sum(np.isfinite(mag) & np.isfinite(synmag)))
    row.update(SCALE=scale, SCALE_ERR=scale_err, NBANDS=nb)
    at_edge = teff[fit.best] in (teff.min(), teff.max())
    if at_edge and nb > 2 and prior[fit.best] / (nb - 1) > settings.sed_chi2_max:
        raise ValueError(
            f"template grid does not cover the star (best template at the grid edge, Teff {teff[fit.best]:.0f} K, "
            f"SED chi2/dof {prior[fit.best] / (nb - 1):.1f})"
        )
    fits_ = {}
    for seg in segments:
        frame = frames[seg.camera]
        i = rows[seg.camera]
        model, inside = grids[seg.camera].evaluate(seg.lnlam, fit.rv, idx)
        model = log_interpolate(model, wts) * scale * 1e17 * pixel_widths(frame.loglam[i])
        use = seg.good & inside
        if settings.cores is not None and len(settings.cores):
            use &= ~core_mask(seg.lnlam, settings.cores, fit.rv)
        fits_[seg.camera] = fit_response(
            seg.lnlam, seg.flux, seg.ivar, model, use, settings.knot_spacing
        )
    return fits_, scale_err / scale


#: Fibres per block in :func:`_camera_calibration`'s per-fibre factor.
_FIBER_BLOCK = 64


def _camera_calibration(cam, frame, star_fits, fibers, settings):
    """Combine the per-star responses of one camera and build cal_factor."""
    ref_ln, _ = _camera_reference(frame)
    wave_ref = np.exp(ref_ln)
    vals, vars_, valid = [], [], []
    for fit, rel_err in star_fits:
        a, v = fit(ref_ln)
        inside = (ref_ln >= fit.lnrange[0]) & (ref_ln <= fit.lnrange[1])
        vals.append(a)
        vars_.append(v + (a * rel_err) ** 2)
        valid.append(inside & ~telluric_mask(wave_ref, settings.telluric))
    comb, var, used, stats = combine_responses(
        np.array(vals), np.array(vars_), np.array(valid), settings.nsigma, settings.floor
    )
    have = np.isfinite(comb)
    if not have.any():
        raise ValueError(f"camera {cam}: no pixel constrained by a standard")
    # telluric / uncovered pixels: interpolate the combined response across (kept finite, flagged)
    fill = np.interp(ref_ln, ref_ln[have], comb[have])
    fill_var = np.interp(ref_ln, ref_ln[have], var[have])
    in_tell = telluric_mask(wave_ref, settings.telluric)
    covered = (ref_ln >= ref_ln[have].min()) & (ref_ln <= ref_ln[have].max())
    cal_ref = 1.0 / (fill * pixel_widths(ref_ln / np.log(10.0)))
    # per-fibre factor, computed in float64 in blocks of fibres (bounds the temporaries) and
    # kept in float32 (the product's type)
    cal_fib = np.empty(np.shape(frame.loglam), np.float32)
    dev = 0.0
    for i in range(0, cal_fib.shape[0], _FIBER_BLOCK):
        loglam = np.asarray(frame.loglam[i : i + _FIBER_BLOCK], float)
        a_fib = np.interp(loglam * np.log(10.0), ref_ln, fill)
        block = 1.0 / (a_fib * pixel_widths(loglam))
        dev = max(dev, float(np.nanmax(np.abs(block / cal_ref[None, :] - 1.0), initial=-np.inf)))
        cal_fib[i : i + _FIBER_BLOCK] = block
    per_fiber = bool(dev > 1e-3)
    # cal_factor per fibre when the fibres' wavelengths make it differ by > 0.1 %; its
    # ivar and mask stay on the reference grid (smooth in wavelength; a shift of a
    # fraction of a pixel does not change them), which keeps the files small
    cal = cal_fib if per_fiber else cal_ref
    mask = np.zeros(wave_ref.shape, np.int16)
    mask |= telluric_mask(wave_ref, settings.telluric).astype(np.int16) << MASKBITS["TELLURIC"]
    lo, hi = ref_ln[have].min(), ref_ln[have].max()
    mask |= ((ref_ln < lo) | (ref_ln > hi)).astype(np.int16) << MASKBITS["NOCOVER"]
    ivar = np.where(fill_var > 0, fill**2 / np.where(fill_var > 0, fill_var, 1.0) / cal_ref**2, 0.0)
    mask |= (ivar <= 0).astype(np.int16) << MASKBITS["LOWWEIGHT"]
    star_cal = np.array([1.0 / (v * pixel_widths(ref_ln / np.log(10.0))) for v in vals])
    meta = {
        "CAMERA": cam,
        "NSTARS": len(star_fits),
        "NUSED": int(used.sum()),
        "NREJECT": int((~used).sum()),
        "RMS": float(stats["rms"]),
        "PERFIBER": per_fiber,
        "TELLFRAC": float(in_tell.mean()),
        "COVERED": float(covered.mean()),
    }
    calib = CameraCalibration(
        cam,
        wave_ref,
        cal.astype(np.float32),
        ivar.astype(np.float32),
        mask,
        star_cal.astype(np.float32),
        np.asarray(fibers),
        meta,
    )
    return calib, used, stats


def calibrate_exposure(
    frames: dict,
    catalog: pd.DataFrame,
    cat_mag: np.ndarray,
    cat_err: np.ndarray,
    prep: PreparedLibrary,
    settings: Settings,
    star_cache: dict | None = None,
) -> ExposureResult:
    """Calibrate every camera of one exposure.

    Parameters
    ----------
    frames : dict of str to sdssflow.io.boss.BossFrame or callable
        spFrames of the exposure by camera (``b1``, ``r1``, ``b2``, ``r2``), or zero-argument
        callables returning them: those are called one spectrograph at a time, so only that
        spectrograph's frames are in memory. A loader returning None leaves its camera out
        (not calibrated, not counted as missing).
    catalog : pandas.DataFrame
        Photometry table (Refcat2 columns, ``RA``/``Dec`` and optionally ``catalogid``).
    cat_mag, cat_err : numpy.ndarray, (nrow, nband)
        AB magnitudes of ``catalog`` from :func:`sdssflow.fluxcal.priors.catalog_photometry`.
    prep : PreparedLibrary
    settings : Settings
    star_cache : dict, optional
        Shared by the exposures of one night (plate-MJD): the template chosen for a
        standard (key: spectrograph, fibre) in the first exposure where it was fitted is
        kept in the later ones, whose RVs, scales and responses are still measured
        anew. Saves the template search, which dominates the cost.

    Returns
    -------
    ExposureResult
    """
    stars, cameras, reasons = [], {}, []
    rms_all, n_std, n_used = [], 0, 0
    loaded: set = set()  # cameras whose frame was given or loaded
    for spec in sorted({cam[1] for cam in frames}):
        # one spectrograph's frames at a time: a loader is called here and its frames are
        # freed (all references dropped here) before the next spectrograph's are read
        cams = frame = plug = f = None
        cams = {c: (f() if callable(f) else f) for c, f in frames.items() if c[1] == spec}
        cams = {c: f for c, f in cams.items() if f is not None}  # None: loader left it out
        loaded |= set(cams)
        if not cams:
            continue
        plug = next(iter(cams.values())).plugmap
        objtype = np.char.strip(np.asarray(plug["OBJTYPE"]).astype(str))
        std_rows = np.flatnonzero(objtype == "SPECTROPHOTO_STD")
        n_std += std_rows.size
        if std_rows.size == 0:
            reasons.append(f"spectrograph {spec}: no SPECTROPHOTO_STD fibres")
            continue
        cid = (
            np.asarray(plug["CATALOGID"]).astype(np.int64) if "CATALOGID" in plug.colnames else None
        )
        match = match_standards(
            np.asarray(plug["RA"])[std_rows],
            np.asarray(plug["DEC"])[std_rows],
            catalog,
            None if cid is None else cid[std_rows],
            settings.match_radius,
        )
        fits_by_cam = {c: [] for c in cams}
        fibers_by_cam = {c: [] for c in cams}
        star_rows = []
        for k, r in enumerate(std_rows):
            fiber = int(plug["FIBERID"][r])
            row = _star_row(fiber, spec, 0 if cid is None else cid[r])
            row_index = {
                c: int(np.flatnonzero(np.asarray(f.plugmap["FIBERID"]) == fiber)[0])
                for c, f in cams.items()
            }
            if match[k] < 0:
                row["REASON"] = "no photometry"
            else:
                try:
                    key = (spec, fiber)
                    previous = None if star_cache is None else star_cache.get(key)
                    per_cam, rel_err = _fit_one(
                        prep,
                        cams,
                        row_index,
                        cat_mag[match[k]],
                        cat_err[match[k]],
                        row,
                        settings,
                        previous,
                    )
                    if star_cache is not None and previous is None:
                        star_cache[key] = row["_fit"]
                    for c, f in per_cam.items():
                        fits_by_cam[c].append((f, rel_err))
                        fibers_by_cam[c].append(fiber)
                    row["STATUS"] = "USED"
                except (ValueError, np.linalg.LinAlgError) as err:
                    row["REASON"] = str(err)
            row.pop("_fit", None)
            stars.append(row)
            star_rows.append(row)
        if not any(fits_by_cam.values()):
            common = Counter(r["REASON"] for r in star_rows).most_common(1)[0][0]
            reasons.append(f"spectrograph {spec}: no usable standard ({common})")
            continue
        for cam, frame in cams.items():
            if not fits_by_cam[cam]:
                reasons.append(f"camera {cam}: no usable standard")
                continue
            try:
                calib, used, stats = _camera_calibration(
                    cam, frame, fits_by_cam[cam], fibers_by_cam[cam], settings
                )
            except ValueError as err:
                reasons.append(str(err))
                continue
            cameras[cam] = calib
            rms_all.append(stats["rms"])
            for fiber, ok in zip(fibers_by_cam[cam], used):
                if not ok:
                    for row in star_rows:
                        if row["FIBERID"] == fiber and row["STATUS"] == "USED":
                            row["STATUS"] = "REJECTED"
                            row["REASON"] = f"outlier in the combination ({cam})"
        n_used += sum(r["STATUS"] == "USED" for r in star_rows)
    missing = sorted(loaded - set(cameras))
    flag = "BAD_FLUXCAL" if missing else ""
    row = {
        "NSTD": n_std,
        "NUSED": n_used,
        "NREJECT": n_std - n_used,
        "RMS": float(np.max(rms_all)) if rms_all else np.nan,
        "CAMERAS": ",".join(sorted(cameras)),
        "FLAG": flag,
        "REASON": "; ".join(reasons) if missing else "",
    }
    return ExposureResult(cameras, stars, row)


__all__ += ["C_KMS"]
