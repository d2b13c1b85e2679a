"""The sky flux through the SDSS filters as idlspec2d defines ``SPECTROSKYFLUX``.

``SPECTROSKYFLUX`` (nanomaggies per fibre, ugriz) in spec/spAll files is written by idlspec2d's
``spreduce1d`` from the coadded sky of each fibre: it is *not* the whole sky brightness. Before
integrating, ``spreduce1d`` replaces every pixel where the object's inverse variance is zero
after ``skymask()`` by a linear interpolation of its neighbours. ``skymask()`` zeroes the pixels
whose OR-mask has ``BADSKYCHI`` (relative sky-residual chi2 > 3) or ``REDMONSTER`` set, grown by
two pixels on each side (idlspec2d since 2002, so v5_3_12 (SDSS-I/II, run2d 26) and v5_13_2
(BOSS) alike). Those flags sit on the strongest night-sky lines (OI 5577, 6300, 6364, the OH
bands), so the lines are cut out of the integral: on the SDSS-I/II files of
``../shared/data/real`` the whole sky is 0.03-0.11 mag brighter in r and i than SPECTROSKYFLUX,
while the BOSS files, with fewer flagged pixels in r and i, differ by less than 0.03. The
integral itself is idlutils' ``filter_thru()``: the ``T dln(lambda)``-weighted mean of
``f_nu`` over the spectrum's pixels, through Gunn's June 2001 camera curves
(``sdss_jun2001_<band>``, in ``sdssflow/data/filters``), on the vacuum wavelengths as given.

:func:`spectro_sky_flux` reproduces ``SPECTROSKYFLUX`` from a spec file's coadd (``sky``,
``ivar``, ``or_mask``) to better than 0.001 mag; :func:`idlspec2d_sky` gives the line-cut sky
itself, for a comparison through the project's own integration
(:func:`sdssflow.sky.magnitudes.broadband_magnitudes`). The sky products keep the whole sky.
"""

from __future__ import annotations

import numpy as np

from sdssflow.constants import C_ANGSTROM_PER_S
from sdssflow.io.bitmask import flag_value
from sdssflow.photometry import REFERENCE_FILTER_NAMES, load_filter

__all__ = ["JUN2001_FILTERS", "SKYMASK_BITS", "skymask", "interpolate_masked", "idlspec2d_sky", "spectro_sky_flux"]

#: The idlspec2d/idlutils filter curves behind SPECTROSKYFLUX, ordered ugriz.
JUN2001_FILTERS = REFERENCE_FILTER_NAMES
#: OR-mask bits that idlspec2d's skymask() rejects.
SKYMASK_BITS = ("BADSKYCHI", "REDMONSTER")
#: 10**((22.5 + 48.6 - 2.5*17)/2.5): f_nu in 1e-17 erg/s/cm2/A * A2/(A/s) to nanomaggies.
_NANOMAGGIES = 10.0 ** ((22.5 + 48.6 - 2.5 * 17.0) / 2.5)


def skymask(ivar: np.ndarray, or_mask: np.ndarray, ngrow: int = 2) -> np.ndarray:
    """Pixels idlspec2d's ``spreduce1d`` treats as bad: ivar = 0 or a sky-residual OR-mask bit.

    Parameters
    ----------
    ivar : numpy.ndarray, shape (npix,) or (nspec, npix)
        Coadd inverse variance.
    or_mask : numpy.ndarray of int, same shape
        Coadd OR-mask (SPPIXMASK bits).
    ngrow : int
        Pixels added on each side of a flagged pixel (idlspec2d's default, 2).

    Returns
    -------
    numpy.ndarray of bool, same shape
        True where the pixel is replaced by interpolation before integrating.

    Examples
    --------
    >>> bit = 1 << 27  # BADSKYCHI
    >>> skymask(np.ones(9), np.array([0, 0, 0, 0, bit, 0, 0, 0, 0])).astype(int).tolist()
    [0, 0, 1, 1, 1, 1, 1, 0, 0]
    """
    ivar = np.atleast_2d(np.asarray(ivar, dtype=float))
    bits = flag_value(SKYMASK_BITS)
    flagged = (np.atleast_2d(np.asarray(or_mask)).astype(np.int64) & bits) != 0
    if ngrow > 0:
        width = 2 * ngrow + 1
        kernel = np.ones(width)
        flagged = np.array([np.convolve(row, kernel, mode="same") > 0 for row in flagged.astype(float)])
    bad = flagged | ~(ivar > 0)
    return bad if np.ndim(or_mask) > 1 else bad[0]


