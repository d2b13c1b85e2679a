"""Robust parallel download of BOSZ 2024 files (HTTP(S) or file:// base URLs).

Fixes kspecdr's downloader weak point W13: every file is written to ``<dest>.part`` and
renamed only when complete (atomic), a partial file is resumed with an HTTP ``Range``
request, transient failures (5xx, time-outs, truncated bodies) are retried with
exponential back-off, a 404 is recorded and never retried, the base URL and destination
are parameters, and each completed file is recorded with its size and sha256.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import logging
import os
import random
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

from sdssflow.io.products import atomic_path

__all__ = [
    "DownloadResult",
    "download_file",
    "download_all",
    "sha256_of",
    "write_manifest",
    "read_manifest",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass
class DownloadResult:
    """Outcome of one file.

    Attributes
    ----------
    relpath : str
        Path relative to the base URL and to the destination root.
    url : str
        The URL fetched.
    status : str
        ``ok`` (downloaded now), ``skipped`` (already complete), ``not_found`` (HTTP 404 or
        missing file://) or ``error``.
    size : int
        Bytes on disk (0 unless ok/skipped).
    sha256 : str
        Hex digest of the file ('' unless ok/skipped).
    attempts : int
        Requests made.
    message : str
        Last error, if any.
    """

    relpath: str
    url: str
    status: str
    size: int = 0
    sha256: str = ""
    attempts: int = 0
    message: str = ""


class _Transient(Exception):
    """A failure worth retrying (5xx, time-out, truncated body)."""


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch_once(url: str, part: Path, timeout: float) -> None:
    """One request: append to ``part`` (resuming with Range) until the body ends."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "sdssflow-bosz"})
    if have and url.startswith(("http://", "https://")):
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416:  # our partial file is not a prefix of theirs: start again
            part.unlink(missing_ok=True)
            raise _Transient("HTTP 416 (range not satisfiable); restarting") from err
        if err.code >= 500 or err.code in (408, 429):
            raise _Transient(f"HTTP {err.code}") from err
        raise
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, FileNotFoundError):
            raise FileNotFoundError(str(reason)) from err
        raise _Transient(f"{type(err).__name__}: {reason}") from err
    with response:
        status = getattr(response, "status", 200)
        mode = "ab" if (have and status == 206) else "wb"
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        got = 0
        try:
            with open(part, mode) as out:
                for block in iter(lambda: response.read(_CHUNK), b""):
                    out.write(block)
                    got += len(block)
        except (http.client.IncompleteRead, TimeoutError, ConnectionError, OSError) as err:
            raise _Transient(f"body interrupted after {got} bytes: {type(err).__name__}") from err
        if expected is not None and got < expected:
            raise _Transient(f"truncated body: {got} of {expected} bytes")


def download_file(
    url: str,
    dest: str | os.PathLike,
    relpath: str,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 60.0,
    force: bool = False,
    validate=None,
) -> DownloadResult:
    """Download one URL to ``dest`` (atomic, resumable, retried).

    Parameters
    ----------
    url : str
        http(s):// or file:// URL.
    dest : path-like
        Final path. A complete file there is skipped unless ``force``.
    relpath : str
        Recorded in the result (manifest key).
    retries : int
        Attempts after the first one for transient failures.
    backoff : float
        First back-off delay, s; doubles after each failure (with 0-25 % jitter).
    timeout : float
        Socket time-out per request, s.
    force : bool
        Download again even if ``dest`` exists.
    validate : callable, optional
        ``validate(path)`` raises ValueError if a finished download is corrupt (e.g. a
        gzip that does not decompress); the part file is then discarded and retried.

    Returns
    -------
    DownloadResult
    """
    dest = Path(dest)
    if dest.exists() and not force:
        return DownloadResult(relpath, url, "skipped", dest.stat().st_size, sha256_of(dest))
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if force:
        part.unlink(missing_ok=True)
    attempts, delay, message = 0, backoff, ""
    while attempts <= retries:
        attempts += 1
        try:
            if url.startswith("file://"):
                src = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
                if not src.exists():
                    return DownloadResult(
                        relpath, url, "not_found", attempts=attempts, message=f"{src} missing"
                    )
                with atomic_path(dest) as tmp:
                    shutil.copyfile(src, tmp)
                    if validate:
                        validate(tmp)
            else:
                _fetch_once(url, part, timeout)
                if validate:
                    try:
                        validate(part)
                    except ValueError as err:
                        part.unlink(missing_ok=True)
                        raise _Transient(f"corrupt download: {err}") from err
                os.replace(part, dest)
            return DownloadResult(
                relpath, url, "ok", dest.stat().st_size, sha256_of(dest), attempts
            )
        except urllib.error.HTTPError as err:
            status = "not_found" if err.code == 404 else "error"
            return DownloadResult(
                relpath, url, status, attempts=attempts, message=f"HTTP {err.code}"
            )
        except FileNotFoundError as err:
            return DownloadResult(relpath, url, "not_found", attempts=attempts, message=str(err))
        except _Transient as err:
            message = str(err)
            if attempts <= retries:
                log.info("%s: %s; retry %d in %.1f s", relpath, message, attempts, delay)
                time.sleep(delay * (1.0 + 0.25 * random.random()))
                delay *= 2.0
    return DownloadResult(relpath, url, "error", attempts=attempts, message=message)


def download_all(
    items: Iterable[tuple[str, str]],
    dest_root: str | os.PathLike,
    threads: int = 8,
    **kwargs,
) -> list[DownloadResult]:
    """Download many (url, relpath) pairs in parallel into ``dest_root/relpath``.

    Keyword arguments go to :func:`download_file`. Results keep the input order.
    """
    items = list(items)
    root = Path(dest_root)

    def one(item):
        url, relpath = item
        return download_file(url, root / relpath, relpath, **kwargs)

    results: list[DownloadResult] = []
    with ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool:
        for i, result in enumerate(pool.map(one, items), start=1):
            results.append(result)
            if result.status in ("not_found", "error"):
                log.warning(
                    "[%d/%d] %s %s (%s)",
                    i,
                    len(items),
                    result.status,
                    result.relpath,
                    result.message,
                )
    return results


def write_manifest(results: list[DownloadResult], path: str | os.PathLike) -> Path:
    """Write the manifest CSV (one row per file: relpath, url, status, size, sha256, attempts, message)."""
    names = [f.name for f in fields(DownloadResult)]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=names)
            writer.writeheader()
            for r in results:
                writer.writerow({n: getattr(r, n) for n in names})
    return Path(path)


def read_manifest(path: str | os.PathLike) -> list[DownloadResult]:
    """Read a manifest written by :func:`write_manifest`."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [
        DownloadResult(
            relpath=r["relpath"],
            url=r["url"],
            status=r["status"],
            size=int(r["size"] or 0),
            sha256=r["sha256"],
            attempts=int(r["attempts"] or 0),
            message=r.get("message", ""),
        )
        for r in rows
    ]
