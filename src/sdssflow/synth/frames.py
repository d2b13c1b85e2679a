"""BOSS frames of the demo survey: spFrame, spCFrame, spFluxcalib and spPlate contents.

For one camera-exposure (500 fibres), with f_lambda in 1e-17 erg/s/cm2/A and the truth
response ``fluxcalib`` (electrons per 1e-4-dex bin per flux unit, :mod:`.instrument`)::

    electrons per pixel   E = (f_star + f_sky) x fluxcalib / R,   R = 1e-4 / dlog10(lambda)/dpixel
    observed              N = E + sqrt(E + read_noise^2) x Normal(0, 1)  (+ cosmic rays)
                          (Poisson in its Gaussian limit: E > 10 electrons in every pixel)
    spFrame HDU0 / HDU6   N - S,  S = f_sky x fluxcalib / R  (the noiseless sky model)
    spFrame HDU1          1 / (E + read_noise^2)              (model variance)
    spCFrame              HDU0 x R / fluxcalib, ivar x (fluxcalib / R)^2

so (spFrame flux + sky) x cal_factor = f_star + f_sky + noise, cal_factor = R / fluxcalib.
Cosmic rays (about 60 per frame, 1-3 pixels) and bad-pixel runs get ivar = 0 and the
FULLREJECT (+ NEARBADPIXEL) bits; one broken filler fibre per spectrograph is BADTRACE with
ivar = 0; sky-line pixels brighter than 5 x the median sky carry BRIGHTSKY (ivar kept).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from sdssflow.constants import C_KMS
from sdssflow.io.boss import SPPIXMASK, frame_npix
from sdssflow.io.traceset import evaluate_traceset
from sdssflow.synth import instrument
from sdssflow.synth import sky as skymod
from sdssflow.synth.stellar import surface_flux

__all__ = ["CameraFrame", "arm_grid", "rest_spectrum", "build_frame", "frame_header", "coadd_plate"]

_BIT = {k: np.int32(1 << v) for k, v in SPPIXMASK.items()}
#: Fine log10 grid step of the rest-frame star spectra (dex).
FINE_STEP = 1e-5


@dataclass
class CameraFrame:
    """All arrays of one camera-exposure (rows = 500 fibres).

    flux, ivar, sky : spFrame units (electrons per pixel); cflux, civar, csky : spCFrame
    units (1e-17 erg/s/cm2/A); mask / cmask : SPPIXMASK; loglam (float64), wdisp (1e-4 dex),
    fluxcalib; wset, dispset : trace sets; sky_true : injected sky f_lambda (noiseless);
    cal_factor_ref, wave_ref : the truth calibration on the nominal (median-fibre) grid.
    """

    camera: str
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    sky: np.ndarray
    cflux: np.ndarray
    civar: np.ndarray
    cmask: np.ndarray
    csky: np.ndarray
    loglam: np.ndarray
    wdisp: np.ndarray
    fluxcalib: np.ndarray
    xpos: np.ndarray
    superflat: np.ndarray
    wset: dict
    dispset: dict
    sky_true: np.ndarray
    wave_ref: np.ndarray
    cal_factor_ref: np.ndarray
    fluxcalib_ref: np.ndarray
    fibre_factor: np.ndarray


def arm_grid(arm: str) -> np.ndarray:
    """Fine log-uniform rest-frame grid (A) covering an arm with margin for +-300 km/s."""
    lo, hi = instrument.CAMERA_RANGE[arm]
    return 10.0 ** np.arange(np.log10(lo) - 0.004, np.log10(hi) + 0.004, FINE_STEP)


def arm_sigma(arm: str):
    """Nominal line-spread sigma (A) vs wavelength for an arm (median fibre), a callable."""
    npix = frame_npix(arm + "1")
    ts = instrument.wavelength_traceset(arm + "1")
    ds = instrument.dispersion_traceset(arm + "1")
    mid = 250
    wave = 10.0 ** evaluate_traceset({**ts, "COEFF": ts["COEFF"][mid : mid + 1]}, npix)[0]
    sig_pix = evaluate_traceset({**ds, "COEFF": ds["COEFF"][mid : mid + 1]}, npix)[0]
    sig_A = sig_pix * np.gradient(wave)
    return lambda lam: np.interp(lam, wave, sig_A)


def rest_spectrum(params, arm: str) -> tuple[np.ndarray, np.ndarray]:
    """Rest-frame surface flux at BOSS resolution on :func:`arm_grid` (log10 lambda, flux)."""
    grid = arm_grid(arm)
    flux, _ = surface_flux(grid, params, sigma_inst=arm_sigma(arm))
    return np.log10(grid), flux


def build_frame(
    camera: str,
    spectrograph: int,
    exposure,
    fibres: dict,
    stars: list,
    rest: dict,
    sky_lines: list,
    sky_strengths: np.ndarray,
    rng: np.random.Generator,
) -> CameraFrame:
    """Simulate one camera-exposure.

    Parameters
    ----------
    camera : str
        ``b1`` ... ``r2``.
    spectrograph : int
        1 or 2 (fibres 1-500 or 501-1000).
    exposure : sdssflow.synth.targets.Exposure
    fibres : dict
        :func:`sdssflow.synth.targets.plate_fibres` of the plate.
    stars : list of Star
    rest : dict
        (star index, arm) -> (log10 lambda grid, rest-frame surface flux).
    sky_lines, sky_strengths
        Injected lines and their fluxes in this exposure.
    rng : numpy.random.Generator
        Noise generator of this camera-exposure.

    Returns
    -------
    CameraFrame
    """
    arm = camera[0]
    npix = frame_npix(camera)
    nfib = 500
    rows = slice((spectrograph - 1) * nfib, spectrograph * nfib)
    wset = instrument.wavelength_traceset(camera, nfib, spectrograph)
    dset = instrument.dispersion_traceset(camera, nfib)
    loglam = evaluate_traceset(wset, npix)
    wave = 10.0**loglam
    step = instrument.pixel_loglam_step(wset, npix)  # dex per pixel
    rfac = 1e-4 / step
    sig_pix = evaluate_traceset(dset, npix)
    sig_A = sig_pix * step * np.log(10.0) * wave
    cal_kw = dict(
        exptime=exposure.exptime,
        airmass=exposure.airmass,
        seeing=exposure.seeing,
        transparency=exposure.transparency,
    )
    # the response is smooth: evaluate it on a fine 1-d grid and interpolate (< 1e-6 relative)
    fine = np.linspace(wave.min() - 1.0, wave.max() + 1.0, 20000)
    fluxcalib = np.interp(wave, fine, instrument.fluxcalib_curve(camera, fine, **cal_kw))
    # heavy arithmetic in float32 (what the files hold); wavelengths stay float64
    f32 = np.float32
    fluxcalib = fluxcalib.astype(f32)
    rfac32 = rfac.astype(f32)
    wave32 = wave.astype(f32)
    e_per_flux = fluxcalib / rfac32  # electrons per pixel per 1e-17 erg/s/cm2/A

    cond = skymod.conditions_of(exposure)
    fibre_factor = 1.0 + 0.01 * rng.standard_normal(nfib)
    sky_true = skymod.sky_flux(
        wave32, sig_A.astype(f32), sky_lines, sky_strengths, cond, fibre_factor.astype(f32)
    )

    obj = np.zeros((nfib, npix), f32)
    star_idx = fibres["star"][rows]
    objtype = fibres["objtype"][rows]
    for i in np.flatnonzero(star_idx >= 0):
        s = stars[star_idx[i]]
        grid, fl = rest[(star_idx[i], arm)]
        v = s.v_visit[exposure.mjd]
        obj[i] = s.scale * np.interp(loglam[i] - np.log10(1.0 + v / C_KMS), grid, fl)
    galaxy = np.flatnonzero(objtype == "GALAXY")
    # faint featureless fillers: r ~ 20-21 power laws
    amp = 10 ** rng.uniform(-0.4, 0.0, galaxy.size)
    slope = rng.uniform(-1.0, 1.0, galaxy.size)
    obj[galaxy] = (amp[:, None] * (1.0 + slope[:, None] * (wave[galaxy] / 6000.0 - 1.0))).astype(
        f32
    )

    expected_sky = sky_true * e_per_flux
    expected = obj * e_per_flux + expected_sky
    rn = f32(instrument.READ_NOISE[arm])
    # Poisson (Gaussian limit: every pixel has > 10 expected electrons) plus read noise
    variance = expected + rn**2
    counts = expected + np.sqrt(variance) * rng.standard_normal(expected.shape, dtype=np.float32)
    ivar = 1.0 / variance
    mask = np.zeros((nfib, npix), np.int32)

    # cosmic rays
    n_cr = rng.poisson(60)
    cr_f = rng.integers(0, nfib, n_cr)
    cr_x = rng.integers(0, npix - 3, n_cr)
    cr_len = rng.integers(1, 4, n_cr)
    cr_amp = rng.uniform(50.0, 3000.0, n_cr)
    for f, x, n, a in zip(cr_f, cr_x, cr_len, cr_amp):
        counts[f, x : x + n] += a
        ivar[f, x : x + n] = 0.0
        mask[f, x : x + n] |= _BIT["FULLREJECT"]
    # bad-pixel runs (bad columns crossing two fibres)
    for _ in range(2):
        f = int(rng.integers(0, nfib - 1))
        x = int(rng.integers(0, npix - 40))
        n = int(rng.integers(5, 30))
        ivar[f : f + 2, x : x + n] = 0.0
        mask[f : f + 2, x : x + n] |= _BIT["FULLREJECT"] | _BIT["NEARBADPIXEL"]
    dead = np.flatnonzero(fibres["dead"][rows])
    ivar[dead] = 0.0
    mask[dead] |= _BIT["BADTRACE"]
    counts[dead] = 0.0
    med = np.median(expected_sky, axis=1, keepdims=True)
    mask[expected_sky > 5.0 * med] |= _BIT["BRIGHTSKY"]

    flux = counts - expected_sky
    # spCFrame
    conv = rfac32 / fluxcalib
    cflux = flux * conv
    civar = ivar / conv**2
    csky = expected_sky * conv
    cmask = mask.copy()
    badfactor = fluxcalib <= 0.05 * fluxcalib.mean(axis=1, keepdims=True)
    cflux[badfactor] = 0.0
    civar[badfactor] = 0.0
    cmask[badfactor] |= _BIT["BADFLUXFACTOR"]
    ncomb = rng.integers(0, nfib * npix, 40)
    cmask.flat[ncomb] |= _BIT["COMBINEREJ"]

    wdisp = sig_pix * step * 1e4
    xpos = (
        20.0
        + 8.1 * np.arange(nfib)[:, None]
        + 3.0 * ((np.arange(npix)[None, :] - npix / 2) / npix) ** 2
    )
    superflat = (1.0 + 0.01 * np.sin(np.arange(npix) / 300.0))[None, :].repeat(nfib, axis=0)
    mid = nfib // 2
    wave_ref = wave[mid]
    fluxcalib_ref = instrument.fluxcalib_curve(camera, wave_ref, **cal_kw)
    return CameraFrame(
        camera=camera,
        flux=flux.astype(np.float32, copy=False),
        ivar=ivar.astype(np.float32, copy=False),
        mask=mask,
        sky=expected_sky.astype(np.float32, copy=False),
        cflux=cflux.astype(np.float32, copy=False),
        civar=civar.astype(np.float32, copy=False),
        cmask=cmask,
        csky=csky.astype(np.float32, copy=False),
        loglam=loglam,
        wdisp=wdisp.astype(np.float32, copy=False),
        fluxcalib=fluxcalib.astype(np.float32, copy=False),
        xpos=xpos.astype(np.float32, copy=False),
        superflat=superflat.astype(np.float32, copy=False),
        wset=wset,
        dispset=dset,
        sky_true=sky_true,
        wave_ref=wave_ref,
        cal_factor_ref=rfac[mid] / fluxcalib_ref,
        fluxcalib_ref=fluxcalib_ref,
        fibre_factor=fibre_factor,
    )


def frame_header(exposure, camera: str, flat: int, arc: int) -> fits.Header:
    """Primary header of a frame: the raw sdR keywords and idlspec2d additions (DR12 names)."""
    e = exposure
    hdr = fits.Header()
    cards = [
        ("TELESCOP", "SDSS 2-5m", "telescope"),
        ("OBSERVAT", "APO", "observatory"),
        ("FLAVOR", "science", "exposure type"),
        ("PLATEID", e.plate, "plate number"),
        ("MJD", e.mjd, "MJD of observation (SDSS convention)"),
        ("EXPOSURE", e.expid, "exposure number"),
        ("CAMERAS", f"{camera:<8s}", "camera"),
        ("SPEC_ID", int(camera[1]), "spectrograph"),
        ("EXPTIME", e.exptime, "exposure time, s"),
        ("REQTIME", e.exptime, "requested exposure time, s"),
        ("TAI", round(0.5 * (e.tai_beg + e.tai_end), 2), "mid-exposure TAI, s since MJD 0"),
        ("TAI-BEG", round(e.tai_beg, 2), "exposure start, TAI s since MJD 0"),
        ("TAI-END", round(e.tai_end, 2), "exposure end, TAI s since MJD 0"),
        ("DATE-OBS", e.date_obs, "UTC start of exposure"),
        ("TAIHMS", e.date_obs[11:19], "UTC start time (hh:mm:ss)"),
        ("RA", round(e.ra, 6), "boresight RA, deg (FK5 J2000)"),
        ("DEC", round(e.dec, 6), "boresight Dec, deg (FK5 J2000)"),
        ("RADEG", round(e.ra, 6), "plate centre RA, deg"),
        ("DECDEG", round(e.dec, 6), "plate centre Dec, deg"),
        ("EQUINOX", 2000.0, ""),
        ("ALT", round(e.alt, 4), "altitude at mid-exposure, deg"),
        ("AZ", round((180.0 - e.az) % 360.0, 4), "azimuth at mid-exposure, deg (TCC: S = 0, E = 90)"),
        ("AIRMASS", round(e.airmass, 5), "airmass at mid-exposure"),
        ("QUALITY", "excellent", "observer quality flag"),
        ("SEEING20", round(e.seeing * 0.9, 3), "seeing 20th percentile, arcsec"),
        ("SEEING50", e.seeing, "seeing median, arcsec"),
        ("SEEING80", round(e.seeing * 1.15, 3), "seeing 80th percentile, arcsec"),
        ("RMSOFF20", 0.03, "guider RMS offset 20%, arcsec"),
        ("RMSOFF50", 0.05, "guider RMS offset 50%, arcsec"),
        ("RMSOFF80", 0.08, "guider RMS offset 80%, arcsec"),
        ("NGUIDE", 45, "guider frames"),
    ]
    for k in range(1, 6):
        cards.append((f"REDDEN{k:02d}", 0.0, "extinction correction, mag"))
    for key, value in e.weather.items():
        cards.append((key, value, "weather"))
    cards += [
        ("FLATFILE", f"sdR-{camera}-{flat:08d}.fit", "flat used"),
        ("ARCFILE", f"sdR-{camera}-{arc:08d}.fit", "arc used"),
    ]
    rn = instrument.READ_NOISE[camera[0]]
    for k in range(4):
        cards.append((f"RDNOISE{k}", round(rn / 1.3, 3), "read noise per CCD pixel, electrons"))
    cards += [
        ("VACUUM", True, "wavelengths are in vacuum"),
        ("DEMO", True, "sdssflow synthetic demo survey (see truth/README.md)"),
    ]
    for key, value, comment in cards:
        hdr[key] = (value, comment)
    return hdr


def coadd_plate(frames: list[CameraFrame], coeff0: float = 3.5523, ncoadd: int = 4648) -> dict:
    """Inverse-variance coadd of the calibrated frames of a plate-MJD on the log10 grid.

    Parameters
    ----------
    frames : list of (spectrograph, CameraFrame)
        Every camera-exposure of the plate-MJD.
    coeff0 : float
        log10 lambda of the first coadd pixel (step 1e-4).
    ncoadd : int
        Number of coadd pixels.

    Returns
    -------
    dict
        ``flux, ivar, andmask, ormask, wdisp, sky`` of shape (1000, ncoadd).
    """
    grid = coeff0 + 1e-4 * np.arange(ncoadd)
    shape = (1000, ncoadd)
    wsum, fsum = np.zeros(shape), np.zeros(shape)
    skysum, nsum, wdsum = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    ormask = np.zeros(shape, np.int32)
    andmask = np.full(shape, -1, np.int32)
    for sp, fr in frames:
        rows = slice((sp - 1) * 500, sp * 500)
        ll = fr.loglam
        ref = ll[250]
        delta = ll[:, :1] - ref[:1]  # fibres differ by a zero-point shift only
        npix = ref.size
        pos = np.interp(grid[None, :] - delta, ref, np.arange(npix, dtype=float))
        inside = (grid[None, :] >= ll[:, :1]) & (grid[None, :] <= ll[:, -1:])
        j = np.clip(np.floor(pos).astype(int), 0, npix - 2)
        t = pos - j
        r = np.arange(500)[:, None]

        flat = (r * npix + j).ravel()
        near = (r * npix + np.clip(np.rint(pos).astype(int), 0, npix - 1)).ravel()
        shape2 = (500, ncoadd)

        def lin(a, flat=flat, t=t, shape2=shape2):
            a = a.ravel()
            return a[flat].reshape(shape2) * (1.0 - t) + a[flat + 1].reshape(shape2) * t

        iv = np.where(inside, lin(fr.civar), 0.0)
        fsum[rows] += iv * lin(fr.cflux)
        wsum[rows] += iv
        skysum[rows] += inside * fr.csky.ravel()[near].reshape(shape2)
        wdsum[rows] += inside * fr.wdisp.ravel()[near].reshape(shape2)
        nsum[rows] += inside
        m = np.where(inside, fr.cmask.ravel()[near].reshape(shape2), 0)
        ormask[rows] |= m
        andmask[rows] &= np.where(inside, m, -1)
    andmask[andmask == -1] = 0
    with np.errstate(invalid="ignore", divide="ignore"):
        flux = np.where(wsum > 0, fsum / np.where(wsum > 0, wsum, 1), 0.0)
        sky = np.where(nsum > 0, skysum / np.where(nsum > 0, nsum, 1), 0.0)
        wdisp = np.where(nsum > 0, wdsum / np.where(nsum > 0, nsum, 1), 0.0)
    return {
        "flux": flux,
        "ivar": wsum,
        "andmask": andmask,
        "ormask": ormask,
        "wdisp": wdisp,
        "sky": sky,
    }
