"""The demo's night sky: airglow and light-pollution lines plus a condition-dependent continuum.

Lines are those of the project's sky line list (``sdssflow/data/sky/line_list.csv``, the list the
``line_sum`` step measures; blends inject each component), plus extra red OH lines from
``sdssflow/data/sky/airglow_lines.csv`` kept away from every listed window and side band, so that
``line_sum`` of a listed line measures exactly the injected flux inside its window.

The sky depends on the observing conditions through the terms of the sky model
(:mod:`sdssflow.sky.model_terms`: van Rhijn airglow with extinction, its F10.7, twilight and
season modulations, zodiacal light, integrated starlight, Krisciunas-Schaefer moonlight, Sun)
with the known coefficients of :func:`line_coefficients` and :func:`continuum_coefficients`
(per arcsec2; written to ``truth/sky_model.fits``). Injected per fibre = per arcsec2 x the fibre
area (pi arcsec2, 2" BOSS fibres). Several terms are absent from the Krisciunas-Schaefer +
constant baseline (solar activity, van Rhijn airglow, zodiacal light, twilight).

Line strengths, 1e-17 erg/s/cm2 per fibre: base flux x sum_k a_k term_k, with a_airglow = 1 and
the family's other coefficients (:data:`LINE_TERMS`), then

- [O I] 5577 and OH: a log-normal night-to-night factor (sigma 0.2, per MJD) and an
  exposure-to-exposure one (sigma 0.1);
- Hg / Na street lamps: a per-MJD factor (sigma 0.1).

Continuum (1e-17 erg/s/cm2/A per fibre): pi x sum_k c_k(lambda) term_k(lambda). Every fibre
gets its own factor 1 + N(0, 0.01) on continuum and lines (recorded in the truth).
:func:`training_table` draws a table of conditions and noisy line sums / band levels (no frames)
from the same coefficients, for the function-level tests and the benchmark of the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sdssflow.synth.sky_lines import BASE_FLUX, DEFAULT_LINE_LIST, SkyLine, _family, read_sky_lines

__all__ = ["SkyConditions", "line_strengths", "continuum", "sky_flux", "window_fluxes", "FIBRE_AREA", "LINE_TERMS", "line_coefficients", "continuum_coefficients", "truth_coefficients", "conditions_of", "training_table"]

#: Fibre area of the demo's 2" BOSS fibres, arcsec2.
FIBRE_AREA = np.pi

#: Injected coefficients of the line families, as fractions of the line's base flux
#: (``airglow`` is 1 for every family). Terms: :mod:`sdssflow.sky.model_terms`.
LINE_TERMS = {
    "oi5577": {"airglow_f107": 0.35, "airglow_f107_81": 0.25, "airglow_season_cos": 0.12, "airglow_season_sin": -0.08},
    "oi6300": {"airglow_f107": 0.5, "airglow_f107_81": 0.3, "airglow_twilight": 1.5},
    "oh": {"airglow_f107": 0.1, "airglow_f107_81": 0.15, "airglow_season_cos": 0.2, "airglow_season_sin": 0.1},
    "lamp": {},
    "other": {"airglow_f107": 0.2},
}


@dataclass(frozen=True)
class SkyConditions:
    """Observing conditions that drive the injected sky of one exposure.

    Attributes
    ----------
    airmass : float
    hours_into_night : float
        Hours since the start of the night (evening astronomical twilight).
    moon_illumination : float
        Illuminated fraction, 0-1 (the phase angle is arccos(2 f - 1)).
    moon_alt : float
        Moon altitude, degrees.
    moon_sep : float
        Moon to field separation, degrees.
    night_factor, exposure_factor, lamp_factor : float
        Log-normal variability factors (per MJD, per exposure, per MJD).
    sun_alt : float
        Sun altitude, degrees.
    f107, f107_81 : float
        Daily and 81-day mean F10.7 solar flux, sfu.
    zodi, isl : float
        Zodiacal light and integrated starlight, ``sdssflow/data/sky`` table units.
    mjd : float
        Mid-exposure MJD (the season terms).
    """

    airmass: float
    hours_into_night: float
    moon_illumination: float
    moon_alt: float
    moon_sep: float
    night_factor: float = 1.0
    exposure_factor: float = 1.0
    lamp_factor: float = 1.0
    sun_alt: float = -40.0
    f107: float = 100.0
    f107_81: float = 100.0
    zodi: float = 3.0
    isl: float = 1.0
    mjd: float = 55500.0

    def columns(self) -> dict[str, np.ndarray]:
        """The conditions as one-row columns of the rich metadata (model term inputs)."""
        phase = np.arccos(np.clip(2.0 * self.moon_illumination - 1.0, -1.0, 1.0))
        return {
            "AIRMASS_FIB": np.array([self.airmass]),
            "MOON_ALT": np.array([self.moon_alt]),
            "MOON_SEP": np.array([self.moon_sep]),
            "MOON_PHASE": np.array([phase]),
            "SUN_ALT": np.array([self.sun_alt]),
            "HOURS_SINCE_TWILIGHT": np.array([self.hours_into_night]),
            "ZODI": np.array([self.zodi]),
            "ISL": np.array([self.isl]),
            "SOLARFLUX": np.array([self.f107]),
            "SOLARFLUX_81": np.array([self.f107_81]),
            "MJD_MID": np.array([self.mjd]),
        }


def conditions_of(e) -> SkyConditions:
    """SkyConditions of a demo exposure (:class:`sdssflow.synth.targets.Exposure`).

    The Sun altitude (at the exposure's observatory, ``e.observatory``), ecliptic and galactic
    coordinates come from ephem at mid-exposure for the plate centre; ZODI, ISL and F10.7 (daily, 81-day mean) from the ``sdssflow/data/sky`` tables.
    """
    import ephem

    from sdssflow.sites import SITES
    from sdssflow.sky import tables

    mid = e.mjd_beg_utc + 0.5 * e.exptime / 86400.0
    where = SITES[getattr(e, "observatory", "apo")]
    obs = ephem.Observer()
    obs.lat, obs.lon, obs.elevation = where.lat_dms, where.lon_dms, where.height_m
    obs.pressure = 0
    obs.date = ephem.Date(mid - 15019.5)
    sun = ephem.Sun(obs)
    eq = ephem.Equatorial(np.radians(e.ra), np.radians(e.dec), epoch=ephem.J2000)
    ecl = ephem.Ecliptic(eq)
    gal = ephem.Galactic(eq)
    f107 = float(tables.f107(np.array([mid]))[0])
    f81 = float(tables.f107_mean81(np.array([mid]))[0])
    return SkyConditions(
        e.airmass,
        e.hours_into_night,
        e.moon_illumination,
        e.moon_alt,
        e.moon_sep,
        e.night_factor,
        e.exposure_factor,
        e.lamp_factor,
        sun_alt=float(np.degrees(float(sun.alt))),
        f107=f107 if np.isfinite(f107) else 100.0,
        f107_81=f81 if np.isfinite(f81) else 100.0,
        zodi=float(tables.zodi(np.array([np.degrees(float(ecl.lat))]))[0]),
        isl=float(tables.isl(np.array([np.degrees(float(gal.lon))]), np.array([np.degrees(float(gal.lat))]))[0]),
        mjd=mid,
    )


def line_coefficients(family: str, base_flux: float) -> dict[str, float]:
    """Injected term coefficients of one line, 1e-17 erg/s/cm2/arcsec2 per unit term."""
    per_arcsec2 = base_flux / FIBRE_AREA
    coeffs = {"airglow": per_arcsec2}
    for term, frac in LINE_TERMS.get(family, {}).items():
        coeffs[term] = frac * per_arcsec2
    return coeffs


def continuum_coefficients(wave) -> dict[str, np.ndarray]:
    """Injected term coefficients of the continuum, 1e-17 erg/s/cm2/A/arcsec2 per unit term.

    Airglow pseudo-continuum 0.20 (lambda / 5000)^1.2 with its F10.7 modulations; zodiacal
    light 0.02 (lambda / 5000)^-0.2 per ZODI unit; starlight 0.004 per ISL unit; moonlight
    0.5 (lambda / 5000)^-1.5 per 100 nL; twilight 0.3 (lambda / 5000)^-1.
    """
    x = np.asarray(wave, dtype=float) / 5000.0
    return {
        "airglow": 0.20 * x**1.2,
        "airglow_f107": 0.05 * x**1.2,
        "airglow_f107_81": 0.03 * x**1.2,
        "zodi": 0.02 * x**-0.2,
        "isl": 0.004 * np.ones_like(x),
        "moon": 0.5 * x**-1.5,
        "sun": 0.3 * x**-1.0,
    }


def _weighted_terms(cols: dict, coeffs: dict, wave) -> np.ndarray:
    """sum_k c_k term_k at ``wave`` for every row of ``cols``: shape (n,) or (n, nwave)."""
    from sdssflow.sky.model_terms import term_features

    names = list(coeffs)
    x = term_features(cols, names, wave)
    if np.ndim(wave) == 0:
        return x @ np.array([float(coeffs[t]) for t in names])
    c = np.stack([np.broadcast_to(np.asarray(coeffs[t], float), np.shape(wave)) for t in names])
    return np.einsum("npm,pm->nm", x, c)


def line_strengths(lines: list[SkyLine], cond: SkyConditions) -> np.ndarray:
    """Flux of each line in this exposure, 1e-17 erg/s/cm2 per fibre, (nline,)."""
    cols = cond.columns()
    out = np.empty(len(lines))
    var = cond.night_factor * cond.exposure_factor
    for i, ln in enumerate(lines):
        per_arcsec2 = _weighted_terms(cols, line_coefficients(ln.family, ln.flux), ln.wave)[0]
        factor = var if ln.family in ("oi5577", "oh") else (cond.lamp_factor if ln.family == "lamp" else 1.0)
        out[i] = per_arcsec2 * FIBRE_AREA * factor
    return out


def continuum(wave: np.ndarray, cond: SkyConditions) -> np.ndarray:
    """Sky continuum, 1e-17 erg/s/cm2/A per fibre, at vacuum wavelengths ``wave`` (A)."""
    wave = np.asarray(wave, float)
    flat = wave.ravel()
    # the terms are smooth in wavelength: evaluate on a coarse grid and interpolate (< 1e-5)
    grid = np.geomspace(max(flat.min(), 1.0), max(flat.max(), 2.0), 400) if flat.size > 400 else np.sort(flat)
    vals = _weighted_terms(cond.columns(), continuum_coefficients(grid), grid)[0]
    return (np.interp(flat, grid, vals) * FIBRE_AREA).reshape(wave.shape)


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


def truth_coefficients(table: pd.DataFrame):
    """Injected coefficients of every line-list entry (the ``truth/sky_model.fits`` table).

    Parameters
    ----------
    table : pandas.DataFrame
        The line list (:func:`read_sky_lines`).

    Returns
    -------
    astropy.table.Table
        One row per entry: ``name``, ``type``, ``wave`` (A) and one column per model term
        (:data:`sdssflow.sky.model_terms.TERMS`; 0 when the term is not injected), in
        1e-17 erg/s/cm2/arcsec2 (lines: total flux of the entry's components) or
        1e-17 erg/s/cm2/A/arcsec2 (continuum entries) per unit term.
    """
    from astropy.table import Table

    from sdssflow.sky.model_terms import TERMS

    rows = []
    for row in table.itertuples(index=False):
        if row.type == "line":
            coeffs = line_coefficients(_family(row.name), BASE_FLUX.get(row.name, 3.0))
        else:
            coeffs = {k: float(v) for k, v in continuum_coefficients(float(row.wave)).items()}
        rows.append({"name": row.name, "type": row.type, "wave": float(row.wave), **{t: float(coeffs.get(t, 0.0)) for t in TERMS}})
    return Table(rows=rows)


def training_table(n_nights: int = 60, per_night: int = 8, noise: float = 0.03, seed: int = 0, line_list=DEFAULT_LINE_LIST):
    """Conditions and noisy line sums / continuum levels of many exposures (no frames).

    Each night has one MJD (from 2010 on, random), so F10.7 (drawn: 81-day mean uniform 70-160 sfu,
    daily = that + N(0, 20)), the season and the Moon phase angle are per night; within a night
    every exposure draws airmass (1-2), Moon altitude (-30..70 deg) and separation (10-150 deg),
    Sun altitude (-60..-15 deg), hours since twilight (0-9), ecliptic latitude (ZODI) and galactic
    l, b (ISL). Values follow :func:`truth_coefficients` exactly, then get Gaussian noise of
    relative sigma ``noise`` (``<name>_IVAR`` = 1 / sigma^2).

    Returns
    -------
    astropy.table.Table
        ``n_nights * per_night`` rows: MJD (night), EXPID, the condition columns of
        :data:`sdssflow.sky.model_terms.CONDITION_COLUMNS`, ``<name>``, ``<name>_IVAR`` and
        ``<name>_TRUE`` per entry.
    """
    from astropy.table import Table

    from sdssflow.sky import tables
    from sdssflow.sky.model_terms import TERMS

    _, lt = read_sky_lines(line_list, airglow=None)
    truth = truth_coefficients(lt)
    rng = np.random.default_rng(seed)
    n = n_nights * per_night
    night_mjd = np.sort(rng.choice(np.arange(55200, 55200 + max(1800, n_nights)), n_nights, replace=False))
    mjd = np.repeat(night_mjd, per_night) + 0.1 + rng.uniform(0, 0.35, n)
    f81 = np.repeat(rng.uniform(70, 160, n_nights), per_night)
    f107 = f81 + np.repeat(rng.normal(0, 20, n_nights), per_night)
    phase = np.repeat(rng.uniform(0, np.pi, n_nights), per_night)
    cols = {
        "AIRMASS_FIB": rng.uniform(1.0, 2.0, n),
        "MOON_ALT": rng.uniform(-30, 70, n),
        "MOON_SEP": rng.uniform(10, 150, n),
        "MOON_PHASE": phase,
        "SUN_ALT": rng.uniform(-60, -15, n),
        "HOURS_SINCE_TWILIGHT": rng.uniform(0, 9, n),
        "ZODI": tables.zodi(rng.uniform(-80, 80, n)),
        "ISL": tables.isl(rng.uniform(0, 360, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))),
        "SOLARFLUX": f107,
        "SOLARFLUX_81": f81,
        "MJD_MID": mjd,
    }
    out = Table({"MJD": np.repeat(night_mjd, per_night), "EXPID": np.arange(n), **cols})
    terms = list(TERMS)
    for row in truth:
        coeffs = {t: float(row[t]) for t in terms if row[t] != 0}
        true = _weighted_terms(cols, coeffs, float(row["wave"]))
        sigma = noise * np.abs(true)
        out[row["name"]] = true + sigma * rng.standard_normal(n)
        out[f"{row['name']}_IVAR"] = 1.0 / sigma**2
        out[f"{row['name']}_TRUE"] = true
    return out
