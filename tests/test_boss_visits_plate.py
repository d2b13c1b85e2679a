"""boss_visits --mjds (the workflow's one job per plate): one bossVisits file per MJD, each the
same as from its own --mjd run; an MJD without data gets a valid empty file saying why."""

from __future__ import annotations

from pathlib import Path

import fitsio
import numpy as np
import pytest

from sdssflow.io.boss_visits import read_boss_visits
from sdssflow.mwm.steps import boss_visits

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
SPEC = REAL / "sdss_spec" / "spec-0266-51602-0013.fits"

pytestmark = pytest.mark.skipif(not SPEC.is_file(), reason="../shared/data/real not available")


def test_one_job_per_plate_writes_each_mjd_as_its_own_run(tmp_path):
    templates = str(REAL / "bosz2024")
    single = tmp_path / "single" / "bossVisits-266-51602.fits"
    single.parent.mkdir()
    boss_visits.main(["--spec-files", str(SPEC), "--plate", "266", "--mjd", "51602",
                      "--templates", templates, "--output", str(single)])  # fmt: skip
    outdir = tmp_path / "plate" / "266"
    # 51609: an MJD of the plate without a spec file (on the frames route: no selected exposure)
    boss_visits.main(["--spec-files", str(SPEC), "--plate", "266", "--mjds", "51602,51609",
                      "--templates", templates, "--outdir", str(outdir)])  # fmt: skip
    assert sorted(p.name for p in outdir.iterdir()) == ["bossVisits-266-51602.fits", "bossVisits-266-51609.fits"]

    alone, in_plate = read_boss_visits(single), read_boss_visits(outdir / "bossVisits-266-51602.fits")
    assert len(alone["table"]) == 1
    for name in alone["table"].dtype.names:
        np.testing.assert_array_equal(in_plate["table"][name], alone["table"][name], err_msg=name)
    for key in ("flux", "ivar", "pixel_flags", "wresl"):
        np.testing.assert_array_equal(in_plate[key], alone[key], err_msg=key)
    assert np.isfinite(in_plate["table"]["xcsao_v_rad"]).all()  # the RV was measured
    for card in ("PLATEID", "MJD", "NFIBER"):
        assert in_plate["header"][card] == alone["header"][card]

    empty = read_boss_visits(outdir / "bossVisits-266-51609.fits")
    assert len(empty["table"]) == 0 and empty["header"]["MJD"] == 51609
    status = fitsio.read(str(outdir / "bossVisits-266-51609.fits"), ext="STATUS")
    assert [s.strip() for s in np.char.decode(status["status"].astype("S"))] == ["empty"]


def test_mjd_and_mjds_are_exclusive(tmp_path):
    base = ["--spec-files", str(SPEC), "--plate", "266"]
    for extra in ([], ["--mjd", "51602", "--mjds", "51602", "--output", "x", "--outdir", "d"],
                  ["--mjd", "51602"], ["--mjds", "51602"]):  # fmt: skip
        with pytest.raises(SystemExit):
            boss_visits.main(base + extra)
