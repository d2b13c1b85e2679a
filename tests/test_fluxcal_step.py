"""Steps bosz_library, flux_calibration and fluxcal_summary on files; real BOSZ and filter files."""

from __future__ import annotations

import gzip
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy.integrate import simpson

from sdssflow import photometry
from sdssflow.fluxcal.priors import load_band_table
from sdssflow.fluxcal.steps import bosz_download, bosz_library, flux_calibration, fluxcal_summary
from sdssflow.fluxcal.testing import toy_exposure, toy_library, write_toy_frames
from sdssflow.io.bosz import (
    BoszModel,
    air_to_vacuum,
    parse_bosz_name,
    read_resampled,
    read_wave_grid,
    wave_grid_relpath,
)
from sdssflow.io.bosz_library import read_library, write_library
from sdssflow.io.fluxcal import read_calibration, read_summary
from sdssflow.steps import run_step

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
BOSZ_REAL = REAL / "bosz2024" / "bosz2024_mp_t6000_g+4.0_m+0.00_a+0.00_c+0.00_v2_r5000_resam.txt.gz"
BANDS = ["gaia_g", "gaia_bp", "gaia_rp", "ps1_g", "ps1_r", "ps1_i", "ps1_z"]


# ------------------------------------------------------------------ real files
@pytest.mark.skipif(not BOSZ_REAL.exists(), reason="shared real data not available")
def test_real_bosz_file_and_grid():
    wave = read_wave_grid(REAL / "bosz2024" / "bosz2024_wave_r5000.txt")
    assert wave.size == 15 * 5000 and wave[0] == pytest.approx(500.0)
    # uniform in ln(lambda): ln(640) / (15 R)
    assert np.allclose(np.diff(np.log(wave)), np.log(640.0) / 75000, rtol=2e-3)
    flux, cont = read_resampled(BOSZ_REAL, nrows=wave.size)
    assert flux.shape == cont.shape == wave.shape
    assert parse_bosz_name(BOSZ_REAL).vmicro == 2
    with pytest.raises(ValueError, match="rows but the wavelength grid has 10"):
        read_resampled(BOSZ_REAL, nrows=10)


@pytest.mark.skipif(not BOSZ_REAL.exists(), reason="shared real data not available")
def test_real_bosz_unpacked_mirror_reads_as_the_gzipped_one(tmp_path):
    # A BOSZ 2024 mirror the user gunzipped (r5000/m+0.00/..._resam.txt): the name, the
    # reader and the mirror search of mwm.templates took only ".txt.gz" ("Not a gzipped
    # file" for the model, "no bosz2024_*_resam.txt.gz" for the mirror).
    from sdssflow.io.mwm_templates import read_rv_templates

    mirror = tmp_path / "bosz2024"
    (mirror / "r5000" / "m+0.00").mkdir(parents=True)
    (mirror / "wavelength_grids").mkdir()
    (mirror / "wavelength_grids" / "bosz2024_wave_r5000.txt").write_bytes(
        (REAL / "bosz2024" / "bosz2024_wave_r5000.txt").read_bytes()
    )
    plain = mirror / "r5000" / "m+0.00" / BOSZ_REAL.name[: -len(".gz")]
    plain.write_bytes(gzip.decompress(BOSZ_REAL.read_bytes()))
    assert parse_bosz_name(plain) == parse_bosz_name(BOSZ_REAL)
    for got, want in zip(read_resampled(plain, nrows=75000), read_resampled(BOSZ_REAL)):
        assert np.array_equal(got, want)
    wave, rect, params, res = read_rv_templates(mirror)
    assert rect.shape == (1, wave.size) and params.tolist() == [[6000.0, 4.0, 0.0]] and res == 5000
    # both forms of one model in the mirror: read once
    (plain.parent / BOSZ_REAL.name).write_bytes(BOSZ_REAL.read_bytes())
    assert read_rv_templates(mirror)[1].shape == (1, wave.size)


def test_bosz_native_resolution_files_refused_clearly(tmp_path):
    # MAST rorig products: bosz2024_<atmos>_..._v<v>_rorig_noresam.txt.gz with three columns
    # (lambda, H, C) (reference/kspecdr_fluxcal.md section 5); not a resampled model.
    name = "bosz2024_mp_t6000_g+4.0_m+0.00_a+0.00_c+0.00_v2_rorig_noresam.txt.gz"
    with pytest.raises(ValueError, match="native-resolution .rorig. file"):
        parse_bosz_name(name)
    three = tmp_path / "bosz2024_mp_t6000_g+4.0_m+0.00_a+0.00_c+0.00_v2_r5000_resam.txt.gz"
    three.write_bytes(gzip.compress(b"500.0 1.0 2.0\n501.0 1.0 2.0\n"))
    with pytest.raises(ValueError, match=r"resam.txt.gz: 3 columns \(lambda, H, C\)"):
        read_resampled(three)
    empty = tmp_path / "empty_resam.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty_resam.txt: cannot read BOSZ resampled file"):
        read_resampled(empty)


