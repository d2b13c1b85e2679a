"""Photometry of the standards: Refcat2 bands, Vega to AB, matching, and the Teff prior.

Fixes of kspecdr (``../shared/reference/kspecdr_fluxcal.md`` section 7):

- W11: the Gaia RP Vega-to-AB offset is +0.3561 (Riello et al. 2021), not -0.3958, and
  BP is +0.0155; the table is ``sdssflow/data/fluxcal/photometric_bands.csv``.
- W18: the colour-Teff relation works on the *native* (Vega) Gaia BP-RP colour, and the
  template prior compares AB magnitudes of the observed star with synthetic AB
  magnitudes of every template (an SED chi^2), so no offset can "cancel".
- W12: standards are matched to catalogue rows by CATALOGID when both carry one, else by
  position (within a radius), never by row order; object ids stay integers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sdssflow.resources import data_path

__all__ = [
    "DATA_DIR",
    "BandTable",
    "load_band_table",
    "catalog_photometry",
    "match_standards",
    "teff_from_bp_rp",
    "sed_chi2",
]

log = logging.getLogger(__name__)

#: The packaged ``sdssflow/data/fluxcal`` (band table, telluric regions, subgrid specs).
DATA_DIR = data_path("fluxcal")


@dataclass(frozen=True)
class BandTable:
    """Photometric bands: filter names, Refcat2 columns and Vega-to-AB offsets.

    Attributes
    ----------
    band, filter, mag_column, err_column, system : tuple of str
    vega_to_ab : numpy.ndarray, (nband,)
        m_AB = m_native + vega_to_ab (0 for AB bands), mag.
    """

    band: tuple[str, ...]
    filter: tuple[str, ...]
    mag_column: tuple[str, ...]
    err_column: tuple[str, ...]
    system: tuple[str, ...]
    vega_to_ab: np.ndarray

    def select(self, bands) -> BandTable:
        """The sub-table of the named bands (in that order).

        Raises
        ------
        ValueError
            If a name is not in the table.
        """
        idx = []
        for b in bands:
            if b not in self.band:
                raise ValueError(f"unknown photometric band {b!r}; known: {', '.join(self.band)}")
            idx.append(self.band.index(b))
        pick = lambda seq: tuple(seq[i] for i in idx)  # noqa: E731
        return BandTable(
            pick(self.band),
            pick(self.filter),
            pick(self.mag_column),
            pick(self.err_column),
            pick(self.system),
            self.vega_to_ab[idx],
        )


def load_band_table(path=None) -> BandTable:
    """Read ``sdssflow/data/fluxcal/photometric_bands.csv`` (or ``path``).

    Examples
    --------
    >>> t = load_band_table()
    >>> float(t.vega_to_ab[t.band.index("gaia_rp")])
    0.3561
    """
    path = Path(path) if path else DATA_DIR / "photometric_bands.csv"
    df = pd.read_csv(path, comment="#")
    return BandTable(
        tuple(df["band"]),
        tuple(df["filter"]),
        tuple(df["mag_column"]),
        tuple(df["err_column"]),
        tuple(df["system"]),
        df["vega_to_ab"].to_numpy(float),
    )


def catalog_photometry(catalog: pd.DataFrame, bands: BandTable) -> tuple[np.ndarray, np.ndarray]:
    """AB magnitudes and errors of every catalogue row in every band.

    The Refcat2 sentinels are honoured (kspecdr section 2.4): a band is missing (NaN)
    when its column is absent, not numeric or not finite, when mag >= 99, err >= 9 or
    err <= 0. Vega bands get ``vega_to_ab`` added; errors are unchanged.

    Parameters
    ----------
    catalog : pandas.DataFrame
        Refcat2-like table (columns such as Gaia, dGaia, BP, dBP, RP, dRP, g, dg, ...).
    bands : BandTable

    Returns
    -------
    mag, err : numpy.ndarray, (nrow, nband)
        AB magnitude and 1-sigma error, mag; NaN where missing.

    Examples
    --------
    >>> cat = pd.DataFrame({"RP": [12.0, 99.99], "dRP": [0.01, 9.99]})
    >>> m, e = catalog_photometry(cat, load_band_table().select(["gaia_rp"]))
    >>> m[:, 0].round(4).tolist()
    [12.3561, nan]
    """
    n = len(catalog)
    mag = np.full((n, len(bands.band)), np.nan)
    err = np.full_like(mag, np.nan)
    for j, (mcol, ecol) in enumerate(zip(bands.mag_column, bands.err_column)):
        if mcol not in catalog or ecol not in catalog:
            continue
        m = pd.to_numeric(catalog[mcol], errors="coerce").to_numpy(float)
        e = pd.to_numeric(catalog[ecol], errors="coerce").to_numpy(float)
        ok = np.isfinite(m) & np.isfinite(e) & (m < 99.0) & (e < 9.0) & (e > 0)
        mag[ok, j] = m[ok] + bands.vega_to_ab[j]
        err[ok, j] = e[ok]
    return mag, err


def match_standards(
    std_ra: np.ndarray,
    std_dec: np.ndarray,
    catalog: pd.DataFrame,
    std_catalogid: np.ndarray | None = None,
    radius_arcsec: float = 1.0,
) -> np.ndarray:
    """Row of the catalogue of each standard (-1 when none).

    By CATALOGID when both sides have it (exact), otherwise the nearest row within
    ``radius_arcsec`` (great-circle distance).

    Parameters
    ----------
    std_ra, std_dec : numpy.ndarray, (nstd,)
        Fibre coordinates, degrees.
    catalog : pandas.DataFrame
        With ``RA``, ``Dec`` (degrees; Refcat2 names) and optionally ``catalogid``.
    std_catalogid : numpy.ndarray of int, (nstd,), optional
    radius_arcsec : float

    Returns
    -------
    numpy.ndarray of int, (nstd,)
    """
    std_ra = np.asarray(std_ra, float)
    std_dec = np.asarray(std_dec, float)
    out = np.full(std_ra.size, -1, dtype=int)
    if len(catalog) == 0 or std_ra.size == 0:
        return out
    cols = {c.lower(): c for c in catalog.columns}
    if std_catalogid is not None and "catalogid" in cols:
        ids = pd.to_numeric(catalog[cols["catalogid"]], errors="coerce").to_numpy()
        lookup = {int(v): i for i, v in enumerate(ids) if np.isfinite(v) and v > 0}
        for k, cid in enumerate(np.asarray(std_catalogid)):
            out[k] = lookup.get(int(cid), -1) if int(cid) > 0 else -1
    todo = out < 0
    if todo.any() and "ra" in cols and "dec" in cols:
        ra = np.radians(catalog[cols["ra"]].to_numpy(float))
        dec = np.radians(catalog[cols["dec"]].to_numpy(float))
        r0, d0 = np.radians(std_ra[todo])[:, None], np.radians(std_dec[todo])[:, None]
        hav = np.sin((dec - d0) / 2) ** 2 + np.cos(d0) * np.cos(dec) * np.sin((ra - r0) / 2) ** 2
        sep = np.degrees(2 * np.arcsin(np.sqrt(np.clip(hav, 0, 1)))) * 3600.0
        best = np.argmin(sep, axis=1)
        ok = sep[np.arange(best.size), best] <= radius_arcsec
        out[np.flatnonzero(todo)] = np.where(ok, best, -1)
    return out


def teff_from_bp_rp(bp_rp: np.ndarray, feh: float | np.ndarray = 0.0) -> np.ndarray:
    """Teff of a dwarf from its native (Vega) Gaia (BP-RP)_0 colour.

    Relation of Mucciarelli, Bellazzini & Massari 2021 (A&A 653, A90), dwarfs, Gaia EDR3:
    theta = 5040/Teff = b0 + b1 C + b2 C^2 + b3 [Fe/H] + b4 [Fe/H]^2 + b5 [Fe/H] C,
    valid for 0.39 <= C <= 1.50 (NaN outside). Use native colours, not AB ones
    (kspecdr W18 applied its cubic to AB-offset colours).

    Parameters
    ----------
    bp_rp : array_like
        Dereddened native Gaia BP-RP, mag.
    feh : float or array_like
        [Fe/H], dex.

    Returns
    -------
    numpy.ndarray
        Teff, K.

    Examples
    --------
    >>> int(round(float(teff_from_bp_rp(0.82)), -1))  # about solar
    5680
    """
    c = np.asarray(bp_rp, float)
    f = np.asarray(feh, float)
    theta = 0.4929 + 0.5092 * c - 0.0353 * c**2 + 0.0192 * f - 0.0020 * f**2 - 0.0395 * f * c
    with np.errstate(invalid="ignore", divide="ignore"):
        teff = 5040.0 / theta
    return np.where((c >= 0.39) & (c <= 1.50), teff, np.nan)


def sed_chi2(
    mag_obs: np.ndarray, err_obs: np.ndarray, mag_syn: np.ndarray, floor: float = 0.02
) -> np.ndarray:
    """Photometric prior of every template: chi^2 of its SED shape against the star.

    For template t, chi2_t = min_D sum_b w_b (m_b - s_tb - D)^2 with w_b = 1/(err_b^2 +
    floor^2); the free offset D is the (log) distance scale, so only colours matter.
    Bands with NaN in the observation or in a template are left out of that template's
    sum.

    Parameters
    ----------
    mag_obs, err_obs : numpy.ndarray, (nband,)
        AB magnitudes and errors of the star (NaN = missing).
    mag_syn : numpy.ndarray, (ntemplate, nband)
        Synthetic AB magnitudes of the templates.
    floor : float
        Error floor added in quadrature, mag (filter-curve and model systematics).

    Returns
    -------
    numpy.ndarray, (ntemplate,)
        chi^2 (0 where fewer than two bands are usable).
    """
    w = 1.0 / (np.asarray(err_obs, float) ** 2 + floor**2)
    d = np.asarray(mag_obs, float)[None, :] - np.asarray(mag_syn, float)
    ok = np.isfinite(d) & np.isfinite(w)[None, :]
    w2 = np.where(ok, w[None, :], 0.0)
    d = np.where(ok, d, 0.0)
    sw = w2.sum(axis=1)
    off = np.where(sw > 0, (w2 * d).sum(axis=1) / np.where(sw > 0, sw, 1.0), 0.0)
    chi2 = (w2 * (d - off[:, None]) ** 2).sum(axis=1)
    return np.where(ok.sum(axis=1) >= 2, chi2, 0.0)
