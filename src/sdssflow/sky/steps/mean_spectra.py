"""Step ``mean_spectra``: inverse-variance-weighted mean sky per exposure and camera.

Usage::

    python -m sdssflow.sky.steps.mean_spectra --skyflux results/v1/sky/4100/skyflux-4100.fits \\
        --rich results/v1/sky/4100/rich-4100.fits [--dloglam 5e-5] \\
        --out results/v1/sky/4100/mean-4100.fits

Output (:func:`sdssflow.io.sky.write_product`): WAVE (ngrid,) vacuum A on the common log-lambda
grid; FLUX (nmean, ngrid) 1e-17 erg/s/cm2/A; IVAR (inverse variance of the weighted mean);
DISP (A); NFIBER (fibres contributing per pixel); META (one row per exposure and camera: the
rich metadata of its first fibre without the fibre columns, NFIBER_USED, MEANID).
See :mod:`sdssflow.sky.mean`.
"""

from __future__ import annotations

import logging
import sys

import numpy as np

from sdssflow.heap import keep_freed_memory
from sdssflow.io.sky import FLUX_UNIT, IVAR_UNIT, read_skyflux, read_table, write_product
from sdssflow.sky.mean import common_grid, mean_spectra
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main"]

log = logging.getLogger(__name__)


def parse(argv=None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--skyflux", required=True, help="skyflux-{plate}.fits")
    p.add_argument("--rich", required=True, help="rich-{plate}.fits (metadata of the groups)")
    p.add_argument("--loglam-min", type=float, default=3.55, help="grid start, log10(A)")
    p.add_argument("--loglam-max", type=float, default=4.017, help="grid end, log10(A)")
    p.add_argument("--dloglam", type=float, default=5e-5, help="grid step, dex")
    p.add_argument("--out", required=True, help="output mean-{plate}.fits")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    keep_freed_memory()  # the resampling's temporaries reuse freed memory instead of new pages
    spectra = read_skyflux(args.skyflux, float64=False)  # float32 pixels: mean_spectra converts what it uses
    rich = read_table(args.rich)
    if len(rich) != spectra.nspec:
        raise StepError(f"{args.rich}: {len(rich)} rows for {spectra.nspec} spectra in {args.skyflux}")
    grid = common_grid(args.loglam_min, args.loglam_max, args.dloglam)
    arrays, meta = mean_spectra(spectra.wave, spectra.flux, spectra.ivar, spectra.disp, rich, grid)
    empty = int((arrays["IVAR"].sum(axis=1) == 0).sum())
    log.info("%d mean spectra from %d sky spectra (%d without data)", len(meta), spectra.nspec, empty)
    write_product(
        args.out,
        {
            "WAVE": (grid, "Angstrom"),
            "FLUX": (arrays["FLUX"].astype(np.float32), FLUX_UNIT),
            "IVAR": (arrays["IVAR"].astype(np.float32), IVAR_UNIT),
            "DISP": (arrays["DISP"].astype(np.float32), "Angstrom"),
            "NFIBER": (arrays["NFIBER"], "fibres"),
        },
        {"META": meta},
        version=args.version_name,
        inputs=[args.skyflux, args.rich],
        step="mean_spectra",
        header_cards={"DLOGLAM": (args.dloglam, "grid step, dex"), "LOGLAM0": (args.loglam_min, "grid start, log10(A)")},
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_step(main))
