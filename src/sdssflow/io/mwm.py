"""mwmVisit / mwmStar files in astra's layout (astra_mwm.md section 5), writer and reader.

Layout: HDU 0 is a header-only summary of the source (``V_ASTRA``, ``SDSS_ID``, ...);
HDUs 1-4 are the binary tables ``BOSS/APO``, ``BOSS/LCO``, ``APOGEE/APO``, ``APOGEE/LCO``,
always present (an empty one has NAXIS2 = 0, text columns ``A1`` and pixel columns
``0E`` with ``TDIM = '(0)'``). Columns are lowercase, in the file order of the DR19/DR20
datamodel, with the grid keywords (CRVAL, CDELT, CTYPE, CUNIT, CRPIX, DC-FLAG, NPIXELS)
and FITS checksums on every HDU. Files load with specutils
``Spectrum.read(path, format="SDSS-V mwm")``.

Choices, stated:

- APOGEE HDUs use the DR20 names (``spectrum_pk``, and ``in_stack`` in mwmVisit: 58
  columns); BOSS HDUs keep ``spectrum_pk_id`` and ``drp_spectrum_pk_id`` as in both releases.
- ``pixel_flags`` is written as 64-bit integers (TFORM ``<P>K``), not float32 ``E``: astra's
  float32 loses BOSS bits 24-28 (quirk 4). Readers cast float flags back to int anyway.
- Provenance cards (SDSSFLOW, VERSION, STEP, INFILEnn) and ``NMFBASIS`` follow the
  astra cards in HDU 0.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping, Sequence

import numpy as np
from astropy.io import fits

from sdssflow.io.products import provenance_cards, write_hdulist
from sdssflow.mwm.grids import GRIDS, HDU_NAMES

__all__ = ["COLUMNS", "write_mwm", "read_mwm", "empty_columns", "PRIMARY_GROUPS"]

_P = "pix"  # pixel array column (float32, or int64 for pixel_flags)
_V = "var"  # NaN-padded float list (BOSS delta_ra / delta_dec)


def _cols(spec: str) -> list[tuple[str, str]]:
    out = []
    for token in spec.split():
        name, kind = token.split(":")
        out.append((name, kind))
    return out


_BOSS_STAR = _cols(
    "spectrum_pk_id:K release:A filetype:A v_astra:A healpix:J sdss_id:K run2d:A telescope:A "
    "min_mjd:J max_mjd:J n_visits:J n_good_visits:J n_good_rvs:J "
    "v_rad:E e_v_rad:E std_v_rad:E median_e_v_rad:E xcsao_teff:E xcsao_e_teff:E xcsao_logg:E "
    "xcsao_e_logg:E xcsao_fe_h:E xcsao_e_fe_h:E xcsao_meanrxc:E snr:E "
    "gri_gaia_transform_flags:K zwarning_flags:K "
    "wavelength:pix flux:pix ivar:pix pixel_flags:pix continuum:pix nmf_rectified_model_flux:pix "
    "nmf_rchi2:E nmf_flags:K"
)
_APOGEE_STAR = _cols(
    "spectrum_pk:K release:A filetype:A v_astra:A healpix:J sdss_id:K apred:A obj:A telescope:A "
    "min_mjd:J max_mjd:J n_entries:J n_visits:J n_good_visits:J n_good_rvs:J "
    "snr:E mean_fiber:E std_fiber:E spectrum_flags:K v_rad:E e_v_rad:E std_v_rad:E median_e_v_rad:E "
    "doppler_teff:E doppler_e_teff:E doppler_logg:E doppler_e_logg:E doppler_fe_h:E doppler_e_fe_h:E "
    "doppler_rchi2:E doppler_flags:K "
    "xcorr_v_rad:E xcorr_v_rel:E xcorr_e_v_rel:E ccfwhm:E autofwhm:E n_components:J "
    "wavelength:pix flux:pix ivar:pix pixel_flags:pix continuum:pix nmf_rectified_model_flux:pix "
    "nmf_rchi2:E nmf_flags:K"
)
_BOSS_VISIT = _cols(
    "spectrum_pk_id:K drp_spectrum_pk_id:K release:A filetype:A v_astra:A healpix:J sdss_id:K run2d:A "
    "mjd:J fieldid:J catalogid:K "
    "n_exp:J exptime:E plateid:J cartid:J mapid:J slitid:J "
    "psfsky:J preject:E n_std:J n_gal:J lowrej:J highrej:J scatpoly:J proftype:J nfitpoly:J "
    "skychi2:E schi2min:E schi2max:E "
    "alt:E az:E telescope:A seeing:E airmass:E airtemp:E dewpoint:E humidity:E pressure:E dust_a:E "
    "dust_b:E gust_direction:E gust_speed:E wind_direction:E wind_speed:E moon_dist_mean:E "
    "moon_phase_mean:E "
    "n_guide:J tai_beg:K tai_end:K fiber_offset:L f_night_time:E delta_ra:var delta_dec:var "
    "snr:E in_stack:L gri_gaia_transform_flags:K zwarning_flags:K "
    "xcsao_v_rad:E xcsao_e_v_rad:E xcsao_teff:E xcsao_e_teff:E xcsao_logg:E xcsao_e_logg:E "
    "xcsao_fe_h:E xcsao_e_fe_h:E xcsao_rxc:E "
    "flux:pix ivar:pix wresl:pix pixel_flags:pix continuum:pix nmf_rchi2:E nmf_flags:K"
)
_APOGEE_VISIT = _cols(
    "spectrum_pk:K catalogid:K star_pk:K visit_pk:K rv_visit_pk:K "
    "release:A filetype:A v_astra:A healpix:J sdss_id:K apred:A plate:A telescope:A fiber:J mjd:J "
    "field:A prefix:A reduction:A obj:A "
    "date_obs:T jd:E exptime:E dithered:L f_night_time:E input_ra:E input_dec:E n_frames:J "
    "assigned:J on_target:J valid:J fps:L "
    "snr:E in_stack:L spectrum_flags:K v_rad:E v_rel:E e_v_rel:E bc:E "
    "doppler_teff:E doppler_e_teff:E doppler_logg:E doppler_e_logg:E doppler_fe_h:E doppler_e_fe_h:E "
    "doppler_rchi2:E doppler_flags:K "
    "xcorr_v_rad:E xcorr_v_rel:E xcorr_e_v_rel:E ccfwhm:E autofwhm:E n_components:J "
    "flux:pix ivar:pix pixel_flags:pix continuum:pix nmf_rchi2:E nmf_flags:K"
)

#: Column (name, kind) lists in file order, by (filetype, instrument).
COLUMNS = {
    ("star", "boss"): _BOSS_STAR,
    ("star", "apogee"): _APOGEE_STAR,
    ("visit", "boss"): _BOSS_VISIT,
    ("visit", "apogee"): _APOGEE_VISIT,
}

_HELP = {
    "sdss_id": "SDSS-5 unique identifier",
    "spectrum_pk_id": "Unique spectrum primary key",
    "spectrum_pk": "Unique spectrum primary key",
    "v_astra": "sdssflow version (astra V_ASTRA slot)",
    "telescope": "Short telescope name",
    "mjd": "Modified Julian date of observation",
    "snr": "Signal-to-noise ratio (mean flux*sqrt(ivar))",
    "in_stack": "Was this spectrum used in the stack?",
    "v_rad": "Radial velocity [km/s]",
    "e_v_rad": "Error on radial velocity [km/s]",
    "std_v_rad": "Standard deviation of visit V_RAD [km/s]",
    "median_e_v_rad": "Median error in radial velocity [km/s]",
    "n_visits": "Number of visits",
    "n_good_visits": "Number of good visits (in the stack)",
    "n_good_rvs": "Number of good radial velocities",
    "min_mjd": "Minimum MJD of visits",
    "max_mjd": "Maximum MJD of visits",
    "mean_fiber": "S/N-weighted mean visit fiber number",
    "std_fiber": "Standard deviation of visit fiber numbers",
    "wavelength": "Wavelength (vacuum) [Angstrom]",
    "flux": "Flux [10^-17 erg/s/cm^2/Angstrom]",
    "ivar": "Inverse variance of flux values",
    "wresl": "Spectral resolution [Angstrom]",
    "pixel_flags": "Pixel-level quality flags (int64)",
    "continuum": "Continuum (NMF model) [10^-17 erg/s/cm^2/A]",
    "nmf_rectified_model_flux": "Rectified NMF model flux 1 - W.H",
    "nmf_rchi2": "Reduced chi-square value of NMF continuum fit",
    "nmf_flags": "NMF continuum method flags",
    "xcsao_v_rad": "Radial velocity from XCSAO-like fit [km/s]",
    "xcsao_e_v_rad": "Error on XCSAO radial velocity [km/s]",
    "xcsao_rxc": "Tonry & Davis cross-correlation peak ratio",
}

#: Primary-header groups in astra's order: (title, [keywords]).
PRIMARY_GROUPS = (
    ("Identifiers", "SDSS_ID APOGEEID GAIA2_ID GAIA3_ID TIC_ID HEALPIX"),
    ("Targeting Provenance", "LEAD VER_ID CAT_ID CAT_ID21 CAT_ID25 CAT_ID31 N_ASSOC N_NEIGH"),
    ("Astrometry", "RA DEC L B PLX E_PLX PMRA E_PMRA PMDE E_PMDE V_RAD E_V_RAD"),
    ("Gaia Photometry", "G_MAG BP_MAG RP_MAG"),
    ("2MASS Photometry", "J_MAG E_J_MAG H_MAG E_H_MAG K_MAG E_K_MAG PH_QUAL BL_FLG CC_FLG"),
    (
        "unWISE Photometry",
        "W1_MAG E_W1_MAG W1_FLUX W1_DFLUX W1_FRAC W2_MAG E_W2_MAG W2_FLUX W2_DFLUX W2_FRAC "
        "W1UFLAGS W2UFLAGS W1AFLAGS W2AFLAGS",
    ),
    ("GLIMPSE Photometry", "MAG4_5 D4_5M RMS_F4_5 SQF_4_5 MF4_5 CSF"),
    ("Observations Summary", "N_BOSS B_MINMJD N_MAXMJD N_APOGEE A_MINMJD A_MAXMJD"),
)
_SEE = {
    "2MASS Photometry": "See https://www.ipac.caltech.edu/2mass/releases/allsky/doc/sec1_6b.html",
    "unWISE Photometry": "See https://catalog.unwise.me/catalogs.html",
    "GLIMPSE Photometry": "See https://irsa.ipac.caltech.edu/data/SPITZER/GLIMPSE/gator_docs/",
}
_HDU_COMMENTS = (
    "HDU 0: Summary information only",
    "HDU 1: BOSS spectra from Apache Point Observatory",
    "HDU 2: BOSS spectra from Las Campanas Observatory",
    "HDU 3: APOGEE spectra from Apache Point Observatory",
    "HDU 4: APOGEE spectra from Las Campanas Observatory",
)


def _put(h: fits.Header, key: str, value, comment: str = "") -> None:
    """Append a card at the bottom (astropy would otherwise slide it above blank cards)."""
    h.append((key, value, comment), useblanks=False, bottom=True)


def _title(h: fits.Header, title: str) -> None:
    """astra's blank / title / blank group header."""
    for text in ("", title, ""):
        h.append(("", text), useblanks=False, bottom=True)


