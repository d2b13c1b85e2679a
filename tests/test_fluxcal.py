"""Flux calibration science: truth recovery on toy exposures, properties, failure modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdssflow import photometry
from sdssflow.fluxcal.calibrate import (
    Settings,
    calibrate_exposure,
    prepare_library,
    scale_to_photometry,
)
from sdssflow.fluxcal.matching import response_chi2
from sdssflow.fluxcal.priors import (
    DATA_DIR,
    catalog_photometry,
    load_band_table,
    match_standards,
    sed_chi2,
    teff_from_bp_rp,
)
from sdssflow.fluxcal.resolution import bosz_sigma_ln, convolve_ln, frame_sigma_ln
from sdssflow.fluxcal.testing import TOY_BANDS, toy_exposure, toy_library
from sdssflow.fluxcal.vectors import (
    apply_calibration,
    combine_responses,
    fit_response,
    pixel_widths,
    read_telluric_regions,
    telluric_mask,
)

BANDS = list(TOY_BANDS)


@pytest.fixture(scope="module")
def prep():
    lib = toy_library()
    return prepare_library(lib, load_band_table().select(BANDS))


@pytest.fixture(scope="module")
def settings():
    tell = pd.read_csv(DATA_DIR / "telluric_regions.csv", comment="#")[
        ["wave_min", "wave_max"]
    ].to_numpy()
    return Settings(telluric=tell)


def _run(prep, settings, exp):
    mag, err = catalog_photometry(exp.catalog, prep.bands)
    return calibrate_exposure(exp.frames, exp.catalog, mag, err, prep, settings)


# ----------------------------------------------------------------------------- photometry
def test_vega_to_ab_offsets_gaia_rp_positive():
    t = load_band_table()
    off = dict(zip(t.band, t.vega_to_ab))
    # Riello et al. 2021 Table 3: AB - Vega zero points
    assert off["gaia_rp"] == pytest.approx(25.1040 - 24.7479, abs=1e-4) and off["gaia_rp"] > 0
    assert off["gaia_bp"] == pytest.approx(25.3540 - 25.3385, abs=1e-4)
    assert off["gaia_g"] == pytest.approx(25.8010 - 25.6874, abs=1e-4)
    assert off["ps1_r"] == 0.0 and off["2mass_k"] == 1.85


def test_catalog_sentinels_and_unknown_band():
    t = load_band_table().select(["gaia_bp", "ps1_g"])
    cat = pd.DataFrame(
        {
            "BP": [15.0, 99.5, 14.0, "x"],
            "dBP": [0.01, 0.01, 9.5, 0.01],
            "g": [16, 16, 16, 16],
            "dg": [0.02, 0.0, 0.02, 0.02],
        }
    )
    mag, err = catalog_photometry(cat, t)
    assert mag[0].tolist() == pytest.approx([15.0155, 16.0])
    assert np.isnan(mag[1, 0]) and np.isnan(mag[1, 1])  # mag >= 99, err <= 0
    assert np.isnan(mag[2, 0]) and np.isnan(mag[3, 0])  # err >= 9, not numeric
    with pytest.raises(ValueError, match="unknown photometric band 'ps1_q'"):
        load_band_table().select(["ps1_q"])


@pytest.mark.parametrize("band", BANDS)
def test_flat_fnu_gives_input_ab_mag(band):
    t = load_band_table().select([band])
    wave = np.exp(np.linspace(np.log(2500.0), np.log(30000.0), 60000))
    flat = photometry.fnu_to_flambda(wave, photometry.ab_to_fnu(16.3))
    m = photometry.ab_magnitude(wave, flat, t.filter[0])
    assert abs(float(m) - 16.3) < 1e-4


def test_teff_from_native_bp_rp():
    # about solar colour gives about solar Teff; the AB-offset colour of kspecdr would not
    assert 5600 < float(teff_from_bp_rp(0.82)) < 5900
    assert float(teff_from_bp_rp(0.55)) > 6400
    assert np.isnan(teff_from_bp_rp(3.0))


def test_sed_prior_and_scale(prep):
    k = 9
    mags = prep.synmag[k] - 2.5 * np.log10(3e-22)
    chi2 = sed_chi2(mags, np.full(mags.size, 0.01), prep.synmag)
    assert chi2[k] == pytest.approx(0.0, abs=1e-8)
    s, s_err, resid = scale_to_photometry(mags, np.full(mags.size, 0.01), prep.synmag[k])
    assert s == pytest.approx(3e-22, rel=1e-9) and s_err > 0
    assert np.all(np.isnan(resid[-3:]))  # 2MASS not covered by the library: not used
    with pytest.raises(ValueError, match="no photometric band"):
        scale_to_photometry(mags, np.full(mags.size, 0.01), np.full(mags.size, np.nan))


def test_match_by_position_not_row_order():
    cat = pd.DataFrame({"RA": [10.0, 20.0, 30.0], "Dec": [0.0, 0.0, 0.0]})
    idx = match_standards(
        np.array([30.0, 10.0 + 0.5 / 3600, 50.0]), np.zeros(3), cat, radius_arcsec=1.0
    )
    assert idx.tolist() == [2, 0, -1]


# ----------------------------------------------------------------------------- resolution
def test_convolution_width_is_right_on_log_grid():
    dln = 1e-5
    n = 20000
    spikes = np.zeros((1, n))
    pos = [2000, 10000, 18000]
    spikes[0, pos] = 1.0
    target = np.linspace(4e-4, 8e-4, n)  # varying sigma in ln(lambda)
    native = bosz_sigma_ln(10000)
    out = convolve_ln(spikes, dln, target, native)[0].astype(float)
    x = np.arange(n)
    for p in pos:
        win = slice(p - 300, p + 301)
        prof = out[win]
        mu = np.sum(x[win] * prof) / prof.sum()
        sig = np.sqrt(np.sum((x[win] - mu) ** 2 * prof) / prof.sum()) * dln
        expect = np.sqrt(target[p] ** 2 - native**2)
        assert sig == pytest.approx(expect, rel=0.02)
        assert prof.sum() == pytest.approx(1.0, rel=1e-3)  # flux conserved


def test_convolution_blend_equals_stacked_levels():
    """The level-by-level gather of convolve_ln is bit-identical to indexing the stacked
    convolved levels (the form it replaces), for 1 to 4 levels, on a realistic cube."""
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(5)
    n = 12000
    flux = (1 + 0.3 * rng.random((96, n))).astype(np.float32)
    dln, native = 1e-5, bosz_sigma_ln(10000)  # 4.2e-5
    for target in (np.full(n, 8e-5), np.linspace(8e-5, 8.1e-5, n), np.linspace(4e-5, 9e-5, n)[::-1],
                   np.linspace(7.5e-5, 8.5e-5, n),  # 1, 1, 4 (one unconvolved) and 3 levels
                   np.linspace(6e-5, 3e-4, n)):  # fmt: skip
        add = np.sqrt(np.clip(target**2 - native**2, 0, None)) / dln
        lo, hi = add.min(), add.max()
        n_lev = 1 if hi - lo <= 0.03 * hi else int(np.clip(np.ceil(np.log(hi / max(lo, 0.05)) / np.log(1.15)) + 1, 2, 4))
        levels = np.linspace(lo, hi, n_lev) if n_lev > 1 else np.array([0.5 * (lo + hi)])
        stack = np.stack([gaussian_filter1d(flux, s, axis=-1, mode="nearest", truncate=5.0) if s > 0.05 else flux
                          for s in levels])  # fmt: skip
        if n_lev == 1:
            expect = stack[0]
        else:
            pos = np.interp(add, levels, np.arange(n_lev))
            i0 = np.clip(np.floor(pos).astype(int), 0, n_lev - 2)
            frac = (pos - i0).astype(np.float32)
            cols = np.arange(n)
            expect = (stack[i0, :, cols].T * (1 - frac) + stack[i0 + 1, :, cols].T * frac).astype(np.float32)
        got = convolve_ln(flux, dln, target, native)
        assert got.dtype == np.float32 and np.array_equal(got, expect)


def test_frame_sigma_and_pixel_widths():
    ll = np.log10(5000.0) + 1e-4 * np.arange(10)
    assert frame_sigma_ln(ll, np.full(10, 2.0))[5] == pytest.approx(2e-4 * np.log(10))
    assert pixel_widths(ll)[5] == pytest.approx(10 ** ll[5] * np.log(10) * 1e-4)
    with pytest.raises(ValueError, match="resolution must be > 0"):
        bosz_sigma_ln(0)
    with pytest.raises(ValueError, match="dln must be > 0"):
        convolve_ln(np.ones((1, 5)), 0.0, 1e-4, 1e-5)


# ----------------------------------------------------------------------------- vectors
def test_fit_response_recovers_smooth_response():
    rng = np.random.default_rng(11)
    ln = np.linspace(np.log(3600), np.log(6300), 4000)
    model = 50 * (1 + 0.5 * np.sin(ln * 300) ** 2)  # line-rich model
    resp = 200 * np.exp(-0.5 * ((np.exp(ln) - 5000) / 900) ** 2)
    counts = model * resp
    ivar = 1.0 / (counts + 10.0)
    noisy = counts + rng.normal(0, 1 / np.sqrt(ivar))
    good = np.ones(ln.size, bool)
    noisy[100] = 1e6  # a cosmic ray, clipped
    fit = fit_response(ln, noisy, ivar, model, good, knot_spacing=0.02)
    val, var = fit(ln)
    rel = val / resp - 1
    assert np.median(np.abs(rel)) < 2e-3
    assert np.all(var > 0)
    # the variance is the diagonal of D cov D^T (dense reference), on any input shape
    from scipy.interpolate import BSpline

    dense = BSpline.design_matrix(ln, fit.spline.t, fit.spline.k).toarray()
    assert np.allclose(var, np.diag(dense @ fit.cov @ dense.T), rtol=1e-12, atol=0)
    v2, var2 = fit(ln[:3000].reshape(30, 100))
    assert v2.shape == var2.shape == (30, 100) and np.allclose(var2.ravel(), var[:3000], rtol=1e-12)
    with pytest.raises(ValueError, match="usable pixels"):
        fit_response(ln, noisy, ivar, model, np.zeros(ln.size, bool))


def test_combine_rejects_outlier_and_keeps_scatter():
    rng = np.random.default_rng(2)
    base = np.linspace(1, 2, 500)
    vals = np.array([base * (1 + rng.normal(0, 0.005)) for _ in range(4)] + [base * 1.3])
    var = (0.001 * vals) ** 2
    valid = np.ones(vals.shape, bool)
    comb, cvar, used, stats = combine_responses(vals, var, valid)
    assert used.tolist() == [True, True, True, True, False]
    assert np.median(np.abs(comb / base - 1)) < 0.01
    assert np.all(cvar >= 1.0 / np.sum(1.0 / var[:4], axis=0) - 1e-15)
    # three identical stars reject nothing (the floor)
    _, _, used3, _ = combine_responses(vals[:3], var[:3], valid[:3])
    assert used3.all()
    with pytest.raises(ValueError, match="must be"):
        combine_responses(np.ones(3), np.ones(3), np.ones(3, bool))


def test_apply_calibration_variance_limits():
    counts = np.array([[100.0, 100.0, 100.0, 100.0]])
    ivar = np.array([[0.01, 0.01, 0.0, 0.01]])
    cal = np.array([2.0, 2.0, 2.0, 2.0])
    cal_ivar = np.array([np.inf, 1.0 / 0.01, 1.0, 1.0])
    bad_cal = np.array([False, False, False, True])
    flux, fivar, bad = apply_calibration(counts, ivar, cal, cal_ivar, bad_cal)
    assert flux[0].tolist() == [200.0] * 4
    assert fivar[0, 0] == pytest.approx(1 / (100 * 4))  # calibration without error
    assert fivar[0, 1] == pytest.approx(1 / (100 * 4 + 100**2 * 0.01))
    assert fivar[0, 2] == 0 and fivar[0, 3] == 0  # data without information; telluric-masked cal
    assert bad[0].tolist() == [False, False, True, True]


def test_telluric_mask_inclusive():
    regions = pd.read_csv(DATA_DIR / "telluric_regions.csv", comment="#")[
        ["wave_min", "wave_max"]
    ].to_numpy()
    m = telluric_mask(np.array([7589.9, 7590.0, 7700.0, 7700.1]), regions)
    assert m.tolist() == [False, True, True, False]


KSPECDR_TELLURIC = (
    Path(__file__).resolve().parents[2] / "shared/data/real/telluric/kspecdr/telluric_default.dat"
)


@pytest.mark.skipif(not KSPECDR_TELLURIC.exists(), reason="shared real data not available")
def test_read_telluric_regions_kspecdr_mask_as_the_package_table():
    # kspecdr data/masks/telluric_default.dat: '#' comments, then two whitespace columns
    # lam_lo lam_hi (Angstrom, vacuum), no header. fluxcal.telluric took only our CSV
    # (pd.read_csv(...)[["wave_min", "wave_max"]]: a KeyError traceback for this file).
    real = read_telluric_regions(KSPECDR_TELLURIC)
    ours = read_telluric_regions(DATA_DIR / "telluric_regions.csv")
    assert real.shape == (5, 2) and np.array_equal(real, ours)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# only comments\n", "no telluric band"),
        ("feature,lo,hi\nO2,6860,6960\n", "needs columns wave_min and wave_max"),
        ("6860 6960\n7150\n", "line 2: cannot read a band"),
        ("6960 6860\n", "line 1: band \\[6960.0, 6860.0\\] is empty"),
        ("686.0 696.0\n", "not in vacuum Angstrom"),  # a table in nm
    ],
)
def test_read_telluric_regions_bad_tables_name_the_file(tmp_path, text, message):
    path = tmp_path / "tell.dat"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        read_telluric_regions(path)
    assert str(path) in str(err.value)


def test_read_telluric_regions_layouts(tmp_path):
    (tmp_path / "a.csv").write_text("# c\nwave_max,feature,wave_min\n6960,O2_B,6860\n")
    (tmp_path / "b.dat").write_text("6860.0 6960.0  # O2 B\n\n7590 7700\n")
    assert read_telluric_regions(tmp_path / "a.csv").tolist() == [[6860.0, 6960.0]]
    assert read_telluric_regions(tmp_path / "b.dat").tolist() == [[6860.0, 6960.0], [7590.0, 7700.0]]
    (tmp_path / "c.npy").write_bytes(b"\x93NUMPY\x01\x00\xff\xfe")
    with pytest.raises(ValueError, match="c.npy: not a text table"):
        read_telluric_regions(tmp_path / "c.npy")


def test_response_chi2_matches_lstsq():
    rng = np.random.default_rng(4)
    x = np.linspace(-1, 1, 300)
    basis = np.polynomial.legendre.legvander(x, 3)
    models = rng.uniform(0.5, 1.5, (3, 300))
    data = rng.uniform(0.5, 1.5, 300)
    w = rng.uniform(0.5, 2.0, 300)
    chi2 = response_chi2(models, data, w, basis)
    for m, c in zip(models, chi2):
        a = basis * m[:, None] * np.sqrt(w)[:, None]
        coef, *_ = np.linalg.lstsq(a, data * np.sqrt(w), rcond=None)
        assert c == pytest.approx(np.sum((a @ coef - data * np.sqrt(w)) ** 2), rel=1e-8)


# ----------------------------------------------------------------------------- exposures
def test_exposure_recovers_truth(prep, settings):
    exp = toy_exposure(prep.library, prep.bands, nstd=4, seed=21)
    res = _run(prep, settings, exp)
    assert res.row["FLAG"] == "" and set(res.cameras) == {"b1", "r1"}
    for cam, c in res.cameras.items():
        good = c.mask == 0
        rel = np.abs(c.cal_factor[good] / exp.truth["cal"][cam][good] - 1)
        assert np.median(rel) < 0.01, cam
        assert good.mean() > 0.75  # red: 20 % of the pixels are telluric
    truth = exp.truth["stars"].set_index("fiberid")
    step = prep.library.teff_step()
    for s in res.stars:
        assert s["STATUS"] == "USED"
        t = truth.loc[s["FIBERID"]]
        assert s["SNR"] > 20
        assert abs(s["TEFF"] - t["teff"]) <= step
        assert abs(s["RV"] - t["rv"]) < 2.0


def test_exposure_frame_loaders_match_frames(prep, settings):
    """Loaders (read one spectrograph at a time) give the same calibration as loaded frames,
    each called once."""
    exp = toy_exposure(prep.library, prep.bands, nstd=3, seed=5)
    calls = []

    def loader(cam):
        def load():
            calls.append(cam)
            return exp.frames[cam]

        return load

    mag, err = catalog_photometry(exp.catalog, prep.bands)
    lazy = calibrate_exposure({c: loader(c) for c in exp.frames}, exp.catalog, mag, err, prep, settings)
    eager = calibrate_exposure(exp.frames, exp.catalog, mag, err, prep, settings)
    assert sorted(calls) == sorted(exp.frames)
    assert lazy.row == eager.row and set(lazy.cameras) == set(eager.cameras) == {"b1", "r1"}
    for cam, c in eager.cameras.items():
        np.testing.assert_array_equal(lazy.cameras[cam].cal_factor, c.cal_factor)
    assert [s["RV"] for s in lazy.stars] == [s["RV"] for s in eager.stars]
    # a loader returning None (unreadable file) leaves its camera out, not flagged missing
    one = calibrate_exposure({"b1": loader("b1"), "r1": lambda: None}, exp.catalog, mag, err, prep, settings)
    assert set(one.cameras) == {"b1"} and one.row["FLAG"] == ""
    good = one.cameras["b1"].mask == 0  # fitted on the blue arm alone: still the truth
    assert np.median(np.abs(one.cameras["b1"].cal_factor[good] / exp.truth["cal"]["b1"][good] - 1)) < 0.01


def test_no_standard_flags_exposure(prep, settings):
    exp = toy_exposure(prep.library, prep.bands, nstd=3, seed=5)
    for f in exp.frames.values():
        f.plugmap["OBJTYPE"] = "SKY"
    res = _run(prep, settings, exp)
    assert res.row["FLAG"] == "BAD_FLUXCAL" and "no SPECTROPHOTO_STD" in res.row["REASON"]
    assert res.cameras == {}


def _with_plug(exp, edit):
    """The exposure's frames with ``edit(plug)`` applied to a copy of their plug map."""
    import copy

    frames = {}
    for cam, f in exp.frames.items():
        g = copy.copy(f)
        g.plugmap = f.plugmap.copy()
        edit(g.plugmap)
        frames[cam] = g
    return frames


