"""The demo's night sky: airglow and light-pollution lines plus a moon-dependent continuum.

Lines are those of the project's sky line list (``data/sky/line_list.csv``, the list the
``line_sum`` step measures; blends inject each component), plus extra red OH lines from
``data/sky/airglow_lines.csv`` kept away from every listed window and side band, so that
``line_sum`` of a listed line measures exactly the injected flux inside its window.

Strengths in 1e-17 erg/s/cm2 per fibre (2 arcsec) at airmass 1, then per exposure:

- every line x X^0.6 (van Rhijn-like brightening with airmass);
- [O I] 6300/6364 x (1 + 1.5 exp(-h / 1.5)), h = hours since the exposure's start of night
  (the evening decay of the F-region recombination);
- [O I] 5577 and OH: a log-normal night-to-night factor (sigma 0.2, per MJD) and an
  exposure-to-exposure one (sigma 0.1);
- Hg / Na street lamps: a per-MJD factor (sigma 0.1).

Continuum (1e-17 erg/s/cm2/A per fibre): dark sky 1.1 (lambda / 5000)^0.2 x X^0.5 plus moon
light 25 I^2 sqrt(sin alt) (1 + cos^2 sep) / (0.2 + sep / 60 deg) (lambda / 5000)^-1.5 when the
moon is up (I = illuminated fraction, sep = moon-field separation). Every fibre gets its
own factor 1 + N(0, 0.01) on continuum and lines (recorded in the truth).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "SkyLine",
    "DEFAULT_LINE_LIST",
    "DEFAULT_AIRGLOW",
    "read_sky_lines",
    "SkyConditions",
    "line_strengths",
    "continuum",
    "sky_flux",
    "window_fluxes",
]

_DATA = Path(__file__).resolve().parents[3] / "data" / "sky"
DEFAULT_LINE_LIST = _DATA / "line_list.csv"
DEFAULT_AIRGLOW = _DATA / "airglow_lines.csv"

#: Base line fluxes (1e-17 erg/s/cm2 per fibre, summed over a blend's components).
BASE_FLUX = {
    "Hg4048": 2.0,
    "Hg4360": 4.0,
    "NaI4984": 1.0,
    "NI5200": 1.5,
    "Hg5462": 5.0,
    "OI5579": 45.0,
    "NaI5687": 1.5,
    "NaD": 9.0,
    "OI6302": 22.0,
    "OI6366": 7.0,
    "OH8401": 25.0,
    "OH8432": 15.0,
    "OH8888": 30.0,
}
_FAMILY = {"Hg": "lamp", "Na": "lamp", "NI": "oi", "OI": "oi", "OH": "oh"}


@dataclass(frozen=True)
class SkyLine:
    """One injected sky line.

    Attributes
    ----------
    wave : float
        Vacuum wavelength, A.
    flux : float
        Base flux at airmass 1, 1e-17 erg/s/cm2 per fibre.
    family : str
        ``oi5577``, ``oi6300``, ``oh``, ``lamp`` or ``other``: sets the time behaviour.
    entry : str
        Name of the line-list entry it belongs to ("" for extra OH lines).
    """

    wave: float
    flux: float
    family: str
    entry: str


def _family(name: str) -> str:
    if name.startswith("OI5"):
        return "oi5577"
    if name.startswith("OI6"):
        return "oi6300"
    return {"lamp": "lamp", "oi": "other", "oh": "oh"}.get(_FAMILY.get(name[:2], ""), "other")


def read_sky_lines(
    line_list: str | Path = DEFAULT_LINE_LIST,
    airglow: str | Path | None = DEFAULT_AIRGLOW,
    n_extra: int = 60,
) -> tuple[list[SkyLine], pd.DataFrame]:
    """The injected lines and the line-list table.

    Parameters
    ----------
    line_list : path-like
        The project's line list (columns name, camera, type, wave, components, lo, hi,
        cont1_lo .. cont2_hi).
    airglow : path-like or None
        Airglow list (camera, wave) for extra red OH lines; None for none.
    n_extra : int
        Number of extra OH lines (every k-th eligible red line).

    Returns
    -------
    lines : list of SkyLine
    table : pandas.DataFrame
        The line list.

    Raises
    ------
    FileNotFoundError
        If the line list is missing.
    """
    line_list = Path(line_list)
    if not line_list.exists():
        raise FileNotFoundError(f"{line_list}: sky line list not found")
    table = pd.read_csv(line_list, comment="#", dtype={"components": str})
    lines: list[SkyLine] = []
    blocked = []
    for row in table.itertuples(index=False):
        if row.type == "line":
            comps = [float(x) for x in str(row.components).split()]
            base = BASE_FLUX.get(row.name, 3.0)
            for c in comps:
                lines.append(SkyLine(c, base / len(comps), _family(row.name), row.name))
            blocked.append((row.cont1_lo - 8.0, row.cont2_hi + 8.0))
        else:
            blocked.append((row.lo - 8.0, row.hi + 8.0))
    if airglow is not None and Path(airglow).exists():
        ag = pd.read_csv(airglow, comment="#")
        red = np.sort(ag.loc[(ag["camera"] == "r") & (ag["wave"] > 6500.0), "wave"].to_numpy(float))
        ok = np.ones(red.size, bool)
        for lo, hi in blocked:
            ok &= ~((red > lo) & (red < hi))
        # also keep extra lines 6 A apart from each other
        red = red[ok]
        keep = red[np.concatenate([[True], np.diff(red) > 6.0])] if red.size else red
        if keep.size:
            chosen = keep[:: max(1, keep.size // n_extra)][:n_extra]
            strengths = 4.0 + 26.0 * ((np.arange(chosen.size) * 0.618034) % 1.0)
            lines += [SkyLine(float(w), float(s), "oh", "") for w, s in zip(chosen, strengths)]
    return lines, table


@dataclass(frozen=True)
class SkyConditions:
    """Observing conditions that drive the injected sky of one exposure.

    Attributes
    ----------
    airmass : float
    hours_into_night : float
        Hours since the start of the night (evening twilight).
    moon_illumination : float
        Illuminated fraction, 0-1.
    moon_alt : float
        Moon altitude, degrees.
    moon_sep : float
        Moon to field separation, degrees.
    night_factor, exposure_factor, lamp_factor : float
        Log-normal variability factors (per MJD, per exposure, per MJD).
    """

    airmass: float
    hours_into_night: float
    moon_illumination: float
    moon_alt: float
    moon_sep: float
    night_factor: float = 1.0
    exposure_factor: float = 1.0
    lamp_factor: float = 1.0


def line_strengths(lines: list[SkyLine], cond: SkyConditions) -> np.ndarray:
    """Flux of each line in this exposure, 1e-17 erg/s/cm2 per fibre, (nline,)."""
    base = np.array([ln.flux for ln in lines])
    fam = np.array([ln.family for ln in lines])
    scale = np.full(base.size, cond.airmass**0.6)
    scale = np.where(
        fam == "oi6300", scale * (1.0 + 1.5 * np.exp(-cond.hours_into_night / 1.5)), scale
    )
    var = cond.night_factor * cond.exposure_factor
    scale = np.where((fam == "oi5577") | (fam == "oh"), scale * var, scale)
    scale = np.where(fam == "lamp", scale * cond.lamp_factor, scale)
    return base * scale


def continuum(wave: np.ndarray, cond: SkyConditions) -> np.ndarray:
    """Sky continuum, 1e-17 erg/s/cm2/A per fibre, at vacuum wavelengths ``wave`` (A)."""
    wave = np.asarray(wave, float)
    dark = 1.1 * (wave / 5000.0) ** 0.2 * cond.airmass**0.5
    moon = 0.0
    if cond.moon_alt > 0:
        sep = np.radians(cond.moon_sep)
        moon = (
            25.0
            * cond.moon_illumination**2
            * np.sqrt(np.sin(np.radians(cond.moon_alt)))
            * (1.0 + np.cos(sep) ** 2)
            / (0.2 + cond.moon_sep / 60.0)
        )
    return dark + moon * (wave / 5000.0) ** -1.5


def sky_flux(
    wave: np.ndarray,
    sigma_A: np.ndarray,
    lines: list[SkyLine],
    strengths: np.ndarray,
    cond: SkyConditions,
    fibre_factor: np.ndarray,
) -> np.ndarray:
    """Sky f_lambda on each fibre's pixels (1e-17 erg/s/cm2/A).

    Parameters
    ----------
    wave : numpy.ndarray, (nfiber, npix)
        Vacuum wavelength of every pixel, A (increasing along the row).
    sigma_A : numpy.ndarray, (nfiber, npix)
        Line-spread Gaussian sigma, A.
    lines, strengths
        From :func:`read_sky_lines` and :func:`line_strengths`.
    cond : SkyConditions
    fibre_factor : numpy.ndarray, (nfiber,)
        Per-fibre multiplicative factor.

    Returns
    -------
    numpy.ndarray, float64, (nfiber, npix)
    """
    nfib, npix = wave.shape
    out = continuum(wave, cond)
    ref = wave[nfib // 2]
    half = 14
    offs = np.arange(-half, half + 1)
    rows = np.arange(nfib)[:, None]
    for ln, flux in zip(lines, strengths):
        if not (ref[0] - 20 < ln.wave < ref[-1] + 20):
            continue
        i0 = int(np.searchsorted(ref, ln.wave))
        idx = np.clip(i0 + offs, 0, npix - 1)
        idx = np.unique(idx)
        w = wave[:, idx]
        s = sigma_A[:, idx]
        prof = np.exp(-0.5 * ((w - ln.wave) / s) ** 2) / (np.sqrt(2 * np.pi) * s)
        out[rows, idx[None, :]] += flux * prof
    return out * fibre_factor[:, None]


def window_fluxes(
    table: pd.DataFrame, lines: list[SkyLine], strengths: np.ndarray, sigma_at, cond: SkyConditions
) -> dict[str, float]:
    """Truth values of the line list for one fibre with factor 1.

    Line entries: injected line flux inside [lo, hi] (1e-17 erg/s/cm2), from every injected
    line (Gaussian with sigma ``sigma_at(wave)`` in A). Continuum entries: the continuum
    f_lambda at the entry's wavelength (1e-17 erg/s/cm2/A).
    """
    from scipy.special import ndtr

    waves = np.array([ln.wave for ln in lines])
    sig = np.asarray(sigma_at(waves), float)
    out = {}
    for row in table.itertuples(index=False):
        if row.type == "line":
            frac = ndtr((row.hi - waves) / sig) - ndtr((row.lo - waves) / sig)
            out[row.name] = float(np.sum(strengths * frac))
        else:
            out[row.name] = float(continuum(np.array([row.wave]), cond)[0])
    return out
