"""Shared plumbing of the step modules (``python -m sdssflow.<family>.<step>``).

A step's ``main(argv=None)`` parses its options, reads, calls the science, writes and
logs. :func:`run_step` turns an input error into one logged line naming the problem (any
other exception into its full traceback) and a non-zero exit status, which is the only
place where the package exits.

Threads: :func:`run_step` is also the one place where a step's BLAS/OpenMP thread pools
are pinned to the rule's ``threads``. Snakemake exports ``OMP_NUM_THREADS`` (and the
OpenBLAS/MKL variables) equal to ``{threads}`` for every shell job; ``SDSSFLOW_THREADS``
overrides it. :func:`step_threads` reads that value (1 when neither is set, e.g. a step run
by hand) and ``threadpoolctl`` applies it to every pool already loaded, so a library that
ignores the variables (or a user who exported others) cannot oversubscribe a shared node.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

__all__ = ["StepError", "configure_logging", "run_step", "base_parser", "step_threads"]

#: Environment variables read by :func:`step_threads`, first match wins.
THREAD_VARIABLES = ("SDSSFLOW_THREADS", "OMP_NUM_THREADS")


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


def step_threads(environ: dict | None = None) -> int:
    """Threads a step may use: ``SDSSFLOW_THREADS``, else ``OMP_NUM_THREADS``, else 1.

    Parameters
    ----------
    environ : mapping, optional
        Environment to read (default ``os.environ``).

    Returns
    -------
    int
        A positive thread count.

    Raises
    ------
    ValueError
        If the variable is set but is not a positive integer (the message names it).

    Examples
    --------
    >>> step_threads({"OMP_NUM_THREADS": "4"}), step_threads({}), step_threads({"SDSSFLOW_THREADS": "2", "OMP_NUM_THREADS": "8"})
    (4, 1, 2)
    """
    env = os.environ if environ is None else environ
    for name in THREAD_VARIABLES:
        value = str(env.get(name, "")).strip()
        if not value:
            continue
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"environment variable {name}={value!r} is not a positive thread count")
        return n
    return 1


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
    from threadpoolctl import threadpool_limits

    configure_logging()
    log = logging.getLogger(getattr(main, "__module__", "sdssflow"))
    try:
        threads = step_threads()
        # pools loaded later (scipy's OpenBLAS on first use) read these at load time
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(threads)
        with threadpool_limits(limits=threads):
            main(argv)
    except (StepError, ValueError, OSError) as err:
        log.error("%s: %s", type(err).__name__, err)
        return 1
    except Exception as err:  # a bug: keep the traceback in the job log
        log.exception("unexpected %s: %s", type(err).__name__, err)
        return 1
    return 0
