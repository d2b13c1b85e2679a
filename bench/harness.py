"""The one record type of the benchmarks (see bench/run.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Benchmark:
    """One benchmark case.

    Attributes
    ----------
    step : str
        Workflow step (rule name) measured.
    input_size : str
        Human-readable size, e.g. "1 plate, 16 frames x 500 x 4128".
    n_items : int
        Items processed, for the throughput column.
    unit : str
        What an item is ("frames", "sources", "stars").
    setup : callable
        Prepares the inputs (untimed) and returns the zero-argument callable timed.
    """

    step: str
    input_size: str
    n_items: int
    unit: str
    setup: Callable[[], Callable[[], object]]
