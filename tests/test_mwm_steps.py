"""The MWM steps end to end: boss_visits, mwm_index, mwm_visit, mwm_star, mwm_status.

On a synthetic bucket pair (with one source whose APOGEE file is broken) and on the real
SDSS spec files and DR13 apVisit/apStar files of ../shared/data/real.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from sdssflow.io.boss_visits import write_boss_visits
from sdssflow.io.mwm import read_mwm
from sdssflow.io.mwm_flags import STATUS_FLAGS
from sdssflow.io.mwm_grids import bucket
from sdssflow.io.mwm_status import read_status
from sdssflow.mwm import mwm_star, mwm_visit
from sdssflow.mwm import synthetic as S
from sdssflow.mwm.steps import boss_visits, mwm_index, mwm_status
from sdssflow.resources import data_path

ROOT = Path(__file__).resolve().parents[1]
BASIS = data_path("mwm/nmf-basis-synthetic-C12.fits.gz")
REAL = ROOT.parent / "shared" / "data" / "real"
PARAMS = (5500.0, 4.5, 0.0)
GOOD, BROKEN, OTHER = 100001234, 100011234, 100002345  # two in bucket 12/34, one in 23/45


def _flag(flags, name):
    return bool(int(flags) >> STATUS_FLAGS[name] & 1)


def _load_all(paths):
    from specutils import Spectrum, SpectrumList

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the 1-D loader warns which HDU it picked
        for path in paths:
            assert len(SpectrumList.read(path, format="SDSS-V mwm")) >= 1, path
            assert Spectrum.read(path, format="SDSS-V mwm").flux.size > 0, path


def _write_apvisit(path, sdss_id, mjd, v, rng, broken=False):
    ap = S.apogee_visit(PARAMS, v, 80.0, rng)
    hdr = fits.Header({"OBJID": "2M00000000+0000000", "TELESCOP": "apo25m", "MJD5": mjd, "FIBERID": 50,
                       "SNR": 80.0, "STARFLAG": 0, "SDSS_ID": sdss_id, "VRAD": v, "BC": 0.0, "VHELIO": v})  # fmt: skip
    chips = ap.chips[::-1]  # files store the red chip first, λ decreasing
    imgs = [np.array([c[k][::-1] for c in chips]) for k in range(4)]
    err = 1 / np.sqrt(imgs[2])
    hdus = [fits.PrimaryHDU(header=hdr)]
    if not broken:
        hdus += [fits.ImageHDU(imgs[1].astype("f4")), fits.ImageHDU(err.astype("f4")),
                 fits.ImageHDU(imgs[3].astype("i2")), fits.ImageHDU(imgs[0])]  # fmt: skip
    fits.HDUList(hdus).writeto(path)


@pytest.fixture(scope="module")
def synthetic_survey(tmp_path_factory):
    root = tmp_path_factory.mktemp("mwm")
    rng = np.random.default_rng(99)
    rest = S.star_fine(PARAMS)
    truth = {GOOD: 25.0, BROKEN: -40.0, OTHER: 140.0}
    visits = []
    for k in range(3):
        mjd = 59000 + 3 * k
        rows = []
        for sid, v in truth.items():
            vis = S.boss_visit(rest, v, 50.0, rng)
            rows.append((sid, vis))
        table = np.zeros(3, dtype=[("sdss_id", "i8"), ("mjd", "i4"), ("telescope", "S8"), ("snr", "f4"),
                                   ("xcsao_v_rad", "f4"), ("xcsao_e_v_rad", "f4"), ("xcsao_rxc", "f4"),
                                   ("objtype", "S16"), ("ra", "f8"), ("dec", "f8")])  # fmt: skip
        table["sdss_id"] = [r[0] for r in rows]
        table["mjd"], table["telescope"], table["snr"], table["objtype"] = (
            mjd,
            b"apo25m",
            50.0,
            b"STAR",
        )
        table["xcsao_v_rad"] = [truth[r[0]] + rng.normal(0, 1.0) for r in rows]
        table["xcsao_e_v_rad"], table["xcsao_rxc"] = 1.0, 12.0
        flux = np.array([r[1].flux for r in rows])
        path = write_boss_visits(root / f"bossVisits-4100-{mjd}.fits", table, flux, np.array([r[1].ivar for r in rows]),
                                 np.zeros(flux.shape, np.int64), np.full(flux.shape, 2.0), [], "v1")  # fmt: skip
        visits.append(str(path))
    apdir = root / "apogee"
    apdir.mkdir()
    for k in range(2):
        _write_apvisit(
            apdir / f"apVisit-t-apo25m-1-{59100 + k}-050.fits", GOOD, 59100 + k, 25.0, rng
        )
    _write_apvisit(
        apdir / "apVisit-t-apo25m-1-59100-051.fits", BROKEN, 59100, -40.0, rng, broken=True
    )
    index = root / "index"
    mwm_index.main(["--boss-visits", *visits, "--apogee-dir", str(apdir), "--outdir", str(index)])
    spectra = root / "spectra"
    stars = []
    for gg, hh in sorted({bucket(s) for s in truth}):
        vstat = spectra / "status" / gg / hh / f"visit-status-{gg}{hh}.fits"
        sstat = spectra / "status" / gg / hh / f"star-status-{gg}{hh}.fits"
        mwm_visit.main(["--index-dir", str(index), "--gg", gg, "--hh", hh, "--basis", str(BASIS),
                        "--spectra-dir", str(spectra), "--status", str(vstat), "--version-name", "v1"])  # fmt: skip
        mwm_star.main(["--visit-status", str(vstat), "--basis", str(BASIS), "--spectra-dir", str(spectra),
                       "--status", str(sstat), "--version-name", "v1"])  # fmt: skip
        stars.append(str(sstat))
    out = spectra / "mwm_status.fits"
    mwm_status.main(
        ["--status-dir", str(spectra / "status"), "--index-dir", str(index), "--output", str(out)]
    )
    return {"root": root, "spectra": spectra, "status": out, "truth": truth}


def test_bucket_pipeline_files_and_status(synthetic_survey):
    spectra = synthetic_survey["spectra"]
    status = {int(r["sdss_id"]): r for r in read_status(synthetic_survey["status"])}
    assert set(status) == {GOOD, BROKEN, OTHER}
    for sid in (GOOD, OTHER, BROKEN):
        assert _flag(status[sid]["flags"], "CREATED_MWM_VISIT") and _flag(
            status[sid]["flags"], "CREATED_MWM_STAR"
        )
    # the broken apVisit is recorded with its name and error, and drops that visit only:
    # BROKEN keeps its three BOSS visits (issue 10: it used to lose the whole source)
    assert not _flag(status[BROKEN]["flags"], "ATTEMPTED_BUT_EXCEPTION")
    message = str(status[BROKEN]["message"])
    assert "left out apVisit-t-apo25m-1-59100-051.fits" in message and "not an apVisit file" in message
    _, hdus = read_mwm(spectra / "visit" / "12" / "34" / f"mwmVisit-v1-{BROKEN}.fits")
    assert sum(len(t) for name, t in hdus.items() if t is not None and name.startswith("BOSS")) == 3
    assert all(t is None or not len(t) for name, t in hdus.items() if name.startswith("APOGEE"))
    files = sorted(spectra.glob("visit/*/*/mwmVisit-v1-*.fits")) + sorted(
        spectra.glob("star/*/*/mwmStar-v1-*.fits")
    )
    assert len(files) == 6
    assert (spectra / "visit" / "12" / "34" / f"mwmVisit-v1-{GOOD}.fits").exists()
    _load_all(files)


def test_bucket_pipeline_science(synthetic_survey):
    spectra, truth = synthetic_survey["spectra"], synthetic_survey["truth"]
    header, star = read_mwm(spectra / "star" / "12" / "34" / f"mwmStar-v1-{GOOD}.fits")
    assert header["SDSS_ID"] == GOOD and header["N_BOSS"] == 3 and header["N_APOGEE"] == 2
    b, a = star["BOSS/APO"][0], star["APOGEE/APO"][0]
    assert abs(b["v_rad"] - truth[GOOD]) < 2.0 and abs(a["v_rad"] - truth[GOOD]) < 0.01
    assert b["n_visits"] == 3 and b["n_good_rvs"] == 3 and a["n_visits"] == 2
    _, visit = read_mwm(spectra / "visit" / "12" / "34" / f"mwmVisit-v1-{GOOD}.fits")
    assert b["snr"] == pytest.approx(np.sqrt(np.sum(visit["BOSS/APO"]["snr"] ** 2)), rel=0.05)
    assert list(visit["APOGEE/APO"]["mjd"]) == [59100, 59101]


def test_mwm_star_reuses_the_visit_step_nmf_fit(synthetic_survey):
    """mwm_star rebuilds mwm_visit's co-add fit (same basis) instead of fitting again; a
    refit (other basis id) of the float32 visits agrees to float32 precision."""
    from sdssflow.io.mwm_nmf import nmf_from_cards
    from sdssflow.io.mwm_templates import read_nmf_basis

    path = synthetic_survey["spectra"] / "visit" / "12" / "34" / f"mwmVisit-v1-{GOOD}.fits"
    header, _ = read_mwm(path)
    assert nmf_from_cards(header, "BOSS/APO") and nmf_from_cards(header, "APOGEE/APO")
    basis = read_nmf_basis(BASIS)[0]
    reused, _ = mwm_star.star_from_visit_file(path, basis)
    refit, _ = mwm_star.star_from_visit_file(path, basis, basis_ids={})
    for ext in ("BOSS/APO", "APOGEE/APO"):
        for col in ("continuum", "nmf_rectified_model_flux"):
            np.testing.assert_allclose(reused[ext][col], refit[ext][col], rtol=1e-4)
        assert reused[ext]["nmf_flags"] == refit[ext]["nmf_flags"]


needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real not available")


@needs_real
def test_real_spec_and_apogee_files_make_loadable_products(tmp_path):
    specs = sorted((REAL / "sdss_spec").glob("spec-*.fits"))[:3]
    visits = []
    for spec in specs:
        _, plate, mjd, _ = spec.stem.split("-")
        out = tmp_path / f"bossVisits-{int(plate)}-{mjd}.fits"
        boss_visits.main(["--spec-files", str(spec), "--plate", str(int(plate)), "--mjd", mjd,
                          "--templates", str(REAL / "bosz2024"), "--output", str(out)])  # fmt: skip
        visits.append(str(out))
    index = tmp_path / "index"
    mwm_index.main(
        ["--boss-visits", *visits, "--apogee-dir", str(REAL / "apogee"), "--outdir", str(index)]
    )
    spectra = tmp_path / "spectra"
    buckets = sorted((p.parent.name, p.stem) for p in index.glob("*/*.csv"))
    assert len(buckets) == 4
    for gg, hh in buckets:
        vstat = spectra / "status" / gg / hh / f"visit-status-{gg}{hh}.fits"
        # the real spec files are QSO/GALAXY: kept here (--no-skip-non-stellar) to check
        # that their products load
        mwm_visit.main(["--index-dir", str(index), "--gg", gg, "--hh", hh, "--basis", str(BASIS),
                        "--spectra-dir", str(spectra), "--status", str(vstat), "--no-skip-non-stellar"])  # fmt: skip
        mwm_star.main(["--visit-status", str(vstat), "--basis", str(BASIS), "--spectra-dir", str(spectra),
                       "--status", str(vstat.with_name(f"star-status-{gg}{hh}.fits"))])  # fmt: skip
    files = sorted(spectra.glob("*/*/*/mwm*.fits"))
    assert len(list(spectra.glob("visit/*/*/*.fits"))) == 4
    _load_all(files)
    # issue 11: the three apVisit headers (VHELIO 596, 598, -224 km/s) disagree with the
    # velocities measured from the spectra (each against the apStar rows of the other two
    # visits), which agree with the apStar's VHELIOi: every visit is RV_REJECT, out of the
    # stack, so the source has an mwmVisit and no mwmStar (tests/test_mwm_real.py has the
    # DRP statistics of the apStar rows)
    _, tables = read_mwm(next(spectra.glob("visit/*/*/mwmVisit-dev-3004521431634446.fits")))
    a = tables["APOGEE/APO"]
    np.testing.assert_allclose(a["v_rad"], [7.16206, 6.61412, 6.43501], atol=1.0)
    assert not a["in_stack"].any() and np.all(a["spectrum_flags"] & (1 << 19))
    assert not list(spectra.glob("star/*/*/mwmStar-dev-3004521431634446.fits"))


def test_boss_visits_errors(tmp_path):
    spec = next((REAL / "sdss_spec").glob("spec-*.fits"), None)
    if spec is None:
        pytest.skip("no real spec file")
    assert boss_visits.__name__
    from sdssflow.steps import StepError

    with pytest.raises(StepError, match="is not 1-51602"):
        boss_visits.main(
            [
                "--spec-files",
                str(spec),
                "--plate",
                "1",
                "--mjd",
                "51602",
                "--output",
                str(tmp_path / "x.fits"),
            ]
        )
    assert not (tmp_path / "x.fits").exists()
