"""Exposure catalog: field validation, HDF5 layout, round trip, idempotence, bad files."""

import math

import h5py
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from sdssflow.catalog.scan import moon_geometry, scan_plate_dir
from sdssflow.catalog.steps import exposure_catalog, select_exposures
from sdssflow.io import catalog as io_catalog
from sdssflow.io.catalog_model import EXPOSURE_FIELDS, FIBER_FIELDS, coerce_record, records_to_frame


def test_coerce_record_almanac_rules():
    rec = coerce_record(
        {"mjd": "55500", "plate": "", "exptime": "inf", "lamp_ff": "F", "lamp_ne": "1 1 1 1",
         "lamp_hgcd": "", "image_type": "SCIENCE ", "airmass": "1.2"}
    )
    assert rec["mjd"] == 55500 and rec["plate"] == -1
    assert math.isnan(rec["exptime"]) and rec["airmass"] == pytest.approx(1.2)
    assert (rec["lamp_ff"], rec["lamp_ne"], rec["lamp_hgcd"]) == (0, 1, -1)
    assert rec["image_type"] == "science"


def test_moon_geometry_against_known_full_moon():
    # Full moon of 2010-11-21 17:27 UTC (MJD 55521.727): illumination ~1; the moon is
    # then near RA 3h52m, Dec +20 deg, so a target there is a few degrees away.
    illum, sep, _ = moon_geometry(55521.727, 58.0, 20.0)
    assert illum > 0.99
    assert sep < 6.0
    new_illum, _, _ = moon_geometry(55506.2, 0.0, 0.0)  # new moon 2010-11-06 04:52 UTC
    assert new_illum < 0.01


def _night_frame(n=3, mjd=55500):
    return records_to_frame(
        [
            {"observatory": "apo", "mjd": mjd, "exposure": 100 + i, "instrument": "boss", "plate": 4100,
             "exptime": 900.0, "image_type": "science", "cameras": "b1 r1", "problem": ""}
            for i in range(n)
        ]
    )


def test_write_night_layout_attributes_and_idempotence(tmp_path):
    path = tmp_path / "cat.h5"
    fibers = {4100: records_to_frame([{"fiber_id": i + 1, "obj_type": "SKY"} for i in range(300)], FIBER_FIELDS)}
    with h5py.File(path, "w") as h5:
        io_catalog.write_night(h5, "apo", 55500, _night_frame(), fibers)
        io_catalog.write_night(h5, "apo", 55501, _night_frame(2, 55501))
    with h5py.File(path, "a") as h5:  # rewrite one night: other nights untouched
        io_catalog.write_night(h5, "apo", 55500, _night_frame(), fibers)
    with h5py.File(path, "r") as h5:
        group = h5["apo/55500/exposures"]
        assert set(group) == {f.name for f in EXPOSURE_FIELDS}
        assert group["exptime"].attrs["description"].endswith("(s)")
        assert group["observatory"].dtype.kind == "S"
        fib = h5["apo/55500/fibers/4100/obj_type"]
        assert fib.compression == "gzip" and fib.chunks is not None  # compression really applied
        assert h5["apo/55500/fibers/4100/obj_type"][0] == b"sky"
    exposures = io_catalog.read_exposures(path)
    assert len(exposures) == 5 and isinstance(exposures, pd.DataFrame)
    assert io_catalog.list_nights(path) == [("apo", 55500), ("apo", 55501)]
    assert list(io_catalog.read_fibers(path, "apo", 55500, 4100)["fiber_id"][:3]) == [1, 2, 3]


def _fake_frame(path, plate, mjd, expid, camera, fibers=range(1, 501)):
    header = fits.Header()
    header.update({"PLATEID": plate, "MJD": mjd, "EXPOSURE": expid, "CAMERAS": camera, "EXPTIME": 900.0,
                   "FLAVOR": "science", "TAI-BEG": mjd * 86400.0 + 3600, "TAI-END": mjd * 86400.0 + 4500,
                   "RA": 30.0, "DEC": 10.0, "AIRMASS": 1.1, "FF": "0 0 0 0", "NE": "0 0 0 0", "HGCD": "0 0 0 0"})
    plug = fits.BinTableHDU.from_columns(
        [fits.Column("FIBERID", "J", array=np.array(list(fibers))),
         fits.Column("OBJTYPE", "16A", array=np.array(["SKY"] * len(fibers)))]
    )
    hdus = [fits.PrimaryHDU(np.zeros((2, 2), "f4"), header)] + [fits.ImageHDU(np.zeros(2, "f4")) for _ in range(4)] + [plug]
    fits.HDUList(hdus).writeto(path)


