"""Observing conditions of each sky spectrum at mid-exposure, for its fibre position.

Fibre and Sun geometry are computed with erfa, the library under astropy's frames, in the
models astropy's AltAz (topocentric, no refraction), GCRS and GeocentricTrueEcliptic frames use
(:func:`_erfa_positions`; fibres within 1e-8 arcsec of astropy's transforms, the Sun within
0.1 arcsec), with astropy's time scales and IERS table; galactic coordinates are erfa's
ICRS-based ``icrs2g`` (Hipparcos definition; astropy's FK5-based Galactic frame differs by
0.03 arcsec); the Moon with the project's one Moon engine, :mod:`sdssflow.moon` (ephem: the same numbers as the
exposure catalog's "dark" selection); twilight times with ephem. The site comes from
:mod:`sdssflow.sites` (the SDSS 2.5 m at Apache Point unless told otherwise). Every azimuth
here is North through East (the frame header's TCC azimuth, South = 0, is kept apart as
``AZ_TCC``).

Fixes of the original (SkyModelling ``get_rich_meta_data.py``): every sky-position quantity is
per fibre (the original used the plate centre); no IERS-A download at import (astropy's bundled
IERS-B tables suffice for SDSS-era dates: ``auto_download`` is turned off inside the function,
and within the bundled IERS-B range :mod:`sdssflow.earth_orientation` gives astropy that table
read in milliseconds);
the ephem observer is given degrees as strings (the 2017 version passed float degrees, read as
radians); the Moon phase angle and illumination follow from the geocentric Sun-Moon elongation;
"twilight" is astronomical (Sun centre at -18 deg), not the horizon, and the hours since/until
twilight belong to the night of the exposure (:func:`twilight_hours`: no wrap to 24 h).

Fixed here later: the ecliptic coordinates are apparent at the exposure's time (before,
astropy's GeocentricTrueEcliptic frame was given the equinox of the exposure but its default
``obstime``, J2000.0, so the annual aberration was the Earth's of 2000 January 1: up to ~40
arcsec off in ``ECL_LON``, ``ECL_LAT`` and ``HELIO_ECL_LON``).
"""

from __future__ import annotations

import math

import ephem
import erfa
import numpy as np
from astropy import units as u
from astropy.coordinates import angular_separation
from astropy.time import Time
from astropy.utils import iers

from sdssflow.earth_orientation import earth_orientation_for
from sdssflow.moon import EPHEM_MJD0, moon_table
from sdssflow.sites import site
from sdssflow.time_scales import tai_to_tt, tai_to_utc

__all__ = ["mid_exposure", "night_twilights", "observing_conditions", "twilight_hours"]


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


def night_twilights(
    t_utc_mjd: np.ndarray, horizon_deg: float = -18.0, observatory: str = "apo"
) -> tuple[np.ndarray, np.ndarray]:
    """End of the evening twilight and start of the morning twilight of the night holding each time.

    The night of a time is the one that begins at the local (mean solar) noon before it and
    ends at the next local noon; its evening twilight ends when the Sun's centre sets through
    ``horizon_deg`` after that noon, and its morning twilight starts when it next rises
    through it.

    Parameters
    ----------
    t_utc_mjd : numpy.ndarray
        Times, MJD (UTC).
    horizon_deg : float
        Sun-centre altitude defining twilight (-18 = astronomical).
    observatory : str
        ``apo`` or ``lco`` (:mod:`sdssflow.sites`).

    Returns
    -------
    evening, morning : numpy.ndarray
        MJD (UTC); NaN where the Sun does not cross ``horizon_deg`` that night (or for a
        non-finite time). Computed with ephem, no refraction.
    """
    s = site(observatory)
    obs = ephem.Observer()
    obs.lat, obs.lon, obs.elevation = s.lat_dms, s.lon_dms, s.height_m
    obs.pressure = 0.0
    obs.horizon = str(horizon_deg)
    sun = ephem.Sun()
    t = np.atleast_1d(np.asarray(t_utc_mjd, dtype=float))
    # local mean noon before each time: UT noon shifted by the longitude (east positive)
    shift = s.lon_deg / 360.0
    noon = np.floor(t + shift - 0.5) + 0.5 - shift
    uniq, inverse = np.unique(noon, return_inverse=True)
    evening = np.full(uniq.size, np.nan)
    morning = np.full(uniq.size, np.nan)
    for i, n in enumerate(uniq):
        if not np.isfinite(n):
            continue
        obs.date = ephem.Date(n - EPHEM_MJD0)
        try:
            evening[i] = float(obs.next_setting(sun, use_center=True)) + EPHEM_MJD0
            obs.date = ephem.Date(evening[i] - EPHEM_MJD0)
            morning[i] = float(obs.next_rising(sun, use_center=True)) + EPHEM_MJD0
        except (ephem.AlwaysUpError, ephem.NeverUpError):
            evening[i], morning[i] = np.nan, np.nan
        if morning[i] - n > 1.0:  # the crossing belongs to a later night
            evening[i], morning[i] = np.nan, np.nan
    return evening[inverse].reshape(t.shape), morning[inverse].reshape(t.shape)


