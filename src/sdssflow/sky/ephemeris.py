"""Observing conditions of each sky spectrum at mid-exposure, for its fibre position.

Fibre and Sun geometry are computed with astropy (topocentric AltAz, no refraction); the Moon
with the project's one Moon engine, :mod:`sdssflow.moon` (ephem: the same numbers as the
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
"""

from __future__ import annotations

import ephem
import numpy as np
from astropy import units as u
from astropy.coordinates import (
    AltAz,
    GeocentricTrueEcliptic,
    SkyCoord,
    angular_separation,
    get_body,
)
from astropy.time import Time
from astropy.utils import iers

from sdssflow.earth_orientation import earth_orientation_for
from sdssflow.moon import EPHEM_MJD0, moon_table
from sdssflow.sites import location, site

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
        ``SUN_AZ``, ``SUN_SEP``, ``SUN_MOON_SEP`` (deg), ``ECL_LON``, ``ECL_LAT``,
        ``HELIO_ECL_LON`` (ecliptic longitude minus the Sun's, wrapped to -180..180),
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
    loc = location(observatory)
    n = ra.size
    # earth_orientation_for: the bundled IERS-B values read in ~30 ms instead of astropy's ~1 s
    # parse of IERS-A + B (the same values for SDSS-era times)
    with (
        iers.conf.set_temp("auto_download", False),
        iers.conf.set_temp("auto_max_age", None),
        earth_orientation_for(t.mjd),
    ):
        # Everything that depends on the time alone once per distinct time (an exposure's
        # fibres share it): the Sun and Moon, and, for the fibres, the frames of that time.
        # A transform with one obstime for the fibres of an exposure instead of one per fibre
        # computes erfa's precession-nutation (pnm06a, nut06a) and Earth ephemeris (epv00)
        # once, not 480 times; each fibre's numbers are the same (element-wise formulas).
        uniq, first, inverse = np.unique(t.mjd, return_index=True, return_inverse=True)
        tu = Time(uniq, format="mjd", scale="tai")
        frame_u = AltAz(obstime=tu, location=loc)
        moon = moon_table(uniq, observatory)
        sun_h = get_body("sun", tu, loc).transform_to(frame_u)
        sun_ecl = get_body("sun", tu).transform_to(GeocentricTrueEcliptic(equinox=tu))
        fib = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs")
        alt, az, ecl_lon, ecl_lat = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        for k, row in enumerate(first):
            rows = np.flatnonzero(inverse == k)
            # the first such fibre's Time (its two-double jd1/jd2, not one rebuilt from the
            # MJD float): the fibres of a frame share TAI-BEG/END, hence that Time
            t_k = t[row]
            fib_h = fib[rows].transform_to(AltAz(obstime=t_k, location=loc))
            ecl = fib[rows].transform_to(GeocentricTrueEcliptic(equinox=t_k))
            alt[rows], az[rows] = fib_h.alt.deg, fib_h.az.deg
            ecl_lon[rows], ecl_lat[rows] = ecl.lon.deg, ecl.lat.deg
        gal = fib.galactic
        since, until = twilight_hours(tu.utc.mjd, observatory=observatory)
        month_u = np.array([int(s[5:7]) for s in t[first].utc.isot])
    moon_sep = _separation_deg(az, alt, moon["MOON_AZ"][inverse], moon["MOON_ALT"][inverse])
    sun_az, sun_alt = sun_h.az.deg, sun_h.alt.deg
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
        "ECL_LON": ecl_lon,
        "ECL_LAT": ecl_lat,
        "HELIO_ECL_LON": (ecl_lon - sun_ecl.lon.deg[inverse] + 180.0) % 360.0 - 180.0,
        "GAL_L": gal.l.deg,
        "GAL_B": gal.b.deg,
        "MONTH": month,
        "SEASON": (month % 12) // 3,
        "HOURS_SINCE_TWILIGHT": since[inverse],
        "HOURS_UNTIL_TWILIGHT": until[inverse],
    }


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
    sep = angular_separation(lon1_deg * u.deg, lat1_deg * u.deg, lon2_deg * u.deg, lat2_deg * u.deg)
    return sep.to_value(u.deg)
