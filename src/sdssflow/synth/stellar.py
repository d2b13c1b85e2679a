"""A toy stellar model in the spirit of BOSZ: continuum and absorption lines vs Teff, log g, [M/H].

This is not a model atmosphere: it is a smooth, deterministic function that behaves like
one where the workflow looks (colours, Balmer, Ca II, Mg b, Na D and metal-line strengths,
a Balmer jump), so that template matching and flux calibration have something real to
recover. Surface flux F (erg/s/cm2/A) at vacuum wavelength lambda::

    F(lambda) = C(lambda) * [G_inst * max(1 - sum_i W_i V(lambda - lambda_i; sigma_i, gamma_i), 0.03)]

- C: pi B_lambda(Teff) with a Balmer jump below 3646 A (stronger for hotter stars and
  lower gravity) and an ultraviolet metal-blanketing drop;
- lines i: equivalent width W_i (A) scaling with Teff, log g and [M/H]; V is the
  area-normalised Voigt profile (Gaussian sigma_i = 3 km/s intrinsic, Lorentzian HWHM
  gamma_i); the 0.03 floor (saturation) acts on this intrinsic spectrum;
- G_inst: the instrument's Gaussian line spread sigma_inst(lambda), applied last.

Because the floor is applied before the instrument, the model at resolution R1 smoothed
to R2 < R1 equals the model evaluated at R2, so BOSZ-like R=10000 templates and the
BOSS-resolution demo stars are consistent, and every instrumental spectrum is
band-limited by its line spread (as real spectra are).

Line wavelengths are vacuum (NIST values converted from air): Balmer series, Ca II H&K and
the infrared triplet, Mg b, Na D; the "metal forest" is a fixed pseudo-random line list
(seed :data:`FOREST_SEED`, independent of the survey seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.special import voigt_profile

from sdssflow.constants import C_CM_PER_S, C_KMS, H_CGS, K_CGS

__all__ = [
    "C_KMS",
    "FOREST_SEED",
    "StarParams",
    "bosz_wave_grid",
    "continuum_flux",
    "surface_flux",
    "strong_lines",
    "metal_forest",
]

#: Seed of the fixed metal-line list.
FOREST_SEED = 19700101

_H, _C, _K = H_CGS, C_CM_PER_S, K_CGS
_BALMER_LIMIT = 3646.0
_FLOOR = 0.03
_MICRO_KMS = 3.0  # intrinsic (thermal + micro-turbulent) Gaussian sigma, km/s
_FINE_DLN = 1.5 / C_KMS  # internal intrinsic-resolution grid step, ln(lambda) (1.5 km/s)
_NSIGMA_LSF = 5.0  # line-spread kernels are truncated at 5 sigma

#: Strong lines (vacuum A): name -> (wavelength, family).
STRONG = {
    "H_alpha": (6564.61, "balmer"),
    "H_beta": (4862.68, "balmer"),
    "H_gamma": (4341.69, "balmer"),
    "H_delta": (4102.89, "balmer"),
    "H_epsilon": (3971.20, "balmer"),
    "H8": (3890.17, "balmer"),
    "H9": (3836.49, "balmer"),
    "H10": (3798.98, "balmer"),
    "CaII_K": (3934.78, "cahk"),
    "CaII_H": (3969.59, "cahk"),
    "CaT_8500": (8500.36, "cat"),
    "CaT_8544": (8544.44, "cat"),
    "CaT_8664": (8664.52, "cat"),
    "Mg_b1": (5185.05, "mgb"),
    "Mg_b2": (5174.13, "mgb"),
    "Mg_b4": (5168.76, "mgb"),
    "Na_D2": (5891.58, "nad"),
    "Na_D1": (5897.56, "nad"),
    "Brackett_11": (16811.1, "brackett"),
    "Brackett_12": (16411.7, "brackett"),
    "Brackett_13": (16113.7, "brackett"),
    "Brackett_14": (15884.9, "brackett"),
}


@dataclass(frozen=True)
class StarParams:
    """Stellar parameters of a demo star.

    Attributes
    ----------
    teff : float
        Effective temperature, K.
    logg : float
        log10 surface gravity, cgs.
    feh : float
        [M/H], dex.
    """

    teff: float
    logg: float
    feh: float


def bosz_wave_grid(resolution: int = 10000) -> np.ndarray:
    """The BOSZ 2024 wavelength grid: lambda_i = exp(ln 500 + i ln(640) / (15 R)), i < 15 R.

    Returns
    -------
    numpy.ndarray, float64, (15 R,)
        Angstrom (BOSZ labels them air above 2000 A).

    Examples
    --------
    >>> w = bosz_wave_grid(10000)
    >>> w.size, round(float(w[0]), 3), round(float(w[1]), 4)
    (150000, 500.0, 500.0215)
    """
    n = 15 * int(resolution)
    return np.exp(np.log(500.0) + np.arange(n) * np.log(640.0) / n)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(x))


def continuum_flux(wave: np.ndarray, params: StarParams) -> np.ndarray:
    """Continuum surface flux C(lambda), erg/s/cm2/A, at vacuum wavelengths ``wave`` (A).

    pi B_lambda(Teff) times a Balmer jump (depth 0.15-0.45, larger for hot, low-gravity
    stars) and an ultraviolet blanketing factor exp(-(3000 A / lambda)^4 10^[M/H] 0.3).
    """
    wave = np.asarray(wave, dtype=np.float64)
    lam = wave * 1e-8
    with np.errstate(over="ignore"):
        planck = 2 * _H * _C**2 / lam**5 / np.expm1(_H * _C / (lam * _K * params.teff)) * 1e-8
    strength = np.clip((params.teff - 4000.0) / 5000.0, 0.05, 1.0) * (
        1.0 + 0.15 * (4.0 - params.logg)
    )
    jump = 1.0 - 0.45 * np.clip(strength, 0.0, 1.0) * _smoothstep((_BALMER_LIMIT - wave) / 15.0)
    blanket = np.exp(-((3000.0 / wave) ** 4) * 0.3 * 10.0**params.feh)
    return np.pi * planck * jump * blanket


def strong_lines(params: StarParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wavelengths (vacuum A), equivalent widths (A) and Lorentzian HWHM (A) of the strong lines."""
    t, g, m = params.teff, params.logg, params.feh
    hot = np.clip((t - 4000.0) / 4000.0, 0.05, 1.2)
    waves, ews, gammas = [], [], []
    for name, (wl, fam) in STRONG.items():
        if fam == "balmer":
            order = {"H_alpha": 1.0, "H_beta": 1.0, "H_gamma": 0.9, "H_delta": 0.8}.get(name, 0.6)
            ew = order * (1.0 + 7.0 * hot) * (1.0 + 0.08 * (g - 4.0))
            gamma = 0.18 * ew
        elif fam == "cahk":
            ew = 5.0 * 10 ** (0.3 * m) * (6500.0 / t) ** 2 * (1.0 if name == "CaII_K" else 0.8)
            gamma = 0.35 * ew
        elif fam == "cat":
            ew = (
                1.4
                * 10 ** (0.3 * m)
                * (1.0 + 0.25 * (4.5 - g))
                * (0.7 if name == "CaT_8500" else 1.0)
            )
            gamma = 0.25 * ew
        elif fam == "mgb":
            ew = 0.9 * 10 ** (0.4 * m) * (5800.0 / t) ** 2.5 * (1.0 + 0.2 * (g - 4.0))
            gamma = 0.15 * ew
        elif fam == "nad":
            ew = 0.8 * 10 ** (0.4 * m) * (5800.0 / t) ** 3 * (1.0 + 0.2 * (g - 4.0))
            gamma = 0.15 * ew
        else:  # brackett (H band)
            ew = 0.4 * (1.0 + 2.0 * hot)
            gamma = 0.3 * ew
        waves.append(wl)
        ews.append(max(ew, 0.01))
        gammas.append(max(gamma, 0.01))
    return np.array(waves), np.array(ews), np.array(gammas)


