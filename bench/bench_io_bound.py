"""How close the small sky steps can come to their floor: each step with its science taken out.

``bench_plate.py`` compares each step with its **floor**, the time to only read its inputs.
A step also has to turn what it read into arrays and a Table, build its product and write
it (with checksums), and none of that is in the floor. This bench measures that part alone:
the step's own ``main`` with the job's arguments, its science functions replaced by stand-ins
that hand back the step's real results (loaded from the demo run's products before the
clock starts). What is left is the step's reads, table building and write, exactly as the
step does them. Its ratio to the floor is the best ratio any implementation of the science
could give with these inputs and this product.

For each of rich_metadata, line_sum and mean_spectra, ``--rounds`` rounds, each of three
fresh processes on one thread, alternated: floor, I/O only, whole step. The table gives the
medians (CPU s) and the ratios of the medians.

Usage::

    python bench/bench_io_bound.py [--root /tmp/sdssflow-bench-plate] [--rounds 7]
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_plate  # noqa: E402  (the demo run, job commands, floors and step runs)

BENCHMARKS: list = []  # not a run.py Benchmark family: run it by hand

#: Steps over 2x of their floor in bench_plate, and the science functions their main calls
#: (the names bound in the step module).
SCIENCE = {
    "rich_metadata": ("rich_metadata_by_site",),
    "line_sum": ("line_table", "broadband_magnitudes"),
    "mean_spectra": ("mean_spectra",),
}


def _option(argv: list, name: str) -> str:
    return argv[argv.index(name) + 1]


def _stand_ins(step: str, argv: list) -> dict:
    """{function name: stand-in} returning the step's results, read from its demo product.

    Read before the clock starts; each stand-in returns fresh copies, as the science would.
    """
    import numpy as np
    from astropy.io import fits

    from sdssflow.io.sky import read_table

    def plain_table(table):
        """A new Table of plain columns with their units, as the science builds its tables."""
        from astropy.table import Table

        units = {n: table[n].unit for n in table.colnames if table[n].unit is not None}
        return Table({n: table[n].data.copy() for n in table.colnames}, units=units, copy=False)

    out = _option(argv, "--out")
    if step == "rich_metadata":
        rich = read_table(out)
        return {"rich_metadata_by_site": lambda *a, **k: plain_table(rich)}
    if step == "line_sum":
        lines = read_table(out)
        rich_columns = set(read_table(_option(argv, "--rich")).colnames)
        mags = {k: np.array(lines[k]) for k in lines.colnames if k.startswith("MAG_")}
        cols = {k: np.array(lines[k]) for k in lines.colnames
                if k not in rich_columns and k not in mags and k != "FIBER_AREA"}  # fmt: skip
        return {"line_table": lambda *a, **k: {n: v.copy() for n, v in cols.items()},
                "broadband_magnitudes": lambda *a, **k: {n: v.copy() for n, v in mags.items()}}  # fmt: skip
    if step == "mean_spectra":
        with fits.open(out) as f:
            arrays = {n: np.asarray(f[n].data, dtype=np.int32 if n == "NFIBER" else np.float64)
                      for n in ("FLUX", "IVAR", "DISP", "NFIBER")}  # fmt: skip
        meta = read_table(out)
        return {"mean_spectra": lambda *a, **k: ({n: v.copy() for n, v in arrays.items()}, plain_table(meta))}
    raise ValueError(step)


def _io_only_child(root, module, argv, step, queue):
    """Like bench_plate._step_child, with the step's science replaced by :func:`_stand_ins`."""
    os.chdir(root)
    from threadpoolctl import threadpool_limits

    mod = importlib.import_module(module)
    for name, stand_in in _stand_ins(step, argv).items():
        setattr(mod, name, stand_in)
    argv = list(argv)
    argv[argv.index("--out") + 1] = str(Path(tempfile.mkdtemp()) / Path(_option(argv, "--out")).name)
    with threadpool_limits(1):
        t1, c1 = bench_plate._usage()
        mod.main(argv)
        t2, c2 = bench_plate._usage()
    queue.put((t2 - t1, c2 - c1))


def run(root: Path, rounds: int) -> list[dict]:
    """Measure and print the table; return its rows."""
    os.environ.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    config = bench_plate.ensure_run(root)
    jobs = bench_plate.job_commands(root, config, tuple(SCIENCE))
    print("| step | floor CPU s | I/O only CPU s | whole step CPU s | I/O only / floor | step / floor |"
          " science share of the step |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for step in SCIENCE:
        module, argv, inputs = jobs[step]
        reads = bench_plate.floor_reads(step, argv, inputs, root)
        floor, io_only, whole = [], [], []
        for _ in range(rounds):
            floor.append(bench_plate._in_child(bench_plate._floor_child, str(root), reads)[1])
            io_only.append(bench_plate._in_child(_io_only_child, str(root), module, argv, step)[1])
            whole.append(bench_plate.run_step_child(root, module, argv)[1])
        f, i, w = (statistics.median(x) for x in (floor, io_only, whole))
        rows.append({"step": step, "floor_cpu_s": f, "io_only_cpu_s": i, "step_cpu_s": w})
        print(f"| {step} | {f:.3f} | {i:.3f} | {w:.3f} | {i / f:.1f} | {w / f:.1f} | {1 - i / w:.0%} |", flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "sdssflow-bench-plate")
    parser.add_argument("--rounds", type=int, default=7, help="alternated rounds (medians are reported)")
    args = parser.parse_args(argv)
    run(args.root, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
