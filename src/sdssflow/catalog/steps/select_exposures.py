"""Step ``select_exposures``: the selected, flag-filtered exposures of one plate, per step.

Usage::

    python -m sdssflow.catalog.steps.select_exposures --catalog results/v1/catalog/exposures.h5 \\
        --plate 4100 --steps '{"sky": {"selection": "all", "query": "exptime > 0",
        "exclude": ["CLOUDY"]}}' --flag-rows "<csv rows>" \\
        --out sky=results/v1/selection/sky/selection-sky-4100.csv

One job per plate writes the table of every step (sky, fluxcal, mwm), reading the catalog
once. The flag rows and settings arrive as options (rule params), so Snakemake re-runs
exactly the plates whose flags or selections changed. Exposures the catalog marked
``flagged_bad`` are always dropped.
"""

from __future__ import annotations

import io
import json
import logging
import sys

import pandas as pd

from sdssflow.catalog.query import QueryError, evaluate_query, parse_query
from sdssflow.config import ConfigError, check_query
from sdssflow.flags import FLAG_COLUMNS
from sdssflow.flags_apply import apply_flags
from sdssflow.io.catalog import read_exposures
from sdssflow.io.products import atomic_path
from sdssflow.steps import base_parser, run_step

__all__ = ["SELECTION_COLUMNS", "select_plate", "main"]

log = logging.getLogger(__name__)

#: Leading columns of a selection table (the rest of the catalog columns follow).
SELECTION_COLUMNS = [
    "observatory",
    "mjd",
    "plate",
    "exposure",
    "exptime",
    "airmass",
    "ra",
    "dec",
    "tai_beg",
    "tai_end",
    "cameras",
    "flags",
    "excluded_cameras",
]


def parse(argv=None):
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--catalog", required=True, help="exposure catalog (HDF5)")
    parser.add_argument("--plate", required=True, type=int, help="plate id")
    parser.add_argument(
        "--steps", required=True, help="JSON: step -> {selection, query, exclude: [flag names]}"
    )
    parser.add_argument("--flag-rows", default="", help="this plate's flags.csv rows, without header")
    parser.add_argument(
        "--out", action="append", required=True, metavar="STEP=PATH", help="output CSV of a step"
    )
    return parser.parse_args(argv)


def select_plate(
    exposures: pd.DataFrame, plate: int, query: str, flag_rows: pd.DataFrame, exclude: list[str]
) -> pd.DataFrame:
    """BOSS science exposures of one plate passing ``query`` and not excluded by flags.

    Parameters
    ----------
    exposures : pandas.DataFrame
        The exposure catalog (:func:`sdssflow.io.catalog.read_exposures`).
    plate : int
        Plate id.
    query : str
        Selection query on the catalog columns (grammar of :mod:`sdssflow.catalog.query`;
        checked with ``ast`` and evaluated with numpy, never as code).
    flag_rows : pandas.DataFrame
        Flag assignments of this plate (columns of ``flags.csv``).
    exclude : list of str
        Flag names that exclude.

    Returns
    -------
    pandas.DataFrame
        :data:`SELECTION_COLUMNS` first, then the other catalog columns.
    """
    # the plate wildcard is the FPS field in the SDSS-V era (no PLATEID there)
    of_plate = (exposures["plate"] == int(plate)) | (exposures["field"] == int(plate))
    sub = exposures[of_plate & (exposures["instrument"] == "boss")]
    bad = sub["flagged_bad"] == 1
    if bad.any():
        log.warning("plate %s: %d exposure(s) dropped as unreadable: %s", plate, int(bad.sum()), "; ".join(sub.loc[bad, "problem"]))
    sub = sub[~bad & sub["image_type"].isin(["science", ""])]
    try:
        chosen = sub[evaluate_query(parse_query(query, sub), sub)]
    except QueryError as err:
        raise ConfigError(f"selection query {query!r}: {err}") from None
    kept = apply_flags(chosen.reset_index(drop=True), flag_rows, exclude)
    log.info("plate %s: %d of %d exposures selected", plate, len(kept), len(sub))
    rest = [c for c in kept.columns if c not in SELECTION_COLUMNS]
    return kept[SELECTION_COLUMNS + rest].sort_values(["mjd", "exposure"]).reset_index(drop=True)


def _parse_flag_rows(text: str) -> pd.DataFrame:
    columns = FLAG_COLUMNS[:-1]
    if not text.strip():
        return pd.DataFrame(columns=columns)
    frame = pd.read_csv(io.StringIO(text), header=None, names=columns, dtype=str, keep_default_na=False)
    for col in ("mjd", "plate", "exposure", "severity"):
        frame[col] = frame[col].astype(int)
    return frame


def _outputs(pairs: list[str], steps: dict) -> dict[str, str]:
    outputs = {}
    for pair in pairs:
        step, sep, path = pair.partition("=")
        if not sep or step not in steps:
            raise ValueError(f"--out {pair!r}: expected STEP=PATH with STEP one of {sorted(steps)}")
        outputs[step] = path
    return outputs


def main(argv=None):
    args = parse(argv)
    try:
        steps = json.loads(args.steps)
    except json.JSONDecodeError as err:
        raise ValueError(f"--steps is not JSON: {err}") from None
    outputs = _outputs(args.out, steps)
    for step in outputs:
        check_query(steps[step]["selection"], steps[step]["query"])
    exposures = read_exposures(args.catalog)
    flag_rows = _parse_flag_rows(args.flag_rows)
    for step, path in outputs.items():
        spec = steps[step]
        table = select_plate(exposures, args.plate, spec["query"], flag_rows, list(spec["exclude"]))
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False)
        log.info(
            "wrote %s: %d exposures for %s (selection %r: %r; excluded flags: %s)",
            path,
            len(table),
            step,
            spec["selection"],
            spec["query"],
            " ".join(spec["exclude"]) or "none",
        )


if __name__ == "__main__":
    sys.exit(run_step(main))
