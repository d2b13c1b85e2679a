"""Step ``bosz_library``: pack a downloaded BOSZ 2024 subgrid into one HDF5 library.

``python -m sdssflow.fluxcal.bosz_library --manifest resources/bosz2024/manifest.csv
--output results/v1/bosz/bosz_library.h5 [--wave-min 3000] [--wave-max 11000]
[--no-air-to-vacuum] [--threads 4]``

Reads every model the manifest lists as present (``ok`` or ``skipped``), checks each
file's row count against the wavelength grid and its sha256 against the manifest
(kspecdr weak points W13/W14), converts the air wavelengths to vacuum (W3), trims to
the range, and writes ``flux`` and ``continuum`` ((ntemplate, nwave) float32,
erg/s/cm2/A), ``wave`` (vacuum A) and the ``params`` table (teff, logg, feh, alpha,
carbon, vmicro, atmos, name); see :func:`sdssflow.io.bosz.write_library`.
"""

from __future__ import annotations

import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from sdssflow import __version__
from sdssflow.fluxcal.download import read_manifest, sha256_of
from sdssflow.io.bosz import (
    TemplateLibrary,
    air_to_vacuum,
    parse_bosz_name,
    read_resampled,
    read_wave_grid,
    write_library,
)
from sdssflow.steps import StepError, base_parser, run_step

log = logging.getLogger(__name__)


def parse(argv=None):
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, help="manifest.csv written by bosz_download")
    parser.add_argument("--output", required=True, help="HDF5 library to write")
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


def main(argv=None):
    args = parse(argv)
    manifest = Path(args.manifest)
    root = manifest.parent
    rows = [r for r in read_manifest(manifest) if r.status in ("ok", "skipped")]
    grids = [r for r in rows if r.relpath.startswith("wavelength_grids/")]
    models = [r for r in rows if r.relpath.endswith("_resam.txt.gz")]
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
        path = root / row.relpath
        if args.verify and row.sha256 and sha256_of(path) != row.sha256:
            raise StepError(f"{path}: sha256 differs from {manifest}; download it again")
        flux, cont = read_resampled(path, nrows=wave_native.size)
        return flux[keep].astype(np.float32), cont[keep].astype(np.float32)

    with ThreadPoolExecutor(max_workers=max(1, args.threads)) as pool:
        arrays = list(pool.map(load, models))
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
        },
    )
    log.info(
        "wrote %s: %d templates x %d pixels", args.output, library.ntemplate, library.wave.size
    )
    return library


if __name__ == "__main__":
    sys.exit(run_step(main))
