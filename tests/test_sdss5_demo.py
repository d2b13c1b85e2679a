"""The SDSS-V demo tree (demo.era sdss5): DR19 paths, formats read by specutils' own loaders.

A tiny sdss5 survey (two fields: one at APO, one at LCO; one MJD and one exposure each) is
generated once for the module (about 35 s of CPU).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import fitsio
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from sdssflow.paths import strip_compression
from sdssflow.synth.layout import demo_plan

pytestmark = pytest.mark.slow

TINY5 = {"era": "sdss5", "n_plates": 2, "n_mjds": 1, "n_exposures": 1, "first_plate": 15000,
         "first_mjd": 60000, "n_sky_per_spectrograph": 10, "n_std_per_spectrograph": 2,
         "n_science_per_spectrograph": 4, "n_apogee_sources": 4}


@pytest.fixture(scope="module")
def demo5(tmp_path_factory):
    from sdssflow.synth.steps import survey

    root = tmp_path_factory.mktemp("demo5")
    settings = {**TINY5, "root": str(root)}
    survey.main(["--settings", json.dumps(settings), "--manifest", str(root / "manifest.csv")])
    return demo_plan(settings)


def _files(plan, prefix):
    rows = (plan.root / "manifest.csv").read_text().splitlines()[1:]
    return [plan.root / r.rsplit(",", 1)[0] for r in rows if Path(r).name.startswith(prefix)]


def _kind(path: Path) -> str:
    return "specLite" if "/spectra/lite/" in str(path) else (
        "specFull" if "/spectra/full/" in str(path) else path.name.split("-")[0])


def _keywords(path: Path, plan) -> dict:
    """sdss-access dr19 keywords of a demo file, from the file's own header."""
    kind = _kind(path)
    if kind == "confSummary":
        from sdssflow.io.confsummary import read_confsummary

        h, _ = read_confsummary(path)
        return {"obs": h["observatory"].lower(), "configid": int(h["configuration_id"])}
    h = fitsio.read_header(str(path), 0)
    if kind in ("spFrame", "spCFrame", "spFluxcalib"):
        cam = h["CAMERAS"].strip()
        return {"run2d": plan.run2d, "fieldid": h["FIELDID"], "mjd": h["MJD"], "br": cam[0],
                "id": cam[1:], "frame": h["EXPOSURE"]}
    if kind in ("spField", "spfibermap"):
        if kind == "spfibermap":
            h = fitsio.read_header(str(path), 1)
            return {"run2d": plan.run2d, "fieldid": h["FIELD_ID"], "mjd": h["MJD"]}
        return {"run2d": plan.run2d, "fieldid": h["FIELDID"], "mjd": h["MJD"]}
    if kind in ("specFull", "specLite"):
        return {"run2d": h["RUN2D"].strip(), "fieldid": h["FIELDID"], "mjd": h["MJD"],
                "catalogid": h["CATALOGID"]}
    if kind == "apVisit":
        return {"apred": plan.apred, "telescope": h["TELESCOP"].strip(), "field": h["FIELD"].strip(),
                "plate": h["PLATE"].strip(), "mjd": h["MJD5"], "fiber": h["FIBERID"]}
    import astropy.units as u
    from astropy_healpix import HEALPix

    hp = int(HEALPix(nside=128, order="ring").lonlat_to_healpix(h["RA"] * u.deg, h["DEC"] * u.deg))
    return {"apred": h["APRED"].strip(), "telescope": h["TELESCOP"].strip(), "healpix": hp,
            "obj": h["OBJID"].strip()}


