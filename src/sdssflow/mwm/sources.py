"""Gather the inputs of the sources of one GG/HH bucket from the mwm_index CSV.

Reads each bossVisits file once per bucket (only the rows needed), the apVisit and apStar
files of the bucket's APOGEE sources, and returns per-source :class:`SourceInputs`.
APOGEE velocities: a visit listed in an apStar of its telescope (matched by MJD and
fiber) takes that apStar's per-visit VRADi (topocentric v_rel), BCi and VHELIOi, which
are the DRP's combined-fit values; other visits take their apVisit header/table values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sdssflow.io.apogee import read_apstar, read_apvisit
from sdssflow.io.mwm import read_boss_visits
from sdssflow.mwm.build import ApogeeVisit, BossVisit

__all__ = ["SourceInputs", "gather_bucket", "NON_STELLAR_CLASSES"]

#: Spectroscopic classes / OBJTYPEs that are not stellar-like.
NON_STELLAR_CLASSES = {"GALAXY", "QSO"}

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
    inputs: list = field(default_factory=list)
    error: str = ""


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


def _apogee_visits(entries: pd.DataFrame) -> tuple[list[ApogeeVisit], dict]:
    stars = [read_apstar(p) for p in entries.loc[entries["kind"] == "apstar", "path"]]
    header = {}
    if stars:
        m = stars[0].meta
        header = {"APOGEEID": m["obj"], "RA": m["ra"], "DEC": m["dec"]}
    lookup = {}
    for s in stars:
        for v in s.visits:
            lookup[(s.meta["telescope"], v["mjd"], v["fiber"])] = (s, v)
    visits, seen = [], set()
    for path in entries.loc[entries["kind"] == "apvisit", "path"]:
        av = read_apvisit(path)
        m = av.meta
        key = (m["telescope"], m["mjd"], m["fiber"])
        v_rel, e_v, bc, v_helio = m["v_rel"], m["e_v_rel"], m["bc"], m["v_helio"]
        if key in lookup:
            _, sv = lookup[key]
            seen.add(key)
            v_rel, bc, v_helio = sv["v_rel"], sv["bc"], sv["v_helio"]
            e_v = sv["e_v_rel"] if np.isfinite(sv["e_v_rel"]) else e_v
        if not np.isfinite(v_helio) and np.isfinite(v_rel):
            v_helio = v_rel + (bc if np.isfinite(bc) else 0.0)
        meta = {
            "telescope": m["telescope"], "mjd": m["mjd"], "fiber": m["fiber"], "snr": m["snr"],
            "spectrum_flags": m["starflag"], "v_rad": v_helio, "v_rel": v_rel, "e_v_rel": e_v, "bc": bc,
            "obj": m["obj"], "plate": m["plate"], "field": m["field"], "date_obs": m["date_obs"],
            "jd": m["jd"], "exptime": m["exptime"], "catalogid": m["catalogid"],
            "release": "sdssflow", "filetype": "apVisit", "prefix": "ap",
        }  # fmt: skip
        chips = [(av.wave[c], av.flux[c], av.ivar[c], av.mask[c]) for c in range(av.wave.shape[0])]
        visits.append(ApogeeVisit(meta, chips=chips))
    for key, (s, sv) in lookup.items():
        if key in seen or s.flux.shape[0] == 1:
            continue
        r = sv["row"]
        meta = {
            "telescope": key[0], "mjd": sv["mjd"], "fiber": sv["fiber"], "snr": sv["snr"],
            "spectrum_flags": sv["flag"], "v_rad": sv["v_helio"], "v_rel": sv["v_rel"],
            "e_v_rel": sv["e_v_rel"], "bc": sv["bc"], "obj": s.meta["obj"], "date_obs": sv["date_obs"],
            "jd": sv["jd"], "release": "sdssflow", "filetype": "apStar", "prefix": "ap",
        }  # fmt: skip
        visits.append(ApogeeVisit(meta, rest=(s.flux[r], s.ivar[r], s.mask[r])))
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
        src.objtypes = {str(o) for o in part["objtype"].fillna("")}
        try:
            for path, row in part.loc[part["kind"] == "boss", ["path", "row"]].itertuples(
                index=False
            ):
                if (path, int(row)) not in boss:
                    raise ValueError(boss_error or f"{path}: row {row} not read")
                src.boss.append(boss[(path, int(row))])
            src.apogee, src.header = _apogee_visits(part[part["kind"] != "boss"])
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
