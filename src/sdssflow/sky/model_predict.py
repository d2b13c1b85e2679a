"""Predicted sky spectra and AB sky magnitudes from a fitted sky model.

Usage (through the ``sdssflow`` command)::

    sdssflow sky predict --model results/v1/sky/sky_model.fits --mjd 55500.2 --ra 30 --dec 0 \\
        [--observatory apo] [--set SOLARFLUX=120 ...] [--filters sdss_g,sdss_r] --out pred.fits

The conditions at (MJD, RA, Dec) come from :func:`sdssflow.sky.metadata.rich_metadata`
(the same Moon, Sun, airmass, ZODI, ISL and F10.7 as the survey's metadata) plus the 81-day
F10.7 mean; ``--set COLUMN=VALUE`` overrides or supplies any condition (e.g. an F10.7 outside
``sdssflow/data/sky/f107_daily.csv``). The output FITS holds WAVELENGTH and FLUX (1, ngrid) per arcsec2
on the model's grid and a CONDITIONS table; the AB magnitudes per arcsec2 through the filters
(:func:`sdssflow.sky.magnitudes.broadband_magnitudes`) are printed and written to the table.
"""

from __future__ import annotations

import argparse

import numpy as np
from astropy.table import Table
from astropy.time import Time

from sdssflow.sky.fitted_model import predict_spectrum, read_model
from sdssflow.sky.magnitudes import DEFAULT_FILTERS, broadband_magnitudes
from sdssflow.sky.model_terms import CONDITION_COLUMNS
from sdssflow.sky.sky_spectra_grid import SB_UNIT

__all__ = ["OBSERVATORIES", "conditions_at", "predict", "add_parser", "run"]

#: Observatories whose sky the model files are trained on (the BOSS sky spectra of APO);
#: :func:`conditions_at` itself computes conditions at any site of :mod:`sdssflow.sites`.
OBSERVATORIES = ("apo",)


def conditions_at(mjd, ra, dec, observatory: str = "apo") -> dict[str, np.ndarray]:
    """Observing conditions at mid-exposure times and sky positions.

    Parameters
    ----------
    mjd : array_like, shape (n,)
        Mid-exposure times, MJD (UTC).
    ra, dec : array_like, shape (n,)
        ICRS position, degrees.
    observatory : str
        ``apo`` or ``lco`` (:mod:`sdssflow.sites`).

    Returns
    -------
    dict column -> numpy.ndarray, shape (n,)
        Every column of :data:`sdssflow.sky.model_terms.CONDITION_COLUMNS`.

    Raises
    ------
    ValueError
        For an unknown observatory.
    """
    from sdssflow.sites import site
    from sdssflow.sky.metadata import rich_metadata

    try:
        name = site(observatory).name
    except KeyError as err:
        raise ValueError(err.args[0]) from err
    t = np.atleast_1d(np.asarray(mjd, dtype=float))
    ra = np.broadcast_to(np.asarray(ra, dtype=float), t.shape)
    dec = np.broadcast_to(np.asarray(dec, dtype=float), t.shape)
    tai = Time(t, format="mjd", scale="utc").tai.mjd * 86400.0
    meta = Table({"TAI_BEG": tai, "TAI_END": tai, "FIBER_RA": ra, "FIBER_DEC": dec, "RA": ra, "DEC": dec, "MJD": np.floor(t).astype(int)})
    rich = rich_metadata(meta, observatory=name)
    return {c: np.asarray(rich[c], dtype=float) for c in CONDITION_COLUMNS if c in rich.colnames}


