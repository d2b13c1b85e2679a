"""Compare two product trees by content: the same science, whatever the run.

Two runs of the workflow on the same inputs (local and Slurm, interrupted and resumed)
must give the same products. They differ only in when they were written: the ``DATE``
card, the FITS ``CHECKSUM``/``DATASUM`` cards (whose comments carry a time) and file
modification times. :func:`compare_trees` compares everything else: the set of files,
FITS header values and HDU data, HDF5 datasets and attributes, and the bytes of any other
file (CSV, text, PNG; PNG falls back to decoded pixels).

Also :func:`check_complete`: every product file that exists is whole (a FITS file whose
checksums verify, an HDF5 file that opens, a CSV that parses, a PNG that ends), and temporary files of
:func:`sdssflow.io.products.atomic_path` are hidden (leading dot), so they never look
finished.

Usage::

    python -m sdssflow.qc.compare results_a results_b   # exit 1 and a list on differences
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "IGNORED_FITS_KEYS",
    "product_files",
    "compare_fits",
    "compare_hdf5",
    "compare_files",
    "compare_trees",
    "check_complete",
    "main",
]

#: Header cards that record when a file was written, not what it holds (``CREATED``: the
#: astra-style write time of mwm files).
IGNORED_FITS_KEYS = frozenset({"DATE", "CHECKSUM", "DATASUM", "CREATED"})
#: Table columns that time the run, not the science (astra's ``t_elapsed``), any case.
IGNORED_COLUMNS = frozenset({"t_elapsed"})
#: HDF5 attributes that record when a file was written.
IGNORED_HDF5_ATTRS = frozenset({"DATE", "date", "created"})
_FITS_SUFFIXES = (".fits", ".fits.gz", ".fit", ".fts")
_HDF5_SUFFIXES = (".h5", ".hdf5")


def _is_hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def product_files(root: str | Path) -> list[Path]:
    """Paths (relative to ``root``) of every visible file below ``root``, sorted.

    Hidden files and directories (names starting with ``.``: the temporary files of
    atomic writes) are left out.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a directory")
    return sorted(
        p.relative_to(root) for p in root.rglob("*") if p.is_file() and not _is_hidden(p.relative_to(root))
    )


def _unalias(value, aliases: Sequence[tuple[str, str]]):
    """``value`` (str, bytes or array of them) with each alias ``old`` replaced by ``new``."""
    if not aliases:
        return value
    if isinstance(value, str):
        for old, new in aliases:
            value = value.replace(old, new)
        return value
    if isinstance(value, bytes):
        return _unalias(value.decode("utf-8", "replace"), aliases).encode()
    arr = np.asarray(value)
    if arr.dtype.kind in "SU":
        return np.array([_unalias(v, aliases) for v in arr.ravel().tolist()], dtype=object).reshape(arr.shape)
    return value


def _values_equal(a, b, rtol: float) -> bool:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.names or b.dtype.names:
        if a.dtype.names != b.dtype.names:
            return False
        return all(_values_equal(a[n], b[n], rtol) for n in a.dtype.names)
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        if rtol == 0:
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.allclose(a, b, rtol=rtol, atol=0, equal_nan=True))
    return bool(np.array_equal(a, b))


