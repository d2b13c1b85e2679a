"""Filter curves and photon-counting synthetic AB magnitudes.

The project's own filter curves live in ``sdssflow/data/filters/<name>.dat`` (analytic
approximations of the published passbands, see ``sdssflow/data/filters/make_filters.py``);
:func:`load_filter` also reads a speclite-style ECSV curve (``wavelength`` with a unit,
``response``) or a two-column text file (``.dat``/``.txt``/``.csv``: the unit its header
states, else micron when every wavelength is below 30 as kspecdr's files, nm when below
3000, Angstrom otherwise).

Synthetic photometry is photon counting in the AB system::

    <f_nu> = int f_nu T dln(lambda) / int T dln(lambda),   m_AB = -2.5 log10 <f_nu> - 48.60

with f_nu = f_lambda lambda^2 / c in erg/s/cm2/Hz. Unlike kspecdr, a spectrum that
covers the filter only in part gives NaN (unless ``allow_partial=True``).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from sdssflow.constants import C_ANGSTROM_PER_S
from sdssflow.resources import data_path

__all__ = [
    "Filter",
    "FILTER_NAMES",
    "VEGA_TO_AB",
    "FILTER_DIR",
    "REFERENCE_FILTER_NAMES",
    "load_filter",
    "flambda_to_fnu",
    "fnu_to_flambda",
    "ab_to_fnu",
    "fnu_to_ab",
    "ab_magnitude",
    "synthetic_magnitudes",
    "mag_err_to_flux_err",
    "flux_err_to_mag_err",
]

log = logging.getLogger(__name__)

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz


#: Directory of the project's filter curves (packaged ``sdssflow/data/filters``;
#: ``$SDSSFLOW_FILTER_DIR`` overrides it).
FILTER_DIR = Path(os.environ.get("SDSSFLOW_FILTER_DIR") or data_path("filters"))

#: Names of the project's filter curves (``sdssflow/data/filters/<name>.dat``).
FILTER_NAMES = (
    "gaia_g",
    "gaia_bp",
    "gaia_rp",
    "ps1_g",
    "ps1_r",
    "ps1_i",
    "ps1_z",
    "ps1_y",
    "sdss_u",
    "sdss_g",
    "sdss_r",
    "sdss_i",
    "sdss_z",
    "2mass_j",
    "2mass_h",
    "2mass_ks",
)
#: Published curves shipped as reference tables, loadable by name but not part of the
#: project's photometric system: the SDSS camera curves of June 2001 that idlspec2d integrates
#: SPECTROSKYFLUX through (:mod:`sdssflow.sky.spectroskyflux`).
REFERENCE_FILTER_NAMES = tuple(f"sdss_jun2001_{b}" for b in "ugriz")
_ALIASES = {"2mass_k": "2mass_ks"}

#: m_AB - m_Vega of the Vega-system catalogue bands (add to a Vega magnitude to get AB).
#: Gaia EDR3: Riello et al. 2021 Table 3 zero points (AB minus Vega): G 25.8010 - 25.6874,
#: BP 25.3540 - 25.3385, RP 25.1040 - 24.7479 (the RP offset is positive; kspecdr's
#: -0.3958 has the wrong sign). 2MASS: Blanton & Roweis 2007. PS1 and SDSS are AB (0).
VEGA_TO_AB = {
    "gaia_g": 0.1136,
    "gaia_bp": 0.0155,
    "gaia_rp": 0.3561,
    "2mass_j": 0.91,
    "2mass_h": 1.39,
    "2mass_ks": 1.85,
}


@dataclass(frozen=True)
class Filter:
    """A filter response curve.

    Attributes
    ----------
    name : str
        Filter name (``gaia_g``...) or the file stem.
    wave : numpy.ndarray, float64, (n,)
        Wavelength in Angstrom (vacuum), strictly increasing.
    throughput : numpy.ndarray, float64, (n,)
        Photon response, >= 0.
    """

    name: str
    wave: np.ndarray
    throughput: np.ndarray

    @property
    def wave_A(self) -> np.ndarray:  # noqa: N802 (the brief's name)
        """Alias of :attr:`wave` (Angstrom)."""
        return self.wave

    def support(self, frac: float = 0.01) -> tuple[float, float]:
        """Wavelength range (A) where the throughput exceeds ``frac`` of its peak."""
        good = self.throughput > frac * self.throughput.max()
        return float(self.wave[good].min()), float(self.wave[good].max())

    @property
    def pivot(self) -> float:
        """Pivot wavelength (A) of the photon response: sqrt(int T l dl / int T dl / l)."""
        num = _trapezoid(self.throughput * self.wave, self.wave)
        den = _trapezoid(self.throughput / self.wave, self.wave)
        return float(np.sqrt(num / den))


def _read_ecsv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from astropy import units as u
    from astropy.table import Table

    table = Table.read(path, format="ascii.ecsv")
    names = [n.lower() for n in table.colnames]
    if "wavelength" not in names or "response" not in names:
        raise ValueError(
            f"{path}: filter ECSV needs 'wavelength' and 'response' columns, has {table.colnames}"
        )
    wcol = table.columns[names.index("wavelength")]
    unit = wcol.unit or u.AA
    wave = (np.asarray(wcol, dtype=float) * unit).to_value(u.AA)
    return wave, np.asarray(table.columns[names.index("response")], dtype=float)


#: Comment markers of text filter tables: '#' (ours, speclite), '!' and '%' (other tools).
_COMMENT_CHARS = "#!%"
#: A wavelength unit stated next to the word wavelength/lambda in a header or comment line
#: (``# wavelength (nm)``, ``wavelength_nm,throughput``, ``# Wavelength [A]``) -> factor to A.
_WAVE_UNIT_RE = re.compile(
    r"(?:wave(?:length)?s?|lambda|lam)[\s_:=-]*[(\[]?\s*"
    r"(nm|nanomet(?:er|re)s?|um|µm|micron(?:s)?|micromet(?:er|re)s?|aa?|å|angstroms?)(?![a-z])",
    re.IGNORECASE,
)
_WAVE_UNIT_TO_A = {"nm": 10.0, "nano": 10.0, "um": 1e4, "µm": 1e4, "micr": 1e4, "a": 1.0, "aa": 1.0,
                   "å": 1.0, "angs": 1.0}  # fmt: skip


def _stated_wave_unit(lines: list[str], path: Path) -> float | None:
    """Factor to Angstrom of the wavelength unit the header/comment lines state, or None."""
    found = set()
    for line in lines:
        for m in _WAVE_UNIT_RE.finditer(line):
            unit = m.group(1).lower()
            found.add(next(v for k, v in _WAVE_UNIT_TO_A.items() if unit == k or (len(k) == 4 and unit.startswith(k))))
    if len(found) > 1:
        raise ValueError(f"{path}: the header states more than one wavelength unit")
    return found.pop() if found else None


def _read_dat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Wavelength (A) and throughput of a two-column text filter table.

    Columns are separated by white space or commas; lines starting with one of
    :data:`_COMMENT_CHARS` are comments, and a first line of column names is allowed. The
    wavelength unit is the one a comment or the header states (nm, micron or Angstrom next
    to "wavelength"/"lambda"); without one it is micron when every wavelength is below 30
    (kspecdr's ``ps1_*.dat``), nm when below 3000 (no Angstrom curve ending below 3000 A
    reaches a BOSS or APOGEE spectrum), else Angstrom.
    """
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text filter table ({err})") from None
    notes, rows = [], []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line[0] in _COMMENT_CHARS:
            notes.append(line)
            continue
        cells = line.split("#", 1)[0].replace(",", " ").split()
        try:
            rows.append([float(c) for c in cells[:2]] if len(cells) >= 2 else None)
        except ValueError:
            if not rows:  # the header line of column names
                notes.append(line)
                continue
            raise ValueError(f"{path}, line {lineno}: not a two-column filter row: {line!r}") from None
        if rows[-1] is None:
            raise ValueError(f"{path}, line {lineno}: filter row needs two columns: {line!r}")
    data = np.array(rows, dtype=float).reshape(-1, 2)
    if data.shape[0] < 3:
        raise ValueError(
            f"{path}: filter table needs two columns and at least 3 rows, got {data.shape}"
        )
    wave = data[:, 0]
    factor = _stated_wave_unit(notes, path)
    if factor is None:
        peak = float(np.nanmax(wave))
        factor = 1e4 if peak < 30.0 else 10.0 if peak < 3000.0 else 1.0
    return wave * factor, data[:, 1]


