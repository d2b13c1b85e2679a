"""HDU helpers shared by the BOSS frame readers (spFrame, spCFrame, spFluxcalib).

Checked opening, images, tables, plug maps and header cards of the idlspec2d frame files.
"""

from __future__ import annotations

import re
from pathlib import Path

import fitsio
import numpy as np
from astropy.io import fits
from astropy.table import Table

from sdssflow.io.inflate import open_fits

__all__ = ["SPCFRAME_NPIX"]

#: Columns of a padded (blue and red) spCFrame.
SPCFRAME_NPIX = 4128

_FRAME_RE = re.compile(r"sp(C?Frame|Fluxcalib)-([br][12])-(\d{8})\.fits(\.gz)?$")


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


def _open_checked(path: Path, n_hdu: int, kind: str, only_needed: bool = False) -> fitsio.FITS:
    """The file opened with at least ``n_hdu`` HDUs; only those when ``only_needed``
    (a gzipped file is then inflated no further than HDU ``n_hdu - 1``)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: {kind} file not found")
    try:  # a .gz inflated once, fast (io.inflate)
        fobj = open_fits(path, hdus=n_hdu if only_needed else None)
    except (OSError, EOFError) as err:
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
