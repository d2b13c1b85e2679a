"""The demo survey: independent readers open every file, and the files agree with truth/."""

from __future__ import annotations

import csv
import functools
import http.server
import json
import threading
import urllib.request
from pathlib import Path

import fitsio
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from sdssflow import photometry as ph
from sdssflow.io import boss, spplate
from sdssflow.io import bosz as iobosz
from sdssflow.steps import StepError
from sdssflow.synth.frames import arm_sigma
from sdssflow.synth.layout import CAMERAS, demo_plan
from sdssflow.synth.stellar import StarParams, surface_flux
from sdssflow.synth.steps import survey


def _manifest(plan) -> list[Path]:
    with open(plan.manifest) as fh:
        return [plan.root / row["path"] for row in csv.DictReader(fh)]


@functools.lru_cache(maxsize=4)
def _truth(root: str):
    t = Path(root) / "truth"
    return (
        Table.read(t / "calibration.fits"),
        Table.read(t / "sky.fits"),
        Table.read(t / "stars.fits", hdu="STARS"),
        Table.read(t / "stars.fits", hdu="VISITS"),
    )


def _frames(plan):
    (plate, mjd, expid) = plan.exposures[0]
    files = spplate.find_plate_files(plan.plate_dir(plate))
    return plate, mjd, expid, files


def _cal_on(frame, cal, cam):
    row = cal[cal["camera"] == cam][0]
    n = int(row["npix"])
    return np.interp(frame.wave, row["wave"][:n], row["cal_factor"][:n])


def test_manifest_lists_every_file(small_demo):
    files = _manifest(small_demo)
    on_disk = {p for p in small_demo.root.rglob("*") if p.is_file() and p.name != "manifest.csv"}
    assert set(files) == on_disk
    names = {p.name for p in files}
    assert {
        "spPlate-4100-55500.fits",
        "calibration.fits",
        "sky.fits",
        "stars.fits",
        "README.md",
    } <= names
    assert sum(n.startswith("spFrame-") for n in names) == 4
    assert (small_demo.bosz_mirror / "wavelength_grids" / "bosz2024_wave_r10000.txt").exists()


def test_astropy_and_fitsio_open_every_fits_file(small_demo):
    fits_files = [p for p in _manifest(small_demo) if p.name.endswith((".fits", ".fits.gz"))]
    assert len(fits_files) > 20
    for path in fits_files:
        with fits.open(path, checksum=True) as hdul:
            hdul.verify("exception")
            for hdu in hdul:
                _ = hdu.data
        with fitsio.FITS(str(path)) as f:
            for hdu in f:
                hdu.read_header()
                if hdu.has_data():
                    hdu.read()


def test_specutils_reads_apogee_files(small_demo):
    from astropy.io import registry
    from specutils import Spectrum

    visits = sorted(small_demo.apogee_redux.rglob("apVisit-*.fits"))
    stars = sorted(small_demo.apogee_redux.rglob("apStar-*.fits"))
    assert len(visits) == 12 and len(stars) == 12
    fmt = registry.identify_format("read", Spectrum, str(visits[0]), None, [], {})
    assert "APOGEE apVisit" in fmt
    assert "APOGEE apStar" in registry.identify_format(
        "read", Spectrum, str(stars[0]), None, [], {}
    )
    spec = Spectrum.read(visits[0], format="APOGEE apVisit")
    assert spec.flux.size == 3 * 4096
    wave = spec.spectral_axis.to_value("Angstrom")
    assert 15100 < wave.min() and wave.max() < 17000
    assert np.all(np.diff(wave.reshape(3, 4096), axis=1) < 0)  # decreasing within chips
    star = Spectrum.read(stars[0], format="APOGEE apStar")
    assert star.flux.size == 8575
    expect = 10 ** (4.179 + 6e-6 * np.arange(8575))
    np.testing.assert_allclose(star.spectral_axis.to_value("Angstrom"), expect, rtol=1e-9)
    # the apStar stack is the same star as its visits: median flux agrees to 2 %
    hdr = fits.getheader(stars[0])
    assert hdr["SFILE1"].startswith("apVisit-") and hdr["NVISITS"] == 1
    assert np.nanmedian(star.flux.value) == pytest.approx(
        np.nanmedian(
            Spectrum.read(
                [v for v in visits if v.name == hdr["SFILE1"]][0], format="APOGEE apVisit"
            ).flux.value
        ),
        rel=0.02,
    )


