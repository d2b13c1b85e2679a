"""Generate the demo survey (rule ``demo_survey``).

Usage::

    python -m sdssflow.synth.steps.survey --settings '{"n_plates": 1}' --manifest resources/demo/manifest.csv

``--settings`` is the JSON of the ``demo:`` config block (missing keys take
:data:`sdssflow.synth.layout.DEFAULT_DEMO`); the manifest path must equal
``<root>/manifest.csv``. The survey is a deterministic function of the settings; the
manifest (every file with its size) is written last.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sdssflow.io.products import atomic_path
from sdssflow.steps import StepError, base_parser, run_step
from sdssflow.synth import apogee, boss_files, catalogs, frames, sky_lines, spplate_files, truth
from sdssflow.synth import sky as skymod
from sdssflow.synth.bosz_mirror import write_bosz_mirror
from sdssflow.synth.layout import CAMERAS, DemoPlan, demo_plan
from sdssflow.synth.plugmap import coadd_inputs, plugmap_rows
from sdssflow.synth.targets import exposure_conditions, make_stars, plate_fibres, rng_for

__all__ = ["generate_survey", "parse", "main"]

log = logging.getLogger(__name__)

#: FITS checksums on the big frame files cost about 20 ms per image HDU (a third of the
#: generation time); the demo's spFrame/spCFrame files are written without them.
FRAME_CHECKSUMS = False


def _write_plate_mjd(
    plan, plate, mjd, exps, stars, rest, fibres, lines, table, kidx, version, written, truth_rows
):
    seed = int(plan.get("seed"))
    flat, arc = 200000 + 2 * kidx, 200000 + 2 * kidx + 1
    coadd_frames = []
    exp_list = []
    plug = {}
    for index, expid in enumerate(exps):
        e = exposure_conditions(plan, plate, mjd, expid, index)
        cond = skymod.conditions_of(e)
        strengths = skymod.line_strengths(lines, cond)
        for camera in CAMERAS:
            sp = int(camera[1])
            rows = slice((sp - 1) * 500, sp * 500)
            if sp not in plug:
                plug[sp] = plugmap_rows(fibres, stars, rows, e.ra, e.dec, seed, plate)
            rng = rng_for(seed, "noise", expid, CAMERAS.index(camera))
            fr = frames.build_frame(camera, sp, e, fibres, stars, rest, lines, strengths, rng)
            hdr = frames.frame_header(e, camera, flat, arc)
            written.append(
                boss_files.write_spframe(
                    plan.frame_path("spFrame", plate, mjd, camera, expid),
                    flux=fr.flux,
                    ivar=fr.ivar,
                    mask=fr.mask,
                    wset=fr.wset,
                    dispset=fr.dispset,
                    plugmap=plug[sp],
                    sky=fr.sky,
                    x=fr.xpos,
                    superflat=fr.superflat,
                    header=hdr,
                    version=version,
                    checksum=FRAME_CHECKSUMS,
                )
            )
            chdr = hdr.copy()
            written.append(
                boss_files.write_spcframe(
                    plan.frame_path("spCFrame", plate, mjd, camera, expid),
                    flux=fr.cflux,
                    ivar=fr.civar,
                    mask=fr.cmask,
                    loglam=fr.loglam,
                    wdisp=fr.wdisp,
                    plugmap=plug[sp],
                    sky=fr.csky,
                    x=fr.xpos,
                    superflat=fr.superflat,
                    header=chdr,
                    version=version,
                    checksum=FRAME_CHECKSUMS,
                )
            )
            fhdr = hdr.copy()
            fhdr["WAVEMIN"] = (float(10 ** fr.loglam[:, 0].min()), "minimum wavelength, A")
            fhdr["WAVEMAX"] = (float(10 ** fr.loglam[:, -1].max()), "maximum wavelength, A")
            written.append(
                boss_files.write_spfluxcalib(
                    plan.frame_path("spFluxcalib", plate, mjd, camera, expid), fr.fluxcalib, fhdr, version
                )
            )
            coadd_frames.append((sp, coadd_inputs(fr)))
            exp_list.append((camera, expid, flat, arc))
            truth.collect(
                truth_rows, plan, e, camera, sp, fr, fibres, lines, strengths, table, cond
            )
    co = frames.coadd_plate(coadd_frames)
    pm_all = np.concatenate([plug[1], plug[2]])
    first = exposure_conditions(plan, plate, mjd, exps[0], 0)
    hdr = frames.frame_header(first, "b1", flat, arc)
    for key in ("CAMERAS", "SPEC_ID", "EXPOSURE"):
        del hdr[key]
    hdr["NEXP"] = len(exp_list)
    hdr["MJDLIST"] = (str(mjd), "MJDs combined")
    hdr["BESTEXP"] = (exps[0], "best exposure")
    written.append(
        spplate_files.write_spplate(
            plan.path("spPlate", plateid=plate, mjd=mjd),
            flux=co["flux"],
            ivar=co["ivar"],
            andmask=co["andmask"],
            ormask=co["ormask"],
            wdisp=co["wdisp"],
            plugmap=pm_all,
            sky=co["sky"],
            coeff0=3.5523,
            exposures=exp_list,
            header=hdr,
            version=version,
        )
    )
    return pm_all


def _write_apogee(plan, stars, assignments, version, written) -> list[dict]:
    seed = int(plan.get("seed"))
    out = []
    for idx, s in enumerate(stars):
        if not s.source.apogee:
            continue
        visits, infos = [], []
        for plate, mjd in plan.plate_mjds:
            fiber = assignments.get((plate, idx))
            if fiber is None:
                continue
            apfiber = (fiber % 300) + 1
            obj = apogee.apogee_id(s.ra, s.dec)
            where = {"telescope": "apo25m", "field": f"demo{plate}", "obj": obj}
            vpath = plan.apogee_path("apVisit", plate=plate, mjd=mjd, fiber=apfiber, **where)
            spath = plan.apogee_path("apStar", **where)
            e = exposure_conditions(plan, plate, mjd, 120000, 0)
            visit = {
                "plate": plate,
                "mjd": mjd,
                "fiber": apfiber,
                "v_rad": s.v_visit[mjd],
                "snr": float(
                    rng_for(seed, "apogee", s.source.sdss_id % 2**31, mjd).uniform(60, 150)
                ),
                "telescope": "apo25m",
                "field": f"demo{plate}",
                "jd": e.mjd_beg_utc + 2400000.5 + 0.03,
                "file": vpath.name,
            }
            rng = rng_for(seed, "apogee", s.source.sdss_id % 2**31, mjd, 1)
            path, info = apogee.write_apvisit(vpath, s, visit, rng, version)
            written.append(path)
            visits.append(visit)
            infos.append(info)
            out.append(
                {
                    "sdss_id": s.source.sdss_id,
                    "mjd": mjd,
                    "plate": plate,
                    "fiber": apfiber,
                    "v_rad": visit["v_rad"],
                    "snr": info["snr"],
                    "file": str(path.relative_to(plan.root)),
                }
            )
        if visits:
            written.append(apogee.write_apstar(spath, s, visits, infos, version, apred=plan.apred))
    return out


def generate_survey(plan: DemoPlan, version: str = "demo") -> list[Path]:
    """Write the whole demo survey under ``plan.root`` and return the files written.

    The manifest is not written here (see :func:`write_manifest`).
    """
    if plan.era == "sdss5":
        from sdssflow.synth.sdss5 import generate_sdss5

        return generate_sdss5(plan, version)
    t0 = time.perf_counter()
    stars = make_stars(plan)
    log.info("%d stars (%d standards)", len(stars), sum(s.source.kind == "std" for s in stars))
    rest = {}
    for i, s in enumerate(stars):
        for arm in ("b", "r"):
            rest[(i, arm)] = frames.rest_spectrum(s.params, arm)
    lines, table = sky_lines.read_sky_lines()
    written: list[Path] = []
    truth_rows = truth.new_rows()
    assignments = {}
    plugmaps = {}
    exps_by_pm: dict[tuple[int, int], list[int]] = {}
    for p, m, e in plan.exposures:
        exps_by_pm.setdefault((p, m), []).append(e)
    for kidx, ((plate, mjd), exps) in enumerate(sorted(exps_by_pm.items())):
        if plate not in plugmaps:
            plugmaps[plate] = plate_fibres(plan, plate, stars)
        fibres = plugmaps[plate]
        for row in np.flatnonzero(fibres["star"] >= 0):
            assignments[(plate, int(fibres["star"][row]))] = int(fibres["fiberid"][row])
        _write_plate_mjd(
            plan,
            plate,
            mjd,
            exps,
            stars,
            rest,
            fibres,
            lines,
            table,
            kidx,
            version,
            written,
            truth_rows,
        )
        log.info(
            "plate %d MJD %d: %d exposures written (%.1f s)",
            plate,
            mjd,
            len(exps),
            time.perf_counter() - t0,
        )
    apogee_visits = _write_apogee(plan, stars, assignments, version, written)
    written += catalogs.write_catalogs(plan, stars, plugmaps, version)
    written += write_bosz_mirror(plan.bosz_mirror)
    written += truth.write_truth(plan, stars, truth_rows, apogee_visits, table, version)
    log.info("demo survey: %d files in %.1f s", len(written), time.perf_counter() - t0)
    return written


def write_manifest(plan: DemoPlan, files: Sequence[Path], manifest: Path) -> Path:
    """Write ``manifest.csv``: path (relative to the root), bytes; sorted."""
    root = plan.root.resolve()
    rows = sorted(
        {(str(Path(f).resolve().relative_to(root)), Path(f).stat().st_size) for f in files}
    )
    with atomic_path(manifest) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "bytes"])
        w.writerows(rows)
    return manifest


def parse(argv: Sequence[str] | None = None):
    """Command-line options of the step."""
    parser = base_parser("Generate the synthetic demo survey (SDSS formats plus truth/).")
    parser.add_argument("--settings", default="{}", help="JSON of the demo: config block")
    parser.add_argument(
        "--manifest", required=True, help="output manifest, <demo root>/manifest.csv"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> Path:
    """Generate the survey described by ``--settings`` and write ``--manifest`` last."""
    args = parse(argv)
    try:
        settings = json.loads(args.settings)
    except json.JSONDecodeError as err:
        raise StepError(f"--settings is not valid JSON: {err}") from err
    if not isinstance(settings, dict):
        raise StepError(f"--settings must be a JSON object, got {type(settings).__name__}")
    manifest = Path(args.manifest)
    if "root" not in settings:
        settings = {**settings, "root": str(manifest.parent)}
    plan = demo_plan(settings)
    if manifest.resolve() != plan.manifest.resolve():
        raise StepError(f"--manifest {manifest} is not <demo root>/manifest.csv = {plan.manifest}")
    if manifest.exists():
        manifest.unlink()  # an old manifest must not mark a half-rewritten survey as complete
    files = generate_survey(plan, args.version_name)
    write_manifest(plan, files, manifest)
    log.info("wrote %s (%d files)", manifest, len(files))
    return manifest


if __name__ == "__main__":
    sys.exit(run_step(main))
