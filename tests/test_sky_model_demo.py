"""sky_spectra and sky_model of the default demo run, and `sdssflow sky predict` on its model.

These read results/v1 and resources/demo as written by `snakemake --cores 2` with the default
config (CI runs the demo before the tests); they skip when the run is absent. Another run can be
checked with SDSSFLOW_RUN_DIR (its working directory) and SDSSFLOW_DEMO_ROOT (its demo.root).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from sdssflow import cli
from sdssflow.io.sky import read_product
from sdssflow.sky.fitted_model import read_model
from sdssflow.sky.lines import read_line_list
from sdssflow.sky.magnitudes import broadband_magnitudes
from sdssflow.sky.model_terms import TERMS
from sdssflow.sky.sky_spectra_grid import MASK_BITS, read_sky_spectra
from sdssflow.synth.layout import demo_plan

ROOT = Path(os.environ.get("SDSSFLOW_RUN_DIR", Path(__file__).resolve().parents[1]))
PLAN = demo_plan({"root": os.environ.get("SDSSFLOW_DEMO_ROOT", str(ROOT / "resources" / "demo"))})
SKY = ROOT / "results" / "v1" / "sky"
SPECTRA = SKY / "sky_spectra" / "sky_spectra.fits"
MODEL = SKY / "sky_model.fits"

pytestmark = pytest.mark.skipif(
    not (PLAN.manifest.exists() and MODEL.exists() and SPECTRA.exists()),
    reason="default demo run not done (snakemake --cores 2)",
)


def test_sky_spectra_layout_readers_and_truth():
    import fitsio

    with fits.open(SPECTRA) as hdul:
        assert [h.name for h in hdul[1:]] == ["WAVELENGTH", "FLUX", "IVAR", "MASK", "DISP", "METADATA"]
        assert hdul["FLUX"].header["BUNIT"] == "1e-17 erg/(s cm2 Angstrom arcsec2)"
    wave, arrays, meta = read_sky_spectra([SPECTRA])
    flux_fitsio = fitsio.read(str(SPECTRA), ext="FLUX")
    meta_fitsio = fitsio.read(str(SPECTRA), ext="METADATA")
    np.testing.assert_array_equal(flux_fitsio, arrays["FLUX"])
    assert len(meta_fitsio) == len(meta) == arrays["FLUX"].shape[0]
    # one row per good (exposure, spectrograph): every selected demo exposure (config/flags.csv
    # excludes some) x 2 spectrographs
    good = Table.read(SKY / "mean_sky_meta_good.fits")
    keys = {(int(e), str(c)[1]) for e, c in zip(good["EXPID"], good["CAMERA"])}
    truth = Table.read(PLAN.truth / "sky.fits")
    selected = set()
    for path in (SKY.parent / "selection" / "sky").glob("selection-sky-*.csv"):
        selected |= set(pd.read_csv(path, comment="#")["exposure"].astype(int))
    injected = {(int(e), str(c)[1]) for e, c in zip(truth["expid"], truth["camera"]) if int(e) in selected}
    assert selected and len(meta) == len(keys) == len(injected)
    assert {(int(e), str(s)) for e, s in zip(meta["EXPID"], meta["SPECTROGRAPH"])} == injected
    assert set(meta["CAMERAS"]) <= {"b1 r1", "b2 r2", "b1", "r1", "b2", "r2"}
    assert np.all(np.diff(np.log10(wave)) == pytest.approx(5e-5, rel=1e-6))
    assert np.all(meta["FIBER_AREA"] == pytest.approx(np.pi))  # 2" BOSS fibres
    # both arms overlap near the dichroic, nothing is covered outside 3550-10400 A
    both = (arrays["MASK"] >> MASK_BITS["BOTHARMS"]) & 1
    assert np.any(both[:, (wave > 5900) & (wave < 6200)])
    # blue of the overlap: exactly the b camera's mean spectrum / pi; at 5000 A close to the injected
    # continuum (truth/sky.fits, per fibre; the ivar-weighted mean of Poisson-noisy fibres is a few % low)
    sel = (wave > 4985) & (wave < 5015)
    for i, row in enumerate(meta[:4]):
        plate = int(row["PLATE"])
        images, tables, _ = read_product(SKY / str(plate) / f"mean-{plate}.fits")
        m = tables["META"]
        j = int(np.flatnonzero((m["EXPID"] == row["EXPID"]) & (m["CAMERA"] == f"b{row['SPECTROGRAPH']}"))[0])
        blue = (wave < 5600) & (images["IVAR"][j] > 0)
        np.testing.assert_allclose(arrays["FLUX"][i, blue] * np.pi, images["FLUX"][j, blue], rtol=1e-5)
        t = truth[(truth["expid"] == row["EXPID"]) & (truth["camera"] == f"b{row['SPECTROGRAPH']}")]
        obs = np.median(arrays["FLUX"][i, sel])
        assert obs == pytest.approx(np.mean(t["continuum_5000"]) / np.pi, rel=0.1)


def test_sky_model_of_the_demo_degrades_to_few_terms():
    m = read_model(MODEL)
    entries = read_line_list()
    assert list(m.targets["NAME"]) == [e.name for e in entries]
    images, tables, header = read_product(MODEL)
    assert list(tables["TERMS"]["NAME"]) == list(TERMS)
    _, arrays, meta = read_sky_spectra([SPECTRA])
    # nights and spectra of the run's own sky_spectra (a demo night is one MJD at one site)
    assert header["CRITERI"] == "BIC" and header["NNIGHT"] == np.unique(meta["MJD"]).size >= 2
    n = int(header["NSPEC"])
    assert n == len(meta)
    for row in m.targets:
        terms = row["TERMS"].split()
        assert terms and terms[0] == "airglow"
        assert len(terms) <= n // 3  # the BIC fallback: at least 3 spectra per term on a few nights
        assert np.isfinite(row["CV_RMS"]) and np.isfinite(row["BASE_CV_RMS"])
        assert row["COV"].size == len(TERMS) ** 2
    # the spectral fit's terms are selected ones, jointly fittable: every pixel some spectrum covers
    # has coefficients (NaN only off the spectra, at the grid's ends)
    assert m.spec_terms[0] == "airglow" and len(m.spec_terms) <= n // 3
    assert set(m.spec_terms) <= {t for s in m.targets["TERMS"] for t in s.split()}
    covered = np.sum(arrays["IVAR"] > 0, axis=0) > len(m.spec_terms) + 1
    assert covered.mean() > 0.9 and np.all(np.isfinite(m.coeff[:, covered]))
    assert m.coeff.shape == (len(m.spec_terms), m.wave.size)
    report = SKY / "sky_model_report"
    assert {p.stem for p in report.glob("*.png")} == {e.name for e in entries}
    summary = Table.read(report / "summary.csv", format="ascii.csv")
    assert len(summary) == len(entries) and "BASE_CV_RMS" in summary.colnames


def test_sky_predict_cli_magnitudes_match_line_sum(tmp_path, capsys):
    _, arrays, meta = read_sky_spectra([SPECTRA])
    row = meta[0]
    out = tmp_path / "pred.fits"
    from astropy.time import Time

    mjd_utc = Time(float(row["MJD_MID"]), format="mjd", scale="tai").utc.mjd  # MJD_MID is TAI, --mjd UTC
    argv = ["sky", "predict", "--model", str(MODEL), "--mjd", str(float(mjd_utc)), "--ra", str(float(row["RA"])),
            "--dec", str(float(row["DEC"])), "--filters", "sdss_g,sdss_r,sdss_i", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = dict(line.split() for line in capsys.readouterr().out.strip().splitlines())
    images, tables, _ = read_product(out)
    flux = images["FLUX"].astype(float)
    good = np.isfinite(flux)
    mags = broadband_magnitudes(np.broadcast_to(images["WAVELENGTH"], flux.shape).copy(), np.where(good, flux, 0.0),
                                good.astype(float), np.ones(1), ["sdss_g", "sdss_r", "sdss_i"])
    wave = np.broadcast_to(images["WAVELENGTH"], (1, flux.shape[1])).copy()
    observed = broadband_magnitudes(wave, arrays["FLUX"][:1].astype(float), arrays["IVAR"][:1].astype(float), np.ones(1),
                                    ["sdss_g", "sdss_r", "sdss_i"])
    assert np.all(good[0, (images["WAVELENGTH"] > 3700) & (images["WAVELENGTH"] < 10000)])  # g, r, i fully predicted
    for f in ("sdss_g", "sdss_r", "sdss_i"):
        assert np.isfinite(float(printed[f])) and 15 < float(printed[f]) < 25  # AB mag/arcsec2 of a night sky
        assert float(printed[f]) == pytest.approx(float(mags[f"MAG_{f}"][0]), abs=1e-3)
        # in-sample, the predicted sky is the observed one of that exposure within 0.15 mag
        assert float(printed[f]) == pytest.approx(float(observed[f"MAG_{f}"][0]), abs=0.15)
    # the conditions recomputed at the plate centre are the metadata's (first sky fibre, < 1.5 deg away)
    cond = tables["CONDITIONS"]
    for c, tol in (("AIRMASS_FIB", 0.05), ("MOON_ALT", 1e-3), ("ZODI", 0.05), ("SOLARFLUX", 1e-6), ("SOLARFLUX_81", 1e-6)):
        assert cond[c][0] == pytest.approx(float(row[c]), rel=tol, abs=1e-3)
    # in-sample: the prediction follows the observed continuum of that exposure
    sel = (images["WAVELENGTH"] > 4985) & (images["WAVELENGTH"] < 5015)
    assert np.nanmedian(flux[0, sel]) == pytest.approx(np.median(arrays["FLUX"][0, sel]), rel=0.2)


def test_sky_predict_cli_errors(tmp_path, capsys):
    out = str(tmp_path / "p.fits")
    assert cli.main(["sky", "predict", "--model", str(MODEL), "--mjd", "55500.2", "--out", out]) == 2
    assert "give all of --mjd, --ra and --dec" in capsys.readouterr().err
    assert cli.main(["sky", "predict", "--model", str(MODEL), "--mjd", "55500.2", "--ra", "1", "--dec", "1",
                     "--observatory", "lco", "--out", out]) == 2
    assert "knows only" in capsys.readouterr().err
    assert cli.main(["sky", "predict", "--model", str(MODEL), "--set", "ZODI=1", "--out", out]) == 2
    assert "conditions missing" in capsys.readouterr().err
