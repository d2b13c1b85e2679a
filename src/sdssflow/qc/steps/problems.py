"""Step ``problems``: one survey-wide table of everything left out or flagged, and why.

Usage::

    python -m sdssflow.qc.steps.problems --catalog results/v1/catalog/exposures.h5 \\
        --skyflux results/v1/sky/*/skyflux-*.fits --fluxcal-summary results/v1/fluxcal/fluxcal_summary.fits \\
        --boss-visits-list results/v1/mwm/boss_visits/boss_visits.txt --mwm-index results/v1/mwm/index \\
        --mwm-status results/v1/spectra/mwm_status.fits \\
        --out results/v1/problems.fits --csv results/v1/problems.csv --version-name v1

Built only from what the per-job steps already recorded (no raw file is opened again):

- ``exposure_catalog``: exposures with ``flagged_bad`` (unit ``exposure``) and unreadable
  cameras of usable exposures (unit ``camera``), from the catalog's ``problem`` column;
- ``sky_flux``: STATUS rows of every skyflux file that are not ``ok`` (a camera ``failed``
  or ``flagged``, a plate ``empty``);
- ``flux_calibration``: exposures flagged BAD_FLUXCAL and cameras ``left out`` (REASON);
- ``boss_visits``: STATUS rows of every bossVisits file that are not ``ok``;
- ``mwm_index``: bossVisits / apVisit / apStar files it could not read (``problems.csv``);
- ``mwm_visit`` / ``mwm_star``: sources with ATTEMPTED_BUT_EXCEPTION or
  SKIPPED_BECAUSE_NO_SDSS_ID, and visits ``left out`` or ``flagged`` (status messages);
- ``bosz_download`` / ``bosz_library``: BOSZ models left out of the template library (not
  found, download error, refused by sha256, row count or reading), from
  ``bosz_library_status.csv``; PATH is the URL of a file never had, the local path of one
  refused.

Output: FITS table ``PROBLEMS`` (:data:`PROBLEM_COLUMNS`, one row per unit per step) and its
CSV twin with the same rows.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

from sdssflow.io.products import atomic_path
from sdssflow.io.readable import reading
from sdssflow.steps import base_parser, run_step

__all__ = [
    "PROBLEM_COLUMNS",
    "catalog_problems",
    "sky_problems",
    "fluxcal_problems",
    "boss_visit_problems",
    "index_problems",
    "mwm_status_problems",
    "bosz_problems",
    "problem_table",
    "parse",
    "main",
]

log = logging.getLogger(__name__)

#: Columns of the problem table. UNIT: file | camera | exposure | plate | source | visit;
#: STATUS: left_out (not in the products), flagged (kept, with a quality flag) or empty
#: (a plate/night/bucket product written with zero rows). -1 / '' where not applicable.
PROBLEM_COLUMNS = {
    "STEP": "U24",
    "UNIT": "U8",
    "STATUS": "U8",
    "PLATE": np.int64,
    "MJD": np.int64,
    "EXPID": np.int64,
    "CAMERA": "U2",
    "SDSS_ID": np.int64,
    "PATH": "U400",
    "REASON": "U400",
}

_LEFT_OUT = re.compile(r"left out (\S+) \((.*?)\)(?:;|$)")
_FLAGGED = re.compile(r"flagged (\S+) \((.*?)\)(?:;|$)")


def _row(step, unit, status, path="", reason="", plate=-1, mjd=-1, expid=-1, camera="", sdss_id=-1):
    return {
        "STEP": step, "UNIT": unit, "STATUS": status, "PLATE": int(plate), "MJD": int(mjd),
        "EXPID": int(expid), "CAMERA": str(camera), "SDSS_ID": int(sdss_id), "PATH": str(path),
        "REASON": " ".join(str(reason).split()),
    }  # fmt: skip


def _text(value) -> str:
    return value.decode().strip() if isinstance(value, bytes) else str(value).strip()


def catalog_problems(exposures: pd.DataFrame) -> list[dict]:
    """Rows of the exposure catalog with a ``problem``.

    Parameters
    ----------
    exposures : pandas.DataFrame
        :func:`sdssflow.io.catalog.read_exposures` (columns flagged_bad, problem, path, plate,
        mjd, exposure).
    """
    out = []
    for r in exposures[exposures["problem"].astype(str).str.strip() != ""].itertuples():
        folder = Path(str(r.path)).parent if str(r.path) else Path()
        plate = int(r.plate) if pd.notna(r.plate) else -1
        mjd = int(r.mjd) if pd.notna(r.mjd) else -1
        expid = int(r.exposure) if pd.notna(r.exposure) else -1
        for part in str(r.problem).split("; "):
            name, _, reason = part.partition(": ")
            m = re.match(r"spFrame-([br][12])-", name)
            unit = "exposure" if int(r.flagged_bad) == 1 else "camera"
            out.append(_row("exposure_catalog", unit, "left_out", folder / name, reason or part,
                            plate, mjd, expid, m.group(1) if m and unit == "camera" else ""))  # fmt: skip
    return out


def sky_problems(status: Table, plate: int, path: str) -> list[dict]:
    """STATUS rows of one skyflux file that are not ``ok``."""
    out = []
    for r in status:
        state = _text(r["STATUS"])
        if state == "ok":
            continue
        camera = _text(r["CAMERA"])
        where = _text(r["PATH"]) if "PATH" in status.colnames else path
        unit = {"empty": "plate", "lite_file": "file"}.get(state, "camera")
        kind = {"empty": "empty", "flagged": "flagged"}.get(state, "left_out")
        reason = _text(r["MESSAGE"]) or state
        out.append(_row("sky_flux", unit, kind, where, reason, plate, r["MJD"], r["EXPID"], camera))
    return out


def fluxcal_problems(exposures: Table, path: str) -> list[dict]:
    """Exposures of the fluxcal summary flagged BAD_FLUXCAL, and cameras left out."""
    out = []
    for r in exposures:
        reason, head = _text(r["REASON"]), (r["PLATE"], r["MJD"], r["EXPID"])
        for m in _LEFT_OUT.finditer(reason):
            cam = re.search(r"spFrame-([br][12])-", m.group(1))
            out.append(_row("flux_calibration", "camera", "left_out", m.group(1), m.group(2), *head,
                            cam.group(1) if cam else ""))  # fmt: skip
        if _text(r["FLAG"]):
            out.append(_row("flux_calibration", "exposure", "flagged", path,
                            f"{_text(r['FLAG'])}: {reason}", *head))  # fmt: skip
    return out


def boss_visit_problems(status: np.ndarray, plate: int, path: str) -> list[dict]:
    """STATUS rows of one bossVisits file that are not ``ok``."""
    out = []
    for r in status:
        state = _text(r["status"])
        if state == "ok":
            continue
        unit = {"empty": "plate", "flagged": "visit"}.get(state, "camera")
        kind = {"empty": "empty", "flagged": "flagged"}.get(state, "left_out")
        out.append(_row("boss_visits", unit, kind, _text(r["path"]) or path, _text(r["message"]),
                        plate, r["mjd"], r["expid"], _text(r["camera"]), r["sdss_id"]))  # fmt: skip
    return out


def index_problems(problems: pd.DataFrame) -> list[dict]:
    """Files mwm_index could not read (its ``problems.csv``)."""
    return [_row("mwm_index", "file", "left_out", r.path, r.reason) for r in problems.itertuples()]


def mwm_status_problems(status: np.ndarray, index_dir: str | None = None) -> list[dict]:
    """Sources that failed or had no identifier, and visits left out or flagged.

    Status messages name visit files by name (they are 200 characters wide); with
    ``index_dir`` (the mwm_index output) the names become full paths from the source's
    bucket CSV.
    """
    from sdssflow.io.mwm_flags import STATUS_FLAGS

    def full_path(name: str, gg: str, hh: str) -> str:
        csv = Path(index_dir or "") / gg / f"{hh}.csv"
        if index_dir and csv.exists():
            paths = pd.read_csv(csv, usecols=["path"])["path"].astype(str)
            hit = paths[paths.str.endswith("/" + name)]
            if len(hit):
                return hit.iloc[0]
        return name

    out = []
    for r in status:
        flags, message, sdss_id = int(r["flags"]), _text(r["message"]), int(r["sdss_id"])
        if flags >> STATUS_FLAGS["SKIPPED_BECAUSE_NO_SDSS_ID"] & 1:
            out.append(_row("mwm_index", "file", "left_out", _text(r["path"]),
                            f"no sdss_id ({message})"))  # fmt: skip
            continue
        if flags >> STATUS_FLAGS["ATTEMPTED_BUT_EXCEPTION"] & 1:
            bucket_csv = Path(index_dir) / _text(r["gg"]) / f"{_text(r['hh'])}.csv" if index_dir else ""
            out.append(_row("mwm_visit", "source", "left_out", _text(r["path"]) or bucket_csv,
                            message, sdss_id=sdss_id))  # fmt: skip
            continue
        for pattern, kind in ((_LEFT_OUT, "left_out"), (_FLAGGED, "flagged")):
            for m in pattern.finditer(message):
                path = full_path(m.group(1), _text(r["gg"]), _text(r["hh"]))
                out.append(_row("mwm_visit", "visit", kind, path, m.group(2), sdss_id=sdss_id))
    return out


def bosz_problems(status: pd.DataFrame) -> list[dict]:
    """BOSZ models left out of the template library (``bosz_library_status.csv``).

    Parameters
    ----------
    status : pandas.DataFrame
        :func:`sdssflow.fluxcal.steps.bosz_library.read_status` (columns step, status, relpath,
        path, url, reason).
    """
    out = []
    for r in status.itertuples():
        where = r.url if r.step == "bosz_download" else r.path
        out.append(_row(r.step, "file", "left_out", where, f"{r.status}: {r.reason}"))
    return out


def problem_table(rows: Iterable[dict]) -> Table:
    """The rows as a table of :data:`PROBLEM_COLUMNS` (zero rows allowed)."""
    rows = list(rows)
    return Table(
        {name: np.array([r[name] for r in rows], dtype=dtype) for name, dtype in PROBLEM_COLUMNS.items()}
    )


def parse(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--catalog", help="exposure catalog (HDF5)")
    p.add_argument("--skyflux", nargs="*", default=[], help="skyflux-{plate}.fits files")
    p.add_argument("--fluxcal-summary", help="fluxcal_summary.fits")
    p.add_argument("--boss-visits-list", help="boss_visits.txt (bossVisits files, one a line)")
    p.add_argument("--mwm-index", help="mwm_index output directory (problems.csv)")
    p.add_argument("--mwm-status", help="mwm_status.fits")
    p.add_argument("--bosz-status", help="bosz_library_status.csv (BOSZ models left out)")
    p.add_argument("--out", required=True, help="problems.fits")
    p.add_argument("--csv", required=True, help="problems.csv (same rows)")
    return p.parse_args(argv)


def _plate_of(path: str) -> int:
    m = re.search(r"-(\d+)(?:-\d{5})?\.fits", Path(path).name)
    return int(m.group(1)) if m else -1


def collect(args) -> tuple[list[dict], list[str]]:
    """Problem rows of every product named by ``args`` and the files read."""
    from sdssflow.io.catalog import read_exposures
    from sdssflow.io.fluxcal import read_summary
    from sdssflow.io.mwm_status import read_status
    from sdssflow.io.sky import read_product

    rows, inputs = [], []
    if args.catalog:
        rows += catalog_problems(read_exposures(args.catalog))
        inputs.append(args.catalog)
    for path in args.skyflux:
        _, tables, header = read_product(path)
        if "STATUS" in tables:  # the spec-file route has no per-frame STATUS
            rows += sky_problems(tables["STATUS"], int(header.get("PLATE", _plate_of(path))), path)
        inputs.append(path)
    if args.fluxcal_summary:
        rows += fluxcal_problems(read_summary(args.fluxcal_summary)[0], args.fluxcal_summary)
        inputs.append(args.fluxcal_summary)
    if args.boss_visits_list:
        import fitsio

        for path in Path(args.boss_visits_list).read_text().split():
            with reading(path), fitsio.FITS(path) as f:
                if "STATUS" in f:
                    plate = int(f[0].read_header().get("PLATEID", _plate_of(path)))
                    rows += boss_visit_problems(f["STATUS"].read(), plate, path)
            inputs.append(path)
    if args.mwm_index and (Path(args.mwm_index) / "problems.csv").exists():
        csv = Path(args.mwm_index) / "problems.csv"
        rows += index_problems(pd.read_csv(csv, keep_default_na=False))
        inputs.append(str(csv))
    if args.mwm_status:
        rows += mwm_status_problems(read_status(args.mwm_status), args.mwm_index)
        inputs.append(args.mwm_status)
    if args.bosz_status:
        from sdssflow.fluxcal.steps.bosz_library import read_status as read_bosz_status

        rows += bosz_problems(read_bosz_status(args.bosz_status))
        inputs.append(args.bosz_status)
    return rows, inputs


def main(argv: Sequence[str] | None = None) -> Path:
    args = parse(argv)
    rows, inputs = collect(args)
    table = problem_table(rows)
    table.meta["EXTNAME"] = "PROBLEMS"
    from sdssflow.io.sky import write_table

    write_table(table, args.out, version=args.version_name, inputs=inputs, step="problems",
                extname="PROBLEMS")  # fmt: skip
    with atomic_path(args.csv) as tmp:
        table.to_pandas().to_csv(tmp, index=False)
    counts = pd.Series([f"{r['STEP']}/{r['UNIT']}/{r['STATUS']}" for r in rows]).value_counts()
    log.info("%d problems: %s", len(rows), counts.to_dict())
    return Path(args.out)


if __name__ == "__main__":
    sys.exit(run_step(main))
