"""Step ``mega_file``: stack every plate's line table; write all, good and removed tables.

Usage::

    python -m sdssflow.sky.steps.mega_file --tables results/v1/sky/*/lines-*.fits \\
        --out-all results/v1/sky/sky_meta_all.fits --out-good results/v1/sky/sky_meta_good.fits \\
        --out-removed results/v1/sky/sky_meta_removed.fits \\
        [--bad-plates 5745,6138,7258] [--exclude-flags NAME,...] [--bad-quality bad,test] \\
        [--range AIRMASS_FIB:1:2] [--range MOON_SEP:20:] [--line-list sdssflow/data/sky/line_list.csv]

This is the aggregation point of the sky family (every plate feeds one job), the candidate for
Snakemake's ``--batch mega_file=1/N`` when a survey's DAG is too large to evaluate at once.
``mean_mega_file`` runs the same code on the mean tables.

Outputs: three one-table FITS files (``META``): every row; the rows passing the cuts of
:func:`sdssflow.sky.mega.apply_cuts`; the removed rows with a ``REASON`` column.
"""

from __future__ import annotations

import logging
import sys

import numpy as np

from sdssflow.io.sky import read_table, write_table
from sdssflow.sky.lines import DEFAULT_LINE_LIST, read_line_list
from sdssflow.sky.mega import apply_cuts, stack_tables
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main", "parse_range"]

log = logging.getLogger(__name__)


def parse(argv=None, description=None):
    p = base_parser(description or __doc__.splitlines()[0])
    p.add_argument("--tables", nargs="+", required=True, help="per-plate line tables")
    p.add_argument("--out-all", required=True)
    p.add_argument("--out-good", required=True)
    p.add_argument("--out-removed", required=True)
    p.add_argument("--bad-plates", default="", help="comma-separated plates to remove")
    p.add_argument("--exclude-flags", default="", help="comma-separated flag names (FLAGS column) to remove")
    p.add_argument("--bad-quality", default="", help="comma-separated header QUALITY values to remove")
    p.add_argument("--range", action="append", default=[], help="COLUMN:MIN:MAX (empty = open end); repeatable")
    p.add_argument("--line-list", default=str(DEFAULT_LINE_LIST), help="line list (failed-line-sum cut)")
    p.add_argument("--step-name", default="mega_file", help=argparse_suppress())
    return p.parse_args(argv)


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def parse_range(text: str) -> tuple[str, tuple[float | None, float | None]]:
    """``'COL:MIN:MAX'`` -> (COL, (min, max)); empty ends are None.

    Raises
    ------
    ValueError
        If the text is not COLUMN:MIN:MAX with numbers.

    Examples
    --------
    >>> parse_range("MOON_SEP:20:")
    ('MOON_SEP', (20.0, None))
    """
    parts = text.split(":")
    if len(parts) != 3 or not parts[0]:
        raise ValueError(f"--range {text!r}: expected COLUMN:MIN:MAX")
    try:
        lo = float(parts[1]) if parts[1] else None
        hi = float(parts[2]) if parts[2] else None
    except ValueError as err:
        raise ValueError(f"--range {text!r}: MIN and MAX must be numbers") from err
    return parts[0], (lo, hi)


def main(argv=None) -> int:
    args = parse(argv)
    tables = [read_table(p) for p in args.tables]
    stacked = stack_tables(tables)
    if len(stacked) == 0:
        raise StepError("mega file: the input tables have no rows")
    entries = read_line_list(args.line_list)
    lines = {arm: [e.name for e in entries if e.kind == "line" and e.camera == arm] for arm in ("b", "r")}
    good, removed = apply_cuts(
        stacked,
        bad_plates=[int(p) for p in args.bad_plates.split(",") if p],
        exclude_flags=[f for f in args.exclude_flags.split(",") if f],
        bad_quality=[q for q in args.bad_quality.split(",") if q],
        ranges=dict(parse_range(r) for r in args.range),
        line_columns=lines,
    )
    log.info(
        "%d rows from %d tables (%d plates): %d good, %d removed",
        len(stacked), len(tables), len(np.unique(stacked["PLATE"])), len(good), len(removed),
    )
    for table, path in ((stacked, args.out_all), (good, args.out_good), (removed, args.out_removed)):
        write_table(table, path, version=args.version_name, inputs=args.tables, step=args.step_name)
    return 0


if __name__ == "__main__":
    sys.exit(run_step(main))
