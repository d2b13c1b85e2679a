"""Step ``sky_spectra``: every good mean sky spectrum of the survey on one grid, per arcsec2.

Usage::

    python -m sdssflow.sky.steps.sky_spectra --mean results/v1/sky/*/mean-*.fits \\
        --good results/v1/sky/mean_sky_meta_good.fits [--max-gb 3] \\
        --out-dir results/v1/sky/sky_spectra

One row per (plate, MJD, exposure, spectrograph): the good mean spectra of its b and r cameras
(rows of ``mean_sky_meta_good.fits``) merged on the common vacuum log-lambda grid by inverse-
variance weighting (the arms overlap near the dichroic, 5650-6350 A), then divided by the
fibre area of the era (:func:`sdssflow.sky.magnitudes.fiber_area`: pi arcsec2 for 2" BOSS fibres,
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
from astropy.time import Time

from sdssflow.io.sky import read_product, read_table, write_product
from sdssflow.sky.mega import stack_tables
from sdssflow.sky.sky_spectra_grid import SB_IVAR_UNIT, SB_UNIT, bytes_per_spectrum, merge_arms
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main"]

log = logging.getLogger(__name__)

def parse(argv=None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--mean", nargs="+", required=True, help="mean-{plate}.fits of every sky plate")
    p.add_argument("--good", required=True, help="mean_sky_meta_good.fits (the good mean spectra)")
    p.add_argument("--max-gb", type=float, default=3.0, help="split by year above this size, GB")
    p.add_argument("--out-dir", required=True, help="output directory")
    return p.parse_args(argv)


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
