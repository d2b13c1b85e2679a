"""Readers of apVisit / apStar: the real DR13-era files and the error paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

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
