"""Stacking per-plate sky tables into the mega files, and the "good" cuts.

``apply_cuts`` returns the good rows and a table of the removed rows with a ``REASON`` column
(every failed cut, ``;``-separated). Cuts (all optional, from ``sky.good`` in the config):
bad plates, flags (the selection's ``FLAGS`` column, for flags set but not excluded upstream),
QUALITY values, column ranges (``{column: [min, max]}``, NaN fails), and the failed-measurement
cut: a row whose line sums of its own arm are all NaN.

Fixes of the original (SkyModelling ``make_mega_file.py``): the platelist quality test compared
against ``'bad '`` with a trailing space (matching nothing with modern astropy); here strings are
stripped. The failed-line-sum test matched rows by (CAMERAS, IMG, FIB), which broke for mean
tables; here it is a per-row test. The removed table says why each row was removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from astropy.table import Table, vstack

__all__ = ["stack_tables", "apply_cuts"]


def stack_tables(tables: Sequence[Table]) -> Table:
    """Stack per-plate tables (outer join on columns; missing values masked then filled).

    Raises
    ------
    ValueError
        If no table is given.
    """
    if not tables:
        raise ValueError("no tables to stack")
    out = vstack(list(tables), join_type="outer", metadata_conflicts="silent")
    if out.has_masked_columns:
        for name in out.colnames:
            col = out[name]
            if hasattr(col, "mask") and np.any(col.mask):
                kind = col.dtype.kind
                fill = np.nan if kind == "f" else (-1 if kind in "iu" else "")
                out[name] = col.filled(fill)
    return out


def apply_cuts(
    table: Table,
    *,
    bad_plates: Sequence[int] = (),
    exclude_flags: Sequence[str] = (),
    bad_quality: Sequence[str] = (),
    ranges: Mapping[str, Sequence[float]] | None = None,
    line_columns: Mapping[str, Sequence[str]] | None = None,
) -> tuple[Table, Table]:
    """Split a table into good rows and removed rows with reasons.

    Parameters
    ----------
    table : astropy.table.Table
        Needs PLATE; FLAGS, QUALITY, CAMERA and the range/line columns when those cuts are used.
    bad_plates : sequence of int
        Plates removed entirely.
    exclude_flags : sequence of str
        A row whose space-separated FLAGS holds one of these is removed.
    bad_quality : sequence of str
        Header QUALITY values removed (compared stripped, case-insensitive).
    ranges : mapping column -> (min, max)
        Keep ``min <= value <= max`` (None for an open end); NaN fails.
    line_columns : mapping arm ('b'/'r') -> list of line column names
        Remove rows whose line sums of their own arm are all NaN.

    Returns
    -------
    good, removed : astropy.table.Table
        ``removed`` has the extra column ``REASON``.

    Raises
    ------
    ValueError
        If a range column is not in the table.
    """
    n = len(table)
    reasons: list[list[str]] = [[] for _ in range(n)]

    def mark(bad: np.ndarray, why: str) -> None:
        for i in np.flatnonzero(bad):
            reasons[i].append(why)

    if bad_plates:
        mark(np.isin(np.asarray(table["PLATE"]), list(bad_plates)), "bad_plate")
    if exclude_flags and "FLAGS" in table.colnames:
        wanted = set(exclude_flags)
        mark(np.array([bool(wanted & set(str(f).split())) for f in table["FLAGS"]], dtype=bool), "flagged")
    if bad_quality and "QUALITY" in table.colnames:
        badq = {q.strip().lower() for q in bad_quality}
        mark(np.array([str(q).strip().lower() in badq for q in table["QUALITY"]], dtype=bool), "quality")
    for col, (lo, hi) in (ranges or {}).items():
        if col not in table.colnames:
            raise ValueError(f"good cut on {col!r}: no such column (columns: {table.colnames[:8]}...)")
        v = np.asarray(table[col], dtype=float)
        ok = np.isfinite(v)
        if lo is not None:
            ok &= v >= lo
        if hi is not None:
            ok &= v <= hi
        mark(~ok, f"{col}_range")
    if line_columns and "CAMERA" in table.colnames:
        arm = np.array([str(c).strip().lower()[:1] for c in table["CAMERA"]])
        failed = np.zeros(n, dtype=bool)
        for a, cols in line_columns.items():
            cols = [c for c in cols if c in table.colnames]
            if not cols:
                continue
            vals = np.column_stack([np.asarray(table[c], dtype=float) for c in cols])
            failed |= (arm == a) & ~np.any(np.isfinite(vals), axis=1)
        mark(failed, "line_sums_failed")
    bad = np.array([bool(r) for r in reasons], dtype=bool)
    removed = Table(table[bad], copy=True)
    removed["REASON"] = np.array([";".join(r) for r in reasons if r], dtype="U128") if bad.any() else np.array([], dtype="U128")
    return Table(table[~bad], copy=True), removed
