"""Step boss_visits: one plate-MJD's science fibres on the BOSS grid, with XCSAO-like RVs.

Two routes:

- frames (``--plate-dir``): the spCFrame files (flux-calibrated by the pipeline) of the
  exposures of ``--mjd`` listed in ``--selection`` (cameras in ``excluded_cameras``
  dropped); every fibre whose plug map has SDSS_ID > 0 (and OBJTYPE not SKY) is merged
  (b + r, all exposures) by :func:`sdssflow.mwm.visits.combine_pieces`; its ``carton`` is
  the FIRSTCARTON of the field-MJD's spfibermap (FPS fields,
  :func:`sdssflow.io.confsummary.target_cartons`), else of the plug map, else '';
- spec files (``--spec-files``): the COADD table of each SDSS spec file of this plate-MJD
  ("full" or "lite": a visit needs only the coadd), resampled onto the BOSS grid (no
  velocity shift), with the file's class (CLASS, else OBJTYPE) as ``objtype``; the SPALL
  SDSS_ID is the visit's sdss_id, and legacy files get the identifier of
  :func:`sdssflow.io.mwm_grids.spec_file_sdss_id` (an SDSS-V file without an SDSS_ID is left
  out, named in STATUS); ``carton`` is the SPALL FIRSTCARTON when the file has one.

Then every visit's radial velocity is measured against the BOSZ templates
(:func:`sdssflow.mwm.rv.measure_rv`). Output: ``bossVisits-{plate}-{mjd}.fits``
(:func:`sdssflow.io.boss_visits.write_boss_visits`): one MJD with ``--mjd`` and
``--output``, or (the workflow's one job per plate) every MJD of ``--mjds`` into
``--outdir``, one file per plate-MJD, each made exactly as by its own ``--mjd`` run.

Usage::

    python -m sdssflow.mwm.steps.boss_visits --plate-dir DIR --selection CSV --plate 4100 --mjd 55500 \\
        --templates results/v1/bosz/bosz_library.h5 --output bossVisits-4100-55500.fits
    python -m sdssflow.mwm.steps.boss_visits --plate-dir DIR --selection CSV --plate 4100 \\
        --mjds 55500,55507 --templates results/v1/bosz/bosz_library.h5 --outdir boss_visits/4100
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sdssflow.heap import keep_freed_memory
from sdssflow.io.boss_visits import (
    BOSS_VISIT_COLUMNS,
    boss_visit_status,
    visit_file_name,
    write_boss_visits,
)
from sdssflow.io.fibre_roles import fibre_catalogids
from sdssflow.io.mwm_grids import BOSS, spec_file_sdss_id
from sdssflow.io.mwm_templates import read_rv_templates
from sdssflow.io.selection import read_selection
from sdssflow.io.spcframe_rows import read_spcframe_rows
from sdssflow.mwm.rv import RV_FIELDS, fine_templates, measure_rv, prepare_templates
from sdssflow.mwm.rv_templates import least_chi2_resolution
from sdssflow.mwm.visits import combine_pieces, data_quality, median_snr, visit_rows
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main"]

log = logging.getLogger(__name__)


def parse(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--plate-dir", help="$BOSS_SPECTRO_REDUX/<run2d>/<PLATE4> holding spCFrame files"
    )
    src.add_argument("--spec-files", nargs="+", help="SDSS spec files of this plate-MJD")
    p.add_argument("--selection", help="selection-mwm-{plate}.csv (frames route)")
    p.add_argument("--plate", type=int, required=True)
    p.add_argument("--mjd", type=int, help="MJD of the one visit file --output")
    p.add_argument(
        "--mjds", help="comma-separated MJDs of the plate: bossVisits-{plate}-{mjd}.fits each, in --outdir"
    )
    p.add_argument(
        "--templates", help="BOSZ library .h5 or BOSZ mirror directory (no RVs without it)"
    )
    p.add_argument(
        "--resolution",
        default="auto",
        help="resolving power the templates are convolved to: a number, or auto = the value of "
        "AUTO_RESOLUTIONS with the least chi2 on the brightest fibres",
    )
    p.add_argument("--telescope", default="apo25m", help="telescope name written for plate data")
    p.add_argument("--run2d", default="", help="BOSS reduction version recorded")
    p.add_argument("--output", help="bossVisits-{plate}-{mjd}.fits (with --mjd)")
    p.add_argument("--outdir", help="directory of the plate's bossVisits files (with --mjds)")
    args = p.parse_args(argv)
    one, plate = (args.mjd is not None, args.output), (args.mjds is not None, args.outdir)
    if not (all(one) and not any(plate) or all(plate) and not any(one)):
        p.error("give --mjd with --output, or --mjds with --outdir")
    return args


def _finite(func, values) -> float:
    """func over the finite values (NaN when there is none)."""
    arr = np.asarray(pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce"), float)
    arr = arr[np.isfinite(arr)]
    return float(func(arr)) if arr.size else np.nan


#: Telescope of each observatory (header OBSERVAT), for the mwm BOSS/APO and BOSS/LCO HDUs.
TELESCOPE_OF = {"APO": "apo25m", "LCO": "lco25m"}


def _telescope(header) -> str | None:
    """apo25m / lco25m from a header's OBSERVAT; None when absent (then --telescope)."""
    return TELESCOPE_OF.get(str(header.get("OBSERVAT", "")).strip().upper())


