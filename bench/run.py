"""Benchmarks of every workflow step: one entry point, one table.

Each ``bench/bench_<family>.py`` defines ``BENCHMARKS``, a list of
``Benchmark(step, input_size, n_items, unit, setup)``. ``setup()`` prepares inputs
(not timed) and returns a zero-argument callable that does the work (timed). Every case
runs in its own process, so its peak RSS is its own.

Then (default run, or ``--survey``), the survey-scale figures of issue 13:

- the per-plate steps of a demo plate with gzipped frames, each with its wall and CPU time,
  peak memory and ratio to its I/O floor (:mod:`bench_plate`), then the same beside the
  figures before the floor work (``bench_plate.BEFORE``);
- the flux calibration per exposure (1 and 3 exposures of a small demo: CPU s per
  exposure, peak RSS and the accuracy against the demo's truth, :mod:`bench_fluxcal`);
- the flux calibration of the demo plate with BLAS threads pinned by ``run_step`` (1 thread) and
  unpinned (the library default), both while a busy loop runs on every other core;
- the full-survey dry run (:mod:`bench_dag`, 2,500 plates x 2 MJDs, 10^6 sources), in the
  plate era and in SDSS-V (2,500 FPS fields at APO and LCO, dr19 paths).

Usage::

    python bench/run.py                # all families and the survey figures (minutes)
    python bench/run.py sky mwm        # some families only
    python bench/run.py --survey       # only the survey figures
    python bench/run.py --list
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import Benchmark  # noqa: E402


def _load(family: str):
    path = HERE / f"bench_{family}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{family}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _families() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def _child(family: str, index: int, queue) -> None:
    case: Benchmark = _load(family).BENCHMARKS[index]
    work = case.setup()
    start = time.perf_counter()
    work()
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    queue.put((wall, peak_mb))


def run(families: list[str]) -> list[tuple]:
    rows = []
    ctx = mp.get_context("spawn")
    for family in families:
        for index, case in enumerate(_load(family).BENCHMARKS):
            queue = ctx.Queue()
            proc = ctx.Process(target=_child, args=(family, index, queue))
            proc.start()
            proc.join()
            if proc.exitcode != 0:
                rows.append((case.step, case.input_size, float("nan"), "FAILED", float("nan")))
                continue
            wall, peak_mb = queue.get()
            rate = case.n_items / wall if wall > 0 else float("inf")
            rows.append((case.step, case.input_size, wall, f"{rate:,.2f} {case.unit}/s", peak_mb))
            print(_format_row(rows[-1]), flush=True)
    return rows


def _format_row(row) -> str:
    step, size, wall, rate, peak = row
    return f"| {step} | {size} | {wall:.2f} | {rate} | {peak:.0f} |"


def _busy(stop) -> None:
    while not stop.is_set():
        sum(range(10_000))


def fluxcal_under_load(root: Path) -> None:
    """flux_calibration of the demo plate, pinned vs unpinned threads, other cores busy."""
    import bench_plate

    jobs = bench_plate.job_commands(root, bench_plate.ensure_run(root), ("flux_calibration",))
    if "flux_calibration" not in jobs:
        print("flux_calibration: no job in the demo run")
        return
    module, argv, _ = jobs["flux_calibration"]
    nexp = bench_plate.DEMO["n_exposures"]
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    busy = [ctx.Process(target=_busy, args=(stop,)) for _ in range(max((os.cpu_count() or 2) - 1, 1))]
    for b in busy:
        b.start()
    print("| flux_calibration, other cores busy | wall s | CPU s | CPU s per exposure | peak RSS MB |")
    print("| --- | --- | --- | --- | --- |")
    try:
        for label, threads in (("threads pinned to the rule's 1 (run_step)", "1"), ("unpinned (OpenBLAS default)", "")):
            env = {"SDSSFLOW_THREADS": threads} if threads else {}
            r = bench_plate.run_step_child(root, module, argv, env, pin=bool(threads))
            print(f"| {label} | {r[0]:.2f} | {r[1]:.2f} | {r[1] / nexp:.2f} | {r[2]:.0f} |", flush=True)
    finally:
        stop.set()
        for b in busy:
            b.join()


def survey(root: Path) -> None:
    """The per-plate floor table, fluxcal under load and the full-survey DAG."""
    import bench_dag
    import bench_io_bound
    import bench_plate

    print(f"\n## Per-plate steps of a demo plate ({bench_plate.DEMO}, gzipped spFrame/spFluxcalib)\n")
    rows = bench_plate.run_table(root)
    print("\nBefore (bench_plate.BASELINES) and now, the floors of this run:")
    bench_plate.print_before_after(rows)
    print("\n## The steps over 2x with their science taken out (bench_io_bound: medians of 3 alternated rounds)\n")
    bench_io_bound.run(root, rounds=3)
    print("\n## Flux calibration per exposure (small demo, gzipped frames, 16 standards, 4 cameras)\n")
    _load("fluxcal").exposure_table(root.parent / "sdssflow-bench-fluxcal")
    print("\n## Flux calibration under a concurrent load\n")
    fluxcal_under_load(root)
    print("\n## Full-survey dry run, plate era (target < 30 s CPU, < 1 GB)\n")
    bench_dag.main([])
    print("\n## Full-survey dry run, SDSS-V: 2,500 fields at APO and LCO (target < 60 s)\n")
    bench_dag.main(["--era", "sdss5"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*", help=f"families to run (default all: {_families()})")
    parser.add_argument("--list", action="store_true", help="list the benchmark cases")
    parser.add_argument("--survey", action="store_true", help="only the survey-scale figures")
    parser.add_argument("--plate-root", type=Path, default=Path(tempfile.gettempdir()) / "sdssflow-bench-plate",
                        help="demo run of bench_plate (made when missing)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.survey:
        survey(args.plate_root)
        return 0
    families = args.families or _families()
    if args.list:
        for family in families:
            for case in _load(family).BENCHMARKS:
                print(f"{family}: {case.step} ({case.input_size})")
        return 0
    print("| step | input size | wall s | throughput | peak RSS MB |")
    print("| --- | --- | --- | --- | --- |")
    rows = run(families)
    if not args.families:
        survey(args.plate_root)
    return 1 if any(r[3] == "FAILED" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
