"""Step ``line_sum``: line sums, continuum levels and broadband sky magnitudes per spectrum.

Usage::

    python -m sdssflow.sky.steps.line_sum --skyflux results/v1/sky/4100/skyflux-4100.fits \\
        --rich results/v1/sky/4100/rich-4100.fits [--line-list sdssflow/data/sky/line_list.csv] \\
        [--filters sdss_g,sdss_r,sdss_i] --out results/v1/sky/4100/lines-{plate}.fits

Output: one table (``META``): the rich metadata plus, for every entry of the line list,
``<line>`` (line sum, 1e-17 erg/s/cm2 per fibre), ``<line>_IVAR``, ``<line>_FIT`` (Gaussian-fit
flux), ``<line>_NBAD``, and ``cont_<A>`` (mean continuum, 1e-17 erg/s/cm2/A) with ``_IVAR``
(:mod:`sdssflow.sky.lines`); ``FIBER_AREA`` (arcsec2: 2" BOSS fibres from MJD 55000, 3" before) and
``MAG_<filter>`` (AB mag per arcsec2 of the sky through the project's filter curves, NaN when
the spectrum's arm does not cover the filter). The magnitudes are of the whole sky, lines
included; a spec file's ``SPECTROSKYFLUX`` cuts the sky lines idlspec2d flags (up to 0.11 mag
fainter in r and i on SDSS-I/II files): :mod:`sdssflow.sky.spectroskyflux` computes that one.

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

__all__ = ["parse", "main", "fiber_area", "arm_groups", "merge_arms", "broadband_magnitudes", "DEFAULT_FILTERS", "MIN_BAND_COVER"]

log = logging.getLogger(__name__)

DEFAULT_FILTERS = ("sdss_u", "sdss_g", "sdss_r", "sdss_i", "sdss_z")
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


def arm_groups(meta) -> np.ndarray:
    """Label of the b+r pair of each row: the rows of one exposure, fibre and spectrograph.

    Parameters
    ----------
    meta : astropy.table.Table or mapping of column -> array, length nspec
        Needs ``CAMERA`` (b1, r1, b2, r2); uses ``PLATE``, ``MJD``, ``EXPID`` and ``FIBERID``
        where present (mean spectra have no fibre).

    Returns
    -------
    numpy.ndarray of int, shape (nspec,)
        Equal labels for the rows to merge (0, 1, ... in order of first appearance).

    Examples
    --------
    >>> arm_groups({"EXPID": [5, 5, 6], "CAMERA": ["b1", "r1", "b1"]}).tolist()
    [0, 0, 1]
    """
    cams = [str(c).strip().lower() for c in np.asarray(meta["CAMERA"])]
    keys = [k for k in ("PLATE", "MJD", "EXPID", "FIBERID") if k in meta.keys()]
    cols = [np.asarray(meta[k]).tolist() for k in keys]
    labels = [tuple(c[i] for c in cols) + (cam[1:],) for i, cam in enumerate(cams)]
    index: dict[tuple, int] = {}
    return np.array([index.setdefault(lab, len(index)) for lab in labels], dtype=np.int64)


def merge_arms(binned: np.ndarray, cover: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge the b and r spectra of each group on a common grid (bin by bin, cover-weighted).

    Parameters
    ----------
    binned, cover : numpy.ndarray, shape (nspec, nbin)
        Bin-averaged flux density and good-pixel cover (:func:`sdssflow.sky.mean.rebin_mean`).
    groups : numpy.ndarray of int, shape (nspec,)
        :func:`arm_groups` labels.

    Returns
    -------
    merged : numpy.ndarray, shape (ngroup, nbin)
        Where both arms cover a bin (the dichroic overlap) the cover-weighted mean, else the one
        arm's value; 0 where neither covers it.
    merged_cover : numpy.ndarray, shape (ngroup, nbin)
        The larger of the arms' covers (0..1).
    """
    ngroup = int(groups.max()) + 1 if groups.size else 0
    num = np.zeros((ngroup, binned.shape[1]))
    den = np.zeros_like(num)
    best = np.zeros_like(num)
    if groups.size:
        # rows sorted by group (stable), then one reduceat per quantity: np.add.at's sums
        # without its per-element dispatch (exactly equal for the b+r pairs of arm_groups,
        # to rounding for larger groups)
        order = np.argsort(groups, kind="stable")
        sorted_groups = groups[order]
        starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
        labels = sorted_groups[starts]
        c = cover[order]
        num[labels] = np.add.reduceat(c * binned[order], starts, axis=0)
        den[labels] = np.add.reduceat(c, starts, axis=0)
        best[labels] = np.maximum(np.maximum.reduceat(c, starts, axis=0), 0.0)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0), best


#: Spectra rebinned at a time by :func:`broadband_magnitudes` (bounds its temporaries).
REBIN_CHUNK = 64

