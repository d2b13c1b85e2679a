"""One place that turns "this file cannot be read" into an error naming the file.

FITS and gzip readers fail in many ways on a damaged file: astropy raises ``OSError`` or
``UnicodeDecodeError`` on garbage headers, fitsio its own ``OSError`` text, a truncated
``.gz`` gives ``EOFError`` or ``zlib.error``, a short table ``IndexError`` or
``TypeError``. None of them name the path. Every reader of :mod:`sdssflow.io` is wrapped
by :func:`readable` (or reads inside :func:`reading`), so whatever the library raises
reaches the caller as one :class:`UnreadableFile` whose message starts with the path and
names the exception type, and whose ``path`` and ``reason`` fill the problem tables.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator

__all__ = ["UnreadableFile", "reading", "readable"]


class UnreadableFile(ValueError):
    """A file that cannot be read.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    error : BaseException
        What the library raised.

    Attributes
    ----------
    path : str
        The file, as given.
    reason : str
        ``"<ExceptionType>: <message>"`` of the original error (one line).
    """

    def __init__(self, path: str | os.PathLike, error: BaseException):
        self.path = str(path)
        text = " ".join(str(error).split()) or "(no message)"
        kind = type(error).__name__
        if text.startswith(f"{self.path}: "):  # a reader's own message: keep its wording
            text = text[len(self.path) + 2 :]
            message = f"{self.path}: {text} ({kind})"
        else:
            message = f"{self.path}: unreadable ({kind}: {text})"
        self.reason = f"{kind}: {text}"
        super().__init__(message)


@contextlib.contextmanager
def reading(path: str | os.PathLike) -> Iterator[None]:
    """Context manager: any exception raised inside becomes :class:`UnreadableFile` (path).

    An :class:`UnreadableFile` raised inside (a nested reader) passes unchanged, so the
    message names the innermost file once; so does ``FileNotFoundError`` (a missing file is
    not a damaged one, and callers tell the two apart).

    Examples
    --------
    >>> try:
    ...     with reading("x.fits"):
    ...         b"\\xff".decode()
    ... except UnreadableFile as err:
    ...     print(err)
    x.fits: unreadable (UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte)
    """
    try:
        yield
    except (UnreadableFile, FileNotFoundError):  # a missing file is not a damaged one
        raise
    except Exception as err:  # noqa: BLE001 - whatever the library raises on a damaged file
        raise UnreadableFile(path, err) from err


def readable(func: Callable) -> Callable:
    """Decorator of a reader whose first argument is the path: see :func:`reading`."""

    @functools.wraps(func)
    def wrapper(path, *args, **kwargs):
        with reading(path):
            return func(path, *args, **kwargs)

    return wrapper
