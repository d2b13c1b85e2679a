"""Observing conditions of each sky spectrum at mid-exposure, for its fibre position.

Geometry is computed with astropy (topocentric AltAz at Apache Point, no refraction);
twilight times with ephem (a second, independent ephemeris). Site: the SDSS 2.5 m telescope,
32d46m49.30s N, 105d49m13.50s W, 2788 m (Gunn et al. 2006, AJ 131, 2332).

Fixes of the original (SkyModelling ``get_rich_meta_data.py``): every sky-position quantity is
per fibre (the original used the plate centre); no IERS-A download at import (astropy's bundled
IERS-B tables suffice for SDSS-era dates: ``auto_download`` is turned off inside the function);
the ephem observer is given degrees as strings (the 2017 version passed float degrees, read as
radians); the Moon phase angle and illumination follow from the geocentric Sun-Moon elongation;
"twilight" is astronomical (Sun centre at -18 deg), not the horizon.
"""

from __future__ import annotations

import ephem
import numpy as np
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, GeocentricTrueEcliptic, SkyCoord, get_body
from astropy.time import Time
from astropy.utils import iers

__all__ = ["APO", "APO_LAT", "APO_LON", "APO_HEIGHT", "mid_exposure", "observing_conditions", "twilight_hours"]

APO_LAT = "32:46:49.30"
APO_LON = "-105:49:13.50"
APO_HEIGHT = 2788.0
APO = EarthLocation.from_geodetic(lon=-(105 + 49 / 60 + 13.50 / 3600) * u.deg, lat=(32 + 46 / 60 + 49.30 / 3600) * u.deg, height=APO_HEIGHT * u.m)

#: ephem dates count days from 1899-12-31 12:00 UT, i.e. MJD 15019.5.
_EPHEM_MJD0 = 15019.5


def mid_exposure(tai_beg: np.ndarray, tai_end: np.ndarray) -> Time:
    """Mid-exposure time from TAI-BEG / TAI-END (TAI seconds since MJD 0).

    Raises
    ------
    ValueError
        If a time is not finite or TAI-END < TAI-BEG.

    Examples
    --------
    >>> mid_exposure(np.array([86400.0 * 55500]), np.array([86400.0 * 55500 + 900])).mjd.round(6).tolist()
    [55500.005208]
    """
    beg = np.asarray(tai_beg, dtype=float)
    end = np.asarray(tai_end, dtype=float)
    if not (np.all(np.isfinite(beg)) and np.all(np.isfinite(end))):
        raise ValueError("TAI-BEG/TAI-END: missing or non-finite exposure times")
    if np.any(end < beg):
        raise ValueError("TAI-END is earlier than TAI-BEG")
    return Time((beg + end) / 2.0 / 86400.0, format="mjd", scale="tai")


def twilight_hours(t_utc_mjd: np.ndarray, horizon_deg: float = -18.0) -> tuple[np.ndarray, np.ndarray]:
    """Hours since the previous evening twilight and until the next morning twilight.

    Parameters
    ----------
    t_utc_mjd : numpy.ndarray
        Times, MJD (UTC).
    horizon_deg : float
        Sun-centre altitude defining twilight (-18 = astronomical).

    Returns
    -------
    since, until : numpy.ndarray
        Hours (positive) from the previous Sun setting through ``horizon_deg`` and to the next
        rising through it (ephem, no refraction, at Apache Point).
    """
    obs = ephem.Observer()
    obs.lat, obs.lon, obs.elevation = APO_LAT, APO_LON, APO_HEIGHT
    obs.pressure = 0.0
    obs.horizon = str(horizon_deg)
    sun = ephem.Sun()
    t = np.atleast_1d(np.asarray(t_utc_mjd, dtype=float))
    uniq, inverse = np.unique(t, return_inverse=True)
    since = np.empty(uniq.size)
    until = np.empty(uniq.size)
    for i, mjd in enumerate(uniq):
        obs.date = ephem.Date(mjd - _EPHEM_MJD0)
        try:
            prev = float(obs.previous_setting(sun, use_center=True)) + _EPHEM_MJD0
            nxt = float(obs.next_rising(sun, use_center=True)) + _EPHEM_MJD0
        except (ephem.AlwaysUpError, ephem.NeverUpError):
            prev, nxt = np.nan, np.nan
        since[i] = (mjd - prev) * 24.0
        until[i] = (nxt - mjd) * 24.0
    return since[inverse], until[inverse]


def _moon_phase(sun, moon):
    """Phase angle (rad, 0 = full) and illuminated fraction from geocentric Sun and Moon."""
    elong = sun.separation(moon, origin_mismatch="ignore").rad
    rs = sun.distance.to_value(u.km)
    rm = moon.distance.to_value(u.km)
    phase = np.arctan2(rs * np.sin(elong), rm - rs * np.cos(elong))
    return phase, (1.0 + np.cos(phase)) / 2.0


