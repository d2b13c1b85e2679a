"""Visit selection (in_stack), ivar-weighted co-adds and the mwmStar summary statistics.

After astra ``products/boss.py`` and ``products/apogee.py`` (astra_mwm.md section 3), with
these deliberate differences (section 8):

- quirk 1: ``xcsao_meanrxc`` is the mean rxc of the in-stack visits (astra: always NaN);
- quirk 8 / 10: the APOGEE co-add and its statistics are recomputed from the rest-frame
  visits exactly as for BOSS (ivar-weighted; RV statistics with ddof 0 and inverse-variance
  weights) instead of copying the DRP apStar row 0 and its header; ``std_fiber`` keeps the
  DRP's ddof 1; RV_REJECT (needs a second, independent RV) is not evaluated;
- co-add flags: BOSS ORs the in-stack visit flags (astra), APOGEE ANDs them (DRP row 0).
"""

from __future__ import annotations

import numpy as np

from sdssflow.mwm.continuum import NMFResult, fit_nmf_continuum

__all__ = [
    "APOGEE_STARFLAG_BAD",
    "boss_in_stack",
    "boss_rv_good",
    "apogee_in_stack",
    "coadd",
    "snr_of",
    "rv_summary",
    "star_row",
]

#: APOGEE STARFLAG bits that keep a visit out of the stack: BAD_PIXELS (0),
#: VERY_BRIGHT_NEIGHBOR (3), BAD_RV_COMBINATION (18), RV_REJECT (19: set on a visit whose
#: header and measured RVs disagree, :mod:`sdssflow.mwm.apogee_rv`), RV_FAIL (22).
APOGEE_STARFLAG_BAD = (1 << 0) | (1 << 3) | (1 << 18) | (1 << 19) | (1 << 22)


def boss_in_stack(snr, rxc, zwarning, is_wd=False) -> np.ndarray:
    """BOSS in_stack: snr finite and > 3, (rxc > 6 or an ``mwm_wd`` target), zwarning <= 0.

    Examples
    --------
    >>> boss_in_stack([10.0, 2.0, 10.0, np.nan], [7.0, 7.0, 3.0, 7.0], [0, 0, 0, 0]).tolist()
    [True, False, False, False]
    """
    snr = np.asarray(snr, dtype=float)
    rxc = np.asarray(rxc, dtype=float)
    with np.errstate(invalid="ignore"):
        return (
            np.isfinite(snr)
            & (snr > 3)
            & ((rxc > 6) | np.asarray(is_wd, bool))
            & (np.asarray(zwarning) <= 0)
        )


