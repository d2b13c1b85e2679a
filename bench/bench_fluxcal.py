"""Benchmarks of the bosz + fluxcal family (see bench/run.py).

- ``template_selection``: one standard (b + r camera, 4112 + 4128 pixels) against a
  520-template library (the size of kspecdr's F-star subgrid) on the BOSZ r10000 grid,
  3000-11000 A: coarse RV scan, chi^2 of every template, continuous search between
  nodes, fine RV. The library is already convolved (setup).
- ``flux_calibration``: the whole step on one plate-MJD of 16 frames (4 exposures x 4
  cameras, 500 fibres, 16 standards per exposure) with the 520-template HDF5 library:
  reading, matching, vectors, calib files, QC figures and the summary.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from harness import Benchmark

from sdssflow.fluxcal.testing import TOY_BANDS, write_toy_frames

TEFFS = tuple(range(5000, 8001, 250))  # 13
LOGGS = (3.5, 4.0, 4.5, 5.0)
FEHS = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, -1.25, -1.5)  # 13 x 4 x 10 = 520
BANDS = list(TOY_BANDS)


def _library():
    from sdssflow.fluxcal.testing import toy_library

    return toy_library(
        teffs=TEFFS, loggs=LOGGS, fehs=tuple(sorted(FEHS)), wave_range=(3000.0, 11000.0)
    )


def _setup_selection():
    from sdssflow.fluxcal.calibrate import Settings, prepare_library
    from sdssflow.fluxcal.matching import ParameterSpace, Segment, fit_star
    from sdssflow.fluxcal.priors import DATA_DIR, catalog_photometry, load_band_table
    from sdssflow.fluxcal.standards import camera_reference
    from sdssflow.fluxcal.testing import toy_exposure
    from sdssflow.fluxcal.vectors import telluric_mask

    lib = _library()
    bands = load_band_table().select(BANDS)
    prep = prepare_library(lib, bands)
    exp = toy_exposure(lib, bands, nstd=1, seed=4)
    mag, err = catalog_photometry(exp.catalog, bands)
    tell = pd.read_csv(DATA_DIR / "telluric_regions.csv", comment="#")[
        ["wave_min", "wave_max"]
    ].to_numpy()
    cores = pd.read_csv(DATA_DIR / "line_cores.csv", comment="#")[["wave", "half_width"]].to_numpy()
    settings = Settings(telluric=tell, cores=cores)
    row = int(exp.truth["stars"]["fiberid"][0]) - 1
    segs, grids = [], {}
    for cam, f in exp.frames.items():
        ln = f.loglam[row] * np.log(10)
        ref, sig = camera_reference(f)
        grids[cam] = prep.camera_grid(ln.min(), ln.max(), ref, sig)
        good = (f.ivar[row] > 0) & ~telluric_mask(np.exp(ln), tell)
        segs.append(Segment(cam, ln, f.flux[row].astype(float), f.ivar[row].astype(float), good))
    from sdssflow.fluxcal.priors import sed_chi2

    prior = sed_chi2(mag[0], err[0], prep.synmag)
    space = ParameterSpace(lib.params, prep.synmag, mag[0], err[0])

    def run():
        return fit_star(segs, grids, prior=prior, teff=prep.teff, cores=settings.cores, space=space)

    return run


def _setup_plate():
    from sdssflow.fluxcal.priors import load_band_table
    from sdssflow.fluxcal.steps import flux_calibration
    from sdssflow.fluxcal.testing import toy_exposure
    from sdssflow.io.bosz_library import write_library

    tmp = Path(tempfile.mkdtemp(prefix="bench_fluxcal_"))
    lib = _library()
    write_library(lib, tmp / "lib.h5")
    bands = load_band_table().select(BANDS)
    sp1 = toy_exposure(lib, bands, nstd=8, seed=11)
    sp2 = toy_exposure(lib, bands, nstd=8, seed=12)
    sp2.frames["b1"].plugmap["FIBERID"] += 500  # spectrograph 2: fibres 501-1000 (shared plug map)
    frames = {
        "b1": sp1.frames["b1"],
        "r1": sp1.frames["r1"],
        "b2": sp2.frames["b1"],
        "r2": sp2.frames["r1"],
    }
    for cam, f in frames.items():
        f.camera = cam
    plate_dir = tmp / "4100"
    plate_dir.mkdir()
    expids = [1001, 1002, 1003, 1004]
    for expid in expids:
        write_toy_frames(frames, plate_dir, expid)
    pd.concat([sp1.catalog, sp2.catalog]).to_csv(tmp / "phot.csv", index=False)
    pd.DataFrame(
        {
            "observatory": "APO",
            "mjd": 55500,
            "plate": 4100,
            "exposure": expids,
            "exptime": 900.0,
            "flags": "",
            "excluded_cameras": "",
        }
    ).to_csv(tmp / "sel.csv", index=False)
    args = [
        "--plate-dir",
        str(plate_dir),
        "--selection",
        str(tmp / "sel.csv"),
        "--library",
        str(tmp / "lib.h5"),
        "--photometry",
        str(tmp / "phot.csv"),
        "--plate",
        "4100",
        "--mjd",
        "55500",
        "--outdir",
        str(tmp / "out"),
        "--version-name",
        "bench",
    ]

    def run():
        return flux_calibration.main(args)

    return run


BENCHMARKS = [
    Benchmark(
        "flux_calibration (template selection)",
        "1 star vs 520 templates x 30k px",
        1,
        "stars",
        _setup_selection,
    ),
    Benchmark(
        "flux_calibration",
        "1 plate-MJD, 16 frames x 500 x 4112/4128, 520 templates",
        16,
        "frames",
        _setup_plate,
    ),
]


# --- issue 13: the flux calibration per exposure of a small demo (gzipped frames) ---------

#: The demo of :func:`exposure_table`: 1 plate x 1 MJD x 3 exposures (16 standards, 4 cameras,
#: gzipped spFrame/spFluxcalib as in the real v5 tree) and the demo BOSZ library.
EXPOSURE_DEMO = {"n_plates": 1, "n_mjds": 1, "n_exposures": 3}


def ensure_exposure_demo(root: Path) -> dict:
    """The small demo, its BOSZ library and selections of 1 and 3 exposures (made when missing)."""
    import json

    info_path = root / "info.json"
    if info_path.exists():
        return json.loads(info_path.read_text())
    from sdssflow.fluxcal.steps import bosz_download, bosz_library
    from sdssflow.synth.layout import demo_plan
    from sdssflow.synth.steps import survey

    root.mkdir(parents=True, exist_ok=True)
    settings = {**EXPOSURE_DEMO, "root": str(root / "demo")}
    survey.main(["--settings", json.dumps(settings), "--manifest", str(root / "demo" / "manifest.csv")])
    plan = demo_plan(settings)
    mirror = plan.bosz_mirror.resolve()
    bosz_download.main(["--base-url", mirror.as_uri(), "--subgrid", str(mirror / "demo_subgrid.yaml"),
                        "--dest", str(root / "bosz2024")])  # fmt: skip
    bosz_library.main(["--manifest", str(root / "bosz2024" / "manifest.csv"), "--output", str(root / "lib.h5")])
    plate, mjd, _ = plan.exposures[0]
    rows = [{"observatory": "APO", "mjd": m, "plate": p, "exposure": e, "exptime": 900.0, "flags": "",
             "excluded_cameras": ""} for p, m, e in plan.exposures if (p, m) == (plate, mjd)]  # fmt: skip
    for n in (1, 3):
        pd.DataFrame(rows[:n]).to_csv(root / f"sel{n}.csv", index=False)
    info = {"plate_dir": str(plan.plate_dir(plate)), "plate": plate, "mjd": mjd,
            "photometry": str(plan.photometry), "truth": str(plan.truth)}  # fmt: skip
    info_path.write_text(json.dumps(info))
    return info


#: Run in a fresh interpreter by :func:`exposure_table`: flux_calibration.main on the
#: selection, one thread; prints the CPU s of the imports and of main, and the peak RSS.
_EXPOSURE_CHILD = """
import json, resource, sys
from pathlib import Path

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

