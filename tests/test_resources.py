"""Packaged data: found through importlib.resources, named in the config as pkg:<path>."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import sdssflow
from sdssflow import cli
from sdssflow import config as sdss_config
from sdssflow.flags import load_registry
from sdssflow.resources import data_path, resolve_data_reference

SRC = Path(sdssflow.__file__).resolve().parent


def test_data_path_is_inside_the_package():
    path = data_path("sky/f107_daily.csv")
    assert path.is_file() and path.is_relative_to(SRC / "data")
    assert data_path().is_dir() and (data_path() / "flags.yaml").is_file()
    with pytest.raises(FileNotFoundError, match=r"nope\.csv.*not a packaged data file"):
        data_path("sky/nope.csv")


def test_every_packaged_table_is_declared_package_data():
    """Each data file's suffix is matched by a package-data glob of pyproject.toml."""
    pyproject = (SRC.parents[1] / "pyproject.toml").read_text()
    globs = re.search(r'^sdssflow = \[(.*)\]$', pyproject, re.M).group(1)
    patterns = [g.strip().strip('"') for g in globs.split(",")]
    files = [p for p in (SRC / "data").rglob("*") if p.is_file() and p.suffix != ".py"]
    assert len(files) > 20
    for f in files:
        rel = f.relative_to(SRC).as_posix()
        assert any(Path(rel).match(pat) for pat in patterns), f"{rel} is not package data"


def test_no_module_finds_data_through_its_own_file():
    offenders = [
        str(p) for p in SRC.rglob("*.py")
        if "data" not in p.relative_to(SRC).parts and re.search(r"__file__\)[^\n]*parents", p.read_text())
    ]
    assert offenders == []


def test_pkg_reference_in_config():
    assert resolve_data_reference("pkg:fluxcal/telluric_regions.csv") == str(data_path("fluxcal/telluric_regions.csv"))
    assert resolve_data_reference("elsewhere/telluric.csv") == "elsewhere/telluric.csv"
    config = {"flags_file": "", "fluxcal": {"telluric": "pkg:fluxcal/telluric_regions.csv"}, "spec_files": {}}
    sdss_config.resolve_repository_paths(config, SRC)
    assert Path(config["fluxcal"]["telluric"]).is_file()
    config["fluxcal"]["telluric"] = "pkg:fluxcal/missing.csv"
    with pytest.raises(sdss_config.ConfigError, match=r"^fluxcal\.telluric: .*missing\.csv"):
        sdss_config.resolve_repository_paths(config, SRC)


def test_cli_version_and_registry(capsys, tmp_path, monkeypatch):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"sdssflow {sdssflow.__version__}"
    monkeypatch.chdir(tmp_path)  # no config/ here: the packaged registry alone
    assert cli.main(["flags", "registry"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == sorted(load_registry()) and "BAD_SKY_SUB" in names
