"""Config: the schema fills defaults and refuses wrong keys/types; check_config the rest."""

import copy
import re
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from sdssflow import config as sdss_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")


def _default():
    with open(ROOT / "config" / "config.yaml") as fh:
        config = yaml.safe_load(fh)
    validate(config, SCHEMA, set_default=True)
    return config


def test_default_config_validates_and_fills_defaults():
    config = _default()
    assert config["version"] == "v1" and config["input"] == "demo"
    assert config["sky"]["selection"] == "all"
    assert config["catalog"]["include_apogee"] is True
    sdss_config.check_config(config)


def _schema_error(config):
    with pytest.raises(WorkflowError) as info:
        validate(config, SCHEMA, set_default=True)
    return str(info.value)


def test_unknown_key_is_named():
    config = _default()
    config["sky"]["calibraton"] = "bosz"
    assert "calibraton" in _schema_error(config)
    config = _default()
    config["versoin"] = "v2"
    assert "versoin" in _schema_error(config)


def test_wrong_type_and_enum_are_named():
    config = _default()
    config["demo"]["n_plates"] = "two"
    assert "n_plates" in _schema_error(config) or "two" in _schema_error(config)
    config = _default()
    config["input"] = "tape"
    assert "tape" in _schema_error(config)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(input="sdss", boss={"redux": "/nonexistent/redux", "run2d": "v5_7_0", "plates": []}),
         r"boss.redux/boss.run2d: directory /nonexistent/redux/v5_7_0 does not exist"),
        (lambda c: c.update(input="spec_files", spec_files={"dir": "/nonexistent/spec"}), r"spec_files.dir"),
        (lambda c: c["selections"].update(bad="exptime >>> 3"), r"selections.bad: invalid query"),
        (lambda c: c["selections"].update(bad="no_such_column > 3"), r"selections.bad: invalid query"),
        (lambda c: c["sky"].update(selection="nope"), r"sky.selection: 'nope' is not a key of selections"),
        (lambda c: c.update(exclude_flags=["CLODY"]), r"exclude_flags: unknown flag"),
        (lambda c: c["mwm"].update(exclude_flags=["NOPE"]), r"mwm.exclude_flags: unknown flag"),
        (lambda c: c.update(reuse={"not_a_step": "v0"}), r"reuse.not_a_step: unknown step"),
        (lambda c: c.update(reuse={"exposure_catalog": "v_never_run"}), r"reuse.exposure_catalog: version 'v_never_run'"),
    ],
)
def test_check_config_names_the_key(edit, message):
    config = copy.deepcopy(_default())
    edit(config)
    with pytest.raises(sdss_config.ConfigError, match=message):
        sdss_config.check_config(config)


def test_plate_mjds_from_spec_file_names():
    config = _default()
    config["input"] = "spec_files"
    config["spec_files"]["dir"] = str(ROOT.parent / "shared" / "data" / "real" / "sdss_spec")
    if not Path(config["spec_files"]["dir"]).is_dir():
        pytest.skip("real spec files not available")
    pairs = sdss_config.plate_mjds(config)
    assert (1325, 52762) in pairs and (266, 51602) in pairs


def test_expand_path_drops_unset_variables(monkeypatch):
    monkeypatch.delenv("SDSSFLOW_UNSET_VAR", raising=False)
    monkeypatch.setenv("SDSSFLOW_SET_VAR", "/data")
    assert sdss_config.expand_path("${SDSSFLOW_UNSET_VAR}") == ""
    assert sdss_config.expand_path("$SDSSFLOW_SET_VAR/x") == "/data/x"


def test_repository_paths_resolve_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = _default()
    sdss_config.resolve_repository_paths(config, ROOT)
    assert config["flags_file"] == str(ROOT / "config" / "flags.csv")
    assert Path(config["fluxcal"]["telluric"]).is_file()
    sdss_config.check_config(config)


def test_missing_flags_file_is_an_error(tmp_path):
    config = _default()
    config["flags_file"] = str(tmp_path / "nope.csv")
    with pytest.raises(sdss_config.ConfigError, match="flags_file: .*nope.csv does not exist"):
        sdss_config.check_config(config)


