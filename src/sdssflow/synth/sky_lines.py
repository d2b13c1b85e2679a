"""The demo sky's lines (:mod:`sdssflow.synth.sky`): their families and base fluxes.

The project's sky line list plus extra red OH lines, both in ``sdssflow/data/sky/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sdssflow.resources import data_path

__all__ = ["DEFAULT_LINE_LIST", "DEFAULT_AIRGLOW", "BASE_FLUX", "SkyLine", "read_sky_lines"]

_DATA = data_path("sky")
DEFAULT_LINE_LIST = _DATA / "line_list.csv"
DEFAULT_AIRGLOW = _DATA / "airglow_lines.csv"

#: Base line fluxes (1e-17 erg/s/cm2 per fibre, summed over a blend's components).
BASE_FLUX = {
    "Hg4048": 2.0,
    "Hg4360": 4.0,
    "NaI4984": 1.0,
    "NI5200": 1.5,
    "Hg5462": 5.0,
    "OI5579": 45.0,
    "NaI5687": 1.5,
    "NaD": 9.0,
    "OI6302": 22.0,
    "OI6366": 7.0,
    "OH8401": 25.0,
    "OH8432": 15.0,
    "OH8888": 30.0,
}


_FAMILY = {"Hg": "lamp", "Na": "lamp", "NI": "oi", "OI": "oi", "OH": "oh"}


@dataclass(frozen=True)
class SkyLine:
    """One injected sky line.

    Attributes
    ----------
    wave : float
        Vacuum wavelength, A.
    flux : float
        Base flux at airmass 1, 1e-17 erg/s/cm2 per fibre.
    family : str
        ``oi5577``, ``oi6300``, ``oh``, ``lamp`` or ``other``: sets the time behaviour.
    entry : str
        Name of the line-list entry it belongs to ("" for extra OH lines).
    """

    wave: float
    flux: float
    family: str
    entry: str


def _family(name: str) -> str:
    if name.startswith("OI5"):
        return "oi5577"
    if name.startswith("OI6"):
        return "oi6300"
    return {"lamp": "lamp", "oi": "other", "oh": "oh"}.get(_FAMILY.get(name[:2], ""), "other")


def read_sky_lines(
    line_list: str | Path = DEFAULT_LINE_LIST,
    airglow: str | Path | None = DEFAULT_AIRGLOW,
    n_extra: int = 60,
) -> tuple[list[SkyLine], pd.DataFrame]:
    """The injected lines and the line-list table.

    Parameters
    ----------
    line_list : path-like
        The project's line list (columns name, camera, type, wave, components, lo, hi,
        cont1_lo .. cont2_hi).
    airglow : path-like or None
        Airglow list (camera, wave) for extra red OH lines; None for none.
    n_extra : int
        Number of extra OH lines (every k-th eligible red line).

    Returns
    -------
    lines : list of SkyLine
    table : pandas.DataFrame
        The line list.

    Raises
    ------
    FileNotFoundError
        If the line list is missing.
    """
    line_list = Path(line_list)
    if not line_list.exists():
        raise FileNotFoundError(f"{line_list}: sky line list not found")
    table = pd.read_csv(line_list, comment="#", dtype={"components": str})
    lines: list[SkyLine] = []
    blocked = []
    for row in table.itertuples(index=False):
        if row.type == "line":
            comps = [float(x) for x in str(row.components).split()]
            base = BASE_FLUX.get(row.name, 3.0)
            for c in comps:
                lines.append(SkyLine(c, base / len(comps), _family(row.name), row.name))
            blocked.append((row.cont1_lo - 8.0, row.cont2_hi + 8.0))
        else:
            blocked.append((row.lo - 8.0, row.hi + 8.0))
    if airglow is not None and Path(airglow).exists():
        ag = pd.read_csv(airglow, comment="#")
        red = np.sort(ag.loc[(ag["camera"] == "r") & (ag["wave"] > 6500.0), "wave"].to_numpy(float))
        ok = np.ones(red.size, bool)
        for lo, hi in blocked:
            ok &= ~((red > lo) & (red < hi))
        # also keep extra lines 6 A apart from each other
        red = red[ok]
        keep = red[np.concatenate([[True], np.diff(red) > 6.0])] if red.size else red
        if keep.size:
            chosen = keep[:: max(1, keep.size // n_extra)][:n_extra]
            strengths = 4.0 + 26.0 * ((np.arange(chosen.size) * 0.618034) % 1.0)
            lines += [SkyLine(float(w), float(s), "oh", "") for w, s in zip(chosen, strengths)]
    return lines, table
