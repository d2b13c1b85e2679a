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

import gzip
import logging
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import fitsio
import numpy as np
from astropy.io import fits
from astropy.table import Table
from numpy.polynomial import legendre

from sdssflow.io.bitmask import SPPIXMASK, has_flags
from sdssflow.io.products import atomic_path, provenance_cards
from sdssflow.io.readable import readable

__all__ = [
    "SPPIXMASK",
    "BossFrame",
    "decode_mask",
    "evaluate_traceset",
    "read_spframe",
    "read_spcframe",
    "read_spfluxcalib",
    "read_spplate_exposures",
    "find_plate_files",
    "write_spframe",
    "write_spcframe",
    "write_spfluxcalib",
    "write_spplate",
    "frame_npix",
    "SPCFRAME_NPIX",
]

log = logging.getLogger(__name__)

#: Columns of a padded (blue and red) spCFrame.
SPCFRAME_NPIX = 4128

_FRAME_RE = re.compile(r"sp(C?Frame|Fluxcalib)-([br][12])-(\d{8})\.fits(\.gz)?$")
#: spPlate (plate era) or spField (SDSS-V, same layout) of one plate/field-MJD.
_PLATE_RE = re.compile(r"sp(?:Plate|Field)-(\d{4,6})-(\d{5})\.fits(\.gz)?$")
_EXPID_RE = re.compile(r"^([br][12])-(\d{8})-(\d{8})-(\d{8})$")


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
    sky : numpy.ndarray, float32, (500, npix)
        The subtracted sky model, same units as ``flux``.
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


# ---------------------------------------------------------------------- trace sets


def _field(row, name: str, default=None):
    """A field of a trace-set row given as a mapping, numpy record or Table row."""
    try:
        value = row[name]
    except (KeyError, ValueError, IndexError):
        try:
            value = row[name.lower()]
        except (KeyError, ValueError, IndexError):
            return default
    return value


def evaluate_traceset(row, npix: int) -> np.ndarray:
    """Evaluate an idlspec2d Legendre trace set on pixels ``0 .. npix-1``.

    x' = 2 (x_in - x_mid) / (XMAX - XMIN), y = sum_k COEFF[:, k] P_k(x'), with
    x_mid = (XMIN + XMAX) / 2 and, for two-phase red readouts (``XJUMPVAL`` present),
    x_in = x + jump_frac * XJUMPVAL, jump_frac = clip((x - XJUMPLO) / (XJUMPHI - XJUMPLO), 0, 1).

    Parameters
    ----------
    row : mapping, numpy record or astropy Table row
        Fields ``FUNC`` ('legendre'), ``XMIN``, ``XMAX``, ``COEFF`` (ntrace, ncoeff) and
        optionally ``XJUMPLO``, ``XJUMPHI``, ``XJUMPVAL``.
    npix : int
        Number of pixels.

    Returns
    -------
    numpy.ndarray, float64, (ntrace, npix)
        For an spFrame HDU3 trace set, log10 of the vacuum wavelength in Angstrom.

    Raises
    ------
    ValueError
        If FUNC is not 'legendre' or the row lacks XMIN/XMAX/COEFF.

    Examples
    --------
    >>> ts = {"FUNC": "legendre", "XMIN": 0.0, "XMAX": 4.0, "COEFF": np.array([[1.0, 2.0]])}
    >>> evaluate_traceset(ts, 5).tolist()
    [[-1.0, 0.0, 1.0, 2.0, 3.0]]
    """
    func = _field(row, "FUNC", "legendre")
    if isinstance(func, bytes | np.bytes_):
        func = func.decode()
    if str(func).strip().lower() != "legendre":
        raise ValueError(f"trace set FUNC {func!r} is not supported (only 'legendre')")
    xmin, xmax, coeff = (_field(row, k) for k in ("XMIN", "XMAX", "COEFF"))
    if xmin is None or xmax is None or coeff is None:
        raise ValueError("trace set needs XMIN, XMAX and COEFF")
    coeff = np.atleast_2d(np.asarray(coeff, dtype=np.float64))
    xmin, xmax = float(xmin), float(xmax)
    if xmax == xmin:
        raise ValueError(f"trace set has XMAX == XMIN == {xmin}")
    xpos = np.arange(npix, dtype=np.float64)
    jumpval = _field(row, "XJUMPVAL")
    if jumpval is not None:
        lo, hi = float(_field(row, "XJUMPLO")), float(_field(row, "XJUMPHI"))
        frac = (
            np.clip((xpos - lo) / (hi - lo), 0.0, 1.0) if hi != lo else (xpos >= lo).astype(float)
        )
        xpos = xpos + frac * float(jumpval)
    xprime = 2.0 * (xpos - 0.5 * (xmin + xmax)) / (xmax - xmin)
    vander = legendre.legvander(xprime, coeff.shape[1] - 1)  # (npix, ncoeff)
    return coeff @ vander.T


