"""Physical terms of the sky-brightness model: each a function of the observing conditions.

The model (:mod:`sdssflow.sky.model`) writes a line flux or a continuum level ``y`` of a mean
sky spectrum as a linear combination ``y = sum_k beta_k f_k(conditions)`` of the terms below;
the terms carry the geometry (airmass, Moon, Sun) and the coefficients carry the brightness of
each component at that wavelength, so an ordinary weighted least-squares fit recovers them.

Conditions are columns of the rich metadata (:mod:`sdssflow.sky.steps.rich_metadata`):
``AIRMASS_FIB``, ``MOON_ALT``, ``MOON_SEP``, ``MOON_PHASE`` (rad, 0 = full), ``SUN_ALT`` (deg),
``HOURS_SINCE_TWILIGHT`` (h), ``ZODI``, ``ISL`` (table units of ``sdssflow/data/sky``), ``SOLARFLUX``
(daily F10.7, sfu), ``SOLARFLUX_81`` (81-day centred mean, :func:`sdssflow.sky.tables.f107_mean81`)
and ``MJD_MID``.
Ecliptic and galactic latitude enter through ``ZODI`` (a function of ecliptic latitude) and
``ISL`` (of galactic l, b).

Terms (``g`` = van Rhijn airglow factor with extinction, ``s`` = scattered-light factor):

=====================  ======================================================================
``airglow``            g = V(X; 90 km) 10^(-0.4 k (X - 1)), V the van Rhijn (1921) factor
``airglow_f107``       g (F10.7 - 100) / 100
``airglow_f107_81``    g (F10.7_81 - 100) / 100
``airglow_twilight``   g exp(-h / 1.5 h), h hours since evening astronomical twilight
``airglow_season_cos`` g cos(2 pi (MJD - 51544.5) / 365.2422)
``airglow_season_sin`` g sin(2 pi (MJD - 51544.5) / 365.2422)
``zodi``               s ZODI, s = X 10^(-0.4 k (X - 1)) (Krisciunas & Schaefer 1991 eq. 2)
``isl``                s ISL
``moon``               Krisciunas & Schaefer (1991) scattered moonlight, in 100 nL
``sun``                s 10^((SUN_ALT + 18 deg) / 5 deg): twilight, 0.5 mag per degree
``dark``               1 (constant dark sky; the baseline's only term besides ``moon``)
=====================  ======================================================================

k is the extinction coefficient at the target's wavelength (:func:`extinction_coefficient`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = [
    "TERMS",
    "MODEL_TERMS",
    "BASELINE_TERMS",
    "CONDITION_COLUMNS",
    "EARTH_RADIUS_KM",
    "AIRGLOW_HEIGHT_KM",
    "extinction_coefficient",
    "van_rhijn",
    "ks_moon_brightness",
    "nanolambert_to_vmag",
    "term_features",
    "check_conditions",
]

#: Every term and its meaning (the order of the model file's coefficient arrays).
TERMS = {
    "airglow": "van Rhijn airglow x extinction (90 km layer)",
    "airglow_f107": "airglow x (daily F10.7 - 100) / 100",
    "airglow_f107_81": "airglow x (81-day mean F10.7 - 100) / 100",
    "airglow_twilight": "airglow x exp(-hours since twilight / 1.5 h)",
    "airglow_season_cos": "airglow x cos(2 pi year phase)",
    "airglow_season_sin": "airglow x sin(2 pi year phase)",
    "zodi": "zodiacal light (ZODI) x scattered-light airmass factor",
    "isl": "integrated starlight (ISL) x scattered-light airmass factor",
    "moon": "Krisciunas & Schaefer 1991 moonlight, 100 nL",
    "sun": "twilight: 10^((SUN_ALT + 18) / 5) x scattered-light airmass factor",
    "dark": "constant",
}
#: Terms of the model (``airglow`` always kept; the others chosen by BIC).
MODEL_TERMS = tuple(t for t in TERMS if t != "dark")
#: Terms of the baseline: Krisciunas-Schaefer Moon plus a constant dark sky.
BASELINE_TERMS = ("dark", "moon")
#: Condition columns the terms read.
CONDITION_COLUMNS = (
    "AIRMASS_FIB",
    "MOON_ALT",
    "MOON_SEP",
    "MOON_PHASE",
    "SUN_ALT",
    "HOURS_SINCE_TWILIGHT",
    "ZODI",
    "ISL",
    "SOLARFLUX",
    "SOLARFLUX_81",
    "MJD_MID",
)

EARTH_RADIUS_KM = 6378.0
#: Emission height of the airglow layer (OH and [O I] 5577 near 87-97 km).
AIRGLOW_HEIGHT_KM = 90.0
#: J2000.0 as an MJD and the tropical year (days): the phase of the season terms.
_MJD_J2000 = 51544.5
_YEAR = 365.2422


def extinction_coefficient(wave) -> np.ndarray:
    """Atmospheric extinction at Apache Point, mag per airmass.

    ``k = 0.0653 (lambda / 5500)^-4 + 0.07 (lambda / 5500)^-1.3``: Rayleigh scattering at the
    site's pressure plus an aerosol term; it gives 0.20, 0.10, 0.064 and 0.046 mag in g, r, i, z,
    close to the SDSS photometric-telescope values (Tucker et al. 2006: about 0.18, 0.10, 0.06,
    0.06).

    Parameters
    ----------
    wave : array_like
        Vacuum wavelength, Angstrom.

    Returns
    -------
    numpy.ndarray
        Same shape as ``wave``.

    Examples
    --------
    >>> round(float(extinction_coefficient(5500.0)), 4)
    0.1353
    """
    x = np.asarray(wave, dtype=float) / 5500.0
    return 0.0653 * x**-4 + 0.07 * x**-1.3


def van_rhijn(airmass, height_km: float = AIRGLOW_HEIGHT_KM) -> np.ndarray:
    """Van Rhijn factor: path length through a thin emitting layer relative to the zenith.

    ``V = [1 - (R / (R + h))^2 sin^2 z]^(-1/2)`` with ``sec z = airmass``, R = 6378 km.

    Parameters
    ----------
    airmass : array_like
        sec z (>= 1).
    height_km : float
        Layer height, km.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> round(float(van_rhijn(2.0)), 4)
    1.922
    """
    x = np.asarray(airmass, dtype=float)
    sin2 = np.clip(1.0 - 1.0 / x**2, 0.0, 1.0)
    ratio = EARTH_RADIUS_KM / (EARTH_RADIUS_KM + height_km)
    return 1.0 / np.sqrt(1.0 - ratio**2 * sin2)


def _ks_airmass(zenith_deg):
    """Krisciunas & Schaefer (1991) eq. 3: X(Z) = (1 - 0.96 sin^2 Z)^(-1/2)."""
    return 1.0 / np.sqrt(1.0 - 0.96 * np.sin(np.radians(zenith_deg)) ** 2)


def ks_moon_brightness(phase_angle_deg, moon_alt_deg, moon_sep_deg, airmass, k) -> np.ndarray:
    """Scattered moonlight of Krisciunas & Schaefer (1991, PASP 103, 1033), nanoLamberts.

    ``B = f(rho) I* 10^(-0.4 k X(Z_moon)) [1 - 10^(-0.4 k X(Z))]`` with the Moon's brightness
    ``I* = 10^(-0.4 (3.84 + 0.026 |alpha| + 4e-9 alpha^4))`` (eq. 20), the scattering function
    ``f(rho) = 10^5.36 (1.06 + cos^2 rho) + 10^(6.15 - rho / 40)`` (eq. 21, rho in degrees) and
    X(Z) of eq. 3; zero when the Moon is below the horizon.

    Parameters
    ----------
    phase_angle_deg : array_like
        Lunar phase angle alpha, degrees (0 = full Moon, 180 = new).
    moon_alt_deg : array_like
        Moon altitude, degrees.
    moon_sep_deg : array_like
        Moon-field separation rho, degrees.
    airmass : array_like
        Field airmass sec z (the field's zenith distance is arccos(1 / airmass)).
    k : array_like
        Extinction coefficient, mag per airmass (0.172 in V for Mauna Kea in the paper).

    Returns
    -------
    numpy.ndarray
        Broadcast shape of the inputs.
    """
    alpha = np.abs(np.asarray(phase_angle_deg, dtype=float))
    istar = 10.0 ** (-0.4 * (3.84 + 0.026 * alpha + 4e-9 * alpha**4))
    rho = np.asarray(moon_sep_deg, dtype=float)
    f_rho = 10.0**5.36 * (1.06 + np.cos(np.radians(rho)) ** 2) + 10.0 ** (6.15 - rho / 40.0)
    alt = np.asarray(moon_alt_deg, dtype=float)
    z_moon = 90.0 - np.clip(alt, 0.0, 90.0)
    z_field = np.degrees(np.arccos(np.clip(1.0 / np.asarray(airmass, dtype=float), 0.0, 1.0)))
    b = f_rho * istar * 10.0 ** (-0.4 * k * _ks_airmass(z_moon)) * (1.0 - 10.0 ** (-0.4 * k * _ks_airmass(z_field)))
    return np.where(alt > 0.0, b, 0.0)


def nanolambert_to_vmag(b_nl) -> np.ndarray:
    """Surface brightness in nanoLamberts to V mag/arcsec2 (Krisciunas & Schaefer 1991 eq. 1).

    ``B = 34.08 exp(20.7233 - 0.92104 V)``, inverted.

    Examples
    --------
    >>> round(float(nanolambert_to_vmag(34.08 * np.exp(20.7233 - 0.92104 * 21.0))), 6)
    21.0
    """
    return (20.7233 - np.log(np.asarray(b_nl, dtype=float) / 34.08)) / 0.92104


def check_conditions(cond: Mapping[str, np.ndarray], terms=None) -> None:
    """Raise ValueError naming the condition columns the terms need but ``cond`` lacks."""
    need = set(CONDITION_COLUMNS) if terms is None else _needed_columns(terms)
    missing = sorted(c for c in need if c not in cond)
    if missing:
        raise ValueError(f"sky model: conditions lack column(s) {missing}")


def _needed_columns(terms) -> set[str]:
    need = {"AIRMASS_FIB"}
    for t in terms:
        need |= {
            "airglow_f107": {"SOLARFLUX"},
            "airglow_f107_81": {"SOLARFLUX_81"},
            "airglow_twilight": {"HOURS_SINCE_TWILIGHT"},
            "airglow_season_cos": {"MJD_MID"},
            "airglow_season_sin": {"MJD_MID"},
            "zodi": {"ZODI"},
            "isl": {"ISL"},
            "moon": {"MOON_ALT", "MOON_SEP", "MOON_PHASE"},
            "sun": {"SUN_ALT"},
        }.get(t, set())
    return need


def term_features(cond: Mapping[str, np.ndarray], terms, wave) -> np.ndarray:
    """Values of the terms for every row of a conditions table, at one or many wavelengths.

    Parameters
    ----------
    cond : mapping column -> numpy.ndarray, shape (n,)
        Conditions (:data:`CONDITION_COLUMNS` that the terms need).
    terms : sequence of str
        Names from :data:`TERMS`.
    wave : float or numpy.ndarray, shape (nwave,)
        Wavelength(s) of the target, Angstrom (sets the extinction coefficient).

    Returns
    -------
    numpy.ndarray, shape (n, nterm) for a scalar ``wave``, else (n, nterm, nwave)

    Raises
    ------
    ValueError
        If a term is unknown or a needed column is missing.
    """
    unknown = [t for t in terms if t not in TERMS]
    if unknown:
        raise ValueError(f"sky model: unknown term(s) {unknown} (known: {list(TERMS)})")
    check_conditions(cond, terms)
    scalar = np.ndim(wave) == 0
    k = np.atleast_1d(extinction_coefficient(wave))[None, :]
    x = np.asarray(cond["AIRMASS_FIB"], dtype=float)[:, None]
    ext = 10.0 ** (-0.4 * k * (x - 1.0))
    g = van_rhijn(x) * ext
    s = x * ext

    def col(name):
        return np.asarray(cond[name], dtype=float)[:, None]

    out = []
    for t in terms:
        if t == "airglow":
            v = g
        elif t == "airglow_f107":
            v = g * (col("SOLARFLUX") - 100.0) / 100.0
        elif t == "airglow_f107_81":
            v = g * (col("SOLARFLUX_81") - 100.0) / 100.0
        elif t == "airglow_twilight":
            v = g * np.exp(-np.clip(col("HOURS_SINCE_TWILIGHT"), 0.0, None) / 1.5)
        elif t in ("airglow_season_cos", "airglow_season_sin"):
            phase = 2.0 * np.pi * (col("MJD_MID") - _MJD_J2000) / _YEAR
            v = g * (np.cos(phase) if t.endswith("cos") else np.sin(phase))
        elif t == "zodi":
            v = s * col("ZODI")
        elif t == "isl":
            v = s * col("ISL")
        elif t == "moon":
            v = ks_moon_brightness(np.degrees(col("MOON_PHASE")), col("MOON_ALT"), col("MOON_SEP"), x, k) / 100.0
        elif t == "sun":
            v = s * 10.0 ** ((col("SUN_ALT") + 18.0) / 5.0)
        else:  # dark
            v = np.ones_like(g)
        out.append(np.broadcast_to(v, g.shape))
    arr = np.stack(out, axis=1) if out else np.zeros((x.shape[0], 0, k.shape[1]))
    return arr[:, :, 0] if scalar else arr