def interpolate_masked(values: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Replace bad pixels by a linear interpolation in pixel index (constant beyond the ends).

    This is idlutils' ``djs_maskinterp(..., /const)`` along one spectrum.

    Parameters
    ----------
    values : numpy.ndarray, shape (npix,)
    bad : numpy.ndarray of bool, shape (npix,)

    Returns
    -------
    numpy.ndarray, shape (npix,)
        A copy; unchanged when every pixel or no pixel is bad.

    Examples
    --------
    >>> interpolate_masked(np.array([1.0, 9.0, 3.0, 9.0]), np.array([False, True, False, True])).tolist()
    [1.0, 2.0, 3.0, 3.0]
    """
    values = np.array(values, dtype=float)
    bad = np.asarray(bad, dtype=bool)
    if not bad.any() or bad.all():
        return values
    index = np.arange(values.size)
    values[bad] = np.interp(index[bad], index[~bad], values[~bad])
    return values


def idlspec2d_sky(sky: np.ndarray, ivar: np.ndarray, or_mask: np.ndarray) -> np.ndarray:
    """The coadd sky with the pixels of :func:`skymask` interpolated over, as SPECTROSKYFLUX sees it.

    Parameters
    ----------
    sky, ivar, or_mask : numpy.ndarray, shape (npix,)
        A spec file's coadd ``sky`` (1e-17 erg/s/cm2/A per fibre), ``ivar`` and ``or_mask``.

    Returns
    -------
    numpy.ndarray, shape (npix,)
        Sky, 1e-17 erg/s/cm2/A per fibre.
    """
    return interpolate_masked(sky, skymask(ivar, or_mask))


def spectro_sky_flux(loglam, sky, ivar, or_mask, filters=JUN2001_FILTERS) -> np.ndarray:
    """SPECTROSKYFLUX as idlspec2d computes it: nanomaggies per fibre of the line-cut coadd sky.

    Parameters
    ----------
    loglam : numpy.ndarray, shape (npix,)
        log10 vacuum wavelength (A) of the coadd pixels.
    sky, ivar, or_mask : numpy.ndarray, shape (npix,)
        The coadd's ``sky`` (1e-17 erg/s/cm2/A per fibre), ``ivar`` and ``or_mask``.
    filters : sequence of str
        Curves for :func:`sdssflow.photometry.load_filter`; default the idlspec2d ones, ugriz.

    Returns
    -------
    numpy.ndarray, shape (nfilters,)
        Nanomaggies per fibre (divide by the fibre area in arcsec2 for a surface brightness).
        The mean is taken over the spectrum's pixels only, as ``filter_thru()`` does, so a band
        that runs off the spectrum (u, and z on SDSS-I/II) is the mean over its covered part.

    Examples
    --------
    A flat f_nu of 1 nanomaggy stays 1 nanomaggy in every band:

    >>> loglam = np.arange(3.56, 4.02, 1e-4)
    >>> fnu = 1e-9 * 3631e-23  # erg/s/cm2/Hz
    >>> sky = fnu * C_ANGSTROM_PER_S / (10 ** loglam) ** 2 / 1e-17
    >>> spectro_sky_flux(loglam, sky, np.ones_like(sky), np.zeros(sky.size, int)).round(3).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    loglam = np.asarray(loglam, dtype=float)
    wave = 10.0**loglam
    fnu = idlspec2d_sky(sky, ivar, or_mask) * wave**2 / C_ANGSTROM_PER_S
    # filter_thru's pixel weight: |d log10(lambda)| per pixel (a cubic fit in idlutils; exact here)
    dlog = np.abs(np.gradient(loglam))
    out = np.empty(len(filters))
    for k, name in enumerate(filters):
        filt = load_filter(name)
        weight = np.interp(wave, filt.wave, filt.throughput, left=0.0, right=0.0) * dlog
        total = weight.sum()
        out[k] = (fnu * weight).sum() / total * _NANOMAGGIES if total > 0 else np.nan
    return out
