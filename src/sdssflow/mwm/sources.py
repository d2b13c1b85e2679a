"""Gather the inputs of the sources of one GG/HH bucket from the mwm_index CSV.

Reads each bossVisits file once per bucket (only the rows needed), the apVisit and apStar
files of the bucket's APOGEE sources, and returns per-source :class:`SourceInputs`.
APOGEE: one visit list per source from its apVisit files and apStar rows
(:func:`_apogee_visits`); the velocities of apVisits are measured later
(:mod:`sdssflow.mwm.apogee_rv`), the header value kept as ``v_rad_header``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sdssflow.io.apogee import read_apstar, read_apvisit
from sdssflow.io.boss_visits import read_boss_visits
from sdssflow.io.mwm_grids import APOGEE
from sdssflow.io.readable import UnreadableFile
from sdssflow.mwm.build import ApogeeVisit, BossVisit

__all__ = [
    "SourceInputs",
    "gather_bucket",
    "apogee_id",
    "stellar_like",
    "NON_STELLAR_CLASSES",
    "STELLAR_CARTON_PREFIXES",
]

#: Spectroscopic classes / OBJTYPEs that are not stellar-like.
NON_STELLAR_CLASSES = {"GALAXY", "QSO"}
#: SDSS-V cartons whose targets are stellar-like although their mapper is not MWM (after
#: astra's STELLAR_LIKE_CARTON_NAMES, astra_mwm.md section 5.7), as name prefixes; every
#: ``mwm_`` carton is stellar-like.
STELLAR_CARTON_PREFIXES = ("mwm_", "bhm_csc_", "manual_", "openfibertargets_nov2020_", "ops_std_")


def stellar_like(classes, cartons=(), has_apogee: bool = False) -> tuple[bool, str]:
    """Is a source stellar-like (astra's rule), and why not.

    astra's rule (astra_mwm.md section 5.7): a source is stellar-like if it has an APOGEE
    spectrum (a DR17-style APOGEE id) or one of its SDSS-V cartons is stellar-like
    (:data:`STELLAR_CARTON_PREFIXES`). So an SDSS-V source with known cartons, none of them
    stellar-like, is not stellar-like whatever its class. Without cartons (plate-era
    data, real spec files without FIRSTCARTON) the spectroscopic class decides: not
    stellar-like when every class (spec-file CLASS, else OBJTYPE) is GALAXY or QSO.

    Parameters
    ----------
    classes : iterable of str
        Spectroscopic classes (or OBJTYPEs) of the source's visits.
    cartons : iterable of str
        SDSS-V carton names of the source (FIRSTCARTON of its fibermap rows); empty
        strings are ignored.
    has_apogee : bool
        Whether the source has APOGEE spectra.

    Returns
    -------
    (bool, str)
        The answer and, when False, the reason naming the class(es) and carton(s).

    Examples
    --------
    >>> stellar_like({"QSO"})
    (False, 'not stellar-like: class QSO')
    >>> stellar_like({"QSO"}, cartons=["mwm_yso_cmz"])[0], stellar_like({"STAR"})[0]
    (True, True)
    >>> stellar_like({"GALAXY"}, cartons=["bhm_spiders_clusters_lsdr10"])
    (False, 'not stellar-like: class GALAXY; carton bhm_spiders_clusters_lsdr10')
    """
    classes = {str(c).strip().upper() for c in classes if str(c).strip()}
    cartons = {str(c).strip() for c in cartons if str(c).strip()}
    if has_apogee or any(c.startswith(STELLAR_CARTON_PREFIXES) for c in cartons):
        return True, ""
    if cartons or (classes and classes <= NON_STELLAR_CLASSES):
        why = "not stellar-like: class " + (",".join(sorted(classes)) or "unknown")
        return False, why + ("; carton " + ",".join(sorted(cartons)) if cartons else "")
    return True, ""


_BOSS_META = (
    "catalogid", "mjd", "telescope", "run2d", "plateid", "fieldid", "n_exp", "exptime", "airmass",
    "seeing", "tai_beg", "tai_end", "snr", "xcsao_v_rad", "xcsao_e_v_rad", "xcsao_teff",
    "xcsao_e_teff", "xcsao_logg", "xcsao_e_logg", "xcsao_fe_h", "xcsao_e_fe_h", "xcsao_rxc",
    "zwarning_flags",
)  # fmt: skip


@dataclass
class SourceInputs:
    """Everything known about one source before building its products."""

    sdss_id: int
    boss: list = field(default_factory=list)
    apogee: list = field(default_factory=list)
    header: dict = field(default_factory=dict)
    objtypes: set = field(default_factory=set)
    cartons: set = field(default_factory=set)
    inputs: list = field(default_factory=list)
    error: str = ""
    notes: list = field(default_factory=list)


def _py(value):
    if isinstance(value, bytes):
        return value.decode().strip()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _boss_visits(entries: pd.DataFrame) -> dict[tuple[str, int], BossVisit]:
    out = {}
    for path, part in entries.groupby("path"):
        rows = np.sort(part["row"].to_numpy(int))
        data = read_boss_visits(path, rows)
        t = data["table"]
        for j, row in enumerate(rows):
            meta = {k: _py(t[k][j]) for k in _BOSS_META if k in t.dtype.names}
            meta.update(release="sdssflow", filetype="bossVisits")
            visit = BossVisit(
                meta, data["flux"][j], data["ivar"][j], data["pixel_flags"][j], data["wresl"][j]
            )
            visit.meta["_ra"], visit.meta["_dec"] = _py(t["ra"][j]), _py(t["dec"][j])
            out[(path, int(row))] = visit
    return out


#: apVisit name: DR17/SDSS-V ``apVisit-{apred}-[{tel}-]{plate}-{mjd}-{fiber}.fits``.
_VISIT_NAME = re.compile(r"^a[ps]Visit-[^-]+-(?:(?:apo|lco)\d+m-)?([^-]+)-(\d{5})-(\d+)\.fits")
#: A 2MASS-style APOGEE identifier in a file name.
_APOGEE_ID = re.compile(r"2M\d{8}[+-]\d{7}")

#: APOGEE visit metadata and the value meaning "unknown" (filled from another file).
_APOGEE_UNKNOWN = {
    "plate": "", "field": "", "exptime": np.nan, "catalogid": -1, "date_obs": "",
    "jd": np.nan, "snr": np.nan, "fiber": -1, "obj": "", "bc": np.nan, "ra": np.nan,
    "dec": np.nan,
}  # fmt: skip


#: apVisit velocity keys filled from the apStar's visit (km/s) when the apVisit has none.
_APSTAR_VELOCITIES = (
    ("v_rad_header", "v_helio"), ("v_rad", "v_helio"), ("v_rel", "v_rel"), ("e_v_rel", "e_v_rel"),
)  # fmt: skip


def _unknown(value, empty) -> bool:
    if value is None:
        return True
    if isinstance(empty, float):
        try:
            return not np.isfinite(float(value))
        except (TypeError, ValueError):
            return True
    return value == empty


def _fill_meta(meta: dict, *sources: dict) -> dict:
    """Fill the unknown metadata of ``meta`` from the first source that knows it."""
    for key, empty in _APOGEE_UNKNOWN.items():
        if not _unknown(meta.get(key), empty):
            continue
        meta[key] = empty
        for src in sources:
            if not _unknown(src.get(key), empty):
                meta[key] = src[key]
                break
    return meta


def apogee_id(*candidates: str) -> str:
    """The APOGEE identifier: the first non-empty OBJID, else a 2MASS id in a file name.

    Examples
    --------
    >>> apogee_id("", "/x/apVisit-2M00452143+1634446-0.fits")
    '2M00452143+1634446'
    """
    for c in candidates:
        c = str(c or "").strip()
        if c and "/" not in c and not c.endswith(".fits"):
            return c
    for c in candidates:
        m = _APOGEE_ID.search(str(c or ""))
        if m:
            return m.group(0)
    return ""


def _left_out(notes: list, err: UnreadableFile) -> None:
    # file names (the status message is 200 characters; the index has the full paths)
    notes.append(f"left out {Path(err.path).name} ({err.reason[:80]})")


def _prefix(name: str) -> str:
    """The DRP file prefix of a visit: ``as`` for DR17 LCO files (``asVisit-``), else ``ap``.

    Examples
    --------
    >>> _prefix("asVisit-dr17-12345-59000-001.fits"), _prefix("apVisit-1.3-lco25m-1-59000-1.fits")
    ('as', 'ap')
    """
    return "as" if Path(str(name)).name.startswith("as") else "ap"


def _check_apstar_grid(path, star) -> None:
    """Raise :class:`UnreadableFile` unless an apStar's rows are on the mwm APOGEE grid.

    Its rows are copied into mwmVisit/mwmStar unresampled, so another grid would put every
    pixel at a wrong wavelength (DR12-DR19 apStars all use CRVAL1 = 4.179, CDELT1 = 6e-6,
    8575 pixels: datamodel apStar).
    """
    npix = star.flux.shape[-1]
    if not (
        np.isclose(star.crval, APOGEE.crval, rtol=0, atol=1e-9)
        and np.isclose(star.cdelt, APOGEE.cdelt, rtol=1e-6, atol=0)
        and npix == APOGEE.npix
    ):
        raise UnreadableFile(path, ValueError(
            f"{path}: not the APOGEE grid (CRVAL1 {star.crval}, CDELT1 {star.cdelt}, {npix} px; "
            f"need {APOGEE.crval}, {APOGEE.cdelt}, {APOGEE.npix})"
        ))  # fmt: skip


def _apogee_visits(entries: pd.DataFrame, notes: list) -> tuple[list[ApogeeVisit], dict]:
    """One list of APOGEE visits from a source's apVisit files and apStar rows.

    A visit is identified by its apVisit file name (apStar SFILEi; the apVisit table FILE
    column or its own name), else by (telescope, MJD, fiber). An apVisit brings its chips
    (observed frame, measured by :mod:`sdssflow.mwm.apogee_rv`); an apStar row whose visit
    has no apVisit is used as a rest-frame visit (a single-visit apStar's one row too).
    Metadata unknown to one file (plate, field, exptime, catalogid, ...) is taken from the
    other: the apStar header and its per-visit cards, the SFILE name. An unreadable apVisit or
    apStar is left out and noted in ``notes`` (the source's other visits are kept).
    """
    star_paths, stars = [], []
    for p in entries.loc[entries["kind"] == "apstar", "path"]:
        try:
            star = read_apstar(p)
            _check_apstar_grid(p, star)
            stars.append(star)
            star_paths.append(p)
        except UnreadableFile as err:
            _left_out(notes, err)
    by_name, by_key = {}, {}
    for s in stars:
        for v in s.visits:
            key = (s.meta["telescope"], v["mjd"], v["fiber"])
            if key in by_key:  # the same visit in two apStars: keep the first
                continue
            by_key[key] = (s, v)
            if v["sfile"]:
                by_name[Path(v["sfile"]).name] = key
    visits, seen = [], set()
    ids = [s.meta["obj"] for s in stars] + star_paths
    for path in entries.loc[entries["kind"] == "apvisit", "path"]:
        try:
            av = read_apvisit(path)
        except UnreadableFile as err:  # a bad visit drops that visit only
            _left_out(notes, err)
            continue
        if not (np.asarray(av.ivar) > 0).any():
            notes.append(f"flagged {Path(path).name} (all-zero error array: not in the stack)")
        m = av.meta
        key = by_name.get(Path(m["filename"]).name, (m["telescope"], m["mjd"], m["fiber"]))
        if key in seen:
            continue  # the same visit twice (two copies of one apVisit)
        seen.add(key)
        ids[:0] = [m["obj"]]
        ids.append(path)
        meta = {
            "telescope": m["telescope"], "mjd": m["mjd"], "fiber": m["fiber"], "snr": m["snr"],
            "spectrum_flags": m["starflag"], "v_rad_header": m["v_helio"], "v_rad": m["v_helio"],
            "v_rel": m["v_rel"], "e_v_rel": m["e_v_rel"], "bc": m["bc"], "obj": m["obj"],
            "plate": m["plate"], "field": m["field"], "date_obs": m["date_obs"], "jd": m["jd"],
            "exptime": m["exptime"], "catalogid": m["catalogid"], "ra": m["ra"], "dec": m["dec"],
            "release": "sdssflow", "filetype": "apVisit", "prefix": _prefix(m["filename"]),
        }  # fmt: skip
        rest = None
        if key in by_key:
            s, sv = by_key[key]
            _fill_meta(meta, sv, s.meta)
            # DR19 apVisits carry no velocity (apVisit.yaml: no VHELIO/VREL/BC anywhere):
            # the DRP's, from the apStar, is then the header value the measurement is checked on
            for mk, sk in _APSTAR_VELOCITIES:
                if not np.isfinite(meta[mk]):
                    meta[mk] = sv[sk]
            rest = (s.flux[sv["row"]], s.ivar[sv["row"]], s.mask[sv["row"]])
        chips = [(av.wave[c], av.flux[c], av.ivar[c], av.mask[c]) for c in range(av.wave.shape[0])]
        visits.append(ApogeeVisit(_fill_meta(meta), chips=chips, rest=rest))
    for key, (s, sv) in by_key.items():
        if key in seen:
            continue
        seen.add(key)
        r = sv["row"]
        name = _VISIT_NAME.match(Path(sv["sfile"]).name)
        meta = {
            "telescope": key[0], "mjd": sv["mjd"], "fiber": sv["fiber"], "snr": sv["snr"],
            "spectrum_flags": sv["flag"], "v_rad": sv["v_helio"], "v_rad_header": sv["v_helio"],
            "v_rel": sv["v_rel"], "e_v_rel": sv["e_v_rel"], "bc": sv["bc"],
            "date_obs": sv["date_obs"], "jd": sv["jd"], "plate": name.group(1) if name else "",
            "release": "sdssflow", "filetype": "apStar", "prefix": _prefix(sv["sfile"]),
            "rv_method": "apstar_row",
        }  # fmt: skip
        visits.append(ApogeeVisit(_fill_meta(meta, s.meta), rest=(s.flux[r], s.ivar[r], s.mask[r])))
    header = {}
    if visits:
        header["APOGEEID"] = apogee_id(*ids)
        first = stars[0].meta if stars else visits[0].meta
        header["RA"], header["DEC"] = first.get("ra"), first.get("dec")
        for v in visits:
            v.meta["obj"] = v.meta["obj"] or header["APOGEEID"]
    return visits, header


def gather_bucket(index: pd.DataFrame) -> list[SourceInputs]:
    """Per-source inputs of one bucket, in sdss_id order.

    A source whose files cannot be read gets ``error`` set (its status will carry
    ATTEMPTED_BUT_EXCEPTION) instead of stopping the bucket.

    Parameters
    ----------
    index : pandas.DataFrame
        The bucket's mwm_index CSV.
    """
    out = []
    boss_idx = index[index["kind"] == "boss"]
    try:
        boss = _boss_visits(boss_idx)
        boss_error = ""
    except (OSError, ValueError, KeyError) as err:  # one unreadable bossVisits file
        boss, boss_error = {}, str(err)
    for sdss_id, part in index.groupby("sdss_id", sort=True):
        src = SourceInputs(int(sdss_id), inputs=sorted(set(part["path"])))
        src.objtypes = {str(o).strip() for o in part["objtype"].fillna("") if str(o).strip()}
        if "carton" in part:
            src.cartons = {str(c) for c in part["carton"].fillna("") if str(c)}
        try:
            for path, row in part.loc[part["kind"] == "boss", ["path", "row"]].itertuples(
                index=False
            ):
                if (path, int(row)) not in boss:
                    raise ValueError(boss_error or f"{path}: row {row} not read")
                src.boss.append(boss[(path, int(row))])
            src.apogee, src.header = _apogee_visits(part[part["kind"] != "boss"], src.notes)
            if not src.boss and not src.apogee and src.notes:  # every input was unreadable
                raise ValueError("; ".join(src.notes))
        except (OSError, ValueError, KeyError, IndexError) as err:
            src.error = f"{type(err).__name__}: {err}"
        if src.boss:
            first = src.boss[0].meta
            src.header.setdefault("RA", first.get("_ra"))
            src.header.setdefault("DEC", first.get("_dec"))
            src.header["CAT_ID"] = first.get("catalogid")
        for v in src.boss:
            v.meta.pop("_ra", None)
            v.meta.pop("_dec", None)
        src.header["SDSS_ID"] = int(sdss_id)
        out.append(src)
    return out
