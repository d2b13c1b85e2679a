"""Step ``bosz_library``: pack a downloaded BOSZ 2024 subgrid into one HDF5 library.

``python -m sdssflow.fluxcal.steps.bosz_library --manifest resources/bosz2024/manifest.csv
--output results/v1/bosz/bosz_library.h5 --status results/v1/bosz/bosz_library_status.csv
[--wave-min 3000] [--wave-max 11000] [--no-air-to-vacuum] [--threads 4]``

Reads every model the manifest lists as present (``ok`` or ``skipped``), checks each
file's row count against the wavelength grid and its sha256 against the manifest
(kspecdr weak points W13/W14), converts the air wavelengths to vacuum (W3), trims to
the range, and writes ``flux`` and ``continuum`` ((ntemplate, nwave) float32,
erg/s/cm2/A), ``wave`` (vacuum A) and the ``params`` table (teff, logg, feh, alpha,
carbon, vmicro, atmos, name); see :func:`sdssflow.io.bosz_library.write_library`.

One bad file never stops the library (issue 10): models the download did not get
(``not_found``, ``error``) and present models that fail a check here (sha256, rows,
unreadable) are left out, and each is one row of the status CSV (:data:`STATUS_COLUMNS`:
step that left it out, status, relpath, local path, URL, one-line reason), which the
survey-wide problem table reads; the HDF5 root attribute ``NLEFTOUT`` counts them. The
step fails only when nothing usable is left: no wavelength grid, no model, models of
several resolutions, or nothing in the wavelength range.
"""

from __future__ import annotations

import csv
import logging
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from sdssflow import __version__
from sdssflow.fluxcal.download import PRESENT, DownloadResult, read_manifest, sha256_of
from sdssflow.io.bosz import air_to_vacuum, parse_bosz_name, read_resampled, read_wave_grid
from sdssflow.io.bosz_library import TemplateLibrary, write_library
from sdssflow.io.products import atomic_path
from sdssflow.steps import StepError, base_parser, run_step

log = logging.getLogger(__name__)

#: Columns of the status CSV: one row per model left out of the library.
STATUS_COLUMNS = ("step", "status", "relpath", "path", "url", "reason")

#: What reading one model may raise when its file is bad (gzip, text, disk).
_BAD_FILE = (ValueError, OSError, EOFError, zlib.error, UnicodeDecodeError)


def parse(argv=None):
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, help="manifest.csv written by bosz_download")
    parser.add_argument("--output", required=True, help="HDF5 library to write")
    parser.add_argument(
        "--status", help="status CSV of the left-out models (default: <output stem>_status.csv)"
    )
    parser.add_argument(
        "--wave-min", type=float, default=3000.0, help="trim: shortest wavelength, A (vacuum)"
    )
    parser.add_argument(
        "--wave-max", type=float, default=11000.0, help="trim: longest wavelength, A (vacuum)"
    )
    parser.add_argument(
        "--no-air-to-vacuum",
        dest="air_to_vacuum",
        action="store_false",
        help="treat the grid as vacuum (only for mirrors written in vacuum)",
    )
    parser.add_argument("--threads", type=int, default=4, help="files parsed in parallel")
    parser.add_argument(
        "--no-verify", dest="verify", action="store_false", help="skip the sha256 check"
    )
    return parser.parse_args(argv)


def left_out_row(row: DownloadResult, root: Path, step: str, status: str, reason: str) -> dict:
    """One row of the status CSV (:data:`STATUS_COLUMNS`) for a model not in the library.

    Parameters
    ----------
    row : DownloadResult
        The model's manifest row.
    root : pathlib.Path
        Folder of the manifest (the relpaths are below it).
    step : str
        ``bosz_download`` (not had) or ``bosz_library`` (refused here).
    status : str
        ``not_found`` or ``error`` (download), ``rejected`` (library).
    reason : str
        Why; put on one line.
    """
    return {
        "step": step,
        "status": status,
        "relpath": row.relpath,
        "path": str(root / row.relpath),
        "url": row.url,
        "reason": " ".join(str(reason).split()) or status,
    }


