"""Round trips and error handling of the BOSS frame readers and writers (sdssflow.io.boss)."""

from __future__ import annotations

import fitsio
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from sdssflow.io import boss, spplate, traceset
from sdssflow.synth import boss_files, spplate_files

NFIB = 500


def _wset(npix: int, rng) -> dict:
    coeff = np.zeros((NFIB, 6))
    coeff[:, 0] = 3.6765 + rng.normal(0, 1e-5, NFIB)
    coeff[:, 1] = 0.1263
    coeff[:, 2] = -0.002
    return {"FUNC": "legendre", "XMIN": 0.0, "XMAX": npix - 1.0, "COEFF": coeff}


def _plugmap() -> Table:
    objtype = np.array(["SCIENCE"] * NFIB, dtype="U16")
    objtype[::10] = "SKY"
    return Table(
        {
            "FIBERID": np.arange(1, NFIB + 1, dtype=np.int32),
            "OBJTYPE": objtype,
            "RA": np.linspace(10, 11, NFIB),
            "DEC": np.linspace(-1, 1, NFIB),
            "MAG": np.full((NFIB, 5), 18.0, np.float32),
            "SDSS_ID": np.arange(NFIB, dtype=np.int64) + 10**11,
        }
    )


@pytest.fixture(scope="module")
def blue_frame(tmp_path_factory):
    rng = np.random.default_rng(3)
    npix = 4112
    d = tmp_path_factory.mktemp("boss")
    flux = rng.normal(size=(NFIB, npix)).astype(np.float32)
    mask = np.zeros((NFIB, npix), np.int32)
    mask[5, 100] = 1 << boss.SPPIXMASK["FULLREJECT"]
    hdr = fits.Header(
        {"PLATEID": 4100, "MJD": 55500, "EXPOSURE": 120000, "CAMERAS": "b1", "EXPTIME": 900.0}
    )
    wset = _wset(npix, rng)
    dset = {
        "FUNC": "legendre",
        "XMIN": 0.0,
        "XMAX": npix - 1.0,
        "COEFF": np.tile([1.0, 0.1, 0, 0], (NFIB, 1)),
    }
    kw = dict(
        flux=flux,
        ivar=np.ones_like(flux),
        mask=mask,
        wset=wset,
        dispset=dset,
        plugmap=_plugmap(),
        sky=flux * 2,
        x=flux * 3,
        superflat=np.ones_like(flux),
        header=hdr,
    )
    paths = {
        ext: boss_files.write_spframe(d / f"spFrame-b1-00120000{ext}", **kw)
        for ext in (".fits", ".fits.gz")
    }
    loglam = traceset.evaluate_traceset(wset, npix)
    boss_files.write_spcframe(
        d / "spCFrame-b1-00120000.fits",
        flux=flux,
        ivar=np.ones_like(flux),
        mask=mask,
        loglam=loglam,
        wdisp=np.ones_like(flux),
        plugmap=_plugmap(),
        sky=flux,
        x=flux,
        superflat=np.ones_like(flux),
        header=hdr,
    )
    boss_files.write_spfluxcalib(
        d / "spFluxcalib-b1-00120000.fits.gz", np.full((NFIB, npix), 2.0), header=hdr
    )
    return d, paths, kw


def test_demo_gzip_header_names_the_file_and_holds_no_time(blue_frame):
    _, paths, _ = blue_frame
    head = paths[".fits.gz"].read_bytes()[:64]
    assert head[:2] == b"\x1f\x8b" and head[3] & 0x08  # gzip, FNAME present (RFC 1952)
    assert head[4:8] == bytes(4)  # MTIME 0
    assert head[10:].split(b"\0", 1)[0] == b"spFrame-b1-00120000.fits"


