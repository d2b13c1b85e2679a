"""The fitted sky-brightness model (:class:`SkyModel`): predictions at new conditions and its FITS file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from sdssflow.sky.model import TERM_NAMES
from sdssflow.sky.model_terms import BASELINE_TERMS, TERMS, term_features

__all__ = ["SkyModel", "predict_targets", "predict_spectrum", "write_model", "read_model"]


@dataclass
class SkyModel:
    """A fitted sky model (the content of the model file).

    Attributes
    ----------
    wave : numpy.ndarray, shape (npix,)
        Vacuum wavelength grid, Angstrom.
    spec_terms : list of str
        Terms of the spectral fit.
    coeff, coeff_var : numpy.ndarray, shape (nspec_term, npix)
        Per-pixel coefficients (1e-17 erg/s/cm2/A/arcsec2 per unit term) and variances.
    targets : astropy.table.Table
        The line and band fits (:func:`fit_targets`).
    """

    wave: np.ndarray
    spec_terms: list[str]
    coeff: np.ndarray
    coeff_var: np.ndarray
    targets: Table


def predict_targets(
    targets: Table, cond: Mapping[str, np.ndarray], baseline: bool = False
) -> dict[str, np.ndarray]:
    """Predicted line sums / band levels for arrays of conditions.

    Parameters
    ----------
    targets : astropy.table.Table
        The TARGETS table of a model.
    cond : mapping column -> numpy.ndarray, shape (n,)
    baseline : bool
        Predict with the baseline instead of the model.

    Returns
    -------
    dict name -> numpy.ndarray, shape (n,)
    """
    out = {}
    for row in targets:
        if baseline:
            x = term_features(cond, BASELINE_TERMS, float(row["WAVE"]))
            out[row["NAME"]] = x @ np.asarray(row["BASE_COEFF"], dtype=float)
            continue
        names = [t for t in str(row["TERMS"]).split() if t]
        if not names:
            out[row["NAME"]] = np.full(len(next(iter(cond.values()))), np.nan)
            continue
        x = term_features(cond, names, float(row["WAVE"]))
        coeff = np.asarray(row["COEFF"], dtype=float)[[TERM_NAMES.index(t) for t in names]]
        out[row["NAME"]] = x @ coeff
    return out


def predict_spectrum(model: SkyModel, cond: Mapping[str, np.ndarray]) -> np.ndarray:
    """Predicted sky spectra, 1e-17 erg/s/cm2/A/arcsec2, shape (n, npix); NaN where unfitted."""
    x = term_features(cond, model.spec_terms, model.wave)  # (n, p, npix)
    return np.einsum("npm,pm->nm", x, model.coeff)


def write_model(path, model: SkyModel, *, version: str, inputs=(), header_cards=None):
    """Write a model file: WAVE, COEFF, COEFF_VAR images; TERMS and TARGETS tables.

    TERMS has one row per term (NAME, DESCRIPTION, IN_SPECTRUM, INDEX: position in the
    COEFF/COEFF_ERR/COV arrays of TARGETS); the primary header records the criterion,
    covariance type and SPTERMS (the COEFF rows' terms, space-separated; a long-string card).
    COEFF's BUNIT is the flux unit per arcsec2 (per unit of each dimensionless term), short
    enough for the card to keep its comment.
    """
    from sdssflow.io.sky import write_product
    from sdssflow.sky.sky_spectra_grid import SB_UNIT

    terms = Table(
        {
            "NAME": list(TERM_NAMES),
            "DESCRIPTION": [TERMS[t] for t in TERM_NAMES],
            "IN_SPECTRUM": [t in model.spec_terms for t in TERM_NAMES],
            "INDEX": np.arange(len(TERM_NAMES), dtype=np.int16),
        }
    )
    cards = {
        "CRITERI": ("BIC", "term selection: forward, statsmodels WLS BIC"),
        "CV": ("nights", "cross-validation holds out whole nights"),
        "SPTERMS": (" ".join(model.spec_terms), "terms of the spectral fit (COEFF rows)"),
        **(header_cards or {}),
    }
    return write_product(
        path,
        {
            "WAVE": (np.asarray(model.wave, dtype=np.float64), "Angstrom"),
            "COEFF": (np.asarray(model.coeff, dtype=np.float32), SB_UNIT),
            "COEFF_VAR": (np.asarray(model.coeff_var, dtype=np.float32), "square of COEFF unit"),
        },
        {"TERMS": terms, "TARGETS": model.targets},
        version=version,
        inputs=inputs,
        step="sky_model",
        header_cards=cards,
    )


def read_model(path) -> SkyModel:
    """Read a model file written by :func:`write_model`.

    Raises
    ------
    ValueError
        If an HDU is missing.
    """
    from sdssflow.io.sky import read_product

    images, tables, header = read_product(path)
    missing = [h for h in ("WAVE", "COEFF", "COEFF_VAR") if h not in images] + [
        t for t in ("TERMS", "TARGETS") if t not in tables
    ]
    if missing:
        raise ValueError(f"{path}: not a sky model file, missing HDU(s) {missing}")
    spec_terms = str(header.get("SPTERMS", "")).split()
    coeff = np.atleast_2d(images["COEFF"].astype(np.float64))
    return SkyModel(
        images["WAVE"].astype(np.float64),
        spec_terms,
        coeff,
        np.atleast_2d(images["COEFF_VAR"].astype(np.float64)),
        tables["TARGETS"],
    )
