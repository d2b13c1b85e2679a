"""Science of the MWM products: resampler, RVs, co-adds, NMF continuum (truth recovery)."""

from __future__ import annotations

import numpy as np
import pytest

from sdssflow.io.mwm_flags import NMF_FLAGS, STATUS_FLAGS, bits_set, names_of
from sdssflow.io.mwm_grids import (
    APOGEE,
    BOSS,
    C_KMS,
    bucket,
    legacy_apogee_sdss_id,
    legacy_spec_sdss_id,
)
from sdssflow.io.mwm_templates import read_nmf_basis
from sdssflow.mwm import synthetic as S
from sdssflow.mwm.build import build_source, hdu_of
from sdssflow.mwm.continuum import design_matrix, fit_nmf_continuum
from sdssflow.mwm.nmf_training import RESOLUTION, line_forest_library, train_nmf_basis
from sdssflow.mwm.resample import resample_chip, resample_spectrum, wave_to_pixel
from sdssflow.mwm.rv import measure_rv
from sdssflow.mwm.stack import apogee_in_stack, boss_in_stack, coadd, rv_summary
from sdssflow.resources import data_path

PARAMS = (5500.0, 4.5, 0.0)


BASIS_FILE = data_path("mwm/nmf-basis-synthetic-C12.fits.gz")


@pytest.fixture(scope="module")
def basis():
    return read_nmf_basis(BASIS_FILE)[0]


@pytest.fixture(scope="module")
def rvlib():
    return S.rv_library()


# ------------------------------------------------------------------ grids and ids
def test_grids_match_astra():
    assert BOSS.wavelength[0] == pytest.approx(3566.97, abs=0.01)
    assert BOSS.wavelength[-1] == pytest.approx(10399.20, abs=0.01)
    assert APOGEE.wavelength[0] == pytest.approx(15100.80, abs=0.01)
    assert APOGEE.wavelength[-1] == pytest.approx(16999.81, abs=0.01)
    assert BOSS.dv == pytest.approx(69.0, abs=0.1)


def test_buckets_and_legacy_ids():
    assert (
        bucket(103020000) == ("00", "00")
        and bucket(12345) == ("23", "45")
        and bucket(57) == ("00", "57")
    )
    a, b = (
        legacy_spec_sdss_id("spec-0266-51602-0013.fits"),
        legacy_spec_sdss_id("spec-0266-51602-0014.fits"),
    )
    assert a != b and a > 1e15
    assert legacy_apogee_sdss_id("2M00452143+1634446") != legacy_apogee_sdss_id(
        "2M00452143-1634446"
    )
    with pytest.raises(ValueError, match="not an SDSS spec file name"):
        legacy_spec_sdss_id("spPlate-0266-51602.fits")
    with pytest.raises(ValueError, match="2MASS-style"):
        legacy_apogee_sdss_id("TIC12345")
    with pytest.raises(ValueError, match="sdss_id must be >= 0"):
        bucket(-5)


def test_status_flag_bits():
    assert bits_set("CREATED_MWM_VISIT", "CREATED_MWM_STAR") == 24
    assert names_of(1 << STATUS_FLAGS["ATTEMPTED_BUT_EXCEPTION"]) == ["ATTEMPTED_BUT_EXCEPTION"]
    with pytest.raises(ValueError, match="unknown flag"):
        bits_set("NOPE")


# ------------------------------------------------------------------ resampler
def test_resample_identity_and_shift():
    w = BOSS.wavelength
    f = 1.0 + 0.5 * np.sin(w / 30.0)
    iv = np.full(w.size, 100.0)
    out, oiv, om = resample_spectrum([(w, f, iv, None, 5.0)], w, 0.0)
    np.testing.assert_allclose(out, f, atol=1e-12)  # same grid: exact delta kernel
    np.testing.assert_allclose(oiv, iv)
    assert not om.any()
    v = 37.0
    out, oiv, _ = resample_spectrum([(w, f, iv, None, 5.0)], w, v)
    expected = 1.0 + 0.5 * np.sin(w * (1 + v / C_KMS) / 30.0)
    np.testing.assert_allclose(out[60:-60], expected[60:-60], atol=1e-5)
    # interpolation averages noise: Σw² < 1 so ivar grows, never shrinks
    assert np.all(oiv[60:-60] >= 100.0)


def test_resample_flags_per_bit_and_bad_pixels():
    w = BOSS.wavelength
    f = np.ones(w.size)
    iv = np.ones(w.size)
    mask = np.zeros(w.size, np.int64)
    mask[1000] = 1 << 3
    mask[2000] = 1 << 26  # a bit above 2**24 survives (float32 would lose it)
    iv[3000] = 0.0
    out, oiv, om = resample_spectrum([(w, f, iv, mask, 5.0)], w, 0.0)
    assert om[1000] == 8 and om[2000] == 1 << 26 and om[999] == 0
    assert oiv[3000] == 0.0 and np.isfinite(out[3000])  # astra quirk 6 fixed: masked stays ivar 0
    _, _, om = resample_spectrum([(w, f, np.ones(w.size), mask, 5.0)], w, 20.0)
    assert set(np.unique(om)) == {0, 8, 1 << 26}
    assert 2 <= np.sum(om == 8) <= 8  # dilated by the kernel, per bit
    _, _, om = resample_spectrum([(w, f, np.ones(w.size), np.zeros(w.size, int), 5.0)], w, 20.0)
    assert not om.any()  # astra quirk 11 (all-zero mask) fixed


def test_resample_patch_and_flags_at_few_pixels_equal_the_whole_chip_forms():
    """The patch smoothed only at the bad pixels equals the whole smoothed array there, and
    the bits interpolated only near flagged pixels equal the dense per-bit interpolation
    (a frame's trace-set wavelengths: the general (nout, ntap) path)."""
    from scipy.ndimage import gaussian_filter1d

    from sdssflow.mwm.resample import _resample_bits, sinc_kernel, smooth_patch

    rng = np.random.default_rng(11)
    n = 4112
    values = 50.0 + np.cumsum(rng.normal(size=n))
    bad = np.zeros(n, bool)
    bad[:40], bad[752:755], bad[n - 31 :] = True, True, True  # both ends and a column
    where = np.flatnonzero(bad)
    np.testing.assert_allclose(smooth_patch(values, bad, at=where), smooth_patch(values, bad)[where], rtol=1e-13)
    everywhere = np.arange(n)  # most pixels wanted: the whole-array filter itself
    assert np.array_equal(smooth_patch(values, bad, at=everywhere), smooth_patch(values, bad))
    short = values[:300]  # shorter than the kernel's half width (400 px): reflected again
    np.testing.assert_allclose(
        smooth_patch(short, bad[:300], at=np.array([0, 7])),
        gaussian_filter1d(smooth_patch(short, bad[:300], sigma=1e-9), 100.0, mode="reflect")[[0, 7]],
        rtol=1e-12,
    )

    x = np.linspace(3.2, n - 4.7, 4000) + 0.3 * np.sin(np.arange(4000) / 300.0)
    ix = np.floor(x).astype(int)
    w, half = sinc_kernel(x - ix, 5.0)
    idx = ix[:, None] + np.arange(-half, half + 1)[None, :]
    w = np.where((idx >= 0) & (idx < n), w, 0.0)
    idx = np.clip(idx, 0, n - 1)
    mask = np.zeros(n, np.int64)
    mask[rng.choice(n, 60, replace=False)] |= 1 << 1
    mask[:5] |= 1 << 23
    mask[n - 3 :] |= 1 << 26
    dense = np.zeros(x.size, np.int64)
    for b in (1, 23, 26):
        plane = ((mask >> b) & 1).astype(np.float32)
        vals = np.abs(np.einsum("ij,ij->i", plane[idx], w.astype(np.float32)))
        dense[vals > 0.1] |= 1 << b
    assert dense.any() and np.array_equal(_resample_bits(mask, ix, half, w, 0.1), dense)