def _traceset_array(tset: Mapping) -> np.ndarray:
    """A one-row structured array (the on-disk trace-set table) from a mapping."""
    coeff = np.asarray(tset["COEFF"], dtype=np.float64)
    fields = [("FUNC", "S8"), ("XMIN", "f8"), ("XMAX", "f8"), ("COEFF", "f8", coeff.shape)]
    extra = [k for k in ("XJUMPLO", "XJUMPHI", "XJUMPVAL") if k in tset]
    fields += [(k, "f8") for k in extra]
    arr = np.zeros(1, dtype=fields)
    arr["FUNC"] = str(tset.get("FUNC", "legendre")).encode()
    arr["XMIN"] = float(tset["XMIN"])
    arr["XMAX"] = float(tset["XMAX"])
    arr["COEFF"][0] = coeff
    for k in extra:
        arr[k] = float(tset[k])
    return arr


# -------------------------------------------------------------------------- reading


def _as_header(hdr: fitsio.FITSHDR) -> fits.Header:
    """fitsio header to astropy header (keeps COMMENT/HISTORY, drops structural keys)."""
    out = fits.Header()
    skip = {
        "SIMPLE",
        "BITPIX",
        "NAXIS",
        "NAXIS1",
        "NAXIS2",
        "EXTEND",
        "PCOUNT",
        "GCOUNT",
        "XTENSION",
    }
    for rec in hdr.records():
        name = rec.get("name")
        if not name or name in skip:
            continue
        if name == "COMMENT":
            out.add_comment(str(rec.get("value", "")))
            continue
        if name == "HISTORY":
            out.add_history(str(rec.get("value", "")))
            continue
        value = rec.get("value")
        if isinstance(value, str):
            value = value.rstrip()
        try:
            out[name] = (value, rec.get("comment", ""))
        except (ValueError, KeyError):  # odd keys such as long strings: keep what we can
            continue
    return out


def _plugmap_table(arr: np.ndarray) -> Table:
    table = Table(arr)
    for name in table.colnames:
        col = np.asarray(table[name])
        if col.dtype.byteorder not in ("=", "|"):
            table[name] = col.astype(col.dtype.newbyteorder("="))
        if table[name].dtype.kind in "SU":
            table[name] = np.char.strip(np.asarray(table[name]).astype(str))
    return table


def _camera_expid(path: Path, header: fits.Header) -> tuple[str, int]:
    match = _FRAME_RE.search(path.name)
    camera = str(header.get("CAMERAS", match.group(2) if match else "")).strip()
    expid = header.get("EXPOSURE", int(match.group(3)) if match else -1)
    if not camera:
        raise ValueError(f"{path}: no CAMERAS keyword and no camera in the file name")
    return camera, int(expid)


def _open_checked(path: Path, n_hdu: int, kind: str) -> fitsio.FITS:
    if not path.exists():
        raise FileNotFoundError(f"{path}: {kind} file not found")
    try:
        fobj = fitsio.FITS(str(path))
    except OSError as err:
        raise ValueError(f"{path}: cannot open as FITS ({kind}): {err}") from err
    try:
        n_found = len(fobj)
    except (TypeError, OSError) as err:
        fobj.close()
        raise ValueError(f"{path}: cannot list the HDUs of the {kind}: {err}") from err
    if n_found < n_hdu:
        fobj.close()
        raise ValueError(f"{path}: {kind} has {n_found} HDUs, expected at least {n_hdu}")
    return fobj


