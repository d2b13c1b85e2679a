"""Science functions of the sky family on arrays: known answers, truth recovery, errors."""

from __future__ import annotations

import ephem
import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import AltAz, get_body
from astropy.table import Table
from astropy.time import Time

from sdssflow.sites import SITES, location
from sdssflow.sky import calibration, contfit, ephemeris, lines, masks, mean, mega, tables


# ------------------------------------------------------------------ masks
def test_mask_bits_and_vectorised_decoding():
    assert masks.bits_value(masks.DEFAULT_BAD_BITS) == 38011015
    m = np.array([[0, 1 << 18, 1 << 16, 1 << 13, 1 << 25]])
    assert masks.bad_pixels(m).tolist() == [[False, True, False, False, True]]  # bit 13 undefined: ignored
    assert masks.bad_pixels(m, ["NEARBADPIXEL"]).tolist() == [[False, False, True, False, False]]


def test_mask_unknown_bit_raises():
    with pytest.raises(ValueError, match="not an SPPIXMASK bit"):
        masks.bits_value(["NOPLUG", "SHINY"])


# ------------------------------------------------------------------ calibration
def test_native_bin_ratio_is_finite_at_pixel_zero():
    loglam = 3.55 + 6.5e-5 * np.arange(100)
    r = calibration.native_bin_ratio(loglam)
    assert np.all(np.isfinite(r)) and np.allclose(r, 1e-4 / 6.5e-5)


def test_native_bin_ratio_rejects_decreasing():
    with pytest.raises(ValueError, match="increase strictly"):
        calibration.native_bin_ratio(np.array([3.7, 3.6, 3.5]))


def test_cal_factor_guard_and_value():
    loglam = np.tile(3.6 + 1e-4 * np.arange(50), (2, 1))
    fc = np.full((2, 50), 4.0)
    fc[0, 10] = 0.1  # below 0.05 * mean
    cal, bad = calibration.cal_factor_from_fluxcalib(fc, loglam)
    assert bad[0, 10] and cal[0, 10] == 0
    assert np.allclose(cal[1], 1.0 / 4.0)


def test_calibrate_ivar_propagation_recovers_noise():
    rng = np.random.default_rng(3)
    truth = np.full((200, 300), 50.0)
    cal = np.linspace(0.5, 2.0, 300)[None, :] * np.ones((200, 1))
    e_truth = truth / cal
    var_e = e_truth + 9.0
    e = e_truth + rng.normal(0, np.sqrt(var_e))
    flux, ivar = calibration.calibrate(e, 1.0 / var_e, cal)
    chi = (flux - truth) * np.sqrt(ivar)
    assert abs(chi.mean()) < 0.02 and abs(chi.std() - 1) < 0.02
    f0, iv0 = calibration.calibrate(np.ones((1, 2)), np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]))
    assert iv0.tolist() == [[0.0, 0.0]] and f0[0, 1] == 0.0


def test_calibrate_errors():
    with pytest.raises(ValueError, match="fiber_loss_factor"):
        calibration.calibrate(np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)), fiber_loss_factor=0)
    with pytest.raises(ValueError, match="shapes differ"):
        calibration.calibrate(np.ones((1, 2)), np.ones((1, 3)), np.ones((1, 2)))


def test_dispersion_is_a_sigma_in_angstrom_not_the_original_formula():
    sig = calibration.wdisp_to_sigma(np.log10(6000.0), 1.2)
    assert sig == pytest.approx(6000 * np.log(10) * 1e-4 * 1.2)
    original = 10 ** (1.2 * 1e-4 * np.log10(6000.0)) / 10  # SkyModelling's "nm", about 0.1
    assert original == pytest.approx(0.1, abs=0.001) and sig > 1.0