def test_resample_errors():
    w = BOSS.wavelength
    with pytest.raises(ValueError, match="strictly monotonic"):
        wave_to_pixel(np.r_[w[:10], w[5:15]], w)
    with pytest.raises(ValueError, match="one shape"):
        resample_chip(w, np.ones(10), np.ones(w.size), None, w, 5.0)
    with pytest.raises(ValueError, match="v_kms must be finite"):
        resample_spectrum([(w, np.ones(w.size), np.ones(w.size), None, 5.0)], w, np.nan)


# ------------------------------------------------------------------ RV
def test_rv_recovers_truth(rvlib):
    rng = np.random.default_rng(11)
    rest = S.star_fine(PARAMS)
    pulls = []
    for v in (-150.0, 12.3, 87.5):
        vis = S.boss_visit(rest, v, 40.0, rng)
        r = measure_rv(BOSS.wavelength, vis.flux, vis.ivar, rvlib)
        assert r["rxc"] > 6
        assert r["teff"] == pytest.approx(5500.0, abs=100)
        pulls.append((r["v_rad"] - v) / r["e_v_rad"])
        assert abs(r["v_rad"] - v) < 4.0  # km/s, S/N 40 at R 2000
    assert np.all(np.abs(pulls) < 3.5)


def test_rv_vectorised_helpers_equal_their_one_template_forms(rvlib):
    """The gathered interpolation, the χ² of every row and the matrix-product correlation
    give what np.interp per template, one χ² at a time and a loop of np.roll gave."""
    from sdssflow.mwm.rv import _chi2, _chi2_rows, _coarse_ccf, _shifted_rows

    rng = np.random.default_rng(3)
    loglam = np.log10(BOSS.wavelength)
    for v in (-340.0, 0.0, 57.3):
        x = loglam - np.log10(1.0 + v / 299792.458)
        one = np.array([np.interp(x, rvlib.loglam, f, left=1.0, right=1.0) for f in rvlib.flux])
        np.testing.assert_allclose(_shifted_rows(rvlib.flux, rvlib.loglam, loglam, v), one, rtol=1e-12, atol=1e-13)
    T = _shifted_rows(rvlib.flux, rvlib.loglam, loglam, 12.0)
    d, w = 1.0 + 0.01 * rng.standard_normal(loglam.size), rng.uniform(0.5, 2.0, loglam.size)
    np.testing.assert_allclose(_chi2_rows(d, w, T), [_chi2(d, w, t) for t in T], rtol=1e-10)
    tpl0 = T - 1.0
    dn = (d - 1.0) * np.sqrt(w)
    dn -= dn.mean()
    lags = np.arange(-15, 16)
    loop = np.empty((tpl0.shape[0], lags.size))
    for j, lag in enumerate(lags):
        t = np.roll(tpl0, lag, axis=1) * np.sqrt(w)
        t -= t.mean(axis=1, keepdims=True)
        loop[:, j] = t @ dn / np.sqrt(np.sum(t * t, axis=1) * np.sum(dn * dn))
    np.testing.assert_allclose(_coarse_ccf(tpl0, dn, w, lags), loop, rtol=1e-8, atol=1e-12)
    # the lags' windows are the rolls themselves: the same products as rolled copies, bit for bit
    def by_rolls(tpl0, dn, w, lags):
        sw = np.sqrt(w)
        rolled = [np.array([np.roll(g, -lag) for lag in lags]).T for g in (sw * dn, sw, w)]
        cross, total, square = tpl0 @ rolled[0], tpl0 @ rolled[1], (tpl0 * tpl0) @ rolled[2]
        cross -= total * (dn.sum() / dn.size)
        norm2 = np.maximum(square - total * total / dn.size, 0.0) * np.sum(dn * dn)
        return cross / np.maximum(np.sqrt(norm2), 1e-300)

    for some in (lags, np.arange(0, 4), np.arange(-6, 0), np.array([5, -3, 0]), np.arange(-3, 3)[::-1]):
        assert np.array_equal(_coarse_ccf(tpl0, dn, w, some), by_rolls(tpl0, dn, w, some))
    short = (tpl0[:, :4], dn[:4], w[:4], np.arange(-3, 3))  # more lags than pixels: np.roll's wrap
    assert np.array_equal(_coarse_ccf(*short), by_rolls(*short))


def test_rv_scans_of_one_plate_equal_their_per_call_forms_bit_for_bit(rvlib):
    """The fine scan at all 41 velocities at once, the rest templates kept per grid and the
    libraries of several R sharing one fine grid (fine_templates) give exactly (==) what one shift, one
    np.interp per template and one prepare_templates per R gave: the bossVisits files of
    boss_visits do not change with them."""
    from sdssflow.mwm.rv import _chi2, _chi2_each, _shifted_rows, _shifted_velocities
    from sdssflow.mwm.rv_templates import fine_templates, prepare_templates

    rng = np.random.default_rng(5)
    loglam = np.log10(BOSS.wavelength)
    template = rvlib.flux[3] * 0.7 + rvlib.flux[8] * 0.3
    vgrid = -61.7 + BOSS.dv * np.linspace(-2.0, 2.0, 41)
    each = _shifted_velocities(template, rvlib.loglam, loglam, vgrid)
    one = np.array([_shifted_rows(template[None, :], rvlib.loglam, loglam, v)[0] for v in vgrid])
    assert np.array_equal(each, one)
    d, w = 1.0 + 0.01 * rng.standard_normal(loglam.size), rng.uniform(0.5, 2.0, loglam.size)
    assert np.array_equal(_chi2_each(d, w, each), [_chi2(d, w, t) for t in one])
    # off the grid the template is 1 (as np.interp with left = right = 1)
    far = _shifted_velocities(template, rvlib.loglam, loglam[:3] - 0.1, np.array([0.0]))
    assert np.array_equal(far, np.ones((1, 3)))

    rest = rvlib.at_rest(loglam)
    direct = np.array([np.interp(loglam, rvlib.loglam, f, left=1.0, right=1.0) for f in rvlib.flux])
    assert np.array_equal(rest, direct - 1.0)
    assert rvlib.at_rest(loglam.copy()) is rest and not rest.flags.writeable
    assert rvlib.at_rest(loglam[::2]).shape == (rvlib.flux.shape[0], loglam[::2].size)

    wave = np.geomspace(3600.0, 10300.0, 3000)
    rect = 1.0 - 0.5 * np.exp(-0.5 * ((wave[None, :] - rng.uniform(4000, 9000, (3, 1))) / 3.0) ** 2)
    params = np.array([[5000.0, 4.0, 0.0], [5500.0, 4.5, 0.0], [6000.0, 4.0, -0.5]])
    resolutions = (1500.0, None, (np.array([3600.0, 10300.0]), np.array([1600.0, 2600.0])))
    fine = fine_templates(wave, rect, params, BOSS.cdelt)
    for r in resolutions:
        lib, alone = fine.at(r), prepare_templates(wave, rect, params, BOSS.cdelt, r)
        assert np.array_equal(lib.flux, alone.flux) and np.array_equal(lib.loglam, alone.loglam)
        assert np.array_equal(lib.params, params)


