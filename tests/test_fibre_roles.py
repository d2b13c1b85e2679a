"""Fibre roles (sky, standard, science target) from every era's plug-map / fibre-map OBJTYPE.

Datamodel facts (sdss/datamodel spFrame/spCFrame HDU5; idlspec2d readfibermaps, spflux):
plate-era plug maps (DR8-DR17) write SKY, SPECTROPHOTO_STD and REDDEN_STD; a v6 fibre map
(DR18/DR19) copies the confSummary ``category`` (science, sky_boss, standard_boss,
sky_apogee, standard_apogee) into OBJTYPE, renaming sky_boss -> SKY and the ops_std
program -> SPECTROPHOTO_STD; FITS strings are blank padded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from sdssflow.io.boss import _frame_rows
from sdssflow.io.fibre_roles import fibre_catalogids, is_sky, is_standard
from sdssflow.mwm.visits import visit_rows
from sdssflow.sky.extract import sky_rows

#: one fibre map with every spelling: row -> (OBJTYPE, SDSS_ID)
ROWS = [
    ("SKY     ", 11),  # plate era / renamed v6 sky (sdss_id of the sky target)
    ("sky_boss", 12),  # v6 category, not renamed
    ("sky_apogee", 13),  # an APOGEE sky: neither a BOSS sky nor a science target
    ("SPECTROPHOTO_STD", 14),
    ("REDDEN_STD      ", 15),  # SDSS-I/II plates
    ("standard_boss", 16),
    ("standard_apogee", 17),
    ("science", 18),
    ("QSO", -999),  # unassigned / no sdss_id
    ("", -1),
]


def _plug() -> Table:
    return Table({"OBJTYPE": np.array([r[0] for r in ROWS]), "SDSS_ID": np.array([r[1] for r in ROWS])})


def test_roles_of_every_spelling():
    plug = _plug()
    assert np.flatnonzero(is_sky(plug["OBJTYPE"])).tolist() == [0, 1]
    assert np.flatnonzero(is_standard(plug["OBJTYPE"])).tolist() == [3, 4, 5]
    # bytes as fitsio returns an S column
    assert is_sky(np.char.encode(np.asarray(plug["OBJTYPE"]))).tolist() == is_sky(plug["OBJTYPE"]).tolist()


def test_sky_rows_take_the_v6_category():
    # main: 'sky_boss' upper-cased to SKY_BOSS != SKY, a fibre map without the renaming
    # gave zero sky fibres
    assert sky_rows(_plug()["OBJTYPE"]).tolist() == [0, 1]


def test_frame_reader_objtype_sky_and_standard_roles():
    # read_spframe(objtype="SKY") is the sky_flux step's selection
    plug = _plug()
    assert _frame_rows(Path("spFrame-b1-00000001.fits"), plug, None, "SKY").tolist() == [0, 1]
    assert _frame_rows(Path("spFrame-b1-00000001.fits"), plug, None, "spectrophoto_std").tolist() == [3, 4, 5]
    # other names are matched as written (blank- and case-blind)
    assert _frame_rows(Path("spFrame-b1-00000001.fits"), plug, None, "qso").tolist() == [8]


def test_visit_rows_leave_out_every_sky():
    # bossVisits: SDSS_ID > 0 and not a sky; main kept 'sky_boss' and 'sky_apogee' fibres
    # (OBJTYPE compared to 'SKY' exactly) as MWM visits
    assert visit_rows(_plug()).tolist() == [3, 4, 5, 6, 7]
    lower = Table({"OBJTYPE": ["sky", "Sky  ", "STAR"], "SDSS_ID": [1, 2, 3]})
    assert visit_rows(lower).tolist() == [2]


def test_catalogids_of_v6_and_plate_maps():
    # v6 HDU5: CATALOGID char[18] "CatalogID or uHHMMSS.S+DDMMSS.S for unassigned", ICATALOGID
    # int64 the raw one (preferred). main: boss_visits' int(CATALOGID) raised ValueError on a
    # 'u...' name, fluxcal's astype(int64) too.
    v6 = Table({"CATALOGID": ["27021598054114233", "u0512309.4+021530.0", "u27021598054114234", ""]})
    assert fibre_catalogids(v6, missing=-1).tolist() == [27021598054114233, -1, -1, -1]
    v6["ICATALOGID"] = np.array([27021598054114233, -999, -999, -999])
    assert fibre_catalogids(v6, missing=-1).tolist() == [27021598054114233, -999, -999, -999]
    plate = Table({"CATALOGID": np.array([0, 5], np.int64)})  # integers kept as written
    assert fibre_catalogids(plate).tolist() == [0, 5]
    assert fibre_catalogids(Table({"FIBERID": [1]})) is None
