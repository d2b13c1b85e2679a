"""RV templates and NMF continuum bases of the mwm steps (HDF5 library reader, FITS products)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import fitsio
import numpy as np

from sdssflow.io.mwm_grids import GRIDS
from sdssflow.io.products import atomic_path, header_card, provenance_cards
from sdssflow.io.readable import readable

__all__ = [
    "read_rv_templates",
    "write_nmf_basis",
    "read_nmf_basis",
    "write_apogee_rv_templates",
    "read_apogee_rv_templates",
]

# ------------------------------------------------------------------ RV templates / NMF basis
@readable
def read_rv_templates(path, wave_range=(3550.0, 10450.0)):
    """Rectified BOSZ templates for radial velocities.

    Parameters
    ----------
    path : path-like
        The sdssflow BOSZ library (``bosz_library.h5``, :func:`sdssflow.io.bosz_library.read_library`)
        or a BOSZ 2024 mirror directory (``r<R>/m*/bosz2024_*_resam.txt[.gz]`` and
        ``wavelength_grids/bosz2024_wave_r<R>.txt``, searched recursively; air wavelengths
        converted to vacuum).
    wave_range : (float, float)
        Wavelength range kept, Å vacuum.

    Returns
    -------
    wave : ndarray, shape (nwave,)
        Vacuum wavelength, Å.
    rect : ndarray, shape (ntpl, nwave)
        Flux divided by the model continuum (H / C).
    params : ndarray, shape (ntpl, 3)
        teff (K), logg, fe_h.
    resolution : float
        Resolving power of the models.

    Raises
    ------
    ValueError
        If no template is found.
    """
    from sdssflow.io import bosz, bosz_library

    path = Path(path)
    if path.is_file():
        lib = bosz_library.read_library(path, wave_range=wave_range)
        with np.errstate(invalid="ignore", divide="ignore"):
            rect = np.where(lib.continuum > 0, lib.flux / lib.continuum, 1.0)
        params = lib.params[["teff", "logg", "feh"]].to_numpy(float)
        return np.asarray(lib.wave, float), rect, params, float(lib.resolution)
    # a mirror the user unpacked holds _resam.txt; where both forms of a model are there, one
    files = sorted(path.rglob("bosz2024_*_resam.txt.gz"))
    packed = {f.with_suffix("") for f in files}
    files = sorted(files + [f for f in path.rglob("bosz2024_*_resam.txt") if f not in packed])
    if not files:
        raise ValueError(f"{path}: no BOSZ library file and no bosz2024_*_resam.txt[.gz] below it")
    res = bosz.parse_bosz_name(files[0].name).resolution
    files = [f for f in files if bosz.parse_bosz_name(f.name).resolution == res]
    grids = sorted(path.rglob(Path(bosz.wave_grid_relpath(res)).name))
    if not grids:
        raise ValueError(f"{path}: no {Path(bosz.wave_grid_relpath(res)).name} below it")
    wave = bosz.air_to_vacuum(bosz.read_wave_grid(grids[0]))
    keep = (wave >= wave_range[0]) & (wave <= wave_range[1])
    rects, params = [], []
    for f in files:
        model = bosz.parse_bosz_name(f.name)
        flux, cont = bosz.read_resampled(f, nrows=wave.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            rects.append(np.where(cont[keep] > 0, flux[keep] / cont[keep], 1.0))
        params.append((model.teff, model.logg, model.feh))
    return wave[keep], np.array(rects), np.array(params, float), float(res)


def write_nmf_basis(path, bases: Mapping[str, np.ndarray], cards, version, inputs=()):
    """Write the NMF basis: HDU ``BOSS`` (C, 4648) and ``APOGEE`` (C, 8575) float32 images.

    Each image header carries the grid (CRVAL, CDELT, NPIXELS); the primary carries
    ``cards`` (NMFBASIS name, training source) and provenance.
    """
    with atomic_path(path) as tmp:
        with fitsio.FITS(str(tmp), "rw", clobber=True) as f:
            f.write(
                None,
                header=[
                    header_card(k, v, c)
                    for k, v, c in list(cards) + provenance_cards(version, inputs, "nmf_basis")
                ],
            )
            f[0].write_checksum()
            for name, H in bases.items():
                grid = GRIDS[name]
                if H.shape[1] != grid.npix:
                    raise ValueError(
                        f"{path}: {name} basis has {H.shape[1]} pixels, grid has {grid.npix}"
                    )
                hdr = [
                    header_card("CRVAL", grid.crval),
                    header_card("CDELT", grid.cdelt),
                    header_card("NPIXELS", grid.npix),
                    header_card("BUNIT", ""),
                ]
                f.write(np.asarray(H, np.float32), extname=name.upper(), header=hdr)
                f[-1].write_checksum()
    return Path(path)


@readable
def read_nmf_basis(path) -> tuple[dict[str, np.ndarray], dict]:
    """Read :func:`write_nmf_basis` output: ({'boss': H, 'apogee': H}, primary header dict)."""
    out = {}
    with fitsio.FITS(str(path)) as f:
        names = [h.get_extname() for h in f]
        hdr = f[0].read_header()
        header = {k: hdr[k] for k in hdr.keys() if k and k not in ("COMMENT", "HISTORY")}
        for name in ("BOSS", "APOGEE"):
            if name not in names:
                raise ValueError(f"{path}: NMF basis file has no {name} HDU")
            out[name.lower()] = np.asarray(f[name].read(), float)
    return out, header


def write_apogee_rv_templates(path, loglam, flux, params, resolution, version, inputs=()):
    """Write the APOGEE H-band RV template library (rule ``apogee_templates``).

    Parameters
    ----------
    path : path-like
        Output FITS (``results/<v>/mwm/apogee_rv_templates.fits``), written atomically.
    loglam : ndarray, shape (nfine,)
        log10 vacuum wavelength (Å) of the fine grid, uniform step.
    flux : ndarray, shape (ntpl, nfine)
        Normalised rest-frame template flux, at ``resolution``.
    params : ndarray, shape (ntpl, 3)
        teff (K), logg, fe_h of each template.
    resolution : float
        λ/Δλ (FWHM) of the templates (card ``RESOLUTN``).
    version : str
        Product version (provenance).
    inputs : sequence of path-like
        The template source (mirror or library), recorded in the provenance cards.

    Notes
    -----
    HDU ``FLUX``: float32 image (ntpl, nfine) with ``LOGLAM0``/``DLOGLAM`` (the grid, double
    precision) and ``RESOLUTN``; HDU ``PARAMS``: table teff, logg, fe_h.
    """
    loglam = np.asarray(loglam, float)
    flux = np.atleast_2d(np.asarray(flux, float))
    params = np.asarray(params, float).reshape(-1, 3)
    if flux.shape != (params.shape[0], loglam.size):
        raise ValueError(f"{path}: flux {flux.shape} does not match {params.shape[0]} templates x {loglam.size}")
    step = float(np.median(np.diff(loglam))) if loglam.size > 1 else 0.0
    if loglam.size > 1 and not np.allclose(np.diff(loglam), step, rtol=1e-6, atol=0.0):
        raise ValueError(f"{path}: the template grid is not uniform in log10(wavelength)")
    table = np.zeros(params.shape[0], dtype=[("teff", "f8"), ("logg", "f8"), ("fe_h", "f8")])
    for k, name in enumerate(("teff", "logg", "fe_h")):
        table[name] = params[:, k]
    with atomic_path(path) as tmp:
        with fitsio.FITS(str(tmp), "rw", clobber=True) as f:
            f.write(None, header=[header_card(k, v, c) for k, v, c in provenance_cards(version, inputs, "apogee_templates")])
            f[0].write_checksum()
            hdr = [
                header_card("LOGLAM0", float(loglam[0]), "log10 vacuum wavelength (A) of pixel 0"),
                header_card("DLOGLAM", step, "log10 wavelength step"),
                header_card("RESOLUTN", float(resolution), "resolving power (FWHM) of the templates"),
                header_card("BUNIT", "", "normalised flux"),
            ]
            f.write(flux.astype(np.float32), extname="FLUX", header=hdr)
            f[-1].write_checksum()
            f.write(table, extname="PARAMS")
            f[-1].write_checksum()
    return Path(path)


@readable
def read_apogee_rv_templates(path):
    """Read :func:`write_apogee_rv_templates` output.

    Returns
    -------
    loglam : ndarray, shape (nfine,)
    flux : ndarray, shape (ntpl, nfine)
        float64.
    params : ndarray, shape (ntpl, 3)
        teff, logg, fe_h.
    resolution : float
    """
    with fitsio.FITS(str(path)) as f:
        names = [h.get_extname() for h in f]
        if "FLUX" not in names or "PARAMS" not in names:
            raise ValueError(f"{path}: not an APOGEE RV template file (no FLUX/PARAMS HDU)")
        hdr = f["FLUX"].read_header()
        flux = np.asarray(f["FLUX"].read(), float)
        table = f["PARAMS"].read()
    loglam = float(hdr["LOGLAM0"]) + float(hdr["DLOGLAM"]) * np.arange(flux.shape[1])
    params = np.column_stack([np.asarray(table[n], float) for n in ("teff", "logg", "fe_h")])
    return loglam, flux, params, float(hdr["RESOLUTN"])
