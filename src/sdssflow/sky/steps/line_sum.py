"""Step ``line_sum``: line sums, continuum levels and broadband sky magnitudes per spectrum.

Usage::

    python -m sdssflow.sky.steps.line_sum --skyflux results/v1/sky/4100/skyflux-4100.fits \\
        --rich results/v1/sky/4100/rich-4100.fits [--line-list sdssflow/data/sky/line_list.csv] \\
        [--filters sdss_g,sdss_r,sdss_i] --out results/v1/sky/4100/lines-{plate}.fits

Output: one table (``META``): the rich metadata plus, for every entry of the line list,
``<line>`` (line sum, 1e-17 erg/s/cm2 per fibre), ``<line>_IVAR``, ``<line>_FIT`` (Gaussian-fit
flux), ``<line>_NBAD``, and ``cont_<A>`` (mean continuum, 1e-17 erg/s/cm2/A) with ``_IVAR``
(:mod:`sdssflow.sky.lines`); ``FIBER_AREA`` (arcsec2: 2" BOSS fibres from MJD 55000, 3" before) and
``MAG_<filter>`` (AB mag per arcsec2 of the sky through the project's filter curves, NaN when
the spectrum's arm does not cover the filter). The magnitudes are of the whole sky, lines
included; a spec file's ``SPECTROSKYFLUX`` cuts the sky lines idlspec2d flags (up to 0.11 mag
fainter in r and i on SDSS-I/II files): :mod:`sdssflow.sky.spectroskyflux` computes that one.

Fix of the original: magnitudes were computed through filters the camera did not cover (giving
meaningless or infinite values) and divided by pi arcsec2 for every fibre; here only covered
filters give a value and the fibre area follows the spectrograph.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
from astropy import units as u
from astropy.table import Table

from sdssflow.heap import keep_freed_memory
from sdssflow.io.sky import read_skyflux, read_table, write_table
from sdssflow.sky.lines import DEFAULT_LINE_LIST, column_units, line_table, read_line_list
from sdssflow.sky.magnitudes import DEFAULT_FILTERS, arm_groups, broadband_magnitudes, fiber_area
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main"]

log = logging.getLogger(__name__)

def parse(argv=None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--skyflux", required=True, help="skyflux-{plate}.fits")
    p.add_argument("--rich", required=True, help="rich-{plate}.fits (rows in the same order)")
    p.add_argument("--line-list", default=str(DEFAULT_LINE_LIST), help="line list CSV")
    p.add_argument("--filters", default=",".join(DEFAULT_FILTERS), help="comma-separated filter names ('' = none)")
    p.add_argument("--out", required=True, help="output lines-{plate}.fits")
    return p.parse_args(argv)


def _count_all_nan(cols: dict, entries: list, cameras: np.ndarray) -> int:
    """Spectra whose every line sum of their arm is NaN (their arm's first letter, b or r).

    Parameters
    ----------
    cols : dict of column -> numpy.ndarray, shape (nspec,)
        :func:`sdssflow.sky.lines.line_table` output.
    entries : list of LineEntry
    cameras : numpy.ndarray of str, shape (nspec,)

    Returns
    -------
    int
        A spectrum of an arm without line entries counts (nothing was measured on it).
    """
    arm = np.array([str(c)[:1] for c in cameras])
    failed = np.ones(arm.size, dtype=bool)
    for cam in set(arm.tolist()):
        names = [e.name for e in entries if e.kind == "line" and e.camera == cam]
        if names:
            rows = arm == cam
            failed[rows] = np.all(np.isnan(np.stack([cols[n][rows] for n in names])), axis=0)
    return int(failed.sum())


def main(argv=None) -> int:
    args = parse(argv)
    keep_freed_memory()  # the rebinning's temporaries reuse freed memory instead of new pages
    spectra = read_skyflux(args.skyflux, float64=False)  # float32 pixels: converted where used
    rich = read_table(args.rich)
    if len(rich) != spectra.nspec or not np.array_equal(np.asarray(rich["SPECNO"]), np.asarray(spectra.meta["SPECNO"])):
        raise StepError(f"{args.rich}: rows do not match {args.skyflux} (SPECNO)")
    entries = read_line_list(args.line_list)
    cols = line_table(spectra.wave, spectra.flux, spectra.ivar, spectra.disp, np.asarray(spectra.meta["CAMERA"]), entries)
    out = Table(rich, copy=False)  # rich is not used again: its columns need no copy
    units = column_units(entries)
    parsed = {text: u.Unit(text, parse_strict="silent") for text in set(units.values())}  # each string once
    for k, v in cols.items():
        out[k] = v
        if k in units:
            out[k].unit = parsed[units[k]]
    out["FIBER_AREA"] = fiber_area(np.asarray(out["MJD"]))
    filters = [f for f in args.filters.split(",") if f]
    mags = broadband_magnitudes(
        spectra.wave, spectra.flux, spectra.ivar, np.asarray(out["FIBER_AREA"]), filters, groups=arm_groups(out)
    )
    for k, v in mags.items():
        out[k] = v
        out[k].unit = "mag"  # AB mag per arcsec2
    out["FIBER_AREA"].unit = "arcsec2"
    nfail = _count_all_nan(cols, entries, np.asarray(out["CAMERA"]))
    log.info("%d spectra, %d line entries; %d spectra with every line sum NaN", len(out), len(entries), nfail)
    write_table(out, args.out, version=args.version_name, inputs=[args.skyflux, args.rich, args.line_list], step="line_sum")
    return 0


if __name__ == "__main__":
    sys.exit(run_step(main))