@pytest.mark.parametrize("ext", [".fits", ".fits.gz"])
def test_spframe_round_trip(blue_frame, ext):
    _, paths, kw = blue_frame
    frame = boss.read_spframe(paths[ext])
    assert frame.camera == "b1" and frame.expid == 120000
    assert (
        frame.flux.dtype == np.float32
        and frame.mask.dtype == np.int32
        and frame.loglam.dtype == np.float64
    )
    np.testing.assert_array_equal(frame.flux, kw["flux"])
    np.testing.assert_array_equal(frame.sky, kw["sky"])
    np.testing.assert_array_equal(frame.mask, kw["mask"])
    assert frame.plugmap["OBJTYPE"][0] == "SKY" and frame.plugmap["SDSS_ID"].dtype == np.int64
    assert frame.header["PLATEID"] == 4100
    # independent evaluation of the Legendre series at a few pixels
    coeff = kw["wset"]["COEFF"][7]
    xp = 2 * (np.array([0.0, 2055.0, 4111.0]) - 2055.5) / 4111.0
    expect = np.polynomial.legendre.legval(xp, coeff)
    np.testing.assert_allclose(frame.loglam[7, [0, 2055, 4111]], expect, atol=2e-8)


@pytest.mark.parametrize("ext", [".fits", ".fits.gz"])
def test_spframe_rows_and_objtype_subset(blue_frame, ext):
    """The one spFrame reader with options: the SKY rows (every 10th fibre here) read alone,
    without HDU7/8, equal those rows of the full read, trace sets included."""
    _, paths, kw = blue_frame
    full = boss.read_spframe(paths[".fits"])
    sky = boss.read_spframe(paths[ext], objtype="SKY", extras=False)
    rows = np.arange(0, NFIB, 10)
    np.testing.assert_array_equal(sky.rows, rows)
    assert sky.x is None and sky.superflat is None and full.rows is None
    for name in ("flux", "ivar", "mask", "sky", "loglam", "disp"):
        np.testing.assert_array_equal(getattr(sky, name), getattr(full, name)[rows])
    np.testing.assert_array_equal(sky.plugmap["FIBERID"], kw["plugmap"]["FIBERID"][rows])
    assert set(sky.plugmap["OBJTYPE"]) == {"SKY"}
    both = boss.read_spframe(paths[ext], rows=[0, 1, 2, 10, 11], objtype="sky")  # case-blind
    np.testing.assert_array_equal(both.rows, [0, 10])
    with pytest.raises(ValueError, match=r"spFrame-b1-00120000.*rows outside"):
        boss.read_spframe(paths[ext], rows=[NFIB])


def test_every_hdu_has_extname_bunit_and_checksum(blue_frame):
    _, paths, _ = blue_frame
    with fits.open(paths[".fits"], checksum=True) as hdul:
        assert len(hdul) == 9
        for hdu in hdul:
            assert hdu.header.get("EXTNAME")
            assert "CHECKSUM" in hdu.header
        assert hdul[0].header["BUNIT"] == "electrons/pixel"


def test_spcframe_trimmed_and_matches_traceset(blue_frame):
    d, paths, _ = blue_frame
    with fitsio.FITS(str(d / "spCFrame-b1-00120000.fits")) as f:
        assert f[0].read().shape == (NFIB, 4128)
        padded = f[0].read()[:, 4112:]
    assert np.all(padded == 0)
    cframe = boss.read_spcframe(d / "spCFrame-b1-00120000.fits")
    frame = boss.read_spframe(paths[".fits"])
    assert cframe.flux.shape == (NFIB, 4112)
    assert np.max(np.abs(cframe.loglam - frame.loglam)) < 1e-6
    # the mask-only reader (sky_flux's) gives the same SPPIXMASK rows and trimming
    rows = np.array([3, 0, 7])
    mask = boss.read_spcframe_mask(d / "spCFrame-b1-00120000.fits", rows)
    np.testing.assert_array_equal(mask, cframe.mask[rows])
    assert mask.dtype == np.int32 and mask.shape == (3, 4112)
    with pytest.raises(ValueError, match="fewer than"):
        boss.read_spcframe_mask(d / "spCFrame-b1-00120000.fits", npix=5000)


