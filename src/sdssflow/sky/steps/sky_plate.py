"""Step ``sky_plate``: the whole per-plate sky chain of one plate in one process.

Usage (the options of the six steps it runs, with the same meaning and defaults)::

    python -m sdssflow.sky.steps.sky_plate --plate 4100 --plate-dir <redux>/<run2d>/4100 \\
        --selection results/v1/selection/sky/selection-sky-4100.csv [sky_flux options] \\
        [--photometric-table T] [--solar-flux-table T] [--line-list L] [--filters sdss_g,...] \\
        [--dloglam 5e-5] [--airglow A] [--knot-spacing 100] [--clip 5] \\
        --skyflux results/v1/sky/4100/skyflux-4100.fits --rich .../rich-4100.fits \\
        --lines .../lines-4100.fits --mean .../mean-4100.fits \\
        --meanlines .../meanlines-4100.fits --contfit .../contfit-4100.fits --version-name v1

Runs, in order and each exactly as its own ``python -m`` command would,
:mod:`~sdssflow.sky.steps.sky_flux` (or, with ``--reused-skyflux``, hard-links that older
version's skyflux product instead), :mod:`~sdssflow.sky.steps.rich_metadata`,
:mod:`~sdssflow.sky.steps.line_sum`, :mod:`~sdssflow.sky.steps.mean_spectra`,
:mod:`~sdssflow.sky.steps.mean_line_sum` and :mod:`~sdssflow.sky.steps.continuum_fit`: the
products are the same files. Why one job: at survey scale (2,500 plates) six jobs per plate
were 15,000 of the dry run's 20,000 jobs, and each small step's own process spent more CPU
on the interpreter and imports (0.8-1.3 s) than on its science. The log gives each step's CPU
seconds. A step that fails stops the plate's chain (as a failed job stopped its dependants).
"""

from __future__ import annotations

import importlib
import logging
import sys
import time

from sdssflow.steps import base_parser, run_step
from sdssflow.versions import link_product

__all__ = ["parse", "main", "step_commands"]

log = logging.getLogger("sdssflow.sky.steps.sky_plate")  # not "__main__" under python -m

#: Options passed on to the steps that take them: option -> steps. A value left unset is not
#: passed, so the step's own default applies (one place for every default).
_OPTIONS = {
    "--plate-dir": ("sky_flux",),
    "--spec-dir": ("sky_flux",),
    "--selection": ("sky_flux",),
    "--calibration": ("sky_flux",),
    "--reference-calib": ("sky_flux",),
    "--fluxcal-dir": ("sky_flux",),
    "--bad-mask-bits": ("sky_flux",),
    "--fiber-loss-factor": ("sky_flux",),
    "--photometric-table": ("rich_metadata",),
    "--solar-flux-table": ("rich_metadata",),
    "--line-list": ("line_sum", "mean_line_sum", "continuum_fit"),
    "--filters": ("line_sum", "mean_line_sum"),
    "--loglam-min": ("mean_spectra",),
    "--loglam-max": ("mean_spectra",),
    "--dloglam": ("mean_spectra",),
    "--airglow": ("continuum_fit",),
    "--knot-spacing": ("continuum_fit",),
    "--clip": ("continuum_fit",),
}


def parse(argv=None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--plate", required=True, type=int, help="plate (FPS field) id")
    for option, steps in _OPTIONS.items():
        p.add_argument(option, help=f"as in {', '.join(steps)} (its default when omitted)")
    p.add_argument("--no-spcframe-mask", action="store_true", help="as in sky_flux")
    p.add_argument("--reused-skyflux", help="older version's skyflux-{plate}.fits to link instead of sky_flux")
    for product in ("skyflux", "rich", "lines", "mean", "meanlines", "contfit"):
        p.add_argument(f"--{product}", required=True, help=f"output {product}-{{plate}}.fits")
    return p.parse_args(argv)


def step_commands(args) -> list[tuple[str, list[str]]]:
    """The (step, argv) of every step of the chain, in order, from sky_plate's arguments.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed :func:`parse` arguments.

    Returns
    -------
    list of (str, list of str)
        Step name and the argument list its ``main`` takes; ``sky_flux`` is left out when
        ``args.reused_skyflux`` is set.
    """
    common = ["--version-name", args.version_name] + (["-v"] if args.verbose else [])
    inputs_outputs = {
        "sky_flux": ["--plate", str(args.plate), "--out", args.skyflux]
        + (["--no-spcframe-mask"] if args.no_spcframe_mask else []),
        "rich_metadata": ["--skyflux", args.skyflux, "--out", args.rich],
        "line_sum": ["--skyflux", args.skyflux, "--rich", args.rich, "--out", args.lines],
        "mean_spectra": ["--skyflux", args.skyflux, "--rich", args.rich, "--out", args.mean],
        "mean_line_sum": ["--mean", args.mean, "--out", args.meanlines],
        "continuum_fit": ["--mean", args.mean, "--out", args.contfit],
    }
    commands = []
    for step, argv in inputs_outputs.items():
        if step == "sky_flux" and args.reused_skyflux:
            continue
        for option, steps in _OPTIONS.items():
            value = getattr(args, option[2:].replace("-", "_"))
            if step in steps and value is not None:
                argv += [option, str(value)]
        commands.append((step, argv + common))
    return commands


def main(argv=None) -> int:
    args = parse(argv)
    if args.reused_skyflux:
        link_product(args.reused_skyflux, args.skyflux)
    for step, step_argv in step_commands(args):
        start = time.process_time()
        importlib.import_module(f"sdssflow.sky.steps.{step}").main(step_argv)
        log.info("plate %d: %s done in %.2f s CPU", args.plate, step, time.process_time() - start)
    return 0


if __name__ == "__main__":
    sys.exit(run_step(main))