def compare_fits(
    a: str | Path,
    b: str | Path,
    rtol: float = 0.0,
    ignore_keys: Iterable[str] = (),
    aliases: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """Differences between two FITS files, ignoring write times and checksums.

    Parameters
    ----------
    a, b : path
        The two files.
    rtol : float
        Relative tolerance on floating-point data (0: bit-identical, NaN equals NaN).
    ignore_keys : iterable of str
        Header keys ignored besides :data:`IGNORED_FITS_KEYS`; columns named in
        :data:`IGNORED_COLUMNS` are not compared either.
    aliases : sequence of (str, str)
        Substrings of ``b``'s text replaced before comparing (e.g. its run directory by
        ``a``'s), in header values and text columns.

    Returns
    -------
    list of str
        One line per difference (HDU index, key or column); empty when equal.
    """
    from astropy.io import fits

    ignored = IGNORED_FITS_KEYS | set(ignore_keys)
    out: list[str] = []
    with fits.open(a, memmap=False) as ha, fits.open(b, memmap=False) as hb:
        if len(ha) != len(hb):
            return [f"{len(ha)} HDUs vs {len(hb)}"]
        for i, (x, y) in enumerate(zip(ha, hb)):
            ka = [k for k in x.header if k not in ignored]
            kb = [k for k in y.header if k not in ignored]
            if ka != kb:
                out.append(f"HDU {i}: header keys differ: {sorted(set(ka) ^ set(kb)) or 'order'}")
            for key in set(ka) & set(kb):
                if key in ("COMMENT", "HISTORY"):
                    va, vb = str(x.header[key]), str(y.header[key])
                else:
                    va, vb = x.header[key], y.header[key]
                vb = _unalias(vb, aliases) if isinstance(vb, str) else vb
                if va != vb and not (isinstance(va, float) and isinstance(vb, float) and np.isnan(va) and np.isnan(vb)):
                    out.append(f"HDU {i}: {key} = {va!r} vs {vb!r}")
            da, db = x.data, y.data
            if da is None or db is None:
                if (da is None) != (db is None):
                    out.append(f"HDU {i}: data present in only one file")
                continue
            if isinstance(x, fits.BinTableHDU | fits.TableHDU):
                if list(da.columns.names) != list(db.columns.names):
                    out.append(f"HDU {i}: columns {da.columns.names} vs {db.columns.names}")
                    continue
                for name in da.columns.names:
                    if name.lower() in IGNORED_COLUMNS:
                        continue
                    if not _values_equal(da[name], _unalias(db[name], aliases), rtol):
                        out.append(f"HDU {i}: column {name} differs")
            elif not _values_equal(da, db, rtol):
                out.append(f"HDU {i}: data differ")
    return out


def compare_hdf5(a: str | Path, b: str | Path, rtol: float = 0.0) -> list[str]:
    """Differences between two HDF5 files: tree, dataset values and attributes.

    Attributes named in :data:`IGNORED_HDF5_ATTRS` (write times) are ignored.
    """
    import h5py

    out: list[str] = []

    def items(f):
        found = {"/": f}
        f.visititems(lambda name, obj: found.__setitem__(name, obj))
        return found

    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        ia, ib = items(fa), items(fb)
        if set(ia) != set(ib):
            out.append(f"objects in only one file: {sorted(set(ia) ^ set(ib))[:10]}")
        for name in sorted(set(ia) & set(ib)):
            oa, ob = ia[name], ib[name]
            attrs_a = {k: oa.attrs[k] for k in oa.attrs if k not in IGNORED_HDF5_ATTRS}
            attrs_b = {k: ob.attrs[k] for k in ob.attrs if k not in IGNORED_HDF5_ATTRS}
            if set(attrs_a) != set(attrs_b) or any(
                not _values_equal(attrs_a[k], attrs_b[k], rtol) for k in attrs_a if k in attrs_b
            ):
                out.append(f"{name}: attributes differ")
            if isinstance(oa, h5py.Dataset) != isinstance(ob, h5py.Dataset):
                out.append(f"{name}: dataset in only one file")
            elif isinstance(oa, h5py.Dataset) and not _values_equal(oa[()], ob[()], rtol):
                out.append(f"{name}: values differ")
    return out


def _compare_png(a: Path, b: Path) -> list[str]:
    from matplotlib import image

    pa, pb = image.imread(a), image.imread(b)
    return [] if pa.shape == pb.shape and np.array_equal(pa, pb) else ["PNG pixels differ"]


def compare_files(
    a: str | Path, b: str | Path, rtol: float = 0.0, aliases: Sequence[tuple[str, str]] = ()
) -> list[str]:
    """Differences between two product files, by their kind (FITS, HDF5, other).

    ``aliases`` (old, new) replace substrings of ``b``'s text before comparing (FITS
    headers and text columns, and text files): paths into each run's own directory.
    """
    a, b = Path(a), Path(b)
    name = a.name.lower()
    if name.endswith(_FITS_SUFFIXES):
        return compare_fits(a, b, rtol, aliases=aliases)
    if name.endswith(_HDF5_SUFFIXES):
        return compare_hdf5(a, b, rtol)
    data_a, data_b = a.read_bytes(), b.read_bytes()
    if data_a == data_b or (aliases and not name.endswith(".png") and data_a == _unalias(data_b, aliases)):
        return []
    if name.endswith(".png"):
        return _compare_png(a, b)
    return ["contents differ"]


def compare_trees(
    a: str | Path,
    b: str | Path,
    rtol: float = 0.0,
    skip: Sequence[str] = (),
    aliases: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """Differences between two product trees (e.g. two ``results/<version>`` folders).

    Parameters
    ----------
    a, b : path
        Root directories.
    rtol : float
        Relative tolerance on floating-point data (0: identical).
    skip : sequence of str
        Glob patterns (relative paths) of files not compared, e.g. ``"*.log"``.
    aliases : sequence of (str, str)
        Substrings of ``b``'s text replaced before comparing, e.g.
        ``[("/runs/b", "/runs/a")]`` when products record paths into their run directory.

    Returns
    -------
    list of str
        ``"<relative path>: <difference>"`` lines; empty when the trees hold the same
        science.
    """
    fa = {p for p in product_files(a) if not any(p.match(s) for s in skip)}
    fb = {p for p in product_files(b) if not any(p.match(s) for s in skip)}
    out = [f"{p}: only in {a}" for p in sorted(fa - fb)] + [f"{p}: only in {b}" for p in sorted(fb - fa)]
    for rel in sorted(fa & fb):
        try:
            diffs = compare_files(Path(a) / rel, Path(b) / rel, rtol, aliases=aliases)
        except Exception as err:  # an unreadable product is a difference, named
            diffs = [f"cannot be compared: {type(err).__name__}: {err}"]
        out.extend(f"{rel}: {d}" for d in diffs)
    return out


def check_complete(root: str | Path) -> list[str]:
    """Problems of product files that look finished but are not whole.

    Every visible file below ``root`` must be complete: FITS files open, every HDU's
    ``CHECKSUM``/``DATASUM`` verifies when present and the data read; HDF5 files open and
    every dataset reads; CSV files parse; PNG files end with their IEND chunk. Hidden files (temporary files of atomic writes)
    are not products and are not checked.

    Returns
    -------
    list of str
        ``"<relative path>: <problem>"``; empty when every visible file is whole.
    """
    root = Path(root)
    problems: list[str] = []
    for rel in product_files(root):
        path = root / rel
        name = path.name.lower()
        try:
            if name.endswith(_FITS_SUFFIXES):
                from astropy.io import fits

                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # checksum failures are warnings in astropy
                    with fits.open(path, checksum=True, memmap=False) as hdus:
                        for hdu in hdus:
                            _ = hdu.data
            elif name.endswith(_HDF5_SUFFIXES):
                import h5py

                with h5py.File(path, "r") as f:
                    f.visititems(lambda _n, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
            elif name.endswith(".png"):
                data = path.read_bytes()
                if not (data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")):
                    problems.append(f"{rel}: truncated or not a PNG (no IEND chunk)")
            elif name.endswith(".csv"):
                import pandas as pd

                pd.read_csv(path, comment="#")
            elif path.stat().st_size == 0 and not name.endswith((".log", ".tsv")):
                problems.append(f"{rel}: empty file")
        except Exception as err:
            problems.append(f"{rel}: {type(err).__name__}: {err}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sdssflow.qc.compare A B``: exit 0 if the trees hold the same products."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="first product tree")
    parser.add_argument("b", help="second product tree")
    parser.add_argument("--rtol", type=float, default=0.0, help="relative tolerance on floats (default 0)")
    parser.add_argument("--skip", action="append", default=[], help="glob of files not compared (repeatable)")
    parser.add_argument(
        "--alias", action="append", default=[], metavar="B_TEXT=A_TEXT",
        help="replace B_TEXT in the second tree's text by A_TEXT before comparing (repeatable)",
    )
    args = parser.parse_args(argv)
    aliases = [tuple(item.split("=", 1)) for item in args.alias]
    try:
        diffs = compare_trees(args.a, args.b, rtol=args.rtol, skip=args.skip, aliases=aliases)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for line in diffs:
        print(line)
    n = len(product_files(args.a))
    print(f"{n} files compared: {'identical' if not diffs else f'{len(diffs)} difference(s)'}", file=sys.stderr)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
