"""The sky_spectra product's science: its units and MASK bits, b+r merging per arcsec2, reading.

Used by the ``sky_spectra`` step (:mod:`sdssflow.sky.steps.sky_spectra`, which documents the
layout) and by the sky model (:mod:`sdssflow.sky.steps.sky_model`, :mod:`sdssflow.sky.model_predict`).
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from sdssflow.io.sky import read_product
from sdssflow.sky.magnitudes import fiber_area
from sdssflow.sky.mega import stack_tables

__all__ = ["merge_arms", "MASK_BITS", "SB_UNIT", "SB_IVAR_UNIT", "read_sky_spectra", "bytes_per_spectrum"]

#: MASK bits of the sky_spectra product.
MASK_BITS = {"NODATA": 0, "BOTHARMS": 1}
SB_UNIT = "1e-17 erg/(s cm2 Angstrom arcsec2)"
SB_IVAR_UNIT = "1e+34 (s2 cm4 Angstrom2 arcsec4)/erg2"



def bytes_per_spectrum(ngrid: int) -> int:
    """Bytes of one row of FLUX, IVAR, MASK and DISP (4 + 4 + 2 + 4 per pixel)."""
    return 14 * int(ngrid)


def merge_arms(flux, ivar, disp, meta: Table, good_keys: set) -> tuple[dict[str, np.ndarray], Table]:
    """Merge the good b and r mean spectra of each exposure and spectrograph, per arcsec2.

    Parameters
    ----------
    flux, ivar, disp : numpy.ndarray, shape (nmean, ngrid)
        Mean spectra of one plate (1e-17 erg/s/cm2/A per fibre), ivar, sigma (A).
    meta : astropy.table.Table, nmean rows
        Needs PLATE, MJD, EXPID, CAMERA.
    good_keys : set of (plate, expid, camera)
        The good mean spectra.

    Returns
    -------
    arrays : dict
        FLUX, IVAR (per arcsec2), MASK, DISP, each (nout, ngrid).
    metadata : astropy.table.Table, nout rows
        The first merged camera's metadata without CAMERA, plus SPECTROGRAPH, CAMERAS,
        FIBER_AREA (arcsec2), NFIBER_USED (sum over the arms).
    """
    need = [c for c in ("PLATE", "MJD", "EXPID", "CAMERA") if c not in meta.colnames]
    if need:
        raise ValueError(f"mean spectra META lacks column(s) {need}")
    cams = [str(c).strip().lower() for c in meta["CAMERA"]]
    keep = [i for i in range(len(meta)) if (int(meta["PLATE"][i]), int(meta["EXPID"][i]), cams[i]) in good_keys]
    groups: dict[tuple, list[int]] = {}
    for i in keep:
        groups.setdefault((int(meta["MJD"][i]), int(meta["EXPID"][i]), cams[i][1:]), []).append(i)
    ngrid = flux.shape[1]
    n = len(groups)
    out = {
        "FLUX": np.zeros((n, ngrid), np.float32),
        "IVAR": np.zeros((n, ngrid), np.float32),
        "MASK": np.zeros((n, ngrid), np.int16),
        "DISP": np.zeros((n, ngrid), np.float32),
    }
    first, sp, camlist, nused = [], [], [], []
    for j, (key, rows) in enumerate(sorted(groups.items())):
        rows = sorted(rows, key=lambda i: cams[i])  # b before r
        iv = np.asarray(ivar[rows], dtype=float)
        wsum = iv.sum(axis=0)
        pos = wsum > 0
        safe = np.where(pos, wsum, 1.0)
        area = float(fiber_area(np.array([key[0]]))[0])
        out["FLUX"][j] = np.where(pos, (iv * flux[rows]).sum(axis=0) / safe, 0.0) / area
        out["IVAR"][j] = wsum * area**2
        out["DISP"][j] = np.where(pos, (iv * disp[rows]).sum(axis=0) / safe, 0.0)
        mask = np.where(pos, 0, 1 << MASK_BITS["NODATA"])
        mask |= np.where((iv > 0).sum(axis=0) > 1, 1 << MASK_BITS["BOTHARMS"], 0)
        out["MASK"][j] = mask
        first.append(rows[0])
        sp.append(int(key[2]) if key[2].isdigit() else 0)
        camlist.append(" ".join(cams[i] for i in rows))
        nused.append(int(sum(int(meta["NFIBER_USED"][i]) for i in rows)) if "NFIBER_USED" in meta.colnames else -1)
    md = Table(meta[first], copy=True) if first else Table(meta[:0], copy=True)
    for col in ("CAMERA", "MEANID", "NFIBER_USED"):
        if col in md.colnames:
            md.remove_column(col)
    md["SPECTROGRAPH"] = np.array(sp, dtype=np.int16)
    md["CAMERAS"] = np.array(camlist, dtype="U8")
    md["FIBER_AREA"] = fiber_area(np.asarray(md["MJD"])) if len(md) else np.zeros(0)
    md["FIBER_AREA"].unit = "arcsec2"
    md["NFIBER_USED"] = np.array(nused, dtype=np.int32)
    return out, md


def read_sky_spectra(paths) -> tuple[np.ndarray, dict[str, np.ndarray], Table]:
    """Read and concatenate sky_spectra files (the year files of a split product).

    Returns
    -------
    wave : numpy.ndarray, shape (ngrid,)
    arrays : dict FLUX, IVAR, MASK, DISP -> numpy.ndarray, shape (nspec, ngrid)
    metadata : astropy.table.Table

    Raises
    ------
    ValueError
        If a file lacks an HDU or the grids differ.
    """
    wave, parts, metas = None, {k: [] for k in ("FLUX", "IVAR", "MASK", "DISP")}, []
    for path in paths:
        images, tables, _ = read_product(path)
        missing = [h for h in ("WAVELENGTH", *parts) if h not in images] + ([] if "METADATA" in tables else ["METADATA"])
        if missing:
            raise ValueError(f"{path}: not a sky_spectra file, missing HDU(s) {missing}")
        if wave is None:
            wave = images["WAVELENGTH"]
        elif not np.array_equal(wave, images["WAVELENGTH"]):
            raise ValueError(f"{path}: wavelength grid differs from {paths[0]}")
        for k in parts:
            parts[k].append(np.atleast_2d(images[k]) if images[k].size else np.zeros((0, wave.size), images[k].dtype))
        metas.append(tables["METADATA"])
    if wave is None:
        raise ValueError("no sky_spectra files given")
    return wave, {k: np.concatenate(v) for k, v in parts.items()}, stack_tables(metas)
