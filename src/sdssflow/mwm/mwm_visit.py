"""Step mwm_visit: the mwmVisit files of one GG/HH bucket.

For every source of the bucket (from the mwm_index CSV ``--index-dir/{GG}/{HH}.csv``):
skip it unless stellar-like (default; ``--no-skip-non-stellar`` keeps it), gather its BOSS
visits (bossVisits rows) and APOGEE visits (apVisit / apStar), measure the APOGEE visit
velocities (:mod:`sdssflow.mwm.apogee_rv`; ``--apogee-templates`` the H-band templates:
the apogee_templates product, or a BOSZ mirror), move every visit to the source rest frame on the standard grid, set
in_stack, fit the NMF continuum of each co-add and the visit continua
(:func:`sdssflow.mwm.build.build_source`), and write
``{spectra_dir}/visit/{GG}/{HH}/mwmVisit-{version}-{sdss_id}.fits``.

The declared output is the bucket's status table ``--status`` (one row per source, flags
of :data:`sdssflow.io.mwm_flags.STATUS_FLAGS`): a source that fails is recorded with
ATTEMPTED_BUT_EXCEPTION and its message, and the bucket goes on.

Usage::

    python -m sdssflow.mwm.mwm_visit --index-dir results/v1/mwm/index --gg 12 --hh 34 \\
        --basis results/v1/mwm/nmf/nmf-basis.fits --spectra-dir results/v1/spectra \\
        --status results/v1/spectra/status/12/34/visit-status-1234.fits --version-name v1 \
        --apogee-templates results/v1/mwm/apogee_rv_templates.fits
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sdssflow.io.mwm import write_mwm
from sdssflow.io.mwm_flags import APOGEE_STARFLAG, STATUS_FLAGS, bits_set
from sdssflow.io.mwm_nmf import nmf_cards
from sdssflow.io.mwm_status import write_status
from sdssflow.io.mwm_templates import read_nmf_basis
from sdssflow.mwm.build import build_source
from sdssflow.mwm.continuum import basis_id
from sdssflow.mwm.hband_templates import LazyTemplates
from sdssflow.mwm.sources import gather_bucket, stellar_like
from sdssflow.progress import track
from sdssflow.steps import base_parser, run_step

__all__ = ["parse", "main", "mwm_path", "process_bucket"]

log = logging.getLogger(__name__)


def parse(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--index-dir", required=True, help="output directory of mwm_index")
    p.add_argument("--gg", required=True, help="bucket GG (2 digits)")
    p.add_argument("--hh", required=True, help="bucket HH (2 digits)")
    p.add_argument("--basis", help="NMF basis FITS (nmf_basis); no continuum without it")
    p.add_argument("--spectra-dir", required=True, help="results/{version}/spectra")
    p.add_argument("--status", required=True, help="status table of this bucket (FITS)")
    p.add_argument(
        "--skip-non-stellar",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="skip sources that are not stellar-like (class GALAXY / QSO; astra's rule)",
    )
    p.add_argument(
        "--apogee-templates",
        help="APOGEE RV templates: the apogee_templates product (.fits) or a BOSZ mirror with "
        "H-band models (without it, apVisits are measured against the co-add of the source's "
        "apStar rows only)",
    )
    p.add_argument("--wd-ids", nargs="*", type=int, default=[], help="sdss_ids of mwm_wd targets")
    return p.parse_args(argv)


class _InputError(ValueError):
    """A source's input files could not be read (message already names the error type)."""


def _rv_reject_note(hdus: dict) -> str:
    """'APOGEE: k of n visits RV_REJECT (header and measured RV disagree)', or ''."""
    flags = [int(f) for ext, cols in hdus.items() if ext.startswith("APOGEE")
             for f in cols.get("spectrum_flags", [])]  # fmt: skip
    k = sum(f >> APOGEE_STARFLAG["RV_REJECT"] & 1 for f in flags)
    return f"APOGEE: {k} of {len(flags)} visits RV_REJECT (header and measured RV disagree)" if k else ""


def mwm_path(spectra_dir, kind: str, version: str, sdss_id: int, gg: str, hh: str) -> Path:
    """``{spectra_dir}/{visit|star}/GG/HH/mwm{Visit|Star}-{version}-{sdss_id}.fits``."""
    name = {"visit": "mwmVisit", "star": "mwmStar"}[kind]
    return Path(spectra_dir) / kind / gg / hh / f"{name}-{version}-{sdss_id}.fits"


