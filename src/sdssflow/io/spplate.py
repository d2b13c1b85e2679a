"""spPlate/spField exposure lists and the frame files of one plate directory."""

from __future__ import annotations

import os
import re
from pathlib import Path

from astropy.io import fits
from astropy.table import Table

from sdssflow.io.boss_hdus import _FRAME_RE
from sdssflow.io.readable import readable

__all__ = ["read_spplate_exposures", "find_plate_files", "plate_dir_number"]

#: spPlate (plate era) or spField (SDSS-V, same layout) of one plate/field-MJD.
_PLATE_RE = re.compile(r"sp(?:Plate|Field)-(\d{4,6})-(\d{5})\.fits(\.gz)?$")

_EXPID_RE = re.compile(r"^([br][12])-(\d{8})-(\d{8})-(\d{8})$")

#: A plate or field directory: <PLATE4> (plate era), <FIELD6> (DR19, run2d v6_1 on) or
#: <FIELDID>p (DR18 and every run2d v6_0_x: sdss-access's ``@isplate`` appends the 'p').
_PLATE_DIR_RE = re.compile(r"^(\d+)p?$")


def plate_dir_number(name: str | os.PathLike) -> int | None:
    """Plate (or FPS field) number of a plate directory's name; None when it is not one.

    Examples
    --------
    >>> plate_dir_number("0266"), plate_dir_number("112360"), plate_dir_number("15000p")
    (266, 112360, 15000)
    >>> plate_dir_number("spectra") is None
    True
    """
    match = _PLATE_DIR_RE.match(Path(name).name)
    return int(match.group(1)) if match else None


@readable
def read_spplate_exposures(path: str | os.PathLike) -> Table:
    """The exposures of an spPlate, from its ``EXPIDnn`` / ``EXPIDnnn`` keywords.

    Parameters
    ----------
    path : str or os.PathLike
        ``spPlate-PPPP-MMMMM.fits``.

    Returns
    -------
    astropy.table.Table
        One row per keyword, in keyword order: ``keyword`` (str), ``camera`` (str),
        ``expid``, ``flat``, ``arc`` (int). ``meta`` holds ``PLATEID``, ``MJD``, ``NEXP``
        and the full primary header under ``"header"``.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, no EXPID keywords, or a value not of the form
        ``cc-eeeeeeee-ffffffff-aaaaaaaa`` (the message names the file and keyword).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: spPlate file not found")
    try:
        header = fits.getheader(path, 0)
    except OSError as err:
        raise ValueError(f"{path}: cannot read the spPlate header: {err}") from err
    rows = []
    for key, value in header.items():
        if re.fullmatch(r"EXPID\d{2,3}", key):
            match = _EXPID_RE.match(str(value).strip())
            if not match:
                raise ValueError(
                    f"{path}: {key} = {value!r} is not 'cc-eeeeeeee-ffffffff-aaaaaaaa'"
                )
            cam, e, f, a = match.groups()
            rows.append((key, cam, int(e), int(f), int(a)))
    if not rows:
        raise ValueError(f"{path}: no EXPIDnn keywords in the spPlate header")
    table = Table(rows=rows, names=("keyword", "camera", "expid", "flat", "arc"))
    table.meta.update(
        {
            "PLATEID": header.get("PLATEID"),
            "MJD": header.get("MJD"),
            "NEXP": header.get("NEXP"),
            "header": header,
        }
    )
    return table


def find_plate_files(plate_dir: str | os.PathLike) -> dict:
    """Index the BOSS files of a plate directory.

    Parameters
    ----------
    plate_dir : str or os.PathLike
        ``$BOSS_SPECTRO_REDUX/<run2d>/<PLATE4>``.

    Returns
    -------
    dict
        ``{"spPlate": {mjd: path}, "spFrame": {(camera, expid): path},
        "spCFrame": {...}, "spFluxcalib": {...}}``; ``.fits`` is preferred over
        ``.fits.gz`` when both exist. Hidden (temporary) files are ignored.

    Raises
    ------
    FileNotFoundError
        If ``plate_dir`` is not a directory.
    """
    plate_dir = Path(plate_dir)
    if not plate_dir.is_dir():
        raise FileNotFoundError(f"{plate_dir}: plate directory not found")
    out: dict = {"spPlate": {}, "spFrame": {}, "spCFrame": {}, "spFluxcalib": {}}
    for p in sorted(
        plate_dir.iterdir(), key=lambda q: (q.name.endswith(".gz"), q.name), reverse=True
    ):
        if p.name.startswith("."):
            continue
        m = _FRAME_RE.match(p.name)
        if m:
            kind = "sp" + m.group(1)
            out[kind][(m.group(2), int(m.group(3)))] = p
            continue
        m = _PLATE_RE.match(p.name)
        if m:
            out["spPlate"][int(m.group(2))] = p
    return {k: dict(sorted(v.items())) for k, v in out.items()}
