"""io.inflate: a gzipped FITS inflated only up to the HDUs a reader needs.

Checked against astropy's own HDU offsets (the byte where every HDU starts) and against
cfitsio reading the whole file: images, a binary table with a heap (variable-length
arrays, PCOUNT > 0), random groups, a header longer than one block and a dataless HDU.
"""

from __future__ import annotations

import gzip
import io

import fitsio
import numpy as np
import pytest
from astropy.io import fits

from sdssflow.io.inflate import copy_hdus, open_fits


@pytest.fixture(scope="module")
def mixed_fits(tmp_path_factory):
    """A FITS file of six HDUs of different kinds, its bytes, HDU start offsets and a .gz."""
    rng = np.random.default_rng(3)
    primary = fits.PrimaryHDU(rng.normal(size=(7, 13)).astype(np.float32))
    for k in range(60):  # a header of several 2880-byte blocks
        primary.header[f"KEY{k:04d}"] = (k, "padding the header past one block")
    heap = fits.BinTableHDU.from_columns(
        [
            fits.Column("ID", "J", array=np.arange(5)),
            fits.Column("VLA", "PD()", array=[np.arange(n, dtype=float) for n in (1, 4, 0, 9, 2)]),
        ],
        name="HEAP",
    )
    groups = fits.GroupsHDU(
        fits.GroupData(
            rng.normal(size=(4, 1, 3, 2)).astype(np.float32),
            parnames=["U", "V"],
            pardata=[np.arange(4.0), np.arange(4.0) * 2],
            bitpix=-32,
        )
    )
    image_hdu = fits.ImageHDU(rng.integers(0, 9, size=(3, 5, 2)).astype(np.int16), name="CUBE")
    empty = fits.ImageHDU(name="EMPTY")
    table = fits.BinTableHDU.from_columns(
        [fits.Column("X", "E", array=np.linspace(0, 1, 11))], name="TABLE"
    )
    path = tmp_path_factory.mktemp("inflate") / "mixed.fits"
    fits.HDUList([primary, heap, image_hdu, empty, table]).writeto(path)
    assert fits.getheader(path, "HEAP")["PCOUNT"] > 0  # the heap follows the table rows
    # random groups need their own primary: a second file, concatenated HDUs are not allowed
    gpath = path.with_name("groups.fits")
    fits.HDUList([groups, fits.ImageHDU(np.ones((2, 2)), name="AFTER")]).writeto(gpath)
    out = {}
    for p in (path, gpath):
        raw = p.read_bytes()
        with fits.open(p) as hdul:
            starts = [h.fileinfo()["hdrLoc"] for h in hdul] + [len(raw)]
        gz = p.with_suffix(".fits.gz")
        gz.write_bytes(gzip.compress(raw))
        out[p.stem] = (raw, starts, gz)
    return out


@pytest.mark.parametrize("name", ["mixed", "groups"])
def test_copy_hdus_stops_at_the_end_of_the_last_hdu(mixed_fits, name):
    """The copy is the file's prefix up to where HDU k starts, and no byte more is read."""
    raw, starts, _ = mixed_fits[name]
    for k in range(1, len(starts)):
        src, out = io.BytesIO(raw), io.BytesIO()
        copy_hdus(src, out, k)
        assert out.getvalue() == raw[: starts[k]]
        assert src.tell() == starts[k]
    src, out = io.BytesIO(raw), io.BytesIO()  # more HDUs than the file has: all of it
    copy_hdus(src, out, len(starts) + 3)
    assert out.getvalue() == raw


def test_open_fits_some_hdus_reads_as_the_whole_file(mixed_fits):
    """open_fits(gz, hdus=k): k HDUs, each identical (header and data) to cfitsio's read of
    the whole gzipped file; uncompressed files are opened whole."""
    raw, starts, gz = mixed_fits["mixed"]
    with fitsio.FITS(str(gz)) as ref:
        n = len(ref)
        for k in range(1, n + 1):
            with open_fits(gz, hdus=k) as mine:
                assert len(mine) == k
                for j in range(k):
                    assert mine[j].read_header().records() == ref[j].read_header().records()
                    a, b = mine[j].read(), ref[j].read()
                    if b is None:
                        assert a is None
                    elif b.dtype.names and "VLA" in b.dtype.names:
                        assert list(a["ID"]) == list(b["ID"])
                        assert all(np.array_equal(x, y) for x, y in zip(a["VLA"], b["VLA"]))
                    else:
                        assert a.dtype == b.dtype and np.array_equal(a, b)
    with open_fits(gz.with_suffix(""), hdus=1) as whole:
        assert len(whole) == n


def test_not_fits_or_truncated_is_left_to_the_reader(mixed_fits, tmp_path):
    """A gzipped stream that is not FITS is copied whole (fitsio then refuses it, as before);
    a stream cut inside a needed HDU fails, one cut after the needed HDUs opens."""
    junk = b"this is not a FITS file " * 500
    out = io.BytesIO()
    copy_hdus(io.BytesIO(junk), out, 2)
    assert out.getvalue() == junk
    bad = tmp_path / "junk.fits.gz"
    bad.write_bytes(gzip.compress(junk))
    with pytest.raises(OSError):
        open_fits(bad, hdus=1)
    raw, starts, _ = mixed_fits["mixed"]
    cut = tmp_path / "cut.fits.gz"
    # two gzip members (a valid gzip file when whole): HDUs 0-1, then the rest and 4 MB of
    # padding, cut short: the damage lies far beyond HDU1 (past any read-ahead of the inflater)
    rest = gzip.compress(raw[starts[2] :] + bytes(1 << 22))
    cut.write_bytes(gzip.compress(raw[: starts[2]]) + rest[: len(rest) - 200])
    with open_fits(cut, hdus=2) as first_two:  # the damage lies after HDU1
        assert len(first_two) == 2 and first_two[1].read()["ID"].tolist() == list(range(5))
    with pytest.raises((OSError, EOFError)):
        open_fits(cut)
