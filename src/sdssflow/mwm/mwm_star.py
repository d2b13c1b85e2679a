"""Step mwm_star: the mwmStar files of one GG/HH bucket, from its mwmVisit files.

For every source whose mwmVisit file the bucket's ``mwm_visit`` status lists, each HDU's
in-stack rest-frame visits are co-added with inverse-variance weights, the summary
statistics computed and the NMF continuum taken (:func:`sdssflow.mwm.stack.star_row`):
mwm_visit already fitted it to the same co-add and wrote W and θ into the mwmVisit primary
header (:func:`sdssflow.io.mwm_nmf.nmf_cards`), so it is rebuilt from them when they were made
with the same basis (:func:`sdssflow.mwm.continuum.nmf_from_parameters`) and fitted again
only otherwise (older files, another basis);
``{spectra_dir}/star/{GG}/{HH}/mwmStar-{version}-{sdss_id}.fits`` is written when any HDU
has an in-stack visit. The declared output is the bucket's status table: the visit
status rows with CREATED_MWM_STAR added (or ATTEMPTED_BUT_EXCEPTION and the message).

Usage::

    python -m sdssflow.mwm.mwm_star --visit-status results/v1/spectra/status/12/34/visit-status-1234.fits \\
        --basis results/v1/mwm/nmf/nmf-basis.fits --spectra-dir results/v1/spectra \\
        --status results/v1/spectra/status/12/34/star-status-1234.fits --version-name v1
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sdssflow.io.mwm import PRIMARY_GROUPS, read_mwm, write_mwm
from sdssflow.io.mwm_flags import STATUS_FLAGS
from sdssflow.io.mwm_grids import GRIDS
from sdssflow.io.mwm_nmf import nmf_from_cards
from sdssflow.io.mwm_status import read_status, write_status
from sdssflow.io.mwm_templates import read_nmf_basis
from sdssflow.mwm.continuum import basis_id, nmf_from_parameters
from sdssflow.mwm.mwm_visit import mwm_path
from sdssflow.mwm.stack import star_row
from sdssflow.progress import track
from sdssflow.steps import base_parser, run_step

__all__ = ["parse", "main", "star_from_visit_file"]

log = logging.getLogger(__name__)
_SOURCE_KEYS = {k for _, keys in PRIMARY_GROUPS for k in keys.split()}


def parse(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument(
        "--visit-status", required=True, help="status table of mwm_visit for this bucket"
    )
    p.add_argument("--basis", help="NMF basis FITS (nmf_basis); no continuum without it")
    p.add_argument("--spectra-dir", required=True, help="results/{version}/spectra")
    p.add_argument("--status", required=True, help="status table of this bucket (FITS)")
    return p.parse_args(argv)


def _columns(table: np.ndarray) -> dict:
    out = {}
    for name in table.dtype.names:
        col = table[name]
        out[name] = np.char.strip(col.astype(str)) if col.dtype.kind in "SU" else col
    return out


def star_from_visit_file(path, basis, basis_ids=None) -> tuple[dict, dict]:
    """mwmStar HDU columns and primary-header values from an mwmVisit file.

    ``basis_ids`` (instrument → :func:`sdssflow.mwm.continuum.basis_id`, computed from
    ``basis`` when None): an HDU whose NMF cards name the same basis reuses that fit.
    """
    basis = basis or {}
    if basis_ids is None:
        basis_ids = {name: basis_id(H) for name, H in basis.items()}
    header, tables = read_mwm(path)
    star = {}
    for extname, table in tables.items():
        if table is None:
            continue
        instrument = extname.split("/")[0].lower()
        wave = GRIDS[instrument].wavelength
        H = basis.get(instrument)
        nmf = None
        saved = nmf_from_cards(header, extname)
        if H is not None and saved is not None and saved["basis_id"] == basis_ids.get(instrument):
            nmf = nmf_from_parameters(wave, H, instrument, saved["W"], saved["theta"],
                                      saved["rchi2"], saved["flags"])  # fmt: skip
        row, _ = star_row(instrument, _columns(table), wave, H, nmf)
        if row is not None:
            star[extname] = row
    source = {k: v for k, v in header.items() if k in _SOURCE_KEYS}
    return star, source


def main(argv: Sequence[str] | None = None) -> Path:
    args = parse(argv)
    status = read_status(args.visit_status)
    basis, basis_name = None, "none"
    if args.basis:
        basis, hdr = read_nmf_basis(args.basis)
        basis_name = str(hdr.get("NMFBASIS", Path(args.basis).name))
    ids = {name: basis_id(H) for name, H in (basis or {}).items()}
    rows = []
    n_star = 0
    for rec in track(status, f"mwm_star {args.status}", log):
        row = {
            name: (rec[name].decode().strip() if isinstance(rec[name], bytes) else rec[name])
            for name in rec.dtype.names
        }
        if not row["flags"] >> STATUS_FLAGS["CREATED_MWM_VISIT"] & 1:
            rows.append(row)
            continue
        t0 = time.perf_counter()
        try:
            star, source = star_from_visit_file(row["path"], basis, ids)
            if star:
                gg, hh = row["gg"], row["hh"]
                out = mwm_path(
                    args.spectra_dir, "star", args.version_name, int(row["sdss_id"]), gg, hh
                )
                write_mwm(out, "star", source, star, args.version_name, [row["path"]], "mwm_star",
                          [("NMFBASIS", basis_name, "NMF basis (sdssflow stand-in)")], drop_unknown=True)  # fmt: skip
                row["flags"] = int(row["flags"]) | 1 << STATUS_FLAGS["CREATED_MWM_STAR"]
                n_star += 1
            else:
                row["message"] = (
                    row["message"] + "; " if row["message"] else ""
                ) + "no in-stack visit"
        except Exception as err:  # noqa: BLE001 - one source never stops its bucket
            row["flags"] = int(row["flags"]) | 1 << STATUS_FLAGS["ATTEMPTED_BUT_EXCEPTION"]
            row["message"] = f"{type(err).__name__}: {err}"
            log.warning("sdss_id %d: %s", row["sdss_id"], row["message"])
        row["t_elapsed"] = float(row["t_elapsed"]) + time.perf_counter() - t0
        rows.append(row)
    out = write_status(args.status, rows, args.version_name, "mwm_star", [args.visit_status])
    log.info("%s: %d sources, %d mwmStar written", args.status, len(rows), n_star)
    return out


if __name__ == "__main__":
    sys.exit(run_step(main))
