"""One camera's calibration from its standards' responses: combination and cal_factor.

:func:`camera_calibration` combines the per-star response fits robustly
(:func:`sdssflow.fluxcal.vectors.combine_responses`) and turns the result into the
``cal_factor`` of every fibre (:class:`sdssflow.io.fluxcal.CameraCalibration`).
"""

from __future__ import annotations

import numpy as np

from sdssflow.fluxcal.standards import camera_reference
from sdssflow.fluxcal.vectors import MASKBITS, combine_responses, pixel_widths, telluric_mask
from sdssflow.io.fluxcal import CameraCalibration

__all__ = ["camera_calibration"]

#: Fibres per block in :func:`camera_calibration`'s per-fibre factor.
_FIBER_BLOCK = 64


def camera_calibration(cam, frame, star_fits, fibers, settings):
    """Combine the per-star responses of one camera and build cal_factor.

    Parameters
    ----------
    cam : str
        Camera (``b1``, ...).
    frame : sdssflow.io.boss.BossFrame
        Its spFrame.
    star_fits : list of (ResponseFit, float)
        Each used star's response fit and the relative error of its photometric scale.
    fibers : list of int
        The stars' fibre ids (same order).
    settings : sdssflow.fluxcal.calibrate.Settings

    Returns
    -------
    calib : sdssflow.io.fluxcal.CameraCalibration
    used : numpy.ndarray of bool, (nstar,)
        Stars kept by the robust combination.
    stats : dict
        Statistics of the combination (``rms``, ...).

    Raises
    ------
    ValueError
        If no pixel is constrained by a standard.
    """
    ref_ln, _ = camera_reference(frame)
    wave_ref = np.exp(ref_ln)
    vals, vars_, valid = [], [], []
    for fit, rel_err in star_fits:
        a, v = fit(ref_ln)
        inside = (ref_ln >= fit.lnrange[0]) & (ref_ln <= fit.lnrange[1])
        vals.append(a)
        vars_.append(v + (a * rel_err) ** 2)
        valid.append(inside & ~telluric_mask(wave_ref, settings.telluric))
    comb, var, used, stats = combine_responses(
        np.array(vals), np.array(vars_), np.array(valid), settings.nsigma, settings.floor
    )
    have = np.isfinite(comb)
    if not have.any():
        raise ValueError(f"camera {cam}: no pixel constrained by a standard")
    # telluric / uncovered pixels: interpolate the combined response across (kept finite, flagged)
    fill = np.interp(ref_ln, ref_ln[have], comb[have])
    fill_var = np.interp(ref_ln, ref_ln[have], var[have])
    in_tell = telluric_mask(wave_ref, settings.telluric)
    covered = (ref_ln >= ref_ln[have].min()) & (ref_ln <= ref_ln[have].max())
    widths_ref = pixel_widths(ref_ln / np.log(10.0))  # A per reference pixel, shared below
    cal_ref = 1.0 / (fill * widths_ref)
    # per-fibre factor, computed in float64 in blocks of fibres (bounds the temporaries) and
    # kept in float32 (the product's type)
    cal_fib = np.empty(np.shape(frame.loglam), np.float32)
    dev = 0.0
    for i in range(0, cal_fib.shape[0], _FIBER_BLOCK):
        loglam = np.asarray(frame.loglam[i : i + _FIBER_BLOCK], float)
        a_fib = np.interp(loglam * np.log(10.0), ref_ln, fill)
        block = 1.0 / (a_fib * pixel_widths(loglam))
        dev = max(dev, float(np.nanmax(np.abs(block / cal_ref[None, :] - 1.0), initial=-np.inf)))
        cal_fib[i : i + _FIBER_BLOCK] = block
    per_fiber = bool(dev > 1e-3)
    # cal_factor per fibre when the fibres' wavelengths make it differ by > 0.1 %; its
    # ivar and mask stay on the reference grid (smooth in wavelength; a shift of a
    # fraction of a pixel does not change them), which keeps the files small
    cal = cal_fib if per_fiber else cal_ref
    mask = np.zeros(wave_ref.shape, np.int16)
    mask |= telluric_mask(wave_ref, settings.telluric).astype(np.int16) << MASKBITS["TELLURIC"]
    lo, hi = ref_ln[have].min(), ref_ln[have].max()
    mask |= ((ref_ln < lo) | (ref_ln > hi)).astype(np.int16) << MASKBITS["NOCOVER"]
    ivar = np.where(fill_var > 0, fill**2 / np.where(fill_var > 0, fill_var, 1.0) / cal_ref**2, 0.0)
    mask |= (ivar <= 0).astype(np.int16) << MASKBITS["LOWWEIGHT"]
    star_cal = 1.0 / (np.reshape(vals, (len(vals), ref_ln.size)) * widths_ref)
    meta = {
        "CAMERA": cam,
        "NSTARS": len(star_fits),
        "NUSED": int(used.sum()),
        "NREJECT": int((~used).sum()),
        "RMS": float(stats["rms"]),
        "PERFIBER": per_fiber,
        "TELLFRAC": float(in_tell.mean()),
        "COVERED": float(covered.mean()),
    }
    calib = CameraCalibration(
        cam,
        wave_ref,
        cal.astype(np.float32),
        ivar.astype(np.float32),
        mask,
        star_cal.astype(np.float32),
        np.asarray(fibers),
        meta,
    )
    return calib, used, stats
