"""One resumable HTTP(S) request of :mod:`sdssflow.fluxcal.download`: Range, 206/416, deadline.

:func:`fetch_once` writes (or appends to) a partial file with one request and tells a
failure worth retrying (:class:`Transient`) from one that is not (:class:`Fatal`);
:func:`sdssflow.fluxcal.download.download_file` loops over it with back-off.
"""

from __future__ import annotations

import http.client
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["CHUNK", "Transient", "Fatal", "Clock", "content_range", "fetch_once"]

#: Bytes read per block of a response body.
CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$")


class Transient(Exception):
    """A failure worth retrying (5xx, time-out, truncated body, wrong range)."""


class Fatal(Exception):
    """A failure not worth retrying (deadline passed, size disagreeing with the listing)."""


def content_range(value: str | None) -> tuple[int | None, int | None, int | None] | None:
    """(first, last, total) of a ``Content-Range: bytes a-b/n`` header; None if absent or malformed."""
    m = _CONTENT_RANGE.match(value or "")
    if not m:
        return None
    first, last, total = m.groups()
    return (
        int(first) if first is not None else None,
        int(last) if last is not None else None,
        int(total) if total != "*" else None,
    )


class Clock:
    """The per-file deadline (``None`` = no deadline)."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.end = time.monotonic() + seconds if seconds else None

    def left(self) -> float:
        return float("inf") if self.end is None else self.end - time.monotonic()

    def check(self, done: int) -> None:
        if self.left() <= 0:
            raise Fatal(f"deadline of {self.seconds:g} s per file passed after {done} bytes")


def fetch_once(url: str, part: Path, timeout: float, clock: Clock, probe: bool = False) -> int | None:
    """One request: write to ``part`` (resuming with Range) until the body ends.

    Parameters
    ----------
    url : str
        http(s) URL.
    part : pathlib.Path
        Partial file; its size is the offset asked for.
    timeout : float
        Socket time-out, s (capped by the time left before the deadline).
    clock : Clock
        Per-file deadline.
    probe : bool
        The previous body had no length: a 416 without a total means "complete".

    Returns
    -------
    int or None
        Size of the whole remote file, if the response said it.

    Raises
    ------
    Transient, Fatal, urllib.error.HTTPError, FileNotFoundError
    """
    have = part.stat().st_size if part.exists() else 0
    clock.check(have)
    request = urllib.request.Request(url, headers={"User-Agent": "sdssflow-bosz"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=max(0.05, min(timeout, clock.left())))
    except urllib.error.HTTPError as err:
        if err.code == 416:
            span = content_range(err.headers.get("Content-Range"))
            total = span[2] if span else None
            if have and (total == have or (total is None and probe)):
                return have  # nothing after our last byte: the part file is complete
            part.unlink(missing_ok=True)
            raise Transient(f"HTTP 416 (range not satisfiable, remote size {total}); restarting") from err
        if err.code >= 500 or err.code in (408, 429):
            raise Transient(f"HTTP {err.code}") from err
        raise
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise Transient(f"{type(err).__name__}: {reason}") from err
    with response:
        status = getattr(response, "status", 200)
        length = response.headers.get("Content-Length")
        length = int(length) if length is not None and length.strip().isdigit() else None
        if status == 206:
            span = content_range(response.headers.get("Content-Range"))
            if span is None or span[0] != have:
                part.unlink(missing_ok=True)
                start = span[0] if span else "an unknown byte"
                raise Transient(f"HTTP 206 starts at {start}, not at the requested {have}; restarting the file")
            total = span[2]
            body = length if length is not None else span[1] - span[0] + 1
            mode = "ab"
        else:
            total = body = length
            have, mode = 0, "wb"
        got = 0
        try:
            with open(part, mode) as out:
                while True:
                    clock.check(have + got)
                    block = response.read1(CHUNK)
                    if not block:
                        break
                    out.write(block)
                    got += len(block)
                    if body is not None and got > body:
                        break
        except (http.client.HTTPException, TimeoutError, ConnectionError, OSError) as err:
            raise Transient(f"body interrupted after {got} bytes: {type(err).__name__}") from err
    if body is not None and got > body:
        part.unlink(missing_ok=True)
        raise Transient(f"body longer than the {body} bytes announced; restarting")
    if body is not None and got < body:
        raise Transient(f"truncated body: {got} of {body} bytes")
    return total
