"""The exposure catalog on disk: almanac's HDF5 layout.

Layout (one group per observatory and night)::

    /{observatory}/{mjd}/exposures/{field}          one 1-D dataset per field, one row per exposure
    /{observatory}/{mjd}/fibers/{plate_or_config}/{field}   one dataset per fibre field

Every dataset carries ``description`` (and ``kind``) attributes from
:mod:`sdssflow.io.catalog_model`. Strings are stored as fixed-length bytes sized to the
longest value (almanac's choice, made explicit here). Datasets longer than
:data:`COMPRESS_ABOVE` rows are chunked and gzip-compressed (almanac declares but never
applies compression). Writing a night deletes and rewrites its groups, so re-running is
idempotent and other nights are untouched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from sdssflow.io.catalog_model import (
    EXPOSURE_FIELDS,
    FIBER_FIELDS,
    FPS_TARGET_FIELDS,
    Field,
    records_to_frame,
)
from sdssflow.io.readable import readable

__all__ = [
    "COMPRESS_ABOVE",
    "write_night",
    "read_exposures",
    "read_fibers",
    "list_nights",
    "write_apogee_visits",
    "read_apogee_visits",
]

#: Datasets with more rows than this are chunked and gzip-compressed.
COMPRESS_ABOVE = 256


def _write_group(group: h5py.Group, frame: pd.DataFrame, fields: tuple[Field, ...]) -> None:
    n = len(frame)
    for field in fields:
        values = frame[field.name].to_numpy() if field.name in frame else np.full(n, field.sentinel)
        if field.kind in ("str", "category"):
            encoded = [str(v).encode() for v in values]
            width = max([len(v) for v in encoded] + [1])
            data = np.array(encoded, dtype=f"S{width}")
        elif field.kind == "float":
            data = np.asarray(values, dtype="f8")
        else:
            data = np.asarray(values, dtype="i8")
        options = {}
        if n > COMPRESS_ABOVE:
            options = {"chunks": (min(1000, n),), "compression": "gzip", "compression_opts": 4}
        dset = group.create_dataset(field.name, data=data, **options)
        dset.attrs["description"] = field.description
        dset.attrs["kind"] = field.kind


def write_night(
    h5: h5py.File,
    observatory: str,
    mjd: int,
    exposures: pd.DataFrame,
    fibers: Mapping[int, pd.DataFrame] | None = None,
) -> None:
    """Write (or rewrite) one night of one observatory.

    Parameters
    ----------
    h5 : h5py.File
        Open for writing (mode "a" or "w").
    observatory : str
        ``apo`` or ``lco``.
    mjd : int
        Night.
    exposures : pandas.DataFrame
        Columns of :data:`EXPOSURE_FIELDS` (missing ones are written as sentinels).
    fibers : mapping of int to DataFrame, optional
        Plug map per plate, columns of :data:`FIBER_FIELDS`, or FPSTarget rows per FPS
        configuration id (a ``positioner_id`` column), columns of :data:`FPS_TARGET_FIELDS`.
    """
    night = h5.require_group(f"{observatory}/{int(mjd)}")
    if "exposures" in night:
        del night["exposures"]
    _write_group(night.create_group("exposures", track_order=True), exposures, EXPOSURE_FIELDS)
    if fibers:
        fib_root = night.require_group("fibers")
        for plate, table in fibers.items():
            if str(plate) in fib_root:
                del fib_root[str(plate)]
            fields = FPS_TARGET_FIELDS if "positioner_id" in table else FIBER_FIELDS
            _write_group(fib_root.create_group(str(plate), track_order=True), table, fields)


def _read_group(group: h5py.Group, fields: tuple[Field, ...]) -> pd.DataFrame:
    data = {}
    for field in fields:
        if field.name not in group:
            continue
        values = group[field.name][()]
        if values.dtype.kind == "S":
            values = np.char.decode(values, "utf-8")
        data[field.name] = values
    frame = pd.DataFrame(data)
    for field in fields:
        if field.kind in ("str", "category") and field.name in frame:
            frame[field.name] = frame[field.name].astype(object)
    return frame


def list_nights(path: str | os.PathLike) -> list[tuple[str, int]]:
    """(observatory, mjd) of every night in the catalog."""
    with h5py.File(path, "r") as h5:
        return sorted((obs, int(mjd)) for obs in h5 for mjd in h5[obs])


@readable
def read_exposures(path: str | os.PathLike) -> pd.DataFrame:
    """All exposures of the catalog as one DataFrame (columns of EXPOSURE_FIELDS).

    Raises
    ------
    ValueError
        If the file is not an exposure catalog.
    """
    path = Path(path)
    frames = []
    try:
        h5 = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path}: not a readable HDF5 exposure catalog ({err})") from None
    with h5:
        for obs in h5:
            for mjd in h5[obs]:
                group = h5[obs][mjd].get("exposures")
                if group is not None:
                    frames.append(_read_group(group, EXPOSURE_FIELDS))
    if not frames:
        return records_to_frame([])
    table = pd.concat(frames, ignore_index=True)
    return records_to_frame(table.to_dict("records"))


@readable
def read_fibers(path: str | os.PathLike, observatory: str, mjd: int, plate: int) -> pd.DataFrame:
    """The fibre table of one plate (or configuration) on one night."""
    with h5py.File(path, "r") as h5:
        key = f"{observatory}/{int(mjd)}/fibers/{int(plate)}"
        if key not in h5:
            raise ValueError(f"{path}: no fibre table {key}")
        group = h5[key]
        return _read_group(group, FPS_TARGET_FIELDS if "positioner_id" in group else FIBER_FIELDS)


def write_apogee_visits(h5: h5py.File, visits: pd.DataFrame) -> None:
    """Write apVisit header records under ``/{observatory}/{mjd}/apogee_visits`` (rewritten per night)."""
    if visits.empty:
        return
    for (obs, mjd), night in visits.groupby(["observatory", "mjd"]):
        group = h5.require_group(f"{obs}/{int(mjd)}")
        if "apogee_visits" in group:
            del group["apogee_visits"]
        sub = group.create_group("apogee_visits", track_order=True)
        for col in night.columns:
            values = night[col].to_numpy()
            if values.dtype == object:
                encoded = [str(v).encode() for v in values]
                values = np.array(encoded, dtype=f"S{max([len(v) for v in encoded] + [1])}")
            sub.create_dataset(col, data=values)


@readable
def read_apogee_visits(path: str | os.PathLike) -> pd.DataFrame:
    """All apVisit records of the catalog."""
    frames = []
    with h5py.File(path, "r") as h5:
        for obs in h5:
            for mjd in h5[obs]:
                group = h5[obs][mjd].get("apogee_visits")
                if group is None:
                    continue
                data = {}
                for name in group:
                    values = group[name][()]
                    data[name] = np.char.decode(values, "utf-8") if values.dtype.kind == "S" else values
                frames.append(pd.DataFrame(data))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
