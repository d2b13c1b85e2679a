"""SDSS-V FPS configuration summaries: ``confSummary-<CONFIGID>.par`` (yanny) files.

A confSummary file (``$SDSSCORE_DIR/{obs}/summary_files/{CCCC}XX/confSummary-{configid}.par``,
sdss-access ``confSummary``) is a yanny parameter file: ``key value`` header lines
(configuration_id, design_id, field_id, observatory, MJD, raCen, decCen, ...), a
``typedef struct {...} FIBERMAP;`` declaration and one ``FIBERMAP ...`` line per robot fibre.
Its columns are almanac's FPSTarget fields (seed 004) under their confSummary names
(positionerId, holeId, fiberType, assigned, on_target, valid, decollided, racat, deccat,
alt_observed, az_observed, xwok, ywok, zwok, xFocal, yFocal, alpha, beta, lambda_design,
lambda_eff, coord_epoch, spectrographId, fiberId, delta_ra, delta_dec, too, too_id,
too_program, sdss_id, catalogid, tmass_id, category, cadence, firstcarton, program, mag[5]).

The yanny subset read and written here: scalar ``short``, ``int``, ``long``, ``float``,
``double`` and ``char[N]`` members and fixed-size numeric arrays (``float mag[5];`` written
``{ a b c d e }``); strings are double-quoted when they hold blanks or are empty. The reader
also takes ``typedef enum`` types (DR19: ``FIBERTYPE fiberType;`` of BOSS, APOGEE, METROLOGY,
NONE), read as strings.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = [
    "FIBERMAP_COLUMNS",
    "ALMANAC_NAMES",
    "read_yanny",
    "write_yanny",
    "read_confsummary",
    "write_confsummary",
    "read_spfibermap",
    "fps_targets",
    "target_cartons",
]

#: FIBERMAP members written by :func:`write_confsummary` (name, yanny type), in order.
FIBERMAP_COLUMNS = (
    ("positionerId", "int"),
    ("holeId", "char[16]"),
    ("fiberType", "char[10]"),
    ("assigned", "int"),
    ("on_target", "int"),
    ("valid", "int"),
    ("decollided", "int"),
    ("disabled", "int"),
    ("too", "int"),
    ("too_id", "long"),
    ("too_program", "char[20]"),
    ("xwok", "double"),
    ("ywok", "double"),
    ("zwok", "double"),
    ("xFocal", "double"),
    ("yFocal", "double"),
    ("alpha", "float"),
    ("beta", "float"),
    ("racat", "double"),
    ("deccat", "double"),
    ("ra", "double"),
    ("dec", "double"),
    ("alt_observed", "double"),
    ("az_observed", "double"),
    ("lambda_design", "float"),
    ("lambda_eff", "float"),
    ("coord_epoch", "double"),
    ("spectrographId", "int"),
    ("fiberId", "int"),
    ("delta_ra", "double"),
    ("delta_dec", "double"),
    ("mag", "float[5]"),
    ("sdss_id", "long"),
    ("catalogid", "long"),
    ("tmass_id", "char[20]"),
    ("category", "char[20]"),
    ("cadence", "char[30]"),
    ("firstcarton", "char[60]"),
    ("program", "char[30]"),
)

#: confSummary member -> almanac FPSTarget field (where the names differ; seed 004 aliases).
ALMANAC_NAMES = {
    "positionerId": "positioner_id",
    "holeId": "hole_id",
    "fiberType": "fiber_type",
    "racat": "ra",
    "deccat": "dec",
    "ra": "ra_observed",
    "dec": "dec_observed",
    "alt_observed": "alt",
    "az_observed": "az",
    "xwok": "x_wok",
    "ywok": "y_wok",
    "zwok": "z_wok",
    "xFocal": "x_focal",
    "yFocal": "y_focal",
    "spectrographId": "spectrograph_id",
    "fiberId": "fiber_id",
    "tmass_id": "twomass_designation",
}

_TYPEDEF = re.compile(r"typedef\s+struct\s*\{(.*?)\}\s*(\w+)\s*;", re.S)
#: yanny enumerations (the DR19 confSummary declares ``typedef enum {BOSS, APOGEE, ...} FIBERTYPE;``).
_ENUM = re.compile(r"typedef\s+enum\s*\{(.*?)\}\s*(\w+)\s*;", re.S)
_MEMBER = re.compile(r"^\s*(\w+)\s+(\w+)\s*(\[\s*(\d+)\s*\])?\s*;\s*$")
_NUMPY = {"int": np.int32, "short": np.int16, "long": np.int64, "float": np.float32, "double": np.float64}


def _tokens(line: str) -> list[str]:
    """yanny tokens: quoted strings, ``{ ... }`` arrays kept as one token."""
    line = line.replace("{", " { ").replace("}", " } ")
    out, array = [], None
    for tok in shlex.split(line, posix=True):
        if tok == "{":
            array = []
        elif tok == "}":
            out.append(array)
            array = None
        elif array is not None:
            array.append(tok)
        else:
            out.append(tok)
    return out


def read_yanny(path: str | os.PathLike) -> tuple[dict[str, str], dict[str, dict[str, np.ndarray]]]:
    """Read a yanny ``.par`` file.

    Returns
    -------
    header : dict of str -> str
        ``key value`` lines (values as written, quotes removed).
    tables : dict of str -> dict of str -> numpy.ndarray
        One entry per ``typedef struct``: member -> array (rows,) or (rows, n); a member of a
        ``typedef enum`` type is a str array of the enumerator names.

    Raises
    ------
    ValueError
        A row has the wrong number of values or a member type is not supported (the
        message names the file and line).
    """
    path = Path(path)
    text = path.read_text()
    enums = {name: {v.strip() for v in body.split(",") if v.strip()} for body, name in _ENUM.findall(text)}
    text = _ENUM.sub("", text)
    structs = {}
    for body, name in _TYPEDEF.findall(text):
        members = []
        for decl in body.split(";"):
            decl = decl.strip()
            if not decl:
                continue
            m = _MEMBER.match(decl + ";")
            if not m:
                raise ValueError(f"{path}: cannot parse member {decl!r} of {name}")
            members.append((m.group(2), m.group(1), int(m.group(4)) if m.group(4) else 0))
        structs[name.upper()] = (name, members)
    text_wo = _TYPEDEF.sub("", text)
    header: dict[str, str] = {}
    rows: dict[str, list] = {key: [] for key in structs}
    for number, raw in enumerate(text_wo.splitlines(), 1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        toks = _tokens(line)
        key = str(toks[0]).upper()
        if key in structs:
            name, members = structs[key]
            if len(toks) - 1 != len(members):
                raise ValueError(f"{path}:{number}: {len(toks) - 1} values for {len(members)} members of {name}")
            rows[key].append(toks[1:])
        else:
            header[str(toks[0])] = " ".join(str(t) for t in toks[1:]) if len(toks) > 1 else ""
    tables = {}
    for key, (name, members) in structs.items():
        cols = {}
        for j, (member, ctype, size) in enumerate(members):
            values = [r[j] for r in rows[key]]
            if ctype == "char":
                cols[member] = np.array([str(v) for v in values], dtype=str)
            elif ctype in enums:
                unknown = sorted({str(v) for v in values} - enums[ctype])
                if unknown:
                    raise ValueError(f"{path}: {name}.{member} values {unknown} are not in enum {ctype}")
                cols[member] = np.array([str(v) for v in values], dtype=str)
            elif ctype in _NUMPY:
                dtype = _NUMPY[ctype]
                if size and ctype != "char":
                    cols[member] = np.array([[float(x) for x in v] for v in values], dtype=dtype).reshape(len(values), size)
                else:
                    cols[member] = np.array([float(v) if dtype in (np.float32, np.float64) else int(v) for v in values], dtype=dtype)
            else:
                raise ValueError(f"{path}: member type {ctype!r} of {name}.{member} is not supported")
        tables[name] = cols
    return header, tables


def _format(value, ctype: str) -> str:
    if ctype.startswith("char"):
        text = str(value)
        return f'"{text}"' if (not text or re.search(r"\s|[{}#\"]", text)) else text
    if isinstance(value, (list, tuple, np.ndarray)):
        return "{ " + " ".join(_format(v, ctype.split("[")[0]) for v in np.ravel(value)) + " }"
    if ctype in ("float", "double"):
        return repr(float(value))
    return str(int(value))


def write_yanny(
    path: str | os.PathLike,
    header: Mapping[str, object],
    name: str,
    members: tuple[tuple[str, str], ...],
    rows: Mapping[str, np.ndarray],
) -> Path:
    """Write a yanny file with one struct.

    Parameters
    ----------
    path : str or os.PathLike
    header : mapping
        ``key value`` lines.
    name : str
        Struct name (e.g. ``FIBERMAP``).
    members : tuple of (member, type)
        ``int``, ``long``, ``float``, ``double``, ``char[N]`` or ``float[N]`` (array).
    rows : mapping of member -> array
        Every member, all the same length.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(next(iter(rows.values()))) if rows else 0
    lines = [f"# {name} of {path.name} (written by sdssflow)"]
    lines += [f"{k} {_format(v, 'char' if isinstance(v, str) else 'double' if isinstance(v, float) else 'int')}" for k, v in header.items()]
    lines.append("")
    lines.append("typedef struct {")
    for member, ctype in members:
        base, _, size = ctype.partition("[")
        lines.append(f"  {base} {member}{'[' + size if size else ''};")
    lines.append(f"}} {name};")
    lines.append("")
    for i in range(n):
        values = [_format(np.asarray(rows[m])[i], t) for m, t in members]
        lines.append(f"{name} " + " ".join(values))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_confsummary(path: str | os.PathLike, header: Mapping[str, object], fibermap: Mapping[str, np.ndarray]) -> Path:
    """Write a confSummary file: header keys and the FIBERMAP rows (:data:`FIBERMAP_COLUMNS`)."""
    missing = [m for m, _ in FIBERMAP_COLUMNS if m not in fibermap]
    if missing:
        raise ValueError(f"{path}: FIBERMAP lacks {missing}")
    return write_yanny(path, header, "FIBERMAP", FIBERMAP_COLUMNS, fibermap)


