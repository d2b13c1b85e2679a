"""BOSS readers against release variants of the SDSS datamodel (sdss/datamodel yaml).

Each test names the product, release and HDU/keyword it follows; the inputs are synthetic,
built from those facts only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from sdssflow.sky.extract import frame_sky_spectra, header_meta

REAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def _v6_frame_header() -> fits.Header:
    # datamodel spFrame / spCFrame DR19 (and DR18, IPL3) HDU0: PLATEID = '' (blank string),
    # FIELDID = 112360, OBSERVAT = APO; plate-era frames carry PLATEID and no FIELDID
    return fits.Header(
        {"PLATEID": "", "FIELDID": 112360, "MJD": 60000, "EXPOSURE": 353048, "CAMERAS": "b1",
         "TAI-BEG": 5184019757.0, "TAI-END": 5184020657.09, "OBSERVAT": "APO", "FLAVOR": "science"}
    )  # fmt: skip


def test_v6_frame_plate_column_is_the_field():
    meta = header_meta(_v6_frame_header(), 2)
    assert meta["PLATE"].tolist() == [112360, 112360]
    # specFull DR19 HDU0 writes FIELDID as a string ('112360'): the same number
    header = _v6_frame_header()
    header["FIELDID"] = "112360"
    assert header_meta(header, 1)["PLATE"].tolist() == [112360]


def test_plate_era_plateid_kept_and_missing_both_is_minus_one():
    assert header_meta({"PLATEID": 266, "MJD": 51602}, 1)["PLATE"].tolist() == [266]
    # a plate-era header never has FIELDID: PLATEID wins even when both are present
    assert header_meta({"PLATEID": 4055, "FIELDID": 9}, 1)["PLATE"].tolist() == [4055]
    assert header_meta({"MJD": 51602}, 1)["PLATE"].tolist() == [-1]


def test_v6_frame_sky_spectra_carry_the_field():
    nfib, npix = 3, 20
    z = np.zeros((nfib, npix))
    plug = Table({"FIBERID": np.arange(1, nfib + 1), "OBJTYPE": ["SKY", "SCIENCE", "SKY"]})
    sky = frame_sky_spectra(
        flux_e=z, sky_e=z + 1.0, ivar_e=z + 1.0, mask=z.astype(np.int32),
        loglam=np.tile(np.linspace(3.6, 3.65, npix), (nfib, 1)), sigma_A=z + 1.0,
        cal_factor=z + 1.0, plugmap=plug, header=_v6_frame_header(), camera="b1",
    )  # fmt: skip
    assert sky.meta["PLATE"].tolist() == [112360, 112360]
    assert sky.meta["OBSERVATORY"].tolist() == ["APO", "APO"]


def _dr18_frame(path, field: int, expid: int, camera: str) -> None:
    # datamodel spFrame DR18 HDU0: PLATEID '', FIELDID, OBSERVAT; HDU5 the plug map
    header = fits.Header(
        {"PLATEID": "", "FIELDID": field, "MJD": 59187, "EXPOSURE": expid, "CAMERAS": camera,
         "FLAVOR": "science", "OBSERVAT": "APO", "TAI-BEG": 5.1e9, "TAI-END": 5.1e9 + 900, "EXPTIME": 900.0}
    )  # fmt: skip
    plug = fits.BinTableHDU.from_columns(
        [fits.Column("FIBERID", "J", array=np.arange(1, 4)), fits.Column("OBJTYPE", "16A", array=np.array(["SKY"] * 3))]
    )
    hdus = [fits.PrimaryHDU(np.zeros((3, 2), "f4"), header)] + [fits.ImageHDU(np.zeros(2, "f4")) for _ in range(4)]
    fits.HDUList([*hdus, plug]).writeto(path)


def test_dr18_field_directories_with_the_p_suffix_are_scanned(tmp_path):
    """datamodel spFrame/spCFrame/spField DR18 location ``{run2d}/{fieldid}p/...`` (sdss-access's
    ``@isplate`` for run2d v6_0_x): the exposure catalog scanned only all-digit directories."""
    import pandas as pd

    from sdssflow.catalog.scan import scan_plate_dir
    from sdssflow.catalog.steps import exposure_catalog, select_exposures
    from sdssflow.io import catalog as io_catalog
    from sdssflow.io.catalog_model import records_to_frame

    field_dir = tmp_path / "v6_0_4" / "15000p"
    field_dir.mkdir(parents=True)
    _dr18_frame(field_dir / "spFrame-b1-00012001.fits", 15000, 12001, "b1")
    _dr18_frame(field_dir / "spFrame-r1-00012001.fits", 15000, 12001, "r1")
    frame = records_to_frame(scan_plate_dir(field_dir)[0])
    assert frame["exposure"].tolist() == [12001] and frame["field"].tolist() == [15000]
    assert frame["cameras"].tolist() == ["b1 r1"] and frame["flagged_bad"].tolist() == [0]

    out = tmp_path / "exposures.h5"
    exposure_catalog.main(["--boss-dir", str(tmp_path / "v6_0_4"), "--plates", "15000", "--out", str(out), "--version-name", "vt"])
    table = io_catalog.read_exposures(out)
    assert table["exposure"].tolist() == [12001] and table["field"].tolist() == [15000]
    flag_rows = pd.DataFrame(columns=["version", "observatory", "mjd", "plate", "exposure", "camera", "flag", "severity"])
    chosen = select_exposures.select_plate(table, 15000, "exptime > 0", flag_rows, [])
    assert chosen["exposure"].tolist() == [12001]


def test_plate_dir_number_of_every_release_layout():
    # sdss-access: {plateid:0>4} (DR9-DR17: 0266, 10000), @pad_fieldid (DR19: 015000,
    # 112360), {fieldid}p (DR18, and @isplate of run2d v6_0_x)
    from sdssflow.io.spplate import plate_dir_number

    assert plate_dir_number("0266") == 266 and plate_dir_number("10000") == 10000
    assert plate_dir_number("015000") == 15000 and plate_dir_number("112360") == 112360
    assert plate_dir_number("15000p") == 15000
    assert plate_dir_number("spectra") is None and plate_dir_number("p15000") is None


_CONFSUMMARY_DR19 = """\
# confSummary of one APO configuration, columns as the DR19 datamodel lists them
configuration_id 14802
robostrategy_run eta-8
design_id 593775
field_id 100959
instruments BOSS APOGEE
obstime Sun Jun 09 07:34:11 2024
MJD 60470
observatory APO
raCen 298.170965870627
decCen 19.1448520536868
parent_configuration -999
cloned_from -999

