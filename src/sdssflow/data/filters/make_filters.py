"""Write the project's own broad-band filter curves (src/sdssflow/data/filters/<name>.dat).

These are smooth analytic approximations, NOT the official transmission curves: a
flat top with tanh edges, T(l) = 0.25 * peak * (1 + tanh((l - blue)/w)) * (1 + tanh((red - l)/w)),
with the half-maximum edges (blue, red) and the peak throughput rounded from the
published passbands (for the asymmetric Gaia BP, PS1 y and SDSS z bands the edges are
moved so that the pivot wavelength matches) (we measured them on the curves as distributed by speclite, which
the project reads but does not ship). The band definitions are:

- Gaia DR3 G, BP, RP: EDR3 passbands, Riello et al. 2021, A&A 649, A3.
- Pan-STARRS1 g, r, i, z, y: Tonry et al. 2012, ApJ 750, 99.
- SDSS u, g, r, i, z: Doi et al. 2010, AJ 139, 1628 (1.3 airmass).
- 2MASS J, H, Ks: Cohen, Wheaton & Megeath 2003, AJ 126, 1090 (relative response,
  normalised to peak 1).

The shapes are approximations good to a few hundredths of a magnitude in colour for
stellar spectra (tests/test_photometry.py compares them with the published curves).

Run ``python src/sdssflow/data/filters/make_filters.py`` to regenerate; the output is deterministic.
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

#: name: (blue half-max A, red half-max A, edge softness A, peak, grid step A, source)
EDGES = {
    "gaia_g": (4020.0, 8560.0, 250.0, 0.72, 10.0, "Gaia EDR3 G, Riello et al. 2021"),
    "gaia_bp": (3920.0, 6420.0, 150.0, 0.67, 10.0, "Gaia EDR3 BP, Riello et al. 2021"),
    "gaia_rp": (6300.0, 9220.0, 150.0, 0.74, 10.0, "Gaia EDR3 RP, Riello et al. 2021"),
    "ps1_g": (4260.0, 5500.0, 40.0, 0.50, 5.0, "Pan-STARRS1 g, Tonry et al. 2012"),
    "ps1_r": (5500.0, 6900.0, 40.0, 0.69, 5.0, "Pan-STARRS1 r, Tonry et al. 2012"),
    "ps1_i": (6910.0, 8190.0, 40.0, 0.87, 5.0, "Pan-STARRS1 i, Tonry et al. 2012"),
    "ps1_z": (8190.0, 9210.0, 40.0, 0.88, 5.0, "Pan-STARRS1 z, Tonry et al. 2012"),
    "ps1_y": (9180.0, 10100.0, 80.0, 0.62, 5.0, "Pan-STARRS1 y, Tonry et al. 2012"),
    "sdss_u": (3340.0, 3840.0, 60.0, 0.10, 5.0, "SDSS u (2010), Doi et al. 2010"),
    "sdss_g": (4080.0, 5320.0, 60.0, 0.40, 5.0, "SDSS g (2010), Doi et al. 2010"),
    "sdss_r": (5600.0, 6740.0, 50.0, 0.50, 5.0, "SDSS r (2010), Doi et al. 2010"),
    "sdss_i": (6920.0, 8160.0, 60.0, 0.45, 5.0, "SDSS i (2010), Doi et al. 2010"),
    "sdss_z": (8280.0, 9500.0, 120.0, 0.09, 5.0, "SDSS z (2010), Doi et al. 2010"),
    "2mass_j": (11320.0, 13460.0, 120.0, 1.0, 10.0, "2MASS J, Cohen et al. 2003"),
    "2mass_h": (15280.0, 17750.0, 120.0, 1.0, 10.0, "2MASS H, Cohen et al. 2003"),
    "2mass_ks": (20280.0, 22990.0, 120.0, 1.0, 10.0, "2MASS Ks, Cohen et al. 2003"),
}


def curve(blue, red, soft, peak, step):
    """Wavelength grid (A) and throughput of one analytic band."""
    lo = np.floor((blue - 6 * soft) / step) * step
    hi = np.ceil((red + 6 * soft) / step) * step
    wave = np.arange(lo, hi + step / 2, step)
    thr = 0.25 * peak * (1 + np.tanh((wave - blue) / soft)) * (1 + np.tanh((red - wave) / soft))
    thr[[0, -1]] = 0.0
    return wave, thr


def main():
    for name, (blue, red, soft, peak, step, source) in EDGES.items():
        wave, thr = curve(blue, red, soft, peak, step)
        lines = [
            f"# sdssflow filter {name}: analytic approximation written by data/filters/make_filters.py",
            f"# source of the band edges: {source}",
            f"# half-maximum edges {blue:.0f}-{red:.0f} A, edge softness {soft:.0f} A, peak {peak}",
            "# columns: wavelength (Angstrom, vacuum), throughput (photon response, 0-1)",
        ]
        lines += [f"{w:.1f} {t:.6f}" for w, t in zip(wave, thr)]
        (HERE / f"{name}.dat").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
