"""Reader and writer of SDSS-V (idlspec2d v6) BOSS spec files: specFull and specLite.

Name: ``spec-<FIELD6>-<MJD>-<CATALOGID>.fits`` (field zero-padded to 6 digits by
sdss-access's ``pad_fieldid``), under ``$BOSS_SPECTRO_REDUX/<run2d>/spectra/{full,lite}/
<FIELD6>/<MJD>/``. Layout (sdss/datamodel ``specFull`` and ``specLite``, DR19, run2d v6_1_3):

* HDU0 ``PRIMARY``: no data; the spField header (TELESCOP = 'SDSS 2.5-M', OBSERVAT = APO or
  LCO, VERS2D = v6..., FIELDID, MJD, CATALOGID, NEXP, EXPTIME, AIRMASS, ...).
* HDU1 ``COADD``: table of NPIX rows (4648 on the DR19 grid, COEFF0 3.5523, COEFF1 1e-4):
  ``FLUX``, ``LOGLAM``, ``IVAR``, ``AND_MASK``, ``OR_MASK``, ``WDISP``, ``SKY``, ``WRESL``,
  ``MODEL``; flux and sky in 1e-17 erg/s/cm2/A, barycentric vacuum wavelengths.
* HDU2 ``SPALL``: the object's one spAll row (SDSS_ID, CATALOGID, FIELD, MJD, FIBERID, OBS,
  PROGRAMNAME, FIRSTCARTON, CARTON_TO_TARGET_PK, RACAT, DECCAT, XCSAO_RV, SN_MEDIAN_ALL, ...).
* HDU3 ``ZALL`` and HDU4 ``ZLINE``: redshift fits and line fits (not read).
* specFull only, HDU5...: one table per exposure, ``MJD_EXP_<MJD>-<NN>``, on the coadd grid
  (both arms of the observatory's one spectrograph combined), columns ``FLUX``, ``LOGLAM``,
  ``IVAR``, ``AND_MASK``, ``OR_MASK``, ``WDISP``, ``SKY``, ``WRESL``; the header is the
  exposure's (EXPOSURE, CONFID, FIELDID, TAI-BEG, EXPTIME, AIRMASS, SEEING50, ...).

Unlike the v5 files, the v6 exposure tables carry no ``calib`` column: :class:`SpecExposure`
``calib`` is NaN, and the camera is the spectrograph's pair (``b1r1`` at APO, ``b2r2`` at LCO).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits

__all__ = [
    "SPEC_V6_NAME",
    "V6_EXPOSURE_EXTNAME",
    "COADD_COLUMNS",
    "EXPOSURE_COLUMNS",
    "OBSERVATORY_SPECTROGRAPH",
    "is_v6_spec",
    "spall_fiberid",
    "read_spec_v6",
    "write_spec_v6",
]

#: spec-<FIELD6>-<MJD>-<CATALOGID>.fits (SDSS-V, FPS era: v6_1, DR19) and the DR18 (v6_0_x)
#: spec-<FIELDID>-<MJD>-<CATALOGID11>.fits: sdss-access dr18 specFull pads neither the field
#: nor, beyond 11 digits, the catalogid; a plate-era fibre never has more than 4 digits.
SPEC_V6_NAME = re.compile(r"^spec-(\d{6}|\d{4,5}(?=-\d{5}-\d{5,}\.))-(\d{5})-(\d+)\.fits(\.gz)?$")
#: EXTNAME of a v6 per-exposure HDU.
V6_EXPOSURE_EXTNAME = re.compile(r"^MJD_EXP_(\d{5})-(\d{2,})$")
#: COADD columns of a v6 spec file (datamodel order; FLUX, LOGLAM, IVAR first as specutils needs).
COADD_COLUMNS = ("FLUX", "LOGLAM", "IVAR", "AND_MASK", "OR_MASK", "WDISP", "SKY", "WRESL", "MODEL")
#: Columns of a v6 per-exposure table.
EXPOSURE_COLUMNS = ("FLUX", "LOGLAM", "IVAR", "AND_MASK", "OR_MASK", "WDISP", "SKY", "WRESL")
#: The one BOSS spectrograph of each observatory (idlspec2d v6: b1/r1 at APO, b2/r2 at LCO).
OBSERVATORY_SPECTROGRAPH = {"APO": 1, "LCO": 2}

_INT_COLUMNS = ("AND_MASK", "OR_MASK")


def is_v6_spec(hdul: fits.HDUList) -> bool:
    """Whether an open spec file has the v6 layout (VERS2D v6 or MJD_EXP exposure HDUs)."""
    vers = str(hdul[0].header.get("VERS2D", "")).strip().lower()
    return vers.startswith("v6") or any(V6_EXPOSURE_EXTNAME.match(h.name or "") for h in hdul[1:])


def _native(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype.kind == "f":
        return array.astype(np.float64)
    if array.dtype.kind in "iu":
        return array.astype(np.int64 if array.dtype.itemsize > 4 else np.int32)
    return array


def _camera(header: Mapping) -> str:
    """The spectrograph pair of the observatory (``b1r1`` APO, ``b2r2`` LCO)."""
    sp = OBSERVATORY_SPECTROGRAPH.get(str(header.get("OBSERVAT", "APO")).strip().upper(), 1)
    return f"b{sp}r{sp}"


def spall_fiberid(specobj: Mapping) -> int:
    """The fibre of a v6 SPALL row: FIBERID (DR18), else the first of FIBERID_LIST (DR19).

    The DR19 specFull/specLite SPALL row has no FIBERID column, only FIBERID_LIST, the
    fibre of each exposure of the coadd (blank-separated, as MJD_LIST); the exposures of one
    configuration share it, and the first exposure's fibre is taken when they do not.

    Examples
    --------
    >>> spall_fiberid({"FIBERID_LIST": "35 35 35"}), spall_fiberid({"FIBERID": 7}), spall_fiberid({})
    (35, 7, -1)
    """
    if "FIBERID" in specobj:
        return int(specobj["FIBERID"])
    value = specobj.get("FIBERID_LIST", "")
    text = value.decode() if isinstance(value, bytes) else str(value)
    first = text.replace(",", " ").split()[:1]
    try:
        return int(first[0]) if first else -1
    except ValueError:
        return -1


def read_spec_v6(path: str | Path, exposures: bool = True):
    """Read an SDSS-V (v6) specFull or specLite file.

    Parameters
    ----------
    path : str or pathlib.Path
        Any spec file name; the plate-era and SDSS-V names are both accepted, the layout
        decides.
    exposures : bool
        Read the per-exposure tables (specFull).

    Returns
    -------
    sdssflow.io.specfile.SpecFile
        ``plate`` is the FPS field, ``fiberid`` the SPALL fibre (:func:`spall_fiberid`; -1 if absent),
        ``catalogid`` the CATALOGID; ``exposures`` empty for specLite.

    Raises
    ------
    ValueError
        The file has no COADD table, or a table lacks FLUX/LOGLAM/IVAR (the message names
        the file and HDU).
    """
    from sdssflow.io.specfile import SpecExposure, SpecFile

    path = Path(path)
    with fits.open(path, memmap=False) as hdul:
        names = [h.name for h in hdul]
        if "COADD" not in names:
            raise ValueError(f"{path}: no COADD table (not an SDSS-V spec file)")
        coadd_hdu = hdul["COADD"]
        cols = {c.upper(): c for c in coadd_hdu.columns.names}
        missing = [c for c in ("FLUX", "LOGLAM", "IVAR") if c not in cols]
        if missing:
            raise ValueError(f"{path}[COADD]: missing column(s) {missing}")
        coadd = {c.lower(): _native(coadd_hdu.data[name]) for c, name in cols.items()}
        specobj: dict = {}
        if "SPALL" in names and hdul["SPALL"].data is not None and len(hdul["SPALL"].data):
            row = hdul["SPALL"].data[0]
            specobj = {c.upper(): row[c] for c in hdul["SPALL"].columns.names}
        header = hdul[0].header.copy()
        exps = []
        if exposures:
            for hdu in hdul[1:]:
                match = V6_EXPOSURE_EXTNAME.match(hdu.name or "")
                if not match:
                    continue
                ecols = {c.upper(): c for c in hdu.columns.names}
                missing = [c for c in ("FLUX", "LOGLAM", "IVAR", "SKY") if c not in ecols]
                if missing:
                    raise ValueError(f"{path}[{hdu.name}]: missing column(s) {missing}")
                data = {c.lower(): _native(hdu.data[n]) for c, n in ecols.items()}
                data["mask"] = data.get("or_mask", np.zeros(data["flux"].size, np.int32))
                data.setdefault("wdisp", np.full(data["flux"].size, np.nan))
                data["calib"] = np.full(data["flux"].size, np.nan)  # not in v6 files
                exps.append(
                    SpecExposure(
                        camera=_camera(hdu.header),
                        expid=int(hdu.header.get("EXPOSURE", -1)),
                        flat=-1,
                        arc=-1,
                        header=hdu.header.copy(),
                        columns=data,
                    )
                )
    name = SPEC_V6_NAME.match(path.name)
    field = int(name.group(1)) if name else int(header.get("FIELDID", specobj.get("FIELD", -1)))
    mjd = int(name.group(2)) if name else int(header.get("MJD", specobj.get("MJD", -1)))
    catalogid = int(name.group(3)) if name else int(specobj.get("CATALOGID", -1))
    return SpecFile(
        path=path,
        plate=field,
        mjd=mjd,
        fiberid=spall_fiberid(specobj),
        header=header,
        coadd=coadd,
        specobj=specobj,
        exposures=exps,
        catalogid=catalogid,
    )


def _table(columns: Mapping[str, np.ndarray], order: Sequence[str], name: str, header=None) -> fits.BinTableHDU:
    cols = []
    for key in order:
        if key not in columns:
            continue
        arr = np.asarray(columns[key])
        fmt = "J" if key in _INT_COLUMNS else "E"
        cols.append(fits.Column(name=key, format=fmt, array=arr.astype(np.int32 if fmt == "J" else np.float32)))
    hdu = fits.BinTableHDU.from_columns(cols, name=name, header=fits.Header(header or {}))
    hdu.header["EXTNAME"] = name
    return hdu


def write_spec_v6(
    path: str | Path,
    primary: Mapping,
    coadd: Mapping[str, np.ndarray],
    spall: Mapping[str, object],
    exposures: Sequence[tuple[str, Mapping, Mapping[str, np.ndarray]]] = (),
) -> Path:
    """Write a v6 specFull (with ``exposures``) or specLite (without) file.

    Parameters
    ----------
    path : str or pathlib.Path
        Output path (parents are created).
    primary : mapping
        HDU0 keywords (TELESCOP, OBSERVAT, VERS2D, FIELDID, MJD, CATALOGID, ...).
    coadd : mapping of str -> ndarray, each shape (npix,)
        :data:`COADD_COLUMNS` (missing ones are skipped).
    spall : mapping
        The SPALL row (column -> scalar; str, int or float).
    exposures : sequence of (extname, header, columns)
        Per-exposure tables (``MJD_EXP_<MJD>-<NN>``, :data:`EXPOSURE_COLUMNS`).

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    hdus = [fits.PrimaryHDU(header=fits.Header(dict(primary)))]
    hdus.append(_table(coadd, COADD_COLUMNS, "COADD"))
    cols = []
    for key, value in spall.items():
        if isinstance(value, str):
            cols.append(fits.Column(name=key, format=f"{max(len(value), 1)}A", array=np.array([value])))
        elif isinstance(value, (bool, np.bool_)):
            cols.append(fits.Column(name=key, format="L", array=np.array([value])))
        elif isinstance(value, (int, np.integer)):
            cols.append(fits.Column(name=key, format="K", array=np.array([value], np.int64)))
        else:
            cols.append(fits.Column(name=key, format="D", array=np.array([value], np.float64)))
    hdus.append(fits.BinTableHDU.from_columns(cols, name="SPALL"))
    hdus.append(fits.BinTableHDU.from_columns([fits.Column(name="Z", format="E", array=np.zeros(1, np.float32))], name="ZALL"))
    hdus.append(fits.BinTableHDU.from_columns([fits.Column(name="LINEZ", format="E", array=np.zeros(0, np.float32))], name="ZLINE"))
    for extname, header, columns in exposures:
        hdus.append(_table(columns, EXPOSURE_COLUMNS, extname, header))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path
