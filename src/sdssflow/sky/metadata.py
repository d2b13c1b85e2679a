"""Rich metadata of sky spectra: observing conditions, zodiacal light, starlight, F10.7, photometricity.

The science of the ``rich_metadata`` step (:mod:`sdssflow.sky.steps.rich_metadata`, whose
docstring lists the columns), also used by the sky model's predictions
(:mod:`sdssflow.sky.model_predict`).
"""

from __future__ import annotations

import numpy as np
from astropy import units as u
from astropy.table import Table

from sdssflow.sky import tables
from sdssflow.sky.ephemeris import observing_conditions
from sdssflow.time_scales import utc_mjd

__all__ = ["rich_metadata", "rich_metadata_by_site", "observatories"]


def rich_metadata(meta: Table, photometric=None, solar_flux=None, observatory: str = "apo") -> Table:
    """Raw metadata plus the rich columns (see the module docstring).

    Parameters
    ----------
    meta : astropy.table.Table
        Raw metadata (TAI_BEG, TAI_END, FIBER_RA, FIBER_DEC, RA, DEC, MJD).
    photometric : mapping of column -> array, optional
        Photometric windows (start_tai, end_tai, photometric).
    solar_flux : dict, optional
        :func:`sdssflow.sky.tables.f107_table` output (default: the package table).
    observatory : str
        ``apo`` or ``lco`` (:mod:`sdssflow.sites`): the site of the alt/az, airmass and twilight.

    Returns
    -------
    astropy.table.Table
        A new table.

    Raises
    ------
    ValueError
        If exposure times are missing.
    """
    ra = np.where(np.isfinite(meta["FIBER_RA"]), meta["FIBER_RA"], meta["RA"])
    dec = np.where(np.isfinite(meta["FIBER_DEC"]), meta["FIBER_DEC"], meta["DEC"])
    tai_beg, tai_end = np.asarray(meta["TAI_BEG"]), np.asarray(meta["TAI_END"])
    cond = observing_conditions(tai_beg, tai_end, ra, dec, observatory)
    solar_flux = tables.f107_table() if solar_flux is None else solar_flux
    mjd_utc = utc_mjd(cond["MJD_MID"])
    rich = {
        **cond,
        "ZODI": tables.zodi(cond["ECL_LAT"]),
        "ISL": tables.isl(cond["GAL_L"], cond["GAL_B"]),
        "SOLARFLUX": tables.f107(mjd_utc, solar_flux),
        "SOLARFLUX_81": tables.f107_mean81(mjd_utc, solar_flux),
        "PHOTO": tables.photometric_flag(tai_beg, tai_end, photometric),
    }
    # one Table made from the raw columns and the new ones: astropy's per-column insertion and
    # unit parsing would cost more than the computation
    raw = {name: meta[name].data.copy() for name in meta.colnames}
    units = {name: meta[name].unit for name in meta.colnames if meta[name].unit is not None}
    return Table({**raw, **rich}, units={**units, **RICH_UNITS}, copy=False)


#: Units of the rich columns (unit objects, not strings: a string is parsed on every use).
RICH_UNITS = {
    **dict.fromkeys(("ALT_FIB", "AZ_FIB", "MOON_ALT", "MOON_AZ", "MOON_SEP", "SUN_ALT", "SUN_AZ", "SUN_SEP",
                     "SUN_MOON_SEP", "ECL_LON", "ECL_LAT", "HELIO_ECL_LON", "GAL_L", "GAL_B"), u.deg),  # fmt: skip
    "MOON_DIST": u.km,
    "MOON_PHASE": u.rad,
    "MJD_MID": u.d,
    "HOURS_SINCE_TWILIGHT": u.h,
    "HOURS_UNTIL_TWILIGHT": u.h,
    **dict.fromkeys(("SOLARFLUX", "SOLARFLUX_81"), u.CompositeUnit(1e-22, [u.W, u.m, u.Hz], [1, -2, -1])),
}


def observatories(meta: Table) -> np.ndarray:
    """Site name (``apo`` / ``lco``) of every row: the OBSERVATORY column, APO when absent or ''.

    Parameters
    ----------
    meta : astropy.table.Table
        Raw sky metadata (:mod:`sdssflow.sky.extract`).

    Returns
    -------
    numpy.ndarray of str, shape (len(meta),)
    """
    if "OBSERVATORY" not in meta.colnames:
        return np.full(len(meta), "apo")
    names = np.char.lower(np.char.strip(np.asarray(meta["OBSERVATORY"]).astype(str)))
    return np.where(names == "", "apo", names)


def rich_metadata_by_site(meta: Table, photometric=None, solar_flux=None) -> Table:
    """:func:`rich_metadata` with each row's own observatory (:func:`observatories`), row order kept."""
    sites = observatories(meta)
    names = sorted(set(sites)) or ["apo"]
    if len(names) == 1:
        return rich_metadata(meta, photometric, solar_flux, names[0])
    from astropy.table import vstack

    order = np.concatenate([np.flatnonzero(sites == name) for name in names])
    parts = [rich_metadata(meta[sites == name], photometric, solar_flux, name) for name in names]
    return vstack(parts, metadata_conflicts="silent")[np.argsort(order)]
