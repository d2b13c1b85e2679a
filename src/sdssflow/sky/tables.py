"""Interpolation of the small sky tables in ``data/sky/``: zodiacal light, integrated
starlight (ISL), daily F10.7 solar flux, and photometric-night windows.

Fixes of the original (SkyModelling ``get_rich_meta_data.py``): the tables were pickled SciPy
interpolators (``interp2d`` no longer exists); here they are CSV files read with pandas and
interpolated with numpy/scipy. ISL longitude wraps at 360 deg (the original did not) and is
evaluated per fibre (the original took row 0 of ``interp2d``'s sorted output). The F10.7 lookup
uses the day's value and gives NaN outside the table instead of the original's invalid
``fill_value='interpolate'`` (a ValueError for every MJD outside it). The zodiacal-light table
depends only on |ecliptic latitude| as in the source; the helio-ecliptic longitude is written
beside it (``HELIO_ECL_LON``) so that models can use the solar elongation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.interpolate import RegularGridInterpolator

__all__ = [
    "DATA_DIR",
    "zodi",
    "isl",
    "f107",
    "photometric_flag",
]

#: The project's ``data/sky`` directory.
DATA_DIR = Path(__file__).resolve().parents[3] / "data" / "sky"


def _read(path: Path) -> pd.DataFrame:
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: sky table not found")
    return pd.read_csv(path, comment="#")


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
    ls = np.sort(t["gal_l_deg"].unique())
    bs = np.sort(t["gal_b_deg"].unique())
    grid = t.pivot(index="gal_l_deg", columns="gal_b_deg", values="isl").loc[ls, bs].to_numpy()
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
    lookup = pd.Series(t["f107_obs"].to_numpy(), index=t["mjd"].to_numpy())
    return lookup.reindex(day.ravel()).to_numpy().reshape(day.shape)


def photometric_flag(tai_beg: np.ndarray, tai_end: np.ndarray, windows: pd.DataFrame | None) -> np.ndarray:
    """Photometric flag of each exposure from a table of windows.

    Parameters
    ----------
    tai_beg, tai_end : numpy.ndarray
        Exposure start/end, TAI seconds since MJD 0.
    windows : pandas.DataFrame or None
        Columns ``start_tai``, ``end_tai`` (s) and ``photometric`` (0 or 1). None = no table.

    Returns
    -------
    numpy.ndarray of float
        The ``photometric`` value of the window holding the whole exposure, else of the window
        holding its start or its end (the later window wins), else 0.5 (unknown), as SkyModelling.

    Examples
    --------
    >>> w = pd.DataFrame({"start_tai": [0.0], "end_tai": [100.0], "photometric": [1]})
    >>> photometric_flag(np.array([10.0, 200.0]), np.array([20.0, 300.0]), w).tolist()
    [1.0, 0.5]
    """
    beg = np.asarray(tai_beg, dtype=float)
    end = np.asarray(tai_end, dtype=float)
    out = np.full(beg.shape, 0.5)
    if windows is None or len(windows) == 0:
        return out
    need = {"start_tai", "end_tai", "photometric"}
    if not need <= set(windows.columns):
        raise ValueError(f"photometric windows table needs columns {sorted(need)}")
    w = windows.sort_values("start_tai")
    s, e, p = (w[c].to_numpy(dtype=float) for c in ("start_tai", "end_tai", "photometric"))
    for t in (end, beg):  # the start's window overrides the end's
        i = np.searchsorted(s, t, side="right") - 1
        ok = (i >= 0) & (t < e[np.clip(i, 0, None)])
        out = np.where(ok, p[np.clip(i, 0, None)], out)
    return out