def _read_image(fobj: fitsio.FITS, ext: int, path: Path, dtype, shape=None) -> np.ndarray:
    try:
        data = fobj[ext].read()
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: HDU{ext} is unreadable or truncated: {err}") from err
    if data is None:
        raise ValueError(f"{path}: HDU{ext} holds no data")
    if shape is not None and data.shape != shape:
        raise ValueError(f"{path}: HDU{ext} has shape {data.shape}, expected {shape}")
    return np.ascontiguousarray(data, dtype=dtype)


def _read_table(fobj: fitsio.FITS, ext: int, path: Path) -> np.ndarray:
    try:
        return fobj[ext].read()
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: HDU{ext} table is unreadable or truncated: {err}") from err


def _select_rows(tset, rows: np.ndarray | None):
    """A trace-set row as a dict, its COEFF restricted to ``rows`` (all when None)."""
    out = {k: tset[k] for k in tset.dtype.names}
    if rows is not None:
        out["COEFF"] = np.atleast_2d(np.asarray(out["COEFF"], dtype=np.float64))[rows]
    return out


@readable
def read_spframe(
    path: str | os.PathLike,
    rows: Sequence[int] | np.ndarray | None = None,
    objtype: str | Sequence[str] | None = None,
    extras: bool = True,
) -> BossFrame:
    """Read an spFrame (``.fits`` or ``.fits.gz``), all fibres or some of them.

    A gzipped file is decompressed once, in memory, when it is opened (cfitsio); the HDUs
    are then read from memory.

    Parameters
    ----------
    path : str or os.PathLike
        ``spFrame-{camera}-{expid:08d}.fits[.gz]``.
    rows : sequence of int, optional
        Frame rows (0-based) to keep; default all 500.
    objtype : str or sequence of str, optional
        Keep only the plug-map rows of these OBJTYPEs (e.g. ``"SKY"``; blank padding and
        case ignored); combined with ``rows`` when both are given.
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
    path = Path(path)
    with _open_checked(path, 9 if extras else 7, "spFrame") as fobj:
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
        ivar, mask, sky = image(1, np.float32), image(2, np.int32), image(6, np.float32)
        xpos = image(7, np.float32) if extras else None
        superflat = image(8, np.float32) if extras else None
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
    return BossFrame(
        flux,
        ivar,
        mask,
        loglam,
        disp,
        plug if keep is None else plug[keep],
        sky,
        xpos,
        superflat,
        header,
        camera,
        expid,
        path,
        keep,
    )


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
        types = np.char.upper(np.char.strip(np.asarray(plug["OBJTYPE"]).astype(str)))
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
    with _open_checked(path, 1, "spFluxcalib") as fobj:
        header = _as_header(fobj[0].read_header())
        calib = _read_image(fobj, 0, path, np.float32)
    if calib.ndim != 2:
        raise ValueError(f"{path}: HDU0 has shape {calib.shape}, expected (500, npix)")
    return calib, header


@readable
def read_spplate_exposures(path: str | os.PathLike) -> Table:
    """The exposures of an spPlate, from its ``EXPIDnn`` / ``EXPIDnnn`` keywords.

    Parameters
    ----------
    path : str or os.PathLike
        ``spPlate-PPPP-MMMMM.fits``.

    Returns
    -------
    astropy.table.Table
        One row per keyword, in keyword order: ``keyword`` (str), ``camera`` (str),
        ``expid``, ``flat``, ``arc`` (int). ``meta`` holds ``PLATEID``, ``MJD``, ``NEXP``
        and the full primary header under ``"header"``.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, no EXPID keywords, or a value not of the form
        ``cc-eeeeeeee-ffffffff-aaaaaaaa`` (the message names the file and keyword).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: spPlate file not found")
    try:
        header = fits.getheader(path, 0)
    except OSError as err:
        raise ValueError(f"{path}: cannot read the spPlate header: {err}") from err
    rows = []
    for key, value in header.items():
        if re.fullmatch(r"EXPID\d{2,3}", key):
            match = _EXPID_RE.match(str(value).strip())
            if not match:
                raise ValueError(
                    f"{path}: {key} = {value!r} is not 'cc-eeeeeeee-ffffffff-aaaaaaaa'"
                )
            cam, e, f, a = match.groups()
            rows.append((key, cam, int(e), int(f), int(a)))
    if not rows:
        raise ValueError(f"{path}: no EXPIDnn keywords in the spPlate header")
    table = Table(rows=rows, names=("keyword", "camera", "expid", "flat", "arc"))
    table.meta.update(
        {
            "PLATEID": header.get("PLATEID"),
            "MJD": header.get("MJD"),
            "NEXP": header.get("NEXP"),
            "header": header,
        }
    )
    return table


