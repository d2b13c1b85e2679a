"""Who is where in the demo survey: stellar parameters, plate centres, fibres, conditions.

All draws come from ``numpy.random.default_rng([seed, tag, ...])`` so that each quantity
depends only on the seed and its own identifiers (adding a plate does not change the
stars of the others).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ephem
import numpy as np
from astropy.time import Time

from sdssflow.constants import C_KMS
from sdssflow.photometry import FILTER_NAMES, ab_magnitude
from sdssflow.sites import SITES, site
from sdssflow.synth.layout import FIBERS_PER_SPECTROGRAPH, DemoPlan, DemoSource, demo_sources
from sdssflow.synth.stellar import StarParams, surface_flux

__all__ = [
    "APO_LAT",
    "APO_LON",
    "APO_HEIGHT",
    "Star",
    "Exposure",
    "make_stars",
    "field_centre",
    "plate_centre",
    "plate_fibres",
    "exposure_conditions",
    "rng_for",
    "PHOT_GRID",
]

#: Apache Point as ephem wants it (from the one site table, :mod:`sdssflow.sites`).
APO_LAT, APO_LON, APO_HEIGHT = SITES["apo"].lat_dms, SITES["apo"].lon_dms, SITES["apo"].height_m
_TAG = {
    "star": 1,
    "visit": 2,
    "fibre": 3,
    "exposure": 4,
    "noise": 5,
    "night": 6,
    "apogee": 7,
    "sky": 8,
    "fps": 9,
    "cartons": 10,
}
#: Earth rotation angle per UT1 day, in turns (IERS 2010), for the LST-matched LCO schedule.
SIDEREAL_PER_SOLAR_DAY = 1.00273781191135448
#: Wavelength grid (A) of the synthetic photometry (2500-26000 A, 5e-5 in ln lambda).
PHOT_GRID = np.exp(np.arange(np.log(2500.0), np.log(26000.0), 5e-5))


def rng_for(seed: int, tag: str, *ids: int) -> np.random.Generator:
    """A generator for one quantity: ``default_rng([seed, tag, *ids])``."""
    return np.random.default_rng([int(seed), _TAG[tag], *[int(i) for i in ids]])


@dataclass
class Star:
    """A demo star: identity, parameters, brightness, position and per-MJD RVs.

    Attributes
    ----------
    source : DemoSource
    params : StarParams
    scale : float
        f_lambda at Earth (1e-17 erg/s/cm2/A) = scale x surface flux (erg/s/cm2/A).
    mags : dict of str to float
        AB magnitudes in every project filter (:data:`sdssflow.photometry.FILTER_NAMES`).
    ra, dec : float
        Degrees (J2000).
    v_mean : float
        Mean radial velocity, km/s.
    v_visit : dict of int to float
        Radial velocity (km/s) per MJD observed.
    """

    source: DemoSource
    params: StarParams
    scale: float
    mags: dict
    ra: float
    dec: float
    v_mean: float
    v_visit: dict = field(default_factory=dict)


def field_centre(plan: DemoPlan) -> tuple[float, float]:
    """RA, Dec (deg) of the demo field: on the meridian at 05:00 UT of the first MJD at APO."""
    obs = ephem.Observer()
    obs.lat, obs.lon, obs.elevation = APO_LAT, APO_LON, APO_HEIGHT
    obs.date = Time(plan.get("first_mjd") + 5.0 / 24.0, format="mjd").datetime
    return float(np.degrees(obs.sidereal_time())) % 360.0, 30.0


def plate_centre(plan: DemoPlan, plate: int) -> tuple[float, float]:
    """RA, Dec (deg) of a plate: within 0.3 deg of the field centre."""
    ra0, dec0 = field_centre(plan)
    k = plate - int(plan.get("first_plate"))
    ang = 2 * np.pi * k / 7.0
    off = 0.0 if k == 0 else 0.3
    return ra0 + off * np.cos(ang) / np.cos(np.radians(dec0)), dec0 + off * np.sin(ang)


def _mjds_of(plan: DemoPlan, source: DemoSource) -> list[int]:
    return sorted({m for p, m in plan.plate_mjds if source.kind == "science" or p == source.plate})


def make_stars(plan: DemoPlan) -> list[Star]:
    """Every demo star with its truth (parameters, magnitudes, positions, RVs).

    Standards are F stars (Teff 5900-6800 K, log g 3.9-4.5, [M/H] -0.4..+0.15, r = 15.0-16.0);
    science stars span Teff 4500-7000 K, log g 4.0-4.8, [M/H] -0.8..+0.3, r = 14.8-17.0.
    RVs: a mean in -120..+120 km/s per star and 0.3 km/s jitter per MJD.
    """
    seed = int(plan.get("seed"))
    ra0, dec0 = field_centre(plan)
    draws = []
    for src in demo_sources(plan):
        rng = rng_for(seed, "star", src.sdss_id % 2**31)
        if src.kind == "std":
            params = StarParams(
                rng.uniform(5900, 6800), rng.uniform(3.9, 4.5), rng.uniform(-0.4, 0.15)
            )
            rmag = rng.uniform(15.0, 16.0)
        else:
            params = StarParams(
                rng.uniform(4500, 7000), rng.uniform(4.0, 4.8), rng.uniform(-0.8, 0.3)
            )
            rmag = rng.uniform(14.8, 17.0)
        params = StarParams(round(params.teff, 1), round(params.logg, 3), round(params.feh, 3))
        r = np.sqrt(rng.uniform(0, 1)) * 1.0
        th = rng.uniform(0, 2 * np.pi)
        pra, pdec = plate_centre(plan, src.plate) if src.kind == "std" else (ra0, dec0)
        ra = pra + r * np.cos(th) / np.cos(np.radians(pdec))
        dec = pdec + r * np.sin(th)
        v_mean = rng.uniform(-120.0, 120.0)
        vrng = rng_for(seed, "visit", src.sdss_id % 2**31)
        v_visit = {m: round(v_mean + vrng.normal(0, 0.3), 3) for m in _mjds_of(plan, src)}
        draws.append((src, params, rmag, float(ra), float(dec), round(v_mean, 3), v_visit))
    if not draws:
        return []
    # photometry of every star at once (unit scale), then shift to the drawn r magnitude
    sed = np.array(
        [
            surface_flux(PHOT_GRID, d[1], sigma_inst=lambda lam: lam / 10000.0 / 2.3548)[0]
            for d in draws
        ]
    )
    unit = {b: ab_magnitude(PHOT_GRID, sed, b, flux_scale=1e-17) for b in FILTER_NAMES}
    stars = []
    for k, (src, params, rmag, ra, dec, v_mean, v_visit) in enumerate(draws):
        shift = rmag - float(unit["ps1_r"][k])
        scale = 10.0 ** (-0.4 * shift)
        mags = {b: float(unit[b][k]) + shift for b in FILTER_NAMES}
        stars.append(Star(src, params, scale, mags, ra, dec, v_mean, v_visit))
    return stars


def plate_fibres(plan: DemoPlan, plate: int, stars: list[Star]) -> dict:
    """Fibre assignment of a plate (1000 fibres, two spectrographs).

    Returns
    -------
    dict
        ``objtype`` (str array, 1000), ``star`` (index into ``stars`` or -1), ``fiberid``
        (1..1000), ``dead`` (bool: a broken filler fibre, BADTRACE), each per fibre row.
    """
    seed = int(plan.get("seed"))
    n = 2 * FIBERS_PER_SPECTROGRAPH
    objtype = np.full(n, "GALAXY", dtype="U16")
    star = np.full(n, -1)
    dead = np.zeros(n, bool)
    sci = [i for i, s in enumerate(stars) if s.source.kind == "science"]
    std = [i for i, s in enumerate(stars) if s.source.kind == "std" and s.source.plate == plate]
    nsky = int(plan.get("n_sky_per_spectrograph"))
    need = nsky + (len(sci) + 1) // 2 + (len(std) + 1) // 2 + 1
    if need > FIBERS_PER_SPECTROGRAPH:
        raise ValueError(
            f"demo: {need} fibres per spectrograph needed (sky + science + standards + 1 spare), "
            f"only {FIBERS_PER_SPECTROGRAPH} exist"
        )
    rng = rng_for(seed, "fibre", plate)
    for sp in range(2):
        base = sp * FIBERS_PER_SPECTROGRAPH
        perm = base + rng.permutation(FIBERS_PER_SPECTROGRAPH)
        half_sci = sci[sp * len(sci) // 2 : (sp + 1) * len(sci) // 2]
        half_std = std[sp * len(std) // 2 : (sp + 1) * len(std) // 2]
        k = 0
        for idx in half_std:
            objtype[perm[k]], star[perm[k]] = "SPECTROPHOTO_STD", idx
            k += 1
        for idx in half_sci:
            objtype[perm[k]], star[perm[k]] = "SCIENCE", idx
            k += 1
        objtype[perm[k : k + nsky]] = "SKY"
        k += nsky
        dead[perm[k]] = True
    return {"objtype": objtype, "star": star, "fiberid": np.arange(1, n + 1), "dead": dead}


@dataclass
class Exposure:
    """Conditions of one exposure (mid-exposure unless stated)."""

    plate: int
    mjd: int
    expid: int
    index: int
    ra: float
    dec: float
    mjd_beg_utc: float
    exptime: float
    tai_beg: float
    tai_end: float
    date_obs: str
    alt: float
    az: float
    airmass: float
    seeing: float
    transparency: float
    moon_illumination: float
    moon_alt: float
    moon_sep: float
    hours_into_night: float
    night_factor: float
    exposure_factor: float
    lamp_factor: float
    weather: dict
    observatory: str = "apo"


def exposure_conditions(
    plan: DemoPlan, plate: int, mjd: int, expid: int, index: int, observatory: str = "apo"
) -> Exposure:
    """Time, pointing, moon and weather of an exposure (ephem at the observatory).

    Exposure ``index`` (0, 1, ...) of a plate-MJD starts at 04:00 UT + 0.6 h x (plate offset
    mod 4) + 16 min x index at APO; exposure time 900 s. At another ``observatory`` (``lco``,
    :mod:`sdssflow.sites`) it starts at the same local sidereal time, i.e. 2.34 h earlier in
    UT at LCO, and the altitude, azimuth, airmass, Moon and twilight are those of that site
    (the plate era and the APO fields of the sdss5 demo use APO).
    """
    seed = int(plan.get("seed"))
    ra, dec = plate_centre(plan, plate)
    k = plate - int(plan.get("first_plate"))
    exptime = 900.0
    where = SITES[site(observatory).name]
    # another site keeps the APO schedule's local sidereal time (so the field's hour angle):
    # UT earlier by the longitude difference in sidereal time (2.34 h at LCO, still dark)
    lst_shift = (where.lon_deg - SITES["apo"].lon_deg) / 360.0 / SIDEREAL_PER_SOLAR_DAY
    beg = mjd + (4.0 + 0.6 * (k % 4)) / 24.0 + index * 960.0 / 86400.0 - lst_shift
    mid = beg + 0.5 * exptime / 86400.0
    obs = ephem.Observer()
    obs.lat, obs.lon, obs.elevation = where.lat_dms, where.lon_dms, where.height_m
    obs.pressure = 0
    obs.date = Time(mid, format="mjd").datetime
    target = ephem.FixedBody()
    target._ra, target._dec, target._epoch = np.radians(ra), np.radians(dec), ephem.J2000
    target.compute(obs)
    alt, az = np.degrees(float(target.alt)), np.degrees(float(target.az))
    airmass = 1.0 / np.sin(np.radians(alt))
    moon = ephem.Moon(obs)
    moon_sep = np.degrees(float(ephem.separation(moon, target)))
    sun = ephem.Sun()
    obs.horizon = "-18"
    dusk = obs.previous_setting(sun, use_center=True)
    hours = (ephem.Date(obs.date) - dusk) * 24.0
    rng = rng_for(seed, "exposure", expid)
    night = rng_for(seed, "night", mjd)
    night_factor, lamp_factor = np.exp(night.normal(0, 0.2)), np.exp(night.normal(0, 0.1))
    tai = Time([beg, beg + exptime / 86400.0], format="mjd", scale="utc").tai.mjd * 86400.0
    weather = {
        "AIRTEMP": round(float(rng.uniform(2, 15)), 1),
        "DEWPOINT": round(float(rng.uniform(-15, 0)), 1),
        "HUMIDITY": round(float(rng.uniform(10, 60)), 1),
        "PRESSURE": round(float(rng.uniform(21.4, 21.8)), 2),
        "WINDD": round(float(rng.uniform(0, 360)), 1),
        "WINDS": round(float(rng.uniform(0, 12)), 1),
        "GUSTD": round(float(rng.uniform(0, 360)), 1),
        "GUSTS": round(float(rng.uniform(0, 18)), 1),
        "DUSTA": int(rng.integers(0, 3000)),
        "DUSTB": int(rng.integers(0, 1000)),
        "DUSTC": int(rng.integers(0, 300)),
        "DUSTD": int(rng.integers(0, 100)),
    }
    seeing = round(float(rng.uniform(1.0, 2.0)), 3)
    return Exposure(
        plate=plate,
        mjd=mjd,
        expid=expid,
        index=index,
        ra=float(ra),
        dec=float(dec),
        mjd_beg_utc=beg,
        exptime=exptime,
        tai_beg=float(tai[0]),
        tai_end=float(tai[1]),
        date_obs=Time(beg, format="mjd").isot[:19],
        alt=float(alt),
        az=float(az),
        airmass=float(airmass),
        seeing=seeing,
        transparency=float(np.clip(rng.normal(0.97, 0.03), 0.85, 1.0)),
        moon_illumination=float(moon.phase) / 100.0,
        moon_alt=float(np.degrees(float(moon.alt))),
        moon_sep=float(moon_sep),
        hours_into_night=float(hours),
        night_factor=float(night_factor),
        exposure_factor=float(np.exp(rng.normal(0, 0.1))),
        lamp_factor=float(lamp_factor),
        weather=weather,
        observatory=where.name,
    )


def doppler(v_kms: float) -> float:
    """1 + v/c."""
    return 1.0 + v_kms / C_KMS
