"""Input paths from sdss-access: the demo trees sit where sdss-access says, for each release.

The reference is sdss-access itself (``sdss_access.path.Path(release=...)``), called here
directly, with the template keywords read from each file's own header, not from its name.
"""

from __future__ import annotations

import os
from pathlib import Path

import fitsio
import pytest

from sdssflow.config import plate_mjds
from sdssflow.paths import SdssPaths, strip_compression

PLATE_ERA_KINDS = ("spPlate", "spFrame", "spCFrame", "spFluxcalib", "apVisit", "apStar")


@pytest.fixture
def clean_environ():
    """Put os.environ back after a test that plants raw sdss-access trees (they set roots)."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _access(release: str, sas: Path):
    """A raw sdss-access Path with SAS_BASE_DIR set (callers use the clean_environ fixture)."""
    from sdss_access.path import Path as AccessPath

    os.environ["SAS_BASE_DIR"] = str(sas)
    return AccessPath(release=release)


def _kind(path: Path) -> str:
    return path.name.split("-")[0]


def _plate_era_keywords(path: Path, run2d: str, apred: str) -> dict:
    """sdss-access keywords of a plate-era demo file, from its primary header."""
    h = fitsio.read_header(str(path), 0)
    kind = _kind(path)
    if kind == "spPlate":
        return {"run2d": run2d, "plateid": h["PLATEID"], "mjd": h["MJD"]}
    if kind in ("spFrame", "spCFrame", "spFluxcalib"):
        cam = h["CAMERAS"].strip()
        return {"run2d": run2d, "plateid": h["PLATEID"], "br": cam[0], "id": cam[1:], "frame": h["EXPOSURE"]}
    if kind == "apVisit":
        return {"apred": apred, "telescope": h["TELESCOP"].strip(), "field": h["FIELD"].strip(),
                "plate": h["PLATE"], "mjd": h["MJD5"], "fiber": h["FIBERID"], "prefix": "ap"}
    return {"apred": apred, "apstar": "stars", "telescope": h["TELESCOP"].strip(),
            "field": h["FIELD"].strip(), "obj": h["OBJID"].strip(), "prefix": "ap"}


def _demo_inputs(plan) -> list[Path]:
    rows = (plan.root / "manifest.csv").read_text().splitlines()[1:]
    files = [plan.root / r.rsplit(",", 1)[0] for r in rows]
    return [f for f in files if _kind(f) in PLATE_ERA_KINDS + ("spfibermap", "spField", "spec", "confSummary")]


def test_sdss4_demo_paths_are_sdss_access_dr17_paths(small_demo, clean_environ):
    files = _demo_inputs(small_demo)
    kinds = {_kind(f) for f in files}
    assert kinds == set(PLATE_ERA_KINDS)
    access = _access("dr17", small_demo.root.absolute())
    for f in files:
        kw = _plate_era_keywords(f, small_demo.run2d, small_demo.apred)
        ft = _kind(f)
        expected = access.full("spFrame" if ft == "spCFrame" else ft, **kw)
        if ft == "spCFrame":  # sdss-tree's dr17 spCFrame template names the spFrame file
            expected = expected.replace("/spFrame-", "/spCFrame-")
        # sdss-access returns the file on disk, compressed or not (the demo gzips spFrame and
        # spFluxcalib as the v5 tree does); the corrected spCFrame name is checked uncompressed
        assert str(f.absolute()) in (expected, strip_compression(expected)), ft


def test_plate_era_spcframe_template_fix(tmp_path):
    paths = SdssPaths("dr17", tmp_path)
    raw = paths.template("spCFrame")
    assert "/spFrame-" in raw  # the sdss-tree bug this module corrects
    got = paths.full("spCFrame", run2d="v5_13_2", plateid=4100, br="r", id=2, frame=120000)
    assert got.name == "spCFrame-r2-00120000.fits"
    assert got.parent == tmp_path / "dr17/eboss/spectro/redux/v5_13_2/4100"


@pytest.mark.parametrize(
    ("release", "apvisit_dir"),
    [("dr12", "dr12/apogee/spectro/redux/r5/apo25m/4100/55500"),
     ("dr17", "dr17/apogee/spectro/redux/r5/visit/apo25m/demo4100/4100/55500")],
)
def test_release_changes_only_the_templates(tmp_path, release, apvisit_dir):
    paths = SdssPaths(release, tmp_path)
    got = paths.full("apVisit", apred="r5", telescope="apo25m", field="demo4100", plate=4100,
                     mjd=55500, fiber=7, prefix="ap")
    assert got.parent == tmp_path / apvisit_dir
    assert got.name == "apVisit-r5-4100-55500-007.fits"


def test_paths_leave_environment_alone(tmp_path, monkeypatch):
    monkeypatch.delenv("BOSS_SPECTRO_REDUX", raising=False)
    monkeypatch.setenv("SAS_BASE_DIR", "/elsewhere")
    a, b = SdssPaths("dr17", tmp_path / "a"), SdssPaths("dr19", tmp_path / "b")
    assert a.root("BOSS_SPECTRO_REDUX") == tmp_path / "a/dr17/eboss/spectro/redux"
    assert b.root("BOSS_SPECTRO_REDUX") == tmp_path / "b/dr19/spectro/boss/redux"
    assert "BOSS_SPECTRO_REDUX" not in os.environ
    assert os.environ["SAS_BASE_DIR"] == "/elsewhere"


def test_unknown_release_and_filetype_errors(tmp_path):
    with pytest.raises(ValueError, match="dr99"):
        SdssPaths("dr99", tmp_path)
    with pytest.raises(KeyError, match="specFull"):
        SdssPaths("dr17", tmp_path).full("specFull", run2d="x", fieldid=1, mjd=1, catalogid=1)
    with pytest.raises(KeyError, match="sdsscore_dir"):
        SdssPaths("dr19", tmp_path).full("confSummary", obs="apo", configid=1)


def test_expand_discovers_plate_mjds_of_a_release_tree(tmp_path):
    paths = SdssPaths("dr17", tmp_path)
    made = [(4100, 55500), (4100, 55503), (12001, 58000)]
    for plate, mjd in made:
        f = paths.full("spPlate", run2d="v5_13_2", plateid=plate, mjd=mjd)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"")
    (f.parent / "spPlate-notes.txt").write_text("not a plate")
    config = {"input": "sdss", "sdss": {"release": "dr17", "sas_base_dir": str(tmp_path), "sdsscore_dir": ""},
              "boss": {"run2d": "v5_13_2", "plates": []}}
    assert plate_mjds(config) == made
    config["boss"]["plates"] = [4100]
    assert plate_mjds(config) == made[:2]


def test_expand_with_group_directories(tmp_path):
    """Templates with @healpixgrp|/@configgrp| directories expand over every group."""
    paths = SdssPaths("dr19", tmp_path, tmp_path / "core")
    a = paths.full("apStar", apred="1.3", telescope="lco25m", healpix=12345, obj="2M1")
    b = paths.full("apStar", apred="1.3", telescope="apo25m", healpix=678, obj="2M2")
    c = paths.full("confSummary", obs="lco", configid=1234567)
    for f in (a, b, c):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"")
    assert a.parent.parent.name == "12" and b.parent.parent.name == "0"
    assert c.parent.name == "12345XX"
    assert paths.expand("apStar", apred="1.3") == sorted([a, b])
    assert paths.expand("apStar", apred="1.3", telescope="lco25m") == [a]
    assert paths.expand("confSummary") == [c]


def test_check_config_names_the_release_keys(tmp_path):
    import copy

    from snakemake.utils import validate

    from sdssflow.config import ConfigError, check_config, plate_dir

    root = Path(__file__).resolve().parents[1]
    config = {"input": "sdss", "sdss": {"release": "dr17", "sas_base_dir": str(tmp_path)},
              "boss": {"run2d": "v5_13_2"}, "apogee": {"redux": ""},
              "flags_file": str(root / "config" / "flags.csv")}
    validate(config, str(root / "workflow" / "schemas" / "config.schema.yaml"), set_default=True)
    with pytest.raises(ConfigError, match=r"sdss.release/boss.run2d: directory .*dr17/eboss/spectro/redux/v5_13_2"):
        check_config(copy.deepcopy(config))
    bad = copy.deepcopy(config)
    bad["sdss"]["release"] = "dr99"
    with pytest.raises(ConfigError, match="sdss.release: .*dr99"):
        check_config(bad)
    (tmp_path / "dr17/eboss/spectro/redux/v5_13_2").mkdir(parents=True)
    check_config(config)
    assert plate_dir(config, 4100, 55500) == tmp_path / "dr17/eboss/spectro/redux/v5_13_2/4100"
    config["sdss"]["release"] = "dr19"
    assert plate_dir(config, 15000, 60000) == tmp_path / "dr19/spectro/boss/redux/v5_13_2/015000"


def test_release_tree_without_apogee_has_no_apogee_root(tmp_path):
    # sdss-tree dr18 defines BOSS_SPECTRO_REDUX (spField/spFrame of v6_0_4) but no
    # APOGEE_REDUX (DR18 added no APOGEE data). In a fresh process the import of
    # sdss_access planted the sdsswork tree first, and dr18 was given its
    # <sas>/sdsswork/mwm/apogee/spectro/redux: a path sdss-access's dr18 does not have.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from sdssflow.config import apogee_apred_dir\n"
        "from sdssflow.paths import sdss_paths\n"
        f"paths = sdss_paths('dr18', {str(tmp_path)!r})\n"
        "try:\n"
        "    print('root', paths.root('APOGEE_REDUX'))\n"
        "except KeyError as err:\n"
        "    print('none', err)\n"
        f"config = {{'input': 'sdss', 'sdss': {{'release': 'dr18', 'sas_base_dir': {str(tmp_path)!r}}},\n"
        "          'apogee': {'redux': '', 'apred': 'dr17'}}\n"
        "print('apred_dir', repr(apogee_apred_dir(config)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "none 'APOGEE_REDUX is not defined by the sdss-tree of dr18'" in out.stdout
    assert "apred_dir ''" in out.stdout
    assert "sdss.release dr18: APOGEE_REDUX is not defined" in out.stderr