def write_status(rows: list[dict], path: str | Path) -> Path:
    """Write the status CSV (header :data:`STATUS_COLUMNS`, zero rows allowed) atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=STATUS_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    return Path(path)


def read_status(path: str | Path) -> pd.DataFrame:
    """Read a status CSV written by :func:`write_status` (all columns as strings)."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in STATUS_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: not a bosz_library status table (missing columns {missing})")
    return table


def main(argv=None):
    args = parse(argv)
    manifest = Path(args.manifest)
    root = manifest.parent
    status_path = Path(args.status) if args.status else Path(args.output).with_name(
        Path(args.output).stem + "_status.csv"
    )
    rows = read_manifest(manifest)
    grids = [r for r in rows if r.relpath.startswith("wavelength_grids/") and r.status in PRESENT]
    candidates = [r for r in rows if r.relpath.endswith("_resam.txt.gz")]
    left_out = [
        left_out_row(r, root, "bosz_download", r.status, r.message)
        for r in candidates
        if r.status not in PRESENT
    ]
    models = [r for r in candidates if r.status in PRESENT]
    if len(grids) != 1 or not models:
        raise StepError(
            f"{manifest}: need one wavelength grid and at least one model, got {len(grids)} and {len(models)}"
        )
    wave_native = read_wave_grid(root / grids[0].relpath)
    wave = air_to_vacuum(wave_native) if args.air_to_vacuum else wave_native
    keep = (wave >= args.wave_min) & (wave <= args.wave_max)
    if not keep.any():
        raise StepError(f"{root / grids[0].relpath}: nothing in {args.wave_min}-{args.wave_max} A")

    def load(row):
        """(flux, continuum, None) of one model, or (None, None, reason) if its file is bad."""
        path = root / row.relpath
        try:
            if args.verify and row.sha256 and sha256_of(path) != row.sha256:
                raise ValueError(f"{path}: sha256 differs from {manifest}; download it again")
            flux, cont = read_resampled(path, nrows=wave_native.size)
        except _BAD_FILE as err:
            return None, None, f"{type(err).__name__}: {err}"
        return flux[keep].astype(np.float32), cont[keep].astype(np.float32), None

    with ThreadPoolExecutor(max_workers=max(1, args.threads)) as pool:
        loaded = list(pool.map(load, models))
    for row, (_, _, reason) in zip(models, loaded):
        if reason is not None:
            log.warning("left out %s: %s", root / row.relpath, reason)
            left_out.append(left_out_row(row, root, "bosz_library", "rejected", reason))
    arrays = [(f, c) for f, c, reason in loaded if reason is None]
    models = [r for r, (_, _, reason) in zip(models, loaded) if reason is None]
    if not models:
        first = "; ".join(f"{r['path']}: {r['reason']}" for r in left_out[:3])
        raise StepError(f"{manifest}: no model could be read (first: {first})")
    meta = [parse_bosz_name(r.relpath) for r in models]
    resolutions = {m.resolution for m in meta}
    if len(resolutions) != 1:
        raise StepError(f"{manifest}: models of several resolutions {sorted(resolutions)}")
    params = pd.DataFrame(
        {
            "teff": [m.teff for m in meta],
            "logg": [m.logg for m in meta],
            "feh": [m.feh for m in meta],
            "alpha": [m.alpha for m in meta],
            "carbon": [m.carbon for m in meta],
            "vmicro": [m.vmicro for m in meta],
            "atmos": [m.atmos for m in meta],
            "name": [m.filename for m in meta],
        }
    )
    library = TemplateLibrary(
        wave=wave[keep],
        flux=np.stack([a[0] for a in arrays]),
        continuum=np.stack([a[1] for a in arrays]),
        params=params,
        resolution=resolutions.pop(),
    )
    write_status(left_out, status_path)
    write_library(
        library,
        args.output,
        attrs={
            "SDSSFLOW": __version__,
            "VERSION": args.version_name,
            "STEP": "bosz_library",
            "manifest": str(manifest),
            "air_to_vacuum": bool(args.air_to_vacuum),
            "wave_grid_sha256": grids[0].sha256,
            "NLEFTOUT": len(left_out),
            "status_table": str(status_path),
        },
    )
    log.info(
        "wrote %s: %d templates x %d pixels; %d models left out (listed in %s)",
        args.output,
        library.ntemplate,
        library.wave.size,
        len(left_out),
        status_path,
    )
    return library


if __name__ == "__main__":
    sys.exit(run_step(main))
