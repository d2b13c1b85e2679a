"""The fast paths of the per-plate sky steps (issue 13) give the numbers of the slow ones.

Each fast path is checked against the straightforward computation it replaced, kept here as
the reference: astropy's own IERS tables, scipy's interpolator, ``np.add.at``, resampling all
rows, astropy's FITS writer.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import AltAz, SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from astropy.utils import iers

from sdssflow.earth_orientation import (
    WINDOW_MARGIN_DAYS,
    bundled_iers_b,
    earth_orientation_for,
    iers_b_window,
)
from sdssflow.io.sky import read_product, read_table, write_product
from sdssflow.sites import location
from sdssflow.sky import mean, tables
from sdssflow.sky.magnitudes import merge_arms


# ------------------------------------------------------------------ earth orientation
def test_bundled_iers_b_holds_astropys_values():
    fast = bundled_iers_b()
    ref = iers.IERS_B.open()  # astropy's CDS reader of the same file
    assert len(fast) == len(ref)
    for name in ("MJD", "PM_x", "PM_y", "UT1_UTC", "dX_2000A", "dY_2000A"):
        assert fast[name].unit == ref[name].unit
        assert np.array_equal(fast[name].value, ref[name].value), name


def _altaz(obstime):
    star = SkyCoord(ra=[10.0, 150.0, 280.0] * u.deg, dec=[5.0, 40.0, -20.0] * u.deg)
    with iers.conf.set_temp("auto_download", False), iers.conf.set_temp("auto_max_age", None):
        h = star.transform_to(AltAz(obstime=obstime, location=location("apo")))
    return h.alt.deg, h.az.deg


def test_earth_orientation_for_gives_the_default_transforms_bit_for_bit():
    t = Time([55500.2, 55500.21, 57000.3], format="mjd", scale="tai")
    default = _altaz(t)
    with earth_orientation_for(t.mjd):
        inside = iers.earth_orientation_table.get()
        fast = _altaz(t)
    # the table in use: the bundled IERS-B rows of the days around the times, none other
    full = bundled_iers_b()
    rows = np.flatnonzero(np.isin(full["MJD"].value, inside["MJD"].value))
    assert isinstance(inside, iers.IERS_B) and rows.size == len(inside)
    assert inside["MJD"].value.min() <= np.floor(t.mjd.min()) - WINDOW_MARGIN_DAYS
    assert inside["MJD"].value.max() >= np.floor(t.mjd.max()) + WINDOW_MARGIN_DAYS + 1
    for name in full.colnames:
        assert np.array_equal(inside[name].value, full[name].value[rows]), name
    assert all(np.array_equal(a, b) for a, b in zip(default, fast))
    # the UT1-UTC of the table matters: a wrong one moves the azimuths
    assert abs(float(t[:1].ut1.mjd[0] - t[:1].utc.mjd[0]) * 86400.0) > 0.01


def test_iers_b_window_holds_the_rows_of_the_whole_file():
    full = bundled_iers_b()
    first, last = float(full["MJD"][0].value), float(full["MJD"][-1].value)
    for lo, hi in ((55500.2, 55500.9), (55500.0, 57000.5), (first - 10.0, first + 0.5), (last - 0.5, last + 10.0)):
        win = iers_b_window(lo, hi)
        keep = (full["MJD"].value >= max(np.floor(lo) - WINDOW_MARGIN_DAYS, first)) & (
            full["MJD"].value <= min(np.floor(hi) + WINDOW_MARGIN_DAYS + 1, last))
        assert len(win) == keep.sum()
        for name in full.colnames:
            assert win[name].unit == full[name].unit
            assert np.array_equal(win[name].value, full[name].value[keep]), (lo, name)
    assert iers_b_window(np.nan, 55500.0) is None


def test_iers_b_window_refuses_a_file_not_one_fixed_width_row_per_day(tmp_path):
    lines = open(iers.IERS_B_FILE).read().splitlines(keepends=True)
    body = [i for i, line in enumerate(lines) if not line.startswith("#")]
    gap = tmp_path / "gap"  # a missing day: the MJDs no longer follow the row numbers
    gap.write_text("".join(lines[: body[100]] + lines[body[100] + 1 :]))
    ragged = tmp_path / "ragged"  # one row shorter than the others
    ragged.write_text("".join(lines[: body[5]] + [lines[body[5]].replace("  ", " ", 1)] + lines[body[5] + 1 :]))
    mjd = float(lines[body[200]].split()[4])
    assert iers_b_window(mjd, mjd + 1.0, path=gap) is None
    assert iers_b_window(mjd, mjd + 1.0, path=ragged) is None
    good = tmp_path / "good"
    good.write_text("".join(lines))
    window = iers_b_window(mjd, mjd + 1.0, path=good)  # the intact copy: its rows are read
    assert window is not None and mjd in np.asarray(window["MJD"].value) and mjd + 1.0 in np.asarray(window["MJD"].value)


def test_earth_orientation_for_leaves_the_default_past_the_table():
    last = float(bundled_iers_b()["MJD"][-1].value)
    before = iers.earth_orientation_table.get()
    with earth_orientation_for(np.array([55500.0, last + 30.0])):
        assert iers.earth_orientation_table.get() is before
    with earth_orientation_for(np.array([])):
        assert iers.earth_orientation_table.get() is before


# ------------------------------------------------------------------ ISL interpolation
def test_isl_bilinear_matches_scipy_regular_grid_interpolator():
    from scipy.interpolate import RegularGridInterpolator

    t = tables.read_csv(tables.DATA_DIR / "isl_galactic.csv")
    ls, bs = np.unique(t["gal_l_deg"]), np.unique(t["gal_b_deg"])
    grid = np.full((ls.size, bs.size), np.nan)
    grid[np.searchsorted(ls, t["gal_l_deg"]), np.searchsorted(bs, t["gal_b_deg"])] = t["isl"]
    ref = RegularGridInterpolator((np.append(ls, 360.0), bs), np.vstack([grid, grid[:1]]))
    rng = np.random.default_rng(3)
    lq = np.concatenate([rng.uniform(0, 360, 2000), ls, [0.0, 359.999, 360.0]])
    bq = np.concatenate([rng.uniform(bs[0], bs[-1], 2000), np.full(ls.size, bs[1]), [bs[0], bs[-1], 0.0]])
    got = tables.isl(lq, bq)
    want = ref(np.column_stack([np.mod(lq, 360.0), bq]))
    assert np.allclose(got, want, rtol=1e-13, atol=0)
    assert np.isnan(tables.isl(np.array([np.nan]), np.array([0.0])))[0]


# ------------------------------------------------------------------ grouped sums
def test_merge_arms_equals_np_add_at():
    rng = np.random.default_rng(5)
    nspec, nbin = 41, 30
    binned = rng.normal(size=(nspec, nbin))
    cover = np.clip(rng.uniform(-0.3, 1.2, size=(nspec, nbin)), 0, 1)
    groups = rng.integers(0, 13, nspec)
    groups[:13] = np.arange(13)  # every label present, in a shuffled order after that
    num, den, best = np.zeros((13, nbin)), np.zeros((13, nbin)), np.zeros((13, nbin))
    np.add.at(num, groups, cover * binned)
    np.add.at(den, groups, cover)
    np.maximum.at(best, groups, cover)
    merged, merged_cover = merge_arms(binned, cover, groups)
    assert np.allclose(merged, np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0), rtol=1e-13, atol=1e-15)
    assert np.array_equal(merged_cover, best)
    # b+r pairs (arm_groups' labels): exactly np.add.at's sums
    pairs = np.repeat(np.arange(20), 2)[rng.permutation(40)]
    num, den = np.zeros((20, nbin)), np.zeros((20, nbin))
    np.add.at(num, pairs, cover[:40] * binned[:40])
    np.add.at(den, pairs, cover[:40])
    merged, _ = merge_arms(binned[:40], cover[:40], pairs)
    assert np.array_equal(merged, np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0))
    # a label with no row stays empty
    merged, merged_cover = merge_arms(binned[:2], cover[:2], np.array([0, 2]))
    assert merged.shape == (3, nbin) and not merged[1].any() and not merged_cover[1].any()


def test_resample_rows_are_those_of_resampling_every_row():
    rng = np.random.default_rng(7)
    start = np.array([3600.0, 3610.0, 5900.0, 5905.0, 3605.0])
    wave = start[:, None] + np.cumsum(rng.uniform(0.9, 1.1, size=(5, 400)), axis=1)
    flux = rng.normal(10, 1, size=wave.shape)
    ivar = rng.uniform(0.5, 2, size=wave.shape) * (rng.uniform(size=wave.shape) > 0.05)
    extra = rng.uniform(0.8, 1.2, size=wave.shape)
    grid = mean.common_grid(3.55, 3.85, 5e-5)
    f_all, iv_all, e_all = mean.resample_to_grid(wave, flux, ivar, grid, extra)
    rows = np.array([1, 4])
    cols = slice(300, 2500)
    f, iv, e = mean.resample_to_grid(wave, flux, ivar, grid[cols], extra, rows=rows)
    assert np.array_equal(f, f_all[rows, cols]) and np.array_equal(iv, iv_all[rows, cols])
    assert np.array_equal(e, e_all[rows, cols])


def test_mean_spectra_equals_the_add_at_reference():
    rng = np.random.default_rng(11)
    nspec, npix = 300, 500  # more than one block of mean.CHUNK rows
    arm_b = rng.uniform(size=nspec) < 0.5
    start = np.where(arm_b, 3600.0, 5900.0) + rng.uniform(0, 5, nspec)
    wave = start[:, None] + np.cumsum(rng.uniform(2.9, 3.1, size=(nspec, npix)), axis=1)
    flux = rng.normal(5, 1, size=wave.shape)
    ivar = rng.uniform(0.5, 2, size=wave.shape)
    disp = rng.uniform(0.8, 1.2, size=wave.shape)
    meta = Table({"EXPID": rng.integers(1, 4, nspec), "CAMERA": np.where(arm_b, "b1", "r1"), "MJD": np.full(nspec, 55500)})
    grid = mean.common_grid(3.55, 4.017, 1e-4)
    arrays, out = mean.mean_spectra(wave, flux, ivar, disp, meta, grid)
    # reference: every row resampled on the whole grid in blocks of CHUNK rows, np.add.at sums
    labels = [(str(e), c) for e, c in zip(meta["EXPID"], meta["CAMERA"])]
    order = list(dict.fromkeys(labels))
    group = np.array([order.index(lab) for lab in labels])
    wsum, fsum = np.zeros((len(order), grid.size)), np.zeros((len(order), grid.size))
    for s in range(0, nspec, mean.CHUNK):
        sl = slice(s, s + mean.CHUNK)
        d_eff = np.sqrt(disp[sl] ** 2 + np.gradient(wave[sl], axis=1) ** 2 / 6.0)
        f, iv, _ = mean.resample_to_grid(wave[sl], flux[sl], ivar[sl], grid, d_eff)
        np.add.at(wsum, group[sl], iv)
        np.add.at(fsum, group[sl], iv * f)
    assert list(zip(out["EXPID"].astype(str), out["CAMERA"])) == order
    assert np.allclose(arrays["IVAR"], wsum, rtol=1e-13, atol=0)
    assert np.allclose(arrays["FLUX"], np.where(wsum > 0, fsum / np.where(wsum > 0, wsum, 1), 0), rtol=1e-12, atol=0)
    # truth: the weighted mean of constant spectra is that constant where covered
    const = np.full_like(flux, 7.0)
    arrays, _ = mean.mean_spectra(wave, const, ivar, disp, meta, grid)
    covered = arrays["IVAR"] > 0
    assert covered.sum() > grid.size and np.allclose(arrays["FLUX"][covered], 7.0, rtol=1e-12)


# ------------------------------------------------------------------ product writer
def _astropy_written(path, images, tabs):
    hdus = [fits.PrimaryHDU()]
    for name, (array, bunit) in images.items():
        hdus.append(fits.ImageHDU(array, name=name))
        hdus[-1].header["BUNIT"] = bunit
    for name, table in tabs.items():
        hdus.append(fits.table_to_hdu(table))
        hdus[-1].name = name
    fits.HDUList(hdus).writeto(path, checksum=True)


def test_fitsio_product_reads_back_as_astropys(tmp_path):
    rng = np.random.default_rng(2)
    table = Table({"SPECNO": np.arange(4), "CAMERA": ["b1", "r1", "b2", "r2"], "FLAG": [True, False, True, True],
                   "OI5579": rng.normal(size=4), "N": np.arange(4, dtype=np.int16)})  # fmt: skip
    table["OI5579"].unit = "1e-17 erg / (s cm2)"
    images = {"WAVE": (np.linspace(3600, 10000, 7), "Angstrom"),
              "FLUX": (rng.normal(size=(4, 7)).astype(np.float32), "1e-17 erg/(s cm2 Angstrom)"),
              "NFIBER": (np.arange(28, dtype=np.int16).reshape(4, 7), "fibres")}  # fmt: skip
    fast = write_product(tmp_path / "fast.fits", images, {"META": table}, version="vt", inputs=["a/b.fits"],
                         step="s", header_cards={"DLOGLAM": (5e-5, "grid step, dex")})  # fmt: skip
    _astropy_written(tmp_path / "ref.fits", images, {"META": table})
    img_f, tab_f, head_f = read_product(fast)
    img_r, tab_r, _ = read_product(tmp_path / "ref.fits")
    assert head_f["VERSION"] == "vt" and head_f["STEP"] == "s" and head_f["INFILE01"] == "b.fits"
    assert head_f["DLOGLAM"] == 5e-5
    for name in images:
        assert img_f[name].dtype == img_r[name].dtype and np.array_equal(img_f[name], img_r[name])
    a, b = tab_f["META"], tab_r["META"]
    assert a.colnames == b.colnames
    for name in a.colnames:
        assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]) and a[name].unit == b[name].unit
    with fits.open(fast, checksum=True) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "WAVE", "FLUX", "NFIBER", "META"]
        assert all(h.verify_checksum() == 1 and h.verify_datasum() == 1 for h in hdul)
        assert hdul["FLUX"].header["BUNIT"] == "1e-17 erg/(s cm2 Angstrom)"


@pytest.mark.parametrize("kind", ["empty", "masked", "meta"])
def test_write_product_keeps_astropy_for_tables_fitsio_would_change(tmp_path, kind):
    table = Table({"A": [1.0, 2.0], "B": [3, 4]}, masked=kind == "masked")
    if kind == "masked":
        table["B"].mask = [False, True]
    elif kind == "meta":
        table.meta["PLATE"] = 4100
    else:
        table = table[:0]
    path = write_product(tmp_path / "t.fits", {}, {"META": table}, version="vt")
    back = read_table(path)
    assert len(back) == len(table) and back.colnames == ["A", "B"]
    if kind == "masked":  # astropy's writer marks the masked integer with TNULL
        header = fits.getheader(path, "META")
        assert "TNULL2" in header and fits.getdata(path, "META")["B"][1] == header["TNULL2"]
    if kind == "meta":
        assert fits.getheader(path, "META")["PLATE"] == 4100


# ------------------------------------------------------------------ floor2: exact fast paths
def test_merge_arms_sums_exactly_as_np_add_at_for_any_group_size():
    rng = np.random.default_rng(21)
    nspec, nbin = 57, 25
    binned = rng.normal(size=(nspec, nbin))
    cover = np.clip(rng.uniform(-0.3, 1.2, size=(nspec, nbin)), 0, 1)
    groups = rng.integers(0, 9, nspec)  # groups of 1 to ~12 rows, label 9 absent
    groups[0] = 10
    num, den, best = np.zeros((11, nbin)), np.zeros((11, nbin)), np.zeros((11, nbin))
    np.add.at(num, groups, cover * binned)
    np.add.at(den, groups, cover)
    np.maximum.at(best, groups, cover)
    merged, merged_cover = merge_arms(binned, cover, groups)
    assert np.array_equal(merged, np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0))
    assert np.array_equal(merged_cover, best)
    assert not merged[9].any() and not merged_cover[9].any()


def _two_arm_spectra(nfib: int = 6, npix: int = 2200, seed: int = 4):
    """Sky-like b and r spectra whose pixels are float32 values (flux, ivar, disp)."""
    from sdssflow.sky.lines import read_line_list

    rng = np.random.default_rng(seed)
    entries = read_line_list()
    cams = np.array(["b1"] * nfib + ["r1"] * nfib)
    start = np.where(cams == "b1", np.log10(3600.0), np.log10(5800.0)) + rng.uniform(0, 2e-4, 2 * nfib)
    wave = 10.0 ** (start[:, None] + 1.4e-4 * np.arange(npix))
    flux = 5.0 + 0.001 * (wave - 5000.0)
    for e in entries:
        if e.kind == "line":
            for mu in e.components:
                flux = flux + 40.0 * np.exp(-0.5 * ((wave - mu) / 1.2) ** 2)
    flux = flux + rng.normal(0, 0.3, flux.shape)
    ivar = rng.uniform(5, 15, flux.shape) * (rng.uniform(size=flux.shape) > 0.02)
    disp = rng.uniform(1.0, 1.4, flux.shape)
    as32 = [a.astype(np.float32) for a in (flux, ivar, disp)]
    meta = Table({"EXPID": np.ones(2 * nfib, dtype=int), "CAMERA": cams, "MJD": np.full(2 * nfib, 55500),
                  "FIBERID": np.tile(np.arange(nfib), 2)})  # fmt: skip
    return wave, as32, [a.astype(np.float64) for a in as32], meta, entries


def test_float32_pixels_give_the_float64_results_exactly():
    from sdssflow.sky.lines import line_table
    from sdssflow.sky.magnitudes import arm_groups, broadband_magnitudes

    wave, (f32, i32, d32), (f64, i64, d64), meta, entries = _two_arm_spectra()
    cams = np.asarray(meta["CAMERA"])
    lines32, lines64 = line_table(wave, f32, i32, d32, cams, entries), line_table(wave, f64, i64, d64, cams, entries)
    assert lines32.keys() == lines64.keys()
    assert all(np.array_equal(lines32[k], lines64[k], equal_nan=True) for k in lines64)
    # the injected lines were measured (truth: 40 * sqrt(2 pi) * 1.2 per component)
    oi = next(e for e in entries if e.name == "OI5579")
    assert np.allclose(lines64[oi.name][cams == "b1"], 40 * np.sqrt(2 * np.pi) * 1.2 * len(oi.components), rtol=0.05)
    area = np.full(len(meta), np.pi)
    mags32 = broadband_magnitudes(wave, f32, i32, area, ["sdss_g", "sdss_r"], groups=arm_groups(meta))
    mags64 = broadband_magnitudes(wave, f64, i64, area, ["sdss_g", "sdss_r"], groups=arm_groups(meta))
    assert all(np.array_equal(mags32[k], mags64[k], equal_nan=True) for k in mags64)
    assert np.isfinite(mags64["MAG_sdss_r"]).all()  # r straddles the dichroic: the b+r pairs merged
    grid = mean.common_grid(3.55, 4.017, 1e-4)
    arrays32, _ = mean.mean_spectra(wave, f32, i32, d32, meta, grid)
    arrays64, _ = mean.mean_spectra(wave, f64, i64, d64, meta, grid)
    assert all(np.array_equal(arrays32[k], arrays64[k]) for k in arrays64)


def test_read_skyflux_as_stored_keeps_the_float32_pixels(tmp_path):
    from sdssflow.io.sky import SkySpectra, read_skyflux, write_skyflux

    wave, (f32, i32, d32), _, meta, _ = _two_arm_spectra(nfib=2, npix=50)
    meta["SPECNO"] = np.arange(len(meta))
    path = write_skyflux(SkySpectra(wave, f32, i32, np.zeros(wave.shape, np.int32), d32, meta), tmp_path / "s.fits",
                         version="t")  # fmt: skip
    as64, stored = read_skyflux(path), read_skyflux(path, float64=False)
    assert as64.flux.dtype == np.float64 and stored.flux.dtype == np.dtype("float32") and stored.flux.dtype.isnative
    assert stored.wave.dtype == np.float64 and stored.mask.dtype == np.int32
    for name in ("flux", "ivar", "disp"):
        assert np.array_equal(getattr(stored, name), getattr(as64, name))
        assert np.array_equal(getattr(stored, name), {"flux": f32, "ivar": i32, "disp": d32}[name])


def test_read_product_swaps_in_place_to_the_values_astropy_converts(tmp_path):
    rng = np.random.default_rng(5)
    images = {"F32": (rng.normal(size=(7, 30)).astype(np.float32), ""), "F64": (rng.normal(size=(7, 30)), ""),
              "I32": (rng.integers(-2**31, 2**31 - 1, size=(7, 30), dtype=np.int32), ""),
              "I16": (rng.integers(-300, 300, size=30).astype(np.int16), "")}  # fmt: skip
    path = write_product(tmp_path / "p.fits", images, {}, version="t")
    got, _, _ = read_product(path)
    as64, _, _ = read_product(path, image_dtypes={"F32": np.float64, "I16": np.float32})
    with fits.open(path, memmap=False) as ref:
        for name, (array, _) in images.items():
            assert ref[name].data.dtype.byteorder == ">"  # as FITS stores it: the swap is exercised
            assert got[name].dtype == array.dtype and got[name].dtype.isnative
            assert np.array_equal(got[name], ref[name].data.astype(array.dtype)) and np.array_equal(got[name], array)
    assert as64["F32"].dtype == np.float64 and np.array_equal(as64["F32"], images["F32"][0].astype(np.float64))
    assert as64["I16"].dtype == np.float32 and np.array_equal(as64["I16"], images["I16"][0].astype(np.float32))
    assert as64["F64"].dtype == np.float64 and np.array_equal(as64["F64"], images["F64"][0])


@pytest.mark.parametrize("observatory", ["apo", "lco"])
def test_observing_conditions_match_astropys_frames(observatory):
    """erfa's chain (one apco13 / apcg13 per exposure) against astropy's own frames, per fibre."""
    from astropy.coordinates import GeocentricTrueEcliptic, get_body

    from sdssflow.earth_orientation import earth_orientation_for
    from sdssflow.sky.ephemeris import observing_conditions

    rng = np.random.default_rng(8)
    n = 40
    # three exposures: two in one night (October 2010), one in July 2014 (the Earth's velocity
    # opposite to January's: an aberration at the wrong epoch would be ~40 arcsec off)
    beg = 86400.0 * np.repeat([55500.15, 55500.17, 56850.2], [15, 15, 10])
    ra, dec = rng.uniform(0, 360, n), rng.uniform(-60, 70, n)
    got = observing_conditions(beg, beg + 900.0, ra, dec, observatory)
    t = Time((2 * beg + 900.0) / 2 / 86400.0, format="mjd", scale="tai")
    fib = SkyCoord(ra=ra * u.deg, dec=dec * u.deg)
    loc = location(observatory)
    with (
        iers.conf.set_temp("auto_download", False),
        iers.conf.set_temp("auto_max_age", None),
        earth_orientation_for(t.mjd),
    ):
        frame = AltAz(obstime=t, location=loc)
        h = fib.transform_to(frame)
        ecl = fib.transform_to(GeocentricTrueEcliptic(equinox=t, obstime=t))
        sun = get_body("sun", t, loc).transform_to(frame)
        sun_ecl = get_body("sun", t).transform_to(GeocentricTrueEcliptic(equinox=t, obstime=t))
        gal = fib.galactic
        moon = SkyCoord(az=got["MOON_AZ"] * u.deg, alt=got["MOON_ALT"] * u.deg, frame=frame)
        moon_sep = h.separation(moon).deg

    def arcsec(a, b):  # angle difference, wrapped
        return np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0) * 3600.0

    assert arcsec(got["ALT_FIB"], h.alt.deg).max() < 1e-6
    assert (arcsec(got["AZ_FIB"], h.az.deg) * np.cos(np.radians(h.alt.deg))).max() < 1e-6
    assert arcsec(got["ECL_LAT"], ecl.lat.deg).max() < 1e-6 and arcsec(got["ECL_LON"], ecl.lon.deg).max() < 1e-6
    assert arcsec(got["SUN_ALT"], sun.alt.deg).max() < 0.1 and arcsec(got["SUN_AZ"], sun.az.deg).max() < 0.1
    helio = (ecl.lon.deg - sun_ecl.lon.deg + 180.0) % 360.0 - 180.0
    assert arcsec(got["HELIO_ECL_LON"], helio).max() < 0.1
    # galactic: erfa's ICRS-based definition vs astropy's FK5-based frame (0.03 arcsec apart)
    assert arcsec(got["GAL_B"], gal.b.deg).max() < 0.05
    assert (arcsec(got["GAL_L"], gal.l.deg) * np.cos(np.radians(gal.b.deg))).max() < 0.05
    assert np.allclose(got["MOON_SEP"], moon_sep, rtol=0, atol=1e-9)
    assert np.array_equal(got["MONTH"], np.repeat([10, 10, 7], [15, 15, 10]))  # MJD 55500 = 2010-10-31
    # the frame the ecliptic columns had before (obstime J2000.0) is tens of arcsec off in July
    with iers.conf.set_temp("auto_download", False), iers.conf.set_temp("auto_max_age", None):
        j2000 = fib[30:].transform_to(GeocentricTrueEcliptic(equinox=t[30:]))
    assert arcsec(got["ECL_LON"][30:], j2000.lon.deg).max() > 10.0


def test_time_scales_equal_astropys():
    from sdssflow import time_scales

    mjd = np.array([51000.3, 53736.0001, 56000.3, 57753.99, 60500.2])
    t = Time(mjd, format="mjd", scale="tai")
    assert np.allclose(time_scales.utc_mjd(mjd), t.utc.mjd, rtol=0, atol=1e-11)
    tt1, tt2 = time_scales.tai_to_tt(mjd)
    assert np.allclose((tt1 - 2400000.5) + tt2, t.tt.mjd, rtol=0, atol=1e-11)
    # TAI - UTC: whole seconds; the day of the 2017 leap second still 36 s, the day after 37 s
    got = [round(time_scales.tai_minus_utc_days(m) * 86400.0, 9) for m in (51000.3, 56000.3, 57753.5, 57754.5)]
    assert got == [31.0, 34.0, 36.0, 37.0]


@pytest.mark.parametrize(
    "days", [(55500.2, 55500.3), (50990.0, 51000.0), (51036.5, 51040.2), (60800.0, 60900.0), (40000.0, 40001.0)]
)
def test_f107_table_window_gives_the_whole_tables_values(days):
    full, window = tables.f107_table(), tables.f107_table(days=days)
    assert window["mjd"].size <= 2 * tables.F107_HALF_WINDOW + 1 + int(np.floor(days[1]) - np.floor(days[0]))
    assert np.array_equal(window["span"], full["span"]) and full["span"].tolist() == [full["mjd"][0], full["mjd"][-1]]
    mjd = np.linspace(days[0], days[1], 9)
    assert np.array_equal(tables.f107(mjd, window), tables.f107(mjd, full), equal_nan=True)
    assert np.array_equal(tables.f107_mean81(mjd, window), tables.f107_mean81(mjd, full), equal_nan=True)


def test_f107_table_window_falls_back_on_an_unsorted_table(tmp_path):
    csv = tmp_path / "f.csv"
    csv.write_text("mjd,date,f107_obs\n55000,a,70\n55002,b,72\n55001,c,71\n55003,d,73\n")
    assert tables.f107_table(path=csv, days=(55001.5, 55001.6))["mjd"].tolist() == [55000, 55001, 55002, 55003]


def test_f107_table_loadtxt_path_equals_read_csv(tmp_path):
    ref = tables.read_csv(tables.DATA_DIR / "f107_daily.csv")
    fast = tables.f107_table()
    days = dict(zip(ref["mjd"].astype(np.int64).tolist(), ref["f107_obs"].tolist()))
    assert np.array_equal(fast["mjd"], np.array(sorted(days)))
    assert np.array_equal(fast["f107_obs"], np.array([days[m] for m in sorted(days)]))
    # a day listed twice keeps its last value; an empty cell (read_csv's NaN) takes read_csv's path
    csv = tmp_path / "f.csv"
    csv.write_text("# comment\nmjd,date,f107_obs\n55001,x,70.5\n55000,y,71\n55001,z,72.25\n")
    assert tables.f107_table(path=csv)["f107_obs"].tolist() == [71.0, 72.25]
    csv.write_text("mjd,date,f107_obs\n55000,y,\n55001,z,72.25\n")
    t = tables.f107_table(path=csv)
    assert t["mjd"].tolist() == [55000, 55001] and np.isnan(t["f107_obs"][0]) and t["f107_obs"][1] == 72.25


def test_line_sum_counts_spectra_without_any_line_sum():
    from sdssflow.sky.lines import LineEntry
    from sdssflow.sky.steps.line_sum import _count_all_nan

    entries = [LineEntry("A", "b", "line", 5000.0, (5000.0,), (4990.0, 5010.0), ((4970.0, 4980.0), (5020.0, 5030.0))),
               LineEntry("B", "b", "line", 5200.0, (5200.0,), (5190.0, 5210.0), ((5170.0, 5180.0), (5220.0, 5230.0))),
               LineEntry("C", "r", "cont", 7000.0, (), (6990.0, 7010.0), ())]  # fmt: skip
    nan = np.nan
    cols = {"A": np.array([1.0, nan, nan, nan]), "B": np.array([nan, 2.0, nan, nan]), "C": np.array([nan] * 4)}
    # rows: b (A ok), b (B ok), b (both NaN), r (no line entry on r: nothing measured)
    assert _count_all_nan(cols, entries, np.array(["b1", "b2", "b1", "r1"])) == 2


def test_line_table_gives_nan_for_a_window_outside_the_arm():
    from sdssflow.sky.lines import line_table, read_line_list

    wave, (f32, i32, d32), _, meta, entries = _two_arm_spectra(nfib=2, npix=400)  # b: 3600-4600 A only
    out = line_table(wave, f32, i32, d32, np.asarray(meta["CAMERA"]), entries)
    oi = next(e for e in read_line_list() if e.name == "OI5579")  # beyond the short b arm
    assert np.isnan(out[oi.name]).all() and (out[oi.name + "_IVAR"] == 0).all()


# ------------------------------------------------------------------ lines5: fewer passes, same bits
def _rebin_mean_first_version(wave, flux, good, edges):
    """rebin_mean before lines5 (np.gradient, concatenated cumsums, np.where over every bin)."""
    dl = np.abs(np.gradient(wave, axis=1))
    w = np.where(good, dl, 0.0)
    cum_f = np.concatenate([np.zeros((wave.shape[0], 1)), np.cumsum(w * np.where(good, flux, 0.0), axis=1)], axis=1)
    cum_w = np.concatenate([np.zeros((wave.shape[0], 1)), np.cumsum(w, axis=1)], axis=1)
    bnd = np.concatenate([wave[:, :1] - dl[:, :1] / 2, 0.5 * (wave[:, 1:] + wave[:, :-1]), wave[:, -1:] + dl[:, -1:] / 2], axis=1)
    nspec, nbin = wave.shape[0], edges.size - 1
    e0 = max(int(np.searchsorted(edges, bnd[:, 0].min(initial=np.inf), side="left")) - 1, 0)
    e1 = min(int(np.searchsorted(edges, bnd[:, -1].max(initial=-np.inf), side="right")) + 1, edges.size)
    mean_, cover = np.zeros((nspec, nbin)), np.zeros((nspec, nbin))
    if nspec == 0 or e1 - e0 < 2:
        return mean_, cover
    sub = edges[e0:e1]
    offset = np.arange(nspec)[:, None] * 1e6
    q = (sub[None, :] + offset).ravel()
    xp = (bnd + offset).ravel()
    cf = np.interp(q, xp, cum_f.ravel()).reshape(nspec, -1)
    cw = np.interp(q, xp, cum_w.ravel()).reshape(nspec, -1)
    inside = (sub[None, :] >= bnd[:, :1]) & (sub[None, :] <= bnd[:, -1:])
    df, dw = np.diff(cf, axis=1), np.diff(cw, axis=1)
    ok = inside[:, 1:] & inside[:, :-1] & (dw > 0)
    mean_[:, e0 : e1 - 1] = np.where(ok, df / np.where(dw > 0, dw, 1.0), 0.0)
    cover[:, e0 : e1 - 1] = np.clip(np.where(ok, dw / np.diff(sub)[None, :], 0.0), 0.0, 1.0)
    return mean_, cover


def _resample_first_version(wave, flux, ivar, grid, extra=None, rows=None):
    """resample_to_grid before lines5 (int64 floor and clip, fancy-indexed gathers)."""
    nspec, npix = wave.shape
    rows = np.arange(nspec) if rows is None else np.asarray(rows, dtype=np.int64)
    offset = rows[:, None] * 1e6
    row0 = (rows * npix)[:, None]
    index = (row0 + np.arange(npix)).ravel().astype(np.float64)
    pos = np.interp((grid[None, :] + offset).ravel(), (wave[rows] + offset).ravel(), index).reshape(rows.size, -1)
    inside = (grid[None, :] >= wave[rows, :1]) & (grid[None, :] <= wave[rows, -1:])
    lo = np.clip(np.floor(pos).astype(np.int64), row0, row0 + npix - 2)
    t = np.clip(pos - lo, 0.0, 1.0)
    hi = lo + 1
    flux, ivar = flux.ravel(), ivar.ravel()
    il, ih = ivar[lo], ivar[hi]
    bad = ~(inside & (il > 0) & (ih > 0))
    f = (1.0 - t) * flux[lo] + t * flux[hi]
    f[bad] = 0.0
    iv = 1.0 / ((1.0 - t) ** 2 / np.where(il > 0, il, 1.0) + t**2 / np.where(ih > 0, ih, 1.0))
    iv[bad] = 0.0
    ex = None if extra is None else (1.0 - t) * extra.ravel()[lo] + t * extra.ravel()[hi]
    return f, iv, ex


def _sky_like_rows(seed: int, nspec: int = 70, npix: int = 900):
    """Rows of both arms with masked stretches, NaN flux at bad pixels, float32 pixels."""
    rng = np.random.default_rng(seed)
    arm_b = rng.uniform(size=nspec) < 0.5
    start = np.where(arm_b, np.log10(3590.0), np.log10(5750.0)) + rng.uniform(0, 3e-4, nspec)
    wave = 10.0 ** (start[:, None] + rng.uniform(0.99e-4, 1.01e-4) * 4 * np.arange(npix))
    flux = (rng.normal(20, 5, size=wave.shape)).astype(np.float32)
    ivar = rng.uniform(0.5, 2, size=wave.shape).astype(np.float32)
    ivar[rng.uniform(size=wave.shape) < 0.05] = 0.0
    ivar[3, 100:160] = 0.0  # a masked stretch
    flux[ivar == 0] = np.nan
    disp = rng.uniform(0.8, 1.3, size=wave.shape).astype(np.float32)
    return wave, flux, ivar, disp, arm_b


def test_pixel_widths_are_abs_gradient_bit_for_bit():
    wave, *_ = _sky_like_rows(31)
    assert np.array_equal(mean.pixel_widths(wave), np.abs(np.gradient(wave, axis=1)))
    down = wave[:, ::-1].copy()  # decreasing rows: widths still positive
    assert np.array_equal(mean.pixel_widths(down), np.abs(np.gradient(down, axis=1)))
    assert np.array_equal(mean.pixel_widths(wave[:2, :2]), np.abs(np.gradient(wave[:2, :2], axis=1)))
    with pytest.raises(ValueError):
        mean.pixel_widths(wave[:, :1])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rebin_mean_gives_its_first_versions_bits(seed):
    wave, flux, ivar, _, _ = _sky_like_rows(seed)
    good = (ivar > 0) & np.isfinite(flux)
    edges = 10.0 ** np.arange(3.54, 4.03, 2e-4)
    for rows in (slice(0, 64), slice(64, 70), slice(0, 0)):
        want = _rebin_mean_first_version(wave[rows], flux[rows].astype(np.float64), good[rows], edges)
        got = mean.rebin_mean(wave[rows], flux[rows], good[rows], edges)  # float32 flux as line_sum passes it
        assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(got, want))
        into = (np.zeros(want[0].shape), np.zeros(want[0].shape))
        returned = mean.rebin_mean(wave[rows], flux[rows], good[rows], edges, out=into)
        assert all(r is i for r, i in zip(returned, into))  # written in place and returned
        assert all(np.array_equal(a, b) for a, b in zip(into, want))
    # edges that only partly overlap the rows, and none at all
    for sub in (edges[:700], edges[1800:], np.array([1000.0, 2000.0, 3000.0])):
        want = _rebin_mean_first_version(wave, flux.astype(np.float64), good, sub)
        assert all(np.array_equal(a, b) for a, b in zip(mean.rebin_mean(wave, flux, good, sub), want))


@pytest.mark.parametrize("seed", [4, 5])
def test_resample_to_grid_gives_its_first_versions_bits(seed):
    wave, flux, ivar, disp, arm_b = _sky_like_rows(seed)
    grid = mean.common_grid(3.55, 4.017, 5e-5)
    extra = np.sqrt(disp.astype(np.float64) ** 2 + np.gradient(wave, axis=1) ** 2 / 6.0)
    for rows in (None, np.flatnonzero(arm_b), np.flatnonzero(~arm_b)[2:9]):
        cols = slice(0, grid.size) if rows is None else slice(
            int(np.searchsorted(grid, wave[rows, 0].min())), int(np.searchsorted(grid, wave[rows, -1].max(), side="right")))
        want = _resample_first_version(wave, flux, ivar, grid[cols], extra, rows=rows)
        got = mean.resample_to_grid(wave, flux, ivar, grid[cols], extra, rows=rows)
        assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(got, want))


def test_line_window_helpers_give_the_gathers_and_envelopes_they_replace():
    from sdssflow.sky.lines import _column_envelope, _flat_index, _gather, window_indices

    wave, flux, _, _, arm_b = _sky_like_rows(6)
    index, _ = window_indices(wave, 4000.0, 4100.0)
    flat = _flat_index(wave.shape, index)
    for array in (wave, flux, np.abs(np.gradient(wave, axis=1))):
        got = _gather(array, flat)
        assert got.dtype == array.dtype and np.array_equal(got, np.take_along_axis(array, index, axis=1), equal_nan=True)
    for rows in (np.flatnonzero(arm_b), np.flatnonzero(~arm_b), np.array([5]), np.arange(10, 30)):
        colmax, colmin = _column_envelope(wave, rows)
        assert np.array_equal(colmax, np.max(wave[rows], axis=0)) and np.array_equal(colmin, np.min(wave[rows], axis=0))


def test_broadband_magnitudes_equal_the_full_width_computation():
    from sdssflow.photometry import ab_magnitude, load_filter
    from sdssflow.sky.magnitudes import MIN_BAND_COVER, arm_groups, broadband_magnitudes

    wave, (f32, i32, _), _, meta, _ = _two_arm_spectra(nfib=9, npix=3000, seed=8)
    f32[2, 400:900] = np.nan  # a masked stretch (ivar 0 there)
    i32[2, 400:900] = 0.0
    groups, area = arm_groups(meta), np.full(len(meta), np.pi)
    filters = ["sdss_u", "sdss_g", "sdss_r", "sdss_i", "sdss_z"]
    got = broadband_magnitudes(wave, f32, i32, area, filters, groups=groups)
    # the first version: rows rebinned alone (chunks of 64 rows), merged, every bin gathered
    edges = 10.0 ** np.arange(3.54, 4.03, 2e-4)
    centres = np.sqrt(edges[1:] * edges[:-1])
    good_pix = (i32 > 0) & np.isfinite(f32)
    binned, cover = _rebin_mean_first_version(wave, f32.astype(np.float64), good_pix, edges)
    binned, cover = merge_arms(binned, cover, groups)
    good = cover > 0.5
    first = np.where(good.any(axis=1), centres[np.argmax(good, axis=1)], np.inf)
    last = np.where(good.any(axis=1), centres[centres.size - 1 - np.argmax(good[:, ::-1], axis=1)], -np.inf)
    lnw = np.gradient(np.log(centres))
    for name in filters:
        filt = load_filter(name)
        lo, hi = filt.support()
        thr = np.interp(centres, filt.wave, filt.throughput, left=0.0, right=0.0) * lnw
        use = (first <= lo) & (last >= hi) & ((good * thr).sum(axis=1) / thr.sum() >= MIN_BAND_COVER)
        want = np.full(binned.shape[0], np.nan)
        if use.any():
            want[use] = ab_magnitude(centres, binned[use] / np.pi, filt, flux_scale=1e-17, good=good[use], allow_partial=True)
        assert np.array_equal(got[f"MAG_{name}"], want[groups], equal_nan=True), name
    assert np.isfinite(got["MAG_sdss_r"]).all() and np.isnan(got["MAG_sdss_u"]).all()
