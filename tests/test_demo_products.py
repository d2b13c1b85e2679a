"""The products of the default demo run checked against the injected truth.

These read results/v1 and resources/demo as written by `snakemake --cores 2` with the
default config (CI runs the demo before the tests); they skip when the run is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table, vstack

from sdssflow.io.bosz_library import read_library
from sdssflow.io.catalog import read_exposures
from sdssflow.io.fluxcal import read_calibration, read_summary
from sdssflow.synth.layout import demo_plan

ROOT = Path(__file__).resolve().parents[1]
PLAN = demo_plan({"root": str(ROOT / "resources" / "demo")})
RESULTS = ROOT / "results" / "v1"

pytestmark = pytest.mark.skipif(
    not (PLAN.manifest.exists() and (RESULTS / "fluxcal" / "fluxcal_summary.fits").exists()),
    reason="default demo run not done (snakemake --cores 2)",
)


def _truth_cal():
    return Table.read(PLAN.truth / "calibration.fits", hdu=1)


def test_catalog_holds_every_demo_exposure():
    exposures = read_exposures(RESULTS / "catalog" / "exposures.h5")
    assert len(exposures) == len(PLAN.exposures)
    assert (exposures["flagged_bad"] == 0).all() and (exposures["n_cameras"] == 4).all()
    assert set(zip(exposures["plate"], exposures["mjd"])) == set(PLAN.plate_mjds)


def test_calibration_vectors_match_truth_within_one_percent():
    """Issue 5: combined vector within 1% (median |rel. error|, unmasked) for every exposure."""
    truth = _truth_cal()
    files = sorted(RESULTS.glob("fluxcal/*/*/calib-*.fits"))
    assert len(files) == len(PLAN.exposures) - 1  # one exposure is flagged BAD_SEEING in flags.csv
    for path in files:
        expid = int(path.stem.split("-")[1])
        for camera, cal in read_calibration(path).items():
            assert cal.meta["NUSED"] >= 3
            row = truth[(truth["expid"] == expid) & (truth["camera"] == camera)][0]
            wave, factor = np.asarray(row["wave"], float), np.asarray(row["cal_factor"], float)
            vector = cal.cal_factor if cal.cal_factor.ndim == 1 else cal.cal_factor[250]
            good = ~(cal.bad if cal.bad.ndim == 1 else cal.bad[250])
            mine = np.interp(np.log(wave), np.log(cal.wave), vector)
            use = np.interp(np.log(wave), np.log(cal.wave), good.astype(float)) > 0.99
            assert np.median(np.abs(mine[use] / factor[use] - 1)) < 0.01, (expid, camera)


def test_standards_teff_and_night_rv_recovered():
    """Issue 5: S/N > 20 standards: Teff within one grid step, RV within 2 km/s of truth.

    The RV compared is the star's RV of the night (RV_NIGHT, all exposures of the MJD), the
    quantity the truth gives per visit; single exposures scatter by ~0.8 km/s rms here.
    """
    stars = Table.read(PLAN.truth / "stars.fits", hdu=1)
    truth = {int(r["catalogid"]): r for r in stars}
    step = np.min(np.diff(np.unique(read_library(RESULTS / "bosz" / "bosz_library.h5").params["teff"])))
    fits_ = vstack([read_summary(p)[1] for p in sorted(RESULTS.glob("fluxcal/*/*/summary-*.fits"))],
                   metadata_conflicts="silent")
    bright = fits_[(fits_["SNR"] > 20) & (fits_["STATUS"] == "USED")]
    assert len(bright) >= 50
    for row in bright:
        star = truth[int(row["CATALOGID"])]
        v_true = float(np.atleast_1d(star["v_rad"])[list(np.atleast_1d(star["mjd"])).index(int(row["MJD"]))])
        assert abs(row["TEFF"] - star["teff"]) <= step, (row["CATALOGID"], row["TEFF"], star["teff"])
        assert abs(row["RV_NIGHT"] - v_true) < 2.0, (row["CATALOGID"], row["RV_NIGHT"], v_true)