def test_redden_std_and_v6_spellings_are_standards(prep, settings):
    # idlspec2d spflux_v5/sphoto calibrate with OBJTYPE 'SPECTROPHOTO_STD' OR 'REDDEN_STD'
    # (SDSS-I/II plates in the DR8-DR17 spFrame HDU5 plug map); a v6 fibre map (DR18/DR19)
    # written without readfibermaps' renaming keeps the confSummary category 'standard_boss'.
    # main took SPECTROPHOTO_STD only (blank-stripped, case-sensitive): BAD_FLUXCAL.
    exp = toy_exposure(prep.library, prep.bands, nstd=4, seed=21)
    ref = _run(prep, settings, exp)
    std = np.flatnonzero(exp.frames["b1"].plugmap["OBJTYPE"] == "SPECTROPHOTO_STD")

    def respell(plug):
        plug["OBJTYPE"] = plug["OBJTYPE"].astype("U20")
        plug["OBJTYPE"][std[:2]] = "REDDEN_STD  "
        plug["OBJTYPE"][std[2:]] = "standard_boss"

    mag, err = catalog_photometry(exp.catalog, prep.bands)
    res = calibrate_exposure(_with_plug(exp, respell), exp.catalog, mag, err, prep, settings)
    assert res.row["FLAG"] == "" and set(res.cameras) == set(ref.cameras)
    assert sorted(s["FIBERID"] for s in res.stars) == sorted(s["FIBERID"] for s in ref.stars)
    for cam, c in ref.cameras.items():
        np.testing.assert_allclose(res.cameras[cam].cal_factor, c.cal_factor)


