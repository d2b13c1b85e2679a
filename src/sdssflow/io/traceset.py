"""Legendre trace sets of idlspec2d (the wavelength and dispersion HDUs of spFrame files)."""

from __future__ import annotations

import numpy as np
from numpy.polynomial import legendre

__all__ = ["evaluate_traceset"]


def _field(row, name: str, default=None):
    """A field of a trace-set row given as a mapping, numpy record or Table row."""
    try:
        value = row[name]
    except (KeyError, ValueError, IndexError):
        try:
            value = row[name.lower()]
        except (KeyError, ValueError, IndexError):
            return default
    return value


def evaluate_traceset(row, npix: int) -> np.ndarray:
    """Evaluate an idlspec2d Legendre trace set on pixels ``0 .. npix-1``.

    x' = 2 (x_in - x_mid) / (XMAX - XMIN), y = sum_k COEFF[:, k] P_k(x'), with
    x_mid = (XMIN + XMAX) / 2 and, for two-phase red readouts (``XJUMPVAL`` present),
    x_in = x + jump_frac * XJUMPVAL, jump_frac = clip((x - XJUMPLO) / (XJUMPHI - XJUMPLO), 0, 1).

    Parameters
    ----------
    row : mapping, numpy record or astropy Table row
        Fields ``FUNC`` ('legendre'), ``XMIN``, ``XMAX``, ``COEFF`` (ntrace, ncoeff) and
        optionally ``XJUMPLO``, ``XJUMPHI``, ``XJUMPVAL``.
    npix : int
        Number of pixels.

    Returns
    -------
    numpy.ndarray, float64, (ntrace, npix)
        For an spFrame HDU3 trace set, log10 of the vacuum wavelength in Angstrom.

    Raises
    ------
    ValueError
        If FUNC is not 'legendre' or the row lacks XMIN/XMAX/COEFF.

    Examples
    --------
    >>> ts = {"FUNC": "legendre", "XMIN": 0.0, "XMAX": 4.0, "COEFF": np.array([[1.0, 2.0]])}
    >>> evaluate_traceset(ts, 5).tolist()
    [[-1.0, 0.0, 1.0, 2.0, 3.0]]
    """
    func = _field(row, "FUNC", "legendre")
    if isinstance(func, bytes | np.bytes_):
        func = func.decode()
    if str(func).strip().lower() != "legendre":
        raise ValueError(f"trace set FUNC {func!r} is not supported (only 'legendre')")
    xmin, xmax, coeff = (_field(row, k) for k in ("XMIN", "XMAX", "COEFF"))
    if xmin is None or xmax is None or coeff is None:
        raise ValueError("trace set needs XMIN, XMAX and COEFF")
    coeff = np.atleast_2d(np.asarray(coeff, dtype=np.float64))
    xmin, xmax = float(xmin), float(xmax)
    if xmax == xmin:
        raise ValueError(f"trace set has XMAX == XMIN == {xmin}")
    xpos = np.arange(npix, dtype=np.float64)
    jumpval = _field(row, "XJUMPVAL")
    if jumpval is not None:
        lo, hi = float(_field(row, "XJUMPLO")), float(_field(row, "XJUMPHI"))
        frac = (
            np.clip((xpos - lo) / (hi - lo), 0.0, 1.0) if hi != lo else (xpos >= lo).astype(float)
        )
        xpos = xpos + frac * float(jumpval)
    xprime = 2.0 * (xpos - 0.5 * (xmin + xmax)) / (xmax - xmin)
    vander = legendre.legvander(xprime, coeff.shape[1] - 1)  # (npix, ncoeff)
    return coeff @ vander.T