def test_traceset_wavelength_equals_spcframe_loglam(small_demo):
    _, _, expid, files = _frames(small_demo)
    for cam in CAMERAS:
        frame = boss.read_spframe(files["spFrame"][(cam, expid)])
        cframe = boss.read_spcframe(files["spCFrame"][(cam, expid)])
        assert frame.loglam.shape == cframe.loglam.shape == (500, 4112 if cam[0] == "b" else 4128)
        assert np.max(np.abs(frame.loglam - cframe.loglam)) < 1e-6
        assert np.all(np.diff(frame.loglam, axis=1) > 0)
    with fitsio.FITS(str(files["spCFrame"][("b1", expid)])) as f:
        assert f[0].read().shape == (500, 4128)  # padded like spcoadd_v5


def test_sky_fibres_reproduce_injected_sky(small_demo):
    """(spFrame flux + sky) x truth cal_factor = injected sky within the noise (ivar)."""
    cal, sky, _, _ = _truth(str(small_demo.root))
    _, _, expid, files = _frames(small_demo)
    for cam in CAMERAS:
        frame = boss.read_spframe(files["spFrame"][(cam, expid)])
        cfac = _cal_on(frame, cal, cam)
        rows = np.flatnonzero(frame.plugmap["OBJTYPE"] == "SKY")
        assert rows.size == 40
        total = (frame.flux + frame.sky)[rows] * cfac[rows]
        injected = frame.sky[rows] * cfac[rows]
        good = frame.ivar[rows] > 0
        chi = ((total - injected) * np.sqrt(frame.ivar[rows]) / cfac[rows])[good]
        assert abs(chi.mean()) < 0.02 and 0.97 < chi.std() < 1.03
        # the injected sky's line flux in the [O I] 5577 window matches the truth table (blue)
        if cam[0] == "b":
            truth_rows = sky[(sky["camera"] == cam) & (sky["expid"] == expid)]
            for r in rows[:5]:
                fib = frame.plugmap["FIBERID"][r]
                expect = truth_rows[truth_rows["fiberid"] == fib]["OI5579"][0]
                w = frame.wave[r]
                f = frame.sky[r] * cfac[r]
                side = ((w > 5566.89) & (w < 5571.89)) | ((w > 5585.89) & (w < 5590.89))
                cont = np.polyval(np.polyfit(w[side], f[side], 1), w)
                win = (w >= 5572.89) & (w <= 5584.89)
                got = np.sum((f - cont)[win] * np.gradient(w)[win])
                assert got == pytest.approx(expect, rel=0.02)


