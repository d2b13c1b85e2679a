"""Per-source status tables of the mwm bucket jobs (astra's product-status flags)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import fitsio
import numpy as np

from sdssflow.io.mwm_flags import STATUS_FLAGS
from sdssflow.io.products import atomic_path, header_card, provenance_cards
from sdssflow.io.readable import readable

__all__ = ["STATUS_COLUMNS", "status_table", "write_status", "read_status"]

# ------------------------------------------------------------------ status tables
#: Columns of the per-bucket and survey status tables (MWMSpectrumProductStatus).
STATUS_COLUMNS = (
    ("sdss_id", "i8"), ("gg", "S2"), ("hh", "S2"), ("flags", "i8"), ("n_boss", "i4"),
    ("n_apogee", "i4"), ("t_elapsed", "f4"), ("v_astra", "S32"), ("path", "S160"), ("message", "S200"),
)  # fmt: skip


def status_table(rows: Sequence[Mapping]) -> np.ndarray:
    """Structured array of status rows (missing fields: 0 / empty; text truncated to its width)."""
    arr = np.zeros(len(rows), dtype=list(STATUS_COLUMNS))
    for i, row in enumerate(rows):
        for name, dtype in STATUS_COLUMNS:
            if name in row and row[name] is not None:
                value = row[name]
                if dtype.startswith("S"):
                    value = str(value).encode("ascii", "replace")[: int(dtype[1:])]
                arr[name][i] = value
    return arr


def write_status(
    path, rows: Sequence[Mapping] | np.ndarray, version: str, step: str, inputs=()
) -> Path:
    """Write a status table (FITS, HDU 1 ``STATUS``; flag bits in the header comments)."""
    arr = rows if isinstance(rows, np.ndarray) else status_table(rows)
    cards = [header_card(k, v, c) for k, v, c in provenance_cards(version, inputs, step)]
    cards += [{"name": "COMMENT", "value": f"flags bit {b}: {n}"} for n, b in STATUS_FLAGS.items()]
    with atomic_path(path) as tmp:
        with fitsio.FITS(str(tmp), "rw", clobber=True) as f:
            f.write(None, header=cards)
            f[0].write_checksum()
            f.write(arr, extname="STATUS")
            f[-1].write_checksum()
    return Path(path)


@readable
def read_status(path) -> np.ndarray:
    """Read a status table written by :func:`write_status`.

    Raises
    ------
    ValueError
        If the file has no STATUS table.
    """
    with fitsio.FITS(str(path)) as f:
        if "STATUS" not in [h.get_extname() for h in f]:
            raise ValueError(f"{path}: no STATUS table")
        if f["STATUS"].get_nrows() == 0:
            return np.zeros(0, dtype=list(STATUS_COLUMNS))
        return f["STATUS"].read()
