"""The standard MWM wavelength grids, source identifiers and GG/HH buckets.

Grids (astra ``products/utils.py``, vacuum, log-linear, λ_i = 10**(CRVAL + CDELT·i)):

========  =======  =======  =======
name      CRVAL    CDELT    NPIXELS
========  =======  =======  =======
boss      3.5523   1e-4     4648
apogee    4.179    6e-6     8575
========  =======  =======  =======

Legacy files (SDSS-I/II/III spec files, DR13-era apStar/apVisit) carry no SDSS-V
``sdss_id``. :func:`legacy_spec_sdss_id` and :func:`legacy_apogee_sdss_id` map them to
deterministic identifiers that are built from the file name alone (so the workflow can
list buckets at parse time) and that live above 3e15, far outside the SDSS-V range
(< 1e10), so they can never collide with a real ``sdss_id``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from sdssflow.constants import C_KMS

__all__ = [
    "Grid",
    "GRIDS",
    "BOSS",
    "APOGEE",
    "wavelength",
    "bucket",
    "buckets_of",
    "legacy_spec_sdss_id",
    "spec_file_sdss_id",
    "legacy_apogee_sdss_id",
    "HDU_NAMES",
]


@dataclass(frozen=True)
class Grid:
    """A log-linear vacuum wavelength grid: λ_i = 10**(crval + cdelt·i), i = 0..npix-1."""

    name: str
    crval: float
    cdelt: float
    npix: int

    @property
    def wavelength(self) -> np.ndarray:
        """Wavelengths, shape (npix,), Å vacuum (float64)."""
        return 10.0 ** (self.crval + self.cdelt * np.arange(self.npix))

    @property
    def dv(self) -> float:
        """Velocity width of one pixel, km/s."""
        return float(C_KMS * np.log(10.0) * self.cdelt)


BOSS = Grid("boss", 3.5523, 1e-4, 4648)
APOGEE = Grid("apogee", 4.179, 6e-6, 8575)
GRIDS = {"boss": BOSS, "apogee": APOGEE}

#: The four table HDUs of an mwm file: (EXTNAME, instrument, observatory).
HDU_NAMES = (
    ("BOSS/APO", "boss", "apo"),
    ("BOSS/LCO", "boss", "lco"),
    ("APOGEE/APO", "apogee", "apo"),
    ("APOGEE/LCO", "apogee", "lco"),
)


def wavelength(instrument: str) -> np.ndarray:
    """Standard grid of ``instrument`` ('boss' or 'apogee'), shape (npix,), Å vacuum.

    Examples
    --------
    >>> round(float(wavelength("boss")[0]), 2), wavelength("apogee").size
    (3566.97, 8575)
    """
    try:
        return GRIDS[instrument].wavelength
    except KeyError:
        raise ValueError(f"instrument must be 'boss' or 'apogee', got {instrument!r}") from None


def bucket(sdss_id: int) -> tuple[str, str]:
    """astra's GG/HH directory of a source: ((sdss_id // 100) % 100, sdss_id % 100).

    Examples
    --------
    >>> bucket(103020000), bucket(12345), bucket(57)
    (('00', '00'), ('23', '45'), ('00', '57'))
    """
    sdss_id = int(sdss_id)
    if sdss_id < 0:
        raise ValueError(f"sdss_id must be >= 0, got {sdss_id}")
    return f"{(sdss_id // 100) % 100:02d}", f"{sdss_id % 100:02d}"


def buckets_of(sdss_ids) -> list[tuple[str, str]]:
    """The sorted distinct :func:`bucket` of many sources, vectorised (10^6 ids in ~0.1 s).

    Parameters
    ----------
    sdss_ids : array_like of int, shape (n,)
        Source identifiers, each >= 0.

    Returns
    -------
    list of (str, str)
        Distinct (GG, HH) pairs, sorted.

    Examples
    --------
    >>> buckets_of([12345, 57, 99912345])
    [('00', '57'), ('23', '45')]
    """
    ids = np.asarray(sdss_ids, dtype=np.int64).ravel()
    if ids.size and ids.min() < 0:
        raise ValueError(f"sdss_id must be >= 0, got {int(ids.min())}")
    # GG*100 + HH sorts like the (GG, HH) string pairs
    codes = np.unique((ids // 100) % 100 * 100 + ids % 100)
    return [(f"{c // 100:02d}", f"{c % 100:02d}") for c in codes.tolist()]


_SPEC_RE = re.compile(r"spec-(\d+)-(\d{5})-(\d+)\.fits")
_TWOMASS_RE = re.compile(r"2M(\d{8})([+-])(\d{7})")


def legacy_spec_sdss_id(filename: str) -> int:
    """Identifier of an SDSS spec file without sdss_id: 5e15 + plate·1e9 + mjd·1e4 + fiber.

    Each (plate, mjd, fiber) is its own source: legacy spec files do not say which
    observations belong to one star.

    Examples
    --------
    >>> legacy_spec_sdss_id("spec-0266-51602-0013.fits")
    5000266516020013
    """
    m = _SPEC_RE.search(str(filename))
    if not m:
        raise ValueError(f"{filename}: not an SDSS spec file name spec-PLATE-MJD-FIBER.fits")
    plate, mjd, fiber = (int(g) for g in m.groups())
    if plate >= 1_000_000 or fiber >= 10_000:
        raise ValueError(f"{filename}: plate or fiber out of range for the legacy id")
    return 5_000_000_000_000_000 + plate * 1_000_000_000 + mjd * 10_000 + fiber


def spec_file_sdss_id(path) -> int:
    """sdss_id of a spec file, as bossVisits gives its visit, without reading its spectra.

    An SDSS-V name (``spec-<FIELD6>-<MJD>-<CATALOGID>.fits``, DR19; DR18 ``spec-<FIELDID>-``:
    :data:`sdssflow.io.spec_v6.SPEC_V6_NAME`) has
    its sdss_id in the SPALL row (HDU ``SPALL``, column ``SDSS_ID``); a plate-era name gets
    :func:`legacy_spec_sdss_id` (its last number is a fibre).

    Raises
    ------
    ValueError
        Naming the file: a v6 file without a positive SPALL SDSS_ID (its catalogid cannot be
        a legacy fibre number), or a name that is neither.
    """
    import os

    from sdssflow.io.spec_v6 import SPEC_V6_NAME

    name = os.path.basename(str(path))
    if not SPEC_V6_NAME.match(name):
        return legacy_spec_sdss_id(name)
    import fitsio

    try:
        with fitsio.FITS(str(path)) as f:
            spall = f["SPALL"]
            columns = {c.upper(): c for c in spall.get_colnames()}
            if "SDSS_ID" not in columns or spall.get_nrows() < 1:
                raise ValueError("its SPALL table has no SDSS_ID")
            value = int(spall.read(columns=[columns["SDSS_ID"]], rows=[0])[columns["SDSS_ID"]][0])
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path}: SDSS-V spec file without a usable sdss_id ({err})") from None
    if value <= 0:
        raise ValueError(f"{path}: SDSS-V spec file without a usable sdss_id (SPALL SDSS_ID = {value})")
    return value


def legacy_apogee_sdss_id(obj: str) -> int:
    """Identifier of an APOGEE object without sdss_id, from its 2MASS-style name.

    ``2MHHMMSSss±DDMMSSs`` → 3e15 + (sign '-': 1e15) + RA digits·1e7 + Dec digits.

    Examples
    --------
    >>> legacy_apogee_sdss_id("2M00452143+1634446")
    3004521431634446
    """
    m = _TWOMASS_RE.search(str(obj))
    if not m:
        raise ValueError(f"{obj!r}: not a 2MASS-style APOGEE object name (2Mhhmmssss+ddmmsss)")
    ra, sign, dec = m.groups()
    return (
        3_000_000_000_000_000
        + (1_000_000_000_000_000 if sign == "-" else 0)
        + int(ra) * 10_000_000
        + int(dec)
    )
