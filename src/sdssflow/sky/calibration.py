"""Flux calibration of BOSS frame pixels: electrons per native pixel to 1e-17 erg/s/cm2/A.

The agreed calibration quantity of sdssflow is ``cal_factor``: flux density in
1e-17 erg/s/cm2/A per (flat-fielded electron per native pixel), per camera, on the frame's
wavelengths, so that ``flux = electrons * cal_factor``. From a BOSS spFluxcalib (electrons per
1e-4 dex bin per 1e-17 erg/s/cm2/A) it is ``cal_factor = R / fluxcalib`` with
``R = 1e-4 / dlog10(lambda)`` per native pixel (reference/skymodelling.md section 5.3).

Fixes of the original (SkyModelling ``spframe_flux.py``), stated where they are made:

* ``R`` used ``binsize_0 = 0`` (infinite R at pixel 0); here the pixel width is the
  centred difference of log10(lambda) (:func:`native_bin_ratio`).
* The calibration had no guard; here pixels with fluxcalib <= 0.05 * mean(fluxcalib) of their
  fibre are unusable, as in the BOSS pipeline (BADFLUXFACTOR), and get ivar = 0.
* IVAR was copied from spCFrame, inconsistent with the recalibrated flux; here
  ``ivar = ivar_e / cal_factor**2`` (:func:`calibrate`).
* DISP was ``10**(wdisp*1e-4*loglam)/10`` "nm" (about 0.1 everywhere); here the Gaussian sigma
  in Angstrom is ``lambda * ln(10) * 1e-4 * wdisp`` (:func:`wdisp_to_sigma`), or for a
  dispersion in native pixels ``disp * |d lambda / d pixel|`` (:func:`pixel_disp_to_sigma`).
* The 2.7356 % fibre-loss factor of the original is a parameter (``fiber_loss_factor``), 1 by default.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "native_bin_ratio",
    "cal_factor_from_fluxcalib",
    "calibrate",
    "wdisp_to_sigma",
    "pixel_disp_to_sigma",
    "CAMERA_WINDOWS",
    "camera_window_mask",
]

#: Usable wavelength range per arm, vacuum Angstrom (SkyModelling: blue 365-635 nm, red 565-1040 nm).
CAMERA_WINDOWS: dict[str, tuple[float, float]] = {"b": (3650.0, 6350.0), "r": (5650.0, 10400.0)}


def native_bin_ratio(loglam: np.ndarray) -> np.ndarray:
    """``R = 1e-4 / dlog10(lambda)``: native pixels per 1e-4 dex bin.

    Parameters
    ----------
    loglam : numpy.ndarray, shape (..., npix)
        log10 of vacuum wavelength in Angstrom, increasing along the last axis.

    Returns
    -------
    numpy.ndarray, shape (..., npix)
        R (dimensionless, about 1.2-2.1 for BOSS). The pixel width is the centred difference
        (one-sided at the ends), never zero for an increasing grid.

    Raises
    ------
    ValueError
        If ``loglam`` is not strictly increasing along the last axis or has fewer than 2 pixels.

    Examples
    --------
    >>> native_bin_ratio(np.array([3.6, 3.6001, 3.6002])).round(6).tolist()
    [1.0, 1.0, 1.0]
    """
    loglam = np.asarray(loglam, dtype=np.float64)
    if loglam.shape[-1] < 2:
        raise ValueError(f"loglam: need at least 2 pixels, got shape {loglam.shape}")
    step = np.gradient(loglam, axis=-1)
    if not np.all(step > 0):
        raise ValueError("loglam: wavelengths must increase strictly along the pixel axis")
    return 1e-4 / step


def cal_factor_from_fluxcalib(
    fluxcalib: np.ndarray, loglam: np.ndarray, guard: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """``cal_factor = R / fluxcalib`` from a BOSS spFluxcalib image.

    Parameters
    ----------
    fluxcalib : numpy.ndarray, shape (nfiber, npix)
        spFluxcalib HDU0: electrons per 1e-4 dex bin per 1e-17 erg/s/cm2/A.
    loglam : numpy.ndarray, shape (nfiber, npix)
        log10 vacuum wavelength (A) of the frame pixels.
    guard : float
        Pixels with ``fluxcalib <= guard * mean(fluxcalib of the fibre)`` are unusable
        (the BOSS pipeline's BADFLUXFACTOR rule).

    Returns
    -------
    cal_factor : numpy.ndarray, shape (nfiber, npix)
        1e-17 erg/s/cm2/A per (electron per native pixel); 0 where unusable.
    bad : numpy.ndarray of bool, shape (nfiber, npix)
        True where the calibration is unusable.

    Raises
    ------
    ValueError
        If the shapes differ.
    """
    fluxcalib = np.asarray(fluxcalib, dtype=np.float64)
    loglam = np.asarray(loglam, dtype=np.float64)
    if fluxcalib.shape != loglam.shape:
        raise ValueError(f"fluxcalib shape {fluxcalib.shape} differs from loglam shape {loglam.shape}")
    mean = np.mean(fluxcalib, axis=-1, keepdims=True)
    bad = ~np.isfinite(fluxcalib) | (fluxcalib <= guard * mean) | (fluxcalib <= 0)
    ratio = native_bin_ratio(loglam)
    cal = np.where(bad, 0.0, ratio / np.where(bad, 1.0, fluxcalib))
    return cal, bad


def calibrate(
    electrons: np.ndarray,
    ivar_electrons: np.ndarray,
    cal_factor: np.ndarray,
    fiber_loss_factor: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply a calibration to electrons per native pixel, with consistent inverse variance.

    ``flux = electrons * c`` and ``ivar = ivar_electrons / c**2`` with
    ``c = cal_factor * fiber_loss_factor`` (the calibration's own error is neglected).
    Where ``c <= 0`` or is not finite, flux is 0 and ivar is 0 (no information).

    Parameters
    ----------
    electrons : numpy.ndarray, shape (nspec, npix)
        Flat-fielded electrons per native pixel (object + sky for sky fibres).
    ivar_electrons : numpy.ndarray, shape (nspec, npix)
        Inverse variance of ``electrons`` (electrons**-2).
    cal_factor : numpy.ndarray, shape (nspec, npix)
        1e-17 erg/s/cm2/A per (electron per native pixel).
    fiber_loss_factor : float
        Extra multiplicative factor (SkyModelling used 1.027356); must be > 0.

    Returns
    -------
    flux : numpy.ndarray, shape (nspec, npix)
        1e-17 erg/s/cm2/A.
    ivar : numpy.ndarray, shape (nspec, npix)
        (1e-17 erg/s/cm2/A)**-2.

    Raises
    ------
    ValueError
        If shapes differ or ``fiber_loss_factor`` is not positive.

    Examples
    --------
    >>> f, iv = calibrate(np.array([[10.0]]), np.array([[4.0]]), np.array([[2.0]]))
    >>> float(f[0, 0]), float(iv[0, 0])
    (20.0, 1.0)
    """
    if not fiber_loss_factor > 0:
        raise ValueError(f"fiber_loss_factor must be > 0, got {fiber_loss_factor!r}")
    electrons = np.asarray(electrons, dtype=np.float64)
    ivar_electrons = np.asarray(ivar_electrons, dtype=np.float64)
    cal = np.asarray(cal_factor, dtype=np.float64) * fiber_loss_factor
    if not (electrons.shape == ivar_electrons.shape == cal.shape):
        raise ValueError(
            f"shapes differ: electrons {electrons.shape}, ivar {ivar_electrons.shape}, cal_factor {cal.shape}"
        )
    good = np.isfinite(cal) & (cal > 0) & np.isfinite(electrons) & np.isfinite(ivar_electrons)
    safe = np.where(good, cal, 1.0)
    flux = np.where(good, electrons * safe, 0.0)
    ivar = np.where(good, np.clip(ivar_electrons, 0, None) / safe**2, 0.0)
    return flux, ivar


def wdisp_to_sigma(loglam: np.ndarray, wdisp: np.ndarray) -> np.ndarray:
    """Gaussian line sigma in Angstrom from a dispersion in units of 1e-4 dex.

    ``sigma = lambda * ln(10) * 1e-4 * wdisp`` (spCFrame WAVEDISP / spec ``wdisp``).

    Examples
    --------
    >>> round(float(wdisp_to_sigma(np.log10(5000.0), 1.0)), 4)
    1.1513
    """
    loglam = np.asarray(loglam, dtype=np.float64)
    return 10.0**loglam * np.log(10.0) * 1e-4 * np.asarray(wdisp, dtype=np.float64)


def pixel_disp_to_sigma(loglam: np.ndarray, disp_pixels: np.ndarray) -> np.ndarray:
    """Gaussian line sigma in Angstrom from a dispersion in native pixels (spFrame HDU4).

    ``sigma = disp * |d lambda / d pixel|`` along the last axis.

    Examples
    --------
    >>> lam = np.log10(np.array([5000.0, 5001.0, 5002.0]))
    >>> pixel_disp_to_sigma(lam, np.ones(3)).round(6).tolist()
    [1.0, 1.0, 1.0]
    """
    wave = 10.0 ** np.asarray(loglam, dtype=np.float64)
    return np.asarray(disp_pixels, dtype=np.float64) * np.abs(np.gradient(wave, axis=-1))


def camera_window_mask(wave: np.ndarray, camera: str) -> np.ndarray:
    """True for pixels inside the usable range of the camera's arm (:data:`CAMERA_WINDOWS`).

    Raises
    ------
    ValueError
        If the camera is not b1, b2, r1 or r2 (or an arm letter b/r).
    """
    arm = str(camera).strip().lower()[:1]
    if arm not in CAMERA_WINDOWS:
        raise ValueError(f"camera {camera!r}: expected b1, b2, r1 or r2")
    lo, hi = CAMERA_WINDOWS[arm]
    wave = np.asarray(wave)
    return (wave > lo) & (wave < hi)
