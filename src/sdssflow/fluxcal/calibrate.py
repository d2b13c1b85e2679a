"""Flux calibration of one BOSS exposure (all cameras) from its standard stars.

:func:`calibrate_exposure` is the science of the ``flux_calibration`` step; it takes
frames, photometry and the prepared template library in memory and returns calibration
vectors and status rows (no file access). Per spectrograph:

1. the standards (OBJTYPE SPECTROPHOTO_STD or REDDEN_STD, :mod:`sdssflow.io.fibre_roles`;
   not those with a v6 BADSTDMASK) are matched to the photometry (catalogid or position);
2. each standard is fitted (:func:`sdssflow.fluxcal.matching.fit_star`) with the SED
   prior of its photometry, after a check that the template grid covers its colour;
3. the chosen template, convolved to the camera resolution and shifted by the RV, is
   scaled to the photometry with the bands the full-range model covers entirely
   (:func:`scale_to_photometry`; kspecdr W4 integrated a partly covered, resampled
   model), and a smooth response is fitted per camera (:mod:`.vectors`);
4. the responses are combined robustly and turned into ``cal_factor`` on every fibre's
   native pixels.

Failures of a star are recorded in its row; a spectrograph without usable standards
makes the exposure BAD_FLUXCAL with the reason, and the other cameras go on.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sdssflow.fluxcal.camera_vectors import camera_calibration
from sdssflow.fluxcal.matching import C_KMS
from sdssflow.fluxcal.prepared import PreparedLibrary, prepare_library
from sdssflow.fluxcal.priors import match_standards
from sdssflow.fluxcal.standards import BAD_PIXEL_BITS, fit_standard, scale_to_photometry
from sdssflow.io.fibre_roles import fibre_catalogids, is_standard, normalise_objtype

__all__ = [
    "Settings",
    "PreparedLibrary",
    "prepare_library",
    "scale_to_photometry",
    "ExposureResult",
    "calibrate_exposure",
    "BAD_PIXEL_BITS",
    "C_KMS",
]

log = logging.getLogger(__name__)


@dataclass
class Settings:
    """Tunables of the flux calibration (CLI options of the step).

    Attributes
    ----------
    telluric : numpy.ndarray, (nregion, 2)
        Telluric intervals, vacuum A.
    cores : numpy.ndarray, (nline, 2), optional
        Strong-line cores (rest vacuum A, half-width A) left out of the template
        matching and of the response fits (``sdssflow/data/fluxcal/line_cores.csv``).
    degree : int
        Per-camera response polynomial degree used in template matching.
    knot_spacing : float
        Response spline knot spacing, ln(lambda).
    rv_max, rv_step : float
        Coarse RV search half-range and step, km/s.
    nsigma, floor : float
        Star rejection threshold and robust-sigma floor of the combination.
    min_snr : float
        Standards with a lower median S/N per pixel are not used.
    match_radius : float
        Position match radius, arcsec.
    mag_floor : float
        Error floor added in quadrature to the photometric errors, mag (filter-curve
        and model systematics); it sets the weight of the SED prior against the
        spectrum.
    interpolate : bool
        Interpolate the template between grid nodes (see
        :func:`sdssflow.fluxcal.interpolation.interpolation_weights`); False uses the node.
    cover_margin : float
        A star whose Teff from its native BP-RP lies more than this (K, at least two
        grid steps) outside the library's Teff range is "not covered by the grid".
    sed_chi2_max : float
        A star whose best template sits at a Teff edge of the grid with an SED
        chi^2 per degree of freedom above this is also "not covered".
    """

    telluric: np.ndarray
    cores: np.ndarray | None = None
    degree: int = 15
    knot_spacing: float = 0.02
    rv_max: float = 500.0
    rv_step: float = 10.0
    nsigma: float = 4.0
    floor: float = 0.01
    min_snr: float = 5.0
    match_radius: float = 1.0
    mag_floor: float = 0.01
    cover_margin: float = 500.0
    interpolate: bool = True
    sed_chi2_max: float = 25.0


@dataclass
class ExposureResult:
    """Output of :func:`calibrate_exposure`.

    Attributes
    ----------
    cameras : dict of str to CameraCalibration
        Calibrated cameras.
    stars : list of dict
        One row per standard (status USED / REJECTED and the reason, fit results).
    row : dict
        Exposure summary (counts, rms, FLAG = '' or 'BAD_FLUXCAL', REASON).
    """

    cameras: dict
    stars: list
    row: dict


def _star_row(fiber, specid, catalogid):
    return {
        "FIBERID": int(fiber),
        "SPECID": int(specid),
        "CATALOGID": int(catalogid),
        "STATUS": "REJECTED",
        "REASON": "",
        "TEFF": np.nan,
        "LOGG": np.nan,
        "FEH": np.nan,
        "ALPHA": np.nan,
        "TEMPLATE": "",
        "RV": np.nan,
        "RV_ERR": np.nan,
        "SNR": np.nan,
        "CHI2R": np.nan,
        "SCALE": np.nan,
        "SCALE_ERR": np.nan,
        "NBANDS": 0,
        "TEFF_NODE": np.nan,
        "TEFF_PHOT": np.nan,
    }


def calibrate_exposure(
    frames: dict,
    catalog: pd.DataFrame,
    cat_mag: np.ndarray,
    cat_err: np.ndarray,
    prep: PreparedLibrary,
    settings: Settings,
    star_cache: dict | None = None,
) -> ExposureResult:
    """Calibrate every camera of one exposure.

    Parameters
    ----------
    frames : dict of str to sdssflow.io.boss.BossFrame or callable
        spFrames of the exposure by camera (``b1``, ``r1``, ``b2``, ``r2``), or zero-argument
        callables returning them: those are called one spectrograph at a time, so only that
        spectrograph's frames are in memory. A loader returning None leaves its camera out
        (not calibrated, not counted as missing).
    catalog : pandas.DataFrame
        Photometry table (Refcat2 columns, ``RA``/``Dec`` and optionally ``catalogid``).
    cat_mag, cat_err : numpy.ndarray, (nrow, nband)
        AB magnitudes of ``catalog`` from :func:`sdssflow.fluxcal.priors.catalog_photometry`.
    prep : PreparedLibrary
    settings : Settings
    star_cache : dict, optional
        Shared by the exposures of one night (plate-MJD): the template chosen for a
        standard (key: spectrograph, fibre, CATALOGID) in the first exposure where it was fitted is
        kept in the later ones, whose RVs, scales and responses are still measured
        anew. Saves the template search, which dominates the cost.

    Returns
    -------
    ExposureResult
    """
    stars, cameras, reasons = [], {}, []
    rms_all, n_std, n_used = [], 0, 0
    loaded: set = set()  # cameras whose frame was given or loaded
    for spec in sorted({cam[1] for cam in frames}):
        # one spectrograph's frames at a time: a loader is called here and its frames are
        # freed (all references dropped here) before the next spectrograph's are read
        cams = frame = plug = f = None
        cams = {c: (f() if callable(f) else f) for c, f in frames.items() if c[1] == spec}
        cams = {c: f for c, f in cams.items() if f is not None}  # None: loader left it out
        loaded |= set(cams)
        if not cams:
            continue
        plug = next(iter(cams.values())).plugmap
        std_rows = np.flatnonzero(is_standard(plug["OBJTYPE"]))
        if "BADSTDMASK" in plug.colnames:
            # v6 fibre map (DR18/DR19 spFrame HDU5): a standard outside the design's
            # magnitude range; idlspec2d leaves it out of the flux calibration
            bad = np.asarray(plug["BADSTDMASK"])[std_rows] != 0
            if bad.all() and bad.size:
                reasons.append(f"spectrograph {spec}: all {bad.size} standards have BADSTDMASK set")
                continue
            std_rows = std_rows[~bad]
        n_std += std_rows.size
        if std_rows.size == 0:
            # the OBJTYPEs present let a user see a role spelled in a way we do not know
            seen = sorted(set(normalise_objtype(plug["OBJTYPE"])) - {""})
            listed = ", ".join(seen[:8]) + (", ..." if len(seen) > 8 else "")
            reasons.append(
                f"spectrograph {spec}: no SPECTROPHOTO_STD (or REDDEN_STD) fibres (OBJTYPEs: {listed or 'none'})"
            )
            continue
        cid = fibre_catalogids(plug)
        match = match_standards(
            np.asarray(plug["RA"])[std_rows],
            np.asarray(plug["DEC"])[std_rows],
            catalog,
            None if cid is None else cid[std_rows],
            settings.match_radius,
        )
        fits_by_cam = {c: [] for c in cams}
        fibers_by_cam = {c: [] for c in cams}
        star_rows = []
        for k, r in enumerate(std_rows):
            fiber = int(plug["FIBERID"][r])
            row = _star_row(fiber, spec, 0 if cid is None else cid[r])
            row_index = {
                c: int(np.flatnonzero(np.asarray(f.plugmap["FIBERID"]) == fiber)[0])
                for c, f in cams.items()
            }
            if match[k] < 0:
                row["REASON"] = "no photometry"
            else:
                try:
                    # the star, not only its fibre: an FPS field-MJD has several
                    # configurations, and a fibre may hold another standard in the next one
                    key = (spec, fiber, row["CATALOGID"])
                    previous = None if star_cache is None else star_cache.get(key)
                    per_cam, rel_err = fit_standard(
                        prep,
                        cams,
                        row_index,
                        cat_mag[match[k]],
                        cat_err[match[k]],
                        row,
                        settings,
                        previous,
                    )
                    if star_cache is not None and previous is None:
                        star_cache[key] = row["_fit"]
                    for c, f in per_cam.items():
                        fits_by_cam[c].append((f, rel_err))
                        fibers_by_cam[c].append(fiber)
                    row["STATUS"] = "USED"
                except (ValueError, np.linalg.LinAlgError) as err:
                    row["REASON"] = str(err)
            row.pop("_fit", None)
            stars.append(row)
            star_rows.append(row)
        if not any(fits_by_cam.values()):
            common = Counter(r["REASON"] for r in star_rows).most_common(1)[0][0]
            reasons.append(f"spectrograph {spec}: no usable standard ({common})")
            continue
        for cam, frame in cams.items():
            if not fits_by_cam[cam]:
                reasons.append(f"camera {cam}: no usable standard")
                continue
            try:
                calib, used, stats = camera_calibration(
                    cam, frame, fits_by_cam[cam], fibers_by_cam[cam], settings
                )
            except ValueError as err:
                reasons.append(str(err))
                continue
            cameras[cam] = calib
            rms_all.append(stats["rms"])
            for fiber, ok in zip(fibers_by_cam[cam], used):
                if not ok:
                    for row in star_rows:
                        if row["FIBERID"] == fiber and row["STATUS"] == "USED":
                            row["STATUS"] = "REJECTED"
                            row["REASON"] = f"outlier in the combination ({cam})"
        n_used += sum(r["STATUS"] == "USED" for r in star_rows)
    missing = sorted(loaded - set(cameras))
    flag = "BAD_FLUXCAL" if missing else ""
    row = {
        "NSTD": n_std,
        "NUSED": n_used,
        "NREJECT": n_std - n_used,
        "RMS": float(np.max(rms_all)) if rms_all else np.nan,
        "CAMERAS": ",".join(sorted(cameras)),
        "FLAG": flag,
        "REASON": "; ".join(reasons) if missing else "",
    }
    return ExposureResult(cameras, stars, row)