@lru_cache(maxsize=1)
def _forest_lines() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed metal-line list: wavelength (A), base EW (A), excitation index, ion flag."""
    rng = np.random.default_rng(FOREST_SEED)
    optical = np.exp(rng.uniform(np.log(3000.0), np.log(10500.0), 3000))
    nir = np.exp(rng.uniform(np.log(10500.0), np.log(25000.0), 500))
    hband = rng.uniform(15100.0, 17000.0, 400)
    wave = np.sort(np.concatenate([optical, nir, hband]))
    base = np.exp(rng.uniform(np.log(0.02), np.log(0.3), wave.size)) * (wave / 5000.0) ** 0.5
    chi = rng.uniform(0.0, 4.0, wave.size)
    ion = rng.uniform(size=wave.size) < 0.3
    return wave, base, chi, ion


def metal_forest(params: StarParams) -> tuple[np.ndarray, np.ndarray]:
    """Wavelengths (vacuum A) and equivalent widths (A) of the metal lines of a star.

    EW = base 10^[M/H] (5500 / Teff)^(1 + 0.6 chi), ions scaled by 10^(-0.25 (log g - 4.5)),
    saturated softly at 0.35 A (curve of growth).
    """
    wave, base, chi, ion = _forest_lines()
    ew = base * 10.0**params.feh * (5500.0 / params.teff) ** (1.0 + 0.6 * chi)
    ew = np.where(ion, ew * 10.0 ** (-0.25 * (params.logg - 4.5)), ew)
    ew = 0.35 * np.tanh(ew / 0.35)
    return wave, ew


def _line_factor(wave: np.ndarray, params: StarParams, doppler: float) -> np.ndarray:
    """max(1 - sum_i W_i V_i, floor) at intrinsic resolution (micro-turbulence only).

    ``wave`` (vacuum A, increasing) must sample the intrinsic line width (sigma 3 km/s):
    :func:`surface_flux` calls it on a 1.5 km/s grid when an instrument is given.
    """
    absorb = np.zeros_like(wave)
    lo, hi = wave[0], wave[-1]
    # strong lines: full Voigt wings over the whole range
    sw, sew, sgam = strong_lines(params)
    sw = sw * doppler
    keep = (sw > lo - 200.0) & (sw < hi + 200.0)
    for wl, ew, gam in zip(sw[keep], sew[keep], sgam[keep]):
        sig = wl * _MICRO_KMS / C_KMS
        # Lorentzian wings everywhere (the Voigt profile tends to it for |x| >> sigma), the
        # exact Voigt profile within 40 sigma + 20 gamma of the centre
        dx = wave - wl
        absorb += ew * (gam / np.pi) / (dx * dx + gam * gam)
        i0, i1 = np.searchsorted(wave, [wl - 40 * sig - 20 * gam, wl + 40 * sig + 20 * gam])
        if i1 > i0:
            core = dx[i0:i1]
            absorb[i0:i1] += ew * (
                voigt_profile(core, sig, gam) - (gam / np.pi) / (core * core + gam * gam)
            )
    # metal forest: Gaussians evaluated in a +-6 sigma window (vectorised)
    fw, few = metal_forest(params)
    fw = fw * doppler
    keep = (fw > lo - 20.0) & (fw < hi + 20.0)
    fw, few = fw[keep], few[keep]
    if fw.size:
        sig = fw * _MICRO_KMS / C_KMS
        centre = np.clip(np.searchsorted(wave, fw), 0, wave.size - 1)
        step = np.gradient(wave)[centre]
        half = int(np.ceil(6.0 * np.max(sig / step))) + 1
        idx = centre[:, None] + np.arange(-half, half + 1)[None, :]
        valid = (idx >= 0) & (idx < wave.size)
        idx = np.clip(idx, 0, wave.size - 1)
        x = (wave[idx] - fw[:, None]) / sig[:, None]
        prof = np.where(valid, np.exp(-0.5 * x * x) / (np.sqrt(2 * np.pi) * sig[:, None]), 0.0)
        np.add.at(absorb, idx.ravel(), (few[:, None] * prof).ravel())
    return np.maximum(1.0 - absorb, _FLOOR)


def _gaussian_gather(x: np.ndarray, values: np.ndarray, x_out: np.ndarray, sigma: np.ndarray):
    """Gaussian smoothing of ``values`` on the uniform grid ``x`` evaluated at ``x_out``.

    out_i = sum_j g_ij values_j / sum_j g_ij, g_ij = exp(-(x_j - x_out_i)^2 / (2 sigma_i^2)),
    over |x_j - x_out_i| < 5 max(sigma); ``sigma`` per output point (same unit as x).
    """
    dx = x[1] - x[0]
    half = int(np.ceil(_NSIGMA_LSF * np.max(sigma) / dx)) + 1
    taps = np.arange(-half, half + 1)
    out = np.empty(x_out.size)
    chunk = max(1, 4_000_000 // taps.size)
    for a in range(0, x_out.size, chunk):
        xo, so = x_out[a : a + chunk], sigma[a : a + chunk]
        idx = np.rint((xo - x[0]) / dx).astype(np.int64)[:, None] + taps[None, :]
        idx = np.clip(idx, 0, x.size - 1)
        g = np.exp(-0.5 * ((x[idx] - xo[:, None]) / so[:, None]) ** 2)
        out[a : a + chunk] = np.einsum("ij,ij->i", g, values[idx]) / g.sum(axis=1)
    return out


def surface_flux(
    wave: np.ndarray,
    params: StarParams,
    sigma_inst=None,
    v_rad: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Surface flux and continuum of the toy model at (observed) vacuum wavelengths.

    The line spectrum max(1 - sum_i W_i V_i, 0.03) is built at intrinsic resolution
    (Gaussian sigma 3 km/s) and only then convolved with the instrument: saturated cores
    are flattened before the instrument blurs them, as in a real spectrograph. (Until
    2026-11 the floor was applied after the instrumental broadening, which gave saturated
    Balmer, Ca II and Na D lines flat bottoms with sharp corners at BOSS resolution: a
    spectrum that is not band-limited, that the R=10000 BOSZ-like templates smoothed to
    BOSS resolution could not match, and that the damped-sinc resampler of the MWM chain
    rang on, biasing BOSS RVs by up to several km/s per fibre and camera.)

    With ``sigma_inst`` the intrinsic spectrum is computed on an internal grid uniform in
    ln lambda (step 1.5 km/s, covering ``wave`` plus the kernel) and the Gaussian line
    spread sigma_inst(lambda_i) is applied at every requested wavelength lambda_i (a
    "gather" convolution, exact for a slowly varying sigma; done as a constant Gaussian
    of 0.7 min(sigma) followed by the gather of the remainder on a decimated grid). The continuum is multiplied after the
    convolution (it is smooth on the scale of the line spread). Smoothing the model at R1
    to R2 < R1 therefore gives the model at R2.

    Parameters
    ----------
    wave : numpy.ndarray, (nwave,)
        Vacuum wavelength, Angstrom, increasing.
    params : StarParams
        Teff (K), log g (cgs), [M/H] (dex).
    sigma_inst : callable or float, optional
        Instrumental Gaussian sigma in Angstrom, as a function of the observed wavelength
        (vectorised) or a constant; None means no instrumental broadening (the intrinsic
        spectrum point-sampled at ``wave``).
    v_rad : float
        Radial velocity, km/s: line centres and continuum move to lambda (1 + v/c).

    Returns
    -------
    flux, continuum : numpy.ndarray, float64, (nwave,)
        Surface flux F and its continuum, erg/s/cm2/A (per unit stellar surface).

    Raises
    ------
    ValueError
        If ``sigma_inst`` is not positive and finite at every wavelength.

    Examples
    --------
    >>> w = np.linspace(6500.0, 6620.0, 1201)
    >>> f, c = surface_flux(w, StarParams(6500.0, 4.2, 0.0), sigma_inst=1.3)
    >>> bool((f / c)[np.argmin(np.abs(w - 6564.61))] < 0.7)
    True
    """
    wave = np.asarray(wave, dtype=np.float64)
    doppler = 1.0 + v_rad / C_KMS
    cont = continuum_flux(wave / doppler, params)
    if sigma_inst is None:
        return cont * _line_factor(wave, params, doppler), cont
    if callable(sigma_inst):
        sig = np.asarray(sigma_inst(wave), dtype=np.float64) * np.ones_like(wave)
    else:
        sig = np.full_like(wave, float(sigma_inst))
    if not np.all(np.isfinite(sig) & (sig > 0)):
        raise ValueError(
            f"sigma_inst must be positive and finite, got range {sig.min()}..{sig.max()} A"
        )
    ln_out = np.log(wave)
    sig_ln = sig / wave
    # G(sigma) = G(sigma0) * G(sqrt(sigma^2 - sigma0^2)): a constant pre-smoothing (one
    # filter pass) lets the per-wavelength gather run on a grid decimated by ``step``
    # (sigma0 / 2 per sample; equal to the direct gather to 4e-6 relative)
    sigma0 = 0.7 * float(sig_ln.min())
    step = max(1, int(sigma0 / (2.0 * _FINE_DLN)))
    margin = _NSIGMA_LSF * float(sig_ln.max()) + 2 * _FINE_DLN
    x = np.arange(ln_out.min() - margin, ln_out.max() + margin, _FINE_DLN)
    rect = _line_factor(np.exp(x), params, doppler)
    if step > 1:
        rect = gaussian_filter1d(rect, sigma0 / _FINE_DLN, mode="nearest", truncate=6.0)
        x, rect = x[::step], rect[::step]
        sig_ln = np.sqrt(sig_ln**2 - sigma0**2)
    return cont * _gaussian_gather(x, rect, ln_out, sig_ln), cont
