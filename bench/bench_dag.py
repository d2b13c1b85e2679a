"""Dry-run (DAG building) time and memory of the workflow at survey scale.

Builds the empty-file layout of ``bench/make_scale_layout.py`` (2,500 plates x 2 MJDs,
1,000,000 MWM sources by default; reused when present), then times ``snakemake -n`` on it
pinned to one core (``taskset -c 0``) and reports the wall time, the CPU time (user +
system: the honest number on a shared machine), the peak RSS of the snakemake process and
the number of jobs. Targets: plate era (issue 13) < 30 s of CPU and < 1 GB; SDSS-V
(issue 15, ``--era sdss5``: 2,500 fields at APO and LCO) < 60 s; both with
``mwm.bucket: gg`` (``--bucket``; one mwm_bucket job per GG) as a survey-scale run would set it.

Usage::

    python bench/bench_dag.py                               # full survey, 1 repeat
    python bench/bench_dag.py --bucket gghh                 # one job per GG/HH bucket
    python bench/bench_dag.py --plates 250 --sources 100000  # a tenth
    python bench/bench_dag.py --profile                      # + cProfile top functions
    python bench/bench_dag.py --era sdss5 --root /tmp/s5     # FPS fields at APO and LCO (dr19)

Not a ``bench/run.py`` family: the work happens in a snakemake subprocess, whose peak RSS
the harness (which measures its own process) would not see. ``BENCHMARKS`` is empty.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import yaml  # noqa: E402
from make_scale_layout import write_layout  # noqa: E402

BENCHMARKS: list = []


def dry_run(config: Path, workdir: Path, one_core: bool = True, extra: list[str] | None = None) -> dict:
    """Run ``snakemake -n`` once in a fresh process; return wall s, peak RSS MB, jobs."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile", str(config), "-n",
           "--quiet", "rules"]
    cmd += extra or []
    if one_core and shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    workdir.mkdir(parents=True, exist_ok=True)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kb = r1.ru_maxrss
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake -n failed ({proc.returncode}):\n{proc.stderr[-3000:]}{proc.stdout[-3000:]}")
    m = re.search(r"^total\s+(\d+)", proc.stdout + proc.stderr, re.M)
    jobs = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", proc.stdout + proc.stderr, re.M)}
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": peak_kb / 1024.0,
        "jobs": int(m.group(1)) if m else -1,
        "per_rule": jobs,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="layout directory (default: $TMPDIR/sdssflow-scale[-sdss5])")
    parser.add_argument("--plates", type=int, default=2500)
    parser.add_argument("--mjds", type=int, default=2)
    parser.add_argument("--exposures", type=int, default=3)
    parser.add_argument("--sources", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--bucket", choices=["gg", "gghh"], default="gg", help="mwm.bucket of the run")
    parser.add_argument("--era", choices=("sdss4", "sdss5"), default="sdss4",
                        help="sdss5: FPS fields at APO and LCO, paths from sdss-access (dr19)")
    parser.add_argument("--all-cores", action="store_true", help="do not pin to one core")
    parser.add_argument("--profile", action="store_true", help="also write a cProfile of one dry run")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if args.root is None:  # one layout per era, so that both stay built
        suffix = "" if args.era == "sdss4" else f"-{args.era}"
        args.root = Path(tempfile.gettempdir()) / f"sdssflow-scale{suffix}"

    stamp = args.root / "layout.json"
    want = {"plates": args.plates, "mjds": args.mjds, "exposures": args.exposures, "sources": args.sources,
            "era": args.era}
    if not (stamp.exists() and json.loads(stamp.read_text()) == want):
        shutil.rmtree(args.root, ignore_errors=True)
        t0 = time.perf_counter()
        info = write_layout(args.root, args.plates, args.mjds, args.exposures, args.sources, args.era)
        print(f"layout: {info['files']:,} files, {info['sources']:,} sources, "
              f"{info['buckets']:,} buckets in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        stamp.write_text(json.dumps(want))
    base = yaml.safe_load((args.root / "config.yaml").read_text())
    base.setdefault("mwm", {})["bucket"] = args.bucket
    config = args.root / f"config-{args.bucket}.yaml"
    config.write_text(yaml.safe_dump(base, sort_keys=False))
    workdir = args.root / "run"

    rows = []
    for _ in range(args.repeat):
        shutil.rmtree(workdir / ".snakemake", ignore_errors=True)
        rows.append(dry_run(config, workdir, one_core=not args.all_cores))
    unit = "plates" if args.era == "sdss4" else "fields (APO+LCO)"
    size = f"{args.plates} {unit} x {args.mjds} MJDs, {args.sources:,} sources, mwm.bucket {args.bucket}"
    print("| case | jobs | wall s | CPU s | peak RSS MB |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| snakemake -n, {size} | {r['jobs']:,} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:.0f} |")
    print("jobs per rule: " + ", ".join(f"{k} {v}" for k, v in rows[0]["per_rule"].items() if k != "total"))
    if args.profile:
        prof = args.root / "dryrun.prof"
        subprocess.run(
            [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "snakemake", "-s", str(REPO / "Snakefile"),
             "--configfile", str(config), "-n", "--quiet", "rules"],
            cwd=workdir, capture_output=True, check=True,
        )
        import pstats

        pstats.Stats(str(prof)).sort_stats("cumulative").print_stats(30)
    if args.json:
        args.json.write_text(json.dumps({"size": want, "runs": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