#: Least fraction of a band's throughput (ln-lambda weighted) that must fall on good bins.
MIN_BAND_COVER = 0.9


def broadband_magnitudes(
    wave, flux, ivar, area, filters, groups=None, dloglam: float = 2e-4
) -> dict[str, np.ndarray]:
    """AB surface-brightness magnitudes (mag/arcsec2) of sky spectra through filters, b+r merged.

    Each spectrum is first averaged into log-lambda bins of ``dloglam`` dex, conserving flux
    (:func:`sdssflow.sky.mean.rebin_mean`: narrow lines keep their flux, masked pixels are left
    out); the b and r spectra of one exposure and fibre (``groups``) are merged on that grid
    (:func:`merge_arms`), so a band straddling the dichroic (SDSS r, about 5400-7000 A, which
    neither arm covers alone) gets a value; then :func:`sdssflow.photometry.ab_magnitude`
    integrates the merged spectrum. Both rows of a pair get the pair's magnitude.

    A band is NaN, on purpose, when the merged spectrum covers it only in part: (1) its good
    bins do not reach both ends of the band's 1 %-of-peak range (SDSS u below 3600 A on every
    BOSS spectrum, and below 3800 A on SDSS-I/II ones; SDSS z above 9200 A on SDSS-I/II ones;
    a band of an arm that is missing or was not selected), or (2) less than
    :data:`MIN_BAND_COVER` of the band's ln-lambda throughput falls on good bins (masked
    stretches inside the band). A partial band would need an extrapolated spectrum, which is
    a model, not a measurement.

    Parameters
    ----------
    wave, flux, ivar : numpy.ndarray, shape (nspec, npix)
        Native grids (A), 1e-17 erg/s/cm2/A per fibre, ivar (0 = bad).
    area : numpy.ndarray, shape (nspec,)
        Fibre area, arcsec2.
    filters : sequence of str
        Filter names (or curve paths) for :func:`sdssflow.photometry.load_filter`.
    groups : numpy.ndarray of int, shape (nspec,), optional
        :func:`arm_groups` labels; None = every spectrum alone.
    dloglam : float
        Bin width, dex.

    Returns
    -------
    dict ``MAG_<filter>`` -> numpy.ndarray, shape (nspec,)
        NaN where a band is not covered (see above).
    """
    from sdssflow.photometry import ab_magnitude, load_filter

    nspec = wave.shape[0]
    names = {f: f"MAG_{load_filter(f).name}" for f in filters}
    if not len(filters) or nspec == 0:
        return {names[f]: np.full(nspec, np.nan) for f in filters}
    groups = np.arange(nspec) if groups is None else np.asarray(groups, dtype=np.int64)
    edges = 10.0 ** np.arange(3.54, 4.03, dloglam)
    centres = np.sqrt(edges[1:] * edges[:-1])
    # rebin in chunks of spectra: rebin_mean's full-size temporaries (pixel widths, cumulative
    # sums, boundaries) would otherwise set the step's peak memory
    parts = [
        rebin_mean(wave[i : i + REBIN_CHUNK], flux[i : i + REBIN_CHUNK],
                   (ivar[i : i + REBIN_CHUNK] > 0) & np.isfinite(flux[i : i + REBIN_CHUNK]), edges)
        for i in range(0, nspec, REBIN_CHUNK)
    ]  # fmt: skip
    binned, cover = np.concatenate([b for b, _ in parts]), np.concatenate([c for _, c in parts])
    del parts
    binned, cover = merge_arms(binned, cover, groups)
    # one fibre area per group (the rows of a pair share it)
    garea = np.zeros(binned.shape[0])
    garea[groups] = np.asarray(area, dtype=float)
    good = cover > 0.5
    first = np.where(good.any(axis=1), centres[np.argmax(good, axis=1)], np.inf)
    last = np.where(good.any(axis=1), centres[centres.size - 1 - np.argmax(good[:, ::-1], axis=1)], -np.inf)
    lnw = np.gradient(np.log(centres))
    out = {}
    for name in filters:
        filt = load_filter(name)
        mags = np.full(binned.shape[0], np.nan)
        lo, hi = filt.support()
        thr = np.interp(centres, filt.wave, filt.throughput, left=0.0, right=0.0) * lnw
        frac = (good * thr).sum(axis=1) / thr.sum()
        cover_f = (first <= lo) & (last >= hi) & (frac >= MIN_BAND_COVER)
        if cover_f.any():
            sb = binned[cover_f] / garea[cover_f, None]
            mags[cover_f] = ab_magnitude(centres, sb, filt, flux_scale=1e-17, good=good[cover_f], allow_partial=True)
        out[names[name]] = mags[groups]
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
    mags = broadband_magnitudes(
        spectra.wave, spectra.flux, spectra.ivar, np.asarray(out["FIBER_AREA"]), filters, groups=arm_groups(out)
    )
    for k, v in mags.items():
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
