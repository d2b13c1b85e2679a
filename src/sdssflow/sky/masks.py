"""SPPIXMASK bits of the BOSS pipeline and vectorised decoding, with the sky's bad-bit set.

The table and the bit helpers are those of :mod:`sdssflow.io.bitmask`; this module adds
the SkyModelling default set of bad bits.

The bit names and numbers are those of the SDSS ``sdssMaskbits.par`` SPPIXMASK definition
(reference/skymodelling.md section 5.5). Bits 13-15 and 29-31 are undefined.

Fix of the original (SkyModelling ``spframe_flux.py``): the mask was decoded pixel by pixel in
Python with a strict decoder that raised on undefined bits, so one odd pixel killed a whole
plate; here the test is one vectorised ``mask & bad_bits`` and undefined bits are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sdssflow.io.bitmask import SPPIXMASK, flag_names, flag_value, has_flags

__all__ = [
    "SPPIXMASK",
    "DEFAULT_BAD_BITS",
    "bits_value",
    "bad_pixels",
    "decode_names",
]

#: The bad-bit set of SkyModelling: NOPLUG, BADTRACE, BADFLAT, BADSKYFIBER, FULLREJECT, NOSKY,
#: COMBINEREJ (OR = 38011015).
DEFAULT_BAD_BITS: tuple[str, ...] = (
    "NOPLUG",
    "BADTRACE",
    "BADFLAT",
    "BADSKYFIBER",
    "FULLREJECT",
    "NOSKY",
    "COMBINEREJ",
)


def bits_value(names: Iterable[str]) -> int:
    """OR of the SPPIXMASK bits named.

    Parameters
    ----------
    names : iterable of str
        SPPIXMASK names (case-insensitive).

    Returns
    -------
    int
        The bit value.

    Raises
    ------
    ValueError
        If a name is not an SPPIXMASK bit.

    Examples
    --------
    >>> bits_value(DEFAULT_BAD_BITS)
    38011015
    """
    return flag_value(names)


def bad_pixels(mask: np.ndarray, names: Iterable[str] = DEFAULT_BAD_BITS) -> np.ndarray:
    """Boolean bad-pixel mask (True = bad) of an SPPIXMASK integer array.

    Parameters
    ----------
    mask : numpy.ndarray of int, any shape, e.g. (nfiber, npix)
        SPPIXMASK values.
    names : iterable of str
        Bits that make a pixel bad.

    Returns
    -------
    numpy.ndarray of bool, same shape as ``mask``

    Examples
    --------
    >>> bad_pixels(np.array([0, 1 << 18, 1 << 16])).tolist()
    [False, True, False]
    """
    return has_flags(mask, names)


def decode_names(value: int) -> list[str]:
    """Names of the defined SPPIXMASK bits set in one value (undefined bits are ignored).

    Examples
    --------
    >>> decode_names(38011015)
    ['NOPLUG', 'BADTRACE', 'BADFLAT', 'BADSKYFIBER', 'FULLREJECT', 'NOSKY', 'COMBINEREJ']
    """
    return flag_names(value)
