"""The template search's arithmetic against direct references (issue 13 speed work).

The Legendre-moment normal equations against least squares, the pixels of zero weight
left out against the full segments, the velocity interpolation against ``np.interp`` and
the memoised synthetic magnitudes against their direct computation.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.polynomial import legendre

from sdssflow import photometry
from sdssflow.fluxcal.calibrate import prepare_library
from sdssflow.fluxcal.interpolation import log_interpolate
from sdssflow.fluxcal.matching import _chi2_templates, _weighted_pixels
from sdssflow.fluxcal.priors import load_band_table
from sdssflow.fluxcal.spectral_chi2 import (
    ModelGrid,
    Segment,
    legendre_linearization,
    response_basis,
    response_chi2,
)
from sdssflow.fluxcal.testing import TOY_BANDS, toy_library

DEGREE = 15


def _star(rng, npix=1500, masked=0.2):
    """A camera segment (ln lambda 3700-4700 A) of a star = template 3 x smooth response."""
    ln = np.linspace(np.log(3700.0), np.log(4700.0), npix)
    models = 1 + 0.3 * np.sin(np.outer(np.arange(1, 9), ln * 40.0))
    flux = models[3] * (2 + np.sin(3 * ln)) + rng.normal(0, 0.01, npix)
    ivar = rng.uniform(0.5, 2.0, npix) * 1e4
    good = rng.random(npix) > masked
    return ln, models, flux, ivar, good


def test_legendre_linearization_gives_the_basis_products():
    """P_i P_j = sum_k lin[k, (i, j)] P_k at any x, for every pair i <= j (degree 15)."""
    x = np.random.default_rng(1).uniform(-1, 1, 400)
    basis = legendre.legvander(x, DEGREE)
    iu, ju = np.triu_indices(DEGREE + 1)
    direct = basis[:, iu] * basis[:, ju]
    via = legendre.legvander(x, 2 * DEGREE) @ legendre_linearization(DEGREE)
    np.testing.assert_allclose(via, direct, rtol=0, atol=1e-12)


def test_response_chi2_from_moments_matches_least_squares():
    """A basis made by response_basis (Legendre moments, 31 columns) gives the chi^2 of a
    weighted least-squares fit of every model; float32 (fast) to ~1e-6 of sum(w d^2)."""
    rng = np.random.default_rng(2)
    ln, models, flux, ivar, good = _star(rng)
    w = ivar * good
    basis = response_basis(ln, DEGREE)
    chi2 = response_chi2(models, flux, w, basis)
    for m, c in zip(models, chi2):
        a = basis * (m * np.sqrt(w))[:, None]
        coef, *_ = np.linalg.lstsq(a, flux * np.sqrt(w), rcond=None)
        assert c == pytest.approx(np.sum((a @ coef - flux * np.sqrt(w)) ** 2), rel=1e-7)
    assert int(np.argmin(chi2)) == 3
    # the same basis not from the cache takes the direct products: the same chi^2
    np.testing.assert_allclose(response_chi2(models, flux, w, basis.copy()), chi2, rtol=1e-10)
    fast = response_chi2(models.astype(np.float32), flux, w, basis, fast=True)
    assert np.max(np.abs(fast - chi2)) < 1e-5 * np.sum(w * flux**2)


def test_weighted_pixels_leave_the_chi2_unchanged():
    """Dropping the pixels of weight 0 (masked, no ivar) changes no template's chi^2; a NaN
    flux (weight 0 too) no longer turns every chi^2 into NaN (0 x NaN in the sums)."""
    rng = np.random.default_rng(3)
    ln, models, flux, ivar, good = _star(rng, masked=0.3)
    ivar[:40] = 0.0  # the segment's ends unusable: the response's x range shrinks
    good[100] = True  # a usable pixel, given a NaN flux below
    seg = Segment("b1", ln, flux.copy(), ivar, good)
    lngrid = np.linspace(ln[0] - 0.01, ln[-1] + 0.01, 4000)
    cube = 1 + 0.3 * np.sin(np.outer(np.arange(1, 9), lngrid * 40.0))
    grids = {"b1": ModelGrid(ln=lngrid, cube=cube.astype(np.float32))}
    (kept,) = _weighted_pixels([seg])
    assert kept.lnlam.size == int(np.count_nonzero(seg.weights() > 0)) < ln.size
    full = _chi2_templates([seg], grids, 12.0, DEGREE)
    scale = float(np.sum(seg.weights() * np.nan_to_num(seg.flux) ** 2))  # chi^2 = sum w d^2 - ...
    kept_chi2 = _chi2_templates([kept], grids, 12.0, DEGREE)
    np.testing.assert_allclose(kept_chi2, full, atol=1e-10 * scale)
    seg.flux[100], seg.ivar[100] = np.nan, 0.0  # as an unusable pixel (weight 0)
    assert np.isnan(_chi2_templates([seg], grids, 12.0, DEGREE)).all()
    seg.flux[100] = np.nan
    seg.ivar[100] = ivar[101]
    (nan_kept,) = _weighted_pixels([seg])
    assert nan_kept.lnlam.size == kept.lnlam.size - 1  # weight 0: left out
    chi2 = _chi2_templates([nan_kept], grids, 12.0, DEGREE)
    assert np.isfinite(chi2).all() and int(np.argmin(chi2)) == 3


def test_velocity_interpolation_matches_np_interp():
    """evaluate_velocities: every template at every velocity = np.interp of its row at
    ln(lambda) - ln(1 + v/c), one template or several; inside = within the grid."""
    rng = np.random.default_rng(4)
    # uniform in ln(lambda) to ~1e-5 relative, as the vacuum BOSZ grids (ModelGrid's premise)
    i = np.arange(5000)
    lngrid = np.log(3600.0) + 2.3e-5 * i * (1 + 2e-5 * i / i.size)
    cube = rng.uniform(0.5, 1.5, (6, lngrid.size)).astype(np.float32)
    grid = ModelGrid(ln=lngrid, cube=cube)
    lnlam = np.sort(rng.uniform(lngrid[0] + 0.005, lngrid[-1] - 0.005, 900))
    rvs = np.arange(-500.0, 501.0, 50.0)
    one, inside = grid.evaluate_velocities(lnlam, rvs, 2)
    many, _ = grid.evaluate_velocities(lnlam, rvs, [1, 4])
    assert inside.all() and one.shape == (rvs.size, lnlam.size)
    assert many.shape == (2, rvs.size, lnlam.size)
    for k, v in enumerate(rvs):
        shifted = lnlam - np.log1p(v / 299792.458)
        for got, row in ((one[k], cube[2]), (many[1, k], cube[4])):
            expected = np.interp(shifted, lngrid, row.astype(float))
            np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_interpolated_synmag_is_the_direct_computation_once():
    """PreparedLibrary.interpolated_synmag: the AB magnitudes of the log-flux interpolated
    template, computed once per set of node weights."""
    prep = prepare_library(toy_library(), load_band_table().select(list(TOY_BANDS)))
    weights = {3: 0.25, 4: 0.75}
    flux = log_interpolate(prep.library.flux[[3, 4]], np.array([0.25, 0.75]))
    direct = [photometry.ab_magnitude(prep.library.wave, flux, f) for f in prep.bands.filter]
    first = prep.interpolated_synmag(weights)
    np.testing.assert_array_equal(first, np.array(direct))
    assert prep.interpolated_synmag({4: 0.75, 3: 0.25}) is first


def test_triu_indices_cached_read_only():
    """The cached upper-triangle indices equal numpy's and cannot be changed in place (they
    are shared by every response_chi2 call)."""
    from sdssflow.fluxcal.spectral_chi2 import _triu

    for k in (1, 4, 16):
        rows, cols = _triu(k)
        assert _triu(k)[0] is rows
        expect = np.triu_indices(k)
        assert np.array_equal(rows, expect[0]) and np.array_equal(cols, expect[1])
        with pytest.raises(ValueError):
            rows[0] = 1
