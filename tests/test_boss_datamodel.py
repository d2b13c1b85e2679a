"""BOSS readers against release variants of the SDSS datamodel (sdss/datamodel yaml).

Each test names the product, release and HDU/keyword it follows; the inputs are synthetic,
built from those facts only.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from astropy.table import Table

from sdssflow.sky.extract import frame_sky_spectra, header_meta


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
