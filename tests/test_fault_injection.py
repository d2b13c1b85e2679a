"""Fault injection: a damaged copy of a small demo survey still finishes, and says what it left out.

One clean run (2 plates x 1 MJD x 2 exposures, fewer fibres) and one damaged copy of its raw
files with a damage on each of several DIFFERENT units:

=====  ==========================================================================  ============
unit   damage                                                                       expected
=====  ==========================================================================  ============
cam    plate A exposure 0 spFrame-r2: zero bytes                                    camera out
cam    plate A exposure 1 spCFrame-b1: garbage bytes after a FITS-like first card   camera out
fibre  plate A exposure 0 spFrame-b1: one SKY fibre with every pixel FULLREJECT     flagged
fibre  plate A exposure 1 spFrame-b2: one SKY fibre with NaN flux                   flagged
fibre  plate A exposure 1 spCFrame-r1: one science fibre with NaN flux              flagged
night  plate B: both exposures flagged in flags.csv (a night with nothing usable)   empty
visit  source 1: its plate-A apVisit truncated                                      file out
file   source 2: its plate-A apVisit with a garbage header                          file out
visit  source 3: its plate-A apVisit with an all-zero error array                   not stacked
=====  ==========================================================================  ============

Checks: a plain ``snakemake --cores 2`` (no --keep-going) exits 0; every survey-wide product
exists; the problem table lists exactly the damaged units with path and reason; every other
product is identical to the clean run's (per-frame rows, per-fibre visits); and, last, a
replaced raw file re-runs only its plate in ``snakemake -n``.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import fitsio
import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.io import fits

from workflow_helpers import frozen_workflow, jobs_to_run

pytestmark = pytest.mark.slow

PLATE_A, PLATE_B = 4100, 4101
SMALL = {"n_plates": 2, "n_mjds": 1, "n_exposures": 2, "n_sky_per_spectrograph": 12,
         "n_std_per_spectrograph": 5, "n_science_per_spectrograph": 6, "n_apogee_sources": 4}  # fmt: skip
SURVEY_WIDE = [
    "sky/sky_meta_all.fits", "sky/sky_meta_good.fits", "sky/sky_meta_removed.fits",
    "sky/mean_sky_meta_all.fits", "sky/mean_sky_meta_good.fits", "sky/mean_sky_meta_removed.fits",
    "fluxcal/fluxcal_summary.fits", "spectra/mwm_status.fits", "mwm/index/DONE",
    "problems.fits", "problems.csv", "report/benchmarks.png", "report/sky_lines.png",
    "report/mean_sky.png", "report/calibration_vectors.png", "report/mwm_stars.png",
]  # fmt: skip


def _config(root: Path, code: Path, flags_file: Path) -> dict:
    return {
        "demo": {**SMALL, "root": str(root / "demo")},
        "flags_file": str(flags_file),
        "fluxcal": {"qc": False},  # the packaged tables (pkg:...) come with the frozen copy
        "mwm": {"resolution": 2000.0},
    }


def _snakemake(code: Path, env: dict, workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(code / "Snakefile"), "-d", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=900)


def _rows(path: Path, objtype_sky: bool, spectrograph: int = 1) -> tuple[int, int, int]:
    """(row, FIBERID, SDSS_ID) of the first SKY (or science) fibre of a frame's plug map."""
    plug = fitsio.read(str(path), ext=5)
    obj = np.char.strip(plug["OBJTYPE"].astype(str))
    sdss = plug["SDSS_ID"] if "SDSS_ID" in plug.dtype.names else np.full(len(plug), -1)
    ok = (obj == "SKY") if objtype_sky else ((obj != "SKY") & (sdss > 0))
    ok &= (plug["FIBERID"] - 1) // 500 + 1 == spectrograph
    i = int(np.flatnonzero(ok)[0])
    return i, int(plug["FIBERID"][i]), int(sdss[i])


def _own(path: Path) -> Path:
    """Replace a hard link (to the clean run's file) by a private copy before damaging it."""
    tmp = path.with_name(f".{path.name}.own")
    shutil.copy2(path, tmp)
    os.replace(tmp, path)
    return path


def _edit_image(path: Path, ext: int, row: int, value) -> None:
    """Set one image row of a frame, plain or gzipped (as the real tree stores spFrames)."""
    _own(path)
    with fits.open(path) as hdul:
        hdul = fits.HDUList([h.copy() for h in hdul])
    hdul[ext].data[row] = value
    tmp = path.with_name(f".{path.name}.edit")
    if path.name.endswith(".gz"):
        with gzip.open(tmp, "wb") as fh:
            hdul.writeto(fh)
    else:
        hdul.writeto(tmp)
    os.replace(tmp, path)


