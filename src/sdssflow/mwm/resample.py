"""Damped-sinc resampling of one spectrum chip onto a log-linear grid (after astra).

The method is the APOGEE DRP / astra damped-sinc interpolation (astra_mwm.md section 2.1),
vectorised: all output pixels and all kernel taps are evaluated as one (nout, ntap)
array, and all flag bits as one (nbit, nout, ntap) product, instead of astra's Python
loop over output pixels repeated per bit.

Deliberate differences from astra (section 8):

- quirk 6: astra patches bad input pixels with a smoothed spectrum and then reports a
  finite, typical ivar there. Here the patch is still used (it stops the sinc from
  ringing), but output pixels whose kernel puts more than ``bad_threshold`` of its
  weight on bad input pixels get ivar = 0.
- quirk 11: an all-zero mask gives all-zero output flags instead of a crash.
- The fractional input pixel of each output wavelength comes from a cubic spline of
  pixel against wavelength (astra: line times a spline of the ratio; same result for
  smooth dispersion solutions).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.linalg.lapack import dgtsv
from scipy.ndimage import gaussian_filter1d, median_filter

from sdssflow.constants import C_KMS

__all__ = ["wave_to_pixel", "smooth_patch", "sinc_kernel", "resample_chip", "resample_spectrum"]


def wave_to_pixel(wave_in: np.ndarray, wave_out: np.ndarray) -> np.ndarray:
    """Fractional pixel position in ``wave_in`` of every ``wave_out`` (NaN outside).

    Parameters
    ----------
    wave_in : ndarray, shape (nin,)
        Input wavelengths, Å, strictly monotonic (either direction).
    wave_out : ndarray, shape (nout,)
        Wavelengths to locate, Å.

    Returns
    -------
    ndarray, shape (nout,)
        Pixel coordinate (0 = centre of the first input pixel); NaN beyond the ends.

    Examples
    --------
    >>> wave_to_pixel(10 ** (3.5 + 1e-4 * np.arange(10)), np.array([10 ** 3.50025, 1e4])).round(3)
    array([2.5, nan])
    """
    wave_in = np.asarray(wave_in, dtype=float)
    wave_out = np.asarray(wave_out, dtype=float)
    if wave_in.ndim != 1 or wave_in.size < 4:
        raise ValueError(f"wave_in must be 1-D with >= 4 pixels, got shape {wave_in.shape}")
    step = np.diff(wave_in)
    if not (np.all(step > 0) or np.all(step < 0)):
        raise ValueError("wave_in must be strictly monotonic")
    pix = np.arange(wave_in.size, dtype=float)
    ln_in = np.log(wave_in)
    dln = (ln_in[-1] - ln_in[0]) / (wave_in.size - 1)
    if np.max(np.abs((ln_in - ln_in[0]) / dln - pix)) < 1e-9:
        # log-uniform input (the BOSS and apStar grids): the spline is this straight line
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (np.log(wave_out) - ln_in[0]) / dln
        lo, hi = sorted((0.0, wave_in.size - 1.0))
        return np.where((out >= lo - 1e-9) & (out <= hi + 1e-9), np.clip(out, lo, hi), np.nan)
    if step[0] < 0:
        ln_in, pix = ln_in[::-1], pix[::-1]  # np.log of the reversed array, element for element
    with np.errstate(invalid="ignore", divide="ignore"):
        return _not_a_knot_at(ln_in, pix, np.log(wave_out))


def _not_a_knot_at(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``CubicSpline(x, y, extrapolate=False)(at)``, the same values, without its set-up.

    scipy's not-a-knot spline made with scipy's own operations in scipy's order (the
    tridiagonal system of the slopes, solved by LAPACK's gtsv as ``solve_banded`` does; the PPoly coefficients;
    the power sum of ``scipy.interpolate._ppoly.evaluate``), for one 1-D ``y``: a frame's
    trace-set grid costs ~0.1 ms instead of CubicSpline's ~0.5 ms of argument checks and
    objects (336 chips a plate). The test compares it with CubicSpline to the last bit.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Strictly increasing, n >= 4.
    y : ndarray, shape (n,)
    at : ndarray, shape (m,)
        Where to evaluate.

    Returns
    -------
    ndarray, shape (m,)
        NaN outside [x[0], x[-1]] and at NaN.
    """
    n = x.size
    dx = np.diff(x)
    slope = np.diff(y) / dx
    # the tridiagonal system CubicSpline builds (its band rows: upper, diagonal, lower)
    upper, diag, lower = np.empty(n - 1), np.empty(n), np.empty(n - 1)
    rhs = np.empty((n, 1))
    diag[1:-1] = 2 * (dx[:-1] + dx[1:])
    upper[1:] = dx[:-1]
    lower[:-1] = dx[1:]
    rhs[1:-1, 0] = 3 * (dx[1:] * slope[:-1] + dx[:-1] * slope[1:])
    d = x[2] - x[0]  # not-a-knot at both ends
    diag[0], upper[0] = dx[1], d
    rhs[0, 0] = ((dx[0] + 2 * d) * dx[1] * slope[0] + dx[0] ** 2 * slope[1]) / d
    d = x[-1] - x[-3]
    diag[-1], lower[-1] = dx[-2], d
    rhs[-1, 0] = (dx[-1] ** 2 * slope[-2] + (2 * d + dx[-1]) * dx[-2] * slope[-1]) / d
    # LAPACK's gtsv, which solve_banded((1, 1), ...) calls with these diagonals
    *_, deriv, info = dgtsv(lower, diag, upper, rhs, 1, 1, 1, 1)
    if info != 0:
        raise np.linalg.LinAlgError(f"singular spline system (gtsv info {info})")
    deriv = deriv[:, 0]
    # CubicHermiteSpline's coefficients (c0 s³ + c1 s² + c2 s + c3 on each interval)
    t = (deriv[:-1] + deriv[1:] - 2 * slope) / dx
    c0, c1, c2, c3 = t / dx, (slope - deriv[:-1]) / dx - t, deriv[:-1], y[:-1]
    # the interval x[i] <= at < x[i + 1] (the last one closed), as _ppoly.find_interval
    i = np.clip(np.searchsorted(x, at, side="right") - 1, 0, n - 2)
    s = at - x[i]
    # _ppoly.evaluate_poly1: res += c[k] * z * 1.0, z = 1, s, s², s³ (the powers by
    # repeated products), from the constant term up
    out = 0.0 + c3[i]
    out += c2[i] * s
    z = s * s
    out += c1[i] * z
    z *= s
    out += c0[i] * z
    out[~((at >= x[0]) & (at <= x[-1]))] = np.nan
    return out


