"""Step ``mean_line_sum``: line sums, continua and magnitudes of the mean spectra.

Usage::

    python -m sdssflow.sky.steps.mean_line_sum --mean results/v1/sky/4100/mean-4100.fits \\
        [--line-list sdssflow/data/sky/line_list.csv] [--filters sdss_g,...] \\
        --out results/v1/sky/4100/meanlines-4100.fits

Same columns as :mod:`sdssflow.sky.steps.line_sum`, one row per exposure and camera, measured with
the same windows in Angstrom (the original used 10 grid points of 0.1 A on mean spectra).
"""

from __future__ import annotations

import logging
import sys

import numpy as np
from astropy.table import Table

from sdssflow.io.sky import read_product, write_table
from sdssflow.sky.lines import DEFAULT_LINE_LIST, column_units, line_table, read_line_list
from sdssflow.sky.magnitudes import (
    DEFAULT_FILTERS,
    arm_groups,
    broadband_magnitudes,
    fiber_area,
)
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main"]

log = logging.getLogger(__name__)


def parse(argv=None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--mean", required=True, help="mean-{plate}.fits")
    p.add_argument("--line-list", default=str(DEFAULT_LINE_LIST), help="line list CSV")
    p.add_argument("--filters", default=",".join(DEFAULT_FILTERS), help="comma-separated filter names")
    p.add_argument("--out", required=True, help="output meanlines-{plate}.fits")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    images, tables, _ = read_product(args.mean)
    if "META" not in tables or "FLUX" not in images:
        raise StepError(f"{args.mean}: not a mean-spectra product")
    meta = tables["META"]
    flux = images["FLUX"].astype(np.float64)
    wave = np.broadcast_to(images["WAVE"].astype(np.float64), flux.shape)
    ivar = images["IVAR"].astype(np.float64)
    disp = images["DISP"].astype(np.float64)
    entries = read_line_list(args.line_list)
    out = Table(meta, copy=True)
    units = column_units(entries)
    for k, v in line_table(wave, flux, ivar, disp, np.asarray(meta["CAMERA"]), entries).items():
        out[k] = v
        if k in units:
            out[k].unit = units[k]
    out["FIBER_AREA"] = fiber_area(np.asarray(out["MJD"]))
    filters = [f for f in args.filters.split(",") if f]
    mags = broadband_magnitudes(
        np.ascontiguousarray(wave), flux, ivar, np.asarray(out["FIBER_AREA"]), filters, groups=arm_groups(out)
    )
    for k, v in mags.items():
        out[k] = v
        out[k].unit = "mag"  # AB mag per arcsec2
    log.info("%d mean spectra measured", len(out))
    write_table(out, args.out, version=args.version_name, inputs=[args.mean, args.line_list], step="mean_line_sum")
    return 0


if __name__ == "__main__":
    sys.exit(run_step(main))
