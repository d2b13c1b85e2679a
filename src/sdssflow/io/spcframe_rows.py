"""Some fibres of an spCFrame: only the rows a step needs of a calibrated frame.

:func:`sdssflow.io.boss.read_spcframe` reads every image HDU of all 500 fibres of a
camera-exposure. A step that needs a few fibres (boss_visits: the science fibres with an
SDSS_ID, 28 of 500 a frame on the demo plate) reads the plug map (HDU5) first, picks its
rows from it, and then reads those rows only of the images it uses, as image sections
(consecutive rows in one read): the same values, with the same checks of the file, for a
small part of the bytes. The layout is the one of ``read_spcframe`` (HDU table in
:mod:`sdssflow.io.boss`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from astropy.table import Table

from sdssflow.io.boss import BossFrame, frame_npix
from sdssflow.io.boss_hdus import (
    _as_header,
    _camera_expid,
    _open_checked,
    _plugmap_table,
    _read_table,
)
from sdssflow.io.readable import readable

__all__ = ["read_spcframe_rows", "consecutive_runs"]

#: spCFrame image HDUs read (as :func:`sdssflow.io.boss.read_spcframe`): name -> (HDU, dtype).
SPCFRAME_IMAGES = {
    "flux": (0, np.float32),
    "ivar": (1, np.float32),
    "mask": (2, np.int32),
    "loglam": (3, np.float64),
    "disp": (4, np.float64),
    "sky": (6, np.float32),
}


def consecutive_runs(rows: np.ndarray) -> list[tuple[int, int, int]]:
    """Runs of consecutive values of ``rows``: (first row, stop row, position in ``rows``).

    Examples
    --------
    >>> consecutive_runs(np.array([3, 4, 5, 9, 2]))
    [(3, 6, 0), (9, 10, 3), (2, 3, 4)]
    """
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [rows.size]])
    return [(int(rows[a]), int(rows[b - 1]) + 1, int(a)) for a, b in zip(starts, stops)]


@readable
def read_spcframe_rows(
    path: str | os.PathLike,
    rows: Callable[[Table], np.ndarray] | Sequence[int] | np.ndarray,
    npix: int | None = None,
    sky: bool = True,
) -> BossFrame:
    """Read some fibres of an spCFrame, trimmed like :func:`sdssflow.io.boss.read_spcframe`.

    Parameters
    ----------
    path : str or os.PathLike
        ``spCFrame-{camera}-{expid:08d}.fits[.gz]``.
    rows : callable or sequence of int
        Frame rows (0-based) to read, or a function of the plug map (the HDU5 table,
        strings stripped, 500 rows) returning them.
    npix : int, optional
        Columns to keep; default :func:`sdssflow.io.boss.frame_npix` of the camera.
    sky : bool
        Read the sky HDU (HDU6; its shape is checked either way). False: ``sky`` is None
        (boss_visits never uses it: one image of six less to read).

    Returns
    -------
    BossFrame
        ``flux``, ``ivar``, ``mask``, ``loglam``, ``disp`` and ``sky`` of the rows, shape
        (nrow, npix), equal to those rows of :func:`read_spcframe`'s arrays (``sky`` None
        when not read); ``plugmap``
        the rows' plug-map entries; ``rows`` the frame rows; ``x`` and ``superflat`` None
        (not read).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not FITS, has fewer than 8 HDUs, an image has another shape than
        HDU0 or fewer columns than ``npix``, or a row is out of range; the message names the
        file (an unreadable HDU: :class:`sdssflow.io.readable.UnreadableFile`).
    """
    path = Path(path)
    # HDUs 0-6 are read and 8 must exist: a .gz is inflated no further than HDU7
    with _open_checked(path, 8, "spCFrame", only_needed=True) as fobj:
        header = _as_header(fobj[0].read_header())
        camera, expid = _camera_expid(path, header)
        plug = _plugmap_table(_read_table(fobj, 5, path))
        keep = np.asarray(rows(plug) if callable(rows) else rows, dtype=np.int64).ravel()
        shape = tuple(fobj[0].get_dims())
        if len(shape) != 2 or shape[0] != len(plug):
            raise ValueError(f"{path}: HDU0 has shape {shape}, the plug map (HDU5) {len(plug)} rows")
        if keep.size and (keep.min() < 0 or keep.max() >= shape[0]):
            raise ValueError(f"{path}: rows outside 0..{shape[0] - 1} requested")
        ncol = frame_npix(camera) if npix is None else int(npix)
        if ncol > shape[1]:
            raise ValueError(f"{path}: has {shape[1]} columns, fewer than the {ncol} requested")
        arrays = {}
        for name, (ext, dtype) in SPCFRAME_IMAGES.items():
            if tuple(fobj[ext].get_dims()) != shape:
                raise ValueError(f"{path}: HDU{ext} has shape {tuple(fobj[ext].get_dims())}, expected {shape}")
            if name == "sky" and not sky:
                arrays[name] = None
                continue
            out = np.empty((keep.size, ncol), dtype)
            for first, stop, at in consecutive_runs(keep):
                out[at : at + stop - first] = fobj[ext][first:stop, 0:ncol]
            arrays[name] = out
    return BossFrame(
        arrays["flux"],
        arrays["ivar"],
        arrays["mask"],
        arrays["loglam"],
        arrays["disp"],
        plug[keep],
        arrays["sky"],
        None,
        None,
        header,
        camera,
        expid,
        path,
        keep,
    )
