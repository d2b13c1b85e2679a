"""Sky-brightness model: weighted least squares of line sums, continuum bands and spectra on the
observing conditions (:mod:`sdssflow.sky.model_terms`), with the Krisciunas-Schaefer baseline.

Per target (a line sum or a continuum band of the mean sky spectra, per arcsec2):

* **Terms** are chosen by forward selection on the Bayesian information criterion as statsmodels
  defines it for WLS, ``BIC = n log(WRSS / n) + p log n`` (+ a constant): starting from
  ``airglow`` (always kept), the term that lowers BIC most is added until none does. A term is
  not a candidate if its column is zero on every row or if it makes the scaled normal matrix
  ill-conditioned (condition number > 1e10), and the fit keeps at least 3 rows per term, so a
  small survey (the demo) falls back to fewer terms by the same rule.
* **Fit**: ``statsmodels.api.WLS`` with weights ``ivar`` and heteroskedasticity-robust HC3
  standard errors (HC0 if a row has leverage 1).
* **Cross-validation** holds out whole nights (MJD): ``min(5, n_nights)`` folds of nights,
  term selection redone inside each fold. ``CV_RMS`` is the RMS held-out residual (target
  units), ``CV_NRMS`` the RMS of residual x sqrt(ivar) (1 = the measurement noise).
* **Baseline**: ``dark + moon`` (a constant plus the Krisciunas-Schaefer moonlight), fitted by
  the same WLS on the same rows and cross-validated on the same folds.

Spectra: every pixel of the common grid is fitted by WLS (its own ivar as weights) on the terms
selected for the lines and bands (:func:`sdssflow.sky.model_spectra.spectral_terms`: ``airglow`` first, then by how many
targets chose them, each kept only if the joint design stays well-conditioned and at least 3 rows
per term remain, since terms each well-posed alone can be collinear together on few nights), with
per-pixel extinction in the terms; the coefficient variances are ``diag((X'WX)^-1) WRSS / (n - p)``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
from astropy.table import Table

from sdssflow.sky.model_terms import BASELINE_TERMS, MODEL_TERMS, TERMS, term_features

__all__ = ["ALWAYS", "select_terms", "fit_wls", "night_folds", "fit_target", "fit_targets"]

log = logging.getLogger(__name__)

#: Terms every model keeps.
ALWAYS = ("airglow",)
TERM_NAMES = tuple(TERMS)
_MAX_COND = 1e10
_ROWS_PER_TERM = 3


def _normal(x, y, w):
    xw = x * w[:, None]
    return xw.T @ x, xw.T @ y, float(np.sum(w * y * y))


def _solve(a, b):
    """Solve a small SPD system with column scaling; None if ill-conditioned."""
    d = np.sqrt(np.clip(np.diag(a), 1e-300, None))
    an = a / np.outer(d, d)
    if not np.all(np.isfinite(an)) or np.linalg.cond(an) > _MAX_COND:
        return None
    return np.linalg.solve(an, b / d) / d


def _bic(wrss, n, p):
    return n * np.log(max(wrss, 1e-300) / n) + p * np.log(n)


def select_terms(x: np.ndarray, y: np.ndarray, w: np.ndarray, names: Sequence[str], always: Sequence[str] = ALWAYS) -> list[int]:
    """Forward selection of columns of ``x`` by BIC (see the module docstring).

    Parameters
    ----------
    x : numpy.ndarray, shape (n, p)
        Term values.
    y, w : numpy.ndarray, shape (n,)
        Target and weights (ivar).
    names : sequence of str, length p
        Term names.
    always : sequence of str
        Terms kept regardless (those present in ``names``).

    Returns
    -------
    list of int
        Selected column indices, in order of selection.
    """
    xtx, xty, yty = _normal(x, y, w)
    return _select(xtx, xty, yty, y.size, np.any(x != 0, axis=0), names, always)


def _select(xtx, xty, yty, n, nonzero, names, always=ALWAYS) -> list[int]:
    """:func:`select_terms` from the normal equations (X'WX, X'Wy, y'Wy, n, nonzero columns)."""
    chosen = [i for i, nm in enumerate(names) if nm in always and nonzero[i]]

    def score(idx):
        if not idx:
            return _bic(yty, n, 0)
        b = _solve(xtx[np.ix_(idx, idx)], xty[idx])
        if b is None:
            return None
        wrss = yty - 2 * b @ xty[idx] + b @ xtx[np.ix_(idx, idx)] @ b
        return _bic(wrss, n, len(idx))

    best = score(chosen)
    if best is None:
        chosen, best = [], score([])
    candidates = [i for i in range(len(names)) if i not in chosen and nonzero[i]]
    while candidates and n >= _ROWS_PER_TERM * (len(chosen) + 1):
        trial = [(score(chosen + [c]), c) for c in candidates]
        trial = [(s, c) for s, c in trial if s is not None]
        if not trial:
            break
        s, c = min(trial)
        if s >= best:
            break
        best = s
        chosen.append(c)
        candidates.remove(c)
    return chosen


def fit_wls(x: np.ndarray, y: np.ndarray, w: np.ndarray):
    """statsmodels WLS with HC3 robust covariance (HC0 when a leverage is 1).

    Returns
    -------
    params : numpy.ndarray, shape (p,)
    cov : numpy.ndarray, shape (p, p)
    stats : dict
        ``BIC``, ``R2`` (weighted), ``COVTYPE``.
    """
    import statsmodels.api as sm

    model = sm.WLS(y, x, weights=w)
    res = model.fit(cov_type="HC3")
    cov = np.asarray(res.cov_params())
    covtype = "HC3"
    if not np.all(np.isfinite(cov)):
        res = model.fit(cov_type="HC0")
        cov = np.asarray(res.cov_params())
        covtype = "HC0"
    return np.asarray(res.params), cov, {"BIC": float(res.bic), "R2": float(res.rsquared), "COVTYPE": covtype}


def night_folds(nights: np.ndarray, max_folds: int = 5) -> np.ndarray:
    """Fold number of every row, whole nights per fold (nights sorted, dealt round-robin).

    Returns
    -------
    numpy.ndarray of int, shape (n,)
        -1 for every row when there are fewer than 2 nights (no cross-validation).
    """
    uniq = np.unique(nights)
    if uniq.size < 2:
        return np.full(np.shape(nights), -1)
    nf = min(max_folds, uniq.size)
    fold_of = {u: i % nf for i, u in enumerate(uniq)}
    return np.array([fold_of[v] for v in np.asarray(nights)])


def _cv(x, y, w, folds, names, select):
    """Held-out predictions per fold; the training normal equations are the total minus the fold's."""
    pred = np.full(y.size, np.nan)
    uniq = np.unique(folds[folds >= 0])
    stats = {f: _normal(x[folds == f], y[folds == f], w[folds == f]) for f in uniq}
    nz = {f: np.any(x[folds == f] != 0, axis=0) for f in uniq}
    counts = {f: int(np.sum(folds == f)) for f in uniq}
    total = [sum(stats[f][k] for f in uniq) for k in range(3)]
    for f in uniq:
        xtx, xty, yty = (total[k] - stats[f][k] for k in range(3))
        nonzero = np.any([nz[g] for g in uniq if g != f], axis=0)
        if select:
            idx = _select(xtx, xty, yty, y.size - counts[f], nonzero, names)
        else:  # every column that is not zero on the training rows (no Moon up: no moon term)
            idx = [i for i in range(x.shape[1]) if nonzero[i]]
        if not idx:
            continue
        b = _solve(xtx[np.ix_(idx, idx)], xty[idx])
        if b is not None:
            test = folds == f
            pred[test] = x[test][:, idx] @ b
    ok = np.isfinite(pred)
    if not ok.any():
        return np.nan, np.nan, pred
    r = y[ok] - pred[ok]
    return float(np.sqrt(np.mean(r**2))), float(np.sqrt(np.mean(w[ok] * r**2))), pred


def fit_target(cond: Mapping[str, np.ndarray], y, ivar, nights, wave: float, max_folds: int = 5) -> dict:
    """Model and baseline fits of one target.

    Parameters
    ----------
    cond : mapping column -> numpy.ndarray, shape (n,)
        Observing conditions (:data:`sdssflow.sky.model_terms.CONDITION_COLUMNS`).
    y, ivar : numpy.ndarray, shape (n,)
        Target values (per arcsec2) and inverse variances (0 = unusable row).
    nights : numpy.ndarray, shape (n,)
        Night of every row (MJD), for the cross-validation.
    wave : float
        Target wavelength, Angstrom.
    max_folds : int
        Most cross-validation folds.

    Returns
    -------
    dict
        ``TERMS`` (selected names), ``COEFF``, ``COEFF_ERR`` (length of
        :data:`sdssflow.sky.model_terms.TERMS`, 0 / NaN where unselected), ``COV`` (nterm x nterm,
        NaN outside the selected block), ``N``, ``NNIGHT``, ``BIC``, ``R2``, ``COVTYPE``, ``CV_RMS``,
        ``CV_NRMS``, ``BASE_COEFF`` (dark, moon; 0 for a term that is zero on every row, e.g. no
        Moon up), ``BASE_COEFF_ERR``, ``BASE_CV_RMS``, ``BASE_CV_NRMS``,
        ``CV_RATIO`` (model / baseline CV_RMS), ``PRED``, ``BASE_PRED`` (held-out predictions, (n,)).
    """
    y = np.asarray(y, dtype=float)
    ivar = np.asarray(ivar, dtype=float)
    nterm = len(TERM_NAMES)
    xm = term_features(cond, MODEL_TERMS, wave)
    xb = term_features(cond, BASELINE_TERMS, wave)
    ok = np.isfinite(y) & (ivar > 0) & np.all(np.isfinite(xm), axis=1) & np.all(np.isfinite(xb), axis=1)
    out = {
        "TERMS": "",
        "COEFF": np.zeros(nterm),
        "COEFF_ERR": np.full(nterm, np.nan),
        "COV": np.full((nterm, nterm), np.nan),
        "N": int(ok.sum()),
        "NNIGHT": int(np.unique(np.asarray(nights)[ok]).size),
        "BIC": np.nan,
        "R2": np.nan,
        "COVTYPE": "",
        "CV_RMS": np.nan,
        "CV_NRMS": np.nan,
        "BASE_COEFF": np.full(2, np.nan),
        "BASE_COEFF_ERR": np.full(2, np.nan),
        "BASE_CV_RMS": np.nan,
        "BASE_CV_NRMS": np.nan,
        "CV_RATIO": np.nan,
        "PRED": np.full(y.size, np.nan),
        "BASE_PRED": np.full(y.size, np.nan),
    }
    if out["N"] < 2:
        return out
    x, yy, w, nt = xm[ok], y[ok], ivar[ok], np.asarray(nights)[ok]
    idx = select_terms(x, yy, w, MODEL_TERMS)
    if idx:
        params, cov, stats = fit_wls(x[:, idx], yy, w)
        full = [TERM_NAMES.index(MODEL_TERMS[i]) for i in idx]
        out["TERMS"] = " ".join(MODEL_TERMS[i] for i in idx)
        out["COEFF"][full] = params
        out["COEFF_ERR"][full] = np.sqrt(np.diag(cov))
        out["COV"][np.ix_(full, full)] = cov
        out.update(stats)
    xbo = xb[ok]
    bcols = np.any(xbo != 0, axis=0)
    if out["N"] > bcols.sum():
        bp, bcov, _ = fit_wls(xbo[:, bcols], yy, w)
        out["BASE_COEFF"] = np.zeros(2)
        out["BASE_COEFF"][bcols] = bp
        out["BASE_COEFF_ERR"][bcols] = np.sqrt(np.diag(bcov))
    folds = night_folds(nt, max_folds)
    if np.any(folds >= 0):
        out["CV_RMS"], out["CV_NRMS"], pm = _cv(x, yy, w, folds, MODEL_TERMS, True)
        out["BASE_CV_RMS"], out["BASE_CV_NRMS"], pb = _cv(xbo, yy, w, folds, BASELINE_TERMS, False)
        out["PRED"][ok], out["BASE_PRED"][ok] = pm, pb
        if out["BASE_CV_RMS"] > 0:
            out["CV_RATIO"] = out["CV_RMS"] / out["BASE_CV_RMS"]
    return out


def fit_targets(
    cond: Mapping[str, np.ndarray], targets: Mapping[str, tuple], nights, max_folds: int = 5
) -> tuple[Table, dict[str, dict]]:
    """:func:`fit_target` for every target.

    Parameters
    ----------
    cond : mapping column -> numpy.ndarray, shape (n,)
    targets : mapping name -> (kind, wave_A, y, ivar, unit)
        ``kind`` is ``line`` or ``cont``.
    nights : numpy.ndarray, shape (n,)

    Returns
    -------
    table : astropy.table.Table
        One row per target: NAME, KIND, WAVE, UNIT and the scalar/array results of
        :func:`fit_target` (COV flattened to nterm**2).
    results : dict name -> dict
        The full results (including the held-out predictions).
    """
    rows, results = [], {}
    for name, (kind, wave, y, ivar, unit) in targets.items():
        r = fit_target(cond, y, ivar, nights, wave, max_folds)
        results[name] = r
        rows.append(
            {
                "NAME": name,
                "KIND": kind,
                "WAVE": float(wave),
                "UNIT": unit,
                **{k: (v.ravel() if k == "COV" else v) for k, v in r.items() if k not in ("PRED", "BASE_PRED")},
            }
        )
        log.info("%s: terms [%s], CV RMS %.4g vs baseline %.4g (ratio %.3f)", name, r["TERMS"], r["CV_RMS"], r["BASE_CV_RMS"], r["CV_RATIO"])
    table = Table(rows=rows) if rows else Table()
    return table, results