def _frames_route(args):
    from sdssflow.io.confsummary import target_cartons
    from sdssflow.io.spplate import find_plate_files

    files = find_plate_files(args.plate_dir)["spCFrame"]
    try:
        cartons = target_cartons(args.plate_dir, args.mjd)
    except (OSError, ValueError) as err:  # a damaged spfibermap costs the cartons only
        log.warning("spfibermap of MJD %d unreadable (%s): cartons from the plug map", args.mjd, err)
        cartons = {}
    if args.selection is None:
        raise StepError("--selection is required with --plate-dir")
    sel = read_selection(args.selection, required=("mjd", "exposure", "excluded_cameras"))
    sel = sel[sel["mjd"] == args.mjd]
    status: list[dict] = []
    if sel.empty:
        why = f"no selected exposure for MJD {args.mjd} in {args.selection}"
        return [], [], [{"mjd": args.mjd, "status": "empty", "message": why, "path": args.selection}]
    pieces: dict[int, list] = {}
    info: dict[int, dict] = {}
    nonfinite: dict[int, int] = {}
    used, exptime, tai = [], 0.0, []
    for _, row in sel.iterrows():
        expid = int(row["exposure"])
        excluded = set(str(row["excluded_cameras"]).split())
        exptime += float(row.get("exptime", np.nan))
        tai += [row.get("tai_beg", np.nan), row.get("tai_end", np.nan)]
        for (camera, e), path in files.items():
            if e != expid or camera in excluded:
                continue
            where = {"mjd": args.mjd, "expid": expid, "camera": camera, "path": path}
            try:  # only the visits' fibres (28 of 500 a frame on the demo plate), no sky
                frame = read_spcframe_rows(path, visit_rows, sky=False)
            except ValueError as err:  # UnreadableFile: drop this camera of this exposure
                log.warning("%s", err)
                status.append({**where, "status": "failed", "message": getattr(err, "reason", err)})
                continue
            status.append({**where, "status": "ok", "message": ""})
            used.append(path)
            pm = frame.plugmap  # the visits' rows only
            objtype = np.char.strip(np.asarray(pm["OBJTYPE"]).astype(str))
            # v6 fibre maps write CATALOGID as a string ('u...' for unassigned fibres)
            catalogids = fibre_catalogids(pm, missing=-1)
            plug_carton = (
                np.char.strip(np.asarray(pm["FIRSTCARTON"]).astype(str))
                if "FIRSTCARTON" in pm.colnames
                else np.full(len(pm), "")
            )
            for i in range(len(pm)):
                sdss_id = int(pm["SDSS_ID"][i])
                fid = int(pm["FIBERID"][i])
                # a visit is a target, not a fibre: the configurations of one FPS field-MJD
                # (spfibermap DR19: several confSummaryF HDUs) give a fibre to another target
                # (SPALL FIBERID_LIST holds a fibre per exposure)
                key = sdss_id
                # a NaN/inf pixel carries no information: ivar 0, and the visit is flagged
                bad = ~(np.isfinite(frame.flux[i]) & np.isfinite(frame.ivar[i]))
                nonfinite[key] = nonfinite.get(key, 0) + int(bad.sum())
                flux_i = np.where(bad, 0.0, frame.flux[i])
                ivar_i = np.where(bad, 0.0, frame.ivar[i])
                pieces.setdefault(key, []).append(
                    (frame.loglam[i], flux_i, ivar_i, frame.mask[i], frame.disp[i])
                )
                if key in info:  # the fibre of its first exposure
                    continue
                info[key] = {
                    "sdss_id": sdss_id,
                    "catalogid": -1 if catalogids is None else int(catalogids[i]),
                    "fiberid": fid,
                    "ra": float(pm["RA"][i]),
                    "dec": float(pm["DEC"][i]),
                    "objtype": objtype[i],
                    "carton": cartons.get(sdss_id, plug_carton[i]),
                    "telescope": _telescope(frame.header),
                }
    if not used:
        why = f"no readable spCFrame of the selected exposures of MJD {args.mjd}"
        return [], [], status + [{"mjd": args.mjd, "status": "empty", "message": why, "path": args.plate_dir}]
    n_exp = int(len(sel))
    common = {
        "n_exp": n_exp,
        "exptime": exptime,
        "tai_beg": _finite(np.min, tai),
        "tai_end": _finite(np.max, tai),
        "airmass": _finite(np.mean, sel["airmass"] if "airmass" in sel else []),
    }
    rows = []
    for key in sorted(pieces, key=lambda k: (info[k]["fiberid"], k)):  # fibre order, as before
        rows.append(({**info[key], **common}, combine_pieces(pieces[key])))
        if nonfinite[key]:
            status.append({
                "mjd": args.mjd, "fiberid": info[key]["fiberid"], "sdss_id": info[key]["sdss_id"],
                "status": "flagged", "path": args.plate_dir,
                "message": f"non-finite flux/ivar in {nonfinite[key]} frame pixels (set to ivar 0)",
            })  # fmt: skip
    return rows, used, status