def _damage(demo: Path, flags_file: Path) -> dict:
    """Damage the copy's raw files; return what was damaged (paths, fibres, sources)."""
    from sdssflow.synth.layout import demo_plan

    plan = demo_plan({**SMALL, "root": str(demo)})
    exps = [(m, e) for p, m, e in plan.exposures if p == PLATE_A]
    pdir = plan.plate_dir(PLATE_A)
    d = {"pdir": pdir, "e0": exps[0][1], "e1": exps[1][1]}

    def frame(kind, camera, i):  # the demo's path of that frame, gzipped as the real tree
        return plan.frame_path(kind, PLATE_A, exps[i][0], camera, exps[i][1])

    d["zero"] = frame("spFrame", "r2", 0)
    _own(d["zero"]).write_bytes(b"")
    d["garbage"] = frame("spCFrame", "b1", 1)
    _own(d["garbage"]).write_bytes(b"SIMPLE  =                    T" + bytes(range(256)) * 40)
    d["masked"] = masked = frame("spFrame", "b1", 0)
    row, d["masked_fibre"], _ = _rows(masked, True)
    _edit_image(masked, 2, row, 1 << 18)  # FULLREJECT everywhere
    d["nan_sky"] = nan_sky = frame("spFrame", "b2", 1)
    row, d["nan_sky_fibre"], _ = _rows(nan_sky, True, spectrograph=2)
    _edit_image(nan_sky, 0, row, np.nan)
    nan_sci = frame("spCFrame", "r1", 1)
    row, d["nan_fibre"], d["nan_sdss_id"] = _rows(nan_sci, False)
    _edit_image(nan_sci, 0, row, np.nan)
    # APOGEE: three sources' plate-A visits
    visits = sorted(plan.apogee_redux.rglob(f"apVisit-*-{PLATE_A}-*.fits"))
    ids = [int(fitsio.read_header(str(v), 0)["SDSS_ID"]) for v in visits[:3]]
    d["truncated"], d["broken"], d["zero_err"] = visits[:3]
    d["truncated_id"], d["broken_id"], d["zero_err_id"] = ids
    raw = _own(d["truncated"]).read_bytes()
    d["truncated"].write_bytes(raw[: len(raw) // 3])
    raw = bytearray(_own(d["broken"]).read_bytes())
    raw[80:2880] = bytes((i * 7 + 128) % 256 for i in range(2800))  # header cards after SIMPLE
    d["broken"].write_bytes(bytes(raw))
    with fits.open(_own(d["zero_err"]), mode="update") as hdul:
        hdul[2].data[...] = 0.0
    # plate B: every exposure of its night flagged
    night = [(m, e) for p, m, e in plan.exposures if p == PLATE_B]
    rows = [f"v1,apo,{m},{PLATE_B},{e},,BAD_SEEING,1,fault test: whole night\n" for m, e in night]
    flags_file.write_text(flags_file.read_text() + "".join(rows))
    return d


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    code, env = frozen_workflow(root / "code")
    clean, damaged = root / "clean", root / "damaged"
    clean.mkdir()
    flags_clean = root / "flags-clean.csv"
    flags_clean.write_text("version,observatory,mjd,plate,exposure,camera,flag,severity,note\n")
    cfg_clean = _config(clean, code, flags_clean)
    proc = _snakemake(code, env, clean, cfg_clean)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # the damaged copy: the clean run's raw files (mtimes kept), then the damage
    damaged.mkdir()
    shutil.copytree(clean / "demo", damaged / "demo", copy_function=os.link)  # 2 GB: links
    flags_damaged = root / "flags-damaged.csv"
    shutil.copy(flags_clean, flags_damaged)
    info = _damage(damaged / "demo", flags_damaged)
    cfg_damaged = _config(damaged, code, flags_damaged)
    proc = _snakemake(code, env, damaged, cfg_damaged)
    return {"code": code, "env": env, "clean": clean, "damaged": damaged, "proc": proc,
            "info": info, "config": cfg_damaged}  # fmt: skip


def _problems(runs) -> pd.DataFrame:
    return pd.read_csv(runs["damaged"] / "results" / "v1" / "problems.csv", keep_default_na=False)


def test_damaged_survey_finishes_without_keep_going(runs):
    proc = runs["proc"]
    assert proc.returncode == 0, proc.stderr[-6000:]
    results = runs["damaged"] / "results" / "v1"
    missing = [p for p in SURVEY_WIDE if not (results / p).exists()]
    assert missing == []


def test_problem_table_lists_exactly_the_damaged_units(runs):
    info, t = runs["info"], _problems(runs)
    fits_rows = fitsio.read(str(runs["damaged"] / "results" / "v1" / "problems.fits"), ext="PROBLEMS")
    assert len(fits_rows) == len(t)
    assert (t["PATH"] != "").all() and (t["REASON"] != "").all()
    got = {(r.STEP, r.UNIT, r.STATUS, Path(r.PATH).name, r.CAMERA) for r in t.itertuples()}
    zero, garbage = info["zero"].name, info["garbage"].name
    sel_b = f"selection-sky-{PLATE_B}.csv"
    expected = {
        ("exposure_catalog", "camera", "left_out", zero, "r2"),
        ("sky_flux", "camera", "left_out", zero, "r2"),
        ("sky_flux", "camera", "left_out", garbage, "b1"),  # its mask comes from the spCFrame
        ("sky_flux", "camera", "flagged", info["masked"].name, "b1"),
        ("sky_flux", "camera", "flagged", info["nan_sky"].name, "b2"),
        ("sky_flux", "plate", "empty", sel_b, ""),
        ("flux_calibration", "camera", "left_out", zero, "r2"),
        ("boss_visits", "camera", "left_out", garbage, "b1"),
        ("boss_visits", "visit", "flagged", info["pdir"].name, ""),
        ("boss_visits", "plate", "empty", f"selection-mwm-{PLATE_B}.csv", ""),
        ("mwm_index", "file", "left_out", info["broken"].name, ""),
        ("mwm_visit", "visit", "left_out", info["truncated"].name, ""),
        ("mwm_visit", "visit", "flagged", info["zero_err"].name, ""),
    }
    assert got == expected
    by = {(r.STEP, Path(r.PATH).name): r for r in t.itertuples()}
    # reasons name the exception type, flagged fibres name the fibre
    for r in t[t.STATUS == "left_out"].itertuples():
        assert re.match(r"\w+(Error|File)\b", r.REASON), r  # starts with the exception type
    assert "UnicodeDecodeError" in by["mwm_index", info["broken"].name].REASON
    assert str(info["masked_fibre"]) in by["sky_flux", info["masked"].name].REASON
    assert str(info["nan_sky_fibre"]) in by["sky_flux", info["nan_sky"].name].REASON
    visit_flag = t[(t.STEP == "boss_visits") & (t.UNIT == "visit")].iloc[0]
    assert visit_flag.SDSS_ID == info["nan_sdss_id"] and "non-finite" in visit_flag.REASON
    assert "all-zero error" in by["mwm_visit", info["zero_err"].name].REASON
    # the fully flagged night: one empty row per product family of plate B
    assert set(t[t.STATUS == "empty"].PLATE) == {PLATE_B}


def _sky_rows(path: Path) -> dict:
    from sdssflow.io.sky import read_product

    images, tables, _ = read_product(path)
    meta = tables["META"]
    return {(int(e), str(c).strip(), int(f)): i for i, (e, c, f) in enumerate(zip(meta["EXPID"], meta["CAMERA"], meta["FIBERID"]))}, images, meta


def test_undamaged_frames_are_identical_to_the_clean_run(runs):
    info = runs["info"]
    rel = Path("results/v1/sky") / str(PLATE_A) / f"skyflux-{PLATE_A}.fits"
    idx_c, img_c, meta_c = _sky_rows(runs["clean"] / rel)
    idx_d, img_d, meta_d = _sky_rows(runs["damaged"] / rel)
    e0, e1 = info["e0"], info["e1"]
    gone = {(e0, "r2"), (e1, "b1")}
    assert {(e, c) for e, c, _ in idx_d} == {(e, c) for e, c, _ in idx_c} - gone
    flagged = {(e0, "b1", info["masked_fibre"]), (e1, "b2", info["nan_sky_fibre"])}
    for key, i in idx_d.items():
        j = idx_c[key]
        if key in flagged:
            assert not (img_d["IVAR"][i] > 0).any() or key[1] == "b2"
            continue
        for name in ("FLUX", "IVAR", "WAVE", "MASK", "DISP"):
            np.testing.assert_array_equal(img_d[name][i], img_c[name][j], err_msg=f"{key} {name}")
    nan_row = idx_d[(e1, "b2", info["nan_sky_fibre"])]
    assert np.isfinite(img_d["FLUX"][nan_row]).all() and (img_d["IVAR"][nan_row] == 0).any()
    # the survey-wide line table: plate A's undamaged rows equal, plate B absent (empty night)
    lines_c = fitsio.read(str(runs["clean"] / "results/v1/sky/sky_meta_all.fits"), ext="META")
    lines_d = fitsio.read(str(runs["damaged"] / "results/v1/sky/sky_meta_all.fits"), ext="META")
    assert set(lines_d["PLATE"]) == {PLATE_A} and PLATE_B in set(lines_c["PLATE"])
    key = lambda r: (int(r["EXPID"]), r["CAMERA"].strip(), int(r["FIBERID"]))  # noqa: E731
    clean_rows = {key(r): r for r in lines_c}
    kept = [r for r in lines_d if key(r) not in flagged and (key(r)[0], key(r)[1]) not in gone]
    assert len(kept) == len(lines_d) - len(flagged)
    # AB magnitudes of a fibre use both arms (b + r of its spectrograph): the other arm of a
    # lost camera or of a flagged fibre has them from one arm only
    other = {"b1": "r1", "r1": "b1", "b2": "r2", "r2": "b2"}
    one_arm = {(e, other[c]) for e, c in gone}
    one_arm_fibres = {(e, other[c], f) for e, c, f in flagged}
    for r in kept:
        k, c = key(r), clean_rows[key(r)]
        for name in lines_d.dtype.names:
            if name == "SPECNO":  # the row number within the plate: fewer rows before it
                continue
            if name.startswith("MAG_") and ((k[0], k[1]) in one_arm or k in one_arm_fibres):
                continue
            if lines_d.dtype[name].kind == "f":  # same science; sums over padded rows: 1e-12
                assert np.allclose(r[name], c[name], rtol=1e-9, atol=0, equal_nan=True), (key(r), name)
            else:
                assert np.array_equal(r[name], c[name]), (key(r), name)
    # fluxcal: the zero-byte camera is dropped, not its exposure (the night's standards share
    # their template choice, so the calibration values of a damaged night are not compared)
    from sdssflow.io.fluxcal import read_calibration

    mjd = int(pd.read_csv(runs["damaged"] / f"results/v1/selection/fluxcal/selection-fluxcal-{PLATE_A}.csv")["mjd"][0])
    calib = runs["damaged"] / f"results/v1/fluxcal/{PLATE_A}/{mjd}"
    assert set(read_calibration(calib / f"calib-{e0:08d}.fits")) == {"b1", "b2", "r1"}
    assert set(read_calibration(calib / f"calib-{e1:08d}.fits")) == {"b1", "b2", "r1", "r2"}


def test_empty_night_products_are_valid_and_empty(runs):
    from sdssflow.io.sky import read_product

    base = runs["damaged"] / "results" / "v1"
    for kind in ("skyflux", "rich", "lines", "mean", "meanlines", "contfit"):
        images, tables, _ = read_product(base / "sky" / str(PLATE_B) / f"{kind}-{PLATE_B}.fits")
        assert len(tables["META"]) == 0, kind
    status = read_product(base / "sky" / str(PLATE_B) / f"skyflux-{PLATE_B}.fits")[1]["STATUS"]
    assert list(status["STATUS"]) == ["empty"] and "no selected exposure" in status["MESSAGE"][0]
    bv = next((base / "mwm" / "boss_visits" / str(PLATE_B)).glob("bossVisits-*.fits"))
    with fitsio.FITS(str(bv)) as f:
        assert f["VISITS"].get_nrows() == 0 and f["FLUX"].read_header()["NAXIS2"] == 0
        assert [s.strip() for s in f["STATUS"].read()["status"].astype(str)] == ["empty"]


def test_boss_visits_keep_every_fibre(runs):
    from sdssflow.io.boss_visits import read_boss_visits

    info = runs["info"]
    rel = next((runs["clean"] / "results/v1/mwm/boss_visits" / str(PLATE_A)).glob("bossVisits-*.fits"))
    clean = read_boss_visits(rel)
    damaged = read_boss_visits(runs["damaged"] / rel.relative_to(runs["clean"]))
    fib_c, fib_d = list(clean["table"]["fiberid"]), list(damaged["table"]["fiberid"])
    assert fib_c == fib_d  # a lost camera drops no fibre
    for i, fid in enumerate(fib_d):
        if fid > 500:  # spectrograph 2: no damaged spCFrame, the same visit as in the clean run
            for name in ("flux", "ivar", "pixel_flags"):
                np.testing.assert_array_equal(damaged[name][i], clean[name][i], err_msg=f"{fid} {name}")
            assert damaged["table"]["xcsao_v_rad"][i] == clean["table"]["xcsao_v_rad"][i]
    i = fib_d.index(info["nan_fibre"])
    assert np.isfinite(damaged["flux"][i]).all()  # NaN pixels carry no weight


def test_mwm_keeps_every_good_visit(runs):
    from sdssflow.io.mwm import read_mwm

    info = runs["info"]

    def visits(run, sdss_id):
        path = next((run / "results/v1/spectra/visit").rglob(f"mwmVisit-v1-{sdss_id}.fits"))
        _, hdus = read_mwm(path)
        out = {}
        for name, t in hdus.items():
            if t is None or not len(t):
                continue
            for r in t:
                out[(name, int(r["mjd"]), str(r["filetype"]).strip())] = r
        return out

    for sdss_id in (info["truncated_id"], info["broken_id"], info["zero_err_id"]):
        clean, damaged = visits(runs["clean"], sdss_id), visits(runs["damaged"], sdss_id)
        boss_c = {k for k in clean if k[0].startswith("BOSS") and k[1] != _mjd_b(runs)}
        boss_d = {k for k in damaged if k[0].startswith("BOSS")}
        assert boss_c == boss_d, sdss_id  # the plate-A BOSS visit is kept (plate B's night is flagged)
        apo_c = {k[:2] for k in clean if k[0].startswith("APOGEE")}
        apo_d = {k[:2] for k in damaged if k[0].startswith("APOGEE")}
        assert apo_c == apo_d, sdss_id  # a lost apVisit is replaced by its apStar row
    zero = visits(runs["damaged"], info["zero_err_id"])
    rows = [r for k, r in zero.items() if k[0].startswith("APOGEE") and k[2] == "apVisit"]
    mjd_a = int(fitsio.read_header(str(info["zero_err"]), 0)["MJD5"])
    zero_rows = [r for r in rows if int(r["mjd"]) == mjd_a]
    assert zero_rows and not any(bool(r["in_stack"]) for r in zero_rows)
    lost = visits(runs["damaged"], info["truncated_id"])
    mjd_t = int(fitsio.read_header(str(runs["clean"] / info["truncated"].relative_to(runs["damaged"])), 0)["MJD5"])
    assert {k[2] for k in lost if k[0].startswith("APOGEE") and k[1] == mjd_t} == {"apStar"}


def _mjd_b(runs) -> int:
    from sdssflow.synth.layout import demo_plan

    plan = demo_plan({**SMALL, "root": str(runs["damaged"] / "demo")})
    return next(m for p, m, _ in plan.exposures if p == PLATE_B)


def test_replaced_raw_file_reruns_only_its_plate(runs):
    info, damaged = runs["info"], runs["damaged"]
    proc = _snakemake(runs["code"], runs["env"], damaged, runs["config"], "-n")
    assert proc.returncode == 0 and jobs_to_run(proc) == {}, proc.stdout[-3000:]
    # repair the zero-byte spFrame from the clean copy (a new mtime, as a real repair)
    info["zero"].unlink()
    shutil.copyfile(runs["clean"] / info["zero"].relative_to(damaged), info["zero"])
    proc = _snakemake(runs["code"], runs["env"], damaged, runs["config"], "-n")
    jobs = jobs_to_run(proc)
    # select_exposures writes the plate's catalog and its selections (one job per plate)
    assert jobs.get("select_exposures") == 1 and "plate_catalog" not in jobs, jobs
    assert f"catalog/plates/{PLATE_A}.h5" in proc.stdout and f"catalog/plates/{PLATE_B}.h5" not in proc.stdout
    assert jobs.get("exposure_catalog") == 1, jobs  # the survey catalog, read by no plate job
    assert jobs.get("sky_plate") == 1 and jobs.get("boss_visits") == 1, jobs
    assert f"select_exposures/{PLATE_B}" not in proc.stdout + proc.stderr
    assert f"sky_plate/{PLATE_B}.log" not in proc.stdout + proc.stderr