def predict(model, cond, filters=DEFAULT_FILTERS) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Predicted spectra and AB magnitudes per arcsec2 for arrays of conditions.

    Parameters
    ----------
    model : sdssflow.sky.fitted_model.SkyModel
    cond : mapping column -> numpy.ndarray, shape (n,)
    filters : sequence of str

    Returns
    -------
    flux : numpy.ndarray, shape (n, ngrid)
        1e-17 erg/s/cm2/A/arcsec2 on ``model.wave`` (NaN where the model has no fit).
    mags : dict ``MAG_<filter>`` -> numpy.ndarray, shape (n,)
        AB mag/arcsec2 (NaN where the prediction does not cover the filter).
    """
    flux = predict_spectrum(model, cond)
    good = np.isfinite(flux)
    wave = np.ascontiguousarray(np.broadcast_to(model.wave, flux.shape))
    mags = broadband_magnitudes(wave, np.where(good, flux, 0.0), good.astype(float), np.ones(flux.shape[0]), list(filters))
    return flux, mags


def add_parser(sub) -> None:
    """Add ``sky predict`` to the ``sdssflow`` sub-command parser."""
    sky = sub.add_parser("sky", help="sky-brightness model tools")
    actions = sky.add_subparsers(dest="action", required=True)
    p = actions.add_parser("predict", help="predicted sky spectrum and AB magnitudes")
    p.add_argument("--model", required=True, help="sky_model.fits")
    p.add_argument("--mjd", type=float, help="mid-exposure MJD (UTC)")
    p.add_argument("--ra", type=float, help="RA, deg (ICRS)")
    p.add_argument("--dec", type=float, help="Dec, deg (ICRS)")
    p.add_argument("--observatory", default="apo", help="site (apo)")
    p.add_argument("--set", action="append", default=[], metavar="COLUMN=VALUE", help=f"set a condition ({', '.join(CONDITION_COLUMNS)})")
    p.add_argument("--filters", default=",".join(DEFAULT_FILTERS), help="comma-separated filter names")
    p.add_argument("--out", required=True, help="output FITS of the predicted spectrum")


def _explicit(settings) -> dict[str, float]:
    out = {}
    for s in settings:
        key, sep, value = s.partition("=")
        if not sep or key not in CONDITION_COLUMNS:
            raise ValueError(f"--set {s!r}: expected COLUMN=VALUE with COLUMN one of {CONDITION_COLUMNS}")
        out[key] = float(value)
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``sdssflow sky predict``; returns the exit status."""
    from sdssflow.io.sky import write_product

    model = read_model(args.model)
    explicit = _explicit(args.set)
    if args.observatory.lower() not in OBSERVATORIES:
        raise ValueError(f"observatory {args.observatory!r}: the sky model knows only {OBSERVATORIES}")
    if args.mjd is not None and args.ra is not None and args.dec is not None:
        cond = conditions_at([args.mjd], [args.ra], [args.dec], args.observatory)
    elif args.mjd is None and args.ra is None and args.dec is None:
        cond = {}
    else:
        raise ValueError("give all of --mjd, --ra and --dec, or none (then --set every condition)")
    cond.update({k: np.array([v]) for k, v in explicit.items()})
    missing = [c for c in CONDITION_COLUMNS if c not in cond]
    if missing:
        raise ValueError(f"conditions missing: {missing} (give --mjd/--ra/--dec or --set them)")
    used = sorted({t for t in model.spec_terms})
    bad = [c for c in CONDITION_COLUMNS if not np.all(np.isfinite(cond[c]))]
    if bad:
        raise ValueError(f"conditions not finite: {bad} (e.g. no F10.7 in sdssflow/data/sky/f107_daily.csv for this MJD; --set them)")
    filters = [f for f in args.filters.split(",") if f]
    flux, mags = predict(model, cond, filters)
    table = Table({c: cond[c] for c in CONDITION_COLUMNS})
    for k, v in mags.items():
        table[k] = v
    write_product(
        args.out,
        {"WAVELENGTH": (model.wave, "Angstrom"), "FLUX": (flux.astype(np.float32), SB_UNIT)},
        {"CONDITIONS": table},
        version="predict",
        inputs=[args.model],
        step="sky_predict",
        header_cards={"SPTERMS": (" ".join(used), "terms of the spectral model")},
    )
    for k, v in mags.items():
        print(f"{k[4:]} {float(v[0]):.3f}")
    return 0
