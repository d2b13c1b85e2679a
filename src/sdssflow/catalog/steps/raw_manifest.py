"""Step ``raw_manifest``: the file-stat manifest of one plate's raw inputs (name, size, mtime).

Usage::

    python -m sdssflow.catalog.steps.raw_manifest --dir $BOSS_SPECTRO_REDUX/<run2d>/4100 \\
        [--glob 'spec-4100-*' 'spec-004100-*'] --out results/v1/raw/4100.tsv --version-name v1

Why: the reductions are not outputs of any rule, so Snakemake cannot see a replaced,
repaired or new raw file. The manifest makes them part of the DAG: it is an input of the
exposure catalog and of the plate's selection job, so a change of the plate's files re-runs
that plate (and the survey-wide steps) and nothing else. The workflow refreshes every
manifest at parse time with :func:`sync_manifest`, which rewrites a manifest only when the
stats differ (so its mtime moves only then); this step writes it when it does not exist yet
(the demo survey is generated during the first run). Cost: one ``scandir`` per plate.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sdssflow.io.products import atomic_path
from sdssflow.steps import base_parser, run_step

__all__ = ["listing", "sync_manifest", "parse", "main"]

log = logging.getLogger(__name__)

HEADER = "name\tsize\tmtime_ns\n"


def listing(directory: str | os.PathLike, pattern: str | Sequence[str] = "*", recursive: bool = False) -> str:
    """TSV text (``name, size, mtime_ns``, sorted by name) of the files of ``directory``.

    Hidden files (temporary names of atomic writes) are left out; a missing directory gives
    the header only.

    Parameters
    ----------
    directory : path-like
        A plate directory (or the spec-file directory).
    pattern : str or sequence of str
        fnmatch pattern(s) of the names to list (a name matching any of them is listed).
    recursive : bool
        Also list the subdirectories (names relative to ``directory``).

    Examples
    --------
    >>> listing("/nonexistent/dir")
    'name\\tsize\\tmtime_ns\\n'
    """
    rows: list[str] = []
    _scan(Path(directory), "", (pattern,) if isinstance(pattern, str) else tuple(pattern), recursive, rows)
    return HEADER + "".join(sorted(rows))


def _scan(directory: Path, prefix: str, patterns: tuple[str, ...], recursive: bool, rows: list[str]) -> None:
    try:
        with os.scandir(directory) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue
                if recursive and entry.is_dir():
                    _scan(Path(entry.path), f"{prefix}{entry.name}/", patterns, recursive, rows)
                elif entry.is_file() and any(fnmatch.fnmatch(entry.name, p) for p in patterns):
                    st = entry.stat()
                    rows.append(f"{prefix}{entry.name}\t{st.st_size}\t{st.st_mtime_ns}\n")
    except (FileNotFoundError, NotADirectoryError):
        pass


def sync_manifest(path: str | os.PathLike, text: str, create: bool = True) -> bool:
    """Write ``text`` to ``path`` only if it differs from what is there; True if written.

    Parameters
    ----------
    path : path-like
        The manifest.
    text : str
        Its content (:func:`listing`).
    create : bool
        Write it when it does not exist (False: leave a missing manifest to the rule).
    """
    path = Path(path)
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        if not create:
            return False
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return True


def parse(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--dir", required=True, help="directory of the plate's raw files")
    p.add_argument("--glob", nargs="+", default=["*"], help="names to list (fnmatch patterns: any of them)")
    p.add_argument("--recursive", action="store_true", help="also list subdirectories")
    p.add_argument("--out", required=True, help="results/<version>/raw/<plate>.tsv")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> Path:
    args = parse(argv)
    text = listing(args.dir, args.glob, args.recursive)
    written = sync_manifest(args.out, text)
    log.info("%s: %d files of %s (%s)", args.out, text.count("\n") - 1, args.dir,
             "written" if written else "unchanged")  # fmt: skip
    return Path(args.out)


if __name__ == "__main__":
    sys.exit(run_step(main))
