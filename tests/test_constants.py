"""One set of physical constants, from astropy (no module types its own speed of light)."""

from __future__ import annotations

import re
from pathlib import Path

import astropy.constants as const
import astropy.units as u
import pytest

import sdssflow
from sdssflow import constants as C

SRC = Path(sdssflow.__file__).resolve().parent


def test_values_are_astropys():
    assert C.C_KMS == pytest.approx(const.c.to_value(u.km / u.s), rel=1e-15)
    assert C.C_ANGSTROM_PER_S == 2.99792458e18 and C.C_KMS == 299792.458  # c is exact in SI
    assert C.HC_ERG_ANGSTROM == pytest.approx((const.h * const.c).to_value(u.erg * u.AA), rel=1e-12)
    assert C.K_CGS == pytest.approx(1.380649e-16, rel=1e-12)


def test_no_typed_speed_of_light_in_the_package():
    typed = re.compile(r"299792|2\.99792")
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                 if p.name != "constants.py" and typed.search(p.read_text())]
    assert offenders == []
