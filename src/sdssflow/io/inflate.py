"""Open a ``.fits`` or ``.fits.gz`` with fitsio, inflating a gzipped file once and fast.

cfitsio opens a gzipped file by inflating all of it into a growing memory buffer with
its own zlib loop: for a 49 MB spFrame that is ~0.65 s of CPU and the whole
uncompressed file in the process's memory. :func:`open_fits` instead streams the file
through ISA-L's inflater (``isal.igzip``, 3-4x faster than zlib; the standard
:mod:`gzip` module when ``isal`` is not installed) into an anonymous temporary file,
which fitsio opens and reads HDU by HDU: ~0.3 s for the same frame, and only the HDUs
read are in memory. The temporary file is unlinked as soon as fitsio holds it open, so
nothing is left behind, even when the process is killed.

A reader that needs only the first HDUs passes ``hdus``: the inflation then stops at the
end of the last of them (:func:`copy_hdus` finds the HDU boundaries from the FITS headers as
they stream by), so the HDUs after it are neither inflated nor written (an spFrame read
without its x and superflat images: a third less to inflate).

The temporary directory is :func:`tempfile.gettempdir` (``TMPDIR``): it needs the
uncompressed size of one file at a time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

import fitsio
import numpy as np

try:  # ISA-L: the fast inflater (a dependency; the standard gzip module is the fallback)
    from isal import igzip as _gzip
except ImportError:  # pragma: no cover - exercised only without isal
    import gzip as _gzip

__all__ = ["open_fits", "is_gzipped", "copy_hdus", "INFLATE_CHUNK", "FITS_BLOCK"]

#: Bytes inflated per read: bounds the memory of the copy (the output goes to the file).
INFLATE_CHUNK = 1 << 20
#: FITS logical record: headers and data units are padded to multiples of it (FITS 4.0, 3.1).
FITS_BLOCK = 2880
_CARD = 80
#: Header blocks read before a stream without an END card is taken for not FITS (29 MB).
MAX_HEADER_BLOCKS = 10_000


def is_gzipped(path: str | os.PathLike) -> bool:
    """True when the file starts with the gzip magic bytes (whatever its name).

    Examples
    --------
    >>> import gzip, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.fits.gz"
    >>> _ = p.write_bytes(gzip.compress(b"SIMPLE"))
    >>> is_gzipped(p), is_gzipped(__file__)
    (True, False)
    """
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _card_int(card: bytes) -> int:
    """The integer value of a fixed-format header card (``KEYWORD = value / comment``)."""
    return int(card[10:].split(b"/", 1)[0].strip())


def _data_size(cards: dict[bytes, bytes]) -> int:
    """Bytes of an HDU's data unit, padding included, from its mandatory keywords.

    FITS 4.0 eq. 2 (images, tables and their heap: ``PCOUNT``) and eq. 4 (random groups,
    ``GROUPS = T`` with ``NAXIS1 = 0``): |BITPIX|/8 x GCOUNT x (PCOUNT + NAXIS1 x ... x NAXISn),
    rounded up to whole 2880-byte blocks.
    """
    naxis = _card_int(cards[b"NAXIS"])
    if naxis == 0:
        return 0
    dims = [_card_int(cards[b"NAXIS%d" % i]) for i in range(1, naxis + 1)]
    groups = cards.get(b"GROUPS", b"")[10:].split(b"/", 1)[0].strip() == b"T"
    if groups and dims[0] == 0:
        dims = dims[1:]
    size = abs(_card_int(cards[b"BITPIX"])) // 8
    count = int(np.prod(dims, dtype=np.int64))
    pcount = _card_int(cards[b"PCOUNT"]) if b"PCOUNT" in cards else 0
    gcount = _card_int(cards[b"GCOUNT"]) if b"GCOUNT" in cards else 1
    nbytes = size * gcount * (pcount + count)
    return -(-nbytes // FITS_BLOCK) * FITS_BLOCK


def _copy_bytes(src: BinaryIO, out: BinaryIO, nbytes: int) -> bool:
    """Copy ``nbytes`` from ``src`` to ``out`` in chunks; False if ``src`` ended before."""
    while nbytes > 0:
        chunk = src.read(min(nbytes, INFLATE_CHUNK))
        if not chunk:
            return False
        out.write(chunk)
        nbytes -= len(chunk)
    return True


def copy_hdus(src: BinaryIO, out: BinaryIO, hdus: int) -> None:
    """Copy the first ``hdus`` HDUs of a FITS stream (header and data units, padded).

    The stream is read no further than the end of the last HDU asked for. A stream that
    is not FITS (no SIMPLE/XTENSION card, no END card within a header, an unreadable
    mandatory keyword) is copied whole from there on, so that the FITS reader opening
    ``out`` reports the problem as it would for the whole file; a stream with fewer HDUs
    is copied whole (the reader then finds fewer HDUs).

    Parameters
    ----------
    src : binary file
        The (uncompressed) FITS stream, at the start of an HDU.
    out : binary file
        Where the bytes go.
    hdus : int
        HDUs to copy (>= 1).

    Examples
    --------
    >>> import io
    >>> cards = [("SIMPLE", "T"), ("BITPIX", "8"), ("NAXIS", "1"), ("NAXIS1", "10")]
    >>> head = b"".join(f"{k:8}= {v:>20}".ljust(80).encode() for k, v in cards)
    >>> hdu = (head + b"END".ljust(80)).ljust(2880) + b"x" * 10 + bytes(2870)
    >>> out = io.BytesIO()
    >>> copy_hdus(io.BytesIO(hdu + hdu), out, 1)
    >>> len(out.getvalue())
    5760
    """
    for _ in range(hdus):
        cards: dict[bytes, bytes] = {}
        blocks = 0
        while b"END" not in cards:
            block = src.read(FITS_BLOCK)
            out.write(block)
            if len(block) < FITS_BLOCK:  # end of the stream: fewer HDUs than asked for
                return
            if not cards and block[:8].rstrip() not in (b"SIMPLE", b"XTENSION"):
                shutil.copyfileobj(src, out, INFLATE_CHUNK)  # not FITS: leave it to the reader
                return
            for k in range(0, FITS_BLOCK, _CARD):
                card = block[k : k + _CARD]
                cards.setdefault(card[:8].rstrip(), card)
                if card[:8].rstrip() == b"END":
                    break
            blocks += 1
            if blocks > MAX_HEADER_BLOCKS:  # no END card: not FITS
                shutil.copyfileobj(src, out, INFLATE_CHUNK)
                return
        try:
            nbytes = _data_size(cards)
        except (KeyError, ValueError):  # a malformed mandatory keyword: the reader decides
            shutil.copyfileobj(src, out, INFLATE_CHUNK)
            return
        if not _copy_bytes(src, out, nbytes):
            return


def open_fits(path: str | os.PathLike, hdus: int | None = None) -> fitsio.FITS:
    """A read-only :class:`fitsio.FITS` of ``path``, gzipped or not.

    Parameters
    ----------
    path : str or os.PathLike
        A FITS file, optionally gzip-compressed (detected from its first bytes).
    hdus : int, optional
        Only the first ``hdus`` HDUs are needed: a gzipped file is inflated up to the end of
        the last of them (:func:`copy_hdus`), and the :class:`fitsio.FITS` holds at most that
        many HDUs. Default: the whole file. An uncompressed file is always opened whole.

    Returns
    -------
    fitsio.FITS
        Open for reading; use it as a context manager (closing it frees the temporary
        file of a gzipped input).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    OSError, EOFError
        If the gzip stream is damaged or truncated (``gzip.BadGzipFile`` is an
        ``OSError``) before the end of what is inflated, or fitsio cannot open the content.
    """
    path = Path(path)
    if not is_gzipped(path):
        return fitsio.FITS(str(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".fits")
    try:
        with os.fdopen(fd, "wb") as out, _gzip.open(path, "rb") as src:
            if hdus is None:
                shutil.copyfileobj(src, out, INFLATE_CHUNK)
            else:
                copy_hdus(src, out, hdus)
        return fitsio.FITS(tmp)  # cfitsio keeps its descriptor: the unlink below is safe
    finally:
        os.unlink(tmp)
