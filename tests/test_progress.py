"""Progress lines: done/total, rate and time left every few percent."""

from __future__ import annotations

import logging

import pytest

from sdssflow.progress import Progress, format_duration, track


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_lines_every_ten_percent_with_rate_and_time_left(caplog):
    clock = FakeClock()
    prog = Progress(200, "bucket 12/34", logging.getLogger("t"), every_percent=10, clock=clock)
    with caplog.at_level(logging.INFO, logger="t"):
        for _ in range(200):
            clock.t += 0.5  # 2 units per second
            prog.advance()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 10  # 10 %, 20 %, ..., 100 %
    assert lines[0] == "bucket 12/34: 20/200 (10%), 2 per s, 90 s left"  # 180 left at 2 per s
    assert lines[4] == "bucket 12/34: 100/200 (50%), 2 per s, 50 s left"
    assert lines[-1] == "bucket 12/34: 200/200 (100%), 2 per s, 0 s left"


def test_uneven_steps_and_small_totals(caplog):
    clock = FakeClock()
    prog = Progress(3, "x", logging.getLogger("t2"), every_percent=5, clock=clock)
    with caplog.at_level(logging.INFO, logger="t2"):
        for _ in range(3):
            clock.t += 1
            prog.advance()
    assert [r.getMessage().split(",")[0] for r in caplog.records] == ["x: 1/3 (33%)", "x: 2/3 (67%)", "x: 3/3 (100%)"]
    caplog.clear()
    prog = Progress(100, "y", logging.getLogger("t2"), every_percent=25, clock=clock)
    with caplog.at_level(logging.INFO, logger="t2"):
        prog.advance(60)  # passes 25 and 50 at once: one line, next at 75
        prog.advance(10)
        prog.advance(30)
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["y: 60/100", "y: 100/100"]


def test_track_counts_after_the_body(caplog):
    seen = []
    with caplog.at_level(logging.INFO, logger="t3"):
        for item in track(iter(range(4)), "z", logging.getLogger("t3"), every_percent=50):
            seen.append(item)
            if item == 1:
                assert not caplog.records  # 1 of 4 done: below the first 50 % step
                continue  # a skipped unit still counts
    assert seen == [0, 1, 2, 3]
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["z: 2/4", "z: 4/4"]


def test_errors_and_durations():
    with pytest.raises(ValueError, match="total must be >= 0, got -1"):
        Progress(-1, "x")
    with pytest.raises(ValueError, match=r"every_percent must be in \(0, 100\], got 0"):
        Progress(10, "x", every_percent=0)
    assert format_duration(float("inf")) == "unknown"
    assert format_duration(7200) == "2.0 h"
