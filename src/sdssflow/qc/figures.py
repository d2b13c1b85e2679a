"""QC figures of the run report (``snakemake --report``): pure plotting functions.

Every function takes arrays or tables and returns a matplotlib ``Figure`` (Agg canvas,
no pyplot state); reading the products and writing the PNGs is done by
:mod:`sdssflow.qc.steps.report_figures`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "CONDITIONS",
    "DEFAULT_LINES",
    "new_figure",
    "plot_nothing_to_show",
    "plot_calibration_vectors",
    "plot_line_sums_vs_conditions",
    "plot_mean_sky_with_continuum",
    "plot_mwm_stars",
    "summarize_benchmarks",
    "plot_benchmarks",
]

#: Observing conditions the airglow line sums are plotted against: (column, axis label).
CONDITIONS = (
    ("MOON_SEP", "Moon separation (deg)"),
    ("MOON_ILL", "Moon illumination (fraction)"),
    ("SOLARFLUX", "F10.7 (sfu)"),
)
#: Airglow lines shown when present in the table: [OI] 5577, Na D, [OI] 6300, OH 8401.
DEFAULT_LINES = ("OI5579", "NaD", "OI6302", "OH8401")


def new_figure(width: float, height: float) -> Figure:
    """A figure on an Agg canvas (safe in batch jobs; no global pyplot state)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_nothing_to_show(title: str, reason: str) -> Figure:
    """A figure that says why there is nothing to show (instead of failing the run).

    Parameters
    ----------
    title : str
        What the figure would have shown.
    reason : str
        Why it is empty (which inputs were looked at and what they lacked).

    Returns
    -------
    matplotlib.figure.Figure
        One empty panel (no axes drawn) with the title and the wrapped reason as its caption.
    """
    import textwrap

    fig = new_figure(8.0, 2.5)
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_title(f"{title}: nothing to show", fontsize=10)
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(reason, 100)), transform=ax.transAxes, ha="center", va="center", fontsize=8)
    return fig


