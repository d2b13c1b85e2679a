"""Synthetic MWM inputs with known truth, for tests and benchmarks.

Stars are :func:`sdssflow.mwm.nmf_training.line_forest_library` spectra times a smooth
continuum, Doppler-shifted, sampled on the BOSS grid (barycentric) or on three APOGEE
chips of 4096 pixels (observed frame), with Gaussian noise of a given S/N per pixel.
"""

from __future__ import annotations

import numpy as np

from sdssflow.constants import C_KMS
from sdssflow.io.mwm_grids import BOSS
from sdssflow.mwm.build import ApogeeVisit, BossVisit
from sdssflow.mwm.nmf_training import LINE_SEED, RESOLUTION, line_forest_library
from sdssflow.mwm.rv import TemplateLibrary, prepare_templates

__all__ = [
    "FINE_BOSS",
    "star_fine",
    "rv_library",
    "boss_visit",
    "apogee_visit",
    "LINE_SEED",
    "APOGEE_CHIPS",
]

#: Fine rest-frame grid (1e-5 dex) covering the BOSS range, Å.
FINE_BOSS = 10 ** np.arange(np.log10(3500.0), np.log10(10500.0), 1e-5)
#: Chip ranges of apVisit (Å, observed): blue, green, red.
APOGEE_CHIPS = ((15140.0, 15810.0), (15858.0, 16433.0), (16474.0, 16955.0))


def star_fine(
    params, wave: np.ndarray = FINE_BOSS, resolution: float = RESOLUTION["boss"]
) -> np.ndarray:
    """Rectified spectrum of a star (teff, logg, fe_h) at ``resolution`` on ``wave``, shape (n,).

    Built exactly as the stand-in NMF training spectra (:func:`line_forest_library` at the
    instrument resolution), so the basis can represent it.
    """
    return line_forest_library(wave, np.atleast_2d(params), resolution, seed=LINE_SEED)[0]


def rv_library(params=None) -> TemplateLibrary:
    """Template library on the BOSS grid step from the same line list as :func:`star_fine`."""
    if params is None:
        params = np.array(
            [
                [t, g, f]
                for t in (4000, 4750, 5500, 6250, 7000, 8500)
                for g in (2.0, 4.5)
                for f in (-1.0, 0.0)
            ]
        )
    rect = line_forest_library(FINE_BOSS, params, RESOLUTION["boss"], seed=LINE_SEED)
    return prepare_templates(FINE_BOSS, rect, params, BOSS.cdelt, None)


def _continuum(wave, level):
    return level * (
        1 + 0.25 * np.sin(2 * np.pi * wave / 9000.0) + 0.1 * np.cos(2 * np.pi * wave / 3000.0)
    )


def boss_visit(rect_fine, v_kms, snr, rng, meta=None, level=100.0) -> BossVisit:
    """A BOSS visit of a star with rest spectrum ``rect_fine`` (on :data:`FINE_BOSS`) at ``v_kms``.

    The noise σ = continuum / snr, so the per-pixel S/N in the continuum is ``snr``.
    """
    w = BOSS.wavelength
    cont = _continuum(w, level)
    clean = np.interp(w / (1 + v_kms / C_KMS), FINE_BOSS, rect_fine) * cont
    sigma = cont / snr
    flux = clean + rng.normal(0.0, sigma)
    ivar = 1.0 / sigma**2
    meta = {"telescope": "apo25m", "mjd": 59000, **(meta or {})}
    return BossVisit(meta, flux, ivar, np.zeros(w.size, np.int64), w / 2000.0 / 2.3548 * 2.3548)


def apogee_visit(params, v_rel, snr, rng, meta=None, level=300.0) -> ApogeeVisit:
    """An apVisit-like visit (3 chips × 4096 px, observed frame) of a star at topocentric ``v_rel``."""
    lo, hi = APOGEE_CHIPS[0][0] - 30, APOGEE_CHIPS[-1][1] + 30
    fine = 10 ** np.arange(np.log10(lo), np.log10(hi), 1e-6)
    rest = star_fine(params, fine, RESOLUTION["apogee"])
    chips = []
    for a, b in APOGEE_CHIPS:
        wave = np.linspace(a, b, 4096)
        cont = _continuum(wave, level)
        sigma = cont / snr
        flux = np.interp(wave / (1 + v_rel / C_KMS), fine, rest) * cont + rng.normal(0, sigma)
        chips.append((wave, flux, 1.0 / sigma**2, np.zeros(4096, np.int64)))
    meta = {
        "telescope": "apo25m",
        "mjd": 59000,
        "snr": float(snr),
        "v_rel": float(v_rel),
        "spectrum_flags": 0,
        **(meta or {}),
    }
    return ApogeeVisit(meta, chips=chips)
