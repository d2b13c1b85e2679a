"""Step ``exposure_catalog``: scan the reductions into the almanac-style HDF5 catalog.

Usage::

    python -m sdssflow.catalog.steps.exposure_catalog --boss-dir $BOSS_SPECTRO_REDUX/v5_7_0 \\
        --out results/v1/catalog/exposures.h5 --version-name v1

One writer process builds the whole file under a temporary name and renames it, so a
killed job leaves no catalog behind. Unreadable files are recorded with
``flagged_bad = 1`` and a ``problem``; they do not stop the scan.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import h5py

from sdssflow import __version__
from sdssflow.catalog.scan import scan_apogee_visits, scan_plate_dir, scan_spec_files
from sdssflow.io.catalog import write_apogee_visits, write_night
from sdssflow.io.catalog_model import records_to_frame
from sdssflow.io.products import atomic_path
from sdssflow.io.spplate import plate_dir_number
from sdssflow.steps import StepError, base_parser, run_step

log = logging.getLogger(__name__)


def parse(argv=None):
    parser = base_parser(__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--boss-dir", help="$BOSS_SPECTRO_REDUX/<run2d>: plate directories are scanned")
    source.add_argument("--spec-dir", help="directory of SDSS spec full files (searched recursively)")
    parser.add_argument("--plates", default="", help="comma-separated plates to scan (default: all)")
    parser.add_argument("--apogee-dir", default="", help="$APOGEE_REDUX/<apred>; apVisit headers are added")
    parser.add_argument("--out", required=True, help="output HDF5 catalog")
    return parser.parse_args(argv)


def build_catalog(args) -> tuple:
    """Scan the inputs named by ``args``; return (exposures DataFrame, fibres dict, apogee visits)."""
    fibers = {}
    if args.boss_dir:
        root = Path(args.boss_dir)
        if not root.is_dir():
            raise StepError(f"{root}: BOSS reduction directory not found")
        wanted = {int(p) for p in args.plates.split(",") if p.strip()}
        records = []
        # DR18 field directories are <FIELDID>p (sdss-access @isplate): not all digits
        for plate_dir in sorted(p for p in root.iterdir() if p.is_dir() and plate_dir_number(p) is not None):
            if wanted and plate_dir_number(plate_dir) not in wanted:
                continue
            plate_records, plate_fibers = scan_plate_dir(plate_dir)
            records.extend(plate_records)
            fibers.update(plate_fibers)
    else:
        wanted = {int(p) for p in args.plates.split(",") if p.strip()}
        records = [
            r for r in scan_spec_files(args.spec_dir)
            if not wanted or r.get("flagged_bad") == 1
            or int(r.get("plate") or -1) in wanted or int(r.get("field") or -1) in wanted  # FPS: the field
        ]  # fmt: skip
    exposures = records_to_frame(records)
    visits = scan_apogee_visits(args.apogee_dir) if args.apogee_dir and Path(args.apogee_dir).is_dir() else None
    return exposures, fibers, visits


def main(argv=None):
    args = parse(argv)
    exposures, fibers, visits = build_catalog(args)
    n_bad = int((exposures["flagged_bad"] == 1).sum())
    with atomic_path(args.out) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["SDSSFLOW"] = __version__
            h5.attrs["VERSION"] = args.version_name
            h5.attrs["STEP"] = "exposure_catalog"
            for (obs, mjd), night in exposures.groupby(["observatory", "mjd"]):
                night_fibers = {plate: f for (m, plate), f in fibers.items() if m == mjd}
                write_night(h5, obs, mjd, night.reset_index(drop=True), night_fibers)
            if visits is not None and not visits.empty:
                write_apogee_visits(h5, visits[visits["problem"] == ""])
    log.info(
        "catalog %s: %d exposures (%d flagged bad), %d plug maps, %d apVisits",
        args.out,
        len(exposures),
        n_bad,
        len(fibers),
        0 if visits is None else len(visits),
    )


if __name__ == "__main__":
    sys.exit(run_step(main))