def _fill(kind: str):
    return {"K": 0, "J": -1, "E": np.nan, "L": False, "A": "", "T": ""}.get(kind)


def empty_columns(filetype: str, instrument: str) -> list[str]:
    """Column names of an HDU, in file order.

    Examples
    --------
    >>> len(empty_columns("star", "boss")), len(empty_columns("visit", "boss"))
    (35, 73)
    >>> len(empty_columns("star", "apogee")), len(empty_columns("visit", "apogee"))
    (45, 58)
    """
    return [name for name, _ in COLUMNS[(filetype, instrument)]]


def _column(name: str, kind: str, values, nrows: int, npix: int) -> fits.Column:
    flag_int = {"K", "J"}
    if kind == _P:
        if nrows == 0:
            return fits.Column(
                name=name, format="0E", dim="(0)", array=np.zeros((0, 0), np.float32)
            )
        if values is None:
            arr = (
                np.zeros((nrows, npix), np.int64)
                if name == "pixel_flags"
                else np.full((nrows, npix), np.nan, np.float32)
            )
        else:
            arr = np.asarray(values).reshape(nrows, npix)
        if name == "pixel_flags":
            return fits.Column(
                name=name, format=f"{npix}K", dim=f"({npix})", array=arr.astype(np.int64)
            )
        return fits.Column(
            name=name, format=f"{npix}E", dim=f"({npix})", array=arr.astype(np.float32)
        )
    if kind == _V:
        lists = [
            np.atleast_1d(np.asarray(v, dtype=float))
            for v in (values if values is not None else [[]] * nrows)
        ]
        n = max([1] + [v.size for v in lists])
        arr = np.full((nrows, n), np.nan, np.float32)
        for i, v in enumerate(lists):
            arr[i, : v.size] = v
        return fits.Column(name=name, format=f"{n}E", array=arr)
    if kind in ("A", "T"):
        strs = [
            "" if v is None else str(v) for v in (values if values is not None else [""] * nrows)
        ]
        n = 26 if kind == "T" else max([1] + [len(s) for s in strs])
        return fits.Column(
            name=name,
            format=f"{n}A",
            array=np.array(strs, dtype=f"S{n}") if nrows else np.array([], f"S{n}"),
        )
    if values is None:
        values = [_fill(kind)] * nrows
    dtype = {"K": np.int64, "J": np.int32, "E": np.float32, "L": bool}[kind]
    arr = np.asarray(values)
    if kind in flag_int:
        arr = (
            np.where(np.isfinite(arr.astype(float)), arr, _fill(kind))
            if arr.dtype.kind == "f"
            else arr
        )
    return fits.Column(name=name, format=kind, array=arr.astype(dtype))


