"""bossVisits files: flux-calibrated, b+r merged BOSS science-fibre visits of one plate-MJD.

Written by the ``boss_visits`` step and read by the mwm bucket jobs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import fitsio
import numpy as np

from sdssflow.io.mwm_grids import GRIDS
from sdssflow.io.products import atomic_path, header_card, provenance_cards
from sdssflow.io.readable import readable

__all__ = ["BOSS_VISIT_COLUMNS", "BOSS_VISIT_STATUS_COLUMNS", "write_boss_visits", "boss_visit_status", "read_boss_visits"]

# ------------------------------------------------------------------ bossVisits files
#: Columns of the VISITS table of a bossVisits file (name, numpy dtype). ``carton``: the
#: SDSS-V FIRSTCARTON of the fibre's target ('' when unknown, e.g. plate-era data).
BOSS_VISIT_COLUMNS = (
    ("sdss_id", "i8"), ("catalogid", "i8"), ("fiberid", "i4"), ("ra", "f8"), ("dec", "f8"),
    ("objtype", "S16"), ("plateid", "i4"), ("fieldid", "i4"), ("mjd", "i4"), ("telescope", "S8"),
    ("run2d", "S16"), ("n_exp", "i4"), ("exptime", "f4"), ("airmass", "f4"), ("seeing", "f4"),
    ("tai_beg", "i8"), ("tai_end", "i8"), ("snr", "f4"), ("xcsao_v_rad", "f4"),
    ("xcsao_e_v_rad", "f4"), ("xcsao_teff", "f4"), ("xcsao_e_teff", "f4"), ("xcsao_logg", "f4"),
    ("xcsao_e_logg", "f4"), ("xcsao_fe_h", "f4"), ("xcsao_e_fe_h", "f4"), ("xcsao_rxc", "f4"),
    ("zwarning_flags", "i8"), ("spec_file", "S64"), ("carton", "S64"),
)  # fmt: skip


def write_boss_visits(
    path,
    table: np.ndarray,
    flux,
    ivar,
    pixel_flags,
    wresl,
    header_cards,
    version,
    inputs=(),
    status: np.ndarray | None = None,
):
    """Write a bossVisits file: one plate-MJD, one row per science fibre, on the BOSS grid.

    Layout: HDU 0 header (PLATEID, MJD, OBSERVAT, grid CRVAL/CDELT/NPIXELS, provenance);
    HDU 1 ``VISITS`` table (:data:`BOSS_VISIT_COLUMNS`); HDU 2 ``FLUX`` (nfib, 4648) float32
    1e-17 erg/s/cm²/Å, barycentric vacuum frame; HDU 3 ``IVAR``; HDU 4 ``PIXEL_FLAGS`` int64
    (SPPIXMASK); HDU 5 ``WRESL`` (Å, FWHM); HDU 6 ``STATUS`` when given (one row per frame
    used or left out and per flagged fibre: :data:`BOSS_VISIT_STATUS_COLUMNS`). Every HDU has
    CHECKSUM/DATASUM. With no fibre (``nfib = 0``) the images have shape (0, 4648): a valid,
    empty product whose STATUS says why.

    Parameters
    ----------
    table : structured ndarray, length nfib
        With the fields of :data:`BOSS_VISIT_COLUMNS` (missing fields filled).
    flux, ivar, pixel_flags, wresl : ndarray, shape (nfib, 4648)
    header_cards : sequence of (key, value, comment)
    version : str
    inputs : sequence of path-like
    status : structured ndarray, optional
        Rows of :data:`BOSS_VISIT_STATUS_COLUMNS` (see :func:`boss_visit_status`).
    """
    nfib = len(table)
    grid = GRIDS["boss"]
    full = np.zeros(nfib, dtype=list(BOSS_VISIT_COLUMNS))
    for name in full.dtype.names:
        if table.dtype.names and name in table.dtype.names:
            full[name] = table[name]
        elif full.dtype[name].kind == "f":
            full[name] = np.nan
    grid_cards = [
        ("CRVAL", grid.crval, "log10 wavelength (vacuum, A) of pixel 1"),
        ("CDELT", grid.cdelt, "log10 step"),
        ("CRPIX", 1, "reference pixel"),
        ("CTYPE", "LOG-LINEAR", ""),
        ("NPIXELS", grid.npix, "pixels per spectrum"),
    ]
    primary = [
        header_card(k, v, c)
        for k, v, c in list(header_cards)
        + grid_cards
        + provenance_cards(version, inputs, "boss_visits")
    ]
    images = (
        (
            "FLUX",
            np.asarray(flux, np.float32).reshape(nfib, grid.npix),
            "1e-17 erg / (s cm2 Angstrom)",
        ),
        (
            "IVAR",
            np.asarray(ivar, np.float32).reshape(nfib, grid.npix),
            "1e34 (s2 cm4 Angstrom2) / erg2",
        ),
        ("PIXEL_FLAGS", np.asarray(pixel_flags, np.int64).reshape(nfib, grid.npix), ""),
        ("WRESL", np.asarray(wresl, np.float32).reshape(nfib, grid.npix), "Angstrom"),
    )
    with atomic_path(path) as tmp:
        with fitsio.FITS(str(tmp), "rw", clobber=True) as f:
            f.write(None, header=primary)
            f[0].write_checksum()
            f.write(full, extname="VISITS")
            f[-1].write_checksum()
            for name, arr, bunit in images:
                header = [header_card("BUNIT", bunit)] + [header_card(k, v, c) for k, v, c in grid_cards]
                if nfib:
                    f.write(arr, extname=name, header=header)
                else:  # fitsio refuses a zero-row array; an image of NAXIS2 = 0 is valid FITS
                    f.create_image_hdu(
                        dims=[0, grid.npix], dtype=arr.dtype, extname=name, header=header
                    )
                f[-1].write_checksum()
            if status is not None:
                f.write(status, extname="STATUS")
                f[-1].write_checksum()
    return Path(path)


#: STATUS rows of a bossVisits file: a frame (camera of an exposure) used or left out, a
#: flagged fibre (non-finite or fully masked data), or the plate-MJD (``empty``).
BOSS_VISIT_STATUS_COLUMNS = (
    ("mjd", "i4"), ("expid", "i8"), ("camera", "S2"), ("fiberid", "i4"), ("sdss_id", "i8"),
    ("status", "S16"), ("message", "S300"), ("path", "S300"),
)  # fmt: skip


def boss_visit_status(rows: Sequence[Mapping]) -> np.ndarray:
    """STATUS rows (dicts; missing fields -1 / empty) as a structured array."""
    arr = np.zeros(len(rows), dtype=list(BOSS_VISIT_STATUS_COLUMNS))
    for name, dtype in BOSS_VISIT_STATUS_COLUMNS:
        if dtype[0] == "i":
            arr[name] = -1
    for i, row in enumerate(rows):
        for name, dtype in BOSS_VISIT_STATUS_COLUMNS:
            if row.get(name) is not None:
                value = row[name]
                if dtype.startswith("S"):
                    value = str(value).encode("ascii", "replace")[: int(dtype[1:])]
                arr[name][i] = value
    return arr


@readable
def read_boss_visits(path, rows=None) -> dict:
    """Read a bossVisits file, optionally only some rows.

    Parameters
    ----------
    path : path-like
    rows : sequence of int, optional
        Row indices (fibre rows) to read; all when None.

    Returns
    -------
    dict
        ``table`` (structured array), ``flux``, ``ivar``, ``pixel_flags``, ``wresl``
        ((nrow, 4648)), ``header`` (dict of the primary header).

    Raises
    ------
    ValueError
        If the file lacks an HDU of the layout.
    """
    out = {}
    with fitsio.FITS(str(path)) as f:
        names = [h.get_extname() for h in f]
        for need in ("VISITS", "FLUX", "IVAR", "PIXEL_FLAGS", "WRESL"):
            if need not in names:
                raise ValueError(f"{path}: not a bossVisits file (no {need} HDU)")
        hdr = f[0].read_header()
        out["header"] = {k: hdr[k] for k in hdr.keys() if k and k not in ("COMMENT", "HISTORY")}
        table = f["VISITS"].read()
        if rows is None:
            rows = np.arange(len(table))
        rows = np.asarray(rows, int)
        out["table"] = table[rows]
        for name in ("FLUX", "IVAR", "PIXEL_FLAGS", "WRESL"):
            if len(rows) and np.all(np.diff(rows) == 1):
                data = f[name][int(rows[0]) : int(rows[-1]) + 1, :]
            else:
                data = f[name].read()[rows] if len(rows) else np.zeros((0, GRIDS["boss"].npix))
            out[name.lower()] = np.asarray(data)
    return out
