"""The SDSS-V demo survey (``demo.era: sdss5``): FPS fields at APO and LCO, DR19 files.

Fields alternate between the observatories (the first at APO). Each observatory has one
BOSS spectrograph (idlspec2d v6: cameras b1/r1 at APO, b2/r2 at LCO) and every field-MJD is
one FPS configuration. The stars, sky, instrument and noise models are the plate-era demo's
(:mod:`sdssflow.synth.frames`, :mod:`sdssflow.synth.sky`, :mod:`sdssflow.synth.apogee`): a
field observes the targets that :func:`sdssflow.synth.targets.plate_fibres` assigns to its
observatory's spectrograph, with fibre ids 1-500. Every file sits at the DR19 sdss-access
path (:meth:`sdssflow.synth.layout.DemoPlan.path`):

* spFrame / spCFrame / spFluxcalib per camera-exposure, spField (the field-MJD coadd,
  spPlate layout with EXPIDnn keys) and ``spfibermap-<FIELD6>-<MJD>.fits`` (one table per
  confSummary, EXTNAME ``confSummary-<CONFIGID>.par``);
* specFull and specLite (``spec-<FIELD6>-<MJD>-<CATALOGID>.fits``, :mod:`sdssflow.io.spec_v6`)
  of every star fibre;
* ``confSummary-<CONFIGID>.par`` (yanny, FPSTarget fields; :mod:`sdssflow.io.confsummary`);
* apVisit 1.3 (``apVisit-1.3-<telescope>-<configid>-<mjd>-<fiber>.fits``, SURVEY 'sdss-v')
  and healpix-organised apStar files (HEALPix nside 128, ring, of the star).

Every target has its carton (confSummary/spfibermap FIRSTCARTON, spec-file SPALL); each field
also holds a few non-stellar targets (QSO/GALAXY in BHM cartons, a QSO in an MWM carton) for the
carton rules of the mwm chain (:mod:`sdssflow.synth.sdss5_targets`). The observing conditions
(altitude, airmass, Moon, Sun, twilight) of a field's exposures are computed at its observatory.

The truth contract (``truth/``) is the plate era's.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy_healpix import HEALPix

from sdssflow.io.confsummary import write_confsummary
from sdssflow.io.spec_v6 import write_spec_v6
from sdssflow.synth import apogee, boss_files, catalogs, frames, sky_lines, spplate_files, truth
from sdssflow.synth import sdss5_targets as cartons
from sdssflow.synth import sky as skymod
from sdssflow.synth.bosz_mirror import write_bosz_mirror
from sdssflow.synth.layout import FIBERS_PER_SPECTROGRAPH, DemoPlan
from sdssflow.synth.targets import exposure_conditions, make_stars, plate_fibres, rng_for

__all__ = [
    "OBSERVATORIES",
    "TELESCOPES",
    "SPECTROGRAPH",
    "observatory_of",
    "config_id",
    "field_fibres",
    "healpix_of",
    "generate_sdss5",
]

log = logging.getLogger(__name__)

OBSERVATORIES = ("apo", "lco")
TELESCOPES = {"apo": "apo25m", "lco": "lco25m"}
#: The one BOSS spectrograph of each observatory (datamodel / idlspec2d v6).
SPECTROGRAPH = {"apo": 1, "lco": 2}
#: HEALPix of apStar directories (apogee_drp: nside 128, ring ordering).
APSTAR_HEALPIX = HEALPix(nside=128, order="ring")
def observatory_of(plan: DemoPlan, field: int) -> str:
    """``apo`` for the 1st, 3rd, ... field of the plan, ``lco`` for the others."""
    return OBSERVATORIES[plan.plates.index(int(field)) % 2]


def config_id(plan: DemoPlan, field: int, mjd: int) -> int:
    """FPS configuration id of a field-MJD (one configuration per field-MJD)."""
    return 10000 + plan.plate_mjds.index((int(field), int(mjd)))


def healpix_of(ra: float, dec: float) -> int:
    """HEALPix (nside 128, ring) of a position in degrees (the apStar directory)."""
    return int(APSTAR_HEALPIX.lonlat_to_healpix(ra * u.deg, dec * u.deg))


def field_fibres(plan: DemoPlan, field: int, stars: list) -> dict:
    """Fibres of a field: the plate-era assignment of its observatory's spectrograph rows.

    The other spectrograph's rows are unused (objtype GALAXY, no star); fibre ids run
    1-500 per spectrograph as in SDSS-V.
    """
    fib = plate_fibres(plan, field, stars)
    sp = SPECTROGRAPH[observatory_of(plan, field)]
    other = slice((2 - sp) * FIBERS_PER_SPECTROGRAPH, (3 - sp) * FIBERS_PER_SPECTROGRAPH)
    fib["objtype"][other] = "GALAXY"
    fib["star"][other] = -1
    fib["dead"][other] = False
    fib["fiberid"] = np.tile(np.arange(1, FIBERS_PER_SPECTROGRAPH + 1), 2)
    return fib


def _frame_header(e, camera, flat, arc, obs, field, cid):
    hdr = frames.frame_header(e, camera, flat, arc)
    hdr["TELESCOP"] = ("SDSS 2.5-M", "telescope")
    hdr["OBSERVAT"] = (obs.upper(), "observatory")
    hdr["FIELDID"] = (int(field), "FPS field")
    hdr["CONFID"] = (int(cid), "FPS configuration")
    hdr["DESIGNID"] = (int(cid) + 100000, "FPS design")
    hdr["CONFSFIL"] = (f"confSummaryF-{cid}.par", "configuration summary")
    return hdr


def _fibermap_rows(plan, fibres, stars, sp, obs, e, apogee_fibres):
    """FIBERMAP rows (confSummary members) of a configuration: BOSS fibres then APOGEE fibres."""
    base = (sp - 1) * FIBERS_PER_SPECTROGRAPH
    rng = rng_for(int(plan.get("seed")), "fps", e.plate, e.mjd)
    rows = []
    for i in range(FIBERS_PER_SPECTROGRAPH):
        k = base + i
        objtype = str(fibres["objtype"][k])
        idx = int(fibres["star"][k])
        s = stars[idx] if idx >= 0 else None
        rows.append((i + 1, "BOSS", objtype, s, sp))
    for s, fiber in apogee_fibres:
        rows.append((fiber, "APOGEE", "SCIENCE", s, 0))
    cols: dict[str, list] = {}
    for n, (fiber, ftype, objtype, s, spid) in enumerate(rows):
        carton, program, category = cartons.carton_of(objtype if s is not None or objtype == "SKY" else "")
        assigned = s is not None or objtype == "SKY"
        r, th = np.sqrt(rng.uniform()) * 1.45, rng.uniform(0, 2 * np.pi)
        ra = s.ra if s else e.ra + r * np.cos(th) / np.cos(np.radians(e.dec))
        dec = s.dec if s else e.dec + r * np.sin(th)
        mags = [s.mags[b] for b in ("sdss_g", "sdss_r", "sdss_i", "sdss_z", "ps1_g")] if s else [-999.0] * 5
        values = {
            "positionerId": 1 + n % 500,
            "holeId": f"R{n // 27:+d}C{n % 27 + 1}",
            "fiberType": ftype,
            "assigned": int(assigned),
            "on_target": int(assigned),
            "valid": 1,
            "decollided": 0,
            "disabled": int(bool(fibres["dead"][base + fiber - 1])) if ftype == "BOSS" else 0,
            "too": 0,
            "too_id": -1,
            "too_program": "",
            "xwok": 300.0 * np.cos(th) * r / 1.45,
            "ywok": 300.0 * np.sin(th) * r / 1.45,
            "zwok": 143.0,
            "xFocal": 300.0 * np.cos(th) * r / 1.45,
            "yFocal": 300.0 * np.sin(th) * r / 1.45,
            "alpha": float(rng.uniform(0, 360)),
            "beta": float(rng.uniform(90, 180)),
            "racat": ra,
            "deccat": dec,
            "ra": ra,
            "dec": dec,
            "alt_observed": e.alt,
            "az_observed": e.az,
            "lambda_design": 5400.0 if ftype == "BOSS" else 16000.0,
            "lambda_eff": 5400.0 if ftype == "BOSS" else 16000.0,
            "coord_epoch": 2015.5,
            "spectrographId": spid if ftype == "BOSS" else 0,
            "fiberId": fiber,
            "delta_ra": 0.0,
            "delta_dec": 0.0,
            "mag": mags,
            "sdss_id": s.source.sdss_id if s else -1,
            "catalogid": s.source.catalogid if s else -1,
            "tmass_id": apogee.apogee_id(s.ra, s.dec)[2:] if s else "",
            "category": category,
            "cadence": "bright_1x1" if assigned else "",
            "firstcarton": carton,
            "program": program,
        }
        for key, value in values.items():
            cols.setdefault(key, []).append(value)
    return {k: np.array(v) for k, v in cols.items()}


def _write_fibermap(path, cid, header, rows) -> Path:
    """spfibermap: one table per confSummary (EXTNAME ``confSummary-<CONFIGID>.par``)."""
    cols = []
    for name, arr in rows.items():
        arr = np.asarray(arr)
        if arr.dtype.kind in "US":
            cols.append(fits.Column(name=name.upper(), format=f"{max(arr.dtype.itemsize // 4 if arr.dtype.kind == 'U' else arr.dtype.itemsize, 1)}A", array=arr.astype(str)))
        elif arr.ndim == 2:
            cols.append(fits.Column(name=name.upper(), format=f"{arr.shape[1]}E", array=arr.astype(np.float32)))
        elif arr.dtype.kind in "iub":
            cols.append(fits.Column(name=name.upper(), format="K", array=arr.astype(np.int64)))
        else:
            cols.append(fits.Column(name=name.upper(), format="D", array=arr.astype(np.float64)))
    hdu = fits.BinTableHDU.from_columns(cols, name=f"confSummary-{cid}.par")
    for key, value in header.items():
        hdu.header[key[:8].upper()] = value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return path


def _coadd_row(co: dict, row: int, grid: np.ndarray) -> dict:
    return {
        "FLUX": co["flux"][row],
        "LOGLAM": grid,
        "IVAR": co["ivar"][row],
        "AND_MASK": co["andmask"][row],
        "OR_MASK": co["ormask"][row],
        "WDISP": co["wdisp"][row],
        "SKY": co["sky"][row],
        "WRESL": grid * 0 + np.log(10) * 1e-4 * 10.0**grid * co["wdisp"][row] * 2.3548,
    }


def _write_field_mjd(plan, field, mjd, exps, stars, rest, fibres, lines, table, kidx, version, written, truth_rows):
    """Frames, spField, spfibermap, confSummary and spec files of one field-MJD.

    Returns the configuration id and the ``targets.fits`` rows of the field's non-stellar
    carton targets (:mod:`sdssflow.synth.sdss5_targets`).
    """
    obs = observatory_of(plan, field)
    sp = SPECTROGRAPH[obs]
    cid = config_id(plan, field, mjd)
    seed = int(plan.get("seed"))
    cams = (f"b{sp}", f"r{sp}")
    flat, arc = 200000 + 2 * kidx, 200000 + 2 * kidx + 1
    from sdssflow.synth.plugmap import coadd_inputs, plugmap_rows

    rows = slice((sp - 1) * 500, sp * 500)
    per_exp, all_frames, exp_list, headers = [], [], [], []
    plug = None
    first = None
    for index, expid in enumerate(exps):
        e = exposure_conditions(plan, field, mjd, expid, index, obs)
        first = first or e
        cond = skymod.conditions_of(e)
        strengths = skymod.line_strengths(lines, cond)
        if plug is None:
            plug = plugmap_rows(fibres, stars, rows, e.ra, e.dec, seed, field)
            plug["SPECTROGRAPHID"] = sp
            extra = cartons.non_stellar_targets(plan, field, fibres, sp)
            cartons.add_to_plugmap(plug, extra, rows.start)
        this = []
        for camera in cams:
            rng = rng_for(seed, "noise", expid, ("b1", "r1", "b2", "r2").index(camera))
            fr = frames.build_frame(camera, sp, e, fibres, stars, rest, lines, strengths, rng)
            hdr = _frame_header(e, camera, flat, arc, obs, field, cid)
            common = {"plugmap": plug, "x": fr.xpos, "superflat": fr.superflat, "header": hdr,
                      "version": version, "checksum": False}
            written.append(boss_files.write_spframe(plan.frame_path("spFrame", field, mjd, camera, expid),
                                              flux=fr.flux, ivar=fr.ivar, mask=fr.mask, wset=fr.wset,
                                              dispset=fr.dispset, sky=fr.sky, **common))
            written.append(boss_files.write_spcframe(plan.frame_path("spCFrame", field, mjd, camera, expid),
                                               flux=fr.cflux, ivar=fr.civar, mask=fr.cmask, loglam=fr.loglam,
                                               wdisp=fr.wdisp, sky=fr.csky, **{**common, "header": hdr.copy()}))
            fhdr = hdr.copy()
            fhdr["WAVEMIN"] = (float(10 ** fr.loglam[:, 0].min()), "minimum wavelength, A")
            fhdr["WAVEMAX"] = (float(10 ** fr.loglam[:, -1].max()), "maximum wavelength, A")
            written.append(boss_files.write_spfluxcalib(plan.frame_path("spFluxcalib", field, mjd, camera, expid),
                                                  fr.fluxcalib, fhdr, version))
            this.append((sp, coadd_inputs(fr)))
            exp_list.append((camera, expid, flat, arc))
            truth.collect(truth_rows, plan, e, camera, sp, fr, fibres, lines, strengths, table, cond)
        per_exp.append(frames.coadd_plate(this))
        all_frames += this
        headers.append(_frame_header(e, cams[0], flat, arc, obs, field, cid))
    co = frames.coadd_plate(all_frames)
    grid = 3.5523 + 1e-4 * np.arange(co["flux"].shape[1])
    hdr = _frame_header(first, cams[0], flat, arc, obs, field, cid)
    for key in ("CAMERAS", "SPEC_ID", "EXPOSURE"):
        del hdr[key]
    hdr["NEXP"] = len(exp_list)
    hdr["MJDLIST"] = (str(mjd), "MJDs combined")
    hdr["RUN2D"] = plan.run2d
    hdr["VERS2D"] = plan.run2d
    written.append(spplate_files.write_spplate(plan.path("spField", fieldid=field, mjd=mjd), flux=co["flux"][rows],
                                      ivar=co["ivar"][rows], andmask=co["andmask"][rows],
                                      ormask=co["ormask"][rows], wdisp=co["wdisp"][rows], plugmap=plug,
                                      sky=co["sky"][rows], coeff0=3.5523, exposures=exp_list, header=hdr,
                                      version=version))
    apogee_fibres = [(stars[int(fibres["star"][k])], (k % 300) + 1)
                     for k in np.flatnonzero(fibres["star"] >= 0)
                     if stars[int(fibres["star"][k])].source.apogee]
    fmap = _fibermap_rows(plan, fibres, stars, sp, obs, first, apogee_fibres)
    cartons.add_to_fibermap(fmap, extra, plug, rows.start)
    conf_header = {"configuration_id": cid, "design_id": cid + 100000, "field_id": int(field),
                   "observatory": obs.upper(), "MJD": int(mjd), "raCen": round(first.ra, 6),
                   "decCen": round(first.dec, 6), "instrument": "BOSS", "robostrategy_run": "demo",
                   "targeting_version": 1, "is_dithered": 0}
    written.append(write_confsummary(plan.path("confSummary", obs=obs, configid=cid), conf_header, fmap))
    written.append(_write_fibermap(plan.path("spfibermap", fieldid=field, mjd=mjd), cid, conf_header, fmap))
    exptime = float(sum(exposure_conditions(plan, field, mjd, x, i, obs).exptime for i, x in enumerate(exps)))
    # spec files of the stars and of the field's non-stellar carton targets
    targets = [(int(k), stars[int(fibres["star"][k])], None) for k in rows.start + np.flatnonzero(fibres["star"][rows] >= 0)]
    targets += [(t.row, None, t) for t in extra]
    for k, s, t in sorted(targets, key=lambda x: x[0]):
        i = k - rows.start
        if s is not None:
            objtype, spec_class = str(fibres["objtype"][k]), "STAR"
            carton, program, _ = cartons.carton_of(objtype)
            catalogid, sdss_id, ra, dec = s.source.catalogid, s.source.sdss_id, s.ra, s.dec
        else:
            objtype = spec_class = t.spec_class
            carton, program = t.carton, t.program
            catalogid, sdss_id, ra, dec = t.catalogid, t.sdss_id, float(plug["RA"][i]), float(plug["DEC"][i])
        primary = {"TELESCOP": "SDSS 2.5-M", "OBSERVAT": obs.upper(), "VERS2D": plan.run2d,
                   "RUN2D": plan.run2d, "FIELDID": int(field), "MJD": int(mjd),
                   "CATALOGID": catalogid, "SDSS_ID": sdss_id, "FIBERID": i + 1,
                   "CONFID": cid, "NEXP": len(exps), "EXPTIME": exptime, "AIRMASS": first.airmass,
                   "TAI-BEG": first.tai_beg, "COEFF0": 3.5523, "COEFF1": 1e-4, "VACUUM": True,
                   "DEMO": True}
        coadd = _coadd_row(co, k, grid)
        ivar = coadd["IVAR"]
        snr = float(np.median((coadd["FLUX"] * np.sqrt(ivar))[ivar > 0])) if np.any(ivar > 0) else 0.0
        spall = {"FIELD": int(field), "MJD": int(mjd), "CATALOGID": catalogid,
                 "SDSS_ID": sdss_id, "FIBERID": i + 1, "OBS": obs.upper(),
                 "TELESCOPE": TELESCOPES[obs], "OBJTYPE": objtype, "PROGRAMNAME": program,
                 "FIRSTCARTON": carton, "RACAT": ra, "DECCAT": dec, "PLUG_RA": ra,
                 "PLUG_DEC": dec, "CLASS": spec_class, "ZWARNING": 0, "SN_MEDIAN_ALL": snr,
                 "NEXP": len(exps), "EXPTIME": exptime, "HEALPIX": healpix_of(ra, dec)}
        exposures = []
        for j, (pe, h) in enumerate(zip(per_exp, headers)):
            eh = h.copy()
            eh["EXPOSURE"] = exps[j]
            exposures.append((f"MJD_EXP_{mjd}-{j:02d}", eh, _coadd_row(pe, k, grid)))
        full = plan.path("specFull", fieldid=field, mjd=mjd, catalogid=catalogid)
        lite = plan.path("specLite", fieldid=field, mjd=mjd, catalogid=catalogid)
        written.append(write_spec_v6(full, primary, coadd, spall, exposures))
        written.append(write_spec_v6(lite, primary, coadd, spall))
    return cid, [(t.sdss_id, t.catalogid, int(field), t.row - rows.start + 1, t.spec_class,
                  float(plug["RA"][t.row - rows.start]), float(plug["DEC"][t.row - rows.start])) for t in extra]


def _write_apogee(plan, stars, assignments, configs, version, written) -> list[dict]:
    """apVisit 1.3 per star fibre with APOGEE and field-MJD; one apStar per star and telescope."""
    seed = int(plan.get("seed"))
    out = []
    for idx, s in enumerate(stars):
        if not s.source.apogee:
            continue
        by_tel: dict[str, tuple[list, list]] = {}
        for field, mjd in plan.plate_mjds:
            fiber = assignments.get((field, idx))
            if fiber is None:
                continue
            obs = observatory_of(plan, field)
            tel = TELESCOPES[obs]
            cid = configs[(field, mjd)]
            apfiber = (fiber % 300) + 1
            vpath = plan.apogee_path("apVisit", telescope=tel, field=str(field), plate=cid, mjd=mjd, fiber=apfiber)
            e = exposure_conditions(plan, field, mjd, 120000, 0, obs)
            visit = {"plate": cid, "mjd": mjd, "fiber": apfiber, "v_rad": s.v_visit[mjd],
                     "snr": float(rng_for(seed, "apogee", s.source.sdss_id % 2**31, mjd).uniform(60, 150)),
                     "telescope": tel, "field": str(field), "jd": e.mjd_beg_utc + 2400000.5 + 0.03,
                     "file": vpath.name, "survey": "sdss-v"}
            rng = rng_for(seed, "apogee", s.source.sdss_id % 2**31, mjd, 1)
            path, info = apogee.write_apvisit(vpath, s, visit, rng, version)
            written.append(path)
            visits, infos = by_tel.setdefault(tel, ([], []))
            visits.append(visit)
            infos.append(info)
            out.append({"sdss_id": s.source.sdss_id, "mjd": mjd, "plate": cid, "fiber": apfiber,
                        "v_rad": visit["v_rad"], "snr": info["snr"], "file": str(path.relative_to(plan.root))})
        for tel, (visits, infos) in sorted(by_tel.items()):
            spath = plan.apogee_path("apStar", telescope=tel, healpix=healpix_of(s.ra, s.dec),
                                     obj=apogee.apogee_id(s.ra, s.dec))
            written.append(apogee.write_apstar(spath, s, visits, infos, version, apred=plan.apred))
    return out


def generate_sdss5(plan: DemoPlan, version: str = "demo") -> list[Path]:
    """Write the whole SDSS-V demo survey under ``plan.root``; return the files written."""
    t0 = time.perf_counter()
    stars = make_stars(plan)
    rest = {(i, arm): frames.rest_spectrum(s.params, arm) for i, s in enumerate(stars) for arm in ("b", "r")}
    lines, table = sky_lines.read_sky_lines()
    written: list[Path] = []
    truth_rows = truth.new_rows()
    assignments, plugmaps, configs, extra = {}, {}, {}, {}
    exps_by_pm: dict[tuple[int, int], list[int]] = {}
    for p, m, e in plan.exposures:
        exps_by_pm.setdefault((p, m), []).append(e)
    for kidx, ((field, mjd), exps) in enumerate(sorted(exps_by_pm.items())):
        if field not in plugmaps:
            plugmaps[field] = field_fibres(plan, field, stars)
        fibres = plugmaps[field]
        for row in np.flatnonzero(fibres["star"] >= 0):
            assignments[(field, int(fibres["star"][row]))] = int(row)
        configs[(field, mjd)], extra_rows = _write_field_mjd(plan, field, mjd, exps, stars, rest, fibres, lines, table,
                                                       kidx, version, written, truth_rows)
        extra.update({(r[2], r[3]): r for r in extra_rows})  # one row per field and fibre (all MJDs alike)
        log.info("field %d MJD %d (%s): %d exposures written (%.1f s)", field, mjd,
                 observatory_of(plan, field), len(exps), time.perf_counter() - t0)
    apogee_visits = _write_apogee(plan, stars, assignments, configs, version, written)
    written += catalogs.write_catalogs(plan, stars, plugmaps, version, extra_targets=[extra[k] for k in sorted(extra)])
    written += write_bosz_mirror(plan.bosz_mirror)
    written += truth.write_truth(plan, stars, truth_rows, apogee_visits, table, version)
    log.info("sdss5 demo survey: %d files in %.1f s", len(written), time.perf_counter() - t0)
    return written
