"""run_step: one line for input errors, the full traceback for bugs; the one place where a
step's BLAS/OpenMP threads are pinned to the rule's threads."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from sdssflow.steps import StepError, run_step, step_threads


def _raiser(exc):
    def main(argv):
        raise exc

    return main


@pytest.mark.parametrize(
    "exc", [StepError("a.fits: no HDU FLUX"), ValueError("a.fits: bad value"), FileNotFoundError("a.fits")]
)
def test_input_errors_one_line(exc, capfd):
    assert run_step(_raiser(exc), []) == 1
    err = capfd.readouterr().err
    assert type(exc).__name__ in err and "a.fits" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("exc", [KeyError("FLUX"), TypeError("unsupported operand"), ZeroDivisionError("x")])
def test_bugs_logged_with_traceback(exc, capfd):
    assert run_step(_raiser(exc), []) == 1
    err = capfd.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert f"{type(exc).__name__}" in err and "in main" in err  # the frame that raised


def test_success_returns_zero(capfd):
    assert run_step(lambda argv: logging.getLogger("x").info("ok"), ["--x"]) == 0


def _blas_threads() -> set[int]:
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] in ("blas", "openmp")}


@pytest.mark.parametrize("threads", [1, 2])
def test_run_step_pins_blas_threads_to_the_rule_threads(monkeypatch, threads):
    """Snakemake exports OMP_NUM_THREADS={threads}; inside the step every loaded pool has that
    many threads (numpy's OpenBLAS defaults to the core count otherwise), and afterwards the
    caller's pools are restored."""
    np.ones((4, 4)) @ np.ones((4, 4))  # the BLAS pool is loaded
    before = _blas_threads()
    for name in ("SDSSFLOW_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)  # restored after the test (run_step sets them)
    monkeypatch.setenv("OMP_NUM_THREADS", str(threads))
    seen = {}

    def main(argv):
        seen["pools"] = _blas_threads()

    assert run_step(main, []) == 0
    assert seen["pools"] == {threads}
    assert _blas_threads() == before


def test_step_threads_sources_and_errors():
    assert step_threads({"SDSSFLOW_THREADS": "3", "OMP_NUM_THREADS": "8"}) == 3
    assert step_threads({"OMP_NUM_THREADS": "8"}) == 8
    assert step_threads({}) == 1
    with pytest.raises(ValueError, match="OMP_NUM_THREADS='zero'"):
        step_threads({"OMP_NUM_THREADS": "zero"})
    with pytest.raises(ValueError, match="SDSSFLOW_THREADS='0'"):
        step_threads({"SDSSFLOW_THREADS": "0"})


def test_run_step_maps_a_bad_thread_count_to_exit_status_1(monkeypatch):
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SDSSFLOW_THREADS", "-2")
    called = []

    def main(argv):
        called.append(argv)
        raise StepError("not reached")

    assert run_step(main, []) == 1
    assert called == []
