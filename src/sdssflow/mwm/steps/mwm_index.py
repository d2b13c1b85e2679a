"""Step mwm_index: which visit of which file belongs to which source, split by GG/HH bucket.

One job between the per-plate-MJD ``boss_visits`` files and the per-bucket ``mwm_visit``
jobs, so that the DAG stays linear in size: N_plate-MJD edges into this job and N_bucket
edges out of it (instead of N_plate-MJD × N_bucket). It reads only the VISITS tables of
the bossVisits files and the headers of the APOGEE files, and writes one CSV per
non-empty bucket, ``{outdir}/{GG}/{HH}.csv`` (paths absolute), with columns::

    sdss_id, kind (boss | apvisit | apstar), path, row, mjd, telescope, objtype, carton

(``carton``: the SDSS-V FIRSTCARTON of a BOSS visit, '' when unknown and for APOGEE files;
the bucket jobs decide stellar-likeness with it, :func:`sdssflow.mwm.sources.stellar_like`)

plus ``{outdir}/problems.csv`` (kind, path, reason: every bossVisits, apVisit or apStar file
that could not be read, named with the exception type; the index goes on without it),
``{outdir}/no_sdss_id.csv`` (inputs that have no identifier: status flag
SKIPPED_BECAUSE_NO_SDSS_ID) and ``{outdir}/DONE`` written last. A bucket job whose CSV is
absent has no source.

An APOGEE file's sdss_id is its SDSS_ID (or SDSSID) header card; a DR19 apVisit has it only
in its HDU 11 table (datamodel apVisit DR19), and a DR19 apStar not at all, so an apStar
takes the sdss_id of the apVisits of the same OBJID. Files without any get
:func:`sdssflow.io.mwm_grids.legacy_apogee_sdss_id` of their 2MASS-style OBJID. The
telescope is TELESCOP, else what the file name or directory says (apStars have no TELESCOP
from DR17 on: :func:`sdssflow.io.apogee.apogee_telescope`).

Usage::

    python -m sdssflow.mwm.steps.mwm_index --boss-visits results/v1/mwm/boss_visits/*/bossVisits-*.fits \\
        --apogee-dir resources/demo/apogee/redux/dr17 --outdir results/v1/mwm/index
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import fitsio
import numpy as np
import pandas as pd

from sdssflow.io.apogee import apogee_telescope
from sdssflow.io.mwm_grids import bucket, legacy_apogee_sdss_id
from sdssflow.io.products import atomic_path, find_fits
from sdssflow.io.readable import UnreadableFile, reading
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main", "apogee_entries", "boss_entries"]

log = logging.getLogger(__name__)
INDEX_COLUMNS = ["sdss_id", "kind", "path", "row", "mjd", "telescope", "objtype", "carton"]
#: Columns of ``{outdir}/problems.csv``: the files left out of the index and why.
PROBLEM_COLUMNS = ["kind", "path", "reason"]


def parse(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument(
        "--boss-visits", nargs="*", default=[], help="bossVisits-{plate}-{mjd}.fits files"
    )
    p.add_argument(
        "--boss-visits-list",
        default=None,
        help="text file naming bossVisits files, one per line (added to --boss-visits)",
    )
    p.add_argument(
        "--apogee-dir",
        action="append",
        default=[],
        help="directory searched for apVisit/apStar files",
    )
    p.add_argument("--outdir", required=True, help="output directory (one CSV per bucket)")
    return p.parse_args(argv)


def boss_entries(paths: Sequence[str], problems: list | None = None) -> pd.DataFrame:
    """Index rows of bossVisits files (reads only their VISITS tables).

    An unreadable file is appended to ``problems`` (dicts: kind, path, reason) and skipped.
    """
    frames = []
    for path in paths:
        try:
            with reading(path):
                with fitsio.FITS(str(path)) as f:
                    names = f["VISITS"].get_colnames()
                    # bossVisits files written before the carton column have none ('')
                    wanted = ["sdss_id", "mjd", "telescope", "objtype"] + ["carton"] * ("carton" in names)
                    t = f["VISITS"].read(columns=wanted)
        except UnreadableFile as err:
            _left_out(problems, "boss", err)
            continue
        frames.append(
            pd.DataFrame(
                {
                    "sdss_id": t["sdss_id"].astype(np.int64),
                    "kind": "boss",
                    "path": str(Path(path).resolve()),
                    "row": np.arange(len(t)),
                    "mjd": t["mjd"].astype(int),
                    "telescope": np.char.strip(t["telescope"].astype(str)),
                    "objtype": np.char.strip(t["objtype"].astype(str)),
                    "carton": (
                        np.char.strip(t["carton"].astype(str)) if "carton" in wanted else ""
                    ),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=INDEX_COLUMNS)


def apogee_entries(dirs: Sequence[str], problems: list | None = None) -> pd.DataFrame:
    """Index rows of the apVisit / apStar files below ``dirs`` (headers only).

    A file whose header cannot be read is appended to ``problems`` and skipped.
    """
    rows, objs = [], []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise StepError(f"{d}: APOGEE directory not found")
        for path in find_fits(d, "a?Visit-*") + find_fits(d, "a?Star-*"):
            if path.name.startswith("."):
                continue
            kind = "apvisit" if "Visit-" in path.name else "apstar"
            try:
                with reading(path):
                    h = fitsio.read_header(str(path), 0)
                    sdss_id = _header_sdss_id(h)
                    if sdss_id < 0 and kind == "apvisit":
                        sdss_id = _table_sdss_id(path)
                    mjd = int(h.get("MJD5", -1)) if kind == "apvisit" else -1
            except UnreadableFile as err:
                _left_out(problems, kind, err)
                continue
            telescope = apogee_telescope(h, path, [str(h.get("SFILE1", ""))])
            rows.append([sdss_id, kind, str(path.resolve()), 0, mjd, telescope, "STAR", ""])
            objs.append(str(h.get("OBJID", "")).strip() or path.name)
    by_obj = {o: r[0] for o, r in zip(objs, rows) if r[1] == "apvisit" and r[0] > 0}
    for obj, row in zip(objs, rows):
        if row[0] < 0:
            row[0] = by_obj.get(obj, -1)
        if row[0] < 0:
            try:
                row[0] = legacy_apogee_sdss_id(obj)
            except ValueError:
                row[0] = -1
    return pd.DataFrame(rows, columns=INDEX_COLUMNS)


def _header_sdss_id(h) -> int:
    """SDSS_ID (or the SDSS-V DRP's SDSSID) of a header; -1 if absent or not positive."""
    for key in ("SDSS_ID", "SDSSID"):
        value = h.get(key)
        if isinstance(value, int | np.integer) and value > 0:
            return int(value)
    return -1


def _table_sdss_id(path: Path) -> int:
    """SDSS_ID of an apVisit's HDU 11 table (DR19 files); -1 without one."""
    with fitsio.FITS(str(path)) as f:
        if len(f) < 12 or f[11].get_exttype() != "BINARY_TBL" or f[11].get_nrows() < 1:
            return -1
        if "SDSS_ID" not in [c.upper() for c in f[11].get_colnames()]:
            return -1
        name = next(c for c in f[11].get_colnames() if c.upper() == "SDSS_ID")
        value = f[11].read(columns=[name], rows=[0])[name][0]
    return int(value) if int(value) > 0 else -1


def _left_out(problems: list | None, kind: str, err: UnreadableFile) -> None:
    log.warning("%s; left out of the index", err)
    if problems is not None:
        problems.append({"kind": kind, "path": err.path, "reason": err.reason})


def main(argv: Sequence[str] | None = None) -> Path:
    args = parse(argv)
    visits = list(args.boss_visits)
    if args.boss_visits_list:
        visits += [line.strip() for line in Path(args.boss_visits_list).read_text().splitlines() if line.strip()]
    problems: list[dict] = []
    index = pd.concat(
        [boss_entries(visits, problems), apogee_entries(args.apogee_dir, problems)],
        ignore_index=True,
    )
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with atomic_path(outdir / "problems.csv") as tmp:
        pd.DataFrame(problems, columns=PROBLEM_COLUMNS).to_csv(tmp, index=False)
    bad = index["sdss_id"] <= 0
    with atomic_path(outdir / "no_sdss_id.csv") as tmp:
        index[bad].to_csv(tmp, index=False)
    index = index[~bad].sort_values(["sdss_id", "kind", "mjd"])
    gg_hh = [bucket(s) for s in index["sdss_id"]]
    index["gg"] = [g for g, _ in gg_hh]
    index["hh"] = [h for _, h in gg_hh]
    nb = 0
    for (gg, hh), part in index.groupby(["gg", "hh"], sort=True):
        with atomic_path(outdir / gg / f"{hh}.csv") as tmp:
            part[INDEX_COLUMNS].to_csv(tmp, index=False)
        nb += 1
    (outdir / "DONE").write_text(
        f"{len(index)} entries, {index['sdss_id'].nunique()} sources, {nb} buckets\n"
    )
    log.info(
        "%d entries of %d sources in %d buckets; %d entries without sdss_id",
        len(index), index["sdss_id"].nunique(), nb, int(bad.sum()),
    )  # fmt: skip
    return outdir


if __name__ == "__main__":
    sys.exit(run_step(main))
