"""BOSS visits: merge b and r and the exposures of one MJD onto the BOSS grid.

One visit = all exposures of one plate-MJD of one fibre (as a BOSS specFull coadd). Each
camera frame of each exposure is resampled onto the standard BOSS grid (log10 λ = 3.5523
+ 1e-4 i, 4648 px, vacuum, in the frame of the input: barycentric for idlspec2d) with
the damped-sinc resampler, and the pieces are averaged with inverse-variance weights:

    flux = Σ f_k ivar_k / Σ ivar_k,   ivar = Σ ivar_k,   flags = OR_k flags_k (covered pixels)

so b and r are merged by their ivar where they overlap (5900-6300 Å). ``wresl`` (Å, FWHM)
is the ivar-weighted mean of the pieces' 2.3548 · wdisp · 1e-4 · ln(10) · λ.
"""

from __future__ import annotations

import numpy as np

from sdssflow.io.fibre_roles import normalise_objtype
from sdssflow.io.mwm_grids import BOSS
from sdssflow.mwm.resample import resample_chip

__all__ = ["combine_pieces", "median_snr", "data_quality", "visit_rows", "BOSS_PIECE_NRES"]

#: Pixels per resolution element used to resample BOSS frames (astra's BOSS value).
BOSS_PIECE_NRES = 5.0


def combine_pieces(pieces, wave_out: np.ndarray | None = None):
    """Resample and ivar-combine spectrum pieces of one fibre onto the BOSS grid.

    Parameters
    ----------
    pieces : sequence of (loglam, flux, ivar, mask, wdisp)
        Each array shape (npix_k,): log10 vacuum wavelength (Å), flux (1e-17 erg/s/cm²/Å),
        inverse variance, SPPIXMASK bits, dispersion σ in units of 1e-4 dex (may be None).
    wave_out : ndarray, shape (nout,), optional
        Output grid (default the BOSS grid), Å.

    Returns
    -------
    flux, ivar : ndarray, shape (nout,)
    mask : ndarray of int64, shape (nout,)
        OR of the flags of the pieces covering each pixel; NODATA (bit 24) where no piece
        has ivar > 0.
    wresl : ndarray, shape (nout,)
        Resolution FWHM, Å (NaN where no piece has data).
    """
    wave_out = BOSS.wavelength if wave_out is None else np.asarray(wave_out, float)
    n = wave_out.size
    num = np.zeros(n)
    den = np.zeros(n)
    wnum = np.zeros(n)
    mask = np.zeros(n, np.int64)
    for loglam, flux, ivar, pmask, wdisp in pieces:
        wave = 10.0 ** np.asarray(loglam, float)
        f, iv, m, cov = resample_chip(wave, flux, ivar, pmask, wave_out, BOSS_PIECE_NRES)
        num += f * iv
        den += iv
        mask |= np.where(cov, m, 0)
        if wdisp is not None:
            fwhm = 2.3548 * np.asarray(wdisp, float) * 1e-4 * np.log(10.0) * wave
            wnum += np.interp(wave_out, wave, fwhm) * iv
    with np.errstate(invalid="ignore", divide="ignore"):
        flux = np.where(den > 0, num / den, 0.0)
        wresl = np.where(den > 0, wnum / den, np.nan)
    mask[den <= 0] |= 1 << 24  # NODATA
    return flux, den, mask, wresl


def median_snr(flux, ivar) -> float:
    """Median of flux·√ivar over pixels with ivar > 0 (spAll SN_MEDIAN_ALL); NaN if none.

    Examples
    --------
    >>> median_snr(np.array([1.0, 2.0, 3.0]), np.array([100.0, 100.0, 0.0]))
    15.0
    """
    flux = np.asarray(flux, float)
    ivar = np.asarray(ivar, float)
    ok = ivar > 0
    return float(np.median(flux[ok] * np.sqrt(ivar[ok]))) if ok.any() else np.nan


def visit_rows(plugmap) -> np.ndarray:
    """Frame rows of a plug map that are MWM visits: SDSS_ID > 0 and OBJTYPE not SKY.

    Parameters
    ----------
    plugmap : astropy.table.Table
        A frame's plug map (HDU5); without an SDSS_ID column no row is a visit.

    Returns
    -------
    ndarray of int, shape (nvisit,)
        Row numbers, increasing.

    Examples
    --------
    >>> from astropy.table import Table
    >>> visit_rows(Table({"SDSS_ID": [5, -1, 7, 8], "OBJTYPE": ["QSO", "STAR", "SKY ", "sky_boss"]}))
    array([0])
    """
    if "SDSS_ID" not in plugmap.colnames:
        return np.zeros(0, np.int64)
    # any sky (plate-era SKY, v6 category sky_boss/sky_apogee in any case) is not a target
    sky = np.char.startswith(normalise_objtype(plugmap["OBJTYPE"]), "SKY")
    return np.flatnonzero((np.asarray(plugmap["SDSS_ID"]) > 0) & ~sky)


def data_quality(flux, ivar) -> str:
    """Why a visit's data are suspect ('' when they are not): non-finite or no usable pixel.

    Parameters
    ----------
    flux, ivar : numpy.ndarray, shape (npix,)
        The visit on the BOSS grid.

    Examples
    --------
    >>> data_quality(np.array([1.0, np.nan]), np.array([1.0, 1.0]))
    'non-finite flux/ivar in 1 pixels'
    >>> data_quality(np.ones(2), np.zeros(2))
    'no usable pixel (all masked or ivar = 0)'
    """
    flux, ivar = np.asarray(flux, float), np.asarray(ivar, float)
    bad = ~(np.isfinite(flux) & np.isfinite(ivar))
    if bad.any():
        return f"non-finite flux/ivar in {int(bad.sum())} pixels"
    if not (ivar > 0).any():
        return "no usable pixel (all masked or ivar = 0)"
    return ""
