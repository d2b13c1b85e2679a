"""The template library of the XCSAO-like RVs: rest-frame templates on a fine log grid.

:func:`prepare_templates` puts a library (the BOSZ rectified templates) on a log-linear grid
``oversample`` times finer than the data's, convolved to the data's resolving power and
divided by a running median (:func:`normalise`), as :mod:`sdssflow.mwm.rv` measures with it;
:func:`fine_templates` keeps the fine grid for the libraries of several resolving powers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter

__all__ = ["TemplateLibrary", "FineTemplates", "prepare_templates", "fine_templates", "least_chi2_resolution", "normalise"]


#: Fine pixels per block of :meth:`TemplateLibrary.by_pixel`'s transposition.
BY_PIXEL_BLOCK = 512


@dataclass(frozen=True)
class TemplateLibrary:
    """Rest-frame templates on a fine log-linear grid, already at the data's resolution.

    Attributes
    ----------
    loglam : ndarray, shape (nfine,)
        log10 of the vacuum wavelength, Å; uniform step.
    flux : ndarray, shape (ntpl, nfine)
        Template flux divided by its running median (:func:`normalise`).
    params : ndarray, shape (ntpl, 3)
        teff (K), logg (dex), fe_h (dex) of every template.
    """

    loglam: np.ndarray
    flux: np.ndarray
    params: np.ndarray
    #: :meth:`at_rest` of the observed grids seen so far (every BOSS visit shares one grid)
    _rest: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    #: :meth:`by_pixel`'s copy, made on first use
    _by_pixel: list = field(default_factory=list, init=False, repr=False, compare=False)
    #: :meth:`at_rest_squared` of the grids of ``_rest``
    _rest_squared: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def by_pixel(self) -> np.ndarray:
        """``flux`` transposed, C-contiguous: row i is every template at fine pixel i.

        Made once and kept. Shifting the whole library gathers a few thousand fine pixels
        of every template; gathered from this copy each pixel's templates are one
        contiguous run instead of one cache line per template, half the time of a
        velocity's χ² of the library (:func:`sdssflow.mwm.rv.template_chi2`).

        Returns
        -------
        ndarray, shape (nfine, ntpl)
            Read-only.
        """
        if not self._by_pixel:
            # transposed in blocks of fine pixels: a plain transposed copy writes the new
            # array a column at a time, one page per value (20-110 ms a library, faulting
            # its pages in that order); a block's rows are 400 kB of it (~10 ms), same values
            ntpl, nfine = self.flux.shape
            flux_t = np.empty((nfine, ntpl))
            for start in range(0, nfine, BY_PIXEL_BLOCK):
                flux_t[start : start + BY_PIXEL_BLOCK] = self.flux[:, start : start + BY_PIXEL_BLOCK].T
            flux_t.setflags(write=False)
            self._by_pixel.append(flux_t)
        return self._by_pixel[0]

    def release_by_pixel(self) -> None:
        """Drop :meth:`by_pixel`'s copy (made again on next use, the same values).

        A library tried and set aside (``--resolution auto`` keeps the best so far while it
        makes the next) then holds its flux only: 36 MB less at the step's peak."""
        self._by_pixel.clear()

    def at_rest(self, loglam_obs: np.ndarray) -> np.ndarray:
        """The templates minus 1 at rest on an observed grid (1 outside the library's).

        ``np.interp`` of every template, made once per grid and kept: the spectra of a
        plate all share the BOSS grid, so their coarse correlations reuse it.

        Parameters
        ----------
        loglam_obs : ndarray, shape (nobs,)
            log10 of the observed wavelengths, Å.

        Returns
        -------
        ndarray, shape (ntpl, nobs)
            Read-only: shared by every later call with the same grid.
        """
        key = np.asarray(loglam_obs, dtype=float).tobytes()
        if key not in self._rest:
            if len(self._rest) >= 4:  # a few grids at most (BOSS, a test's own): bound the memory
                self._rest.clear()
                self._rest_squared.clear()
            rows = [np.interp(loglam_obs, self.loglam, f, left=1.0, right=1.0) for f in self.flux]
            rest = np.array(rows) - 1.0
            rest.setflags(write=False)
            self._rest[key] = rest
        return self._rest[key]

    def at_rest_squared(self, loglam_obs: np.ndarray) -> np.ndarray:
        """``at_rest(loglam_obs) ** 2`` (as ``rest * rest``), made once per grid and kept: the
        coarse correlation of every spectrum of a plate weights it (a (ntpl, nobs) product
        per spectrum otherwise).

        Returns
        -------
        ndarray, shape (ntpl, nobs)
            Read-only.
        """
        rest = self.at_rest(loglam_obs)
        key = np.asarray(loglam_obs, dtype=float).tobytes()
        if key not in self._rest_squared:
            square = rest * rest
            square.setflags(write=False)
            self._rest_squared[key] = square
        return self._rest_squared[key]

    def __post_init__(self):
        if self.flux.ndim != 2 or self.flux.shape[1] != self.loglam.size:
            raise ValueError(
                f"template flux shape {self.flux.shape} does not match loglam {self.loglam.shape}"
            )
        if self.params.shape != (self.flux.shape[0], 3):
            raise ValueError(
                f"params must have shape ({self.flux.shape[0]}, 3), got {self.params.shape}"
            )