@pytest.fixture
def clean_environ():
    """Put os.environ back after a test that plants raw sdss-access trees (they set roots)."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_every_sdss5_input_is_at_its_dr19_sdss_access_path(demo5, clean_environ):
    from sdss_access.path import Path as AccessPath

    os.environ["SAS_BASE_DIR"] = str(demo5.root.absolute())
    os.environ["SDSSCORE_DIR"] = str(demo5.sdsscore.absolute())
    access = AccessPath(release="dr19")
    kinds = ("spField", "spFrame", "spCFrame", "spFluxcalib", "spfibermap", "spec", "apVisit",
             "apStar", "confSummary")
    files = [f for k in kinds for f in _files(demo5, k)]
    seen = set()
    for f in files:
        kind = _kind(f)
        seen.add(kind)
        expected = access.full(kind, **_keywords(f, demo5))
        assert str(f.absolute()) in (expected, strip_compression(expected)), kind  # v6 gzips frames
    assert seen == {"spField", "spFrame", "spCFrame", "spFluxcalib", "spfibermap", "specFull",
                    "specLite", "apVisit", "apStar", "confSummary"}


def test_both_observatories_with_their_cameras(demo5):
    by_obs = {}
    for f in _files(demo5, "spFrame"):
        h = fitsio.read_header(str(f), 0)
        by_obs.setdefault(h["OBSERVAT"].strip(), set()).add(h["CAMERAS"].strip())
    assert by_obs == {"APO": {"b1", "r1"}, "LCO": {"b2", "r2"}}
    tels = {fitsio.read_header(str(f), 0)["TELESCOP"].strip() for f in _files(demo5, "apVisit")}
    assert tels == {"apo25m", "lco25m"}


def _read(path, fmt):
    from specutils import Spectrum

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Spectrum.read(path, format=fmt)


@pytest.mark.parametrize("kind", ["full", "lite"])
def test_specutils_sdss_v_spec_loader_reads_spec_files(demo5, kind):
    from specutils.io.default_loaders.sdss_v import spec_sdss5_identify

    files = [f for f in _files(demo5, "spec-") if f"/spectra/{kind}/" in str(f)]
    assert files
    for f in files:
        assert spec_sdss5_identify("read", str(f))
        sp = _read(str(f), "SDSS-V spec")
        coadd = fitsio.read(str(f), ext="COADD")
        np.testing.assert_allclose(sp.spectral_axis.value, 10.0 ** coadd["LOGLAM"].astype(float), rtol=1e-6)
        np.testing.assert_allclose(sp.flux.value, coadd["FLUX"])
        # the DR19 grid: 4648 pixels from log10 lambda 3.5523 in steps of 1e-4
        assert sp.spectral_axis.size == 4648
        assert sp.spectral_axis[0].value == pytest.approx(3566.97, abs=0.01)


def test_specutils_apvisit_and_apstar_loaders(demo5):
    from specutils.io.default_loaders.sdss_v import apStar_identify, apVisit_identify

    for f in _files(demo5, "apVisit"):
        assert apVisit_identify("read", str(f))
        sp = _read(str(f), "SDSS-V apVisit")
        w = sp.spectral_axis.value
        assert 15100 < np.nanmin(w) and np.nanmax(w) < 17000
    for f in _files(demo5, "apStar"):
        assert apStar_identify("read", str(f))
        sp = _read(str(f), "SDSS-V apStar")
        assert sp.spectral_axis[0].value == pytest.approx(10**4.179, rel=1e-6)


def test_v6_reader_coadd_is_the_exposures_inverse_variance_mean(demo5):
    from sdssflow.io.specfile import read_specfile

    full = [f for f in _files(demo5, "spec-") if "/spectra/full/" in str(f)]
    targets = Table.read(demo5.root / "targets.fits")
    for f in full:
        spec = read_specfile(f)
        assert spec.catalogid == int(f.stem.split("-")[-1])
        assert spec.plate == int(f.stem.split("-")[1]) and spec.mjd == int(f.stem.split("-")[2])
        assert spec.mjd in (60000, 60010)
        obs = spec.header["OBSERVAT"].strip()
        assert {e.camera for e in spec.exposures} == {"b1r1" if obs == "APO" else "b2r2"}
        assert len(spec.exposures) == 1  # one exposure per field-MJD in this demo
        exp = spec.exposures[0]
        good = exp.columns["ivar"] > 0
        np.testing.assert_allclose(spec.coadd["flux"][good], exp.columns["flux"][good], rtol=2e-6, atol=1e-5)
        row = targets[targets["catalogid"] == spec.catalogid]
        assert len(row) >= 1 and int(row["sdss_id"][0]) == int(spec.specobj["SDSS_ID"])
        lite = read_specfile(Path(str(f).replace("/spectra/full/", "/spectra/lite/")))
        assert not lite.is_full and lite.catalogid == spec.catalogid
        np.testing.assert_array_equal(lite.coadd["flux"], spec.coadd["flux"])


def test_confsummary_holds_the_fps_targets(demo5):
    from sdssflow.io.confsummary import read_confsummary

    targets = Table.read(demo5.root / "targets.fits")
    files = _files(demo5, "confSummary")
    assert len(files) == 2
    observatories = set()
    for f in files:
        h, fm = read_confsummary(f)
        obs = h["observatory"]
        observatories.add(obs)
        boss = fm["fiberType"] == "BOSS"
        assert sorted(fm["fiberId"][boss]) == list(range(1, 501))
        assert set(fm["spectrographId"][boss]) == {1 if obs == "APO" else 2}
        field = int(h["field_id"])
        mine = targets[targets["plate"] == field]
        stars = boss & (fm["catalogid"] > 0)
        assert set(fm["catalogid"][stars]) == set(mine["catalogid"][mine["catalogid"] > 0])
        sky = boss & (fm["category"] == "sky_boss")
        assert sky.sum() == int((mine["objtype"] == "SKY").sum())
        std = fm["category"] == "standard_boss"
        assert set(fm["firstcarton"][std]) == {"ops_std_boss"}
        # the spfibermap table of this configuration carries the same rows
        sp = fitsio.read(str(next(iter(_files(demo5, f"spfibermap-{field:06d}")))), ext=f"confSummary-{h['configuration_id']}.par")
        np.testing.assert_array_equal(sp["CATALOGID"], fm["catalogid"])
    assert observatories == {"APO", "LCO"}
    assert fits.getheader(_files(demo5, "spField")[0])["VERS2D"] == "v6_1_3"


def test_exposure_catalog_has_configurations_and_fps_targets(demo5, tmp_path):
    from sdssflow.catalog.steps import exposure_catalog
    from sdssflow.io.catalog import list_nights, read_exposures, read_fibers
    from sdssflow.io.confsummary import read_confsummary

    out = tmp_path / "catalog.h5"
    exposure_catalog.main(["--boss-dir", str(demo5.boss_redux / demo5.run2d), "--apogee-dir",
                           str(demo5.apogee_redux / demo5.apred), "--out", str(out)])
    exposures = read_exposures(out)
    assert set(exposures["observatory"]) == {"apo", "lco"}
    assert {obs for obs, _ in list_nights(out)} == {"apo", "lco"}
    for f in _files(demo5, "confSummary"):
        h, fm = read_confsummary(f)
        obs, mjd, cid = h["observatory"].lower(), int(h["MJD"]), int(h["configuration_id"])
        mine = exposures[exposures["config_id"] == cid]
        assert len(mine) == 1 and set(mine["observatory"]) == {obs}
        assert set(mine["field"]) == {int(h["field_id"])}
        cams = {"apo": "b1 r1", "lco": "b2 r2"}[obs]
        assert set(mine["cameras"]) == {cams}
        targets = read_fibers(out, obs, mjd, cid)  # {obs}/{mjd}/fibers/{config}: FPSTarget rows
        assert len(targets) == len(fm["fiberId"])
        np.testing.assert_array_equal(targets["catalogid"], fm["catalogid"])
        np.testing.assert_array_equal(targets["positioner_id"], fm["positionerId"])
        assert set(targets["fiber_type"]) == {"boss", "apogee"}
        assert set(targets.loc[targets["fiber_type"] == "apogee", "spectrograph_id"]) == {0}


def test_boss_visits_spec_route_on_v6_files_at_lco(demo5, tmp_path):
    from sdssflow.mwm.steps import boss_visits

    field = demo5.plates[1]  # the LCO field
    mjd = next(m for p, m in demo5.plate_mjds if p == field)
    files = sorted(str(f) for f in _files(demo5, f"spec-{field:06d}-{mjd}") if "/spectra/lite/" in str(f))
    assert files
    out = tmp_path / "bv.fits"
    boss_visits.main(["--spec-files", *files, "--plate", str(field), "--mjd", str(mjd), "--output", str(out)])
    table = fitsio.read(str(out), ext=1)
    assert set(np.char.strip(table["telescope"].astype(str))) == {"lco25m"}
    spall = {int(fitsio.read(f, ext="SPALL")["SDSS_ID"][0]) for f in files}
    assert set(table["sdss_id"].tolist()) == spall


def test_fields_hold_non_stellar_carton_targets(demo5, tmp_path):
    """Each field: a QSO and a galaxy in BHM cartons and a QSO in an MWM carton, with the same
    carton in the spfibermap, the spec files and the bossVisits rows of the frames route."""
    from sdssflow.io.confsummary import target_cartons
    from sdssflow.mwm.steps import boss_visits

    expected = {("QSO", "bhm_aqmes_med"), ("GALAXY", "bhm_spiders_clusters_lsdr10"),
                ("QSO", "mwm_erosita_compact_gen")}
    for field, mjd in demo5.plate_mjds:
        cartons = target_cartons(demo5.plate_dir(field), mjd)
        seen = set()
        for f in _files(demo5, f"spec-{field:06d}-{mjd}"):
            row = fitsio.read(str(f), ext="SPALL")[0]
            cls, carton = row["CLASS"].strip(), row["FIRSTCARTON"].strip()
            assert cartons[int(row["SDSS_ID"])] == carton
            if cls != "STAR":
                seen.add((cls, carton))
        assert seen == expected, field
        out = tmp_path / f"bv-{field}.fits"
        boss_visits.main(["--plate-dir", str(demo5.plate_dir(field)), "--selection", str(_selection(demo5, field, mjd, tmp_path)),
                          "--plate", str(field), "--mjd", str(mjd), "--output", str(out)])  # fmt: skip
        table = fitsio.read(str(out), ext="VISITS")
        got = {int(i): c.strip() for i, c in zip(table["sdss_id"], table["carton"].astype(str))}
        assert got == {i: cartons[i] for i in got} and len(got) == len(cartons)
        kinds = {(o.strip(), got[int(i)]) for i, o in zip(table["sdss_id"], table["objtype"].astype(str))}
        assert expected <= kinds


def _selection(plan, field, mjd, tmp_path):
    """A selection CSV with every exposure of a field-MJD and no excluded camera."""
    import pandas as pd

    rows = [{"mjd": m, "exposure": e, "excluded_cameras": "", "exptime": 900.0}
            for p, m, e in plan.exposures if p == field and m == mjd]
    path = tmp_path / f"selection-{field}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_lco_conditions_are_those_of_lco(demo5, tmp_path):
    """The LCO field's frame header (the injected conditions) and the rich metadata of its sky
    fibres agree with astropy at LCO, and differ from APO's."""
    import astropy.units as u
    from astropy.coordinates import AltAz, SkyCoord, get_body
    from astropy.time import Time

    from sdssflow.io.sky import read_table
    from sdssflow.sites import location
    from sdssflow.sky.steps import rich_metadata, sky_flux

    field, mjd, expid = next(x for x in demo5.exposures if x[0] == demo5.plates[1])
    lco, apo = location("lco"), location("apo")
    h = fits.getheader(demo5.frame_path("spFrame", field, mjd, "b2", expid))
    assert h["OBSERVAT"].strip() == "LCO"
    mid = Time(0.5 * (h["TAI-BEG"] + h["TAI-END"]) / 86400.0, format="mjd", scale="tai")
    bore = SkyCoord(h["RA"] * u.deg, h["DEC"] * u.deg)
    at_lco = bore.transform_to(AltAz(obstime=mid, location=lco))
    assert h["ALT"] == pytest.approx(at_lco.alt.deg, abs=0.05)
    assert h["AIRMASS"] == pytest.approx(1 / np.sin(at_lco.alt.rad), rel=2e-3)
    assert abs(h["ALT"] - bore.transform_to(AltAz(obstime=mid, location=apo)).alt.deg) > 5.0

    out = tmp_path / "skyflux.fits"
    sky_flux.main(["--plate", str(field), "--plate-dir", str(demo5.plate_dir(field)), "--out", str(out)])
    rich_metadata.main(["--skyflux", str(out), "--out", str(tmp_path / "rich.fits")])
    t = read_table(tmp_path / "rich.fits")
    assert len(t) and set(np.char.strip(np.asarray(t["OBSERVATORY"]).astype(str))) == {"LCO"}
    mid = Time(np.asarray(t["MJD_MID"]), format="mjd", scale="tai")
    fibre = SkyCoord(np.asarray(t["FIBER_RA"]) * u.deg, np.asarray(t["FIBER_DEC"]) * u.deg)
    frame_lco = AltAz(obstime=mid, location=lco)
    np.testing.assert_allclose(t["ALT_FIB"], fibre.transform_to(frame_lco).alt.deg, atol=0.05)
    np.testing.assert_allclose(t["MOON_ALT"], get_body("moon", mid, lco).transform_to(frame_lco).alt.deg, atol=0.05)
    np.testing.assert_allclose(t["SUN_ALT"], get_body("sun", mid, lco).transform_to(frame_lco).alt.deg, atol=0.05)
    assert np.all(np.abs(t["ALT_FIB"] - fibre.transform_to(AltAz(obstime=mid, location=apo)).alt.deg) > 5.0)


def test_sky_spec_route_names_v6_full_files_it_cannot_use(demo5):
    """v6 specFull exposure tables merge b+r and have no CALIB (DR19 datamodel): the sky
    spec-file route says so (STATUS v6_file, then a StepError) instead of writing zero-ivar sky."""
    from sdssflow.sky.steps import sky_flux
    from sdssflow.steps import StepError

    field, mjd = demo5.plate_mjds[1]
    full = next(f for f in _files(demo5, f"spec-{field:06d}-{mjd}") if "/spectra/full/" in str(f))
    with pytest.raises(StepError, match=r"lite or v6 files only: spec-015001-"):
        sky_flux.main(["--plate", str(field), "--spec-dir", str(full.parent), "--out", str(demo5.root / "x.fits")])
