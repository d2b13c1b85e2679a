"""Radial velocities by cross-correlation against a template library (XCSAO-like).

The BOSS DRP runs XCSAO (Kurtz & Mink 1998) on every plate and astra copies its
``XCSAO_RV/ERV/RXC/TEFF/LOGG/FEH``. Here the same quantities are measured against a
library of rectified templates (the BOSZ library):

1. the spectrum and every template are divided by the same running median
   (:func:`normalise`), so line depths compare like with like;
2. every template is cross-correlated with the spectrum at integer pixel lags
   (inverse-variance weighted); the template with the highest normalised peak wins and
   ``rxc`` is the Tonry & Davis (1979) ratio h / (√2 σ_a) of its correlation peak height to
   the rms of the antisymmetric part of the correlation;
3. the velocity is refined by χ² against the template shifted on a fine grid (template
   sampled 10x finer than the data), with a parabola through the three χ² points around
   the minimum; then the best ``n_combine`` templates at that velocity are combined with
   non-negative weights (an interpolation of the library: a single grid template biases
   the velocity through mismatched blends, by up to 1-2 km/s at BOSS resolution) and the
   velocity is refined again; e_v_rad = sqrt(2 / (d²χ²/dv²)) scaled by sqrt(χ²_ν) when
   χ²_ν > 1;
4. teff, logg, fe_h are the weight-averaged parameters of the combined templates; their
   errors are the χ²-weighted spread (weights exp(-Δχ²/2)) over the library, at least a
   tenth of the library's grid step.

Velocities are in the frame of the input wavelengths (barycentric for BOSS).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from sdssflow.constants import C_KMS
from sdssflow.mwm.rv_templates import (  # the library's part, re-exported: the API is unchanged
    TemplateLibrary,
    fine_templates,
    normalise,
    prepare_templates,
)

__all__ = [
    "TemplateLibrary",
    "prepare_templates",
    "fine_templates",
    "normalise",
    "measure_rv",
    "RV_FIELDS",
]

#: Fields returned by :func:`measure_rv` (XCSAO names without the ``xcsao_`` prefix).
RV_FIELDS = ("v_rad", "e_v_rad", "rxc", "teff", "e_teff", "logg", "e_logg", "fe_h", "e_fe_h")


def _brackets(fine_loglam: np.ndarray, x: np.ndarray):
    """``np.interp``'s bracket of every ``x`` on ``fine_loglam``: (j, t, outside), shapes of x.

    j is the left neighbour (clipped to the grid), t the linear weight of j + 1, outside the
    points beyond the grid (1.0 there)."""
    j, left, right, fix = _bracket_ends(fine_loglam, x, with_fixed=True)
    t = x - left  # (x - grid[j]) / (grid[j + 1] - grid[j]), in place
    right -= left
    t /= right
    # a point beyond the grid is never where its guess brackets it, so it is among the
    # fixed ones: the test runs on those few, not on every point (three passes fewer)
    outside = np.zeros(np.shape(x), dtype=bool)
    beyond = np.asarray(x).reshape(-1)[fix]
    outside.reshape(-1)[fix[(beyond < fine_loglam[0]) | (beyond > fine_loglam[-1])]] = True
    return j, t, outside


def _left_neighbour(grid: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``clip(searchsorted(grid, x, side="right") - 1, 0, grid.size - 2)``, the same indices.

    The index is guessed from the grid's mean step and kept where it brackets its x
    (grid[j] <= x < grid[j + 1], which is the search's answer); the binary search runs
    only for the others (a guess off by the rounding of the grid's values, x beyond the
    ends or not finite; every x on a grid that is not uniform). The templates' fine grid is
    uniform (``np.arange``), and a search costs ~17 random reads per point where the guess
    costs two sequential ones: most of a 41-velocity scan's time.

    Parameters
    ----------
    grid : ndarray, shape (ngrid,)
        Increasing, ngrid >= 2.
    x : ndarray, any shape

    Returns
    -------
    ndarray of intp, shape of x
    """
    return _bracket_ends(grid, x)[0]


