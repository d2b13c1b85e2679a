"""Writers of the BOSS frame files of the demo survey (spFrame, spCFrame, spFluxcalib).

The spPlate/spField writer is in :mod:`sdssflow.synth.spplate_files`.

The layouts are those :mod:`sdssflow.io.boss` reads (see its table of HDUs); only the demo
generator (:mod:`sdssflow.synth`) and test fixtures write these files, so the writers live
here, beside the generator, and ``io/`` keeps the readers the pipeline needs.
"""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import fitsio
import numpy as np
from astropy.io import fits
from astropy.table import Table

from sdssflow.io.boss_hdus import SPCFRAME_NPIX
from sdssflow.io.products import atomic_path, provenance_cards

__all__ = ["write_spframe", "write_spcframe", "write_spfluxcalib"]


def _traceset_array(tset: Mapping) -> np.ndarray:
    """A one-row structured array (the on-disk trace-set table) from a mapping."""
    coeff = np.asarray(tset["COEFF"], dtype=np.float64)
    fields = [("FUNC", "S8"), ("XMIN", "f8"), ("XMAX", "f8"), ("COEFF", "f8", coeff.shape)]
    extra = [k for k in ("XJUMPLO", "XJUMPHI", "XJUMPVAL") if k in tset]
    fields += [(k, "f8") for k in extra]
    arr = np.zeros(1, dtype=fields)
    arr["FUNC"] = str(tset.get("FUNC", "legendre")).encode()
    arr["XMIN"] = float(tset["XMIN"])
    arr["XMAX"] = float(tset["XMAX"])
    arr["COEFF"][0] = coeff
    for k in extra:
        arr[k] = float(tset[k])
    return arr



def _records(header, extname: str | None = None, bunit: str | None = None) -> list[dict]:
    """fitsio header records from an astropy Header / mapping (+ EXTNAME, BUNIT)."""
    recs: list[dict] = []
    if extname:
        recs.append({"name": "EXTNAME", "value": extname, "comment": "extension name"})
    if bunit is not None:
        recs.append({"name": "BUNIT", "value": bunit, "comment": "unit of the data"})
    if header is None:
        return recs
    if isinstance(header, fits.Header):
        items = [(c.keyword, c.value, c.comment) for c in header.cards]
    else:
        items = [(k, *(v if isinstance(v, tuple) else (v, ""))) for k, v in dict(header).items()]
    for key, value, comment in items:
        if key in ("EXTNAME", "BUNIT", "SIMPLE", "BITPIX", "NAXIS", "EXTEND") or key.startswith(
            "NAXIS"
        ):
            continue
        if key in ("COMMENT", "HISTORY", ""):
            recs.append({"name": key or "COMMENT", "value": str(value)})
        else:
            recs.append({"name": key, "value": value, "comment": comment})
    return recs


def _write_fits(
    path: Path, hdus: list[tuple[np.ndarray, list[dict]]], checksum: bool = True
) -> Path:
    """Write (data, header records) HDUs with fitsio, atomically, with checksums (optional).

    ``.gz`` paths are written uncompressed to a temporary file and gzipped.
    """
    path = Path(path)
    gz = path.name.endswith(".gz")
    with atomic_path(path) as tmp:
        raw = tmp.with_name(tmp.name.removesuffix(".gz")) if gz else tmp
        with fitsio.FITS(str(raw), "rw", clobber=True) as fobj:
            for i, (data, recs) in enumerate(hdus):
                extname = next((r["value"] for r in recs if r["name"] == "EXTNAME"), None)
                rest = [r for r in recs if r["name"] != "EXTNAME"]
                if i == 0:
                    fobj.write(data, header=rest)
                    if extname:
                        fobj[0].write_key("EXTNAME", extname, "extension name")
                else:
                    fobj.write(data, header=rest, extname=extname)
                if checksum:
                    fobj[-1].write_checksum()
        if gz:
            # the gzip header names the uncompressed file (as gzip does), not the hidden
            # temporary, and holds no time of writing (RFC 1952 MTIME 0)
            with (
                open(raw, "rb") as src,
                open(tmp, "wb") as out,
                gzip.GzipFile(Path(path).name.removesuffix(".gz"), "wb", 1, out, mtime=0) as dst,
            ):
                shutil.copyfileobj(src, dst, length=1 << 22)
            raw.unlink()
    return path


