"""Calibration files of the flux calibration: ``calib-{expid}.fits`` and the summaries.

``calib-{expid:08d}.fits`` (one BOSS exposure, every calibrated camera):

=================  =================================================================
HDU                content
=================  =================================================================
PRIMARY            PLATE, MJD, EXPID, CAMERAS, provenance (SDSSFLOW, VERSION, STEP)
``CAL_{cam}``      cal_factor, float32, (npix,) or (nfiber, npix): flux density in
                   1e-17 erg/s/cm2/A per (electron per native pixel) on the frame's
                   native pixels (a 2-d image when the fibres' wavelengths make it
                   differ by more than 0.1 %: lossless GZIP_2 tiles of 64 fibres,
                   :func:`gzip2_image_hdu`)
``IVAR_{cam}``     (npix,): inverse variance of CAL (0 = no information), on WAVE
``MASK_{cam}``     int16 (npix,) bits: 0 TELLURIC, 1 NOCOVER (extrapolated), 2 LOWWEIGHT
``WAVE_{cam}``     float64 (npix,): reference vacuum wavelength (A), median over fibres
``STARCAL_{cam}``  float32 (nstar, npix): per-star vectors on ``WAVE_{cam}`` (FIBERnn)
``STARS``          table: one row per standard of the exposure (fit results)
=================  =================================================================

Apply as ``calibrated = electrons_per_pixel * cal_factor`` (``CAL``, ``IVAR`` and ``MASK``
broadcast over fibres when 1-d; IVAR and MASK are always 1-d: they vary slowly with
wavelength, so a fibre's sub-pixel wavelength shift does not matter for them). ``cal_factor = R / fluxcalib`` relates it to spFluxcalib files, with
R = 1e-4 / dlog10(lambda) of the native pixel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from sdssflow.io.products import add_provenance, write_hdulist
from sdssflow.io.readable import readable

try:  # ISA-L's deflate (a dependency): ~4x faster than zlib at the same level
    from isal import igzip as _gzip
except ImportError:  # pragma: no cover - exercised only without isal
    import gzip as _gzip

__all__ = [
    "CAL_BUNIT",
    "CameraCalibration",
    "gzip2_image_hdu",
    "write_calibration",
    "read_calibration",
    "write_summary",
    "read_summary",
]

#: BUNIT of the calibration images.
CAL_BUNIT = "1e-17 erg/s/cm2/A/(electron/pix)"

#: Deflate level of the per-fibre cal_factor tiles. astropy's GZIP_2 always uses zlib
#: level 9 (1 s of CPU per exposure); the shuffled bytes of a smooth float32 image gain
#: only 2 % in size from level 9 over level 1 (measured on the demo: 5.07 vs 4.95 MB per
#: camera of 500 x 4112).
GZIP_LEVEL = 1

#: Fibres per tile of the per-fibre cal_factor: 64-row tiles compress to 30 % less than
#: one-row tiles (3.56 vs 5.07 MB per camera), and a few large buffers instead of 500
#: small ones do not fragment the heap (the job's peak RSS).
TILE_ROWS = 64


@dataclass
class CameraCalibration:
    """Calibration of one camera of one exposure.

    Attributes
    ----------
    camera : str
    wave : numpy.ndarray, float64, (npix,)
        Reference vacuum wavelength, A.
    cal_factor : numpy.ndarray, float32, (npix,) or (nfiber, npix)
        1e-17 erg/s/cm2/A per (electron per native pixel).
    ivar : numpy.ndarray, (npix,) (broadcasts against ``cal_factor``)
        Inverse variance of ``cal_factor``.
    mask : numpy.ndarray of int, (npix,)
        Bits of :data:`sdssflow.fluxcal.vectors.MASKBITS`; 0 = good.
    star_cal : numpy.ndarray, (nstar, npix)
        Per-star vectors on ``wave``.
    star_fiberid : numpy.ndarray of int, (nstar,)
    meta : dict
        Header cards of the CAL HDU (NSTARS, NUSED, RMS, ...) and of the primary HDU.
    """

    camera: str
    wave: np.ndarray
    cal_factor: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    star_cal: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    star_fiberid: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    meta: dict = field(default_factory=dict)

    @property
    def bad(self) -> np.ndarray:
        """Boolean mask, True = do not trust (any bit set or ivar 0)."""
        return (np.asarray(self.mask) != 0) | (np.asarray(self.ivar) <= 0)


def _image(data, name, bunit, cards=()):
    hdu = fits.ImageHDU(data, name=name)
    hdu.header["BUNIT"] = (bunit, "unit of the image")
    for key, value, comment in cards:
        hdu.header[key] = (value, comment)
    return hdu


def gzip2_image_hdu(
    data: np.ndarray, name: str, level: int = GZIP_LEVEL, tile_rows: int = TILE_ROWS
) -> fits.BinTableHDU:
    """A lossless GZIP_2 tile-compressed float32 image HDU, fast.

    The FITS tiled-image convention (FITS standard 4.0, sec. 10): a binary table whose
    variable-length ``COMPRESSED_DATA`` column holds each tile's gzip stream, with the
    image described by the ``Z*`` keywords; GZIP_2 first shuffles each tile's big-endian
    bytes by significance (all first bytes, then all second bytes, ...). astropy opens it
    as a :class:`~astropy.io.fits.CompImageHDU`, cfitsio/fitsio as a compressed image.
    Written here because astropy's writer has no compression level (it uses 9).

    Parameters
    ----------
    data : numpy.ndarray, (nrow, npix)
        Image, converted to float32 (no quantisation: decompresses bit-identical).
    name : str
        EXTNAME.
    level : int
        Deflate level (ISA-L: 0-3; the standard library's gzip: 1-9).
    tile_rows : int
        Image rows per tile (the last tile may be shorter).

    Returns
    -------
    astropy.io.fits.BinTableHDU
        Add further image cards (BUNIT, ...) to its header.

    Examples
    --------
    >>> import io
    >>> img = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    >>> buf = io.BytesIO()
    >>> fits.HDUList([fits.PrimaryHDU(), gzip2_image_hdu(img, "CAL", tile_rows=2)]).writeto(buf)
    >>> with fits.open(io.BytesIO(buf.getvalue())) as hdul:
    ...     type(hdul["CAL"]).__name__, bool(np.array_equal(hdul["CAL"].data, img))
    ('CompImageHDU', True)
    """
    data = np.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"{name}: a 2-d image is needed, got shape {data.shape}")
    nrow, npix = data.shape
    tile_rows = max(min(int(tile_rows), nrow), 1)
    starts = range(0, nrow, tile_rows)
    tiles = np.empty(len(starts), dtype=object)
    for t, i in enumerate(starts):  # tile by tile: no shuffled copy of the whole image
        block = np.asarray(data[i : i + tile_rows], dtype=">f4").view(np.uint8).reshape(-1, 4)
        # mtime=0: a gzip header otherwise holds the time of writing, and no two runs would
        # write the same file
        tiles[t] = np.frombuffer(_gzip.compress(np.ascontiguousarray(block.T), level, mtime=0), dtype=np.uint8)
    longest = max((t.size for t in tiles), default=0)
    column = fits.Column(name="COMPRESSED_DATA", format=f"1PB({longest})", array=tiles)
    hdu = fits.BinTableHDU.from_columns([column], name=name)
    header = hdu.header
    for key, value, comment in (
        ("ZIMAGE", True, "extension contains compressed image"),
        ("ZTENSION", "IMAGE", "Image extension"),
        ("ZBITPIX", -32, "array data type"),
        ("ZNAXIS", 2, "number of array dimensions"),
        ("ZNAXIS1", npix, ""),
        ("ZNAXIS2", nrow, ""),
        ("ZPCOUNT", 0, "number of parameters"),
        ("ZGCOUNT", 1, "number of groups"),
        ("ZTILE1", npix, "size of tiles to be compressed"),
        ("ZTILE2", tile_rows, "size of tiles to be compressed"),
        ("ZCMPTYPE", "GZIP_2", "compression algorithm"),
        ("ZQUANTIZ", "NONE", "lossless: no floating point quantization"),
    ):
        header.insert("EXTNAME", (key, value, comment))
    return hdu


def write_calibration(
    path: str | os.PathLike,
    cameras: dict[str, CameraCalibration],
    stars: Table,
    header_cards: dict,
    version: str,
    inputs=(),
) -> Path:
    """Write ``calib-{expid}.fits`` (layout in the module docstring), atomically."""
    primary = fits.PrimaryHDU()
    for key, value in header_cards.items():
        primary.header[key] = value
    primary.header["CAMERAS"] = (",".join(sorted(cameras)), "calibrated cameras")
    add_provenance(primary.header, version, inputs, step="flux_calibration")
    hdus = [primary]
    for cam in sorted(cameras):
        c = cameras[cam]
        cards = [(k, v, "") for k, v in c.meta.items() if len(k) <= 8]
        cal = np.asarray(c.cal_factor, np.float32)
        if cal.ndim == 2:  # per-fibre: tile-compressed, lossless (GZIP_2, no quantisation)
            hdu = gzip2_image_hdu(cal, f"CAL_{cam}")
            hdu.header["BUNIT"] = (CAL_BUNIT, "unit of the image")
            for key, value, comment in cards:
                hdu.header[key] = (value, comment)
            hdus.append(hdu)
        else:
            hdus.append(_image(cal, f"CAL_{cam}", CAL_BUNIT, cards))
        hdus.append(_image(np.asarray(c.ivar, np.float32), f"IVAR_{cam}", f"({CAL_BUNIT})^-2"))
        mask_cards = [
            ("MASKBIT0", "TELLURIC", ""),
            ("MASKBIT1", "NOCOVER", ""),
            ("MASKBIT2", "LOWWEIGHT", ""),
        ]
        hdus.append(_image(np.asarray(c.mask, np.int16), f"MASK_{cam}", "", mask_cards))
        hdus.append(
            _image(
                np.asarray(c.wave, np.float64), f"WAVE_{cam}", "Angstrom", [("AIRORVAC", "vac", "")]
            )
        )
        fib_cards = [
            (f"FIBER{i:02d}"[:8], int(f), "row's fibre") for i, f in enumerate(c.star_fiberid[:99])
        ]
        hdus.append(
            _image(np.asarray(c.star_cal, np.float32), f"STARCAL_{cam}", CAL_BUNIT, fib_cards)
        )
    table = fits.BinTableHDU(stars, name="STARS")
    table.header["BUNIT"] = ("", "see TUNITn")
    hdus.append(table)
    return write_hdulist(fits.HDUList(hdus), path)


@readable
def read_calibration(path: str | os.PathLike) -> dict[str, CameraCalibration]:
    """Read ``calib-{expid}.fits``.

    Returns
    -------
    dict of str to CameraCalibration
        One entry per calibrated camera. ``meta`` holds the CAL HDU cards plus PLATE,
        MJD, EXPID of the primary header; ``meta["stars"]`` the STARS table rows of the
        camera's spectrograph.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not a calibration file (the message names it).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: calibration file not found")
    try:
        with fits.open(path, memmap=False) as hdul:
            primary = hdul[0].header
            names = [h.name for h in hdul]
            cams = [c for c in str(primary.get("CAMERAS", "")).split(",") if c]
            stars = Table(hdul["STARS"].data) if "STARS" in names else Table()
            out = {}
            for cam in cams:
                cal_hdu = hdul[f"CAL_{cam}"]
                meta = {
                    k: cal_hdu.header[k]
                    for k in ("NSTARS", "NUSED", "NREJECT", "RMS", "CAMERA")
                    if k in cal_hdu.header
                }
                for k in ("PLATE", "MJD", "EXPID"):
                    if k in primary:
                        meta[k] = primary[k]
                if len(stars) and "SPECID" in stars.colnames:
                    meta["stars"] = stars[stars["SPECID"] == int(cam[1])]
                starcal = hdul[f"STARCAL_{cam}"]
                nstar = starcal.data.shape[0] if starcal.data is not None else 0
                fib = np.array(
                    [starcal.header.get(f"FIBER{i:02d}", -1) for i in range(nstar)], dtype=int
                )
                out[cam] = CameraCalibration(
                    camera=cam,
                    wave=np.asarray(hdul[f"WAVE_{cam}"].data, np.float64),
                    cal_factor=np.asarray(cal_hdu.data, np.float32),
                    ivar=np.asarray(hdul[f"IVAR_{cam}"].data, np.float32),
                    mask=np.asarray(hdul[f"MASK_{cam}"].data, np.int16),
                    star_cal=np.asarray(starcal.data if nstar else np.zeros((0, 0)), np.float32),
                    star_fiberid=fib,
                    meta=meta,
                )
    except (KeyError, OSError, TypeError) as err:
        raise ValueError(f"{path}: not a flux-calibration file ({err})") from err
    return out


def write_summary(
    path: str | os.PathLike,
    exposures: Table,
    stars: Table,
    version: str,
    inputs=(),
    step="flux_calibration",
) -> Path:
    """Write a summary FITS: EXPOSURES (one row per exposure) and STARS tables."""
    primary = fits.PrimaryHDU()
    add_provenance(primary.header, version, inputs, step=step)
    hdus = [primary]
    for name, table in (("EXPOSURES", exposures), ("STARS", stars)):
        hdu = fits.BinTableHDU(table, name=name)
        hdu.header["BUNIT"] = ("", "see TUNITn")
        hdus.append(hdu)
    return write_hdulist(fits.HDUList(hdus), path)


@readable
def read_summary(path: str | os.PathLike) -> tuple[Table, Table]:
    """Read a summary written by :func:`write_summary`: (exposures, stars)."""
    try:
        with fits.open(path, memmap=False) as hdul:
            return Table(hdul["EXPOSURES"].data), Table(hdul["STARS"].data)
    except (KeyError, OSError) as err:
        raise ValueError(f"{path}: not a flux-calibration summary ({err})") from err