@pytest.mark.parametrize("keys", [("demo", "run2d"), ("demo", "apred"), ("boss", "run2d"), ("apogee", "apred")])
@pytest.mark.parametrize(("value", "reason"), [("../elsewhere", "contains '..'"), ("v5/../../x", "contains '..'"),
                                               ("/abs/v5_7_0", "is an absolute path"), ("~/v5", "is an absolute path")])
def test_directory_name_keys_refuse_escapes(keys, value, reason):
    config = copy.deepcopy(_default())
    config.setdefault(keys[0], {})[keys[1]] = value
    with pytest.raises(sdss_config.ConfigError, match=rf"^{keys[0]}\.{keys[1]}: '{re.escape(value)}' {reason}"):
        sdss_config.check_config(config)


def test_directory_name_keys_accept_nested_names():
    config = copy.deepcopy(_default())
    config["demo"]["run2d"] = "v6_0_4/sub"
    sdss_config.check_config(config)


def test_non_boolean_and_code_queries_are_config_errors():
    for query, reason in [("exptime", "not a boolean"), ("exptime > 0 and @x == 0", "'@'"),
                          ("exptime.max() > 0", "a call is not allowed")]:
        config = copy.deepcopy(_default())
        config["selections"]["bad"] = query
        with pytest.raises(sdss_config.ConfigError, match=rf"^selections\.bad: invalid query .*{re.escape(reason)}"):
            sdss_config.check_config(config)


@pytest.mark.parametrize(
    ("run2d", "dirname", "basename", "plate"),
    [
        # idlspec2d v5 (DR17, sdss-access spPlate): <run2d>/<PLATE4>/spPlate-<PLATE4>-<MJD>
        ("v5_13_2", "0266", "spPlate-0266-51630.fits", 266),
        ("v5_13_2", "10000", "spPlate-10000-57346.fits", 10000),
        # v6_0_4 (DR18, sdss-access spField @isplate|): <run2d>/<FIELDID>p/spField-<FIELDID>-<MJD>
        ("v6_0_4", "15000p", "spField-15000-59187.fits", 15000),
        # v6_1_3 (DR19, @pad_fieldid|): <run2d>/<FIELD6>/spField-<FIELD6>-<MJD>
        ("v6_1_3", "015000", "spField-015000-59187.fits", 15000),
        ("v6_1_3", "112360", "spField-112360-60100.fits", 112360),
    ],
)
def test_local_tree_plates_in_every_directory_layout(tmp_path, run2d, dirname, basename, plate):
    # Without sdss.release the tree is scanned as it is: a DR18 '15000p' directory was
    # skipped (no sky job, silently) and a DR19 field below 100000 was looked for in
    # '<run2d>/15000' instead of its '<run2d>/015000'.
    config = _default()
    config.update(input="sdss")
    config["boss"].update(redux=str(tmp_path), run2d=run2d)
    (tmp_path / run2d / dirname).mkdir(parents=True)
    (tmp_path / run2d / dirname / basename).touch()
    mjd = int(basename.split("-")[2][:5])
    assert sdss_config.plate_mjds(config) == [(plate, mjd)]
    assert sdss_config.plate_dir(config, plate, mjd) == tmp_path / run2d / dirname


def test_missing_apogee_apred_directory_is_named(tmp_path, caplog):
    # sdss-access dr19 apVisit: $APOGEE_REDUX/{apred}/visit/..., apred a DRP version (1.x);
    # the default apogee.apred 'dr17' below a dr19 tree found no apVisit and said nothing.
    config = _default()
    config.update(input="sdss")
    config["boss"].update(redux=str(tmp_path / "boss"), run2d="v6_1_3")
    (tmp_path / "boss" / "v6_1_3").mkdir(parents=True)
    config["apogee"].update(redux=str(tmp_path / "apogee"), apred="dr17")
    (tmp_path / "apogee" / "1.3").mkdir(parents=True)
    with caplog.at_level("WARNING", logger="sdssflow.config"):
        sdss_config.check_config(config)
    assert f"apogee.apred: directory {tmp_path / 'apogee' / 'dr17'} does not exist" in caplog.text
    caplog.clear()
    config["apogee"]["apred"] = "1.3"
    with caplog.at_level("WARNING", logger="sdssflow.config"):
        sdss_config.check_config(config)
    assert "apogee.apred" not in caplog.text
