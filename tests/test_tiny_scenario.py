"""The tiny scenario .test/config.yaml: complete, valid, and runnable from outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / ".test" / "config.yaml"


def _keys(d, prefix=()):
    for k, v in d.items():
        yield prefix + (k,)
        if isinstance(v, dict):
            yield from _keys(v, prefix + (k,))


def test_tiny_config_is_complete_and_small():
    tiny = yaml.safe_load(TINY.read_text())
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    # every key of config/config.yaml is set, so the run is the same whether or not
    # Snakemake also reads config/config.yaml (it does only from the checkout)
    assert set(_keys(default)) <= set(_keys(tiny))
    validate(tiny, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"), set_default=True)
    demo = tiny["demo"]
    assert (demo["n_plates"], demo["n_mjds"], demo["n_exposures"]) == (1, 1, 1)
    assert demo["n_sky_per_spectrograph"] + demo["n_std_per_spectrograph"] + demo["n_science_per_spectrograph"] <= 20
    assert tiny["version"] != default["version"]  # its own results/, logs/, benchmarks/
    assert not tiny["demo"]["root"].startswith(default["demo"]["root"] + "/")
    assert tiny["bosz"]["dest"] != default["bosz"]["dest"]


@pytest.mark.slow
def test_tiny_dry_run_from_outside_the_checkout(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(TINY), "--cores", "2"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "results/tiny/report/benchmarks.csv" in out and "resources/tiny/demo/manifest.csv" in out
    assert not list(tmp_path.glob("results/*"))  # a dry run writes no product