def test_standard_stars_match_their_model(small_demo):
    """spCFrame flux of SPECTROPHOTO_STD fibres = flux_scale x toy model (truth Teff, RV) within noise."""
    _, _, stars, _ = _truth(str(small_demo.root))
    _, mjd, expid, files = _frames(small_demo)
    by_id = {int(s["sdss_id"]): s for s in stars}
    for cam in ("b1", "r2"):
        cframe = boss.read_spcframe(files["spCFrame"][(cam, expid)])
        rows = np.flatnonzero(cframe.plugmap["OBJTYPE"] == "SPECTROPHOTO_STD")
        assert rows.size == 8
        for r in rows[:3]:
            s = by_id[int(cframe.plugmap["SDSS_ID"][r])]
            v = float(s["v_rad"][list(s["mjd"]).index(mjd)])
            model, _ = surface_flux(
                cframe.wave[r],
                StarParams(s["teff"], s["logg"], s["fe_h"]),
                sigma_inst=arm_sigma(cam[0]),
                v_rad=v,
            )
            model *= s["flux_scale"]
            good = (cframe.ivar[r] > 0) & (cframe.wave[r] > 3800) & (cframe.wave[r] < 10000)
            chi = ((cframe.flux[r] - model) * np.sqrt(cframe.ivar[r]))[good]
            assert abs(np.mean(chi)) < 0.1 and 0.9 < np.std(chi) < 1.1
            # a wrong RV (+30 km/s) is clearly worse: chi2 grows by far more than its noise
            wrong, _ = surface_flux(
                cframe.wave[r],
                StarParams(s["teff"], s["logg"], s["fe_h"]),
                sigma_inst=arm_sigma(cam[0]),
                v_rad=v + 30,
            )
            chi_wrong = ((cframe.flux[r] - wrong * s["flux_scale"]) * np.sqrt(cframe.ivar[r]))[good]
            if cam[0] == "b":  # the blue arm holds the strong lines
                assert np.sum(chi_wrong**2) - np.sum(chi**2) > 10 * np.sqrt(2 * chi.size)


def test_signal_to_noise_of_stars(small_demo):
    _, _, expid, files = _frames(small_demo)
    for cam in ("b1", "r1"):
        frame = boss.read_spframe(files["spFrame"][(cam, expid)])
        snr = np.median(frame.flux * np.sqrt(frame.ivar), axis=1)
        std = snr[frame.plugmap["OBJTYPE"] == "SPECTROPHOTO_STD"]
        sci = snr[frame.plugmap["OBJTYPE"] == "SCIENCE"]
        assert np.all(std > 20), std
        assert np.mean(sci > 20) > 0.5


def test_calibration_truth_matches_spfluxcalib(small_demo):
    cal, _, _, _ = _truth(str(small_demo.root))
    _, _, expid, files = _frames(small_demo)
    assert len(cal) == 4 and set(cal["camera"]) == set(CAMERAS)
    for cam in CAMERAS:
        fcal, hdr = boss.read_spfluxcalib(files["spFluxcalib"][(cam, expid)])
        frame = boss.read_spframe(files["spFrame"][(cam, expid)])
        rfac = 1e-4 / np.gradient(frame.loglam, axis=1)
        cfac = _cal_on(frame, cal, cam)
        ratio = (rfac / fcal)[:, 5:-5] / cfac[:, 5:-5]
        assert np.max(np.abs(ratio - 1)) < 1e-3
        assert hdr["WAVEMIN"] < 10 ** frame.loglam[:, 0].max()
        # spCFrame = spFrame x R / fluxcalib (pixels not flagged BADFLUXFACTOR)
        cframe = boss.read_spcframe(files["spCFrame"][(cam, expid)])
        ok = ~boss.decode_mask(cframe.mask, ["BADFLUXFACTOR"]) & (frame.ivar > 0)
        expect = frame.flux * rfac / fcal
        np.testing.assert_allclose(
            cframe.flux[ok], expect[ok], rtol=2e-3, atol=1e-3 * np.abs(expect).max()
        )


