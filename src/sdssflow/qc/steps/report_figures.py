"""Step ``report_*``: the QC figures of ``snakemake --report`` from the run's products.

``python -m sdssflow.qc.steps.report_figures KIND [options] --out FIG.png``, KIND one of:

``calibration``
    ``--fluxcal-dir DIR ...`` (flux_calibration outputs, ``calib-*.fits``): calibration
    vectors of every exposure, a panel per camera.
``sky-lines``
    ``--mega sky_meta_all.fits``: airglow line sums against Moon separation, Moon
    illumination and F10.7 (``--lines`` to choose the lines).
``mean-sky``
    ``--contfit contfit-PLATE.fits ...``: mean sky spectra with their continuum fit (the
    first ``--max-spectra``).
``mwm-star``
    ``--status results/<v>/spectra/mwm_status.fits`` (sources with CREATED_MWM_STAR) and/or
    ``--star-dir results/<v>/spectra/star --bucket GGHH ...``: the first ``--max-stars``
    mwmStar spectra with their continuum (BOSS, else APOGEE). With no mwmStar at all (e.g.
    real data where every source was skipped), a figure saying why there is none.
``benchmarks``
    ``--bench-dir benchmarks/<v>``: per-rule wall time, CPU time and peak memory of every
    job of the run; ``--table`` also writes the table as CSV.

Every figure is a PNG written atomically (hidden temporary name, then rename). The sky and
flux-calibration figures take their inputs from a list of candidates (the workflow passes more
plates than it shows) and use those that hold data; when none does, the figure is a
"nothing to show" figure whose caption says which inputs were looked at and why they are empty, and the
step succeeds (a report figure never fails the run).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sdssflow.io.products import atomic_path
from sdssflow.qc import figures
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main", "read_benchmarks"]

log = logging.getLogger(__name__)


def parse(argv: Sequence[str] | None = None):
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["calibration", "sky-lines", "mean-sky", "mwm-star", "benchmarks"])
    parser.add_argument("--out", required=True, help="output PNG")
    parser.add_argument("--fluxcal-dir", nargs="*", default=[], help="flux_calibration output directories")
    parser.add_argument("--mega", help="sky mega file (sky_meta_all.fits)")
    parser.add_argument("--lines", default=",".join(figures.DEFAULT_LINES), help="comma-separated line columns")
    parser.add_argument("--contfit", nargs="*", default=[], help="continuum_fit files")
    parser.add_argument("--max-spectra", type=int, default=4)
    parser.add_argument("--max-dirs", type=int, default=2, help="calibration: flux_calibration directories shown")
    parser.add_argument("--star-dir", help="results/<version>/spectra/star")
    parser.add_argument("--status", help="mwm_status table: sources whose mwmStar was created")
    parser.add_argument("--bucket", nargs="*", default=[], help="GGHH buckets to take stars from")
    parser.add_argument("--max-stars", type=int, default=3)
    parser.add_argument("--bench-dir", help="benchmarks/<version>")
    parser.add_argument("--table", help="also write the benchmark table here (CSV)")
    return parser.parse_args(argv)


def _calibration(dirs: Sequence[str], max_dirs: int = 2):
    from sdssflow.io.fluxcal import read_calibration

    calibs, used, looked = {}, 0, []
    for d in dirs:
        files = sorted(Path(d).glob("calib-*.fits"))
        looked.append(f"{Path(d).name or d}: {len(files)} calib file(s)")
        got = False
        for path in files:
            try:
                per_cam = read_calibration(path)
            except (OSError, ValueError, KeyError) as err:
                log.warning("%s: unreadable calibration, not shown: %s", path, err)
                continue
            label = path.stem.removeprefix("calib-")
            calibs[label] = {cam: (c.wave, c.cal_factor) for cam, c in per_cam.items()}
            got = True
        used += got
        if used >= max_dirs:
            break
    if not calibs:
        where = "; ".join(looked) if looked else "no flux_calibration directory in this run (input without frames)"
        return figures.plot_nothing_to_show("calibration vectors", f"no calib-*.fits to plot ({where})")
    return figures.plot_calibration_vectors(calibs)


def _fits_table(path: str, ext) -> pd.DataFrame:
    import fitsio

    data = fitsio.read(path, ext=ext)
    return pd.DataFrame({name: data[name].astype(data[name].dtype.newbyteorder("=")) for name in data.dtype.names
                         if data[name].ndim == 1})


def _sky_lines(mega: str, lines: str):
    title = "sky line sums vs conditions"
    if not mega or not Path(mega).exists():
        return figures.plot_nothing_to_show(title, f"sky mega file {mega!r} not found")
    try:
        table = _fits_table(mega, 1)
    except (OSError, ValueError) as err:
        return figures.plot_nothing_to_show(title, f"{mega}: unreadable ({err})")
    wanted = [s for s in lines.split(",") if s]
    present = [c for c in wanted if c in table.columns and np.isfinite(table[c].to_numpy(dtype=float)).any()]
    if not present:
        return figures.plot_nothing_to_show(title, f"{mega}: {len(table)} rows, no finite value in {wanted}")
    return figures.plot_line_sums_vs_conditions(table, present)


def _mean_sky(contfits: Sequence[str], max_spectra: int):
    import fitsio

    wave = None
    flux, cont, labels, looked = [], [], [], []
    for path in contfits:
        try:
            with fitsio.FITS(path) as f:
                w = f["WAVE"].read()
                fl = np.atleast_2d(f["FLUX"].read())
                co = np.atleast_2d(f["CONTINUUM"].read())
                meta = f["META"].read(columns=["PLATE", "EXPID", "CAMERA"])
        except (OSError, ValueError, KeyError) as err:
            log.warning("%s: not shown: %s", path, err)
            looked.append(f"{Path(path).name}: unreadable")
            continue
        if wave is None:
            wave = w
        elif w.shape != wave.shape or not np.allclose(w, wave):
            raise StepError(f"{path}: wavelength grid differs from {contfits[0]}")
        n0 = len(labels)
        for k in range(min(fl.shape[0], len(meta))):
            if not np.any(np.isfinite(fl[k]) & (fl[k] != 0)):
                continue
            flux.append(fl[k])
            cont.append(co[k])
            m = meta[k]
            labels.append(f"plate {m['PLATE']} exposure {m['EXPID']} {m['CAMERA'].strip()}")
            if len(labels) >= max_spectra:
                break
        looked.append(f"{Path(path).name}: {len(labels) - n0} spectra with data")
        if len(labels) >= max_spectra:
            break
    if not labels:
        where = "; ".join(looked) if looked else "no sky plate in this run"
        return figures.plot_nothing_to_show("mean sky spectra", f"no mean sky spectrum with data ({where})")
    return figures.plot_mean_sky_with_continuum(wave, np.array(flux), np.array(cont), labels)


def _star_paths(status: str | None, star_dir: str | None, buckets: Sequence[str]) -> list[Path]:
    """mwmStar files: those the status table says were created, then those of the buckets."""
    from sdssflow.io.mwm_flags import STATUS_FLAGS
    from sdssflow.io.mwm_status import read_status

    paths = []
    if status:
        table = read_status(status)
        made = table[(table["flags"] >> STATUS_FLAGS["CREATED_MWM_STAR"]) & 1 == 1]
        for rec in made:
            visit = Path(str(np.char.strip(np.asarray(rec["path"]).astype(str))))
            star = visit.parents[3] / "star" / visit.parts[-3] / visit.parts[-2]
            paths.append(star / visit.name.replace("mwmVisit-", "mwmStar-", 1))
    for b in buckets if star_dir else ():
        paths += sorted((Path(star_dir) / b[:2] / b[2:]).glob("mwmStar-*.fits"))
    return list(dict.fromkeys(p for p in paths if p.exists()))


def _status_summary(status: str | None) -> str:
    """'N sources: k created_mwm_star, ...' from the status table (its messages' classes)."""
    from sdssflow.io.mwm_flags import names_of
    from sdssflow.io.mwm_status import read_status

    if not status or not Path(status).exists():
        return "no status table"
    table = read_status(status)
    counts: dict[str, int] = {}
    for rec in table:
        for name in names_of(int(rec["flags"])) or ["no flag"]:
            counts[name.lower()] = counts.get(name.lower(), 0) + 1
    return f"{len(table)} sources: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def _mwm_star(star_dir: str | None, buckets: Sequence[str], max_stars: int, status: str | None = None):
    from sdssflow.io.mwm import read_mwm
    from sdssflow.io.mwm_grids import wavelength

    spectra = []
    for path in _star_paths(status, star_dir, buckets):
        header, tables = read_mwm(path)
        for hdu in ("BOSS/APO", "BOSS/LCO", "APOGEE/APO", "APOGEE/LCO"):
            rows = tables.get(hdu)
            if rows is None or len(rows) == 0:
                continue
            inst = "boss" if hdu.startswith("BOSS") else "apogee"
            row = rows[0]
            spectra.append(
                (f"sdss_id {header.get('SDSS_ID', path.stem)} {hdu}", wavelength(inst), row["flux"], row["continuum"])
            )
            break
        if len(spectra) >= max_stars:
            break
    if not spectra:
        why = f"No mwmStar file in this run ({_status_summary(status)})."
        log.warning("mwm-star figure: %s", why)
        return figures.plot_nothing_to_show("mwmStar spectra", why)
    return figures.plot_mwm_stars(spectra)


def read_benchmarks(bench_dir: str | Path, skip_rules: Sequence[str] = ()) -> pd.DataFrame:
    """Every Snakemake benchmark TSV below ``bench_dir``/<rule>/, one row per job.

    Returns
    -------
    pandas.DataFrame
        The benchmark columns plus ``rule`` (the first directory) and ``job`` (file stem).
    """
    root = Path(bench_dir)
    frames = []
    for path in sorted(root.glob("*/**/*.tsv")):
        rule = path.relative_to(root).parts[0]
        if rule in skip_rules:
            continue
        try:
            df = pd.read_csv(path, sep="\t")
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
            log.warning("skipping unreadable benchmark %s: %s", path, err)
            continue
        frames.append(df.assign(rule=rule, job=path.stem))
    if not frames:
        raise StepError(f"no benchmark files below {root}")
    return pd.concat(frames, ignore_index=True)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    if args.kind == "calibration":
        fig = _calibration(args.fluxcal_dir, args.max_dirs)
    elif args.kind == "sky-lines":
        fig = _sky_lines(args.mega, args.lines)
    elif args.kind == "mean-sky":
        fig = _mean_sky(args.contfit, args.max_spectra)
    elif args.kind == "mwm-star":
        fig = _mwm_star(args.star_dir, args.bucket, args.max_stars, args.status)
    else:
        rows = read_benchmarks(args.bench_dir, skip_rules=("report_benchmarks",))
        summary = figures.summarize_benchmarks(rows)
        if args.table:
            with atomic_path(args.table) as tmp:
                summary.to_csv(tmp, index=False)
        fig = figures.plot_benchmarks(summary)
    fig.suptitle(f"sdssflow {args.version_name}: {args.kind}", fontsize=9)
    with atomic_path(args.out) as tmp:
        fig.savefig(tmp, dpi=110, metadata={"Software": None})
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    sys.exit(run_step(main))