def read_confsummary(path: str | os.PathLike) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Header and FIBERMAP table (member -> array) of a confSummary file.

    Raises
    ------
    ValueError
        If the file has no FIBERMAP struct (message names the file).
    """
    header, tables = read_yanny(path)
    table = next((t for k, t in tables.items() if k.upper() == "FIBERMAP"), None)
    if table is None:
        raise ValueError(f"{path}: no FIBERMAP struct (not a confSummary file)")
    return header, table


def read_spfibermap(path: str | os.PathLike) -> dict[int, dict[str, np.ndarray]]:
    """FIBERMAP tables of an spfibermap file, per configuration id.

    Every table HDU whose EXTNAME is ``confSummary[F]-<CONFIGID>.par`` is read; column
    names are the confSummary members in upper case.

    Raises
    ------
    ValueError
        If the file holds no confSummary table (message names the file).
    """
    from astropy.io import fits

    out = {}
    with fits.open(path, memmap=False) as hdul:
        for hdu in hdul[1:]:
            m = re.match(r"^confSummaryF?-(\d+)\.par$", hdu.name, re.I)
            if m and hdu.data is not None:
                out[int(m.group(1))] = {c.upper(): np.asarray(hdu.data[c]) for c in hdu.columns.names}
    if not out:
        raise ValueError(f"{path}: no confSummary-<CONFIGID>.par table (not an spfibermap file)")
    return out


def fps_targets(fibermap: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """almanac FPSTarget columns (seed 004 names) of a FIBERMAP table (any name case)."""
    upper = {k.upper(): v for k, v in fibermap.items()}
    out = {}
    for member, _ in FIBERMAP_COLUMNS:
        if member.upper() in upper and np.ndim(upper[member.upper()]) == 1:  # mag[5] is not FPSTarget
            out[ALMANAC_NAMES.get(member, member)] = upper[member.upper()]
    return out


def target_cartons(plate_dir: str | os.PathLike, mjd: int) -> dict[int, str]:
    """FIRSTCARTON of every target (sdss_id > 0) in the spfibermap files of a field-MJD.

    Reads ``spfibermap-<FIELD>-<MJD>.fits[.gz]`` in ``plate_dir`` (the v6 field directory);
    a target in several configurations keeps its first non-empty carton.

    Parameters
    ----------
    plate_dir : path-like
        The field directory (``$BOSS_SPECTRO_REDUX/<run2d>/fields/<FFF>XXX/<FIELD6>``).
    mjd : int
        MJD of the visit.

    Returns
    -------
    dict of int -> str
        sdss_id -> carton name; empty when there is no spfibermap (plate-era directories).
    """
    out: dict[int, str] = {}
    for path in sorted(Path(plate_dir).glob(f"spfibermap-*-{int(mjd):05d}.fits*")):
        for table in read_spfibermap(path).values():
            ids = np.asarray(table.get("SDSS_ID", []), dtype=np.int64)
            names = np.char.strip(np.asarray(table.get("FIRSTCARTON", [""] * ids.size)).astype(str))
            for sdss_id, name in zip(ids, names):
                if sdss_id > 0 and name and not out.get(int(sdss_id)):
                    out[int(sdss_id)] = str(name)
    return out
