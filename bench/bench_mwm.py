"""Benchmarks of the MWM family: the bucket jobs (mwm_visit + mwm_star, with I/O) and boss_visits.

Target (issue 6): >= 5 sources/s per core for a source with 3 BOSS and 3 APOGEE visits,
including reading the inputs and writing both files; < 2 GB peak memory per bucket job.
The bucket here holds N_SOURCES such sources (all in bucket 12/34), read from real-size
bossVisits files (3 plate-MJDs) and apVisit files (3 x 4096 px x 3 chips), with the
stand-in NMF basis of sdssflow/data/mwm (C = 12).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits
from harness import Benchmark

from sdssflow.io.boss_visits import write_boss_visits
from sdssflow.mwm import mwm_star, mwm_visit
from sdssflow.mwm import synthetic as S
from sdssflow.mwm.steps import mwm_index
from sdssflow.resources import data_path

N_SOURCES = 20
N_FIBRES = 60  # BOSS visits of one MJD are read as rows of a 60-fibre bossVisits file
BASIS = data_path("mwm/nmf-basis-synthetic-C12.fits.gz")
PARAMS = (5500.0, 4.5, 0.0)


def _apvisit(path, sdss_id, mjd, v, rng):
    ap = S.apogee_visit(PARAMS, v, 80.0, rng)
    hdr = fits.Header({"OBJID": "2M00000000+0000000", "TELESCOP": "apo25m", "MJD5": mjd, "FIBERID": 50,
                       "SNR": 80.0, "STARFLAG": 0, "SDSS_ID": sdss_id, "VRAD": v, "BC": 0.0, "VHELIO": v})  # fmt: skip
    chips = ap.chips[::-1]
    imgs = [np.array([c[k][::-1] for c in chips]) for k in range(4)]
    hdus = [fits.PrimaryHDU(header=hdr), fits.ImageHDU(imgs[1].astype("f4")),
            fits.ImageHDU((1 / np.sqrt(imgs[2])).astype("f4")), fits.ImageHDU(imgs[3].astype("i2")),
            fits.ImageHDU(imgs[0])]  # fmt: skip
    fits.HDUList(hdus).writeto(path)


def _setup_bucket():
    root = Path(tempfile.mkdtemp(prefix="bench_mwm_"))
    rng = np.random.default_rng(1)
    rest = S.star_fine(PARAMS)
    ids = [100_001_234 + 10_000 * k for k in range(N_FIBRES)]  # all in bucket 12/34
    visits = []
    for j in range(3):
        mjd = 59000 + j
        table = np.zeros(N_FIBRES, dtype=[("sdss_id", "i8"), ("mjd", "i4"), ("telescope", "S8"), ("snr", "f4"),
                                          ("xcsao_v_rad", "f4"), ("xcsao_e_v_rad", "f4"), ("xcsao_rxc", "f4")])  # fmt: skip
        table["sdss_id"], table["mjd"], table["telescope"], table["snr"] = ids, mjd, b"apo25m", 30.0
        table["xcsao_v_rad"], table["xcsao_e_v_rad"], table["xcsao_rxc"] = 20.0, 2.0, 12.0
        vis = [S.boss_visit(rest, 20.0, 30.0, rng) for _ in range(4)]
        flux = np.array([vis[k % 4].flux for k in range(N_FIBRES)])
        ivar = np.array([vis[k % 4].ivar for k in range(N_FIBRES)])
        path = write_boss_visits(root / f"bossVisits-4100-{mjd}.fits", table, flux, ivar,
                                 np.zeros(flux.shape, np.int64), np.full(flux.shape, 2.0), [], "bench")  # fmt: skip
        visits.append(str(path))
    apdir = root / "apogee"
    apdir.mkdir()
    for k in range(N_SOURCES):
        for j in range(3):
            _apvisit(
                apdir / f"apVisit-b-apo25m-1-{59100 + j}-{k:03d}.fits", ids[k], 59100 + j, 20.0, rng
            )
    # only the first N_SOURCES have APOGEE visits; keep only them in the bucket
    index = root / "index"
    mwm_index.main(["--boss-visits", *visits, "--apogee-dir", str(apdir), "--outdir", str(index)])
    csv = index / "12" / "34.csv"
    lines = csv.read_text().splitlines()
    keep = {str(i) for i in ids[:N_SOURCES]}
    csv.write_text(
        "\n".join([lines[0]] + [ln for ln in lines[1:] if ln.split(",")[0] in keep]) + "\n"
    )

    def work():
        spectra = root / "spectra"
        vstat = spectra / "status" / "12" / "34" / "visit-status-1234.fits"
        mwm_visit.main(["--index-dir", str(index), "--gg", "12", "--hh", "34", "--basis", str(BASIS),
                        "--spectra-dir", str(spectra), "--status", str(vstat), "--version-name", "bench"])  # fmt: skip
        mwm_star.main(["--visit-status", str(vstat), "--basis", str(BASIS), "--spectra-dir", str(spectra),
                       "--status", str(vstat.with_name("star-status-1234.fits")), "--version-name", "bench"])  # fmt: skip
        n = len(list(spectra.glob("star/12/34/mwmStar-*.fits")))
        if n != N_SOURCES:
            raise RuntimeError(f"expected {N_SOURCES} mwmStar files, got {n}")

    return work


def _setup_boss_visits():
    """Merge b+r of 3 exposures (12 frames of 4112/4128 px) for 50 fibres and measure their RVs."""
    from sdssflow.mwm.rv import measure_rv
    from sdssflow.mwm.visits import combine_pieces

    rng = np.random.default_rng(2)
    rest = S.star_fine(PARAMS)
    lib = S.rv_library()
    pieces = []
    for lo, n in ((3.5500, 4112), (3.7600, 4128)):
        loglam = lo + 1e-4 * np.arange(n) + 3e-6 * np.sin(np.arange(n) / 500.0)
        wave = 10**loglam
        cont = 100.0 * (1 + 0.2 * np.sin(wave / 2000.0))
        flux = np.interp(wave / (1 + 30 / S.C_KMS), S.FINE_BOSS, rest) * cont
        for _ in range(3):
            pieces.append((loglam, flux + rng.normal(0, cont / 20), np.full(n, 400.0) / cont**2,
                           np.zeros(n, np.int64), np.full(n, 1.1)))  # fmt: skip

    def work():
        w = S.BOSS.wavelength
        for _ in range(50):
            f, iv, m, wr = combine_pieces(pieces)
            measure_rv(w, f, iv, lib)

    return work


BENCHMARKS = [
    Benchmark(
        "mwm_visit+mwm_star",
        f"1 bucket, {N_SOURCES} sources x (3 BOSS + 3 APOGEE visits), with I/O",
        N_SOURCES,
        "sources",
        _setup_bucket,
    ),
    Benchmark(
        "boss_visits",
        "50 fibres x 12 frames (4112/4128 px) merge + RV",
        50,
        "fibres",
        _setup_boss_visits,
    ),
]
