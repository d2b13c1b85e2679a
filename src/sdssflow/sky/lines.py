"""Line sums and continuum levels of sky spectra, from the line list in ``sdssflow/data/sky/line_list.csv``.

For each line entry (one line or an unresolved blend) and each spectrum of the entry's arm:

* a weighted linear least-squares fit over [cont1_lo, cont2_hi] of a linear continuum plus one
  Gaussian per component, centred at the listed vacuum wavelength, with sigma = the spectrum's
  line-spread sigma (DISP) there and unit area: the fitted areas give ``<name>_FIT``;
* the line sum ``<name>`` = sum over pixels centred in [lo, hi] of (flux - fitted continuum) *
  pixel width (Angstrom), in 1e-17 erg/s/cm2; masked pixels (ivar = 0) inside the window take
  the fitted model's value; ``<name>_IVAR`` is its inverse variance (pixel noise, the
  continuum fit's covariance, and their cross term since the fit also uses the window pixels); ``<name>_NBAD`` counts the filled pixels.

Continuum entries give ``<name>`` = ivar-weighted mean flux density over [lo, hi]
(1e-17 erg/s/cm2/A) and ``<name>_IVAR`` = the sum of the ivars.

Fixes of the original (SkyModelling ``get_line_sum_file.py`` / ``get_mean_meta_file.py``):
the "line sum" was a plain sum of 10 flux densities (no pixel width, no continuum subtraction)
and the window was 10 native pixels on single spectra but 10 x 0.01 nm on mean spectra; here the
same windows in Angstrom apply to every grid and the result is an integrated flux. Lines of the
other arm are NaN, not 0 (0 was also the original's failure marker). Line wavelengths are
vacuum values from NIST air wavelengths with the correct Edlen/Morton term (the original used 389
for 38.9) and no rounding of the air value to whole Angstrom. Continuum names are ``cont_<A>``
in both arms (the original prefixed red ones ``cont_b_``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdssflow.resources import data_path
from sdssflow.sky.mean import pixel_widths

__all__ = [
    "LineEntry",
    "DEFAULT_LINE_LIST",
    "read_line_list",
    "window_indices",
    "measure_lines",
    "measure_continua",
    "line_table",
    "column_units",
]

LINE_UNIT = "1e-17 erg / (s cm2)"
CONT_UNIT = "1e-17 erg / (s cm2 Angstrom)"

#: The project's line list (vacuum Angstrom).
DEFAULT_LINE_LIST = data_path("sky/line_list.csv")


@dataclass(frozen=True)
class LineEntry:
    """One row of the line list.

    Attributes
    ----------
    name : str
        Column name in the products.
    camera : str
        Arm that measures it: ``b`` or ``r``.
    kind : str
        ``line`` or ``cont``.
    wave : float
        Centre, vacuum A.
    components : tuple of float
        Vacuum A of the blended lines (lines only).
    window : (float, float)
        Integration window, A.
    bands : tuple of (float, float)
        Continuum side bands, A (lines only).
    """

    name: str
    camera: str
    kind: str
    wave: float
    components: tuple[float, ...]
    window: tuple[float, float]
    bands: tuple[tuple[float, float], ...]


def read_line_list(path: str | Path = DEFAULT_LINE_LIST) -> list[LineEntry]:
    """Read the line list CSV (``#`` comments; see ``sdssflow/data/sky/line_list.csv``).

    Raises
    ------
    ValueError
        If a column is missing, a camera/type is unknown, or a window is empty or does not hold
        the line.
    """
    from types import SimpleNamespace

    from sdssflow.sky.tables import read_csv

    path = Path(path)
    table = read_csv(path)
    need = {"name", "camera", "type", "wave", "components", "lo", "hi", "cont1_lo", "cont1_hi", "cont2_lo", "cont2_hi"}
    missing = need - set(table)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
    nrow = len(table["name"])
    out = []
    for i in range(nrow):
        row = SimpleNamespace(**{k: v[i] for k, v in table.items()})
        if row.camera not in ("b", "r") or row.type not in ("line", "cont"):
            raise ValueError(f"{path}: {row.name}: camera must be b|r and type line|cont")
        if not row.lo < row.wave < row.hi:
            raise ValueError(f"{path}: {row.name}: window [{row.lo}, {row.hi}] does not hold {row.wave}")
        comps: tuple[float, ...] = ()
        bands: tuple[tuple[float, float], ...] = ()
        if row.type == "line":
            comps = tuple(float(x) for x in str(row.components).split() if x.lower() != "nan")
            bands = ((float(row.cont1_lo), float(row.cont1_hi)), (float(row.cont2_lo), float(row.cont2_hi)))
            if not (bands[0][1] <= row.lo and row.hi <= bands[1][0]):
                raise ValueError(f"{path}: {row.name}: side bands must lie outside the window")
        out.append(
            LineEntry(str(row.name), row.camera, row.type, float(row.wave), comps, (float(row.lo), float(row.hi)), bands)
        )
    return out


def window_indices(wave: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel indices of each row whose centre lies in [lo, hi], padded to a common length.

    Parameters
    ----------
    wave : numpy.ndarray, shape (nspec, npix)
        Strictly increasing per row.
    lo, hi : float
        Window, same unit as ``wave``.

    Returns
    -------
    index : numpy.ndarray of int, shape (nspec, m)
        Pixel indices (clipped into range).
    inside : numpy.ndarray of bool, shape (nspec, m)
        True for real pixels of the window (False = padding).
    """
    nspec, npix = wave.shape
    offset = np.arange(nspec)[:, None] * 1e6  # rows are < 1e6 A, so the flat array stays sorted
    flat = (wave + offset).ravel()
    start = np.searchsorted(flat, lo + offset[:, 0], side="left") - np.arange(nspec) * npix
    stop = np.searchsorted(flat, hi + offset[:, 0], side="right") - np.arange(nspec) * npix
    count = stop - start
    m = max(int(count.max(initial=0)), 1)
    index = start[:, None] + np.arange(m)[None, :]
    inside = np.arange(m)[None, :] < count[:, None]
    return np.clip(index, 0, npix - 1), inside


def _flat_index(shape: tuple[int, int], index: np.ndarray) -> np.ndarray:
    """Indices into the flattened (nspec, npix) array of ``index`` (per-row pixel indices)."""
    return index + (np.arange(shape[0]) * shape[1])[:, None]


def _gather(array: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """``take_along_axis(array, index, axis=1)`` from :func:`_flat_index`'s indices.

    ``np.take`` on the flattened C-ordered array: the same elements, several times faster than
    the fancy indexing of ``take_along_axis`` for these (nspec, m) windows.
    """
    return np.take(np.ascontiguousarray(array).reshape(-1), flat)


def measure_lines(
    wave: np.ndarray, flux: np.ndarray, ivar: np.ndarray, disp: np.ndarray, entry: LineEntry
) -> dict[str, np.ndarray]:
    """Line sum, its ivar, the Gaussian-fit flux and the filled-pixel count for one entry.

    Parameters
    ----------
    wave : numpy.ndarray, shape (nspec, npix)
        Vacuum A, increasing per row.
    flux : numpy.ndarray, shape (nspec, npix)
        1e-17 erg/s/cm2/A.
    ivar : numpy.ndarray, shape (nspec, npix)
        Inverse variance of flux; 0 = masked.
    disp : numpy.ndarray, shape (nspec, npix)
        Line-spread Gaussian sigma, A.
    entry : LineEntry
        A ``line`` entry.

    Returns
    -------
    dict
        ``sum``, ``ivar``, ``fit`` (1e-17 erg/s/cm2 and its inverse square), ``nbad`` (int),
        each shape (nspec,). Spectra without enough good pixels give NaN and ivar 0.
    """
    lo, hi = entry.bands[0][0], entry.bands[1][1]
    index, inside = window_indices(wave, lo, hi)
    flat = _flat_index(wave.shape, index)
    w = _gather(wave, flat)
    f = _gather(flux, flat)
    iv = np.where(inside, _gather(ivar, flat), 0.0)
    sig = np.clip(_gather(disp, flat), 0.3, None)
    dl = _gather(pixel_widths(wave), flat)  # abs(gradient) taken before or after the gather: the same
    x = (w - entry.wave) / 10.0
    cols = [np.ones_like(w), x]
    for mu in entry.components:
        cols.append(np.exp(-0.5 * ((w - mu) / sig) ** 2) / (np.sqrt(2 * np.pi) * sig))
    design = np.stack(cols, axis=-1)  # (nspec, m, p)
    p = design.shape[-1]
    normal = np.einsum("smp,sm,smq->spq", design, iv, design) + 1e-10 * np.eye(p)
    rhs = np.einsum("smp,sm,sm->sp", design, iv, np.where(inside, f, 0.0))
    in_win = inside & (w >= entry.window[0]) & (w <= entry.window[1])
    good_win = in_win & (iv > 0)
    in_bands = inside & ~in_win & (iv > 0)
    ok = (good_win.sum(axis=1) >= 0.7 * np.maximum(in_win.sum(axis=1), 1)) & (in_bands.sum(axis=1) >= 3)
    normal[~ok] = np.eye(p)
    rhs[~ok] = 0.0
    coef = np.linalg.solve(normal, rhs[..., None])[..., 0]
    cov = np.linalg.inv(normal)
    cont = coef[:, 0:1] + coef[:, 1:2] * x
    model = np.einsum("smp,sp->sm", design, coef)
    filled = np.where(iv > 0, f, model)
    line_sum = np.sum(np.where(in_win, (filled - cont) * dl, 0.0), axis=1)
    var_pix = np.sum(np.where(good_win, dl**2 / np.where(iv > 0, iv, 1.0), 0.0), axis=1)
    g = np.stack([np.sum(np.where(in_win, dl, 0.0), axis=1), np.sum(np.where(in_win, dl * x, 0.0), axis=1)], axis=1)
    var_cont = np.einsum("sp,spq,sq->s", g, cov[:, :2, :2], g)
    # the continuum is fitted on the window pixels too: Cov(f_i, theta) = C a_i, so subtract
    # twice the covariance of the pixel sum with the continuum term
    h = np.einsum("sm,smp->sp", np.where(good_win, dl, 0.0), design)
    cross = np.einsum("sp,spq,sq->s", h, cov[:, :, :2], g)
    var = var_pix + var_cont - 2.0 * cross
    fit = coef[:, 2:].sum(axis=1)
    nan = np.full(len(ok), np.nan)
    return {
        "sum": np.where(ok, line_sum, nan),
        "ivar": np.where(ok & (var > 0), 1.0 / np.where(var > 0, var, 1.0), 0.0),
        "fit": np.where(ok, fit, nan),
        "nbad": (in_win & (iv <= 0)).sum(axis=1).astype(np.int32),
    }


def measure_continua(wave: np.ndarray, flux: np.ndarray, ivar: np.ndarray, entry: LineEntry) -> dict[str, np.ndarray]:
    """Ivar-weighted mean flux density over a continuum window.

    Returns
    -------
    dict
        ``mean`` (1e-17 erg/s/cm2/A, NaN without good pixels) and ``ivar`` (sum of ivars),
        each shape (nspec,).
    """
    index, inside = window_indices(wave, *entry.window)
    flat = _flat_index(wave.shape, index)
    iv = np.where(inside, _gather(ivar, flat), 0.0)
    f = _gather(flux, flat)
    wsum = iv.sum(axis=1)
    mean = np.where(wsum > 0, (iv * f).sum(axis=1) / np.where(wsum > 0, wsum, 1.0), np.nan)
    return {"mean": mean, "ivar": wsum}


def line_table(
    wave: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    disp: np.ndarray,
    cameras: np.ndarray,
    entries: list[LineEntry],
) -> dict[str, np.ndarray]:
    """Every line and continuum column for a set of spectra.

    Parameters
    ----------
    wave, flux, ivar, disp : numpy.ndarray, shape (nspec, npix)
        As in :func:`measure_lines`; flux, ivar and disp may also be float32 (as stored in
        skyflux): each entry's pixels are converted to float64 (exactly) before its fit.
    cameras : numpy.ndarray of str, shape (nspec,)
        Camera of each spectrum (b1, r2, ...); an entry is measured on its arm only.
    entries : list of LineEntry

    Returns
    -------
    dict of column name -> numpy.ndarray, shape (nspec,)
        ``<name>``, ``<name>_IVAR``, ``<name>_FIT``, ``<name>_NBAD`` for lines;
        ``<name>``, ``<name>_IVAR`` for continua; NaN (ivar 0) for the other arm.
    """
    nspec = wave.shape[0]
    arm = np.array([str(c).strip().lower()[:1] for c in cameras])
    out: dict[str, np.ndarray] = {}
    rows_of = {cam: np.flatnonzero(arm == cam) for cam in {e.camera for e in entries}}
    # per arm, the column envelope of its rows' wavelengths: each entry reads only the columns
    # that can hold its window (plus one for the central-difference pixel widths), not whole rows
    envelope = {cam: _column_envelope(wave, rows) for cam, rows in rows_of.items() if rows.size}
    for e in entries:
        rows = rows_of[e.camera]
        val = np.full(nspec, np.nan)
        iv = np.zeros(nspec)
        if rows.size:
            lo, hi = (e.bands[0][0], e.bands[1][1]) if e.kind == "line" else e.window
            cols = _window_columns(*envelope[e.camera], lo, hi, pad=1 if e.kind == "line" else 0)
            sub = (rows, cols)  # the rows' pixels of those columns (a row gather and a slice, not np.ix_)
        if e.kind == "line":
            fit = np.full(nspec, np.nan)
            nbad = np.zeros(nspec, dtype=np.int32)
            if rows.size:
                r = measure_lines(wave[sub], _float64(flux[sub]), _float64(ivar[sub]), _float64(disp[sub]), e)
                val[rows], iv[rows], fit[rows], nbad[rows] = r["sum"], r["ivar"], r["fit"], r["nbad"]
            out[e.name], out[e.name + "_IVAR"], out[e.name + "_FIT"], out[e.name + "_NBAD"] = val, iv, fit, nbad
        else:
            if rows.size:
                r = measure_continua(wave[sub], _float64(flux[sub]), _float64(ivar[sub]), e)
                val[rows], iv[rows] = r["mean"], r["ivar"]
            out[e.name], out[e.name + "_IVAR"] = val, iv
    return out


def _column_envelope(wave: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column max and min of ``wave[rows]`` (each shape (npix,)), without gathering the rows.

    ``rows`` (increasing) come in runs of consecutive rows (a camera's fibres of an exposure):
    each run is reduced as a view, and the runs' results combined.
    """
    runs = np.split(rows, np.flatnonzero(np.diff(rows) != 1) + 1)
    colmax = np.max(wave[runs[0][0] : runs[0][-1] + 1], axis=0)
    colmin = np.min(wave[runs[0][0] : runs[0][-1] + 1], axis=0)
    for run in runs[1:]:
        block = wave[run[0] : run[-1] + 1]
        np.maximum(colmax, np.max(block, axis=0), out=colmax)
        np.minimum(colmin, np.min(block, axis=0), out=colmin)
    return colmax, colmin


def _float64(array: np.ndarray) -> np.ndarray:
    """``array`` as float64 (no copy when it already is)."""
    return array.astype(np.float64, copy=False)


def _window_columns(colmax: np.ndarray, colmin: np.ndarray, lo: float, hi: float, pad: int) -> slice:
    """Columns of a set of increasing rows that hold every pixel centred in [lo, hi], +- ``pad``.

    ``colmax``/``colmin`` (shape (npix,)) are the rows' per-column max/min wavelengths (both
    non-decreasing): a row's first pixel >= lo is at or after the first column whose max is
    >= lo, and its last pixel <= hi before the first column whose min is > hi. The ``pad``
    extra columns keep :func:`numpy.gradient`'s central differences at the slice's edges.
    """
    npix = colmax.size
    start = int(np.searchsorted(colmax, lo, side="left"))
    stop = int(np.searchsorted(colmin, hi, side="right"))
    start, stop = max(start - pad, 0), min(stop + pad, npix)
    if stop - start < 2:  # window outside every row: two columns (np.gradient needs two),
        start = max(min(start, npix - 2), 0)  # which window_indices finds empty: NaN sums
        stop = min(start + 2, npix)
    return slice(start, stop)


def column_units(entries: list[LineEntry]) -> dict[str, str]:
    """Units of the columns :func:`line_table` makes (for the FITS TUNITn cards).

    Examples
    --------
    >>> column_units([e for e in read_line_list() if e.name == "OI5579"])["OI5579_IVAR"]
    '1e+34 s2 cm4 / erg2'
    """
    out = {}
    for e in entries:
        unit = LINE_UNIT if e.kind == "line" else CONT_UNIT
        out[e.name] = unit
        out[e.name + "_IVAR"] = "1e+34 s2 cm4 / erg2" if e.kind == "line" else "1e+34 s2 cm4 Angstrom2 / erg2"
        if e.kind == "line":
            out[e.name + "_FIT"] = unit
    return out
