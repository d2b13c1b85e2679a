"""The MWM route on real SDSS files (../shared/data/real): issue 11, MWM part.

The real APOGEE star 2M00452143+1634446 (an M dwarf, DR13 r6 reduction) has three
apVisit files whose header VHELIO (596, 598, -224 km/s) disagree with the apStar's
per-visit VHELIOi (7.16, 6.61, 6.44 km/s): the visits' velocities are measured here and
checked against the apStar's, independently of the headers. The real spec files are
QSO and GALAXY spectra (two of them "lite").
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from sdssflow.io.apogee import read_apstar
from sdssflow.io.mwm import read_mwm
from sdssflow.io.mwm_flags import APOGEE_STARFLAG, STATUS_FLAGS
from sdssflow.io.mwm_grids import bucket
from sdssflow.io.mwm_status import read_status, write_status
from sdssflow.mwm import mwm_star, mwm_visit
from sdssflow.mwm.apogee_rv import _rv_ivar, barycentric_correction, pixel_offset
from sdssflow.mwm.build import build_source
from sdssflow.mwm.sources import gather_bucket, stellar_like
from sdssflow.mwm.steps import boss_visits, mwm_index, mwm_status
from sdssflow.qc.steps import report_figures
from sdssflow.resources import data_path

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
APOGEE_DIR = REAL / "apogee"
APSTAR = APOGEE_DIR / "apStar-r6-2M00452143+1634446.fits"
APVISITS = [APOGEE_DIR / f"apVisit-2M00452143+1634446-{i}.fits" for i in range(3)]
BASIS = data_path("mwm/nmf-basis-synthetic-C12.fits.gz")
RV_REJECT = 1 << APOGEE_STARFLAG["RV_REJECT"]

pytestmark = pytest.mark.skipif(not APSTAR.exists(), reason="../shared/data/real not available")


def _apstar_vhelio(i: int) -> float:
    """The apStar's VHELIOi of visit i (1-based), the reference velocity."""
    return float(fits.getheader(APSTAR)[f"VHELIO{i}"])


def cut_apstar(dst: Path, keep: list[int]) -> Path:
    """Write the shared apStar cut to the visits ``keep`` (1-based), renumbering the cards.

    One visit gives the DRP's single-visit layout: NVISITS = 1 and 1-D images (the row of
    that visit); otherwise rows 0-1 (stack, global) and then the kept visits' rows.
    """
    per_visit = ("SFILE", "DATE", "JD", "HJD", "FIBER", "BC", "VTYPE", "VRAD", "VERR", "VHELIO",
                 "RVTEFF", "RVLOGG", "RVFEH", "RVALPH", "RVCARB", "SNRVIS", "FLAG")  # fmt: skip
    with fits.open(APSTAR) as hdul:
        h = hdul[0].header.copy()
        n = int(h["NVISITS"])
        for j, i in enumerate(keep, start=1):
            for key in per_visit:
                if f"{key}{i}" in hdul[0].header:
                    h[f"{key}{j}"] = hdul[0].header[f"{key}{i}"]
        for j in range(len(keep) + 1, n + 1):
            for key in per_visit:
                h.remove(f"{key}{j}", ignore_missing=True)
        h["NVISITS"] = len(keep)
        out = [fits.PrimaryHDU(header=h)]
        for k in range(1, 8):
            data = hdul[k].data
            rows = data[1 + keep[0]] if len(keep) == 1 else data[[0, 1] + [1 + i for i in keep]]
            out.append(fits.ImageHDU(np.array(rows), header=hdul[k].header))
        out += [hdu.copy() for hdu in hdul[8:]]
        fits.HDUList(out).writeto(dst)
    return dst


def _index(paths) -> pd.DataFrame:
    kinds = ["apstar" if "Star-" in Path(p).name else "apvisit" for p in paths]
    return pd.DataFrame({"sdss_id": 7, "kind": kinds, "path": [str(p) for p in paths], "row": 0,
                         "mjd": -1, "telescope": "apo25m", "objtype": "STAR"})  # fmt: skip


def _build(paths):
    src = gather_bucket(_index(paths))[0]
    assert src.error == ""
    return src, build_source(src.sdss_id, [], src.apogee, None)


def _with_header_vhelio(src: Path, dst: Path, vhelio: float) -> Path:
    """A copy of an apVisit whose header (HDU0 and the HDU11 table) says VHELIO = vhelio."""
    with fits.open(src) as hdul:
        hdul[0].header["VHELIO"] = vhelio
        hdul[11].data["VHELIO"][0] = vhelio
        hdul.writeto(dst)
    return dst


