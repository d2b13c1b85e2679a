"""Earth orientation (UT1-UTC, polar motion) for astropy transforms, without astropy's slow table read.

Every topocentric transform of astropy (ICRS -> AltAz) needs UT1-UTC and the polar motion
at the observation time. By default astropy's ``IERS_Auto`` parses the bundled IERS-A file
(``finals2000A.all``) and the IERS-B file (``eopc04.1962-now``) with its CDS table reader
and then replaces the A values by the B ones wherever B has them: about 1 s of CPU in every
process, 10-20 times the time a per-plate step needs to read its inputs.

For times inside the bundled IERS-B file (the final values, 1962 to a few weeks before the
astropy-iers-data release) the combined table holds exactly the B values, so
:func:`earth_orientation_for` sets astropy's table to IERS-B rows read with
:func:`numpy.loadtxt` (the same decimal strings give the same doubles, so the transforms are
bit-identical): only the rows of the days around the times (:func:`iers_b_window`, the file
being fixed-width, one row per day), not the 23,000 of the whole file (~15 ms). Later times
keep astropy's default (A + B, with predictions).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["bundled_iers_b", "earth_orientation_for", "iers_b_window"]

#: Days of rows kept on each side of the times by :func:`iers_b_window`: astropy interpolates
#: between the rows of the UTC day of a time and the next one, and UTC, UT1 and TAI dates
#: differ by under a minute; the rest is margin.
WINDOW_MARGIN_DAYS = 3

#: Columns of the IERS 20 C04 file (``eopc04.1962-now``) used by astropy's transforms:
#: name -> (0-based column in the file, unit). Format line of the file:
#: ``YR MM DD HH MJD x(") y(") UT1-UTC(s) dX(") dY(") ...``.
_C04_COLUMNS = {
    "MJD": (4, "d"),
    "PM_x": (5, "arcsec"),
    "PM_y": (6, "arcsec"),
    "UT1_UTC": (7, "s"),
    "dX_2000A": (8, "arcsec"),
    "dY_2000A": (9, "arcsec"),
}


@functools.lru_cache(maxsize=1)
def bundled_iers_b():
    """The IERS-B table bundled with astropy (``astropy.utils.iers.IERS_B_FILE``), read fast.

    Returns
    -------
    astropy.utils.iers.IERS_B
        Columns ``MJD`` (d), ``PM_x``, ``PM_y`` (arcsec), ``UT1_UTC`` (s), ``dX_2000A``,
        ``dY_2000A`` (arcsec): one row per day (0h UTC), the columns astropy interpolates.
    """
    from astropy.utils import iers

    return _c04_table(np.loadtxt(iers.IERS_B_FILE, comments="#", usecols=_usecols(), ndmin=2))


def _usecols() -> list[int]:
    """File columns of :data:`_C04_COLUMNS`, in its order."""
    return [col for col, _ in _C04_COLUMNS.values()]


def _c04_table(data: np.ndarray):
    """astropy ``IERS_B`` table of parsed C04 rows, shape (nrow, 6) in :data:`_C04_COLUMNS` order."""
    from astropy import units as u
    from astropy.utils import iers

    names = list(_C04_COLUMNS)
    columns = [u.Quantity(data[:, i], _C04_COLUMNS[n][1]) for i, n in enumerate(names)]
    table = iers.IERS_B(columns, names=names)
    table.meta["data_path"] = iers.IERS_B_FILE
    return table


@functools.lru_cache(maxsize=4)
def _fixed_width_layout(path: str) -> tuple[int, int, int, float, float] | None:
    """(header bytes, row bytes, rows, first MJD, last MJD) of a C04 file, or None.

    None unless every data row has the length of the first (the file size says so) and the
    MJDs of the first and last rows differ by the number of rows less one (one row per day).
    """
    with open(path, "rb") as f:
        start = 0
        line = f.readline()
        while line.startswith(b"#"):
            start += len(line)
            line = f.readline()
        width = len(line)
        size = Path(path).stat().st_size
        if width < 2 or not line.endswith(b"\n") or (size - start) % width:
            return None
        nrow = (size - start) // width
        f.seek(size - width)
        last_line = f.readline()
    try:
        first, last = float(line.split()[4]), float(last_line.split()[4])
    except (IndexError, ValueError):
        return None
    if last - first != nrow - 1:
        return None
    return start, width, nrow, first, last


def iers_b_window(mjd_min: float, mjd_max: float, path: str | None = None):
    """The bundled IERS-B rows of the days from ``mjd_min`` to ``mjd_max`` (with a margin).

    The C04 file is fixed-width with one row per day, so the rows of a day are found by their
    byte offset and only they are parsed (the same parser as :func:`bundled_iers_b`, so the same
    doubles; the parsed MJDs are checked against the days expected).

    Parameters
    ----------
    mjd_min, mjd_max : float
        First and last time, MJD (any scale); :data:`WINDOW_MARGIN_DAYS` days are added on each
        side, clipped to the file.
    path : str, optional
        The C04 file (default astropy's ``IERS_B_FILE``).

    Returns
    -------
    astropy.utils.iers.IERS_B or None
        The rows as :func:`bundled_iers_b` gives them; None when the file is not laid out as
        expected or the window misses it (then read the whole file).
    """
    from astropy.utils import iers

    path = str(iers.IERS_B_FILE if path is None else path)
    layout = _fixed_width_layout(path)
    if layout is None or not (np.isfinite(mjd_min) and np.isfinite(mjd_max)):
        return None
    start, width, nrow, first, _ = layout
    i0 = max(int(np.floor(mjd_min - first)) - WINDOW_MARGIN_DAYS, 0)
    i1 = min(int(np.floor(mjd_max - first)) + WINDOW_MARGIN_DAYS + 2, nrow)
    if i1 - i0 < 2:
        return None
    with open(path, "rb") as f:
        f.seek(start + i0 * width)
        lines = f.read((i1 - i0) * width).decode("ascii").splitlines()
    data = np.loadtxt(lines, comments="#", usecols=_usecols(), ndmin=2)
    if data.shape[0] != i1 - i0 or not np.array_equal(data[:, 0], first + np.arange(i0, i1)):
        return None
    return _c04_table(data)


@contextlib.contextmanager
def earth_orientation_for(mjd: np.ndarray) -> Iterator[None]:
    """Inside the block, astropy uses the bundled IERS-B table if it covers every time.

    Parameters
    ----------
    mjd : numpy.ndarray
        Times of the transforms to come, MJD (any scale: a day of margin is kept at both
        ends of the table, more than TAI-UTC or UT1-UTC).

    Yields
    ------
    None
        Outside the table's range (or with no times) nothing is changed: astropy's
        default ``IERS_Auto`` (A + B, predictions) applies.
    """
    from astropy.utils import iers

    t = np.asarray(mjd, dtype=float)
    layout = _fixed_width_layout(str(iers.IERS_B_FILE))
    if layout is not None:
        first, last = layout[3], layout[4]
    else:
        full = bundled_iers_b()
        first, last = float(full["MJD"][0].value), float(full["MJD"][-1].value)
    if t.size and np.all(np.isfinite(t)) and t.min() >= first + 1.0 and t.max() <= last - 1.0:
        table = iers_b_window(float(t.min()), float(t.max()))
        with iers.earth_orientation_table.set(bundled_iers_b() if table is None else table):
            yield
    else:
        yield