typedef enum {
  BOSS,
  APOGEE,
  METROLOGY,
  NONE
} FIBERTYPE;

typedef struct {
  short positionerId;
  char holeId[28];
  FIBERTYPE fiberType;
  short assigned;
  short on_target;
  double racat;
  double deccat;
  short spectrographId;
  short fiberId;
  float mag[5];
  long catalogid;
  long sdss_id;
  char category[400];
  char firstcarton[400];
} FIBERMAP;

FIBERMAP 3 R-1C14 APOGEE 1 1 298.1 19.2 0 17 { 15.1 14.2 13.9 13.8 13.7 } 27021597842679140 100 science mwm_rv
FIBERMAP 3 R-1C14 BOSS 0 0 -999.0 -999.0 1 42 { -999.0 -999.0 -999.0 -999.0 -999.0 } -999 -999 "" ""
FIBERMAP 3 R-1C14 METROLOGY 0 0 -999.0 -999.0 -1 -1 { -999.0 -999.0 -999.0 -999.0 -999.0 } -999 -999 "" ""
FIBERMAP 5 R+2C3 BOSS 1 1 298.3 19.0 1 7 { 17.0 16.5 16.2 16.1 16.0 } -1 -1 sky_boss ops_sky
"""


def test_dr19_confsummary_with_the_fibertype_enum(tmp_path):
    """datamodel confSummary DR19, FIBERMAP: ``fiberType`` is of the yanny enum type FIBERTYPE
    (BOSS, APOGEE, METROLOGY, NONE); the reader refused the member type."""
    from sdssflow.io.confsummary import fps_targets, read_confsummary

    path = tmp_path / "confSummary-14802.par"
    path.write_text(_CONFSUMMARY_DR19)
    header, fibermap = read_confsummary(path)
    assert header["field_id"] == "100959" and header["observatory"] == "APO"
    assert "typedef" not in header and "BOSS," not in header  # the enum is not a header key
    assert fibermap["fiberType"].tolist() == ["APOGEE", "BOSS", "METROLOGY", "BOSS"]
    assert fibermap["fiberId"].tolist() == [17, 42, -1, 7] and fibermap["mag"].shape == (4, 5)
    assert fibermap["catalogid"][0] == 27021597842679140  # long: exact, not through a float
    # unassigned fibres keep their rows (assigned 0, catalogid -999, empty strings)
    assert fibermap["assigned"].tolist() == [1, 0, 0, 1] and fibermap["category"][1] == ""
    targets = fps_targets(fibermap)
    assert targets["fiber_type"].tolist() == ["APOGEE", "BOSS", "METROLOGY", "BOSS"]
    assert targets["fiber_id"].tolist() == [17, 42, -1, 7]


def test_confsummary_enum_value_outside_the_enum_is_named(tmp_path):
    from sdssflow.io.confsummary import read_confsummary

    path = tmp_path / "confSummary-14802.par"
    path.write_text(_CONFSUMMARY_DR19.replace("R+2C3 BOSS", "R+2C3 LASER"))
    with pytest.raises(ValueError, match=r"confSummary-14802.par: FIBERMAP.fiberType values \['LASER'\]"):
        read_confsummary(path)


def _v6_spec(path, spall: dict, exposures=(), **keywords):
    from sdssflow.io.spec_v6 import write_spec_v6

    npix = 50
    loglam = 3.5523 + 1e-4 * np.arange(npix)
    coadd = {"FLUX": np.ones(npix), "LOGLAM": loglam, "IVAR": np.ones(npix), "OR_MASK": np.zeros(npix, int),
             "AND_MASK": np.zeros(npix, int), "WDISP": np.ones(npix), "SKY": np.ones(npix)}  # fmt: skip
    # datamodel specFull DR19 HDU0: VERS2D v6_1_3, OBSERVAT, FIELDID as a string, NEXP, EXPTIME
    primary = {"TELESCOP": "SDSS 2.5-M", "OBSERVAT": "APO", "VERS2D": "v6_1_3", "FIELDID": "112360",
               "MJD": 60000, "NEXP": 3, "EXPTIME": 2700.3, "TAI-BEG": 5184019757.0, "TAI-END": 5184028003.08}  # fmt: skip
    exps = [(name, hdr, coadd) for name, hdr in exposures]
    return write_spec_v6(path, primary | keywords, coadd, spall, exps)


def test_dr19_spec_fiberid_from_fiberid_list(tmp_path):
    """datamodel specFull/specLite DR19 SPALL: no FIBERID column, FIBERID_LIST (char[31], the
    fibre of each exposure) instead; DR18 SPALL has FIBERID. The reader gave fiberid -1."""
    from sdssflow.io.specfile import read_specfile

    spall = {"FIELD": 112360, "MJD": 60000, "CATALOGID": 27021597842679140, "SDSS_ID": 5, "OBJTYPE": "science",
             "FIBERID_LIST": "35 35 35", "MJD_LIST": "60000 60000 60000", "CLASS": "STAR"}  # fmt: skip
    spec = read_specfile(_v6_spec(tmp_path / "spec-112360-60000-27021597842679140.fits", spall))
    assert (spec.plate, spec.mjd, spec.catalogid, spec.fiberid) == (112360, 60000, 27021597842679140, 35)
    # a DR18 row (FIBERID present) keeps its FIBERID
    spall18 = {k: v for k, v in spall.items() if k != "FIBERID_LIST"} | {"FIBERID": 12}
    # DR18 name: spec-{fieldid}-{mjd}-{catalogid:0>11}, the field not padded to 6 digits
    path18 = tmp_path / "spec-15143-59204-27021597842679140.fits"
    spec = read_specfile(_v6_spec(path18, spall18, FIELDID="15143", MJD=59204, VERS2D="v6_0_4"))
    assert (spec.plate, spec.mjd, spec.fiberid) == (15143, 59204, 12)


# ------------------------------------------------------------ the real pydl files (handled)
PYDL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "pydl"


@pytest.mark.skipif(not (PYDL / "spPlate-4055-55359-0020.fits").exists(), reason="real pydl files not available")
def test_real_spplate_exposure_keywords():
    # the real v5_7_0 spPlate header: EXPID01..EXPID24 'cc-eeeeeeee-ffffffff-aaaaaaaa', NEXP 24
    from sdssflow.io.spplate import read_spplate_exposures

    table = read_spplate_exposures(PYDL / "spPlate-4055-55359-0020.fits")
    assert len(table) == table.meta["NEXP"] == 24 and table.meta["PLATEID"] == 4055
    assert sorted(set(table["camera"])) == ["b1", "b2", "r1", "r2"]
    assert sorted(set(table["expid"])) == list(range(116475, 116481))
    assert set(table["flat"]) == {116481} and set(table["arc"]) == {116482}


def test_spplate_three_digit_expid_keywords(tmp_path):
    # datamodel spPlate (DR9-DR17 examples) writes EXPID001... once a plate has 100+ frames
    from sdssflow.io.spplate import read_spplate_exposures

    cards = {f"EXPID{i:03d}": f"b1-{104940 + i:08d}-00104944-00104945" for i in range(1, 101)}
    path = tmp_path / "spPlate-3606-55182.fits"
    fits.PrimaryHDU(header=fits.Header({"PLATEID": 3606, "MJD": 55182, "NEXP": 100, **cards})).writeto(path)
    table = read_spplate_exposures(path)
    assert len(table) == 100 and table["keyword"][-1] == "EXPID100" and table["expid"][-1] == 105040


@pytest.mark.skipif(not (PYDL / "boss_traceset.fits").exists(), reason="real pydl files not available")
def test_real_red_traceset_through_read_spframe(tmp_path):
    """The real r1 wavelength trace set (Legendre, 6 coefficients x 500 traces, XJUMPLO/HI/VAL
    of the two-phase red readout) as HDU3 of a synthetic spFrame: read_spframe evaluates it
    (rows selected too) as evaluate_traceset does, strictly increasing over 4128 pixels."""
    from sdssflow.io.boss import read_spframe
    from sdssflow.io.traceset import evaluate_traceset

    tset = fits.getdata(PYDL / "boss_traceset.fits", 1)
    assert tset["COEFF"].shape == (1, 500, 6) and float(tset["XJUMPVAL"][0]) != 0
    nfib, npix = 500, 4128
    header = fits.Header({"PLATEID": 4055, "MJD": 55359, "EXPOSURE": 180406, "CAMERAS": "r1"})
    img = np.zeros((nfib, npix), np.float32)
    plug = fits.BinTableHDU.from_columns(
        [fits.Column("FIBERID", "J", array=np.arange(1, nfib + 1)),
         fits.Column("OBJTYPE", "16A", array=np.array(["SKY", "QSO"] * (nfib // 2)))]
    )  # fmt: skip
    dset = Table({"FUNC": ["legendre"], "XMIN": [0.0], "XMAX": [npix - 1.0], "COEFF": [np.ones((nfib, 1))]})
    hdus = [fits.PrimaryHDU(img, header), fits.ImageHDU(img + 1), fits.ImageHDU(np.zeros((nfib, npix), np.int32)),
            fits.BinTableHDU(Table(tset)), fits.table_to_hdu(dset), plug, fits.ImageHDU(img), fits.ImageHDU(img),
            fits.ImageHDU(img + 1)]  # fmt: skip
    path = tmp_path / "spFrame-r1-00180406.fits"
    fits.HDUList(hdus).writeto(path)
    frame = read_spframe(path)
    expected = evaluate_traceset(tset[0], npix)
    np.testing.assert_array_equal(frame.loglam, expected)
    assert np.all(np.diff(frame.loglam, axis=1) > 0)
    sky = read_spframe(path, objtype="SKY", extras=False)
    np.testing.assert_array_equal(sky.loglam, expected[::2])


def test_dr19_specfull_exposures_enter_the_catalog(tmp_path):
    """datamodel specFull DR19: per-exposure HDUs ``MJD_EXP_60000-00`` ... with EXPOSURE,
    FIELDID 112360, PLATEID '' and OBSERVAT in their headers (both arms merged); the scan
    knew only the plate-era ``B1-eeeeeeee-...`` HDUs and gave no exposure for SDSS-V files."""
    from sdssflow.catalog.scan import scan_spec_files
    from sdssflow.catalog.steps import exposure_catalog
    from sdssflow.io import catalog as io_catalog
    from sdssflow.io.catalog_model import records_to_frame

    spall = {"FIELD": 112360, "MJD": 60000, "CATALOGID": 27021597842679140, "FIBERID_LIST": "35 35"}
    exps = []
    for k, expid in enumerate((353048, 353049)):
        tai = 5184019757.0 + 1003.0 * k
        exps.append((f"MJD_EXP_60000-{k:02d}", {"EXPOSURE": expid, "FIELDID": 112360, "PLATEID": "", "MJD": 60000,
                     "OBSERVAT": "LCO", "FLAVOR": "science", "TAI-BEG": tai, "TAI-END": tai + 900.09,
                     "EXPTIME": 900.09, "CONFID": 14802}))  # fmt: skip
    spec_dir = tmp_path / "spectra" / "full" / "112360" / "60000"
    for cid in (27021597842679140, 27021597842679141):  # two fibres share the exposures
        _v6_spec(spec_dir / f"spec-112360-60000-{cid}.fits", spall | {"CATALOGID": cid}, exps, OBSERVAT="LCO")
    frame = records_to_frame(scan_spec_files(tmp_path / "spectra"))
    assert frame["exposure"].tolist() == [353048, 353049]
    assert frame["field"].tolist() == [112360, 112360] and frame["plate"].tolist() == [-1, -1]
    assert frame["cameras"].tolist() == ["b2 r2", "b2 r2"] and frame["observatory"].tolist() == ["lco", "lco"]
    assert frame["config_id"].tolist() == [14802, 14802] and frame["flagged_bad"].sum() == 0

    out = tmp_path / "exposures.h5"
    exposure_catalog.main(["--spec-dir", str(tmp_path / "spectra"), "--plates", "112360", "--out", str(out), "--version-name", "vt"])
    assert io_catalog.read_exposures(out)["exposure"].tolist() == [353048, 353049]


def test_fps_visits_are_targets_when_configurations_swap_fibres(tmp_path):
    """spfibermap DR19: one field-MJD holds several configurations (confSummaryF-8872 ...
    -8875 HDUs), and specFull SPALL FIBERID_LIST a fibre per exposure: one fibre serves two
    targets in one night. boss_visits keyed its visits by FIBERID, so it stacked the two
    targets' spectra into one visit (and lost the other)."""
    import argparse

    import pandas as pd

    from sdssflow.mwm.steps.boss_visits import _frames_route
    from sdssflow.synth.boss_files import write_spcframe

    nfib, npix = 500, 4112
    loglam = np.tile(3.5523 + 1e-4 * np.arange(npix), (nfib, 1))
    level = {100: 10.0, 200: 20.0}  # flux of each target, 1e-17 erg/s/cm2/A
    plate_dir = tmp_path / "112360"
    plate_dir.mkdir()
    for expid, order in ((353048, (100, 200)), (353049, (200, 100))):  # configuration 2 swaps them
        sdss_id = np.full(nfib, -1, np.int64)
        sdss_id[:2] = order
        flux = np.ones((nfib, npix), np.float32)
        flux[0], flux[1] = level[order[0]], level[order[1]]
        plug = Table({"FIBERID": np.arange(1, nfib + 1, dtype=np.int32), "OBJTYPE": ["SCIENCE"] * nfib,
                      "SDSS_ID": sdss_id, "CATALOGID": sdss_id * 10, "RA": np.zeros(nfib), "DEC": np.zeros(nfib)})  # fmt: skip
        header = {"FIELDID": 112360, "PLATEID": "", "MJD": 60000, "EXPOSURE": expid, "CAMERAS": "b1", "OBSERVAT": "APO"}
        z = np.zeros((nfib, npix), np.float32)
        write_spcframe(plate_dir / f"spCFrame-b1-{expid:08d}.fits", flux=flux, ivar=z + 1, mask=z.astype(np.int32),
                       loglam=loglam, wdisp=z + 1, plugmap=plug, sky=z, x=z, superflat=z + 1, header=header)  # fmt: skip
    selection = tmp_path / "selection.csv"
    pd.DataFrame({"plate": [112360] * 2, "mjd": [60000] * 2, "exposure": [353048, 353049], "excluded_cameras": ["", ""],
                  "exptime": [900.0, 900.0], "tai_beg": [1.0, 2.0], "tai_end": [3.0, 4.0], "airmass": [1.1, 1.2]}).to_csv(selection, index=False)  # fmt: skip
    args = argparse.Namespace(plate_dir=str(plate_dir), mjd=60000, selection=str(selection), plate=112360)
    rows, used, status = _frames_route(args)
    assert len(used) == 2 and not [s for s in status if s["status"] != "ok"]
    assert sorted(meta["sdss_id"] for meta, _ in rows) == [100, 200]
    for meta, (flux, ivar, _mask, _wresl) in rows:
        good = ivar > 0
        assert good.sum() > 1000
        np.testing.assert_allclose(np.median(flux[good]), level[meta["sdss_id"]], rtol=1e-3)
        assert meta["fiberid"] == {100: 1, 200: 2}[meta["sdss_id"]]  # its first exposure's fibre
        assert meta["catalogid"] == meta["sdss_id"] * 10


