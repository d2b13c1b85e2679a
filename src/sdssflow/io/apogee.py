"""Readers of APOGEE apVisit and apStar files (DR13-DR17 and SDSS-V / demo layouts).

apVisit (astra_mwm.md section 6): HDU 1 flux, 2 error, 3 mask, 4 wavelength (vacuum,
observed frame), each (3, 4096) stored red chip first with λ decreasing; HDU 0 header
with SNR, STARFLAG, MJD5, FIBERID, TELESCOP, DATE-OBS, JD-MID, OBJID; DR13-DR17 files
also have a one-row table (HDU 11) with VREL, VRELERR, VHELIO, BC. The reader reverses
both axes, so chips come blue first with λ increasing.

apStar: HDU 1 flux, 2 error, 3 bitmask, each (NVISITS + 2, 8575) (one row when
NVISITS = 1), rows 2+ the visits in SFILEi order; header grid CRVAL1/CDELT1 and per-visit
SFILEi, MJD/JDi, FIBERi, BCi, VRADi, VHELIOi, SNRVISi, FLAGi.

Keywords that changed between releases (sdss/datamodel apStar.yaml, apVisit.yaml):

* apStar TELESCOP is gone from DR17 on (and from the SDSS-V / DR19 files); the telescope is
  then in the file name (``apStar-{apred}-{telescope}-{obj}.fits``; DR17 ``asStar-`` is
  LCO), its directory (``stars/{telescope}/...``) or the SFILEi names.
* apStar per-visit velocities: up to DR17 VRADi is the Doppler shift (topocentric) and
  VHELIOi = VRADi + BCi; the SDSS-V DRP (DR19) writes no VHELIOi, VRADi is the visit's
  barycentric velocity and VRELi (when written) the Doppler shift.
* apVisit FIELD is only in the HDU 11 table (DR16+); the header LOCID is a number, not the
  field name of the path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import fitsio
import numpy as np
from astropy.io import fits

from sdssflow.io.readable import readable

__all__ = ["ApVisit", "ApStar", "read_apvisit", "read_apstar", "apogee_telescope", "APOGEE_NRES"]

#: Pixels per resolution element of chips a, b, c (blue, green, red): apStar NRES.
APOGEE_NRES = (5.0, 4.25, 3.5)


@dataclass
class ApVisit:
    """One APOGEE visit, chips blue first, λ increasing.

    Attributes
    ----------
    wave : ndarray, shape (3, 4096)
        Vacuum wavelength, Å, observed (topocentric) frame.
    flux, ivar : ndarray, shape (3, 4096)
        Flux (1e-17 erg/s/cm²/Å) and inverse variance (error⁻², 0 where not finite/positive).
    mask : ndarray of int64, shape (3, 4096)
        APOGEE_PIXMASK.
    meta : dict
        obj, telescope, mjd, fiber, plate, field, snr, starflag, date_obs, jd, exptime,
        v_rel, e_v_rel, v_helio, bc (km/s; NaN if absent), ra, dec (deg; NaN if absent),
        sdss_id, catalogid (-1 if absent),
        filename (the DRP name, from the table FILE column when present).
    """

    wave: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    meta: dict = field(default_factory=dict)


@dataclass
class ApStar:
    """An apStar file: the DRP stack and the rest-frame visits on the APOGEE grid.

    Attributes
    ----------
    flux, ivar : ndarray, shape (nrow, 8575)
    mask : ndarray of int64, shape (nrow, 8575)
    crval, cdelt : float
        log10 grid.
    meta : dict
        obj, telescope, field, nvisits, snr, starflag, meanfib, sigfib, vhelio, verr,
        vscatter, verr_med, rv_teff, rv_logg, rv_feh, ccpfwhm, autofwhm, sdss_id.
    visits : list of dict
        Per visit: sfile, row (index into the arrays), mjd, jd, fiber, bc, v_rel, v_helio,
        e_v_rel, snr, flag.
    """

    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    crval: float
    cdelt: float
    meta: dict
    visits: list


def _f(header, *keys, default=np.nan):
    for key in keys:
        if key in header and header[key] is not None and not isinstance(header[key], str | bool):
            return float(header[key])
    return default


def _i(header, *keys, default=-1):
    """An integer card without a float round trip (SDSS-V catalogids exceed 2**53)."""
    for key in keys:
        value = header.get(key) if hasattr(header, "get") else None
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float | np.floating) and np.isfinite(value):
            return int(value)
    return default


def _decoded(value):
    """A table cell with bytes decoded to str."""
    return value.decode(errors="replace") if isinstance(value, bytes | np.bytes_) else value


def _s(header, *keys, default=""):
    for key in keys:
        if key in header and header[key] is not None:
            return str(header[key]).strip()
    return default


def _ivar_from_error(err: np.ndarray) -> np.ndarray:
    err = np.asarray(err, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ivar = 1.0 / err**2
    return np.where(np.isfinite(ivar) & (err > 0), ivar, 0.0)


#: A telescope name (apo25m, lco25m, apo1m) as it appears in APOGEE file and directory names.
_TELESCOPE = re.compile(r"^(?:apo|lco)\d+m$")


def apogee_telescope(header, path, names=()) -> str:
    """The telescope of an APOGEE file: TELESCOP, else what its name and directory say.

    Parameters
    ----------
    header : mapping
        Primary header.
    path : path-like
        The file (``a[ps]{Star,Visit}-{apred}-{telescope}-...`` in SDSS-V, a ``stars/`` or
        ``visit/{telescope}/`` directory, DR17's ``as`` prefix for LCO).
    names : iterable of str
        Other file names that may carry it (an apStar's SFILEi).

    Returns
    -------
    str
        ``apo25m`` when nothing says otherwise (the plate-era default).
    """
    tel = _s(header, "TELESCOP")
    if tel:
        return tel
    path = os.fspath(path)
    for name in (os.path.basename(path), *names):
        for part in os.path.basename(str(name)).split("-")[1:3]:
            if _TELESCOPE.match(part):
                return part
    for part in reversed(os.path.normpath(path).split(os.sep)[:-1]):
        if _TELESCOPE.match(part):
            return part
    if any(os.path.basename(str(n)).startswith(("asStar-", "asVisit-")) for n in (path, *names)):
        return "lco25m"
    return "apo25m"


@readable
def read_apvisit(path: str | os.PathLike) -> ApVisit:
    """Read an apVisit file.

    Raises
    ------
    ValueError
        If the file does not hold (3, N) flux, error, mask and wavelength images (3 chips).
    """
    # fitsio: about 5x cheaper than astropy here (no Card objects, no config lookups)
    with fitsio.FITS(str(path)) as f:
        if len(f) < 5:
            raise ValueError(f"{path}: not an apVisit file ({len(f)} HDUs, need >= 5)")
        h = f[0].read_header()
        flux, err, mask, wave = (
            np.asarray(f[i].read()) if f[i].has_data() else np.asarray(None) for i in (1, 2, 3, 4)
        )
        if not (flux.ndim == 2 and flux.shape == err.shape == mask.shape == wave.shape):
            raise ValueError(
                f"{path}: apVisit images have shapes {flux.shape}, {err.shape}, {mask.shape}, {wave.shape}"
            )
        if flux.shape[0] != 3:  # one row per chip (a, b, c) in every release
            raise ValueError(f"{path}: apVisit images have {flux.shape[0]} rows, need 3 chips")
        table = {}
        if len(f) > 11 and f[11].get_exttype() == "BINARY_TBL" and f[11].get_nrows() > 0:
            row = f[11].read(rows=[0])[0]
            table = {n.upper(): _decoded(row[n]) for n in row.dtype.names}
    if wave[0, 0] > wave[-1, 0]:  # red chip first
        flux, err, mask, wave = flux[::-1], err[::-1], mask[::-1], wave[::-1]
    if wave[0, 0] > wave[0, -1]:  # λ decreasing within chips
        flux, err, mask, wave = flux[:, ::-1], err[:, ::-1], mask[:, ::-1], wave[:, ::-1]

    def tab(key, default=np.nan):
        v = table.get(key)
        return (
            float(v)
            if v is not None and np.isscalar(v) and not isinstance(v, str | bytes)
            else default
        )

    meta = {
        "obj": _s(h, "OBJID", "APOGEE_ID"),
        "telescope": apogee_telescope(h, path, [table.get("FILE", "")]),
        "mjd": int(_f(h, "MJD5", "MJD", default=-1)),
        "fiber": int(_f(h, "FIBERID", "FIBER", default=-1)),
        "plate": _s(h, "PLATE", default=str(table.get("PLATE", "")).strip()),
        # the field name (path component) is the table's FIELD from DR16 on; LOCID is a number
        "field": _s(h, "FIELD", default=str(table.get("FIELD", "")).strip())
        or _s(h, "LOCID", default=str(table.get("LOCATION_ID", "")).strip()),
        "snr": _f(h, "SNR"),
        "starflag": int(_f(h, "STARFLAG", default=0)),
        "date_obs": _s(h, "DATE-OBS"),
        "jd": _f(h, "JD-MID", "JD"),
        "exptime": _f(h, "EXPTIME"),
        "v_rel": tab("VREL", _f(h, "VREL", "VRAD")),
        "e_v_rel": tab("VRELERR", _f(h, "VRELERR", "VRADERR")),
        "v_helio": tab("VHELIO", _f(h, "VHELIO")),
        "bc": tab("BC", _f(h, "BC")),
        "ra": _f(h, "RA", default=tab("RA")),
        "dec": _f(h, "DEC", default=tab("DEC")),
        # DR19: sdss_id only in the HDU 11 table
        "sdss_id": _i(h, "SDSS_ID", "SDSSID", default=_i(table, "SDSS_ID")),
        "catalogid": _i(h, "CATID", "CATALOGID", default=_i(table, "CATALOGID")),
        "filename": str(table.get("FILE", "")).strip() or os.path.basename(str(path)),
    }
    return ApVisit(
        wave.astype(float), flux.astype(float), _ivar_from_error(err), mask.astype(np.int64), meta
    )


def _mjd(header, i: int) -> int:
    """MJD of apStar visit ``i`` whose SFILEi has none (apo1m names): MJDi, else from JDi."""
    mjd = _f(header, f"MJD{i}")
    if not np.isfinite(mjd):
        mjd = np.floor(_f(header, f"JD{i}") - 2400000.5)
    return int(mjd) if np.isfinite(mjd) else -1


def _rv_table(hdul) -> dict[str, dict]:
    """Per-visit velocities of an apStar's RV table (HDU 9), keyed by apVisit base name.

    DR13-DR16 write one row of per-visit arrays (FILE, VREL, VRELERR, VHELIO, BC), DR17 and
    the SDSS-V DRP one row per visit (lower-case ``filename``, ``vrel``, ``vrelerr``, ...).

    Returns
    -------
    dict
        {name: {"vrel", "vrelerr", "vhelio", "bc"}} (km/s; NaN where absent); empty if
        the file has no such table.
    """
    if len(hdul) < 10 or not isinstance(hdul[9], fits.BinTableHDU) or hdul[9].data is None:
        return {}
    data = hdul[9].data
    names = {n.lower(): n for n in data.columns.names}
    key = names.get("filename") or names.get("file")
    if key is None:
        return {}
    out = {}
    for row in data:
        files = np.atleast_1d(row[key])
        for j, name in enumerate(files):
            rec = {}
            for col in ("vrel", "vrelerr", "vhelio", "bc"):
                v = np.atleast_1d(row[names[col]]) if col in names else np.array([])
                rec[col] = float(v[j]) if v.size == files.size else np.nan
            out[os.path.basename(str(_decoded(name)).strip())] = rec
    return out


@readable
def read_apstar(path: str | os.PathLike) -> ApStar:
    """Read an apStar file (all rows).

    Raises
    ------
    ValueError
        If the grid keywords are missing, the images disagree in shape or have fewer rows
        than NVISITS needs.
    """
    with fits.open(path, memmap=False) as hdul:
        h = hdul[0].header
        flux = np.atleast_2d(np.asarray(hdul[1].data, dtype=float))
        err = np.atleast_2d(np.asarray(hdul[2].data, dtype=float))
        mask = np.atleast_2d(np.asarray(hdul[3].data)).astype(np.int64)
        crval = _f(h, "CRVAL1", default=_f(hdul[1].header, "CRVAL1"))
        cdelt = _f(h, "CDELT1", default=_f(hdul[1].header, "CDELT1"))
        rv = _rv_table(hdul)
    if not np.isfinite(crval) or not np.isfinite(cdelt):
        raise ValueError(f"{path}: apStar header has no CRVAL1/CDELT1")
    if not (flux.shape == err.shape == mask.shape):
        raise ValueError(
            f"{path}: apStar images have shapes {flux.shape}, {err.shape}, {mask.shape}"
        )
    nvisits = int(_f(h, "NVISITS", default=max(flux.shape[0] - 2, 1)))
    # rows: the stack, the "global" row, then one per visit; one row only when NVISITS = 1
    if flux.shape[0] < nvisits + 2 and not (nvisits == 1 and flux.shape[0] == 1):
        raise ValueError(
            f"{path}: apStar images have {flux.shape[0]} rows for NVISITS = {nvisits} "
            f"(need {nvisits + 2}, or 1 for a single visit)"
        )
    visits = []
    for i in range(1, nvisits + 1):
        sfile = _s(h, f"SFILE{i}")
        m = re.search(r"-(\d{5})-(\d+)\.fits", sfile)
        # the RV table fills what the cards lack (DR19 has no VERRi)
        t = rv.get(os.path.basename(sfile), {})
        bc = _f(h, f"BC{i}", default=t.get("bc", np.nan))
        if f"VHELIO{i}" in h:  # DR12-DR17: VRADi is the Doppler shift
            vhelio, vrad = _f(h, f"VHELIO{i}"), _f(h, f"VRAD{i}", f"VREL{i}")
        else:  # SDSS-V DRP (DR19): VRADi barycentric, VRELi the Doppler shift
            vhelio, vrad = _f(h, f"VRAD{i}"), _f(h, f"VREL{i}")
        vhelio = vhelio if np.isfinite(vhelio) else t.get("vhelio", np.nan)
        vrad = vrad if np.isfinite(vrad) else t.get("vrel", np.nan)
        if not np.isfinite(vrad) and np.isfinite(vhelio) and np.isfinite(bc):
            vrad = vhelio - bc
        if not np.isfinite(vhelio) and np.isfinite(vrad) and np.isfinite(bc):
            vhelio = vrad + bc
        visits.append(
            {
                "sfile": sfile,
                "row": (i - 1) + 2 if flux.shape[0] > 2 else 0,
                "mjd": int(m.group(1)) if m else _mjd(h, i),
                "jd": _f(h, f"JD{i}"),
                "fiber": int(_f(h, f"FIBER{i}", default=int(m.group(2)) if m else -1)),
                "bc": bc,
                "v_rel": vrad,
                "e_v_rel": _f(h, f"VERR{i}", f"VRELERR{i}", default=t.get("vrelerr", np.nan)),
                "v_helio": vhelio,
                "snr": _f(h, f"SNRVIS{i}"),
                "flag": int(_f(h, f"FLAG{i}", default=0)),
                "date_obs": _s(h, f"DATE{i}"),
            }
        )
    meta = {
        "obj": _s(h, "OBJID", "APOGEE_ID"),
        "telescope": apogee_telescope(h, path, [v["sfile"] for v in visits]),
        "field": _s(h, "FIELD"),
        "nvisits": nvisits,
        "snr": _f(h, "SNR"),
        "starflag": int(_f(h, "STARFLAG", default=0)),
        "meanfib": _f(h, "MEANFIB"),
        "sigfib": _f(h, "SIGFIB"),
        "vhelio": _f(h, "VHELIO", "VRAD"),
        "verr": _f(h, "VERR"),
        "vscatter": _f(h, "VSCATTER"),
        "verr_med": _f(h, "VERR_MED"),
        "rv_teff": _f(h, "RVTEFF", "RV_TEFF"),
        "rv_logg": _f(h, "RVLOGG", "RV_LOGG"),
        "rv_feh": _f(h, "RVFEH", "RV_FEH"),
        "ccpfwhm": _f(h, "CCPFWHM", "CCFWHM"),  # CCFWHM from DR17 on
        "autofwhm": _f(h, "AUTOFWHM"),
        "ra": _f(h, "RA"),
        "dec": _f(h, "DEC"),
        "sdss_id": _i(h, "SDSS_ID", "SDSSID"),
        "catalogid": _i(h, "CATID", "CATALOGID"),
    }
    return ApStar(flux, _ivar_from_error(err), mask, crval, cdelt, meta, visits)