# ------------------------------------------------------------------ lines
def _spectra(rng, entries, arm, nspec=40, snr_scale=1.0):
    lo, hi = {"b": (3.5505, 3.805), "r": (3.749, 4.019)}[arm]
    loglam = np.linspace(lo, hi, 4100)[None, :] + rng.uniform(-3e-5, 3e-5, (nspec, 1))
    wave = 10**loglam
    sigma = 1.1 * np.abs(np.gradient(wave, axis=1))
    cont = 2.0 * (wave / 5000.0) ** -1
    flux = cont.copy()
    truth = {}
    for e in entries:
        if e.kind != "line" or e.camera != arm:
            continue
        f = rng.uniform(100, 600, nspec) * snr_scale
        truth[e.name] = f
        for c in e.components:
            flux += (f / len(e.components))[:, None] * np.exp(-0.5 * ((wave - c) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
    var = 0.02 * flux + 0.01
    noisy = flux + rng.normal(0, np.sqrt(var))
    return wave, noisy, 1.0 / var, sigma, truth


@pytest.mark.parametrize("arm", ["b", "r"])
def test_line_sums_recover_injected_fluxes(arm):
    rng = np.random.default_rng(11)
    entries = lines.read_line_list()
    wave, flux, ivar, sigma, truth = _spectra(rng, entries, arm)
    cols = lines.line_table(wave, flux, ivar, sigma, np.array([arm + "1"] * wave.shape[0]), entries)
    rel = []
    for name, f in truth.items():
        snr = cols[name] * np.sqrt(cols[name + "_IVAR"])
        good = snr > 50
        rel.append(cols[name][good] / f[good] - 1)
        # the ivar is honest: pulls of the line sums have unit scatter
        pull = (cols[name] - f) * np.sqrt(cols[name + "_IVAR"])
        assert 0.6 < np.std(pull) < 1.5, name
    rel = np.concatenate(rel)
    assert rel.size > 100
    assert np.median(np.abs(rel)) < 0.02
    other = [e.name for e in entries if e.kind == "line" and e.camera != arm]
    assert np.all(np.isnan(cols[other[0]]))  # other arm: NaN, not 0


def test_line_sum_fills_masked_pixels_with_the_fit():
    rng = np.random.default_rng(5)
    entries = [e for e in lines.read_line_list() if e.name == "OI5579"]
    wave, flux, ivar, sigma, truth = _spectra(rng, entries, "b", nspec=10)
    ivar2 = ivar.copy()
    for i in range(10):
        j = np.argmin(np.abs(wave[i] - 5578.89))
        ivar2[i, j - 1 : j + 2] = 0.0
        flux[i, j - 1 : j + 2] = 1e6  # garbage under the mask must not matter
    r = lines.measure_lines(wave, flux, ivar2, sigma, entries[0])
    assert np.all(r["nbad"] == 3)
    assert np.median(np.abs(r["sum"] / truth["OI5579"] - 1)) < 0.03


def test_read_line_list_rejects_bad_window(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text(
        "name,camera,type,wave,components,lo,hi,cont1_lo,cont1_hi,cont2_lo,cont2_hi\n"
        "X,b,line,5000,5000,5010,5020,4990,4995,5025,5030\n"
    )
    with pytest.raises(ValueError, match="does not hold"):
        lines.read_line_list(p)


def test_continuum_windows_are_ivar_weighted_means():
    wave = np.tile(np.linspace(4000, 4200, 201), (2, 1))
    flux = np.full((2, 201), 3.0)
    ivar = np.ones((2, 201))
    ivar[1] = 0.0
    e = [x for x in lines.read_line_list() if x.name == "cont_4100"][0]
    r = lines.measure_continua(wave, flux, ivar, e)
    assert r["mean"][0] == pytest.approx(3.0) and np.isnan(r["mean"][1]) and r["ivar"][1] == 0


# ------------------------------------------------------------------ mean spectra
def test_mean_spectra_weighted_mean_has_true_variance():
    rng = np.random.default_rng(7)
    n, npix = 60, 3000
    loglam = np.linspace(3.60, 3.78, npix)[None, :] + rng.uniform(-2e-5, 2e-5, (n, 1))
    wave = 10**loglam
    truth = lambda w: 5.0 + 0.001 * (w - 5000)  # noqa: E731
    sig = rng.uniform(0.5, 2.0, (n, 1)) * np.ones((1, npix))
    flux = truth(wave) + rng.normal(0, 1, (n, npix)) * sig
    ivar = 1.0 / sig**2
    ivar[0, 500:510] = 0.0
    meta = Table({"EXPID": np.repeat([1, 2], n // 2), "CAMERA": np.array(["b1"] * n), "MJD": np.full(n, 55500)})
    grid = mean.common_grid(3.605, 3.775)
    arr, out = mean.mean_spectra(wave, flux, ivar, np.ones((n, npix)), meta, grid)
    assert len(out) == 2 and list(out["NFIBER_USED"]) == [30, 30]
    pull = (arr["FLUX"] - truth(grid)) * np.sqrt(arr["IVAR"])
    # linear interpolation correlates neighbours but each pixel's variance is exact
    assert abs(np.mean(pull)) < 0.05 and abs(np.std(pull) - 1) < 0.05
    assert arr["NFIBER"].max() == 30


def test_mean_spectra_needs_group_columns():
    with pytest.raises(ValueError, match="lacks column"):
        mean.mean_spectra(np.ones((1, 3)), np.ones((1, 3)), np.ones((1, 3)), np.ones((1, 3)), Table({"X": [1]}), np.ones(3))


# ------------------------------------------------------------------ continuum fit
def test_continuum_fit_separates_lines_and_continuum():
    rng = np.random.default_rng(9)
    grid = mean.common_grid()
    sel = (grid > 5650) & (grid < 10400)
    sigma = np.full(grid.size, 1.6)
    cont = 3.0 * (grid / 5000) ** -1.2
    ag = contfit.read_airglow_lines()["r"]
    fl = rng.uniform(20, 200, ag.size)
    flux = cont.copy()
    for c, f in zip(ag, fl):
        flux += f * np.exp(-0.5 * ((grid - c) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
    ivar = np.where(sel, 1.0 / (0.002 * flux + 0.0004), 0.0)
    flux = flux + rng.normal(0, 1, grid.size) / np.sqrt(np.where(ivar > 0, ivar, 1.0))
    r = contfit.fit_continuum(grid, flux, ivar, sigma, "r", ag)
    far = np.min(np.abs(grid[:, None] - ag[None, :]), axis=1) > 6
    use = sel & far & (grid > 5700) & (grid < 10350)
    rel = r["continuum"][use] / cont[use] - 1
    assert np.median(np.abs(rel)) < 0.03
    strong = r["line_flux"] * np.sqrt(r["line_ivar"]) > 50
    truth = dict(zip(np.round(ag, 3), fl))
    got = np.array([truth[np.round(w, 3)] for w in r["line_wave"][strong]])
    assert np.median(np.abs(r["line_flux"][strong] / got - 1)) < 0.03
    assert 0.8 < r["chi2"] / r["dof"] < 1.2


def test_continuum_fit_errors():
    grid = mean.common_grid()
    with pytest.raises(ValueError, match="arm"):
        contfit.fit_continuum(grid, grid * 0, grid * 0 + 1, grid * 0 + 1, "x", np.array([]))
    with pytest.raises(ValueError, match="usable pixels"):
        contfit.fit_continuum(grid, grid * 0, grid * 0, grid * 0 + 1, "b", np.array([]))


def test_merge_lines_sorted_union():
    assert contfit.merge_lines(np.array([5000.0]), np.array([5010.0, 4999.0, 4990.0])).tolist() == [4990.0, 5000.0, 5010.0]


# ------------------------------------------------------------------ mega cuts
def test_apply_cuts_reasons():
    t = Table(
        {
            "PLATE": [1, 5745, 2, 3],
            "FLAGS": ["", "", "CLOUDY", ""],
            "QUALITY": ["excellent", "excellent", "excellent", "bad "],
            "AIRMASS_FIB": [1.1, 1.2, np.nan, 1.0],
            "CAMERA": ["b1", "b1", "r1", "b1"],
            "OI5579": [1.0, 1.0, np.nan, np.nan],
            "OI6302": [np.nan, np.nan, 3.0, np.nan],
        }
    )
    good, removed = mega.apply_cuts(
        t, bad_plates=[5745], exclude_flags=["CLOUDY"], bad_quality=["bad"],
        ranges={"AIRMASS_FIB": (1.0, 1.5)}, line_columns={"b": ["OI5579"], "r": ["OI6302"]},
    )
    assert list(good["PLATE"]) == [1]
    reasons = dict(zip(removed["PLATE"], removed["REASON"]))
    assert reasons[5745] == "bad_plate"
    assert reasons[2] == "flagged;AIRMASS_FIB_range"
    assert reasons[3] == "quality;line_sums_failed"  # 'bad ' matches 'bad' (stripped)
    with pytest.raises(ValueError, match="no such column"):
        mega.apply_cuts(t, ranges={"NOPE": (0, 1)})


# ------------------------------------------------------------------ tables
def test_tables_known_values():
    assert tables.zodi(np.array([-5.0, 5.0])).tolist() == pytest.approx([4.926339, 4.926339])
    assert tables.isl(np.array([0.0, 360.0]), np.array([-80.0, -80.0])).tolist() == pytest.approx([1.009009, 1.009009])
    v = tables.f107(np.array([55500.2, 40000.0]))
    assert 60 < v[0] < 200 and np.isnan(v[1])
    w = pd.DataFrame({"start_tai": [0.0, 100.0], "end_tai": [100.0, 200.0], "photometric": [1, 0]})
    assert tables.photometric_flag(np.array([10.0, 150.0, 90.0]), np.array([20.0, 160.0, 110.0]), w).tolist() == [1.0, 0.0, 1.0]


# ------------------------------------------------------------------ ephemeris
def test_observing_conditions_against_ephem():
    tai_beg = np.array([55500.25 * 86400.0, 56000.1 * 86400.0])
    tai_end = tai_beg + 900.0
    ra, dec = np.array([30.0, 200.0]), np.array([10.0, 40.0])
    c = ephemeris.observing_conditions(tai_beg, tai_end, ra, dec)
    t = ephemeris.mid_exposure(tai_beg, tai_end)
    for i in range(2):
        obs = ephem.Observer()
        apo = SITES["apo"]
        obs.lat, obs.lon, obs.elevation, obs.pressure = apo.lat_dms, apo.lon_dms, apo.height_m, 0
        obs.date = ephem.Date(t.utc.mjd[i] - 15019.5)
        moon = ephem.Moon(obs)
        sun = ephem.Sun(obs)
        star = ephem.FixedBody()
        star._ra, star._dec, star._epoch = np.radians(ra[i]), np.radians(dec[i]), ephem.J2000
        star.compute(obs)
        assert c["MOON_ALT"][i] == pytest.approx(np.degrees(moon.alt), abs=0.3)
        assert c["SUN_ALT"][i] == pytest.approx(np.degrees(sun.alt), abs=0.1)
        assert c["MOON_ILL"][i] == pytest.approx(moon.moon_phase, abs=0.01)
        assert c["ALT_FIB"][i] == pytest.approx(np.degrees(star.alt), abs=0.05)
        assert c["MOON_SEP"][i] == pytest.approx(np.degrees(ephem.separation(moon, star)), abs=0.3)


def test_twilight_is_sun_at_minus_18_deg():
    t = np.array([55500.2])  # UTC MJD, night at APO
    since, until = ephemeris.twilight_hours(t)
    assert 0 < since[0] < 14 and 0 < until[0] < 14
    times = Time([t[0] - since[0] / 24, t[0] + until[0] / 24], format="mjd", scale="utc")
    apo = location("apo")
    alt = get_body("sun", times, apo).transform_to(AltAz(obstime=times, location=apo)).alt.to_value(u.deg)
    assert alt == pytest.approx([-18.0, -18.0], abs=0.1)


def test_mid_exposure_errors():
    with pytest.raises(ValueError, match="earlier"):
        ephemeris.mid_exposure(np.array([10.0]), np.array([5.0]))
    with pytest.raises(ValueError, match="non-finite"):
        ephemeris.observing_conditions(np.array([1e9]), np.array([1e9 + 900]), np.array([np.nan]), np.array([0.0]))


# ------------------------------------------------------------------ io round trip
def test_skyflux_and_product_round_trip(tmp_path):
    from astropy.io import fits

    from sdssflow.io.sky import read_product, read_skyflux, read_table, write_skyflux, write_table
    from sdssflow.sky.extract import SkySpectra, pad_rows

    rng = np.random.default_rng(1)
    wave = pad_rows(np.tile(np.linspace(3600.0, 6300.0, 50), (3, 1))[:, :40], 50, "wave")
    meta = Table({"SPECNO": np.arange(3), "CAMERA": ["b1", "b1", "r2"], "MOON_SEP": [10.0, 20.0, 30.0]})
    meta["MOON_SEP"].unit = "deg"
    spec = SkySpectra(wave, rng.normal(size=(3, 50)), rng.uniform(size=(3, 50)), rng.integers(0, 9, (3, 50)).astype(np.int32),
                      np.full((3, 50), 1.2), meta)
    path = write_skyflux(spec, tmp_path / "skyflux-1.fits", version="vt", inputs=["a/spFrame-b1-00000001.fits"],
                         extra_tables={"STATUS": Table({"EXPID": [1], "STATUS": ["ok"]})})
    back = read_skyflux(path)
    assert np.array_equal(back.wave, spec.wave) and np.array_equal(back.mask, spec.mask)
    assert np.allclose(back.flux, spec.flux, rtol=1e-6) and np.allclose(back.ivar, spec.ivar, rtol=1e-6)
    assert list(back.meta["CAMERA"]) == ["b1", "b1", "r2"] and back.meta["MOON_SEP"].unit == "deg"
    images, tables, header = read_product(path)
    assert header["VERSION"] == "vt" and header["INFILE01"] == "spFrame-b1-00000001.fits"
    assert list(tables["STATUS"]["STATUS"]) == ["ok"]
    with fits.open(path, checksum=True) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "WAVE", "FLUX", "IVAR", "DISP", "MASK", "META", "STATUS"]
        assert hdul["FLUX"].header["BUNIT"].startswith("1e-17") and "CHECKSUM" in hdul["FLUX"].header
    write_table(meta, tmp_path / "t.fits", version="vt")
    with pytest.raises(ValueError, match="no STATUS table"):
        read_table(tmp_path / "t.fits", "STATUS")
    with pytest.raises(ValueError, match="not a skyflux product"):
        read_skyflux(tmp_path / "t.fits")


def test_line_table_column_windows_match_whole_rows():
    """line_table reads only each entry's pixel columns: the same numbers as measuring whole
    rows, with rows on shifted grids, entries at the grid edges and outside every row."""
    from sdssflow.sky import lines

    rng = np.random.default_rng(3)
    npix = 900
    shift = np.array([0.0, 3.7, -5.2, 11.0])[:, None]
    wave = 5500.0 + shift + 0.8 * np.arange(npix)[None, :] + 1e-5 * np.arange(npix) ** 2
    flux = 5.0 + rng.normal(0, 0.2, wave.shape) + 40 * np.exp(-0.5 * ((wave - 5577.3) / 1.1) ** 2)
    ivar = np.full(wave.shape, 25.0)
    ivar[1, 100:104] = 0.0
    disp = np.full(wave.shape, 1.1)
    line = lines.LineEntry("L", "b", "line", 5577.3, (5577.3,), (5570.0, 5585.0), ((5520.0, 5560.0), (5595.0, 5630.0)))
    edge = lines.LineEntry("E", "b", "line", 5505.0, (5505.0,), (5500.0, 5510.0), ((5480.0, 5495.0), (5515.0, 5530.0)))
    cont = lines.LineEntry("C", "b", "cont", 6000.0, (), (5990.0, 6010.0), ())
    outside = lines.LineEntry("X", "b", "cont", 9000.0, (), (8990.0, 9010.0), ())
    cols = lines.line_table(wave, flux, ivar, disp, np.array(["b1"] * 4), [line, edge, cont, outside])
    for e in (line, edge):
        whole = lines.measure_lines(wave, flux, ivar, disp, e)
        np.testing.assert_array_equal(cols[e.name], whole["sum"])
        np.testing.assert_array_equal(cols[e.name + "_IVAR"], whole["ivar"])
        np.testing.assert_array_equal(cols[e.name + "_NBAD"], whole["nbad"])
    assert np.isfinite(cols["L"]).all() and abs(np.median(cols["L"]) - 40 * 1.1 * np.sqrt(2 * np.pi)) < 3
    np.testing.assert_array_equal(cols["C"], lines.measure_continua(wave, flux, ivar, cont)["mean"])
    assert np.isnan(cols["X"]).all() and (cols["X_IVAR"] == 0).all()
