"""Calibration vectors: per-star smooth response, robust combination, application.

Definitions (one camera):

- counts_i = F(lambda_i) * dlambda_i * A(lambda_i): electrons in native pixel i of
  width dlambda_i (A) from a flux density F (1e-17 erg/s/cm2/A); A is the smooth
  instrument response (electrons per 1e-17 erg/cm2, i.e. per unit of F dlambda).
- cal_factor_i = 1 / (A(lambda_i) dlambda_i): flux density per (electron per pixel), so
  calibrated = counts * cal_factor (the contract of ``read_calibration``).

Fixes of kspecdr (section 7 of the reference note):

- W7: each star's response is a weighted least-squares cubic B-spline in ln(lambda)
  fitted to *counts = model x spline* (no division by noisy counts), clipped, and
  interpolated across masked regions explicitly.
- W9: stars are combined with a per-pixel weighted mean after rejecting outlier stars
  by a robust (MAD) test on their grey offset and shape, which works with 3 stars;
  the combined variance carries the star-to-star scatter.
- W10: masked pixels keep a finite interpolated value but carry a mask bit and ivar 0,
  and :func:`apply_calibration` gives ivar 0 there (never flux 0 with variance 0).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import BSpline

from sdssflow.fluxcal.resolution import pixel_step

__all__ = [
    "MASKBITS",
    "ResponseFit",
    "pixel_widths",
    "telluric_mask",
    "read_telluric_regions",
    "fit_response",
    "combine_responses",
    "apply_calibration",
]

#: Bits of the calibration MASK: TELLURIC (inside a telluric band), NOCOVER (no star
#: data or outside the fitted range: extrapolated), LOWWEIGHT (combined ivar 0).
MASKBITS = {"TELLURIC": 0, "NOCOVER": 1, "LOWWEIGHT": 2}


def pixel_widths(loglam: np.ndarray) -> np.ndarray:
    """Width in A of each pixel, from the pixel-centre log10 wavelengths.

    Parameters
    ----------
    loglam : numpy.ndarray, (..., npix)
        log10(lambda / A) of pixel centres.

    Returns
    -------
    numpy.ndarray, (..., npix)
        dlambda = lambda ln(10) |d log10 lambda / d pixel|, A.

    Examples
    --------
    >>> w = pixel_widths(np.log10(5000.0) + 1e-4 * np.arange(3))
    >>> round(float(w[1]), 3)
    1.152
    """
    loglam = np.asarray(loglam, float)
    # exp(ln10 x), not 10**x: numpy's exp is vectorised, its power is not (3x on this)
    widths = np.exp(loglam * np.log(10.0))
    widths *= np.log(10.0)
    widths *= pixel_step(loglam)
    return widths


def telluric_mask(wave: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """True inside any [lo, hi] telluric interval (inclusive).

    >>> telluric_mask(np.array([6850.0, 6860.0, 7000.0]), np.array([[6860.0, 6960.0]])).tolist()
    [False, True, False]
    """
    wave = np.asarray(wave, float)
    out = np.zeros(wave.shape, dtype=bool)
    for lo, hi in np.asarray(regions, float).reshape(-1, 2):
        out |= (wave >= lo) & (wave <= hi)
    return out


#: Plausible range of a telluric band edge in Angstrom: a table in nm or micron falls outside.
_TELLURIC_RANGE_A = (3000.0, 60000.0)


def read_telluric_regions(path: str | Path) -> np.ndarray:
    """Read a table of telluric bands (vacuum Angstrom), as :func:`telluric_mask` takes them.

    Two layouts are read: the package's CSV (``#`` comments, a header with ``wave_min`` and
    ``wave_max``, e.g. ``sdssflow/data/fluxcal/telluric_regions.csv``) and kspecdr's mask
    (``data/masks/telluric_default.dat``: ``#`` comments, then two whitespace-separated
    columns lam_lo lam_hi, Angstrom, vacuum, no header).

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    numpy.ndarray, shape (nband, 2)
        [lo, hi] of each band, vacuum Angstrom.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not text, holds no band, a row does not parse, a band has lo >= hi,
        or an edge is not a plausible Angstrom value (a table in nm or micron); the message
        names the file (and the line).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: telluric band table not found")
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text table of telluric bands ({err})") from None
    rows = [(n, ln.split("#", 1)[0].strip()) for n, ln in enumerate(text.splitlines(), start=1)]
    rows = [(n, ln) for n, ln in rows if ln]

    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.split(",")] if "," in line else line.split()

    cols = (0, 1)
    if rows:
        first = cells(rows[0][1])
        try:
            float(first[0])
        except ValueError:  # a header line
            names = [c.lower() for c in first]
            if not {"wave_min", "wave_max"} <= set(names):
                raise ValueError(
                    f"{path}, line {rows[0][0]}: a telluric table with a header needs columns "
                    f"wave_min and wave_max, has {first}"
                ) from None
            cols = (names.index("wave_min"), names.index("wave_max"))
            rows = rows[1:]
    if not rows:
        raise ValueError(f"{path}: no telluric band in the table")
    bands = []
    for lineno, line in rows:
        row = cells(line)
        try:
            lo, hi = float(row[cols[0]]), float(row[cols[1]])
        except (IndexError, ValueError):
            raise ValueError(
                f"{path}, line {lineno}: cannot read a band (lo hi, Angstrom) from {line!r}"
            ) from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"{path}, line {lineno}: band [{lo}, {hi}] is empty or not finite")
        if not (_TELLURIC_RANGE_A[0] <= lo and hi <= _TELLURIC_RANGE_A[1]):
            raise ValueError(
                f"{path}, line {lineno}: band [{lo}, {hi}] is not in vacuum Angstrom "
                f"({_TELLURIC_RANGE_A[0]:g}-{_TELLURIC_RANGE_A[1]:g}); convert nm or micron tables"
            )
        bands.append((lo, hi))
    return np.array(bands, dtype=np.float64)