def test_fps_standards_are_stars_when_configurations_swap_fibres():
    """The same FPS fact for the flux calibration (spfibermap DR19: several configurations per
    field-MJD): the night's template cache and RV_NIGHT were keyed by fibre, so a standard in
    the fibre of another configuration's standard took that star's template and RV."""
    from sdssflow.fluxcal.calibrate import Settings, calibrate_exposure, prepare_library
    from sdssflow.fluxcal.priors import catalog_photometry, load_band_table
    from sdssflow.fluxcal.steps.flux_calibration import _night_rv
    from sdssflow.fluxcal.testing import TOY_BANDS, toy_exposure, toy_library

    prep = prepare_library(toy_library(), load_band_table().select(list(TOY_BANDS)))
    settings = Settings(telluric=np.zeros((0, 2)))
    cache: dict = {}
    teff, rows = {}, []
    # one seed: the same fibre and position; configuration 2 puts another star (template) there
    for cid, template in ((11, 0), (22, prep.library.ntemplate - 1)):
        exp = toy_exposure(prep.library, prep.bands, nstd=1, seed=4, std_templates=[template])
        fiber = int(exp.truth["stars"]["fiberid"][0])
        exp.frames["b1"].plugmap["CATALOGID"][fiber - 1] = cid  # the cameras share one plug map
        mag, err = catalog_photometry(exp.catalog, prep.bands)
        result = calibrate_exposure(exp.frames, exp.catalog, mag, err, prep, settings, cache)
        (star,) = result.stars
        assert star["STATUS"] == "USED" and star["CATALOGID"] == cid
        teff[cid] = (star["TEFF"], float(exp.truth["stars"]["teff"][0]))
        rows.append(star)
    for fitted, true in teff.values():
        assert fitted == true  # each star its own template, not the fibre's first one
    rows = [dict(r, RV=rv, RV_ERR=1.0) for r, rv in zip(rows, (10.0, -50.0))]
    _night_rv(rows)
    assert [r["RV_NIGHT"] for r in rows] == [10.0, -50.0]