@pytest.mark.skipif(not BOSZ_REAL.exists(), reason="shared real data not available")
@pytest.mark.parametrize(
    "curve",
    [
        "gaiadr3-G",
        "gaiadr3-BP",
        "gaiadr3-RP",
        "panstarrs-g",
        "panstarrs-r",
        "panstarrs-i",
        "panstarrs-z",
    ],
)
def test_real_bosz_synthetic_photometry_vs_independent(curve):
    wave_air = read_wave_grid(REAL / "bosz2024" / "bosz2024_wave_r5000.txt")
    flux, _ = read_resampled(BOSZ_REAL, nrows=wave_air.size)
    wave = air_to_vacuum(wave_air)
    keep = (wave > 3000) & (wave < 12000)
    wave, flux = wave[keep], flux[keep]
    filt = photometry.load_filter(REAL / "filters" / "speclite" / f"{curve}.ecsv")
    ours = float(photometry.ab_magnitude(wave, flux, filt))
    # independent: Simpson in lambda of the photon-counting definition
    t = np.interp(wave, filt.wave, filt.throughput, left=0, right=0)
    c = 2.99792458e18
    m_ind = (
        -2.5 * np.log10(simpson(flux * t * wave, x=wave) / simpson(t * c / wave, x=wave)) - 48.60
    )
    assert abs(ours - m_ind) < 0.01


# ------------------------------------------------------------------ bosz_library
def _tiny_mirror(root: Path, nrows_bad: bool = False) -> Path:
    rng = np.random.default_rng(3)
    res = 200
    grid = np.exp(np.log(500.0) + np.arange(15 * res) * np.log(640.0) / (15 * res))
    (root / wave_grid_relpath(res)).parent.mkdir(parents=True, exist_ok=True)
    (root / wave_grid_relpath(res)).write_text("".join(f"{w:.7e}\n" for w in grid))
    spec = root.parent / "spec.yaml"
    spec.write_text(f"resolution: {res}\nteff: [6000, 6250]\nlogg: [4.0, 4.5]\nfeh: [0.0]\n")
    for k, teff in enumerate((6000, 6250)):
        for logg in (4.0, 4.5):
            m = BoszModel(teff, logg, 0.0, 0.0, 0.0, 1, res, "mp")
            n = grid.size - (1 if nrows_bad and k == 1 and logg == 4.5 else 0)
            rows = "".join(f"{a:.4e} {b:.4e}\n" for a, b in rng.uniform(1, 2, (n, 2)))
            (root / m.relpath).parent.mkdir(parents=True, exist_ok=True)
            (root / m.relpath).write_bytes(gzip.compress(rows.encode()))
    return spec


def test_bosz_library_step(tmp_path):
    mirror = tmp_path / "mirror" / "bosz2024"
    spec = _tiny_mirror(mirror)
    dest = tmp_path / "bosz2024"
    bosz_download.main(["--subgrid", str(spec), "--base-url", mirror.as_uri(), "--dest", str(dest)])
    out = tmp_path / "lib.h5"
    bosz_library.main(
        ["--manifest", str(dest / "manifest.csv"), "--output", str(out), "--version-name", "t1"]
    )
    lib = read_library(out)
    assert lib.flux.shape[0] == 4 and lib.flux.shape == lib.continuum.shape
    assert lib.wave.min() >= 3000 and lib.wave.max() <= 11000
    assert sorted(lib.params["teff"].unique()) == [6000, 6250]
    # vacuum: every wavelength is a converted air grid value
    air = read_wave_grid(dest / wave_grid_relpath(200))
    assert np.allclose(
        lib.wave, air_to_vacuum(air)[(air_to_vacuum(air) >= 3000) & (air_to_vacuum(air) <= 11000)]
    )
    h, c = read_resampled(
        dest / lib.params["name"].iloc[0].replace("bosz2024_", "r200/m+0.00/bosz2024_", 1), air.size
    )
    sel = (air_to_vacuum(air) >= 3000) & (air_to_vacuum(air) <= 11000)
    assert np.allclose(lib.flux[0], h[sel], rtol=1e-6)
    assert lib_attrs(out)["NLEFTOUT"] == 0 and bosz_library.read_status(tmp_path / "lib_status.csv").empty
    # a corrupted file is refused by its sha256 and left out (issue 10: the others are kept)
    victim = next(dest.rglob("*_resam.txt.gz"))
    victim.write_bytes(gzip.compress(b"1 2\n"))
    status = tmp_path / "status.csv"
    args = ["--manifest", str(dest / "manifest.csv"), "--output", str(out), "--status", str(status)]
    assert run_step(bosz_library.main, args) == 0
    kept = read_library(out)
    assert kept.ntemplate == 3 and victim.name not in set(kept.params["name"])
    assert np.array_equal(kept.flux, lib.flux[lib.params["name"].to_numpy() != victim.name])
    table = bosz_library.read_status(status)
    assert list(table["relpath"]) == [str(victim.relative_to(dest))]
    assert table.loc[0, "step"] == "bosz_library" and table.loc[0, "status"] == "rejected"
    assert "sha256 differs" in table.loc[0, "reason"] and table.loc[0, "path"] == str(victim)
    assert lib_attrs(out)["NLEFTOUT"] == 1
    # nothing readable left: the step fails, naming the manifest
    for path in dest.rglob("*_resam.txt.gz"):
        path.write_bytes(b"")
    with pytest.raises(Exception, match="no model could be read.*sha256 differs"):
        bosz_library.main(args)