def test_rv_brackets_and_library_shift_equal_the_binary_search_bit_for_bit(rvlib):
    """The bracket guessed from a uniform grid's step is np.searchsorted's on every kind of
    point (on grid values, one ulp either side, beyond the ends, NaN/inf, a grid that is not
    uniform), and the library shifted from its pixel-major copy is _shifted_rows' exactly
    (==): template_chi2 and so the bossVisits RVs do not change with them."""
    from sdssflow.mwm.rv import (
        _chi2_rows,
        _left_neighbour,
        _shifted_library,
        _shifted_rows,
        template_chi2,
    )

    def search(grid, x):
        return np.clip(np.searchsorted(grid, x, side="right") - 1, 0, grid.size - 2)

    rng = np.random.default_rng(17)
    g = rvlib.loglam
    loglam = np.log10(BOSS.wavelength)
    points = [
        g, np.nextafter(g, -np.inf), np.nextafter(g, np.inf), g[:20] - 1e-3, g[-20:] + 1e-3,
        np.array([np.nan, np.inf, -np.inf]), rng.uniform(g[0] - 0.01, g[-1] + 0.01, 5000),
        loglam[None, :] - np.log10(1.0 + rng.uniform(-900.0, 900.0, 7) / 299792.458)[:, None],
    ]  # fmt: skip
    for x in points:
        assert np.array_equal(_left_neighbour(g, x), search(g, x))
    uneven = np.sort(rng.uniform(0.0, 1.0, 300))
    x = rng.uniform(-0.1, 1.1, 2000)
    assert np.array_equal(_left_neighbour(uneven, x), search(uneven, x))
    assert np.array_equal(_left_neighbour(np.array([0.0, 1.0]), np.array([-1.0, 0.5, 1.0, 2.0])), [0, 0, 0, 0])

    d, w = 1.0 + 0.01 * rng.standard_normal(loglam.size), rng.uniform(0.5, 2.0, loglam.size)
    for v in (-340.0, 0.0, 57.3, 4.0e5):  # the last one shifts part of the grid off the library
        shifted = _shifted_library(rvlib, loglam, v)
        assert shifted.flags.c_contiguous
        assert np.array_equal(shifted, _shifted_rows(rvlib.flux, rvlib.loglam, loglam, v))
        assert np.array_equal(template_chi2(d, w, rvlib, loglam, v), _chi2_rows(d, w, shifted))
    assert rvlib.by_pixel() is rvlib.by_pixel() and not rvlib.by_pixel().flags.writeable
    assert np.array_equal(rvlib.by_pixel(), rvlib.flux.T)


def test_least_chi2_resolution_descent_finds_the_scan_minimum():
    """From any start, the descent ends at the least χ² of the whole scan (a χ² with one
    minimum along R: the depth of a line against the depth the data show), making fewer
    libraries than the scan; start None is the scan."""
    from sdssflow.mwm.rv_templates import fine_templates, least_chi2_resolution

    wave = np.geomspace(3600.0, 10300.0, 20000)
    line = 1.0 - 0.8 * np.exp(-0.5 * ((wave - 6000.0) / 0.05) ** 2)  # much sharper than the data
    fine = fine_templates(wave, line[None, :], [[5000.0, 4.0, 0.0]], BOSS.cdelt)
    target = 1.0 - fine.at(3000.0).flux.min()  # the data: R = 3000, between grid points
    grid = (1500.0, 2000.0, 2600.0, 3500.0, 5000.0, 7000.0, None)
    made = []

    def chi2_of(lib):
        made.append(lib)
        return ((1.0 - lib.flux.min()) - target) ** 2

    r_scan, _, tried = least_chi2_resolution(fine, grid, chi2_of, None)
    assert len(made) == len(grid) and list(tried) == list(grid)
    assert r_scan in (2600.0, 3500.0)  # the grid R nearest 3000 in depth
    for start in range(len(grid)):
        made.clear()
        r, lib, tried = least_chi2_resolution(fine, grid, chi2_of, start)
        assert r == r_scan and np.array_equal(lib.flux, fine.at(r_scan).flux)
        assert len(made) == len(tried) <= len(grid) and min(tried, key=tried.get) == r
    made.clear()
    least_chi2_resolution(fine, grid, chi2_of, 2)  # from the R nearest the data's: 3-4 libraries
    assert len(made) <= 4


def test_rv_errors_and_empty(rvlib):
    w = BOSS.wavelength
    with pytest.raises(ValueError, match="shapes differ"):
        measure_rv(w, np.ones(10), np.ones(w.size), rvlib)
    r = measure_rv(w, np.ones(w.size), np.zeros(w.size), rvlib)
    assert np.isnan(r["v_rad"])


# ------------------------------------------------------------------ stacking
def test_selection_and_rv_summary():
    assert boss_in_stack([10.0, 10.0], [3.0, 3.0], [0, 0], is_wd=[False, True]).tolist() == [
        False,
        True,
    ]
    assert apogee_in_stack([1 << 18, 1 << 9], [50, 50], [0.0, 0.0]).tolist() == [False, True]
    r = rv_summary([1.0, np.nan], [1.0, 1.0], [True, True])
    assert r["n_good_rvs"] == 1 and r["v_rad"] == 1.0
    r = rv_summary([1.0], [1.0], [False])
    assert np.isnan(r["v_rad"]) and np.isinf(r["e_v_rad"])
    with pytest.raises(ValueError, match="no visit selected"):
        coadd(np.ones((2, 3)), np.ones((2, 3)), np.zeros((2, 3), int), [False, False])
    with pytest.raises(ValueError, match="flag_mode"):
        coadd(np.ones((2, 3)), np.ones((2, 3)), np.zeros((2, 3), int), [True, True], "xor")


def _source(rvlib, snrs, v_true, rng, apogee_snrs=(80.0, 90.0, 100.0)):
    rest = S.star_fine(PARAMS)
    boss = []
    for k, snr in enumerate(snrs):
        vis = S.boss_visit(rest, v_true, snr, rng, {"mjd": 59000 + k})
        rv = measure_rv(BOSS.wavelength, vis.flux, vis.ivar, rvlib)
        vis.meta.update({f"xcsao_{key}": val for key, val in rv.items()}, snr=snr)
        boss.append(vis)
    ap = []
    for k, (snr, bc) in enumerate(zip(apogee_snrs, (-12.0, 3.0, 20.0))):
        meta = {"mjd": 59100 + k, "bc": bc, "v_rad": v_true, "e_v_rel": 0.05, "fiber": 100 + k}
        ap.append(S.apogee_visit(PARAMS, v_true - bc, snr, rng, meta))
    return boss, ap


