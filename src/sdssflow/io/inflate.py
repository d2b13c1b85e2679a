"""Open a ``.fits`` or ``.fits.gz`` with fitsio, inflating a gzipped file once and fast.

cfitsio opens a gzipped file by inflating all of it into a growing memory buffer with
its own zlib loop: for a 49 MB spFrame that is ~0.65 s of CPU and the whole
uncompressed file in the process's memory. :func:`open_fits` instead streams the file
through ISA-L's inflater (``isal.igzip``, 3-4x faster than zlib; the standard
:mod:`gzip` module when ``isal`` is not installed) into an anonymous temporary file,
which fitsio opens and reads HDU by HDU: ~0.3 s for the same frame, and only the HDUs
read are in memory. The temporary file is unlinked as soon as fitsio holds it open, so
nothing is left behind, even when the process is killed.

The temporary directory is :func:`tempfile.gettempdir` (``TMPDIR``): it needs the
uncompressed size of one file at a time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import fitsio

try:  # ISA-L: the fast inflater (a dependency; the standard gzip module is the fallback)
    from isal import igzip as _gzip
except ImportError:  # pragma: no cover - exercised only without isal
    import gzip as _gzip

__all__ = ["open_fits", "is_gzipped", "INFLATE_CHUNK"]

#: Bytes inflated per read: bounds the memory of the copy (the output goes to the file).
INFLATE_CHUNK = 1 << 20


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


def open_fits(path: str | os.PathLike) -> fitsio.FITS:
    """A read-only :class:`fitsio.FITS` of ``path``, gzipped or not.

    Parameters
    ----------
    path : str or os.PathLike
        A FITS file, optionally gzip-compressed (detected from its first bytes).

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
        ``OSError``), or fitsio cannot open the content.
    """
    path = Path(path)
    if not is_gzipped(path):
        return fitsio.FITS(str(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".fits")
    try:
        with os.fdopen(fd, "wb") as out, _gzip.open(path, "rb") as src:
            shutil.copyfileobj(src, out, INFLATE_CHUNK)
        return fitsio.FITS(tmp)  # cfitsio keeps its descriptor: the unlink below is safe
    finally:
        os.unlink(tmp)
