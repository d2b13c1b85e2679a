"""Synthetic photometry (sdssflow.photometry) against known answers and the published curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import integrate

from sdssflow import photometry as ph

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real" / "filters"
SPECLITE = {
    "gaia_g": "gaiadr3-G",
    "gaia_bp": "gaiadr3-BP",
    "gaia_rp": "gaiadr3-RP",
    "ps1_g": "panstarrs-g",
    "ps1_r": "panstarrs-r",
    "ps1_i": "panstarrs-i",
    "ps1_z": "panstarrs-z",
    "ps1_y": "panstarrs-y",
    "sdss_u": "sdss2010-u",
    "sdss_g": "sdss2010-g",
    "sdss_r": "sdss2010-r",
    "sdss_i": "sdss2010-i",
    "sdss_z": "sdss2010-z",
    "2mass_j": "twomass-J",
    "2mass_h": "twomass-H",
    "2mass_ks": "twomass-Ks",
}
needs_real = pytest.mark.skipif(not REAL.exists(), reason="../shared/data/real not available")

WAVE = np.exp(np.linspace(np.log(2500.0), np.log(30000.0), 40000))


def planck_flambda(wave_A, teff):
    """Blackbody f_lambda (arbitrary scale) in erg/s/cm2/A x 1e20."""
    h, c, k = 6.62607015e-27, 2.99792458e10, 1.380649e-16
    lam = wave_A * 1e-8
    return 2 * h * c**2 / lam**5 / np.expm1(h * c / (lam * k * teff)) * 1e-8 * 1e-20


@pytest.mark.parametrize("name", ph.FILTER_NAMES)
def test_flat_fnu_gives_its_ab_mag(name):
    mags = np.array([12.0, 17.5, 21.25])
    flux = ph.fnu_to_flambda(WAVE, ph.ab_to_fnu(mags)[:, None])  # (3, nwave), erg/s/cm2/A
    got = ph.ab_magnitude(WAVE, flux / 1e-17, name, flux_scale=1e-17)
    np.testing.assert_allclose(got, mags, atol=1e-4)


def test_vectorised_over_leading_axes():
    flux = np.stack([planck_flambda(WAVE, t) for t in (4000, 5000, 6000, 7000)]).reshape(2, 2, -1)
    got = ph.ab_magnitude(WAVE, flux, "gaia_g")
    assert got.shape == (2, 2)
    one = ph.ab_magnitude(WAVE, flux[1, 0], "gaia_g")
    assert got[1, 0] == pytest.approx(float(one), abs=1e-12)


@needs_real
@pytest.mark.parametrize("stem", ["gaiadr3-G", "panstarrs-g", "twomass-H"])
def test_real_ecsv_against_independent_integration(stem):
    filt = ph.load_filter(REAL / "speclite" / f"{stem}.ecsv")
    assert 3000 < filt.wave.min() < filt.wave.max() < 25000  # panstarrs is stored in nm
    teff = 5800.0

    # independent rule and variable: Simpson in lambda on a 0.5 A grid
    lam = np.arange(filt.wave[0], filt.wave[-1], 0.5)
    thr = np.interp(lam, filt.wave, filt.throughput)
    fnu = planck_flambda(lam, teff) * lam**2 / ph.C_ANGSTROM_PER_S
    num = integrate.simpson(fnu * thr / lam, x=lam)
    den = integrate.simpson(thr / lam, x=lam)
    expect = -2.5 * np.log10(num / den) - 48.60
    got = ph.ab_magnitude(WAVE, planck_flambda(WAVE, teff), filt)
    assert got == pytest.approx(expect, abs=2e-3)


@needs_real
@pytest.mark.parametrize("name", ph.FILTER_NAMES)
def test_project_curves_match_published_curves(name):
    """Our analytic curves give the published curves' magnitudes of 4500-7500 K stars to 0.03 mag."""
    flux = np.stack([planck_flambda(WAVE, t) for t in (4500.0, 6000.0, 7500.0)])
    ours = ph.ab_magnitude(WAVE, flux, name)
    ref = ph.ab_magnitude(WAVE, flux, REAL / "speclite" / f"{SPECLITE[name]}.ecsv")
    np.testing.assert_allclose(ours, ref, atol=0.03)


@needs_real
def test_kspecdr_dat_in_micron():
    filt = ph.load_filter(REAL / "kspecdr" / "ps1_g.dat")
    lo, hi = filt.support()
    assert 3800 < lo < 4100 and 5400 < hi < 5800


def test_conversions_round_trip():
    w = np.array([4000.0, 6000.0])
    f = np.array([1e-16, 3e-17])
    np.testing.assert_allclose(ph.fnu_to_flambda(w, ph.flambda_to_fnu(w, f)), f, rtol=1e-12)
    assert float(ph.fnu_to_ab(ph.ab_to_fnu(19.3))) == pytest.approx(19.3, abs=1e-12)
    assert float(ph.flux_err_to_mag_err(2.0, ph.mag_err_to_flux_err(2.0, 0.05))) == pytest.approx(
        0.05
    )
    assert np.isnan(ph.fnu_to_ab(0.0))


def test_partial_coverage_and_masks():
    w = np.linspace(3600.0, 10400.0, 5000)  # BOSS range: covers ps1_r, not 2mass_j nor sdss_u fully
    f = planck_flambda(w, 6000.0)
    assert np.isfinite(ph.ab_magnitude(w, f, "ps1_r"))
    assert np.isnan(ph.ab_magnitude(w, f, "2mass_j"))
    assert np.isnan(ph.ab_magnitude(w, f, "sdss_u"))
    assert np.isfinite(ph.ab_magnitude(w, f, "sdss_u", allow_partial=True))
    # masking a few pixels of a smooth spectrum barely changes the magnitude
    good = np.ones_like(w, bool)
    good[1000:1010] = False
    f_bad = f.copy()
    f_bad[1000:1010] = 1e6
    assert ph.ab_magnitude(w, f_bad, "ps1_r", good=good) == pytest.approx(
        ph.ab_magnitude(w, f, "ps1_r"), abs=1e-3
    )