def test_apogee_standards_are_not_boss_standards(prep, settings):
    # confSummary category 'standard_apogee' (DR19 v6 fibre map OBJTYPE) is an APOGEE fibre's
    exp = toy_exposure(prep.library, prep.bands, nstd=3, seed=5)

    def apogee(plug):
        plug["OBJTYPE"] = np.where(plug["OBJTYPE"] == "SPECTROPHOTO_STD", "standard_apogee", "sky_boss")

    mag, err = catalog_photometry(exp.catalog, prep.bands)
    res = calibrate_exposure(_with_plug(exp, apogee), exp.catalog, mag, err, prep, settings)
    assert res.row["FLAG"] == "BAD_FLUXCAL" and "no SPECTROPHOTO_STD" in res.row["REASON"]
    assert "(OBJTYPEs: SKY_BOSS, STANDARD_APOGEE)" in res.row["REASON"]  # what the map had


def test_string_catalogids_of_v6_fibre_maps(prep, settings):
    # idlspec2d v6 readfibermaps writes CATALOGID as a string: the catalogid, or a dummy
    # 'u<hhmmss.s+ddmmss.s>' / 'u<apogee catalogid>' for unassigned or paired fibres
    # (spFrame/spCFrame HDU5, DR18/DR19). main: astype(int64) raised ValueError, the whole
    # exposure failed. Non-numeric ids fall back to the position match.
    exp = toy_exposure(prep.library, prep.bands, nstd=4, seed=21)
    ref = _run(prep, settings, exp)

    def as_strings(plug):
        ids = np.array([f"u{i:06d}0.0+200000.0" for i in range(len(plug))], dtype="U24")
        ids[:3] = ["27021598054114233", " -999", ""]  # a real id matching no catalogue row
        plug["CATALOGID"] = ids

    mag, err = catalog_photometry(exp.catalog, prep.bands)
    res = calibrate_exposure(_with_plug(exp, as_strings), exp.catalog, mag, err, prep, settings)
    assert res.row["FLAG"] == "" and len(res.stars) == len(ref.stars)
    for cam, c in ref.cameras.items():
        np.testing.assert_allclose(res.cameras[cam].cal_factor, c.cal_factor)