def test_coadd_truth_recovery(rvlib, basis):
    """Done-when: co-add RV within 1 km/s (S/N > 20), S/N ~ sqrt(sum S/N^2) within 5%,
    rectified flux 1 +- 0.02 in line-free regions."""
    rng = np.random.default_rng(2026)
    v_true = 42.7
    boss, ap = _source(rvlib, (60.0, 70.0, 80.0), v_true, rng)
    prod = build_source(100001234, boss, ap, basis)
    assert set(prod.visit) == {"BOSS/APO", "APOGEE/APO"} and set(prod.star) == {
        "BOSS/APO",
        "APOGEE/APO",
    }
    for ext, grid in (("BOSS/APO", BOSS), ("APOGEE/APO", APOGEE)):
        star, vis = prod.star[ext], prod.visit[ext]
        assert star["snr"][0] > 20
        assert abs(star["v_rad"][0] - v_true) < 1.0, (ext, star["v_rad"])
        expected = np.sqrt(np.sum(np.square(vis["snr"])))
        assert star["snr"][0] == pytest.approx(expected, rel=0.05)
        assert star["n_visits"] == [3] and star["n_good_visits"] == [3]
        assert all(vis["in_stack"])
        # rectified flux of the co-add, line-free pixels of the truth spectrum
        w = grid.wavelength
        inst = ext.split("/")[0].lower()
        fine = 10 ** np.arange(np.log10(w[0]) - 1e-3, np.log10(w[-1]) + 1e-3, grid.cdelt / 10)
        depth = 1 - np.interp(w, fine, S.star_fine(PARAMS, fine, RESOLUTION[inst]))
        cont = star["continuum"][0]
        ok = (depth < 0.003) & np.isfinite(cont) & (star["ivar"][0] > 0)
        assert ok.sum() > 150
        assert np.median(star["flux"][0][ok] / cont[ok]) == pytest.approx(1.0, abs=0.02)
        assert 0.5 < star["nmf_rchi2"][0] < 6.0  # BOSS: stars sampled finer than the basis
        assert star["nmf_flags"][0] >> NMF_FLAGS["NON_PRODUCTION_BASIS"] & 1
        # visit continua exist and rectify the visits too
        vc = vis["continuum"][0]
        okv = ok & np.isfinite(vc) & (vis["ivar"][0] > 0)
        assert np.median(vis["flux"][0][okv] / vc[okv]) == pytest.approx(1.0, abs=0.03)


def test_visits_are_rest_frame_even_out_of_stack(rvlib, basis):
    """astra quirk 2: visits not in the stack are shifted too (with the source's mean RV)."""
    rng = np.random.default_rng(7)
    v_true = 120.0
    boss, _ = _source(rvlib, (50.0, 50.0), v_true, rng)
    boss[1].meta["zwarning_flags"] = 4  # keeps it out of the stack (zwarning > 0)
    boss[1].meta["xcsao_rxc"] = 2.0  # and its own RV is not RV-good
    prod = build_source(5, boss, [], basis)
    vis = prod.visit["BOSS/APO"]
    assert list(vis["in_stack"]) == [True, False]
    rest = np.interp(BOSS.wavelength, S.FINE_BOSS, S.star_fine(PARAMS))
    for j in range(2):
        f = vis["flux"][j] / np.nanmedian(vis["flux"][j])
        corr0 = np.corrcoef(np.diff(f[500:4000]), np.diff(rest[500:4000]))[0, 1]
        assert corr0 > 0.5, j


def test_nmf_recovers_its_own_model(basis):
    rng = np.random.default_rng(3)
    w = BOSS.wavelength
    H = basis["boss"]
    W = np.abs(rng.normal(0.3, 0.1, H.shape[0]))
    A = design_matrix(w, ((3750.0, 6250.0), (6350.0, 12000.0)), 3, 1e4)
    theta = np.zeros(A.shape[1])
    theta[0], theta[7] = 100.0, 80.0
    theta[1], theta[8] = 5.0, 3.0
    cont = A @ theta
    truth = (1 - W @ H) * cont
    sigma = np.where(cont > 0, cont / 50.0, 1.0)
    flux = truth + rng.normal(0, sigma)
    ivar = np.where(cont > 0, 1 / sigma**2, 0.0)
    res = fit_nmf_continuum(w, flux, ivar, H, "boss")
    inr = np.isfinite(res.continuum)
    assert np.nanmax(np.abs(res.continuum[inr] / cont[inr] - 1)) < 0.01
    assert res.rchi2 == pytest.approx(1.0, abs=0.15)
    assert np.all(res.W >= 0)
    assert np.all(np.isnan(res.continuum[w < 3750]))  # NaN outside the regions
    with pytest.raises(ValueError, match="instrument must be"):
        fit_nmf_continuum(w, flux, ivar, H, "desi")
    with pytest.raises(ValueError, match="shapes do not match"):
        fit_nmf_continuum(w, flux[:10], ivar, H, "boss")
    few = fit_nmf_continuum(w, flux, np.zeros(w.size), H, "boss")
    assert few.flags >> NMF_FLAGS["FEW_PIXELS"] & 1 and np.isnan(few.rchi2)


def test_nmf_fit_is_rebuilt_exactly_from_its_header_cards(basis):
    """mwm_star reuses mwm_visit's co-add fit: W and θ survive the header exactly."""
    from sdssflow.io.mwm_nmf import nmf_cards, nmf_from_cards
    from sdssflow.mwm.continuum import basis_id, nmf_from_parameters

    rng = np.random.default_rng(4)
    w = BOSS.wavelength
    H = basis["boss"]
    cont = 50.0 + 10.0 * np.sin(w / 900.0)
    flux = (1 - np.abs(rng.normal(0.2, 0.05, H.shape[0])) @ H) * cont
    flux = flux + rng.normal(0, cont / 40.0)
    ivar = 1600.0 / cont**2
    fit = fit_nmf_continuum(w, flux, ivar, H, "boss")
    cards = nmf_cards("BOSS/LCO", fit.W, fit.theta, fit.rchi2, fit.flags, basis_id(H))
    saved = nmf_from_cards({k: v for k, v, _ in cards}, "BOSS/LCO")
    assert nmf_from_cards({k: v for k, v, _ in cards}, "BOSS/APO") is None
    assert saved["basis_id"] == basis_id(H) != basis_id(H[:-1])
    again = nmf_from_parameters(w, H, "boss", saved["W"], saved["theta"], saved["rchi2"], saved["flags"])  # fmt: skip
    np.testing.assert_array_equal(again.continuum, fit.continuum)
    np.testing.assert_array_equal(again.rectified_model, fit.rectified_model)
    assert (again.rchi2, again.flags) == (fit.rchi2, fit.flags)
    few = fit_nmf_continuum(w, flux, np.zeros(w.size), H, "boss")
    rebuilt = nmf_from_parameters(w, H, "boss", few.W, few.theta, few.rchi2, few.flags)
    assert np.all(np.isnan(rebuilt.continuum)) and np.all(rebuilt.rectified_model == 1)
    with pytest.raises(ValueError, match="do not match the basis"):
        nmf_from_parameters(w, H, "boss", fit.W[:-1], fit.theta, 1.0, 0)


