"""Roles of BOSS fibres (sky, spectrophotometric standard) from their plug-map OBJTYPE.

One place for the spellings every era writes into the spFrame/spCFrame fibre map (HDU5):

- plate era (DR8-DR17 plug maps, idlspec2d v5): ``SKY``; standards are ``SPECTROPHOTO_STD``
  and, on SDSS-I/II plates, the fainter ``REDDEN_STD`` (idlspec2d's spflux and sphoto
  calibrate with both);
- FPS era (DR18/DR19 v6 fibre maps): idlspec2d copies the confSummary ``category``
  (``science``, ``sky_boss``, ``standard_boss``, ``sky_apogee``, ``standard_apogee``) into
  OBJTYPE and renames ``sky_boss`` to ``SKY`` and program ``ops_std`` fibres to
  ``SPECTROPHOTO_STD``; a fibre map written without that renaming keeps the category, so
  ``sky_boss``/``standard_boss`` are BOSS skies/standards too. APOGEE skies and standards
  are not BOSS ones.

Values are compared blank-stripped and upper-cased (FITS strings are blank padded).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["SKY_TYPES", "STANDARD_TYPES", "normalise_objtype", "is_sky", "is_standard"]

#: OBJTYPEs (upper case) of BOSS sky fibres.
SKY_TYPES = frozenset({"SKY", "SKY_BOSS"})
#: OBJTYPEs (upper case) of BOSS spectrophotometric standards.
STANDARD_TYPES = frozenset({"SPECTROPHOTO_STD", "REDDEN_STD", "STANDARD_BOSS"})


def normalise_objtype(objtype: Iterable) -> np.ndarray:
    """OBJTYPE values as blank-stripped upper-case str, shape (nfibre,).

    Examples
    --------
    >>> normalise_objtype([b"SKY   ", "sky_boss", None]).tolist()
    ['SKY', 'SKY_BOSS', '']
    """
    vals = [
        (v.decode(errors="replace") if isinstance(v, bytes) else ("" if v is None else str(v)))
        for v in np.asarray(objtype, dtype=object).ravel()
    ]
    return np.array([v.strip().upper() for v in vals], dtype="U32")


def is_sky(objtype: Iterable) -> np.ndarray:
    """True where the fibre is a BOSS sky fibre, bool (nfibre,).

    Examples
    --------
    >>> is_sky(["SKY ", "sky_boss", "sky_apogee", "QSO"]).tolist()
    [True, True, False, False]
    """
    return np.isin(normalise_objtype(objtype), sorted(SKY_TYPES))


def is_standard(objtype: Iterable) -> np.ndarray:
    """True where the fibre is a BOSS spectrophotometric standard, bool (nfibre,).

    Examples
    --------
    >>> is_standard(["SPECTROPHOTO_STD", "REDDEN_STD  ", "standard_boss", "standard_apogee"]).tolist()
    [True, True, True, False]
    """
    return np.isin(normalise_objtype(objtype), sorted(STANDARD_TYPES))
