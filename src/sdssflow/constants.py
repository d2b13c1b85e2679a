"""Physical constants of the package, in the units the code uses, from :mod:`astropy.constants`.

One place for the speed of light (and Planck's and Boltzmann's constants), so that no
module types its own value.

Examples
--------
>>> C_KMS
299792.458
>>> C_ANGSTROM_PER_S
2.99792458e+18
"""

from __future__ import annotations

from astropy import constants as _const

__all__ = ["C_KMS", "C_CM_PER_S", "C_ANGSTROM_PER_S", "H_CGS", "K_CGS", "HC_ERG_ANGSTROM"]

# From c in m/s (exact in SI) by one power-of-ten scaling each, so every value is the
# double nearest to the exact one (astropy's unit conversion adds a rounding step).
_C_M_PER_S = float(_const.c.si.value)
#: Speed of light, km/s.
C_KMS: float = _C_M_PER_S / 1e3
#: Speed of light, cm/s.
C_CM_PER_S: float = _C_M_PER_S * 1e2
#: Speed of light, Angstrom/s.
C_ANGSTROM_PER_S: float = _C_M_PER_S * 1e10
#: Planck constant, erg s.
H_CGS: float = float(_const.h.si.value) * 1e7
#: Boltzmann constant, erg/K.
K_CGS: float = float(_const.k_B.si.value) * 1e7
#: h c in erg Angstrom (photon energy = HC_ERG_ANGSTROM / wavelength in Angstrom).
HC_ERG_ANGSTROM: float = H_CGS * C_ANGSTROM_PER_S
