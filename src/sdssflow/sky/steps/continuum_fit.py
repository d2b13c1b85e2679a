"""Step ``continuum_fit``: airglow lines and continuum of every mean spectrum (blue and red).

Usage::

    python -m sdssflow.sky.steps.continuum_fit --mean results/v1/sky/4100/mean-4100.fits \\
        [--airglow sdssflow/data/sky/airglow_lines.csv] [--line-list sdssflow/data/sky/line_list.csv] \\
        [--knot-spacing 100] [--clip 5] --out results/v1/sky/4100/contfit-4100.fits

The fitted lines are the line list's components plus the arm's airglow list (merged within
3 A); the model is in :mod:`sdssflow.sky.contfit`. A spectrum whose fit fails is recorded in
META (``FIT_STATUS``) with zero continuum and does not stop the others.

Output: WAVE (ngrid,), FLUX, IVAR, CONTINUUM, MODEL (nmean, ngrid; 1e-17 erg/s/cm2/A), META
(the mean META plus ``FIT_STATUS``, ``CHI2``, ``DOF``, ``NLINES``), LINES (one row per fitted
line per mean spectrum: MEANID, EXPID, CAMERA, WAVE (A), FLUX (1e-17 erg/s/cm2), FLUX_IVAR).
"""

from __future__ import annotations

import logging
import sys

import numpy as np
from astropy.table import Table

from sdssflow.io.sky import FLUX_UNIT, IVAR_UNIT, read_product, write_product
from sdssflow.sky.contfit import DEFAULT_AIRGLOW, fit_continuum, merge_lines, read_airglow_lines
from sdssflow.sky.lines import DEFAULT_LINE_LIST, read_line_list
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main"]

log = logging.getLogger(__name__)


def parse(argv=None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--mean", required=True, help="mean-{plate}.fits")
    p.add_argument("--airglow", default=str(DEFAULT_AIRGLOW), help="airglow line lists: CSV (camera, wave), idlspec2d skylines.dat or UVES table")
    p.add_argument("--line-list", default=str(DEFAULT_LINE_LIST), help="line list CSV")
    p.add_argument("--knot-spacing", type=float, default=100.0, help="continuum spline knot spacing, A")
    p.add_argument("--clip", type=float, default=5.0, help="outlier clipping, sigma")
    p.add_argument("--out", required=True, help="output contfit-{plate}.fits")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    images, tables, _ = read_product(args.mean)
    if "META" not in tables or "FLUX" not in images:
        raise StepError(f"{args.mean}: not a mean-spectra product")
    meta = Table(tables["META"], copy=True)
    grid = images["WAVE"].astype(np.float64)
    flux = images["FLUX"].astype(np.float64)
    ivar = images["IVAR"].astype(np.float64)
    disp = images["DISP"].astype(np.float64)
    airglow = read_airglow_lines(args.airglow)
    entries = read_line_list(args.line_list)
    lists = {
        arm: merge_lines(np.array([c for e in entries if e.kind == "line" and e.camera == arm for c in e.components]), airglow[arm])
        for arm in ("b", "r")
    }
    cont = np.zeros_like(flux)
    model = np.zeros_like(flux)
    # the key columns as plain arrays: indexing a Table column per line was a tenth of the step
    cameras = [str(c) for c in np.asarray(meta["CAMERA"])]
    meanids, expids = np.asarray(meta["MEANID"]).tolist(), np.asarray(meta["EXPID"]).tolist()
    status, chi2, dof, nlines = [], [], [], []
    found = {name: [] for name in ("WAVE", "FLUX", "FLUX_IVAR")}
    for i in range(flux.shape[0]):
        arm = cameras[i].strip().lower()[:1]
        try:
            r = fit_continuum(grid, flux[i], ivar[i], disp[i], arm, lists[arm], args.knot_spacing, args.clip)
        except (ValueError, np.linalg.LinAlgError) as err:
            log.warning("mean spectrum %d (%s %s): fit failed: %s", i, expids[i], cameras[i], err)
            status.append("failed: " + str(err)[:60])
            chi2.append(np.nan)
            dof.append(0)
            nlines.append(0)
            continue
        cont[i], model[i] = r["continuum"], r["model"]
        status.append("ok")
        chi2.append(r["chi2"])
        dof.append(r["dof"])
        nlines.append(r["line_wave"].size)
        for name, key in (("WAVE", "line_wave"), ("FLUX", "line_flux"), ("FLUX_IVAR", "line_ivar")):
            found[name].append(np.asarray(r[key], dtype=np.float64))
    meta["FIT_STATUS"] = np.array(status, dtype="U72")
    meta["CHI2"] = np.array(chi2)
    meta["DOF"] = np.array(dof, dtype=np.int32)
    meta["NLINES"] = np.array(nlines, dtype=np.int32)
    # one row per fitted line, in the order of the spectra; the keys repeated per spectrum
    counts = np.asarray(nlines, dtype=np.int64)
    lines = Table(
        {
            "MEANID": np.repeat(np.asarray(meanids, dtype=np.int32), counts),
            "EXPID": np.repeat(np.asarray(expids, dtype=np.int64), counts),
            "CAMERA": np.repeat(np.asarray(cameras, dtype="U2"), counts),
            **{name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in found.items()},
        }
    )
    nfail = sum(s != "ok" for s in status)
    log.info("%d mean spectra fitted, %d failed, %d line fluxes", len(status) - nfail, nfail, len(lines))
    write_product(
        args.out,
        {
            "WAVE": (grid, "Angstrom"),
            "FLUX": (flux.astype(np.float32), FLUX_UNIT),
            "IVAR": (ivar.astype(np.float32), IVAR_UNIT),
            "CONTINUUM": (cont.astype(np.float32), FLUX_UNIT),
            "MODEL": (model.astype(np.float32), FLUX_UNIT),
        },
        {"META": meta, "LINES": lines},
        version=args.version_name,
        inputs=[args.mean, args.airglow, args.line_list],
        step="continuum_fit",
        header_cards={"KNOTSPAC": (args.knot_spacing, "continuum knot spacing, A"), "CLIP": (args.clip, "clip, sigma")},
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_step(main))