def _table_hdu(
    filetype, extname, instrument, observatory, data, v_astra, created, drop_unknown=False
):
    spec = COLUMNS[(filetype, instrument)]
    grid = GRIDS[instrument]
    data = dict(data or {})
    unknown = set(data) - {n for n, _ in spec}
    if drop_unknown:
        data = {k: v for k, v in data.items() if k not in unknown}
    elif unknown:
        raise ValueError(
            f"{extname}: unknown column(s) {sorted(unknown)} for mwm{filetype.title()}"
        )
    nrows = len(data["sdss_id"]) if "sdss_id" in data else 0
    if filetype == "star" and nrows and "wavelength" not in data:
        data["wavelength"] = np.tile(grid.wavelength, (nrows, 1))
    cols = [_column(n, k, data.get(n), nrows, grid.npix) for n, k in spec]
    hdu = fits.BinTableHDU.from_columns(cols, nrows=nrows)
    h = hdu.header
    _put(h, "EXTNAME", extname)
    _put(h, "OBSRVTRY", observatory.upper())
    _put(h, "INSTRMNT", instrument.upper())
    _put(h, "V_ASTRA", v_astra)
    _put(h, "CREATED", created)
    _title(h, "Wavelength Information (Vacuum)")
    _put(h, "CRVAL", grid.crval, "Log(10) wavelength of first pixel")
    _put(h, "CDELT", grid.cdelt, "Log(10) delta wavelength per pixel")
    _put(h, "CTYPE", "LOG-LINEAR", "Wavelength axis type")
    _put(h, "CUNIT", "Angstrom (Vacuum)", "Wavelength unit")
    _put(h, "CRPIX", 1, "Reference pixel")
    _put(h, "DC-FLAG", 1, "Linear wavelength axis")
    _put(h, "NPIXELS", grid.npix, "Number of pixels per spectrum")
    _put(h, "BUNIT", "1e-17 erg / (s cm2 Angstrom)", "flux unit")
    _title(h, "Data Integrity")
    _put(h, "CHECKSUM", "")
    _put(h, "DATASUM", "")
    for i, (name, _) in enumerate(spec, start=1):
        if name in _HELP:
            h.comments[f"TTYPE{i}"] = _HELP[name]
    return hdu


