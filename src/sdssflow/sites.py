"""The observatories of SDSS: one site table for every module (catalog, sky ephemeris, mwm).

Published geodetic positions (WGS84 latitude, east longitude, height above the ellipsoid):

* ``apo``: the SDSS 2.5 m telescope at Apache Point, 32d46m49.30s N, 105d49m13.50s W, 2788 m
  (Gunn et al. 2006, AJ 131, 2332, section 2).
* ``lco``: the du Pont 2.5 m telescope at Las Campanas, 29d00m57.5s S, 70d41m31.5s W, 2380 m
  (the position the SDSS-V BOSS and APOGEE-South reductions use).

Examples
--------
>>> float(round(location("apo").lat.deg, 6)), float(round(location("lco").lon.deg, 6))
(32.780361, -70.692083)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from astropy import units as u
from astropy.coordinates import EarthLocation

__all__ = ["Site", "SITES", "location", "site"]


@dataclass(frozen=True)
class Site:
    """One observatory.

    Attributes
    ----------
    name : str
        ``apo`` or ``lco`` (the catalog's ``observatory`` values).
    lat_deg, lon_deg : float
        Geodetic latitude (north positive) and longitude (east positive), degrees.
    height_m : float
        Height above the WGS84 ellipsoid, m.
    reference : str
        Where the position is published.
    """

    name: str
    lat_deg: float
    lon_deg: float
    height_m: float
    reference: str

    @property
    def lat_dms(self) -> str:
        """Latitude as ``d:m:s`` (the string form ephem wants)."""
        return _dms(self.lat_deg)

    @property
    def lon_dms(self) -> str:
        """Longitude as ``d:m:s``."""
        return _dms(self.lon_deg)


def _deg(d: int, m: int, s: float, sign: int) -> float:
    return sign * (d + m / 60.0 + s / 3600.0)


def _dms(value: float) -> str:
    sign = "-" if value < 0 else ""
    a = abs(value) * 3600.0
    d, rem = divmod(a, 3600.0)
    m, s = divmod(rem, 60.0)
    return f"{sign}{int(d)}:{int(m):02d}:{s:05.2f}"


#: The site table (the only place the coordinates are written).
SITES: dict[str, Site] = {
    "apo": Site("apo", _deg(32, 46, 49.30, 1), _deg(105, 49, 13.50, -1), 2788.0, "Gunn et al. 2006, AJ 131, 2332"),
    "lco": Site("lco", _deg(29, 0, 57.5, -1), _deg(70, 41, 31.5, -1), 2380.0, "du Pont 2.5 m, SDSS-V reductions"),
}


def site(name: str) -> Site:
    """The :class:`Site` of ``apo`` or ``lco`` (case-insensitive; ``apo25m``/``lco25m`` too).

    Raises
    ------
    KeyError
        If the name is neither.
    """
    key = str(name).strip().lower()[:3]
    if key not in SITES:
        raise KeyError(f"unknown observatory {name!r}; known: {', '.join(SITES)}")
    return SITES[key]


@cache
def location(name: str = "apo") -> EarthLocation:
    """The astropy EarthLocation of a site (geodetic, WGS84)."""
    s = site(name)
    return EarthLocation.from_geodetic(lon=s.lon_deg * u.deg, lat=s.lat_deg * u.deg, height=s.height_m * u.m)
