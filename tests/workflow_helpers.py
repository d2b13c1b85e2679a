"""Helpers of the workflow tests: run snakemake on a scenario config in a scratch directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
from astropy.io import fits

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "Snakefile"


def snakemake(workdir: Path, config: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run snakemake on ``config`` in ``workdir``; return the completed process."""
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(workdir),
           "--configfile", str(cfg), "--cores", "1", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def jobs_to_run(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run into {rule: count}."""
    text = proc.stdout + proc.stderr
    counts, in_table = {}, False
    for line in text.splitlines():
        if line.startswith("job ") and "count" in line:
            in_table = True
            continue
        if in_table:
            parts = line.split()
            if not parts or line.startswith("-"):
                continue
            if parts[0] == "total":
                break
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
    return counts


def fake_plate(redux_run2d: Path, plate: int, mjd: int, expids: list[int], cameras=("b1", "r1", "b2", "r2")) -> None:
    """Minimal spFrame headers + plug maps and an spPlate name for catalog/selection tests."""
    plate_dir = redux_run2d / f"{plate:04d}"
    plate_dir.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(header=fits.Header({"PLATEID": plate, "MJD": mjd})).writeto(
        plate_dir / f"spPlate-{plate:04d}-{mjd}.fits", overwrite=True
    )
    for expid in expids:
        for cam in cameras:
            first = 1 if cam.endswith("1") else 501
            header = fits.Header(
                {"PLATEID": plate, "MJD": mjd, "EXPOSURE": expid, "CAMERAS": cam, "EXPTIME": 900.0,
                 "FLAVOR": "science", "TAI-BEG": mjd * 86400.0 + 3600, "TAI-END": mjd * 86400.0 + 4500,
                 "RA": 30.0, "DEC": 10.0, "AIRMASS": 1.1}
            )
            plug = fits.BinTableHDU.from_columns(
                [fits.Column("FIBERID", "J", array=np.arange(first, first + 500)),
                 fits.Column("OBJTYPE", "16A", array=np.array(["SKY"] * 500))]
            )
            hdus = [fits.PrimaryHDU(np.zeros((2, 2), "f4"), header)]
            hdus += [fits.ImageHDU(np.zeros(2, "f4")) for _ in range(4)] + [plug]
            fits.HDUList(hdus).writeto(plate_dir / f"spFrame-{cam}-{expid:08d}.fits", overwrite=True)


def frozen_workflow(dest: Path) -> tuple[Path, dict]:
    """Copy the workflow and the package to ``dest`` and return (copy, environment).

    The runs of one test must all use the same code, even while the repository is being
    edited (or pulled) during the minutes they take: the copy's ``src`` goes first on
    PYTHONPATH, ahead of the editable install, and the copy's Snakefile is the one run.
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".snakemake")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "Snakefile", dest / "Snakefile")
    for sub in ("workflow", "config", "profiles", "envs", "src/sdssflow"):
        if (ROOT / sub).exists():
            shutil.copytree(ROOT / sub, dest / sub, ignore=ignore, dirs_exist_ok=True)
    pythonpath = [str(dest / "src"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in pythonpath if p)}
    return dest, env
