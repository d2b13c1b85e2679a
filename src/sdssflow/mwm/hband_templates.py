"""The H-band template library of the APOGEE visit velocities: built once, read by every bucket.

:func:`build_templates` makes the library from a BOSZ mirror directory (or an sdssflow BOSZ
library): rectified models cut to the APOGEE range, convolved to APOGEE's resolving power
(when at least twice as sharp) and put on a fine log grid (4 steps per APOGEE pixel). Rule
``apogee_templates`` writes it once per version (``results/<v>/mwm/apogee_rv_templates.fits``,
:func:`sdssflow.io.mwm_templates.write_apogee_rv_templates`); :func:`load_templates` reads that
product (or, given a mirror directory, builds the library in memory, as tests do).
:class:`LazyTemplates` defers the read to the first visit that needs templates.
:func:`smooth_to` matches a visit to templates broader than APOGEE.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from sdssflow.io.mwm_grids import APOGEE
from sdssflow.mwm.rv import TemplateLibrary, prepare_templates

__all__ = [
    "APOGEE_R",
    "APOGEE_TEMPLATE_RANGE",
    "HBandTemplates",
    "LazyTemplates",
    "build_templates",
    "load_templates",
    "smooth_to",
]

log = logging.getLogger(__name__)

#: Resolving power of APOGEE (λ/Δλ, FWHM).
APOGEE_R = 22500.0
#: Vacuum wavelength range of the H-band templates, Å (the three chips with margins).
APOGEE_TEMPLATE_RANGE = (15050.0, 17050.0)


@dataclass(frozen=True)
class HBandTemplates:
    """H-band templates and the resolving power the data are matched to before measuring.

    Attributes
    ----------
    library : TemplateLibrary
    resolution : float
        λ/Δλ (FWHM) of the templates. When it is below APOGEE's, each spectrum is smoothed
        to it (:func:`smooth_to`) before the template fit, so that line widths match (a
        mismatch biases the velocity by up to 0.5 km/s on the demo).
    """

    library: TemplateLibrary
    resolution: float


def build_templates(path, resolution: float = APOGEE_R) -> HBandTemplates:
    """H-band RV templates from a BOSZ mirror directory (or an sdssflow BOSZ library).

    Models at least twice as sharp as ``resolution`` are convolved to it; broader ones
    (the demo mirror's R = 10000) are kept and the data are smoothed to them instead.

    Parameters
    ----------
    path : path-like
        BOSZ 2024 mirror directory or ``bosz_library.h5``
        (:func:`sdssflow.io.mwm_templates.read_rv_templates`).
    resolution : float
        APOGEE's resolving power.

    Raises
    ------
    ValueError
        If the templates do not cover the H band (e.g. the BOSZ library stops at 11000 Å).
    """
    from sdssflow.io.mwm_templates import read_rv_templates

    wave, rect, params, res = read_rv_templates(path, wave_range=APOGEE_TEMPLATE_RANGE)
    if wave.size < 100 or wave[0] > 15200.0 or wave[-1] < 16900.0:
        span = f"{wave[0]:.0f}-{wave[-1]:.0f} Å" if wave.size else "nothing"
        raise ValueError(f"{path}: templates cover {span} of the APOGEE range 15200-16900 Å")
    conv = resolution if res >= 2.0 * resolution else None
    lib = prepare_templates(wave, rect, params, APOGEE.cdelt, conv, oversample=4)
    return HBandTemplates(lib, float(resolution if conv else min(res, resolution)))


def load_templates(path) -> HBandTemplates:
    """The H-band templates of ``path``: the ``apogee_templates`` product (a ``.fits`` file),
    or a BOSZ mirror / library built now (:func:`build_templates`)."""
    path = Path(path)
    if path.is_file() and path.name.endswith((".fits", ".fits.gz")):
        from sdssflow.io.mwm_templates import read_apogee_rv_templates

        loglam, flux, params, resolution = read_apogee_rv_templates(path)
        return HBandTemplates(TemplateLibrary(loglam, flux, params), resolution)
    return build_templates(path)


class LazyTemplates:
    """H-band templates read from ``path`` (:func:`load_templates`) on first use, once.

    A bucket whose apVisits all have apStar rows of other visits as references never reads
    them.
    """

    def __init__(self, path):
        self.path = path
        self._lib: HBandTemplates | None = None

    def get(self) -> HBandTemplates:
        """The templates (read now if not yet)."""
        if self._lib is None:
            self._lib = load_templates(self.path)
            log.info("%d APOGEE RV templates (R = %.0f) from %s", self._lib.library.flux.shape[0],
                     self._lib.resolution, self.path)  # fmt: skip
        return self._lib


def smooth_to(flux, ivar, resolution: float, data_resolution: float = APOGEE_R):
    """Gaussian-smooth a spectrum on the APOGEE grid from ``data_resolution`` to ``resolution``.

    Pixels without data (ivar 0) do not enter: the smoothed flux is G(f·ok) / G(ok).

    Returns
    -------
    flux : ndarray, shape (n,)
    noise_factor : float
        sqrt(2 √π σ) (σ in pixels): the χ² curvature error of the smoothed spectrum is
        this many times too small (correlated noise), 1 without smoothing.
    """
    flux = np.asarray(flux, float)
    if resolution >= data_resolution:
        return flux, 1.0
    fwhm = np.sqrt(1.0 / resolution**2 - 1.0 / data_resolution**2)  # Δλ/λ
    sigma = fwhm / 2.3548 / np.log(10.0) / APOGEE.cdelt
    ok = (np.asarray(ivar) > 0) & np.isfinite(flux)
    num = gaussian_filter1d(np.where(ok, flux, 0.0), sigma, mode="constant")
    den = gaussian_filter1d(ok.astype(float), sigma, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0.5, num / den, flux)
    return out, float(np.sqrt(2.0 * np.sqrt(np.pi) * sigma))
