"""Per-plate steps of a demo plate (gzipped frames) against their I/O floor.

A demo survey of one plate (``DEMO``: 1 plate x 1 MJD x 3 exposures x 4 cameras; spFrame and
spFluxcalib written ``.fits.gz`` as in the real v5 tree) is run once through the workflow
(``snakemake --cores 2`` in ``--root``; reused when present, a few minutes the first
time). Then, for each per-plate step, in fresh processes on one thread:

- **floor**: the time to only read its input files (:func:`floor_reads`), in the same
  run, with the library the step reads them with (astropy for the sky products,
  :data:`ASTROPY_PRODUCTS`; for the frames fitsio through :func:`sdssflow.io.inflate.open_fits`, as
  io.boss opens them: a gzipped file inflated once by ISA-L): the HDUs the step needs of every
  FITS file, every HDF5 dataset,
  every other file's bytes; directories file by file. The least any implementation spends.
- **step**: the step's ``main`` with the exact arguments of the workflow's job (from
  ``snakemake -n -p --forcerun``), after its imports (the imports and the interpreter
  start of a job, the same for every step, are reported once, as ``start-up``);
- **job**: the CPU of the same job as the workflow runs it, a fresh ``python -m`` process
  (interpreter + imports + step).

Reported: wall and CPU seconds of the step, the process's peak RSS, the floor (wall and
CPU), and the step/floor ratio of CPU seconds (the wall times of a shared machine mostly
measure the other jobs). Targets (issue 13): sky_flux, line_sum, mean_spectra, rich_metadata
within 2x of the floor; the per-plate chain within 3x; line_sum < 300 MB.

Usage::

    python bench/bench_plate.py [--root /tmp/sdssflow-bench-plate] [--steps sky_flux line_sum]
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing as mp
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

BENCHMARKS: list = []  # not a run.py Benchmark family: see run_table()

#: The demo plate benchmarked (config ``demo:`` block).
DEMO = {"n_plates": 1, "n_mjds": 1, "n_exposures": 3}
#: Per-plate steps, in workflow order.
STEPS = ("sky_flux", "rich_metadata", "line_sum", "mean_spectra", "mean_line_sum", "continuum_fit",
         "flux_calibration", "boss_visits")  # fmt: skip
#: Steps with a 2x target (the rest of the chain shares the 3x target).
TARGET_2X = ("sky_flux", "rich_metadata", "line_sum", "mean_spectra")


#: The same table before the floor work of issue 13 (sdssflow at 0f37610, this demo plate,
#: bench_plate with the floors above, loaded machine: load average 8-12 on 2 cores):
#: step -> (step CPU s, peak RSS MB, job CPU s of a fresh python -m). flux_calibration and
#: boss_visits were not changed by that work. See bench/issue13.md.
BEFORE = {
    "sky_flux": (10.61, 263, 12.26),
    "rich_metadata": (1.28, 207, 3.73),
    "line_sum": (1.39, 223, 2.75),
    "mean_spectra": (1.76, 429, 1.87),
    "mean_line_sum": (0.67, 120, 1.66),
    "continuum_fit": (0.33, 122, 1.86),
}


#: The same table before the floor2 follow-up (main at 97fca57; the floors as now defined,
#: frames opened with io.inflate), on the loaded machine: step CPU s = best of 9 fresh
#: processes alternated with the after side (sky_flux: of 2 bench runs x 3), job CPU s = best
#: of 2 bench runs x 3: step -> (step CPU s, peak RSS MB, job CPU s). See "Follow-up (floor2)"
#: in bench/issue13.md.
BEFORE_FLOOR2 = {
    "sky_flux": (3.61, 263, 4.55),
    "rich_metadata": (0.28, 80, 1.42),
    "line_sum": (0.51, 196, 1.52),
    "mean_spectra": (0.39, 191, 1.21),
}

#: The baselines :func:`print_before_after` compares this run with: title -> table.
BASELINES = {
    "before the floor work (0f37610; BEFORE)": BEFORE,
    "before the floor2 follow-up (97fca57; BEFORE_FLOOR2)": BEFORE_FLOOR2,
}


def _cell(value, spec: str) -> str:
    """A table cell: the number, or "unchanged" for a step the work left alone."""
    return "unchanged" if value is None else format(value, spec)


def print_before_after(rows: list[dict]) -> None:
    """Print each of :data:`BASELINES` beside this run's rows (same floors: this run's)."""
    for title, before in BASELINES.items():
        print(f"\n{title}, and now:\n")
        print("| step | CPU s before | CPU s now | peak RSS MB before | now | floor CPU s |"
              " step / floor before | now | job CPU s before | now |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in rows:
            cpu, peak, job = before.get(r["step"], (None, None, None))
            ratio = None if cpu is None else cpu / max(r["floor_cpu_s"], 1e-9)
            print(f"| {r['step']} | {_cell(cpu, '.2f')} | {r['cpu_s']:.2f} | {_cell(peak, '.0f')} | {r['peak_mb']:.0f} |"
                  f" {r['floor_cpu_s']:.3f} | {_cell(ratio, '.1f')} | {r['ratio']:.1f} | {_cell(job, '.2f')} |"
                  f" {r['job_cpu_s']:.2f} |")  # fmt: skip


def ensure_run(root: Path) -> Path:
    """The finished tiny demo run in ``root`` (made with snakemake when missing)."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yaml"
    want = json.dumps({"demo": {**DEMO, "root": str(root / "resources" / "demo")}})
    if not config.exists() or config.read_text() != want:
        config.write_text(want)  # JSON is YAML
    stamp = root / "done.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("config") == want:
        return config
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile",
                           str(config), "--cores", "2"], cwd=root, capture_output=True, text=True)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"demo run in {root} failed:\n{proc.stderr[-3000:]}")
    stamp.write_text(json.dumps({"config": want, "seconds": time.perf_counter() - t0}))
    return config


