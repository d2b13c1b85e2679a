"""NMF continuum basis cards of mwmVisit / mwmStar primary headers (NMFBASIS and the per-instrument cards)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["nmf_cards", "nmf_from_cards"]

#: Two-letter prefix of each table HDU in the NMF cards of the primary header.
_NMF_PREFIX = {"BOSS/APO": "BA", "BOSS/LCO": "BL", "APOGEE/APO": "AA", "APOGEE/LCO": "AL"}


def nmf_cards(
    extname: str, W, theta, rchi2: float, flags: int, basis_id: str
) -> list[tuple[str, object, str]]:
    """Primary-header cards holding the NMF continuum fit of one HDU's co-add.

    mwm_visit writes them so that mwm_star can rebuild the fit instead of repeating it.
    With P the HDU's prefix (BA = BOSS/APO, BL = BOSS/LCO, AA = APOGEE/APO,
    AL = APOGEE/LCO): ``PNMFW00``.. (W), ``PNMFT00``.. (θ), ``PNMFRC`` (rχ²), ``PNMFFL``
    (flags), ``PNMFID`` (basis identifier). Floats are written as their shortest exact
    decimal string, so :func:`nmf_from_cards` gives back the same float64 values.

    Examples
    --------
    >>> cards = nmf_cards("BOSS/APO", [0.5, 1e-12], [1.0, 2.0, 3.0], 1.1, 33, "abc")
    >>> cards[0][0], nmf_from_cards({k: v for k, v, _ in cards}, "BOSS/APO")["W"].tolist()
    ('BANMFW00', [0.5, 1e-12])
    """
    p = _NMF_PREFIX[extname]
    cards = [
        (f"{p}NMFW{i:02d}", repr(float(v)), f"{extname} co-add NMF weight") for i, v in enumerate(W)
    ]
    cards += [
        (f"{p}NMFT{i:02d}", repr(float(v)), f"{extname} continuum coefficient")
        for i, v in enumerate(theta)
    ]
    cards += [
        (f"{p}NMFRC", repr(float(rchi2)), f"{extname} co-add NMF reduced chi2"),
        (f"{p}NMFFL", int(flags), f"{extname} co-add NMF flags"),
        (f"{p}NMFID", str(basis_id), f"{extname} NMF basis identifier"),
    ]  # fmt: skip
    return cards


def nmf_from_cards(header: Mapping, extname: str) -> dict | None:
    """W, theta, rchi2, flags and basis_id of :func:`nmf_cards` (None when absent)."""
    p = _NMF_PREFIX[extname]
    if f"{p}NMFID" not in header or f"{p}NMFFL" not in header:
        return None

    def series(key):
        vals, i = [], 0
        while f"{p}{key}{i:02d}" in header:
            vals.append(float(header[f"{p}{key}{i:02d}"]))
            i += 1
        return np.array(vals)

    return {
        "W": series("NMFW"),
        "theta": series("NMFT"),
        "rchi2": float(header.get(f"{p}NMFRC", "nan")),
        "flags": int(header[f"{p}NMFFL"]),
        "basis_id": str(header[f"{p}NMFID"]).strip(),
    }