def find_plate_files(plate_dir: str | os.PathLike) -> dict:
    """Index the BOSS files of a plate directory.

    Parameters
    ----------
    plate_dir : str or os.PathLike
        ``$BOSS_SPECTRO_REDUX/<run2d>/<PLATE4>``.

    Returns
    -------
    dict
        ``{"spPlate": {mjd: path}, "spFrame": {(camera, expid): path},
        "spCFrame": {...}, "spFluxcalib": {...}}``; ``.fits`` is preferred over
        ``.fits.gz`` when both exist. Hidden (temporary) files are ignored.

    Raises
    ------
    FileNotFoundError
        If ``plate_dir`` is not a directory.
    """
    plate_dir = Path(plate_dir)
    if not plate_dir.is_dir():
        raise FileNotFoundError(f"{plate_dir}: plate directory not found")
    out: dict = {"spPlate": {}, "spFrame": {}, "spCFrame": {}, "spFluxcalib": {}}
    for p in sorted(
        plate_dir.iterdir(), key=lambda q: (q.name.endswith(".gz"), q.name), reverse=True
    ):
        if p.name.startswith("."):
            continue
        m = _FRAME_RE.match(p.name)
        if m:
            kind = "sp" + m.group(1)
            out[kind][(m.group(2), int(m.group(3)))] = p
            continue
        m = _PLATE_RE.match(p.name)
        if m:
            out["spPlate"][int(m.group(2))] = p
    return {k: dict(sorted(v.items())) for k, v in out.items()}


# -------------------------------------------------------------------------- writing


def _records(header, extname: str | None = None, bunit: str | None = None) -> list[dict]:
    """fitsio header records from an astropy Header / mapping (+ EXTNAME, BUNIT)."""
    recs: list[dict] = []
    if extname:
        recs.append({"name": "EXTNAME", "value": extname, "comment": "extension name"})
    if bunit is not None:
        recs.append({"name": "BUNIT", "value": bunit, "comment": "unit of the data"})
    if header is None:
        return recs
    if isinstance(header, fits.Header):
        items = [(c.keyword, c.value, c.comment) for c in header.cards]
    else:
        items = [(k, *(v if isinstance(v, tuple) else (v, ""))) for k, v in dict(header).items()]
    for key, value, comment in items:
        if key in ("EXTNAME", "BUNIT", "SIMPLE", "BITPIX", "NAXIS", "EXTEND") or key.startswith(
            "NAXIS"
        ):
            continue
        if key in ("COMMENT", "HISTORY", ""):
            recs.append({"name": key or "COMMENT", "value": str(value)})
        else:
            recs.append({"name": key, "value": value, "comment": comment})
    return recs


def _write_fits(
    path: Path, hdus: list[tuple[np.ndarray, list[dict]]], checksum: bool = True
) -> Path:
    """Write (data, header records) HDUs with fitsio, atomically, with checksums (optional).

    ``.gz`` paths are written uncompressed to a temporary file and gzipped.
    """
    path = Path(path)
    gz = path.name.endswith(".gz")
    with atomic_path(path) as tmp:
        raw = tmp.with_name(tmp.name.removesuffix(".gz")) if gz else tmp
        with fitsio.FITS(str(raw), "rw", clobber=True) as fobj:
            for i, (data, recs) in enumerate(hdus):
                extname = next((r["value"] for r in recs if r["name"] == "EXTNAME"), None)
                rest = [r for r in recs if r["name"] != "EXTNAME"]
                if i == 0:
                    fobj.write(data, header=rest)
                    if extname:
                        fobj[0].write_key("EXTNAME", extname, "extension name")
                else:
                    fobj.write(data, header=rest, extname=extname)
                if checksum:
                    fobj[-1].write_checksum()
        if gz:
            with open(raw, "rb") as src, gzip.open(tmp, "wb", compresslevel=1) as dst:
                shutil.copyfileobj(src, dst, length=1 << 22)
            raw.unlink()
    return path