def test_badstdmask_standards_are_left_out(prep, settings):
    # spFrame/spCFrame HDU5 of DR18/DR19 (v6) has BADSTDMASK ("Standard rejected by
    # magnitude range of design"); idlspec2d leaves those standards out. main fitted them.
    exp = toy_exposure(prep.library, prep.bands, nstd=4, seed=21)
    std = np.flatnonzero(exp.frames["b1"].plugmap["OBJTYPE"] == "SPECTROPHOTO_STD")

    def mask_one(plug):
        plug["BADSTDMASK"] = np.zeros(len(plug), np.int64)
        plug["BADSTDMASK"][std[0]] = 1

    mag, err = catalog_photometry(exp.catalog, prep.bands)
    res = calibrate_exposure(_with_plug(exp, mask_one), exp.catalog, mag, err, prep, settings)
    fibres = {int(s["FIBERID"]) for s in res.stars}
    assert res.row["FLAG"] == "" and int(exp.frames["b1"].plugmap["FIBERID"][std[0]]) not in fibres
    assert len(fibres) == std.size - 1

    def mask_all(plug):
        plug["BADSTDMASK"] = np.ones(len(plug), np.int64)

    res = calibrate_exposure(_with_plug(exp, mask_all), exp.catalog, mag, err, prep, settings)
    assert res.row["FLAG"] == "BAD_FLUXCAL" and "all 4 standards have BADSTDMASK set" in res.row["REASON"]