#: Steps the workflow runs inside one sky_plate job per plate (sdssflow.sky.steps.sky_plate).
SKY_PLATE_STEPS = STEPS[:6]


def job_commands(root: Path, config: Path, steps=STEPS) -> dict:
    """{step: (module, argv, inputs)} of the first job of each step, from a forced dry run.

    The six sky steps run in the plate's sky_plate job: each gets the argv sky_plate gives
    it (:func:`sdssflow.sky.steps.sky_plate.step_commands`) and, as inputs, the job's inputs
    (sky_flux) or the products it reads (the others). ``"sky_plate"`` is the whole job.
    """
    from sdssflow.sky.steps import sky_plate

    rules = sorted({"sky_plate" if s in SKY_PLATE_STEPS else s for s in steps})
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile",
                           str(config), "-n", "-p", "--forcerun", *rules],
                          cwd=root, capture_output=True, text=True)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"dry run failed:\n{proc.stderr[-3000:]}")
    out, rule, inputs = {}, None, []
    for line in (proc.stdout + proc.stderr).splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line)
        if m:
            rule, inputs = m.group(1), []
            continue
        s = line.strip().removeprefix("Shell command:").strip()
        if s.startswith("input:"):
            inputs = [p.strip() for p in s[len("input:"):].split(",") if p.strip()]
        elif rule in rules and rule not in out and s.startswith("python -m sdssflow."):
            words = shlex.split(s.split(">")[0])
            out[rule] = (words[2], words[3:], inputs)
    if "sky_plate" in out:
        module, argv, job_inputs = out.pop("sky_plate")
        args = sky_plate.parse(argv)
        reads = {"sky_flux": job_inputs, "rich_metadata": [args.skyflux], "line_sum": [args.skyflux, args.rich],
                 "mean_spectra": [args.skyflux, args.rich], "mean_line_sum": [args.mean],
                 "continuum_fit": [args.mean]}  # fmt: skip
        for step, step_argv in sky_plate.step_commands(args):
            out[step] = (f"sdssflow.sky.steps.{step}", step_argv, reads[step])
        out["sky_plate"] = (module, argv, job_inputs)
    return out


#: The sky products (file-name prefix) that sdssflow.io.sky reads with astropy: their floor
#: is read with astropy too (the raw frames with io.inflate.open_fits + fitsio, by io.boss and by the floor).
ASTROPY_PRODUCTS = ("skyflux", "rich", "lines", "mean", "meanlines", "contfit")

#: HDUs (EXTNAMEs) a step reads of each of its FITS inputs, by file kind (the name's first
#: word); a kind missing here is read whole. What the steps read (sdssflow.io.sky readers):
#: rich_metadata only the skyflux META table; line_sum and mean_spectra its five images and META
#: (read_skyflux; not STATUS) and the rich META; mean_line_sum and continuum_fit the whole mean.
STEP_HDUS = {
    "rich_metadata": {"skyflux": ("META",)},
    "line_sum": {"skyflux": ("WAVE", "FLUX", "IVAR", "DISP", "MASK", "META"), "rich": ("META",)},
    "mean_spectra": {"skyflux": ("WAVE", "FLUX", "IVAR", "DISP", "MASK", "META"), "rich": ("META",)},
}


