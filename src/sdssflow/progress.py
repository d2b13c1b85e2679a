"""Progress lines for long loops: done/total, rate and time left, every few percent.

A bucket job of mwm_visit may run for hours; :func:`track` wraps its loop so that the
job log shows how far it is::

    for src in track(sources, "mwm_visit 12/34", log):
        ...

writes lines such as ``mwm_visit 12/34: 150/3000 (5%), 2.1 per s, 22 min left``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import TypeVar

__all__ = ["Progress", "track", "format_duration"]

T = TypeVar("T")


def format_duration(seconds: float) -> str:
    """A duration for humans: ``'42 s'``, ``'7.5 min'``, ``'2.3 h'``.

    Examples
    --------
    >>> format_duration(42.4), format_duration(450), format_duration(8280)
    ('42 s', '7.5 min', '2.3 h')
    """
    if not math.isfinite(seconds):
        return "unknown"
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 6000:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Count finished units and log a progress line every ``every_percent`` of ``total``.

    Parameters
    ----------
    total : int
        Number of units (sources, files, exposures) the loop will finish; >= 0.
    label : str
        Start of every line (the job: rule and wildcards).
    logger : logging.Logger, optional
        Where the lines go (INFO); ``sdssflow.progress`` when omitted.
    every_percent : float
        Log when the done fraction passes each multiple of this (percent, 0 < x <= 100);
        the last unit is always logged.
    clock : callable, optional
        Seconds since an arbitrary origin (``time.monotonic``); tests pass a fake clock.

    Raises
    ------
    ValueError
        ``total`` < 0 or ``every_percent`` outside (0, 100].
    """

    def __init__(
        self,
        total: int,
        label: str,
        logger: logging.Logger | None = None,
        every_percent: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if total < 0:
            raise ValueError(f"Progress: total must be >= 0, got {total}")
        if not 0 < every_percent <= 100:
            raise ValueError(f"Progress: every_percent must be in (0, 100], got {every_percent}")
        self.total, self.label, self.every = int(total), label, float(every_percent)
        self.log = logger or logging.getLogger(__name__)
        self.clock = clock
        self.start = clock()
        self.done = 0
        self._next = self.every

    def line(self) -> str:
        """The progress line for the current count: done/total, percent, rate, time left."""
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else math.inf
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (
            f"{self.label}: {self.done}/{self.total} ({pct:.0f}%), {rate:.3g} per s, "
            f"{format_duration(left)} left"
        )

    def advance(self, n: int = 1) -> None:
        """Record ``n`` more finished units; log if a reporting step was passed."""
        self.done += n
        pct = 100.0 * self.done / self.total if self.total else 100.0
        if pct >= self._next or self.done >= self.total:
            self.log.info("%s", self.line())
            self._next = (math.floor(pct / self.every) + 1) * self.every


def track(
    items: Iterable[T],
    label: str,
    logger: logging.Logger | None = None,
    every_percent: float = 5.0,
    total: int | None = None,
) -> Iterator[T]:
    """Iterate over ``items``, counting an item as done when the loop body asks for the next.

    Parameters
    ----------
    items : iterable
        The units; a sized collection gives its own total.
    label, logger, every_percent
        As for :class:`Progress`.
    total : int, optional
        Number of items when ``items`` has no ``len``.

    Yields
    ------
    object
        The items of ``items``, unchanged.

    Examples
    --------
    >>> list(track([1, 2, 3], "demo"))
    [1, 2, 3]
    """
    if total is None:
        if not isinstance(items, Sized):
            items = list(items)
        total = len(items)
    progress = Progress(total, label, logger, every_percent)
    for item in items:
        yield item
        progress.advance()
