"""Broadband sky magnitudes: fibre areas, b+r arm merging and AB magnitudes per arcsec2.

The science of the ``line_sum`` step (:mod:`sdssflow.sky.steps.line_sum`), also used by the sky
model's predictions and the mean spectra. Magnitudes are of the whole sky, lines included; a spec
file's ``SPECTROSKYFLUX`` cuts the sky lines idlspec2d flags (:mod:`sdssflow.sky.spectroskyflux`).
"""

from __future__ import annotations

import numpy as np

from sdssflow.sky.mean import rebin_mean

__all__ = ["fiber_area", "arm_groups", "merge_arms", "broadband_magnitudes", "DEFAULT_FILTERS", "MIN_BAND_COVER",
           "BOSS_FIRST_MJD"]

DEFAULT_FILTERS = ("sdss_u", "sdss_g", "sdss_r", "sdss_i", "sdss_z")
#: First MJD of BOSS (2" fibres); SDSS-I/II spectrographs had 3" fibres.
BOSS_FIRST_MJD = 55000



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
        # rows sorted by group (stable); then, for k = 0, 1, ..., the k-th row of every group
        # that has one is added to its group's running sums: np.add.at's sequential sums
        # (bit-identical to it), one vectorised add per group size (2 for the b+r pairs of
        # arm_groups) instead of reduceat along the rows, which was 40 % of the magnitudes' CPU
        order = np.argsort(groups, kind="stable")
        sorted_groups = groups[order]
        starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
        sizes = np.diff(np.r_[starts, sorted_groups.size])
        labels = sorted_groups[starts]
        for k in range(int(sizes.max())):
            has = sizes > k
            rows, into = order[starts[has] + k], labels[has]
            c = cover[rows]
            term = binned[rows]
            term *= c  # c * binned (a product is the same either way round)
            if into.size == ngroup:  # every group has a k-th row (into = 0, 1, ...): no scatter
                if k == 0:
                    num, den, best = term, c, np.maximum(c, 0.0)
                else:
                    num += term
                    den += c
                    np.maximum(best, c, out=best)
            elif k == 0:
                num[into], den[into], best[into] = term, c, np.maximum(c, 0.0)
            else:
                num[into] += term
                den[into] += c
                best[into] = np.maximum(best[into], c)
    merged = np.zeros_like(num)
    np.divide(num, den, out=merged, where=den > 0)  # where(den > 0, num / den, 0)
    return merged, best


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
        Native grids (A, float64), 1e-17 erg/s/cm2/A per fibre, ivar (0 = bad); flux and
        ivar float64 or float32 (the same magnitudes: converted exactly, a chunk at a time).
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
    # (float32 flux, as stored in skyflux, is converted exactly inside rebin_mean's product);
    # each chunk writes its rows of the whole arrays
    binned, cover = np.zeros((nspec, edges.size - 1)), np.zeros((nspec, edges.size - 1))
    for i in range(0, nspec, REBIN_CHUNK):
        rows = slice(i, i + REBIN_CHUNK)
        rebin_mean(wave[rows], flux[rows], (ivar[rows] > 0) & np.isfinite(flux[rows]), edges,
                   out=(binned[rows], cover[rows]))  # fmt: skip
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
            # only the bins ab_magnitude integrates (the curve's range and one bin either side,
            # found as it finds them) are gathered and scaled: the same sums
            i0 = max(int(np.searchsorted(centres, filt.wave[0], side="left")) - 1, 0)
            i1 = min(int(np.searchsorted(centres, filt.wave[-1], side="right")) + 1, centres.size)
            sb = binned[cover_f, i0:i1] / garea[cover_f, None]
            mags[cover_f] = ab_magnitude(centres[i0:i1], sb, filt, flux_scale=1e-17, good=good[cover_f, i0:i1],
                                         allow_partial=True)  # fmt: skip
        out[names[name]] = mags[groups]
    return out
