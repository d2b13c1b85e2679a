"""SPPIXMASK bits of the BOSS pipeline and vectorised decoding.

The bit names and numbers are those of the SDSS ``sdssMaskbits.par`` SPPIXMASK definition
(reference/skymodelling.md section 5.5). Bits 13-15 and 29-31 are undefined.

Fix of the original (SkyModelling ``spframe_flux.py``): the mask was decoded pixel by pixel in
Python with a strict decoder that raised on undefined bits, so one odd pixel killed a whole
plate; here the test is one vectorised ``mask & bad_bits`` and undefined bits are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sdssflow.io.boss import SPPIXMASK as BOSS_SPPIXMASK

__all__ = [
    "SPPIXMASK",
    "DEFAULT_BAD_BITS",
    "bits_value",
    "bad_pixels",
    "decode_names",
]

#: SPPIXMASK bit numbers: the one table lives with the BOSS file readers.
SPPIXMASK = BOSS_SPPIXMASK

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
    value = 0
    for name in names:
        key = str(name).strip().upper()
        if key not in SPPIXMASK:
            raise ValueError(f"bad_mask_bits: {name!r} is not an SPPIXMASK bit (known: {sorted(SPPIXMASK)})")
        value |= 1 << SPPIXMASK[key]
    return value


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
    return (np.asarray(mask).astype(np.int64) & bits_value(names)) != 0


def decode_names(value: int) -> list[str]:
    """Names of the defined SPPIXMASK bits set in one value (undefined bits are ignored).

    Examples
    --------
    >>> decode_names(38011015)
    ['NOPLUG', 'BADTRACE', 'BADFLAT', 'BADSKYFIBER', 'FULLREJECT', 'NOSKY', 'COMBINEREJ']
    """
    return [name for name, bit in SPPIXMASK.items() if int(value) >> bit & 1]
