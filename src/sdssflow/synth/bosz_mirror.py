"""A BOSZ 2024 mirror of the toy stellar model, in the MAST layout.

Writes, under ``<demo root>/bosz_mirror/bosz2024/``::

    wavelength_grids/bosz2024_wave_r10000.txt     the real R=10000 grid (150,000 rows)
    r10000/m<+-M.MM>/bosz2024_mp_t<T>_g+<g>_m<+-M.MM>_a+0.00_c+0.00_v1_r10000_resam.txt.gz
    demo_subgrid.yaml                              the grid written (sdssflow.io.bosz spec keys)

Each model file has two whitespace-separated columns, H and C (Eddington flux and its
continuum, erg/s/cm2/A, F = 4 pi H), row i on wavelength i of the grid, written like the
real files (``%.4e``). The model is :func:`sdssflow.synth.stellar.surface_flux` at R = 10000
evaluated at ``air_to_vacuum(grid)`` (BOSZ grids are air above 2000 A). Outside
:data:`MODEL_RANGE` both columns are 0 (the workflow never reads there).

The files are gzip streams of three members (constant head, model rows, constant tail),
which every gzip reader concatenates; a plain ``python -m http.server`` can serve the tree.
"""

from __future__ import annotations

import gzip
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from sdssflow.io.bosz import BoszModel, air_to_vacuum, wave_grid_relpath
from sdssflow.io.products import atomic_path
from sdssflow.synth.stellar import StarParams, bosz_wave_grid, surface_flux

__all__ = ["MODEL_RANGE", "DEMO_SUBGRID", "subgrid_models", "model_columns", "write_bosz_mirror"]

log = logging.getLogger(__name__)

#: Wavelength range (A, grid values) where the model is written; zeros elsewhere.
MODEL_RANGE = (2500.0, 25000.0)
RESOLUTION = 10000

#: The subgrid of the demo mirror (brackets the demo's spectrophotometric standards).
DEMO_SUBGRID = {
    "resolution": RESOLUTION,
    "teff": {"min": 5750, "max": 7000, "step": 250},
    "logg": [3.5, 4.0, 4.5, 5.0],
    "feh": [-0.5, -0.25, 0.0, 0.25],
    "alpha": [0.0],
    "carbon": 0.0,
    "vmicro": 1,
    "atlas_teff_min": 7500,
}


def subgrid_models(spec: dict = DEMO_SUBGRID) -> list[BoszModel]:
    """The BOSZ models of a subgrid spec (all MARCS ``mp`` below ``atlas_teff_min``)."""
    t = spec["teff"]
    teffs = np.arange(t["min"], t["max"] + 1, t["step"])
    out = []
    for feh in spec["feh"]:
        for teff in teffs:
            for logg in spec["logg"]:
                atmos = "ap" if teff >= spec["atlas_teff_min"] else "mp"
                out.append(
                    BoszModel(
                        int(teff),
                        float(logg),
                        float(feh),
                        0.0,
                        float(spec["carbon"]),
                        int(spec["vmicro"]),
                        int(spec["resolution"]),
                        atmos,
                    )
                )
    return out


def model_columns(params: StarParams, wave_air: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """H and C (erg/s/cm2/A, F = 4 pi H) of the toy model at R = 10000 on air wavelengths.

    Parameters
    ----------
    params : StarParams
    wave_air : numpy.ndarray, (nwave,)
        BOSZ grid wavelengths (air above 2000 A).

    Returns
    -------
    H, C : numpy.ndarray, (nwave,)
    """
    vac = air_to_vacuum(wave_air)
    flux, cont = surface_flux(vac, params, sigma_inst=lambda lam: lam / RESOLUTION / 2.3548)
    return flux / (4 * np.pi), cont / (4 * np.pi)


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode("ascii"), compresslevel=1, mtime=0)


def write_bosz_mirror(
    base: str | os.PathLike, models: Iterable[BoszModel] | None = None
) -> list[Path]:
    """Write the demo BOSZ 2024 mirror under ``base`` (the ``bosz2024`` folder).

    Parameters
    ----------
    base : path-like
        Folder served as the BOSZ 2024 base URL.
    models : iterable of BoszModel, optional
        Default :func:`subgrid_models` of :data:`DEMO_SUBGRID`.

    Returns
    -------
    list of pathlib.Path
        Every file written (wave grid, subgrid spec, models).
    """
    base = Path(base)
    models = list(subgrid_models() if models is None else models)
    grid = bosz_wave_grid(RESOLUTION)
    written = []
    wave_path = base / wave_grid_relpath(RESOLUTION)
    with atomic_path(wave_path) as tmp:
        tmp.write_text(("%.7e\n" * grid.size) % tuple(grid))
    written.append(wave_path)
    i0, i1 = np.searchsorted(grid, MODEL_RANGE)
    head = _gz("0.0000e+00 0.0000e+00\n" * i0)
    tail = _gz("0.0000e+00 0.0000e+00\n" * (grid.size - i1))
    fmt = "%.4e %.4e\n" * (i1 - i0)
    for model in models:
        hcol, ccol = model_columns(StarParams(model.teff, model.logg, model.feh), grid[i0:i1])
        body = _gz(fmt % tuple(np.column_stack([hcol, ccol]).ravel()))
        path = base / model.relpath
        with atomic_path(path) as tmp:
            tmp.write_bytes(head + body + tail)
        written.append(path)
    spec_path = base / "demo_subgrid.yaml"
    lines = [
        "# BOSZ 2024 subgrid of the sdssflow demo mirror (written by sdssflow.synth.bosz_mirror).",
        f"resolution: {DEMO_SUBGRID['resolution']}",
        "teff: {{min: {min}, max: {max}, step: {step}}}".format(**DEMO_SUBGRID["teff"]),
        f"logg: {DEMO_SUBGRID['logg']}",
        f"feh: {DEMO_SUBGRID['feh']}",
        f"alpha: {DEMO_SUBGRID['alpha']}",
        f"carbon: {DEMO_SUBGRID['carbon']}",
        f"vmicro: {DEMO_SUBGRID['vmicro']}",
        f"atlas_teff_min: {DEMO_SUBGRID['atlas_teff_min']}",
    ]
    with atomic_path(spec_path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    written.append(spec_path)
    log.info("BOSZ mirror: %d models in %s", len(models), base)
    return written