def _primary(source: Mapping, v_astra: str, created: str, extra_cards) -> fits.PrimaryHDU:
    hdu = fits.PrimaryHDU()
    h = hdu.header
    _title(h, "Metadata")
    _put(h, "V_ASTRA", v_astra, "sdssflow reduction version")
    _put(h, "CREATED", created, "File creation time (UTC %y-%m-%d %H:%M:%S)")
    upper = {str(k).upper(): v for k, v in source.items()}
    for title, keys in PRIMARY_GROUPS:
        _title(h, title)
        for key in keys.split():
            value = upper.get(key)
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float) and not np.isfinite(value):
                value = "NaN"
            _put(h, key, value)
        if title in _SEE:
            h.append(("COMMENT", _SEE[title]), useblanks=False, bottom=True)
    _title(h, "Provenance")
    for key, value, comment in extra_cards:
        _put(h, key, value, comment)
    _title(h, "Data Integrity")
    _put(h, "CHECKSUM", "")
    _put(h, "DATASUM", "")
    _title(h, "HDU Descriptions")
    for text in _HDU_COMMENTS:
        h.append(("COMMENT", text), useblanks=False, bottom=True)
    return hdu


def write_mwm(
    path: str | os.PathLike,
    filetype: str,
    source: Mapping,
    hdus: Mapping[str, Mapping],
    version: str,
    inputs: Sequence = (),
    step: str | None = None,
    extra_cards: Sequence[tuple[str, object, str]] = (),
    drop_unknown: bool = False,
):
    """Write an mwmVisit or mwmStar file (atomic, with checksums).

    Parameters
    ----------
    path : path-like
        Output path, ``.../mwm{Visit,Star}-{version}-{sdss_id}.fits``.
    filetype : {'visit', 'star'}
    source : mapping
        Primary-header values by keyword (``SDSS_ID``, ``RA``, ``N_BOSS``, ...; case-insensitive);
        missing keywords are written undefined.
    hdus : mapping
        EXTNAME (``'BOSS/APO'`` ...) to a mapping column → values (length nrows; pixel
        columns (nrows, npix)). Absent HDUs are written empty. ``sdss_id`` sets nrows.
    version : str
        Written as V_ASTRA and VERSION.
    inputs : sequence of path-like
        Input files, recorded as INFILEnn.
    step : str, optional
        Rule name for the STEP card.
    extra_cards : sequence of (key, value, comment)
        More primary-header cards (e.g. NMFBASIS).
    drop_unknown : bool
        Ignore columns that are not in the layout (else ValueError).

    Returns
    -------
    pathlib.Path
    """
    if filetype not in ("visit", "star"):
        raise ValueError(f"filetype must be 'visit' or 'star', got {filetype!r}")
    unknown = set(hdus) - {name for name, _, _ in HDU_NAMES}
    if unknown:
        raise ValueError(f"{path}: unknown HDU name(s) {sorted(unknown)}")
    created = _dt.datetime.now(_dt.UTC).strftime("%y-%m-%d %H:%M:%S")
    cards = list(provenance_cards(version, inputs, step)) + list(extra_cards)
    hdul = fits.HDUList([_primary(source, str(version), created, cards)])
    for extname, instrument, observatory in HDU_NAMES:
        hdul.append(
            _table_hdu(
                filetype,
                extname,
                instrument,
                observatory,
                hdus.get(extname),
                str(version),
                created,
                drop_unknown,
            )
        )
    return write_hdulist(hdul, path, checksum=True)


def read_mwm(path: str | os.PathLike) -> tuple[fits.Header, dict[str, np.ndarray]]:
    """Read an mwmVisit / mwmStar file (ours or astra's).

    Returns
    -------
    header : astropy.io.fits.Header
        The primary header.
    tables : dict
        EXTNAME → record array (length 0 for an empty HDU); ``pixel_flags`` cast to int64.

    Raises
    ------
    ValueError
        If the file does not have the four mwm table HDUs.
    """
    out = {}
    with fits.open(path, memmap=False) as hdul:
        header = hdul[0].header.copy()
        names = [h.name for h in hdul[1:]]
        expected = [n for n, _, _ in HDU_NAMES]
        if names[:4] != expected:
            raise ValueError(f"{path}: not an mwm file (HDUs {names}, expected {expected})")
        for extname in expected:
            data = hdul[extname].data
            if data is None or len(data) == 0:
                out[extname] = None
                continue
            arr = np.array(data)
            out[extname] = arr
    return header, out