def _bracket_ends(grid: np.ndarray, x: np.ndarray, with_fixed: bool = False):
    """:func:`_left_neighbour` j with ``grid[j]`` and ``grid[j + 1]``: (j, left, right).

    The two gathers that check the guess are the bracket's ends, so :func:`_brackets`
    reuses them instead of gathering them again (a 41-velocity scan has 190,000 points).

    Parameters
    ----------
    grid : ndarray, shape (ngrid,)
    x : ndarray, any shape
    with_fixed : bool
        Also return the flat indices of the points whose guess was searched again.

    Returns
    -------
    j : ndarray of intp, shape of x
    left, right : ndarray of float, shape of x
        ``grid[j]``, ``grid[j + 1]`` (new arrays: the caller may write to them).
    fix : ndarray of intp, shape (nfix,)
        With ``with_fixed``: those points (x beyond the grid, not finite, off by rounding).
    """
    n = grid.size
    step = (grid[-1] - grid[0]) / (n - 1)
    with np.errstate(invalid="ignore"):
        guess = np.subtract(x, grid[0], out=np.empty(np.shape(x)))  # an array even for 0-d x
        guess /= max(step, 1e-300)
        # into [0, n - 2] with the ufuncs (np.clip's wrapper costs ~30 µs a call); fmax
        # turns NaN into 0, so the truncation below is the floor and j needs no clip again
        np.fmax(guess, 0.0, out=guess)
        np.fmin(guess, n - 2, out=guess)
    j = guess.astype(np.intp)
    left, right = grid[j], grid[1:][j]  # grid[1:][j] is grid[j + 1] without an index array
    ok = left <= x
    ok &= x < right
    fix = np.flatnonzero(~ok)
    if fix.size:
        flat = j.reshape(-1)  # a view of j (astype made it contiguous)
        found = np.clip(np.searchsorted(grid, np.asarray(x).reshape(-1)[fix], side="right") - 1, 0, n - 2)
        flat[fix] = found
        left.reshape(-1)[fix], right.reshape(-1)[fix] = grid[found], grid[found + 1]
    return (j, left, right, fix) if with_fixed else (j, left, right)


def _shifted_rows(fine: np.ndarray, fine_loglam: np.ndarray, loglam_obs: np.ndarray, v: float) -> np.ndarray:
    """Rows of ``fine`` (templates on ``fine_loglam``) seen at velocity v on the observed grid.

    ``np.interp`` of every row (1.0 outside the grid) as one gather, shape (nrow, nobs):
    the rows share their abscissae, so the bracketing indices and weights are found once
    (equal to ``np.interp`` to rounding, ~1e-16 relative)."""
    j, t, outside = _brackets(fine_loglam, loglam_obs - np.log10(1.0 + v / C_KMS))
    out = fine[:, j]  # fine[:, j] (1 - t) + fine[:, j + 1] t, in place: two (nrow, nobs) arrays
    out *= 1.0 - t
    right = fine[:, 1:][:, j]  # fine[:, j + 1]
    right *= t
    out += right
    out[:, outside] = 1.0
    return out


#: Observed pixels shifted at a time by :func:`_shifted_library`: its two temporaries
#: (256 x 96 values each, 0.4 MB together) then stay in a core's L2 cache instead of three
#: 3.6 MB arrays streamed through memory (median 6.7 -> 5.7 ms a velocity, load ~3).
SHIFT_CHUNK = 256


def _shifted_library(lib: TemplateLibrary, loglam_obs: np.ndarray, v: float) -> np.ndarray:
    """``_shifted_rows(lib.flux, lib.loglam, loglam_obs, v)``, bit for bit, gathered from
    :meth:`~sdssflow.mwm.rv_templates.TemplateLibrary.by_pixel` (the same products and
    sums of the same values, in a cache-friendly order): shape (ntpl, nobs)."""
    j, t, outside = _brackets(lib.loglam, loglam_obs - np.log10(1.0 + v / C_KMS))
    by_pixel = lib.by_pixel()
    out = np.empty((by_pixel.shape[1], j.size))  # (ntpl, nobs), C order: the χ² sums' order
    for start in range(0, j.size, SHIFT_CHUNK):
        part = slice(start, start + SHIFT_CHUNK)
        # np.take copies whole rows (~1.7x faster than the same fancy index, same values)
        left = np.take(by_pixel, j[part], axis=0)  # (chunk, ntpl): left (1 - t) + right t
        left *= (1.0 - t[part])[:, None]
        right = np.take(by_pixel[1:], j[part], axis=0)  # by_pixel[j + 1]
        right *= t[part, None]
        left += right
        out[:, part] = left.T
    out[:, outside] = 1.0
    return out


