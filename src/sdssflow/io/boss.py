"""BOSS idlspec2d frame files: spFrame, spCFrame, spFluxcalib and spPlate.

Readers return :class:`BossFrame` objects with the arrays of one camera-exposure
(500 fibres of one spectrograph) and the plug map; writers produce the DR12
(idlspec2d v5_7) layouts of ``../shared/reference/skymodelling.md`` section 5:

============  ===========================================  ===========================================
HDU           spFrame                                       spCFrame
============  ===========================================  ===========================================
0             flux, flat-fielded electrons / native pixel   flux, 1e-17 erg/s/cm2/A
1             inverse variance of HDU0                      IVAR
2             SPPIXMASK, int32                              MASK
3             Legendre trace set of log10(lambda/A) vac     log10(lambda/A) vacuum image
4             Legendre trace set of dispersion (pixels)     WAVEDISP, sigma in 1e-4 dex
5             plug map (500 rows sorted by FIBERID)         PLUGMAP
6             subtracted sky (electrons / pixel)            SKY (calibrated units)
7             trace x position on the CCD (pixels)          X
8             superflat                                     SUPERFLAT
============  ===========================================  ===========================================

Images are float32 (500, npix) on disk: npix = 4112 for blue and 4128 for red spFrames;
blue spCFrames are padded to 4128 columns and :func:`read_spcframe` trims them back.
Masks stay integer bitmasks here; :func:`decode_mask` turns them into booleans.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from sdssflow.io.bitmask import SPPIXMASK, has_flags
from sdssflow.io.boss_hdus import (
    _as_header,
    _camera_expid,
    _open_checked,
    _plugmap_table,
    _read_image,
    _read_table,
    _select_rows,
)
from sdssflow.io.fibre_roles import SKY_TYPES, STANDARD_TYPES, normalise_objtype
from sdssflow.io.readable import readable
from sdssflow.io.traceset import evaluate_traceset

__all__ = [
    "SPPIXMASK", "BossFrame", "decode_mask", "read_spframe", "read_spframe_calibration",
    "read_spcframe", "read_spcframe_mask", "read_spfluxcalib", "frame_npix",
]

log = logging.getLogger(__name__)


def frame_npix(camera: str) -> int:
    """spFrame pixel count of a camera: 4112 blue (``b1``, ``b2``), 4128 red.

    Examples
    --------
    >>> frame_npix("b1"), frame_npix("r2")
    (4112, 4128)
    """
    if not camera or camera[0] not in "br":
        raise ValueError(f"camera {camera!r} is not one of b1, b2, r1, r2")
    return 4112 if camera[0] == "b" else 4128


@dataclass
class BossFrame:
    """One camera-exposure of BOSS (500 fibres of one spectrograph).

    Attributes
    ----------
    flux : numpy.ndarray, float32, (500, npix)
        spFrame: sky-subtracted, flat-fielded electrons per native pixel.
        spCFrame: 1e-17 erg/s/cm2/A.
    ivar : numpy.ndarray, float32, (500, npix)
        Inverse variance of ``flux``; 0 = no information.
    mask : numpy.ndarray, int32, (500, npix)
        SPPIXMASK bits (:data:`SPPIXMASK`); use :func:`decode_mask` for booleans.
    loglam : numpy.ndarray, float64, (500, npix)
        log10 of the vacuum wavelength in Angstrom.
    disp : numpy.ndarray, float64, (500, npix)
        spFrame: dispersion (line-spread sigma) in native pixels, from the HDU4 trace set.
        spCFrame: ``wdisp``, sigma in units of 1e-4 dex (HDU4 image).
    plugmap : astropy.table.Table
        500 rows sorted by FIBERID (strings stripped).
    sky : numpy.ndarray, float32, (500, npix), or None
        The subtracted sky model, same units as ``flux``; None when read by
        :func:`read_spframe_calibration`.
    x : numpy.ndarray, float32, (500, npix), or None
        Trace x position on the CCD (pixels); None when read with ``extras=False``.
    superflat : numpy.ndarray, float32, (500, npix), or None
        Superflat vector (about 1); None when read with ``extras=False``.
    header : astropy.io.fits.Header
        Primary header (PLATEID, MJD, EXPOSURE, CAMERAS, EXPTIME, TAI-BEG, ...).
    camera : str
        ``b1``, ``b2``, ``r1`` or ``r2``.
    expid : int
        Exposure number.
    path : pathlib.Path
        File read.
    rows : numpy.ndarray of int, (nrow,), optional
        Frame rows held (:func:`read_spframe` with ``rows``/``objtype``); the arrays and the
        plug map have one row per entry. None: every row of the file.
    """

    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    loglam: np.ndarray
    disp: np.ndarray
    plugmap: Table
    sky: np.ndarray
    x: np.ndarray
    superflat: np.ndarray
    header: fits.Header
    camera: str
    expid: int
    path: Path
    rows: np.ndarray | None = None

    @property
    def wave(self) -> np.ndarray:
        """Vacuum wavelength in Angstrom, float64 (500, npix)."""
        return 10.0**self.loglam

    @property
    def fiberid(self) -> np.ndarray:
        """FIBERID of the 500 rows (1-500 or 501-1000), int (500,)."""
        return np.asarray(self.plugmap["FIBERID"])

# --------------------------------------------------------------------------- masks


def decode_mask(mask: np.ndarray, names: Iterable[str]) -> np.ndarray:
    """Boolean "bad" array: True where any of the named SPPIXMASK bits is set.

    Parameters
    ----------
    mask : numpy.ndarray of int, any shape
        SPPIXMASK bitmask.
    names : iterable of str
        Bit names of :data:`SPPIXMASK`.

    Returns
    -------
    numpy.ndarray of bool, same shape as ``mask``

    Raises
    ------
    ValueError
        If a name is not an SPPIXMASK bit.

    Examples
    --------
    >>> m = np.array([0, 1 << 18, 1 << 22, 1 << 16])
    >>> decode_mask(m, ["FULLREJECT", "NOSKY"]).tolist()
    [False, True, True, False]
    """
    return has_flags(mask, names)

# -------------------------------------------------------------------------- reading


@readable
def read_spframe(
    path: str | os.PathLike,
    rows: Sequence[int] | np.ndarray | None = None,
    objtype: str | Sequence[str] | None = None,
    extras: bool = True,
) -> BossFrame:
    """Read an spFrame (``.fits`` or ``.fits.gz``), all fibres or some of them.

    A gzipped file is inflated once when it is opened (:func:`sdssflow.io.inflate.open_fits`),
    up to the last HDU read (HDU8, or HDU6 without ``extras``); only the HDUs read are then
    in memory.

    Parameters
    ----------
    path : str or os.PathLike
        ``spFrame-{camera}-{expid:08d}.fits[.gz]``.
    rows : sequence of int, optional
        Frame rows (0-based) to keep; default all 500.
    objtype : str or sequence of str, optional
        Keep only the plug-map rows of these OBJTYPEs (e.g. ``"SKY"``; blank padding and
        case ignored; ``"SKY"`` and ``"SPECTROPHOTO_STD"`` stand for their role and take
        every spelling of :mod:`sdssflow.io.fibre_roles`); combined with ``rows`` when both
        are given.
    extras : bool
        Also read HDU7 (x) and HDU8 (superflat); False leaves them None and accepts a file
        of 7 HDUs (the sky step needs only HDUs 0-6).

    Returns
    -------
    BossFrame
        ``flux``/``sky`` in electrons per native pixel, ``loglam`` evaluated from the
        HDU3 Legendre trace set, ``disp`` (pixels) from the HDU4 trace set, for the rows
        kept (``BossFrame.rows``), in frame order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not FITS, has too few HDUs, an HDU is truncated or has the wrong
        shape, or a row is out of range; the message names the file.
    """
    return _read_spframe(Path(path), rows, objtype, 9 if extras else 7)


@readable
def read_spframe_calibration(
    path: str | os.PathLike, rows: Sequence[int] | np.ndarray | None = None
) -> BossFrame:
    """:func:`read_spframe` of HDUs 0-5 (what the flux calibration uses): ``sky``, ``x`` and
    ``superflat`` None, 6 HDUs suffice, a .gz inflated no further than the plug map (HDU5, a
    quarter less than ``extras=False``). Parameters, return value and errors as read_spframe."""
    return _read_spframe(Path(path), rows, None, 6)


def _read_spframe(path: Path, rows, objtype, n_hdu: int) -> BossFrame:
    """The body of the spFrame readers: HDUs 0 to ``n_hdu - 1`` (6: no sky, 7: no extras, 9)."""
    # only the HDUs read are opened: a .gz is inflated no further than HDU n_hdu - 1
    with _open_checked(path, n_hdu, "spFrame", only_needed=True) as fobj:
        header = _as_header(fobj[0].read_header())
        camera, expid = _camera_expid(path, header)
        plug = _plugmap_table(_read_table(fobj, 5, path))
        keep = _frame_rows(path, plug, rows, objtype)
        flux = _read_image(fobj, 0, path, np.float32)
        shape = flux.shape
        if shape[0] != len(plug):
            raise ValueError(f"{path}: HDU0 has {shape[0]} rows, the plug map (HDU5) {len(plug)}")

        def image(ext, dtype):
            data = _read_image(fobj, ext, path, dtype, shape)
            return data if keep is None else np.ascontiguousarray(data[keep])

        flux = flux if keep is None else np.ascontiguousarray(flux[keep])
        ivar, mask = image(1, np.float32), image(2, np.int32)
        sky = image(6, np.float32) if n_hdu > 6 else None
        xpos = image(7, np.float32) if n_hdu > 8 else None
        superflat = image(8, np.float32) if n_hdu > 8 else None
        wset = _select_rows(_read_table(fobj, 3, path)[0], keep)
        dset = _select_rows(_read_table(fobj, 4, path)[0], keep)
    try:
        loglam = evaluate_traceset(wset, shape[1])
        disp = evaluate_traceset(dset, shape[1])
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    if loglam.shape != flux.shape:
        raise ValueError(
            f"{path}: wavelength trace set has {loglam.shape[0]} traces for {flux.shape[0]} rows"
        )
    plug = plug if keep is None else plug[keep]
    arrays = (flux, ivar, mask, loglam, disp, plug, sky, xpos, superflat)
    return BossFrame(*arrays, header, camera, expid, path, keep)


def _frame_rows(path: Path, plug: Table, rows, objtype) -> np.ndarray | None:
    """Frame rows selected by ``rows`` and ``objtype`` (None = every row)."""
    if rows is None and objtype is None:
        return None
    n = len(plug)
    keep = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64).ravel()
    if keep.size and (keep.min() < 0 or keep.max() >= n):
        raise ValueError(f"{path}: rows outside 0..{n - 1} requested")
    if objtype is not None:
        wanted = {objtype.upper()} if isinstance(objtype, str) else {str(t).upper() for t in objtype}
        # a role asked for by its plate-era name takes the v6 spellings too (fibre_roles)
        if "SKY" in wanted:
            wanted |= SKY_TYPES
        if "SPECTROPHOTO_STD" in wanted:
            wanted |= STANDARD_TYPES
        types = normalise_objtype(plug["OBJTYPE"])
        keep = keep[np.isin(types[keep], sorted(wanted))]
    return keep


@readable
def read_spcframe(path: str | os.PathLike, npix: int | None = None) -> BossFrame:
    """Read an spCFrame, trimmed to the spFrame pixel count.

    Parameters
    ----------
    path : str or os.PathLike
        ``spCFrame-{camera}-{expid:08d}.fits[.gz]``.
    npix : int, optional
        Columns to keep; default :func:`frame_npix` of the camera (4112 blue, 4128 red):
        the 16 padded blue columns (zero flux, extrapolated loglam) are dropped.

    Returns
    -------
    BossFrame
        ``flux``/``sky`` in 1e-17 erg/s/cm2/A; ``loglam`` from the HDU3 image (float64);
        ``disp`` = ``wdisp`` (HDU4), sigma in units of 1e-4 dex.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`read_spframe`.
    """
    path = Path(path)
    with _open_checked(path, 8, "spCFrame") as fobj:
        header = _as_header(fobj[0].read_header())
        camera, expid = _camera_expid(path, header)
        flux = _read_image(fobj, 0, path, np.float32)
        shape = flux.shape
        arrays = {
            "ivar": _read_image(fobj, 1, path, np.float32, shape),
            "mask": _read_image(fobj, 2, path, np.int32, shape),
            "loglam": _read_image(fobj, 3, path, np.float64, shape),
            "disp": _read_image(fobj, 4, path, np.float64, shape),
        }
        plug = _read_table(fobj, 5, path)
        arrays["sky"] = _read_image(fobj, 6, path, np.float32, shape)
        arrays["x"] = _read_image(fobj, 7, path, np.float32, shape)
        if len(fobj) > 8:
            arrays["superflat"] = _read_image(fobj, 8, path, np.float32, shape)
        else:
            arrays["superflat"] = np.ones(shape, np.float32)
    keep = frame_npix(camera) if npix is None else int(npix)
    if keep > shape[1]:
        raise ValueError(f"{path}: has {shape[1]} columns, fewer than the {keep} requested")
    trimmed = {k: np.ascontiguousarray(v[:, :keep]) for k, v in arrays.items()}
    return BossFrame(
        np.ascontiguousarray(flux[:, :keep]),
        trimmed["ivar"],
        trimmed["mask"],
        trimmed["loglam"],
        trimmed["disp"],
        _plugmap_table(plug),
        trimmed["sky"],
        trimmed["x"],
        trimmed["superflat"],
        header,
        camera,
        expid,
        path,
    )


@readable
def read_spcframe_mask(path: str | os.PathLike, rows=None, npix: int | None = None) -> np.ndarray:
    """Only the SPPIXMASK image (HDU2) of an spCFrame, of some rows, trimmed like :func:`read_spcframe`.

    Parameters
    ----------
    path : str or os.PathLike
        ``spCFrame-{camera}-{expid:08d}.fits[.gz]``.
    rows : array of int, optional
        Fibre rows (0-based) to keep; default all.
    npix : int, optional
        Columns to keep; default :func:`frame_npix` of the camera.

    Returns
    -------
    numpy.ndarray of int32, shape (nrows, npix)
        SPPIXMASK bits (:data:`SPPIXMASK`).

    Raises FileNotFoundError or ValueError as :func:`read_spcframe`.
    """
    path = Path(path)
    with _open_checked(path, 3, "spCFrame", only_needed=True) as fobj:  # HDUs 0-2 read
        camera, _ = _camera_expid(path, _as_header(fobj[0].read_header()))
        mask = _read_image(fobj, 2, path, np.int32)
    keep = frame_npix(camera) if npix is None else int(npix)
    if keep > mask.shape[1]:
        raise ValueError(f"{path}: has {mask.shape[1]} columns, fewer than the {keep} requested")
    return np.ascontiguousarray((mask if rows is None else mask[np.asarray(rows)])[:, :keep])


@readable
def read_spfluxcalib(path: str | os.PathLike) -> tuple[np.ndarray, fits.Header]:
    """Read the calibration image of an spFluxcalib.

    Parameters
    ----------
    path : str or os.PathLike
        ``spFluxcalib-{camera}-{expid:08d}.fits[.gz]``.

    Returns
    -------
    fluxcalib : numpy.ndarray, float32, (500, npix)
        Electrons per 1e-4-dex bin per 1e-17 erg/s/cm2/A (spCFrame flux =
        spFrame flux x R / fluxcalib with R = 1e-4 / dlog10(lambda) per native pixel).
    header : astropy.io.fits.Header
        Primary header (WAVEMIN, WAVEMAX, CAMERAS, EXPOSURE, ...).

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file; not FITS or empty/truncated HDU0 (the message names the file).
    """
    path = Path(path)
    with _open_checked(path, 1, "spFluxcalib", only_needed=True) as fobj:  # HDU0 read
        header = _as_header(fobj[0].read_header())
        calib = _read_image(fobj, 0, path, np.float32)
    if calib.ndim != 2:
        raise ValueError(f"{path}: HDU0 has shape {calib.shape}, expected (500, npix)")
    return calib, header

