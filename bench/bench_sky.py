"""Benchmarks of the sky family: the whole per-plate chain on a realistic plate.

A plate of 16 frames (4 exposures x cameras b1, r1, b2, r2; 500 fibres x 4112/4128 pixels,
40 sky fibres per spectrograph), written by :func:`sdssflow.sky.fake.make_plate` in the real
spFrame/spFluxcalib layouts (setup, untimed). Timed: every sky step's ``main`` in one process:
sky_flux, rich_metadata, line_sum, mean_spectra, mean_line_sum, continuum_fit, mega_file,
mean_mega_file (Python start-up and imports of the separate Snakemake jobs are not included).
Target: < 5 s per plate on one core, < 2 GB peak.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from harness import Benchmark

# one core, as the rules run (Snakemake exports OMP_NUM_THREADS={threads}, run_step pins the
# pools to it); set before numpy loads
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

EXPIDS = (300001, 300002, 300003, 300004)
CAMERAS = ("b1", "r1", "b2", "r2")


def _plate():
    from sdssflow.sky.fake import make_plate

    root = Path(tempfile.mkdtemp(prefix="bench_sky_"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    fake = make_plate(root, expids=EXPIDS, cameras=CAMERAS, nfib=500, nsky=40, seed=4, exact=False)
    return root, fake


def _chain_setup(steps):
    def setup():
        from sdssflow.sky.steps import (
            continuum_fit,
            line_sum,
            mean_line_sum,
            mean_mega_file,
            mean_spectra,
            mega_file,
            rich_metadata,
            sky_flux,
        )

        root, fake = _plate()
        o = {k: str(root / f"{k}.fits") for k in ("skyflux", "rich", "lines", "mean", "meanlines", "contfit")}
        mega = [str(root / f"m{i}.fits") for i in range(6)]
        calls = {
            "sky_flux": lambda: sky_flux.main(["--plate", str(fake.plate), "--plate-dir", str(fake.plate_dir), "--out", o["skyflux"]]),
            "rich_metadata": lambda: rich_metadata.main(["--skyflux", o["skyflux"], "--out", o["rich"]]),
            "line_sum": lambda: line_sum.main(["--skyflux", o["skyflux"], "--rich", o["rich"], "--out", o["lines"]]),
            "mean_spectra": lambda: mean_spectra.main(["--skyflux", o["skyflux"], "--rich", o["rich"], "--out", o["mean"]]),
            "mean_line_sum": lambda: mean_line_sum.main(["--mean", o["mean"], "--out", o["meanlines"]]),
            "continuum_fit": lambda: continuum_fit.main(["--mean", o["mean"], "--out", o["contfit"]]),
            "mega_file": lambda: mega_file.main(["--tables", o["lines"], "--out-all", mega[0], "--out-good", mega[1], "--out-removed", mega[2]]),
            "mean_mega_file": lambda: mean_mega_file.main(["--tables", o["meanlines"], "--out-all", mega[3], "--out-good", mega[4], "--out-removed", mega[5]]),
        }
        order = list(calls)
        # steps before the first timed one run here, untimed
        first = order.index(steps[0])
        for name in order[:first]:
            calls[name]()

        def work():
            for name in steps:
                calls[name]()

        return work

    return setup


ALL = ["sky_flux", "rich_metadata", "line_sum", "mean_spectra", "mean_line_sum", "continuum_fit", "mega_file", "mean_mega_file"]
SIZE = "1 plate, 16 frames x 500 x 4112/4128, 640 sky spectra"

BENCHMARKS = [
    Benchmark("sky chain (all 8 steps)", SIZE, 16, "frames", _chain_setup(ALL)),
    Benchmark("sky_flux", SIZE, 16, "frames", _chain_setup(["sky_flux"])),
    Benchmark("rich_metadata..mean_mega_file", SIZE, 640, "spectra", _chain_setup(ALL[1:])),
]
