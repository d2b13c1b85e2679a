"""Step ``sky_spectra``: every good mean sky spectrum of the survey on one grid, per arcsec2.

Usage::

    python -m sdssflow.sky.steps.sky_spectra --mean results/v1/sky/*/mean-*.fits \\
        --good results/v1/sky/mean_sky_meta_good.fits [--max-gb 3] \\
        --out-dir results/v1/sky/sky_spectra

One row per (plate, MJD, exposure, spectrograph): the good mean spectra of its b and r cameras
(rows of ``mean_sky_meta_good.fits``) merged on the common vacuum log-lambda grid by inverse-
variance weighting (the arms overlap near the dichroic, 5650-6350 A), then divided by the
fibre area of the era (:func:`sdssflow.sky.steps.line_sum.fiber_area`: pi arcsec2 for 2" BOSS fibres,
2.25 pi for 3" SDSS-I/II ones). The file follows the layout of DESI's DR1 sky-spectra catalog
(``WAVELENGTH``, ``FLUX``, ``METADATA``), with IVAR, MASK and DISP added:

=========  ============================  ====================================================
HDU        shape, type                   content
=========  ============================  ====================================================
WAVELENGTH (ngrid,) float64              vacuum wavelength, Angstrom
FLUX       (nspec, ngrid) float32        1e-17 erg/s/cm2/A/arcsec2
IVAR       (nspec, ngrid) float32        inverse variance of FLUX (0 = no data)
MASK       (nspec, ngrid) int16          bit 0 NODATA (ivar 0), bit 1 BOTHARMS (b and r merged)
DISP       (nspec, ngrid) float32        line-spread Gaussian sigma, Angstrom
METADATA   nspec rows                    rich metadata of the exposure (see config/README.md)
=========  ============================  ====================================================

If the spectra would exceed ``--max-gb`` in one file, one file per calendar year of MJD
(``sky_spectra-YYYY.fits``) is written instead of ``sky_spectra.fits``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
from astropy.table import Table
from astropy.time import Time

from sdssflow.io.sky import read_product, read_table, write_product
from sdssflow.sky.mega import stack_tables
from sdssflow.sky.steps.line_sum import fiber_area
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main", "merge_arms", "MASK_BITS", "read_sky_spectra", "bytes_per_spectrum"]

log = logging.getLogger(__name__)

#: MASK bits of the sky_spectra product.
MASK_BITS = {"NODATA": 0, "BOTHARMS": 1}
SB_UNIT = "1e-17 erg/(s cm2 Angstrom arcsec2)"
SB_IVAR_UNIT = "1e+34 (s2 cm4 Angstrom2 arcsec4)/erg2"


def parse(argv=None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--mean", nargs="+", required=True, help="mean-{plate}.fits of every sky plate")
    p.add_argument("--good", required=True, help="mean_sky_meta_good.fits (the good mean spectra)")
    p.add_argument("--max-gb", type=float, default=3.0, help="split by year above this size, GB")
    p.add_argument("--out-dir", required=True, help="output directory")
    return p.parse_args(argv)


def bytes_per_spectrum(ngrid: int) -> int:
    """Bytes of one row of FLUX, IVAR, MASK and DISP (4 + 4 + 2 + 4 per pixel)."""
    return 14 * int(ngrid)


def merge_arms(flux, ivar, disp, meta: Table, good_keys: set) -> tuple[dict[str, np.ndarray], Table]:
    """Merge the good b and r mean spectra of each exposure and spectrograph, per arcsec2.

    Parameters
    ----------
    flux, ivar, disp : numpy.ndarray, shape (nmean, ngrid)
        Mean spectra of one plate (1e-17 erg/s/cm2/A per fibre), ivar, sigma (A).
    meta : astropy.table.Table, nmean rows
        Needs PLATE, MJD, EXPID, CAMERA.
    good_keys : set of (plate, expid, camera)
        The good mean spectra.

    Returns
    -------
    arrays : dict
        FLUX, IVAR (per arcsec2), MASK, DISP, each (nout, ngrid).
    metadata : astropy.table.Table, nout rows
        The first merged camera's metadata without CAMERA, plus SPECTROGRAPH, CAMERAS,
        FIBER_AREA (arcsec2), NFIBER_USED (sum over the arms).
    """
    need = [c for c in ("PLATE", "MJD", "EXPID", "CAMERA") if c not in meta.colnames]
    if need:
        raise ValueError(f"mean spectra META lacks column(s) {need}")
    cams = [str(c).strip().lower() for c in meta["CAMERA"]]
    keep = [i for i in range(len(meta)) if (int(meta["PLATE"][i]), int(meta["EXPID"][i]), cams[i]) in good_keys]
    groups: dict[tuple, list[int]] = {}
    for i in keep:
        groups.setdefault((int(meta["MJD"][i]), int(meta["EXPID"][i]), cams[i][1:]), []).append(i)
    ngrid = flux.shape[1]
    n = len(groups)
    out = {
        "FLUX": np.zeros((n, ngrid), np.float32),
        "IVAR": np.zeros((n, ngrid), np.float32),
        "MASK": np.zeros((n, ngrid), np.int16),
        "DISP": np.zeros((n, ngrid), np.float32),
    }
    first, sp, camlist, nused = [], [], [], []
    for j, (key, rows) in enumerate(sorted(groups.items())):
        rows = sorted(rows, key=lambda i: cams[i])  # b before r
        iv = np.asarray(ivar[rows], dtype=float)
        wsum = iv.sum(axis=0)
        pos = wsum > 0
        safe = np.where(pos, wsum, 1.0)
        area = float(fiber_area(np.array([key[0]]))[0])
        out["FLUX"][j] = np.where(pos, (iv * flux[rows]).sum(axis=0) / safe, 0.0) / area
        out["IVAR"][j] = wsum * area**2
        out["DISP"][j] = np.where(pos, (iv * disp[rows]).sum(axis=0) / safe, 0.0)
        mask = np.where(pos, 0, 1 << MASK_BITS["NODATA"])
        mask |= np.where((iv > 0).sum(axis=0) > 1, 1 << MASK_BITS["BOTHARMS"], 0)
        out["MASK"][j] = mask
        first.append(rows[0])
        sp.append(int(key[2]) if key[2].isdigit() else 0)
        camlist.append(" ".join(cams[i] for i in rows))
        nused.append(int(sum(int(meta["NFIBER_USED"][i]) for i in rows)) if "NFIBER_USED" in meta.colnames else -1)
    md = Table(meta[first], copy=True) if first else Table(meta[:0], copy=True)
    for col in ("CAMERA", "MEANID", "NFIBER_USED"):
        if col in md.colnames:
            md.remove_column(col)
    md["SPECTROGRAPH"] = np.array(sp, dtype=np.int16)
    md["CAMERAS"] = np.array(camlist, dtype="U8")
    md["FIBER_AREA"] = fiber_area(np.asarray(md["MJD"])) if len(md) else np.zeros(0)
    md["FIBER_AREA"].unit = "arcsec2"
    md["NFIBER_USED"] = np.array(nused, dtype=np.int32)
    return out, md


def read_sky_spectra(paths) -> tuple[np.ndarray, dict[str, np.ndarray], Table]:
    """Read and concatenate sky_spectra files (the year files of a split product).

    Returns
    -------
    wave : numpy.ndarray, shape (ngrid,)
    arrays : dict FLUX, IVAR, MASK, DISP -> numpy.ndarray, shape (nspec, ngrid)
    metadata : astropy.table.Table

    Raises
    ------
    ValueError
        If a file lacks an HDU or the grids differ.
    """
    wave, parts, metas = None, {k: [] for k in ("FLUX", "IVAR", "MASK", "DISP")}, []
    for path in paths:
        images, tables, _ = read_product(path)
        missing = [h for h in ("WAVELENGTH", *parts) if h not in images] + ([] if "METADATA" in tables else ["METADATA"])
        if missing:
            raise ValueError(f"{path}: not a sky_spectra file, missing HDU(s) {missing}")
        if wave is None:
            wave = images["WAVELENGTH"]
        elif not np.array_equal(wave, images["WAVELENGTH"]):
            raise ValueError(f"{path}: wavelength grid differs from {paths[0]}")
        for k in parts:
            parts[k].append(np.atleast_2d(images[k]) if images[k].size else np.zeros((0, wave.size), images[k].dtype))
        metas.append(tables["METADATA"])
    if wave is None:
        raise ValueError("no sky_spectra files given")
    return wave, {k: np.concatenate(v) for k, v in parts.items()}, stack_tables(metas)


def main(argv=None) -> int:
    args = parse(argv)
    good = read_table(args.good)
    for col in ("PLATE", "EXPID", "CAMERA"):
        if col not in good.colnames:
            raise StepError(f"{args.good}: no {col} column")
    keys = {(int(p), int(e), str(c).strip().lower()) for p, e, c in zip(good["PLATE"], good["EXPID"], good["CAMERA"])}
    wave, arrays, metas = None, {k: [] for k in ("FLUX", "IVAR", "MASK", "DISP")}, []
    for path in args.mean:
        images, tables, _ = read_product(path)
        if "META" not in tables or "FLUX" not in images:
            raise StepError(f"{path}: not a mean-spectra product")
        if wave is None:
            wave = images["WAVE"].astype(np.float64)
        elif images["WAVE"].size != wave.size or not np.allclose(images["WAVE"], wave, rtol=1e-12):
            raise StepError(f"{path}: grid differs from {args.mean[0]} (mean_dloglam changed?)")
        try:
            out, md = merge_arms(images["FLUX"], images["IVAR"], images["DISP"], tables["META"], keys)
        except ValueError as err:
            raise StepError(f"{path}: {err}") from err
        for k in arrays:
            arrays[k].append(out[k])
        metas.append(md)
    if wave is None or not sum(len(m) for m in metas):
        raise StepError(f"{args.good}: no good mean spectra in {len(args.mean)} mean file(s)")
    merged = {k: np.concatenate(v) for k, v in arrays.items()}
    meta = stack_tables(metas)
    year = np.array([int(y) for y in Time(np.asarray(meta["MJD"], float), format="mjd").to_value("decimalyear") // 1]) if len(meta) else np.zeros(0, int)
    meta["YEAR"] = year.astype(np.int16)
    size = bytes_per_spectrum(wave.size) * len(meta)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    split = size > args.max_gb * 1e9
    parts = {f"sky_spectra-{y}.fits": year == y for y in np.unique(year)} if split else {"sky_spectra.fits": np.ones(len(meta), bool)}
    for name, sel in parts.items():
        write_product(
            out_dir / name,
            {
                "WAVELENGTH": (wave, "Angstrom"),
                "FLUX": (merged["FLUX"][sel], SB_UNIT),
                "IVAR": (merged["IVAR"][sel], SB_IVAR_UNIT),
                "MASK": (merged["MASK"][sel], ""),
                "DISP": (merged["DISP"][sel], "Angstrom"),
            },
            {"METADATA": meta[sel]},
            version=args.version_name,
            inputs=[args.good, *args.mean],
            step="sky_spectra",
            header_cards={"NSPEC": (int(sel.sum()), "spectra in this file"), "SPLIT": (bool(split), "split by year")},
        )
    log.info("%d sky spectra (%d good mean spectra merged) on %d pixels, %.3f GB, %d file(s)", len(meta), len(keys), wave.size, size / 1e9, len(parts))
    return 0


if __name__ == "__main__":
    sys.exit(run_step(main))