def test_no_photometry_flags_exposure(prep, settings):
    exp = toy_exposure(prep.library, prep.bands, nstd=3, seed=6)
    exp.catalog["RA"] += 1.0  # nothing within 1 arcsec
    res = _run(prep, settings, exp)
    assert res.row["FLAG"] == "BAD_FLUXCAL" and "no photometry" in res.row["REASON"]
    assert {s["REASON"] for s in res.stars} == {"no photometry"}


def test_all_bands_missing_flags_exposure(prep, settings):
    exp = toy_exposure(prep.library, prep.bands, nstd=3, seed=7)
    for col, ecol in zip(prep.bands.mag_column, prep.bands.err_column):
        exp.catalog[col] = 99.99
        exp.catalog[ecol] = 9.99
    res = _run(prep, settings, exp)
    assert res.row["FLAG"] == "BAD_FLUXCAL" and "all photometric bands missing" in res.row["REASON"]


def test_grid_not_covering_star_flags_exposure(prep, settings):
    exp = toy_exposure(prep.library, prep.bands, nstd=3, seed=8)
    exp.catalog["BP"] = exp.catalog["RP"] + 2.2  # an M dwarf colour; the toy grid stops at 5500 K
    res = _run(prep, settings, exp)
    assert res.row["FLAG"] == "BAD_FLUXCAL" and "does not cover the star" in res.row["REASON"]