def _spec_route(args):
    from sdssflow.io.specfile import read_specfile

    rows, status = [], []
    for path in args.spec_files:
        spec = read_specfile(path, exposures=False)
        if (spec.plate, spec.mjd) != (args.plate, args.mjd):
            raise StepError(
                f"{path}: plate-MJD {spec.plate}-{spec.mjd} is not {args.plate}-{args.mjd}"
            )
        c = spec.coadd
        so = spec.specobj
        try:  # the id the workflow's buckets were made with (spec_file_sdss_id)
            sdss_id = int(so["SDSS_ID"]) if int(so.get("SDSS_ID", -1)) > 0 else spec_file_sdss_id(path)
        except ValueError as err:  # an SDSS-V file without SDSS_ID: this visit left out, named
            status.append({"mjd": args.mjd, "fiberid": spec.fiberid, "status": "failed",
                           "message": str(err), "path": str(path)})  # fmt: skip
            continue
        wdisp = c.get("wdisp")
        piece = (c["loglam"], c["flux"], c["ivar"], c.get("or_mask", c.get("and_mask")), wdisp)
        h = spec.header
        meta = {
            "sdss_id": sdss_id,
            "catalogid": int(so.get("CATALOGID", -1)) if "CATALOGID" in so else -1,
            "fiberid": spec.fiberid,
            "ra": float(so.get("PLUG_RA", h.get("PLUG_RA", np.nan))),
            "dec": float(so.get("PLUG_DEC", h.get("PLUG_DEC", np.nan))),
            "objtype": spec.spec_class,
            "n_exp": int(h.get("NEXP", -1)),
            "exptime": float(h.get("EXPTIME", np.nan)),
            "airmass": float(h.get("AIRMASS", np.nan)),
            "tai_beg": h.get("TAI-BEG", np.nan),
            "tai_end": h.get("TAI-END", np.nan),
            "zwarning_flags": int(so.get("ZWARNING", 0)),
            "spec_file": Path(path).name,
            "carton": str(so.get("FIRSTCARTON", "")).strip(),
            "telescope": _telescope(h),
        }
        rows.append((meta, combine_pieces([piece])))
    failed = {r["path"] for r in status}
    return rows, [p for p in args.spec_files if str(p) not in failed], status