def test_plugmap_targets_and_stars_agree(small_demo):
    _, _, stars, visits = _truth(str(small_demo.root))
    targets = Table.read(small_demo.root / "targets.fits")
    plate, mjd, expid, files = _frames(small_demo)
    plug = np.concatenate(
        [np.asarray(boss.read_spframe(files["spFrame"][(c, expid)]).plugmap) for c in ("b1", "b2")]
    )
    assert list(plug["FIBERID"]) == list(range(1, 1001))
    ids = set(plug["SDSS_ID"][plug["SDSS_ID"] > 0])
    assert ids == set(stars["sdss_id"])  # 40 science + 16 standards, all on this plate
    assert set(targets["sdss_id"][targets["sdss_id"] > 0]) == ids
    assert np.all(plug["CATALOGID"][plug["SDSS_ID"] > 0] > 0)
    assert (plug["OBJTYPE"] == "SKY").sum() == 80
    for s in stars:
        assert s["n_visits"] == 1 and s["mjd"][0] == mjd and -125 < s["v_rad"][0] < 125
    assert len(visits[visits["instrument"] == "apogee"]) == 12
    std = stars[stars["kind"] == "std"]
    assert np.all((std["teff"] > 5800) & (std["teff"] < 7000))


def test_photometry_csv_is_consistent_with_spectra(small_demo):
    _, _, stars, _ = _truth(str(small_demo.root))
    cat = Table.read(small_demo.photometry, format="ascii.csv")
    assert cat.colnames[:10] == [
        "dstDegrees",
        "objid",
        "RA",
        "Dec",
        "plx",
        "dplx",
        "pmra",
        "dpmra",
        "pmdec",
        "dpmdec",
    ]
    by_id = {int(s["sdss_id"]): s for s in stars}
    assert len(cat) == len(stars)
    n_sentinel = 0
    for row in cat:
        s = by_id[int(row["sdss_id"])]
        for col, filt in (("Gaia", "gaia_g"), ("RP", "gaia_rp"), ("r", "ps1_r"), ("H", "2mass_h")):
            if row[col] >= 99:
                n_sentinel += 1
                continue
            assert row[col] + ph.VEGA_TO_AB.get(filt, 0.0) == pytest.approx(
                s[f"mag_{filt}"], abs=2e-4
            )
        n_sentinel += sum(row[c] >= 99 for c in ("BP", "z", "K", "J"))
    assert n_sentinel > 0  # some missing bands (99.9)
    # independent check: the synthetic r magnitude of a standard from its model spectrum
    s = stars[stars["kind"] == "std"][0]
    wave = np.exp(np.arange(np.log(3000.0), np.log(11000.0), 2e-5))
    flux, _ = surface_flux(
        wave, StarParams(s["teff"], s["logg"], s["fe_h"]), sigma_inst=wave.mean() / 1e4 / 2.35
    )
    mag = ph.ab_magnitude(wave, flux * s["flux_scale"], "ps1_r", flux_scale=1e-17)
    assert mag == pytest.approx(s["mag_ps1_r"], abs=5e-3)


def test_bosz_mirror_layout_and_content(small_demo):
    base = small_demo.bosz_mirror
    wave = iobosz.read_wave_grid(base / "wavelength_grids" / "bosz2024_wave_r10000.txt")
    assert wave.size == 150000
    np.testing.assert_allclose(
        wave[[0, 1, -1]],
        np.exp(np.log(500) + np.array([0, 1, 149999]) * np.log(640) / 150000),
        rtol=1e-7,
    )
    spec = iobosz.load_subgrid_spec(base / "demo_subgrid.yaml")
    models = iobosz.subgrid_models(spec)
    assert len(models) == 96
    for m in models:
        assert (base / m.relpath).exists(), m.relpath
    _, _, stars, _ = _truth(str(small_demo.root))
    std = stars[stars["kind"] == "std"]
    teffs = sorted({m.teff for m in models})
    assert teffs[0] <= std["teff"].min() and std["teff"].max() <= teffs[-1]
    flux, cont = iobosz.read_resampled(base / models[0].relpath, nrows=wave.size)
    vis = (wave > 4000) & (wave < 9000)
    assert np.all(cont[vis] > 0) and np.all(flux[vis] <= cont[vis] * 1.001)
    assert 0.5 < np.median(flux[vis] / cont[vis]) < 1.0


