"""Input route 2: sky spectra from SDSS spec "full" files.

A spec full file holds, for one science fibre, every exposure and camera that went into its
coadd, each with the sky model that the pipeline subtracted at that fibre (``sky``, already
calibrated, 1e-17 erg/s/cm2/A). The sky spectrum of this route is that ``sky`` column: the
fibre is not a sky fibre, so flux + sky would include the object. Its ivar is the photon noise
of that sky in one fibre, ``1 / (sky * calib)`` with ``calib`` the file's flux per electron (the
exposure's ``ivar`` is the object's and is 0 wherever the object flux was rejected, typically at
the peaks of bright sky lines, where the sky model itself is fine). For the same reason the
object-rejection bits FULLREJECT, PARTIALREJECT and COMBINEREJ are not applied to the sky model
(:data:`OBJECT_REJECT_BITS`). The calibration is the pipeline's own; ``sky.calibration`` does not
apply to this route.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from astropy.table import Table

from sdssflow.io.specfile import SpecFile
from sdssflow.sky.calibration import camera_window_mask, wdisp_to_sigma
from sdssflow.sky.extract import SkySpectra, concatenate, header_meta
from sdssflow.sky.masks import DEFAULT_BAD_BITS, bad_pixels

__all__ = ["specfile_sky_spectra", "OBJECT_REJECT_BITS"]

#: Bits that describe the object's extraction, not the sky model (ignored on this route).
OBJECT_REJECT_BITS = frozenset({"FULLREJECT", "PARTIALREJECT", "COMBINEREJ"})


def _obj(specobj: dict, key: str, default):
    value = specobj.get(key, default)
    try:
        return type(default)(value)
    except (TypeError, ValueError):
        return default


def specfile_sky_spectra(
    spec: SpecFile,
    bad_bits: Sequence[str] = DEFAULT_BAD_BITS,
    keep: set[tuple[int, str]] | None = None,
) -> SkySpectra:
    """Sky-model spectra of every exposure and camera of one spec full file.

    Parameters
    ----------
    spec : sdssflow.io.specfile.SpecFile
        A full file (with per-exposure tables).
    bad_bits : sequence of str
        SPPIXMASK names that make a pixel bad (ivar = 0).
    keep : set of (expid, camera), optional
        Only these exposures/cameras (e.g. from a selection table); all when None.

    Returns
    -------
    SkySpectra
        One row per exposure and camera; OBJTYPE is the fibre's own, ``SOURCE`` = ``spec_sky``.

    Raises
    ------
    ValueError
        If the file has no per-exposure tables.
    """
    if not spec.is_full:
        raise ValueError(f"{spec.path}: not a spec 'full' file (no per-exposure tables)")
    parts = []
    for exp in spec.exposures:
        if keep is not None and (exp.expid, exp.camera) not in keep:
            continue
        c = exp.columns
        if c["loglam"][0] > c["loglam"][-1]:  # SDSS-I/II exposure tables run red to blue
            c = {k: v[::-1] for k, v in c.items()}
        if not np.all(np.diff(c["loglam"]) > 0):
            raise ValueError(f"{spec.path}: exposure {exp.expid} {exp.camera}: loglam is not monotonic")
        wave = 10.0 ** c["loglam"][None, :]
        sky, calib = c["sky"], c["calib"]
        poisson = np.isfinite(sky) & np.isfinite(calib) & (sky > 0) & (calib > 0)
        ivar = np.where(poisson, 1.0 / np.where(poisson, sky * calib, 1.0), 0.0)[None, :]
        mask = c["mask"][None, :].astype(np.int32)
        bits = [b for b in bad_bits if str(b).upper() not in OBJECT_REJECT_BITS]
        bad = bad_pixels(mask, bits) | ~camera_window_mask(wave, exp.camera) | ~np.isfinite(c["sky"])[None, :]
        ivar[bad] = 0.0
        header = dict(exp.header)
        header.setdefault("PLATEID", spec.plate)
        meta = header_meta(header, 1)
        meta.update(
            CAMERA=np.array([exp.camera], dtype="U2"),
            FIBERID=np.array([_obj(spec.specobj, "FIBERID", spec.fiberid)], dtype=np.int64),
            OBJTYPE=np.array([str(spec.specobj.get("OBJTYPE", spec.specobj.get("SOURCETYPE", ""))).strip()], dtype="U16"),
            FIBER_RA=np.array([_obj(spec.specobj, "PLUG_RA", np.nan)], dtype=np.float64),
            FIBER_DEC=np.array([_obj(spec.specobj, "PLUG_DEC", np.nan)], dtype=np.float64),
            XFOCAL=np.array([_obj(spec.specobj, "XFOCAL", np.nan)], dtype=np.float64),
            YFOCAL=np.array([_obj(spec.specobj, "YFOCAL", np.nan)], dtype=np.float64),
            NPIX=np.array([wave.shape[1]], dtype=np.int32),
            NGOOD=np.array([int((ivar > 0).sum())], dtype=np.int32),
        )
        parts.append(
            SkySpectra(
                wave=wave,
                flux=np.where(np.isfinite(c["sky"]), c["sky"], 0.0)[None, :].astype(np.float64),
                ivar=ivar,
                mask=mask,
                disp=wdisp_to_sigma(c["loglam"], c["wdisp"])[None, :],
                meta=Table(meta),
            )
        )
    if not parts:
        raise ValueError(f"{spec.path}: no exposure left after the selection")
    out = concatenate(parts)
    out.meta["SOURCE"] = np.full(out.nspec, "spec_sky", dtype="U12")
    return out