def test_one_rejected_star_other_used(prep, settings):
    exp = toy_exposure(prep.library, prep.bands, nstd=4, seed=9)
    exp.catalog.loc[0, "RA"] += 1.0
    res = _run(prep, settings, exp)
    status = sorted(s["STATUS"] for s in res.stars)
    assert status == ["REJECTED", "USED", "USED", "USED"] and res.row["FLAG"] == ""


def test_multilinear_matrix_matches_corner_by_corner_reference():
    """The vectorised multilinear weights equal a point-by-point corner sum, also with a
    missing node (its points invalid) and a single-valued axis."""
    import itertools

    from sdssflow.fluxcal.interpolation import multilinear_matrix

    teffs, loggs, fehs = [5000.0, 5250.0, 5500.0, 6000.0], [4.0, 4.5], [-0.5]
    nodes = [n for n in itertools.product(teffs, loggs, fehs) if n != (5500.0, 4.5, -0.5)]
    params = pd.DataFrame(nodes, columns=["teff", "logg", "feh"]).assign(alpha=0.0)
    index = {n: i for i, n in enumerate(nodes)}
    rng = np.random.default_rng(7)
    points = np.column_stack([rng.uniform(5000, 6000, 200), rng.uniform(4.0, 4.5, 200), np.full(200, -0.5)])
    points[:3, 0] = [5000.0, 6000.0, 5250.0]  # on nodes and at the grid edges
    weights, valid = multilinear_matrix(params, points, 0.0)
    for p, w, ok in zip(points, weights, valid):
        t0 = max(t for t in teffs[:-1] if t <= p[0])
        t1 = teffs[teffs.index(t0) + 1]
        ft, fg = (p[0] - t0) / (t1 - t0), (p[1] - 4.0) / 0.5
        want, missing = np.zeros(len(nodes)), False
        for (t, a), (g, b) in itertools.product(((t0, 1 - ft), (t1, ft)), ((4.0, 1 - fg), (4.5, fg))):
            if a * b > 0:
                if (t, g, -0.5) in index:
                    want[index[(t, g, -0.5)]] += a * b
                else:
                    missing = True
        assert ok == (not missing)
        np.testing.assert_allclose(w, want, atol=1e-12)
        if ok:
            assert abs(w.sum() - 1) < 1e-12
    assert 0 < valid.sum() < len(valid)


