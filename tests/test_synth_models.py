"""Unit tests of the demo survey's models: toy stars, instrument, sky, determinism."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from sdssflow.io.bosz import air_to_vacuum
from sdssflow.io.traceset import evaluate_traceset
from sdssflow.synth import bosz_mirror, frames, instrument, sky, sky_lines
from sdssflow.synth.layout import demo_plan, demo_sources
from sdssflow.synth.stellar import StarParams, bosz_wave_grid, surface_flux
from sdssflow.synth.targets import exposure_conditions, make_stars, plate_fibres, rng_for


def _ew(wave, flux, cont, centre, half=20.0):
    """Equivalent width (A) within +-half of centre."""
    m = np.abs(wave - centre) < half
    return float(np.sum((1.0 - flux[m] / cont[m]) * np.gradient(wave)[m]))


def test_bosz_grid_is_the_real_r10000_grid():
    w = bosz_wave_grid(10000)
    assert w.size == 150000
    assert w[0] == pytest.approx(500.0)
    np.testing.assert_allclose(np.diff(np.log(w)), np.log(640.0) / 150000, rtol=1e-9)


def test_line_strengths_follow_teff_logg_feh():
    w = np.linspace(3850.0, 6700.0, 60000)
    f_hot, c_hot = surface_flux(w, StarParams(7000, 4.2, 0.0), sigma_inst=0.5)
    f_cool, c_cool = surface_flux(w, StarParams(5000, 4.2, 0.0), sigma_inst=0.5)
    f_poor, c_poor = surface_flux(w, StarParams(5000, 4.2, -0.8), sigma_inst=0.5)
    # Balmer stronger in hot stars, Ca II K and Mg b stronger in cool and metal-rich stars
    assert _ew(w, f_hot, c_hot, 6564.61) > _ew(w, f_cool, c_cool, 6564.61) + 1.0
    assert _ew(w, f_cool, c_cool, 3934.78, 15.0) > _ew(w, f_hot, c_hot, 3934.78, 15.0) + 1.0
    assert _ew(w, f_cool, c_cool, 5177.0, 12.0) > _ew(w, f_poor, c_poor, 5177.0, 12.0) + 0.5
    # mean line blanketing 4000-5500 A grows with [M/H] and falls with Teff
    band = (w > 4000) & (w < 5500)
    blank = {
        k: np.mean((f / c)[band])
        for k, (f, c) in {
            "hot": (f_hot, c_hot),
            "cool": (f_cool, c_cool),
            "poor": (f_poor, c_poor),
        }.items()
    }
    assert blank["cool"] < blank["poor"] and blank["cool"] < blank["hot"]
    # colour: the hot star is bluer
    assert np.mean(c_hot[w < 4500]) / np.mean(c_hot[w > 6000]) > np.mean(
        c_cool[w < 4500]
    ) / np.mean(c_cool[w > 6000])


@pytest.mark.parametrize("band", [(3850.0, 4400.0), (4800.0, 5600.0), (6450.0, 6700.0)])
def test_model_is_consistent_across_resolutions(band):
    """Smoothing the R=10000 model to R~2000 gives the model evaluated at R~2000.

    Also in the cores of the saturated Ca II, H beta and H alpha lines: the 0.03 floor
    acts at intrinsic resolution, before the instrument. (The floor used to be applied
    after the instrumental broadening: flat-bottomed, non-band-limited BOSS-resolution
    lines, off by up to 700 % here, that biased the MWM BOSS RVs by 1-5 km/s.)
    """
    dln = 2e-5
    w = np.exp(np.arange(np.log(band[0]), np.log(band[1]), dln))
    p = StarParams(6200, 4.3, -0.2)
    sig_hi = w / 10000.0 / 2.3548
    sig_lo = w / 2000.0 / 2.3548
    hi, cont = surface_flux(w, p, sigma_inst=lambda lam: lam / 10000.0 / 2.3548)
    lo, _ = surface_flux(w, p, sigma_inst=lambda lam: lam / 2000.0 / 2.3548)
    extra = np.sqrt(sig_lo**2 - sig_hi**2)[w.size // 2] / (w[w.size // 2] * dln)  # pixels
    smoothed = gaussian_filter1d(hi / cont, extra) * cont
    inner = slice(300, -300)
    rel = np.abs(smoothed[inner] / lo[inner] - 1)
    assert np.median(rel) < 1e-5 and rel.max() < 2e-3


def test_instrumental_model_is_band_limited():
    """At BOSS sampling (sigma ~1.1 px) a damped-sinc resampling reproduces the model."""
    from sdssflow.mwm.resample import resample_chip

    dlog = 6.1e-5  # dex per blue pixel
    lam = 10 ** (np.log10(3800.0) + dlog * np.arange(4000))
    sigma = lambda x: 1.1 * dlog * np.log(10.0) * x  # noqa: E731
    p = StarParams(6800, 4.0, 0.0)
    flux, _ = surface_flux(lam, p, sigma_inst=sigma)
    out = 10 ** (np.log10(3900.0) + 1e-4 * np.arange(2000))
    res, ivar, _, _ = resample_chip(lam, flux, np.ones_like(flux), None, out, 5.0)
    expect, _ = surface_flux(out, p, sigma_inst=sigma)
    assert np.all(ivar > 0)
    assert np.max(np.abs(res / expect - 1)) < 3e-3


def test_doppler_shift_moves_lines():
    w = np.linspace(6500.0, 6630.0, 13001)
    p = StarParams(6500, 4.2, 0.0)
    f0, _ = surface_flux(w, p, sigma_inst=1.3)
    f1, _ = surface_flux(w, p, sigma_inst=1.3, v_rad=100.0)
    shift = w[np.argmin(f1)] - w[np.argmin(f0)]
    assert shift == pytest.approx(6564.61 * 100.0 / 299792.458, abs=0.02)


def test_mirror_columns_are_the_vacuum_model_on_the_air_grid():
    grid = bosz_wave_grid()
    sel = grid[(grid > 5000) & (grid < 5010)]
    p = StarParams(6250, 4.0, 0.0)
    h, c = bosz_mirror.model_columns(p, sel)
    f, fc = surface_flux(air_to_vacuum(sel), p, sigma_inst=lambda lam: lam / 10000.0 / 2.3548)
    np.testing.assert_allclose(4 * np.pi * h, f, rtol=1e-12)
    np.testing.assert_allclose(4 * np.pi * c, fc, rtol=1e-12)
    names = [m.filename for m in bosz_mirror.subgrid_models()]
    assert "bosz2024_mp_t6000_g+4.0_m-0.25_a+0.00_c+0.00_v1_r10000_resam.txt.gz" in names


def test_instrument_response_shape_and_traceset():
    for cam, lo, hi in (("b1", 3500, 6400), ("r2", 5600, 10450)):
        ts = instrument.wavelength_traceset(cam, spectrograph=int(cam[1]))
        npix = 4112 if cam[0] == "b" else 4128
        wave = 10 ** evaluate_traceset(ts, npix)
        assert lo < wave.min() and wave.max() < hi
        step = instrument.pixel_loglam_step(ts, npix)
        np.testing.assert_allclose(
            step[:, 1:-1], np.gradient(np.log10(wave), axis=1)[:, 1:-1], rtol=1e-4
        )
        assert 5e-5 < step.min() and step.max() < 9e-5  # 5-9e-5 dex per pixel (BOSS)
        fc = instrument.fluxcalib_curve(
            cam, wave[0], exptime=900, airmass=1.2, seeing=1.5, transparency=1.0
        )
        assert np.all(fc > 0)
        # more airmass, worse seeing: less signal, more so in the blue
        fc2 = instrument.fluxcalib_curve(
            cam, wave[0], exptime=900, airmass=1.8, seeing=2.0, transparency=1.0
        )
        assert np.all(fc2 < fc)
        ratio = fc2 / fc
        assert ratio[0] < ratio[-1]


def test_aperture_fraction_known_values():
    assert instrument.aperture_fraction(1e-3) == pytest.approx(1.0)
    # Gaussian PSF: fraction inside r = 1 - exp(-r^2 / 2 sigma^2)
    assert instrument.aperture_fraction(2.3548) == pytest.approx(1 - np.exp(-0.5), rel=1e-6)


def test_sky_lines_and_window_truth():
    lines, table = sky_lines.read_sky_lines()
    names = set(table["name"])
    assert {"OI5579", "NaD", "OI6302"} <= names
    waves = np.array([ln.wave for ln in lines])
    assert np.any(np.abs(waves - 5578.89) < 0.01)
    # extra OH lines stay outside every listed window and side band
    extra = waves[[ln.entry == "" for ln in lines]]
    assert extra.size > 20
    for row in table.itertuples():
        lo, hi = (row.cont1_lo, row.cont2_hi) if row.type == "line" else (row.lo, row.hi)
        assert not np.any((extra > lo) & (extra < hi)), row.name
    cond = sky.SkyConditions(1.3, 2.0, 0.5, 30.0, 60.0)
    strengths = sky.line_strengths(lines, cond)
    truth = sky.window_fluxes(table, lines, strengths, lambda lam: np.full_like(lam, 1.4), cond)
    oi = [s for ln, s in zip(lines, strengths) if ln.entry == "OI5579"]
    assert truth["OI5579"] == pytest.approx(sum(oi), rel=1e-4)  # window is +-4 sigma
    # moonlight brightens the blue continuum more than the red one
    dark = sky.SkyConditions(1.3, 2.0, 0.5, -10.0, 60.0)
    assert sky.continuum(np.array([4000.0]), cond)[0] / sky.continuum(np.array([4000.0]), dark)[
        0
    ] > (sky.continuum(np.array([9000.0]), cond)[0] / sky.continuum(np.array([9000.0]), dark)[0])


def test_sky_line_list_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nolist.csv: sky line list not found"):
        sky_lines.read_sky_lines(tmp_path / "nolist.csv")


def test_determinism_and_seed_dependence():
    plan = demo_plan(
        {
            "n_plates": 1,
            "n_mjds": 1,
            "n_exposures": 1,
            "n_science_per_spectrograph": 2,
            "n_std_per_spectrograph": 1,
        }
    )
    a, b = make_stars(plan), make_stars(plan)
    assert [(s.params, s.scale, s.v_visit) for s in a] == [
        (s.params, s.scale, s.v_visit) for s in b
    ]
    other = make_stars(demo_plan({**dict(plan.settings), "seed": 7}))
    assert [s.params for s in other] != [s.params for s in a]
    fib = plate_fibres(plan, 4100, a)
    expo = exposure_conditions(plan, 4100, 55500, 120000, 0)
    assert 1.0 <= expo.airmass < 2.0 and 0 <= expo.moon_illumination <= 1
    rest = {
        (i, arm): frames.rest_spectrum(s.params, arm) for i, s in enumerate(a) for arm in ("b", "r")
    }
    lines, _ = sky_lines.read_sky_lines()
    cond = sky.SkyConditions(
        expo.airmass, expo.hours_into_night, expo.moon_illumination, expo.moon_alt, expo.moon_sep
    )
    st = sky.line_strengths(lines, cond)
    f1 = frames.build_frame("b1", 1, expo, fib, a, rest, lines, st, rng_for(1, "noise", 120000, 0))
    f2 = frames.build_frame("b1", 1, expo, fib, a, rest, lines, st, rng_for(1, "noise", 120000, 0))
    np.testing.assert_array_equal(f1.flux, f2.flux)
    np.testing.assert_array_equal(f1.mask, f2.mask)
    f3 = frames.build_frame("b1", 1, expo, fib, a, rest, lines, st, rng_for(2, "noise", 120000, 0))
    assert not np.array_equal(f1.flux, f3.flux)
    # defects: cosmic rays and bad pixels have ivar = 0 and a FULLREJECT bit
    bad = f1.ivar == 0
    assert bad.sum() > 50
    assert np.all((f1.mask[bad] & ((1 << 18) | (1 << 1))) != 0)


def test_too_many_fibres_is_an_error():
    plan = demo_plan(
        {
            "n_plates": 1,
            "n_mjds": 1,
            "n_exposures": 1,
            "n_sky_per_spectrograph": 200,
            "n_science_per_spectrograph": 400,
            "n_std_per_spectrograph": 0,
        }
    )
    with pytest.raises(ValueError, match="fibres per spectrograph needed"):
        plate_fibres(plan, 4100, [SimpleNamespace(source=src) for src in demo_sources(plan)])
