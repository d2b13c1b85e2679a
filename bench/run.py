"""Benchmarks of every workflow step: one entry point, one table.

Each ``bench/bench_<family>.py`` defines ``BENCHMARKS``, a list of
``Benchmark(step, input_size, n_items, unit, setup)``. ``setup()`` prepares inputs
(not timed) and returns a zero-argument callable that does the work (timed). Every case
runs in its own process, so its peak RSS is its own.

Usage::

    python bench/run.py            # all families
    python bench/run.py sky mwm    # some families
    python bench/run.py --list
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import resource
import sys
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*", help=f"families to run (default all: {_families()})")
    parser.add_argument("--list", action="store_true", help="list the benchmark cases")
    args = parser.parse_args(argv)
    families = args.families or _families()
    if args.list:
        for family in families:
            for case in _load(family).BENCHMARKS:
                print(f"{family}: {case.step} ({case.input_size})")
        return 0
    print("| step | input size | wall s | throughput | peak RSS MB |")
    print("| --- | --- | --- | --- | --- |")
    rows = run(families)
    return 1 if any(r[3] == "FAILED" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
