"""Interpolation of the small sky tables in ``data/sky/``: zodiacal light, integrated
starlight (ISL), daily F10.7 solar flux, and photometric-night windows.

Fixes of the original (SkyModelling ``get_rich_meta_data.py``): the tables were pickled SciPy
interpolators (``interp2d`` no longer exists); here they are CSV files read with the csv module and
interpolated with numpy/scipy. ISL longitude wraps at 360 deg (the original did not) and is
evaluated per fibre (the original took row 0 of ``interp2d``'s sorted output). The F10.7 lookup
uses the day's value and gives NaN outside the table instead of the original's invalid
``fill_value='interpolate'`` (a ValueError for every MJD outside it). The zodiacal-light table
depends only on |ecliptic latitude| as in the source; the helio-ecliptic longitude is written
beside it (``HELIO_ECL_LON``) so that models can use the solar elongation.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from scipy.interpolate import RegularGridInterpolator

__all__ = [
    "DATA_DIR",
    "read_csv",
    "zodi",
    "isl",
    "f107",
    "photometric_flag",
]

#: The project's ``data/sky`` directory.
DATA_DIR = Path(__file__).resolve().parents[3] / "data" / "sky"


def read_csv(path: str | Path) -> dict[str, np.ndarray]:
    """Read a small CSV table with ``#`` comment lines into columns (numbers as float64).

    A column whose every value parses as a number becomes float64, otherwise str; empty cells
    of numeric columns are NaN. (pandas is not needed here, which keeps step start-up fast.)

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If a row has the wrong number of cells.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: table not found")
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(line for line in fh if not line.lstrip().startswith("#")) if r]
    if not rows:
        raise ValueError(f"{path}: empty table")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    for i, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise ValueError(f"{path}: row {i} has {len(r)} cells for {len(header)} columns")
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        values = [r[j].strip() for r in body]
        try:
            out[name] = np.array([float(v) if v != "" else np.nan for v in values], dtype=np.float64)
        except ValueError:
            out[name] = np.array(values, dtype=str)
    return out


_read = read_csv


def zodi(ecl_lat_deg: np.ndarray, path: Path = DATA_DIR / "zodi_vs_ecliptic_latitude.csv") -> np.ndarray:
    """Zodiacal-light level at ecliptic latitude (linear in |beta|, constant beyond the table).

    Parameters
    ----------
    ecl_lat_deg : numpy.ndarray
        Ecliptic latitude, degrees.

    Returns
    -------
    numpy.ndarray
        Table units (as in the source; see the CSV comment).

    Examples
    --------
    >>> float(zodi(np.array([0.0]))[0])
    5.341813
    """
    t = _read(path)
    return np.interp(np.abs(np.asarray(ecl_lat_deg, dtype=float)), t["abs_ecl_lat_deg"], t["zodi"])


def isl(gal_l_deg: np.ndarray, gal_b_deg: np.ndarray, path: Path = DATA_DIR / "isl_galactic.csv") -> np.ndarray:
    """Integrated starlight at galactic (l, b): bilinear, l wrapped at 360, b clipped to the grid.

    Returns
    -------
    numpy.ndarray
        Table units (as in the source).
    """
    t = _read(path)
    ls = np.unique(t["gal_l_deg"])
    bs = np.unique(t["gal_b_deg"])
    grid = np.full((ls.size, bs.size), np.nan)
    grid[np.searchsorted(ls, t["gal_l_deg"]), np.searchsorted(bs, t["gal_b_deg"])] = t["isl"]
    if np.isnan(grid).any():
        raise ValueError(f"{path}: the ISL grid is incomplete")
    grid = np.vstack([grid, grid[:1]])  # wrap l = 360 -> 0
    lsw = np.append(ls, 360.0)
    interp = RegularGridInterpolator((lsw, bs), grid, method="linear")
    lq = np.mod(np.asarray(gal_l_deg, dtype=float), 360.0)
    bq = np.clip(np.asarray(gal_b_deg, dtype=float), bs[0], bs[-1])
    good = np.isfinite(lq) & np.isfinite(bq)
    out = np.full(lq.shape, np.nan)
    out[good] = interp(np.column_stack([lq[good], bq[good]]))
    return out


def f107(mjd: np.ndarray, path: Path = DATA_DIR / "f107_daily.csv") -> np.ndarray:
    """Daily observed F10.7 (solar flux units) of the civil day holding each MJD; NaN if absent.

    Examples
    --------
    >>> round(float(f107(np.array([55500.3]))[0]), 1) > 0
    True
    """
    t = _read(path)
    day = np.floor(np.asarray(mjd, dtype=float))
    order = np.argsort(t["mjd"])
    days, vals = t["mjd"][order], t["f107_obs"][order]
    i = np.clip(np.searchsorted(days, day), 0, days.size - 1)
    return np.where(days[i] == day, vals[i], np.nan)


def photometric_flag(tai_beg: np.ndarray, tai_end: np.ndarray, windows=None) -> np.ndarray:
    """Photometric flag of each exposure from a table of windows.

    Parameters
    ----------
    tai_beg, tai_end : numpy.ndarray
        Exposure start/end, TAI seconds since MJD 0.
    windows : mapping of column -> array (dict, DataFrame) or None
        Columns ``start_tai``, ``end_tai`` (s) and ``photometric`` (0 or 1). None = no table.

    Returns
    -------
    numpy.ndarray of float
        The ``photometric`` value of the window holding the whole exposure, else of the window
        holding its start or its end (the later window wins), else 0.5 (unknown), as SkyModelling.

    Examples
    --------
    >>> w = {"start_tai": [0.0], "end_tai": [100.0], "photometric": [1]}
    >>> photometric_flag(np.array([10.0, 200.0]), np.array([20.0, 300.0]), w).tolist()
    [1.0, 0.5]
    """
    beg = np.asarray(tai_beg, dtype=float)
    end = np.asarray(tai_end, dtype=float)
    out = np.full(beg.shape, 0.5)
    if windows is None:
        return out
    need = {"start_tai", "end_tai", "photometric"}
    if not need <= set(windows.keys()):
        raise ValueError(f"photometric windows table needs columns {sorted(need)}")
    s, e, p = (np.asarray(windows[c], dtype=float) for c in ("start_tai", "end_tai", "photometric"))
    if s.size == 0:
        return out
    order = np.argsort(s, kind="stable")
    s, e, p = s[order], e[order], p[order]
    for t in (end, beg):  # the start's window overrides the end's
        i = np.searchsorted(s, t, side="right") - 1
        ok = (i >= 0) & (t < e[np.clip(i, 0, None)])
        out = np.where(ok, p[np.clip(i, 0, None)], out)
    return out
