"""Step ``boss_visits_list``: write the names of many files, one per line, atomically.

Usage::

    python -m sdssflow.mwm.steps.list_files --out results/v1/mwm/boss_visits/boss_visits.txt FILE...

Every file must exist: a missing one is an error naming it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from sdssflow.io.products import atomic_path
from sdssflow.steps import StepError, base_parser, run_step

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> Path:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="text file to write")
    parser.add_argument("files", nargs="*", help="files to list")
    args = parser.parse_args(argv)
    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        raise StepError(f"{missing[0]}: file to list does not exist ({len(missing)} missing)")
    with atomic_path(args.out) as tmp:
        tmp.write_text("".join(f"{f}\n" for f in args.files))
    log.info("wrote %s: %d files", args.out, len(args.files))
    return Path(args.out)


if __name__ == "__main__":
    sys.exit(run_step(main))