def boss_rv_good(v_rad, rxc) -> np.ndarray:
    """RV-good BOSS visits: finite xcsao_v_rad and xcsao_rxc > 6 (independent of in_stack)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(np.asarray(v_rad, float)) & (np.asarray(rxc, float) > 6)


def apogee_in_stack(starflag, snr, v_rel) -> np.ndarray:
    """APOGEE in_stack (DRP ``doppler_rv``): no bad STARFLAG bit, snr > 3, finite v_rel.

    Examples
    --------
    >>> apogee_in_stack([0, 1, 4], [50.0, 50.0, 50.0], [1.0, 1.0, 1.0]).tolist()
    [True, False, True]
    """
    starflag = np.asarray(starflag).astype(np.int64)
    snr = np.asarray(snr, dtype=float)
    with np.errstate(invalid="ignore"):
        return (
            ((starflag & APOGEE_STARFLAG_BAD) == 0)
            & (snr > 3)
            & np.isfinite(np.asarray(v_rel, float))
        )


def coadd(flux, ivar, flags, use, flag_mode: str = "or"):
    """Inverse-variance weighted co-add of rest-frame visits.

    flux = Σ f·ivar / Σ ivar (NaN where Σ ivar = 0), ivar = Σ ivar.

    Parameters
    ----------
    flux, ivar : ndarray, shape (nvisit, npix)
    flags : ndarray of int, shape (nvisit, npix)
    use : ndarray of bool, shape (nvisit,)
        Visits to combine.
    flag_mode : {'or', 'and'}
        Bitwise OR (BOSS, astra) or AND (APOGEE, DRP) of the used visits' flags.

    Returns
    -------
    flux, ivar : ndarray, shape (npix,)
    flags : ndarray of int64, shape (npix,)
    """
    use = np.asarray(use, bool)
    if not use.any():
        raise ValueError("coadd: no visit selected")
    f = np.asarray(flux, float)[use]
    iv = np.asarray(ivar, float)[use]
    iv = np.where(np.isfinite(iv) & np.isfinite(f) & (iv > 0), iv, 0.0)
    f = np.where(iv > 0, f, 0.0)
    s = iv.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(s > 0, (f * iv).sum(axis=0) / s, np.nan)
    fl = np.asarray(flags).astype(np.int64)[use]
    if flag_mode == "or":
        m = np.bitwise_or.reduce(fl, axis=0)
    elif flag_mode == "and":
        m = np.bitwise_and.reduce(fl, axis=0)
    else:
        raise ValueError(f"flag_mode must be 'or' or 'and', got {flag_mode!r}")
    return out, s, m


def snr_of(flux, ivar) -> float:
    """Mean of flux·√ivar over pixels with ivar > 0 (astra's snr); NaN without such pixels.

    Examples
    --------
    >>> snr_of(np.array([2.0, 2.0, 5.0]), np.array([25.0, 25.0, 0.0]))
    10.0
    """
    flux = np.asarray(flux, float)
    ivar = np.asarray(ivar, float)
    ok = (ivar > 0) & np.isfinite(flux) & np.isfinite(ivar)
    return float(np.mean(flux[ok] * np.sqrt(ivar[ok]))) if ok.any() else np.nan


def rv_summary(v, e_v, good) -> dict:
    """Inverse-variance mean RV and its spread over the ``good`` visits.

    Returns
    -------
    dict
        v_rad, e_v_rad = (Σw)^-½, std_v_rad (ddof 0), median_e_v_rad, n_good_rvs;
        with no good visit: v_rad NaN, e_v_rad inf, the rest NaN, n_good_rvs 0.

    Examples
    --------
    >>> r = rv_summary([10.0, 12.0], [1.0, 1.0], [True, True])
    >>> r["v_rad"], round(r["e_v_rad"], 4), r["std_v_rad"], r["n_good_rvs"]
    (11.0, 0.7071, 1.0, 2)
    """
    v = np.asarray(v, float)
    e = np.asarray(e_v, float)
    good = np.asarray(good, bool) & np.isfinite(v)
    good_e = good & np.isfinite(e) & (e > 0)
    if not good.any():
        return {
            "v_rad": np.nan,
            "e_v_rad": np.inf,
            "std_v_rad": np.nan,
            "median_e_v_rad": np.nan,
            "n_good_rvs": 0,
        }
    if good_e.any():
        w = 1.0 / e[good_e] ** 2
        mean = float(np.sum(w * v[good_e]) / w.sum())
        err = float(w.sum() ** -0.5)
    else:
        mean, err = float(np.mean(v[good])), np.nan
    return {
        "v_rad": mean,
        "e_v_rad": err,
        "std_v_rad": float(np.std(v[good])),
        "median_e_v_rad": float(np.median(e[good])) if np.isfinite(e[good]).any() else np.nan,
        "n_good_rvs": int(good.sum()),
    }


def _ivar_mean(x, e, use):
    x = np.asarray(x, float)
    e = np.asarray(e, float)
    ok = np.asarray(use, bool) & np.isfinite(x)
    if not ok.any():
        return np.nan, np.nan
    oke = ok & np.isfinite(e) & (e > 0)
    if not oke.any():
        return float(np.mean(x[ok])), np.nan
    w = 1.0 / e[oke] ** 2
    return float(np.sum(w * x[oke]) / w.sum()), float(w.sum() ** -0.5)


def star_row(
    instrument: str,
    visits: dict,
    wave: np.ndarray,
    H: np.ndarray | None,
    nmf: NMFResult | None = None,
):
    """Co-add one HDU's rest-frame visits into an mwmStar row and fit its continuum.

    Parameters
    ----------
    instrument : {'boss', 'apogee'}
    visits : dict
        mwmVisit columns of one HDU (arrays of length nvisit; ``flux``, ``ivar``,
        ``pixel_flags`` of shape (nvisit, npix); ``in_stack``; ``mjd``; ``snr``; BOSS:
        ``xcsao_*``; APOGEE: ``v_rad``, ``e_v_rel``, ``fiber``).
    wave : ndarray, shape (npix,)
        Standard grid, Å.
    H : ndarray, shape (C, npix), or None
        NMF basis (None: no continuum fit).
    nmf : NMFResult, optional
        The continuum fit of this co-add made earlier (mwm_visit's, rebuilt by
        :func:`sdssflow.mwm.continuum.nmf_from_parameters`): used instead of fitting again.

    Returns
    -------
    row : dict or None
        mwmStar columns (each a length-1 list / (1, npix) array); None if no visit is in
        the stack.
    nmf : NMFResult or None
    """
    in_stack = np.asarray(visits["in_stack"], bool)
    n = in_stack.size

    def col(name, default, dtype=None):
        values = visits.get(name, [default] * n)
        return np.asarray([default if v is None else v for v in values], dtype=dtype)

    mjd = np.asarray(visits["mjd"])
    if not in_stack.any():
        return None, None
    flux, ivar, flags = coadd(
        visits["flux"],
        visits["ivar"],
        visits["pixel_flags"],
        in_stack,
        "or" if instrument == "boss" else "and",
    )
    if instrument == "boss":
        blue = wave < 3650.0  # astra: the first 100 pixels are unreliable
        flux = np.where(blue, np.nan, flux)
        ivar = np.where(blue, 0.0, ivar)
    row = {
        "sdss_id": [int(np.asarray(visits["sdss_id"])[0])],
        "telescope": [str(np.asarray(visits["telescope"])[in_stack][-1])],
        "release": ["sdssflow"],
        "filetype": ["mwmStar"],
        "healpix": [int(col("healpix", -1)[0])],
        "min_mjd": [int(mjd.min())],
        "max_mjd": [int(mjd.max())],
        "n_visits": [n],
        "n_good_visits": [int(in_stack.sum())],
        "snr": [snr_of(flux, ivar)],
        "flux": flux[None, :],
        "ivar": ivar[None, :],
        "pixel_flags": flags[None, :],
    }
    if instrument == "boss":
        v, e, rxc = (col(k, np.nan, float) for k in ("xcsao_v_rad", "xcsao_e_v_rad", "xcsao_rxc"))
        rv = rv_summary(v, e, boss_rv_good(v, rxc))
        for name in ("teff", "logg", "fe_h"):
            m, err = _ivar_mean(
                col(f"xcsao_{name}", np.nan), col(f"xcsao_e_{name}", np.nan), in_stack
            )
            row[f"xcsao_{name}"], row[f"xcsao_e_{name}"] = [m], [err]
        row["xcsao_meanrxc"] = [
            float(np.nanmean(rxc[in_stack])) if np.isfinite(rxc[in_stack]).any() else np.nan
        ]
        row["zwarning_flags"] = [
            int(np.bitwise_or.reduce(col("zwarning_flags", 0, np.int64)[in_stack]))
        ]
        row["gri_gaia_transform_flags"] = [
            int(np.bitwise_or.reduce(col("gri_gaia_transform_flags", 0, np.int64)[in_stack]))
        ]
        row["run2d"] = [str(col("run2d", "")[in_stack][-1])]
    else:
        v, e = col("v_rad", np.nan, float), col("e_v_rel", np.nan, float)
        rv = rv_summary(v, e, in_stack)
        fib = col("fiber", -1, float)[in_stack]
        snr_v = np.asarray(visits["snr"], float)[in_stack]
        wts = np.where(np.isfinite(snr_v) & (snr_v > 0), snr_v, 0.0)
        row["mean_fiber"] = [
            float(np.sum(wts * fib) / wts.sum()) if wts.sum() > 0 else float(np.mean(fib))
        ]
        row["std_fiber"] = [float(np.std(fib, ddof=1)) if fib.size > 1 else 0.0]
        row["spectrum_flags"] = [
            int(np.bitwise_or.reduce(col("spectrum_flags", 0, np.int64)[in_stack]))
        ]
        for key in ("apred", "obj"):
            row[key] = [str(col(key, "")[in_stack][-1])]
        row["n_entries"] = [-1]
        for name in ("teff", "logg", "fe_h"):
            vals = col(f"doppler_{name}", np.nan, float)[in_stack]
            row[f"doppler_{name}"] = [
                float(np.nanmean(vals)) if np.isfinite(vals).any() else np.nan
            ]
    for key, value in rv.items():
        row[key] = [value]
    if nmf is None and H is not None:
        nmf = fit_nmf_continuum(wave, flux, ivar, H, instrument)
    if nmf is not None:
        row["continuum"] = nmf.continuum[None, :]
        row["nmf_rectified_model_flux"] = nmf.rectified_model[None, :]
        row["nmf_rchi2"] = [nmf.rchi2]
        row["nmf_flags"] = [nmf.flags]
    return row, nmf
