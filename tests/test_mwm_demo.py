"""The MWM chain on the demo survey (slow: about 3 min on 2 cores).

Runs boss_visits (all plate-MJDs), mwm_index, mwm_visit, mwm_star and mwm_status on
resources/demo with the BOSZ library of results/<v>/bosz when present (else the demo
mirror), and checks the done-when list of issue 6 against the truth. Set
SDSSFLOW_DEMO_ROOT to check another demo survey (with its own BOSZ mirror).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from sdssflow.io.mwm import read_mwm
from sdssflow.io.mwm_grids import bucket
from sdssflow.io.mwm_status import read_status
from sdssflow.mwm import mwm_star, mwm_visit
from sdssflow.mwm.apogee_rv import _rv_ivar, pixel_offset
from sdssflow.mwm.steps import boss_visits, mwm_index, mwm_status
from sdssflow.resources import data_path
from sdssflow.synth.layout import demo_plan, demo_sources

ROOT = Path(__file__).resolve().parents[1]
#: The demo survey checked: resources/demo, or another one (SDSSFLOW_DEMO_ROOT), which then
#: uses its own BOSZ mirror (results/v1/bosz was built from resources/demo's).
DEMO_ROOT = Path(os.environ.get("SDSSFLOW_DEMO_ROOT", ROOT / "resources" / "demo"))
PLAN = demo_plan({"root": str(DEMO_ROOT)})
LIBRARY = ROOT / "results" / "v1" / "bosz" / "bosz_library.h5"
BASIS = data_path("mwm/nmf-basis-synthetic-C12.fits.gz")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not PLAN.manifest.exists(), reason="demo survey not generated (rule demo_survey)"
    ),
]


@pytest.fixture(scope="module")
def demo_products(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mwm_demo")
    default_root = DEMO_ROOT.resolve() == (ROOT / "resources" / "demo").resolve()
    templates = LIBRARY if LIBRARY.exists() and default_root else PLAN.bosz_mirror
    visits = []
    for plate, mjd in PLAN.plate_mjds:
        sel = tmp / f"selection-{plate}.csv"
        rows = [(m, p, e, "") for p, m, e in PLAN.exposures if p == plate]
        pd.DataFrame(rows, columns=["mjd", "plate", "exposure", "excluded_cameras"]).to_csv(
            sel, index=False
        )
        out = tmp / f"bossVisits-{plate}-{mjd}.fits"
        boss_visits.main(["--plate-dir", str(PLAN.plate_dir(plate)), "--selection", str(sel), "--plate", str(plate),
                          "--mjd", str(mjd), "--templates", str(templates), "--output", str(out)])  # fmt: skip
        visits.append(str(out))
    index = tmp / "index"
    mwm_index.main(
        [
            "--boss-visits",
            *visits,
            "--apogee-dir",
            str(PLAN.apogee_redux / PLAN.apred),
            "--outdir",
            str(index),
        ]
    )
    spectra = tmp / "spectra"
    for gg, hh in sorted({s.bucket for s in demo_sources(PLAN)}):
        vstat = spectra / "status" / gg / hh / f"visit-status-{gg}{hh}.fits"
        mwm_visit.main(["--index-dir", str(index), "--gg", gg, "--hh", hh, "--basis", str(BASIS),
                        "--spectra-dir", str(spectra), "--status", str(vstat),
                        "--apogee-templates", str(PLAN.bosz_mirror)])  # fmt: skip
        mwm_star.main(["--visit-status", str(vstat), "--basis", str(BASIS), "--spectra-dir", str(spectra),
                       "--status", str(vstat.with_name(f"star-status-{gg}{hh}.fits"))])  # fmt: skip
    mwm_status.main(
        [
            "--status-dir",
            str(spectra / "status"),
            "--index-dir",
            str(index),
            "--output",
            str(spectra / "st.fits"),
        ]
    )
    return spectra


def test_every_demo_file_loads_with_specutils(demo_products):
    from specutils import Spectrum, SpectrumList

    files = sorted(demo_products.glob("*/*/*/mwm*.fits"))
    assert len(files) == 2 * len(demo_sources(PLAN))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in files:
            assert len(SpectrumList.read(f, format="SDSS-V mwm")) >= 1
            assert Spectrum.read(f, format="SDSS-V mwm").flux.size > 0
    status = read_status(demo_products / "st.fits")
    assert np.all(status["flags"] == 24)  # created visit + star, no exception
    assert all(
        bucket(s) == (g, h) for s, g, h in zip(status["sdss_id"], status["gg"], status["hh"])
    )


def test_demo_coadds_against_truth(demo_products):
    truth = Table.read(PLAN.truth / "stars.fits", hdu="STARS")
    dv = {"BOSS/APO": [], "APOGEE/APO": []}
    for f in sorted(demo_products.glob("star/*/*/mwmStar-*.fits")):
        header, star = read_mwm(f)
        _, visit = read_mwm(str(f).replace("/star/", "/visit/").replace("mwmStar", "mwmVisit"))
        t = truth[truth["sdss_id"] == header["SDSS_ID"]][0]
        for ext, rows in star.items():
            if rows is None:
                continue
            r = rows[0]
            expected = np.sqrt(np.sum(visit[ext]["snr"] ** 2))
            assert r["snr"] == pytest.approx(expected, rel=0.05)  # S/N adds in quadrature
            if r["snr"] > 20:
                dv[ext].append(r["v_rad"] - t["v_rad_mean"])
            if ext.startswith("APOGEE"):  # issue 11: measured, not copied from the headers
                methods = set(np.char.strip(visit[ext]["rv_method"].astype(str)))
                assert methods <= {"template", "apstar_coadd", "apstar_row"}, methods
                assert methods & {"template", "apstar_coadd"}
                # after resampling, each in-stack visit lines up with the co-add (0.1 px)
                v = visit[ext]
                for k in np.flatnonzero(v["in_stack"]):
                    ivar = _rv_ivar(v["ivar"][k], v["pixel_flags"][k])
                    assert abs(pixel_offset(v["flux"][k], ivar, r["flux"], r["ivar"])) < 0.1
    # APOGEE: RVs measured from the apVisit spectra (H-band templates of the BOSZ mirror,
    # or the apStar rows of the other visits) within 1 km/s of the truth
    assert len(dv["APOGEE/APO"]) == PLAN.get("n_apogee_sources")
    assert np.max(np.abs(dv["APOGEE/APO"])) < 1.0
    # BOSS (XCSAO-like RVs against the BOSZ subgrid): every co-add with S/N > 20 within
    # 1 km/s (issue 6). Needs a demo survey generated with the band-limited stellar model
    # (the saturation floor before the line spread, sdssflow.synth.stellar); older demos
    # were off by up to 3 km/s.
    boss = np.abs(dv["BOSS/APO"])
    assert len(boss) >= 60
    assert boss.max() < 1.0, f"{np.sum(boss >= 1.0)} of {len(boss)} BOSS co-adds off by >= 1 km/s"
    assert np.sqrt(np.mean(boss**2)) < 0.5