def test_spec_file_sdss_id_of_v6_and_plate_era_names(tmp_path):
    """datamodel specFull DR19: spec-<FIELD6>-<MJD>-<CATALOGID>.fits, SDSS_ID in the SPALL row.
    Before, the workflow took every spec name for spec-PLATE-MJD-FIBER: the catalogid (17
    digits) as a fibre raised 'plate or fiber out of range' and stopped the whole DAG."""
    from sdssflow.io.mwm_grids import legacy_spec_sdss_id, spec_file_sdss_id

    v6 = _v6_spec(tmp_path / "spec-112360-60000-27021597775058284.fits",
                  {"SDSS_ID": 54321987, "CATALOGID": 27021597775058284, "FIBERID_LIST": "35 35 35"})  # fmt: skip
    assert spec_file_sdss_id(v6) == 54321987
    assert spec_file_sdss_id("a/spec-0266-51602-0013.fits") == legacy_spec_sdss_id("spec-0266-51602-0013.fits")
    no_id = _v6_spec(tmp_path / "spec-112360-60000-27021597775058285.fits", {"CATALOGID": 27021597775058285})
    with pytest.raises(ValueError, match=r"spec-112360-60000-27021597775058285.fits: SDSS-V spec file without"):
        spec_file_sdss_id(no_id)


