"""Step ``rich_metadata``: observing conditions of every sky spectrum at mid-exposure.

Usage::

    python -m sdssflow.sky.steps.rich_metadata --skyflux results/v1/sky/4100/skyflux-4100.fits \\
        [--photometric-table windows.csv] [--solar-flux-table fluxtable.txt] --out results/v1/sky/4100/rich-4100.fits --version-name v1

Output: one table (``META``), the raw metadata plus, per fibre at mid-exposure
(:func:`sdssflow.sky.ephemeris.observing_conditions`): fibre alt/az and airmass, Moon alt/az,
separation, distance, phase angle and illumination, Sun alt/az and separation, Sun-Moon
separation, ecliptic and galactic coordinates, helio-ecliptic longitude, month and season,
hours since/until astronomical twilight; ``ZODI`` and ``ISL`` from ``sdssflow/data/sky`` tables;
``SOLARFLUX`` (observed noon F10.7 of the UT day, sfu, Penticton record from 1998-07 in
``sdssflow/data/sky/f107_daily.csv``, extended by ``--solar-flux-table``; NaN past the table, with one
warning listing the MJDs) and ``SOLARFLUX_81`` (its 81-day centred mean, sfu); ``AZ_TCC``
(the frame header's telescope azimuth in the TCC convention, South = 0, East = 90, kept as
read) beside ``AZ_FIB`` (North through East, the one convention of the computed azimuths);
``PHOTO`` (1/0 from a windows table,
0.5 = unknown). The site of every row is its frame's observatory (``OBSERVATORY``, the header's
OBSERVAT: APO or LCO; APO when absent, as in plate-era frames).
"""

from __future__ import annotations

import logging
import sys

import numpy as np
from astropy.table import Table

from sdssflow.io.sky import read_table, write_table
from sdssflow.sky import tables
from sdssflow.sky.ephemeris import observing_conditions
from sdssflow.steps import base_parser, run_step

__all__ = ["parse", "main", "rich_metadata", "rich_metadata_by_site", "observatories"]

log = logging.getLogger(__name__)


def _utc_mjd(mjd_tai: np.ndarray) -> np.ndarray:
    """UTC MJDs of TAI MJDs (TAI - UTC = 32-37 s in the SDSS era; astropy's leap seconds)."""
    from astropy.time import Time

    return Time(mjd_tai, format="mjd", scale="tai").utc.mjd


def parse(argv=None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--skyflux", required=True, help="skyflux-{plate}.fits")
    p.add_argument("--photometric-table", help="CSV of windows: start_tai,end_tai,photometric (optional)")
    p.add_argument("--solar-flux-table", help="newer Penticton flux table (fluxtable.txt format, optional)")
    p.add_argument("--out", required=True, help="output rich-{plate}.fits")
    return p.parse_args(argv)


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


def main(argv=None) -> int:
    args = parse(argv)
    meta = read_table(args.skyflux)
    if len(meta) == 0:  # an empty plate (its STATUS says why): an empty table, same columns
        log.warning("%s: no sky spectra; writing an empty table", args.skyflux)
    phot = tables.read_csv(args.photometric_table) if args.photometric_table else None
    solar = tables.f107_table(args.solar_flux_table)
    rich = rich_metadata_by_site(meta, phot, solar)
    missing = np.isnan(rich["SOLARFLUX"])
    if missing.any():
        mjds = sorted({int(m) for m in np.floor(np.asarray(rich["MJD_MID"])[missing])})
        log.warning(
            "SOLARFLUX = NaN for %d of %d rows: MJD %s past the F10.7 table (MJD %d-%d); give a newer "
            "Penticton fluxtable.txt as sky.solar_flux_table",
            int(missing.sum()), len(rich), ", ".join(map(str, mjds)), int(solar["mjd"][0]), int(solar["mjd"][-1]),
        )
    write_table(rich, args.out, version=args.version_name, inputs=[args.skyflux], step="rich_metadata")
    return 0


if __name__ == "__main__":
    sys.exit(run_step(main))
