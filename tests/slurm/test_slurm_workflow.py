"""The tiny demo through a real Slurm gives the same products as a local run.

Run by ``tests/slurm/run_slurm_test.sh``, which installs and starts Slurm first and sets
``SDSSFLOW_SLURM_TEST=1``. Outside that script the tests are skipped (there is no Slurm);
inside it, a Slurm that does not answer is a failure, never a skip.

Three runs of the same tiny demo (1 plate, 1 MJD, 1 exposure), sharing one demo survey:

1. local: ``snakemake --cores 2`` (the reference);
2. executor mode: ``snakemake --workflow-profile profiles/local-slurm`` (one sbatch per
   job or group of jobs, through snakemake-executor-plugin-slurm);
3. single-node mode: ``sbatch --wait profiles/nersc/sbatch_single_node.sh`` (the NERSC
   script as it is: the test cluster's node carries the ``cpu`` feature and accepts
   ``--qos=regular`` since accounting is off).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sdssflow.qc.compare import check_complete, compare_files, compare_trees
from workflow_helpers import frozen_workflow

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
IN_CYCLE = os.environ.get("SDSSFLOW_SLURM_TEST") == "1"
TINY_DEMO = {"n_plates": 1, "n_mjds": 1, "n_exposures": 1}
#: Products that describe the run itself (per-job wall times), not the science.
RUN_SPECIFIC = ["*/report/benchmarks.*"]
#: Targets of the three runs: the workflow's default target unless SDSSFLOW_SLURM_TARGETS
#: (space-separated files or rules) narrows it, e.g. while a family is being repaired.
TARGETS = os.environ.get("SDSSFLOW_SLURM_TARGETS", "").split()


def tiny_config(demo_root: Path) -> dict:
    """The tiny demo, written under ``demo_root`` (the packaged tables are found by the
    package itself: the config default of fluxcal.telluric is pkg:...)."""
    return {"demo": {**TINY_DEMO, "root": str(demo_root)}}


if not IN_CYCLE:
    pytest.skip(
        "real-Slurm tests run only inside tests/slurm/run_slurm_test.sh (it starts Slurm)",
        allow_module_level=True,
    )


CODE: dict = {}


def _run(cmd, cwd, log: Path, timeout: int) -> subprocess.CompletedProcess:
    with open(log, "w") as out:
        proc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=CODE["env"])
    if proc.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-40:])
        pytest.fail(f"{' '.join(map(str, cmd))} exited {proc.returncode}; last lines of {log}:\n{tail}")
    return proc


@pytest.fixture(scope="module")
def work() -> Path:
    """The cycle's work directory, with a tiny config and the local reference run."""
    root = Path(os.environ.get("SDSSFLOW_SLURM_WORK", "/tmp/sdssflow-slurm-test"))
    root.mkdir(parents=True, exist_ok=True)
    state = subprocess.run(["timeout", "10", "sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if "idle" not in state.stdout and "mixed" not in state.stdout:
        pytest.fail(f"Slurm is not answering: sinfo said {state.stdout!r} {state.stderr!r}")
    CODE["repo"], CODE["env"] = frozen_workflow(root / "code")
    config = tiny_config(root / "demo")
    (root / "tiny.yaml").write_text(yaml.safe_dump(config))
    local = root / "local"
    shutil.rmtree(local, ignore_errors=True)
    local.mkdir()
    _run(
        [SNAKEMAKE, "-s", CODE["repo"] / "Snakefile", "--configfile", root / "tiny.yaml", "--cores", "2", *TARGETS],
        cwd=local,
        log=root / "local.log",
        timeout=600,
    )
    return root


def _results(run_dir: Path) -> Path:
    return run_dir / "results"


def test_executor_mode_matches_local(work):
    run = work / "executor"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    log = work / "executor.log"
    _run(
        [
            SNAKEMAKE,
            "-s",
            CODE["repo"] / "Snakefile",
            "--configfile",
            work / "tiny.yaml",
            "--workflow-profile",
            CODE["repo"] / "profiles" / "local-slurm",
            *TARGETS,
        ],
        cwd=run,
        log=log,
        timeout=600,
    )
    text = log.read_text()
    # Every non-local job went through sbatch: the plugin names the Slurm job id.
    slurm_ids = set(re.findall(r"submitted with SLURM jobid (\d+)", text))
    assert len(slurm_ids) >= 3, f"expected several Slurm jobs, found {sorted(slurm_ids)} in {log}"
    assert (run / "logs" / "slurm").is_dir(), "the plugin kept no Slurm job logs"
    assert check_complete(_results(run)) == []
    assert compare_trees(_results(work / "local"), _results(run), skip=RUN_SPECIFIC, aliases=[(str(run), str(work / "local"))]) == []


def test_single_node_sbatch_matches_local(work):
    run = work / "sbatch"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    script = CODE["repo"] / "profiles" / "nersc" / "sbatch_single_node.sh"
    _run(
        [
            "sbatch",
            "--wait",
            "--time=00:15:00",
            f"--output={run / 'sbatch-%j.out'}",
            script,
            *TARGETS,  # before --configfile, which takes every following word
            "-s",
            CODE["repo"] / "Snakefile",
            "--configfile",
            work / "tiny.yaml",
        ],
        cwd=run,
        log=work / "sbatch.log",
        timeout=900,
    )
    outs = list(run.glob("sbatch-*.out"))
    assert len(outs) == 1, f"no job output in {run}"
    out = outs[0].read_text()
    # --cores came from the allocation, not from a hard-coded number.
    assert re.search(rf"{os.cpu_count()} cores", out), out[:500]
    assert check_complete(_results(run)) == []
    assert compare_trees(_results(work / "local"), _results(run), skip=RUN_SPECIFIC, aliases=[(str(run), str(work / "local"))]) == []


def test_nersc_executor_profile_submits(work):
    """profiles/nersc as it is, on this cluster: its -A/-C/--qos resources are accepted by
    a real sbatch. Only the selections (one select_exposures job, which builds the plate's
    catalog and its three selections, travelling as a group job), with the overrides a
    cluster without accounting needs."""
    run = work / "nersc"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    targets = [f"results/v1/selection/{step}/selection-{step}-4100.csv" for step in ("sky", "fluxcal", "mwm")]
    CODE["env"]["SNAKEMAKE_SLURM_ACCOUNT"] = "none"  # accepted when accounting is off
    try:
        _run(
            [
                SNAKEMAKE,
                *targets,
                "-s",
                CODE["repo"] / "Snakefile",
                "--workflow-profile",
                CODE["repo"] / "profiles" / "nersc",
                # no slurmdbd here (NERSC has one): status from squeue, polled at once;
                # a node of 2 cores (Perlmutter: 64 for the shared QOS)
                "--slurm-status-command",
                "squeue",
                "--slurm-init-seconds-before-status-checks",
                "1",
                "--cores",
                str(os.cpu_count()),
                "--configfile",
                work / "tiny.yaml",
            ],
            cwd=run,
            log=work / "nersc.log",
            timeout=600,
        )
    finally:
        CODE["env"].pop("SNAKEMAKE_SLURM_ACCOUNT", None)
    text = (work / "nersc.log").read_text()
    assert "group_short_select_exposures" in text, "select_exposures did not travel as a group job"
    # the plate's catalog is built inside select_exposures: no survey exposure_catalog job
    assert "rule exposure_catalog" not in text
    assert len(set(re.findall(r"submitted with SLURM jobid (\d+)", text))) == 1
    for target in targets:
        assert compare_files(work / "local" / target, run / target) == []