def _package_tables(step: str, argv: list) -> list[str]:
    """Packaged tables a step reads beside its declared inputs (they are inputs too)."""
    from astropy.utils import iers

    from sdssflow.photometry import FILTER_DIR
    from sdssflow.sky.lines import DEFAULT_LINE_LIST
    from sdssflow.sky.tables import DATA_DIR

    if step == "rich_metadata":  # F10.7, zodiacal light, ISL; IERS-B (earth_orientation)
        return [str(DATA_DIR / n) for n in ("f107_daily.csv", "zodi_vs_ecliptic_latitude.csv", "isl_galactic.csv")] + [
            str(iers.IERS_B_FILE)]  # fmt: skip
    if step in ("line_sum", "mean_line_sum"):  # line list and filter curves
        filters = argv[argv.index("--filters") + 1] if "--filters" in argv else next(
            (a.split("=", 1)[1] for a in argv if a.startswith("--filters=")), "")
        curves = [str(FILTER_DIR / f"{f.lower()}.dat") for f in filters.split(",") if (FILTER_DIR / f"{f.lower()}.dat").exists()]
        return ([] if "--line-list" in argv else [str(DEFAULT_LINE_LIST)]) + curves
    if step == "continuum_fit":
        from sdssflow.sky.contfit import DEFAULT_AIRGLOW

        return [str(DEFAULT_AIRGLOW)] + ([] if "--line-list" in argv else [str(DEFAULT_LINE_LIST)])
    return []


#: HDUs spec of :func:`_read_everything` for the spCFrames of boss_visits: the primary header,
#: the plug map (HDU5), and of the images it uses (flux, ivar, mask, loglam, wdisp) only
#: the rows of the MWM visits (SDSS_ID > 0, OBJTYPE not SKY), as row sections.
VISIT_ROWS = "visit rows"


#: HDUs spec of the IERS-B file of rich_metadata: (IERS_ROWS, first MJD, last MJD) = the rows of
#: those days as sdssflow.earth_orientation.iers_b_window finds and parses them (the step reads
#: no other row of the 23,000).
IERS_ROWS = "iers-b rows"


def _iers_b_file() -> str:
    from astropy.utils import iers

    return str(iers.IERS_B_FILE)


def _iers_rows(inputs: list, root: Path) -> tuple:
    """(IERS_ROWS, first, last MJD of the exposures) of the skyflux among ``inputs`` (relative to ``root``)."""
    import fitsio
    import numpy as np

    skyflux = next(p for p in inputs if Path(p).name.startswith("skyflux"))
    meta = fitsio.read(str(Path(root) / skyflux), ext="META", columns=["TAI_BEG", "TAI_END"])
    mjd = (np.asarray(meta["TAI_BEG"], float) + np.asarray(meta["TAI_END"], float)) / 2.0 / 86400.0
    return (IERS_ROWS, float(mjd.min()), float(mjd.max())) if mjd.size else (IERS_ROWS, np.nan, np.nan)


def floor_reads(step: str, argv: list, inputs: list, root: Path = Path(".")) -> list[tuple[str, tuple | None]]:
    """(path, HDUs) a step must read at least; HDUs None = all, () = primary header only.

    The declared inputs, minus the demo manifest (a sentinel), with only the HDUs the step
    reads of them (:data:`STEP_HDUS`), plus the packaged tables it reads
    (:func:`_package_tables`; of the IERS-B file the rows of the exposures' days, :data:`IERS_ROWS`), plus the frames of ``--plate-dir``: what the step reads of them
    (sky_flux: whole spFrame and spFluxcalib, the spCFrame mask HDU2 and the spPlate headers;
    flux_calibration: spFrame HDUs 0-6; boss_visits: the visits' rows of the spCFrame images it
    uses, :data:`VISIT_ROWS`). Only the exposures of the plate are in the demo tree.
    """
    hdus = STEP_HDUS.get(step, {})
    reads = [(p, hdus.get(Path(p).name.split("-")[0])) for p in inputs if not p.endswith("manifest.csv")]
    reads += [(p, _iers_rows(inputs, root) if p == _iers_b_file() else None) for p in _package_tables(step, argv)]
    if "--plate-dir" in argv:
        pdir = Path(argv[argv.index("--plate-dir") + 1])
        names = sorted(p.name for p in pdir.iterdir())
        pick = {
            "sky_flux": {"spFrame": None, "spFluxcalib": None, "spCFrame": (2,), "spPlate": ()},
            "flux_calibration": {"spFrame": tuple(range(7))},
            "boss_visits": {"spCFrame": VISIT_ROWS, "spPlate": ()},
        }.get(step, {})
        for name in names:
            kind = name.split("-")[0]
            if kind in pick:
                reads.append((str(pdir / name), pick[kind]))
    return reads


