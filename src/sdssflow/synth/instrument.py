"""The demo's BOSS instrument: wavelength solutions, line spread, and the truth response.

Everything here is a smooth, deterministic function of the camera, the fibre and a few
per-exposure conditions, so the truth calibration is known exactly:

- wavelength solution: a 6-coefficient Legendre trace set of log10(lambda/A) per fibre
  (idlspec2d HDU3 format); fibres differ only by a small zero-point shift (< 3e-5 dex),
  so the pixel size at a given wavelength is the same for every fibre to < 1e-5;
- line spread: Gaussian sigma in pixels, a Legendre trace set (HDU4 format);
- response: ``fluxcalib(lambda)`` = electrons per 1e-4-dex bin per 1e-17 erg/s/cm2/A
  = exptime x area x T_camera(lambda) x 10^(-0.4 k(lambda) X) x aperture(seeing) x transparency
  x lambda / (h c) x (lambda ln10 1e-4 A) x 1e-17;
  ``cal_factor`` = R / fluxcalib with R = 1e-4 / dlog10(lambda)/dpixel (1e-17 erg/s/cm2/A per
  electron per native pixel), so electrons per pixel = f_lambda / cal_factor.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import legendre

from sdssflow.constants import HC_ERG_ANGSTROM

__all__ = [
    "CAMERA_RANGE",
    "TELESCOPE_AREA_CM2",
    "READ_NOISE",
    "wavelength_traceset",
    "dispersion_traceset",
    "throughput",
    "extinction_mag_per_airmass",
    "aperture_fraction",
    "fluxcalib_curve",
    "pixel_loglam_step",
]

#: Approximate vacuum wavelength range (A) of pixels 0 and npix-1 per arm.
CAMERA_RANGE = {"b": (3560.0, 6330.0), "r": (5640.0, 10380.0)}
#: Collecting area of the 2.5 m telescope minus the central obstruction, cm2.
TELESCOPE_AREA_CM2 = 3.6e4
#: Read noise per extracted pixel, electrons (blue, red).
READ_NOISE = {"b": 4.0, "r": 4.5}
_HC = HC_ERG_ANGSTROM  # erg A
_CURVATURE = {"b": -0.0030, "r": -0.0045}


def _npix(camera: str) -> int:
    return 4112 if camera[0] == "b" else 4128


def wavelength_traceset(camera: str, nfiber: int = 500, spectrograph: int = 1) -> dict:
    """Legendre trace set of log10(lambda/A) (vacuum) for the fibres of one camera.

    Parameters
    ----------
    camera : str
        ``b1``, ``r1``, ``b2`` or ``r2``.
    nfiber : int
        Rows (fibres).
    spectrograph : int
        1 or 2 (changes the fibre offsets).

    Returns
    -------
    dict
        ``FUNC``, ``XMIN``, ``XMAX``, ``COEFF`` (nfiber, 6): the spFrame HDU3 trace set.
    """
    arm = camera[0]
    npix = _npix(arm)
    lo, hi = np.log10(CAMERA_RANGE[arm])
    curv = _CURVATURE[arm]
    coeff = np.zeros((nfiber, 6))
    # y(x') = c0 + c1 x' + c2 P2(x') + ...; endpoints: y(-1) = c0 - c1 + c2, y(1) = c0 + c1 + c2
    coeff[:, 1] = 0.5 * (hi - lo)
    coeff[:, 2] = curv
    coeff[:, 3] = 0.0004
    fib = np.arange(nfiber)
    coeff[:, 0] = 0.5 * (hi + lo) - curv + 2.5e-5 * np.sin(2 * np.pi * fib / 173.0 + spectrograph)
    return {"FUNC": "legendre", "XMIN": 0.0, "XMAX": float(npix - 1), "COEFF": coeff}


def dispersion_traceset(camera: str, nfiber: int = 500) -> dict:
    """Legendre trace set of the line-spread Gaussian sigma in pixels (spFrame HDU4).

    sigma is 1.0-1.25 pixels (blue) / 1.05-1.3 (red), larger at the detector edges.
    """
    arm = camera[0]
    coeff = np.zeros((nfiber, 3))
    base = 1.08 if arm == "b" else 1.13
    coeff[:, 0] = base + 0.01 * np.cos(np.arange(nfiber) / 60.0)
    coeff[:, 2] = 0.12
    return {"FUNC": "legendre", "XMIN": 0.0, "XMAX": float(_npix(arm) - 1), "COEFF": coeff}


def pixel_loglam_step(tset: dict, npix: int) -> np.ndarray:
    """d log10(lambda) / d pixel of a trace set, (nfiber, npix) (analytic derivative)."""
    coeff = np.atleast_2d(np.asarray(tset["COEFF"], float))
    xmin, xmax = float(tset["XMIN"]), float(tset["XMAX"])
    xprime = 2.0 * (np.arange(npix) - 0.5 * (xmin + xmax)) / (xmax - xmin)
    dcoeff = legendre.legder(coeff.T).T  # (nfiber, ncoeff-1)
    return (dcoeff @ legendre.legvander(xprime, dcoeff.shape[1] - 1).T) * 2.0 / (xmax - xmin)


def throughput(camera: str, wave: np.ndarray) -> np.ndarray:
    """Telescope + spectrograph + CCD photon throughput of an arm (no atmosphere, no fibre).

    Blue: log-Gaussian peaking at 0.28 near 4700 A, dichroic cut at 6150 A; red: 0.32 near
    7600 A, dichroic cut-on at 5850 A, CCD fall-off beyond 9500 A.
    """
    wave = np.asarray(wave, float)
    if camera[0] == "b":
        shape = 0.28 * np.exp(-((np.log(wave / 4700.0) / 0.26) ** 2))
        return shape / (1.0 + np.exp((wave - 6150.0) / 60.0))
    shape = 0.32 * np.exp(-((np.log(wave / 7600.0) / 0.30) ** 2))
    return shape / (1.0 + np.exp((5850.0 - wave) / 80.0)) / (1.0 + np.exp((wave - 10100.0) / 150.0))


def extinction_mag_per_airmass(wave: np.ndarray) -> np.ndarray:
    """Atmospheric extinction k(lambda) in mag per airmass (APO-like): 0.08 + 0.12 (5000/lambda)^4."""
    return 0.08 + 0.12 * (5000.0 / np.asarray(wave, float)) ** 4


def aperture_fraction(seeing_fwhm: float, fibre_radius: float = 1.0) -> float:
    """Fraction of a Gaussian PSF (FWHM in arcsec) inside a fibre of the given radius (arcsec)."""
    sigma = seeing_fwhm / 2.3548
    return float(1.0 - np.exp(-(fibre_radius**2) / (2 * sigma**2)))


def fluxcalib_curve(
    camera: str,
    wave: np.ndarray,
    *,
    exptime: float,
    airmass: float,
    seeing: float,
    transparency: float,
) -> np.ndarray:
    """Electrons per 1e-4-dex bin per 1e-17 erg/s/cm2/A at vacuum wavelengths ``wave`` (A).

    Parameters
    ----------
    camera : str
        Camera name (arm from the first letter).
    wave : numpy.ndarray, any shape
        Vacuum wavelength, A.
    exptime : float
        Exposure time, s.
    airmass : float
        Airmass.
    seeing : float
        Seeing FWHM, arcsec.
    transparency : float
        Grey factor (cloud), about 1.

    Returns
    -------
    numpy.ndarray, same shape as ``wave``
    """
    wave = np.asarray(wave, float)
    atm = 10.0 ** (-0.4 * extinction_mag_per_airmass(wave) * airmass)
    photons_per_erg = wave / _HC
    dlam_per_bin = wave * np.log(10.0) * 1e-4
    return (
        exptime
        * TELESCOPE_AREA_CM2
        * throughput(camera, wave)
        * atm
        * aperture_fraction(seeing)
        * transparency
        * photons_per_erg
        * dlam_per_bin
        * 1e-17
    )