@lru_cache(maxsize=64)
def _load(path_str: str, name: str) -> Filter:
    path = Path(path_str)
    if not path.exists():
        raise FileNotFoundError(f"{path}: filter file not found")
    wave, thr = _read_ecsv(path) if path.suffix == ".ecsv" else _read_dat(path)
    if not (np.all(np.isfinite(wave)) and np.all(np.isfinite(thr))):
        raise ValueError(f"{path}: filter table holds a non-finite wavelength or throughput")
    order = np.argsort(wave, kind="stable")
    wave, thr = wave[order], np.clip(thr[order], 0.0, None)
    # a repeated wavelength (a tabulated step edge, or overlapping pieces of a curve) gets the
    # mean of its throughputs, so that np.interp sees one value per wavelength
    wave, first, count = np.unique(wave, return_index=True, return_counts=True)
    if np.any(count > 1):
        thr = np.add.reduceat(thr, first) / count
    if wave.size < 3:
        raise ValueError(f"{path}: filter table has fewer than 3 distinct wavelengths")
    if not np.any(thr > 0):
        raise ValueError(f"{path}: filter throughput is zero everywhere")
    wave.setflags(write=False)
    thr.setflags(write=False)
    return Filter(name, wave, thr)


def load_filter(name_or_path: str | os.PathLike) -> Filter:
    """Load a filter curve by project name or from a file.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        One of :data:`FILTER_NAMES` (or ``2mass_k``) or :data:`REFERENCE_FILTER_NAMES`, or a path to a speclite ECSV
        (``.ecsv``, wavelength unit honoured) or a two-column text file (white space or
        commas; the wavelength unit a comment or header states, else micron if every
        wavelength is below 30, nm if below 3000, Angstrom otherwise). Rows may be
        unsorted; a repeated wavelength gets the mean of its throughputs.

    Returns
    -------
    Filter

    Raises
    ------
    KeyError
        Unknown name that is not an existing path.
    FileNotFoundError
        A path that does not exist.
    ValueError
        A malformed file (the message names it).

    Examples
    --------
    >>> f = load_filter("ps1_r")
    >>> 6100 < f.pivot < 6300
    True
    """
    text = str(name_or_path)
    key = _ALIASES.get(text.lower(), text.lower())
    if key in FILTER_NAMES or key in REFERENCE_FILTER_NAMES:
        return _load(str(FILTER_DIR / f"{key}.dat"), key)
    path = Path(name_or_path)
    if path.suffix in (".ecsv", ".dat", ".txt", ".csv") or path.exists():
        return _load(str(path.resolve()), path.stem)
    raise KeyError(f"unknown filter {text!r}; known: {', '.join(FILTER_NAMES)} or a file path")