#: Resolving powers tried by --resolution auto (None: the templates as they are).
AUTO_RESOLUTIONS = (1500.0, 2000.0, 2600.0, 3500.0, 5000.0, 7000.0, None)


def _resolution(option: str, templates, rows, n_fibres: int = 5):
    """The RV templates at a number, or (auto) at the R of :data:`AUTO_RESOLUTIONS` with
    the least total χ²: (R, :class:`~sdssflow.mwm.rv.TemplateLibrary` prepared at it).

    ``templates`` is the BOSZ library's path (:func:`~sdssflow.io.mwm_templates.read_rv_templates`),
    read here so that its rectified flux is freed once on the fine grid, before the libraries
    of the resolutions tried are made (19 MB less at the step's peak).

    χ² of :func:`measure_rv` summed over the ``n_fibres`` visits of highest S/N: the
    resolution from the fits, not from wdisp; wdisp (the visits' wresl) only says where
    the search starts (:func:`~sdssflow.mwm.rv_templates.least_chi2_resolution`: the R
    nearest λ/wresl and its neighbours; every R when the visits have no wresl).
    """
    wave, rect, params, _ = read_rv_templates(templates)
    if str(option) != "auto":
        return float(option), prepare_templates(wave, rect, params, BOSS.cdelt, float(option))
    snr = np.array([median_snr(f, iv) for _, (f, iv, _, _) in rows])
    best = np.argsort(-np.nan_to_num(snr, nan=-1.0))[:n_fibres]
    with np.errstate(invalid="ignore", divide="ignore"):
        r_data = np.nanmedian([BOSS.wavelength / rows[i][1][3] for i in best] or [np.nan])
    finite = [k for k, r in enumerate(AUTO_RESOLUTIONS) if r is not None]
    start = (
        min(finite, key=lambda k: abs(np.log(AUTO_RESOLUTIONS[k] / r_data)))
        if np.isfinite(r_data) and r_data > 0
        else None
    )

    def chi2_of(lib):
        total = np.nansum([
            measure_rv(BOSS.wavelength, rows[i][1][0], rows[i][1][1], lib, n_combine=1)["chi2"]
            for i in best
        ])  # fmt: skip
        # the search keeps the best library so far while it makes the next: without its
        # pixel-major copy (made again for the one chosen) the peak holds one copy, not two
        lib.release_by_pixel()
        return total

    fine = fine_templates(wave, rect, params, BOSS.cdelt)
    del rect  # the fine grid holds the templates now
    r, lib, tried = least_chi2_resolution(fine, AUTO_RESOLUTIONS, chi2_of, start)
    log.info("template resolution: %s (data R %.0f; total chi2 %s)", r, r_data,
             {k: round(v, 1) for k, v in tried.items()})  # fmt: skip
    return r, lib


def _plate_mjd_jobs(args) -> list[argparse.Namespace]:
    """The one-MJD arguments of every MJD of ``--mjds`` (spec files split by their MJD)."""
    from sdssflow.io.specfile import parse_spec_name

    mjds = [int(m) for m in str(args.mjds).split(",") if m.strip()]
    if not mjds:
        raise StepError("--mjds lists no MJD")
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    jobs = []
    for mjd in mjds:
        one = argparse.Namespace(**vars(args))
        one.mjd, one.output = mjd, str(outdir / visit_file_name(args.plate, mjd))
        if args.spec_files:
            one.spec_files = [f for f in args.spec_files if parse_spec_name(f)[1] == mjd]
        jobs.append(one)
    return jobs


