"""Shared plumbing of the step modules (``python -m sdssflow.<family>.<step>``).

A step's ``main(argv=None)`` parses its options, reads, calls the science, writes and
logs. :func:`run_step` turns an input error into one logged line naming the problem (any
other exception into its full traceback) and a non-zero exit status, which is the only
place where the package exits.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

__all__ = ["StepError", "configure_logging", "run_step", "base_parser"]


class StepError(RuntimeError):
    """A step cannot produce its product; the message names the file and the problem."""


def configure_logging(level: int = logging.INFO) -> None:
    """Send log records of the package to stderr (the rule redirects it to ``{log}``)."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


def base_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every step shares (``--version-name``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--version-name",
        default="dev",
        help="reduction version recorded in the VERSION keyword of every product",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def run_step(main: Callable[[Sequence[str] | None], object], argv: Sequence[str] | None = None) -> int:
    """Run a step's ``main`` and map failures to a one-line error and exit status 1.

    Parameters
    ----------
    main : callable
        The step's ``main(argv)``.
    argv : sequence of str, optional
        Command-line arguments; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        0 on success, 1 on any error. A :class:`StepError`, ``ValueError`` or ``OSError``
        (bad input: the message names the file and the problem) is logged on one line;
        anything else is a bug and is logged with its full traceback.
    """
    configure_logging()
    log = logging.getLogger(getattr(main, "__module__", "sdssflow"))
    try:
        main(argv)
    except (StepError, ValueError, OSError) as err:
        log.error("%s: %s", type(err).__name__, err)
        return 1
    except Exception as err:  # a bug: keep the traceback in the job log
        log.exception("unexpected %s: %s", type(err).__name__, err)
        return 1
    return 0
