"""Earth orientation (UT1-UTC, polar motion) for astropy transforms, without astropy's slow table read.

Every topocentric transform of astropy (ICRS -> AltAz) needs UT1-UTC and the polar motion
at the observation time. By default astropy's ``IERS_Auto`` parses the bundled IERS-A file
(``finals2000A.all``) and the IERS-B file (``eopc04.1962-now``) with its CDS table reader
and then replaces the A values by the B ones wherever B has them: about 1 s of CPU in every
process, 10-20 times the time a per-plate step needs to read its inputs.

For times inside the bundled IERS-B file (the final values, 1962 to a few weeks before the
astropy-iers-data release) the combined table holds exactly the B values, so
:func:`earth_orientation_for` sets astropy's table to IERS-B read with :func:`numpy.loadtxt`
(about 30 ms; the same decimal strings give the same doubles, so the transforms are
bit-identical). Later times keep astropy's default (A + B, with predictions).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import numpy as np

__all__ = ["bundled_iers_b", "earth_orientation_for"]

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
    from astropy import units as u
    from astropy.utils import iers

    names = list(_C04_COLUMNS)
    data = np.loadtxt(iers.IERS_B_FILE, comments="#", usecols=[_C04_COLUMNS[n][0] for n in names], ndmin=2)
    columns = [u.Quantity(data[:, i], _C04_COLUMNS[n][1]) for i, n in enumerate(names)]
    table = iers.IERS_B(columns, names=names)
    table.meta["data_path"] = iers.IERS_B_FILE
    return table


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
    t = np.asarray(mjd, dtype=float)
    table = bundled_iers_b()
    first, last = float(table["MJD"][0].value), float(table["MJD"][-1].value)
    if t.size and np.all(np.isfinite(t)) and t.min() >= first + 1.0 and t.max() <= last - 1.0:
        from astropy.utils import iers

        with iers.earth_orientation_table.set(table):
            yield
    else:
        yield
