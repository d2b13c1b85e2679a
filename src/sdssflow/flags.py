"""QA flags after MuseRed: a registry of names and per-exposure assignments in a CSV.

The registry (``sdssflow/data/flags.yaml``, extended by ``flags:`` in the config) says which
names exist; ``config/flags.csv`` says which exposure (optionally which camera) carries
which flag, in which reduction version, with a severity (> 0 means set). Unknown flag
names are refused everywhere, so a typo fails early instead of excluding nothing.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sdssflow.resources import data_path

__all__ = ["FLAG_COLUMNS", "REGISTRY_PATH", "load_registry", "read_flags_csv", "write_flags_csv", "add_flags", "remove_flags", "list_flags", "check_names"]

log = logging.getLogger(__name__)

#: Columns of config/flags.csv, in file order.
FLAG_COLUMNS = ["version", "observatory", "mjd", "plate", "exposure", "camera", "flag", "severity", "note"]
_KEY = ["version", "observatory", "mjd", "plate", "exposure", "camera", "flag"]
_INT_COLUMNS = ["mjd", "plate", "exposure", "severity"]
_CAMERAS = {"", "b1", "r1", "b2", "r2"}

#: The packaged registry (``sdssflow/data/flags.yaml``).
REGISTRY_PATH = data_path("flags.yaml")


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


_VERSION = re.compile(r"^(\*|[A-Za-z0-9][A-Za-z0-9._-]*)$")


def _split_line(path: Path, number: int, line: str) -> list[str]:
    """Fields of one physical CSV line (quoted fields may hold commas, quotes and ``#``)."""
    try:
        rows = list(csv.reader([line], skipinitialspace=True, strict=True))
    except csv.Error as err:
        raise ValueError(f"{path}, line {number}: not valid CSV ({err}); quote a note holding commas or quotes") from None
    if len(rows) != 1:
        raise ValueError(f"{path}, line {number}: not one CSV record")
    return rows[0]


def _check_row(path: Path, number: int, row: dict, registry: Mapping[str, str]) -> dict:
    """Types and values of one flags.csv row; errors name the file and the physical line."""
    where = f"{path}, line {number}"
    for col in ("version", "observatory", "flag", "camera", "note"):
        row[col] = row[col].strip()
    for col in _INT_COLUMNS:
        text = row[col].strip()
        try:
            row[col] = int(text)
        except ValueError:
            raise ValueError(f"{where}: column {col!r} must be an integer, got {text!r}") from None
    if not row["version"]:
        raise ValueError(f"{where}: empty version (use '*' for every version)")
    if not _VERSION.match(row["version"]):
        raise ValueError(f"{where}: version must be '*' or a version name (letters, digits, . _ -), got {row['version']!r}")
    if row["observatory"] not in ("apo", "lco"):
        raise ValueError(f"{where}: observatory must be apo or lco, got {row['observatory']!r}")
    if row["camera"] not in _CAMERAS:
        raise ValueError(f"{where}: camera must be one of b1 r1 b2 r2 or empty, got {row['camera']!r}")
    if row["flag"] not in registry:
        raise ValueError(f"{where}: unknown flag {row['flag']!r}; known flags: {', '.join(sorted(registry))}")
    if row["severity"] < 1:
        raise ValueError(f"{where}: severity must be >= 1 (> 0 means set), got {row['severity']}")
    return row


def read_flags_csv(path: str | os.PathLike, registry: Mapping[str, str]) -> pd.DataFrame:
    """Read and check ``flags.csv``.

    The file is read with the :mod:`csv` module: a field holding commas, quotes or ``#``
    is quoted (``"thin cirrus, see log #12"``, quotes doubled inside). A line whose first
    character is ``#`` is a comment and blank lines are ignored; everywhere else ``#``
    is data. The header names the columns (``camera`` and ``note`` may be left out); a row
    may omit trailing empty fields but not have more fields than the header.

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
        Naming the file, the physical line (comments and blank lines counted) and the
        problem: bad CSV, missing/unknown/duplicate columns, too many fields,
        non-integer ids, bad version, unknown observatory, camera or flag name,
        severity < 1.
    """
    path = Path(path)
    if not path.exists():
        return _empty()
    header, rows = None, []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        try:
            lines = fh.read().splitlines()
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}: not UTF-8 text ({err})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = _split_line(path, number, line)
        if header is None:
            header = [f.strip() for f in fields]
            missing = [c for c in FLAG_COLUMNS if c not in header and c not in ("camera", "note")]
            if missing:
                raise ValueError(f"{path}, line {number}: missing column(s) {missing}; expected {FLAG_COLUMNS}")
            unknown = [c for c in header if c not in FLAG_COLUMNS]
            if unknown:
                raise ValueError(f"{path}, line {number}: unknown column(s) {unknown}; expected {FLAG_COLUMNS}")
            if len(set(header)) != len(header):
                raise ValueError(f"{path}, line {number}: duplicate column names in {header}")
            continue
        if len(fields) > len(header):
            raise ValueError(
                f"{path}, line {number}: {len(fields)} fields but the header has {len(header)} "
                f"({', '.join(header)}); quote a note that holds commas"
            )
        row = {col: "" for col in FLAG_COLUMNS}
        row.update(zip(header, fields))
        rows.append(_check_row(path, number, row, registry))
    if not rows:
        return _empty()
    frame = pd.DataFrame(rows, columns=FLAG_COLUMNS)
    for col in _INT_COLUMNS:
        frame[col] = frame[col].astype("int64")
    return frame


def write_flags_csv(frame: pd.DataFrame, path: str | os.PathLike, comments: list[str] | None = None) -> Path:
    """Write the flags table atomically with the :mod:`csv` module, sorted by its key.

    Fields holding commas or quotes are quoted, so :func:`read_flags_csv` reads back
    exactly what was written.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns :data:`FLAG_COLUMNS`.
    path : path-like
        The CSV.
    comments : list of str, optional
        Comment lines (starting with ``#``) written before the header; default the
        comment lines of the file being replaced, so editing keeps them.
    """
    from sdssflow.io.products import atomic_path

    path = Path(path)
    if comments is None:
        comments = _comment_lines(path)
    bad = [c for c in comments if not c.startswith("#") or any(ch in c for ch in "\r\n")]
    if bad:
        raise ValueError(f"{path}: comment lines must start with '#' and be one line, got {bad[:3]}")
    ordered = frame[FLAG_COLUMNS].sort_values(_KEY, kind="stable")
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            fh.writelines(c + "\n" for c in comments)
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(FLAG_COLUMNS)
            for row in ordered.itertuples(index=False):
                writer.writerow([_cell(v) for v in row])
    return path


def _comment_lines(path: Path) -> list[str]:
    """The ``#`` comment lines of an existing flags file, in order ([] if none or missing)."""
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        return [line for line in fh.read().splitlines() if line.startswith("#")]


def _cell(value) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


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
        Free-text reason, one line (commas, quotes and ``#`` are fine); leading and
        trailing spaces are dropped.

    Returns
    -------
    pandas.DataFrame
        A new table.
    """
    flags = check_names(flags, registry)
    note = str(note).strip()
    if any(c in note for c in "\r\n"):
        raise ValueError("a flag note must be one line (no line breaks)")
    if int(severity) < 1:
        raise ValueError(f"severity must be >= 1, got {severity}")
    rows = []
    for exp in exposures:
        if not _VERSION.match(str(exp["version"])):
            raise ValueError(f"version must be '*' or a version name (letters, digits, . _ -), got {exp['version']!r}")
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


