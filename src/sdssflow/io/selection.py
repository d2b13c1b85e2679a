"""The selection table of a plate (``selection-<step>-<plate>.csv``, written by select_exposures).

One row per selected exposure: ``observatory, mjd, plate, exposure, exptime, airmass, ra,
dec, tai_beg, tai_end, cameras, flags, excluded_cameras`` then the other exposure-catalog
columns. ``flags`` and ``excluded_cameras`` are blank-separated names (empty = none).
Every step that takes a selection reads it with :func:`read_selection`.
"""

from __future__ import annotations

import os

import pandas as pd

__all__ = ["SELECTION_TEXT_COLUMNS", "read_selection"]

#: Columns kept as text ('' when empty), never parsed as numbers.
SELECTION_TEXT_COLUMNS = ("flags", "excluded_cameras", "cameras", "observatory")


def read_selection(
    path: str | os.PathLike, required: tuple[str, ...] = ("plate", "mjd", "exposure")
) -> pd.DataFrame:
    """Read a selection CSV.

    Parameters
    ----------
    path : str or path-like
        The CSV.
    required : tuple of str
        Columns that must be present (an empty table with the header is valid).

    Returns
    -------
    pandas.DataFrame
        One row per exposure; ``plate``, ``mjd``, ``exposure`` as int64 when present; the
        :data:`SELECTION_TEXT_COLUMNS` as str with '' for empty cells.

    Raises
    ------
    OSError
        The file cannot be read (the message names it).
    ValueError
        The file is not a CSV or lacks a required column (the message names the file).
    """
    try:
        table = pd.read_csv(path, dtype={c: str for c in SELECTION_TEXT_COLUMNS})
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: empty selection table (not even a header)") from None
    except pd.errors.ParserError as err:
        raise ValueError(f"{path}: cannot read selection table ({err})") from None
    missing = sorted(set(required) - set(table.columns))
    if missing:
        raise ValueError(f"{path}: selection table lacks column(s) {missing}")
    for col in SELECTION_TEXT_COLUMNS:
        if col in table.columns:
            table[col] = table[col].fillna("").str.strip()
    for col in ("plate", "mjd", "exposure"):
        if col in table.columns:
            table[col] = table[col].astype("int64")
    return table
