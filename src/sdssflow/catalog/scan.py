"""Scan reductions into exposure records: BOSS frame headers, plug maps, spec files, apVisits.

Each scanner returns plain dict records for :func:`sdssflow.io.catalog_model.coerce_record`;
an unreadable file becomes a record with ``flagged_bad = 1`` and a ``problem`` naming the
file and the error, and the scan goes on.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from sdssflow.io.catalog_model import (
    FIBER_FIELDS,
    FPS_TARGET_FIELDS,
    exposure_string,
    records_to_frame,
)
from sdssflow.io.products import find_fits
from sdssflow.io.spec_v6 import OBSERVATORY_SPECTROGRAPH, V6_EXPOSURE_EXTNAME
from sdssflow.io.spplate import find_plate_files, plate_dir_number
from sdssflow.moon import moon_geometry
from sdssflow.sites import SITES

__all__ = [
    "header_record",
    "tcc_to_north_azimuth",
    "moon_geometry",
    "scan_plate_dir",
    "scan_spec_files",
    "scan_apogee_visits",
]

log = logging.getLogger(__name__)

_SECONDS_PER_DAY = 86400.0


def tcc_to_north_azimuth(az_tcc):
    """Azimuth North through East (deg) from the TCC convention of BOSS headers (South = 0, East = 90).

    Examples
    --------
    >>> tcc_to_north_azimuth(0.0), tcc_to_north_azimuth(90.0), tcc_to_north_azimuth(221.3)
    (180.0, 90.0, 318.7)
    """
    try:
        value = float(az_tcc)
    except (TypeError, ValueError):
        return math.nan
    return round((180.0 - value) % 360.0, 10)


def header_record(header: fits.Header, observatory: str | None = None) -> dict:
    """An exposure record from a BOSS frame header (spFrame HDU0 or a spec-file exposure HDU).

    The observatory is the header's OBSERVAT (apo or lco; apo when absent) unless given.
    """
    if observatory is None:
        observatory = str(header.get("OBSERVAT", "APO") or "APO").strip().lower()
        observatory = observatory if observatory in SITES else "apo"
    tai_beg, tai_end = header.get("TAI-BEG"), header.get("TAI-END")
    try:
        mjd_mid = 0.5 * (float(tai_beg) + float(tai_end)) / _SECONDS_PER_DAY
    except (TypeError, ValueError):
        mjd_mid = math.nan
    ra, dec = header.get("RA", header.get("RADEG")), header.get("DEC", header.get("DECDEG"))
    try:
        illum, sep, moon_alt = moon_geometry(mjd_mid, float(ra), float(dec), observatory)
    except (TypeError, ValueError):
        illum, sep, moon_alt = math.nan, math.nan, math.nan
    mjd, exposure = header.get("MJD"), header.get("EXPOSURE")
    return {
        "observatory": observatory,
        "mjd": mjd,
        "exposure": exposure,
        "instrument": "boss",
        "plate": header.get("PLATEID"),
        "field": header.get("FIELDID"),
        "config_id": header.get("CONFID"),
        "cart_id": header.get("CARTID"),
        "map_id": header.get("MAPID"),
        "image_type": header.get("FLAVOR"),
        "quality": header.get("QUALITY"),
        "exptime": header.get("EXPTIME"),
        "tai_beg": tai_beg,
        "tai_end": tai_end,
        "mjd_mid": mjd_mid,
        "ra": ra,
        "dec": dec,
        "alt": header.get("ALT"),
        "az": tcc_to_north_azimuth(header.get("AZ")),
        "airmass": header.get("AIRMASS"),
        "seeing": header.get("SEEING50"),
        "moon_illumination": illum,
        "moon_separation": sep,
        "moon_altitude": moon_alt,
        "lamp_ff": header.get("FF"),
        "lamp_ne": header.get("NE"),
        "lamp_hgcd": header.get("HGCD"),
        "exposure_string": exposure_string(mjd, exposure) if mjd is not None and exposure is not None else "",
        "flagged_bad": 0,
        "problem": "",
    }


def _bad_record(path: Path, problem: str, plate: int, expid: int, cameras: list[str], mjd: int | None = None) -> dict:
    log.warning("%s: %s (recorded as flagged_bad)", path, problem)
    return {
        "observatory": "apo",
        "mjd": mjd,
        "exposure": expid,
        "instrument": "boss",
        "plate": plate,
        "cameras": " ".join(cameras),
        "n_cameras": len(cameras),
        "flagged_bad": 1,
        "problem": f"{path.name}: {problem}",
        "path": str(path),
    }


def _header_plate(header: fits.Header) -> int | None:
    """PLATEID of a header as an int, or None when absent or not a number."""
    try:
        return int(str(header.get("PLATEID", "")).strip())
    except ValueError:
        return None


def _spplate_records(plate_dir: Path, plate: int, spplates: dict[int, Path]) -> list[dict]:
    """Records of the spPlate files whose plate number (name or PLATEID) is not the directory's.

    Such a file is recorded as ``flagged_bad`` (exposure -1, the name's MJD) with both
    numbers in ``problem``; nothing else of it is used.
    """
    records = []
    for mjd, path in spplates.items():
        named = int(path.name.split("-")[1])  # find_plate_files matched spPlate-PPPP-MMMMM
        if named != plate:
            records.append(_bad_record(
                path, f"plate {named} in the file name disagrees with plate directory {plate_dir.name} "
                f"(plate {plate}); skipped", plate, -1, [], mjd))
            continue
        try:
            header_plate = _header_plate(fits.getheader(path, 0))
        except Exception as err:  # unreadable: the frames are what the catalog uses
            log.warning("%s: header unreadable (%s: %s); plate number not checked", path, type(err).__name__, err)
            continue
        if header_plate is not None and header_plate != named:
            records.append(_bad_record(
                path, f"PLATEID {header_plate} in the header disagrees with plate {named} of its name; skipped",
                plate, -1, [], mjd))
    return records


def _plugmap_records(path: Path) -> list[dict]:
    with fits.open(path, memmap=False) as hdus:
        table = hdus[5].data
        names = {n.upper(): n for n in table.columns.names}
        n = len(table)

        def col(name, default):
            return table[names[name]] if name in names else np.full(n, default)

        fiber = np.asarray(col("FIBERID", -1), dtype=int)
        return [
            {
                "fiber_id": int(fiber[i]),
                "spectrograph_id": 1 + (int(fiber[i]) - 1) // 500 if fiber[i] > 0 else -1,
                "obj_type": str(col("OBJTYPE", "")[i]),
                "ra": col("RA", math.nan)[i],
                "dec": col("DEC", math.nan)[i],
                "x_focal": col("XFOCAL", math.nan)[i],
                "y_focal": col("YFOCAL", math.nan)[i],
                "sdss_id": col("SDSS_ID", -1)[i],
                "catalogid": col("CATALOGID", -1)[i],
            }
            for i in range(n)
        ]


def scan_plate_dir(plate_dir: str | os.PathLike) -> tuple[list[dict], dict[tuple[int, int], pd.DataFrame]]:
    """Exposure records and plug maps of one plate directory.

    Parameters
    ----------
    plate_dir : path-like
        ``$BOSS_SPECTRO_REDUX/<run2d>/<PLATE4>``, ``<FIELD6>`` (DR19) or ``<FIELDID>p`` (DR18).

    Returns
    -------
    records : list of dict
        One per exposure number found in spFrame names; unreadable ones flagged, and so
        are frames whose header PLATEID is not the directory's plate number. An spPlate
        whose plate number (name or PLATEID) disagrees with the directory or its name
        adds a flagged record (exposure -1). Flagged records name both numbers in
        ``problem``; the selection drops them.
    fibers : dict
        ``{(mjd, plate): DataFrame}`` of the plug map (both spectrographs), read from the
        first readable b1/b2 (or r1/r2) frame of each night.
    """
    plate_dir = Path(plate_dir)
    files = find_plate_files(plate_dir)
    by_expid: dict[int, dict[str, Path]] = defaultdict(dict)
    for (camera, expid), path in files["spFrame"].items():
        by_expid[expid][camera] = path
    plate = plate_dir_number(plate_dir)
    plate = -1 if plate is None else plate
    records, fiber_sources = _spplate_records(plate_dir, plate, files["spPlate"]), defaultdict(dict)
    for expid, cams in sorted(by_expid.items()):
        cameras = sorted(cams)
        record, problems = None, []
        for camera in cameras:
            path = cams[camera]
            try:
                header = fits.getheader(path, 0)
                if "MJD" not in header or "EXPOSURE" not in header:
                    raise ValueError("header lacks MJD/EXPOSURE")
            except Exception as err:  # truncated, headerless or not FITS at all
                problems.append(f"{path.name}: {type(err).__name__}: {err}")
                continue
            header_plate = _header_plate(header)
            if plate >= 0 and header_plate is not None and header_plate != plate:
                problems.append(
                    f"{path.name}: PLATEID {header_plate} in the header disagrees with plate directory "
                    f"{plate_dir.name} (plate {plate}); skipped"
                )
                continue
            if record is None:
                record = header_record(header)
                record["path"] = str(path)
            fiber_sources[int(header["MJD"])].setdefault(camera[1], path)
        if record is None:
            records.append(_bad_record(cams[cameras[0]], "; ".join(problems), plate, expid, cameras))
            continue
        good = [c for c in cameras if not any(p.startswith(cams[c].name) for p in problems)]
        record["cameras"] = " ".join(good)
        record["n_cameras"] = len(good)
        if problems:  # the exposure stays usable: only its unreadable cameras are left out
            record["problem"] = "; ".join(problems)
            log.warning("plate %s exposure %s: %s", plate, expid, record["problem"])
        records.append(record)
    fibers = _fps_targets(plate_dir, records)
    plug_sources = {} if fibers else fiber_sources  # FPS fields: targets from spfibermap
    for mjd, sources in plug_sources.items():
        rows = []
        for _spec, path in sorted(sources.items()):
            try:
                rows.extend(_plugmap_records(path))
            except Exception as err:
                log.warning("%s: plug map unreadable (%s); fibres of this spectrograph omitted", path, err)
        if rows:
            frame = records_to_frame(rows, FIBER_FIELDS).sort_values("fiber_id", kind="stable")
            fibers[(mjd, plate)] = frame.drop_duplicates("fiber_id").reset_index(drop=True)
    return records, fibers


def _fps_targets(plate_dir: Path, records: list[dict]) -> dict[tuple[int, int], pd.DataFrame]:
    """FPSTarget rows per (mjd, config_id) from the spfibermap files of an FPS field directory.

    Empty for a plate directory (no spfibermap). The MJD of a configuration is that of the
    spfibermap name; its exposures carry the same config_id (CONFID).
    """
    from sdssflow.io.confsummary import fps_targets, read_spfibermap

    out = {}
    for path in sorted(plate_dir.glob("spfibermap-*.fits*")):
        m = re.match(r"^spfibermap-(\d+)-(\d{5})\.fits", path.name)
        if not m:
            continue
        try:
            tables = read_spfibermap(path)
        except Exception as err:  # one unreadable fibermap must not lose the other nights
            log.warning("%s: unreadable spfibermap (%s); its FPS targets are omitted", path, err)
            continue
        for config, table in tables.items():
            rows = pd.DataFrame(fps_targets(table)).to_dict("records")
            out[(int(m.group(2)), config)] = records_to_frame(rows, FPS_TARGET_FIELDS)
    used = {int(r.get("config_id") or -1) for r in records}
    missing = {c for _, c in out} - used
    if missing and records:
        log.warning("%s: configuration(s) %s have targets but no exposure", plate_dir, sorted(missing))
    return out


_SPEC_EXP = re.compile(r"^([BR][12])-(\d{8})-")


def _spec_exposure(hdu) -> tuple[tuple[int, int], list[str]] | None:
    """((plate or field, exposure), cameras) of a spec file's per-exposure HDU; None for another HDU.

    Plate era: EXTNAME ``B1-eeeeeeee-ffffffff-aaaaaaaa``, one camera, PLATEID. SDSS-V specFull
    (DR18/DR19): EXTNAME ``MJD_EXP_<MJD>-<NN>``, both arms of the observatory's spectrograph
    (b1 r1 at APO, b2 r2 at LCO), EXPOSURE and FIELDID in the header, PLATEID blank.
    """
    name, header = hdu.name or "", hdu.header
    unit = _header_plate(header)
    if unit is None:
        try:
            unit = int(str(header.get("FIELDID", "")).strip())
        except ValueError:
            unit = -1
    m = _SPEC_EXP.match(name)
    if m:
        return (unit, int(m.group(2))), [m.group(1).lower()]
    if V6_EXPOSURE_EXTNAME.match(name):
        sp = OBSERVATORY_SPECTROGRAPH.get(str(header.get("OBSERVAT", "APO")).strip().upper(), 1)
        return (unit, int(header.get("EXPOSURE", -1))), [f"b{sp}", f"r{sp}"]
    return None


def scan_spec_files(spec_dir: str | os.PathLike) -> list[dict]:
    """Exposure records from the per-exposure HDUs of SDSS spec "full" files.

    Each exposure appears once, however many spec files (fibres) carry it; plate-era
    (``B1-...`` HDUs) and SDSS-V specFull files (``MJD_EXP_...`` HDUs) alike.
    """
    records: dict[tuple[int, int], dict] = {}
    cameras: dict[tuple[int, int], set] = defaultdict(set)
    for path in sorted(Path(spec_dir).rglob("spec-*.fits*")):
        try:
            with fits.open(path, memmap=False) as hdus:
                for hdu in hdus[1:]:
                    found = _spec_exposure(hdu)
                    if found is None:
                        continue
                    key, cams = found
                    cameras[key].update(cams)
                    if key not in records:
                        record = header_record(hdu.header)
                        record["path"] = str(path)
                        records[key] = record
        except Exception as err:
            log.warning("%s: unreadable spec file (%s); recorded as flagged_bad", path, err)
            records[(-1, -len(records) - 1)] = {"flagged_bad": 1, "problem": f"{path.name}: {err}", "path": str(path)}
    for key, record in records.items():
        cams = sorted(cameras.get(key, ()))
        record["cameras"], record["n_cameras"] = " ".join(cams), len(cams)
    return list(records.values())


def scan_apogee_visits(apred_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per apVisit file: observatory, mjd, plate, fiber, object, snr, vrad, path.

    DR17 names LCO visits ``asVisit-`` (sdss_access apVisit DR17 ``{prefix}Visit-``), so
    both prefixes are scanned.
    """
    rows = []
    for path in find_fits(apred_dir, "a[ps]Visit-*"):
        try:
            header = fits.getheader(path, 0)
        except Exception as err:
            rows.append({"path": str(path), "problem": f"{type(err).__name__}: {err}"})
            continue
        telescope = str(header.get("TELESCOP", "apo25m")).lower()
        rows.append(
            {
                "observatory": "lco" if telescope.startswith("lco") else "apo",
                "mjd": int(header.get("MJD5", -1)),
                "plate": int(header.get("PLATE", -1)) if str(header.get("PLATE", "")).strip().isdigit() else -1,
                "fiber": int(header.get("FIBERID", -1)),
                "object": str(header.get("OBJID", header.get("OBJECT", ""))).strip(),
                "snr": float(header.get("SNR", math.nan)),
                "vrad": float(header.get("VRAD", header.get("VHELIO", math.nan))),
                "path": str(path),
                "problem": "",
            }
        )
    return pd.DataFrame(rows)
