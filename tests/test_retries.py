"""Retries ask for more: mem_mb and runtime of every rule grow with Snakemake's `attempt`."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RULES = sorted((ROOT / "workflow" / "rules").glob("*.smk"))


def _grow_source() -> str:
    """The source of common.smk's ``grow`` and the ``with_known_signature`` it returns through
    (common.smk itself needs a full config)."""
    text = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    source = "import inspect\n"
    for name in ("grow", "with_known_signature"):
        start = text.index(f"\ndef {name}(") + 1
        source += "\n\n" + text[start:text.index("\n\n\n", start)]
    ast.parse(source)
    return source


def _rule_blocks():
    for path in RULES:
        text = path.read_text()
        for m in re.finditer(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", text, re.M):
            yield path.name, m.group(1), m.group(2)


def test_every_rule_grows_mem_and_runtime():
    blocks = list(_rule_blocks())
    assert len(blocks) >= 25
    for name, rule, body in blocks:
        res = re.search(r"^    resources:\n((?:        .*\n)+)", body, re.M)
        assert res, f"{name}: rule {rule} has no resources"
        lines = res.group(1)
        for key in ("mem_mb", "runtime"):
            assert re.search(rf"^\s+{key}=grow\(", lines, re.M), f"{name}: rule {rule}: {key} does not grow"


def test_grow_scales_with_attempt():
    namespace: dict = {}
    exec(_grow_source(), namespace)
    res = namespace["grow"](1500)
    assert [res(None, attempt) for attempt in (1, 2, 3)] == [1500, 3000, 4500]


@pytest.mark.slow
def test_job_failing_for_memory_is_retried_with_more(tmp_path):
    """A job that 'runs out of memory' below 1500 MB fails on attempt 1 (1000 MB) and
    succeeds on the retry, which asks for 2000 MB and twice the runtime."""
    (tmp_path / "Snakefile").write_text(
        _grow_source()
        + '''


rule hungry:
    output:
        "out.txt",
    log:
        "logs/hungry.log",
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    shell:
        "echo attempt mem_mb={resources.mem_mb} runtime={resources.runtime} >> {log}; "
        "test {resources.mem_mb} -ge 1500 || {{ echo 'MemoryError: 1500 MB needed' >> {log}; exit 1; }}; "
        "echo {resources.mem_mb} {resources.runtime} > {output}"
'''
    )
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", "--retries", "1",
           "--workflow-profile", "none", "-d", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Snakemake's job records: attempt 1 at the base values, the restart at twice them
    asked = [dict(re.findall(r"(runtime|mem_mb)=(\d+)", line)) for line in (proc.stdout + proc.stderr).splitlines()
             if line.strip().startswith("resources:")]
    assert asked == [{"runtime": "10", "mem_mb": "1000"}, {"runtime": "20", "mem_mb": "2000"}]
    assert "Trying to restart job" in proc.stdout + proc.stderr
    # the retry's own log (Snakemake clears the log of the failed attempt)
    assert (tmp_path / "logs" / "hungry.log").read_text().splitlines() == ["attempt mem_mb=2000 runtime=20"]
    assert (tmp_path / "out.txt").read_text().split() == ["2000", "20"]
    # without a retry the same job fails: the retry is what made it pass
    (tmp_path / "out.txt").unlink()
    proc = subprocess.run([*cmd[:6], "0", *cmd[7:]], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
