"""The sky-brightness model (issue 14): terms against published formulae, coefficient recovery and
held-out-night errors on a generated training table (synth.sky.training_table, no frames),
the model file, prediction and the sky_spectra merge."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from sdssflow.sky import fitted_model, model, model_spectra, model_terms
from sdssflow.sky.model_terms import TERMS
from sdssflow.synth import sky as synth_sky
from sdssflow.synth import sky_lines


# ---------------------------------------------------------------- terms vs published formulae
def test_van_rhijn_and_extinction_published_values():
    # thin layer at 90 km: V(z) = [1 - (R/(R+h))^2 sin^2 z]^-1/2; at the horizon 1/sqrt(1-(R/(R+h))^2)
    assert model_terms.van_rhijn(1.0) == pytest.approx(1.0)
    z = np.radians(60.0)
    r = 6378.0 / 6468.0
    assert model_terms.van_rhijn(2.0) == pytest.approx(1 / np.sqrt(1 - r**2 * np.sin(z) ** 2), rel=1e-12)
    assert model_terms.van_rhijn(1e6) == pytest.approx(1 / np.sqrt(1 - r**2), rel=1e-6)
    # van Rhijn grows more slowly than the airmass (a layer, not a slab down to the ground)
    x = np.linspace(1.05, 3, 20)
    assert np.all(model_terms.van_rhijn(x) < x)
    # APO extinction close to the SDSS monitor-telescope values (Tucker et al. 2006): g 0.18, r 0.10, i 0.06
    k = model_terms.extinction_coefficient(np.array([4770.0, 6231.0, 7625.0]))
    np.testing.assert_allclose(k, [0.18, 0.10, 0.06], atol=0.025)


def test_krisciunas_schaefer_moon_published_behaviour():
    ks = model_terms.ks_moon_brightness
    # eq. 20-21 by hand at alpha = 0, rho = 90: f = 10^5.36 * 1.06 + 10^(6.15 - 2.25)
    f = 10**5.36 * 1.06 + 10**3.9
    istar = 10 ** (-0.4 * 3.84)
    xm = 1 / np.sqrt(1 - 0.96 * np.sin(np.radians(45.0)) ** 2)
    xf = 1 / np.sqrt(1 - 0.96 * np.sin(np.radians(30.0)) ** 2)
    expect = f * istar * 10 ** (-0.4 * 0.172 * xm) * (1 - 10 ** (-0.4 * 0.172 * xf))
    got = ks(0.0, 45.0, 90.0, 1 / np.cos(np.radians(30.0)), 0.172)
    assert got == pytest.approx(expect, rel=1e-10)
    # full Moon 45 deg up, field at the zenith 45 deg away, V dark sky 21.6 mag/arcsec2 (about the
    # paper's Mauna Kea value): the full-Moon sky is 2-4 mag brighter, 17.5-19.5 mag/arcsec2 in V
    dark_nl = 34.08 * np.exp(20.7233 - 0.92104 * 21.6)
    v = model_terms.nanolambert_to_vmag(dark_nl + ks(0.0, 45.0, 45.0, 1.0, 0.172))
    assert 17.5 < v < 19.5
    # zero below the horizon; fainter at larger phase angle and separation
    assert ks(0.0, -1.0, 45.0, 1.2, 0.17) == 0.0
    assert ks(90.0, 40, 60, 1.2, 0.17) < ks(30.0, 40, 60, 1.2, 0.17)
    assert ks(30.0, 40, 100, 1.2, 0.17) < ks(30.0, 40, 20, 1.2, 0.17)


def test_term_features_shapes_and_errors():
    tab = synth_sky.training_table(n_nights=2, per_night=3, seed=1)
    cond = {c: np.asarray(tab[c]) for c in model_terms.CONDITION_COLUMNS}
    assert model_terms.term_features(cond, list(TERMS), 5000.0).shape == (6, len(TERMS))
    assert model_terms.term_features(cond, ["moon", "zodi"], np.array([4000.0, 8000.0])).shape == (6, 2, 2)
    with pytest.raises(ValueError, match="unknown term"):
        model_terms.term_features(cond, ["nope"], 5000.0)
    with pytest.raises(ValueError, match=r"lack column\(s\) \['ZODI'\]"):
        model_terms.term_features({k: v for k, v in cond.items() if k != "ZODI"}, ["zodi"], 5000.0)


# ---------------------------------------------------------------- recovery on a training table
@pytest.fixture(scope="module")
def fitted():
    """480 exposures on 60 nights, 2 % noise: the model and baseline fits of every entry."""
    tab = synth_sky.training_table(n_nights=60, per_night=8, noise=0.02, seed=0)
    _, lt = sky_lines.read_sky_lines(airglow=None)
    truth = synth_sky.truth_coefficients(lt)
    cond = {c: np.asarray(tab[c]) for c in model_terms.CONDITION_COLUMNS}
    targets = {
        r["name"]: (r["type"], r["wave"], np.asarray(tab[r["name"]]), np.asarray(tab[r["name"] + "_IVAR"]), "")
        for r in truth
    }
    table, results = model.fit_targets(cond, targets, np.asarray(tab["MJD"]))
    return tab, truth, cond, table, results


def test_injected_coefficients_recovered_within_3_sigma(fitted):
    _, truth, _, table, _ = fitted
    names = list(TERMS)
    pulls, spurious, zero_slots = [], 0, 0
    for row, t in zip(table, truth):
        assert row["NAME"] == t["name"]
        for i, term in enumerate(names):
            true = t[term]
            got, err = row["COEFF"][i], row["COEFF_ERR"][i]
            if true != 0:
                # every injected term is selected by BIC
                assert term in row["TERMS"].split(), (row["NAME"], term)
                pulls.append((got - true) / err)
            else:
                zero_slots += 1
                spurious += int(np.isfinite(err))
    pulls = np.array(pulls)
    assert pulls.size > 150
    # within 3 sigma of the stated (HC3) error: with 190 injected coefficients, 0.5 are expected
    # beyond 3 sigma by chance alone, so allow 1 % of them there and none beyond 4 sigma
    assert np.mean(np.abs(pulls) > 3.0) <= 0.01 and np.max(np.abs(pulls)) < 4.0, np.sort(np.abs(pulls))[-3:]
    # the HC3 errors are the right size: pulls look like N(0, 1)
    assert 0.8 < pulls.std() < 1.2 and abs(pulls.mean()) < 0.2
    # BIC adds a term that was not injected rarely (a false positive per ~60 candidate slots)
    assert spurious <= 0.03 * zero_slots


def test_held_out_night_error_matches_noise_and_beats_baseline(fitted):
    _, _, _, table, _ = fitted
    # prediction error on held-out nights within 1.2x the injected noise (CV_NRMS = 1 is the noise)
    assert np.all(table["CV_NRMS"] < 1.2), table["NAME", "CV_NRMS"][table["CV_NRMS"] >= 1.2]
    assert np.all(table["CV_NRMS"] > 0.8)
    # the model's held-out error at most half the baseline's, per line and band
    assert np.all(table["CV_RMS"] <= 0.5 * table["BASE_CV_RMS"]), table["NAME", "CV_RATIO"][table["CV_RATIO"] > 0.5]
    # the baseline misses the injected van Rhijn / F10.7 / zodi terms: it is far above the noise
    assert np.all(table["BASE_CV_NRMS"] > 2.0)


def test_few_exposures_fall_back_to_fewer_terms():
    """Two nights of six exposures (the demo's size): BIC keeps fewer terms, nothing breaks."""
    tab = synth_sky.training_table(n_nights=2, per_night=6, noise=0.02, seed=3)
    cond = {c: np.asarray(tab[c]) for c in model_terms.CONDITION_COLUMNS}
    r = model.fit_target(cond, np.asarray(tab["cont_5100"]), np.asarray(tab["cont_5100_IVAR"]), np.asarray(tab["MJD"]), 5100.0)
    terms = r["TERMS"].split()
    assert terms[0] == "airglow" and 1 <= len(terms) <= 12 // 3
    assert np.isfinite(r["CV_RMS"]) and np.isfinite(r["BASE_CV_RMS"])
    # one night: no cross-validation, still a fit
    one = model.fit_target({k: v[:6] for k, v in cond.items()}, np.asarray(tab["cont_5100"])[:6],
                           np.asarray(tab["cont_5100_IVAR"])[:6], np.asarray(tab["MJD"])[:6], 5100.0)
    assert one["TERMS"].startswith("airglow") and np.isnan(one["CV_RMS"])
    # no usable row
    none = model.fit_target(cond, np.full(12, np.nan), np.zeros(12), np.asarray(tab["MJD"]), 5100.0)
    assert none["N"] == 0 and none["TERMS"] == ""


def test_night_folds_hold_out_whole_nights():
    nights = np.repeat([55500, 55501, 55502, 55503, 55504, 55505, 55506], 3)
    folds = model.night_folds(nights, 5)
    for n in np.unique(nights):
        assert np.unique(folds[nights == n]).size == 1
    assert set(folds) == set(range(5))
    assert np.all(model.night_folds(np.full(4, 55500)) == -1)


# ---------------------------------------------------------------- spectra, model file, prediction
def _toy_spectra(tab, wave):
    """Spectra = the injected continuum at every pixel (per arcsec2) + 2 % noise."""
    cond = {c: np.asarray(tab[c]) for c in model_terms.CONDITION_COLUMNS}
    coeffs = synth_sky.continuum_coefficients(wave)
    x = model_terms.term_features(cond, list(coeffs), wave)
    true = np.einsum("npm,pm->nm", x, np.stack([coeffs[t] for t in coeffs]))
    rng = np.random.default_rng(5)
    sigma = 0.02 * true
    return cond, true + sigma * rng.standard_normal(true.shape), 1 / sigma**2, true, list(coeffs)


def test_spectral_fit_write_read_predict(tmp_path):
    tab = synth_sky.training_table(n_nights=30, per_night=8, seed=2)
    wave = np.geomspace(3600.0, 10300.0, 300)
    cond, flux, ivar, true, terms = _toy_spectra(tab, wave)
    coeff, var = model_spectra.fit_spectra(cond, wave, flux, ivar, terms, max_elements=5000)
    inj = synth_sky.continuum_coefficients(wave)
    pulls = np.stack([(coeff[i] - inj[t]) / np.sqrt(var[i]) for i, t in enumerate(terms)])
    assert np.all(np.isfinite(pulls)) and 0.8 < pulls.std() < 1.2 and np.max(np.abs(pulls)) < 5
    targets = Table({"NAME": ["cont_5100"], "KIND": ["cont"], "WAVE": [5100.0], "TERMS": ["airglow moon"],
                     "COEFF": [np.arange(len(TERMS), dtype=float)], "BASE_COEFF": [np.array([1.0, 2.0])]})
    sm = fitted_model.SkyModel(wave, terms, coeff, var, targets)
    path = fitted_model.write_model(tmp_path / "m.fits", sm, version="t")
    back = fitted_model.read_model(path)
    assert back.spec_terms == terms
    np.testing.assert_allclose(back.coeff, coeff.astype(np.float32))
    pred = fitted_model.predict_spectrum(back, cond)
    assert np.sqrt(np.mean(((pred - true) / true) ** 2)) < 0.01  # noise 2 % per spectrum, averaged down
    p = fitted_model.predict_targets(back.targets, cond)["cont_5100"]
    x = model_terms.term_features(cond, ["airglow", "moon"], 5100.0)
    coeff_all = np.arange(len(TERMS), dtype=float)
    np.testing.assert_allclose(p, x @ coeff_all[[list(TERMS).index("airglow"), list(TERMS).index("moon")]])
    b = fitted_model.predict_targets(back.targets, cond, baseline=True)["cont_5100"]
    np.testing.assert_allclose(b, 1.0 + 2.0 * model_terms.term_features(cond, ["moon"], 5100.0)[:, 0])
    with pytest.raises(ValueError, match="not a sky model file"):
        fitted_model.read_model(_write_empty(tmp_path))


def test_spectral_terms_jointly_well_posed_on_few_nights(tmp_path):
    """Terms each chosen by some target can be collinear together (few nights: the per-night
    F10.7 and season terms); the spectral fit keeps a well-posed subset, finite at every pixel."""
    import warnings

    tab = synth_sky.training_table(n_nights=2, per_night=6, noise=0.02, seed=3)
    wave = np.geomspace(3600.0, 10300.0, 40)
    cond, flux, ivar, _, _ = _toy_spectra(tab, wave)
    every = [" ".join(TERMS)]
    union, _ = model_spectra.fit_spectra(cond, wave, flux, ivar, list(TERMS))
    assert np.all(np.isnan(union))  # the union of all selected terms is not fittable on 12 spectra
    kept = model_spectra.spectral_terms(cond, wave, every + ["airglow moon", "airglow moon"])
    assert kept[0] == "airglow" and "moon" in kept and len(kept) <= 12 // 3
    assert kept == [t for t in TERMS if t in kept]  # COEFF rows in TERMS order
    coeff, var = model_spectra.fit_spectra(cond, wave, flux, ivar, kept)
    assert np.all(np.isfinite(coeff)) and np.all(var > 0)
    # only terms some target chose; none chosen -> none
    assert model_spectra.spectral_terms(cond, wave, ["airglow", ""]) == ["airglow"]
    assert model_spectra.spectral_terms(cond, wave, [""]) == []
    # a long SPTERMS card is written without astropy's truncation warning and read back
    sm = fitted_model.SkyModel(wave, list(TERMS), np.zeros((len(TERMS), wave.size)), np.ones((len(TERMS), wave.size)),
                        Table({"NAME": ["x"], "TERMS": [every[0]]}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = fitted_model.write_model(tmp_path / "long.fits", sm, version="t")
    assert fitted_model.read_model(path).spec_terms == list(TERMS)


def _write_empty(tmp_path):
    from astropy.io import fits

    p = tmp_path / "empty.fits"
    fits.HDUList([fits.PrimaryHDU()]).writeto(p)
    return p


def test_merge_arms_per_arcsec2_and_good_only():
    from sdssflow.sky.sky_spectra_grid import MASK_BITS, merge_arms

    ngrid = 10
    flux = np.array([np.full(ngrid, 2.0), np.full(ngrid, 4.0), np.full(ngrid, 9.0)])
    ivar = np.array([[1.0] * 6 + [0.0] * 4, [0.0] * 4 + [3.0] * 6, np.ones(ngrid)])
    disp = np.ones((3, ngrid))
    meta = Table({"PLATE": [4100] * 3, "MJD": [55500] * 3, "EXPID": [7, 7, 8], "CAMERA": ["b1", "r1", "b2"],
                  "NFIBER_USED": [40, 41, 42], "MJD_MID": [55500.2] * 3})
    arrays, md = merge_arms(flux, ivar, disp, meta, {(4100, 7, "b1"), (4100, 7, "r1")})
    assert len(md) == 1 and md["CAMERAS"][0] == "b1 r1" and md["NFIBER_USED"][0] == 81
    area = np.pi
    f = arrays["FLUX"][0] * area
    np.testing.assert_allclose(f[:4], 2.0, rtol=1e-6)
    np.testing.assert_allclose(f[4:6], (2.0 * 1 + 4.0 * 3) / 4, rtol=1e-6)  # ivar-weighted overlap
    np.testing.assert_allclose(f[6:], 4.0, rtol=1e-6)
    np.testing.assert_allclose(arrays["IVAR"][0], np.array([1] * 4 + [4] * 2 + [3] * 4) * area**2, rtol=1e-6)
    assert np.all((arrays["MASK"][0][4:6] >> MASK_BITS["BOTHARMS"]) & 1)
    assert md["FIBER_AREA"][0] == pytest.approx(np.pi)
    # SDSS-I/II era: 3" fibres
    old = Table(meta, copy=True)
    old["MJD"] = 52000
    a2, _ = merge_arms(flux, ivar, disp, old, {(4100, 7, "b1")})
    assert a2["FLUX"][0][0] == pytest.approx(2.0 / (2.25 * np.pi))
    with pytest.raises(ValueError, match="lacks column"):
        merge_arms(flux, ivar, disp, meta["PLATE", "MJD"], set())


def test_sky_spectra_step_splits_by_year_and_reads_back(tmp_path):
    import fitsio

    from sdssflow.io.sky import write_product, write_table
    from sdssflow.sky import sky_spectra_grid
    from sdssflow.sky.mean import common_grid
    from sdssflow.sky.steps import sky_spectra
    from sdssflow.steps import StepError

    grid = common_grid(3.55, 3.56, 5e-5)
    means, good = [], []
    for plate, mjd in ((4100, 55500), (4200, 56000)):  # 2010 and 2012
        meta = Table({"PLATE": [plate] * 3, "MJD": [mjd] * 3, "EXPID": [1, 1, 2], "CAMERA": ["b1", "r1", "b1"],
                      "MJD_MID": [mjd + 0.2] * 3, "NFIBER_USED": [40] * 3})
        flux = np.full((3, grid.size), float(plate))
        write_product(tmp_path / f"mean-{plate}.fits", {"WAVE": (grid, "Angstrom"), "FLUX": (flux, ""), "IVAR": (np.ones_like(flux), ""),
                      "DISP": (np.ones_like(flux), "")}, {"META": meta}, version="t")
        means.append(str(tmp_path / f"mean-{plate}.fits"))
        good += [(plate, 1, "b1"), (plate, 1, "r1")]  # exposure 2 is not good
    write_table(Table(rows=good, names=("PLATE", "EXPID", "CAMERA")), tmp_path / "good.fits", version="t")
    out = tmp_path / "spectra"
    sky_spectra.main(["--mean", *means, "--good", str(tmp_path / "good.fits"), "--max-gb", "1e-9", "--out-dir", str(out)])
    files = sorted(p.name for p in out.glob("*.fits"))
    assert files == ["sky_spectra-2010.fits", "sky_spectra-2012.fits"]
    wave, arrays, meta = sky_spectra_grid.read_sky_spectra(sorted(out.glob("*.fits")))
    assert list(meta["PLATE"]) == [4100, 4200] and list(meta["YEAR"]) == [2010, 2012]
    np.testing.assert_allclose(arrays["FLUX"][:, 0], np.array([4100.0, 4200.0]) / np.pi, rtol=1e-6)
    assert fitsio.read(str(out / "sky_spectra-2012.fits"), ext="FLUX").shape == (1, grid.size)
    # one file below the threshold
    one = tmp_path / "one"
    sky_spectra.main(["--mean", *means, "--good", str(tmp_path / "good.fits"), "--out-dir", str(one)])
    assert [p.name for p in one.glob("*.fits")] == ["sky_spectra.fits"]
    # errors name the file
    write_table(Table({"PLATE": [1]}), tmp_path / "bad.fits", version="t")
    with pytest.raises(StepError, match="bad.fits: no EXPID column"):
        sky_spectra.main(["--mean", *means, "--good", str(tmp_path / "bad.fits"), "--out-dir", str(one)])
    write_table(Table(rows=[(1, 1, "b1")], names=("PLATE", "EXPID", "CAMERA")), tmp_path / "none.fits", version="t")
    with pytest.raises(StepError, match="no good mean spectra"):
        sky_spectra.main(["--mean", *means, "--good", str(tmp_path / "none.fits"), "--out-dir", str(one)])


def test_conditions_at_takes_the_site_from_sdssflow_sites():
    """Sun altitude and fibre airmass of conditions_at at APO and LCO vs astropy at sites.location."""
    from astropy.coordinates import AltAz, SkyCoord, get_sun
    from astropy.time import Time

    from sdssflow.sites import location
    from sdssflow.sky.model_predict import conditions_at

    mjd, ra, dec = np.array([55500.20, 55500.35]), np.array([30.0, 60.0]), np.array([0.0, -30.0])
    t = Time(mjd, format="mjd", scale="utc")
    for obs in ("apo", "lco"):
        c = conditions_at(mjd, ra, dec, obs)
        frame = AltAz(obstime=t, location=location(obs))
        sun_alt = get_sun(t).transform_to(frame).alt.deg
        alt = SkyCoord(ra=ra, dec=dec, unit="deg").transform_to(frame).alt.deg
        np.testing.assert_allclose(c["SUN_ALT"], sun_alt, atol=0.1)
        up = alt > 20
        assert up.any()
        np.testing.assert_allclose(c["AIRMASS_FIB"][up], 1 / np.sin(np.radians(alt[up])), rtol=0.02)
    assert not np.allclose(conditions_at(mjd, ra, dec, "apo")["SUN_ALT"], conditions_at(mjd, ra, dec, "lco")["SUN_ALT"], atol=1)
    with pytest.raises(ValueError, match="unknown observatory"):
        conditions_at(mjd, ra, dec, "kpno")
