"""Step apogee_templates: the H-band RV templates built once, read by every mwm bucket job."""

from __future__ import annotations

import resource
import shutil
from pathlib import Path

import numpy as np
import pytest

from sdssflow.io.mwm_grids import APOGEE, C_KMS
from sdssflow.io.mwm_templates import read_apogee_rv_templates, write_apogee_rv_templates
from sdssflow.mwm.apogee_rv import measure_velocity
from sdssflow.mwm.hband_templates import APOGEE_R, LazyTemplates, build_templates, load_templates
from sdssflow.mwm.steps import apogee_templates
from sdssflow.steps import StepError

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
BOSZ = REAL / "bosz2024"  # one BOSZ 2024 model (6000 K, log g 4, R = 5000) and its grid
pytestmark = pytest.mark.skipif(not BOSZ.is_dir(), reason="real BOSZ model not available")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    mirror = tmp_path_factory.mktemp("mirror")
    shutil.copy(next(BOSZ.glob("*_resam.txt.gz")), mirror)
    (mirror / "wavelength_grids").mkdir()
    shutil.copy(next(BOSZ.glob("bosz2024_wave_r*.txt")), mirror / "wavelength_grids")
    (mirror / "manifest.csv").write_text("path\n")  # the step takes the bosz_download manifest's folder
    out = mirror.parent / "apogee_rv_templates.fits"
    apogee_templates.main(["--templates", str(mirror / "manifest.csv"), "--output", str(out), "--version-name", "t1"])
    return mirror, out


def test_product_is_the_library_built_from_the_mirror(product):
    mirror, out = product
    direct = build_templates(mirror)
    t0 = _cpu()
    read = load_templates(out)
    t_read = _cpu() - t0
    assert read.resolution == direct.resolution == 5000.0  # R = 5000 models are kept; the data are smoothed
    np.testing.assert_array_equal(read.library.params, direct.library.params)
    np.testing.assert_allclose(read.library.loglam, direct.library.loglam, rtol=0, atol=1e-12)
    np.testing.assert_allclose(read.library.flux, direct.library.flux, rtol=2e-7, atol=0)  # float32
    assert read.library.params.tolist() == [[6000.0, 4.0, 0.0]]
    # the fine grid: 4 steps per APOGEE pixel over the H band with margins
    assert np.diff(read.library.loglam) == pytest.approx(APOGEE.cdelt / 4, rel=1e-9)
    assert 10 ** read.library.loglam[0] < 15200 and 10 ** read.library.loglam[-1] > 16900
    assert t_read < 0.5  # CPU s: a file read, not a rebuild


@pytest.mark.parametrize("v_true", [-212.4, 37.3])
def test_velocity_against_the_product_recovers_a_shift_and_equals_the_mirror(product, v_true):
    """The BOSZ model itself, shifted to v_true and sampled on the APOGEE grid from the mirror's
    own wavelengths (not the product's grid), is measured at v_true against the product."""
    from sdssflow.io.mwm_templates import read_rv_templates

    mirror, out = product
    wave, rect, _, _ = read_rv_templates(mirror, wave_range=(15000.0, 17100.0))
    grid = APOGEE.wavelength
    flux = np.interp(grid / (1.0 + v_true / C_KMS), wave, rect[0])
    ivar = np.full(grid.size, 1e4)
    got = {}
    for name, tpl in (("mirror", build_templates(mirror)), ("product", LazyTemplates(out).get())):
        got[name] = measure_velocity(grid, flux, ivar, tpl.library, n_combine=1)
    assert got["product"]["v"] == pytest.approx(v_true, abs=0.3)
    assert got["product"]["v"] == pytest.approx(got["mirror"]["v"], abs=1e-4)


def test_writer_checks_the_grid_and_shapes(tmp_path):
    loglam = np.log10(15100.0) + 1.5e-6 * np.arange(200)
    flux = np.ones((2, 200))
    params = np.array([[5000.0, 4.5, 0.0], [4000.0, 4.5, -0.5]])
    path = write_apogee_rv_templates(tmp_path / "t.fits", loglam, flux, params, APOGEE_R, "t1", ["src"])
    ll, fl, pa, res = read_apogee_rv_templates(path)
    assert res == APOGEE_R and np.array_equal(pa, params) and fl.shape == (2, 200)
    np.testing.assert_allclose(ll, loglam, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="does not match"):
        write_apogee_rv_templates(tmp_path / "u.fits", loglam, flux[:, :10], params, APOGEE_R, "t1")
    with pytest.raises(ValueError, match="not uniform"):
        write_apogee_rv_templates(tmp_path / "u.fits", np.sort(loglam + 1e-7 * np.sin(np.arange(200))), flux, params, APOGEE_R, "t1")


def test_mirror_without_h_band_models_fails_the_step(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(StepError, match="no APOGEE RV templates"):
        apogee_templates.main(["--templates", str(tmp_path / "empty"), "--output", str(tmp_path / "t.fits")])
    assert not (tmp_path / "t.fits").exists()


def test_false_peak_against_an_ill_matched_template_is_rv_fail(product):
    """The real M-dwarf apVisits alone (no apStar) against the only real BOSZ model (6000 K):
    the correlation peaks at a false ~560 km/s with Tonry & Davis r < 3, so every visit is
    RV_FAIL and left out of the stack instead of being co-added at a wrong velocity."""
    import pandas as pd

    from sdssflow.io.mwm_flags import APOGEE_STARFLAG
    from sdssflow.mwm.apogee_rv import MIN_RXC
    from sdssflow.mwm.build import build_source
    from sdssflow.mwm.sources import gather_bucket

    apvisits = sorted((REAL / "apogee").glob("apVisit-*.fits"))
    if not apvisits:
        pytest.skip("real apVisits not available")
    index = pd.DataFrame({"sdss_id": 7, "kind": "apvisit", "path": [str(p) for p in apvisits], "row": 0,
                          "mjd": -1, "telescope": "apo25m", "objtype": "STAR"})  # fmt: skip
    src = gather_bucket(index)[0]
    _, out = product
    prod = build_source(src.sdss_id, [], src.apogee, None, apogee_templates=load_templates(out))
    cols = prod.visit["APOGEE/APO"]
    rv_fail = 1 << APOGEE_STARFLAG["RV_FAIL"]
    assert cols["rv_method"] == ["template"] * len(apvisits)
    assert all(f & rv_fail for f in cols["spectrum_flags"]) and not any(cols["in_stack"])
    assert MIN_RXC == 3.0