def test_xjump_traceset():
    ts = {
        "FUNC": "legendre",
        "XMIN": 0.0,
        "XMAX": 10.0,
        "COEFF": np.array([[5.0, 5.0]]),
        "XJUMPLO": 4.0,
        "XJUMPHI": 6.0,
        "XJUMPVAL": 2.0,
    }
    y = traceset.evaluate_traceset(ts, 11)[0]
    # y = x_in; x_in = x below the jump, x + 2 above it, half-way in between
    np.testing.assert_allclose(y[[0, 4, 5, 6, 10]], [0, 4, 6, 8, 12])


def test_fluxcalib_and_find_files(blue_frame):
    d, _, _ = blue_frame
    calib, hdr = boss.read_spfluxcalib(d / "spFluxcalib-b1-00120000.fits.gz")
    assert calib.shape == (NFIB, 4112) and np.all(calib == 2.0) and hdr["CAMERAS"] == "b1"
    files = spplate.find_plate_files(d)
    assert files["spFrame"][("b1", 120000)].name == "spFrame-b1-00120000.fits"  # .fits preferred
    assert ("b1", 120000) in files["spCFrame"] and ("b1", 120000) in files["spFluxcalib"]


def test_spplate_exposures(tmp_path):
    n = 1000
    z = np.zeros((n, 10))
    exps = [("b1", 120000, 119990, 119991), ("r1", 120000, 119990, 119991)]
    pm = Table({"FIBERID": np.arange(1, n + 1, dtype=np.int32)})
    path = spplate_files.write_spplate(
        tmp_path / "spPlate-4100-55500.fits",
        flux=z,
        ivar=z,
        andmask=z.astype(int),
        ormask=z.astype(int),
        wdisp=z,
        plugmap=pm,
        sky=z,
        coeff0=3.5523,
        exposures=exps,
        header={"PLATEID": 4100, "MJD": 55500},
    )
    table = spplate.read_spplate_exposures(path)
    assert list(table["camera"]) == ["b1", "r1"] and list(table["expid"]) == [120000, 120000]
    assert table["flat"][0] == 119990 and table["arc"][0] == 119991
    assert table.meta["PLATEID"] == 4100 and table.meta["NEXP"] == 2
    assert fits.getheader(path)["EXPID01"] == "b1-00120000-00119990-00119991"


def test_decode_mask():
    m = np.array([[0, 1 << 18], [1 << 22, (1 << 16) | (1 << 0)]], dtype=np.int32)
    np.testing.assert_array_equal(
        boss.decode_mask(m, ["FULLREJECT", "NOSKY", "NOPLUG"]), [[0, 1], [1, 1]]
    )
    with pytest.raises(ValueError, match="unknown SPPIXMASK bit 'NOTABIT'"):
        boss.decode_mask(m, ["NOTABIT"])


def test_errors_name_the_file(tmp_path, blue_frame):
    _, paths, _ = blue_frame
    with pytest.raises(FileNotFoundError, match="spFrame-b1-00000001.fits"):
        boss.read_spframe(tmp_path / "spFrame-b1-00000001.fits")
    # a frame with only 3 HDUs
    short = tmp_path / "spFrame-b1-00000002.fits"
    fits.HDUList(
        [fits.PrimaryHDU(np.zeros((2, 2), np.float32)), fits.ImageHDU(), fits.ImageHDU()]
    ).writeto(short)
    with pytest.raises(ValueError, match=r"spFrame-b1-00000002.fits: spFrame has 3 HDUs"):
        boss.read_spframe(short)
    # a truncated file
    trunc = tmp_path / "spFrame-b1-00000003.fits"
    trunc.write_bytes(paths[".fits"].read_bytes()[: 2880 * 40])
    with pytest.raises(ValueError, match="spFrame-b1-00000003.fits"):
        boss.read_spframe(trunc)
    with pytest.raises(ValueError, match="not supported"):
        traceset.evaluate_traceset({"FUNC": "chebyshev", "XMIN": 0, "XMAX": 1, "COEFF": [[1.0]]}, 3)
    bad = tmp_path / "spPlate-4100-55500.fits"
    fits.PrimaryHDU(header=fits.Header({"EXPID01": "b1-123"})).writeto(bad)
    with pytest.raises(ValueError, match="EXPID01 = 'b1-123'"):
        spplate.read_spplate_exposures(bad)