def _plugmap_array(plugmap) -> np.ndarray:
    arr = plugmap.as_array() if isinstance(plugmap, Table) else np.asarray(plugmap)
    if "FIBERID" not in (arr.dtype.names or ()):
        raise ValueError("plug map needs a FIBERID column")
    if arr.dtype.kind == "V" and any(arr.dtype[n].kind == "U" for n in arr.dtype.names):
        arr = np.array(
            arr,
            dtype=[
                (
                    n,
                    ("S" + str(arr.dtype[n].itemsize // 4))
                    if arr.dtype[n].kind == "U"
                    else arr.dtype[n],
                )
                for n in arr.dtype.names
            ],
        )
    return arr


def _check_images(images: Mapping[str, np.ndarray]) -> tuple[int, int]:
    shapes = {k: np.shape(v) for k, v in images.items()}
    first = next(iter(shapes.values()))
    bad = {k: s for k, s in shapes.items() if s != first}
    if len(first) != 2 or bad:
        raise ValueError(f"frame arrays must share one 2-d shape (nfiber, npix); got {shapes}")
    return first


def _provenance(version: str, step: str) -> list[dict]:
    return [
        {"name": k, "value": v, "comment": c} for k, v, c in provenance_cards(version, (), step)
    ]


def write_spframe(
    path: str | os.PathLike,
    *,
    flux: np.ndarray,
    ivar: np.ndarray,
    mask: np.ndarray,
    wset: Mapping,
    dispset: Mapping,
    plugmap,
    sky: np.ndarray,
    x: np.ndarray,
    superflat: np.ndarray,
    header=None,
    version: str = "demo",
    checksum: bool = True,
) -> Path:
    """Write an spFrame in the idlspec2d v5_7 layout (HDU0-8).

    Parameters
    ----------
    path : str or os.PathLike
        Output path (``.fits`` or ``.fits.gz``); written atomically with checksums.
    flux, ivar, sky, x, superflat : numpy.ndarray, (500, npix)
        Stored as float32; flux and sky in electrons per native pixel.
    mask : numpy.ndarray of int, (500, npix)
        SPPIXMASK bits, stored as int32.
    wset, dispset : mapping
        Legendre trace sets (``FUNC``, ``XMIN``, ``XMAX``, ``COEFF`` (500, ncoeff),
        optional ``XJUMPLO/HI/VAL``) of log10(lambda/A) and of the dispersion in pixels.
    plugmap : astropy Table or structured array
        500 rows with at least ``FIBERID``.
    header : astropy.io.fits.Header or mapping, optional
        Primary keywords (PLATEID, MJD, EXPOSURE, CAMERAS, ...).
    version : str
        Recorded in the VERSION keyword.
    checksum : bool
        Write CHECKSUM/DATASUM cards (about 20 ms per image HDU).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        If the images do not share one (nfiber, npix) shape or the plug map has no FIBERID.
    """
    _check_images(
        {"flux": flux, "ivar": ivar, "mask": mask, "sky": sky, "x": x, "superflat": superflat}
    )
    prov = _provenance(version, "demo_survey")
    units = {"FLUX": "electrons/pixel", "IVAR": "(electrons/pixel)^-2", "SKY": "electrons/pixel"}
    hdus = [
        (np.asarray(flux, np.float32), _records(header, "FLUX", units["FLUX"]) + prov),
        (np.asarray(ivar, np.float32), _records(None, "IVAR", units["IVAR"])),
        (np.asarray(mask, np.int32), _records(None, "MASK", "SPPIXMASK bits")),
        (_traceset_array(wset), _records(None, "WSET")),
        (_traceset_array(dispset), _records(None, "DISPSET")),
        (_plugmap_array(plugmap), _records(None, "PLUGMAP")),
        (np.asarray(sky, np.float32), _records(None, "SKY", units["SKY"])),
        (np.asarray(x, np.float32), _records(None, "X", "pixel")),
        (np.asarray(superflat, np.float32), _records(None, "SUPERFLAT", "")),
    ]
    return _write_fits(Path(path), hdus, checksum)


def write_spcframe(
    path: str | os.PathLike,
    *,
    flux: np.ndarray,
    ivar: np.ndarray,
    mask: np.ndarray,
    loglam: np.ndarray,
    wdisp: np.ndarray,
    plugmap,
    sky: np.ndarray,
    x: np.ndarray,
    superflat: np.ndarray,
    header=None,
    version: str = "demo",
    checksum: bool = True,
) -> Path:
    """Write an spCFrame (HDU0-8), padding blue frames to 4128 columns.

    Padding as ``spcoadd_v5``: flux, ivar, mask, sky, x = 0 and superflat = 1 in the
    added columns, ``loglam`` extrapolated linearly from the last pixel step,
    ``wdisp`` repeated from the last pixel.

    Parameters
    ----------
    path : str or os.PathLike
        Output path; written atomically with checksums.
    flux, ivar, sky : numpy.ndarray, (500, npix)
        1e-17 erg/s/cm2/A (and its inverse variance), float32 on disk.
    mask : numpy.ndarray of int, (500, npix)
        SPPIXMASK bits.
    loglam : numpy.ndarray, (500, npix)
        log10 of the vacuum wavelength in Angstrom (float32 on disk, as idlspec2d).
    wdisp : numpy.ndarray, (500, npix)
        Dispersion sigma in units of 1e-4 dex.
    x, superflat : numpy.ndarray, (500, npix)
    plugmap, header, version
        As :func:`write_spframe`.

    Returns
    -------
    pathlib.Path
    """
    nfib, npix = _check_images(
        {
            "flux": flux,
            "ivar": ivar,
            "mask": mask,
            "loglam": loglam,
            "wdisp": wdisp,
            "sky": sky,
            "x": x,
            "superflat": superflat,
        }
    )
    pad = SPCFRAME_NPIX - npix
    if pad < 0:
        raise ValueError(f"spCFrame arrays have {npix} columns, more than {SPCFRAME_NPIX}")

    def padded(a, fill, dtype):
        a = np.asarray(a, dtype)
        return a if pad == 0 else np.concatenate([a, np.full((nfib, pad), fill, dtype)], axis=1)

    ll = np.asarray(loglam, np.float64)
    if pad:
        step = ll[:, -1:] - ll[:, -2:-1]
        ll = np.concatenate([ll, ll[:, -1:] + step * np.arange(1, pad + 1)], axis=1)
    wd = np.asarray(wdisp, np.float32)
    if pad:
        wd = np.concatenate([wd, np.repeat(wd[:, -1:], pad, axis=1)], axis=1)
    prov = _provenance(version, "demo_survey")
    flux_unit = "1e-17 erg/s/cm^2/Angstrom"
    hdus = [
        (padded(flux, 0, np.float32), _records(header, "FLUX", flux_unit) + prov),
        (padded(ivar, 0, np.float32), _records(None, "IVAR", "(1e-17 erg/s/cm^2/Angstrom)^-2")),
        (padded(mask, 0, np.int32), _records(None, "MASK", "SPPIXMASK bits")),
        (ll.astype(np.float32), _records(None, "WAVELENGTH", "log10(Angstrom)")),
        (wd, _records(None, "WAVEDISP", "1e-4 dex")),
        (_plugmap_array(plugmap), _records(None, "PLUGMAP")),
        (padded(sky, 0, np.float32), _records(None, "SKY", flux_unit)),
        (padded(x, 0, np.float32), _records(None, "X", "pixel")),
        (padded(superflat, 1, np.float32), _records(None, "SUPERFLAT", "")),
    ]
    return _write_fits(Path(path), hdus, checksum)


def write_spfluxcalib(
    path: str | os.PathLike,
    fluxcalib: np.ndarray,
    header=None,
    version: str = "demo",
    checksum: bool = True,
) -> Path:
    """Write an spFluxcalib: HDU0 the calibration image (500, npix), float32.

    Parameters
    ----------
    path : str or os.PathLike
        Output path (``.fits`` or ``.fits.gz``).
    fluxcalib : numpy.ndarray, (500, npix)
        Electrons per 1e-4-dex bin per 1e-17 erg/s/cm2/A.
    header : astropy Header or mapping, optional
        Primary keywords; WAVEMIN / WAVEMAX should be included.
    version : str
        Recorded in VERSION.

    Returns
    -------
    pathlib.Path
    """
    calib = np.asarray(fluxcalib, np.float32)
    if calib.ndim != 2:
        raise ValueError(f"fluxcalib must be 2-d (500, npix), got shape {calib.shape}")
    recs = _records(header, "FLUXCALIB", "electrons/(1e-4 dex)/(1e-17 erg/s/cm^2/Angstrom)")
    return _write_fits(Path(path), [(calib, recs + _provenance(version, "demo_survey"))], checksum)


