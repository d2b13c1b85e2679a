"""Reader of SDSS spec "full" files (``spec-PPPP-MMMMM-FFFF.fits``).

SDSS-V (idlspec2d v6) specFull/specLite files (``spec-<FIELD6>-<MJD>-<CATALOGID>.fits``, per-
exposure ``MJD_EXP_*`` tables) are recognised by their layout and read by
:func:`sdssflow.io.spec_v6.read_spec_v6` into the same :class:`SpecFile`.

Layout (SDSS datamodel, checked on the DR7-DR16 examples in ../shared/data/real/sdss_spec):

* HDU0: header of the coadd (PLATEID, MJD, RA, DEC, weather, ...), no data.
* ``COADD``: table with ``flux``, ``loglam`` (log10 vacuum A), ``ivar``, ``and_mask``, ``or_mask``,
  ``wdisp`` (1e-4 dex), ``sky``, ``model``; flux and sky in 1e-17 erg/s/cm2/A.
* ``SPECOBJ`` (SDSS-I/II) or ``SPALL`` (BOSS): one-row table of the object (PLATE, MJD, FIBERID,
  PLUG_RA, PLUG_DEC, XFOCAL, YFOCAL, OBJTYPE in BOSS files...).
* ``SPZLINE``: emission-line fits (not read).
* "full" files only: one table per exposure and camera, EXTNAME ``B1-eeeeeeee-ffffffff-aaaaaaaa``
  (camera, science, flat, arc exposure numbers), with ``flux``, ``loglam``, ``ivar``, ``mask``
  (SPPIXMASK), ``wdisp``, ``sky`` (the subtracted sky model at this fibre, calibrated),
  ``calib`` (flux per electron) and in BOSS files ``x``; its header is the exposure's frame
  header (TAI-BEG, TAI-END, EXPTIME, AIRMASS, SEEING50, CAMERAS, EXPOSURE, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from sdssflow.io.readable import readable

__all__ = [
    "SpecExposure",
    "SpecFile",
    "SPEC_NAME",
    "EXPOSURE_EXTNAME",
    "parse_spec_name",
    "find_spec_files",
    "read_specfile",
]

#: spec-PLATE-MJD-FIBER file name (plate 4+ digits, MJD 5 digits, fibre 4 digits), or the
#: SDSS-V spec-FIELD6-MJD-CATALOGID.
SPEC_NAME = re.compile(r"^spec-(\d{4,})-(\d{5})-(\d{4,})\.fits(\.gz)?$")
#: EXTNAME of a per-exposure HDU.
EXPOSURE_EXTNAME = re.compile(r"^([BR][12])-(\d{8})-(\d{8})-(\d{8})$")

_EXPOSURE_COLUMNS = ("flux", "loglam", "ivar", "mask", "wdisp", "sky", "calib")


@dataclass
class SpecExposure:
    """One exposure and camera of a spec full file.

    Attributes
    ----------
    camera : str
        ``b1``, ``b2``, ``r1`` or ``r2``.
    expid, flat, arc : int
        Science, flat and arc exposure numbers (from EXTNAME).
    header : astropy.io.fits.Header
        The frame header of this exposure.
    columns : dict of str -> numpy.ndarray, each shape (npix,)
        ``flux``, ``loglam``, ``ivar``, ``mask`` (int32), ``wdisp``, ``sky``, ``calib`` as native
        float64/int32 arrays (big-endian FITS converted).
    """

    camera: str
    expid: int
    flat: int
    arc: int
    header: fits.Header
    columns: dict[str, np.ndarray]

    @property
    def npix(self) -> int:
        """Number of pixels of this exposure's table."""
        return int(self.columns["loglam"].size)


@dataclass
class SpecFile:
    """A spec file: coadd, object row and (for full files) per-exposure tables.

    Attributes
    ----------
    path : pathlib.Path
    plate, mjd, fiberid : int
        From the file name.
    header : astropy.io.fits.Header
        HDU0 header.
    coadd : dict of str -> numpy.ndarray, each shape (npix,)
        COADD columns (native byte order).
    specobj : dict
        The one row of SPECOBJ / SPALL (column name -> scalar or array); empty if absent.
    exposures : list of SpecExposure
        Empty for "lite" files.
    catalogid : int
        SDSS-V CATALOGID of the file name (v6 files); -1 for plate-era files.
    """

    path: Path
    plate: int
    mjd: int
    fiberid: int
    header: fits.Header
    coadd: dict[str, np.ndarray]
    specobj: dict = field(default_factory=dict)
    exposures: list[SpecExposure] = field(default_factory=list)
    catalogid: int = -1

    @property
    def is_full(self) -> bool:
        """True when the file carries per-exposure tables ("full"); False for "lite" files
        (COADD, SPECOBJ/SPALL and SPZLINE only), which still hold the visit's coadd."""
        return bool(self.exposures)

    @property
    def spec_class(self) -> str:
        """The object's spectroscopic class: CLASS (STAR, GALAXY, QSO), else OBJTYPE.

        Empty, 'NA' and missing values fall through to the next; '' when neither is known.
        """
        for key in ("CLASS", "OBJTYPE"):
            value = self.specobj.get(key, "")
            value = value.decode() if isinstance(value, bytes) else str(value)
            if value.strip() and value.strip().upper() != "NA":
                return value.strip()
        return ""


