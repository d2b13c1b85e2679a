"""mwmVisit / mwmStar layout, bossVisits and status files: write, read, load with specutils."""

from __future__ import annotations

import warnings

import fitsio
import numpy as np
import pytest
from astropy.io import fits

from sdssflow.io.boss_visits import read_boss_visits, write_boss_visits
from sdssflow.io.mwm import read_mwm, write_mwm
from sdssflow.io.mwm_columns import COLUMNS, empty_columns
from sdssflow.io.mwm_grids import APOGEE, BOSS
from sdssflow.io.mwm_status import read_status, write_status

specutils = pytest.importorskip("specutils")


def _star_hdus():
    n = BOSS.npix
    boss = {
        "sdss_id": [1234], "telescope": ["apo25m"], "snr": [12.5], "min_mjd": [59000], "max_mjd": [59010],
        "flux": np.ones((1, n)), "ivar": np.full((1, n), 4.0), "pixel_flags": np.zeros((1, n), np.int64),
        "v_rad": [12.0], "n_visits": [2],
    }  # fmt: skip
    boss["pixel_flags"][0, 10] = 1 << 26
    apogee = {
        "sdss_id": [1234],
        "telescope": ["apo1m"],
        "flux": np.ones((1, APOGEE.npix)),
        "snr": [50.0],
    }
    return {"BOSS/APO": boss, "APOGEE/APO": apogee}


def test_column_counts_match_the_datamodel():
    assert len(empty_columns("star", "boss")) == 35
    assert len(empty_columns("star", "apogee")) == 45
    assert len(empty_columns("visit", "boss")) == 73
    assert len(empty_columns("visit", "apogee")) == 58
    for cols in COLUMNS.values():
        names = [n for n, _ in cols]
        assert names == [n.lower() for n in names] and len(set(names)) == len(names)
    assert "wavelength" not in empty_columns("visit", "boss")


def test_star_file_layout_and_roundtrip(tmp_path):
    path = write_mwm(tmp_path / "mwmStar-v1-1234.fits", "star", {"SDSS_ID": 1234, "RA": np.nan, "n_boss": 2},
                     _star_hdus(), "v1", ["in.fits"], "mwm_star")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hdul = fits.open(path, checksum=True)
    assert [h.name for h in hdul] == ["PRIMARY", "BOSS/APO", "BOSS/LCO", "APOGEE/APO", "APOGEE/LCO"]
    assert all(h.verify_checksum() == 1 and h.verify_datasum() == 1 for h in hdul)
    h0 = hdul[0].header
    assert (
        h0["V_ASTRA"] == "v1" and h0["SDSS_ID"] == 1234 and h0["RA"] == "NaN" and h0["N_BOSS"] == 2
    )
    assert h0["DATASUM"] == "0" and h0["INFILE01"] == "in.fits"
    b = hdul["BOSS/APO"]
    assert b.header["TFIELDS"] == 35 and b.header["NAXIS2"] == 1
    assert (b.header["CRVAL"], b.header["CDELT"], b.header["NPIXELS"]) == (3.5523, 1e-4, 4648)
    assert b.header["CTYPE"] == "LOG-LINEAR" and b.header["CUNIT"] == "Angstrom (Vacuum)"
    assert b.header["OBSRVTRY"] == "APO" and b.header["INSTRMNT"] == "BOSS"
    np.testing.assert_allclose(b.data["wavelength"][0], BOSS.wavelength, rtol=1e-6)
    assert b.data["pixel_flags"][0, 10] == 1 << 26  # lossless (K), not float32
    assert b.data["n_good_visits"][0] == -1 and np.isnan(b.data["e_v_rad"][0])  # fill values
    empty = hdul["BOSS/LCO"].header
    assert empty["NAXIS2"] == 0 and empty["DATASUM"] == "0"
    tf = {empty[f"TTYPE{i}"]: (empty[f"TFORM{i}"], empty.get(f"TDIM{i}")) for i in range(1, 36)}
    assert tf["flux"] == ("0E", "(0)") and tf["release"][0] == "1A"
    header, tables = read_mwm(path)
    assert header["SDSS_ID"] == 1234 and tables["BOSS/LCO"] is None
    assert tables["APOGEE/APO"]["telescope"][0].strip() == "apo1m"


