"""Benchmarks of the demo survey generator (rule demo_survey) and of the BOSS frame I/O.

Cases:
- ``demo_survey``: the default survey (2 plates x 2 MJDs x 3 exposures x 4 cameras = 48
  camera-exposures of 500 fibres x 4112/4128 pixels, with spFrame, spCFrame, spFluxcalib,
  4 spPlates, 48 APOGEE files, the BOSZ mirror and truth/) written to a temporary directory;
- ``demo_survey (1 camera-exposure)``: the simulation of one camera-exposure in memory;
- ``read_spframe``: reading 4 real-size spFrames with :func:`sdssflow.io.boss.read_spframe`.

Run with ``python bench/run.py synth``; each case runs in its own process on one core.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from harness import Benchmark


def _setup_default_survey():
    from sdssflow.synth.steps import survey

    root = Path(tempfile.mkdtemp(prefix="bench_synth_"))

    def work():
        try:
            survey.main(
                [
                    "--settings",
                    json.dumps({"root": str(root)}),
                    "--manifest",
                    str(root / "manifest.csv"),
                ]
            )
        finally:
            shutil.rmtree(root, ignore_errors=True)

    return work


def _setup_one_frame():
    import numpy as np

    from sdssflow.synth import frames, sky, sky_lines
    from sdssflow.synth.layout import demo_plan
    from sdssflow.synth.targets import exposure_conditions, make_stars, plate_fibres, rng_for

    plan = demo_plan({"n_plates": 1, "n_mjds": 1, "n_exposures": 1})
    stars = make_stars(plan)
    rest = {
        (i, arm): frames.rest_spectrum(s.params, arm)
        for i, s in enumerate(stars)
        for arm in ("b", "r")
    }
    fibres = plate_fibres(plan, 4100, stars)
    expo = exposure_conditions(plan, 4100, 55500, 120000, 0)
    lines, _ = sky_lines.read_sky_lines()
    cond = sky.SkyConditions(
        expo.airmass, expo.hours_into_night, expo.moon_illumination, expo.moon_alt, expo.moon_sep
    )
    strengths = sky.line_strengths(lines, cond)

    def work():
        frame = frames.build_frame(
            "r1", 1, expo, fibres, stars, rest, lines, strengths, rng_for(1, "noise", 1)
        )
        return float(np.sum(frame.flux))

    return work


def _setup_read_frames():
    from sdssflow.io import boss
    from sdssflow.synth.steps import survey

    root = Path(tempfile.mkdtemp(prefix="bench_synth_read_"))
    survey.main(
        [
            "--settings",
            json.dumps({"root": str(root), "n_plates": 1, "n_mjds": 1, "n_exposures": 1}),
            "--manifest",
            str(root / "manifest.csv"),
        ]
    )
    paths = sorted((root / "boss").rglob("spFrame-*.fits"))

    def work():
        try:
            return [boss.read_spframe(p).flux.shape for p in paths]
        finally:
            shutil.rmtree(root, ignore_errors=True)

    return work


BENCHMARKS = [
    Benchmark(
        "demo_survey",
        "default demo: 48 camera-exposures x 500 x 4112/4128 (about 6 GB)",
        48,
        "camera-exposures",
        _setup_default_survey,
    ),
    Benchmark(
        "demo_survey", "1 camera-exposure (r1) simulated in memory", 1, "frames", _setup_one_frame
    ),
    Benchmark("read_spframe", "4 spFrames of 500 x 4112/4128", 4, "frames", _setup_read_frames),
]
