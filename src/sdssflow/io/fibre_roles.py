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

__all__ = ["SKY_TYPES", "STANDARD_TYPES", "normalise_objtype", "is_sky", "is_standard", "fibre_catalogids"]

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


def _parse_ids(values, missing: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64).ravel()
    if arr.dtype.kind == "f":
        return np.nan_to_num(arr.astype(np.float64), nan=missing).astype(np.int64).ravel()
    out = np.full(arr.size, missing, np.int64)
    for i, v in enumerate(arr.ravel()):
        text = (v.decode(errors="replace") if isinstance(v, bytes) else str(v)).strip()
        if text.lstrip("-").isdigit():
            out[i] = int(text)
    return out


def fibre_catalogids(plug, missing: int = 0) -> np.ndarray | None:
    """SDSS-V catalogid of every fibre of a plug map / fibre map, int64 (nfibre,).

    The v6 fibre map (DR18/DR19 spFrame/spCFrame HDU5) writes CATALOGID as char[18]: the
    catalogid, or ``uHHMMSS.S+DDMMSS.S`` for an unassigned fibre (``u<catalogid>`` for a
    BOSS fibre paired with an APOGEE target), with the raw integer in ICATALOGID, which is
    preferred. A string that is not an integer (a ``u`` name, blank) becomes ``missing``;
    integers are kept as written (plate-era plug maps carry 0 or -999: callers treat
    values <= 0 as no catalogid).

    Parameters
    ----------
    plug : astropy.table.Table
        The plug map / fibre map.
    missing : int
        Value of fibres whose CATALOGID string is not an integer.

    Returns
    -------
    numpy.ndarray of int64, (nfibre,), or None
        None when the table has neither column.

    Examples
    --------
    >>> from astropy.table import Table
    >>> t = Table({"CATALOGID": ["27021598054114233", "u0512309.4+021530.0", "", " -999"]})
    >>> fibre_catalogids(t, missing=-1).tolist()
    [27021598054114233, -1, -1, -999]
    """
    names = {c.upper(): c for c in plug.colnames}
    col = names.get("ICATALOGID", names.get("CATALOGID"))
    return None if col is None else _parse_ids(plug[col], missing)
