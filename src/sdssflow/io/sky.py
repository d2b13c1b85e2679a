"""Readers and writers of the sky-flux products (``results/{version}/sky/...``).

Every product is a FITS file: an empty primary HDU with provenance (``SDSSFLOW``, ``VERSION``,
``STEP``, ``INFILEnn``), image HDUs with EXTNAME and BUNIT, and a binary-table HDU ``META`` with
one row per spectrum; checksums on every HDU; written atomically.

* ``skyflux-{plate}.fits``: WAVE (A vacuum, float64), FLUX, IVAR, DISP (float32), MASK (int32),
  each (nspec, npix); META (raw metadata, one row per sky spectrum); STATUS (BOSS route: one row
  per frame: MJD, EXPID, CAMERA, STATUS ok/failed/no_sky_fibres, MESSAGE, NSKY).
* ``rich-{plate}.fits``, ``lines-{plate}.fits``, mega files: one table HDU (``META``).
* ``mean-{plate}.fits``: WAVE (ngrid,), FLUX, IVAR, DISP (nmean, ngrid), NFIBER (nmean, ngrid)
  and META (one row per exposure and camera).
* ``contfit-{plate}.fits``: WAVE, FLUX, IVAR, CONTINUUM, MODEL (nmean, ngrid), META, and LINES
  (one row per fitted line per mean spectrum).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from sdssflow.io.products import (
    add_provenance,
    header_card,
    provenance_cards,
    write_fitsio,
    write_hdulist,
)
from sdssflow.io.readable import readable

__all__ = [
    "SkySpectra",
    "FLUX_UNIT",
    "write_product",
    "read_product",
    "write_table",
    "read_table",
    "write_skyflux",
    "read_skyflux",
]

FLUX_UNIT = "1e-17 erg/(s cm2 Angstrom)"
IVAR_UNIT = "1e+34 (s2 cm4 Angstrom2)/erg2"

_SKYFLUX_IMAGES = {
    "WAVE": (np.float64, "Angstrom"),
    "FLUX": (np.float32, FLUX_UNIT),
    "IVAR": (np.float32, IVAR_UNIT),
    "DISP": (np.float32, "Angstrom"),
    "MASK": (np.int32, ""),
}



@dataclass
class SkySpectra:
    """Sky spectra of one plate on their native grids (padded).

    Attributes
    ----------
    wave : numpy.ndarray, shape (nspec, npix), float64
        Vacuum wavelength, Angstrom (strictly increasing per row).
    flux : numpy.ndarray, shape (nspec, npix), float64
        Total light (object + sky), 1e-17 erg/s/cm2/A per fibre. (flux, ivar and disp are
        float32 as stored when read with ``read_skyflux(path, float64=False)``.)
    ivar : numpy.ndarray, shape (nspec, npix), float64
        Inverse variance of ``flux``; 0 = no information (bad, outside the arm, padding).
    mask : numpy.ndarray, shape (nspec, npix), int32
        SPPIXMASK as read (bad bits already turned into ivar = 0).
    disp : numpy.ndarray, shape (nspec, npix), float64
        Gaussian line-spread sigma, Angstrom.
    meta : astropy.table.Table, nspec rows
        Raw metadata (one row per spectrum; ``SPECNO`` is the row index).
    """

    wave: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    disp: np.ndarray
    meta: Table

    def __post_init__(self) -> None:
        shape = self.wave.shape
        for name in ("flux", "ivar", "mask", "disp"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"SkySpectra: {name} shape {getattr(self, name).shape} != wave shape {shape}")
        if len(self.meta) != shape[0]:
            raise ValueError(f"SkySpectra: meta has {len(self.meta)} rows for {shape[0]} spectra")

    @property
    def nspec(self) -> int:
        """Number of spectra."""
        return int(self.wave.shape[0])


def _table_hdu(table: Table, extname: str) -> fits.BinTableHDU:
    table = Table(table, copy=False)
    hdu = fits.table_to_hdu(table)
    hdu.name = extname
    return hdu


def _plain_columns(table: Table) -> tuple[dict[str, np.ndarray], list[str]] | None:
    """(columns, FITS unit strings) of a table fitsio can write as astropy would.

    The columns are the table's own arrays (name -> plain ndarray, no copy): fitsio writes
    column by column, so a structured array (``Table.as_array``) would be one copy of the
    table more.

    None when astropy's writer is needed: no rows, table meta (header keywords), masked or
    mixin columns, multidimensional or object/complex columns.
    """
    if len(table) == 0 or table.meta or table.has_masked_columns or table.has_mixin_columns:
        return None
    units = []
    # each unit object formatted once (by identity, not equality: km == 1000 m, but their
    # strings differ); the columns of a product share a few unit objects (read_product and
    # line_sum parse each string once)
    fits_strings: dict[int, str] = {}
    for name in table.colnames:
        col = table[name]
        if col.ndim != 1 or col.dtype.kind not in "biufUS":
            return None
        unit = col.unit
        if unit is not None and id(unit) not in fits_strings:
            fits_strings[id(unit)] = unit.to_string(format="fits")
        units.append("" if unit is None else fits_strings[id(unit)])
    return {name: table[name].data for name in table.colnames}, units


def write_product(
    path: str | os.PathLike,
    images: Mapping[str, tuple[np.ndarray, str]],
    tables: Mapping[str, Table],
    *,
    version: str,
    inputs: Sequence[str | os.PathLike] = (),
    step: str | None = None,
    header_cards: Mapping[str, tuple[object, str]] | None = None,
) -> Path:
    """Write images and tables as one FITS product (atomic, checksums, provenance).

    Written with fitsio (:func:`sdssflow.io.products.write_fitsio`: the same HDUs, cards and
    checksums as astropy's writer, in a tenth of its CPU for tables of a few hundred columns);
    astropy's writer (:func:`sdssflow.io.products.write_hdulist`) is kept for tables fitsio
    would not write the same (:func:`_plain_columns`: empty, masked, mixin, with meta) and
    for empty images.

    Parameters
    ----------
    path : path-like
        Output file.
    images : mapping EXTNAME -> (array, BUNIT)
        Image HDUs, written in this order after the primary HDU.
    tables : mapping EXTNAME -> astropy.table.Table
        Binary-table HDUs, written after the images.
    version : str
        Reduction version (``VERSION``).
    inputs : sequence of path-like
        Input files recorded as ``INFILEnn``.
    step : str, optional
        Step name (``STEP``).
    header_cards : mapping, optional
        Extra primary-header cards, keyword -> (value, comment).

    Returns
    -------
    pathlib.Path
    """
    plain = {name: _plain_columns(table) for name, table in tables.items()}
    if all(p is not None for p in plain.values()) and all(np.size(a) for a, _ in images.values()):
        primary = [header_card(k, v, c) for k, v, c in provenance_cards(version, inputs, step)]
        primary += [header_card(k, v, c) for k, (v, c) in (header_cards or {}).items()]
        hdus = [("image", name, np.ascontiguousarray(array), [header_card("BUNIT", bunit, "unit of the pixel values")])
                for name, (array, bunit) in images.items()]  # fmt: skip
        hdus += [("table", name, arr, units) for name, (arr, units) in plain.items()]
        return write_fitsio(path, primary, hdus)
    primary = fits.PrimaryHDU()
    add_provenance(primary.header, version, inputs, step)
    for key, (value, comment) in (header_cards or {}).items():
        primary.header[key] = (value, comment)
    hdus = [primary]
    for name, (array, bunit) in images.items():
        hdu = fits.ImageHDU(np.ascontiguousarray(array), name=name)
        hdu.header["BUNIT"] = (bunit, "unit of the pixel values")
        hdus.append(hdu)
    for name, table in tables.items():
        hdus.append(_table_hdu(table, name))
    return write_hdulist(fits.HDUList(hdus), path)


def _native(data: np.ndarray, dtype=None) -> np.ndarray:
    """An image as read (big-endian, as FITS stores it) in native byte order, or as ``dtype``.

    When only the byte order differs, the bytes are swapped in place: the array read from the
    file is this process's own (``memmap=False``), and a converted copy would be a second array
    as large, whose fresh pages cost more than the swap (the same values either way).

    Parameters
    ----------
    data : numpy.ndarray
        The HDU's data.
    dtype : numpy.dtype, optional
        Wanted type (default: the stored one, native byte order).

    Returns
    -------
    numpy.ndarray
        Native byte order.
    """
    native = data.dtype.newbyteorder("=")
    want = native if dtype is None else np.dtype(dtype)
    if want != native or not data.flags.writeable:
        return data.astype(want)
    if data.dtype != native:
        data = data.byteswap(inplace=True).view(native)
    return data


@readable
def read_product(
    path: str | os.PathLike,
    extnames: Sequence[str] | None = None,
    image_dtypes: Mapping[str, np.dtype] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Table], fits.Header]:
    """Read the image and table HDUs of a product (all of them, or only ``extnames``).

    Parameters
    ----------
    path : path-like
        The product.
    extnames : sequence of str, optional
        EXTNAMEs to read; None = every HDU. The others are neither read nor decoded (a step
        that needs one table of a 50 MB product reads only that table).
    image_dtypes : mapping EXTNAME -> dtype, optional
        Convert these images to this dtype while reading (one copy instead of a byte swap
        followed by a conversion); the others keep their stored type.

    Returns
    -------
    images : dict EXTNAME -> numpy.ndarray (native byte order)
    tables : dict EXTNAME -> astropy.table.Table
        String columns as unicode (``str``).
    header : astropy.io.fits.Header
        Primary header.

    Raises
    ------
    ValueError
        If the file is not a readable FITS product.
    """
    path = Path(path)
    images: dict[str, np.ndarray] = {}
    tables: dict[str, Table] = {}
    wanted = None if extnames is None else set(extnames)
    dtypes = dict(image_dtypes or {})
    units: dict[str, u.UnitBase] = {}
    try:
        with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
            header = hdul[0].header.copy()
            for hdu in hdul[1:]:
                if wanted is not None and hdu.name not in wanted:
                    continue
                if isinstance(hdu, fits.BinTableHDU):
                    tables[hdu.name] = _fits_table(hdu, units)
                elif hdu.data is not None:
                    images[hdu.name] = _native(hdu.data, dtypes.get(hdu.name))
    except OSError as err:
        raise ValueError(f"{path}: not a readable FITS product ({err})") from err
    return images, tables, header


def _fits_table(hdu: fits.BinTableHDU, units: dict) -> Table:
    """A binary-table HDU as a Table: its columns as astropy decodes them (scaled, logical,
    multidimensional), strings as unicode, TUNITn as units (each string parsed once, kept in
    ``units`` across the HDUs of a file so they survive read-modify-write).

    The Table is built once from the decoded arrays (``Table(hdu.data)`` converts the FITS
    record column by column, then every string column and unit again: twice the CPU of the
    table read itself for the few-hundred-row, 50-column META tables).
    """
    data = hdu.data
    columns, column_units = {}, {}
    for col in hdu.columns:
        values = data.field(col.name)
        columns[col.name] = values.astype(str) if values.dtype.kind == "S" else np.asarray(values)
        if col.unit:
            if col.unit not in units:
                units[col.unit] = u.Unit(col.unit, parse_strict="silent")
            column_units[col.name] = units[col.unit]
    return Table(columns, units=column_units, copy=False)


def write_table(
    table: Table,
    path: str | os.PathLike,
    *,
    version: str,
    inputs: Sequence[str | os.PathLike] = (),
    step: str | None = None,
    extname: str = "META",
) -> Path:
    """Write one table product (rich, lines, mega files)."""
    return write_product(path, {}, {extname: table}, version=version, inputs=inputs, step=step)


@readable
def read_table(path: str | os.PathLike, extname: str = "META") -> Table:
    """Read the table HDU ``extname`` of a product.

    Raises
    ------
    ValueError
        If the HDU is missing.
    """
    _, tables, _ = read_product(path, extnames=(extname,))
    if extname not in tables:
        raise ValueError(f"{path}: no {extname} table (found {sorted(tables)})")
    return tables[extname]


def write_skyflux(
    spectra, path: str | os.PathLike, *, version: str, inputs=(), step: str = "sky_flux", header_cards=None, extra_tables=None
) -> Path:
    """Write :class:`SkySpectra` as ``skyflux-{plate}.fits``.

    ``extra_tables`` (EXTNAME -> Table) are written after META, e.g. the per-frame STATUS table.
    """
    images = {
        name: (np.asarray(getattr(spectra, name.lower())).astype(dtype), unit)
        for name, (dtype, unit) in _SKYFLUX_IMAGES.items()
    }
    tables = {"META": spectra.meta, **(extra_tables or {})}
    return write_product(path, images, tables, version=version, inputs=inputs, step=step, header_cards=header_cards)


def read_skyflux(path: str | os.PathLike, float64: bool = True):
    """Read ``skyflux-{plate}.fits`` into :class:`SkySpectra`.

    Parameters
    ----------
    path : path-like
        The product.
    float64 : bool
        True (default): FLUX, IVAR and DISP as float64, the types :class:`SkySpectra`
        documents. False: as stored (float32, native byte order), for a step that converts
        only the pixels it uses (the float32 -> float64 conversion is exact, so its results
        are the same; the whole-array conversion costs more than the step's read floor).
        WAVE is float64 and MASK int32 either way.

    Raises
    ------
    ValueError
        If an HDU is missing.
    """
    dtypes = {name: (np.dtype(dtype) if not float64 else np.int32 if name == "MASK" else np.float64)
              for name, (dtype, _) in _SKYFLUX_IMAGES.items()}  # fmt: skip
    images, tables, _ = read_product(path, extnames=(*_SKYFLUX_IMAGES, "META"), image_dtypes=dtypes)
    missing = [n for n in _SKYFLUX_IMAGES if n not in images] + ([] if "META" in tables else ["META"])
    if missing:
        raise ValueError(f"{path}: not a skyflux product, missing HDU(s) {missing}")
    return SkySpectra(
        wave=images["WAVE"],
        flux=images["FLUX"],
        ivar=images["IVAR"],
        mask=images["MASK"],
        disp=images["DISP"],
        meta=tables["META"],
    )
