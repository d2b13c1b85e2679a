"""Fields of the exposure catalog, with types, sentinels and descriptions.

After almanac's data models: one record per exposure (and one per fibre of each plate),
with every missing value replaced by a documented sentinel (-1 for ids and integers, NaN
for floats, '' for strings), T/F lamp states as 1/0 (-1 unknown) and categories in lower
case. The HDF5 writer (:mod:`sdssflow.io.catalog`) stores one dataset per field with the
description as an attribute; the layout docs in config/README.md are generated from here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Field",
    "EXPOSURE_FIELDS",
    "FIBER_FIELDS",
    "FPS_TARGET_FIELDS",
    "coerce_record",
    "records_to_frame",
    "empty_exposure_table",
    "exposure_string",
]


@dataclass(frozen=True)
class Field:
    """One catalog column.

    Attributes
    ----------
    name : str
        Column (and HDF5 dataset) name, snake_case.
    kind : str
        ``"int"``, ``"float"``, ``"str"``, ``"lamp"`` (T/F -> 1/0, unknown -1) or
        ``"category"`` (a lower-cased string).
    description : str
        Stored as the dataset's ``description`` attribute; includes the unit.
    """

    name: str
    kind: str
    description: str

    @property
    def sentinel(self):
        """The value that stands for 'missing'."""
        return {"int": -1, "lamp": -1, "float": math.nan}.get(self.kind, "")


EXPOSURE_FIELDS: tuple[Field, ...] = (
    Field("observatory", "category", "observatory: apo or lco"),
    Field("mjd", "int", "MJD of the night (SDSS convention)"),
    Field("exposure", "int", "exposure number (EXPOSURE keyword)"),
    Field("instrument", "category", "boss or apogee"),
    Field("plate", "int", "plate id (PLATEID); -1 in the FPS era"),
    Field("field", "int", "field id; -1 in the plate era"),
    Field("config_id", "int", "FPS configuration id; -1 in the plate era"),
    Field("cart_id", "int", "cartridge id (CARTID)"),
    Field("map_id", "int", "plug-map id (MAPID)"),
    Field("image_type", "category", "flavor of the exposure: science, arc, flat, ... (FLAVOR)"),
    Field("quality", "category", "night quality (QUALITY): excellent, test, bad, ..."),
    Field("cameras", "str", "cameras with a frame on disk, space-separated (b1 r1 b2 r2)"),
    Field("n_cameras", "int", "number of cameras with a frame"),
    Field("exptime", "float", "exposure time (s)"),
    Field("tai_beg", "float", "start of exposure, TAI seconds since MJD 0 (TAI-BEG)"),
    Field("tai_end", "float", "end of exposure, TAI seconds since MJD 0 (TAI-END)"),
    Field("mjd_mid", "float", "mid-exposure time as a TAI MJD (d)"),
    Field("ra", "float", "boresight right ascension, ICRS/FK5 J2000 (deg)"),
    Field("dec", "float", "boresight declination, ICRS/FK5 J2000 (deg)"),
    Field("alt", "float", "telescope altitude (deg)"),
    Field("az", "float", "telescope azimuth, North through East (deg; from the header's TCC AZ, South = 0)"),
    Field("airmass", "float", "airmass at mid-exposure"),
    Field("seeing", "float", "median guider seeing during the exposure, SEEING50 (arcsec)"),
    Field("moon_illumination", "float", "illuminated fraction of the moon at mid-exposure (0-1; sdssflow.moon)"),
    Field("moon_separation", "float", "angle between boresight and moon at mid-exposure (deg)"),
    Field("moon_altitude", "float", "altitude of the moon at mid-exposure (deg)"),
    Field("lamp_ff", "lamp", "flat-field lamps on (1), off (0), unknown (-1)"),
    Field("lamp_ne", "lamp", "neon arc lamps on (1), off (0), unknown (-1)"),
    Field("lamp_hgcd", "lamp", "HgCd arc lamps on (1), off (0), unknown (-1)"),
    Field("exposure_string", "str", "almanac exposure string: (mjd - 55562) * 10000 + exposure, 8 digits"),
    Field("flagged_bad", "int", "1 if the files of this exposure could not be read (see problem)"),
    Field("problem", "str", "why flagged_bad is set: the file and what is wrong"),
    Field("path", "str", "file the header was read from"),
)

FIBER_FIELDS: tuple[Field, ...] = (
    Field("fiber_id", "int", "fibre number, 1-1000 (FIBERID)"),
    Field("spectrograph_id", "int", "spectrograph, 1 or 2"),
    Field("obj_type", "category", "object type from the plug map (OBJTYPE), lower case"),
    Field("ra", "float", "fibre right ascension (deg)"),
    Field("dec", "float", "fibre declination (deg)"),
    Field("x_focal", "float", "x position in the focal plane (mm)"),
    Field("y_focal", "float", "y position in the focal plane (mm)"),
    Field("sdss_id", "int", "SDSS-V sdss_id; -1 if none"),
    Field("catalogid", "int", "SDSS-V catalogid; -1 if none"),
)

#: almanac's FPSTarget fields (seed 004): one row per robot fibre of an FPS configuration,
#: stored under ``{obs}/{mjd}/fibers/{config_id}``.
FPS_TARGET_FIELDS: tuple[Field, ...] = (
    Field("sdss_id", "int", "SDSS-V sdss_id; -1 if none"),
    Field("catalogid", "int", "SDSS-V catalogid; -1 if none"),
    Field("twomass_designation", "str", "2MASS designation (tmass_id)"),
    Field("category", "category", "target category: science, sky_boss, standard_boss, ..."),
    Field("cadence", "str", "observing cadence"),
    Field("firstcarton", "str", "primary carton name"),
    Field("program", "str", "survey program"),
    Field("positioner_id", "int", "robot positioner id (positionerId)"),
    Field("hole_id", "str", "hole identifier (holeId)"),
    Field("fiber_type", "category", "fibre type: boss, apogee or metrology (fiberType)"),
    Field("assigned", "int", "1 if a target is assigned to the fibre"),
    Field("on_target", "int", "1 if the fibre is positioned on its target"),
    Field("disabled", "int", "1 if the fibre is disabled"),
    Field("valid", "int", "1 if the coordinate conversion is valid"),
    Field("decollided", "int", "1 if the positioner was decollided"),
    Field("ra", "float", "catalogue right ascension (racat, deg)"),
    Field("dec", "float", "catalogue declination (deccat, deg)"),
    Field("alt", "float", "observed altitude (alt_observed, deg)"),
    Field("az", "float", "observed azimuth (az_observed, deg)"),
    Field("x_wok", "float", "x in the wok frame (xwok, mm)"),
    Field("y_wok", "float", "y in the wok frame (ywok, mm)"),
    Field("z_wok", "float", "z in the wok frame (zwok, mm)"),
    Field("x_focal", "float", "x in the focal plane (xFocal, mm)"),
    Field("y_focal", "float", "y in the focal plane (yFocal, mm)"),
    Field("alpha", "float", "alpha arm angle (deg)"),
    Field("beta", "float", "beta arm angle (deg)"),
    Field("lambda_design", "float", "design wavelength (A)"),
    Field("lambda_eff", "float", "effective wavelength (A)"),
    Field("coord_epoch", "float", "coordinate epoch (yr)"),
    Field("spectrograph_id", "int", "spectrograph id (spectrographId; BOSS 1 at APO, 2 at LCO; 0 APOGEE)"),
    Field("fiber_id", "int", "fibre id within the spectrograph (fiberId)"),
    Field("delta_ra", "float", "RA offset applied to the fibre (arcsec)"),
    Field("delta_dec", "float", "Dec offset applied to the fibre (arcsec)"),
    Field("too", "int", "1 for a target of opportunity"),
    Field("too_id", "int", "target-of-opportunity id"),
    Field("too_program", "str", "target-of-opportunity program"),
)

_LAMP = {"t": 1, "true": 1, "1": 1, "on": 1, "f": 0, "false": 0, "0": 0, "off": 0}


def _coerce(field: Field, value):
    if value is None:
        return field.sentinel
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if field.kind == "lamp":
        if isinstance(value, bool | np.bool_):
            return int(bool(value))
        text = str(value).strip().lower()
        if not text:
            return -1
        # BOSS writes one state per lamp ("1 1 1 1"); any lamp on means on.
        states = [_LAMP.get(tok, -1) for tok in text.split()]
        if any(s == 1 for s in states):
            return 1
        return 0 if states and all(s == 0 for s in states) else -1
    if field.kind == "int":
        if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
            return int(value)  # exact: SDSS-V catalogids (~2.7e16) do not survive a float
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return -1
            if re.fullmatch(r"[+-]?\d+", value):
                return int(value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            return -1
        return int(number) if math.isfinite(number) else -1
    if field.kind == "float":
        if isinstance(value, str) and not value.strip():
            return math.nan
        try:
            number = float(value)
        except (TypeError, ValueError):
            return math.nan
        return number if math.isfinite(number) else math.nan
    text = str(value).strip()
    return text.lower() if field.kind == "category" else text


def coerce_record(record: Mapping, fields: tuple[Field, ...] = EXPOSURE_FIELDS) -> dict:
    """Validate one record as almanac does: sentinels for missing or bad values.

    Empty strings become -1 (ints) or NaN (floats), lamp T/F becomes 1/0, categories are
    lower-cased, unparseable or infinite floats become NaN. Unknown keys are dropped.

    Examples
    --------
    >>> rec = coerce_record({"mjd": "55500", "plate": "", "lamp_ff": "T",
    ...                      "image_type": "SCIENCE", "exptime": "bad"})
    >>> rec["mjd"], rec["plate"], rec["lamp_ff"], rec["image_type"]
    (55500, -1, 1, 'science')
    >>> rec["exptime"]
    nan
    """
    return {f.name: _coerce(f, record.get(f.name)) for f in fields}


def _dtype(field: Field):
    return {"int": "int64", "lamp": "int64", "float": "float64"}.get(field.kind, "object")


def records_to_frame(records, fields: tuple[Field, ...] = EXPOSURE_FIELDS) -> pd.DataFrame:
    """Coerce records and build a DataFrame with one typed column per field."""
    rows = [coerce_record(r, fields) for r in records]
    data = {f.name: pd.Series([r[f.name] for r in rows], dtype=_dtype(f)) for f in fields}
    return pd.DataFrame(data)


def empty_exposure_table() -> pd.DataFrame:
    """A zero-row exposure table with every column typed (to check selection queries)."""
    return records_to_frame([])


def exposure_string(mjd: int, exposure: int) -> str:
    """almanac's exposure string, ``(mjd - 55562) * 10000 + exposure`` zero-padded to 8.

    BOSS exposure numbers are themselves unique, so for BOSS this is informational.

    Examples
    --------
    >>> exposure_string(59000, 12)
    '34380012'
    """
    return f"{(int(mjd) - 55562) * 10000 + int(exposure):08d}"
