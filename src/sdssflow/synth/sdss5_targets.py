"""Targets and cartons of the SDSS-V demo fields (``demo.era: sdss5``).

Every fibre target of an FPS configuration has a carton (confSummary ``firstcarton``, with its
``program`` and ``category``). The stars are in stellar-like cartons (``mwm_*`` science,
``ops_std_boss`` standards). So that the carton rules of astra (astra_mwm.md section 5.7,
:func:`sdssflow.mwm.sources.stellar_like`) have something to decide, each field also assigns
:data:`NON_STELLAR_TARGETS` to featureless filler fibres of its spectrograph (the plate-era
``GALAXY`` power laws of :func:`sdssflow.synth.frames.build_frame`): a QSO and a galaxy in BHM
cartons (not stellar-like: skipped by the mwm bucket jobs) and a QSO in an MWM carton (kept).
Their class is the plug map's OBJTYPE and the spec files' CLASS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdssflow.synth.layout import FIBERS_PER_SPECTROGRAPH, DemoPlan, demo_sdss_id
from sdssflow.synth.targets import rng_for

__all__ = ["CARTONS", "NON_STELLAR_TARGETS", "CartonTarget", "carton_of", "non_stellar_targets",
           "add_to_plugmap", "add_to_fibermap"]  # fmt: skip

#: (firstcarton, program, category) of the demo's star fibre types; ``mwm_*`` cartons and
#: ``ops_std_*`` are stellar-like under the astra rules.
CARTONS = {
    "SCIENCE": ("mwm_galactic_core", "mwm_galactic", "science"),
    "SPECTROPHOTO_STD": ("ops_std_boss", "ops_std", "standard_boss"),
    "SKY": ("ops_sky_boss", "ops_sky", "sky_boss"),
}
#: (firstcarton, program, class) of the non-stellar targets of every demo field: two BHM
#: targets (not stellar-like) and an MWM-carton QSO (stellar-like by its carton).
NON_STELLAR_TARGETS = (
    ("bhm_aqmes_med", "bhm_aqmes", "QSO"),
    ("bhm_spiders_clusters_lsdr10", "bhm_spiders", "GALAXY"),
    ("mwm_erosita_compact_gen", "mwm_erosita", "QSO"),
)
#: Fibre magnitude (r, AB) of the filler targets, as in the plate-era plug maps.
FILLER_MAG = 20.5


def carton_of(objtype: str) -> tuple[str, str, str]:
    """(firstcarton, program, category) of a demo star fibre type ('' for none)."""
    return CARTONS.get(objtype, ("", "", "open_fiber"))


@dataclass(frozen=True)
class CartonTarget:
    """A non-stellar target of a demo field.

    Attributes
    ----------
    row : int
        Fibre row of the field's fibre table (0-999; the spectrograph's rows).
    sdss_id, catalogid : int
        Identifiers (sdss_id in the demo's GG/HH buckets, above 300,000,000).
    carton, program, spec_class : str
        firstcarton, program and class (QSO / GALAXY).
    """

    row: int
    sdss_id: int
    catalogid: int
    carton: str
    program: str
    spec_class: str


def non_stellar_targets(
    plan: DemoPlan, field: int, fibres: dict, spectrograph: int
) -> list[CartonTarget]:
    """The :data:`NON_STELLAR_TARGETS` of a field, on filler fibres of its spectrograph.

    Parameters
    ----------
    plan : DemoPlan
    field : int
        Field id.
    fibres : dict
        The field's fibre table (:func:`sdssflow.synth.sdss5.field_fibres`).
    spectrograph : int
        1 (APO) or 2 (LCO).

    Returns
    -------
    list of CartonTarget
        Fewer than :data:`NON_STELLAR_TARGETS` only if the spectrograph has too few fillers.
    """
    base = (spectrograph - 1) * FIBERS_PER_SPECTROGRAPH
    rows = base + np.arange(FIBERS_PER_SPECTROGRAPH)
    free = rows[
        (fibres["objtype"][rows] == "GALAXY") & (fibres["star"][rows] < 0) & ~fibres["dead"][rows]
    ]
    free = rng_for(int(plan.get("seed")), "cartons", field).permutation(free)
    first = plan.plates.index(int(field)) * len(NON_STELLAR_TARGETS)
    return [
        CartonTarget(int(row), demo_sdss_id(300_000_000, first + j), 27_021_599_000_000_000 + first + j,
                     carton, program, spec_class)
        for j, ((carton, program, spec_class), row) in enumerate(zip(NON_STELLAR_TARGETS, free))
    ]  # fmt: skip


def add_to_plugmap(plug: np.ndarray, targets: list[CartonTarget], base: int) -> None:
    """Write the targets' identifiers and class (OBJTYPE) into a spectrograph's plug map.

    ``plug`` holds the rows ``base ... base + 499`` of the fibre table; it is changed in place.
    """
    for t in targets:
        i = t.row - base
        plug["OBJTYPE"][i] = t.spec_class.encode()
        plug["SDSS_ID"][i], plug["CATALOGID"][i] = t.sdss_id, t.catalogid


def add_to_fibermap(cols: dict, targets: list[CartonTarget], plug: np.ndarray, base: int) -> None:
    """Fill the confSummary rows of the targets' BOSS fibres (assigned, ids, carton, position).

    ``cols`` (:func:`sdssflow.synth.sdss5._fibermap_rows`, BOSS fibres first, fibre ``i + 1``
    at row ``i``) is changed in place; positions and magnitudes come from the plug map.
    """
    for t in targets:
        i = t.row - base
        values = {
            "assigned": 1, "on_target": 1, "sdss_id": t.sdss_id, "catalogid": t.catalogid,
            "category": "science", "cadence": "dark_1x1", "firstcarton": t.carton,
            "program": t.program, "racat": plug["RA"][i], "deccat": plug["DEC"][i],
            "ra": plug["RA"][i], "dec": plug["DEC"][i],
        }  # fmt: skip
        for key, value in values.items():
            if cols[key].dtype.kind == "U" and cols[key].dtype.itemsize < 4 * len(str(value)):
                cols[key] = cols[key].astype(f"U{len(str(value))}")
            cols[key][i] = value
        cols["mag"][i] = FILLER_MAG