def test_fine_rv_scan_follows_a_minimum_beyond_its_window(monkeypatch):
    """A narrow fine scan whose minimum is on its edge moves until the minimum is inside
    (a parabolic chi^2 with its minimum 37.3 km/s from the start, 10 km/s half-width)."""
    from sdssflow.fluxcal import matching

    scanned = []

    def chi2(segments, grids, lags, weights, degree):
        scanned.append(lags.copy())
        return 4.0 * (lags - 37.3) ** 2 + 100.0

    monkeypatch.setattr(matching, "_chi2_velocities_combo", chi2)
    rv, rv_err, chi_min = matching._fine_rv([], {}, 0.0, 10.0, 2.0, {0: 1.0}, 15, dof=100)
    assert rv == pytest.approx(37.3, abs=1e-6)
    assert chi_min == pytest.approx(100.0 + 4.0 * 0.7**2)
    assert rv_err == pytest.approx(np.sqrt(chi_min / 100 / 4.0), rel=1e-6)  # 1/sqrt(a), chi^2 scaled
    # re-centred on the edge lag each time: 0 -> 10 -> 20 -> 30 (37.3 inside [20, 40])
    assert [s[5] for s in scanned] == [0.0, 10.0, 20.0, 30.0] and all(s.size == 11 for s in scanned)
    scanned.clear()
    rv, _, _ = matching._fine_rv([], {}, 0.0, 10.0, 2.0, {0: 1.0}, 15, dof=100, moves=0)
    assert rv == pytest.approx(10.0) and len(scanned) == 1  # without moves: clipped at the edge