@dataclass
class ResponseFit:
    """A smooth response A(ln lambda) fitted to one star in one camera.

    Attributes
    ----------
    spline : scipy.interpolate.BSpline
        A as a function of ln(lambda / A).
    cov : numpy.ndarray, (ncoef, ncoef)
        Covariance of the spline coefficients.
    lnrange : (float, float)
        ln(lambda) range of the pixels used (outside it the value is extrapolated).
    chi2, npix : float, int
        Final chi^2 and pixels used.
    """

    spline: BSpline
    cov: np.ndarray
    lnrange: tuple[float, float]
    chi2: float
    npix: int

    def __call__(self, lnlam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Response and its variance at ``lnlam`` (any shape)."""
        x = np.asarray(lnlam, float)
        flat = np.clip(x.ravel(), self.spline.t[0], self.spline.t[-1])
        # sparse design (k + 1 non-zeros per row): var_i = sum_j D_ij (D cov)_ij, 4x less
        # CPU than a dense design and a three-operand einsum
        design = BSpline.design_matrix(flat, self.spline.t, self.spline.k)
        value = design @ self.spline.c
        var = np.asarray(design.multiply(design @ self.cov).sum(axis=1)).ravel()
        return value.reshape(x.shape), var.reshape(x.shape)


def fit_response(
    lnlam: np.ndarray,
    counts: np.ndarray,
    ivar: np.ndarray,
    model: np.ndarray,
    good: np.ndarray,
    knot_spacing: float = 0.02,
    clip: float = 5.0,
    n_iter: int = 3,
) -> ResponseFit:
    """Fit counts = model * A(ln lambda) with A a cubic B-spline (weighted, clipped).

    Parameters
    ----------
    lnlam : numpy.ndarray, (npix,)
        ln(lambda / A), increasing.
    counts, ivar : numpy.ndarray, (npix,)
        Electrons per pixel and inverse variance.
    model : numpy.ndarray, (npix,)
        Expected F * dlambda per pixel (1e-17 erg/s/cm2), the scaled, RV-shifted,
        resolution-matched template times the pixel width.
    good : numpy.ndarray of bool, (npix,)
        Pixels allowed in the fit (not masked, not telluric).
    knot_spacing : float
        Interior knot spacing in ln(lambda) (0.02 is about 100 A at 5000 A).
    clip : float
        Pixels deviating by more than ``clip`` sigma are dropped after each pass.
    n_iter : int
        Fit passes.

    Returns
    -------
    ResponseFit

    Raises
    ------
    ValueError
        If fewer pixels than spline coefficients (x 5) are usable.
    """
    lnlam = np.asarray(lnlam, float)
    use = (
        np.asarray(good, bool)
        & (np.asarray(ivar) > 0)
        & np.isfinite(counts)
        & (np.asarray(model) > 0)
    )
    if np.count_nonzero(use) < 20:
        raise ValueError(f"only {np.count_nonzero(use)} usable pixels for the response fit")
    lo, hi = float(lnlam[use].min()), float(lnlam[use].max())
    n_int = max(int(np.floor((hi - lo) / knot_spacing)), 1)
    inner = np.linspace(lo, hi, n_int + 1)
    t = np.concatenate([[lo] * 3, inner, [hi] * 3])
    ncoef = t.size - 4
    if np.count_nonzero(use) < 5 * ncoef:
        raise ValueError(
            f"only {np.count_nonzero(use)} usable pixels for {ncoef} spline coefficients"
        )
    x = np.clip(lnlam, lo, hi)
    design = BSpline.design_matrix(x, t, 3).toarray() * np.asarray(model, float)[:, None]
    y = np.asarray(counts, float)
    w = np.asarray(ivar, float)
    coef = cov = None
    chi2 = 0.0
    for _ in range(max(n_iter, 1)):
        ww = np.where(use, w, 0.0)
        normal = design.T @ (design * ww[:, None])
        cov = np.linalg.pinv(normal)
        coef = cov @ (design.T @ (ww * y))
        resid = (y - design @ coef) * np.sqrt(w)
        chi2 = float(np.sum(np.where(use, resid**2, 0.0)))
        sigma = 1.4826 * np.median(np.abs(resid[use]))
        new = use & (np.abs(resid) <= clip * max(sigma, 1.0))
        if np.array_equal(new, use) or np.count_nonzero(new) < 5 * ncoef:
            break
        use = new
    red = max(chi2 / max(np.count_nonzero(use) - ncoef, 1), 1.0)
    return ResponseFit(
        BSpline(t, coef, 3, extrapolate=False),
        cov * red,
        (lo, hi),
        chi2,
        int(np.count_nonzero(use)),
    )


def combine_responses(
    values: np.ndarray,
    variances: np.ndarray,
    valid: np.ndarray,
    nsigma: float = 4.0,
    floor: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Robust combination of per-star responses on a common pixel grid.

    Each star s gets a log ratio r_sp = ln(A_sp / median_s A_sp); its grey offset o_s
    (median over pixels) and shape scatter q_s (MAD of r_sp - o_s) are tested against
    the median of all stars with a robust sigma max(1.4826 MAD, ``floor``); stars beyond
    ``nsigma`` are rejected (iterated until stable). Kept stars are combined by an
    inverse-variance weighted mean per pixel; the variance is 1/sum(w) plus the
    weighted star-to-star variance divided by the number of stars.

    Parameters
    ----------
    values, variances : numpy.ndarray, (nstar, npix)
        Responses and their variances.
    valid : numpy.ndarray of bool, (nstar, npix)
        Pixels where the star constrains the response.
    nsigma : float
        Rejection threshold.
    floor : float
        Smallest robust sigma of offsets and shapes (fractional), so that identical
        stars do not reject each other.

    Returns
    -------
    combined, variance : numpy.ndarray, (npix,)
        Combined response (NaN where no star is valid) and its variance.
    used : numpy.ndarray of bool, (nstar,)
    stats : dict
        ``offset`` (nstar,), ``shape_rms`` (nstar,), ``rms`` (median over pixels of the
        per-pixel fractional scatter of kept stars).

    Raises
    ------
    ValueError
        If no star is given or shapes disagree.
    """
    values = np.asarray(values, float)
    variances = np.asarray(variances, float)
    valid = np.asarray(valid, bool) & np.isfinite(values) & (values > 0) & (variances > 0)
    if values.ndim != 2 or values.shape[0] == 0 or values.shape != variances.shape:
        raise ValueError(
            f"values and variances must be (nstar, npix) alike, got {values.shape}, {variances.shape}"
        )
    nstar = values.shape[0]
    used = valid.any(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        logv = np.where(valid, np.log(np.where(valid, values, 1.0)), np.nan)
    offset = np.full(nstar, np.nan)
    shape = np.full(nstar, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (telluric, uncovered)
        used, offset, shape = _reject_stars(logv, valid, used, nsigma, floor)
    w = np.where(valid & used[:, None], 1.0 / np.where(valid, variances, 1.0), 0.0)
    sw = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        comb = np.where(sw > 0, (w * np.where(valid, values, 0.0)).sum(axis=0) / sw, np.nan)
        resid = np.where(w > 0, values / comb[None, :] - 1.0, 0.0)
        nuse = (w > 0).sum(axis=0)
        scatter = np.where(nuse > 1, (w * resid**2).sum(axis=0) / np.where(sw > 0, sw, 1.0), 0.0)
        var = np.where(sw > 0, 1.0 / sw + scatter * comb**2 / np.maximum(nuse, 1), np.nan)
        rms = (
            float(np.nanmedian(np.where(nuse > 1, np.sqrt(scatter), np.nan)))
            if np.any(nuse > 1)
            else 0.0
        )
    return comb, var, used, {"offset": offset, "shape_rms": shape, "rms": rms}


def _reject_stars(logv, valid, used, nsigma, floor):
    """Iterated robust rejection of stars by grey offset and shape (see combine_responses)."""
    offset = shape = np.full(logv.shape[0], np.nan)
    for _ in range(5):
        ref = np.nanmedian(np.where(used[:, None], logv, np.nan), axis=0)
        r = logv - ref[None, :]
        offset = np.nanmedian(r, axis=1)
        shape = 1.4826 * np.nanmedian(np.abs(r - offset[:, None]), axis=1)
        if used.sum() < 3:
            break
        o_ref = np.nanmedian(offset[used])
        o_sig = max(1.4826 * np.nanmedian(np.abs(offset[used] - o_ref)), floor)
        q_ref = np.nanmedian(shape[used])
        q_sig = max(1.4826 * np.nanmedian(np.abs(shape[used] - q_ref)), floor)
        new = (
            valid.any(axis=1)
            & (np.abs(offset - o_ref) <= nsigma * o_sig)
            & (shape - q_ref <= nsigma * q_sig)
        )
        if new.sum() < 2 or np.array_equal(new, used):
            break
        used = new
    return used, offset, shape


def apply_calibration(
    counts: np.ndarray,
    ivar: np.ndarray,
    cal: np.ndarray,
    cal_ivar: np.ndarray,
    cal_bad: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibrate frames: flux = counts * cal with variance propagation.

    var(flux) = var(counts) cal^2 + counts^2 var(cal); the output ivar is 0 wherever the
    counts have ivar 0, the calibration is masked (``cal_bad``, e.g. telluric) or has
    ivar 0; masked pixels keep flux = counts * cal but are flagged (not zero with zero
    variance, kspecdr W10).

    Parameters
    ----------
    counts, ivar : numpy.ndarray, (nfiber, npix)
        Electrons per pixel and inverse variance.
    cal, cal_ivar : numpy.ndarray, (npix,) or (nfiber, npix)
        Calibration (1e-17 erg/s/cm2/A per electron per pixel) and inverse variance.
    cal_bad : numpy.ndarray of bool, like ``cal``
        True where the calibration must not be trusted.

    Returns
    -------
    flux, flux_ivar : numpy.ndarray, (nfiber, npix)
        1e-17 erg/s/cm2/A and its inverse variance.
    bad : numpy.ndarray of bool, (nfiber, npix)

    Examples
    --------
    >>> f, iv, bad = apply_calibration(np.array([[10.0, 10.0]]), np.array([[1.0, 0.0]]),
    ...                                np.array([2.0, 2.0]), np.array([np.inf, np.inf]), np.array([False, False]))
    >>> f.tolist(), iv.tolist(), bad.tolist()
    ([[20.0, 20.0]], [[0.25, 0.0]], [[False, True]])
    """
    counts = np.asarray(counts, float)
    ivar = np.asarray(ivar, float)
    cal = np.broadcast_to(np.asarray(cal, float), counts.shape)
    cal_ivar = np.broadcast_to(np.asarray(cal_ivar, float), counts.shape)
    cal_bad = np.broadcast_to(np.asarray(cal_bad, bool), counts.shape)
    bad = (ivar <= 0) | cal_bad | (cal_ivar <= 0) | ~np.isfinite(cal) | ~np.isfinite(counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(ivar > 0, 1.0 / np.where(ivar > 0, ivar, 1.0), 0.0) * cal**2
        var = var + np.where(np.isfinite(cal_ivar) & (cal_ivar > 0), counts**2 / cal_ivar, 0.0)
        flux_ivar = np.where(~bad & (var > 0), 1.0 / np.where(var > 0, var, 1.0), 0.0)
    return counts * cal, flux_ivar, bad
