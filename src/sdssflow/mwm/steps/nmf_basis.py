"""Step nmf_basis: train the non-negative basis H of the NMF continuum model.

Training set (``--source``):

- ``bosz``: the BOSZ templates of ``--templates`` (``bosz_library.h5`` or a BOSZ 2024
  mirror directory): absorption depths 1 - H/C, convolved to the instrument resolution
  (BOSS R = 2000, APOGEE R = 22,500) and interpolated onto each standard grid (pixels
  outside the models' range get depth 0); an instrument the templates do not cover
  (a library trimmed to the optical) falls back to ``synthetic``, logged and recorded in
  NMFBASIS / NMFSRCA;
- ``synthetic``: :func:`sdssflow.mwm.nmf_training.synthetic_basis` line-forest spectra
  (deterministic; for tests and when no library is at hand).

H is trained by multiplicative-update NMF (:func:`sdssflow.mwm.nmf_training.train_nmf_basis`)
with ``--n-components`` rows per instrument. Output: FITS with HDUs ``BOSS`` (C × 4648)
and ``APOGEE`` (C × 8575) and the card ``NMFBASIS`` = ``sdssflow-<source>-C<n>``
(recorded in every mwm file). Not astra's pickled bases: see sdssflow/data/mwm/README.md.

Usage::

    python -m sdssflow.mwm.steps.nmf_basis --source bosz --templates results/v1/bosz/bosz_library.h5 \\
        --output results/v1/mwm/nmf/nmf-basis.fits
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from sdssflow.io.mwm_grids import GRIDS
from sdssflow.io.mwm_templates import read_rv_templates, write_nmf_basis
from sdssflow.mwm.nmf_training import RESOLUTION, synthetic_basis, train_nmf_basis
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main", "depths_on_grid"]

log = logging.getLogger(__name__)


def parse(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--source", choices=("bosz", "synthetic"), default="bosz")
    p.add_argument("--templates", help="bosz_library.h5 or BOSZ mirror directory (--source bosz)")
    p.add_argument("--n-components", type=int, default=12, help="basis rows C per instrument")
    p.add_argument("--seed", type=int, default=20230217)
    p.add_argument("--output", required=True)
    return p.parse_args(argv)


def depths_on_grid(wave, rect, model_resolution: float, instrument: str) -> np.ndarray:
    """Absorption depths 1 - rect convolved to the instrument and put on its grid.

    Parameters
    ----------
    wave : ndarray, shape (nw,)
        Template wavelengths, Å vacuum (uniform in ln λ).
    rect : ndarray, shape (ntpl, nw)
        H / C.
    model_resolution : float
        Resolving power of the templates.
    instrument : {'boss', 'apogee'}

    Returns
    -------
    ndarray, shape (ntpl, npix)
        Depths ≥ 0 on the standard grid; 0 outside the templates' range.
    """
    grid = GRIDS[instrument].wavelength
    dln = float(np.median(np.diff(np.log(wave))))
    r_out = RESOLUTION[instrument]
    extra = max(1.0 / r_out**2 - 1.0 / model_resolution**2, 0.0) ** 0.5 / 2.3548
    depth = 1.0 - np.asarray(rect, float)
    if extra > 0:
        depth = gaussian_filter1d(depth, extra / dln, axis=1)
    out = np.array([np.interp(np.log(grid), np.log(wave), d, left=0.0, right=0.0) for d in depth])
    return np.clip(out, 0.0, None)


def main(argv: Sequence[str] | None = None) -> Path:
    args = parse(argv)
    bases = {}
    sources = {"boss": args.source, "apogee": args.source}
    inputs = []
    if args.source == "synthetic":
        for inst in ("boss", "apogee"):
            bases[inst] = synthetic_basis(inst, args.n_components, args.seed)
    else:
        if not args.templates:
            raise StepError("--source bosz needs --templates")
        inputs = [args.templates]
        for inst, rng in (("boss", (3500.0, 10500.0)), ("apogee", (15000.0, 17100.0))):
            try:
                wave, rect, params, res = read_rv_templates(args.templates, wave_range=rng)
            except ValueError as err:
                # e.g. a library trimmed to the optical (bosz.wave_max): train this instrument
                # on the synthetic stand-in instead, and say so in the name card
                log.warning(
                    "%s: no %s templates (%s); using the synthetic basis for %s",
                    args.templates,
                    inst,
                    err,
                    inst,
                )
                bases[inst] = synthetic_basis(inst, args.n_components, args.seed)
                sources[inst] = "synthetic"
                continue
            depths = depths_on_grid(wave, rect, res, inst)
            n = min(args.n_components, depths.shape[0])
            bases[inst] = train_nmf_basis(depths, n, seed=args.seed)
            sources[inst] = "bosz"
            log.info("%s: %d templates -> C = %d", inst, depths.shape[0], n)
    tag = (
        args.source
        if sources["boss"] == sources["apogee"]
        else f"{sources['boss']}+{sources['apogee']}"
    )
    name = f"sdssflow-{tag}-C{args.n_components}"
    cards = [
        ("NMFBASIS", name, "NMF basis name"),
        ("NMFSRCB", sources["boss"], "training set of the BOSS basis"),
        ("NMFSRCA", sources["apogee"], "training set of the APOGEE basis"),
    ]
    out = write_nmf_basis(args.output, bases, cards, args.version_name, inputs)
    log.info("wrote %s (%s)", out, name)
    return out


if __name__ == "__main__":
    sys.exit(run_step(main))
