"""Step mwm_bucket: the mwmVisit and mwmStar files of one bucket job, in one process.

astra makes both products of a source in one task; so does this step: for every GG/HH
bucket of the job it runs :mod:`sdssflow.mwm.mwm_visit` and then :mod:`sdssflow.mwm.mwm_star`
on the visit files just written. A job is one GG/HH bucket (``mwm.bucket: gghh``, 10,000
jobs at survey scale) or a whole GG (``mwm.bucket: gg``, 100 jobs: every ``{GG}/{HH}.csv``
of the index), which keeps the full-survey DAG small.

Outputs (all declared by the rule): ``--visit-dir`` = ``{spectra}/visit/{bucket}`` and
``--star-dir`` = ``{spectra}/star/{bucket}`` (astra layout below them:
``GG/HH/mwm{Visit,Star}-{version}-{sdss_id}.fits``), and ``--status``: one status table for
the job (one row per source, the mwm_visit flags plus CREATED_MWM_STAR, see
:data:`sdssflow.mwm.flags.STATUS_FLAGS`). A source that fails is recorded and the job goes on.

Usage::

    python -m sdssflow.mwm.steps.mwm_bucket --index-dir results/v1/mwm/index --bucket 12/34 \\
        --basis results/v1/mwm/nmf/nmf-basis.fits --visit-dir results/v1/spectra/visit/12/34 \\
        --star-dir results/v1/spectra/star/12/34 \\
        --status results/v1/spectra/status/12/34/status.fits --version-name v1
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sdssflow.io.mwm_status import read_status, status_table, write_status
from sdssflow.mwm import mwm_star, mwm_visit
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main", "bucket_hh", "spectra_root"]

log = logging.getLogger(__name__)

_BUCKET_RE = re.compile(r"(\d{2})(?:/(\d{2}))?")


def parse(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--index-dir", required=True, help="output directory of mwm_index")
    p.add_argument("--bucket", required=True, help="GG (every HH of it) or GG/HH")
    p.add_argument("--basis", help="NMF basis FITS (nmf_basis); no continuum without it")
    p.add_argument("--visit-dir", required=True, help="results/{version}/spectra/visit/{bucket}")
    p.add_argument("--star-dir", required=True, help="results/{version}/spectra/star/{bucket}")
    p.add_argument("--status", required=True, help="status table of the job (FITS)")
    p.add_argument("--skip-non-stellar", action=argparse.BooleanOptionalAction, default=True,
                   help="skip sources that are not stellar-like (passed to mwm_visit)")  # fmt: skip
    p.add_argument("--apogee-templates", help="APOGEE RV templates (mwm_visit): apogee_templates product or BOSZ mirror")
    return p.parse_args(argv)


def bucket_hh(index_dir: str | Path, bucket: str) -> tuple[str, list[str]]:
    """GG and the HH buckets of a job: the one given, or every ``{GG}/{HH}.csv`` of the index.

    Parameters
    ----------
    index_dir : str or Path
        mwm_index output directory.
    bucket : str
        ``GG`` or ``GG/HH`` (two digits each).

    Returns
    -------
    gg : str
    hh : list of str
        Sorted; empty when a GG job has no index CSV (no source of the data fell in it).

    Raises
    ------
    StepError
        If ``bucket`` is not of either form.
    """
    m = _BUCKET_RE.fullmatch(str(bucket))
    if not m:
        raise StepError(f"--bucket {bucket!r}: expected GG or GG/HH (two digits each)")
    gg, hh = m.groups()
    if hh is not None:
        return gg, [hh]
    return gg, sorted(p.stem for p in (Path(index_dir) / gg).glob("[0-9][0-9].csv"))


def spectra_root(out_dir: str | Path, kind: str, bucket: str) -> Path:
    """The spectra directory above ``{kind}/{bucket}`` (the astra layout root).

    Raises
    ------
    StepError
        If ``out_dir`` does not end with ``{kind}/{bucket}``.

    Examples
    --------
    >>> spectra_root("results/v1/spectra/visit/12/34", "visit", "12/34").as_posix()
    'results/v1/spectra'
    """
    out_dir = Path(out_dir)
    tail = Path(kind, *str(bucket).split("/"))
    if out_dir.parts[-len(tail.parts):] != tail.parts:
        raise StepError(f"{out_dir}: must end with {tail.as_posix()} (astra layout)")
    return Path(*out_dir.parts[: -len(tail.parts)]) if len(out_dir.parts) > len(tail.parts) else Path(".")


def main(argv: Sequence[str] | None = None) -> Path:
    args = parse(argv)
    root = spectra_root(args.visit_dir, "visit", args.bucket)
    if spectra_root(args.star_dir, "star", args.bucket) != root:
        raise StepError(f"--visit-dir {args.visit_dir} and --star-dir {args.star_dir} are not in one spectra tree")
    gg, hhs = bucket_hh(args.index_dir, args.bucket)
    # the directories are declared outputs: they exist even when no source yields a file
    Path(args.visit_dir).mkdir(parents=True, exist_ok=True)
    Path(args.star_dir).mkdir(parents=True, exist_ok=True)
    common = ["--version-name", args.version_name] + (["--basis", args.basis] if args.basis else [])
    Path(args.status).parent.mkdir(parents=True, exist_ok=True)
    parts, start = [], time.perf_counter()
    # per-HH status tables of the two sub-steps: intermediate, beside the job's status
    with tempfile.TemporaryDirectory(prefix=".mwm_bucket-", dir=Path(args.status).parent) as tmp:
        for k, hh in enumerate(hhs, 1):
            vstat, sstat = Path(tmp) / f"visit-{gg}{hh}.fits", Path(tmp) / f"star-{gg}{hh}.fits"
            visit_argv = ["--index-dir", args.index_dir, "--gg", gg, "--hh", hh, "--spectra-dir", str(root),
                          "--status", str(vstat), *common]  # fmt: skip
            visit_argv.append("--skip-non-stellar" if args.skip_non_stellar else "--no-skip-non-stellar")
            if args.apogee_templates:
                visit_argv += ["--apogee-templates", args.apogee_templates]
            mwm_visit.main(visit_argv)
            mwm_star.main(["--visit-status", str(vstat), "--spectra-dir", str(root), "--status", str(sstat), *common])
            parts.append(read_status(sstat))
            if len(hhs) > 1 and (k == len(hhs) or k % max(len(hhs) // 20, 1) == 0):
                rate = k / max(time.perf_counter() - start, 1e-9)
                log.info("bucket %s: %d/%d HH done, %.2f HH/s, %.0f s left", gg, k, len(hhs), rate,
                         (len(hhs) - k) / rate)  # fmt: skip
    table = np.concatenate(parts) if parts else status_table([])
    out = write_status(args.status, table, args.version_name, "mwm_bucket", [args.index_dir])
    log.info("bucket %s: %d HH, %d sources, %.1f s", args.bucket, len(hhs), len(table), time.perf_counter() - start)
    return out


if __name__ == "__main__":
    sys.exit(run_step(main))