def _read_everything(path: Path, hdus: tuple | None = None) -> int:
    """Read a file the way a step must at least: HDUs / datasets / bytes. Returns bytes read."""
    import h5py
    import numpy as np

    if path.is_dir():
        return sum(_read_everything(p) for p in sorted(path.rglob("*")) if p.is_file())
    if isinstance(hdus, tuple) and hdus[:1] == (IERS_ROWS,):
        from sdssflow.earth_orientation import iers_b_window

        table = iers_b_window(hdus[1], hdus[2], path=str(path))
        return len(path.read_bytes()) if table is None else 8 * 6 * len(table)
    name = path.name
    if name.endswith(".fits") and name.split("-")[0] in ASTROPY_PRODUCTS:
        from astropy.io import fits

        total = 0
        with fits.open(path, memmap=False) as f:  # as sdssflow.io.sky.read_product reads them
            for hdu in f[1:]:
                if hdus is None or hdu.name in hdus:
                    total += 0 if hdu.data is None else np.asarray(hdu.data).nbytes
        return total
    if name.endswith((".fits", ".fits.gz")):
        from sdssflow.io.inflate import open_fits

        total = 0
        with open_fits(path) as f:  # as io.boss opens them: a .gz inflated once (ISA-L), whole
            f[0].read_header()
            if hdus == VISIT_ROWS:
                return _read_visit_rows(f)
            for i in range(len(f)) if hdus is None else hdus:  # HDU numbers or EXTNAMEs
                data = f[i].read() if f[i].has_data() else None
                total += 0 if data is None else np.asarray(data).nbytes
        return total
    if name.endswith((".h5", ".hdf5")):
        sizes = []
        with h5py.File(path, "r") as f:
            f.visititems(lambda _, obj: sizes.append(obj[()].nbytes) if isinstance(obj, h5py.Dataset) else None)
        return int(sum(sizes))
    return len(path.read_bytes())


def _read_visit_rows(f) -> int:
    """Bytes of the MWM visits' rows of an open spCFrame (:data:`VISIT_ROWS`)."""
    import numpy as np

    plug = f[5].read()
    if "SDSS_ID" not in plug.dtype.names:
        return plug.nbytes
    objtype = np.char.strip(plug["OBJTYPE"].astype(str))
    rows = np.flatnonzero((plug["SDSS_ID"] > 0) & (objtype != "SKY"))
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1  # runs of consecutive rows: one section each
    runs = [(int(r[0]), int(r[-1]) + 1) for r in np.split(rows, breaks) if r.size]
    total = plug.nbytes
    for ext in (0, 1, 2, 3, 4):  # flux, ivar, mask, loglam, wdisp: boss_visits reads no sky (HDU6)
        total += sum(f[ext][first:stop, :].nbytes for first, stop in runs)
    return total


def _usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), r.ru_utime + r.ru_stime


def _floor_child(root, reads, queue):
    os.chdir(root)
    import h5py  # noqa: F401  (imports are not part of the floor)
    from astropy.io import fits  # noqa: F401
    from astropy.utils import iers  # noqa: F401  (iers_b_window's; the step imports it too)

    import sdssflow.earth_orientation  # noqa: F401
    import sdssflow.io.inflate  # noqa: F401

    t0, c0 = _usage()
    nbytes = sum(_read_everything(Path(p), hdus) for p, hdus in reads)
    t1, c1 = _usage()
    queue.put((t1 - t0, c1 - c0, nbytes))


def _step_child(root, module, argv, queue, env=None, pin=True):
    os.chdir(root)
    for name, value in (env or {}).items():
        os.environ[name] = value
    if not pin:  # the library default: one thread per core
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.pop(name, None)
    import contextlib

    from threadpoolctl import threadpool_limits

    t0, c0 = _usage()
    mod = importlib.import_module(module)
    # the pinning is the job's set-up (run_step's, once per job: threadpoolctl inspects the
    # loaded libraries, ~5 ms), not the step's work: outside the timed main() like the imports
    with threadpool_limits(1) if pin else contextlib.nullcontext():
        t1, c1 = _usage()
        mod.main(argv)
        t2, c2 = _usage()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    queue.put((t2 - t1, c2 - c1, peak, t1 - t0))