def lib_attrs(path: Path) -> dict:
    with h5py.File(path, "r") as h5:
        return dict(h5.attrs)


def test_bosz_library_row_count_checked(tmp_path):
    mirror = tmp_path / "mirror" / "bosz2024"
    spec = _tiny_mirror(mirror, nrows_bad=True)
    dest = tmp_path / "bosz2024"
    bosz_download.main(["--subgrid", str(spec), "--base-url", mirror.as_uri(), "--dest", str(dest)])
    bosz_library.main(["--manifest", str(dest / "manifest.csv"), "--output", str(tmp_path / "x.h5")])
    table = bosz_library.read_status(tmp_path / "x_status.csv")
    assert len(table) == 1 and table.loc[0, "relpath"].endswith("t6250_g+4.5_m+0.00_a+0.00_c+0.00_v1_r200_resam.txt.gz")
    assert "rows but the wavelength grid has 3000" in table.loc[0, "reason"]
    assert read_library(tmp_path / "x.h5").ntemplate == 3


# ------------------------------------------------------------------ flux_calibration
def test_flux_calibration_step(tmp_path):
    lib = toy_library()
    write_library(lib, tmp_path / "lib.h5")
    bands = load_band_table().select(BANDS)
    good = toy_exposure(lib, bands, nstd=3, seed=31)
    bad = toy_exposure(lib, bands, nstd=3, seed=32)
    bad.frames["b1"].plugmap["OBJTYPE"] = "SKY"  # shared plug map: no standard at all
    plate_dir = tmp_path / "4100"
    plate_dir.mkdir()
    write_toy_frames(good.frames, plate_dir, 1001)
    write_toy_frames(bad.frames, plate_dir, 1002)
    pd.concat([good.catalog, bad.catalog]).to_csv(tmp_path / "phot.csv", index=False)
    sel = pd.DataFrame(
        {
            "observatory": "APO",
            "mjd": 55500,
            "plate": 4100,
            "exposure": [1001, 1002],
            "exptime": 900.0,
            "flags": "",
            "excluded_cameras": "",
        }
    )
    sel.to_csv(tmp_path / "sel.csv", index=False)
    out = tmp_path / "out"
    args = [
        "--plate-dir",
        str(plate_dir),
        "--selection",
        str(tmp_path / "sel.csv"),
        "--library",
        str(tmp_path / "lib.h5"),
        "--photometry",
        str(tmp_path / "phot.csv"),
        "--plate",
        "4100",
        "--mjd",
        "55500",
        "--outdir",
        str(out),
        "--bands",
        ",".join(BANDS),
        "--version-name",
        "t1",
    ]
    flux_calibration.main(args)
    assert (out / "qc-00001001.png").stat().st_size > 1000
    assert not (out / "calib-00001002.fits").exists()
    cal = read_calibration(out / "calib-00001001.fits")
    assert set(cal) == {"b1", "r1"}
    for cam, c in cal.items():
        assert c.cal_factor.shape == (c.wave.size,)
        ok = ~c.bad
        rel = np.abs(c.cal_factor[ok] / good.truth["cal"][cam][ok] - 1)
        assert np.median(rel) < 0.01
        assert c.star_cal.shape == (3, c.wave.size) and len(c.star_fiberid) == 3
        assert c.meta["EXPID"] == 1001 and c.meta["NUSED"] == 3
    exps, stars = read_summary(out / "summary-4100-55500.fits")
    flags = dict(zip(exps["EXPID"], exps["FLAG"]))
    assert flags == {1001: "", 1002: "BAD_FLUXCAL"}
    assert "no SPECTROPHOTO_STD" in exps["REASON"][exps["EXPID"] == 1002][0]
    assert list(stars["STATUS"]) == ["USED"] * 3
    fluxcal_summary.main(["--inputs", str(out), "--output", str(tmp_path / "all.fits")])
    e2, s2 = read_summary(tmp_path / "all.fits")
    assert len(e2) == 2 and len(s2) == 3
    assert (
        run_step(
            fluxcal_summary.main, ["--inputs", str(tmp_path), "--output", str(tmp_path / "x.fits")]
        )
        == 1
    )


