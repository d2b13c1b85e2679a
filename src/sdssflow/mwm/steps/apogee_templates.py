"""Step apogee_templates: the H-band RV template library of the APOGEE visits, once per version.

Reads the BOSZ models of ``--templates`` (a BOSZ 2024 mirror directory, or the folder of the
bosz_download manifest given as ``--templates .../manifest.csv``), cuts them to the APOGEE
range, convolves them to APOGEE's resolving power when they are at least twice as sharp and
puts them on the fine log grid of the velocity fit (:func:`sdssflow.mwm.hband_templates.build_templates`).
Every mwm_bucket job reads the result instead of rebuilding it from the mirror.

Output: ``results/<v>/mwm/apogee_rv_templates.fits`` (HDU ``FLUX``: templates × fine pixels,
grid in ``LOGLAM0``/``DLOGLAM``, resolving power in ``RESOLUTN``; HDU ``PARAMS``: teff, logg,
fe_h; :func:`sdssflow.io.mwm_templates.write_apogee_rv_templates`).

Usage::

    python -m sdssflow.mwm.steps.apogee_templates --templates resources/bosz2024/manifest.csv \\
        --output results/v1/mwm/apogee_rv_templates.fits --version-name v1
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from sdssflow.io.mwm_templates import write_apogee_rv_templates
from sdssflow.mwm.hband_templates import APOGEE_R, build_templates
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main"]

log = logging.getLogger(__name__)


def parse(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--templates", required=True,
                   help="BOSZ 2024 mirror directory, its manifest.csv, or a bosz_library.h5")  # fmt: skip
    p.add_argument("--resolution", type=float, default=APOGEE_R, help="APOGEE resolving power")
    p.add_argument("--output", required=True, help="apogee_rv_templates.fits")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> Path:
    args = parse(argv)
    source = Path(args.templates)
    mirror = source.parent if source.suffix == ".csv" else source  # the manifest's folder
    try:
        templates = build_templates(mirror, args.resolution)
    except (ValueError, OSError) as err:
        raise StepError(f"no APOGEE RV templates from {mirror}: {err}") from err
    lib = templates.library
    out = write_apogee_rv_templates(args.output, lib.loglam, lib.flux, lib.params, templates.resolution,
                                    args.version_name, inputs=[str(source)])  # fmt: skip
    log.info("wrote %s: %d templates, %d pixels, R = %.0f", out, lib.flux.shape[0], lib.loglam.size,
             templates.resolution)  # fmt: skip
    return out


if __name__ == "__main__":
    sys.exit(run_step(main))