def observing_conditions(
    tai_beg: np.ndarray, tai_end: np.ndarray, ra_deg: np.ndarray, dec_deg: np.ndarray
) -> dict[str, np.ndarray]:
    """Moon, Sun, airmass and sky coordinates of each fibre at mid-exposure.

    Parameters
    ----------
    tai_beg, tai_end : numpy.ndarray, shape (n,)
        TAI seconds since MJD 0.
    ra_deg, dec_deg : numpy.ndarray, shape (n,)
        Fibre position (ICRS), degrees.

    Returns
    -------
    dict of column -> numpy.ndarray, shape (n,)
        ``MJD_MID`` (TAI), ``ALT_FIB``, ``AZ_FIB``, ``AIRMASS_FIB`` (sec z; NaN below the horizon),
        ``MOON_ALT``, ``MOON_AZ``, ``MOON_SEP`` (topocentric, deg), ``MOON_DIST`` (km),
        ``MOON_PHASE`` (phase angle, rad, 0 = full), ``MOON_ILL`` (fraction), ``SUN_ALT``,
        ``SUN_AZ``, ``SUN_SEP``, ``SUN_MOON_SEP`` (deg), ``ECL_LON``, ``ECL_LAT``,
        ``HELIO_ECL_LON`` (ecliptic longitude minus the Sun's, wrapped to -180..180),
        ``GAL_L``, ``GAL_B`` (deg), ``MONTH``, ``SEASON`` (0 = Dec-Feb, 1 = Mar-May, ...),
        ``HOURS_SINCE_TWILIGHT``, ``HOURS_UNTIL_TWILIGHT``.

    Raises
    ------
    ValueError
        If times are invalid or positions are not finite.
    """
    ra = np.asarray(ra_deg, dtype=float)
    dec = np.asarray(dec_deg, dtype=float)
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))):
        raise ValueError("fibre RA/DEC: non-finite positions")
    t = mid_exposure(tai_beg, tai_end)
    with iers.conf.set_temp("auto_download", False), iers.conf.set_temp("auto_max_age", None):
        # Sun and Moon once per distinct time, then broadcast to the fibres.
        uniq, inverse = np.unique(t.mjd, return_inverse=True)
        tu = Time(uniq, format="mjd", scale="tai")
        frame_u = AltAz(obstime=tu, location=APO)
        moon_g = get_body("moon", tu, APO)
        sun_g = get_body("sun", tu, APO)
        moon_h = moon_g.transform_to(frame_u)
        sun_h = sun_g.transform_to(frame_u)
        phase, ill = _moon_phase(get_body("sun", tu), get_body("moon", tu))
        sun_ecl = get_body("sun", tu).transform_to(GeocentricTrueEcliptic(equinox=tu))
        moon_dist = moon_g.distance.to_value(u.km)
        frame = AltAz(obstime=t, location=APO)
        fib = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs")
        fib_h = fib.transform_to(frame)
        moon_f = SkyCoord(az=moon_h.az[inverse], alt=moon_h.alt[inverse], frame=frame)
        sun_f = SkyCoord(az=sun_h.az[inverse], alt=sun_h.alt[inverse], frame=frame)
        ecl = fib.transform_to(GeocentricTrueEcliptic(equinox=t))
        gal = fib.galactic
        since, until = twilight_hours(tu.utc.mjd)
    alt = fib_h.alt.deg
    month = np.array([int(s[5:7]) for s in t.utc.isot])
    return {
        "MJD_MID": t.mjd,
        "ALT_FIB": alt,
        "AZ_FIB": fib_h.az.deg,
        "AIRMASS_FIB": np.where(alt > 0, 1.0 / np.sin(np.radians(np.clip(alt, 1e-3, 90))), np.nan),
        "MOON_ALT": moon_h.alt.deg[inverse],
        "MOON_AZ": moon_h.az.deg[inverse],
        "MOON_SEP": fib_h.separation(moon_f).deg,
        "MOON_DIST": moon_dist[inverse],
        "MOON_PHASE": phase[inverse],
        "MOON_ILL": ill[inverse],
        "SUN_ALT": sun_h.alt.deg[inverse],
        "SUN_AZ": sun_h.az.deg[inverse],
        "SUN_SEP": fib_h.separation(sun_f).deg,
        "SUN_MOON_SEP": moon_h.separation(sun_h).deg[inverse],
        "ECL_LON": ecl.lon.deg,
        "ECL_LAT": ecl.lat.deg,
        "HELIO_ECL_LON": (ecl.lon.deg - sun_ecl.lon.deg[inverse] + 180.0) % 360.0 - 180.0,
        "GAL_L": gal.l.deg,
        "GAL_B": gal.b.deg,
        "MONTH": month,
        "SEASON": (month % 12) // 3,
        "HOURS_SINCE_TWILIGHT": since[inverse],
        "HOURS_UNTIL_TWILIGHT": until[inverse],
    }
