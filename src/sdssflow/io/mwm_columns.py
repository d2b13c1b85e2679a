"""The column layout of mwmVisit / mwmStar tables (DR19/DR20 datamodel order) and empty columns."""

from __future__ import annotations

import numpy as np

__all__ = ["COLUMNS", "EXTRA_COLUMNS", "layout", "empty_columns"]

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

#: Column (name, kind) lists in file order, by (filetype, instrument): the datamodel's.
COLUMNS = {
    ("star", "boss"): _BOSS_STAR,
    ("star", "apogee"): _APOGEE_STAR,
    ("visit", "boss"): _BOSS_VISIT,
    ("visit", "apogee"): _APOGEE_VISIT,
}

#: sdssflow columns written after the datamodel's ones: the APOGEE visit's heliocentric
#: RV as its input file's header gives it (``v_rad`` is the one measured here) and how
#: ``v_rad`` was obtained (:mod:`sdssflow.mwm.apogee_rv`).
EXTRA_COLUMNS = {("visit", "apogee"): _cols("v_rad_header:E rv_method:A")}


def layout(filetype: str, instrument: str) -> list[tuple[str, str]]:
    """(name, kind) of every column written: the datamodel's, then :data:`EXTRA_COLUMNS`."""
    return COLUMNS[(filetype, instrument)] + EXTRA_COLUMNS.get((filetype, instrument), [])


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
