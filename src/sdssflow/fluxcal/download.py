"""Robust, verified parallel download of BOSZ 2024 files (HTTP(S) or file:// base URLs).

Fixes kspecdr's downloader weak point W13: every file is written to ``<dest>.part`` and
renamed only when complete and verified (atomic), a partial file is resumed with an HTTP
``Range`` request, transient failures (5xx, time-outs, truncated bodies) are retried with
exponential back-off, a 404 is recorded and never retried, the base URL and destination
are parameters, and each completed file is recorded with its size and sha256.

Verification: the size on disk must equal the expected size, taken from the listing
(``expected_size``) when the caller has one, else from the total of the ``Content-Range``
of a 206, else from the ``Content-Length`` of a 200; a body sent with neither is followed
by a ``Range`` request from its end (a 416 says it is complete, a 206 sends the rest). A 206 that does not start at the requested offset restarts the file.
``validate`` (e.g. a full gzip decompression) runs on every finished file. A per-file
deadline ends a slow transfer as ``error``. A file already at its final path is
``skipped`` only if its size and sha256 equal those of the previous manifest; otherwise
it is checked against the server again (HTTP: resumed from its end; file://: copied).
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import random
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

from sdssflow.fluxcal.http_range import CHUNK, Clock, Fatal, Transient, fetch_once
from sdssflow.io.products import atomic_path

__all__ = [
    "PRESENT",
    "DownloadResult",
    "download_file",
    "download_all",
    "sha256_of",
    "write_manifest",
    "read_manifest",
]

log = logging.getLogger(__name__)


#: Statuses of a file that is on disk and verified (the others: ``not_found``, ``error``).
PRESENT = ("ok", "skipped")


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
        ``ok`` (downloaded and verified now), ``skipped`` (already complete: size and
        sha256 as in the previous manifest), ``not_found`` (HTTP 404 or missing file://)
        or ``error`` (retries exhausted, deadline passed, corrupt or wrong size).
    size : int
        Bytes on disk (0 unless ok/skipped).
    sha256 : str
        Hex digest of the file ('' unless ok/skipped).
    attempts : int
        Requests made.
    message : str
        How the file was verified (ok/skipped), or the last error.
    """

    relpath: str
    url: str
    status: str
    size: int = 0
    sha256: str = ""
    attempts: int = 0
    message: str = ""


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_local(url: str, dest: Path, relpath: str, expected_size: int | None, validate) -> DownloadResult:
    """The file:// branch: copy, check the size against the source (its listing) and validate."""
    src = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    if not src.is_file():
        return DownloadResult(relpath, url, "not_found", attempts=1, message=f"{src} missing")
    listed = src.stat().st_size if expected_size is None else int(expected_size)
    try:
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
            size = tmp.stat().st_size
            if size != listed:
                raise ValueError(f"{size} bytes copied, {listed} expected")
            if validate:
                validate(tmp)
    except (ValueError, OSError) as err:
        return DownloadResult(relpath, url, "error", attempts=1, message=f"{src}: {type(err).__name__}: {err}")
    return DownloadResult(
        relpath, url, "ok", dest.stat().st_size, sha256_of(dest), 1, f"verified: {listed} bytes as the source"
    )


def _present(dest: Path, known: DownloadResult | None) -> tuple[bool, str]:
    """Whether a file already at ``dest`` matches its manifest row (size and sha256)."""
    if known is None or known.status not in PRESENT or not known.sha256:
        return False, "not vouched for by the manifest"
    size = dest.stat().st_size
    if size != known.size:
        return False, f"{size} bytes on disk, {known.size} in the manifest"
    if sha256_of(dest) != known.sha256:
        return False, "sha256 differs from the manifest"
    return True, "size and sha256 as in the manifest"