def flambda_to_fnu(wave: np.ndarray, flambda: np.ndarray) -> np.ndarray:
    """f_nu (erg/s/cm2/Hz) from f_lambda (erg/s/cm2/A): f_nu = f_lambda lambda^2 / c.

    Parameters
    ----------
    wave : numpy.ndarray, (nwave,)
        Wavelength in Angstrom.
    flambda : numpy.ndarray, (..., nwave)
        Flux density per Angstrom.

    Examples
    --------
    >>> float(flambda_to_fnu(np.array([5000.0]), np.array([1e-17]))[0])  # doctest: +ELLIPSIS
    8.33...e-29
    """
    wave = np.asarray(wave, dtype=float)
    return np.asarray(flambda, dtype=float) * wave**2 / C_ANGSTROM_PER_S


def fnu_to_flambda(wave: np.ndarray, fnu: np.ndarray) -> np.ndarray:
    """f_lambda (erg/s/cm2/A) from f_nu (erg/s/cm2/Hz): f_lambda = f_nu c / lambda^2."""
    wave = np.asarray(wave, dtype=float)
    return np.asarray(fnu, dtype=float) * C_ANGSTROM_PER_S / wave**2


def ab_to_fnu(mag) -> np.ndarray:
    """f_nu in erg/s/cm2/Hz of an AB magnitude: 10^(-0.4 (m + 48.60))."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=float) + 48.60))


def fnu_to_ab(fnu) -> np.ndarray:
    """AB magnitude of f_nu (erg/s/cm2/Hz); NaN where f_nu <= 0."""
    fnu = np.asarray(fnu, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(fnu > 0, -2.5 * np.log10(np.where(fnu > 0, fnu, 1.0)) - 48.60, np.nan)


def mag_err_to_flux_err(flux, mag_err):
    """sigma_f = f sigma_m ln(10) / 2.5."""
    return np.asarray(flux, dtype=float) * np.asarray(mag_err, dtype=float) * np.log(10.0) / 2.5


def flux_err_to_mag_err(flux, flux_err):
    """sigma_m = (2.5 / ln 10) |sigma_f / f|."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2.5 / np.log(10.0) * np.abs(np.asarray(flux_err, float) / np.asarray(flux, float))