def twilight_hours(
    t_utc_mjd: np.ndarray, horizon_deg: float = -18.0, observatory: str = "apo"
) -> tuple[np.ndarray, np.ndarray]:
    """Hours since the end of the evening twilight and until the start of the morning twilight.

    Both refer to the night holding the time (:func:`night_twilights`), so they never wrap:
    ``since`` is negative for an exposure taken before the evening twilight ended (the Sun
    still above ``horizon_deg``), ``until`` is negative after the morning twilight began, and
    ``since + until`` is the length of that night's dark time.

    Parameters
    ----------
    t_utc_mjd : numpy.ndarray
        Times, MJD (UTC).
    horizon_deg : float
        Sun-centre altitude defining twilight (-18 = astronomical).
    observatory : str
        ``apo`` or ``lco``.

    Returns
    -------
    since, until : numpy.ndarray
        Hours; NaN where the Sun does not reach ``horizon_deg`` that night.

    Examples
    --------
    >>> since, until = twilight_hours(np.array([55500.25]))  # 2010-11-02 06:00 UT, APO
    >>> bool(0 < since[0] < 12 and 0 < until[0] < 12)
    True
    """
    t = np.asarray(t_utc_mjd, dtype=float)
    evening, morning = night_twilights(t, horizon_deg, observatory)
    return (t - evening) * 24.0, (morning - t) * 24.0


