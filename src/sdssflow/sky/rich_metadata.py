"""Step ``rich_metadata``: observing conditions of every sky spectrum at mid-exposure.

Usage::

    python -m sdssflow.sky.rich_metadata --skyflux results/v1/sky/4100/skyflux-4100.fits \\
        [--photometric-table windows.csv] --out results/v1/sky/4100/rich-4100.fits --version-name v1

Output: one table (``META``), the raw metadata plus, per fibre at mid-exposure
(:func:`sdssflow.sky.ephemeris.observing_conditions`): fibre alt/az and airmass, Moon alt/az,
separation, distance, phase angle and illumination, Sun alt/az and separation, Sun-Moon
separation, ecliptic and galactic coordinates, helio-ecliptic longitude, month and season,
hours since/until astronomical twilight; ``ZODI`` and ``ISL`` from ``data/sky`` tables;
``SOLARFLUX`` (daily F10.7, sfu; NaN outside the table); ``PHOTO`` (1/0 from a windows table,
0.5 = unknown).
"""

from __future__ import annotations

import logging
import sys

import numpy as np
from astropy.table import Table

from sdssflow.io.sky import read_table, write_table
from sdssflow.sky import tables
from sdssflow.sky.ephemeris import observing_conditions
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main", "rich_metadata"]

log = logging.getLogger(__name__)


def parse(argv=None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--skyflux", required=True, help="skyflux-{plate}.fits")
    p.add_argument("--photometric-table", help="CSV of windows: start_tai,end_tai,photometric (optional)")
    p.add_argument("--out", required=True, help="output rich-{plate}.fits")
    return p.parse_args(argv)


def rich_metadata(meta: Table, photometric=None) -> Table:
    """Raw metadata plus the rich columns (see the module docstring).

    Parameters
    ----------
    meta : astropy.table.Table
        Raw metadata (TAI_BEG, TAI_END, FIBER_RA, FIBER_DEC, RA, DEC, MJD).
    photometric : mapping of column -> array, optional
        Photometric windows (start_tai, end_tai, photometric).

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
    cond = observing_conditions(np.asarray(out["TAI_BEG"]), np.asarray(out["TAI_END"]), ra, dec)
    for k, v in cond.items():
        out[k] = v
    out["ZODI"] = tables.zodi(cond["ECL_LAT"])
    out["ISL"] = tables.isl(cond["GAL_L"], cond["GAL_B"])
    out["SOLARFLUX"] = tables.f107(np.asarray(out["MJD_MID"]) - 0.0)
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


def main(argv=None) -> int:
    args = parse(argv)
    meta = read_table(args.skyflux)
    if len(meta) == 0:
        raise StepError(f"{args.skyflux}: no sky spectra")
    phot = tables.read_csv(args.photometric_table) if args.photometric_table else None
    rich = rich_metadata(meta, phot)
    nsf = int(np.isnan(rich["SOLARFLUX"]).sum())
    if nsf:
        log.warning("%d of %d rows have no F10.7 in data/sky/f107_daily.csv (SOLARFLUX = NaN)", nsf, len(rich))
    write_table(rich, args.out, version=args.version_name, inputs=[args.skyflux], step="rich_metadata")
    return 0


if __name__ == "__main__":
    sys.exit(run_step(main))
