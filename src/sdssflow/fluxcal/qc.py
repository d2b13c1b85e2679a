"""QC figure of one exposure's flux calibration (called by the step, unlike kspecdr's
notebook-only figures)."""

from __future__ import annotations

import os

import numpy as np

from sdssflow.io.products import atomic_path

__all__ = ["plot_exposure", "thinned_curves"]

#: Points per plotted curve (the star vectors are thinned to about this many).
PLOT_POINTS = 800


def thinned_curves(calib, points: int = PLOT_POINTS):
    """The curves of one camera thinned to about ``points`` pixels, for plotting.

    A panel is ~300 pixels wide, so every ``step``-th pixel (``step = npix // points``) is
    drawn. ``gap`` marks a kept pixel when any pixel of its block ``[k, k + step)`` is
    masked: the combined curve is drawn with gaps there, so no masked pixel is drawn.

    Parameters
    ----------
    calib : sdssflow.io.fluxcal.CameraCalibration
    points : int
        Target number of plotted points.

    Returns
    -------
    wave : numpy.ndarray, (nkept,)
        Wavelengths, A.
    combined : numpy.ndarray, (nkept,)
        cal_factor (median over fibres when per fibre).
    gap : numpy.ndarray of bool, (nkept,)
        True where the block holds a masked pixel.
    stars : numpy.ndarray, (nstar, nkept)
        Per-star vectors.
    """
    step = max(calib.wave.size // points, 1)
    kept = slice(None, None, step)
    cal = np.asarray(calib.cal_factor)
    # median over fibres at the kept pixels only (the full median was 40 % of the
    # figure's own computing)
    combined = cal[kept] if cal.ndim == 1 else np.median(cal[:, kept], axis=0)
    bad = np.asarray(calib.mask if np.ndim(calib.mask) == 1 else calib.mask[0]) != 0
    gap = np.logical_or.reduceat(bad, np.arange(0, bad.size, step)) if bad.size else bad
    return calib.wave[kept], combined, gap, np.asarray(calib.star_cal, float)[:, kept]


def plot_exposure(cameras: dict, stars: list, title: str, path: str | os.PathLike) -> None:
    """Write a PNG: per camera, the combined and per-star vectors, and their residuals.

    The figure of a camera count is laid out once per process and redrawn with each
    exposure's curves (:class:`_Panels`); the PNG is the same, byte for byte, as that of a
    figure made anew (``tests/test_fluxcal_step.py``).

    Parameters
    ----------
    cameras : dict of str to CameraCalibration
    stars : list of dict
        Star rows of the exposure (for the legend: fibre, Teff, RV, status).
    title : str
    path : path-like
        PNG to write (atomically).
    """
    cams = sorted(cameras)
    panels = _PANELS.get(len(cams)) if cams else None
    if panels is None:
        panels = _Panels(len(cams))
        if cams:
            _PANELS[len(cams)] = panels
    panels.draw(cameras, cams, stars, title, path)


#: The laid-out figures, by number of cameras (see :class:`_Panels`).
_PANELS: dict = {}


class _Panels:
    """The QC figure of ``ncam`` cameras: axes, their ticks and the artists, made once.

    Making the 2 x ``ncam`` axes and their ticks (each tick five artists) was about half a
    figure's CPU; the second and later exposures of a job only change the curves and the
    titles. The renderer is kept with the canvas, so repeated tick labels reuse their text
    layout too.

    Parameters
    ----------
    ncam : int
        Cameras (columns); 0 draws the "no calibrated camera" figure.
    """

    def __init__(self, ncam: int):
        # matplotlib imported here, and without pyplot (no global figure registry or backend
        # switch): a job run with --no-qc does not load it (~40 MB, ~0.3 s)
        from matplotlib import rcParams
        from matplotlib.collections import LineCollection
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        # the default colour cycle as explicit colours: "Cn" strings look the cycle up again
        # for every segment (a tenth of the figure's time)
        self.palette = rcParams["axes.prop_cycle"].by_key()["color"]
        self.fig = fig = Figure(figsize=(4.5 * max(ncam, 1), 6))
        self.axes = fig.subplots(2, max(ncam, 1), squeeze=False, sharex="col")
        # fixed margins instead of tight_layout (which drew every tick twice: half the step's
        # figure time)
        fig.subplots_adjust(left=0.06, right=0.99, bottom=0.09, top=0.88, wspace=0.3, hspace=0.12)
        self.curves, self.combined = [], []
        empty = np.zeros((0, 2, 2))
        for j in range(ncam):
            top, bottom = self.axes[0, j], self.axes[1, j]
            # the stars' curves as one LineCollection per panel (one artist, not one per
            # star: a third of the figure's drawing time), filled in by draw()
            for ax in (top, bottom):
                self.curves.append(
                    ax.add_collection(LineCollection(empty, linewidths=0.5, alpha=0.6), autolim=True)
                )
                # at most 5 round ticks per axis: each tick is several artists (the largest
                # drawing cost)
                ax.xaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 5, 10]))
                ax.yaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 5, 10]))
            (line,) = top.plot([], [], "k", lw=1.2, label="combined")
            self.combined.append(line)
            top.set_ylabel("cal_factor (1e-17 erg/s/cm2/A per e-/pix)")
            bottom.set_ylabel("star / combined - 1 (%)")
            bottom.set_xlabel("vacuum wavelength (A)")
            bottom.set_ylim(-5, 5)
            bottom.axhline(0, color="k", lw=0.5)
        if not ncam:
            self.axes[0, 0].text(
                0.5, 0.5, "no calibrated camera", ha="center", transform=self.axes[0, 0].transAxes
            )

    def draw(self, cameras: dict, cams: list, stars: list, title: str, path) -> None:
        """Fill in the curves of ``cams`` (sorted names, as many as columns) and write the PNG."""
        for j, cam in enumerate(cams):
            c = cameras[cam]
            top = self.axes[0, j]
            wave_t, cal_t, gap_t, star_t = thinned_curves(c)
            with np.errstate(invalid="ignore", divide="ignore"):
                resid_t = 100 * (star_t / cal_t - 1)
            colours = [self.palette[k % len(self.palette)] for k in range(len(star_t))]
            for coll, curves in zip(self.curves[2 * j : 2 * j + 2], (star_t, resid_t)):
                coll.set_segments(np.stack([np.broadcast_to(wave_t, curves.shape), curves], axis=-1))
                coll.set_color(colours)
            self.combined[j].set_data(wave_t, np.where(gap_t, np.nan, cal_t))
            top.set_title(  # y given: no automatic title placement (it measures every tick label)
                f"{cam}: {c.meta.get('NUSED', '?')}/{c.meta.get('NSTARS', '?')} stars, rms {100 * c.meta.get('RMS', np.nan):.2f} %",
                y=1.01,
            )
        # the data limits of the new curves (NaN ignored), for the autoscaled axes: both of a
        # column first, their x axis being shared
        for ax in self.axes.flat:
            ax.relim()
        for ax in self.axes.flat:
            ax.autoscale_view()
        used = [s for s in stars if s["STATUS"] == "USED"]
        self.fig.suptitle(f"{title}: {len(used)} of {len(stars)} standards used", fontsize=10)
        with atomic_path(path) as tmp:
            self.fig.savefig(tmp, dpi=80, format="png", pil_kwargs={"compress_level": 1})  # fast zlib level