def test_specutils_loads_star_and_visit(tmp_path):
    from specutils import Spectrum, SpectrumList

    star = write_mwm(tmp_path / "s.fits", "star", {"SDSS_ID": 1234}, _star_hdus(), "v1")
    n = BOSS.npix
    vis = {"sdss_id": [7, 7, 7], "telescope": ["lco25m"] * 3, "mjd": [1, 2, 3], "flux": np.ones((3, n)),
           "ivar": np.ones((3, n)), "in_stack": [True, False, True], "snr": [1.0, 2.0, 3.0],
           "delta_ra": [[0.1], [], [0.2, 0.3]]}  # fmt: skip
    visit = write_mwm(tmp_path / "v.fits", "visit", {"SDSS_ID": 7}, {"BOSS/LCO": vis}, "v1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "HDU not specified" warning of the 1-D loader
        s = Spectrum.read(star, format="SDSS-V mwm")
        sl = SpectrumList.read(star, format="SDSS-V mwm")
        v = Spectrum.read(visit, format="SDSS-V mwm")
        vl = SpectrumList.read(visit, format="SDSS-V mwm")
    assert s.flux.shape == (4648,) and s.mask[10] and not s.mask[11]
    assert [x.flux.shape for x in sl] == [(4648,), (8575,)]
    assert v.flux.shape == (3, 4648) and len(vl) == 1
    assert v.spectral_axis[0].value == pytest.approx(3566.97, abs=0.01)
    assert v.meta["datatype"] == "mwmVisit" and s.meta["datatype"] == "mwmStar"


def test_write_mwm_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown column"):
        write_mwm(
            tmp_path / "x.fits", "star", {}, {"BOSS/APO": {"sdss_id": [1], "bogus": [1]}}, "v1"
        )
    with pytest.raises(ValueError, match="unknown HDU"):
        write_mwm(tmp_path / "x.fits", "star", {}, {"BOSS/XYZ": {}}, "v1")
    with pytest.raises(ValueError, match="filetype must be"):
        write_mwm(tmp_path / "x.fits", "coadd", {}, {}, "v1")
    assert not (tmp_path / "x.fits").exists()
    bad = tmp_path / "notmwm.fits"
    fitsio.write(str(bad), np.zeros(3))
    with pytest.raises(ValueError, match="not an mwm file"):
        read_mwm(bad)


def test_boss_visits_and_status_roundtrip(tmp_path):
    n = BOSS.npix
    table = np.zeros(3, dtype=[("sdss_id", "i8"), ("mjd", "i4"), ("telescope", "S8")])
    table["sdss_id"], table["mjd"], table["telescope"] = [5, 6, 7], 59000, b"apo25m"
    flux = np.arange(3 * n, dtype=float).reshape(3, n)
    path = write_boss_visits(tmp_path / "bv.fits", table, flux, np.ones((3, n)), np.zeros((3, n), int),
                             np.ones((3, n)), [("PLATEID", 1, "")], "v1")  # fmt: skip
    d = read_boss_visits(path, rows=[0, 2])
    assert list(d["table"]["sdss_id"]) == [5, 7]
    np.testing.assert_array_equal(d["flux"][1], flux[2])
    assert np.isnan(d["table"]["snr"][0])  # unset float columns are NaN
    with pytest.raises(ValueError, match="not a bossVisits file"):
        read_boss_visits(_plain(tmp_path))
    st = write_status(
        tmp_path / "st.fits", [{"sdss_id": 5, "flags": 24, "message": "x" * 500}], "v1", "mwm_star"
    )
    t = read_status(st)
    assert t["flags"][0] == 24 and len(t["message"][0]) == 200


def _plain(tmp_path):
    p = tmp_path / "plain.fits"
    fitsio.write(str(p), np.zeros(3))
    return p