@pytest.mark.parametrize("i", [0, 1, 2])
def test_one_apvisit_plus_the_apstar_of_the_other_visits(tmp_path, i):
    others = [k for k in (1, 2, 3) if k != i + 1]
    star = cut_apstar(tmp_path / "apStar-r6-2M00452143+1634446.fits", others)
    src, prod = _build([APVISITS[i], star])
    cols = prod.visit["APOGEE/APO"]
    assert len(cols["mjd"]) == 3  # one visit list: the apVisit and the two apStar rows
    j = cols["filetype"].index("apVisit")
    # measured against the co-add of the other visits' rows: the apStar's value of this
    # visit (which the measurement never sees) within 1 km/s
    assert cols["v_rad"][j] == pytest.approx(_apstar_vhelio(i + 1), abs=1.0)
    assert cols["rv_method"][j] == "apstar_coadd"
    assert cols["v_rad_header"][j] > 500 or cols["v_rad_header"][j] < -200  # the real header
    assert cols["spectrum_flags"][j] & RV_REJECT and not cols["in_stack"][j]
    assert [cols["in_stack"][k] for k in range(3) if k != j] == [True, True]
    # metadata of the apStar-only visits filled from the apStar (no None left)
    for key in ("plate", "field", "obj", "exptime", "catalogid", "fiber", "date_obs"):
        assert all(v is not None for v in cols[key]), key
    assert set(cols["plate"]) == {"6561"} and all(cols["field"]) and all(cols["date_obs"])
    assert src.header["APOGEEID"] == "2M00452143+1634446"
    assert prod.star["APOGEE/APO"]["n_good_visits"] == [2]


def test_header_rv_wrong_by_500_kms_is_measured_flagged_and_left_out(tmp_path):
    truth = _apstar_vhelio(1)
    star = cut_apstar(tmp_path / "apStar-r6-2M00452143+1634446.fits", [2, 3])
    for offset, flagged in ((500.0, True), (0.0, False)):
        visit = _with_header_vhelio(APVISITS[0], tmp_path / f"apVisit-{offset:.0f}.fits", truth + offset)
        _, prod = _build([visit, star])
        cols = prod.visit["APOGEE/APO"]
        j = cols["filetype"].index("apVisit")
        assert cols["v_rad"][j] == pytest.approx(truth, abs=1.0)
        assert cols["v_rad_header"][j] == pytest.approx(truth + offset, abs=1e-3)
        assert bool(cols["spectrum_flags"][j] & RV_REJECT) is flagged
        assert cols["in_stack"][j] is (not flagged)
        assert prod.star["APOGEE/APO"]["n_good_visits"] == [3 - flagged]
        # after resampling, every in-stack visit lines up with the co-add within 0.1 pixel
        coadd = prod.star["APOGEE/APO"]
        for k in np.flatnonzero(cols["in_stack"]):
            ivar = _rv_ivar(cols["ivar"][k], cols["pixel_flags"][k])
            shift = pixel_offset(cols["flux"][k], ivar, coadd["flux"][0], coadd["ivar"][0])
            assert abs(shift) < 0.1, (offset, k, shift)


def test_single_visit_apstar_is_a_normal_source(tmp_path):
    star = cut_apstar(tmp_path / "apStar-r6-2M00452143+1634446.fits", [2])
    s = read_apstar(star)
    assert s.flux.shape == (1, 8575) and s.meta["nvisits"] == 1
    src, prod = _build([star])
    cols = prod.visit["APOGEE/APO"]
    assert len(cols["mjd"]) == 1 and cols["in_stack"] == [True]
    assert cols["mjd"] == [56607] and cols["fiber"] == [125]
    np.testing.assert_array_equal(cols["flux"][0], s.flux[0])
    row = prod.star["APOGEE/APO"]
    assert row["v_rad"] == [pytest.approx(_apstar_vhelio(2), abs=1e-4)]
    assert src.header["APOGEEID"] == "2M00452143+1634446"


