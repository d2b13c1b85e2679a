"""Step ``line_sum``: line sums, continuum levels and broadband sky magnitudes per spectrum.

Usage::

    python -m sdssflow.sky.line_sum --skyflux results/v1/sky/4100/skyflux-4100.fits \\
        --rich results/v1/sky/4100/rich-4100.fits [--line-list data/sky/line_list.csv] \\
        [--filters sdss_g,sdss_r,sdss_i] --out results/v1/sky/4100/lines-{plate}.fits

Output: one table (``META``): the rich metadata plus, for every entry of the line list,
``<line>`` (line sum, 1e-17 erg/s/cm2 per fibre), ``<line>_IVAR``, ``<line>_FIT`` (Gaussian-fit
flux), ``<line>_NBAD``, and ``cont_<A>`` (mean continuum, 1e-17 erg/s/cm2/A) with ``_IVAR``
(:mod:`sdssflow.sky.lines`); ``FIBER_AREA`` (arcsec2: 2" BOSS fibres from MJD 55000, 3" before) and
``MAG_<filter>`` (AB mag per arcsec2 of the sky through the project's filter curves, NaN when
the spectrum's arm does not cover the filter).

Fix of the original: magnitudes were computed through filters the camera did not cover (giving
meaningless or infinite values) and divided by pi arcsec2 for every fibre; here only covered
filters give a value and the fibre area follows the spectrograph.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
from astropy.table import Table

from sdssflow.io.sky import read_skyflux, read_table, write_table
from sdssflow.sky.lines import DEFAULT_LINE_LIST, column_units, line_table, read_line_list
from sdssflow.sky.mean import rebin_mean
from sdssflow.steps import StepError, base_parser, run_step

__all__ = ["parse", "main", "fiber_area", "broadband_magnitudes", "DEFAULT_FILTERS"]

log = logging.getLogger(__name__)

DEFAULT_FILTERS = ("sdss_g", "sdss_r", "sdss_i", "sdss_z")
#: First MJD of BOSS (2" fibres); SDSS-I/II spectrographs had 3" fibres.
BOSS_FIRST_MJD = 55000


def parse(argv=None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--skyflux", required=True, help="skyflux-{plate}.fits")
    p.add_argument("--rich", required=True, help="rich-{plate}.fits (rows in the same order)")
    p.add_argument("--line-list", default=str(DEFAULT_LINE_LIST), help="line list CSV")
    p.add_argument("--filters", default=",".join(DEFAULT_FILTERS), help="comma-separated filter names ('' = none)")
    p.add_argument("--out", required=True, help="output lines-{plate}.fits")
    return p.parse_args(argv)


def fiber_area(mjd: np.ndarray) -> np.ndarray:
    """Fibre area on the sky, arcsec2: pi (2" BOSS fibres) from MJD 55000, 2.25 pi (3") before.

    Examples
    --------
    >>> fiber_area(np.array([52000, 56000])).round(3).tolist()
    [7.069, 3.142]
    """
    mjd = np.asarray(mjd)
    return np.where(mjd >= BOSS_FIRST_MJD, np.pi * 1.0**2, np.pi * 1.5**2)


def broadband_magnitudes(wave, flux, ivar, area, filters, dloglam: float = 2e-4) -> dict[str, np.ndarray]:
    """AB surface-brightness magnitudes (mag/arcsec2) of sky spectra through filters.

    The spectra are first averaged into log-lambda bins of ``dloglam`` dex, conserving flux
    (:func:`sdssflow.sky.mean.rebin_mean`: narrow lines keep their flux, masked pixels are left
    out), then :func:`sdssflow.photometry.ab_magnitude` integrates them.

    Parameters
    ----------
    wave, flux, ivar : numpy.ndarray, shape (nspec, npix)
        Native grids (A), 1e-17 erg/s/cm2/A per fibre, ivar (0 = bad).
    area : numpy.ndarray, shape (nspec,)
        Fibre area, arcsec2.
    filters : sequence of str
        Filter names for :func:`sdssflow.photometry.load_filter`.
    dloglam : float
        Bin width, dex.

    Returns
    -------
    dict ``MAG_<filter>`` -> numpy.ndarray, shape (nspec,)
        NaN where a spectrum's good pixels do not span the filter (1 %-of-peak range).
    """
    from sdssflow.photometry import ab_magnitude, load_filter

    nspec = wave.shape[0]
    if not len(filters) or nspec == 0:
        return {f"MAG_{f}": np.full(nspec, np.nan) for f in filters}
    edges = 10.0 ** np.arange(3.54, 4.03, dloglam)
    centres = np.sqrt(edges[1:] * edges[:-1])
    good_pix = (ivar > 0) & np.isfinite(flux)
    binned, cover = rebin_mean(wave, flux, good_pix, edges)
    good = cover > 0.5
    first = np.where(good.any(axis=1), centres[np.argmax(good, axis=1)], np.inf)
    last = np.where(good.any(axis=1), centres[centres.size - 1 - np.argmax(good[:, ::-1], axis=1)], -np.inf)
    out = {}
    for name in filters:
        mags = np.full(nspec, np.nan)
        lo, hi = load_filter(name).support()
        cover_f = (first <= lo) & (last >= hi)
        if cover_f.any():
            sb = binned[cover_f] / np.asarray(area)[cover_f, None]
            mags[cover_f] = ab_magnitude(centres, sb, name, flux_scale=1e-17, good=good[cover_f], allow_partial=True)
        out[f"MAG_{name}"] = mags
    return out


def main(argv=None) -> int:
    args = parse(argv)
    spectra = read_skyflux(args.skyflux)
    rich = read_table(args.rich)
    if len(rich) != spectra.nspec or not np.array_equal(np.asarray(rich["SPECNO"]), np.asarray(spectra.meta["SPECNO"])):
        raise StepError(f"{args.rich}: rows do not match {args.skyflux} (SPECNO)")
    entries = read_line_list(args.line_list)
    cols = line_table(spectra.wave, spectra.flux, spectra.ivar, spectra.disp, np.asarray(spectra.meta["CAMERA"]), entries)
    out = Table(rich, copy=True)
    units = column_units(entries)
    for k, v in cols.items():
        out[k] = v
        if k in units:
            out[k].unit = units[k]
    out["FIBER_AREA"] = fiber_area(np.asarray(out["MJD"]))
    filters = [f for f in args.filters.split(",") if f]
    for k, v in broadband_magnitudes(spectra.wave, spectra.flux, spectra.ivar, np.asarray(out["FIBER_AREA"]), filters).items():
        out[k] = v
        out[k].unit = "mag"  # AB mag per arcsec2
    out["FIBER_AREA"].unit = "arcsec2"
    nfail = sum(int(np.all([np.isnan(cols[e.name][i]) for e in entries if e.kind == "line" and e.camera == str(c)[:1]]))
                for i, c in enumerate(out["CAMERA"]))
    log.info("%d spectra, %d line entries; %d spectra with every line sum NaN", len(out), len(entries), nfail)
    write_table(out, args.out, version=args.version_name, inputs=[args.skyflux, args.rich, args.line_list], step="line_sum")
    return 0


if __name__ == "__main__":
    sys.exit(run_step(main))