def _shifted_velocities(
    template: np.ndarray, fine_loglam: np.ndarray, loglam_obs: np.ndarray, velocities: np.ndarray
) -> np.ndarray:
    """One template (on ``fine_loglam``) at every velocity: row k is
    ``_shifted_rows(template[None], fine_loglam, loglam_obs, velocities[k])[0]``, bit for bit.

    Parameters
    ----------
    template : ndarray, shape (nfine,)
    fine_loglam : ndarray, shape (nfine,)
    loglam_obs : ndarray, shape (nobs,)
    velocities : ndarray, shape (nv,)
        km/s.

    Returns
    -------
    ndarray, shape (nv, nobs)
    """
    # the Doppler shift of each velocity by the scalar log10 of _shifted_rows (same rounding)
    shift = np.array([np.log10(1.0 + v / C_KMS) for v in velocities])
    j, t, outside = _brackets(fine_loglam, loglam_obs[None, :] - shift[:, None])
    out = template[j] * (1.0 - t) + template[1:][j] * t  # template[1:][j]: template[j + 1]
    out[outside] = 1.0
    return out


def _coarse_ccf(
    tpl0: np.ndarray, dn: np.ndarray, w: np.ndarray, lags: np.ndarray, square: np.ndarray | None = None
) -> np.ndarray:
    """Normalised correlation of every template with the data at integer pixel lags.

    For each lag the template is shifted redward by ``lag`` pixels (``np.roll``), weighted by
    sqrt(w) and mean-subtracted, then correlated with ``dn``. Every sum over pixels of
    ``roll(tpl0, lag) * g`` is ``tpl0 @ roll(g, -lag)``, so all lags are three matrix
    products instead of a loop of rolled copies of the library.

    Parameters
    ----------
    tpl0 : ndarray, shape (ntpl, n)
        Templates minus 1 on the data grid.
    dn : ndarray, shape (n,)
        Weighted, mean-subtracted data minus 1.
    w : ndarray, shape (n,)
        Weights (inverse variance of the normalised flux).
    lags : ndarray of int, shape (nlag,)
    square : ndarray, shape (ntpl, n), optional
        ``tpl0 * tpl0`` when the caller keeps it
        (:meth:`~sdssflow.mwm.rv_templates.TemplateLibrary.at_rest_squared`).

    Returns
    -------
    ndarray, shape (ntpl, nlag)
    """
    sw = np.sqrt(w)

    def rolled(g):
        # column k is np.roll(g, -lags[k]): windows of g wrapped at both ends, gathered as
        # one (nlag, n) copy instead of a roll per lag, transposed as before (same layout,
        # so the same matrix products)
        lo, hi = int(min(lags.min(), 0)), int(max(lags.max(), 0))
        if hi - lo >= g.size:  # lags beyond one turn: the rolls themselves
            return np.array([np.roll(g, -lag) for lag in lags]).T
        wrapped = np.concatenate([g[g.size + lo :] if lo else g[:0], g, g[:hi]])
        return np.lib.stride_tricks.sliding_window_view(wrapped, g.size)[np.asarray(lags) - lo].T

    cross = tpl0 @ rolled(sw * dn)  # Σ t·dn before the mean subtraction
    total = tpl0 @ rolled(sw)  # Σ t
    squares = (tpl0 * tpl0 if square is None else square) @ rolled(w)  # Σ t²
    n = dn.size
    cross -= total * (dn.sum() / n)  # (t - mean t)·dn
    norm2 = np.maximum(squares - total * total / n, 0.0) * np.sum(dn * dn)
    return cross / np.maximum(np.sqrt(norm2), 1e-300)