@pytest.mark.parametrize("v", [0.0, 13.7, -251.3])
def test_resample_velocity_shift_equals_the_per_pixel_kernel(v):
    """A shifted log-uniform grid takes the one-kernel path: same as the per-pixel sums."""
    from scipy.interpolate import CubicSpline

    from sdssflow.mwm.resample import sinc_kernel

    rng = np.random.default_rng(5)
    w = BOSS.wavelength
    flux = 10 + rng.normal(size=w.size)
    ivar = rng.uniform(0.5, 2.0, w.size)
    mask = np.zeros(w.size, np.int64)
    mask[500:505] = 1 << 18
    out = w * (1 + v / C_KMS)
    f, iv, m, cov = resample_chip(w, flux, ivar, mask, out, 5.0)
    x = wave_to_pixel(w, out)  # log-uniform input: the straight line, as the spline
    spline = CubicSpline(np.log(w), np.arange(w.size), extrapolate=False)(np.log(out))
    np.testing.assert_allclose(x, spline, atol=1e-8)
    x = np.where(np.abs(x - np.round(x)) < 1e-6, np.round(x), x)
    sel = np.flatnonzero(cov)
    ix = np.floor(x[sel]).astype(int)
    k, half = sinc_kernel(x[sel] - ix, 5.0)
    idx = ix[:, None] + np.arange(-half, half + 1)
    k = np.where((idx >= 0) & (idx < w.size), k, 0.0)
    idx = np.clip(idx, 0, w.size - 1)
    np.testing.assert_allclose(f[sel], np.sum(k * flux[idx], axis=1), rtol=1e-9)
    np.testing.assert_allclose(1 / iv[sel], np.sum(k * k / ivar[idx], axis=1), rtol=1e-9)
    flagged = np.abs(np.sum(k * (mask[idx] > 0), axis=1)) > 0.1
    assert np.array_equal(m[sel] > 0, flagged)


def test_train_nmf_basis_is_nonnegative_and_fits():
    w = BOSS.wavelength[::8]
    params = np.array([[t, 4.0, f] for t in (4500, 5500, 6500) for f in (-1.0, 0.0)])
    depth = 1 - line_forest_library(w, params, 2000.0, seed=1)
    H = train_nmf_basis(depth, 4, n_iter=200)
    assert H.shape == (4, w.size) and H.min() >= 0 and np.allclose(H.max(axis=1), 1)
    W = np.linalg.lstsq(H.T, depth.T, rcond=None)[0]
    assert np.linalg.norm(W.T @ H - depth) / np.linalg.norm(depth) < 0.2
    with pytest.raises(ValueError, match="n_components"):
        train_nmf_basis(depth, 0)


def test_hdu_of():
    assert hdu_of("apogee", "apo1m") == "APOGEE/APO"
    with pytest.raises(ValueError, match="neither apo"):
        hdu_of("boss", "keck")


# ------------------------------------------------------------------ demo frames → RV
@pytest.mark.parametrize("camera,fibre", [("b1", 150), ("r1", 418), ("r2", 40)])
def test_rv_of_a_demo_frame_fibre(camera, fibre):
    """Controlled experiment: one demo star (synth) in one fibre of one camera, no noise.

    The spectrum is built exactly as the demo generator builds spCFrame fibres (rest
    spectrum at the camera's line spread, Doppler-shifted, sampled on the fibre's trace-set
    wavelengths, which carry the per-fibre zero-point offset), resampled onto the BOSS grid
    and measured against BOSZ-like R=10000 templates of the same toy model: the velocity
    comes back within 0.3 km/s. (With the instrumental broadening applied after the
    saturation floor the demo spectra were not band-limited and this was off by 1-5 km/s,
    depending on fibre and camera.)
    """
    from sdssflow.io.boss import frame_npix
    from sdssflow.io.bosz import air_to_vacuum
    from sdssflow.io.traceset import evaluate_traceset
    from sdssflow.mwm.rv import prepare_templates
    from sdssflow.mwm.visits import combine_pieces
    from sdssflow.synth import bosz_mirror, frames, instrument
    from sdssflow.synth.stellar import StarParams, bosz_wave_grid

    v = -45.3
    star = StarParams(6400.0, 4.1, -0.2)
    grid, rest = frames.rest_spectrum(star, camera[0])
    wset = instrument.wavelength_traceset(camera, 500, int(camera[1]))
    loglam = evaluate_traceset(wset, frame_npix(camera))[fibre]
    flux = np.interp(loglam - np.log10(1.0 + v / C_KMS), grid, rest)
    ivar = 1.0 / (1e-3 * flux) ** 2
    boss_flux, boss_ivar, _, _ = combine_pieces([(loglam, flux, ivar, None, None)])
    bosz = bosz_wave_grid(10000)
    bosz = bosz[(bosz > 3500.0) & (bosz < 10500.0)]
    params = [(t, g, m) for t in (6250.0, 6500.0) for g in (4.0, 4.5) for m in (-0.25, 0.0)]
    rect = [np.divide(*bosz_mirror.model_columns(StarParams(*p), bosz)) for p in params]
    lib = prepare_templates(
        air_to_vacuum(bosz), np.array(rect), np.array(params), BOSS.cdelt, 2600.0
    )
    rv = measure_rv(BOSS.wavelength, boss_flux, boss_ivar, lib)
    assert rv["v_rad"] == pytest.approx(v, abs=0.3)
    assert rv["teff"] == pytest.approx(star.teff, abs=150.0)


def test_keep_freed_memory_sets_glibc_thresholds():
    """On glibc both mallopt thresholds are accepted (elsewhere nothing is changed), and
    large arrays made and freed afterwards are the same arrays."""
    import platform

    from sdssflow.heap import keep_freed_memory

    assert keep_freed_memory() is (platform.libc_ver()[0] == "glibc")
    sums = [float(np.full((600, 10_000), k, np.float64).sum()) for k in range(3)]
    assert sums == [0.0, 6e6, 1.2e7]


