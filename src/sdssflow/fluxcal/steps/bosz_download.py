"""Step ``bosz_download``: fetch a BOSZ 2024 subgrid in the MAST layout, with a manifest.

``python -m sdssflow.fluxcal.steps.bosz_download --base-url URL --subgrid SPEC.yaml
--dest resources/bosz2024 --manifest resources/bosz2024/manifest.csv [--threads 8]
[--retries 4] [--backoff 1] [--timeout 60] [--file-timeout 900] [--force] [--dry-run]``

Writes ``<dest>/r<R>/m<±M.MM>/<name>.txt.gz`` and
``<dest>/wavelength_grids/bosz2024_wave_r<R>.txt`` (the MAST layout) and a manifest CSV
(relpath, url, status, size, sha256, attempts, message). Every file is checked against
its expected size and every ``.gz`` is decompressed in full
(:mod:`sdssflow.fluxcal.download`). A file already present is skipped only if its size
and sha256 equal those of the existing manifest (otherwise it is checked against the
server again); ``--force`` fetches everything again. A 404 is recorded as ``not_found``
and not retried; any other failure (retries exhausted, per-file deadline passed, bad
gzip) is recorded as ``error`` with a one-line reason. The manifest is written atomically
in every case. Files that fail do not fail the step (issue 10: the survey goes on with
the templates that are good, ``bosz_library`` lists the left-out ones): the step exits
non-zero only when no template can be had at all, i.e. the wavelength grid or every
model is missing (an unusable configuration: wrong URL, subgrid or server down). To try
the failed files again, re-run the rule (``snakemake -R bosz_download``): complete files
are re-checked, not fetched again.
"""

from __future__ import annotations

import gzip
import logging
import sys
import zlib
from collections import Counter
from pathlib import Path

from sdssflow.fluxcal.download import PRESENT, download_all, read_manifest, write_manifest
from sdssflow.io.bosz import (
    MAST_BASE_URL,
    join_url,
    load_subgrid_spec,
    subgrid_models,
    wave_grid_relpath,
)
from sdssflow.steps import StepError, base_parser, run_step

log = logging.getLogger(__name__)


def parse(argv=None):
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--base-url", default=MAST_BASE_URL, help="BOSZ 2024 base URL (http(s):// or file://)"
    )
    parser.add_argument(
        "--subgrid", required=True, help="subgrid spec YAML (sdssflow/data/fluxcal/subgrid_*.yaml)"
    )
    parser.add_argument("--dest", required=True, help="destination root (MAST layout below it)")
    parser.add_argument("--manifest", help="manifest CSV path (default <dest>/manifest.csv)")
    parser.add_argument("--threads", type=int, default=8, help="parallel downloads")
    parser.add_argument("--retries", type=int, default=4, help="retries of a transient failure")
    parser.add_argument(
        "--backoff", type=float, default=1.0, help="first retry delay in s (doubles)"
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="socket time-out per request in s"
    )
    parser.add_argument(
        "--file-timeout",
        type=float,
        default=900.0,
        help="deadline per file (all attempts) in s; 0 = none",
    )
    parser.add_argument(
        "--force", action="store_true", help="download again files already complete"
    )
    parser.add_argument("--dry-run", action="store_true", help="list the URLs and exit")
    return parser.parse_args(argv)


def _validate(path: Path) -> None:
    """Raise ValueError if a downloaded file is empty or a gzip that does not decompress."""
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty")
    if str(path).endswith(".gz") or path.name.endswith(".gz.part"):
        try:
            with gzip.open(path, "rb") as fh:
                while fh.read(1 << 20):
                    pass
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{path}: bad gzip ({err})") from err


def _previous_manifest(path: Path) -> dict:
    """relpath -> row of an existing manifest ({} if none or unreadable: files are re-checked)."""
    if not path.exists():
        return {}
    try:
        return {r.relpath: r for r in read_manifest(path)}
    except (OSError, ValueError, KeyError, UnicodeDecodeError) as err:
        log.warning("%s: previous manifest unreadable (%s: %s); every present file is re-checked", path, type(err).__name__, err)
        return {}


def check_usable(results, manifest) -> None:
    """Raise StepError when no template can be had: the grid or every model is missing.

    Parameters
    ----------
    results : list of DownloadResult
        The wavelength grid first, then the models (the order of :func:`main`).
    manifest : path-like
        Named in the message (it holds every file's reason).

    Raises
    ------
    StepError
        If the wavelength grid is not present, or no model is.
    """
    grid, models = results[0], results[1:]
    if grid.status not in PRESENT:
        raise StepError(
            f"{grid.url}: wavelength grid {grid.status} ({grid.message}); no template can be used; see {manifest}"
        )
    if not any(r.status in PRESENT for r in models):
        first = "; ".join(f"{r.url}: {r.status} ({r.message})" for r in models[:3])
        raise StepError(f"none of the {len(models)} models could be had (first: {first}); see {manifest}")


def main(argv=None):
    args = parse(argv)
    spec = load_subgrid_spec(args.subgrid)
    models = subgrid_models(spec)
    relpaths = [wave_grid_relpath(spec["resolution"])] + [m.relpath for m in models]
    items = [(join_url(args.base_url, rel), rel) for rel in relpaths]
    log.info(
        "subgrid %s: %d models + 1 wavelength grid from %s",
        args.subgrid,
        len(models),
        args.base_url,
    )
    if args.dry_run:
        for url, _ in items:
            print(url)
        return []
    manifest = Path(args.manifest or Path(args.dest) / "manifest.csv")
    results = download_all(
        items,
        args.dest,
        threads=args.threads,
        known=_previous_manifest(manifest),
        retries=args.retries,
        backoff=args.backoff,
        timeout=args.timeout,
        force=args.force,
        validate=_validate,
        file_timeout=args.file_timeout or None,
    )
    write_manifest(results, manifest)
    counts = Counter(r.status for r in results)
    log.info("wrote %s: %s", manifest, dict(sorted(counts.items())))
    check_usable(results, manifest)
    left_out = [r for r in results[1:] if r.status not in PRESENT]
    if left_out:
        log.warning(
            "%d of %d models left out (%s); recorded with their reasons in %s; "
            "re-run the rule (snakemake -R bosz_download) to try them again",
            len(left_out),
            len(results) - 1,
            ", ".join(f"{n} {s}" for s, n in sorted(Counter(r.status for r in left_out).items())),
            manifest,
        )
    return results


if __name__ == "__main__":
    sys.exit(run_step(main))