def run_step_child(root: Path, module: str, argv: list, env: dict | None = None, pin: bool = True) -> tuple:
    """(wall s, CPU s, peak RSS MB, import s) of one step run in a fresh process.

    ``pin``: threads pinned to 1 as run_step does in a rule; False leaves the BLAS default
    (the environment variables of the parent are removed before numpy loads)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_step_child, args=(str(root), module, argv, queue, env, pin))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _in_child(target, *args):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def job_cpu(root: Path, module: str, argv: list) -> float:
    """CPU seconds of the step as the workflow runs it: a fresh ``python -m`` process.

    Interpreter start, imports and the step (threads pinned to 1 by the environment, as
    run_step does), from the children's rusage of this process.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", module, *argv], cwd=root, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def run_table(root: Path, steps=STEPS, repeat: int = 1) -> list[dict]:
    """Measure every step and its floor (best of ``repeat``); print and return the rows."""
    os.environ.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    config = ensure_run(root)
    jobs = job_commands(root, config, steps)
    rows = []
    print("| step | wall s | CPU s | peak RSS MB | floor wall s | floor CPU s (read + gunzip) | step / floor (CPU) |"
          " job CPU s (python -m) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for step in steps:
        if step not in jobs:
            print(f"| {step} | (no job in the demo run) | | | | | | |")
            continue
        module, argv, inputs = jobs[step]
        reads = floor_reads(step, argv, inputs, root)
        floor = min(_in_child(_floor_child, str(root), reads)[:2] for _ in range(repeat))
        best = min(_in_child(_step_child, str(root), module, argv) for _ in range(repeat))
        job = min(job_cpu(root, module, argv) for _ in range(repeat))
        row = {"step": step, "wall_s": best[0], "cpu_s": best[1], "peak_mb": best[2], "import_s": best[3],
               "floor_s": floor[0], "floor_cpu_s": floor[1], "ratio": best[1] / max(floor[1], 1e-9),
               "job_cpu_s": job}  # fmt: skip
        rows.append(row)
        print(f"| {step} | {row['wall_s']:.2f} | {row['cpu_s']:.2f} | {row['peak_mb']:.0f} | {row['floor_s']:.2f} |"
              f" {row['floor_cpu_s']:.3f} | {row['ratio']:.1f} | {job:.2f} |", flush=True)  # fmt: skip
    chain = [r for r in rows if r["step"] in STEPS]
    if chain:
        wall, cpu = sum(r["wall_s"] for r in chain), sum(r["cpu_s"] for r in chain)
        fwall, fcpu = sum(r["floor_s"] for r in chain), sum(r["floor_cpu_s"] for r in chain)
        print(f"| per-plate chain ({len(chain)} steps) | {wall:.2f} | {cpu:.2f} | {max(r['peak_mb'] for r in chain):.0f} |"
              f" {fwall:.2f} | {fcpu:.3f} | {cpu / max(fcpu, 1e-9):.1f} | {sum(r['job_cpu_s'] for r in chain):.2f} |")  # fmt: skip
        print(f"start-up of a job (imports of the step module in a spawned process, wall; not in the step "
              f"times): {min(r['import_s'] for r in chain):.2f}-{max(r['import_s'] for r in chain):.2f} s; "
              f"the job column is a fresh `python -m` process (interpreter + imports + step)")  # fmt: skip
    sky = [r for r in rows if r["step"] in SKY_PLATE_STEPS]
    if "sky_plate" in jobs and len(sky) == len(SKY_PLATE_STEPS):
        module, argv, _ = jobs["sky_plate"]
        whole = min(job_cpu(root, module, argv) for _ in range(repeat))
        print(f"sky_plate job (the six sky steps in one `python -m` process, as the workflow runs them): "
              f"{whole:.2f} s CPU; the six steps as six processes: {sum(r['job_cpu_s'] for r in sky):.2f} s")  # fmt: skip
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "sdssflow-bench-plate")
    parser.add_argument("--steps", nargs="*", default=list(STEPS), choices=STEPS)
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs of each measurement")
    args = parser.parse_args(argv)
    run_table(args.root, tuple(args.steps), args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
