"""Sky-fibre spectra: selection from frames, the raw metadata table, padding to one array.

:class:`SkySpectra` is the in-memory form of ``skyflux-{plate}.fits``: one row per sky spectrum
(one fibre, exposure and camera) on that camera's native wavelength grid, padded to a common
pixel count (padded pixels have ivar = 0 and a wavelength extrapolated with the last step, so
every row stays strictly increasing).

Fixes of the original (SkyModelling ``spframe_flux.py``): sky fibres are taken by their row in
the frame's own plug map (HDU5 rows are the frame rows), instead of re-fetching
``FIBERID - 1 (- 500)`` from a plug map assumed sorted; header strings are kept whole (the
original's S2 fields truncated OBJTYPE, DATE-OBS and QUALITY); missing header keywords are
NaN / -1 / '' instead of a silent -1 in float columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from astropy.table import Table, vstack

from sdssflow.io.fibre_roles import is_sky
from sdssflow.io.sky import SkySpectra
from sdssflow.sky.calibration import calibrate, camera_window_mask
from sdssflow.sky.masks import DEFAULT_BAD_BITS, bad_pixels

__all__ = [
    "SkySpectra",
    "HEADER_COLUMNS",
    "header_meta",
    "sky_rows",
    "frame_sky_spectra",
    "pad_rows",
    "concatenate",
]

#: (FITS keyword, column, kind) of the raw metadata copied from each frame header.
HEADER_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("PLATEID", "PLATE", "i"),
    ("MJD", "MJD", "i"),
    ("EXPOSURE", "EXPID", "i"),
    ("TAI-BEG", "TAI_BEG", "f"),
    ("TAI-END", "TAI_END", "f"),
    ("EXPTIME", "EXPTIME", "f"),
    ("RA", "RA", "f"),
    ("DEC", "DEC", "f"),
    ("AIRMASS", "AIRMASS", "f"),
    ("ALT", "ALT", "f"),
    ("AZ", "AZ_TCC", "f"),  # TCC convention: South = 0, East = 90 (AZ_FIB is North through East)
    ("SEEING20", "SEEING20", "f"),
    ("SEEING50", "SEEING50", "f"),
    ("SEEING80", "SEEING80", "f"),
    ("RMSOFF20", "RMSOFF20", "f"),
    ("RMSOFF50", "RMSOFF50", "f"),
    ("RMSOFF80", "RMSOFF80", "f"),
    ("AIRTEMP", "AIRTEMP", "f"),
    ("DEWPOINT", "DEWPOINT", "f"),
    ("HUMIDITY", "HUMIDITY", "f"),
    ("PRESSURE", "PRESSURE", "f"),
    ("WINDD", "WINDD", "f"),
    ("WINDS", "WINDS", "f"),
    ("GUSTD", "GUSTD", "f"),
    ("GUSTS", "GUSTS", "f"),
    ("DUSTA", "DUSTA", "f"),
    ("DUSTB", "DUSTB", "f"),
    ("DUSTC", "DUSTC", "f"),
    ("DUSTD", "DUSTD", "f"),
    ("REDDEN01", "REDDEN01", "f"),
    ("REDDEN02", "REDDEN02", "f"),
    ("REDDEN03", "REDDEN03", "f"),
    ("REDDEN04", "REDDEN04", "f"),
    ("REDDEN05", "REDDEN05", "f"),
    ("QUALITY", "QUALITY", "s"),
    ("DATE-OBS", "DATE_OBS", "s"),
    ("OBSERVAT", "OBSERVATORY", "s"),  # APO / LCO ('' in old frames: APO); the rich metadata's site
)


def header_meta(header, n: int) -> dict[str, np.ndarray]:
    """Raw metadata columns (:data:`HEADER_COLUMNS`) from one frame header, repeated n times.

    Parameters
    ----------
    header : mapping
        A FITS header (astropy Header or dict).
    n : int
        Number of rows.

    Returns
    -------
    dict of str -> numpy.ndarray, each shape (n,)
        Missing keywords give NaN (floats), -1 (ints) or '' (strings). ``PLATE`` is the FPS
        field (FIELDID) when PLATEID is blank or absent, as in SDSS-V frames.
    """
    out: dict[str, np.ndarray] = {}
    for key, col, kind in HEADER_COLUMNS:
        value = header.get(key) if hasattr(header, "get") else None
        if key == "PLATEID" and not str(value if value is not None else "").strip():
            # v6 (DR18/DR19) spFrame/spCFrame HDU0 and specFull MJD_EXP headers carry
            # PLATEID = '' and the field in FIELDID: PLATE holds the field, as in bossVisits
            value = header.get("FIELDID") if hasattr(header, "get") else None
        if kind == "i":
            try:
                v = int(value)
            except (TypeError, ValueError):
                v = -1
            out[col] = np.full(n, v, dtype=np.int64)
        elif kind == "f":
            try:
                v = float(value)
            except (TypeError, ValueError):
                v = np.nan
            out[col] = np.full(n, v, dtype=np.float64)
        else:
            out[col] = np.full(n, "" if value is None else str(value).strip(), dtype="U32")
    return out


def sky_rows(objtype: Sequence[str]) -> np.ndarray:
    """Row indices whose plug-map OBJTYPE is a BOSS sky (:func:`sdssflow.io.fibre_roles.is_sky`:
    SKY, or the v6 category sky_boss; blank-padded strings allowed).

    Examples
    --------
    >>> sky_rows(["SKY   ", "QSO", b"SKY", "sky_boss", "sky_apogee"]).tolist()
    [0, 2, 3]
    """
    return np.flatnonzero(is_sky(objtype))


def frame_sky_spectra(
    *,
    flux_e: np.ndarray,
    sky_e: np.ndarray,
    ivar_e: np.ndarray,
    mask: np.ndarray,
    loglam: np.ndarray,
    sigma_A: np.ndarray,
    cal_factor: np.ndarray,
    plugmap: Table,
    header,
    camera: str,
    bad_bits: Sequence[str] = DEFAULT_BAD_BITS,
    fiber_loss_factor: float = 1.0,
) -> SkySpectra:
    """Calibrated total light of every sky fibre of one frame.

    ``flux = (flux_e + sky_e) * cal_factor * fiber_loss_factor``; ``ivar = ivar_e / c**2``;
    pixels with a bad SPPIXMASK bit, outside the arm's window (:data:`CAMERA_WINDOWS`) or with an
    unusable calibration get ivar = 0.

    Parameters
    ----------
    flux_e, sky_e, ivar_e : numpy.ndarray, shape (nfiber, npix)
        spFrame HDU0 (sky-subtracted), HDU6 (sky model), HDU1: flat-fielded electrons per native
        pixel and the inverse variance of HDU0.
    mask : numpy.ndarray of int, shape (nfiber, npix)
        SPPIXMASK.
    loglam : numpy.ndarray, shape (nfiber, npix)
        log10 vacuum wavelength (A).
    sigma_A : numpy.ndarray, shape (nfiber, npix)
        Line-spread Gaussian sigma, Angstrom.
    cal_factor : numpy.ndarray, shape (nfiber, npix) or (npix,)
        1e-17 erg/s/cm2/A per (electron per native pixel); 0 = unusable.
    plugmap : astropy.table.Table, nfiber rows
        The frame's plug map (FIBERID, OBJTYPE, RA, DEC, XFOCAL, YFOCAL), row i = frame row i.
    header : mapping
        Frame header (raw metadata).
    camera : str
        b1, b2, r1 or r2.
    bad_bits : sequence of str
        SPPIXMASK names that make a pixel bad.
    fiber_loss_factor : float
        Extra calibration factor (1 = none).

    Returns
    -------
    SkySpectra
        One row per sky fibre (may be empty).

    Raises
    ------
    ValueError
        If array shapes disagree or the plug map length differs from the frame rows.
    """
    nfib, npix = flux_e.shape
    if len(plugmap) != nfib:
        raise ValueError(f"plug map has {len(plugmap)} rows for a frame of {nfib} fibres")
    for name, arr in (("sky", sky_e), ("ivar", ivar_e), ("mask", mask), ("loglam", loglam), ("disp", sigma_A)):
        if np.shape(arr) != (nfib, npix):
            raise ValueError(f"{name} shape {np.shape(arr)} differs from flux shape {(nfib, npix)}")
    rows = sky_rows(plugmap["OBJTYPE"])
    cal = np.broadcast_to(np.asarray(cal_factor, dtype=np.float64), (nfib, npix))[rows]
    total = np.asarray(flux_e, dtype=np.float64)[rows] + np.asarray(sky_e, dtype=np.float64)[rows]
    flux, ivar = calibrate(total, np.asarray(ivar_e)[rows], cal, fiber_loss_factor)
    wave = 10.0 ** np.asarray(loglam, dtype=np.float64)[rows]
    m = np.asarray(mask)[rows].astype(np.int32)
    bad = bad_pixels(m, bad_bits) | ~camera_window_mask(wave, camera)
    # a NaN/inf flux or ivar pixel carries no information (and must not poison the sums)
    nonfinite = ~(np.isfinite(flux) & np.isfinite(ivar))
    flux[nonfinite] = 0.0
    ivar[bad | nonfinite] = 0.0
    n = rows.size
    meta = header_meta(header, n)
    cols = {name: plugmap[name] for name in plugmap.colnames}
    meta.update(
        CAMERA=np.full(n, camera.strip().lower(), dtype="U2"),
        FIBERID=np.asarray(cols["FIBERID"])[rows].astype(np.int64),
        OBJTYPE=np.array([str(v).strip() for v in np.asarray(cols["OBJTYPE"])[rows]], dtype="U16"),
        FIBER_RA=np.asarray(cols.get("RA", np.full(nfib, np.nan)))[rows].astype(np.float64),
        FIBER_DEC=np.asarray(cols.get("DEC", np.full(nfib, np.nan)))[rows].astype(np.float64),
        XFOCAL=np.asarray(cols.get("XFOCAL", np.full(nfib, np.nan)))[rows].astype(np.float64),
        YFOCAL=np.asarray(cols.get("YFOCAL", np.full(nfib, np.nan)))[rows].astype(np.float64),
        NPIX=np.full(n, npix, dtype=np.int32),
        NGOOD=(ivar > 0).sum(axis=1).astype(np.int32),
    )
    return SkySpectra(
        wave=wave,
        flux=flux,
        ivar=ivar,
        mask=m,
        disp=np.asarray(sigma_A, dtype=np.float64)[rows],
        meta=Table(meta),
    )


def empty_sky_spectra() -> SkySpectra:
    """Zero sky spectra with every META column of :func:`frame_sky_spectra` (an empty product).

    Returns
    -------
    SkySpectra
        ``nspec = 0`` and one pixel (arrays of shape (0, 1)).
    """
    z = np.zeros((0, 1))
    plug = Table({"FIBERID": np.zeros(0, np.int64), "OBJTYPE": np.zeros(0, "U16")})
    return frame_sky_spectra(
        flux_e=z, sky_e=z, ivar_e=z, mask=z.astype(np.int32), loglam=z + 3.6, sigma_A=z + 1.0,
        cal_factor=z + 1.0, plugmap=plug, header={}, camera="b1",
    )  # fmt: skip


def pad_rows(array: np.ndarray, npix: int, kind: str) -> np.ndarray:
    """Pad a (nspec, n) array to (nspec, npix) along pixels.

    ``kind='wave'`` extrapolates with the last step (stays increasing), ``'zero'`` pads with 0,
    ``'edge'`` repeats the last value.

    Examples
    --------
    >>> pad_rows(np.array([[1.0, 2.0]]), 4, "wave").tolist()
    [[1.0, 2.0, 3.0, 4.0]]
    """
    nspec, n = array.shape
    if n == npix:
        return array
    if n > npix:
        raise ValueError(f"cannot pad {n} pixels to {npix}")
    extra = npix - n
    if kind == "wave":
        step = array[:, -1:] - array[:, -2:-1]
        tail = array[:, -1:] + step * np.arange(1, extra + 1)
    elif kind == "zero":
        tail = np.zeros((nspec, extra), dtype=array.dtype)
    elif kind == "edge":
        tail = np.repeat(array[:, -1:], extra, axis=1)
    else:
        raise ValueError(f"pad kind {kind!r}: expected wave, zero or edge")
    return np.concatenate([array, tail.astype(array.dtype)], axis=1)


def concatenate(parts: Sequence[SkySpectra]) -> SkySpectra:
    """Stack sky spectra of several frames, padding to the longest grid; sets SPECNO.

    Raises
    ------
    ValueError
        If ``parts`` is empty.
    """
    parts = [p for p in parts if p.nspec > 0] or list(parts[:1])
    if not parts:
        raise ValueError("no sky spectra to concatenate")
    npix = max(p.wave.shape[1] for p in parts)
    out = SkySpectra(
        wave=np.concatenate([pad_rows(p.wave, npix, "wave") for p in parts]),
        flux=np.concatenate([pad_rows(p.flux, npix, "zero") for p in parts]),
        ivar=np.concatenate([pad_rows(p.ivar, npix, "zero") for p in parts]),
        mask=np.concatenate([pad_rows(p.mask, npix, "zero") for p in parts]),
        disp=np.concatenate([pad_rows(p.disp, npix, "edge") for p in parts]),
        meta=vstack([p.meta for p in parts], metadata_conflicts="silent"),
    )
    out.meta["SPECNO"] = np.arange(out.nspec, dtype=np.int64)
    return out
