"""Spectral chi^2 of a star against every template at once, with a free smooth response.

The building blocks of the template search (:mod:`sdssflow.fluxcal.matching`): a star's
camera spectrum (:class:`Segment`), the library convolved to a camera's resolution
(:class:`ModelGrid`, evaluated at any radial velocity), the Legendre response basis and
:func:`response_chi2`, the chi^2 of ``data ~ model * polynomial`` minimised over the
polynomial for every model through batched normal equations; :func:`core_mask` leaves
strong-line cores out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.polynomial import legendre

from sdssflow.constants import C_KMS

__all__ = [
    "Segment",
    "ModelGrid",
    "response_basis",
    "response_chi2",
    "legendre_linearization",
    "core_mask",
]


@dataclass
class Segment:
    """One camera's spectrum of one star.

    Attributes
    ----------
    camera : str
        ``b1``, ``r1``, ...
    lnlam : numpy.ndarray, (npix,)
        ln of the vacuum wavelength in A.
    flux : numpy.ndarray, (npix,)
        Electrons per native pixel (sky subtracted).
    ivar : numpy.ndarray, (npix,)
        Inverse variance of ``flux``; 0 = no information.
    good : numpy.ndarray of bool, (npix,)
        Pixels usable for matching (not masked, not telluric).
    """

    camera: str
    lnlam: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    good: np.ndarray

    def weights(self) -> np.ndarray:
        return np.where(self.good & np.isfinite(self.flux), np.asarray(self.ivar, float), 0.0)


@dataclass
class ModelGrid:
    """Templates convolved to one camera's resolution on a (nearly) uniform ln(lambda) grid.

    Attributes
    ----------
    ln : numpy.ndarray, (nwave,)
        ln(lambda/A) of the columns, increasing. BOSZ grids are uniform in air
        wavelength; after conversion to vacuum the step drifts by ~1e-5 relative (0.1
        pixel over 3000-11000 A), so positions are looked up in the actual grid, not
        from a constant step.
    cube : numpy.ndarray, float32, (ntemplate, nwave)
        Convolved template fluxes (erg/s/cm2/A).
    """

    ln: np.ndarray
    cube: np.ndarray

    def _index(self, ln):
        """Left bracketing column ``i0``, weight ``w`` of column ``i0 + 1`` and inside-mask of
        every ln(lambda) in ``ln`` (any shape); temporaries reused in place (for a velocity
        scan these are (nv, npix) arrays, whose fresh allocation cost more than the sums)."""
        n = self.ln.size
        ln = np.asarray(ln, float)
        # the grid is uniform to ~0.1 pixel: guess from the mean step, then correct by one
        step = (self.ln[-1] - self.ln[0]) / (n - 1)
        pos = np.subtract(ln, self.ln[0])
        pos /= step
        np.floor(pos, out=pos)
        np.clip(pos, 0, n - 2, out=pos)
        i0 = pos.astype(np.int64)
        left = np.take(self.ln, i0, out=pos)  # pos is free: the grid value at i0
        i0 -= (ln < left) & (i0 > 0)
        np.take(self.ln, np.minimum(i0 + 1, n - 1), out=left)
        i0 += (ln >= left) & (i0 < n - 2)
        ok = (ln >= self.ln[0]) & (ln <= self.ln[-1])
        w = np.take(self.ln, i0, out=left)  # w = (ln - ln[i0]) / (ln[i0 + 1] - ln[i0])
        np.subtract(ln, w, out=w)
        w /= self.ln[i0 + 1] - self.ln[i0]
        return i0, w, ok

    def evaluate(
        self, lnlam: np.ndarray, rv: float, templates=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Templates at observed ln(lambda) for radial velocity ``rv`` (km/s).

        Returns
        -------
        model : numpy.ndarray, (ntemplate or len(templates), npix)
        inside : numpy.ndarray of bool, (npix,)
            Pixels inside the grid.
        """
        i0, w, ok = self._index(np.asarray(lnlam) - np.log1p(rv / C_KMS))
        cube = self.cube if templates is None else self.cube[templates]
        w = w.astype(cube.dtype)  # (ntemplate, npix) in the cube's precision (float32)
        return cube[:, i0] * (1 - w) + cube[:, i0 + 1] * w, ok

    def evaluate_velocities(
        self, lnlam: np.ndarray, rvs: np.ndarray, template
    ) -> tuple[np.ndarray, np.ndarray]:
        """Templates at many velocities, positions looked up once for all of them.

        Parameters
        ----------
        template : int or sequence of int
            One template (model shape (nv, npix)) or several ((ntemplate, nv, npix)).

        Returns
        -------
        model : numpy.ndarray, float64
        inside : numpy.ndarray of bool, (npix,)
            Pixels inside the grid at every velocity.
        """
        ln = np.asarray(lnlam)[None, :] - np.log1p(np.asarray(rvs, float) / C_KMS)[:, None]
        i0, w, ok = self._index(ln)
        rows = np.asarray(self.cube[template], dtype=np.float64)
        # lo (1 - w) + hi w as before, in two buffers filled in place
        model = np.take(rows, i0, axis=-1)
        model *= 1 - w
        upper = np.take(rows, i0 + 1, axis=-1)
        upper *= w
        model += upper
        return model, ok.all(axis=0)


