"""Continuous template search between the grid nodes (Teff, log g, [M/H]).

:func:`continuous_search` minimises the spectral chi^2 plus the SED prior over
multilinearly interpolated templates around a node (:mod:`sdssflow.fluxcal.matching`
calls it from the best node and from the photometry's favourite).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdssflow.fluxcal.interpolation import AXES, interpolate_logs, multilinear_matrix
from sdssflow.fluxcal.priors import sed_chi2
from sdssflow.fluxcal.spectral_chi2 import response_basis, response_chi2

__all__ = ["ParameterSpace", "continuous_search", "BOX_POINTS"]

#: Points per axis of the search box (+-1 grid step around the centre), refined by halving.
#: 3 (the nodes: 27 points per box, not 125) was tried: no CPU gain on the demo, and the
#: worst calibration error grew from 0.39 to 0.62 %, the worst Teff error from 82 to 147 K.
BOX_POINTS = 5


@dataclass
class ParameterSpace:
    """Template parameters and the photometric prior of one star.

    Attributes
    ----------
    params : pandas.DataFrame
        teff, logg, feh, alpha of every template.
    synmag : numpy.ndarray, (ntemplate, nband)
        Synthetic AB magnitudes of the templates.
    mag, err : numpy.ndarray, (nband,)
        The star's AB magnitudes and errors (NaN = missing).
    floor : float
        Magnitude error floor of the SED chi^2.
    """

    params: object
    synmag: np.ndarray
    mag: np.ndarray
    err: np.ndarray
    floor: float = 0.02


def continuous_search(segments, evaluated, logs, space, best, red, degree, memo=None):
    """Minimise chi^2/red + SED prior over interpolated templates around a node.

    Two passes over multilinearly interpolated templates: half steps within one grid
    step of the best node, then quarter steps around the best point. Interpolated
    templates are linear combinations of the node templates already evaluated at the
    star's pixels, so the search costs one matrix product per pass. It follows the
    Teff-log g-[M/H] valley of the spectral chi^2, which a nearest-node choice (kspecdr
    W8) or per-axis parabolas cannot.

    Parameters
    ----------
    segments : list of sdssflow.fluxcal.spectral_chi2.Segment
        The star's cameras.
    evaluated : dict of str to (numpy.ndarray, numpy.ndarray)
        Per camera: every node template at the star's pixels (ntemplate, npix) at the
        star's RV, and the pixels inside the grid.
    logs : dict of str to numpy.ndarray, (ntemplate, npix)
        :func:`sdssflow.fluxcal.interpolation.log_models` of ``evaluated`` (taken once
        per star, shared by both starting nodes).
    space : ParameterSpace
    best : int
        Starting node.
    red : float
        Reduced chi^2 the spectral chi^2 is divided by.
    degree : int
        Response polynomial degree.
    memo : dict, optional
        Spectral chi^2 by (Teff, log g, [M/H]) point, filled and reused: a box re-centred
        along the valley, the fine pass and the search from the other starting node
        share many points, each scored once (pass the same dict for one star).

    Returns
    -------
    weights : dict of int to float
        Node index -> interpolation weight of the best point.
    point : dict of str to float
        Its teff, logg, feh.
    total : float
        Its rescaled chi^2 plus prior.
    """
    params = space.params
    alpha = float(params.iloc[best]["alpha"])
    vals = params[list(AXES)].to_numpy(float)
    same_alpha = np.isclose(params["alpha"].to_numpy(float), alpha)
    grids = [np.unique(vals[same_alpha, j]) for j in range(3)]

    memo = {} if memo is None else memo

    def spectral(points, w):
        """Spectral chi^2 of interpolated templates, (npoint,): from ``memo`` when known."""
        keys = [tuple(np.round(p, 6)) for p in points]
        todo = np.array([k not in memo for k in keys], bool)
        if todo.any():
            wt = w[todo]
            cols = np.flatnonzero(wt.any(axis=0))  # at most a few dozen nodes
            chi2 = 0.0
            for seg in segments:
                inside = evaluated[seg.camera][1]
                chi2 = chi2 + response_chi2(
                    interpolate_logs(logs[seg.camera][cols], wt[:, cols].astype(np.float32)),
                    seg.flux,
                    seg.weights() * inside,
                    response_basis(seg.lnlam, degree),
                )
            for key, value in zip([k for k, t in zip(keys, todo) if t], np.atleast_1d(chi2)):
                memo[key] = float(value)
        return np.array([memo[k] for k in keys])

    def score(points):
        w, ok = multilinear_matrix(params, points, alpha)
        w, points = w[ok], points[ok]
        prior = sed_chi2(space.mag, space.err, w @ space.synmag, space.floor)
        return points, w, spectral(points, w) / red + prior

    centre = vals[best]
    for _ in range(4):  # walk along the chi^2 valley: re-centre while the minimum is on the box edge
        axes = []
        for j in range(3):
            g = grids[j]
            k = int(np.argmin(np.abs(g - centre[j])))
            lo, hi = g[max(k - 1, 0)], g[min(k + 1, g.size - 1)]
            box = np.unique(np.linspace(lo, hi, BOX_POINTS)) if hi > lo else np.array([g[k]])
            axes.append((g, box))
        pts = np.array(np.meshgrid(*[a[1] for a in axes], indexing="ij")).reshape(3, -1).T
        pts, w, tot = score(pts)
        i = int(np.argmin(tot))
        edge = [
            (pts[i, j] in (a[1][0], a[1][-1]))
            and a[1].size > 1
            and pts[i, j] not in (a[0][0], a[0][-1])
            for j, a in enumerate(axes)
        ]
        if not any(edge):
            break
        centre = pts[i]
    # refine: 3 points per axis around the best point, the spacing halved each pass down to
    # an eighth of the box's span (a quarter grid step; 1 pass after a 5-point box, 2 after 3)
    spacing = [np.diff(a[1]).min() if a[1].size > 1 else 0.0 for a in axes]
    best_pt, best_w, best_tot = pts[i], w[i], float(tot[i])
    for _ in range(1 + int(round(np.log2(4 / (BOX_POINTS - 1))))):
        spacing = [h / 2 for h in spacing]
        fine = [
            np.unique(np.clip(best_pt[j] + np.array([-h, 0.0, h]), axes[j][0][0], axes[j][0][-1]))
            for j, h in enumerate(spacing)
        ]
        pts2 = np.array(np.meshgrid(*fine, indexing="ij")).reshape(3, -1).T
        pts2, w2, tot2 = score(pts2)
        k = int(np.argmin(tot2))
        best_pt, best_w, best_tot = pts2[k], w2[k], float(tot2[k])
    weights = {int(t): float(best_w[t]) for t in np.flatnonzero(best_w > 1e-9)}
    return weights, dict(zip(AXES, map(float, best_pt))), best_tot