def main(argv: Sequence[str] | None = None) -> Path | list[Path]:
    args = parse(argv)
    keep_freed_memory()  # its many large temporaries reuse freed memory (3 s of page faults)
    if args.mjds is None:
        return _visit_file(args)
    # one job per plate (the survey DAG has half the boss_visits jobs): the MJDs one
    # after the other, so a file is the same as from its own --mjd run
    return [_visit_file(one) for one in _plate_mjd_jobs(args)]


def _visit_file(args) -> Path:
    """Write the bossVisits file of one plate-MJD (``args.mjd``) to ``args.output``."""
    rows, used, status = _frames_route(args) if args.plate_dir else _spec_route(args)
    if not rows and not any(r["status"] == "empty" for r in status):
        why = f"plate {args.plate} MJD {args.mjd}: no fibre with an sdss_id"
        status.append({"mjd": args.mjd, "status": "empty", "message": why, "path": args.plate_dir or ""})
    status += [
        {"mjd": args.mjd, "fiberid": meta.get("fiberid"), "sdss_id": meta.get("sdss_id"),
         "status": "flagged", "message": flag, "path": args.plate_dir or meta.get("spec_file", "")}
        for meta, (f, iv, _, _) in rows
        if (flag := data_quality(f, iv))
    ]  # fmt: skip
    for r in status:
        if r["status"] in ("empty", "flagged"):
            log.warning("plate %d MJD %d: %s %s", args.plate, args.mjd, r["status"], r["message"])
    lib = None
    if args.templates and rows:
        _, lib = _resolution(args.resolution, args.templates, rows)
        log.info("%d RV templates from %s", len(lib.params), args.templates)
    n = len(rows)
    table = np.zeros(n, dtype=list(BOSS_VISIT_COLUMNS))
    for name in table.dtype.names:
        if table.dtype[name].kind == "f":
            table[name] = np.nan
    flux = np.zeros((n, BOSS.npix), np.float32)
    ivar, wresl = np.zeros_like(flux), np.zeros_like(flux)
    mask = np.zeros((n, BOSS.npix), np.int64)
    wave = BOSS.wavelength
    n_rv = 0
    for k, (meta, (f, iv, m, wr)) in enumerate(rows):
        flux[k], ivar[k], mask[k], wresl[k] = f, iv, m, wr
        meta = {**meta, "plateid": args.plate, "fieldid": args.plate, "mjd": args.mjd}
        if not meta.get("telescope"):
            meta["telescope"] = args.telescope
        meta.setdefault("run2d", args.run2d)
        meta["snr"] = median_snr(f, iv)
        if lib is not None:
            rv = measure_rv(wave, f, iv, lib)
            meta.update({f"xcsao_{key}": value for key, value in rv.items() if key in RV_FIELDS})
            n_rv += int(np.isfinite(rv["v_rad"]))
        for key, value in meta.items():
            if key not in table.dtype.names or value is None:
                continue
            if table.dtype[key].kind == "i" and not np.isfinite(float(value)):
                continue  # keep the integer fill (0)
            table[key][k] = value
    cards = [
        ("PLATEID", args.plate, "plate (or field)"),
        ("MJD", args.mjd, "MJD of the visit"),
        ("RUN2D", args.run2d, "BOSS reduction version"),
        ("NFIBER", n, "science fibres in this file"),
    ]
    out = write_boss_visits(
        args.output,
        table,
        flux,
        ivar,
        mask,
        wresl,
        cards,
        args.version_name,
        used,
        status=boss_visit_status(status),
    )
    log.info(
        "plate %d MJD %d: %d visits (%d with RV) from %d files -> %s",
        args.plate,
        args.mjd,
        n,
        n_rv,
        len(used),
        out,
    )
    return out


if __name__ == "__main__":
    sys.exit(run_step(main))
