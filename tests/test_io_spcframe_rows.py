"""read_spcframe_rows: some fibres of an spCFrame, equal to those rows of read_spcframe."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from sdssflow.io import boss
from sdssflow.io.spcframe_rows import consecutive_runs, read_spcframe_rows
from sdssflow.mwm.visits import visit_rows
from test_io_boss import NFIB, blue_frame  # noqa: F401  (the module's spCFrame fixture)


@pytest.mark.parametrize("gzipped", [False, True])
def test_rows_equal_the_whole_frame_reader(blue_frame, tmp_path, gzipped):  # noqa: F811
    d, _, _ = blue_frame
    path = d / "spCFrame-b1-00120000.fits"
    whole = boss.read_spcframe(path)
    if gzipped:  # v6 gzips spCFrames: the same rows from the inflated copy
        gz = tmp_path / "spCFrame-b1-00120000.fits.gz"
        gz.write_bytes(gzip.compress(path.read_bytes()))
        path = gz
    expected_rows = np.flatnonzero(np.asarray(whole.plugmap["OBJTYPE"]) != "SKY")  # all have SDSS_ID
    for rows in (visit_rows, [7, 3, 4, 5, 0], np.zeros(0, int)):
        part = read_spcframe_rows(path, rows)
        keep = expected_rows if rows is visit_rows else np.asarray(rows, int)
        np.testing.assert_array_equal(part.rows, keep)
        for name in ("flux", "ivar", "mask", "loglam", "disp", "sky"):
            got, want = getattr(part, name), getattr(whole, name)[keep]
            assert got.dtype == want.dtype and np.array_equal(got, want), name
        assert list(part.plugmap["FIBERID"]) == list(whole.plugmap["FIBERID"][keep])
        assert part.x is None and part.superflat is None
        assert (part.camera, part.expid, part.header["PLATEID"]) == ("b1", 120000, 4100)
    assert read_spcframe_rows(path, [1], npix=4128).flux.shape == (1, 4128)  # untrimmed padding
    no_sky = read_spcframe_rows(path, visit_rows, sky=False)  # boss_visits': the same but the sky
    assert no_sky.sky is None
    for name in ("flux", "ivar", "mask", "loglam", "disp"):
        assert np.array_equal(getattr(no_sky, name), getattr(whole, name)[expected_rows]), name


def test_errors_name_the_file(blue_frame, tmp_path):  # noqa: F811
    d, _, _ = blue_frame
    path = d / "spCFrame-b1-00120000.fits"
    with pytest.raises(ValueError, match="rows outside"):
        read_spcframe_rows(path, [NFIB])
    with pytest.raises(ValueError, match="fewer than the 5000"):
        read_spcframe_rows(path, [0], npix=5000)
    with pytest.raises(FileNotFoundError, match="spCFrame-b1-00000009.fits"):
        read_spcframe_rows(tmp_path / "spCFrame-b1-00000009.fits", [0])
    trunc = tmp_path / "spCFrame-b1-00000003.fits"
    trunc.write_bytes(path.read_bytes()[: 2880 * 40])
    with pytest.raises(ValueError, match="spCFrame-b1-00000003.fits"):
        read_spcframe_rows(trunc, [0, 1])


def test_consecutive_runs():
    assert consecutive_runs(np.array([], int)) == []
    assert consecutive_runs(np.array([0, 1, 2, 5, 6, 4])) == [(0, 3, 0), (5, 7, 3), (4, 5, 5)]
