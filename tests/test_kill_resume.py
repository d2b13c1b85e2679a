"""Kill the workflow mid-run, resume it, and get the products of an uninterrupted run.

One tiny demo (1 plate, 1 MJD, 1 exposure) is run twice from the same demo survey:

- the reference: ``snakemake --cores 2`` without interruption;
- the interrupted run: started, SIGKILLed (snakemake and every job, the whole process
  group) when about 25 % of its jobs are done, then resumed with ``snakemake --unlock``
  and ``snakemake --rerun-incomplete``, killed again at about 50 % and 75 %, and finally
  resumed to the end.

After every kill no product may look finished without being whole
(:func:`sdssflow.qc.compare.check_complete`: every visible FITS verifies its checksums,
every HDF5/CSV reads; temporary files are hidden). At the end the interrupted run's
products equal the reference's (:func:`sdssflow.qc.compare.compare_trees`: data, tables
and headers; write times, the run's own timings and paths into the run directory aside).

Slow (two runs of the tiny demo, about 3-5 minutes on 2 cores):
``pytest -m slow tests/test_kill_resume.py``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sdssflow.qc.compare import check_complete, compare_trees
from workflow_helpers import frozen_workflow

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TARGETS = os.environ.get("SDSSFLOW_KILL_TARGETS", "").split()
#: Kill when this fraction of the run's jobs is done (then a short delay, so that the next
#: jobs are mid-way through their work).
KILL_FRACTIONS = (0.25, 0.5, 0.75)
KILL_DELAY_S = 1.5
#: Products that describe the run itself, not the science (per-job wall times).
RUN_SPECIFIC = ["*/report/benchmarks.*"]
_PROGRESS = re.compile(r"^(\d+) of (\d+) steps \(\d+%\) done", re.M)
#: The frozen copy of the workflow every run of this module uses (set by the fixture).
CODE: dict = {}


def _snakemake(config: Path, *extra: str) -> list[str]:
    return [SNAKEMAKE, "-s", str(CODE["repo"] / "Snakefile"), "--configfile", str(config), *extra]


def _cmd(config: Path, *extra: str) -> list[str]:
    return _snakemake(config, "--cores", "2", *extra, *TARGETS)


def _run(cmd, cwd: Path, log: Path) -> None:
    with open(log, "a") as out:
        proc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=900, env=CODE["env"])
    if proc.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")


def _run_and_kill(cmd, cwd: Path, log: Path, fraction: float, total_jobs: int) -> int:
    """Start the run in its own process group; SIGKILL the group once ``fraction`` of
    ``total_jobs`` (the jobs of an uninterrupted run) are done. Returns the jobs done."""
    with open(log, "a") as out:
        out.write(f"\n===== run to be killed at {fraction:.0%} =====\n")
        out.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True, env=CODE["env"])
        done = 0
        deadline = time.monotonic() + 600
        for line in proc.stdout:
            out.write(line)
            m = _PROGRESS.match(line)
            if m:
                done_now, total_now = int(m.group(1)), int(m.group(2))
                # Resumed runs count only what is left: convert to the full run's progress.
                done = total_jobs - (total_now - done_now)
                if done >= fraction * total_jobs:
                    time.sleep(KILL_DELAY_S)
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail("run did not reach its kill point in 600 s")
        proc.wait(timeout=60)
        out.write(f"===== SIGKILL to process group {proc.pid} after {done} jobs =====\n")
    if proc.returncode != -signal.SIGKILL:
        pytest.fail(f"the run ended (status {proc.returncode}) before its kill point at {fraction:.0%}")
    return done


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill_resume")
    CODE["repo"], CODE["env"] = frozen_workflow(root / "code")
    config = root / "tiny.yaml"
    # The packaged tables (fluxcal.telluric: pkg:...) come with the frozen package copy.
    tiny = {"demo": {"n_plates": 1, "n_mjds": 1, "n_exposures": 1, "root": str(root / "demo")}}
    config.write_text(yaml.safe_dump(tiny))
    ref = root / "reference"
    ref.mkdir()
    _run(_cmd(config), ref, root / "reference.log")
    text = (root / "reference.log").read_text()
    totals = [int(t) for _, t in _PROGRESS.findall(text)]
    assert totals, "no progress lines in the reference run's output"
    return root, config, ref, totals[-1]


def test_killed_runs_resume_to_the_same_products(runs):
    root, config, ref, total_jobs = runs
    work = root / "interrupted"
    work.mkdir()
    log = root / "interrupted.log"
    assert total_jobs >= 6, f"too few jobs ({total_jobs}) for three kill points"
    done, cut_jobs = [], []
    for fraction in KILL_FRACTIONS:
        if done:  # a SIGKILLed snakemake leaves its lock behind
            _run(_snakemake(config, "--unlock"), work, log)
            cmd = _cmd(config, "--rerun-incomplete")
        else:
            cmd = _cmd(config)
        done.append(_run_and_kill(cmd, work, log, fraction, total_jobs))
        # Snakemake's markers of the outputs of jobs that were running when killed
        marks = work / ".snakemake" / "incomplete"
        cut_jobs.append(sum(1 for p in marks.rglob("*") if p.is_file()) if marks.exists() else 0)
        problems = check_complete(work / "results")
        assert problems == [], f"after the kill at {fraction:.0%}, files look finished but are not: {problems}"
    assert done == sorted(done) and done[0] < total_jobs
    # the kills hit running jobs (not only the gaps between them)
    assert max(cut_jobs) > 0, f"no job was running at any kill point ({cut_jobs})"
    _run(_snakemake(config, "--unlock"), work, log)
    _run(_cmd(config, "--rerun-incomplete"), work, log)
    assert check_complete(work / "results") == []
    # The benchmark table times the runs; the MWM index records paths into its run dir.
    diffs = compare_trees(ref / "results", work / "results", skip=RUN_SPECIFIC, aliases=[(str(work), str(ref))])
    assert diffs == [], "\n".join(diffs)


def test_reference_products_are_whole(runs):
    _, _, ref, _ = runs
    assert check_complete(ref / "results") == []


def test_report_of_the_finished_run_shows_every_figure(runs):
    """`snakemake --report report.html` on the finished reference run: one self-contained
    HTML file holding every QC figure and the benchmark table."""
    root, config, ref, _ = runs
    report = ref / "report.html"
    _run(_snakemake(config, "--report", str(report)), ref, root / "report.log")
    html = report.read_text()
    figures = sorted(p.name for p in (ref / "results" / "v1" / "report").glob("*.png"))
    assert figures == ["benchmarks.png", "calibration_vectors.png", "mean_sky.png", "mwm_stars.png", "sky_lines.png"]
    for name in [*figures, "benchmarks.csv"]:
        assert name in html, f"{name} is not in the report"
    # self-contained: every figure is embedded as a data URI, nothing is loaded from disk
    assert html.count("data:image/png") >= len(figures)
    assert 'src="results/' not in html and 'href="results/' not in html
