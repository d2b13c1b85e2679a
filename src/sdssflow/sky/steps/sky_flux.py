"""Step ``sky_flux``: calibrated total light of every sky fibre of one plate.

Usage (BOSS reductions, ``input: demo | sdss``)::

    python -m sdssflow.sky.steps.sky_flux --plate 4100 --plate-dir <redux>/<run2d>/4100 \\
        --selection results/v1/selection/sky/selection-sky-4100.csv \\
        --calibration spfluxcalib|reference|bosz [--reference-calib <spFluxcalib-{camera}-...>] \\
        [--fluxcal-dir results/v1/fluxcal/4100] [--bad-mask-bits NOPLUG,BADTRACE,...] \\
        [--fiber-loss-factor 1.0] --out results/v1/sky/4100/skyflux-4100.fits --version-name v1

Usage (SDSS spec full files, ``input: spec_files``)::

    python -m sdssflow.sky.steps.sky_flux --plate 6717 --spec-dir ../shared/data/real/sdss_spec \\
        --out results/v1/sky/6717/skyflux-6717.fits

Exposures come from the spPlate ``EXPIDnn`` keywords of every MJD of the plate (de-duplicated),
restricted to the selection table's exposures when one is given, minus its ``excluded_cameras``.
Sky fibres are the plug-map rows with OBJTYPE SKY. Total light = spFrame flux + sky model
(flat-fielded electrons per native pixel) times ``cal_factor`` of the calibration mode:

* ``spfluxcalib``: ``R / fluxcalib`` of the exposure's own spFluxcalib;
* ``reference``: ``R / fluxcalib`` of one fixed spFluxcalib per camera (``{camera}`` in the path
  is replaced), row for row as SkyModelling did, with R of the frame being calibrated;
* ``bosz``: the flux-calibration step's ``calib-{expid}.fits`` (``cal_factor`` HDUs).

Output (:func:`sdssflow.io.sky.write_skyflux`): WAVE, FLUX, IVAR, DISP, MASK images
(nspec, npix), the raw META table (one row per sky spectrum) and, a STATUS
table (one row per frame: ok / failed with the reason / no_sky_fibres). A failing frame does not
stop the plate (the original aborted the whole run on one missing file).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
from astropy.table import Table

from sdssflow.io.boss import read_spcframe_mask, read_spframe
from sdssflow.io.selection import read_selection
from sdssflow.io.sky import write_skyflux
from sdssflow.sky.calibration import (
    cal_factor_from_fluxcalib,
    pixel_disp_to_sigma,
)
from sdssflow.sky.extract import (
    SkySpectra,
    concatenate,
    empty_sky_spectra,
    frame_sky_spectra,
)
from sdssflow.sky.masks import DEFAULT_BAD_BITS, bits_value
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main", "plate_exposures", "CALIBRATION_MODES"]

log = logging.getLogger(__name__)

CALIBRATION_MODES = ("spfluxcalib", "reference", "bosz")


def parse(argv=None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--plate", required=True, type=int, help="plate id")
    p.add_argument("--out", required=True, help="output skyflux-{plate}.fits")
    p.add_argument("--plate-dir", help="BOSS plate directory (spPlate, spFrame, spCFrame, spFluxcalib)")
    p.add_argument("--spec-dir", help="directory of spec-PPPP-MMMMM-FFFF.fits full files (input route 2)")
    p.add_argument("--selection", help="selection CSV of the plate (exposures to use; optional)")
    p.add_argument("--calibration", choices=CALIBRATION_MODES, default="spfluxcalib", help="calibration mode")
    p.add_argument("--reference-calib", help="reference spFluxcalib path; '{camera}' is replaced by b1/b2/r1/r2")
    p.add_argument("--fluxcal-dir", help="flux-calibration directory of the plate (holds {mjd}/calib-{expid}.fits)")
    p.add_argument("--bad-mask-bits", default=",".join(DEFAULT_BAD_BITS), help="comma-separated SPPIXMASK names")
    p.add_argument("--fiber-loss-factor", type=float, default=1.0, help="extra calibration factor (original 1.027356)")
    p.add_argument("--no-spcframe-mask", action="store_true", help="do not OR the spCFrame mask into the spFrame mask")
    args = p.parse_args(argv)
    if bool(args.plate_dir) == bool(args.spec_dir):
        p.error("give exactly one of --plate-dir and --spec-dir")
    return args


def _read_selection(path: str | None) -> dict[str, np.ndarray] | None:
    """Selection CSV as columns (``exposure`` int; ``flags``, ``excluded_cameras`` str)."""
    if not path:
        return None
    sel = read_selection(path, required=("exposure",))
    text = {c: sel[c].to_numpy(object) if c in sel else np.full(len(sel), "", object) for c in ("flags", "excluded_cameras")}
    return {"exposure": sel["exposure"].to_numpy(np.int64), **text}


def plate_exposures(spplates: dict, selection: dict | None) -> list[tuple[int, int, str, str]]:
    """(mjd, expid, camera, flags) to process, from spPlate EXPIDnn keywords and the selection.

    Parameters
    ----------
    spplates : dict of mjd -> path
        spPlate files of the plate.
    selection : dict of column -> array, or None
        Selection table (``exposure``, ``flags``, ``excluded_cameras``); None = all exposures.

    Returns
    -------
    list of (mjd, expid, camera, flags)
        De-duplicated, sorted (the original processed duplicates once per spPlate).
    """
    from sdssflow.io.spplate import read_spplate_exposures

    seen: dict[tuple[int, str], int] = {}
    for mjd, path in sorted(spplates.items()):
        for row in read_spplate_exposures(path):
            seen.setdefault((int(row["expid"]), str(row["camera"])), int(mjd))
    keep = None
    if selection is not None:
        keep = {}
        for exposure, flags, excl in zip(selection["exposure"], selection["flags"], selection["excluded_cameras"]):
            keep[int(exposure)] = (set(str(excl).replace(",", " ").split()), str(flags))
    out = []
    for (expid, cam), mjd in sorted(seen.items(), key=lambda kv: (kv[1], kv[0][0], kv[0][1])):
        flags = ""
        if keep is not None:
            if expid not in keep or cam in keep[expid][0]:
                continue
            flags = keep[expid][1]
        out.append((mjd, expid, cam, flags))
    return out


def _cal_factor(mode: str, args, files: dict, cam: str, expid: int, mjd: int, loglam: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """cal_factor (nrows, npix) of the sky rows of one frame for a calibration mode.

    Parameters
    ----------
    loglam : numpy.ndarray, shape (nrows, npix)
        log10 wavelengths of the selected rows.
    rows : numpy.ndarray of int
        Frame rows (sky fibres).
    """
    from sdssflow.io.boss import read_spfluxcalib

    if mode in ("spfluxcalib", "reference"):
        if mode == "spfluxcalib":
            path = files["spFluxcalib"].get((cam, expid))
            if path is None:
                raise StepError(f"no spFluxcalib-{cam}-{expid:08d} in {args.plate_dir}")
        else:
            if not args.reference_calib:
                raise StepError("--calibration reference needs --reference-calib (config sky.reference_calib)")
            path = Path(args.reference_calib.replace("{camera}", cam))
        fluxcalib, _ = read_spfluxcalib(path)
        if fluxcalib.shape[1] != loglam.shape[1] or fluxcalib.shape[0] <= rows.max(initial=0):
            raise StepError(f"{path}: shape {fluxcalib.shape} does not match the frame ({loglam.shape[1]} pixels)")
        return cal_factor_from_fluxcalib(fluxcalib[rows], loglam)[0]
    from sdssflow.io.fluxcal import read_calibration

    if not args.fluxcal_dir:
        raise StepError("--calibration bosz needs --fluxcal-dir")
    path = Path(args.fluxcal_dir) / f"{mjd}" / f"calib-{expid:08d}.fits"
    cals = read_calibration(path)
    if cam not in cals:
        raise StepError(f"{path}: no calibration for camera {cam} (has {sorted(cals)})")
    c = cals[cam]
    cal = np.asarray(c.cal_factor, dtype=np.float64)
    mask = np.asarray(c.mask).astype(np.int64)
    if cal.ndim == 2:
        cal, mask = cal[rows], mask[rows]
    if cal.shape[-1] != loglam.shape[1]:
        raise StepError(f"{path}: CAL_{cam} has {cal.shape[-1]} pixels, the frame {loglam.shape[1]}")
    cal = np.broadcast_to(cal, loglam.shape).copy()
    # NOCOVER (bit 1: extrapolated) is unusable; TELLURIC / LOWWEIGHT vectors are still the best
    # estimate there and the sky is real, so they are kept.
    nocover = np.broadcast_to((mask & 2) != 0, cal.shape)
    cal[nocover | ~np.isfinite(cal) | (cal <= 0)] = 0.0
    return cal


def _one_frame(args, files, mjd, expid, cam, flags, bad_bits):
    """Sky spectra of one frame (None if it has no sky fibre), the spFrame path, quality flags."""
    path = files["spFrame"].get((cam, expid))
    if path is None:
        raise StepError(f"{args.plate_dir}: spFrame-{cam}-{expid:08d} listed in the spPlate is missing")
    fr = read_spframe(path, objtype="SKY", extras=False)
    rows = fr.rows
    if rows.size == 0:
        log.warning("%s: no SKY fibre in the plug map", path)
        return None, path, ""
    bad_values = fibre_quality(fr.plugmap["FIBERID"], fr.flux, fr.ivar)
    mask = fr.mask
    cpath = files["spCFrame"].get((cam, expid))
    if cpath is not None and not args.no_spcframe_mask:
        mask = mask | read_spcframe_mask(cpath, rows, fr.flux.shape[1])
    cal = _cal_factor(args.calibration, args, files, cam, expid, mjd, fr.loglam, rows)
    part = frame_sky_spectra(
        flux_e=fr.flux,
        sky_e=fr.sky,
        ivar_e=fr.ivar,
        mask=mask,
        loglam=fr.loglam,
        sigma_A=pixel_disp_to_sigma(fr.loglam, fr.disp),
        cal_factor=cal,
        plugmap=fr.plugmap,
        header=fr.header,
        camera=cam,
        bad_bits=bad_bits,
        fiber_loss_factor=args.fiber_loss_factor,
    )
    part.meta["FLAGS"] = np.full(part.nspec, flags, dtype="U64")
    part.meta["CALMODE"] = np.full(part.nspec, args.calibration, dtype="U12")
    no_good = part.meta["FIBERID"][part.meta["NGOOD"] == 0]
    quality = [bad_values] if bad_values else []
    if len(no_good):
        quality.append(f"fibres {','.join(str(int(f)) for f in no_good)}: no usable pixel (all masked)")
    return part, path, "; ".join(quality)


def fibre_quality(fiberid: np.ndarray, flux: np.ndarray, ivar: np.ndarray) -> str:
    """One line naming the fibres with non-finite flux or ivar ('' when there is none).

    Parameters
    ----------
    fiberid : numpy.ndarray of int, shape (nfib,)
    flux, ivar : numpy.ndarray, shape (nfib, npix)
        Frame rows as read (electrons).

    Examples
    --------
    >>> fibre_quality(np.array([3, 4]), np.array([[1.0, np.nan], [1.0, 2.0]]), np.ones((2, 2)))
    'fibres 3: non-finite flux/ivar'
    """
    bad = ~(np.isfinite(flux) & np.isfinite(ivar)).all(axis=1)
    if not bad.any():
        return ""
    return f"fibres {','.join(str(int(f)) for f in np.asarray(fiberid)[bad])}: non-finite flux/ivar"


def boss_sky_spectra(args, selection) -> tuple[SkySpectra, list[Path], Table]:
    """Sky spectra of every selected frame of a BOSS plate directory.

    Only the sky rows of each frame are calibrated (fibre rows of the frame's own plug map).
    A frame that fails (missing or unreadable file, missing calibration) is skipped and recorded
    in the returned STATUS table (with its path and the exception type); a frame with non-finite
    or fully masked sky fibres is ``flagged`` (never ``ok``). A plate with no usable frame (none
    selected, or every one failed) gives zero spectra and a STATUS row ``empty`` saying why:
    the job still succeeds, and the survey-wide steps read the empty product.
    Fix of the original, where one missing file or odd mask bit aborted the whole run.
    """
    from sdssflow.io.spplate import find_plate_files

    # an unusable configuration fails the job (not each frame)
    if args.calibration == "reference" and not args.reference_calib:
        raise StepError("--calibration reference needs --reference-calib (config sky.reference_calib)")
    if args.calibration == "bosz" and not args.fluxcal_dir:
        raise StepError("--calibration bosz needs --fluxcal-dir")
    files = find_plate_files(args.plate_dir)
    if not files["spPlate"]:
        raise StepError(f"{args.plate_dir}: no spPlate file")
    bad_bits = [b for b in args.bad_mask_bits.split(",") if b]
    bits_value(bad_bits)  # validates names
    todo = plate_exposures(files["spPlate"], selection)
    parts, inputs, status = [], list(files["spPlate"].values()), []
    for mjd, expid, cam, flags in todo:
        spframe = str(files["spFrame"].get((cam, expid), ""))
        try:
            part, path, quality = _one_frame(args, files, mjd, expid, cam, flags, bad_bits)
        except (StepError, ValueError, OSError, KeyError) as err:
            log.warning("plate %d exposure %d %s: skipped: %s", args.plate, expid, cam, err)
            status.append((mjd, expid, cam, "failed", _one_line(err), 0, getattr(err, "path", spframe)))
            continue
        if part is None:
            status.append((mjd, expid, cam, "no_sky_fibres", "no SKY fibre in the plug map", 0, spframe))
            continue
        status.append((mjd, expid, cam, "flagged" if quality else "ok", quality, part.nspec, spframe))
        parts.append(part)
        inputs.append(path)
    if not parts:
        why = (
            f"no selected exposure in {args.selection}" if not todo
            else f"no frame gave sky spectra ({len(todo)} tried)"
        )  # fmt: skip
        log.warning("plate %d: %s; writing an empty product", args.plate, why)
        status.append((-1, -1, "", "empty", why, 0, str(args.selection or args.plate_dir)))
    status_table = Table(rows=status, names=STATUS_COLUMNS, dtype=STATUS_DTYPES)
    if parts:
        out = concatenate(parts)
    else:  # the columns of a normal product, in the same order
        out = empty_sky_spectra()
        out.meta["FLAGS"] = np.zeros(0, dtype="U64")
        out.meta["CALMODE"] = np.zeros(0, dtype="U12")
        out.meta["SPECNO"] = np.zeros(0, dtype=np.int64)
    out.meta["SOURCE"] = np.full(out.nspec, "spframe_sky", dtype="U12")
    return out, inputs, status_table


#: Columns of the STATUS table of a skyflux file: one row per frame (camera of an exposure),
#: plus a row with STATUS 'empty' (MJD = EXPID = -1) when the plate gave no sky spectrum.
STATUS_COLUMNS = ("MJD", "EXPID", "CAMERA", "STATUS", "MESSAGE", "NSKY", "PATH")
STATUS_DTYPES = (np.int64, np.int64, "U2", "U16", "U300", np.int32, "U300")


def _one_line(err: BaseException) -> str:
    """An exception as one line (its type when it is not already in the text)."""
    text = " ".join(str(err).split())
    return text if type(err).__name__ in text else f"{type(err).__name__}: {text}"


def spec_sky_spectra(args, selection) -> tuple[SkySpectra, list[Path], Table]:
    """Sky spectra of the spec full files of one plate (input route 2), and a STATUS table.

    A lite file (no per-exposure HDUs: its coadd holds no per-exposure sky) is named in a
    warning and in STATUS (``lite_file``, EXPID -1) instead of dropping out silently, and so is a
    v6 (SDSS-V) full file (``v6_file``: its exposure tables merge b+r and have no CALIB, so the
    per-camera sky and its errors cannot be formed); a plate-era full file gives one ``ok`` row
    per exposure and camera used.
    """
    from sdssflow.io.specfile import find_spec_files, read_specfile
    from sdssflow.sky.specroute import specfile_sky_spectra

    paths = find_spec_files(args.spec_dir, plate=args.plate)
    if not paths:
        raise StepError(f"{args.spec_dir}: no spec-{args.plate:04d}-*.fits file")
    bad_bits = [b for b in args.bad_mask_bits.split(",") if b]
    keep_exp = None
    if selection is not None:
        keep_exp = set(int(e) for e in selection["exposure"])
    parts, used, status = [], [], []
    for path in paths:
        spec = read_specfile(path)
        if not spec.is_full:
            reason = f"{path.name}: lite spec file (no per-exposure HDUs), no per-exposure sky; skipped"
            log.warning("%s", reason)
            status.append((spec.mjd, -1, "", "lite_file", reason, 0, str(path)))
            continue
        if any(len(e.camera) != 2 for e in spec.exposures):
            # v6: exposure tables merge b+r on the coadd grid, no CALIB (DR19 datamodel MJD_EXP_*)
            reason = (f"{path.name}: v6 spec file (per-exposure tables merge b+r and carry no CALIB), "
                      "no per-camera sky with errors; skipped (use input: sdss, the spFrame/spCFrame files)")
            log.warning("%s", reason)
            status.append((spec.mjd, -1, "", "v6_file", reason, 0, str(path)))
            continue
        keep = None if keep_exp is None else {(e.expid, e.camera) for e in spec.exposures if e.expid in keep_exp}
        part = specfile_sky_spectra(spec, bad_bits, keep)
        part.meta["FLAGS"] = np.full(part.nspec, "", dtype="U64")
        part.meta["CALMODE"] = np.full(part.nspec, "pipeline", dtype="U12")
        for expid, cam in zip(part.meta["EXPID"], part.meta["CAMERA"]):
            status.append((spec.mjd, int(expid), str(cam), "ok", path.name, 1, str(path)))
        parts.append(part)
        used.append(path)
    status_table = Table(rows=status, names=STATUS_COLUMNS, dtype=STATUS_DTYPES)
    if not parts:
        names = ", ".join(p.name for p in paths)
        kinds = "lite" if all(r[3] == "lite_file" for r in status) else "lite or v6"
        raise StepError(f"{args.spec_dir}: plate {args.plate} has no full spec file ({kinds} files only: {names})")
    out = concatenate(parts)
    out.meta["SOURCE"] = np.full(out.nspec, "spec_sky", dtype="U12")
    return out, used, status_table


def main(argv=None) -> int:
    args = parse(argv)
    selection = _read_selection(args.selection)
    if args.plate_dir:
        spectra, inputs, status = boss_sky_spectra(args, selection)
        nfail = int(np.sum(status["STATUS"] == "failed"))
        if nfail:
            log.warning("plate %d: %d of %d frames failed (see the STATUS table)", args.plate, nfail, len(status))
    else:
        spectra, inputs, status = spec_sky_spectra(args, selection)
        nlite = int(np.sum(status["STATUS"] == "lite_file"))
        if nlite:
            log.warning("plate %d: %d lite spec file(s) skipped (see the STATUS table)", args.plate, nlite)
    ngood = int((spectra.ivar > 0).any(axis=1).sum())
    log.info("plate %d: %d sky spectra (%d with data), calibration %s", args.plate, spectra.nspec, ngood, args.calibration)
    write_skyflux(
        spectra,
        args.out,
        version=args.version_name,
        inputs=inputs,
        extra_tables={"STATUS": status} if status is not None else None,
        header_cards={
            "PLATE": (args.plate, "plate"),
            "CALMODE": (args.calibration if args.plate_dir else "pipeline", "sky.calibration mode"),
            "BADBITS": (bits_value([b for b in args.bad_mask_bits.split(",") if b]), "SPPIXMASK bits giving ivar=0"),
            "FIBLOSS": (args.fiber_loss_factor, "extra calibration factor"),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_step(main))
