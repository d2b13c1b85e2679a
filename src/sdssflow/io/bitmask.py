"""Integer bitmasks of SDSS files: the SPPIXMASK table and the one set of bit helpers.

Every bit table of the package (BOSS ``SPPIXMASK``, APOGEE ``APOGEE_PIXMASK``, the mwm
``nmf_flags`` and product status bits) is a ``{name: bit number}`` dict, and every
name-to-value and value-to-names conversion goes through :func:`flag_value`,
:func:`flag_names` and :func:`has_flags` here. (pydl's ``sdss_flagval`` does the same from
``sdssMaskbits.par`` at run time; we keep the table in code instead, which needs no
parameter file and no extra dependency.) On disk masks are integers; in memory a pixel
mask is boolean with True = bad, made by :func:`has_flags`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

__all__ = ["SPPIXMASK", "flag_value", "flag_names", "has_flags"]

#: SPPIXMASK bit numbers (idlspec2d ``sdssMaskbits.par``): fibre bits 0-12, pixel bits 16-28;
#: bits 13-15 and 29-31 are undefined.
SPPIXMASK: dict[str, int] = {
    "NOPLUG": 0,
    "BADTRACE": 1,
    "BADFLAT": 2,
    "BADARC": 3,
    "MANYBADCOLUMNS": 4,
    "MANYREJECTED": 5,
    "LARGESHIFT": 6,
    "BADSKYFIBER": 7,
    "NEARWHOPPER": 8,
    "WHOPPER": 9,
    "SMEARIMAGE": 10,
    "SMEARHIGHSN": 11,
    "SMEARMEDSN": 12,
    "NEARBADPIXEL": 16,
    "LOWFLAT": 17,
    "FULLREJECT": 18,
    "PARTIALREJECT": 19,
    "SCATTEREDLIGHT": 20,
    "CROSSTALK": 21,
    "NOSKY": 22,
    "BRIGHTSKY": 23,
    "NODATA": 24,
    "COMBINEREJ": 25,
    "BADFLUXFACTOR": 26,
    "BADSKYCHI": 27,
    "REDMONSTER": 28,
}


def flag_value(
    names: Iterable[str],
    table: Mapping[str, int] = SPPIXMASK,
    what: str = "SPPIXMASK bit",
    table_name: str = "SPPIXMASK",
) -> int:
    """OR of the named bits.

    Parameters
    ----------
    names : iterable of str
        Bit names of ``table`` (case-insensitive, surrounding blanks ignored).
    table : mapping of str to int
        Bit table, name -> bit number.
    what, table_name : str
        What a name is and the table's name, for the error message
        (``"SPPIXMASK bit"`` and ``"SPPIXMASK"``; ``"flag"`` and ``"STATUS_FLAGS"``).

    Returns
    -------
    int
        The bit value (0 for no names).

    Raises
    ------
    ValueError
        ``unknown <what> 'NAME': not an <table_name> bit``, with the known names.

    Examples
    --------
    >>> flag_value(["NOPLUG", "fullreject"])
    262145
    """
    value = 0
    upper = {k.upper(): v for k, v in table.items()}
    for name in names:
        key = str(name).strip().upper()
        if key not in upper:
            raise ValueError(f"unknown {what} {name!r}: not an {table_name} bit (known: {sorted(table)})")
        value |= 1 << upper[key]
    return value


def flag_names(value: int, table: Mapping[str, int] = SPPIXMASK) -> list[str]:
    """Names of the bits of ``table`` set in ``value``, by bit number; bits not in the table
    are ignored.

    Examples
    --------
    >>> flag_names(38011015)
    ['NOPLUG', 'BADTRACE', 'BADFLAT', 'BADSKYFIBER', 'FULLREJECT', 'NOSKY', 'COMBINEREJ']
    """
    value = int(value)
    return [name for name, bit in sorted(table.items(), key=lambda kv: kv[1]) if value >> bit & 1]


def has_flags(mask: np.ndarray, names: Iterable[str], table: Mapping[str, int] = SPPIXMASK) -> np.ndarray:
    """Boolean array: True where any of the named bits is set (True = bad for bad bits).

    Parameters
    ----------
    mask : numpy.ndarray of int, any shape, e.g. (nfiber, npix)
        Integer bitmask (float arrays of DR19-style columns are cast; NaN = 0).
    names : iterable of str
        Bit names of ``table``.
    table : mapping of str to int
        As for :func:`flag_value`.

    Returns
    -------
    numpy.ndarray of bool, same shape as ``mask``

    Raises
    ------
    ValueError
        A name is not a bit of ``table``.

    Examples
    --------
    >>> has_flags(np.array([0, 1 << 18, 1 << 22, 1 << 16]), ["FULLREJECT", "NOSKY"]).tolist()
    [False, True, True, False]
    """
    arr = np.asarray(mask)
    if arr.dtype.kind == "f":
        arr = np.where(np.isfinite(arr), arr, 0)
    return (arr.astype(np.int64) & flag_value(names, table)) != 0