def test_real_apogee_source_through_the_steps(tmp_path):
    """apVisit 1 + apStar of visits 1 and 3 through mwm_index, mwm_visit and mwm_star."""
    apogee = tmp_path / "apogee"
    apogee.mkdir()
    shutil.copy(APVISITS[1], apogee)
    cut_apstar(apogee / "apStar-r6-2M00452143+1634446.fits", [1, 3])
    index = tmp_path / "index"
    mwm_index.main(["--apogee-dir", str(apogee), "--outdir", str(index)])
    (gg, hh), spectra = next((p.parent.name, p.stem) for p in index.glob("*/*.csv")), tmp_path / "s"
    vstat = spectra / "status" / gg / hh / f"visit-status-{gg}{hh}.fits"
    mwm_visit.main(["--index-dir", str(index), "--gg", gg, "--hh", hh, "--basis", str(BASIS),
                    "--spectra-dir", str(spectra), "--status", str(vstat), "--version-name", "t1"])  # fmt: skip
    sstat = vstat.with_name(f"star-status-{gg}{hh}.fits")
    mwm_star.main(["--visit-status", str(vstat), "--basis", str(BASIS), "--spectra-dir", str(spectra),
                   "--status", str(sstat), "--version-name", "t1"])  # fmt: skip
    status = read_status(sstat)
    assert list(status["flags"]) == [24]
    assert str(status["message"][0]).strip() == (
        "APOGEE: 1 of 3 visits RV_REJECT (header and measured RV disagree)"
    )
    for kind in ("visit", "star"):
        path = next(spectra.glob(f"{kind}/*/*/mwm*.fits"))
        header, tables = read_mwm(path)
        assert header["APOGEEID"] == "2M00452143+1634446"
        for ext, t in tables.items():
            if t is not None and len(t):
                assert set(np.char.strip(t["v_astra"].astype(str))) == {"t1"}, ext
    # the report figure finds the star through the survey status table; a run without
    # any mwmStar (here: a status table of skipped sources only) gets a figure saying why
    survey = tmp_path / "mwm_status.fits"
    mwm_status.main(["--status", str(sstat), "--output", str(survey)])
    for table, n_axes in ((survey, 1), (vstat, 1)):
        out = tmp_path / f"fig-{table.stem}.png"
        fig_rows = read_status(table)
        report_figures.main(["mwm-star", "--status", str(table), "--out", str(out)])
        assert out.stat().st_size > 1000 and len(fig_rows) == n_axes
    empty = tmp_path / "skipped.fits"
    write_status(empty, [{"sdss_id": 1, "flags": 2, "message": "not stellar-like: class QSO"}], "t1", "x")
    fig = report_figures._mwm_star(None, [], 3, str(empty))
    assert "1 skipped_because_not_stellar_like" in fig.axes[0].texts[0].get_text()
    assert report_figures._mwm_star(None, [], 3, str(survey)).axes[0].get_title().startswith("sdss_id")
    _, visit = read_mwm(next(spectra.glob("visit/*/*/mwmVisit*.fits")))
    t = visit["APOGEE/APO"]
    j = int(np.flatnonzero(np.char.strip(t["filetype"].astype(str)) == "apVisit")[0])
    assert t["v_rad"][j] == pytest.approx(_apstar_vhelio(2), abs=1.0)
    assert t["v_rad_header"][j] == pytest.approx(598.1238, abs=1e-3)
    assert not t["in_stack"][j] and t["spectrum_flags"][j] & RV_REJECT
    assert set(t["plate"].astype(str)) == {"6561"} and np.all(t["exptime"][j] > 0)


def test_barycentric_correction_matches_the_apstar_header():
    h = fits.getheader(APSTAR)
    for i in (1, 2, 3):
        bc = barycentric_correction(h["RA"], h["DEC"], h[f"JD{i}"], "apo25m")
        assert bc == pytest.approx(h[f"BC{i}"], abs=0.05)


def test_stellar_like_rule():
    assert stellar_like({"QSO", "GALAXY"}) == (False, "not stellar-like: class GALAXY,QSO")
    assert stellar_like({"QSO"}, has_apogee=True)[0]
    assert stellar_like({"GALAXY"}, cartons={"ops_std_boss"})[0]
    assert not stellar_like({"GALAXY"}, cartons={"bhm_aqmes_med"})[0]
    assert stellar_like(set())[0] and stellar_like({"STAR", "QSO"})[0]


