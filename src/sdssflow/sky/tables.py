"""Interpolation of the small sky tables in ``sdssflow/data/sky/``: zodiacal light, integrated
starlight (ISL), daily F10.7 solar flux, and photometric-night windows.

Fixes of the original (SkyModelling ``get_rich_meta_data.py``): the tables were pickled SciPy
interpolators (``interp2d`` no longer exists); here they are CSV files read with numpy (the csv
module where a cell is empty) and interpolated with numpy. ISL longitude wraps at 360 deg (the original did not) and is
evaluated per fibre (the original took row 0 of ``interp2d``'s sorted output). The F10.7 lookup
uses the day's noon value (Penticton 20:00 UT, 1998-07 on, :func:`read_penticton` for a newer
table) and gives NaN outside the table instead of the original's invalid
``fill_value='interpolate'`` (a ValueError for every MJD outside it); the 81-day centred mean
is computed here from the daily values. The zodiacal-light table
depends only on |ecliptic latitude| as in the source; the helio-ecliptic longitude is written
beside it (``HELIO_ECL_LON``) so that models can use the solar elongation.
"""

from __future__ import annotations

import bisect
import csv
from pathlib import Path

import numpy as np

from sdssflow.resources import data_path

__all__ = [
    "DATA_DIR",
    "read_csv",
    "zodi",
    "isl",
    "f107",
    "f107_mean81",
    "f107_table",
    "read_penticton",
    "photometric_flag",
]

#: The packaged ``sdssflow/data/sky`` directory.
DATA_DIR = data_path("sky")


def read_csv(path: str | Path) -> dict[str, np.ndarray]:
    """Read a small CSV table with ``#`` comment lines into columns (numbers as float64).

    A column whose every value parses as a number becomes float64, otherwise str; empty cells
    of numeric columns are NaN. (pandas is not needed here, which keeps step start-up fast.)

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not text or a row has the wrong number of cells.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: table not found")
    try:
        with open(path, newline="") as fh:
            rows = [r for r in csv.reader(line for line in fh if not line.lstrip().startswith("#")) if r]
    except UnicodeDecodeError as err:  # e.g. a .npy or FITS file given for a CSV
        raise ValueError(f"{path}: not a text CSV table ({err})") from None
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
    t = _numeric_columns(Path(path), ("abs_ecl_lat_deg", "zodi"))
    return np.interp(np.abs(np.asarray(ecl_lat_deg, dtype=float)), t["abs_ecl_lat_deg"], t["zodi"])


def isl(gal_l_deg: np.ndarray, gal_b_deg: np.ndarray, path: Path = DATA_DIR / "isl_galactic.csv") -> np.ndarray:
    """Integrated starlight at galactic (l, b): bilinear, l wrapped at 360, b clipped to the grid.

    Returns
    -------
    numpy.ndarray
        Table units (as in the source).
    """
    t = _numeric_columns(Path(path), ("gal_l_deg", "gal_b_deg", "isl"))
    ls = np.unique(t["gal_l_deg"])
    bs = np.unique(t["gal_b_deg"])
    grid = np.full((ls.size, bs.size), np.nan)
    grid[np.searchsorted(ls, t["gal_l_deg"]), np.searchsorted(bs, t["gal_b_deg"])] = t["isl"]
    if np.isnan(grid).any():
        raise ValueError(f"{path}: the ISL grid is incomplete")
    grid = np.vstack([grid, grid[:1]])  # wrap l = 360 -> 0
    lsw = np.append(ls, 360.0)
    lq = np.mod(np.asarray(gal_l_deg, dtype=float), 360.0)
    bq = np.clip(np.asarray(gal_b_deg, dtype=float), bs[0], bs[-1])
    good = np.isfinite(lq) & np.isfinite(bq)
    out = np.full(lq.shape, np.nan)
    out[good] = _bilinear(lsw, bs, grid, lq[good], bq[good])
    return out


def _bilinear(x: np.ndarray, y: np.ndarray, grid: np.ndarray, xq: np.ndarray, yq: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``grid`` (shape (x.size, y.size)) at points inside the grid.

    The weights of scipy's ``RegularGridInterpolator(method="linear")`` (the same values to
    rounding), in numpy: importing scipy.interpolate costs a step more CPU than its whole work.

    Parameters
    ----------
    x, y : numpy.ndarray, shape (nx,), (ny,)
        Increasing grid coordinates.
    grid : numpy.ndarray, shape (nx, ny)
    xq, yq : numpy.ndarray, shape (n,)
        Query points with ``x[0] <= xq <= x[-1]`` and ``y[0] <= yq <= y[-1]``.

    Returns
    -------
    numpy.ndarray, shape (n,)

    Examples
    --------
    >>> _bilinear(np.array([0.0, 1.0]), np.array([0.0, 2.0]), np.array([[0.0, 2.0], [1.0, 3.0]]),
    ...           np.array([0.5]), np.array([1.0])).tolist()
    [1.5]
    """
    i = np.clip(np.searchsorted(x, xq, side="right") - 1, 0, x.size - 2)
    j = np.clip(np.searchsorted(y, yq, side="right") - 1, 0, y.size - 2)
    tx = (xq - x[i]) / (x[i + 1] - x[i])
    ty = (yq - y[j]) / (y[j + 1] - y[j])
    return ((1 - tx) * (1 - ty) * grid[i, j] + tx * (1 - ty) * grid[i + 1, j]
            + (1 - tx) * ty * grid[i, j + 1] + tx * ty * grid[i + 1, j + 1])  # fmt: skip