def observing_conditions(
    tai_beg: np.ndarray, tai_end: np.ndarray, ra_deg: np.ndarray, dec_deg: np.ndarray, observatory: str = "apo"
) -> dict[str, np.ndarray]:
    """Moon, Sun, airmass and sky coordinates of each fibre at mid-exposure.

    The fibres' and the Sun's positions are erfa's (:func:`_erfa_positions`): the IAU 2006/2000A
    models astropy's AltAz, GCRS and GeocentricTrueEcliptic frames evaluate, called once per
    distinct time for the whole exposure (astropy's frame machinery costs ~10 ms per transform,
    more than the rest of the step).

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
        ``MOON_ALT``, ``MOON_AZ``, ``MOON_SEP`` (topocentric, deg), ``MOON_DIST`` (geocentric, km),
        ``MOON_PHASE`` (phase angle, rad, 0 = full), ``MOON_ILL`` (fraction), ``SUN_ALT``,
        ``SUN_AZ``, ``SUN_SEP``, ``SUN_MOON_SEP`` (deg), ``ECL_LON``, ``ECL_LAT`` (geocentric
        apparent, true ecliptic and equinox of the time), ``HELIO_ECL_LON`` (ecliptic longitude
        minus the Sun's, wrapped to -180..180),
        ``GAL_L``, ``GAL_B`` (deg), ``MONTH``, ``SEASON`` (0 = Dec-Feb, 1 = Mar-May, ...),
        ``HOURS_SINCE_TWILIGHT``, ``HOURS_UNTIL_TWILIGHT`` (:func:`twilight_hours`, -18 deg).

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
    # Everything that depends on the time alone once per distinct time (the fibres of a frame
    # share TAI-BEG/END)
    uniq, inverse = np.unique(t.mjd, return_inverse=True)
    pos = _erfa_positions(uniq, ra, dec, inverse, observatory)
    moon = moon_table(uniq, observatory)
    gal_l, gal_b = erfa.icrs2g(np.radians(ra), np.radians(dec))
    utc1, utc2 = tai_to_utc(uniq)
    since, until = twilight_hours((utc1 - erfa.DJM0) + utc2, observatory=observatory)
    month_u = erfa.jd2cal(utc1, utc2)[1].astype(np.int64)
    alt, az = pos["ALT_FIB"], pos["AZ_FIB"]
    moon_sep = _separation_deg(az, alt, moon["MOON_AZ"][inverse], moon["MOON_ALT"][inverse])
    sun_az, sun_alt = pos["SUN_AZ"], pos["SUN_ALT"]
    month = month_u[inverse]
    return {
        "MJD_MID": t.mjd,
        "ALT_FIB": alt,
        "AZ_FIB": az,
        "AIRMASS_FIB": np.where(alt > 0, 1.0 / np.sin(np.radians(np.clip(alt, 1e-3, 90))), np.nan),
        "MOON_ALT": moon["MOON_ALT"][inverse],
        "MOON_AZ": moon["MOON_AZ"][inverse],
        "MOON_SEP": moon_sep,
        "MOON_DIST": moon["MOON_DIST"][inverse],
        "MOON_PHASE": moon["MOON_PHASE"][inverse],
        "MOON_ILL": moon["MOON_ILL"][inverse],
        "SUN_ALT": sun_alt[inverse],
        "SUN_AZ": sun_az[inverse],
        "SUN_SEP": _separation_deg(az, alt, sun_az[inverse], sun_alt[inverse]),
        "SUN_MOON_SEP": _separation_deg(moon["MOON_AZ"], moon["MOON_ALT"], sun_az, sun_alt)[inverse],
        "ECL_LON": pos["ECL_LON"],
        "ECL_LAT": pos["ECL_LAT"],
        "HELIO_ECL_LON": (pos["ECL_LON"] - pos["SUN_ECL_LON"][inverse] + 180.0) % 360.0 - 180.0,
        "GAL_L": np.degrees(gal_l),
        "GAL_B": np.degrees(gal_b),
        "MONTH": month,
        "SEASON": (month % 12) // 3,
        "HOURS_SINCE_TWILIGHT": since[inverse],
        "HOURS_UNTIL_TWILIGHT": until[inverse],
    }


def _erfa_positions(
    mjd_tai: np.ndarray,
    ra_deg: np.ndarray,
    dec_deg: np.ndarray,
    inverse: np.ndarray,
    observatory: str,
) -> dict[str, np.ndarray]:
    """Topocentric alt/az and geocentric true-ecliptic coordinates of the fibres and the Sun.

    The chain of astropy's ICRS -> AltAz (no refraction) and ICRS -> GCRS ->
    GeocentricTrueEcliptic transforms, as erfa calls: the observer's astrometry parameters
    from ``apco13`` (UTC, UT1-UTC and polar motion from astropy's IERS table, inside
    :func:`sdssflow.earth_orientation.earth_orientation_for`), the geocentric ones from
    ``apcg13``; ``atciqz`` (light deflection by the Sun, annual and diurnal aberration, bias,
    precession, nutation) and ``atioq`` (Earth rotation, polar motion, horizon); the true
    ecliptic of date is IAU 2006 precession-nutation (``pnm06a``) turned by the true obliquity
    (``obl06`` + nutation in obliquity, ``nut06a``). The Sun's direction is its barycentric
    position (``epv00``) at the light-time retarded epoch seen from the observer (alt/az) or the
    geocentre (ecliptic longitude).

    Parameters
    ----------
    mjd_tai : numpy.ndarray, shape (m,)
        The distinct mid-exposure times, TAI MJD.
    ra_deg, dec_deg : numpy.ndarray, shape (n,)
        Fibre ICRS positions, degrees.
    inverse : numpy.ndarray of int, shape (n,)
        Index into ``times`` of each fibre.
    observatory : str
        ``apo`` or ``lco``.

    Returns
    -------
    dict of str -> numpy.ndarray
        ``ALT_FIB``, ``AZ_FIB``, ``ECL_LON``, ``ECL_LAT`` of shape (n,) and ``SUN_ALT``, ``SUN_AZ``,
        ``SUN_ECL_LON`` of shape (m,), degrees (azimuth North through East, longitudes 0-360).
    """
    lon, lat, height = _geodetic(observatory)
    utc1, utc2 = tai_to_utc(mjd_tai)
    tt1, tt2 = tai_to_tt(mjd_tai)
    with (
        iers.conf.set_temp("auto_download", False),
        iers.conf.set_temp("auto_max_age", None),
        earth_orientation_for(mjd_tai),
    ):
        table = iers.earth_orientation_table.get()
        dut1 = table.ut1_utc(utc1, utc2).to_value(u.s)
        xp, yp = (q.to_value(u.rad) for q in table.pm_xy(utc1, utc2))
    topo, _ = erfa.apco13(utc1, utc2, dut1, lon, lat, height, xp, yp, 0.0, 0.0, 0.0, 0.0)
    geo = erfa.apcg13(tt1, tt2)
    to_ecliptic = _true_ecliptic_matrix(tt1, tt2)
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)

    def observed(rc, dc, astrom):
        ri, di = erfa.atciqz(rc, dc, astrom)
        azimuth, zenith = erfa.atioq(ri, di, astrom)[:2]
        return 90.0 - np.degrees(zenith), np.degrees(azimuth)

    def ecliptic(rc, dc, astrom, matrix):
        apparent = erfa.s2c(*erfa.atciqz(rc, dc, astrom))
        elon, elat = erfa.c2s(erfa.rxp(matrix, apparent))
        return np.degrees(erfa.anp(elon)), np.degrees(elat)

    alt, az = observed(ra, dec, topo[inverse])
    ecl_lon, ecl_lat = ecliptic(ra, dec, geo[inverse], to_ecliptic[inverse])
    heliocentric, barycentric = erfa.epv00(tt1, tt2)
    sun = barycentric["p"] - heliocentric["p"]  # AU, barycentric
    sun_speed = barycentric["v"] - heliocentric["v"]  # AU/d
    sun_alt, sun_az = observed(*_retarded_direction(sun, sun_speed, topo["eb"]), topo)
    sun_ecl_lon, _ = ecliptic(
        *_retarded_direction(sun, sun_speed, barycentric["p"]), geo, to_ecliptic
    )
    return {
        "ALT_FIB": alt, "AZ_FIB": az, "ECL_LON": ecl_lon, "ECL_LAT": ecl_lat,
        "SUN_ALT": sun_alt, "SUN_AZ": sun_az, "SUN_ECL_LON": sun_ecl_lon,
    }  # fmt: skip


#: Light time for one AU, days (IAU 2012 au and SI c, as erfa's ERFA_AULT).
_AU_LIGHT_DAYS = 499.004783836 / 86400.0


def _retarded_direction(body: np.ndarray, body_velocity: np.ndarray, observer: np.ndarray) -> tuple:
    """ICRS (RA, Dec) in radians of a body seen from ``observer``, at the light-time retarded epoch.

    Parameters
    ----------
    body, body_velocity : numpy.ndarray, shape (m, 3)
        Barycentric position (AU) and velocity (AU/d) of the body at the time of observation.
    observer : numpy.ndarray, shape (m, 3)
        Barycentric position of the observer (AU).

    Returns
    -------
    ra, dec : numpy.ndarray, shape (m,)
        Radians. One linear light-time step: the Sun moves ~1e-8 AU in its 8.3 min light
        time, so a second step changes the direction by under 1e-6 arcsec.
    """
    seen = body - observer
    light_days = np.linalg.norm(seen, axis=-1, keepdims=True) * _AU_LIGHT_DAYS
    return erfa.c2s(seen - body_velocity * light_days)


def _true_ecliptic_matrix(tt1: np.ndarray, tt2: np.ndarray) -> np.ndarray:
    """Rotation GCRS -> true ecliptic and equinox of date, shape (m, 3, 3) (astropy's
    GeocentricTrueEcliptic: IAU 2006/2000A bias-precession-nutation, then the true obliquity)."""
    obliquity = erfa.obl06(tt1, tt2) + erfa.nut06a(tt1, tt2)[1]
    return erfa.rxr(
        erfa.rx(obliquity, np.broadcast_to(np.eye(3), (np.size(tt1), 3, 3))), erfa.pnm06a(tt1, tt2)
    )


def _geodetic(observatory: str) -> tuple[float, float, float]:
    """WGS84 east longitude, latitude (rad) and height (m) of a site (:mod:`sdssflow.sites`:
    the geodetic position astropy's AltAz gets back from the site's EarthLocation)."""
    s = site(observatory)
    return math.radians(s.lon_deg), math.radians(s.lat_deg), s.height_m


def _separation_deg(lon1_deg, lat1_deg, lon2_deg, lat2_deg) -> np.ndarray:
    """Angle between two directions of one frame (deg): astropy's Vincenty formula, as
    :meth:`SkyCoord.separation` evaluates it for two coordinates of the same frame.

    Parameters
    ----------
    lon1_deg, lat1_deg, lon2_deg, lat2_deg : numpy.ndarray, shape (n,)
        Longitudes (azimuths) and latitudes (altitudes), degrees.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Degrees.
    """
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(a, dtype=float)) for a in (lon1_deg, lat1_deg, lon2_deg, lat2_deg)
    )
    return np.degrees(angular_separation(lon1, lat1, lon2, lat2))
