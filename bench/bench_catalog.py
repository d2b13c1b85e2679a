"""Benchmarks of exposure_catalog (header + plug-map scan) and select_exposures."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from harness import Benchmark

N_PLATES = 4
N_EXPOSURES = 4  # x 4 cameras = 16 frames per plate


def _frame(path: Path, plate: int, mjd: int, expid: int, camera: str) -> None:
    npix = 4112 if camera[0] == "b" else 4128
    first = 1 if camera[1] == "1" else 501
    header = fits.Header({"PLATEID": plate, "MJD": mjd, "EXPOSURE": expid, "CAMERAS": camera, "EXPTIME": 900.0,
                          "FLAVOR": "science", "TAI-BEG": mjd * 86400.0 + 3600, "TAI-END": mjd * 86400.0 + 4500,
                          "RA": 30.0, "DEC": 10.0, "AIRMASS": 1.1})
    image = np.zeros((500, npix), "f4")
    plug = fits.BinTableHDU.from_columns(
        [fits.Column("FIBERID", "J", array=np.arange(first, first + 500)),
         fits.Column("OBJTYPE", "16A", array=np.array(["SKY"] * 500))]
    )
    hdus = [fits.PrimaryHDU(image, header)] + [fits.ImageHDU(image) for _ in range(4)] + [plug]
    fits.HDUList(hdus).writeto(path)


def _survey() -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench_catalog_")) / "v5_7_0"
    expid = 1
    for i in range(N_PLATES):
        plate_dir = root / f"{4000 + i:04d}"
        plate_dir.mkdir(parents=True)
        for _ in range(N_EXPOSURES):
            for cam in ("b1", "r1", "b2", "r2"):
                _frame(plate_dir / f"spFrame-{cam}-{expid:08d}.fits", 4000 + i, 55500 + i, expid, cam)
            expid += 1
    return root


def _catalog_setup():
    from sdssflow.catalog.steps import exposure_catalog

    root = _survey()
    out = root.parent / "exposures.h5"
    return lambda: exposure_catalog.main(["--boss-dir", str(root), "--out", str(out)])


def _selection_setup():
    from sdssflow.catalog.steps.select_exposures import select_plate
    from sdssflow.io.catalog_model import records_to_frame

    n = 15000  # 2,500 plates x 2 MJDs x 3 exposures
    rng = np.random.default_rng(1)
    table = records_to_frame(
        {"observatory": "apo", "mjd": 55500 + i // 6, "plate": 4000 + i // 6, "exposure": i, "instrument": "boss",
         "image_type": "science", "exptime": 900.0, "airmass": float(rng.uniform(1, 2))}
        for i in range(n)
    )
    flags = pd.DataFrame(columns=["version", "observatory", "mjd", "plate", "exposure", "camera", "flag", "severity"])
    return lambda: [select_plate(table, 4000 + k, "airmass < 1.5", flags, []) for k in range(100)]


BENCHMARKS = [
    Benchmark("exposure_catalog", f"{N_PLATES} plates x {N_EXPOSURES * 4} frames (500 x 4112/4128)",
              N_PLATES * N_EXPOSURES * 4, "frames", _catalog_setup),
    Benchmark("select_exposures", "100 plates of a 15,000-exposure catalog", 100, "plates", _selection_setup),
]