def test_bosz_mirror_is_servable_over_http(small_demo):
    base = small_demo.bosz_mirror
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(base))

    class Quiet(handler.func):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(base))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        rel = iobosz.subgrid_models(iobosz.load_subgrid_spec(base / "demo_subgrid.yaml"))[0].relpath
        url = f"http://127.0.0.1:{server.server_address[1]}/{rel}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read()
        assert body == (base / rel).read_bytes()
    finally:
        server.shutdown()
        server.server_close()


def test_spplate_exposures(small_demo):
    plate, mjd, expid, files = _frames(small_demo)
    table = spplate.read_spplate_exposures(files["spPlate"][mjd])
    assert sorted(table["camera"]) == sorted(CAMERAS)
    assert set(table["expid"]) == {expid}
    with fits.open(files["spPlate"][mjd]) as h:
        assert h[0].data.shape == (1000, 4648) and h[0].header["COEFF1"] == 1e-4


def test_frame_headers(small_demo):
    _, mjd, expid, files = _frames(small_demo)
    hdr = boss.read_spframe(files["spFrame"][("r2", expid)]).header
    for key in (
        "PLATEID",
        "MJD",
        "EXPOSURE",
        "CAMERAS",
        "FLAVOR",
        "EXPTIME",
        "TAI",
        "TAI-BEG",
        "TAI-END",
        "DATE-OBS",
        "RA",
        "DEC",
        "ALT",
        "AZ",
        "AIRMASS",
        "SEEING50",
        "AIRTEMP",
        "HUMIDITY",
        "WINDS",
    ):
        assert key in hdr, key
    assert hdr["CAMERAS"] == "r2" and hdr["MJD"] == mjd and hdr["EXPOSURE"] == expid
    assert hdr["TAI-END"] - hdr["TAI-BEG"] == pytest.approx(hdr["EXPTIME"])
    assert mjd * 86400 < hdr["TAI-BEG"] < (mjd + 1) * 86400
    assert hdr["AIRMASS"] == pytest.approx(1 / np.sin(np.radians(hdr["ALT"])), rel=1e-4)


def test_step_errors(tmp_path):
    with pytest.raises(StepError, match="--settings is not valid JSON"):
        survey.main(["--settings", "{oops", "--manifest", str(tmp_path / "manifest.csv")])
    with pytest.raises(StepError, match="is not <demo root>/manifest.csv"):
        survey.main(
            [
                "--settings",
                f'{{"root": "{tmp_path}/a"}}',
                "--manifest",
                str(tmp_path / "b" / "manifest.csv"),
            ]
        )
    with pytest.raises(ValueError, match="unknown setting"):
        survey.main(["--settings", '{"n_plate": 1}', "--manifest", str(tmp_path / "manifest.csv")])


def test_plan_matches_generated_tree(small_demo):
    plan = demo_plan(dict(small_demo.settings))
    assert plan.exposures == small_demo.exposures
    for plate, _mjd, expid in plan.exposures:
        for cam in CAMERAS:
            # the v5 tree gzips spFrame and spFluxcalib, not spCFrame (reference/skymodelling.md)
            assert (plan.plate_dir(plate) / f"spFrame-{cam}-{expid:08d}.fits.gz").exists()
            assert (plan.plate_dir(plate) / f"spFluxcalib-{cam}-{expid:08d}.fits.gz").exists()
            assert (plan.plate_dir(plate) / f"spCFrame-{cam}-{expid:08d}.fits").exists()


def test_read_truth_helpers(small_demo, tmp_path):
    from sdssflow.synth.truth import read_truth, truth_cal_factor

    t = read_truth(small_demo.root)
    assert set(t) == {"calibration", "sky", "stars", "visits"}
    _, _, expid, files = _frames(small_demo)
    frame = boss.read_spframe(files["spFrame"][("r1", expid)])
    cf = truth_cal_factor(t["calibration"], expid, "r1", frame.wave)
    np.testing.assert_allclose(cf, _cal_on(frame, t["calibration"], "r1"))
    with pytest.raises(KeyError, match="no truth calibration for exposure 1 camera r1"):
        truth_cal_factor(t["calibration"], 1, "r1", frame.wave)
    with pytest.raises(FileNotFoundError, match="calibration.fits: demo truth file not found"):
        read_truth(tmp_path)


