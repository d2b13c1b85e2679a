"""Per-pixel spectral fit of the sky-brightness model: the joint terms of the lines and bands
(:func:`spectral_terms`) and a WLS fit of every pixel of the common grid (:func:`fit_spectra`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sdssflow.sky.model import _MAX_COND, _ROWS_PER_TERM, ALWAYS, TERM_NAMES, _normal, _solve
from sdssflow.sky.model_terms import term_features

__all__ = ["spectral_terms", "fit_spectra"]


def spectral_terms(
    cond: Mapping[str, np.ndarray], wave: np.ndarray, selected: Sequence[str], n_probe: int = 5
) -> list[str]:
    """The terms of the per-pixel spectral fit, from the terms selected per target.

    Parameters
    ----------
    cond : mapping column -> numpy.ndarray, shape (n,)
        Conditions of the spectra.
    wave : numpy.ndarray, shape (npix,)
        Grid, Angstrom (the design is checked at ``n_probe`` pixels spanning it).
    selected : sequence of str
        The ``TERMS`` strings of the targets (space-separated term names).
    n_probe : int
        Pixels at which the joint design is checked.

    Returns
    -------
    list of str
        In :data:`TERM_NAMES` order: ``airglow`` (if selected) then the other selected terms by
        decreasing number of targets that chose them (ties in :data:`TERM_NAMES` order), each
        kept only if the column-scaled normal matrix of the kept terms, on the rows with finite
        features, has condition number below 1e10 at every probed pixel and ``n >= 3 p``.
    """
    votes = {t: sum(t in str(s).split() for s in selected) for t in TERM_NAMES}
    order = sorted(
        (t for t in TERM_NAMES if votes[t]),
        key=lambda t: (t not in ALWAYS, -votes[t], TERM_NAMES.index(t)),
    )
    wave = np.asarray(wave, dtype=float)
    probe = (
        wave[np.unique(np.linspace(0, wave.size - 1, max(1, n_probe)).round().astype(int))]
        if wave.size
        else wave
    )
    kept: list[str] = []
    for t in order:
        trial = kept + [t]
        x = term_features(cond, trial, probe)  # (n, p, m)
        ok = True
        for k in range(probe.size):
            xk = x[:, :, k]
            rows = np.all(np.isfinite(xk), axis=1)
            if rows.sum() < _ROWS_PER_TERM * len(trial):
                ok = False
                break
            a, _, _ = _normal(xk[rows], np.zeros(rows.sum()), np.ones(rows.sum()))
            if _solve(a, np.zeros(len(trial))) is None:
                ok = False
                break
        if ok:
            kept = trial
    return [t for t in TERM_NAMES if t in kept]


def fit_spectra(
    cond, wave, flux, ivar, terms: Sequence[str], max_elements: float = 2e7
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel WLS of spectra on the terms (see the module docstring).

    Parameters
    ----------
    cond : mapping column -> numpy.ndarray, shape (n,)
    wave : numpy.ndarray, shape (npix,)
        Grid, Angstrom.
    flux, ivar : numpy.ndarray, shape (n, npix)
        Spectra per arcsec2 and their ivar.
    terms : sequence of str
    max_elements : float
        Pixels are processed in chunks of at most this many feature values.

    Returns
    -------
    coeff, var : numpy.ndarray, shape (nterm, npix)
        Coefficients and their variances; NaN where a pixel has too few rows or an ill-posed fit.
    """
    n, npix = flux.shape
    p = len(terms)
    coeff = np.full((p, npix), np.nan)
    var = np.full((p, npix), np.nan)
    if p == 0 or n == 0:
        return coeff, var
    chunk = max(1, int(max_elements // max(1, n * p)))
    for start in range(0, npix, chunk):
        sl = slice(start, min(npix, start + chunk))
        x = term_features(cond, terms, wave[sl])  # (n, p, m)
        f = np.asarray(flux[:, sl], dtype=float)
        w = np.where(
            np.isfinite(f) & np.all(np.isfinite(x), axis=1),
            np.asarray(ivar[:, sl], dtype=float),
            0.0,
        )
        f = np.where(w > 0, f, 0.0)
        x = np.where(np.isfinite(x), x, 0.0)
        a = np.einsum("npm,nqm,nm->mpq", x, x, w)
        b = np.einsum("npm,nm,nm->mp", x, w, f)
        nobs = (w > 0).sum(axis=0)
        d = np.sqrt(np.clip(np.einsum("mpp->mp", a), 1e-300, None))
        an = a / (d[:, :, None] * d[:, None, :])
        good = (nobs > p + 1) & np.all(np.isfinite(an), axis=(1, 2))
        good[good] &= np.linalg.cond(an[good]) < _MAX_COND
        if not good.any():
            continue
        inv = np.linalg.inv(an[good]) / (d[good][:, :, None] * d[good][:, None, :])
        beta = np.einsum("mpq,mq->mp", inv, b[good])
        resid = f[:, good] - np.einsum("npm,mp->nm", x[:, :, good], beta)
        s2 = np.sum(w[:, good] * resid**2, axis=0) / (nobs[good] - p)
        idx = np.arange(sl.start, sl.stop)[good]
        coeff[:, idx] = beta.T
        var[:, idx] = (np.einsum("mpp->mp", inv) * s2[:, None]).T
    return coeff, var
