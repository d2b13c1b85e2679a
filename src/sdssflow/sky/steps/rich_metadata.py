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

from sdssflow.io.sky import read_table, write_table
from sdssflow.sky import tables
from sdssflow.sky.metadata import rich_metadata_by_site
from sdssflow.steps import base_parser, run_step
from sdssflow.time_scales import utc_mjd

__all__ = ["parse", "main"]

log = logging.getLogger(__name__)


def parse(argv=None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--skyflux", required=True, help="skyflux-{plate}.fits")
    p.add_argument("--photometric-table", help="CSV of windows: start_tai,end_tai,photometric (optional)")
    p.add_argument("--solar-flux-table", help="newer Penticton flux table (fluxtable.txt format, optional)")
    p.add_argument("--out", required=True, help="output rich-{plate}.fits")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    meta = read_table(args.skyflux)
    if len(meta) == 0:  # an empty plate (its STATUS says why): an empty table, same columns
        log.warning("%s: no sky spectra; writing an empty table", args.skyflux)
    phot = tables.read_csv(args.photometric_table) if args.photometric_table else None
    solar = tables.f107_table(args.solar_flux_table, days=_utc_days(meta))
    rich = rich_metadata_by_site(meta, phot, solar)
    missing = np.isnan(rich["SOLARFLUX"])
    if missing.any():
        mjds = sorted({int(m) for m in np.floor(np.asarray(rich["MJD_MID"])[missing])})
        log.warning(
            "SOLARFLUX = NaN for %d of %d rows: MJD %s past the F10.7 table (MJD %d-%d); give a newer "
            "Penticton fluxtable.txt as sky.solar_flux_table",
            int(missing.sum()), len(rich), ", ".join(map(str, mjds)), int(solar["span"][0]), int(solar["span"][1]),
        )
    write_table(rich, args.out, version=args.version_name, inputs=[args.skyflux], step="rich_metadata")
    return 0


def _utc_days(meta) -> tuple[float, float] | None:
    """First and last UTC MJD of the mid-exposure times (None for an empty table)."""
    if len(meta) == 0:
        return None
    mid = utc_mjd(
        (np.asarray(meta["TAI_BEG"], float) + np.asarray(meta["TAI_END"], float)) / 2.0 / 86400.0
    )
    return float(np.nanmin(mid)), float(np.nanmax(mid))


if __name__ == "__main__":
    sys.exit(run_step(main))
