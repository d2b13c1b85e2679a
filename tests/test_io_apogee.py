"""Readers of apVisit / apStar: the real DR13-era files and the error paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from sdssflow.io.apogee import read_apstar, read_apvisit

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "apogee"
needs_real = pytest.mark.skipif(
    not REAL.is_dir(), reason="../shared/data/real/apogee not available"
)


@needs_real
def test_read_real_apvisit_orders_chips_blue_first():
    v = read_apvisit(REAL / "apVisit-2M00452143+1634446-0.fits")
    assert v.wave.shape == (3, 4096)
    assert np.all(np.diff(v.wave, axis=1) > 0)  # λ increasing within chips
    assert v.wave[0, 0] < v.wave[1, 0] < v.wave[2, 0]  # blue chip first
    assert v.wave[0, 0] == pytest.approx(15142.33, abs=0.01)
    assert np.all(np.isfinite(v.ivar)) and np.all(v.ivar >= 0)
    assert v.meta["mjd"] == 56587 and v.meta["fiber"] == 131
    assert v.meta["obj"] == "2M00452143+1634446"
    assert v.meta["filename"] == "apVisit-r6-6561-56587-131.fits"
    assert v.meta["bc"] == pytest.approx(-6.4667, abs=1e-3)


@needs_real
def test_read_real_apstar_visits():
    s = read_apstar(REAL / "apStar-r6-2M00452143+1634446.fits")
    assert s.flux.shape == (5, 8575) and s.crval == 4.179 and s.cdelt == 6e-6
    assert [v["row"] for v in s.visits] == [2, 3, 4]
    assert [v["mjd"] for v in s.visits] == [56587, 56607, 56616]
    v = s.visits[0]
    # VHELIO = VRAD + BC in the DRP header
    assert v["v_helio"] == pytest.approx(v["v_rel"] + v["bc"], abs=0.01)
    assert s.meta["vhelio"] == pytest.approx(6.73279)


def test_read_apvisit_errors(tmp_path):
    path = tmp_path / "apVisit-bad.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((3, 10)))]).writeto(path)
    with pytest.raises(ValueError, match="not an apVisit file"):
        read_apvisit(path)
    path2 = tmp_path / "apVisit-shape.fits"
    hdus = (
        [fits.PrimaryHDU()]
        + [fits.ImageHDU(np.zeros((3, 10)))] * 3
        + [fits.ImageHDU(np.zeros((3, 11)))]
    )
    fits.HDUList(hdus).writeto(path2)
    with pytest.raises(ValueError, match="apVisit images have shapes"):
        read_apvisit(path2)


def test_read_apstar_errors(tmp_path):
    path = tmp_path / "apStar-nogrid.fits"
    fits.HDUList([fits.PrimaryHDU()] + [fits.ImageHDU(np.zeros((1, 10)))] * 3).writeto(path)
    with pytest.raises(ValueError, match="no CRVAL1/CDELT1"):
        read_apstar(path)


# --- releases the real files do not cover (facts from sdss/datamodel apStar.yaml and
# apVisit.yaml, and the SDSS-V apogee_drp apStar writer) ---------------------------------

#: DR19 apStar example of the datamodel (1.0/stars/apo25m/10/10105/...): VRAD = 15.534 (the
#: S/N-weighted mean *barycentric* RV), VRAD1 = 15.480 and BC1 = -1.621 km/s. VRADi is the
#: visit's barycentric RV (apogee_drp: "Barycentric velocity (km/s), visit i"); there is no
#: VHELIOi and no VERRi, and no TELESCOP card.
DR19_VISITS = [
    {"sfile": "apVisit-1.3-lco25m-15303-59280-271.fits", "jd": 2459280.91942, "fiber": 271,
     "bc": -1.620521, "vrad": 15.480045, "vrelerr": 0.052, "snr": 18.54},
    {"sfile": "apVisit-1.3-lco25m-15304-59300-120.fits", "jd": 2459300.80011, "fiber": 120,
     "bc": 5.25, "vrad": 15.61, "vrelerr": 0.061, "snr": 21.0},
]  # fmt: skip


def write_dr19_apstar(path, visits=DR19_VISITS, telescope_card=False, rv_table=True):
    """An apStar in the SDSS-V DRP layout (datamodel apStar DR19).

    HDU0 the grid and star/visit cards (no TELESCOP unless asked, per-visit VRADi
    barycentric, no VHELIOi / VERRi); HDUs 1-7 float64 (NVISITS + 2, 8575) images, HDU3 an
    int64 bitmask; HDU8 an empty table; HDU9 the RV table (one row per visit, lower-case
    columns filename, vhelio, vrel, vrelerr, bc).
    """
    n, npix = len(visits), 8575
    h = fits.Header()
    for key, value in (("CRVAL1", 4.179), ("CDELT1", 6e-6), ("CRPIX1", 1),
                       ("CTYPE1", "LOG-LINEAR"), ("DC-FLAG", 1), ("OBJID", "2M13593121+6335074"),
                       ("APRED", "1.3"), ("HEALPIX", 10105), ("SNR", 28.0), ("CATID", 4349650353),
                       ("NVISITS", n), ("STARFLAG", 0), ("ANDFLAG", 0), ("N_COMP", 1),
                       ("VRAD", 15.534287), ("VSCATTER", 0.09), ("VERR", 0.0),
                       ("MEANFIB", 190.0), ("SIGFIB", 106.0)):  # fmt: skip
        h[key] = value
    if telescope_card:
        h["TELESCOP"] = "lco25m"
    for i, v in enumerate(visits, start=1):
        h[f"SFILE{i}"] = v["sfile"]
        h[f"DATE{i}"] = "2021-03-13T10:04:00.000"
        h[f"JD{i}"] = v["jd"]
        h[f"FIBER{i}"] = v["fiber"]
        h[f"BC{i}"] = v["bc"]
        h[f"CHISQ{i}"] = 1.1
        h[f"VRAD{i}"] = v["vrad"]
        h[f"SNRVIS{i}"] = v["snr"]
        h[f"FLAG{i}"] = 0
    rows = n + 2 if n > 1 else 1
    flux = np.full((rows, npix), 100.0)
    hdus = [fits.PrimaryHDU(header=h), fits.ImageHDU(flux), fits.ImageHDU(flux / 50.0),
            fits.ImageHDU(np.zeros((rows, npix), np.int64))]  # fmt: skip
    hdus += [fits.ImageHDU(np.zeros((rows, npix))) for _ in range(4)]
    hdus.append(fits.BinTableHDU.from_columns([fits.Column("x", "E", array=np.zeros(0))]))
    if rv_table:
        t = {"filename": [v["sfile"] for v in visits], "snr": [v["snr"] for v in visits],
             "vhelio": [v["vrad"] for v in visits], "vrel": [v["vrad"] - v["bc"] for v in visits],
             "vrelerr": [v["vrelerr"] for v in visits], "bc": [v["bc"] for v in visits]}  # fmt: skip
        hdus.append(fits.BinTableHDU(Table(t)))
    fits.HDUList(hdus).writeto(path)
    return path


def test_dr19_apstar_visit_velocities_are_barycentric(tmp_path):
    # datamodel apStar DR19: VRADi barycentric, no VHELIOi; before, VRADi was taken as the
    # Doppler shift and v_helio was NaN
    path = write_dr19_apstar(tmp_path / "apStar-1.3-lco25m-2M13593121+6335074.fits")
    s = read_apstar(path)
    assert s.flux.shape == (4, 8575) and [v["row"] for v in s.visits] == [2, 3]
    assert s.meta["vhelio"] == pytest.approx(15.534287)  # the mean VRAD
    for v, truth in zip(s.visits, DR19_VISITS):
        assert v["v_helio"] == pytest.approx(truth["vrad"])
        assert v["v_rel"] == pytest.approx(truth["vrad"] - truth["bc"])  # Doppler = bary - bc
        assert v["e_v_rel"] == pytest.approx(truth["vrelerr"], rel=1e-6)  # from the RV table
        assert v["mjd"] == int(truth["sfile"].split("-")[-2]) and v["fiber"] == truth["fiber"]


def test_apstar_vrel_card_and_no_rv_table(tmp_path):
    # newer SDSS-V apStars also write VRELi (the Doppler shift); no RV table: e_v_rel NaN
    path = write_dr19_apstar(tmp_path / "apStar-1.3-lco25m-x.fits", rv_table=False)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["VREL1"] = 17.0
    s = read_apstar(path)
    assert s.visits[0]["v_rel"] == 17.0 and s.visits[0]["v_helio"] == pytest.approx(15.480045)
    assert np.isnan(s.visits[0]["e_v_rel"])


@pytest.mark.parametrize(
    "rel, telescope",
    [
        # DR19 / SDSS-V: apStar-{apred}-{telescope}-{obj}.fits (sdss_access apStar DR19)
        ("1.3/stars/lco25m/10/10105/apStar-1.3-lco25m-2M13593121+6335074.fits", "lco25m"),
        ("apStar-1.3-apo25m-2M13593121+6335074.fits", "apo25m"),
        # DR17: {prefix}Star-{apred}-{obj}.fits under stars/{telescope}/{field}/, 'as' = LCO
        ("dr17/stars/lco25m/K01_082+17/asStar-dr17-2M19085185+5058401.fits", "lco25m"),
        ("asStar-dr17-2M19085185+5058401.fits", "lco25m"),
        ("dr17/stars/apo1m/calibration/apStar-dr17-2M19085185+5058401.fits", "apo1m"),
    ],
)
def test_apstar_without_telescop_card(tmp_path, rel, telescope):
    # datamodel apStar: TELESCOP removed in DR17 (changelog) and absent in DR19; before, every
    # such apStar was apo25m, so an LCO star's apStar-only visits went to APOGEE/APO
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    visits = [dict(v, sfile=v["sfile"].replace("lco25m-", "")) for v in DR19_VISITS]  # DR17 names
    write_dr19_apstar(path, visits=visits)
    assert read_apstar(path).meta["telescope"] == telescope


def test_apstar_telescope_from_the_visit_names_or_the_card(tmp_path):
    path = write_dr19_apstar(tmp_path / "star.fits")  # SFILEi apVisit-1.3-lco25m-...
    assert read_apstar(path).meta["telescope"] == "lco25m"
    path = write_dr19_apstar(tmp_path / "apStar-1.3-apo25m-x.fits", telescope_card=True)
    assert read_apstar(path).meta["telescope"] == "lco25m"  # the card wins


def test_apstar_visit_mjd_from_jd_when_the_name_has_none(tmp_path):
    # apo1m visit names end in the star's id, not -{mjd}-{fiber}: the MJD comes from JDi
    visits = [dict(DR19_VISITS[0], sfile="apVisit-dr17-59280-2M13593121+6335074.fits")]
    s = read_apstar(write_dr19_apstar(tmp_path / "apStar-dr17-x.fits", visits=visits))
    assert s.flux.shape == (1, 8575) and s.visits[0]["row"] == 0
    assert s.visits[0]["mjd"] == 59280 and s.visits[0]["fiber"] == 271


def write_apvisit_layout(path, header: dict, table: dict):
    """An apVisit with the HDU list of every release (1-4 the spectra, red chip first, 11 the
    table), the given primary cards and HDU 11 columns."""
    wave = np.vstack([np.linspace(16960, 16470, 4096), np.linspace(16430, 15860, 4096),
                      np.linspace(15800, 15140, 4096)])  # fmt: skip
    flux = np.ones((3, 4096), np.float32)
    hdus = [fits.PrimaryHDU(header=fits.Header(list(header.items()))), fits.ImageHDU(flux),
            fits.ImageHDU(flux / 10), fits.ImageHDU(np.zeros((3, 4096), np.int16)),
            fits.ImageHDU(wave)]  # fmt: skip
    hdus += [fits.ImageHDU(flux) for _ in range(4)]
    hdus += [fits.ImageHDU(np.zeros((3, 14))), fits.ImageHDU(np.zeros((3, 26)))]
    hdus.append(fits.BinTableHDU(Table({k: [v] for k, v in table.items()})))
    fits.HDUList(hdus).writeto(path)
    return path


def test_apvisit_and_apstar_catalogid_above_2_53(tmp_path):
    # datamodel apVisit / apStar DR19: CATID is a 17-digit SDSS-V catalogid (int64); before,
    # it went through a float and lost its last digits
    p = write_apvisit_layout(
        tmp_path / "apVisit-1.3-apo25m-6340-59804-145.fits",
        {"TELESCOP": "apo25m", "MJD5": 59804, "FIBERID": 145, "CATID": 27021598755520773},
        {"FILE": "apVisit-1.3-apo25m-6340-59804-145.fits"},
    )
    assert read_apvisit(p).meta["catalogid"] == 27021598755520773
    path = write_dr19_apstar(tmp_path / "apStar-1.3-apo25m-x.fits")
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["CATID"] = 27021598755520773
        hdul[0].header["SDSSID"] = 103020000  # the SDSS-V writer's name for sdss_id
    s = read_apstar(path)
    assert s.meta["catalogid"] == 27021598755520773 and s.meta["sdss_id"] == 103020000


def test_apvisit_field_name_and_sdss_id_from_the_table(tmp_path):
    # datamodel apVisit DR17: the header has LOCID (4240) but no FIELD; HDU 11 FIELD is the
    # field name of the path (030+00). Before, field was "4240".
    p = write_apvisit_layout(
        tmp_path / "apVisit-dr17-5940-56780-001.fits",
        {"LOCID": 4240, "PLATE": "5940", "TELESCOP": "apo25m", "MJD5": 56780, "FIBERID": 1},
        {"FILE": "apVisit-dr17-5940-56780-001.fits", "FIELD": "030+00", "LOCATION_ID": 4240,
         "BC": 24.09, "VREL": 94.94, "VRELERR": 0.1, "VHELIO": 119.03},
    )  # fmt: skip
    m = read_apvisit(p).meta
    assert m["field"] == "030+00" and m["plate"] == "5940"
    assert m["v_helio"] == pytest.approx(119.03) and m["bc"] == pytest.approx(24.09)
    # DR19: sdss_id and catalogid only in the table (header CATID), no velocities at all
    p = write_apvisit_layout(
        tmp_path / "apVisit-1.3-lco25m-6340-59804-145.fits",
        {"LOCID": 100537, "PLATE": "6340", "MJD5": 59804, "FIBERID": 145, "SNR": 65.0},
        {"FILE": "apVisit-1.3-lco25m-6340-59804-145.fits", "FIELD": "100001",
         "CATALOGID": 27021598755520773, "SDSS_ID": 103020000},
    )  # fmt: skip
    m = read_apvisit(p).meta
    assert m["field"] == "100001" and m["sdss_id"] == 103020000
    # SDSS-V catalogids are above 2**53: read as integers, not through a float
    assert m["catalogid"] == 27021598755520773
    assert m["telescope"] == "lco25m"  # from the name when the card is missing
    assert np.isnan(m["v_helio"]) and np.isnan(m["bc"])


def _index(paths):
    import pandas as pd

    kinds = ["apstar" if "Star-" in Path(p).name else "apvisit" for p in paths]
    return pd.DataFrame({"sdss_id": 7, "kind": kinds, "path": [str(p) for p in paths], "row": 0,
                         "mjd": -1, "telescope": "", "objtype": "STAR"})  # fmt: skip


def test_dr19_lco_apstar_visits_go_to_the_lco_hdu_with_their_velocities(tmp_path):
    from sdssflow.mwm.build import build_source
    from sdssflow.mwm.sources import gather_bucket

    star = write_dr19_apstar(tmp_path / "apStar-1.3-lco25m-2M13593121+6335074.fits")
    src = gather_bucket(_index([star]))[0]
    assert src.error == ""
    prod = build_source(src.sdss_id, [], src.apogee, None)
    assert set(prod.visit) == {"APOGEE/LCO"} and set(prod.star) == {"APOGEE/LCO"}
    cols = prod.visit["APOGEE/LCO"]
    assert cols["telescope"] == ["lco25m", "lco25m"] and cols["in_stack"] == [True, True]
    for k, truth in enumerate(DR19_VISITS):
        assert cols["v_rad"][k] == pytest.approx(truth["vrad"])
        assert cols["v_rel"][k] == pytest.approx(truth["vrad"] - truth["bc"])
        assert cols["e_v_rel"][k] == pytest.approx(truth["vrelerr"], rel=1e-6)


def test_dr19_apvisit_takes_the_apstar_velocity_as_its_header_value(tmp_path):
    from sdssflow.mwm.sources import _apogee_visits

    # datamodel apVisit DR19: no VHELIO / VREL / BC in the header or the HDU 11 table
    v0 = DR19_VISITS[0]
    visit = write_apvisit_layout(
        tmp_path / v0["sfile"],
        {"TELESCOP": "lco25m", "MJD5": 59280, "FIBERID": 271, "SNR": 18.5, "JD-MID": v0["jd"]},
        {"FILE": v0["sfile"], "FIELD": "100001", "SDSS_ID": 7},
    )  # fmt: skip
    star = write_dr19_apstar(tmp_path / "apStar-1.3-lco25m-2M13593121+6335074.fits")
    visits, _ = _apogee_visits(_index([visit, star]), [])
    assert len(visits) == 2 and visits[0].chips and visits[0].rest is not None
    m = visits[0].meta
    assert m["v_rad_header"] == pytest.approx(v0["vrad"]) and m["v_rad"] == pytest.approx(v0["vrad"])
    assert m["v_rel"] == pytest.approx(v0["vrad"] - v0["bc"]) and m["bc"] == pytest.approx(v0["bc"])
    assert m["field"] == "100001" and m["telescope"] == "lco25m"


def test_apstar_with_fewer_rows_than_nvisits_is_a_clear_error(tmp_path):
    # datamodel apStar (DR12-DR19): NAXIS2 = NVISITS + 2 (DR12 5 visits, 7 rows; DR17 2, 4);
    # before, a short file gave an IndexError later, in the bucket, naming no file
    path = write_dr19_apstar(tmp_path / "apStar-1.3-apo25m-x.fits")
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["NVISITS"] = 3
    with pytest.raises(ValueError, match=r"apStar-1.3-apo25m-x.fits: apStar images have 4 rows "
                                         r"for NVISITS = 3"):  # fmt: skip
        read_apstar(path)


def test_apstar_with_a_short_file_leaves_out_that_apstar_only(tmp_path):
    from sdssflow.mwm.sources import gather_bucket

    v0 = DR19_VISITS[0]
    visit = write_apvisit_layout(
        tmp_path / v0["sfile"],
        {"TELESCOP": "lco25m", "MJD5": 59280, "FIBERID": 271, "SNR": 18.5, "JD-MID": v0["jd"]},
        {"FILE": v0["sfile"], "FIELD": "100001"},
    )  # fmt: skip
    star = write_dr19_apstar(tmp_path / "apStar-1.3-lco25m-x.fits")
    with fits.open(star, mode="update") as hdul:
        hdul[0].header["NVISITS"] = 5
    src = gather_bucket(_index([visit, star]))[0]
    assert src.error == "" and len(src.apogee) == 1  # the apVisit kept
    assert any("apStar-1.3-lco25m-x.fits" in n and "NVISITS = 5" in n for n in src.notes)


def test_apvisit_with_two_chips_is_a_clear_error(tmp_path):
    path = tmp_path / "apVisit-2chips.fits"
    fits.HDUList([fits.PrimaryHDU()] + [fits.ImageHDU(np.ones((2, 10)))] * 4).writeto(path)
    with pytest.raises(ValueError, match="apVisit-2chips.fits: apVisit images have 2 rows, need 3"):
        read_apvisit(path)


def test_apstar_on_another_grid_is_left_out_and_its_apvisit_kept(tmp_path):
    # datamodel apStar DR12-DR19: CRVAL1 = 4.179, CDELT1 = 6e-6, NAXIS1 = 8575; the rows are
    # copied unresampled, so before, an apStar on another grid was used at wrong wavelengths
    from sdssflow.mwm.sources import gather_bucket

    v0 = DR19_VISITS[0]
    visit = write_apvisit_layout(
        tmp_path / v0["sfile"],
        {"TELESCOP": "lco25m", "MJD5": 59280, "FIBERID": 271, "SNR": 18.5, "JD-MID": v0["jd"]},
        {"FILE": v0["sfile"], "FIELD": "100001"},
    )  # fmt: skip
    star = write_dr19_apstar(tmp_path / "apStar-1.3-lco25m-x.fits")
    with fits.open(star, mode="update") as hdul:
        hdul[0].header["CRVAL1"] = 4.17
    src = gather_bucket(_index([visit, star]))[0]
    assert src.error == "" and len(src.apogee) == 1 and src.apogee[0].rest is None
    assert any("apStar-1.3-lco25m-x.fits" in n and "not the APOGEE grid" in n for n in src.notes)


def test_dr17_lco_asstar_visits_keep_the_dr17_velocities_and_prefix(tmp_path):
    # datamodel apStar DR17: {prefix}Star-{apred}-{obj}.fits under stars/{telescope}/{field}/,
    # no TELESCOP; VRADi is the Doppler shift and VHELIOi the heliocentric RV; CCFWHM (was
    # CCPFWHM). LCO files have the prefix "as" (asStar-, asVisit-).
    from sdssflow.mwm.build import build_source
    from sdssflow.mwm.sources import gather_bucket

    path = tmp_path / "dr17/stars/lco25m/K01_082+17/asStar-dr17-2M19085185+5058401.fits"
    path.parent.mkdir(parents=True)
    visits = [dict(v, sfile=v["sfile"].replace("apVisit-1.3-lco25m-", "asVisit-dr17-"))
              for v in DR19_VISITS]  # fmt: skip
    write_dr19_apstar(path, visits=visits, rv_table=False)
    with fits.open(path, mode="update") as hdul:
        h = hdul[0].header
        h["CCFWHM"] = 22.5
        for i, v in enumerate(visits, start=1):
            h[f"VRAD{i}"] = v["vrad"] - v["bc"]  # the Doppler shift in DR17
            h[f"VHELIO{i}"] = v["vrad"]
            h[f"VERR{i}"] = v["vrelerr"]
    s = read_apstar(path)
    assert s.meta["telescope"] == "lco25m" and s.meta["ccpfwhm"] == 22.5
    src = gather_bucket(_index([path]))[0]
    prod = build_source(src.sdss_id, [], src.apogee, None)
    cols = prod.visit["APOGEE/LCO"]
    assert cols["prefix"] == ["as", "as"] and cols["telescope"] == ["lco25m", "lco25m"]
    for k, truth in enumerate(DR19_VISITS):
        assert cols["v_rad"][k] == pytest.approx(truth["vrad"])
        assert cols["v_rel"][k] == pytest.approx(truth["vrad"] - truth["bc"])


def test_mwm_index_of_dr19_files_uses_the_table_sdss_id_and_the_file_telescope(tmp_path):
    # datamodel apVisit DR19: SDSS_ID only in the HDU 11 table; apStar DR19: no SDSS_ID and no
    # TELESCOP. Before, both got the legacy id of their OBJID (so they were not the source of
    # the same star's BOSS visits) and telescope apo25m.
    from sdssflow.io.mwm_grids import legacy_apogee_sdss_id
    from sdssflow.mwm.steps.mwm_index import apogee_entries

    v0 = DR19_VISITS[0]
    d = tmp_path / "1.3"
    (d / "visit").mkdir(parents=True)
    (d / "stars").mkdir()
    write_apvisit_layout(
        d / "visit" / v0["sfile"],
        {"TELESCOP": "lco25m", "MJD5": 59280, "FIBERID": 271, "OBJID": "2M13593121+6335074"},
        {"FILE": v0["sfile"], "FIELD": "100001", "SDSS_ID": 103020000},
    )  # fmt: skip
    write_dr19_apstar(d / "stars" / "apStar-1.3-lco25m-2M13593121+6335074.fits")
    # a plate-era star with neither: its legacy id, as before
    write_apvisit_layout(
        d / "visit" / "apVisit-r6-6561-56587-131.fits",
        {"TELESCOP": "apo25m", "MJD5": 56587, "FIBERID": 131, "OBJID": "2M00452143+1634446"},
        {"FILE": "apVisit-r6-6561-56587-131.fits"},
    )  # fmt: skip
    index = apogee_entries([str(d)]).set_index("path")
    rows = {Path(p).name: r for p, r in index.iterrows()}
    assert rows[v0["sfile"]]["sdss_id"] == 103020000
    star = rows["apStar-1.3-lco25m-2M13593121+6335074.fits"]
    assert star["sdss_id"] == 103020000 and star["telescope"] == "lco25m"
    old = rows["apVisit-r6-6561-56587-131.fits"]
    assert old["sdss_id"] == legacy_apogee_sdss_id("2M00452143+1634446")


def test_exposure_catalog_scan_finds_dr17_lco_asvisit_files(tmp_path):
    # sdss_access apVisit DR17: {prefix}Visit-{apred}-{plate}-{mjd}-{fiber:0>3}.fits, prefix
    # "as" at LCO; before, only apVisit-* was scanned and every LCO visit was missed
    from sdssflow.catalog.scan import scan_apogee_visits

    d = tmp_path / "dr17" / "visit" / "lco25m" / "K01_082+17" / "10008" / "57936"
    d.mkdir(parents=True)
    write_apvisit_layout(
        d / "asVisit-dr17-10008-57936-214.fits",
        {"TELESCOP": "lco25m", "PLATE": "10008", "MJD5": 57936, "FIBERID": 214, "SNR": 107.3},
        {"FILE": "asVisit-dr17-10008-57936-214.fits", "FIELD": "K01_082+17"},
    )  # fmt: skip
    t = scan_apogee_visits(tmp_path)
    assert len(t) == 1 and t["observatory"][0] == "lco" and t["fiber"][0] == 214
    assert t["plate"][0] == 10008 and t["mjd"][0] == 57936


def test_dr19_star_observed_at_both_observatories_fills_both_apogee_hdus(tmp_path):
    # DR19: one apStar per telescope (apStar-{apred}-{telescope}-{obj}.fits), no TELESCOP card
    from sdssflow.mwm.build import build_source
    from sdssflow.mwm.sources import gather_bucket

    apo = [dict(v, sfile=v["sfile"].replace("lco25m", "apo25m")) for v in DR19_VISITS]
    a = write_dr19_apstar(tmp_path / "apStar-1.3-apo25m-2M13593121+6335074.fits", visits=apo)
    b = write_dr19_apstar(tmp_path / "apStar-1.3-lco25m-2M13593121+6335074.fits")
    src = gather_bucket(_index([a, b]))[0]
    prod = build_source(src.sdss_id, [], src.apogee, None)
    assert set(prod.visit) == set(prod.star) == {"APOGEE/APO", "APOGEE/LCO"}
    assert prod.visit["APOGEE/APO"]["telescope"] == ["apo25m"] * 2
    assert prod.visit["APOGEE/LCO"]["telescope"] == ["lco25m"] * 2