def ab_magnitude(
    wave: np.ndarray,
    flux: np.ndarray,
    filt: Filter | str,
    *,
    flux_scale: float = 1.0,
    good: np.ndarray | None = None,
    allow_partial: bool = False,
) -> np.ndarray:
    """Photon-counting synthetic AB magnitude of one or many spectra.

    Parameters
    ----------
    wave : numpy.ndarray, (nwave,)
        Wavelength in Angstrom (vacuum), increasing.
    flux : numpy.ndarray, (..., nwave)
        f_lambda in units of ``flux_scale`` erg/s/cm2/A (e.g. ``flux_scale=1e-17``).
    filt : Filter or str
        Filter or a name for :func:`load_filter`.
    flux_scale : float
        Multiply ``flux`` by this to get erg/s/cm2/A.
    good : numpy.ndarray of bool, (..., nwave), optional
        Pixels to use (default: all finite); bad pixels get zero weight.
    allow_partial : bool
        If False (default), a spectrum whose wavelength range does not cover the
        filter's 1 %-of-peak range gives NaN; if True the mean is over the covered part.

    Returns
    -------
    numpy.ndarray, float64, shape ``flux.shape[:-1]``
        AB magnitudes; NaN where the filter is not covered or <f_nu> <= 0.

    Raises
    ------
    ValueError
        If ``wave`` is not 1-d, not increasing, or does not match ``flux``'s last axis.

    Examples
    --------
    >>> w = np.linspace(3000.0, 11000.0, 4001)
    >>> flat = fnu_to_flambda(w, ab_to_fnu(17.0))
    >>> round(float(ab_magnitude(w, flat, "ps1_r")), 6)
    17.0
    """
    filt = load_filter(filt) if not isinstance(filt, Filter) else filt
    wave = np.asarray(wave, dtype=float)
    flux = np.asarray(flux)
    if wave.ndim != 1 or flux.shape[-1] != wave.size:
        raise ValueError(
            f"wave must be 1-d with the length of flux's last axis; got {wave.shape} and {flux.shape}"
        )
    if np.any(np.diff(wave) <= 0):
        raise ValueError("wave must be strictly increasing")
    # Beyond the tabulated filter curve the throughput is 0: integrate only over it plus
    # one pixel on each side (the same sums; a template library is 10-50x wider than a band).
    i0 = max(int(np.searchsorted(wave, filt.wave[0], side="left")) - 1, 0)
    i1 = min(int(np.searchsorted(wave, filt.wave[-1], side="right")) + 1, wave.size)
    full = (wave[0], wave[-1])
    wave, flux = wave[i0:i1], flux[..., i0:i1]
    if good is not None:
        good = np.asarray(good)[..., i0:i1]
    flux = np.asarray(flux, dtype=float) * flux_scale
    lo, hi = filt.support()
    out_shape = flux.shape[:-1]
    if not allow_partial and (full[0] > lo or full[1] < hi):
        log.debug(
            "filter %s (%.0f-%.0f A) not covered by %.0f-%.0f A",
            filt.name,
            lo,
            hi,
            full[0],
            full[1],
        )
        return np.full(out_shape, np.nan)
    thr = np.interp(wave, filt.wave, filt.throughput, left=0.0, right=0.0)
    use = np.isfinite(flux) if good is None else (np.asarray(good, bool) & np.isfinite(flux))
    fnu = np.where(use, flambda_to_fnu(wave, np.where(use, flux, 0.0)), 0.0)
    # trapezoid weights on ln(lambda)
    lnw = np.log(wave)
    dl = np.diff(lnw)
    wts = np.zeros_like(wave)
    wts[:-1] += 0.5 * dl
    wts[1:] += 0.5 * dl
    wts = wts * thr
    num = fnu @ wts if fnu.ndim > 0 else float(fnu * wts)
    den = np.where(use, wts, 0.0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return fnu_to_ab(mean).reshape(out_shape)


def synthetic_magnitudes(wave, flux, names=FILTER_NAMES, **kwargs) -> dict[str, np.ndarray]:
    """AB magnitudes in several filters: ``{name: ab_magnitude(wave, flux, name)}``."""
    return {name: ab_magnitude(wave, flux, name, **kwargs) for name in names}