def test_read_calibration_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="calibration file not found"):
        read_calibration(tmp_path / "nope.fits")
    from astropy.io import fits

    fits.HDUList([fits.PrimaryHDU(header=fits.Header({"CAMERAS": "b1"}))]).writeto(
        tmp_path / "bad.fits"
    )
    with pytest.raises(ValueError, match="bad.fits: not a flux-calibration file"):
        read_calibration(tmp_path / "bad.fits")


def test_per_fibre_cal_factor_lossless_for_astropy_and_fitsio(tmp_path):
    """The hand-built GZIP_2 tiles (fast deflate level) decode bit-identical with both
    readers, like astropy's own GZIP_2 writer, special values included."""
    import fitsio
    from astropy.io import fits
    from astropy.table import Table

    from sdssflow.io.fluxcal import CameraCalibration, gzip2_image_hdu, write_calibration

    rng = np.random.default_rng(5)
    wave = np.geomspace(3600.0, 6400.0, 257)
    smooth = (1.0 + 0.3 * np.sin(wave / 300.0))[None, :] * (1 + 1e-3 * rng.normal(size=(7, 1)))
    cal = smooth.astype(np.float32)
    cal[1, :5] = [np.nan, np.inf, -np.inf, -2.5, np.float32(1e-42)]  # NaN, infinities, subnormal
    cal[2] = rng.normal(size=wave.size).astype(np.float32)  # incompressible row
    cam = CameraCalibration("b1", wave, cal, np.ones(wave.size, np.float32), np.zeros(wave.size, np.int16),
                            cal[:2].copy(), np.array([3, 4]), {"NSTARS": 2, "PERFIBER": True})  # fmt: skip
    path = write_calibration(tmp_path / "calib-00001001.fits", {"b1": cam}, Table(), {"EXPID": 1001}, "t")
    back = read_calibration(path)["b1"]
    assert back.cal_factor.dtype == np.float32
    assert np.array_equal(back.cal_factor.view(np.uint32), cal.view(np.uint32))  # bit-identical
    assert back.meta["NSTARS"] == 2
    with fits.open(path) as hdul:
        assert isinstance(hdul["CAL_b1"], fits.CompImageHDU)
        assert hdul["CAL_b1"].header["BUNIT"].startswith("1e-17")
    assert np.array_equal(fitsio.read(str(path), ext="CAL_B1").view(np.uint32), cal.view(np.uint32))
    # same decoded image and about the same size as astropy's writer (zlib level 9)
    ref = tmp_path / "astropy.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(cal, compression_type="GZIP_2", quantize_level=0.0)]).writeto(ref)  # fmt: skip
    mine = tmp_path / "mine.fits"
    fits.HDUList([fits.PrimaryHDU(), gzip2_image_hdu(cal, "CAL", tile_rows=3)]).writeto(mine)  # 7 = 3 + 3 + 1
    with fits.open(ref) as a, fits.open(mine) as b:
        assert np.array_equal(a[1].data.view(np.uint32), b[1].data.view(np.uint32))
        assert a[1].compression_type == b[1].compression_type == "GZIP_2"
    assert np.array_equal(fitsio.read(str(mine), ext=1).view(np.uint32), cal.view(np.uint32))
    assert mine.stat().st_size < 1.1 * ref.stat().st_size
    with pytest.raises(ValueError, match="2-d image"):
        gzip2_image_hdu(cal[0], "CAL")
    # reproducible: the tiles of two writes are the same bytes (no time in their gzip headers)
    again = gzip2_image_hdu(cal, "CAL", tile_rows=3).data["COMPRESSED_DATA"]
    first = gzip2_image_hdu(cal, "CAL", tile_rows=3).data["COMPRESSED_DATA"]
    assert all(np.asarray(t)[4:8].tobytes() == bytes(4) for t in first)  # gzip MTIME field (RFC 1952)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_qc_curves_thinned_without_drawing_masked_pixels():
    from sdssflow.fluxcal.qc import thinned_curves
    from sdssflow.io.fluxcal import CameraCalibration

    rng = np.random.default_rng(2)
    npix = 4112
    wave = np.geomspace(3600.0, 10400.0, npix)
    cal = (1 + 0.01 * rng.normal(size=(9, npix))).astype(np.float32)
    mask = np.zeros(npix, np.int16)
    mask[1000:1013] = 1  # a telluric band
    mask[2001] = 4  # one low-weight pixel, inside a thinning block
    star = rng.normal(size=(3, npix))
    c = CameraCalibration("b1", wave, cal, np.ones(npix, np.float32), mask, star)
    w, comb, gap, stars = thinned_curves(c, points=800)
    step = npix // 800
    assert w.size == comb.size == gap.size == stars.shape[1] == -(-npix // step)
    assert np.array_equal(w, wave[::step]) and np.array_equal(stars, star[:, ::step])
    assert np.allclose(comb, np.median(cal, axis=0)[::step])  # median over fibres
    kept = np.arange(0, npix, step)
    blocks = [mask[k : k + step] for k in kept]
    assert np.array_equal(gap, [bool(b.any()) for b in blocks])  # no masked pixel drawn
    assert gap[2001 // step] and gap.sum() == 4  # 1000-1012 spans 3 blocks, 2001 one
    one_d = CameraCalibration("b1", wave, cal[0], np.ones(npix, np.float32), mask, star)
    assert np.array_equal(thinned_curves(one_d)[1], cal[0][::step])


def _qc_cameras(seed: int, cams=("b1", "r1", "b2", "r2"), nstar: int = 8) -> dict:
    """Calibrations of an exposure with realistic shapes (per-fibre cal, masked bands)."""
    from sdssflow.io.fluxcal import CameraCalibration

    rng = np.random.default_rng(seed)
    out = {}
    for k, cam in enumerate(cams):
        npix = 4112 if cam[0] == "b" else 4128
        wave = np.geomspace(3600.0, 6350.0, npix) if cam[0] == "b" else np.geomspace(5650.0, 10400.0, npix)
        shape = 0.2 + (wave / wave.mean() - 1) ** 2 * (5 + seed)
        cal = (shape * (1 + 0.002 * rng.normal(size=(40, npix)))).astype(np.float32)
        mask = np.zeros(npix, np.int16)
        mask[500 + 100 * k : 540 + 100 * k] = 1
        star = shape * (1 + 0.02 * rng.normal(size=(nstar - k % 2, 1)) * np.sin(wave / (300 + seed)))
        star[0, :3] = np.nan  # a star not covering the edge: NaN left out of the limits
        meta = {"NSTARS": len(star), "NUSED": len(star) - 1, "RMS": 0.004 + 0.001 * seed}
        out[cam] = CameraCalibration(cam, wave, cal, np.ones(npix, np.float32), mask, star, meta=meta)
    return out


def test_qc_figure_reused_draws_the_same_png_as_a_new_one(tmp_path):
    """The laid-out figure redrawn with another exposure (other curves, star counts, limits
    and titles) writes the same PNG bytes as a figure made for that exposure alone."""
    from sdssflow.fluxcal import qc

    stars = [{"STATUS": "USED"}, {"STATUS": "REJECTED"}]
    first, second, two = _qc_cameras(1), _qc_cameras(7, nstar=5), _qc_cameras(3, ("b1", "r1"))
    qc._PANELS.clear()
    qc.plot_exposure(first, stars, "exposure 1", tmp_path / "first.png")
    qc.plot_exposure(two, stars, "two cameras", tmp_path / "two.png")
    qc.plot_exposure(second, stars[:1], "exposure 2", tmp_path / "reused.png")
    assert set(qc._PANELS) == {2, 4}  # one laid-out figure per camera count
    qc._PANELS.clear()
    qc.plot_exposure(second, stars[:1], "exposure 2", tmp_path / "new.png")
    qc._PANELS.clear()
    qc.plot_exposure(two, stars, "two cameras", tmp_path / "two_new.png")
    reused, new = (tmp_path / "reused.png").read_bytes(), (tmp_path / "new.png").read_bytes()
    assert reused == new and reused != (tmp_path / "first.png").read_bytes()
    assert (tmp_path / "two.png").read_bytes() == (tmp_path / "two_new.png").read_bytes()
    qc.plot_exposure({}, [], "none", tmp_path / "none.png")  # no camera: not kept
    assert 0 not in qc._PANELS and (tmp_path / "none.png").stat().st_size > 1000
