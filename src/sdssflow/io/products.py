"""Writing products safely: atomic renames, provenance keywords, FITS checksums.

Every science product of sdssflow is written through :func:`atomic_path` so that a
killed job never leaves a file that looks finished, and carries the keywords of
:func:`provenance_cards` so that its origin can be read from its header.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import fitsio
import numpy as np
from astropy.io import fits

from sdssflow import __version__

__all__ = ["atomic_path", "provenance_cards", "add_provenance", "write_hdulist", "write_fitsio", "find_fits", "header_card"]

log = logging.getLogger(__name__)

#: errno values of a full disk or quota (the error is re-raised naming the product path).
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


def _disk_full(err: OSError) -> bool:
    """True for a full disk: by errno, or astropy's errno-less "Not enough space on disk"."""
    text = str(err).lower()
    return err.errno in _DISK_FULL or "not enough space" in text or "no space left" in text


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    The temporary name lives in the same directory (so the rename is atomic on
    POSIX file systems) and starts with a dot, so that globbing for products never
    picks it up. On any exception the temporary file is removed and ``path`` is
    left untouched; a full disk (``ENOSPC``, ``EDQUOT``) is re-raised as an ``OSError``
    whose message names ``path`` (the libraries' own text names no file).

    Parameters
    ----------
    path : str or os.PathLike
        Final path of the product.

    Yields
    ------
    pathlib.Path
        Temporary path to write to. Its suffix equals that of ``path`` so that
        writers which dispatch on the extension (``.fits``, ``.gz``, ``.h5``) work.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(final.suffixes[-2:]) if final.name.endswith(".gz") else final.suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".tmp{suffix}", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as fitsio refuse to clobber; they create the file themselves
    try:
        yield tmp
        os.replace(tmp, final)
    except OSError as err:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if _disk_full(err) and str(final) not in str(err):
            code = err.errno or errno.ENOSPC
            raise OSError(code, f"{final}: cannot write ({os.strerror(code)}: {err})") from err
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def provenance_cards(
    version: str, inputs: Sequence[str | os.PathLike] = (), step: str | None = None
) -> list[tuple[str, object, str]]:
    """Header cards that record who made a product and from what.

    Parameters
    ----------
    version : str
        Reduction version (the ``version:`` of the config, e.g. ``"v1"``).
    inputs : sequence of path-like
        Input files; their base names are recorded as ``INFILEnn`` (at most 99).
    step : str, optional
        Name of the workflow step (rule) that wrote the product.

    Returns
    -------
    list of (keyword, value, comment)
        Cards ready for :meth:`astropy.io.fits.Header.extend` or fitsio.

    Examples
    --------
    >>> cards = provenance_cards("v1", ["a/spFrame-b1-00000001.fits"], step="sky_flux")
    >>> [c[0] for c in cards][:3]
    ['SDSSFLOW', 'VERSION', 'STEP']
    """
    cards: list[tuple[str, object, str]] = [
        ("SDSSFLOW", __version__, "sdssflow package version"),
        ("VERSION", str(version), "sdssflow reduction version"),
    ]
    if step:
        cards.append(("STEP", step, "workflow step that wrote this file"))
    cards.append(("DATE", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "UTC time written"))
    for i, name in enumerate(list(inputs)[:99], start=1):
        cards.append((f"INFILE{i:02d}", Path(name).name[:68], "input file"))
    return cards


def add_provenance(header: fits.Header, version: str, inputs=(), step: str | None = None) -> fits.Header:
    """Add :func:`provenance_cards` to an astropy header (in place) and return it."""
    for key, value, comment in provenance_cards(version, inputs, step):
        header[key] = (value, comment)
    return header


def write_hdulist(hdus: fits.HDUList, path: str | os.PathLike, checksum: bool = True) -> Path:
    """Write an HDU list atomically, with DATASUM/CHECKSUM cards.

    Parameters
    ----------
    hdus : astropy.io.fits.HDUList
        The product. Headers should already carry provenance and BUNIT cards.
    path : str or os.PathLike
        Final path; ``.fits.gz`` is written gzip-compressed.
    checksum : bool
        Write FITS ``CHECKSUM``/``DATASUM`` keywords.

    Returns
    -------
    pathlib.Path
        The final path.
    """
    start = time.perf_counter()
    with atomic_path(path) as tmp:
        hdus.writeto(tmp, checksum=checksum)
    log.info("wrote %s in %.2f s", path, time.perf_counter() - start)
    return Path(path)


def write_fitsio(path: str | os.PathLike, primary: list[dict], hdus: Sequence[tuple]) -> Path:
    """Write a product with fitsio, atomically, with CHECKSUM/DATASUM on every HDU.

    Parameters
    ----------
    path : str or os.PathLike
        Final path; ``.fits.gz`` is written gzip-compressed.
    primary : list of dict
        Cards of the (empty) primary HDU, :func:`header_card` records.
    hdus : sequence of (kind, extname, data, extra)
        ``("image", EXTNAME, array, cards)`` (cards: :func:`header_card` records) or
        ``("table", EXTNAME, columns, units)`` (columns: a structured array or a dict of
        name -> 1-d array; units: one FITS unit string per column, "" for none), written in
        this order.

    Returns
    -------
    pathlib.Path
        The final path.
    """
    start = time.perf_counter()
    with atomic_path(path) as tmp:
        with fitsio.FITS(str(tmp), "rw") as f:
            f.write(None, header=primary)
            for kind, extname, data, extra in hdus:
                if kind == "image":
                    f.write(data, extname=extname, header=extra)
                else:
                    f.write_table(data, units=list(extra), extname=extname)
            for hdu in f:  # after the data: cfitsio sums what is on disk
                hdu.write_checksum()
    log.info("wrote %s in %.2f s", path, time.perf_counter() - start)
    return Path(path)


def find_fits(root: str | os.PathLike, pattern: str) -> list[Path]:
    """FITS files below ``root`` (recursive) named ``pattern + ".fits"`` or ``".fits.gz"``.

    Real trees gzip some products (spFrame, spFluxcalib, ...), so every search for FITS
    inputs accepts both; hidden (temporary) files are skipped.

    Parameters
    ----------
    root : str or os.PathLike
        Directory searched recursively.
    pattern : str
        Glob of the name without the extension, e.g. ``"apVisit-*"``.

    Returns
    -------
    list of pathlib.Path
        Sorted.
    """
    root = Path(root)
    found = set(root.rglob(f"{pattern}.fits")) | set(root.rglob(f"{pattern}.fits.gz"))
    return sorted(p for p in found if not p.name.startswith("."))


def header_card(name: str, value, comment: str = "") -> dict:
    """A fitsio header record; numpy scalars become Python ones and non-finite floats 'NaN'.

    Examples
    --------
    >>> header_card("SNR", np.float32(float("nan")), "signal to noise")
    {'name': 'SNR', 'value': 'NaN', 'comment': 'signal to noise'}
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        value = "NaN"
    return {"name": name, "value": value, "comment": comment}