def test_spec_files_route_dag_with_v6_spec_files(tmp_path):
    """input: spec_files on a directory holding DR19 spec files: the DAG is built, the v6 file's
    visit goes to the bucket of its SPALL SDSS_ID, a v6 file without SDSS_ID is named and left
    out, and the sky chain says why v6 files give no sky spectra (it dropped them silently)."""
    import re

    from sdssflow.io.mwm_grids import bucket
    from workflow_helpers import snakemake

    spec_dir = tmp_path / "spectra"
    _v6_spec(spec_dir / "spec-112360-60000-27021597775058284.fits",
             {"SDSS_ID": 54321987, "CATALOGID": 27021597775058284, "FIBERID_LIST": "35 35 35"})  # fmt: skip
    _v6_spec(spec_dir / "spec-112360-60000-27021597775058285.fits", {"CATALOGID": 27021597775058285})
    proc = snakemake(tmp_path, {"input": "spec_files", "spec_files": {"dir": str(spec_dir)}}, "-n", "-p")
    text = proc.stdout + proc.stderr
    assert "spec-112360-60000-27021597775058285.fits: SDSS-V spec file without a usable sdss_id" in text
    assert re.search(r"sky chain: 2 SDSS-V \(v6\) spec file\(s\) give no sky spectra", text)
    gg, hh = bucket(54321987)
    assert f"results/v1/spectra/status/{gg}/{hh}/status.fits" in text  # the bucket job of its sdss_id


