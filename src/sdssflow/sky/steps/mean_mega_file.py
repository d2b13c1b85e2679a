"""Step ``mean_mega_file``: the mega files of the mean spectra's line tables.

Usage: as :mod:`sdssflow.sky.steps.mega_file`, with ``--tables results/v1/sky/*/meanlines-*.fits``
and outputs ``mean_sky_meta_all.fits``, ``mean_sky_meta_good.fits``,
``mean_sky_meta_removed.fits``. The cuts are the same; there is one row per exposure and camera.
"""

from __future__ import annotations

import sys

from sdssflow.sky.steps import mega_file
from sdssflow.steps import run_step

__all__ = ["main"]


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--step-name" not in argv:
        argv += ["--step-name", "mean_mega_file"]
    return mega_file.main(argv)


if __name__ == "__main__":
    sys.exit(run_step(main))
