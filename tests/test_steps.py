"""run_step: one line for input errors, the full traceback for bugs."""

from __future__ import annotations

import logging

import pytest

from sdssflow.steps import StepError, run_step


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
