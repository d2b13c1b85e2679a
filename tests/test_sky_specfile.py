"""Input route 2: SDSS spec "full" files (real files in ../shared/data/real/sdss_spec)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdssflow.io.sky import read_skyflux, read_table
from sdssflow.io.specfile import find_spec_files, parse_spec_name, read_specfile
from sdssflow.sky.specroute import specfile_sky_spectra
from sdssflow.sky.steps import line_sum, mean_spectra, rich_metadata, sky_flux

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "sdss_spec"
pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="real spec files not available")


def test_reader_full_and_lite_files():
    files = find_spec_files(REAL)
    assert [parse_spec_name(p)[0] for p in files] == [266, 295, 1325, 6717, 7338]
    lite = read_specfile(REAL / "spec-0266-51602-0013.fits")
    assert not lite.is_full and lite.coadd["flux"].size > 3000 and int(lite.specobj["FIBERID"]) == 13
    full = read_specfile(REAL / "spec-6717-56397-0534.fits")
    assert full.is_full and len(full.exposures) == 16
    e = full.exposures[0]
    assert (e.camera, e.expid, e.flat, e.arc) == ("b2", 160164, 160163, 160162)
    assert e.header["TAI-END"] > e.header["TAI-BEG"]
    with pytest.raises(ValueError, match="not a spec 'full' file"):
        specfile_sky_spectra(lite)
    with pytest.raises(ValueError, match="not a spec-PLATE-MJD-FIBER"):
        parse_spec_name("spPlate-6717-56397.fits")


def test_sdss1_exposure_tables_are_put_in_increasing_wavelength():
    s = specfile_sky_spectra(read_specfile(REAL / "spec-1325-52762-0133.fits"))
    for i in range(s.nspec):
        n = int(s.meta["NPIX"][i])
        assert np.all(np.diff(s.wave[i, :n]) > 0)


@pytest.mark.parametrize("plate", [1325, 6717, 7338])
def test_real_chain_oi5577_positive_and_finite(plate, tmp_path):
    sf, rich, lines, mean = (tmp_path / f"{k}.fits" for k in ("skyflux", "rich", "lines", "mean"))
    sky_flux.main(["--plate", str(plate), "--spec-dir", str(REAL), "--out", str(sf)])
    rich_metadata.main(["--skyflux", str(sf), "--out", str(rich)])
    line_sum.main(["--skyflux", str(sf), "--rich", str(rich), "--out", str(lines)])
    mean_spectra.main(["--skyflux", str(sf), "--rich", str(rich), "--out", str(mean)])
    t = read_table(lines)
    blue = np.array([str(c).startswith("b") for c in t["CAMERA"]])
    oi = np.asarray(t["OI5579"])[blue]
    assert blue.sum() >= 3 and np.all(np.isfinite(oi)) and np.all(oi > 0)
    assert np.all(np.asarray(t["OI5579_IVAR"])[blue] > 0)
    # the header airmass is near the one computed for the fibre at mid-exposure
    assert np.median(np.abs(t["AIRMASS_FIB"] / t["AIRMASS"] - 1)) < 0.03
    assert read_skyflux(sf).nspec == len(t)