def download_file(
    url: str,
    dest: str | os.PathLike,
    relpath: str,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 60.0,
    force: bool = False,
    validate=None,
    expected_size: int | None = None,
    known: DownloadResult | None = None,
    file_timeout: float | None = None,
) -> DownloadResult:
    """Download one URL to ``dest`` (atomic, resumable, retried, verified).

    Parameters
    ----------
    url : str
        http(s):// or file:// URL.
    dest : path-like
        Final path.
    relpath : str
        Recorded in the result (manifest key).
    retries : int
        Attempts after the first one for transient failures.
    backoff : float
        First back-off delay, s; doubles after each failure (with 0-25 % jitter).
    timeout : float
        Socket time-out per request, s.
    force : bool
        Download again even if ``dest`` exists and matches ``known``.
    validate : callable, optional
        ``validate(path)`` raises ValueError if a finished download is corrupt (e.g. a
        gzip that does not decompress); the part file is then discarded and retried.
    expected_size : int, optional
        Size from a listing, bytes; the file must have it (and the server agree).
    known : DownloadResult, optional
        This file's row of the previous manifest: a file at ``dest`` with its size and
        sha256 is ``skipped``; any other file there is checked against the server again.
    file_timeout : float, optional
        Deadline for the whole file (every attempt and back-off), s; ``None`` or 0 = none.

    Returns
    -------
    DownloadResult
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    note = ""
    if dest.exists() and not force:
        fine, why = _present(dest, known)
        if fine:
            return DownloadResult(relpath, url, "skipped", known.size, known.sha256, 0, why)
        log.info("%s: present but %s; checking it again", dest, why)
        note = f"present file re-checked ({why}); "
        if known is not None and known.status in PRESENT and known.sha256:
            dest.unlink()  # wrong bytes: fetch from scratch
        elif not url.startswith("file://"):
            os.replace(dest, part)  # unknown: resume from its end, the server says whether it is complete
    dest.parent.mkdir(parents=True, exist_ok=True)
    if force:
        part.unlink(missing_ok=True)
    if url.startswith("file://"):
        result = _copy_local(url, dest, relpath, expected_size, validate)
        result.message = note + result.message
        return result
    clock = Clock(file_timeout)
    requests, failures, delay, probe, message = 0, 0, backoff, False, ""
    while failures <= retries:
        requests += 1
        try:
            total = fetch_once(url, part, timeout, clock, probe)
            size = part.stat().st_size
            if total is None and not probe:
                probe = True  # no length given: ask for what follows our last byte
                continue
            if expected_size is not None and total is not None and total != int(expected_size):
                raise Fatal(f"server size {total} differs from the listed {expected_size} bytes")
            expected = int(expected_size) if expected_size is not None else total
            if expected is not None and size != expected:
                if size > expected:
                    part.unlink(missing_ok=True)
                raise Transient(f"{size} bytes received, {expected} expected")
            if validate:
                try:
                    validate(part)
                except ValueError as err:
                    part.unlink(missing_ok=True)
                    raise Transient(f"corrupt download: {err}") from err
            os.replace(part, dest)
            how = f"verified: {size} bytes" if expected is not None else f"{size} bytes, size unverified (no length, no Range support)"
            return DownloadResult(relpath, url, "ok", size, sha256_of(dest), requests, note + how)
        except urllib.error.HTTPError as err:
            status = "not_found" if err.code == 404 else "error"
            return DownloadResult(relpath, url, status, attempts=requests, message=note + f"HTTP {err.code}")
        except Fatal as err:
            return DownloadResult(relpath, url, "error", attempts=requests, message=note + str(err))
        except Transient as err:
            failures += 1
            probe = False
            message = str(err)
            if failures <= retries:
                wait = min(delay * (1.0 + 0.25 * random.random()), max(0.0, clock.left()))
                log.info("%s: %s; retry %d in %.1f s", relpath, message, failures, wait)
                time.sleep(wait)
                delay *= 2.0
    return DownloadResult(relpath, url, "error", attempts=requests, message=note + message)


def download_all(
    items: Iterable[tuple],
    dest_root: str | os.PathLike,
    threads: int = 8,
    known: Mapping[str, DownloadResult] | None = None,
    **kwargs,
) -> list[DownloadResult]:
    """Download many (url, relpath[, expected_size]) items in parallel into ``dest_root/relpath``.

    Keyword arguments go to :func:`download_file`; ``known`` maps relpath to the rows of
    the previous manifest. A file whose download raises anything unexpected is recorded
    as ``error`` with the exception type; the others go on. Results keep the input order.
    """
    items = list(items)
    root = Path(dest_root)
    known = dict(known or {})

    def one(item):
        url, relpath, *size = item
        try:
            return download_file(
                url, root / relpath, relpath, expected_size=size[0] if size else None, known=known.get(relpath), **kwargs
            )
        except Exception as err:  # one file's surprise must not lose the others' results
            return DownloadResult(relpath, url, "error", message=f"{root / relpath}: {type(err).__name__}: {err}")

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
    """Write the manifest CSV (one row per file: relpath, url, status, size, sha256, attempts, message).

    The write is atomic; each message is put on one line (runs of white space, newlines
    included, become one space).
    """
    names = [f.name for f in fields(DownloadResult)]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=names)
            writer.writeheader()
            for r in results:
                row = {n: getattr(r, n) for n in names}
                row["message"] = " ".join(str(r.message).split())
                writer.writerow(row)
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
