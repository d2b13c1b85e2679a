"""Bit definitions: pixel flags (BOSS SPPIXMASK, APOGEE_PIXMASK), nmf_flags, product status.

Pixel flags are integer bitmasks on disk (mwm files write them as 64-bit ``K`` columns,
which keeps BOSS bits 24-28; astra's float32 ``E`` columns lose every bit above 2**24:
astra_mwm.md section 8 quirk 4, fixed here).
"""

from __future__ import annotations

from sdssflow.io.bitmask import SPPIXMASK, flag_names, flag_value

__all__ = [
    "BOSS_PIXMASK",
    "APOGEE_PIXMASK",
    "APOGEE_BAD_PIXEL_BITS",
    "APOGEE_STARFLAG",
    "NMF_FLAGS",
    "STATUS_FLAGS",
    "bits_set",
    "names_of",
]

#: SDSS SPPIXMASK bit numbers (the specFull OR_MASK; astra_mwm.md section 3.3).
BOSS_PIXMASK = SPPIXMASK

#: APOGEE_PIXMASK bit numbers.
APOGEE_PIXMASK = {
    "BADPIX": 0, "CRPIX": 1, "SATPIX": 2, "UNFIXABLE": 3, "BADDARK": 4, "BADFLAT": 5,
    "BADERR": 6, "NOSKY": 7, "LITTROW_GHOST": 8, "PERSIST_HIGH": 9, "PERSIST_MED": 10,
    "PERSIST_LOW": 11, "SIG_SKYLINE": 12, "SIG_TELLURIC": 13, "NOT_ENOUGH_PSF": 14,
    "FERRE_MASK": 16,
}  # fmt: skip

#: The "bad" level of APOGEE_PIXMASK: bits 0-7 and 14.
APOGEE_BAD_PIXEL_BITS = sum(1 << b for b in (0, 1, 2, 3, 4, 5, 6, 7, 14))

#: APOGEE STARFLAG bits (the visit ``spectrum_flags``) used here. RV_REJECT is also set
#: by :mod:`sdssflow.mwm.apogee_rv` on a visit whose header and measured RVs disagree.
APOGEE_STARFLAG = {
    "BAD_PIXELS": 0, "BRIGHT_NEIGHBOR": 2, "VERY_BRIGHT_NEIGHBOR": 3, "LOW_SNR": 4,
    "BAD_RV_COMBINATION": 18, "RV_REJECT": 19, "RV_SUSPECT": 20, "RV_FAIL": 22,
}  # fmt: skip

#: nmf_flags bits. astra always writes 0; here every bit means something.
NMF_FLAGS = {
    "INITIALISED_FROM_SMALL_W": 0,  # as astra's NMFRectify table
    "NO_COADD": 1,  # visit continuum: no co-add to take W from
    "FEW_PIXELS": 2,  # fewer usable pixels than 3x the parameters: not fitted
    "COULD_NOT_READ_SPECTRUM": 3,  # as astra
    "RUNTIME_EXCEPTION": 4,  # as astra
    "NON_PRODUCTION_BASIS": 5,  # the basis is sdssflow's stand-in, not astra's pickles
    "NOT_CONVERGED": 6,  # the alternating fit hit its iteration limit
    "HIGH_RCHI2": 7,  # nmf_rchi2 > 10
}

#: MWMSpectrumProductStatus bits (astra_mwm.md section 5.7).
STATUS_FLAGS = {
    "SKIPPED_BECAUSE_NO_SDSS_ID": 0,
    "SKIPPED_BECAUSE_NOT_STELLAR_LIKE": 1,
    "ATTEMPTED_BUT_EXCEPTION": 2,
    "CREATED_MWM_VISIT": 3,
    "CREATED_MWM_STAR": 4,
}


def bits_set(*names: str, table: dict[str, int] = STATUS_FLAGS) -> int:
    """Integer with the named bits of ``table`` set.

    Examples
    --------
    >>> bits_set("CREATED_MWM_VISIT", "CREATED_MWM_STAR")
    24
    """
    return flag_value(names, table, "flag", "STATUS_FLAGS" if table is STATUS_FLAGS else "flag table")


def names_of(value: int, table: dict[str, int] = STATUS_FLAGS) -> list[str]:
    """Names of the bits of ``table`` set in ``value``.

    Examples
    --------
    >>> names_of(24)
    ['CREATED_MWM_VISIT', 'CREATED_MWM_STAR']
    """
    return flag_names(value, table)

