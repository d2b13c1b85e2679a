"""Shared fixtures: a small demo survey generated once per test session."""

from __future__ import annotations

import json

import pytest

#: Settings of the small demo: 1 plate, 1 MJD, 1 exposure (4 cameras), default fibres.
SMALL_DEMO = {"n_plates": 1, "n_mjds": 1, "n_exposures": 1}


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """The :class:`sdssflow.synth.layout.DemoPlan` of a small generated demo survey.

    One plate, one MJD, one exposure (4 cameras: 4 spFrame + 4 spCFrame + 4 spFluxcalib, one
    spPlate), APOGEE files, photometry, the BOSZ mirror and ``truth/``; generated once per
    session (about 15 s) under a temporary directory. Treat it as read-only.
    """
    from sdssflow.synth.layout import demo_plan
    from sdssflow.synth.steps import survey

    root = tmp_path_factory.mktemp("demo")
    settings = {**SMALL_DEMO, "root": str(root)}
    survey.main(["--settings", json.dumps(settings), "--manifest", str(root / "manifest.csv")])
    return demo_plan(settings)
