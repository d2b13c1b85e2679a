"""Template selection and radial velocity, vectorised over the whole library.

(Interpolation between grid nodes lives in :mod:`sdssflow.fluxcal.interpolation`.)

The observed counts of a standard in one camera are modelled as

    counts(lambda) = P_c(lambda) * T(lambda / (1 + v/c)),

with T a template convolved to the instrument resolution and P_c a smooth response
(a Legendre polynomial in ln lambda, one per camera) fitted by linear least squares for
*every* template at once through batched normal equations. This normalises the data
and the model the same way (fixes kspecdr W5: pseudo-continuum of the data against the
theoretical continuum of the model), and needs no per-template Python loop or file read
(W1). The RV is the minimum of the same chi^2 over a velocity grid (coarse, then fine
with a parabola), and it is applied to the template used for the calibration (W3).
The photometric SED chi^2 of :func:`sdssflow.fluxcal.priors.sed_chi2` is added to the
spectral chi^2 (rescaled by its minimum reduced chi^2 so that template mismatch does
not swamp the prior) before the best template is taken.
(The chi^2 primitives are in :mod:`sdssflow.fluxcal.spectral_chi2`, the continuous
search between nodes in :mod:`sdssflow.fluxcal.continuous`.)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from sdssflow.constants import C_KMS
from sdssflow.fluxcal.continuous import ParameterSpace, continuous_search
from sdssflow.fluxcal.interpolation import log_interpolate, log_models
from sdssflow.fluxcal.spectral_chi2 import (
    ModelGrid,
    Segment,
    core_mask,
    response_basis,
    response_chi2,
)

__all__ = [
    "C_KMS",
    "Segment",
    "ModelGrid",
    "ParameterSpace",
    "core_mask",
    "response_chi2",
    "fit_star",
    "StarFit",
]


@dataclass
class StarFit:
    """Result of :func:`fit_star`.

    Attributes
    ----------
    best : int
        Index of the chosen template.
    rv, rv_err : float
        Radial velocity and its 1-sigma error, km/s.
    chi2 : numpy.ndarray, (ntemplate,)
        Spectral chi^2 at ``rv``.
    total : numpy.ndarray, (ntemplate,)
        Rescaled spectral chi^2 plus the SED prior (what was minimised).
    dof : int
        Pixels used minus fitted response coefficients.
    snr : float
        Median S/N per pixel of the used pixels.
    """

    best: int
    rv: float
    rv_err: float
    chi2: np.ndarray
    total: np.ndarray
    dof: int
    snr: float
    notes: list[str] = field(default_factory=list)
    weights: dict = field(default_factory=dict)
    point: dict = field(default_factory=dict)

    @property
    def reduced_chi2(self) -> float:
        return float(self.chi2[self.best] / max(self.dof, 1))


def _weighted_pixels(segments: list[Segment]) -> list[Segment]:
    """The segments restricted to their pixels of nonzero weight.

    Every chi^2 of the search is a sum over pixels weighted by ``Segment.weights()``, so the
    pixels of weight 0 (masked, telluric, line cores, no inverse variance: 15-25 % of a
    camera) only cost work: dropping them leaves every chi^2 the same up to rounding (the
    response polynomials span the same space on the pixels kept), the S/N and the degrees of
    freedom identical.
    """
    out = []
    for s in segments:
        keep = s.weights() > 0
        out.append(Segment(s.camera, s.lnlam[keep], s.flux[keep], s.ivar[keep], s.good[keep]))
    return out


def _chi2_templates(segments, grids, rv, degree, templates=None):
    total = 0.0
    for seg in segments:
        model, inside = grids[seg.camera].evaluate(seg.lnlam, rv, templates)
        w = seg.weights() * inside
        total = total + response_chi2(model, seg.flux, w, response_basis(seg.lnlam, degree))
    return total


def _chi2_velocities(segments, grids, rvs, template, degree, fast=False):
    total = 0.0
    for seg in segments:
        model, inside = grids[seg.camera].evaluate_velocities(seg.lnlam, rvs, template)
        w = seg.weights() * inside
        total = total + response_chi2(model, seg.flux, w, response_basis(seg.lnlam, degree), fast=fast)
    return total


def _chi2_velocities_combo(segments, grids, rvs, weights, degree):
    """chi^2 of a (log-flux) interpolated template over a velocity grid."""
    total = 0.0
    idx = list(weights)
    wts = np.array([weights[i] for i in idx])
    for seg in segments:
        parts, inside = grids[seg.camera].evaluate_velocities(seg.lnlam, rvs, idx)
        model = log_interpolate(parts, wts)
        wt = seg.weights() * inside
        total = total + response_chi2(model, seg.flux, wt, response_basis(seg.lnlam, degree))
    return total


#: Half-widths of the fine RV scans, in coarse steps: around the coarse minimum (start
#: template), then around that RV with the chosen template (and for the later exposures
#: of a night). A scan whose minimum falls on its edge is moved and repeated
#: (:func:`_fine_rv`), so narrow windows cannot clip a farther minimum.
FINE_HALF_STEPS = (2, 1)


def _fine_rv(segments, grids, centre, half, step, weights, degree, dof, moves=3):
    """RV from a fine scan ``centre +- half`` (km/s, ``step`` apart) and a parabola.

    Returns ``(rv, rv_err, chi2_min)``. When the minimum is on the scan's edge the scan
    is re-centred there (up to ``moves`` times): the parabola needs the minimum inside.
    """
    for _ in range(moves + 1):
        lags = centre + np.arange(-half, half + 1e-6, step)
        chi = _chi2_velocities_combo(segments, grids, lags, weights, degree)
        i = int(np.argmin(chi))
        if 0 < i < lags.size - 1:
            break
        centre = float(lags[i])
    rv, rv_err = _refine(lags, chi, float(chi.min()) / max(dof, 1))
    return rv, rv_err, float(chi.min())


def _refine(rvs, chi2, scale):
    i = int(np.argmin(chi2))
    lo, hi = max(i - 2, 0), min(i + 3, rvs.size)
    if hi - lo < 3:
        return float(rvs[i]), float("nan")
    a, b, _ = np.polyfit(rvs[lo:hi] - rvs[i], chi2[lo:hi], 2)
    if a <= 0:
        return float(rvs[i]), float("nan")
    v = float(np.clip(rvs[i] - b / (2 * a), rvs[lo], rvs[hi - 1]))
    return v, float(np.sqrt(max(scale, 1.0) / a))


def fit_star(
    segments: list[Segment],
    grids: dict[str, ModelGrid],
    prior: np.ndarray | None = None,
    teff: np.ndarray | None = None,
    rv_max: float = 500.0,
    rv_step: float = 10.0,
    degree: int = 15,
    cores: np.ndarray | None = None,
    previous: StarFit | None = None,
    space: ParameterSpace | None = None,
) -> StarFit:
    """Choose the template and RV of one standard star.

    Steps: (1) start from the best template of the photometric prior (or the
    median-Teff one); (2) coarse RV scan over +-``rv_max`` km/s in ``rv_step`` steps,
    then a fine scan (``rv_step``/5) with a parabola at the minimum; (3) chi^2 of all
    templates at that RV, rescaled by the minimum reduced chi^2, plus the prior; (4)
    continuous search between the nodes (when ``space`` is given); (5) fine RV scan
    with the chosen template.

    Parameters
    ----------
    segments : list of Segment
        The star's cameras.
    grids : dict of str to ModelGrid
        Convolved library per camera.
    prior : numpy.ndarray, (ntemplate,), optional
        Photometric chi^2 of each template (0 = flat).
    teff : numpy.ndarray, (ntemplate,), optional
        Template Teff (K), for the start template when there is no prior.
    rv_max, rv_step : float
        Coarse RV search half-range and step, km/s.
    degree : int
        Degree of the per-camera response polynomial.
    cores : numpy.ndarray, (nline, 2), optional
        Rest vacuum wavelength and half-width (A) of strong-line cores left out of the
        fit (:func:`core_mask`): widened by ``rv_max`` for the coarse RV scan, then
        placed at the coarse RV.
    previous : StarFit, optional
        A fit of the same star in another exposure of the night: its template choice is
        kept and only the RV is measured again (fine scan around its RV).
    space : ParameterSpace, optional
        Node parameters and SED prior inputs; when given, the template is searched
        continuously between the nodes around the best one (:func:`continuous_search`)
        and ``StarFit.weights`` holds the interpolation weights.

    Returns
    -------
    StarFit

    Raises
    ------
    ValueError
        If fewer than 100 usable pixels remain.
    """
    ntemp = next(iter(grids.values())).cube.shape[0]
    prior = np.zeros(ntemp) if prior is None else np.asarray(prior, float)
    npix = int(sum(int(np.count_nonzero(s.weights() > 0)) for s in segments))
    if npix < 100:
        raise ValueError(f"only {npix} usable pixels for template matching")
    dof = npix - len(segments) * (degree + 1)
    if np.any(prior > 0):
        start = int(np.argmin(prior))
    elif teff is not None:
        start = int(np.argmin(np.abs(teff - np.median(teff))))
    else:
        start = ntemp // 2
    if previous is not None:
        return _refit_rv(segments, grids, previous, rv_step, degree, cores, dof)
    coarse = np.arange(-rv_max, rv_max + rv_step / 2, rv_step)
    # the coarse scan only picks the best lag (the fine scan's parabola is in float64):
    # float32 normal equations rank lags as float64 does at half the cost
    if cores is not None and len(cores):
        wide = [replace(s, good=s.good & ~core_mask(s.lnlam, cores, 0.0, rv_max)) for s in segments]
        chi_v = _chi2_velocities(_weighted_pixels(wide), grids, coarse, start, degree, fast=True)
    else:
        chi_v = _chi2_velocities(_weighted_pixels(segments), grids, coarse, start, degree, fast=True)
    rv0 = float(coarse[int(np.argmin(chi_v))])
    if cores is not None and len(cores):
        segments = [
            replace(s, good=s.good & ~core_mask(s.lnlam, cores, rv0, 2 * rv_step)) for s in segments
        ]
        npix = int(sum(int(np.count_nonzero(s.weights() > 0)) for s in segments))
        dof = npix - len(segments) * (degree + 1)
    segments = _weighted_pixels(segments)
    # RV with the start template first, so that the template search runs once
    step = max(rv_step / 5.0, 0.5)
    rv, rv_err, _ = _fine_rv(segments, grids, rv0, FINE_HALF_STEPS[0] * rv_step, step, {start: 1.0}, degree, dof)
    evaluated = {s.camera: grids[s.camera].evaluate(s.lnlam, rv) for s in segments}
    chi2 = 0.0
    for seg in segments:
        model, inside = evaluated[seg.camera]
        chi2 = chi2 + response_chi2(
            model, seg.flux, seg.weights() * inside, response_basis(seg.lnlam, degree), fast=True
        )
    red = max(float(chi2.min()) / max(dof, 1), 1.0)
    total = chi2 / red + prior
    best = int(np.argmin(total))
    weights, point = {best: 1.0}, {}
    if space is not None:
        # start from the best node and from the photometry's favourite: the chi^2
        # surface can have two valleys (Teff-log g-[M/H] degeneracy)
        starts = {
            best,
            int(np.argmin(np.where(prior > 0, prior, np.inf))) if np.any(prior > 0) else best,
        }
        logs = {cam: log_models(model).astype(np.float32) for cam, (model, _) in evaluated.items()}
        memo: dict = {}  # spectral chi^2 by point, shared by both starts
        found = [
            continuous_search(segments, evaluated, logs, space, b, red, degree, memo)
            for b in sorted(starts)
        ]
        weights, point, _ = min(found, key=lambda f: f[2])
        best = max(weights, key=weights.get)  # the node nearest the continuous minimum
    # final RV with the chosen (interpolated) template
    rv, rv_err, _ = _fine_rv(segments, grids, rv, FINE_HALF_STEPS[1] * rv_step, step, weights, degree, dof)
    return StarFit(
        best=best,
        rv=rv,
        rv_err=rv_err,
        chi2=chi2,
        total=total,
        dof=dof,
        snr=_snr(segments),
        weights=weights,
        point=point,
    )


def _snr(segments) -> float:
    snr_pix = np.concatenate([np.abs(s.flux) * np.sqrt(s.weights()) for s in segments])
    return float(np.median(snr_pix[snr_pix > 0])) if np.any(snr_pix > 0) else 0.0


def _refit_rv(segments, grids, previous, rv_step, degree, cores, dof):
    """RV of a star whose template was chosen in another exposure."""
    if cores is not None and len(cores):
        segments = [
            replace(s, good=s.good & ~core_mask(s.lnlam, cores, previous.rv, 2 * rv_step))
            for s in segments
        ]
    segments = _weighted_pixels(segments)
    weights = previous.weights or {previous.best: 1.0}
    half, step = FINE_HALF_STEPS[1] * rv_step, max(rv_step / 5.0, 0.5)
    rv, rv_err, chi_min = _fine_rv(segments, grids, previous.rv, half, step, weights, degree, dof)
    chi2 = previous.chi2.copy()
    chi2[previous.best] = chi_min
    return StarFit(
        best=previous.best,
        rv=rv,
        rv_err=rv_err,
        chi2=chi2,
        total=previous.total,
        dof=dof,
        snr=_snr(segments),
        notes=["template kept from an earlier exposure"],
        weights=previous.weights,
        point=previous.point,
    )