def test_gzipped_frame_inflated_once_identical_and_no_temp_left(blue_frame, tmp_path, monkeypatch):
    """io.inflate: a .fits.gz opened through the fast inflater reads the same HDUs as cfitsio's
    own gzip reader; its temporary file is gone once opened, also when the gzip is damaged."""
    import tempfile

    from sdssflow.io.inflate import is_gzipped, open_fits
    from sdssflow.io.readable import UnreadableFile

    _, paths, kw = blue_frame
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    gz = paths[".fits.gz"]
    assert is_gzipped(gz) and not is_gzipped(paths[".fits"])
    with open_fits(gz) as mine, fitsio.FITS(str(gz)) as ref:
        assert list(scratch.iterdir()) == []  # unlinked while fitsio reads it
        assert len(mine) == len(ref) == 9
        for ext in range(len(ref)):
            a, b = mine[ext].read(), ref[ext].read()
            assert a.dtype == b.dtype and np.array_equal(a, b)
    np.testing.assert_array_equal(boss.read_spframe(gz).flux, kw["flux"])
    # a truncated gzip stream: the reader's error names the file, no temporary file is left
    cut = tmp_path / "spFrame-b1-00120009.fits.gz"
    cut.write_bytes(gz.read_bytes()[: gz.stat().st_size // 2])
    with pytest.raises(UnreadableFile, match="spFrame-b1-00120009.fits.gz"):
        boss.read_spframe(cut)
    assert list(scratch.iterdir()) == []


def test_read_spframe_calibration_is_hdus_0_to_5_of_read_spframe(blue_frame, tmp_path):
    """read_spframe_calibration: the same flux, ivar, mask, wavelengths, dispersion, plug map
    and header as read_spframe (gzipped or not), no sky/x/superflat, and a file cut after
    HDU5 (the HDUs it needs) still reads; one cut inside HDU2 is refused with its name."""
    from sdssflow.io.readable import UnreadableFile

    _, paths, kw = blue_frame
    for path in paths.values():
        full, calib = boss.read_spframe(path), boss.read_spframe_calibration(path, rows=None)
        for name in ("flux", "ivar", "mask", "loglam", "disp"):
            np.testing.assert_array_equal(getattr(calib, name), getattr(full, name))
        assert calib.sky is None and calib.x is None and calib.superflat is None
        assert list(calib.plugmap["FIBERID"]) == list(full.plugmap["FIBERID"])
        assert (calib.camera, calib.expid, calib.header["PLATEID"]) == ("b1", 120000, 4100)
    sub = boss.read_spframe_calibration(paths[".fits.gz"], rows=[3, 7])
    np.testing.assert_array_equal(sub.flux, kw["flux"][[3, 7]])
    with fits.open(paths[".fits"]) as hdul:
        six = tmp_path / "spFrame-b1-00120000.fits"
        fits.HDUList([h.copy() for h in hdul[:6]]).writeto(six)
        np.testing.assert_array_equal(boss.read_spframe_calibration(six).flux, kw["flux"])
        with pytest.raises(UnreadableFile, match="HDUs"):
            boss.read_spframe(six, extras=False)
        cut = tmp_path / "spFrame-b1-00120001.fits"
        fits.HDUList([h.copy() for h in hdul[:2]]).writeto(cut)
        with pytest.raises(UnreadableFile, match="spFrame-b1-00120001.fits"):
            boss.read_spframe_calibration(cut)
