"""QC figure of one exposure's flux calibration (called by the step, unlike kspecdr's
notebook-only figures)."""

from __future__ import annotations

import os

import numpy as np

from sdssflow.io.products import atomic_path

__all__ = ["plot_exposure"]

#: Points per plotted curve (the star vectors are thinned to about this many).
PLOT_POINTS = 800


def plot_exposure(cameras: dict, stars: list, title: str, path: str | os.PathLike) -> None:
    """Write a PNG: per camera, the combined and per-star vectors, and their residuals.

    Parameters
    ----------
    cameras : dict of str to CameraCalibration
    stars : list of dict
        Star rows of the exposure (for the legend: fibre, Teff, RV, status).
    title : str
    path : path-like
        PNG to write (atomically).
    """
    # matplotlib imported here, and without pyplot (no global figure registry or backend
    # switch): a job run with --no-qc does not load it (~40 MB, ~0.3 s)
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    cams = sorted(cameras)
    fig = Figure(figsize=(4.5 * max(len(cams), 1), 6))
    axes = fig.subplots(2, max(len(cams), 1), squeeze=False, sharex="col")
    # fixed margins instead of tight_layout (which drew every tick twice: half the step's
    # figure time); curves thinned to ~PLOT_POINTS points, more than a 360-pixel panel shows
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.09, top=0.88, wspace=0.3, hspace=0.12)
    for j, cam in enumerate(cams):
        c = cameras[cam]
        cal = c.cal_factor if c.cal_factor.ndim == 1 else np.median(c.cal_factor, axis=0)
        bad = (c.mask if c.mask.ndim == 1 else c.mask[0]) != 0
        top, bottom = axes[0, j], axes[1, j]
        t = slice(None, None, max(c.wave.size // PLOT_POINTS, 1))
        # the stars' curves as one LineCollection per panel (one artist, not one per star:
        # a third of the figure's drawing time), in the default colour cycle
        wave_t = c.wave[t]
        star_t = np.asarray(c.star_cal, float)[:, t]
        with np.errstate(invalid="ignore", divide="ignore"):
            resid_t = 100 * (star_t / cal[t] - 1)
        colours = [f"C{k % 10}" for k in range(len(star_t))]
        for ax, curves in ((top, star_t), (bottom, resid_t)):
            segments = np.stack([np.broadcast_to(wave_t, curves.shape), curves], axis=-1)
            ax.add_collection(  # autolim: the axis limits cover the curves (NaN ignored)
                LineCollection(segments, colors=colours, linewidths=0.5, alpha=0.6), autolim=True
            )
        top.plot(c.wave, np.where(bad, np.nan, cal), "k", lw=1.2, label="combined")  # full: masks
        top.set_title(
            f"{cam}: {c.meta.get('NUSED', '?')}/{c.meta.get('NSTARS', '?')} stars, rms {100 * c.meta.get('RMS', np.nan):.2f} %"
        )
        top.set_ylabel("cal_factor (1e-17 erg/s/cm2/A per e-/pix)")
        bottom.set_ylabel("star / combined - 1 (%)")
        bottom.set_xlabel("vacuum wavelength (A)")
        bottom.set_ylim(-5, 5)
        bottom.axhline(0, color="k", lw=0.5)
    if not cams:
        axes[0, 0].text(
            0.5, 0.5, "no calibrated camera", ha="center", transform=axes[0, 0].transAxes
        )
    used = [s for s in stars if s["STATUS"] == "USED"]
    fig.suptitle(f"{title}: {len(used)} of {len(stars)} standards used", fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png", pil_kwargs={"compress_level": 1})  # fast zlib level