def smooth_patch(
    values: np.ndarray,
    bad: np.ndarray,
    median_width: int = 501,
    sigma: float = 100.0,
    at: np.ndarray | None = None,
):
    """Median (``median_width`` px, reflect) then Gaussian (``sigma`` px) smoothing ignoring ``bad``.

    Bad pixels enter the median as +inf so that the median skips them (as in astra). The
    running median is taken on every (median_width // 50)-th pixel and interpolated back;
    after the σ = 100 px Gaussian the difference is negligible.

    Parameters
    ----------
    values : ndarray, shape (n,)
    bad : ndarray of bool, shape (n,)
    at : ndarray of int, shape (m,), optional
        Only these pixels of the result (a patch needs it at the bad pixels only): the
        Gaussian is summed there alone (:func:`_gaussian_at`), the same values.

    Returns
    -------
    ndarray, shape (n,) or (m,)
        The smoothed array (finite wherever fewer than half of a window is bad), or its
        pixels ``at``.
    """
    work = np.where(bad, np.inf, values).astype(float)
    n = work.size
    step = max(1, median_width // 50)  # median on a decimated copy: same smooth result, 50x cheaper
    sub = work[::step]
    width = int(max(3, min(median_width // step, (sub.size // 2) * 2 - 1)))
    med = median_filter(sub, size=width | 1, mode="reflect")
    finite = np.isfinite(med)
    if not finite.all():  # windows more than half bad: the median of the good pixels there
        fallback = np.nanmedian(np.where(bad, np.nan, values)) if (~bad).any() else 0.0
        med = np.where(finite, med, fallback)
    med = np.interp(np.arange(n), np.arange(0, n, step), med)
    if at is not None:
        return _gaussian_at(med, sigma, np.asarray(at, dtype=np.intp))
    return gaussian_filter1d(med, sigma, mode="reflect")


@functools.lru_cache(maxsize=8)
def _gaussian_kernel(sigma: float, truncate: float) -> np.ndarray:
    """scipy's Gaussian kernel of ``gaussian_filter1d`` (2·half + 1 taps): its impulse response."""
    half = int(truncate * sigma + 0.5)
    impulse = np.zeros(2 * half + 1)
    impulse[half] = 1.0
    kernel = gaussian_filter1d(impulse, sigma, mode="constant", truncate=truncate)
    kernel.setflags(write=False)
    return kernel


def _gaussian_at(values: np.ndarray, sigma: float, at: np.ndarray, truncate: float = 4.0):
    """``gaussian_filter1d(values, sigma, mode="reflect")[at]``, summed at ``at`` only.

    The kernel is scipy's (its response to a unit impulse, exact) and the sum runs in the
    order of scipy.ndimage's symmetric correlation (the centre, then the pixel pairs from
    the farthest in, added in sequence down the rows of the terms), so the values are scipy's to
    the last bit (scipy 1.17) at a cost of ``at.size`` kernels instead of ``values.size``.

    Parameters
    ----------
    values : ndarray, shape (n,)
    sigma : float
        Gaussian σ, pixels.
    at : ndarray of int, shape (m,)
        Pixels wanted.

    Returns
    -------
    ndarray, shape (m,)
    """
    half = int(truncate * float(sigma) + 0.5)
    if values.size <= half or at.size * 4 > values.size:  # short arrays, or most pixels wanted
        return gaussian_filter1d(values, sigma, mode="reflect", truncate=truncate)[at]
    kernel = _gaussian_kernel(float(sigma), float(truncate))
    values = np.asarray(values, dtype=float)
    # scipy's "reflect" padding, (c b a | a b c | c b a), as slices (np.pad's is ~20 µs)
    padded = np.concatenate([values[half - 1 :: -1], values, values[: -half - 1 : -1]])
    # tap k of wanted pixel i is padded[at[i] + k]: the taps as rows (2 half + 1, m), so
    # that the sum over taps runs down the rows
    step = padded.strides[0]
    taps = np.lib.stride_tricks.as_strided(padded, (2 * half + 1, padded.size - 2 * half), (step, step))[:, at]
    terms = np.empty((half + 1, at.size))
    np.multiply(taps[half], kernel[half], out=terms[0])
    # pairs from the farthest in: left tap k with right tap 2 half - k, weight kernel[k]
    np.add(taps[:half], taps[: half : -1], out=terms[1:])
    terms[1:] *= kernel[:half, None]
    # a reduction down the rows of a C-ordered (rows, >= 2) array adds the rows one after
    # the other, scipy's order (numpy sums pairwise only along the axis of its inner loop,
    # which a single column would make the rows' axis: then accumulate, sequential by
    # definition and 2x slower)
    if at.size == 1:
        return np.add.accumulate(terms, axis=0)[-1]
    return np.add.reduce(terms, axis=0)


def sinc_kernel(frac: np.ndarray, nres: float) -> tuple[np.ndarray, int]:
    """Damped-sinc weights for fractional offsets ``frac``.

    w(u) = exp(-(u / d)²) · sin(πu) / (πu) with u the offset in input pixels and
    d = 3.25·nres/2 pixels; the kernel has int(21·nres/2) taps (made odd). The sinc
    argument is in pixels (zeros at integer offsets), so a zero shift is an exact
    delta; this is the APOGEE DRP ``sincint`` reading of astra_mwm.md section 2.1.

    Parameters
    ----------
    frac : ndarray, shape (nout,)
        Fractional part of the input pixel position of each output pixel, in [0, 1).
    nres : float
        Input pixels per resolution element (BOSS 5; APOGEE chips 5, 4.25, 3.5).

    Returns
    -------
    weights : ndarray, shape (nout, ntap)
        Kernel weights for input pixels ix - half ... ix + half.
    half : int
        Half width of the kernel, pixels (nres 5 → 26).
    """
    dampfac = 3.25 * nres / 2.0
    ksize = int(21 * nres / 2.0)
    if ksize % 2 == 0:
        ksize += 1
    half = ksize // 2
    k = np.arange(ksize, dtype=float)
    frac = np.asarray(frac, dtype=float)
    off = k[None, :] - half - frac[:, None]  # input pixels
    # sin(π(j - f)) = -(-1)^j sin(πf) for integer j: one sine per output pixel, not per tap
    sign = np.where((np.arange(ksize) - half) % 2 == 0, -1.0, 1.0)
    # the taps at a zero offset (weight 1): |off| < 1e-12 can only hold at the taps half
    # and half + 1 when every frac is in [0, 1) (as resample_chip's), so only those two
    # columns are tested there, not the whole (nout, ntap) array (three passes fewer)
    if frac.size and 0.0 <= frac.min() and frac.max() < 1.0:
        delta = [(c, np.abs(off[:, c]) < 1e-12) for c in (half, half + 1) if c < ksize]
    else:
        delta = [(slice(None), np.abs(off) < 1e-12)]
    with np.errstate(invalid="ignore", divide="ignore"):
        # exp(-(off / d)²) · (sign · sin πf) / (π · off), the same operations done in place:
        # a chip's (nout, ntap) temporaries are most of the resampling's time
        w = off / dampfac
        np.square(w, out=w)
        np.negative(w, out=w)
        np.exp(w, out=w)
        w *= np.sin(np.pi * frac)[:, None]
        # the tap's sign moved into the divisor (±1: the same values) spares the (nout,
        # ntap) product sign · sin πf; π · sign · off in place: off is not needed after this
        off *= sign[None, :]
        off *= np.pi
        w /= off
    for column, at_zero in delta:
        if isinstance(column, slice):
            w[at_zero] = 1.0
        else:
            w[at_zero, column] = 1.0
    return w, half


def resample_chip(
    wave_in: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    mask: np.ndarray | None,
    wave_out: np.ndarray,
    nres: float,
    bad_threshold: float = 0.1,
    flag_threshold: float = 0.1,
):
    """Resample one chip onto ``wave_out`` (already in the input's frame).

    Parameters
    ----------
    wave_in : ndarray, shape (nin,)
        Input wavelengths, Å (monotonic, either direction).
    flux, ivar : ndarray, shape (nin,)
        Flux (any unit) and inverse variance (unit⁻²); ivar = 0 means no information.
    mask : ndarray of int, shape (nin,), or None
        Pixel bitmask.
    wave_out : ndarray, shape (nout,)
        Output wavelengths, Å.
    nres : float
        Input pixels per resolution element.
    bad_threshold : float
        Output ivar is set to 0 where the kernel weight on bad input pixels exceeds this.
    flag_threshold : float
        An output flag bit is set where the interpolated 0/1 bit plane exceeds this (astra 0.1).

    Returns
    -------
    flux, ivar : ndarray, shape (nout,)
        Resampled flux and ivar = 1 / Σ w² σ² (0 outside the input range).
    mask : ndarray of int64, shape (nout,)
        Resampled bitmask (per-bit dilation by the kernel).
    covered : ndarray of bool, shape (nout,)
        Output pixels inside the input range.
    """
    flux = np.asarray(flux, dtype=float)
    ivar = np.asarray(ivar, dtype=float)
    nin = flux.size
    if ivar.shape != flux.shape or np.shape(wave_in) != flux.shape:
        raise ValueError(
            f"wave_in, flux and ivar must have one shape, got {np.shape(wave_in)}, {flux.shape}, {ivar.shape}"
        )
    mask = np.zeros(nin, dtype=np.int64) if mask is None else np.asarray(mask).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(ivar > 0, 1.0 / ivar, np.inf)
        bad = ~(ivar > 0) | ~np.isfinite(flux) | ~np.isfinite(var) | (flux < 0)
    if bad.all():
        nout = np.size(wave_out)
        return np.zeros(nout), np.zeros(nout), np.zeros(nout, np.int64), np.zeros(nout, bool)
    if bad.any():  # the patch: the smoothed spectrum, needed at the bad pixels only
        where_bad = np.flatnonzero(bad)
        f_s = smooth_patch(flux, bad, at=where_bad)
        v_s = smooth_patch(var, bad, at=where_bad)
        flux = flux.copy()  # may be the caller's array (var is this function's own)
        flux[where_bad], var[where_bad] = f_s, v_s

    x = wave_to_pixel(wave_in, wave_out)
    near = np.round(x)
    x = np.where(np.abs(x - near) < 1e-6, near, x)  # same grid → exact delta kernel
    nout = np.size(wave_out)
    covered = np.isfinite(x) & (x >= -0.5) & (x <= nin - 0.5)
    sel = np.flatnonzero(covered)  # only the output pixels this chip covers
    xs = x[sel]
    ix = np.floor(xs).astype(int)
    fx = xs - ix
    out_flux = np.zeros(nout)
    out_ivar = np.zeros(nout)
    out_mask = np.zeros(nout, dtype=np.int64)
    if sel.size > 1 and np.ptp(fx) < 1e-9 and np.all(np.diff(ix) == 1):
        # a log-uniform grid shifted by a velocity (every BOSS visit): one kernel for all
        # output pixels, so the sums are correlations (same result, no (nout, ntap) arrays)
        w0, half = sinc_kernel(fx[:1], nres)
        w0 = w0[0]

        def corr(values, kernel):
            return _correlate(values, kernel, int(ix[0]), sel.size, half)

        out_flux[sel] = corr(flux, w0)
        out_var = corr(var, w0 * w0)
        bad_w = np.abs(corr(bad.astype(float), w0))
        with np.errstate(divide="ignore"):
            out_ivar[sel] = np.where(
                (out_var > 0) & np.isfinite(out_var) & (bad_w <= bad_threshold), 1.0 / out_var, 0.0
            )
        present = int(np.bitwise_or.reduce(mask)) if mask.size else 0
        for b in (b for b in range(63) if present > 0 and present >> b & 1):
            vals = np.abs(corr(((mask >> b) & 1).astype(float), w0))
            out_mask[sel[vals > flag_threshold]] |= 1 << b
        return out_flux, out_ivar, out_mask, covered
    w, half = sinc_kernel(fx, nres)
    # taps beyond the chip get weight 0 (only rows within half a kernel of either end have
    # any) and read the chip's edge value, as a clipped (nout, ntap) index array did: the
    # same products, with the taps' values gathered as rows of an edge-padded copy
    edge = np.flatnonzero((ix < half) | (ix > nin - 1 - half))
    if edge.size:
        tap = ix[edge, None] + np.arange(-half, half + 1)[None, :]
        w_edge = w[edge]
        w_edge[(tap < 0) | (tap >= nin)] = 0.0
        w[edge] = w_edge
    taps = _tap_rows(np.stack([flux, var, bad.astype(float)]), ix, half)  # (3, nsel, ntap)

    out_flux[sel] = np.einsum("ij,ij->i", w, taps[0])
    out_var = np.einsum("ij,ij->i", w * w, taps[1])
    bad_w = np.abs(np.einsum("ij,ij->i", w, taps[2]))
    with np.errstate(divide="ignore"):
        out_ivar[sel] = np.where(
            (out_var > 0) & np.isfinite(out_var) & (bad_w <= bad_threshold), 1.0 / out_var, 0.0
        )
    out_mask[sel] = _resample_bits(mask, ix, half, w, flag_threshold)
    return out_flux, out_ivar, out_mask, covered


def _tap_rows(values: np.ndarray, ix: np.ndarray, half: int) -> np.ndarray:
    """``values[..., clip(ix[:, None] + arange(-half, half + 1), 0, n - 1)]`` as row copies.

    The kernel's taps of output pixel i are the input pixels ix[i] - half ... ix[i] + half,
    consecutive: each row is one slice of a copy of ``values`` padded with its edge values
    (what the clipped index reads), so no (nout, ntap) index array is built and the gather
    copies runs of ntap values instead of single elements.

    Parameters
    ----------
    values : ndarray, shape (k, n)
        Input pixels (k arrays gathered at once).
    ix : ndarray of int, shape (nout,)
        Central input pixel of every output pixel, -1 <= ix <= n - 1.
    half : int
        Half width of the kernel, pixels.

    Returns
    -------
    ndarray, shape (k, nout, 2 half + 1)
        C-contiguous (a new array).
    """
    k, n = values.shape
    pad = half + 1  # ix may be -1 (an output pixel up to half an input pixel before the chip)
    padded = np.empty((k, n + 2 * pad), dtype=values.dtype)
    padded[:, pad : pad + n] = values
    padded[:, :pad] = values[:, :1]
    padded[:, pad + n :] = values[:, -1:]
    ntap = 2 * half + 1
    s0, s1 = padded.strides
    rows = np.lib.stride_tricks.as_strided(padded, (k, padded.shape[1] - ntap + 1, ntap), (s0, s1, s1))
    return rows[:, np.asarray(ix) + (pad - half)]


def _correlate(values: np.ndarray, kernel: np.ndarray, ix0: int, n: int, half: int):
    """out_j = Σ_k kernel_k values[ix0 + j + k - half], j < n (values are 0 outside)."""
    pad = half + 1
    padded = np.concatenate([np.zeros(pad), np.asarray(values, float), np.zeros(pad)])
    start = ix0 - half + pad
    return np.correlate(padded[start : start + n + 2 * half], kernel, mode="valid")


def _resample_bits(
    mask: np.ndarray, ix: np.ndarray, half: int, w: np.ndarray, threshold: float
) -> np.ndarray:
    """Per-bit sinc interpolation of a bitmask; bits with |value| > threshold are set.

    Each bit is interpolated only at the output pixels whose kernel window (input pixels
    ``ix - half ... ix + half``, clipped to the chip) holds an input pixel with the bit:
    elsewhere the sum is 0 and the bit unset, so the flags are those of every pixel (flags
    are sparse, a few % of a chip).

    Parameters
    ----------
    mask : ndarray of int64, shape (nin,)
    ix : ndarray of int, shape (nout,)
        Central input pixel of each output pixel.
    half : int
        Half width of the kernel.
    w : ndarray, shape (nout, 2 half + 1)
        Kernel weights (0 on taps beyond the chip).
    threshold : float

    Returns
    -------
    ndarray of int64, shape (nout,)
    """
    out = np.zeros(ix.shape[0], dtype=np.int64)
    present = int(np.bitwise_or.reduce(mask)) if mask.size else 0
    if present <= 0:
        return out  # astra crashes here (log2(0)); all-zero mask → zero flags
    w32 = w.astype(np.float32)
    nin = mask.size
    first, last = np.clip(ix - half, 0, nin - 1), np.clip(ix + half, 0, nin - 1)  # window ends
    for b in (b for b in range(63) if present >> b & 1):
        plane = (mask >> b) & 1
        count = np.concatenate([[0], np.cumsum(plane)])  # pixels with the bit before each pixel
        rows = np.flatnonzero(count[last + 1] > count[first])
        taps = _tap_rows(plane.astype(np.float32)[None, :], ix[rows], half)[0]
        vals = np.abs(np.einsum("ij,ij->i", taps, w32[rows]))
        out[rows[vals > threshold]] |= 1 << b
    return out


def resample_spectrum(chips, wave_out: np.ndarray, v_kms: float = 0.0, **kwargs):
    """Resample one or more chips onto a rest-frame grid, shifting by ``v_kms``.

    A rest wavelength λ_rest is seen at λ_in = λ_rest · (1 + v/c) in the input frame,
    so ``v_kms`` is the source velocity in the input's frame (barycentric for BOSS
    spec files / spCFrame; topocentric v_rel for apVisit). The exact Doppler factor is
    used (astra: first order 1 - v/c; the difference is v²/c² < 1e-5 px).

    Parameters
    ----------
    chips : sequence of (wave, flux, ivar, mask, nres)
        Input chips; each wave array (nin,) in Å in the input frame.
    wave_out : ndarray, shape (nout,)
        Rest-frame output grid, Å.
    v_kms : float
        Velocity to remove, km/s.
    **kwargs
        Passed to :func:`resample_chip`.

    Returns
    -------
    flux, ivar : ndarray, shape (nout,)
    mask : ndarray of int64, shape (nout,)
        Chips are combined by inverse-variance weighting where they overlap (they do
        not for BOSS or APOGEE); flags are OR-ed.
    """
    if not np.isfinite(v_kms):
        raise ValueError(f"v_kms must be finite, got {v_kms}")
    wave_obs = np.asarray(wave_out, dtype=float) * (1.0 + v_kms / C_KMS)
    nout = wave_obs.size
    num = np.zeros(nout)
    den = np.zeros(nout)
    single = np.zeros(nout)
    mask = np.zeros(nout, dtype=np.int64)
    for wave, flux, ivar, cmask, nres in chips:
        f, iv, m, cov = resample_chip(wave, flux, ivar, cmask, wave_obs, nres, **kwargs)
        num += f * iv
        den += iv
        single = np.where(cov & (single == 0), f, single)
        mask |= m
    with np.errstate(invalid="ignore", divide="ignore"):
        flux = np.where(den > 0, num / den, single)
    return flux, den, mask
