"""The HDF5 template library of BOSZ 2024 spectra (the product of rule ``bosz_library``).

Every template of a subgrid on one trimmed, vacuum wavelength grid, written once and read
once by template matching.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from sdssflow.io.products import atomic_path
from sdssflow.io.readable import readable

__all__ = ["TemplateLibrary", "write_library", "read_library"]


@dataclass(frozen=True)
class TemplateLibrary:
    """Every template of a subgrid on one wavelength grid (in memory).

    Attributes
    ----------
    wave : numpy.ndarray, shape (nwave,)
        Vacuum wavelength, Angstrom (uniform in ln lambda to 1e-4 relative).
    flux : numpy.ndarray, shape (ntemplate, nwave), float32
        Surface flux 4 pi H, erg/s/cm2/A.
    continuum : numpy.ndarray, shape (ntemplate, nwave), float32
        Theoretical continuum 4 pi C, erg/s/cm2/A.
    params : pandas.DataFrame
        One row per template: teff (K), logg, feh, alpha, carbon, vmicro, atmos, name.
    resolution : int
        Resolving power of the models (FWHM = lambda / R).
    """

    wave: np.ndarray
    flux: np.ndarray
    continuum: np.ndarray
    params: pd.DataFrame
    resolution: int

    @property
    def ntemplate(self) -> int:
        return int(self.flux.shape[0])

    def teff_step(self) -> float:
        """Smallest spacing of distinct Teff values in the library, K (inf for one Teff)."""
        teffs = np.unique(self.params["teff"].to_numpy(float))
        return float(np.min(np.diff(teffs))) if teffs.size > 1 else float("inf")


_PARAM_COLUMNS = ("teff", "logg", "feh", "alpha", "carbon", "vmicro")


def write_library(
    library: TemplateLibrary, path: str | os.PathLike, attrs: dict | None = None
) -> Path:
    """Write a :class:`TemplateLibrary` to HDF5 atomically.

    Layout: datasets ``wave`` (Angstrom, vacuum), ``flux`` and ``continuum``
    ((ntemplate, nwave) float32, erg/s/cm2/A, chunked one template per chunk), group
    ``params`` with one dataset per column; root attributes ``resolution``, ``units``
    and any ``attrs`` given (provenance).
    """
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.create_dataset("wave", data=library.wave.astype(np.float64))
            h5["wave"].attrs["unit"] = "Angstrom (vacuum)"
            for key in ("flux", "continuum"):
                arr = np.asarray(getattr(library, key), dtype=np.float32)
                h5.create_dataset(key, data=arr, chunks=(1, arr.shape[1]) if arr.size else None)
                h5[key].attrs["unit"] = (
                    "erg/s/cm2/A (4 pi H)" if key == "flux" else "erg/s/cm2/A (4 pi C)"
                )
            grp = h5.create_group("params")
            for col in _PARAM_COLUMNS:
                grp.create_dataset(col, data=library.params[col].to_numpy(np.float64))
            for col in ("atmos", "name"):
                grp.create_dataset(col, data=library.params[col].astype(str).to_numpy().astype("S"))
            h5.attrs["resolution"] = int(library.resolution)
            h5.attrs["flux_unit"] = "erg/s/cm2/A"
            for key, value in (attrs or {}).items():
                h5.attrs[key] = value
    return Path(path)


@readable
def read_library(
    path: str | os.PathLike, wave_range: tuple[float, float] | None = None
) -> TemplateLibrary:
    """Read the HDF5 template library written by :func:`write_library`.

    Parameters
    ----------
    path : path-like
        The ``bosz_library.h5`` file.
    wave_range : (float, float), optional
        Keep only wavelengths in this interval (Angstrom, vacuum).

    Raises
    ------
    ValueError
        If the file lacks a dataset of the layout or the range selects nothing.
    """
    try:
        with h5py.File(path, "r") as h5:
            wave = h5["wave"][...]
            sel = slice(None)
            if wave_range is not None:
                idx = np.flatnonzero((wave >= wave_range[0]) & (wave <= wave_range[1]))
                if idx.size == 0:
                    raise ValueError(f"{path}: no wavelength in {wave_range}")
                sel = slice(int(idx[0]), int(idx[-1]) + 1)
            flux = h5["flux"][:, sel]
            cont = h5["continuum"][:, sel]
            grp = h5["params"]
            params = pd.DataFrame({col: grp[col][...] for col in _PARAM_COLUMNS})
            for col in ("atmos", "name"):
                params[col] = grp[col][...].astype(str)
            resolution = int(h5.attrs["resolution"])
    except KeyError as err:
        raise ValueError(f"{path}: not a sdssflow BOSZ library ({err})") from err
    return TemplateLibrary(
        wave=wave[sel], flux=flux, continuum=cont, params=params, resolution=resolution
    )