def test_real_spec_files_skipped_with_their_class_and_lite_files_used(tmp_path):
    specs = sorted((REAL / "sdss_spec").glob("spec-*.fits"))
    classes = {}
    for spec in specs:
        with fits.open(spec) as hdul:
            classes[spec.name] = hdul[2].data["CLASS"][0].strip()
    assert set(classes.values()) == {"QSO", "GALAXY"}
    # a lite file (no per-exposure HDU) turned into a star (another fibre, so another
    # source): used by the MWM route
    lite = next(s for s in specs if len(fits.open(s)) == 4)
    star_dir = tmp_path / "star"
    star_dir.mkdir()
    star = star_dir / (lite.name[: -len("0013.fits")] + "0999.fits")
    with fits.open(lite) as hdul:
        hdul[2].data["CLASS"][0] = "STAR"
        hdul.writeto(star)
    visits = []
    for spec in [*specs, star]:
        _, plate, mjd, _ = spec.stem.split("-")
        out = tmp_path / spec.parent.name / f"bossVisits-{spec.stem}.fits"
        boss_visits.main(["--spec-files", str(spec), "--plate", str(int(plate)), "--mjd", mjd,
                          "--output", str(out)])  # fmt: skip
        visits.append(str(out))
    index = tmp_path / "index"
    mwm_index.main(["--boss-visits", *visits, "--outdir", str(index)])
    rows = []
    for csv in sorted(index.glob("*/*.csv")):
        gg, hh = csv.parent.name, csv.stem
        vstat = tmp_path / "status" / f"{gg}{hh}.fits"
        mwm_visit.main(["--index-dir", str(index), "--gg", gg, "--hh", hh, "--basis", str(BASIS),
                        "--spectra-dir", str(tmp_path / "spectra"), "--status", str(vstat)])  # fmt: skip
        rows += list(read_status(vstat))
    skipped = 1 << STATUS_FLAGS["SKIPPED_BECAUSE_NOT_STELLAR_LIKE"]
    created = 1 << STATUS_FLAGS["CREATED_MWM_VISIT"]
    by_message = sorted((int(r["flags"]), str(r["message"]).strip()) for r in rows)
    assert by_message.count((skipped, "not stellar-like: class QSO")) == 3
    assert by_message.count((skipped, "not stellar-like: class GALAXY")) == 2
    assert sum(f == created for f, _ in by_message) == 1  # the lite "star"
    made = next((tmp_path / "spectra").glob("visit/*/*/mwmVisit-*.fits"))
    _, tables = read_mwm(made)
    assert len(tables["BOSS/APO"]) == 1 and bucket(int(made.stem.split("-")[-1]))


def test_apstar_alone_reproduces_the_drp_statistics():
    _, prod = _build([APSTAR])
    a = prod.star["APOGEE/APO"]
    # the rest-frame rows with their VHELIOi: the co-add statistics are the DRP's header values
    assert a["v_rad"][0] == pytest.approx(6.73279, abs=0.01) and a["n_visits"] == [3]
    assert a["mean_fiber"][0] == pytest.approx(129.033, abs=0.01)
    assert a["std_fiber"][0] == pytest.approx(3.4641, abs=1e-3)


def test_spec_class_of_the_real_files():
    from sdssflow.io.specfile import read_specfile

    got = {p.name: read_specfile(p, exposures=False).spec_class for p in (REAL / "sdss_spec").glob("*.fits")}
    # SDSS-I/II SPECOBJ and BOSS SPALL (OBJTYPE 'NA' there): CLASS wins
    assert got == {"spec-0266-51602-0013.fits": "GALAXY", "spec-0295-51585-0596.fits": "GALAXY",
                   "spec-1325-52762-0133.fits": "QSO", "spec-6717-56397-0534.fits": "QSO",
                   "spec-7338-56660-0733.fits": "QSO"}  # fmt: skip


@pytest.mark.parametrize("v_true", [-437.2, 37.3, 829.6])
def test_measure_velocity_recovers_a_known_shift_of_a_real_spectrum(v_true):
    from sdssflow.io.mwm_grids import APOGEE, C_KMS
    from sdssflow.mwm.apogee_rv import measure_velocity, reference_library
    from sdssflow.mwm.resample import resample_spectrum

    s = read_apstar(APSTAR)
    grid = APOGEE.wavelength
    ivar = _rv_ivar(s.ivar[2], s.mask[2])
    # the row seen at v_true: flux(λ) = row(λ / (1 + v/c)); resample_spectrum(u) gives
    # row(λ (1 + u/c)), so u = -v / (1 + v/c) (u = -v would be off by v²/c: 0.6 km/s at 437)
    u = -v_true / (1.0 + v_true / C_KMS)
    flux, ivar_s, _ = resample_spectrum([(grid, s.flux[2], ivar, None, 5.0)], grid, u)
    r = measure_velocity(grid, flux, ivar_s, reference_library(s.flux[2], ivar))
    assert r["v"] == pytest.approx(v_true, abs=0.1) and 0 < r["e_v"] < 0.5 and r["rxc"] > 10