def _plugmap_array(plugmap) -> np.ndarray:
    arr = plugmap.as_array() if isinstance(plugmap, Table) else np.asarray(plugmap)
    if "FIBERID" not in (arr.dtype.names or ()):
        raise ValueError("plug map needs a FIBERID column")
    if arr.dtype.kind == "V" and any(arr.dtype[n].kind == "U" for n in arr.dtype.names):
        arr = np.array(
            arr,
            dtype=[
                (
                    n,
                    ("S" + str(arr.dtype[n].itemsize // 4))
                    if arr.dtype[n].kind == "U"
                    else arr.dtype[n],
                )
                for n in arr.dtype.names
            ],
        )
    return arr


def _check_images(images: Mapping[str, np.ndarray]) -> tuple[int, int]:
    shapes = {k: np.shape(v) for k, v in images.items()}
    first = next(iter(shapes.values()))
    bad = {k: s for k, s in shapes.items() if s != first}
    if len(first) != 2 or bad:
        raise ValueError(f"frame arrays must share one 2-d shape (nfiber, npix); got {shapes}")
    return first


def _provenance(version: str, step: str) -> list[dict]:
    return [
        {"name": k, "value": v, "comment": c} for k, v, c in provenance_cards(version, (), step)
    ]


def write_spframe(
    path: str | os.PathLike,
    *,
    flux: np.ndarray,
    ivar: np.ndarray,
    mask: np.ndarray,
    wset: Mapping,
    dispset: Mapping,
    plugmap,
    sky: np.ndarray,
    x: np.ndarray,
    superflat: np.ndarray,
    header=None,
    version: str = "demo",
    checksum: bool = True,
) -> Path:
    """Write an spFrame in the idlspec2d v5_7 layout (HDU0-8).

    Parameters
    ----------
    path : str or os.PathLike
        Output path (``.fits`` or ``.fits.gz``); written atomically with checksums.
    flux, ivar, sky, x, superflat : numpy.ndarray, (500, npix)
        Stored as float32; flux and sky in electrons per native pixel.
    mask : numpy.ndarray of int, (500, npix)
        SPPIXMASK bits, stored as int32.
    wset, dispset : mapping
        Legendre trace sets (``FUNC``, ``XMIN``, ``XMAX``, ``COEFF`` (500, ncoeff),
        optional ``XJUMPLO/HI/VAL``) of log10(lambda/A) and of the dispersion in pixels.
    plugmap : astropy Table or structured array
        500 rows with at least ``FIBERID``.
    header : astropy.io.fits.Header or mapping, optional
        Primary keywords (PLATEID, MJD, EXPOSURE, CAMERAS, ...).
    version : str
        Recorded in the VERSION keyword.
    checksum : bool
        Write CHECKSUM/DATASUM cards (about 20 ms per image HDU).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        If the images do not share one (nfiber, npix) shape or the plug map has no FIBERID.
    """
    _check_images(
        {"flux": flux, "ivar": ivar, "mask": mask, "sky": sky, "x": x, "superflat": superflat}
    )
    prov = _provenance(version, "demo_survey")
    units = {"FLUX": "electrons/pixel", "IVAR": "(electrons/pixel)^-2", "SKY": "electrons/pixel"}
    hdus = [
        (np.asarray(flux, np.float32), _records(header, "FLUX", units["FLUX"]) + prov),
        (np.asarray(ivar, np.float32), _records(None, "IVAR", units["IVAR"])),
        (np.asarray(mask, np.int32), _records(None, "MASK", "SPPIXMASK bits")),
        (_traceset_array(wset), _records(None, "WSET")),
        (_traceset_array(dispset), _records(None, "DISPSET")),
        (_plugmap_array(plugmap), _records(None, "PLUGMAP")),
        (np.asarray(sky, np.float32), _records(None, "SKY", units["SKY"])),
        (np.asarray(x, np.float32), _records(None, "X", "pixel")),
        (np.asarray(superflat, np.float32), _records(None, "SUPERFLAT", "")),
    ]
    return _write_fits(Path(path), hdus, checksum)


def write_spcframe(
    path: str | os.PathLike,
    *,
    flux: np.ndarray,
    ivar: np.ndarray,
    mask: np.ndarray,
    loglam: np.ndarray,
    wdisp: np.ndarray,
    plugmap,
    sky: np.ndarray,
    x: np.ndarray,
    superflat: np.ndarray,
    header=None,
    version: str = "demo",
    checksum: bool = True,
) -> Path:
    """Write an spCFrame (HDU0-8), padding blue frames to 4128 columns.

    Padding as ``spcoadd_v5``: flux, ivar, mask, sky, x = 0 and superflat = 1 in the
    added columns, ``loglam`` extrapolated linearly from the last pixel step,
    ``wdisp`` repeated from the last pixel.

    Parameters
    ----------
    path : str or os.PathLike
        Output path; written atomically with checksums.
    flux, ivar, sky : numpy.ndarray, (500, npix)
        1e-17 erg/s/cm2/A (and its inverse variance), float32 on disk.
    mask : numpy.ndarray of int, (500, npix)
        SPPIXMASK bits.
    loglam : numpy.ndarray, (500, npix)
        log10 of the vacuum wavelength in Angstrom (float32 on disk, as idlspec2d).
    wdisp : numpy.ndarray, (500, npix)
        Dispersion sigma in units of 1e-4 dex.
    x, superflat : numpy.ndarray, (500, npix)
    plugmap, header, version
        As :func:`write_spframe`.

    Returns
    -------
    pathlib.Path
    """
    nfib, npix = _check_images(
        {
            "flux": flux,
            "ivar": ivar,
            "mask": mask,
            "loglam": loglam,
            "wdisp": wdisp,
            "sky": sky,
            "x": x,
            "superflat": superflat,
        }
    )
    pad = SPCFRAME_NPIX - npix
    if pad < 0:
        raise ValueError(f"spCFrame arrays have {npix} columns, more than {SPCFRAME_NPIX}")

    def padded(a, fill, dtype):
        a = np.asarray(a, dtype)
        return a if pad == 0 else np.concatenate([a, np.full((nfib, pad), fill, dtype)], axis=1)

    ll = np.asarray(loglam, np.float64)
    if pad:
        step = ll[:, -1:] - ll[:, -2:-1]
        ll = np.concatenate([ll, ll[:, -1:] + step * np.arange(1, pad + 1)], axis=1)
    wd = np.asarray(wdisp, np.float32)
    if pad:
        wd = np.concatenate([wd, np.repeat(wd[:, -1:], pad, axis=1)], axis=1)
    prov = _provenance(version, "demo_survey")
    flux_unit = "1e-17 erg/s/cm^2/Angstrom"
    hdus = [
        (padded(flux, 0, np.float32), _records(header, "FLUX", flux_unit) + prov),
        (padded(ivar, 0, np.float32), _records(None, "IVAR", "(1e-17 erg/s/cm^2/Angstrom)^-2")),
        (padded(mask, 0, np.int32), _records(None, "MASK", "SPPIXMASK bits")),
        (ll.astype(np.float32), _records(None, "WAVELENGTH", "log10(Angstrom)")),
        (wd, _records(None, "WAVEDISP", "1e-4 dex")),
        (_plugmap_array(plugmap), _records(None, "PLUGMAP")),
        (padded(sky, 0, np.float32), _records(None, "SKY", flux_unit)),
        (padded(x, 0, np.float32), _records(None, "X", "pixel")),
        (padded(superflat, 1, np.float32), _records(None, "SUPERFLAT", "")),
    ]
    return _write_fits(Path(path), hdus, checksum)


def write_spfluxcalib(
    path: str | os.PathLike,
    fluxcalib: np.ndarray,
    header=None,
    version: str = "demo",
    checksum: bool = True,
) -> Path:
    """Write an spFluxcalib: HDU0 the calibration image (500, npix), float32.

    Parameters
    ----------
    path : str or os.PathLike
        Output path (``.fits`` or ``.fits.gz``).
    fluxcalib : numpy.ndarray, (500, npix)
        Electrons per 1e-4-dex bin per 1e-17 erg/s/cm2/A.
    header : astropy Header or mapping, optional
        Primary keywords; WAVEMIN / WAVEMAX should be included.
    version : str
        Recorded in VERSION.

    Returns
    -------
    pathlib.Path
    """
    calib = np.asarray(fluxcalib, np.float32)
    if calib.ndim != 2:
        raise ValueError(f"fluxcalib must be 2-d (500, npix), got shape {calib.shape}")
    recs = _records(header, "FLUXCALIB", "electrons/(1e-4 dex)/(1e-17 erg/s/cm^2/Angstrom)")
    return _write_fits(Path(path), [(calib, recs + _provenance(version, "demo_survey"))], checksum)


def write_spplate(
    path: str | os.PathLike,
    *,
    flux: np.ndarray,
    ivar: np.ndarray,
    andmask: np.ndarray,
    ormask: np.ndarray,
    wdisp: np.ndarray,
    plugmap,
    sky: np.ndarray,
    coeff0: float,
    exposures: Iterable[tuple[str, int, int, int]],
    header=None,
    coeff1: float = 1e-4,
    version: str = "demo",
    checksum: bool = True,
) -> Path:
    """Write an spPlate: the coadd of a plate-MJD on the log10 grid, with EXPIDnn keys.

    Parameters
    ----------
    path : str or os.PathLike
        ``spPlate-PPPP-MMMMM.fits``.
    flux, ivar, wdisp, sky : numpy.ndarray, (1000, ncoadd)
        Coadded flux (1e-17 erg/s/cm2/A), its ivar, wdisp (1e-4 dex), sky.
    andmask, ormask : numpy.ndarray of int, (1000, ncoadd)
        SPPIXMASK AND / OR of the exposures.
    plugmap : Table or structured array
        1000 rows.
    coeff0, coeff1 : float
        log10 lambda of pixel 0 and the log10 step (``COEFF0``, ``COEFF1``).
    exposures : iterable of (camera, expid, flat, arc)
        One ``EXPIDnn`` keyword each, value ``cc-eeeeeeee-ffffffff-aaaaaaaa``.
    header : astropy Header or mapping, optional
        Primary keywords (PLATEID, MJD, ...).
    version : str
        Recorded in VERSION.

    Returns
    -------
    pathlib.Path
    """
    _check_images(
        {
            "flux": flux,
            "ivar": ivar,
            "andmask": andmask,
            "ormask": ormask,
            "wdisp": wdisp,
            "sky": sky,
        }
    )
    exposures = list(exposures)
    expkeys = [
        {
            "name": f"EXPID{i:02d}",
            "value": f"{cam}-{e:08d}-{f:08d}-{a:08d}",
            "comment": "camera-expid-flat-arc",
        }
        for i, (cam, e, f, a) in enumerate(exposures, start=1)
    ]
    wcs = [
        {"name": "NEXP", "value": len(exposures), "comment": "number of camera-exposures"},
        {"name": "COEFF0", "value": float(coeff0), "comment": "log10(lambda/A) of the first pixel"},
        {"name": "COEFF1", "value": float(coeff1), "comment": "log10 lambda step"},
        {"name": "CRVAL1", "value": float(coeff0), "comment": ""},
        {"name": "CD1_1", "value": float(coeff1), "comment": ""},
        {"name": "CRPIX1", "value": 1.0, "comment": ""},
        {"name": "CTYPE1", "value": "LOG-LINEAR", "comment": ""},
        {"name": "DC-FLAG", "value": 1, "comment": "log10 lambda grid"},
    ]
    for cam in sorted({e[0] for e in exposures}):
        wcs.append(
            {
                "name": f"NEXP_{cam.upper()}",
                "value": sum(e[0] == cam for e in exposures),
                "comment": "",
            }
        )
    flux_unit = "1e-17 erg/s/cm^2/Angstrom"
    hdus = [
        (
            np.asarray(flux, np.float32),
            _records(header, "FLUX", flux_unit)
            + wcs
            + expkeys
            + _provenance(version, "demo_survey"),
        ),
        (np.asarray(ivar, np.float32), _records(None, "IVAR", "(1e-17 erg/s/cm^2/Angstrom)^-2")),
        (np.asarray(andmask, np.int32), _records(None, "ANDMASK", "SPPIXMASK bits")),
        (np.asarray(ormask, np.int32), _records(None, "ORMASK", "SPPIXMASK bits")),
        (np.asarray(wdisp, np.float32), _records(None, "WAVEDISP", "1e-4 dex")),
        (_plugmap_array(plugmap), _records(None, "PLUGMAP")),
        (np.asarray(sky, np.float32), _records(None, "SKY", flux_unit)),
    ]
    return _write_fits(Path(path), hdus, checksum)