c0 = cpu()
from threadpoolctl import threadpool_limits
from sdssflow.fluxcal.steps import flux_calibration
c1 = cpu()
args = json.loads(sys.argv[1])
with threadpool_limits(1):
    flux_calibration.main(args)
c2 = cpu()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps([c1, c2 - c1, peak]))
"""


def _run_exposures(root: Path, info: dict, nexp: int) -> tuple[float, float, float, Path]:
    """(process CPU s up to main, main's CPU s, peak RSS MiB, output dir) of one fresh run."""
    import json
    import subprocess
    import sys

    out = root / f"out{nexp}"
    args = ["--plate-dir", info["plate_dir"], "--selection", str(root / f"sel{nexp}.csv"),
            "--library", str(root / "lib.h5"), "--photometry", info["photometry"],
            "--plate", str(info["plate"]), "--mjd", str(info["mjd"]), "--outdir", str(out),
            "--version-name", "bench"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", _EXPOSURE_CHILD, json.dumps(args)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    imports, step, peak = json.loads(proc.stdout.strip().splitlines()[-1])
    return imports, step, peak, out


def exposure_accuracy(info: dict, out: Path, library: Path) -> dict:
    """The demo's calibration, Teff and RV errors against the injected truth.

    Same measures as ``tests/test_fluxcal_demo.py``: per camera, the median |relative
    error| of cal_factor (fibre 250) over unmasked pixels; |Teff - truth| and |RV - truth|
    of the used standards with S/N > 20.
    """
    from astropy.table import Table

    from sdssflow.io.bosz_library import read_library
    from sdssflow.io.fluxcal import read_calibration, read_summary

    truth = Table.read(Path(info["truth"]) / "calibration.fits", hdu=1)
    exps, fit = read_summary(out / f"summary-{info['plate']}-{info['mjd']}.fits")
    rel = []
    for expid in exps["EXPID"]:
        for cam, c in read_calibration(out / f"calib-{expid:08d}.fits").items():
            t = truth[(truth["expid"] == expid) & (truth["camera"] == cam)][0]
            tw, tc = np.asarray(t["wave"], float), np.asarray(t["cal_factor"], float)
            vec = c.cal_factor if c.cal_factor.ndim == 1 else c.cal_factor[250]
            good = ~(c.bad if c.bad.ndim == 1 else c.bad[250])
            mine = np.interp(np.log(tw), np.log(c.wave), vec)
            use = np.interp(np.log(tw), np.log(c.wave), good.astype(float)) > 0.99
            rel.append(float(np.median(np.abs(mine[use] / tc[use] - 1))))
    stars = {int(r["catalogid"]): r for r in Table.read(Path(info["truth"]) / "stars.fits", hdu=1)}
    step = float(np.min(np.diff(np.unique(read_library(library).params["teff"]))))
    dteff, drv = [], []
    for row in fit[(fit["SNR"] > 20) & (fit["STATUS"] == "USED")]:
        t = stars[int(row["CATALOGID"])]
        mjds = list(np.atleast_1d(t["mjd"]))
        v = float(np.atleast_1d(t["v_rad"])[mjds.index(info["mjd"])]) if np.ndim(t["mjd"]) else float(t["v_rad"])
        dteff.append(abs(float(row["TEFF"]) - float(t["teff"])))
        drv.append(abs(float(row["RV"]) - v))
    dteff, drv = np.array(dteff), np.array(drv)
    return {"cal_rel_median_max": max(rel), "teff_err_max": float(dteff.max()), "teff_step": step,
            "rv_err_median": float(np.median(drv)), "rv_err_max": float(drv.max()),
            "rv_within_2": float(np.mean(drv < 2.0)), "n_bright": int(drv.size)}  # fmt: skip


def exposure_table(root: Path) -> list[dict]:
    """Print the flux calibration per exposure (1 and 3 exposures), each in a fresh process.

    CPU = user + system seconds of ``flux_calibration.main`` in a fresh interpreter (the
    interpreter start and imports before it are given apart), threads pinned to 1 as
    ``run_step`` does; peak = the process's max RSS.
    """
    if not (root / "info.json").exists():
        # made in a child process: generating the demo grows this process to ~1.6 GB, and
        # the measured children would start with that peak RSS (Linux carries ru_maxrss
        # over fork + exec: the first run of the table printed 1648 MiB)
        import subprocess
        import sys

        code = f"import bench_fluxcal, pathlib; bench_fluxcal.ensure_exposure_demo(pathlib.Path({str(root)!r}))"
        subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent, check=True)
    info = ensure_exposure_demo(root)
    rows = []
    print("| exposures | imports CPU s | step CPU s | step CPU s per exposure | peak RSS MiB "
          "| cal. error (median, worst camera) | Teff error max (grid step) | RV error median / max km/s |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for nexp in (1, 3):
        imp, step, peak, out = _run_exposures(root, info, nexp)
        acc = exposure_accuracy(info, out, root / "lib.h5")
        rows.append({"n_exposures": nexp, "import_cpu": imp, "step_cpu": step, "peak_mib": peak, **acc})
        print(f"| {nexp} | {imp:.2f} | {step:.2f} | {step / nexp:.2f} | {peak:.0f} "
              f"| {100 * acc['cal_rel_median_max']:.2f} % | {acc['teff_err_max']:.0f} K ({acc['teff_step']:.0f} K) "
              f"| {acc['rv_err_median']:.2f} / {acc['rv_err_max']:.2f} |", flush=True)  # fmt: skip
    return rows


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="flux calibration per exposure (issue 13)")
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "sdssflow-bench-fluxcal",
                        help="small demo (made when missing, ~3 min)")  # fmt: skip
    exposure_table(parser.parse_args().root)
    sys.exit(0)
