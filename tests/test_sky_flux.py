"""The sky steps end to end on a synthetic plate with known truth (sdssflow.sky.fake).

Done-when checks of issue 4 on injected truth: calibrated sky = truth within noise in every
calibration mode; line sums of S/N > 50 lines within 2 % (median |rel. error|); mean-spectrum
continuum within 3 % away from lines; mega files have one row per selected sky spectrum and
exclude flagged exposures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sdssflow.io.sky import read_product, read_skyflux, read_table
from sdssflow.sky.contfit import read_airglow_lines
from sdssflow.sky.fake import make_plate
from sdssflow.sky.lines import read_line_list
from sdssflow.sky.steps import (
    continuum_fit,
    line_sum,
    mean_line_sum,
    mean_mega_file,
    mean_spectra,
    mega_file,
    rich_metadata,
    sky_flux,
)
from sdssflow.steps import StepError, run_step

EXPIDS = (200001, 200002, 200003)


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    root = tmp_path_factory.mktemp("skyplate")
    fake = make_plate(root, expids=EXPIDS, nfib=30, nsky=20, seed=2)
    return root, fake


def _run_flux(root, fake, mode, selection=None):
    out = root / f"skyflux-{mode}.fits"
    argv = ["--plate", str(fake.plate), "--plate-dir", str(fake.plate_dir), "--calibration", mode,
            "--reference-calib", fake.reference_calib, "--fluxcal-dir", str(fake.fluxcal_dir), "--out", str(out)]
    if selection:
        argv += ["--selection", str(selection)]
    sky_flux.main(argv)
    return out


@pytest.mark.parametrize("mode", ["spfluxcalib", "bosz"])
def test_calibrated_sky_matches_truth_within_noise(plate, mode):
    root, fake = plate
    s = read_skyflux(_run_flux(root, fake, mode))
    assert s.nspec == len(EXPIDS) * 2 * 20
    chis = []
    for i, row in enumerate(s.meta):
        truth = fake.truth_flux[(int(row["EXPID"]), str(row["CAMERA"]))][(int(row["FIBERID"]) - 1) % 500]
        n = int(row["NPIX"])
        good = s.ivar[i, :n] > 0
        chis.append(((s.flux[i, :n] - truth) * np.sqrt(s.ivar[i, :n]))[good])
    chi = np.concatenate(chis)
    assert abs(chi.mean()) < 0.02 and abs(chi.std() - 1.0) < 0.03
    # masked FULLREJECT columns have no weight; NEARBADPIXEL (not a bad bit) keeps it
    assert np.all(s.ivar[:, 100:103] == 0)
    assert set(s.meta["CALMODE"]) == {mode}


def test_reference_mode_uses_one_fixed_calibration(plate):
    """reference: every exposure calibrated with the first exposure's spFluxcalib, so an exposure
    whose throughput is (1 + 0.1 k) times higher comes out (1 + 0.1 k) times brighter; exposure 0
    matches the truth within noise."""
    root, fake = plate
    ref = read_skyflux(_run_flux(root, fake, "reference"))
    own = read_skyflux(_run_flux(root, fake, "spfluxcalib"))
    for k, expid in enumerate(EXPIDS):
        sel = np.flatnonzero(ref.meta["EXPID"] == expid)
        good = (ref.ivar[sel] > 0) & (own.ivar[sel] > 0)
        ratio = np.median((ref.flux[sel] / np.where(good, own.flux[sel], 1.0))[good & (own.flux[sel] > 1)])
        assert ratio == pytest.approx(1.0 + 0.1 * k, rel=1e-3)


def test_chain_truth_recovery_and_mega_files(plate, tmp_path):
    root, fake = plate
    sel = tmp_path / "selection-sky.csv"
    pd.DataFrame({
        "plate": [fake.plate] * 2, "mjd": [fake.mjd] * 2, "exposure": [EXPIDS[0], EXPIDS[1]],
        "flags": ["", "CLOUDY"], "excluded_cameras": ["", "r1"],
    }).to_csv(sel, index=False)  # EXPIDS[2] not selected (flag-excluded upstream)
    sf = _run_flux(tmp_path, fake, "spfluxcalib", sel)
    s = read_skyflux(sf)
    assert sorted(set(s.meta["EXPID"])) == [EXPIDS[0], EXPIDS[1]]
    assert not np.any((s.meta["EXPID"] == EXPIDS[1]) & (s.meta["CAMERA"] == "r1"))
    assert s.nspec == 20 * 3
    rich, lines, mean, ml, cf = (tmp_path / f"{k}.fits" for k in ("rich", "lines", "mean", "meanlines", "contfit"))
    rich_metadata.main(["--skyflux", str(sf), "--out", str(rich)])
    line_sum.main(["--skyflux", str(sf), "--rich", str(rich), "--out", str(lines)])
    mean_spectra.main(["--skyflux", str(sf), "--rich", str(rich), "--out", str(mean)])
    mean_line_sum.main(["--mean", str(mean), "--out", str(ml)])
    continuum_fit.main(["--mean", str(mean), "--out", str(cf)])

    # line sums of injected lines, S/N > 50: median |rel. error| < 2 %
    table = read_table(lines)
    rel = []
    for e in read_line_list():
        if e.kind != "line":
            continue
        for row in table:
            if str(row["CAMERA"])[0] == e.camera and row[e.name] * np.sqrt(row[e.name + "_IVAR"]) > 50:
                rel.append(row[e.name] / fake.line_flux[(int(row["EXPID"]), str(row["CAMERA"]))][e.name] - 1)
    assert len(rel) > 20
    assert np.median(np.abs(rel)) < 0.02
    assert np.all(np.isfinite(table["MOON_ILL"])) and np.all(np.isfinite(table["SOLARFLUX"]))

    # mean-spectrum continuum within 3 % of truth away from lines
    images, tabs, _ = read_product(cf)
    grid = images["WAVE"]
    ag = read_airglow_lines()
    allw = np.concatenate([ag["b"], ag["r"]] + [np.array(e.components) for e in read_line_list() if e.kind == "line"])
    far = np.min(np.abs(grid[:, None] - allw[None, :]), axis=1) > 6
    assert len(tabs["META"]) == 3 and set(tabs["META"]["FIT_STATUS"]) == {"ok"}
    for i, row in enumerate(tabs["META"]):
        truth = fake.cont_amp[int(row["EXPID"])] * (grid / 5000.0) ** -1.0
        lo, hi = (3700, 6300) if str(row["CAMERA"])[0] == "b" else (5700, 10300)
        use = far & (grid > lo) & (grid < hi)
        assert np.median(np.abs(images["CONTINUUM"][i][use] / truth[use] - 1)) < 0.03
    # mean line sums see the same lines (windows in Angstrom on every grid)
    mt = read_table(ml)
    for row in mt:
        if str(row["CAMERA"])[0] == "b":
            per_fibre = table["OI5579"][(table["EXPID"] == row["EXPID"]) & (table["CAMERA"] == row["CAMERA"])]
            assert row["OI5579"] == pytest.approx(np.median(per_fibre), rel=0.05)

    # mega files: one row per selected sky spectrum; flagged exposure rows removed with a reason
    out = {k: tmp_path / f"sky_meta_{k}.fits" for k in ("all", "good", "removed")}
    mega_file.main(["--tables", str(lines), "--exclude-flags", "CLOUDY", "--range", "SEEING50:0:2",
                    "--out-all", str(out["all"]), "--out-good", str(out["good"]), "--out-removed", str(out["removed"])])
    all_t, good_t, rem_t = (read_table(out[k]) for k in ("all", "good", "removed"))
    assert len(all_t) == s.nspec
    assert EXPIDS[2] not in set(all_t["EXPID"])
    assert set(good_t["EXPID"]) == {EXPIDS[0]} and len(good_t) + len(rem_t) == len(all_t)
    assert set(rem_t["REASON"]) == {"flagged"}
    mout = {k: tmp_path / f"mean_sky_meta_{k}.fits" for k in ("all", "good", "removed")}
    mean_mega_file.main(["--tables", str(ml), "--out-all", str(mout["all"]), "--out-good", str(mout["good"]),
                         "--out-removed", str(mout["removed"])])
    assert len(read_table(mout["all"])) == 3
    _, _, header = read_product(mout["all"])
    assert header["STEP"] == "mean_mega_file" and header["VERSION"] == "dev"


def test_sky_flux_errors_name_the_problem(plate, tmp_path, capfd):
    root, fake = plate
    with pytest.raises(StepError, match="needs --reference-calib"):
        sky_flux.main(["--plate", "9001", "--plate-dir", str(fake.plate_dir), "--calibration", "reference",
                       "--out", str(tmp_path / "x.fits")])
    with pytest.raises(StepError, match="needs --fluxcal-dir"):
        sky_flux.main(["--plate", "9001", "--plate-dir", str(fake.plate_dir), "--calibration", "bosz",
                       "--out", str(tmp_path / "x.fits")])
    with pytest.raises(ValueError, match="not an SPPIXMASK bit"):
        sky_flux.main(["--plate", "9001", "--plate-dir", str(fake.plate_dir), "--bad-mask-bits", "NOPLUG,FOO",
                       "--out", str(tmp_path / "x.fits")])
    empty = tmp_path / "empty"
    empty.mkdir()
    rc = run_step(sky_flux.main, ["--plate", "9001", "--plate-dir", str(empty), "--out", str(tmp_path / "x.fits")])
    assert rc == 1 and "no spPlate" in capfd.readouterr().err
    assert not (tmp_path / "x.fits").exists()
    with pytest.raises(SystemExit):
        sky_flux.parse(["--plate", "1", "--out", "x.fits"])  # neither --plate-dir nor --spec-dir


def test_line_sum_refuses_mismatched_rich(plate, tmp_path):
    root, fake = plate
    sf = _run_flux(tmp_path, fake, "spfluxcalib")
    other = tmp_path / "other"
    other.mkdir()
    sel = tmp_path / "sel.csv"
    pd.DataFrame({"exposure": [EXPIDS[0]], "flags": [""], "excluded_cameras": [""]}).to_csv(sel, index=False)
    sf2 = _run_flux(other, fake, "spfluxcalib", sel)
    rich2 = tmp_path / "rich2.fits"
    rich_metadata.main(["--skyflux", str(sf2), "--out", str(rich2)])
    with pytest.raises(StepError, match="rows do not match"):
        line_sum.main(["--skyflux", str(sf), "--rich", str(rich2), "--out", str(tmp_path / "l.fits")])


def test_a_failing_frame_is_recorded_not_fatal(plate, tmp_path):
    import shutil

    from sdssflow.io.sky import read_product

    root, fake = plate
    pdir = tmp_path / "plate"
    shutil.copytree(fake.plate_dir, pdir)
    (pdir / f"spFluxcalib-r1-{EXPIDS[1]:08d}.fits").unlink()
    out = tmp_path / "skyflux.fits"
    sky_flux.main(["--plate", str(fake.plate), "--plate-dir", str(pdir), "--out", str(out)])
    _, tables, _ = read_product(out)
    status = tables["STATUS"]
    failed = status[status["STATUS"] == "failed"]
    assert len(status) == 6 and len(failed) == 1
    assert (int(failed["EXPID"][0]), failed["CAMERA"][0]) == (EXPIDS[1], "r1")
    assert "spFluxcalib-r1" in failed["MESSAGE"][0]
    assert len(tables["META"]) == 5 * 20