def _normalise_whole_arrays(flux, ivar=None, width=101):
    """rv_templates.normalise as it was before visits5 (every step on whole arrays): the
    reference its leaner form must equal bit for bit."""
    from scipy.ndimage import gaussian_filter1d, median_filter

    flux = np.asarray(flux, dtype=float)
    work = flux.copy()
    if ivar is not None:
        bad = ~(np.asarray(ivar) > 0) | ~np.isfinite(flux)
        if bad.any() and (~bad).any():
            work[bad] = np.interp(np.flatnonzero(bad), np.flatnonzero(~bad), flux[~bad])
    work = np.where(np.isfinite(work), work, 0.0)
    step = max(1, width // 25)
    n = work.shape[-1]
    sub = work[..., ::step]
    size = [1] * (work.ndim - 1) + [max(3, (width // step) | 1)]
    med = median_filter(sub, size=size, mode="nearest")
    med = gaussian_filter1d(med, max(width / 5.0 / step, 0.5), axis=-1, mode="nearest")
    x = np.arange(0, n, step)
    flat = med.reshape(-1, med.shape[-1])
    cont = np.array([np.interp(np.arange(n), x, row) for row in flat]).reshape(work.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cont > 0, flux / cont, 1.0)


def test_normalise_and_library_equal_their_whole_array_forms_bit_for_bit(rvlib):
    """normalise with one continuum array (decimated patching, row-by-row 1-D medians, the
    division in place, into ``out``) equals the whole-array form exactly: on a library of
    line-rich templates with NaN/inf and a negative stretch (continuum <= 0: 1 there), on
    spectra with bad pixels, and in place of its input; so do the libraries made from it."""
    from sdssflow.mwm.rv_templates import _convolve_to, fine_templates, normalise, prepare_templates

    rng = np.random.default_rng(23)
    library = 1.0 + 0.1 * rng.standard_normal((6, 9001)).cumsum(axis=1) / 30.0
    library -= 0.6 * np.exp(-0.5 * ((np.arange(9001) - rng.uniform(0, 9001, (6, 40, 1))) / 3.0) ** 2).sum(axis=1)
    library[1, 500:520] = np.nan
    library[2, 7000] = np.inf
    library[3, 2000:4000] = -1.0  # a continuum <= 0 there
    for width in (101, 1011, 3):
        ref = _normalise_whole_arrays(library, width=width)
        assert np.array_equal(normalise(library, width=width), ref, equal_nan=True)
        inplace = library.copy()
        assert normalise(inplace, width=width, out=inplace) is inplace
        assert np.array_equal(inplace, ref, equal_nan=True)
    spectrum = rvlib.flux[4][: 4648 * 3 : 3] * rng.uniform(80.0, 120.0)
    ivar = rng.uniform(0.5, 2.0, spectrum.size)
    ivar[:30], ivar[1000:1100], ivar[-7:] = 0.0, 0.0, 0.0
    spectrum[1050] = np.nan
    for iv in (ivar, None, np.zeros(spectrum.size)):
        assert np.array_equal(normalise(spectrum, iv), _normalise_whole_arrays(spectrum, iv), equal_nan=True)

    wave = np.geomspace(3600.0, 10300.0, 5000)
    rect = np.clip(np.nan_to_num(library[:, :5000], nan=1.0), 0.05, None)
    params = np.column_stack([np.linspace(4000, 6500, 6), np.full(6, 4.5), np.zeros(6)])
    fine = fine_templates(wave, rect, params, BOSS.cdelt)
    direct = np.array([np.interp(fine.loglam, np.log10(wave), f) for f in rect])
    assert np.array_equal(fine.flux, direct)
    for r in (2600.0, None, (np.array([3600.0, 10300.0]), np.array([1600.0, 2600.0]))):
        lib = fine.at(r)
        conv = fine.flux if r is None else _convolve_to(fine.flux, fine.loglam, fine.step, r)
        assert np.array_equal(lib.flux, _normalise_whole_arrays(conv, width=1011))
        assert np.array_equal(lib.flux, prepare_templates(wave, rect, params, BOSS.cdelt, r).flux)
    assert np.array_equal(fine.flux, direct)  # at(None) does not normalise the fine grid in place


def test_rv_chunked_shift_and_kept_squares_equal_their_direct_forms(rvlib):
    """The library shifted in chunks of SHIFT_CHUNK observed pixels equals _shifted_rows on
    grids shorter than a chunk, of a chunk exactly and not a multiple of it; the squared
    rest-frame templates kept per grid equal rest * rest, and the coarse correlation with
    them equals the one that squares the templates itself."""
    from sdssflow.mwm.rv import SHIFT_CHUNK, _coarse_ccf, _shifted_library, _shifted_rows

    loglam = np.log10(BOSS.wavelength)
    for size in (5, SHIFT_CHUNK, SHIFT_CHUNK + 1, 3 * SHIFT_CHUNK - 7, loglam.size):
        part = loglam[100 : 100 + size]
        for v in (-123.4, 0.0, 2.0e5):
            assert np.array_equal(_shifted_library(rvlib, part, v), _shifted_rows(rvlib.flux, rvlib.loglam, part, v))
    rest, square = rvlib.at_rest(loglam), rvlib.at_rest_squared(loglam)
    assert np.array_equal(square, rest * rest) and not square.flags.writeable
    assert rvlib.at_rest_squared(loglam.copy()) is square
    rng = np.random.default_rng(5)
    w = rng.uniform(0.5, 2.0, loglam.size)
    dn = rng.standard_normal(loglam.size)
    dn -= dn.mean()
    lags = np.arange(-15, 16)
    assert np.array_equal(_coarse_ccf(rest, dn, w, lags, square), _coarse_ccf(rest, dn, w, lags))


def test_resample_chip_general_path_and_patch_fallback_equal_their_reference_forms():
    """resample_chip's (nout, ntap) path with the out-of-chip taps zeroed in place equals the
    np.where / np.clip form on a trace-set grid with bad pixels at both ends; the patch of a
    chip with windows mostly bad (the fallback median) equals its always-computed form."""
    from scipy.ndimage import gaussian_filter1d, median_filter

    from sdssflow.mwm.resample import sinc_kernel, smooth_patch, wave_to_pixel

    rng = np.random.default_rng(29)
    n = 4112
    loglam = 3.5523 + 1e-4 * np.arange(n) * (1.0 + 0.02 * np.sin(np.arange(n) / 900.0))
    wave_in = 10.0**loglam
    flux = 40.0 + np.cumsum(rng.normal(size=n)) * 0.1
    ivar = rng.uniform(0.5, 2.0, n)
    ivar[:25], ivar[n - 40 :], ivar[2000:2003] = 0.0, 0.0, 0.0
    mask = np.zeros(n, np.int64)
    mask[rng.choice(n, 40, replace=False)] |= 1 << 3
    wave_out = BOSS.wavelength
    f, iv, m, cov = resample_chip(wave_in, flux, ivar, mask, wave_out, 5.0)

    with np.errstate(divide="ignore"):
        var = np.where(ivar > 0, 1.0 / ivar, np.inf)
    bad = ~(ivar > 0)
    where = np.flatnonzero(bad)
    patched, pvar = flux.copy(), var.copy()
    patched[where], pvar[where] = smooth_patch(flux, bad, at=where), smooth_patch(var, bad, at=where)
    x = wave_to_pixel(wave_in, wave_out)
    sel = np.flatnonzero(np.isfinite(x) & (x >= -0.5) & (x <= n - 0.5))
    ix = np.floor(x[sel]).astype(int)
    w, half = sinc_kernel(x[sel] - ix, 5.0)
    idx = ix[:, None] + np.arange(-half, half + 1)[None, :]
    w = np.where((idx >= 0) & (idx < n), w, 0.0)
    idx = np.clip(idx, 0, n - 1)
    assert np.array_equal(f[sel], np.einsum("ij,ij->i", w, patched[idx]))
    out_var = np.einsum("ij,ij->i", w * w, pvar[idx])
    bad_w = np.abs(np.einsum("ij,ij->i", w, bad[idx].astype(float)))
    with np.errstate(divide="ignore"):
        expect = np.where((out_var > 0) & np.isfinite(out_var) & (bad_w <= 0.1), 1.0 / out_var, 0.0)
    assert np.array_equal(iv[sel], expect) and (iv[sel] == 0).any() and m.any()

    mostly_bad = np.zeros(n, bool)
    mostly_bad[:1500] = rng.random(1500) < 0.8  # windows of the median more than half bad
    values = flux.copy()
    work = np.where(mostly_bad, np.inf, values)[::10]
    med = median_filter(work, size=51, mode="reflect")
    assert not np.isfinite(med).all()  # the fallback is used
    med = np.where(np.isfinite(med), med, np.nanmedian(np.where(mostly_bad, np.nan, values)))
    med = np.interp(np.arange(n), np.arange(0, n, 10), med)
    assert np.array_equal(smooth_patch(values, mostly_bad), gaussian_filter1d(med, 100.0, mode="reflect"))


def _sinc_kernel_before(frac, nres):
    """sinc_kernel as it was before the delta taps were tested on two columns (reference)."""
    dampfac = 3.25 * nres / 2.0
    ksize = int(21 * nres / 2.0)
    ksize += ksize % 2 == 0
    half = ksize // 2
    off = np.arange(ksize, dtype=float)[None, :] - half - np.asarray(frac, float)[:, None]
    sign = np.where((np.arange(ksize) - half) % 2 == 0, -1.0, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.exp(-np.square(off / dampfac))
        w *= sign[None, :] * np.sin(np.pi * np.asarray(frac, float))[:, None]
        w /= np.pi * off
    w[np.abs(off) < 1e-12] = 1.0
    return w, half


def _resample_chip_before(wave_in, flux, ivar, mask, wave_out, nres):
    """resample_chip's (nout, ntap) path as it was before the taps were gathered as rows of a
    padded copy: a clipped index array, the out-of-chip weights zeroed, per-element gathers
    (reference; the patch and the pixel positions are the module's own)."""
    from sdssflow.mwm.resample import smooth_patch, wave_to_pixel

    flux, ivar = np.asarray(flux, float), np.asarray(ivar, float)
    nin = flux.size
    mask = np.asarray(mask).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(ivar > 0, 1.0 / ivar, np.inf)
        bad = ~(ivar > 0) | ~np.isfinite(flux) | ~np.isfinite(var) | (flux < 0)
    where = np.flatnonzero(bad)
    flux = flux.copy()
    flux[where], var[where] = smooth_patch(flux, bad, at=where), smooth_patch(var, bad, at=where)
    x = wave_to_pixel(wave_in, wave_out)
    near = np.round(x)
    x = np.where(np.abs(x - near) < 1e-6, near, x)
    covered = np.isfinite(x) & (x >= -0.5) & (x <= nin - 0.5)
    sel = np.flatnonzero(covered)
    ix = np.floor(x[sel]).astype(int)
    w, half = _sinc_kernel_before(x[sel] - ix, nres)
    idx = ix[:, None] + np.arange(-half, half + 1)[None, :]
    w[(idx < 0) | (idx >= nin)] = 0.0
    idx = np.clip(idx, 0, nin - 1)
    nout = wave_out.size
    out_flux, out_ivar, out_mask = np.zeros(nout), np.zeros(nout), np.zeros(nout, np.int64)
    out_flux[sel] = np.einsum("ij,ij->i", w, flux[idx])
    out_var = np.einsum("ij,ij->i", w * w, var[idx])
    bad_w = np.abs(np.einsum("ij,ij->i", w, bad.astype(float)[idx]))
    with np.errstate(divide="ignore"):
        out_ivar[sel] = np.where((out_var > 0) & np.isfinite(out_var) & (bad_w <= 0.1), 1.0 / out_var, 0.0)
    bits = np.zeros(sel.size, np.int64)
    for b in range(63):
        plane = ((mask >> b) & 1).astype(np.float32)
        if plane.any():
            vals = np.abs(np.einsum("ij,ij->i", plane[idx], w.astype(np.float32)))
            bits[vals > 0.1] |= 1 << b
    out_mask[sel] = bits
    return out_flux, out_ivar, out_mask, covered


@pytest.mark.parametrize("case", ["trace", "reversed", "past_both_ends", "flagged_ends"])
def test_resample_chip_taps_as_padded_rows_equal_the_index_array_form(case):
    """The general path (taps gathered as rows of an edge-padded copy, zero weights only on
    the rows near the chip's ends, delta taps tested on two columns) gives the same bytes as
    the clipped (nout, ntap) index array it replaces, on trace-set chips whose output pixels
    run past the chip's ends (ix = -1 and nin - 1), with bad and flagged pixels at the ends."""
    rng = np.random.default_rng({"trace": 1, "reversed": 2, "past_both_ends": 3, "flagged_ends": 4}[case])
    n = 4112
    loglam = 3.5523 + 1.1e-4 * np.arange(n) * (1.0 + 0.03 * np.sin(np.arange(n) / 700.0))
    wave_in = 10.0**loglam
    flux = 30.0 + np.cumsum(rng.normal(size=n)) * 0.2
    ivar = rng.uniform(0.3, 3.0, n)
    ivar[n - 32 :], ivar[1500:1504] = 0.0, 0.0  # bad columns at the red end and inside
    flux[rng.choice(n, 30, replace=False)] *= -1.0  # negative pixels are bad too
    mask = np.zeros(n, np.int64)
    mask[rng.choice(n, 50, replace=False)] |= 1 << 5
    wave_out = BOSS.wavelength
    if case == "reversed":
        wave_in, flux, ivar, mask = wave_in[::-1], flux[::-1], ivar[::-1], mask[::-1]
    if case == "past_both_ends":  # output pixels half an input pixel beyond either end
        step = np.log(wave_in[1] / wave_in[0])
        edges = wave_in[0] * np.exp(-step * np.array([0.49, 0.2])), wave_in[-1] * np.exp([0.0, 0.3 * step])
        wave_out = np.sort(np.concatenate([wave_out, *edges]))
    if case == "flagged_ends":
        mask[:3] |= 1 << 22
        mask[n - 2 :] |= 1 << 30
        ivar[:10] = 0.0
    got = resample_chip(wave_in, flux, ivar, mask, wave_out, 5.0)
    want = _resample_chip_before(wave_in, flux, ivar, mask, wave_out, 5.0)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert got[2].any() and (got[1][got[3]] == 0).any()


def test_sinc_kernel_and_gaussian_at_equal_their_reference_forms():
    """sinc_kernel's delta taps tested on two columns equal the whole-array test (frac 0, one
    ulp below 1, and frac outside [0, 1), which takes the whole-array test); _gaussian_at
    (taps as rows, the sum down them) equals scipy's gaussian_filter1d to the last bit."""
    from scipy.ndimage import gaussian_filter1d

    from sdssflow.mwm.resample import _gaussian_at, sinc_kernel

    rng = np.random.default_rng(17)
    frac = rng.random(3000)
    frac[::50], frac[7], frac[8] = 0.0, np.nextafter(1.0, 0.0), 1e-13
    for f, nres in ((frac, 5.0), (frac, 4.25), (np.r_[frac, 1.0, -1e-13, 2.5], 5.0)):
        got, want = sinc_kernel(f, nres), _sinc_kernel_before(f, nres)
        assert got[1] == want[1] and got[0].tobytes() == want[0].tobytes()
    for n, m in ((4112, 32), (4112, 1000), (450, 1), (450, 2), (600, 3), (900, 200)):
        values = 40.0 + np.cumsum(rng.normal(size=n))
        at = np.sort(rng.choice(n, m, replace=False))
        want = gaussian_filter1d(values, 100.0, mode="reflect")[at]
        assert _gaussian_at(values, 100.0, at).tobytes() == want.tobytes()


def _normalise_before(flux, ivar=None, width=101):
    """rv_templates.normalise as it was before its continuum was interpolated without a
    search, a few rows at a time (reference: the whole continuum, np.interp row by row)."""
    from scipy.ndimage import gaussian_filter1d, median_filter

    flux = np.asarray(flux, dtype=float)
    step = max(1, width // 25)
    n = flux.shape[-1]
    work = flux.copy()
    if ivar is not None:
        bad = ~(np.asarray(ivar) > 0) | ~np.isfinite(flux)
        if bad.any() and (~bad).any():
            work[bad] = np.interp(np.flatnonzero(bad), np.flatnonzero(~bad), flux[~bad])
    sub = work[..., ::step]
    sub = np.where(np.isfinite(sub), sub, 0.0).reshape(-1, sub.shape[-1])
    med = np.array([median_filter(row, size=max(3, (width // step) | 1), mode="nearest") for row in sub])
    med = gaussian_filter1d(med, max(width / 5.0 / step, 0.5), axis=-1, mode="nearest")
    cont = np.array([np.interp(np.arange(n), np.arange(0, n, step), row) for row in med]).reshape(flux.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cont > 0, flux / cont, 1.0)


def test_normalise_without_a_search_equals_its_reference_form():
    """normalise's continuum (np.interp's formula on the uniform sample grid, in blocks of
    rows, divided into ``out``) equals the row-by-row np.interp form: a library-like array
    (width 1011, step 40, n not a multiple of it, out= the array itself), spectra with bad
    pixels (step 4: np.interp itself), negative continua; _interp_every equals np.interp for
    several steps, a row shorter than a step, and rows whose samples or slopes are not
    finite (np.interp's NaN handling)."""
    from sdssflow.mwm.rv_templates import _interp_every, normalise

    rng = np.random.default_rng(23)
    n = 46_888
    lib = 1.0 + 0.3 * np.sin(np.arange(n) / 900.0)[None, :] + 0.05 * rng.standard_normal((9, n))
    lib[3] -= 2.0  # a row whose continuum is negative: 1 there
    want = _normalise_before(lib, width=1011)
    same = lib.copy()
    assert normalise(same, width=1011, out=same) is same and same.tobytes() == want.tobytes()
    assert normalise(lib, width=1011).tobytes() == want.tobytes() and (want == 1.0).any()
    flux = 10.0 + rng.standard_normal(4648)
    ivar = rng.uniform(0.5, 2.0, 4648)
    ivar[:40], flux[900], flux[901] = 0.0, np.nan, np.inf
    assert normalise(flux, ivar).tobytes() == _normalise_before(flux, ivar).tobytes()

    for step, m in ((40, 1173), (8, 50), (13, 7), (40, 1), (1, 30), (4, 100)):
        samples = rng.standard_normal((5, m)) * 10.0
        for n_out in {m * step, (m - 1) * step + 1, (m - 1) * step + (step + 1) // 2}:  # m samples each
            want = np.array([np.interp(np.arange(n_out), np.arange(0, n_out, step), row) for row in samples])
            assert _interp_every(samples, step, n_out).tobytes() == want.tobytes()
    samples = rng.standard_normal((3, 20))
    samples[1, 4], samples[2, 7:9] = np.nan, (1e308, -1e308)  # slope overflows to -inf
    want = np.array([np.interp(np.arange(800), np.arange(0, 800, 40), row) for row in samples])
    np.testing.assert_array_equal(_interp_every(samples, 40, 800), want)


def test_by_pixel_in_blocks_equals_the_transposed_library(rvlib):
    """TemplateLibrary.by_pixel, transposed in blocks of fine pixels, equals flux.T (a
    library of several blocks and a partial last one) and _shifted_library, gathered from
    it with np.take, equals _shifted_rows of the library (the form it replaces)."""
    from sdssflow.mwm.rv import _shifted_library, _shifted_rows
    from sdssflow.mwm.rv_templates import BY_PIXEL_BLOCK, TemplateLibrary

    rng = np.random.default_rng(31)
    n = 3 * BY_PIXEL_BLOCK + 77
    loglam = 3.6 + 1e-5 * np.arange(n)
    lib = TemplateLibrary(loglam, rng.random((7, n)), rng.random((7, 3)))
    assert lib.by_pixel().tobytes() == np.ascontiguousarray(lib.flux.T).tobytes()
    assert rvlib.flux.shape[1] > BY_PIXEL_BLOCK and np.array_equal(rvlib.by_pixel(), rvlib.flux.T)
    obs = loglam[40:-40:10] + 3e-6
    for v in (0.0, 21.7, -480.0, 1500.0):
        assert _shifted_library(lib, obs, v).tobytes() == _shifted_rows(lib.flux, loglam, obs, v).tobytes()


def test_wave_to_pixel_spline_equals_scipy_cubic_spline():
    """wave_to_pixel's not-a-knot spline (scipy's system solved by gtsv, its coefficients
    and power sum) equals CubicSpline(..., extrapolate=False) to the last bit: trace-set
    grids of 4 to 4,112 pixels in both directions, points on the knots, between them,
    beyond both ends and NaN."""
    from scipy.interpolate import CubicSpline

    from sdssflow.mwm.resample import _not_a_knot_at

    rng = np.random.default_rng(41)
    n = 4112
    frame = 10.0 ** (3.5523 + 1e-4 * np.arange(n) * (1.0 + 0.02 * np.sin(np.arange(n) / 900.0)))
    grids = [frame, frame[::-1]] + [np.exp(8.0 + np.cumsum(rng.uniform(0.1, 2.0, m)) * 1e-4) for m in (4, 5, 37, 1000)]
    for wave_in in grids:
        x, pix = np.log(wave_in), np.arange(wave_in.size, dtype=float)
        if x[0] > x[-1]:
            x, pix = x[::-1], pix[::-1]
        at = np.concatenate([x, rng.uniform(x[0] - 1e-3, x[-1] + 1e-3, 500), np.log(BOSS.wavelength), [np.nan]])
        want = CubicSpline(x, pix, extrapolate=False)(at)
        assert _not_a_knot_at(x, pix, at).tobytes() == want.tobytes()
        wave_out = np.exp(at[np.isfinite(at)])
        spline = CubicSpline(x, pix, extrapolate=False)(np.log(wave_out))
        assert wave_to_pixel(wave_in, wave_out).tobytes() == spline.tobytes()


def test_rv_brackets_equal_their_reference_form(rvlib):
    """_brackets (the guess clamped with fmax/fmin, 'outside' tested on the re-searched points
    only) equals the reference form: the binary search's bracket, t = (x - g[j]) / (g[j+1] - g[j])
    and outside = (x < g[0]) | (x > g[-1]), to the last bit, on the library's fine grid (grid
    values, one ulp either side, beyond both ends, NaN/inf, a 41-velocity scan), a grid that is
    not uniform and a 2-point grid."""
    from sdssflow.mwm.rv import _brackets

    def reference(grid, x):
        j = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, grid.size - 2)
        return j, (x - grid[j]) / (grid[j + 1] - grid[j]), (x < grid[0]) | (x > grid[-1])

    rng = np.random.default_rng(43)
    g = rvlib.loglam
    loglam = np.log10(BOSS.wavelength)
    cases = [(g, x) for x in (
        g, np.nextafter(g, -np.inf), np.nextafter(g, np.inf), np.r_[g[:20] - 1e-3, g[-20:] + 1e-3],
        np.array([np.nan, np.inf, -np.inf, g[0], g[-1]]),
        loglam[None, :] - np.log10(1.0 + rng.uniform(-900.0, 900.0, 41) / 299792.458)[:, None],
    )] + [(np.sort(rng.uniform(0.0, 1.0, 300)), rng.uniform(-0.1, 1.1, 2000)),
          (np.array([0.0, 1.0]), np.array([-1.0, 0.5, 1.0, 2.0, np.nan])), (g, np.array(g[7] + 3e-6))]  # fmt: skip
    for grid, x in cases:
        with np.errstate(invalid="ignore"):
            got, want = _brackets(grid, x), reference(grid, x)
        for a, b in zip(got, want):
            assert a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