def test_errors():
    with pytest.raises(KeyError, match="unknown filter 'gaia_x'"):
        ph.load_filter("gaia_x")
    with pytest.raises(FileNotFoundError, match="nope.ecsv"):
        ph.load_filter("/tmp/nope.ecsv")
    with pytest.raises(ValueError, match="length of flux's last axis"):
        ph.ab_magnitude(np.arange(10.0), np.ones(11), "ps1_r")
    with pytest.raises(ValueError, match="strictly increasing"):
        ph.ab_magnitude(np.arange(10.0)[::-1], np.ones(10), "ps1_r")


def test_bad_filter_file(tmp_path):
    bad = tmp_path / "bad.dat"
    bad.write_text("1 2\n")
    with pytest.raises(ValueError, match="bad.dat: filter table needs two columns"):
        ph.load_filter(bad)


def test_alias_and_vega_offsets():
    assert ph.load_filter("2mass_k").name == "2mass_ks"
    assert ph.VEGA_TO_AB["gaia_rp"] > 0  # kspecdr's sign bug fixed


# ------------------------------------------------------------------ text filter variants
def _ps1_g_rows() -> np.ndarray:
    """(wavelength A, throughput 0-1) of the package's ps1_g curve, to rewrite in other layouts."""
    f = ph.load_filter("ps1_g")
    return np.column_stack([f.wave, f.throughput])


@pytest.mark.parametrize(
    ("header", "factor", "sep"),
    [
        ("# wavelength (nm)  throughput\n", 0.1, " "),  # stated unit
        ("wavelength_nm,throughput\n", 0.1, ","),  # CSV with a header naming the unit
        ("! Wavelength [um]\n", 1e-4, "\t"),  # '!' comments
        ("% lambda [Angstrom]\n", 1.0, " "),
        ("", 0.1, " "),  # no unit, every wavelength below 3000: nm
    ],
)
def test_text_filter_units_and_layouts(tmp_path, header, factor, sep):
    # Filter curves of other tools: SVO / manufacturer tables in nm, comma-separated files
    # with a header line, '!' or '%' comments. load_filter took '#' comments and whitespace
    # only and read every file above 30 as Angstrom: a curve in nm was put at 380-560 A
    # (silently wrong), a .csv was refused.
    rows = _ps1_g_rows()
    body = "".join(f"{w * factor:.6f}{sep}{t:.6f}\n" for w, t in rows)
    path = tmp_path / ("curve.csv" if sep == "," else "curve.dat")
    path.write_text(header + body)
    got = ph.load_filter(path)
    np.testing.assert_allclose(got.wave, rows[:, 0], rtol=1e-6)
    np.testing.assert_allclose(got.throughput, rows[:, 1], atol=1e-6)


def test_text_filter_unsorted_duplicated_percent(tmp_path):
    # Rows out of order and a wavelength listed twice (a tabulated step edge) used to be
    # refused ("not strictly increasing"); a throughput in percent changes no magnitude
    # (the AB mean is a ratio of integrals of T), so it is kept as written.
    rows = _ps1_g_rows()
    rng = np.random.default_rng(3)
    shuffled = rows[rng.permutation(len(rows))]
    dup = np.vstack([shuffled, rows[10:11] * [1.0, 0.0], rows[10:11] * [1.0, 2.0]])
    path = tmp_path / "shuffled.dat"
    path.write_text("# wavelength (Angstrom) throughput (percent)\n"
                    + "".join(f"{w} {100 * t}\n" for w, t in dup))  # fmt: skip
    got = ph.load_filter(path)
    assert got.wave.size == len(rows) and np.all(np.diff(got.wave) > 0)
    # the three values at that wavelength: t, 0 and 2t -> their mean t
    np.testing.assert_allclose(got.throughput, 100 * rows[:, 1], rtol=1e-12)
    w = np.linspace(3600.0, 10400.0, 4000)
    f = planck_flambda(w, 6000.0)
    assert ph.ab_magnitude(w, f, got) == pytest.approx(ph.ab_magnitude(w, f, "ps1_g"), abs=1e-9)


def test_text_filter_bad_files_are_named(tmp_path):
    (tmp_path / "a.dat").write_text("4000 0.1\n5000 abc\n6000 0.1\n")
    with pytest.raises(ValueError, match=r"a.dat, line 2: not a two-column filter row"):
        ph.load_filter(tmp_path / "a.dat")
    (tmp_path / "b.dat").write_bytes(b"\x93NUMPY\x01\x00\xff\xfe")
    with pytest.raises(ValueError, match=r"b.dat: not a text filter table"):
        ph.load_filter(tmp_path / "b.dat")
    (tmp_path / "c.dat").write_text("# wavelength (nm)\n# wavelength (Angstrom)\n1 1\n2 1\n3 1\n")
    with pytest.raises(ValueError, match=r"c.dat: the header states more than one wavelength unit"):
        ph.load_filter(tmp_path / "c.dat")
    (tmp_path / "d.dat").write_text("4000 0.1\n4000 0.2\n4000 0.3\n")
    with pytest.raises(ValueError, match=r"d.dat: filter table has fewer than 3 distinct"):
        ph.load_filter(tmp_path / "d.dat")