def _chi2(d, w, t):
    """χ² of d against a·t (a fitted), weights w."""
    a = np.sum(w * d * t) / max(np.sum(w * t * t), 1e-300)
    return float(np.sum(w * (d - a * t) ** 2))


def _chi2_each(d, w, T):
    """:func:`_chi2` of every row of ``T`` (nrow, n), with its sums (equal bit for bit): (nrow,)."""
    a = np.sum(w * d * T, axis=1) / np.maximum(np.sum(w * T * T, axis=1), 1e-300)
    return np.sum(w * (d - a[:, None] * T) ** 2, axis=1)


def _chi2_rows(d, w, T):
    """:func:`_chi2` of every row of ``T`` (nrow, n): shape (nrow,)."""
    a = (T @ (w * d)) / np.maximum((T * T) @ w, 1e-300)
    resid = a[:, None] * T  # w (d - a T)², in place
    np.subtract(d, resid, out=resid)
    np.square(resid, out=resid)
    resid *= w
    return np.sum(resid, axis=1)


def template_chi2(d, w, lib: TemplateLibrary, loglam_obs: np.ndarray, v: float) -> np.ndarray:
    """χ² (:func:`_chi2`) of every template of ``lib`` at velocity v: shape (ntpl,)."""
    return _chi2_rows(d, w, _shifted_library(lib, loglam_obs, v))


def measure_rv(
    wave: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    lib: TemplateLibrary,
    v_max: float = 1000.0,
    n_combine: int = 4,
) -> dict[str, float]:
    """Measure the radial velocity and best template of one spectrum.

    Parameters
    ----------
    wave : ndarray, shape (n,)
        Wavelengths, Å vacuum, on a log-linear grid (e.g. the BOSS grid).
    flux, ivar : ndarray, shape (n,)
        Flux (any unit) and inverse variance.
    lib : TemplateLibrary
        From :func:`prepare_templates` with the grid step of ``wave``.
    v_max : float
        Largest |velocity| searched, km/s.
    n_combine : int
        The best ``n_combine`` templates are combined with non-negative weights.

    Returns
    -------
    dict
        :data:`RV_FIELDS`: v_rad and e_v_rad (km/s), rxc, teff (K), logg, fe_h and their
        errors, plus ``chi2`` and ``dof`` of the final fit. All NaN (e_v_rad NaN) when
        fewer than 100 pixels have ivar > 0.
    """
    wave = np.asarray(wave, dtype=float)
    flux = np.asarray(flux, dtype=float)
    ivar = np.asarray(ivar, dtype=float)
    if not (wave.shape == flux.shape == ivar.shape):
        raise ValueError(
            f"wave, flux, ivar shapes differ: {wave.shape}, {flux.shape}, {ivar.shape}"
        )
    # chi2 and dof too when there is nothing to fit: callers sum chi2 over visits (nansum)
    out = {**dict.fromkeys(RV_FIELDS, np.nan), "chi2": np.nan, "dof": 0}
    loglam = np.log10(wave)
    cont_ratio = normalise(flux, ivar)
    good = (ivar > 0) & np.isfinite(flux) & (loglam > lib.loglam[0]) & (loglam < lib.loglam[-1])
    if good.sum() < 100:
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        cont = np.where(cont_ratio != 0, flux / cont_ratio, 0.0)
    w = np.where(good, ivar * cont**2, 0.0)  # ivar of the normalised flux
    d = np.where(good, cont_ratio, 1.0)
    dpix = loglam[1] - loglam[0]
    dv_pix = C_KMS * np.log(10.0) * dpix
    nlag = int(np.ceil(v_max / dv_pix))
    lags = np.arange(-nlag, nlag + 1)
    # templates on the data grid at rest; correlation at integer lags
    tpl0 = lib.at_rest(loglam)
    dn = (d - 1.0) * np.sqrt(w)
    dn -= dn.mean()
    ccf = _coarse_ccf(tpl0, dn, w, lags, lib.at_rest_squared(loglam))
    best_k, best_j = np.unravel_index(np.argmax(ccf), ccf.shape)
    v0 = lags[best_j] * dv_pix
    out["rxc"] = _tonry_davis_r(ccf[best_k], best_j)

    dof = max(int(good.sum()) - 2, 1)
    weights = {int(best_k): 1.0}
    v_rad, e_v = v0, np.nan
    for _ in range(2):
        # fine χ² of the current (combined) template around the current velocity
        v_rad, e_v, chi_min = _fine_velocity(d, w, lib, weights, loglam, v_rad, dv_pix)
        # every template at that velocity; the best few combined with non-negative
        # weights (interpolates the library, which removes most template-mismatch bias)
        chis = template_chi2(d, w, lib, loglam, v_rad)
        top = np.argsort(chis)[: min(n_combine, chis.size)]
        T = _shifted_rows(lib.flux[top], lib.loglam, loglam, v_rad)
        sw = np.sqrt(w)
        coef, _ = nnls((T * sw).T, d * sw)
        if coef.sum() <= 0:
            coef = np.zeros(top.size)
            coef[0] = 1.0
        weights = {int(k): float(c) for k, c in zip(top, coef) if c > 0}
    e_v *= np.sqrt(max(chi_min / dof, 1.0))
    out["v_rad"], out["e_v_rad"] = float(v_rad), float(e_v)
    out["chi2"], out["dof"] = float(chi_min), dof

    # template parameters: the weighted mean of the combined templates; errors from the
    # χ²-weighted spread over the library (at least a tenth of its grid step)
    scale = max(chis.min() / dof, 1.0)
    wt = np.exp(-0.5 * (chis - chis.min()) / scale)
    wt /= wt.sum()
    ks = np.array(list(weights))
    cw = np.array([weights[k] for k in ks])
    cw = cw / cw.sum()
    for col, name in enumerate(("teff", "logg", "fe_h")):
        p = lib.params[:, col]
        mean = np.sum(wt * p)
        steps = np.diff(np.unique(p))
        floor = 0.1 * float(steps.min()) if steps.size else 0.0
        out[name] = float(np.sum(cw * p[ks]))
        out[f"e_{name}"] = max(float(np.sqrt(np.sum(wt * (p - mean) ** 2))), floor)
    return out


