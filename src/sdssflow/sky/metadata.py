"""Rich metadata of sky spectra: observing conditions, zodiacal light, starlight, F10.7, photometricity.

The science of the ``rich_metadata`` step (:mod:`sdssflow.sky.steps.rich_metadata`, whose
docstring lists the columns), also used by the sky model's predictions
(:mod:`sdssflow.sky.model_predict`).
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from sdssflow.sky import tables
from sdssflow.sky.ephemeris import observing_conditions

__all__ = ["rich_metadata", "rich_metadata_by_site", "observatories"]


def _utc_mjd(mjd_tai: np.ndarray) -> np.ndarray:
    """UTC MJDs of TAI MJDs (TAI - UTC = 32-37 s in the SDSS era; astropy's leap seconds)."""
    from astropy.time import Time

    return Time(mjd_tai, format="mjd", scale="tai").utc.mjd


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
    out = Table(meta, copy=True)
    ra = np.where(np.isfinite(out["FIBER_RA"]), out["FIBER_RA"], out["RA"])
    dec = np.where(np.isfinite(out["FIBER_DEC"]), out["FIBER_DEC"], out["DEC"])
    cond = observing_conditions(np.asarray(out["TAI_BEG"]), np.asarray(out["TAI_END"]), ra, dec, observatory)
    for k, v in cond.items():
        out[k] = v
    out["ZODI"] = tables.zodi(cond["ECL_LAT"])
    out["ISL"] = tables.isl(cond["GAL_L"], cond["GAL_B"])
    solar_flux = tables.f107_table() if solar_flux is None else solar_flux
    mjd_utc = _utc_mjd(np.asarray(out["MJD_MID"]))
    out["SOLARFLUX"] = tables.f107(mjd_utc, solar_flux)
    out["SOLARFLUX_81"] = tables.f107_mean81(mjd_utc, solar_flux)
    out["SOLARFLUX"].unit = "1e-22 W / (m2 Hz)"
    out["SOLARFLUX_81"].unit = "1e-22 W / (m2 Hz)"
    out["PHOTO"] = tables.photometric_flag(np.asarray(out["TAI_BEG"]), np.asarray(out["TAI_END"]), photometric)
    for name in ("ALT_FIB", "AZ_FIB", "MOON_ALT", "MOON_AZ", "MOON_SEP", "SUN_ALT", "SUN_AZ", "SUN_SEP",
                 "SUN_MOON_SEP", "ECL_LON", "ECL_LAT", "HELIO_ECL_LON", "GAL_L", "GAL_B"):
        out[name].unit = "deg"
    out["MOON_DIST"].unit = "km"
    out["MOON_PHASE"].unit = "rad"
    out["MJD_MID"].unit = "d"
    out["HOURS_SINCE_TWILIGHT"].unit = "h"
    out["HOURS_UNTIL_TWILIGHT"].unit = "h"
    return out


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