def test_scan_plate_dir_records_truncated_file_without_stopping(tmp_path):
    plate_dir = tmp_path / "v5_7_0" / "4100"
    plate_dir.mkdir(parents=True)
    _fake_frame(plate_dir / "spFrame-b1-00000101.fits", 4100, 55500, 101, "b1")
    _fake_frame(plate_dir / "spFrame-b2-00000101.fits", 4100, 55500, 101, "b2", range(501, 1001))
    _fake_frame(plate_dir / "spFrame-b1-00000102.fits", 4100, 55500, 102, "b1")
    (plate_dir / "spFrame-b1-00000103.fits").write_bytes(b"SIMPLE  =  T" + b" " * 100)  # truncated
    records, fibers = scan_plate_dir(plate_dir)
    frame = records_to_frame(records)
    assert list(frame["exposure"]) == [101, 102, 103]
    bad = frame.set_index("exposure").loc[103]
    assert bad["flagged_bad"] == 1 and "spFrame-b1-00000103.fits" in bad["problem"]
    assert frame.set_index("exposure").loc[101, "cameras"] == "b1 b2"
    assert len(fibers[(55500, 4100)]) == 1000

    out = tmp_path / "exposures.h5"
    exposure_catalog.main(["--boss-dir", str(tmp_path / "v5_7_0"), "--out", str(out), "--version-name", "vt"])
    with h5py.File(out, "r") as h5:
        assert h5.attrs["VERSION"] == "vt" and "SDSSFLOW" in h5.attrs
    table = io_catalog.read_exposures(out)
    assert len(table) == 3 and table["flagged_bad"].sum() == 1

    # selections drop unreadable exposures and apply the query
    flag_rows = pd.DataFrame(columns=["version", "observatory", "mjd", "plate", "exposure", "camera", "flag", "severity"])
    chosen = select_exposures.select_plate(table, 4100, "exposure > 101", flag_rows, [])
    assert list(chosen["exposure"]) == [102]
    assert list(chosen.columns[:4]) == ["observatory", "mjd", "plate", "exposure"]


def test_plate_numbers_disagreeing_with_names_are_recorded_and_skipped(tmp_path):
    plate_dir = tmp_path / "v5_7_0" / "4100"
    plate_dir.mkdir(parents=True)
    _fake_frame(plate_dir / "spFrame-b1-00000101.fits", 4100, 55500, 101, "b1")
    _fake_frame(plate_dir / "spFrame-b1-00000102.fits", 4101, 55500, 102, "b1")  # frame of another plate
    fits.PrimaryHDU(header=fits.Header({"PLATEID": 4100})).writeto(plate_dir / "spPlate-4100-55500.fits")
    fits.PrimaryHDU(header=fits.Header({"PLATEID": 4102})).writeto(plate_dir / "spPlate-4102-55501.fits")
    fits.PrimaryHDU(header=fits.Header({"PLATEID": 4103})).writeto(plate_dir / "spPlate-4100-55502.fits")
    frame = records_to_frame(scan_plate_dir(plate_dir)[0])
    bad = frame[frame["flagged_bad"] == 1].set_index("exposure")
    assert sorted(bad.index) == [-1, -1, 102] and (frame["plate"] == 4100).all()
    assert "PLATEID 4101" in bad.loc[102, "problem"] and "plate directory 4100" in bad.loc[102, "problem"]
    spplates = frame[frame["exposure"] == -1].set_index("mjd")
    assert "plate 4102 in the file name" in spplates.loc[55501, "problem"] and "4100" in spplates.loc[55501, "problem"]
    assert "PLATEID 4103" in spplates.loc[55502, "problem"] and "plate 4100 of its name" in spplates.loc[55502, "problem"]
    assert frame.set_index("exposure").loc[101, "flagged_bad"] == 0
    flag_rows = pd.DataFrame(columns=["version", "observatory", "mjd", "plate", "exposure", "camera", "flag", "severity"])
    chosen = select_exposures.select_plate(frame.assign(image_type="science"), 4100, "exptime > 0", flag_rows, [])
    assert list(chosen["exposure"]) == [101]