def parse_spec_name(path: str | Path) -> tuple[int, int, int]:
    """(plate, mjd, fiberid) of a ``spec-PPPP-MMMMM-FFFF.fits`` name.

    For an SDSS-V ``spec-<FIELD6>-<MJD>-<CATALOGID>.fits`` name: (field, mjd, catalogid).

    Raises
    ------
    ValueError
        If the name does not follow the convention.

    Examples
    --------
    >>> parse_spec_name("a/spec-6717-56397-0534.fits")
    (6717, 56397, 534)
    """
    match = SPEC_NAME.match(Path(path).name)
    if not match:
        raise ValueError(f"{path}: not a spec-PLATE-MJD-FIBER.fits file name")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def find_spec_files(directory: str | Path, plate: int | None = None) -> list[Path]:
    """Spec files in a directory (not recursive), sorted, optionally of one plate.

    Raises
    ------
    FileNotFoundError
        If the directory does not exist.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: spec_files directory not found")
    out = []
    for path in sorted(directory.iterdir()):
        if SPEC_NAME.match(path.name) and (plate is None or parse_spec_name(path)[0] == int(plate)):
            out.append(path)
    return out


def _native(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype.kind == "f":
        return array.astype(np.float64)
    if array.dtype.kind in "iu":
        return array.astype(np.int64 if array.dtype.itemsize > 4 else np.int32)
    return array


@readable
def read_specfile(path: str | Path, exposures: bool = True) -> SpecFile:
    """Read a spec file.

    Parameters
    ----------
    path : str or pathlib.Path
        ``spec-PPPP-MMMMM-FFFF.fits``.
    exposures : bool
        Read the per-exposure tables (full files).

    Returns
    -------
    SpecFile

    Raises
    ------
    ValueError
        If the name is not a spec file name, the COADD table is missing, or a per-exposure
        table lacks one of ``flux, loglam, ivar, mask, wdisp, sky, calib``.
    """
    path = Path(path)
    plate, mjd, fiberid = parse_spec_name(path)
    from sdssflow.io.spec_v6 import is_v6_spec, read_spec_v6

    with fits.open(path, memmap=False) as hdul:
        v6 = is_v6_spec(hdul)
    if v6:
        return read_spec_v6(path, exposures=exposures)
    with fits.open(path, memmap=False) as hdul:
        names = [hdu.name for hdu in hdul]
        if "COADD" not in names:
            if len(hdul) > 1 and isinstance(hdul[1], fits.BinTableHDU):
                coadd_hdu = hdul[1]
            else:
                raise ValueError(f"{path}: no COADD table")
        else:
            coadd_hdu = hdul["COADD"]
        coadd = {name.lower(): _native(coadd_hdu.data[name]) for name in coadd_hdu.columns.names}
        specobj: dict = {}
        for name in ("SPECOBJ", "SPALL"):
            if name in names and hdul[name].data is not None and len(hdul[name].data):
                row = hdul[name].data[0]
                specobj = {c: row[c] for c in hdul[name].columns.names}
                break
        exps: list[SpecExposure] = []
        if exposures:
            for hdu in hdul[1:]:
                match = EXPOSURE_EXTNAME.match(hdu.name)
                if not match:
                    continue
                cols = {c.lower(): c for c in hdu.columns.names}
                missing = [c for c in _EXPOSURE_COLUMNS if c not in cols]
                if missing:
                    raise ValueError(f"{path}[{hdu.name}]: missing column(s) {missing}")
                exps.append(
                    SpecExposure(
                        camera=match.group(1).lower(),
                        expid=int(match.group(2)),
                        flat=int(match.group(3)),
                        arc=int(match.group(4)),
                        header=hdu.header.copy(),
                        columns={c: _native(hdu.data[cols[c]]) for c in _EXPOSURE_COLUMNS},
                    )
                )
        header = hdul[0].header.copy()
    return SpecFile(
        path=path,
        plate=plate,
        mjd=mjd,
        fiberid=fiberid,
        header=header,
        coadd=coadd,
        specobj=specobj,
        exposures=exps,
    )
