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
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.polynomial import legendre

from sdssflow.constants import C_KMS
from sdssflow.fluxcal.interpolation import (
    AXES,
    interpolate_logs,
    log_interpolate,
    log_models,
    multilinear_matrix,
)
from sdssflow.fluxcal.priors import sed_chi2

__all__ = [
    "C_KMS",
    "Segment",
    "ModelGrid",
    "response_chi2",
    "fit_star",
    "StarFit",
]



@dataclass
class Segment:
    """One camera's spectrum of one star.

    Attributes
    ----------
    camera : str
        ``b1``, ``r1``, ...
    lnlam : numpy.ndarray, (npix,)
        ln of the vacuum wavelength in A.
    flux : numpy.ndarray, (npix,)
        Electrons per native pixel (sky subtracted).
    ivar : numpy.ndarray, (npix,)
        Inverse variance of ``flux``; 0 = no information.
    good : numpy.ndarray of bool, (npix,)
        Pixels usable for matching (not masked, not telluric).
    """

    camera: str
    lnlam: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    good: np.ndarray

    def weights(self) -> np.ndarray:
        return np.where(self.good & np.isfinite(self.flux), np.asarray(self.ivar, float), 0.0)


@dataclass
class ModelGrid:
    """Templates convolved to one camera's resolution on a (nearly) uniform ln(lambda) grid.

    Attributes
    ----------
    ln : numpy.ndarray, (nwave,)
        ln(lambda/A) of the columns, increasing. BOSZ grids are uniform in air
        wavelength; after conversion to vacuum the step drifts by ~1e-5 relative (0.1
        pixel over 3000-11000 A), so positions are looked up in the actual grid, not
        from a constant step.
    cube : numpy.ndarray, float32, (ntemplate, nwave)
        Convolved template fluxes (erg/s/cm2/A).
    """

    ln: np.ndarray
    cube: np.ndarray

    def _index(self, ln):
        n = self.ln.size
        ln = np.asarray(ln, float)
        # the grid is uniform to ~0.1 pixel: guess from the mean step, then correct by one
        step = (self.ln[-1] - self.ln[0]) / (n - 1)
        raw = np.floor((ln - self.ln[0]) / step).astype(np.int64)
        i0 = np.clip(raw, 0, n - 2)
        i0 -= (ln < self.ln[i0]) & (i0 > 0)
        i0 += (ln >= self.ln[np.minimum(i0 + 1, n - 1)]) & (i0 < n - 2)
        ok = (ln >= self.ln[0]) & (ln <= self.ln[-1])
        w = (ln - self.ln[i0]) / (self.ln[i0 + 1] - self.ln[i0])
        return i0, w, ok

    def evaluate(
        self, lnlam: np.ndarray, rv: float, templates=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Templates at observed ln(lambda) for radial velocity ``rv`` (km/s).

        Returns
        -------
        model : numpy.ndarray, (ntemplate or len(templates), npix)
        inside : numpy.ndarray of bool, (npix,)
            Pixels inside the grid.
        """
        i0, w, ok = self._index(np.asarray(lnlam) - np.log1p(rv / C_KMS))
        cube = self.cube if templates is None else self.cube[templates]
        w = w.astype(cube.dtype)  # (ntemplate, npix) in the cube's precision (float32)
        return cube[:, i0] * (1 - w) + cube[:, i0 + 1] * w, ok

    def evaluate_velocities(
        self, lnlam: np.ndarray, rvs: np.ndarray, template
    ) -> tuple[np.ndarray, np.ndarray]:
        """Templates at many velocities, positions looked up once for all of them.

        Parameters
        ----------
        template : int or sequence of int
            One template (model shape (nv, npix)) or several ((ntemplate, nv, npix)).

        Returns
        -------
        model : numpy.ndarray, float64
        inside : numpy.ndarray of bool, (npix,)
            Pixels inside the grid at every velocity.
        """
        ln = np.asarray(lnlam)[None, :] - np.log1p(np.asarray(rvs, float) / C_KMS)[:, None]
        i0, w, ok = self._index(ln)
        rows = np.asarray(self.cube[template], dtype=np.float64)
        return rows[..., i0] * (1 - w) + rows[..., i0 + 1] * w, ok.all(axis=0)


_BASIS_CACHE: dict = {}


def _basis(lnlam: np.ndarray, degree: int) -> np.ndarray:
    """Legendre basis (npix, degree + 1) on ln(lambda) mapped to [-1, 1] (cached per array)."""
    key = (id(lnlam), degree)
    hit = _BASIS_CACHE.get(key)
    if hit is not None and hit[0] is lnlam:
        return hit[1]
    x = 2.0 * (lnlam - lnlam.min()) / max(float(np.ptp(lnlam)), 1e-12) - 1.0
    basis = legendre.legvander(x, degree)
    while len(_BASIS_CACHE) >= 16:
        _BASIS_CACHE.pop(next(iter(_BASIS_CACHE)))
    _BASIS_CACHE[key] = (lnlam, basis, {})
    return basis


def _triu(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the upper triangle (with diagonal) of a k x k matrix."""
    return np.triu_indices(k)


def _basis_products(basis: np.ndarray, dtype) -> np.ndarray:
    """basis_i basis_j per pixel for i <= j, (npix, k(k+1)/2), cached with the basis.

    The normal matrix is symmetric, so only its upper triangle is formed (half the work
    of the full k*k products)."""
    iu, ju = _triu(basis.shape[1])
    for entry in _BASIS_CACHE.values():
        if entry[1] is basis:
            prods = entry[2].get(np.dtype(dtype).str)
            if prods is None:
                prods = (basis[:, iu] * basis[:, ju]).astype(dtype)
                entry[2][np.dtype(dtype).str] = prods
            return prods
    return (basis[:, iu] * basis[:, ju]).astype(dtype)


def response_chi2(
    models: np.ndarray, data: np.ndarray, weight: np.ndarray, basis: np.ndarray, fast: bool = False
) -> np.ndarray:
    """chi^2 of ``data ~ model_m * (basis @ c_m)`` minimised over c_m, for every model m.

    Parameters
    ----------
    models : numpy.ndarray, (nmodel, npix)
    data : numpy.ndarray, (npix,)
    weight : numpy.ndarray, (npix,)
        Inverse variances (0 = pixel unused).
    basis : numpy.ndarray, (npix, k)
        Response basis (e.g. Legendre polynomials).
    fast : bool
        Form the normal equations in float32 (about twice as fast; chi^2 good to
        ~1e-6 of sum(w d^2), enough to rank templates, not for RV parabolas).

    Returns
    -------
    numpy.ndarray, (nmodel,)
        Minimum chi^2 = sum w d^2 - b^T N^-1 b with N = A^T W A, b = A^T W d.

    Examples
    --------
    >>> x = np.linspace(-1, 1, 50)
    >>> m = np.vstack([1 + 0.1 * np.sin(9 * x), 1 + 0.1 * np.cos(9 * x)])
    >>> d = m[1] * (2 + x)
    >>> chi2 = response_chi2(m, d, np.ones(50), legendre.legvander(x, 2))
    >>> bool(chi2[1] < 1e-9 * chi2[0])
    True
    """
    dtype = np.float32 if fast else np.float64
    models = np.asarray(models, dtype=dtype)
    k = basis.shape[1]
    bb = _basis_products(basis, dtype)
    upper = (((models**2) * weight.astype(dtype)) @ bb).astype(np.float64)
    iu, ju = _triu(k)
    normal = np.empty((upper.shape[0], k, k))
    normal[:, iu, ju] = upper
    normal[:, ju, iu] = upper
    rhs = ((models * (weight * data).astype(dtype)) @ basis.astype(dtype)).astype(np.float64)
    scale = np.einsum("mii->mi", normal).max(axis=1)
    normal += (1e-12 * np.maximum(scale, 1e-300))[:, None, None] * np.eye(k)
    coef = np.linalg.solve(normal, rhs[..., None])[..., 0]
    return float(np.sum(weight * data**2)) - np.einsum("mk,mk->m", rhs, coef)


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


def _chi2_templates(segments, grids, rv, degree, templates=None):
    total = 0.0
    for seg in segments:
        model, inside = grids[seg.camera].evaluate(seg.lnlam, rv, templates)
        w = seg.weights() * inside
        total = total + response_chi2(model, seg.flux, w, _basis(seg.lnlam, degree))
    return total


def _chi2_velocities(segments, grids, rvs, template, degree, fast=False):
    total = 0.0
    for seg in segments:
        model, inside = grids[seg.camera].evaluate_velocities(seg.lnlam, rvs, template)
        w = seg.weights() * inside
        total = total + response_chi2(model, seg.flux, w, _basis(seg.lnlam, degree), fast=fast)
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
        total = total + response_chi2(model, seg.flux, wt, _basis(seg.lnlam, degree))
    return total


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
        continuously between the nodes around the best one (:func:`_continuous_search`)
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
        chi_v = _chi2_velocities(wide, grids, coarse, start, degree, fast=True)
    else:
        chi_v = _chi2_velocities(segments, grids, coarse, start, degree, fast=True)
    rv0 = float(coarse[int(np.argmin(chi_v))])
    if cores is not None and len(cores):
        segments = [
            replace(s, good=s.good & ~core_mask(s.lnlam, cores, rv0, 2 * rv_step)) for s in segments
        ]
        npix = int(sum(int(np.count_nonzero(s.weights() > 0)) for s in segments))
        dof = npix - len(segments) * (degree + 1)
    # RV with the start template first, so that the template search runs once
    step = max(rv_step / 5.0, 0.5)
    fine = rv0 + np.arange(-3 * rv_step, 3 * rv_step + 1e-6, step)
    chi_f = _chi2_velocities_combo(segments, grids, fine, {start: 1.0}, degree)
    rv, rv_err = _refine(fine, chi_f, float(chi_f.min()) / max(dof, 1))
    evaluated = {s.camera: grids[s.camera].evaluate(s.lnlam, rv) for s in segments}
    chi2 = 0.0
    for seg in segments:
        model, inside = evaluated[seg.camera]
        chi2 = chi2 + response_chi2(
            model, seg.flux, seg.weights() * inside, _basis(seg.lnlam, degree), fast=True
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
        found = [
            _continuous_search(segments, evaluated, logs, space, b, red, degree)
            for b in sorted(starts)
        ]
        weights, point, _ = min(found, key=lambda f: f[2])
        best = max(weights, key=weights.get)  # the node nearest the continuous minimum
    # final RV with the chosen (interpolated) template
    fine = rv + np.arange(-2 * rv_step, 2 * rv_step + 1e-6, step)
    chi_f = _chi2_velocities_combo(segments, grids, fine, weights, degree)
    rv, rv_err = _refine(fine, chi_f, float(chi_f.min()) / max(dof, 1))
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
    fine = previous.rv + np.arange(-2 * rv_step, 2 * rv_step + 1e-6, max(rv_step / 5.0, 0.5))
    chi_f = _chi2_velocities_combo(
        segments, grids, fine, previous.weights or {previous.best: 1.0}, degree
    )
    rv, rv_err = _refine(fine, chi_f, float(chi_f.min()) / max(dof, 1))
    chi2 = previous.chi2.copy()
    chi2[previous.best] = float(chi_f.min())
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


def _continuous_search(segments, evaluated, logs, space, best, red, degree):
    """Minimise chi^2/red + SED prior over interpolated templates around a node.

    Two passes over multilinearly interpolated templates: half steps within one grid
    step of the best node, then quarter steps around the best point. Interpolated
    templates are linear combinations of the node templates already evaluated at the
    star's pixels, so the search costs one matrix product per pass. It follows the
    Teff-log g-[M/H] valley of the spectral chi^2, which a nearest-node choice (kspecdr
    W8) or per-axis parabolas cannot. ``logs`` holds :func:`log_models` of ``evaluated``
    (taken once per star, shared by both starting nodes).
    """
    params = space.params
    alpha = float(params.iloc[best]["alpha"])
    vals = params[list(AXES)].to_numpy(float)
    same_alpha = np.isclose(params["alpha"].to_numpy(float), alpha)
    grids = [np.unique(vals[same_alpha, j]) for j in range(3)]

    def score(points):
        w, ok = multilinear_matrix(params, points, alpha)
        w, points = w[ok], points[ok]
        cols = np.flatnonzero(w.any(axis=0))  # at most a few dozen nodes
        total = 0.0
        for seg in segments:
            inside = evaluated[seg.camera][1]
            total = total + response_chi2(
                interpolate_logs(logs[seg.camera][cols], w[:, cols].astype(np.float32)),
                seg.flux,
                seg.weights() * inside,
                _basis(seg.lnlam, degree),
            )
        return points, w, total / red + sed_chi2(space.mag, space.err, w @ space.synmag, space.floor)

    centre = vals[best]
    for _ in range(
        4
    ):  # walk along the chi^2 valley: re-centre while the minimum is on the box edge
        axes = []
        for j in range(3):
            g = grids[j]
            k = int(np.argmin(np.abs(g - centre[j])))
            lo, hi = g[max(k - 1, 0)], g[min(k + 1, g.size - 1)]
            axes.append((g, np.unique(np.linspace(lo, hi, 5)) if hi > lo else np.array([g[k]])))
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
    q = [np.diff(a[1]).min() / 2 if a[1].size > 1 else 0.0 for a in axes]
    fine = [
        np.unique(np.clip(pts[i, j] + np.array([-q[j], 0.0, q[j]]), axes[j][0][0], axes[j][0][-1]))
        for j in range(3)
    ]
    pts2 = np.array(np.meshgrid(*fine, indexing="ij")).reshape(3, -1).T
    pts2, w2, tot2 = score(pts2)
    k = int(np.argmin(tot2))
    row = w2[k]
    weights = {int(t): float(row[t]) for t in np.flatnonzero(row > 1e-9)}
    return weights, dict(zip(AXES, map(float, pts2[k]))), float(tot2[k])


def core_mask(
    lnlam: np.ndarray, cores: np.ndarray, rv: float = 0.0, margin_kms: float = 0.0
) -> np.ndarray:
    """True within the core of a strong line at radial velocity ``rv``.

    Parameters
    ----------
    lnlam : numpy.ndarray
        ln of observed vacuum wavelengths (A).
    cores : numpy.ndarray, (nline, 2)
        Rest wavelength and half-width (A).
    rv, margin_kms : float
        Velocity of the star and an extra half-width in velocity (km/s).

    Examples
    --------
    >>> core_mask(np.log([6560.0, 6564.6, 6580.0]), np.array([[6564.61, 6.0]]), rv=0.0).tolist()
    [True, True, False]
    """
    wave = np.exp(np.asarray(lnlam, float)) / (1.0 + rv / C_KMS)
    out = np.zeros(wave.shape, bool)
    for centre, half in np.asarray(cores, float).reshape(-1, 2):
        h = half + centre * margin_kms / C_KMS
        out |= np.abs(wave - centre) <= h
    return out