#: Response bases kept (with their product bases): the two or three cameras of the star
#: being fitted. Each holds its ln(lambda) array alive and ~1.5 MB of products, and a new
#: star brings new arrays, so a longer cache only grew the memory (16 entries: ~110 MB).
BASIS_CACHE_SIZE = 4
_BASIS_CACHE: dict = {}


def _unit_interval(lnlam: np.ndarray) -> np.ndarray:
    """ln(lambda) mapped linearly onto [-1, 1] (the domain of the Legendre basis)."""
    return 2.0 * (lnlam - lnlam.min()) / max(float(np.ptp(lnlam)), 1e-12) - 1.0


def response_basis(lnlam: np.ndarray, degree: int) -> np.ndarray:
    """Legendre basis (npix, degree + 1) on ln(lambda) mapped to [-1, 1] (cached per array).

    Parameters
    ----------
    lnlam : numpy.ndarray, (npix,)
        ln of the wavelengths (A); the cache key is the array object itself.
    degree : int
        Polynomial degree.

    Returns
    -------
    numpy.ndarray, (npix, degree + 1)
    """
    key = (id(lnlam), degree)
    hit = _BASIS_CACHE.get(key)
    if hit is not None and hit[0] is lnlam:
        return hit[1]
    basis = legendre.legvander(_unit_interval(lnlam), degree)
    while len(_BASIS_CACHE) >= BASIS_CACHE_SIZE:
        _BASIS_CACHE.pop(next(iter(_BASIS_CACHE)))
    _BASIS_CACHE[key] = (lnlam, basis, {})
    return basis


