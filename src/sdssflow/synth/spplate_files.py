"""Writer of demo spPlate/spField files (the idlspec2d v5_7 layout read by :mod:`sdssflow.io.spplate`)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from sdssflow.synth.boss_files import (
    _check_images,
    _plugmap_array,
    _provenance,
    _records,
    _write_fits,
)

__all__ = ["write_spplate"]


def write_spplate(
    path: str | os.PathLike,
    *,
    flux: np.ndarray,
    ivar: np.ndarray,
    andmask: np.ndarray,
    ormask: np.ndarray,
    wdisp: np.ndarray,
    plugmap,
    sky: np.ndarray,
    coeff0: float,
    exposures: Iterable[tuple[str, int, int, int]],
    header=None,
    coeff1: float = 1e-4,
    version: str = "demo",
    checksum: bool = True,
) -> Path:
    """Write an spPlate: the coadd of a plate-MJD on the log10 grid, with EXPIDnn keys.

    Parameters
    ----------
    path : str or os.PathLike
        ``spPlate-PPPP-MMMMM.fits``.
    flux, ivar, wdisp, sky : numpy.ndarray, (1000, ncoadd)
        Coadded flux (1e-17 erg/s/cm2/A), its ivar, wdisp (1e-4 dex), sky.
    andmask, ormask : numpy.ndarray of int, (1000, ncoadd)
        SPPIXMASK AND / OR of the exposures.
    plugmap : Table or structured array
        1000 rows.
    coeff0, coeff1 : float
        log10 lambda of pixel 0 and the log10 step (``COEFF0``, ``COEFF1``).
    exposures : iterable of (camera, expid, flat, arc)
        One ``EXPIDnn`` keyword each, value ``cc-eeeeeeee-ffffffff-aaaaaaaa``.
    header : astropy Header or mapping, optional
        Primary keywords (PLATEID, MJD, ...).
    version : str
        Recorded in VERSION.

    Returns
    -------
    pathlib.Path
    """
    _check_images(
        {
            "flux": flux,
            "ivar": ivar,
            "andmask": andmask,
            "ormask": ormask,
            "wdisp": wdisp,
            "sky": sky,
        }
    )
    exposures = list(exposures)
    expkeys = [
        {
            "name": f"EXPID{i:02d}",
            "value": f"{cam}-{e:08d}-{f:08d}-{a:08d}",
            "comment": "camera-expid-flat-arc",
        }
        for i, (cam, e, f, a) in enumerate(exposures, start=1)
    ]
    wcs = [
        {"name": "NEXP", "value": len(exposures), "comment": "number of camera-exposures"},
        {"name": "COEFF0", "value": float(coeff0), "comment": "log10(lambda/A) of the first pixel"},
        {"name": "COEFF1", "value": float(coeff1), "comment": "log10 lambda step"},
        {"name": "CRVAL1", "value": float(coeff0), "comment": ""},
        {"name": "CD1_1", "value": float(coeff1), "comment": ""},
        {"name": "CRPIX1", "value": 1.0, "comment": ""},
        {"name": "CTYPE1", "value": "LOG-LINEAR", "comment": ""},
        {"name": "DC-FLAG", "value": 1, "comment": "log10 lambda grid"},
    ]
    for cam in sorted({e[0] for e in exposures}):
        wcs.append(
            {
                "name": f"NEXP_{cam.upper()}",
                "value": sum(e[0] == cam for e in exposures),
                "comment": "",
            }
        )
    flux_unit = "1e-17 erg/s/cm^2/Angstrom"
    hdus = [
        (
            np.asarray(flux, np.float32),
            _records(header, "FLUX", flux_unit)
            + wcs
            + expkeys
            + _provenance(version, "demo_survey"),
        ),
        (np.asarray(ivar, np.float32), _records(None, "IVAR", "(1e-17 erg/s/cm^2/Angstrom)^-2")),
        (np.asarray(andmask, np.int32), _records(None, "ANDMASK", "SPPIXMASK bits")),
        (np.asarray(ormask, np.int32), _records(None, "ORMASK", "SPPIXMASK bits")),
        (np.asarray(wdisp, np.float32), _records(None, "WAVEDISP", "1e-4 dex")),
        (_plugmap_array(plugmap), _records(None, "PLUGMAP")),
        (np.asarray(sky, np.float32), _records(None, "SKY", flux_unit)),
    ]
    return _write_fits(Path(path), hdus, checksum)
