"""Step ``fluxcal_summary``: one table of every plate-MJD's flux calibration.

``python -m sdssflow.fluxcal.steps.fluxcal_summary --inputs DIR [DIR ...] --output
results/v1/fluxcal/fluxcal_summary.fits --version-name V``

Reads ``summary-*.fits`` of each flux_calibration output directory and writes their
EXPOSURES and STARS tables stacked (same columns).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from astropy.table import vstack

from sdssflow.io.fluxcal import read_summary, write_summary
from sdssflow.steps import StepError, base_parser, run_step

log = logging.getLogger(__name__)


def parse(argv=None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--inputs", nargs="+", required=True, help="flux_calibration output directories")
    p.add_argument("--output", required=True, help="survey summary FITS")
    return p.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    exps, stars, files = [], [], []
    for d in args.inputs:
        found = sorted(Path(d).glob("summary-*.fits"))
        if not found:
            raise StepError(f"{d}: no summary-*.fits")
        for f in found:
            e, s = read_summary(f)
            exps.append(e)
            stars.append(s)
            files.append(f)
    exposures, star_table = vstack(exps), vstack(stars)
    write_summary(
        args.output, exposures, star_table, args.version_name, inputs=files, step="fluxcal_summary"
    )
    n_bad = int((exposures["FLAG"] == "BAD_FLUXCAL").sum()) if len(exposures) else 0
    log.info(
        "wrote %s: %d exposures (%d BAD_FLUXCAL), %d standards",
        args.output,
        len(exposures),
        n_bad,
        len(star_table),
    )
    return exposures, star_table


if __name__ == "__main__":
    sys.exit(run_step(main))