def _fine_velocity(d, w, lib, weights, loglam, v_center, dv_pix):
    """Parabola through the χ² minimum of the weighted template sum on a ±2 px velocity grid."""

    # interpolation is linear in the template, so the weighted sum is formed once on the
    # fine grid and shifted as one template
    combined = sum(c * lib.flux[k] for k, c in weights.items())[None, :]

    def model(v):
        return _shifted_rows(combined, lib.loglam, loglam, v)[0]

    vgrid = v_center + dv_pix * np.linspace(-2.0, 2.0, 41)
    chi = _chi2_each(d, w, _shifted_velocities(combined[0], lib.loglam, loglam, vgrid))
    i = int(np.clip(np.argmin(chi), 1, vgrid.size - 2))
    x0, (c0, c1, c2) = vgrid[i], chi[i - 1 : i + 2]
    h = vgrid[1] - vgrid[0]
    curv = (c0 - 2 * c1 + c2) / h**2  # d²χ²/dv²
    if curv > 0:
        v = x0 - h * (c2 - c0) / (2 * (c0 - 2 * c1 + c2))
        e_v = np.sqrt(2.0 / curv)
    else:
        v, e_v = x0, np.nan
    return float(v), float(e_v), _chi2(d, w, model(v))


def _tonry_davis_r(ccf: np.ndarray, j: int) -> float:
    """Tonry & Davis r: peak height over √2 × rms of the antisymmetric part about the peak."""
    n = ccf.size
    k = np.arange(1, n)
    left, right = j - k, j + k
    ok = (left >= 0) & (right < n)
    if ok.sum() < 2:
        return np.nan
    anti = ccf[right[ok]] - ccf[left[ok]]
    sigma_a = np.sqrt(np.mean(anti**2)) / 2.0  # rms of a(k) = (c(j+k) - c(j-k)) / 2
    return float(ccf[j] / (np.sqrt(2.0) * sigma_a)) if sigma_a > 0 else np.inf