def test_pixel_step_and_widths_match_numpy_gradient():
    from sdssflow.fluxcal.resolution import pixel_step

    rng = np.random.default_rng(8)
    loglam = np.sort(3.55 + 0.5 * rng.random((5, 300)), axis=1)  # irregular, 2-d
    assert np.allclose(pixel_step(loglam), np.abs(np.gradient(loglam, axis=-1)), rtol=1e-13, atol=0)
    assert np.allclose(pixel_step(loglam[0, :2]), np.abs(np.diff(loglam[0, :2])))  # 2 pixels
    ref = 10.0 ** loglam * np.log(10.0) * np.abs(np.gradient(loglam, axis=-1))
    assert np.allclose(pixel_widths(loglam), ref, rtol=1e-13, atol=0)


def test_median_over_fibres_equals_numpy_median():
    from sdssflow.fluxcal.standards import _median_over_fibres

    rng = np.random.default_rng(0)
    for nfiber in (1, 2, 3, 500, 501):  # odd and even counts: one or two middle values
        values = rng.normal(size=(nfiber, 37))
        assert np.array_equal(_median_over_fibres(values), np.median(values, axis=0)), nfiber
    ints = np.array([[3, 1], [1, 7], [2, 2], [9, 0]])  # integer input, float result
    assert _median_over_fibres(ints).tolist() == [2.5, 1.5]


def test_camera_reference_pixel_major_equals_median_of_frame_sigma_ln():
    """_reference_uncached forms the sigma pixel-major, block by block: bit-identical to the
    fibre-major frame_sigma_ln and np.median over fibres it replaced (odd and even fibre
    counts, float32 dispersion, blocks of 1 pixel to more than the frame), and
    pixel_step(axis=0) of a transposed copy is pixel_step's values transposed."""
    from types import SimpleNamespace

    from sdssflow.fluxcal.resolution import pixel_step
    from sdssflow.fluxcal.standards import _reference_uncached

    rng = np.random.default_rng(21)
    for nfiber, npix, disp_dtype in ((1, 2, float), (4, 9, float), (7, 300, np.float32), (500, 4112, float)):
        x = np.linspace(-1, 1, npix)
        loglam = 3.58 + 0.44 * (x[None, :] + 1) / 2 + 1e-4 * rng.normal(size=(nfiber, 1)) * (1 + x**2)
        disp = (1.1 + 0.1 * rng.random((nfiber, npix))).astype(disp_dtype)
        old_ref = np.median(loglam, axis=0) * np.log(10.0)
        old_sigma = np.median(frame_sigma_ln(loglam, disp), axis=0)
        for block in (1, 2, 3, 96, 97, 256, 5000):  # block edges inside, at and past the ends
            ref, sigma = _reference_uncached(SimpleNamespace(loglam=loglam, disp=disp), block)
            assert ref.tobytes() == old_ref.tobytes(), (nfiber, npix, block)
            assert sigma.tobytes() == old_sigma.tobytes(), (nfiber, npix, block)
        by_pixel = np.ascontiguousarray(loglam.T)
        assert pixel_step(by_pixel, axis=0).tobytes() == np.ascontiguousarray(pixel_step(loglam).T).tobytes()
        assert pixel_step(by_pixel, axis=0).flags.c_contiguous
