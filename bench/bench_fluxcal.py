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
    from sdssflow.fluxcal.standards import camera_reference
    from sdssflow.fluxcal.matching import ParameterSpace, Segment, fit_star
    from sdssflow.fluxcal.priors import DATA_DIR, catalog_photometry, load_band_table
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
    from sdssflow.fluxcal import flux_calibration
    from sdssflow.fluxcal.priors import load_band_table
    from sdssflow.fluxcal.testing import toy_exposure
    from sdssflow.io.bosz import write_library

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