#: Penticton flux-table columns (``fluxtable.txt``) that :func:`read_penticton` needs.
PENTICTON_COLUMNS = ("fluxdate", "fluxtime", "fluxobsflux", "fluxadjflux")
#: Local noon at Penticton: the daily value is the measurement at (or nearest to) 20:00 UT.
PENTICTON_NOON_UT_H = 20.0
#: Half width of the centred F10.7 mean (days) and the least number of daily values it needs.
F107_HALF_WINDOW = 40
F107_MIN_DAYS = 61


def read_penticton(path: str | Path) -> dict[str, np.ndarray]:
    """Daily noon F10.7 from a Penticton flux table (``fluxtable.txt`` format).

    The table has a header line of column names (``fluxdate fluxtime fluxjulian
    fluxcarrington fluxobsflux fluxadjflux fluxursi``), a dashed line, then one row per
    measurement (about three a day): ``fluxdate`` YYYYMMDD, ``fluxtime`` HHMMSS (UT), fluxes in
    sfu (zero-padded). The daily value is the measurement nearest to 20:00 UT (local noon,
    the one the NOAA daily series publishes).

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    dict
        ``mjd`` (int64, civil date at 0h UT), ``f107_obs`` and ``f107_adj`` (sfu), sorted by MJD.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If a column is missing or a row does not parse (the message names the line).
    """
    from astropy.time import Time

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: Penticton flux table not found")
    with open(path) as fh:
        lines = [ln.split() for ln in fh if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: empty Penticton flux table")
    header = [h.lower() for h in lines[0]]
    missing = [c for c in PENTICTON_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path}: not a Penticton flux table (missing column(s) {missing})")
    col = {c: header.index(c) for c in PENTICTON_COLUMNS}
    best: dict[str, tuple[float, float, float]] = {}
    for lineno, cells in enumerate(lines[1:], start=2):
        if set("".join(cells)) <= set("-"):
            continue
        try:
            date, hhmmss = cells[col["fluxdate"]], cells[col["fluxtime"]]
            hours = int(hhmmss[:-4] or 0) + int(hhmmss[-4:-2]) / 60.0 + int(hhmmss[-2:]) / 3600.0
            obs, adj = float(cells[col["fluxobsflux"]]), float(cells[col["fluxadjflux"]])
        except (IndexError, ValueError) as err:
            raise ValueError(f"{path}, line {lineno}: cannot parse {' '.join(cells)!r} ({err})") from None
        if len(date) != 8 or not date.isdigit():
            raise ValueError(f"{path}, line {lineno}: fluxdate {date!r} is not YYYYMMDD")
        dist = abs(hours - PENTICTON_NOON_UT_H)
        if date not in best or dist < best[date][0]:
            best[date] = (dist, obs, adj)
    dates = sorted(best)
    mjd = np.rint(Time([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in dates], scale="utc").mjd).astype(np.int64)
    return {
        "mjd": mjd,
        "f107_obs": np.array([best[d][1] for d in dates]),
        "f107_adj": np.array([best[d][2] for d in dates]),
    }


def _numeric_columns(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Columns ``names`` of a ``#``-commented CSV as float64, parsed by :func:`numpy.loadtxt`.

    The same doubles as :func:`read_csv` (both round each decimal string correctly) in a
    tenth of its CPU for the 9,800 rows of the F10.7 table; a file that loadtxt cannot parse
    as numbers there (empty cells, which read_csv makes NaN) is read by :func:`read_csv`.
    """
    with open(path) as fh:
        header = next((line for line in fh if line.strip() and not line.lstrip().startswith("#")), "")
        names_in_file = [h.strip() for h in header.split(",")]
        if not set(names) <= set(names_in_file):
            missing = sorted(set(names) - set(names_in_file))
            raise ValueError(f"{path}: missing column(s) {missing}")
        try:  # fh is past the header line: the rest is data and comments
            data = np.loadtxt(fh, delimiter=",", comments="#", usecols=[names_in_file.index(n) for n in names],
                              dtype=np.float64, ndmin=2)  # fmt: skip
        except ValueError:
            data = None
    if data is None:
        table = read_csv(path)
        return {n: np.asarray(table[n], dtype=np.float64) for n in names}
    return {n: data[:, i] for i, n in enumerate(names)}


def f107_table(
    user_table: str | Path | None = None,
    path: Path = DATA_DIR / "f107_daily.csv",
    days: tuple[float, float] | None = None,
) -> dict[str, np.ndarray]:
    """The daily F10.7 table: the package's ``f107_daily.csv``, extended by a user table.

    Parameters
    ----------
    user_table : str or pathlib.Path, optional
        A newer Penticton flux table (``fluxtable.txt`` format, config ``sky.solar_flux_table``);
        its noon values replace the package's on the days it covers.
    path : pathlib.Path
        The package table (``mjd, date, f107_obs, ...``).
    days : (float, float), optional
        First and last MJD (UTC) that will be looked up: of the package table only the rows
        :func:`f107` and :func:`f107_mean81` read for those days are parsed (the rows of
        days ``first - 40 .. last + 40``, found by bisection in the table sorted by MJD, as
        ``data/sky/make_f107.py`` writes it; ~100 of its 9,800 rows, a tenth of the CPU). The
        whole table is read when it is not sorted there.

    Returns
    -------
    dict
        ``mjd`` (int64) and ``f107_obs`` (sfu), sorted, one row per day (the last value of
        a day listed twice, the user table's over the package's); ``span``: the first and last
        MJD of the whole table (int64, shape (2,)).
    """
    t = None
    if days is not None and np.all(np.isfinite(days)):
        t = _f107_rows(Path(path), int(np.floor(days[0])) - F107_HALF_WINDOW,
                       int(np.floor(days[1])) + F107_HALF_WINDOW)  # fmt: skip
    if t is None:
        t = _numeric_columns(Path(path), ("mjd", "f107_obs"))
        t["span"] = t["mjd"][[0, -1]] if t["mjd"].size else np.zeros(0)
    mjd, obs = t["mjd"].astype(np.int64), t["f107_obs"]
    span = [np.asarray(t["span"], dtype=np.int64)]
    if user_table:
        u = read_penticton(user_table)
        mjd, obs = np.concatenate([mjd, u["mjd"]]), np.concatenate([obs, u["f107_obs"]])
        span.append(u["mjd"][[0, -1]] if u["mjd"].size else np.zeros(0, np.int64))
    # the last occurrence of each day wins (np.unique of the reversed rows finds it first)
    days_, last = np.unique(mjd[::-1], return_index=True)
    ends = np.concatenate(span)
    return {
        "mjd": days_.astype(np.int64),
        "f107_obs": obs[::-1][last].astype(np.float64),
        "span": np.array([ends.min(), ends.max()] if ends.size else [0, -1], dtype=np.int64),
    }


def _f107_rows(path: Path, first: int, last: int) -> dict[str, np.ndarray] | None:
    """Rows of MJD ``first .. last`` of the package F10.7 table, or None where it is not a
    table sorted by MJD with ``mjd`` and ``f107_obs`` as its first and third columns."""
    lines = path.read_bytes().split(b"\n")
    start = next(
        (i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith(b"#")),
        None,
    )
    if start is None or lines[start].split(b",")[:3] != [b"mjd", b"date", b"f107_obs"]:
        return None
    rows = [line for line in lines[start + 1 :] if line.strip()]
    try:
        key = [int(rows[0].split(b",", 1)[0]), int(rows[-1].split(b",", 1)[0])]
        i0 = bisect.bisect_left(rows, first, key=lambda line: int(line.split(b",", 1)[0]))
        i1 = bisect.bisect_right(rows, last, key=lambda line: int(line.split(b",", 1)[0]))
        window = np.loadtxt([r.decode("ascii") for r in rows[max(i0 - 1, 0) : i1 + 1]], delimiter=",",
                            usecols=(0, 2), dtype=np.float64, ndmin=2)  # fmt: skip
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
    # the neighbours of the window are parsed too: they prove the rows around it are sorted
    if window.shape[0] and not np.all(np.diff(window[:, 0]) > 0):
        return None
    keep = (window[:, 0] >= first) & (window[:, 0] <= last)
    return {"mjd": window[keep, 0], "f107_obs": window[keep, 1], "span": np.array(key)}


def _day_lookup(table: dict[str, np.ndarray], day: np.ndarray) -> np.ndarray:
    days, vals = table["mjd"], table["f107_obs"]
    if days.size == 0:
        return np.full(np.shape(day), np.nan)
    i = np.clip(np.searchsorted(days, day), 0, days.size - 1)
    return np.where(days[i] == day, vals[i], np.nan)


def f107(mjd: np.ndarray, table: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Observed noon F10.7 (sfu) of the UT civil day holding each MJD; NaN past the table.

    Parameters
    ----------
    mjd : numpy.ndarray
        Times, MJD.
    table : dict, optional
        :func:`f107_table` output (default: the package table).

    Examples
    --------
    >>> float(f107(np.array([55197.9]))[0])  # 2010-01-01, Penticton 20:00 UT
    75.2
    """
    table = f107_table() if table is None else table
    return _day_lookup(table, np.floor(np.asarray(mjd, dtype=float)))


def f107_mean81(mjd: np.ndarray, table: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """81-day centred mean of the daily observed F10.7 (sfu) around each MJD's day.

    The mean of the daily values of days d-40 ... d+40 present in the table; NaN when fewer
    than :data:`F107_MIN_DAYS` of those days are present (the last 40 days of the table have
    no complete window; 61 of 81 keeps the mean within about 1 sfu of the full one).

    Examples
    --------
    >>> round(float(f107_mean81(np.array([55197.9]))[0]), 1)  # CelesTrak publishes 78.9
    78.9
    """
    table = f107_table() if table is None else table
    # once per distinct day: the spectra of a plate share one or two
    day, inverse = np.unique(np.floor(np.asarray(mjd, dtype=float)).ravel(), return_inverse=True)
    offsets = np.arange(-F107_HALF_WINDOW, F107_HALF_WINDOW + 1)
    vals = _day_lookup(table, (day[:, None] + offsets).ravel()).reshape(day.shape + offsets.shape)
    n = np.isfinite(vals).sum(axis=-1)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(np.where(n[:, None] > 0, vals, 0.0), axis=-1)
    return np.where(n >= F107_MIN_DAYS, mean, np.nan)[inverse].reshape(np.shape(mjd))


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
