"""TAI to UTC and TT for the times of SDSS frames (TAI-BEG / TAI-END), with erfa directly.

The conversions astropy's :class:`~astropy.time.Time` makes, without its first-use cost: a
process's first UTC conversion through ``Time`` re-reads astropy's leap-second file with
``astropy.io.ascii`` (~10-15 ms, as long as a per-plate step's whole computation). erfa's
leap-second table is the one ``Time`` uses too (astropy refreshes it from astropy-iers-data
when that file is newer; the two agree on every leap second since 1972, the last one at the
start of 2017).

Times are returned as two-part Julian dates, erfa's convention; UTC is erfa's quasi-JD (a
leap-second day is stretched).

Examples
--------
>>> round(tai_minus_utc_days(56000.3) * 86400.0, 3)
34.0
"""

from __future__ import annotations

import functools

import erfa
import numpy as np

__all__ = ["tai_minus_utc_days", "tai_to_tt", "tai_to_utc", "utc_mjd"]


def _two_part(mjd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(2400000.5 + day, fraction)`` of MJDs: both parts exact, so erfa's sums keep the
    input's precision (``(2400000.5, mjd)`` would round each result to the ulp of the MJD,
    0.6 us, 1e-5 arcsec of Earth rotation)."""
    mjd = np.asarray(mjd, dtype=float)
    day = np.floor(mjd)
    return erfa.DJM0 + day, mjd - day


def tai_to_utc(mjd_tai: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTC two-part Julian dates of TAI MJDs.

    Parameters
    ----------
    mjd_tai : numpy.ndarray, shape (n,)
        TAI MJDs.

    Returns
    -------
    utc1, utc2 : numpy.ndarray, shape (n,)
        UTC quasi-JD, ``utc1 + utc2`` (erfa ``taiutc``).
    """
    return erfa.taiutc(*_two_part(mjd_tai))


def tai_to_tt(mjd_tai: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TT two-part Julian dates of TAI MJDs (TT = TAI + 32.184 s).

    Parameters
    ----------
    mjd_tai : numpy.ndarray, shape (n,)
        TAI MJDs.

    Returns
    -------
    tt1, tt2 : numpy.ndarray, shape (n,)
    """
    return erfa.taitt(*_two_part(mjd_tai))


def utc_mjd(mjd_tai: np.ndarray) -> np.ndarray:
    """UTC MJDs of TAI MJDs (TAI - UTC = 32-37 s in the SDSS era).

    Parameters
    ----------
    mjd_tai : numpy.ndarray, shape (n,)
        TAI MJDs.

    Returns
    -------
    numpy.ndarray, shape (n,)
        UTC MJDs.
    """
    utc1, utc2 = tai_to_utc(mjd_tai)
    return (utc1 - erfa.DJM0) + utc2


def tai_minus_utc_days(mjd_tai: float) -> float:
    """TAI - UTC (days) on the UTC day of a TAI MJD (erfa ``dat``).

    Parameters
    ----------
    mjd_tai : float
        TAI MJD.

    Returns
    -------
    float
        Days.
    """
    return _tai_minus_utc_of_day(int(np.floor(mjd_tai)))


@functools.lru_cache(maxsize=4096)
def _tai_minus_utc_of_day(day: int) -> float:
    """TAI - UTC (days) on MJD ``day`` (cached: a survey's exposures share a few thousand days)."""
    year, month, mday, _ = erfa.jd2cal(erfa.DJM0, day + 0.5)
    return float(erfa.dat(year, month, mday, 0.5)) / 86400.0