def test_spplate_coadd_of_a_standard_matches_its_model(small_demo):
    _, _, stars, _ = _truth(str(small_demo.root))
    _, mjd, _, files = _frames(small_demo)
    with fits.open(files["spPlate"][mjd]) as h:
        flux, ivar = h[0].data.astype(float), h[1].data.astype(float)
        plug = Table(h[5].data)
        loglam = h[0].header["COEFF0"] + h[0].header["COEFF1"] * np.arange(flux.shape[1])
    row = int(np.flatnonzero(np.char.strip(plug["OBJTYPE"].astype(str)) == "SPECTROPHOTO_STD")[0])
    s = stars[stars["sdss_id"] == plug["SDSS_ID"][row]][0]
    wave = 10**loglam
    v = float(s["v_rad"][0])
    model = (
        np.where(
            wave < 6000,
            surface_flux(
                wave,
                StarParams(s["teff"], s["logg"], s["fe_h"]),
                sigma_inst=arm_sigma("b"),
                v_rad=v,
            )[0],
            surface_flux(
                wave,
                StarParams(s["teff"], s["logg"], s["fe_h"]),
                sigma_inst=arm_sigma("r"),
                v_rad=v,
            )[0],
        )
        * s["flux_scale"]
    )
    good = (ivar[row] > 0) & (wave > 4000) & (wave < 9500)
    # linear interpolation onto the coadd grid smooths the noise: chi is below 1, unbiased
    chi = ((flux[row] - model) * np.sqrt(ivar[row]))[good]
    assert abs(np.median(flux[row][good] / model[good]) - 1) < 0.01
    assert abs(np.mean(chi)) < 0.1 and 0.5 < np.std(chi) < 1.1


def test_survey_files_are_deterministic(tmp_path, monkeypatch):
    """Two generations with the same settings hold identical data (headers differ only by DATE)."""
    from sdssflow.synth import bosz_mirror

    models = bosz_mirror.subgrid_models()[:2]
    monkeypatch.setattr(
        survey, "write_bosz_mirror", lambda base: bosz_mirror.write_bosz_mirror(base, models)
    )
    tiny = {
        "n_plates": 1,
        "n_mjds": 1,
        "n_exposures": 1,
        "n_sky_per_spectrograph": 4,
        "n_std_per_spectrograph": 1,
        "n_science_per_spectrograph": 1,
        "n_apogee_sources": 1,
    }
    roots = []
    for name in ("a", "b"):
        root = tmp_path / name
        survey.main(
            [
                "--settings",
                json.dumps({**tiny, "root": str(root)}),
                "--manifest",
                str(root / "manifest.csv"),
            ]
        )
        roots.append(root)
    rel = "dr17/eboss/spectro/redux/v5_7_0/4100/spFrame-r2-00120000.fits.gz"
    for ext in range(9):
        a, b = fitsio.read(str(roots[0] / rel), ext=ext), fitsio.read(str(roots[1] / rel), ext=ext)
        np.testing.assert_array_equal(a, b)
    for name in ("truth/stars.fits", "truth/sky.fits", "truth/calibration.fits", "targets.fits"):
        ta, tb = Table.read(roots[0] / name), Table.read(roots[1] / name)
        assert ta.colnames == tb.colnames
        for col in ta.colnames:
            np.testing.assert_array_equal(np.asarray(ta[col]), np.asarray(tb[col]))
    assert (roots[0] / "photometry" / "refcat2.csv").read_text() == (
        roots[1] / "photometry" / "refcat2.csv"
    ).read_text()
