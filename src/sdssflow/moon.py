"""The one Moon engine of the project (ephem), used by the exposure catalog and the sky chain.

Why ephem: for a survey catalog of 40,000 exposures (one time and pointing each), a loop over
ephem took 3.3 s on one core, against 197 s for astropy's vectorised ``get_body("moon")`` plus
the AltAz transforms of the Moon and the pointings (measured 2026-12-01 on the 2-core
development machine, astropy 8.0, ephem 4.2, random times and pointings over 2009-2017). On 300
random times the two differ by at most 0.003 deg in Moon altitude and 0.003 in illuminated
fraction (the latter from astropy's elongation, (1 - cos E) / 2); ``tests/test_sky_real.py``
checks real exposures. So the fast one is used everywhere: the "dark" selection of the catalog
and the rich metadata of the sky chain agree exactly.

Conventions: times are TAI MJDs (TAI-BEG/TAI-END midpoints) converted to UTC for ephem; the
observer is the site of :mod:`sdssflow.sites` with no refraction (pressure 0, geometric
altitude); azimuth is North through East; the illuminated fraction is ephem's ``moon_phase``;
the phase angle (Sun-Moon-Earth, 0 = full) follows from the geocentric Sun-Moon elongation and
the two distances.
"""

from __future__ import annotations

import math

import ephem
import numpy as np

from sdssflow.sites import site
from sdssflow.time_scales import tai_minus_utc_days

__all__ = ["EPHEM_MJD0", "AU_KM", "tai_minus_utc_days", "moon_geometry", "moon_table"]

#: ephem dates count days from 1899-12-31 12:00 UT, i.e. MJD 15019.5.
EPHEM_MJD0 = 15019.5
#: Astronomical unit, km (IAU 2012).
AU_KM = 149597870.7


def _observer(observatory: str) -> ephem.Observer:
    s = site(observatory)
    obs = ephem.Observer()
    obs.lat, obs.lon, obs.elevation = s.lat_dms, s.lon_dms, s.height_m
    obs.pressure = 0.0
    return obs


def moon_table(mjd_tai: np.ndarray, observatory: str = "apo") -> dict[str, np.ndarray]:
    """Moon position and phase at TAI MJDs, computed once per distinct time.

    Parameters
    ----------
    mjd_tai : numpy.ndarray, shape (n,)
        TAI MJDs.
    observatory : str
        ``apo`` or ``lco``.

    Returns
    -------
    dict of column -> numpy.ndarray, shape (n,)
        ``MOON_ALT``, ``MOON_AZ`` (topocentric, geometric, deg, North through East),
        ``MOON_RA``, ``MOON_DEC`` (topocentric apparent, deg), ``MOON_DIST`` (geocentric, km),
        ``MOON_PHASE`` (phase angle, rad, 0 = full), ``MOON_ILL`` (illuminated fraction).
        Non-finite times give NaN.
    """
    t = np.atleast_1d(np.asarray(mjd_tai, dtype=float))
    uniq, inverse = np.unique(t, return_inverse=True)
    names = ("MOON_ALT", "MOON_AZ", "MOON_RA", "MOON_DEC", "MOON_DIST", "MOON_PHASE", "MOON_ILL")
    cols = {k: np.full(uniq.size, np.nan) for k in names}
    obs = _observer(observatory)
    moon, sun = ephem.Moon(), ephem.Sun()
    for i, m in enumerate(uniq):
        if not math.isfinite(m):
            continue
        obs.date = ephem.Date(m - tai_minus_utc_days(m) - EPHEM_MJD0)
        moon.compute(obs)
        sun.compute(obs)
        elong = abs(float(moon.elong))
        rs, rm = sun.earth_distance * AU_KM, moon.earth_distance * AU_KM
        cols["MOON_ALT"][i] = math.degrees(float(moon.alt))
        cols["MOON_AZ"][i] = math.degrees(float(moon.az))
        cols["MOON_RA"][i] = math.degrees(float(moon.ra))
        cols["MOON_DEC"][i] = math.degrees(float(moon.dec))
        cols["MOON_DIST"][i] = rm
        cols["MOON_PHASE"][i] = math.atan2(rs * math.sin(elong), rm - rs * math.cos(elong))
        cols["MOON_ILL"][i] = float(moon.moon_phase)
    return {k: v[inverse].reshape(t.shape) for k, v in cols.items()}


def moon_geometry(mjd_tai: float, ra: float, dec: float, observatory: str = "apo") -> tuple[float, float, float]:
    """Moon illumination (0-1), separation from (ra, dec) and altitude (deg) at a TAI MJD.

    Parameters
    ----------
    mjd_tai : float
        TAI MJD (mid-exposure).
    ra, dec : float
        ICRS/J2000 position, degrees.
    observatory : str
        ``apo`` or ``lco``.

    Returns
    -------
    illumination, separation_deg, altitude_deg : float
        NaN for non-finite input.

    Examples
    --------
    >>> illum, sep, alt = moon_geometry(55500.3, 30.0, 10.0)
    >>> 0.0 <= illum <= 1.0 and 0.0 <= sep <= 180.0
    True
    """
    if not all(math.isfinite(v) for v in (mjd_tai, ra, dec)):
        return math.nan, math.nan, math.nan
    obs = _observer(observatory)
    obs.date = ephem.Date(mjd_tai - tai_minus_utc_days(mjd_tai) - EPHEM_MJD0)
    moon = ephem.Moon(obs)
    target = ephem.FixedBody()
    target._ra, target._dec, target._epoch = math.radians(ra), math.radians(dec), ephem.J2000
    target.compute(obs)
    sep = float(ephem.separation(moon, target))
    return float(moon.moon_phase), math.degrees(sep), math.degrees(float(moon.alt))
