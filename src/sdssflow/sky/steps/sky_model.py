"""Step ``sky_model``: fit the sky-brightness model and its baseline on the survey's sky spectra.

Usage::

    python -m sdssflow.sky.steps.sky_model --spectra-dir results/v1/sky/sky_spectra \\
        [--line-list sdssflow/data/sky/line_list.csv] [--folds 5] \\
        --out results/v1/sky/sky_model.fits --report-dir results/v1/sky/sky_model_report

Every line sum and continuum band of the line list is measured on the merged spectra
(:func:`sdssflow.sky.lines.line_table`, per arcsec2) and fitted on the observing conditions of
METADATA (:mod:`sdssflow.sky.model`: BIC term selection, WLS with HC3 errors, night-held-out
cross-validation, Krisciunas-Schaefer + constant baseline); then every pixel of the grid is
fitted on the selected terms that are jointly well-posed (:func:`sdssflow.sky.model_spectra.spectral_terms`). Rows with a non-finite condition (e.g. no F10.7 in
``sdssflow/data/sky/f107_daily.csv``) are left out of the fits (the log says how many rows each used).

Outputs: the model file (:func:`sdssflow.sky.fitted_model.write_model`: WAVE, COEFF, COEFF_VAR, TERMS,
TARGETS with coefficients, covariance, fit statistics and the model's and baseline's
held-out-night errors) and a report directory: ``<target>.png`` per line and band (held-out
prediction vs observed for model and baseline; residual vs each condition) and ``summary.csv``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np

from sdssflow.sky.fitted_model import SkyModel, write_model
from sdssflow.sky.lines import DEFAULT_LINE_LIST, column_units, line_table, read_line_list
from sdssflow.sky.model import fit_targets
from sdssflow.sky.model_spectra import fit_spectra, spectral_terms
from sdssflow.sky.model_terms import CONDITION_COLUMNS, TERMS
from sdssflow.sky.sky_spectra_grid import read_sky_spectra
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main", "measure_targets", "conditions_of", "TargetFigure"]

log = logging.getLogger(__name__)


def parse(argv=None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--spectra-dir", required=True, help="sky_spectra output directory")
    p.add_argument("--line-list", default=str(DEFAULT_LINE_LIST), help="line list CSV")
    p.add_argument("--folds", type=int, default=5, help="most cross-validation folds (whole nights)")
    p.add_argument("--out", required=True, help="output model FITS")
    p.add_argument("--report-dir", required=True, help="output directory of the report figures")
    return p.parse_args(argv)


def conditions_of(meta) -> dict[str, np.ndarray]:
    """The condition columns of a metadata table as float arrays (NaN where missing).

    Raises
    ------
    ValueError
        If a condition column is absent.
    """
    missing = [c for c in CONDITION_COLUMNS if c not in meta.colnames]
    if missing:
        raise ValueError(f"metadata lacks condition column(s) {missing}")
    return {c: np.asarray(meta[c], dtype=float) for c in CONDITION_COLUMNS}


def measure_targets(wave, flux, ivar, disp, entries) -> dict[str, tuple]:
    """Line sums and band levels of merged (b + r) spectra, as fit targets.

    Returns
    -------
    dict name -> (kind, wave_A, y, ivar, unit)
        In the order of the line list.
    """
    n = flux.shape[0]
    w2 = np.broadcast_to(wave, flux.shape)
    units = column_units(entries)
    out = {}
    for arm in ("b", "r"):
        sub = [e for e in entries if e.camera == arm]
        if not sub:
            continue
        cols = line_table(w2, flux.astype(float), ivar.astype(float), disp.astype(float), np.full(n, arm), sub)
        for e in sub:
            unit = units.get(e.name, "").replace(")", " arcsec2)")
            out[e.name] = (e.kind, e.wave, cols[e.name], cols[e.name + "_IVAR"], unit)
    return {e.name: out[e.name] for e in entries if e.name in out}  # line-list order


_PLOT_CONDITIONS = ("AIRMASS_FIB", "MOON_ALT", "MOON_SEP", "MOON_PHASE", "SUN_ALT", "HOURS_SINCE_TWILIGHT", "ZODI", "ISL", "SOLARFLUX", "SOLARFLUX_81")


class TargetFigure:
    """The report figure of a target, drawn once and refilled for every target (fast).

    Panel 1: held-out-night prediction vs observed, model (blue) beside the baseline (grey);
    the other panels: residual (observed - held-out prediction) vs each condition.
    """

    def __init__(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self.plt = plt
        self.fig, axes = plt.subplots(3, 4, figsize=(12, 8))
        self.fig.subplots_adjust(left=0.06, right=0.98, bottom=0.07, top=0.95, wspace=0.3, hspace=0.35)
        self.axes = list(axes.flat)
        ax = self.axes[0]
        (self.base,) = ax.plot([], [], ".", color="0.6", ms=3, label="baseline")
        (self.model,) = ax.plot([], [], ".", color="C0", ms=3, label="model")
        (self.diag,) = ax.plot([], [], "k-", lw=0.5)
        ax.set_xlabel("observed")
        ax.set_ylabel("held-out prediction")
        self.legend = ax.legend(fontsize=7)
        self.res = []
        for ax, c in zip(self.axes[1:], _PLOT_CONDITIONS):
            (b,) = ax.plot([], [], ".", color="0.6", ms=2)
            (m,) = ax.plot([], [], ".", color="C0", ms=2)
            ax.axhline(0, color="k", lw=0.5)
            ax.set_xlabel(c, fontsize=7)
            ax.tick_params(labelsize=6)
            ax.locator_params(nbins=4)
            self.res.append((b, m, c))
        self.axes[-1].axis("off")

    def draw(self, name, y, result, cond, path) -> None:
        """Fill the panels with one target's values and write ``path`` (PNG)."""
        pm, pb = result["PRED"], result["BASE_PRED"]
        self.base.set_data(y, pb)
        self.model.set_data(y, pm)
        fin = np.isfinite(y)
        lo, hi = (np.nanmin(y[fin]), np.nanmax(y[fin])) if fin.any() else (0.0, 1.0)
        self.diag.set_data([lo, hi], [lo, hi])
        texts = self.legend.get_texts()
        texts[0].set_text(f"baseline (CV RMS {result['BASE_CV_RMS']:.3g})")
        texts[1].set_text(f"model (CV RMS {result['CV_RMS']:.3g})")
        self.axes[0].set_title(f"{name}: {result['TERMS']}", fontsize=8)
        for b, m, c in self.res:
            b.set_data(cond[c], y - pb)
            m.set_data(cond[c], y - pm)
        for ax in self.axes[:-1]:
            ax.relim()
            ax.autoscale_view()
        self.fig.savefig(path, dpi=50)

    def close(self) -> None:
        self.plt.close(self.fig)


