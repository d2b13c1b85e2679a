"""Training of the NMF continuum basis H of :mod:`sdssflow.mwm.continuum`.

The synthetic line-forest template library and multiplicative-update NMF on absorption depths.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

__all__ = ["line_forest_library", "train_nmf_basis", "RESOLUTION", "LINE_SEED", "synthetic_basis"]


def line_forest_library(
    wave: np.ndarray, params: np.ndarray, resolution: float, seed: int = 1
) -> np.ndarray:
    """Rectified synthetic stellar spectra: a fixed absorption-line forest (stand-in library).

    The line list (positions uniform in ln λ over 3000-18000 Å, log-normal strengths,
    temperature sensitivities) is drawn once from ``seed`` and does not depend on ``wave``,
    so spectra on different grids show the same lines. Each spectrum scales the strengths
    with (teff, logg, fe_h) and adds hydrogen lines (Balmer, Paschen, Brackett series,
    vacuum Rydberg wavelengths) whose strength peaks near 9000 K. The optical depth is
    smoothed to ``resolution`` and the flux is exp(-τ).

    Parameters
    ----------
    wave : ndarray, shape (npix,)
        Wavelengths, Å vacuum, uniform in ln λ.
    params : ndarray, shape (n, 3)
        teff (K), logg (dex), fe_h (dex).
    resolution : float
        Resolving power of the lines (Gaussian FWHM = λ / R).
    seed : int
        Seed of the line list.

    Returns
    -------
    ndarray, shape (n, npix)
        Rectified flux in (0, 1].
    """
    wave = np.asarray(wave, dtype=float)
    params = np.atleast_2d(np.asarray(params, dtype=float))
    rng = np.random.default_rng(seed)
    n_lines = 4000
    lam = np.exp(rng.uniform(np.log(3000.0), np.log(18000.0), n_lines))
    strength = rng.lognormal(-2.5, 1.0, n_lines)
    chi = rng.uniform(-1.0, 2.0, n_lines)  # temperature sensitivity
    loglam = np.log(wave)
    dln = loglam[1] - loglam[0]
    inside = (lam > wave[0]) & (lam < wave[-1])
    pix = (np.log(lam[inside]) - loglam[0]) / dln
    strength, chi = strength[inside], chi[inside]
    rydberg = 1.09678e-3  # hydrogen Rydberg constant, 1/Å (vacuum)
    hydrogen = np.array(
        [
            1.0 / (rydberg * (1.0 / n1**2 - 1.0 / n2**2))
            for n1 in (2, 3, 4)
            for n2 in range(n1 + 1, n1 + 20)
        ]
    )
    hpix = (np.log(hydrogen) - loglam[0]) / dln
    hpix = hpix[(hpix > -50) & (hpix < wave.size + 50)]
    sigma = 1.0 / (resolution * 2.3548 * dln)
    x = np.arange(wave.size)
    base = np.zeros(wave.size)
    lo = np.clip(np.floor(pix).astype(int), 0, wave.size - 1)
    frac = pix - np.floor(pix)
    out = np.empty((params.shape[0], wave.size))
    for i, (teff, logg, feh) in enumerate(params):
        depth = (
            strength * 10**feh * np.exp(-chi * (teff - 5500.0) / 1500.0) * (1 + 0.05 * (logg - 4.0))
        )
        tau = base.copy()
        np.add.at(tau, lo, depth * (1 - frac))  # linear deposit keeps sub-pixel positions
        np.add.at(tau, np.clip(lo + 1, 0, wave.size - 1), depth * frac)
        tau = gaussian_filter1d(tau, sigma) * sigma * np.sqrt(2 * np.pi)
        hdepth = 0.6 * np.exp(-(((teff - 9000.0) / 3500.0) ** 2))
        width = 3.0 * sigma * (1 + 0.3 * (4.5 - logg))
        for hp in hpix:
            near = slice(max(int(hp - 8 * width), 0), min(int(hp + 8 * width) + 1, wave.size))
            tau[near] += hdepth * np.exp(-0.5 * ((x[near] - hp) / width) ** 2)
        out[i] = np.exp(-tau)
    return out


def train_nmf_basis(
    depths: np.ndarray, n_components: int, n_iter: int = 300, seed: int = 0
) -> np.ndarray:
    """Non-negative basis H of absorption depths by multiplicative-update NMF (Lee & Seung).

    Parameters
    ----------
    depths : ndarray, shape (nspec, npix)
        1 - rectified flux, clipped at 0.
    n_components : int
        C.
    n_iter : int
        Multiplicative-update iterations (Frobenius loss).
    seed : int
        Seed of the random start.

    Returns
    -------
    ndarray, shape (C, npix)
        Non-negative basis, each row normalised to a maximum of 1.
    """
    X = np.clip(np.asarray(depths, dtype=float), 0.0, None)
    if X.ndim != 2 or n_components < 1 or n_components > min(X.shape):
        raise ValueError(
            f"need depths (nspec, npix) and 1 <= n_components <= {min(X.shape)}, got {n_components}"
        )
    rng = np.random.default_rng(seed)
    W = rng.uniform(0.1, 1.0, (X.shape[0], n_components))
    H = rng.uniform(0.0, X.mean() + 1e-3, (n_components, X.shape[1]))
    eps = 1e-12
    for _ in range(n_iter):
        H *= (W.T @ X) / ((W.T @ W) @ H + eps)
        W *= (X @ H.T) / (W @ (H @ H.T) + eps)
    H /= np.maximum(H.max(axis=1, keepdims=True), eps)
    return H


#: Resolving power used to build stand-in libraries on each grid.
RESOLUTION = {"boss": 2000.0, "apogee": 22500.0}


#: Seed of the stand-in line list (shared by the synthetic basis and synthetic stars).
LINE_SEED = 7


def synthetic_basis(
    instrument: str, n_components: int = 12, seed: int = 20230217, n_iter: int = 300
) -> np.ndarray:
    """Stand-in basis trained on :func:`line_forest_library` spectra (no BOSZ library at hand).

    The training set is a (teff, logg, fe_h) grid of 4000-12000 K, logg 1-5, [Fe/H] -2..+0.5
    at the instrument's resolution on its standard grid, with the line list of
    :data:`LINE_SEED`; ``seed`` sets the NMF start. Deterministic.

    Returns
    -------
    ndarray, shape (n_components, npix)
    """
    from sdssflow.io.mwm_grids import GRIDS

    grid = GRIDS[instrument]
    params = np.array(
        [
            [t, g, f]
            for t in np.linspace(4000, 12000, 7)
            for g in (1.5, 3.5, 5.0)
            for f in (-1.5, -0.5, 0.3)
        ]
    )
    rect = line_forest_library(grid.wavelength, params, RESOLUTION[instrument], seed=LINE_SEED)
    return train_nmf_basis(1.0 - rect, n_components, n_iter=n_iter, seed=seed)
