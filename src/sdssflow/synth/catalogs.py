"""The demo's photometry and target catalogs (``photometry/refcat2.csv``, ``targets.fits``)."""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from astropy.table import Table

from sdssflow.io.products import add_provenance, atomic_path, write_hdulist
from sdssflow.photometry import VEGA_TO_AB
from sdssflow.synth.targets import rng_for

__all__ = ["REFCAT2_COLUMNS", "write_catalogs"]

#: Refcat2 CSV header (ATLAS Refcat2, Tonry et al. 2018), then our sdss_id / catalogid.
REFCAT2_COLUMNS = (
    "dstDegrees,objid,RA,Dec,plx,dplx,pmra,dpmra,pmdec,dpmdec,Gaia,dGaia,BP,dBP,RP,dRP,Teff,AGaia,dupvar,Ag,"
    "rp1,r1,r10,g,dg,gchi,gcontrib,r,dr,rchi,rcontrib,i,di,ichi,icontrib,z,dz,zchi,zcontrib,nstat,"
    "J,dJ,H,dH,K,dK,sdss_id,catalogid"
).split(",")


_BANDS = {  # column: (filter, error column, error range)
    "Gaia": ("gaia_g", "dGaia", (0.001, 0.004)),
    "BP": ("gaia_bp", "dBP", (0.003, 0.012)),
    "RP": ("gaia_rp", "dRP", (0.003, 0.012)),
    "g": ("ps1_g", "dg", (0.005, 0.02)),
    "r": ("ps1_r", "dr", (0.005, 0.02)),
    "i": ("ps1_i", "di", (0.005, 0.02)),
    "z": ("ps1_z", "dz", (0.005, 0.025)),
    "J": ("2mass_j", "dJ", (0.02, 0.05)),
    "H": ("2mass_h", "dH", (0.02, 0.06)),
    "K": ("2mass_ks", "dK", (0.02, 0.08)),
}


_SENTINEL = 99.9


def write_catalogs(plan, stars, plugmaps, version, extra_targets=()) -> list:
    """Write ``photometry/refcat2.csv`` and ``targets.fits``.

    ``extra_targets``: more ``targets.fits`` rows, (sdss_id, catalogid, plate, fiberid,
    objtype, ra, dec) tuples (the sdss5 demo's non-stellar carton targets).
    """
    seed = int(plan.get("seed"))
    written = []
    lines = [",".join(REFCAT2_COLUMNS)]
    for s in stars:
        rng = rng_for(seed, "star", s.source.sdss_id % 2**31, 99)
        vals = dict.fromkeys(REFCAT2_COLUMNS, 0.0)
        vals.update(
            {
                "objid": s.source.catalogid,
                "RA": f"{s.ra:.7f}",
                "Dec": f"{s.dec:.7f}",
                "plx": round(float(rng.uniform(0.2, 2.0)), 4),
                "dplx": 0.05,
                "Teff": int(round(s.params.teff + rng.normal(0, 150))),
                "nstat": 0,
                "sdss_id": s.source.sdss_id,
                "catalogid": s.source.catalogid,
            }
        )
        missing = rng.choice(["BP", "z", "K", "J"]) if rng.uniform() < 0.2 else None
        for col, (filt, ecol, (elo, ehi)) in _BANDS.items():
            if col == missing:
                vals[col], vals[ecol] = _SENTINEL, _SENTINEL
                continue
            vals[col] = f"{s.mags[filt] - VEGA_TO_AB.get(filt, 0.0):.4f}"
            vals[ecol] = f"{rng.uniform(elo, ehi):.4f}"
        lines.append(",".join(str(vals[c]) for c in REFCAT2_COLUMNS))
    path = plan.photometry
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    written.append(path)

    rows = []
    for plate, fib in sorted(plugmaps.items()):
        for k in np.flatnonzero(fib["objtype"] != "GALAXY"):
            idx = fib["star"][k]
            s = stars[idx] if idx >= 0 else None
            rows.append(
                (
                    s.source.sdss_id if s else -1,
                    s.source.catalogid if s else -1,
                    plate,
                    int(fib["fiberid"][k]),
                    str(fib["objtype"][k]),
                    s.ra if s else np.nan,
                    s.dec if s else np.nan,
                )
            )
    rows += [tuple(r) for r in extra_targets]
    t = Table(
        rows=rows,
        names=("sdss_id", "catalogid", "plate", "fiberid", "objtype", "ra", "dec"),
        dtype=("i8", "i8", "i4", "i4", "U16", "f8", "f8"),
    )
    t["ra"].unit = t["dec"].unit = "deg"
    hdu = fits.BinTableHDU(t, name="TARGETS")
    hdu.header["BUNIT"] = ""
    prim = fits.PrimaryHDU()
    add_provenance(prim.header, version, step="demo_survey")
    written.append(write_hdulist(fits.HDUList([prim, hdu]), plan.root / "targets.fits"))
    return written