def main(argv=None) -> int:
    args = parse(argv)
    paths = sorted(Path(args.spectra_dir).glob("sky_spectra*.fits"))
    if not paths:
        raise StepError(f"{args.spectra_dir}: no sky_spectra*.fits files")
    wave, arrays, meta = read_sky_spectra([str(p) for p in paths])
    try:
        cond = conditions_of(meta)
    except ValueError as err:
        raise StepError(f"{paths[0]}: {err}") from err
    entries = read_line_list(args.line_list)
    targets = measure_targets(wave, arrays["FLUX"], arrays["IVAR"], arrays["DISP"], entries)
    nights = np.asarray(meta["MJD"])
    table, results = fit_targets(cond, targets, nights, args.folds)
    spec_terms = spectral_terms(cond, wave, list(table["TERMS"]))
    dropped = [t for t in TERMS if t not in spec_terms and any(t in str(s).split() for s in table["TERMS"])]
    if dropped:
        log.info("spectral fit leaves out %s (collinear with the kept terms or too few spectra)", dropped)
    coeff, var = fit_spectra(cond, wave, arrays["FLUX"], arrays["IVAR"], spec_terms)
    model = SkyModel(wave, spec_terms, coeff, var, table)
    write_model(
        args.out,
        model,
        version=args.version_name,
        inputs=[str(p) for p in paths] + [args.line_list],
        header_cards={
            "NSPEC": (len(meta), "sky spectra fitted"),
            "NNIGHT": (int(np.unique(nights).size), "nights"),
        },
    )
    rdir = Path(args.report_dir)
    rdir.mkdir(parents=True, exist_ok=True)
    summary = table["NAME", "KIND", "WAVE", "TERMS", "N", "NNIGHT", "CV_RMS", "CV_NRMS", "BASE_CV_RMS", "BASE_CV_NRMS", "CV_RATIO"]
    summary.write(rdir / "summary.csv", format="ascii.csv", overwrite=True)
    figure = TargetFigure()
    for name, (_, _, y, _, _) in targets.items():
        figure.draw(name, np.asarray(y, float), results[name], cond, rdir / f"{name}.png")
    figure.close()
    log.info("%d spectra, %d nights; %d targets; spectral terms %s", len(meta), np.unique(nights).size, len(table), spec_terms)
    return 0


if __name__ == "__main__":
    sys.exit(run_step(main))
