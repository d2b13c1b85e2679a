"""QA flags after MuseRed: a registry of names and per-exposure assignments in a CSV.

The registry (``data/flags.yaml``, extended by ``flags:`` in the config) says which
names exist; ``config/flags.csv`` says which exposure (optionally which camera) carries
which flag, in which reduction version, with a severity (> 0 means set). Unknown flag
names are refused everywhere, so a typo fails early instead of excluding nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

__all__ = [
    "FLAG_COLUMNS",
    "REGISTRY_PATH",
    "load_registry",
    "read_flags_csv",
    "write_flags_csv",
    "add_flags",
    "remove_flags",
    "list_flags",
    "find_exposures",
    "check_names",
    "exclude_list",
    "rows_for_plate",
    "apply_flags",
]

log = logging.getLogger(__name__)

#: Columns of config/flags.csv, in file order.
FLAG_COLUMNS = ["version", "observatory", "mjd", "plate", "exposure", "camera", "flag", "severity", "note"]
_KEY = ["version", "observatory", "mjd", "plate", "exposure", "camera", "flag"]
_INT_COLUMNS = ["mjd", "plate", "exposure", "severity"]
_CAMERAS = {"", "b1", "r1", "b2", "r2"}

#: The packaged registry (``data/flags.yaml`` at the repository root).
REGISTRY_PATH = Path(__file__).resolve().parents[2] / "data" / "flags.yaml"


def load_registry(extra: Mapping[str, str] | None = None, path: str | os.PathLike | None = None) -> dict[str, str]:
    """The flag registry: name -> description.

    Parameters
    ----------
    extra : mapping, optional
        Names added by the ``flags:`` config key.
    path : path-like, optional
        Registry YAML; defaults to :data:`REGISTRY_PATH`.

    Returns
    -------
    dict
        Flag name to description.

    Raises
    ------
    ValueError
        If a name is not UPPER_CASE or the registry file is not a mapping.
    """
    path = Path(path) if path else REGISTRY_PATH
    with open(path) as fh:
        registry = yaml.safe_load(fh)
    if not isinstance(registry, dict):
        raise ValueError(f"{path}: the flag registry must be a mapping of NAME: description")
    registry = {str(k): str(v) for k, v in registry.items()}
    registry.update({str(k): str(v) for k, v in (extra or {}).items()})
    bad = [name for name in registry if not name.replace("_", "").isalnum() or name.upper() != name]
    if bad:
        raise ValueError(f"flag names must be UPPER_CASE: {bad}")
    return registry


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({col: pd.Series(dtype="int64" if col in _INT_COLUMNS else "str") for col in FLAG_COLUMNS})
    return frame


def read_flags_csv(path: str | os.PathLike, registry: Mapping[str, str]) -> pd.DataFrame:
    """Read and check ``flags.csv``.

    Parameters
    ----------
    path : path-like
        The CSV; a missing file means no flags.
    registry : mapping
        Known flag names (:func:`load_registry`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FLAG_COLUMNS`; ``camera`` and ``note`` are strings ('' when unset).

    Raises
    ------
    ValueError
        Naming the file, the line and the problem: missing columns, non-integer ids,
        unknown observatory, camera or flag name, severity < 1.
    """
    path = Path(path)
    if not path.exists():
        return _empty()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, comment="#", skipinitialspace=True)
    missing = [c for c in FLAG_COLUMNS if c not in frame.columns and c not in ("camera", "note")]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {FLAG_COLUMNS}")
    unknown_cols = [c for c in frame.columns if c not in FLAG_COLUMNS]
    if unknown_cols:
        raise ValueError(f"{path}: unknown column(s) {unknown_cols}; expected {FLAG_COLUMNS}")
    for col in ("camera", "note"):
        if col not in frame.columns:
            frame[col] = ""
    frame = frame[FLAG_COLUMNS].copy()
    for col in _INT_COLUMNS:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna()
        if bad.any():
            line = int(bad.idxmax()) + 2
            raise ValueError(f"{path}, line {line}: column {col!r} must be an integer, got {frame[col][bad].iloc[0]!r}")
        frame[col] = values.astype("int64")
    for line, row in zip(frame.index + 2, frame.itertuples(index=False)):
        if row.observatory not in ("apo", "lco"):
            raise ValueError(f"{path}, line {line}: observatory must be apo or lco, got {row.observatory!r}")
        if row.camera not in _CAMERAS:
            raise ValueError(f"{path}, line {line}: camera must be one of b1 r1 b2 r2 or empty, got {row.camera!r}")
        if row.flag not in registry:
            raise ValueError(f"{path}, line {line}: unknown flag {row.flag!r}; known flags: {', '.join(sorted(registry))}")
        if row.severity < 1:
            raise ValueError(f"{path}, line {line}: severity must be >= 1 (> 0 means set), got {row.severity}")
        if not row.version:
            raise ValueError(f"{path}, line {line}: empty version (use '*' for every version)")
    return frame.reset_index(drop=True)


def write_flags_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the flags table atomically, sorted by its key, in :data:`FLAG_COLUMNS` order."""
    from sdssflow.io.products import atomic_path

    ordered = frame[FLAG_COLUMNS].sort_values(_KEY, kind="stable")
    with atomic_path(path) as tmp:
        ordered.to_csv(tmp, index=False)
    return Path(path)


def check_names(flags: Iterable[str], registry: Mapping[str, str]) -> list[str]:
    flags = list(flags)
    unknown = [f for f in flags if f not in registry]
    if unknown:
        raise ValueError(f"unknown flag(s) {unknown}; known flags: {', '.join(sorted(registry))}")
    if not flags:
        raise ValueError("no flag name given")
    return flags


def add_flags(
    frame: pd.DataFrame,
    exposures: Iterable[Mapping],
    flags: Iterable[str],
    registry: Mapping[str, str],
    severity: int = 1,
    note: str = "",
) -> pd.DataFrame:
    """Set flags on exposures (upsert: an existing assignment takes the new severity).

    Parameters
    ----------
    frame : pandas.DataFrame
        Current flags table.
    exposures : iterable of mapping
        Each with version, observatory, mjd, plate, exposure and optionally camera.
    flags : iterable of str
        Flag names; must be in ``registry``.
    registry : mapping
        Known names.
    severity : int
        > 0; MuseRed's convention (1 warning, 2 bad).
    note : str
        Free-text reason.

    Returns
    -------
    pandas.DataFrame
        A new table.
    """
    flags = check_names(flags, registry)
    if int(severity) < 1:
        raise ValueError(f"severity must be >= 1, got {severity}")
    rows = []
    for exp in exposures:
        for flag in flags:
            rows.append(
                {
                    "version": str(exp["version"]),
                    "observatory": str(exp.get("observatory", "apo")),
                    "mjd": int(exp["mjd"]),
                    "plate": int(exp["plate"]),
                    "exposure": int(exp["exposure"]),
                    "camera": str(exp.get("camera") or ""),
                    "flag": flag,
                    "severity": int(severity),
                    "note": note,
                }
            )
    new = pd.DataFrame(rows, columns=FLAG_COLUMNS)
    merged = pd.concat([frame, new], ignore_index=True)
    return merged.drop_duplicates(subset=_KEY, keep="last").reset_index(drop=True)


def _match(frame: pd.DataFrame, **keys) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for col, value in keys.items():
        if value is None:
            continue
        mask &= frame[col] == (int(value) if col in _INT_COLUMNS else str(value))
    return mask


def remove_flags(frame: pd.DataFrame, flags: Iterable[str] | None = None, **keys) -> pd.DataFrame:
    """Unset flags: drop the rows matching ``keys`` (and ``flags`` if given)."""
    mask = _match(frame, **keys)
    if flags:
        mask &= frame["flag"].isin(list(flags))
    return frame[~mask].reset_index(drop=True)


def list_flags(frame: pd.DataFrame, **keys) -> pd.DataFrame:
    """The flag rows of the exposures matching ``keys`` (version, mjd, plate, exposure ...)."""
    return frame[_match(frame, **keys)].reset_index(drop=True)


def find_exposures(
    frame: pd.DataFrame, flags: Iterable[str], require_all: bool = False, min_severity: int = 1, version: str | None = None
) -> pd.DataFrame:
    """Exposures carrying any (or all) of ``flags`` with severity >= ``min_severity``.

    Returns
    -------
    pandas.DataFrame
        One row per (version, observatory, mjd, plate, exposure) with the matching flags
        joined by spaces.
    """
    flags = list(flags)
    sub = frame[frame["flag"].isin(flags) & (frame["severity"] >= min_severity)]
    if version is not None:
        sub = sub[sub["version"].isin([version, "*"])]
    keys = ["version", "observatory", "mjd", "plate", "exposure"]
    grouped = sub.groupby(keys, as_index=False)["flag"].agg(lambda s: " ".join(sorted(set(s))))
    if require_all:
        grouped = grouped[grouped["flag"].map(lambda s: set(flags) <= set(s.split()))]
    return grouped.reset_index(drop=True)


def exclude_list(exclude_flags: bool | list[str], registry: Mapping[str, str]) -> list[str]:
    """Resolve an ``exclude_flags`` setting to the list of flag names it excludes.

    Parameters
    ----------
    exclude_flags : bool or list of str
        ``True`` excludes every registered flag, ``False`` none, a list the named ones.
    registry : mapping
        Known names; a listed name not in it is an error.

    Examples
    --------
    >>> exclude_list(["CLOUDY"], {"CLOUDY": "", "SATELLITE": ""})
    ['CLOUDY']
    >>> exclude_list(True, {"CLOUDY": "", "SATELLITE": ""})
    ['CLOUDY', 'SATELLITE']
    """
    if exclude_flags is True:
        return sorted(registry)
    if exclude_flags is False or exclude_flags is None:
        return []
    if isinstance(exclude_flags, list | tuple):
        return sorted(check_names(exclude_flags, registry)) if exclude_flags else []
    raise ValueError(f"exclude_flags must be true, false or a list of flag names, got {exclude_flags!r}")


def rows_for_plate(frame: pd.DataFrame, version: str, plate: int) -> str:
    """The flag rows of one plate in one version, as a canonical CSV string.

    Used as a rule ``param`` so that Snakemake re-runs exactly the plates whose flags
    changed.
    """
    sub = frame[(frame["plate"] == int(plate)) & frame["version"].isin([version, "*"])]
    sub = sub.sort_values(_KEY, kind="stable")[FLAG_COLUMNS[:-1]]
    return sub.to_csv(index=False, header=False).strip()


def apply_flags(exposures: pd.DataFrame, flag_rows: pd.DataFrame, exclude: Iterable[str]) -> pd.DataFrame:
    """Attach flags to an exposure table and drop the excluded exposures.

    Parameters
    ----------
    exposures : pandas.DataFrame
        One row per exposure with columns observatory, mjd, plate, exposure.
    flag_rows : pandas.DataFrame
        Flag assignments (:data:`FLAG_COLUMNS` without note), already restricted to the
        version.
    exclude : iterable of str
        Flag names that exclude an exposure (exposure-level rows) or a camera
        (camera-level rows).

    Returns
    -------
    pandas.DataFrame
        The kept exposures with two more columns: ``flags`` (space-separated names set
        on the exposure or a camera but not excluding it) and ``excluded_cameras``
        (space-separated cameras dropped by camera-level excluded flags).
    """
    exclude = set(exclude)
    out = exposures.copy()
    flags_col, cams_col, keep = [], [], []
    index = {}
    for row in flag_rows.itertuples(index=False):
        index.setdefault((row.observatory, int(row.mjd), int(row.plate)), []).append(row)
    for exp in out.itertuples(index=False):
        rows = [
            r
            for r in index.get((exp.observatory, int(exp.mjd), int(exp.plate)), [])
            if int(r.exposure) in (-1, int(exp.exposure))
        ]
        drop = any(r.flag in exclude and not r.camera for r in rows)
        cams = sorted({r.camera for r in rows if r.flag in exclude and r.camera})
        kept_flags = sorted({r.flag + (f"[{r.camera}]" if r.camera else "") for r in rows if r.flag not in exclude})
        keep.append(not drop and len(cams) < 4)
        flags_col.append(" ".join(kept_flags))
        cams_col.append(" ".join(cams))
    out["flags"] = flags_col
    out["excluded_cameras"] = cams_col
    n_drop = len(out) - sum(keep)
    if n_drop:
        log.info("%d of %d exposures excluded by flags %s", n_drop, len(out), sorted(exclude))
    return out[np.asarray(keep, dtype=bool)].reset_index(drop=True)
