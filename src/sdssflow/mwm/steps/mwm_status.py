"""Step mwm_status: one table of MWMSpectrumProductStatus flags for the whole survey.

Concatenates the per-bucket status tables of ``mwm_star`` (which carry the ``mwm_visit``
bits too) and the inputs without an identifier listed by ``mwm_index`` (flag
SKIPPED_BECAUSE_NO_SDSS_ID, sdss_id = -1). Bits (:data:`sdssflow.io.mwm_flags.STATUS_FLAGS`):
0 skipped_because_no_sdss_id, 1 skipped_because_not_stellar_like, 2 attempted_but_exception,
3 created_mwm_visit, 4 created_mwm_star. Unlike astra (quirk 12), an existing file is never
reported as an exception: every run rebuilds its bucket.

Usage::

    python -m sdssflow.mwm.steps.mwm_status --status-dir results/v1/spectra/status \\
        --index-dir results/v1/mwm/index --output results/v1/spectra/mwm_status.fits
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sdssflow.io.mwm_flags import STATUS_FLAGS, bits_set
from sdssflow.io.mwm_status import read_status, status_table, write_status
from sdssflow.steps import base_parser, run_step

__all__ = ["parse", "main"]

log = logging.getLogger(__name__)


def parse(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--status", nargs="*", default=[], help="per-bucket status tables")
    p.add_argument("--status-dir", help="directory searched for */*/star-status-*.fits")
    p.add_argument("--index-dir", help="mwm_index output (for no_sdss_id.csv)")
    p.add_argument("--output", required=True)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> Path:
    args = parse(argv)
    paths = list(args.status)
    if args.status_dir:
        paths += sorted(str(p) for p in Path(args.status_dir).glob("*/*/star-status-*.fits"))
    parts = [read_status(p) for p in paths]
    if args.index_dir and (Path(args.index_dir) / "no_sdss_id.csv").exists():
        skipped = pd.read_csv(Path(args.index_dir) / "no_sdss_id.csv")
        rows = [
            {
                "sdss_id": -1,
                "flags": bits_set("SKIPPED_BECAUSE_NO_SDSS_ID"),
                "path": r.path,
                "message": f"{r.kind} row {r.row}",
            }
            for r in skipped.itertuples()
        ]
        parts.append(status_table(rows))
    table = np.concatenate(parts) if parts else status_table([])
    out = write_status(args.output, table, args.version_name, "mwm_status", paths)
    counts = {name: int(np.sum(table["flags"] >> bit & 1)) for name, bit in STATUS_FLAGS.items()}
    log.info("%d rows: %s", len(table), counts)
    return out


if __name__ == "__main__":
    sys.exit(run_step(main))
