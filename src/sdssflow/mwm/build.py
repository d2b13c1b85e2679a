"""One source end to end: rest-frame visits, in_stack, co-adds and continuum.

Inputs are plain containers (:class:`BossVisit`, :class:`ApogeeVisit`) built by the step
modules from bossVisits files, spec files, apVisit and apStar files; outputs are the
column dictionaries of the mwmVisit and mwmStar HDUs (:mod:`sdssflow.io.mwm`).

Which velocity shifts which visit (astra_mwm.md section 2.2, quirk 2 fixed): every visit
is moved to the source rest frame, in the stack or not.

- BOSS (input frame barycentric): the visit's own xcsao_v_rad when it is RV-good,
  otherwise the source's mean RV of its RV-good visits, otherwise 0 (then the visit's
  ``nmf_flags`` are left as they are and it cannot be in the stack, since rxc <= 6).
- APOGEE (apVisit, input frame topocentric): v_rel measured from the spectrum
  (:func:`sdssflow.mwm.apogee_rv.measure_source_rvs`; the header value when it cannot
  be measured); without any, the source's mean v_helio minus the visit's bc. Visits that
  exist only as apStar rows (already rest frame) are copied as they are.
- ``wresl`` (BOSS) is shifted with the flux (quirk 14 fixed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sdssflow.constants import C_KMS
from sdssflow.io.apogee import APOGEE_NRES
from sdssflow.io.mwm_flags import NMF_FLAGS
from sdssflow.io.mwm_grids import APOGEE, BOSS
from sdssflow.mwm.apogee_rv import measure_source_rvs
from sdssflow.mwm.continuum import visit_continuum
from sdssflow.mwm.resample import resample_spectrum
from sdssflow.mwm.stack import (
    apogee_in_stack,
    boss_in_stack,
    boss_rv_good,
    rv_summary,
    snr_of,
    star_row,
)

__all__ = ["BossVisit", "ApogeeVisit", "SourceProducts", "build_source", "hdu_of"]

BOSS_NRES = 5.0


@dataclass
class BossVisit:
    """A BOSS visit (one plate/field-MJD) on the BOSS grid, barycentric frame.

    Attributes
    ----------
    meta : dict
        mwmVisit BOSS columns known for this visit (telescope, mjd, snr, xcsao_*,
        zwarning_flags, catalogid, plateid, fieldid, n_exp, exptime, airmass, ...).
    flux, ivar : ndarray, shape (4648,)
        1e-17 erg/s/cm²/Å and its inverse variance.
    pixel_flags : ndarray of int64, shape (4648,)
        SPPIXMASK bits.
    wresl : ndarray, shape (4648,)
        Resolution FWHM, Å.
    """

    meta: dict
    flux: np.ndarray
    ivar: np.ndarray
    pixel_flags: np.ndarray
    wresl: np.ndarray


@dataclass
class ApogeeVisit:
    """An APOGEE visit: apVisit chips (observed frame) and/or its apStar row (rest frame).

    Attributes
    ----------
    meta : dict
        mwmVisit APOGEE columns (telescope, mjd, fiber, snr, spectrum_flags, v_rad =
        v_helio, v_rel, e_v_rel, bc, obj, apred, plate, field, date_obs, jd, ...).
    chips : list of (wave, flux, ivar, mask, nres), optional
        From :func:`sdssflow.io.apogee.read_apvisit` (blue chip first).
    rest : tuple of (flux, ivar, mask) on the APOGEE grid, optional
        The visit's apStar row (rest frame): the spectrum when there are no chips, and a
        velocity reference for the other visits (:mod:`sdssflow.mwm.apogee_rv`).
    """

    meta: dict
    chips: list | None = None
    rest: tuple | None = None


@dataclass
class SourceProducts:
    """Column dictionaries of one source's mwmVisit and mwmStar HDUs, by EXTNAME.

    ``nmf``: EXTNAME → the co-add's :class:`sdssflow.mwm.continuum.NMFResult` (HDUs
    with an in-stack visit and a basis), written into the mwmVisit HDU headers so that
    mwm_star does not fit it again.
    """

    visit: dict = field(default_factory=dict)
    star: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    nmf: dict = field(default_factory=dict)


def hdu_of(instrument: str, telescope: str) -> str:
    """EXTNAME of a visit: BOSS/APO, BOSS/LCO, APOGEE/APO (apo25m and apo1m) or APOGEE/LCO.

    Examples
    --------
    >>> hdu_of("apogee", "apo1m"), hdu_of("boss", "lco25m")
    ('APOGEE/APO', 'BOSS/LCO')
    """
    tel = str(telescope).lower()
    obs = "APO" if tel.startswith("apo") else "LCO" if tel.startswith("lco") else None
    if obs is None:
        raise ValueError(f"telescope {telescope!r} is neither apo* nor lco*")
    return f"{instrument.upper()}/{obs}"


def _stackcols(rows: list[dict]) -> dict:
    """List of per-visit dicts → dict of columns (arrays stacked)."""
    keys = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    out = {}
    for k in keys:
        vals = [r.get(k) for r in rows]
        if isinstance(vals[0], np.ndarray) and vals[0].ndim == 1 and vals[0].size > 10:
            out[k] = np.vstack(vals)
        else:
            out[k] = vals
    return out


def _boss_rows(sdss_id: int, visits: list[BossVisit], is_wd: bool) -> dict[str, list]:
    grid = BOSS.wavelength
    snr = [v.meta.get("snr", np.nan) for v in visits]
    v_rad = np.array([v.meta.get("xcsao_v_rad", np.nan) for v in visits], float)
    e_v = np.array([v.meta.get("xcsao_e_v_rad", np.nan) for v in visits], float)
    rxc = np.array([v.meta.get("xcsao_rxc", np.nan) for v in visits], float)
    zw = [int(v.meta.get("zwarning_flags", 0)) for v in visits]
    in_stack = boss_in_stack(snr, rxc, zw, is_wd)
    good = boss_rv_good(v_rad, rxc)
    mean_v = rv_summary(v_rad, e_v, good)["v_rad"]
    rows: dict[str, list] = {}
    order = np.argsort([v.meta.get("mjd", 0) for v in visits], kind="stable")
    for i in order:
        vis = visits[i]
        v_use = v_rad[i] if good[i] else (mean_v if np.isfinite(mean_v) else 0.0)
        flux, ivar, mask = resample_spectrum(
            [(grid, vis.flux, vis.ivar, vis.pixel_flags, BOSS_NRES)], grid, v_use
        )
        wresl = np.interp(grid * (1 + v_use / C_KMS), grid, np.asarray(vis.wresl, float))
        row = {k: val for k, val in vis.meta.items()}
        row.update(
            sdss_id=sdss_id,
            in_stack=bool(in_stack[i]),
            flux=flux,
            ivar=ivar,
            pixel_flags=mask,
            wresl=wresl,
            release=row.get("release", "sdssflow"),
            filetype=row.get("filetype", "bossVisit"),
        )
        rows.setdefault(hdu_of("boss", row.get("telescope", "apo25m")), []).append(row)
    return rows


def _apogee_rows(sdss_id: int, visits: list[ApogeeVisit], templates=None) -> dict[str, list]:
    grid = APOGEE.wavelength
    measure_source_rvs(visits, templates)
    vh = np.array([v.meta.get("v_rad", np.nan) for v in visits], float)
    mean_vh = np.nanmean(vh) if np.isfinite(vh).any() else 0.0
    rows: dict[str, list] = {}
    order = np.argsort([v.meta.get("mjd", 0) for v in visits], kind="stable")
    for i in order:
        vis = visits[i]
        meta = dict(vis.meta)
        v_rel = meta.get("v_rel", np.nan)
        if not np.isfinite(v_rel):
            bc = meta.get("bc", np.nan)
            v_use = mean_vh - (bc if np.isfinite(bc) else 0.0)
        else:
            v_use = v_rel
        if vis.chips:
            chips = [(w, f, iv, m, nres) for (w, f, iv, m), nres in zip(vis.chips, APOGEE_NRES)]
            flux, ivar, mask = resample_spectrum(chips, grid, float(v_use))
        elif vis.rest is not None:
            flux, ivar, mask = (np.asarray(a) for a in vis.rest)
        else:
            raise ValueError(
                f"sdss_id {sdss_id}: APOGEE visit at MJD {meta.get('mjd')} has no spectrum"
            )
        meta.update(
            sdss_id=sdss_id,
            # a visit with no usable pixel (e.g. an all-zero error array) is never stacked
            in_stack=bool(
                apogee_in_stack(
                    [meta.get("spectrum_flags", 0)], [meta.get("snr", np.nan)], [v_rel]
                )[0]
                and (np.asarray(ivar) > 0).any()
            ),
            flux=flux,
            ivar=ivar,
            pixel_flags=mask.astype(np.int64),
            release=meta.get("release", "sdssflow"),
            filetype=meta.get("filetype", "apVisit"),
        )
        rows.setdefault(hdu_of("apogee", meta.get("telescope", "apo25m")), []).append(meta)
    return rows


def build_source(
    sdss_id: int,
    boss: list[BossVisit],
    apogee: list[ApogeeVisit],
    basis: dict[str, np.ndarray] | None,
    is_wd: bool = False,
    apogee_templates=None,
) -> SourceProducts:
    """Build the mwmVisit and mwmStar HDU columns of one source.

    Parameters
    ----------
    sdss_id : int
    boss : list of BossVisit
    apogee : list of ApogeeVisit
    basis : dict, optional
        NMF basis by instrument ('boss': (C, 4648), 'apogee': (C, 8575)); None skips the
        continuum.
    is_wd : bool
        The source is an ``mwm_wd`` target (BOSS in_stack ignores rxc).
    apogee_templates : sdssflow.mwm.hband_templates.HBandTemplates or LazyTemplates, optional
        H-band templates for the APOGEE velocities (:mod:`sdssflow.mwm.apogee_rv`).

    Returns
    -------
    SourceProducts
        ``visit`` and ``star``: EXTNAME → columns; ``summary``: primary-header values
        (N_BOSS, B_MINMJD, N_MAXMJD, N_APOGEE, A_MINMJD, A_MAXMJD).
    """
    basis = basis or {}
    rows = _boss_rows(sdss_id, boss, is_wd) if boss else {}
    for k, v in (_apogee_rows(sdss_id, apogee, apogee_templates) if apogee else {}).items():
        rows[k] = v
    out = SourceProducts()
    for extname, vrows in rows.items():
        instrument = extname.split("/")[0].lower()
        wave = (BOSS if instrument == "boss" else APOGEE).wavelength
        cols = _stackcols(vrows)
        cols["snr"] = [snr_of(f, iv) for f, iv in zip(cols["flux"], cols["ivar"])]
        star, nmf = star_row(instrument, cols, wave, basis.get(instrument))
        n = len(vrows)
        cont = np.full((n, wave.size), np.nan)
        nmf_flags = np.zeros(n, np.int64)
        if nmf is not None:
            for j in range(n):
                cont[j] = visit_continuum(
                    wave, cols["flux"][j], cols["ivar"][j], nmf.rectified_model, instrument
                )
            nmf_flags |= nmf.flags & ~(1 << NMF_FLAGS["HIGH_RCHI2"])
        else:
            nmf_flags |= 1 << NMF_FLAGS["NO_COADD"]
        cols["continuum"] = cont
        cols["nmf_rchi2"] = [np.nan] * n
        cols["nmf_flags"] = nmf_flags
        out.visit[extname] = cols
        if star is not None:
            out.star[extname] = star
            if nmf is not None:
                out.nmf[extname] = nmf
    mjds = {"boss": [], "apogee": []}
    for extname, cols in out.visit.items():
        mjds[extname.split("/")[0].lower()] += list(np.asarray(cols["mjd"], int))
    b, a = mjds["boss"], mjds["apogee"]
    out.summary = {
        "SDSS_ID": int(sdss_id),
        "N_BOSS": len(b),
        "B_MINMJD": min(b) if b else None,
        "N_MAXMJD": max(b) if b else None,
        "N_APOGEE": len(a),
        "A_MINMJD": min(a) if a else None,
        "A_MAXMJD": max(a) if a else None,
    }
    return out