def normalise(
    flux: np.ndarray, ivar: np.ndarray | None = None, width: int = 101, out: np.ndarray | None = None
) -> np.ndarray:
    """Divide by a running median (``width`` px) smoothed by a Gaussian (width/5 px).

    Parameters
    ----------
    flux : ndarray, shape (..., n)
    ivar : ndarray, shape (n,), optional
        Pixels with ivar <= 0 do not enter the median.
    width : int
        Running-median width, pixels.
    out : ndarray of float64, shape of flux, optional
        Where the result goes; may be ``flux`` itself (a temporary of the caller: a
        library's convolved copy), which saves a library-sized array.

    Returns
    -------
    ndarray
        Normalised flux (1 where the running median is not positive); ``out`` when given.
    """
    flux = np.asarray(flux, dtype=float)
    # the median sees every step-th pixel only, so only those are patched and zeroed, and
    # the continuum is made a few rows at a time: a library (96 x 46,888) costs no
    # library-sized array besides ``out``
    step = max(1, width // 25)
    n = flux.shape[-1]
    if ivar is not None:
        work = flux.copy()
        bad = ~(np.asarray(ivar) > 0) | ~np.isfinite(flux)
        if bad.any() and (~bad).any():
            work[bad] = np.interp(np.flatnonzero(bad), np.flatnonzero(~bad), flux[~bad])
        sub = work[..., ::step]
    else:
        sub = flux[..., ::step]
    sub = np.where(np.isfinite(sub), sub, 0.0)
    size = max(3, (width // step) | 1)
    # row by row: scipy's 1-D median filter is 5x faster than its N-D one with size 1 on
    # the other axes (42 -> 8 ms a library), the same medians (exact order statistics)
    med = np.empty(sub.shape)
    for row, sub_row in zip(med.reshape(-1, sub.shape[-1]), sub.reshape(-1, sub.shape[-1])):
        row[:] = median_filter(sub_row, size=size, mode="nearest")
    med = gaussian_filter1d(med, max(width / 5.0 / step, 0.5), axis=-1, mode="nearest")
    result = np.empty(flux.shape) if out is None else out
    if not result.flags.c_contiguous:  # rows are written through a reshaped view below
        result[...] = normalise(flux, ivar, width)
        return result
    flat_flux, flat_result = flux.reshape(-1, n), result.reshape(-1, n)
    flat_med = med.reshape(-1, med.shape[-1])
    # the continuum a few rows at a time (a library's 96 rows: 1.5 MB blocks, not one
    # library-sized array), then flux / cont where cont > 0, else 1, into the result
    for start in range(0, flat_med.shape[0], NORMALISE_ROWS):
        rows = slice(start, start + NORMALISE_ROWS)
        cont = _interp_every(flat_med[rows], step, n)
        positive = cont > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(flat_flux[rows], cont, out=flat_result[rows], where=positive)
        flat_result[rows][~positive] = 1.0
    return result


#: Rows of a library whose continuum :func:`normalise` makes at a time.
NORMALISE_ROWS = 4


def _interp_every(samples: np.ndarray, step: int, n: int) -> np.ndarray:
    """``np.interp(arange(n), arange(0, n, step), row)`` of every row, the same values.

    On that uniform grid the bracket of pixel p is sample p // step at offset p % step,
    so the rows are filled as np.interp fills them (``slope * offset + sample``, slope
    ``(next - sample) / step``; the sample itself where the offset is 0; the last sample
    from there on) without a search per pixel: 4x faster for a library's 96 x 46,888
    pixels. Rows with a non-finite sample or slope go through np.interp itself (its
    NaN handling), as do steps under 8 pixels.

    Parameters
    ----------
    samples : ndarray, shape (nrow, m)
        Values at pixels 0, step, 2 step, ... (m = ceil(n / step)).
    step : int
        Pixels between samples, >= 1.
    n : int
        Pixels of the result.

    Returns
    -------
    ndarray, shape (nrow, n)
        A view of a new array (rows padded to a whole number of steps).
    """
    nrow, m = samples.shape
    nseg = m - 1  # whole steps between the samples; pixels from nseg * step on are the last
    out = np.empty((nrow, m, step))
    # short steps (a spectrum's 4 px) would broadcast over runs too short to pay: np.interp
    fast = step >= 8 and np.isfinite(samples).all()
    if fast:
        with np.errstate(invalid="ignore", over="ignore"):
            slope = (samples[:, 1:] - samples[:, :-1]) / float(step)
        fast = np.isfinite(slope).all()
    if fast:
        np.multiply(slope[:, :, None], np.arange(step, dtype=float), out=out[:, :nseg])
        out[:, :nseg] += samples[:, :-1, None]
        out[:, :nseg, 0] = samples[:, :-1]  # np.interp's x == xp[j]: the sample itself
        out[:, nseg] = samples[:, -1:]
        return out.reshape(nrow, m * step)[:, :n]
    x, pixels = np.arange(0, n, step), np.arange(n)
    flat = out.reshape(nrow, m * step)[:, :n]
    for row, sample in zip(flat, samples):
        row[:] = np.interp(pixels, x, sample)
    return flat


def prepare_templates(
    wave: np.ndarray,
    rect_flux: np.ndarray,
    params: np.ndarray,
    grid_cdelt: float,
    resolution: float | None,
    oversample: int = 10,
    wave_range: tuple[float, float] | None = None,
) -> TemplateLibrary:
    """Put templates on a fine log grid at the data's resolution and normalise them.

    Parameters
    ----------
    wave : ndarray, shape (nw,)
        Template wavelengths, Å vacuum, increasing.
    rect_flux : ndarray, shape (ntpl, nw)
        Template flux (rectified H/C or absolute; it is renormalised).
    params : array-like, shape (ntpl, 3)
        teff (K), logg, fe_h of each template.
    grid_cdelt : float
        log10 step of the data grid (BOSS 1e-4).
    resolution : float, (wave, R) pair of arrays, or None
        Resolving power λ/Δλ (FWHM) of the data, constant or as a function of wavelength
        (Å); templates are convolved to it (assumed much sharper than the data). None: the
        templates are already at the data's resolution.
    oversample : int
        Fine-grid steps per data pixel.
    wave_range : (float, float), optional
        Wavelength range to keep, Å.

    Returns
    -------
    TemplateLibrary
    """
    return fine_templates(wave, rect_flux, params, grid_cdelt, oversample, wave_range).at(resolution)


@dataclass(frozen=True)
class FineTemplates:
    """Templates on the fine grid before the convolution: :meth:`at` makes the library of a
    resolving power, so several R share one interpolation (:func:`fine_templates`).

    Attributes
    ----------
    loglam : ndarray, shape (nfine,)
        log10 of the vacuum wavelength, Å; uniform step ``step``.
    flux : ndarray, shape (ntpl, nfine)
        Template flux interpolated on ``loglam`` (not convolved, not normalised).
    params : ndarray, shape (ntpl, 3)
        teff (K), logg (dex), fe_h (dex).
    step : float
        log10 step of ``loglam``.
    oversample : int
        Fine-grid steps per data pixel.
    """

    loglam: np.ndarray
    flux: np.ndarray
    params: np.ndarray
    step: float
    oversample: int

    def at(self, resolution) -> TemplateLibrary:
        """The library at ``resolution`` (as :func:`prepare_templates`'s, bit for bit)."""
        width = 101 * self.oversample + 1
        if resolution is None:
            return TemplateLibrary(self.loglam, normalise(self.flux, width=width), self.params)
        conv = _convolve_to(self.flux, self.loglam, self.step, resolution)  # a new array
        return TemplateLibrary(self.loglam, normalise(conv, width=width, out=conv), self.params)


def fine_templates(
    wave: np.ndarray,
    rect_flux: np.ndarray,
    params: np.ndarray,
    grid_cdelt: float,
    oversample: int = 10,
    wave_range: tuple[float, float] | None = None,
) -> FineTemplates:
    """The templates on the fine grid of :func:`prepare_templates`, before the convolution.

    Parameters are those of :func:`prepare_templates` (without ``resolution``); the
    libraries at several resolving powers are then ``fine_templates(...).at(R)`` each.

    Returns
    -------
    FineTemplates
    """
    wave = np.asarray(wave, dtype=float)
    rect_flux = np.atleast_2d(np.asarray(rect_flux, dtype=float))
    if rect_flux.shape[1] != wave.size:
        raise ValueError(f"rect_flux has {rect_flux.shape[1]} pixels but wave has {wave.size}")
    lo, hi = wave_range or (wave[0], wave[-1])
    lo, hi = max(lo, wave[0]), min(hi, wave[-1])
    step = grid_cdelt / oversample
    loglam = np.arange(np.log10(lo), np.log10(hi), step)
    fine = np.empty((rect_flux.shape[0], loglam.size))
    log_wave = np.log10(wave)
    for row, f in zip(fine, rect_flux):  # row by row into one array: no list of rows to stack
        row[:] = np.interp(loglam, log_wave, f)
    return FineTemplates(loglam, fine, np.asarray(params, dtype=float), step, oversample)


def least_chi2_resolution(fine: FineTemplates, resolutions, chi2_of, start: int | None = None):
    """The resolution with the least ``chi2_of(library)``: (resolution, library, χ² tried).

    Parameters
    ----------
    fine : FineTemplates
    resolutions : sequence of (float or None)
        Resolving powers in increasing order (None, the templates as they are, last).
    chi2_of : callable
        TemplateLibrary -> total χ² of the data against it (NaN counts as not better).
    start : int, optional
        Index of ``resolutions`` to start from (the one nearest the data's own resolving
        power). None: every resolution is tried. Otherwise the neighbours of the best so far
        are tried until both are worse, which finds the least χ² of all whenever χ²
        has one minimum along R (too narrow and too broad templates both fit worse), with
        3-4 libraries made instead of all.

    Returns
    -------
    resolution, TemplateLibrary, dict
        The best resolution, its library (the only one kept), and {resolution: χ²} of
        those tried, in the order of ``resolutions``.
    """
    tried: dict[int, float] = {}
    best = None  # (index, library)

    def evaluate(k):
        nonlocal best
        if k in tried or not 0 <= k < len(resolutions):
            return
        lib = fine.at(resolutions[k])
        tried[k] = float(chi2_of(lib))
        if best is None or tried[k] < tried[best[0]] or (tried[k] == tried[best[0]] and k < best[0]):
            best = (k, lib)  # ties: the lower R, as a scan in order keeps the first

    if start is None:
        for k in range(len(resolutions)):
            evaluate(k)
    else:
        centre = int(start)
        while True:
            for k in (centre - 1, centre, centre + 1):
                evaluate(k)
            if best[0] == centre:
                break
            centre = best[0]
    return resolutions[best[0]], best[1], {resolutions[k]: tried[k] for k in sorted(tried)}


def _convolve_to(fine, loglam, step, resolution):
    """Gaussian convolution to a constant R, or to R(λ) by interpolating between 6 constant-R copies."""

    def at(r):
        return gaussian_filter1d(
            fine, 1.0 / (r * 2.3548 * np.log(10.0) * step), axis=1, mode="nearest"
        )

    if np.isscalar(resolution):
        return at(float(resolution))
    wave_r, r_values = (np.asarray(a, float) for a in resolution)
    ok = np.isfinite(r_values) & (r_values > 0)
    if not ok.any():
        raise ValueError("resolution: no finite positive R(λ) value")
    r_pix = np.interp(10**loglam, wave_r[ok], r_values[ok])
    levels = (
        np.linspace(r_pix.min(), r_pix.max(), 6) if np.ptp(r_pix) > 1 else np.array([r_pix.mean()])
    )
    if levels.size == 1:
        return at(levels[0])
    copies = np.array([at(r) for r in levels])  # (6, ntpl, nfine)
    pos = np.interp(r_pix, levels, np.arange(levels.size))
    lo = np.clip(np.floor(pos).astype(int), 0, levels.size - 2)
    t = pos - lo
    cols = np.arange(loglam.size)
    return copies[lo, :, cols].T * (1 - t) + copies[lo + 1, :, cols].T * t
