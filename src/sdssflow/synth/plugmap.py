"""Plug-map rows and spPlate coadd inputs of the demo's spectrographs (plate and FPS eras).

Used by the plate-era generator (:mod:`sdssflow.synth.steps.survey`) and the SDSS-V one
(:mod:`sdssflow.synth.sdss5`).
"""

from __future__ import annotations

import numpy as np

from sdssflow.synth.targets import rng_for

__all__ = ["plugmap_rows", "coadd_inputs"]


def plugmap_rows(
    fibres: dict, stars: list, rows: slice, plate_ra: float, plate_dec: float, seed: int, plate: int
):
    """Plug-map rows (structured array) of one spectrograph's 500 fibres."""
    n = rows.stop - rows.start
    dtype = [
        ("FIBERID", "i4"),
        ("OBJTYPE", "S16"),
        ("HOLETYPE", "S8"),
        ("RA", "f8"),
        ("DEC", "f8"),
        ("XFOCAL", "f8"),
        ("YFOCAL", "f8"),
        ("MAG", "f4", (5,)),
        ("SPECTROGRAPHID", "i4"),
        ("THROUGHPUT", "i4"),
        ("PRIMTARGET", "i4"),
        ("SDSS_ID", "i8"),
        ("CATALOGID", "i8"),
    ]
    pm = np.zeros(n, dtype=dtype)
    pm["FIBERID"] = fibres["fiberid"][rows]
    pm["OBJTYPE"] = np.char.encode(fibres["objtype"][rows].astype(str))
    pm["HOLETYPE"] = b"BOSS"
    pm["SPECTROGRAPHID"] = 1 if rows.start == 0 else 2
    pm["SDSS_ID"] = -1
    rng = rng_for(seed, "fibre", plate, rows.start + 7)
    r = np.sqrt(rng.uniform(0, 1, n)) * 1.45
    th = rng.uniform(0, 2 * np.pi, n)
    ra = plate_ra + r * np.cos(th) / np.cos(np.radians(plate_dec))
    dec = plate_dec + r * np.sin(th)
    mags = np.full((n, 5), 25.0, np.float32)
    star_idx = fibres["star"][rows]
    for i in np.flatnonzero(star_idx >= 0):
        s = stars[star_idx[i]]
        ra[i], dec[i] = s.ra, s.dec
        mags[i] = [s.mags[b] for b in ("sdss_u", "sdss_g", "sdss_r", "sdss_i", "sdss_z")]
        pm["SDSS_ID"][i] = s.source.sdss_id
        pm["CATALOGID"][i] = s.source.catalogid
    galaxy = fibres["objtype"][rows] == "GALAXY"
    mags[galaxy] = 20.5
    pm["RA"], pm["DEC"], pm["MAG"] = ra, dec, mags
    # gnomonic projection, 217.7358 mm per degree
    pm["XFOCAL"] = 217.7358 * (ra - plate_ra) * np.cos(np.radians(plate_dec))
    pm["YFOCAL"] = 217.7358 * (dec - plate_dec)
    return pm


def coadd_inputs(fr):
    """Only what the spPlate coadd needs (keeps memory at about 60 MB per camera-exposure)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        loglam=fr.loglam,
        cflux=fr.cflux,
        civar=fr.civar,
        csky=fr.csky,
        wdisp=fr.wdisp,
        cmask=fr.cmask,
    )
