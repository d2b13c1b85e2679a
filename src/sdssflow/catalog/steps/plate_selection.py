"""Step ``select_exposures`` (rule): one plate's exposure catalog, then its selections.

One job per plate runs :mod:`sdssflow.catalog.exposure_catalog` on the plate's raw files
(the plate catalog, ``--catalog-out``) and then :mod:`sdssflow.catalog.select_exposures`
on that catalog, or on ``--select-catalog`` (the survey catalog of an older version under
``reuse: exposure_catalog``). Both are the same code as when run alone, in one process:
a survey of 2,500 plates has 2,500 jobs (and Python start-ups) fewer.

Usage::

    python -m sdssflow.catalog.steps.plate_selection --boss-dir $BOSS_SPECTRO_REDUX/v5_7_0 \\
        --plate 4100 --catalog-out results/v1/catalog/plates/4100.h5 \\
        --steps '{"sky": {"selection": "all", "query": "exptime > 0", "exclude": []}}' \\
        --flag-rows "" --out sky=results/v1/selection/sky/selection-sky-4100.csv
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sdssflow.catalog.steps import exposure_catalog, select_exposures
from sdssflow.steps import base_parser, run_step

__all__ = ["parse", "main"]


def parse(argv: Sequence[str] | None = None):
    parser = base_parser(__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--boss-dir", help="$BOSS_SPECTRO_REDUX/<run2d> holding the plate directory")
    source.add_argument("--spec-dir", help="directory of SDSS spec full files (searched recursively)")
    parser.add_argument("--plate", required=True, type=int, help="plate (or field) id")
    parser.add_argument("--catalog-out", required=True, help="the plate's exposure catalog (HDF5) to write")
    parser.add_argument(
        "--select-catalog",
        help="catalog the selections read (default: the plate catalog just written)",
    )
    parser.add_argument(
        "--steps", required=True, help="JSON: step -> {selection, query, exclude: [flag names]}"
    )
    parser.add_argument("--flag-rows", default="", help="this plate's flags.csv rows, without header")
    parser.add_argument(
        "--out", action="append", required=True, metavar="STEP=PATH", help="output CSV of a step"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    shared = ["--version-name", args.version_name] + (["--verbose"] if args.verbose else [])
    source = ["--boss-dir", args.boss_dir] if args.boss_dir else ["--spec-dir", args.spec_dir]
    exposure_catalog.main([*source, "--plates", str(args.plate), "--out", args.catalog_out, *shared])
    outputs = [word for out in args.out for word in ("--out", out)]
    select_exposures.main([
        "--catalog", args.select_catalog or args.catalog_out, "--plate", str(args.plate),
        "--steps", args.steps, f"--flag-rows={args.flag_rows}", *outputs, *shared,
    ])  # fmt: skip


if __name__ == "__main__":
    sys.exit(run_step(main))
