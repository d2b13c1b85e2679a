"""Every numeric axis of the report and QC figures says its unit."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from sdssflow.qc import figures

UNIT = re.compile(r"\((?:[^()]*\d[^()]*|Å|A|deg|s|MB|%|sfu|fraction)\)")  # e.g. (Å), (1e-17 erg/s/cm²/Å)


def _outer_labels(fig):
    """(axis, label) of the outer axes: y of the first column, x of the last row."""
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        spec = ax.get_subplotspec()
        if spec.is_first_col():
            yield "y", ax.get_ylabel().replace("\n", " ")
        if spec.is_last_row() or not ax.get_xticklabels()[0].get_visible():
            yield "x", ax.get_xlabel().replace("\n", " ")
        for label in (ax.get_xlabel(), ax.get_ylabel()):  # inner labels too, when given
            if label:
                yield "any", label.replace("\n", " ")


def _figures():
    wave = np.linspace(3600, 10000, 50)
    yield figures.plot_calibration_vectors({"1": {"b1": (wave, np.ones(50))}})
    table = pd.DataFrame({"OI5579": [1.0, 2.0], "MOON_SEP": [10.0, 50.0], "MOON_ILL": [0.1, 0.9], "SOLARFLUX": [70.0, 150.0]})
    yield figures.plot_line_sums_vs_conditions(table)
    yield figures.plot_mean_sky_with_continuum(wave, np.ones((1, 50)), np.ones((1, 50)), ["a"])
    yield figures.plot_mwm_stars([("s", wave, np.ones(50), np.ones(50))])
    summary = pd.DataFrame({"rule": ["a", "b"], "wall_total_s": [1.0, 2.0], "max_rss_mb": [10.0, 20.0]})
    yield figures.plot_benchmarks(summary)


def test_every_labelled_or_numeric_axis_has_a_unit():
    checked = 0
    for fig in _figures():
        fig.canvas.draw()
        for axis, label in _outer_labels(fig):
            if axis == "y" and any(t.get_text().isalpha() for t in fig.axes[0].get_yticklabels()):
                continue  # categorical axis (rule names of the benchmark bars)
            assert label, f"{axis} axis without a label"
            assert UNIT.search(label), f"{axis} label {label!r} has no unit"
            checked += 1
    assert checked >= 12