def plot_calibration_vectors(calibrations: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]]) -> Figure:
    """Calibration vectors of every exposure, one panel per camera.

    Parameters
    ----------
    calibrations : mapping
        ``{exposure label: {camera: (wave, cal_factor)}}`` with ``wave`` (npix,) in A and
        ``cal_factor`` (npix,) or (nfiber, npix) in 1e-17 erg/s/cm2/A per (electron per
        native pixel) (the median over fibres is drawn for 2-d vectors).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not calibrations:
        raise ValueError("no calibration vectors to plot")
    cameras = sorted({cam for per_cam in calibrations.values() for cam in per_cam})
    fig = new_figure(5.0 * min(len(cameras), 2), 3.2 * int(np.ceil(len(cameras) / 2)))
    axes = fig.subplots(int(np.ceil(len(cameras) / 2)), min(len(cameras), 2), squeeze=False).ravel()
    for ax, cam in zip(axes, cameras):
        for label, per_cam in sorted(calibrations.items()):
            if cam not in per_cam:
                continue
            wave, cal = per_cam[cam]
            cal = np.asarray(cal, dtype=float)
            if cal.ndim == 2:
                cal = np.nanmedian(np.where(cal > 0, cal, np.nan), axis=0)
            ax.plot(wave, np.where(cal > 0, cal, np.nan), lw=0.8, label=f"exposure {label}")
        ax.set_title(f"camera {cam}")
        ax.set_yscale("log")  # the response falls by orders of magnitude at the arm edges
        ax.set_xlabel("vacuum wavelength (A)")
        ax.set_ylabel("cal_factor (1e-17 erg/s/cm2/A per e-/pix)")
        ax.legend(fontsize=6, ncol=2)
    for ax in axes[len(cameras):]:
        ax.set_visible(False)
    return fig


def plot_line_sums_vs_conditions(table: pd.DataFrame, lines: Sequence[str] = DEFAULT_LINES) -> Figure:
    """Airglow line sums against Moon separation, Moon illumination and F10.7.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per sky fibre-exposure with the line-sum columns (flux,
        1e-17 erg/s/cm2 per fibre, as written by ``line_sum``) and the condition columns of
        :data:`CONDITIONS`.
    lines : sequence of str
        Line columns; those absent from ``table`` are skipped.

    Returns
    -------
    matplotlib.figure.Figure
        A grid of lines (rows) x conditions (columns).
    """
    present = [name for name in lines if name in table.columns]
    if not present:
        raise ValueError(f"none of the line columns {list(lines)} is in the table")
    missing = [c for c, _ in CONDITIONS if c not in table.columns]
    if missing:
        raise ValueError(f"condition column(s) {missing} missing from the table")
    fig = new_figure(10.0, 2.4 * len(present))
    axes = fig.subplots(len(present), len(CONDITIONS), squeeze=False)
    for i, line in enumerate(present):
        y = table[line].to_numpy(dtype=float)
        for j, (col, label) in enumerate(CONDITIONS):
            x = table[col].to_numpy(dtype=float)
            ok = np.isfinite(x) & np.isfinite(y)
            ax = axes[i, j]
            ax.scatter(x[ok], y[ok], s=4, alpha=0.5)
            if not ok.any():
                ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center")
            ax.set_xlabel(label)
            if j == 0:
                ax.set_ylabel(f"{line} (1e-17 erg/s/cm2)")
    return fig


def plot_mean_sky_with_continuum(
    wave: np.ndarray, flux: np.ndarray, continuum: np.ndarray, labels: Sequence[str]
) -> Figure:
    """Mean sky spectra and their fitted continuum.

    Parameters
    ----------
    wave : numpy.ndarray, (npix,)
        Wavelength, A.
    flux, continuum : numpy.ndarray, (nspec, npix)
        Mean sky spectra and continuum fits, 1e-17 erg/s/cm2/A per fibre.
    labels : sequence of str, (nspec,)
        Legend of each spectrum (exposure / camera).
    """
    flux = np.atleast_2d(flux)
    continuum = np.atleast_2d(continuum)
    if flux.shape != continuum.shape or flux.shape[1] != np.size(wave) or len(labels) != flux.shape[0]:
        raise ValueError(f"shapes do not agree: wave {np.shape(wave)}, flux {flux.shape}, continuum {continuum.shape}, {len(labels)} labels")
    fig = new_figure(10.0, 2.4 * flux.shape[0])
    axes = fig.subplots(flux.shape[0], 1, squeeze=False)[:, 0]
    for ax, f, c, label in zip(axes, flux, continuum, labels):
        good = np.isfinite(f) & (f != 0)
        ax.plot(wave[good], f[good], lw=0.5, color="0.3", label="mean sky")
        ax.plot(wave, np.where(good & np.isfinite(c), c, np.nan), lw=1.2, color="C1", label="continuum fit")
        if good.any():
            ax.set_xlim(wave[good].min(), wave[good].max())
        top = np.nanpercentile(f[good], 99) if good.any() else 1.0
        ax.set_ylim(min(0.0, np.nanmin(c) if np.isfinite(c).any() else 0.0), 1.2 * top)
        ax.set_title(label, fontsize=8)
        ax.set_ylabel("flux (1e-17 erg/s/cm2/A)")
        ax.legend(fontsize=6, loc="upper left")
    axes[-1].set_xlabel("vacuum wavelength (A)")
    return fig


def plot_mwm_stars(spectra: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> Figure:
    """Example mwmStar spectra with their NMF continuum.

    Parameters
    ----------
    spectra : sequence of (label, wave, flux, continuum)
        ``wave`` (npix,) in A; ``flux`` and ``continuum`` (npix,) in 1e-17 erg/s/cm2/A.
    """
    if not spectra:
        raise ValueError("no mwmStar spectra to plot")
    fig = new_figure(10.0, 2.4 * len(spectra))
    axes = fig.subplots(len(spectra), 1, squeeze=False)[:, 0]
    for ax, (label, wave, flux, cont) in zip(axes, spectra):
        flux = np.asarray(flux, float)
        good = np.isfinite(flux) & (flux != 0)
        ax.plot(wave[good], flux[good], lw=0.5, color="0.3", label="flux")
        ax.plot(wave, np.where(np.asarray(cont) > 0, cont, np.nan), lw=1.2, color="C3", label="continuum")
        ax.set_title(label, fontsize=8)
        ax.set_ylabel("flux (1e-17 erg/s/cm2/A)")
        ax.legend(fontsize=6, loc="upper right")
    axes[-1].set_xlabel("vacuum wavelength (A)")
    return fig


def summarize_benchmarks(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-rule summary of Snakemake benchmark rows.

    Parameters
    ----------
    rows : pandas.DataFrame
        Snakemake benchmark columns (``s``, ``max_rss`` MB, ``cpu_time`` s, ...) plus a
        ``rule`` column, one row per job.

    Returns
    -------
    pandas.DataFrame
        One row per rule, sorted by total wall time: ``rule, jobs, wall_total_s,
        wall_max_s, cpu_total_s, max_rss_mb``.
    """
    if rows.empty:
        raise ValueError("no benchmark rows")
    for col in ("rule", "s", "max_rss", "cpu_time"):
        if col not in rows.columns:
            raise ValueError(f"benchmark rows lack column {col!r}")
    num = rows.assign(
        s=pd.to_numeric(rows["s"], errors="coerce"),
        max_rss=pd.to_numeric(rows["max_rss"], errors="coerce"),
        cpu_time=pd.to_numeric(rows["cpu_time"], errors="coerce"),
    )
    out = num.groupby("rule").agg(
        jobs=("s", "size"),
        wall_total_s=("s", "sum"),
        wall_max_s=("s", "max"),
        cpu_total_s=("cpu_time", "sum"),
        max_rss_mb=("max_rss", "max"),
    )
    return out.sort_values("wall_total_s", ascending=False).reset_index().round(2)


def plot_benchmarks(summary: pd.DataFrame) -> Figure:
    """Bar charts of total wall time and peak memory per rule (from
    :func:`summarize_benchmarks`)."""
    fig = new_figure(10.0, 0.35 * len(summary) + 1.5)
    ax_t, ax_m = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(summary))
    ax_t.barh(y, summary["wall_total_s"], color="C0")
    ax_t.set_yticks(y, summary["rule"])
    ax_t.invert_yaxis()
    ax_t.set_xlabel("total wall time (s)")
    ax_m.barh(y, summary["max_rss_mb"], color="C2")
    ax_m.set_xlabel("peak RSS of one job (MB)")
    return fig