@lru_cache(maxsize=8)
def _triu(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the upper triangle (with diagonal) of a k x k matrix.

    Cached (read-only arrays): :func:`response_chi2` asks ~700 times per job for the same
    ``k``, and ``np.triu_indices`` builds a k x k mask each time (~0.1 ms).
    """
    rows, cols = np.triu_indices(k)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


@lru_cache(maxsize=8)
def legendre_linearization(degree: int) -> np.ndarray:
    """Coefficients of P_i P_j in the Legendre polynomials P_0 ... P_2degree, for i <= j.

    A product of two Legendre polynomials of degree <= ``degree`` is a polynomial of degree
    <= 2 ``degree``, hence exactly a combination of P_0 ... P_2degree (Adams' linearisation
    formula; the coefficients are positive and sum to 1 since P_k(1) = 1).

    Parameters
    ----------
    degree : int
        Degree of the response basis.

    Returns
    -------
    numpy.ndarray, (2 degree + 1, k (k + 1) / 2), k = degree + 1
        Column ``c`` holds the coefficients of the ``c``-th pair of :func:`numpy.triu_indices`.

    Examples
    --------
    >>> legendre_linearization(1).round(6).tolist()  # P0 P0, P0 P1, P1 P1 = (P0 + 2 P2) / 3
    [[1.0, 0.0, 0.333333], [0.0, 1.0, 0.0], [0.0, 0.0, 0.666667]]
    """
    k = degree + 1
    unit = np.eye(k)
    iu, ju = _triu(k)
    lin = np.zeros((2 * degree + 1, iu.size))
    for col, (i, j) in enumerate(zip(iu, ju)):
        coef = legendre.legmul(unit[i], unit[j])
        lin[: coef.size, col] = coef
    return lin


def _normal_terms(basis: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray | None]:
    """What the upper triangle of the normal matrix is formed from, cached with the basis.

    For a basis made by :func:`response_basis`, the Legendre polynomials up to twice its
    degree at its pixels (npix, 2 degree + 1) and :func:`legendre_linearization`: the
    normal matrix is then ``((m^2 w) @ P) @ lin``, a product with 31 columns instead of 136
    for degree 15 (the same matrix in exact arithmetic). For any other basis, the products
    basis_i basis_j per pixel for i <= j (npix, k (k + 1) / 2) and None.
    """
    degree = basis.shape[1] - 1
    for entry in _BASIS_CACHE.values():
        if entry[1] is basis:
            cached = entry[2]
            if "<f8" not in cached:  # float64 first: a float32 copy is cast from it
                cached["<f8"] = legendre.legvander(_unit_interval(entry[0]), 2 * degree)
            key = np.dtype(dtype).str
            if key not in cached:
                cached[key] = cached["<f8"].astype(dtype)
            return cached[key], legendre_linearization(degree)
    iu, ju = _triu(basis.shape[1])
    return (basis[:, iu] * basis[:, ju]).astype(dtype), None


def response_chi2(
    models: np.ndarray, data: np.ndarray, weight: np.ndarray, basis: np.ndarray, fast: bool = False
) -> np.ndarray:
    """chi^2 of ``data ~ model_m * (basis @ c_m)`` minimised over c_m, for every model m.

    Parameters
    ----------
    models : numpy.ndarray, (nmodel, npix)
    data : numpy.ndarray, (npix,)
    weight : numpy.ndarray, (npix,)
        Inverse variances (0 = pixel unused).
    basis : numpy.ndarray, (npix, k)
        Response basis (e.g. Legendre polynomials).
    fast : bool
        Form the normal equations in float32 (about twice as fast; chi^2 good to
        ~1e-6 of sum(w d^2), enough to rank templates, not for RV parabolas).

    Returns
    -------
    numpy.ndarray, (nmodel,)
        Minimum chi^2 = sum w d^2 - b^T N^-1 b with N = A^T W A, b = A^T W d.

    Examples
    --------
    >>> x = np.linspace(-1, 1, 50)
    >>> m = np.vstack([1 + 0.1 * np.sin(9 * x), 1 + 0.1 * np.cos(9 * x)])
    >>> d = m[1] * (2 + x)
    >>> chi2 = response_chi2(m, d, np.ones(50), legendre.legvander(x, 2))
    >>> bool(chi2[1] < 1e-9 * chi2[0])
    True
    """
    dtype = np.float32 if fast else np.float64
    models = np.asarray(models)
    k = basis.shape[1]
    terms, lin = _normal_terms(basis, dtype)
    # one (nmodel, npix) buffer, filled in place: m w, then m^2 w. Each fresh temporary of
    # this size is new memory the kernel maps page by page, which cost more than the matrix
    # products (4 temporaries: 18 ms for 125 models x 3500 pixels, 9 ms with one)
    buf = np.multiply(models, weight.astype(dtype), out=np.empty(models.shape, dtype), dtype=dtype)
    rhs = (buf @ (basis * data[:, None]).astype(dtype)).astype(np.float64)
    np.multiply(buf, models, out=buf, dtype=dtype)
    upper = (buf @ terms).astype(np.float64)
    del buf
    if lin is not None:  # Legendre moments -> products of the basis (float64)
        upper = upper @ lin
    iu, ju = _triu(k)
    normal = np.empty((upper.shape[0], k, k))
    normal[:, iu, ju] = upper
    normal[:, ju, iu] = upper
    scale = np.einsum("mii->mi", normal).max(axis=1)
    normal += (1e-12 * np.maximum(scale, 1e-300))[:, None, None] * np.eye(k)
    coef = np.linalg.solve(normal, rhs[..., None])[..., 0]
    return float(np.sum(weight * data**2)) - np.einsum("mk,mk->m", rhs, coef)


def core_mask(
    lnlam: np.ndarray, cores: np.ndarray, rv: float = 0.0, margin_kms: float = 0.0
) -> np.ndarray:
    """True within the core of a strong line at radial velocity ``rv``.

    Parameters
    ----------
    lnlam : numpy.ndarray
        ln of observed vacuum wavelengths (A).
    cores : numpy.ndarray, (nline, 2)
        Rest wavelength and half-width (A).
    rv, margin_kms : float
        Velocity of the star and an extra half-width in velocity (km/s).

    Examples
    --------
    >>> core_mask(np.log([6560.0, 6564.6, 6580.0]), np.array([[6564.61, 6.0]]), rv=0.0).tolist()
    [True, True, False]
    """
    wave = np.exp(np.asarray(lnlam, float)) / (1.0 + rv / C_KMS)
    out = np.zeros(wave.shape, bool)
    for centre, half in np.asarray(cores, float).reshape(-1, 2):
        h = half + centre * margin_kms / C_KMS
        out |= np.abs(wave - centre) <= h
    return out