@pytest.mark.skipif(not (REAL_DIR / "bosz2024").is_dir(), reason="../shared/data/real not available")
def test_boss_visits_spec_route_leaves_out_a_v6_file_without_sdss_id(tmp_path):
    """bossVisits from DR19 spec files: the visit's sdss_id is the SPALL SDSS_ID; a v6 file
    without one is a STATUS row naming it (before: a legacy id from its name, which raised
    on the 17-digit catalogid and failed the whole plate-MJD)."""
    import fitsio

    from sdssflow.io.boss_visits import read_boss_visits
    from sdssflow.mwm.steps import boss_visits

    good = _v6_spec(tmp_path / "spec-112360-60000-27021597775058284.fits",
                    {"SDSS_ID": 54321987, "CATALOGID": 27021597775058284, "FIBERID_LIST": "35 35 35"})  # fmt: skip
    bad = _v6_spec(tmp_path / "spec-112360-60000-27021597775058285.fits", {"CATALOGID": 27021597775058285})
    out = tmp_path / "bossVisits-112360-60000.fits"
    boss_visits.main(["--spec-files", str(good), str(bad), "--plate", "112360", "--mjd", "60000",
                      "--templates", str(REAL_DIR / "bosz2024"), "--output", str(out)])  # fmt: skip
    assert read_boss_visits(out)["table"]["sdss_id"].tolist() == [54321987]
    status = fitsio.read(str(out), ext="STATUS")
    failed = status[np.char.strip(status["status"].astype(str)) == "failed"]
    assert len(failed) == 1 and "spec-112360-60000-27021597775058285.fits" in str(failed["message"][0])


def test_spec_file_sdss_id_of_a_dr18_name(tmp_path):
    """sdss-access dr18 specFull: spec-{fieldid}-{mjd}-{catalogid:0>11}.fits (v6_0_4 pads no
    field: spec-15143-...). The name was taken for spec-PLATE-MJD-FIBER and the 11-digit
    catalogid for a fibre ('plate or fiber out of range'), so the file was left out with a
    wrong reason; the sky chain also called it a lite file."""
    from sdssflow.io.mwm_grids import spec_file_sdss_id
    from sdssflow.io.spec_v6 import SPEC_V6_NAME

    path = _v6_spec(tmp_path / "spec-15143-59204-04593017290.fits",
                    {"SDSS_ID": 777, "CATALOGID": 4593017290, "FIBERID": 12},
                    FIELDID="15143", MJD=59204, VERS2D="v6_0_4")  # fmt: skip
    assert spec_file_sdss_id(path) == 777
    # plate-era names of 4- and 5-digit plates stay plate-era (their fibre has 4 digits)
    assert not SPEC_V6_NAME.match("spec-10000-57346-0001.fits")
    assert not SPEC_V6_NAME.match("spec-0266-51602-0013.fits")