def process_bucket(
    index: pd.DataFrame,
    gg,
    hh,
    basis,
    basis_name,
    spectra_dir,
    version,
    skip_non_stellar=True,
    wd_ids=(),
    apogee_templates=None,
):
    """Build and write the mwmVisit files of a bucket; return its status rows.

    A source that is not stellar-like (:func:`sdssflow.mwm.sources.stellar_like`) is
    skipped when ``skip_non_stellar`` (SKIPPED_BECAUSE_NOT_STELLAR_LIKE, its class in
    the message). ``apogee_templates``: the H-band templates of the APOGEE velocities
    (HBandTemplates, or LazyTemplates, read at the first visit that needs them).

    The primary header carries each HDU's co-add NMF fit (:func:`sdssflow.io.mwm_nmf.nmf_cards`),
    which mwm_star reuses instead of fitting it again.
    """
    ids = {name: basis_id(H) for name, H in (basis or {}).items()}
    rows = []
    for src in track(gather_bucket(index), f"mwm_visit {gg}/{hh}", log):
        t0 = time.perf_counter()
        row = {"sdss_id": src.sdss_id, "gg": gg, "hh": hh, "v_astra": version, "n_boss": len(src.boss),
               "n_apogee": len(src.apogee), "flags": 0}  # fmt: skip
        ok, why = stellar_like(src.objtypes, src.cartons, has_apogee=bool(src.apogee))
        if skip_non_stellar and not ok:
            row["flags"] = bits_set("SKIPPED_BECAUSE_NOT_STELLAR_LIKE")
            row["message"] = why
            log.info("sdss_id %d skipped: %s", src.sdss_id, why)
            rows.append(row)
            continue
        try:
            if src.error:
                raise _InputError(src.error)
            prod = build_source(
                src.sdss_id, src.boss, src.apogee, basis, is_wd=src.sdss_id in set(wd_ids),
                apogee_templates=apogee_templates,
            )  # fmt: skip
            if prod.visit:
                path = mwm_path(spectra_dir, "visit", version, src.sdss_id, gg, hh)
                header = {**src.header, **prod.summary}
                cards = [("NMFBASIS", basis_name, "NMF basis (sdssflow stand-in)")]
                for ext, r in prod.nmf.items():
                    bid = ids[ext.split("/")[0].lower()]
                    cards += nmf_cards(ext, r.W, r.theta, r.rchi2, r.flags, bid)
                write_mwm(path, "visit", header, prod.visit, version, src.inputs, "mwm_visit",
                          cards, drop_unknown=True)  # fmt: skip
                row["flags"] |= 1 << STATUS_FLAGS["CREATED_MWM_VISIT"]
                row["path"] = str(path)
                row["message"] = _rv_reject_note(prod.visit)
            else:
                row["message"] = "no visit"
            if src.notes:  # visits left out or flagged (the source's other visits are kept)
                row["message"] = "; ".join([*src.notes, row.get("message", "")]).strip("; ")
        except Exception as err:  # noqa: BLE001 - one source never stops its bucket
            row["flags"] |= 1 << STATUS_FLAGS["ATTEMPTED_BUT_EXCEPTION"]
            row["message"] = (
                str(err) if isinstance(err, _InputError) else f"{type(err).__name__}: {err}"
            )
            log.warning("sdss_id %d: %s", src.sdss_id, row["message"])
        row["t_elapsed"] = time.perf_counter() - t0
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> Path:
    args = parse(argv)
    csv = Path(args.index_dir) / args.gg / f"{args.hh}.csv"
    index = (
        pd.read_csv(csv)
        if csv.exists()
        else pd.DataFrame(columns=["sdss_id", "kind", "path", "row", "mjd", "telescope", "objtype"])
    )
    basis, basis_name = None, "none"
    if args.basis:
        basis, hdr = read_nmf_basis(args.basis)
        basis_name = str(hdr.get("NMFBASIS", Path(args.basis).name))
    templates = LazyTemplates(args.apogee_templates) if args.apogee_templates else None
    rows = process_bucket(index, args.gg, args.hh, basis, basis_name, args.spectra_dir, args.version_name,
                          args.skip_non_stellar, args.wd_ids, templates)  # fmt: skip
    out = write_status(
        args.status, rows, args.version_name, "mwm_visit", [csv] if csv.exists() else []
    )
    flags = np.array([r["flags"] for r in rows], dtype=np.int64)
    log.info(
        "bucket %s/%s: %d sources, %d mwmVisit written, %d exceptions",
        args.gg, args.hh, len(rows), int(np.sum(flags >> STATUS_FLAGS["CREATED_MWM_VISIT"] & 1)),
        int(np.sum(flags >> STATUS_FLAGS["ATTEMPTED_BUT_EXCEPTION"] & 1)),
    )  # fmt: skip
    return out


if __name__ == "__main__":
    sys.exit(run_step(main))
