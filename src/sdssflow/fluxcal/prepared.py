"""The template library prepared once per job: synthetic magnitudes and convolved cubes.

:func:`prepare_library` computes every template's synthetic magnitudes in the bands used;
:meth:`PreparedLibrary.camera_grid` convolves the library to a camera's LSF once and
keeps the cube for the night's later exposures (:mod:`sdssflow.fluxcal.calibrate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sdssflow import photometry
from sdssflow.fluxcal.interpolation import log_interpolate
from sdssflow.fluxcal.matching import ModelGrid
from sdssflow.fluxcal.priors import BandTable
from sdssflow.fluxcal.resolution import bosz_sigma_ln, convolve_ln
from sdssflow.io.bosz_library import TemplateLibrary

__all__ = ["GRID_SIGMA_TOLERANCE", "MAX_GRIDS", "PreparedLibrary", "prepare_library"]

#: Relative LSF difference below which a convolved library cube is reused (see
#: :meth:`PreparedLibrary.camera_grid`): 0.5 % of the LSF width changes a convolved line's
#: depth by less than 0.5 % of that depth, far below what the smooth response fit resolves.
GRID_SIGMA_TOLERANCE = 0.005
#: Convolved cubes kept (one per camera of a 2-spectrograph exposure).
MAX_GRIDS = 4


@dataclass
class PreparedLibrary:
    """The template library with what every exposure reuses.

    Attributes
    ----------
    library : TemplateLibrary
    bands : BandTable
    synmag : numpy.ndarray, (ntemplate, nband)
        Synthetic AB magnitudes of the unscaled templates (F = 4 pi H); NaN where the
        library range does not cover the whole filter.
    ln : numpy.ndarray, (nwave,)
        ln(lambda / A) of the library pixels.
    dln : float
        Median step of ``ln`` (the grid is uniform in ln lambda to ~1e-5 relative, so
        convolution works in pixels).
    grids : dict
        Cache of camera-resolution cubes.
    synmag_memo : dict
        Synthetic magnitudes of interpolated templates by node weights
        (:meth:`interpolated_synmag`).
    """

    library: TemplateLibrary
    bands: BandTable
    synmag: np.ndarray
    ln: np.ndarray
    dln: float
    grids: dict = field(default_factory=dict)
    synmag_memo: dict = field(default_factory=dict)

    @property
    def teff(self) -> np.ndarray:
        return self.library.params["teff"].to_numpy(float)

    def interpolated_synmag(self, weights: dict) -> np.ndarray:
        """Synthetic AB magnitudes (nband,) of the template interpolated in log flux with
        these node weights (node index -> weight), memoised: a standard keeps its template
        over the night's exposures, so its magnitudes are computed once per night.
        """
        key = tuple(sorted(weights.items()))
        hit = self.synmag_memo.get(key)
        if hit is None:
            idx = np.array(list(weights))
            flux = log_interpolate(self.library.flux[idx], np.array([weights[i] for i in idx]))
            wave = self.library.wave
            hit = np.array([photometry.ab_magnitude(wave, flux, f) for f in self.bands.filter])
            self.synmag_memo[key] = hit
        return hit

    def camera_grid(
        self, lnmin: float, lnmax: float, ln_sigma: np.ndarray, sigma: np.ndarray
    ) -> ModelGrid:
        """Templates convolved to a camera's LSF (sigma in ln lambda at ln_sigma), cached."""
        pad = 0.01  # about 3000 km/s: room for RV shifts
        i0 = max(int(np.searchsorted(self.ln, lnmin - pad)) - 1, 0)
        i1 = min(int(np.searchsorted(self.ln, lnmax + pad)) + 1, self.ln.size)
        if i1 - i0 < 10 or self.ln[0] > lnmin or self.ln[-1] < lnmax:
            raise ValueError(
                f"library ({np.exp(self.ln[0]):.0f}-{np.exp(self.ln[-1]):.0f} A) does not cover "
                f"{np.exp(lnmin):.0f}-{np.exp(lnmax):.0f} A"
            )
        # The exposures of a night share a camera's LSF to well under 1 %: a cube is reused
        # while the LSF (at 7 wavelengths) stays within GRID_SIGMA_TOLERANCE of the one it
        # was made for, so the library is convolved once per camera, not once per exposure.
        probe = np.interp(np.linspace(lnmin, lnmax, 7), ln_sigma, sigma)
        for (j0, j1, made), grid in self.grids.items():
            if (j0, j1) == (i0, i1) and np.all(np.abs(probe / np.asarray(made) - 1.0) <= GRID_SIGMA_TOLERANCE):
                return grid
        target = np.interp(self.ln[i0:i1], ln_sigma, sigma)
        cube = convolve_ln(
            self.library.flux[:, i0:i1],
            self.dln,
            target,
            bosz_sigma_ln(self.library.resolution),
        )
        while len(self.grids) >= MAX_GRIDS:  # bounded memory: ~ntemplate x npix x 4 B each
            self.grids.pop(next(iter(self.grids)))
        grid = ModelGrid(ln=self.ln[i0:i1], cube=cube)
        self.grids[(i0, i1, tuple(probe))] = grid
        return grid


def prepare_library(library: TemplateLibrary, bands: BandTable) -> PreparedLibrary:
    """Synthetic magnitudes of every template in every band, and the ln(lambda) grid.

    Raises
    ------
    ValueError
        If the library wavelengths depart from a uniform ln(lambda) grid by more than
        5 % of a pixel.
    """
    ln = np.log(library.wave)
    steps = np.diff(ln)
    dln = float(np.median(steps))
    # 8-digit grid files quantise single steps by ~2e-3; vacuum conversion drifts ~1e-5
    if np.max(np.abs(steps / dln - 1.0)) > 0.05:
        raise ValueError("template library is not uniform in ln(lambda) (steps differ by > 5 %)")
    synmag = (
        np.column_stack(
            [photometry.ab_magnitude(library.wave, library.flux, f) for f in bands.filter]
        )
        if len(bands.band)
        else np.zeros((library.ntemplate, 0))
    )
    return PreparedLibrary(library, bands, synmag, ln, dln)
