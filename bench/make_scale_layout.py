"""Write an empty-file survey layout at SDSS scale, for dry-run (DAG) benchmarks.

The layout has the names and directories of a real BOSS reduction tree and an MWM
source list, but every file is empty: it exists only so that ``snakemake -n`` builds the
DAG of a full survey (``bench/bench_dag.py``). Default size: 2,500 plates x 2 MJDs x 3
exposures x 4 cameras (spPlate, spFrame, spCFrame, spFluxcalib: 182,500 files) and
1,000,000 MWM sources spread over all 10,000 GG/HH buckets (``sources.csv``).

Usage::

    python bench/make_scale_layout.py /tmp/sdssflow-scale            # full size
    python bench/make_scale_layout.py /tmp/s --plates 100 --sources 10000

It writes ``<root>/config.yaml`` pointing the workflow at the layout
(``input: sdss``, ``boss.redux``, ``mwm.sources``) and prints its path.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml

CAMERAS = ("b1", "r1", "b2", "r2")
RUN2D = "v5_7_0"
RUN2D_SDSS5 = "v6_1_3"
FIRST_PLATE = 3500
FIRST_MJD = 55000


def plan(n_plates: int, n_mjds: int, n_exposures: int) -> list[tuple[int, int, list[int]]]:
    """(plate, mjd, expids) of the layout; deterministic, expids unique."""
    out = []
    expid = 100000
    for i in range(n_plates):
        plate = FIRST_PLATE + i
        for j in range(n_mjds):
            mjd = FIRST_MJD + (i % 1500) + 7 * j
            out.append((plate, mjd, list(range(expid, expid + n_exposures))))
            expid += n_exposures
    return out


def source_ids(n_sources: int, seed: int = 7) -> np.ndarray:
    """``n_sources`` unique sdss_ids covering the GG/HH buckets evenly (shape (n,), int64)."""
    rng = np.random.default_rng(seed)
    # Consecutive ids fill every bucket ((id // 100) % 100, id % 100) in turn; a random
    # offset per 10,000-block keeps them from looking like a demo.
    base = 100_000_000 + np.arange(n_sources, dtype=np.int64)
    blocks = base // 10_000
    offsets = rng.integers(0, 1000, size=int(blocks.max() - blocks.min()) + 1) * 10_000_000
    return base + offsets[blocks - blocks.min()]


def _touch(path: str) -> None:
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def write_sdss5_layout(root: Path, n_plates: int, n_mjds: int, n_exposures: int) -> tuple[dict, int]:
    """SDSS-V FPS fields at APO and LCO (alternating), at the DR19 sdss-access paths below
    ``root`` (a SAS root): spField, spfibermap and per-camera frames (b1/r1 at APO, b2/r2 at
    LCO). Returns the ``input: sdss`` config blocks and the number of files."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from sdssflow.paths import SdssPaths

    paths = SdssPaths("dr19", root)
    n_files = 0
    for i, (field, mjd, expids) in enumerate(plan(n_plates, n_mjds, n_exposures)):
        sp = 1 + (i // n_mjds) % 2
        spfield = paths.full("spField", run2d=RUN2D_SDSS5, fieldid=field, mjd=mjd)
        pdir = spfield.parent
        pdir.mkdir(parents=True, exist_ok=True)
        _touch(str(spfield))
        _touch(str(pdir / paths.full("spfibermap", run2d=RUN2D_SDSS5, fieldid=field, mjd=mjd).name))
        n_files += 2
        for expid in expids:
            for cam in (f"b{sp}", f"r{sp}"):
                for kind in ("spFrame", "spCFrame", "spFluxcalib"):
                    name = paths.full(kind, run2d=RUN2D_SDSS5, fieldid=field, br=cam[0], id=cam[1], frame=expid).name
                    _touch(str(pdir / name))
                    n_files += 1
    blocks = {"sdss": {"release": "dr19", "sas_base_dir": str(root), "sdsscore_dir": ""},
              "boss": {"run2d": RUN2D_SDSS5, "plates": []}}
    return blocks, n_files


def write_layout(
    root: Path, n_plates: int, n_mjds: int, n_exposures: int, n_sources: int, era: str = "sdss4"
) -> dict:
    """Create the empty files and the config; return counts and the config path."""
    redux = root / "boss" / "redux"
    n_files = 0
    for plate, mjd, expids in plan(n_plates, n_mjds, n_exposures) if era == "sdss4" else ():
        pdir = redux / RUN2D / f"{plate:04d}"
        pdir.mkdir(parents=True, exist_ok=True)
        _touch(str(pdir / f"spPlate-{plate:04d}-{mjd:05d}.fits"))
        n_files += 1
        for expid in expids:
            for cam in CAMERAS:
                for name in (
                    f"spFrame-{cam}-{expid:08d}.fits.gz",
                    f"spCFrame-{cam}-{expid:08d}.fits",
                    f"spFluxcalib-{cam}-{expid:08d}.fits.gz",
                ):
                    _touch(str(pdir / name))
                    n_files += 1
    ids = source_ids(n_sources)
    sources = root / "mwm" / "sources.csv"
    sources.parent.mkdir(parents=True, exist_ok=True)
    with open(sources, "w") as f:
        f.write("sdss_id\n")
        np.savetxt(f, ids, fmt="%d")
    buckets = len(set(zip(((ids // 100) % 100).tolist(), (ids % 100).tolist())))
    config = {
        "input": "sdss",
        "boss": {"redux": str(redux), "run2d": RUN2D, "plates": []},
        "apogee": {"redux": ""},
        "mwm": {"sources": str(sources)},
    }
    if era == "sdss5":
        blocks, n_files = write_sdss5_layout(root, n_plates, n_mjds, n_exposures)
        config = {"input": "sdss", **blocks, "apogee": {"redux": ""}, "mwm": {"sources": str(sources)}}
    config_path = root / "config.yaml"
    config_path.write_text(
        "# Written by bench/make_scale_layout.py: the empty-file survey layout of this folder.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    return {"files": n_files, "sources": len(ids), "buckets": buckets, "config": str(config_path)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="directory to create the layout in")
    parser.add_argument("--plates", type=int, default=2500)
    parser.add_argument("--mjds", type=int, default=2, help="MJDs per plate")
    parser.add_argument("--exposures", type=int, default=3, help="science exposures per plate-MJD")
    parser.add_argument("--sources", type=int, default=1_000_000, help="MWM sources")
    parser.add_argument("--era", choices=("sdss4", "sdss5"), default="sdss4",
                        help="sdss5: FPS fields at APO and LCO on the DR19 sdss-access paths")
    args = parser.parse_args(argv)
    if min(args.plates, args.mjds, args.exposures, args.sources) < 1:
        parser.error("every size must be >= 1")
    start = time.perf_counter()
    info = write_layout(args.root, args.plates, args.mjds, args.exposures, args.sources, args.era)
    print(
        f"{args.root}: {args.plates} plates x {args.mjds} MJDs x {args.exposures} exposures"
        f" ({info['files']:,} empty files), {info['sources']:,} sources in {info['buckets']:,}"
        f" GG/HH buckets; {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
    )
    print(info["config"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
