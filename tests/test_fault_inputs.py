"""Fault injection on the workflow's inputs: queries, flags.csv, paths, plate numbers, downloads.

Each case runs snakemake itself (mostly dry runs, on tiny fake plates) and checks the
outcome and that the message names the key, the file or the line.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bosz_server import FaultServer, make_mirror
from sdssflow.fluxcal.download import read_manifest
from sdssflow.io.bosz import air_to_vacuum, read_resampled, read_wave_grid
from sdssflow.io.bosz_library import read_library
from sdssflow.io.catalog import read_exposures
from workflow_helpers import fake_plate, snakemake

HEADER = "version,observatory,mjd,plate,exposure,camera,flag,severity,note\n"


@pytest.fixture(scope="module")
def redux(tmp_path_factory):
    root = tmp_path_factory.mktemp("redux")
    fake_plate(root / "v5_7_0", 4100, 55500, [101, 102])
    return root


def _config(tmp_path, redux, flags_text=HEADER, **extra):
    flags = tmp_path / "flags.csv"
    flags.write_text(flags_text)
    config = {"version": "vt", "input": "sdss", "boss": {"redux": str(redux), "run2d": "v5_7_0"},
              "apogee": {"redux": ""}, "flags_file": str(flags)}
    config.update(extra)
    return config


def _output(proc) -> str:
    return proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("exptime > 0 and @pd.io.common.os.system('touch {marker}') == 0", "'@' (a reference to a Python variable)"),
        ("exptime.pipe(lambda x: open('{marker}', 'w')) == 0", "a call is not allowed"),
    ],
)
def test_query_cannot_run_code_even_in_a_dry_run(tmp_path, redux, query, reason):
    marker = tmp_path / "code_ran"
    config = _config(tmp_path, redux, selections={"all": "exptime > 0", "evil": query.format(marker=marker)})
    proc = snakemake(tmp_path, config, "-n", check=False)
    assert proc.returncode != 0
    assert "selections.evil: invalid query" in _output(proc) and reason in _output(proc)
    assert not marker.exists()


def test_non_boolean_query_fails_at_config_check(tmp_path, redux):
    proc = snakemake(tmp_path, _config(tmp_path, redux, selections={"all": "exptime"}), "-n", check=False)
    assert proc.returncode != 0
    assert "selections.all: invalid query 'exptime': the query is a number, not a boolean" in _output(proc)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(input="demo", demo={"run2d": "../../escape"}), "demo.run2d: '../../escape' contains '..'"),
        (lambda c: c.update(apogee={"redux": "/tmp", "apred": "/etc"}), "apogee.apred: '/etc' is an absolute path"),
    ],
)
def test_directory_names_cannot_escape_the_root(tmp_path, redux, edit, message):
    config = _config(tmp_path, redux)
    edit(config)
    proc = snakemake(tmp_path, config, "-n", check=False)
    assert proc.returncode != 0 and message in _output(proc)
    assert not (tmp_path / "resources").exists()


def test_flags_csv_errors_name_file_and_physical_line(tmp_path, redux):
    text = "# reviewed 2026-11-30\n" + HEADER + "vt,apo,55500,4100,101,,CLOUDY,1,thin, patchy cirrus\n"
    proc = snakemake(tmp_path, _config(tmp_path, redux, flags_text=text), "-n", check=False)
    assert proc.returncode != 0
    assert f"{tmp_path / 'flags.csv'}, line 3: 10 fields but the header has 9" in _output(proc)
    assert "TypeError" not in _output(proc)


@pytest.mark.slow
def test_flags_with_hash_commas_and_quotes_work_end_to_end(tmp_path, redux):
    text = ("# comment\n" + HEADER +
            'vt,apo,55500,4100,101,,CLOUDY,1,"cirrus #3, ""thick"""\n'
            "vt,apo,55500,4100,102,,SATELLITE,1,see log #12\n")
    config = _config(tmp_path, redux, flags_text=text, exclude_flags=["CLOUDY"])
    target = "results/vt/selection/sky/selection-sky-4100.csv"
    snakemake(tmp_path, config, target)
    sky = pd.read_csv(tmp_path / target, keep_default_na=False)
    assert list(sky["exposure"]) == [102] and sky.loc[0, "flags"] == "SATELLITE"


@pytest.mark.slow
def test_plate_directory_with_another_plate_number_is_recorded_and_skipped(tmp_path, redux):
    tree = tmp_path / "redux"
    shutil.copytree(redux, tree)
    fake_plate(tree / "v5_7_0", 4105, 55510, [301])
    os.rename(tree / "v5_7_0" / "4105", tree / "v5_7_0" / "4101")  # directory 4101 holds plate 4105
    config = _config(tmp_path, tree)
    dry = _output(snakemake(tmp_path, config, "-n"))
    assert "selection-sky-4100.csv" in dry
    assert "selection-sky-4101.csv" not in dry and "selection-sky-4105.csv" not in dry
    assert "plate 4105 in the name disagrees with its directory 4101" in dry
    snakemake(tmp_path, config, "results/vt/selection/sky/selection-sky-4100.csv", "results/vt/catalog/exposures.h5")
    table = read_exposures(tmp_path / "results/vt/catalog/exposures.h5")
    bad = table[table["flagged_bad"] == 1]
    problems = " | ".join(bad["problem"])
    assert "spPlate-4105-55510.fits: plate 4105 in the file name disagrees with plate directory 4101" in problems
    assert "spFrame-b1-00000301.fits: PLATEID 4105 in the header disagrees with plate directory 4101" in problems
    assert set(table.loc[table["flagged_bad"] == 0, "plate"]) == {4100}


def _bosz_config(tmp_path, redux, base_url, spec, **bosz):
    return _config(tmp_path, redux, bosz={"base_url": base_url, "subgrid": str(spec), "retries": 1,
                                          "backoff": 0.01, "timeout": 2.0, "threads": 2, **bosz})


@pytest.mark.slow
def test_download_deadline_and_refetch_through_the_workflow(tmp_path, redux):
    """The late file is an ``error`` row and the job succeeds (issue 10: it used to fail)."""
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = make_mirror(mirror, missing=0)
    with FaultServer(mirror) as srv:
        srv.faults = {rels[2]: ["trickle"] * 3}
        config = _bosz_config(tmp_path, redux, srv.url, spec, file_timeout=2.0)
        proc = snakemake(tmp_path, config, "resources/bosz2024/manifest.csv", check=False)
    assert proc.returncode == 0, _output(proc)[-3000:]
    log = (tmp_path / "logs/vt/bosz_download/bosz_download.log").read_text()
    assert f"error {rels[2]} (deadline of 2 s per file passed" in log
    assert "1 of 4 models left out (1 error)" in log
    assert not (tmp_path / "resources/bosz2024" / rels[2]).exists()
    rows = {r.relpath: r for r in read_manifest(tmp_path / "resources/bosz2024/manifest.csv")}
    assert rows[rels[2]].status == "error" and "deadline of 2 s per file passed" in rows[rels[2]].message
    dry = snakemake(tmp_path, _bosz_config(tmp_path, redux, srv.url, spec, refetch=True), "-n", "-p",
                    "resources/bosz2024/manifest.csv")
    assert "--file-timeout 900.0 --force" in _output(dry)


@pytest.mark.slow
def test_bad_gzip_over_file_url_and_truncated_present_file(tmp_path, redux):
    """A bad .gz over file:// is an error row (the job succeeds); a re-run of the rule repairs it."""
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = make_mirror(mirror, missing=0)
    good = (mirror / rels[1]).read_bytes()
    (mirror / rels[1]).write_bytes(good[:-40])
    config = _bosz_config(tmp_path, redux, mirror.resolve().as_uri(), spec)
    proc = snakemake(tmp_path, config, "resources/bosz2024/manifest.csv", check=False)
    assert proc.returncode == 0, _output(proc)[-3000:]
    log = (tmp_path / "logs/vt/bosz_download/bosz_download.log").read_text()
    assert f"error {rels[1]} ({mirror / rels[1]}: ValueError:" in log and "bad gzip" in log
    # repaired at the source; the copy already present of another file is truncated;
    # the manifest exists, so the rule is re-run on request (-R), as its log says
    (mirror / rels[1]).write_bytes(good)
    dest = tmp_path / "resources/bosz2024"
    (dest / rels[2]).write_bytes((dest / rels[2]).read_bytes()[:50])
    assert "snakemake -R bosz_download" in log
    snakemake(tmp_path, config, "resources/bosz2024/manifest.csv", "-R", "bosz_download")
    rows = {r.relpath: r for r in read_manifest(dest / "manifest.csv")}
    assert {r.status for r in rows.values()} == {"ok"}
    assert all(Path(dest / rel).read_bytes() == (mirror / rel).read_bytes() for rel in rels)


@pytest.mark.slow
def test_failed_bosz_files_never_stop_the_library(tmp_path, redux):
    """Issue 10 through the workflow: a persistent 500, a corrupt .gz and a 404 on the server.

    A plain ``snakemake --cores 2`` up to ``bosz_library`` exits 0; the library holds every
    good template (equal to the mirror's file, air to vacuum, trimmed) and none of the bad
    ones; the status table lists each bad one with its URL and reason.
    """
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = make_mirror(mirror, missing=1)
    (mirror / rels[2]).write_bytes((mirror / rels[2]).read_bytes()[:-40])  # truncated gzip
    library = "results/vt/bosz/bosz_library.h5"
    status = "results/vt/bosz/bosz_library_status.csv"
    with FaultServer(mirror) as srv:
        srv.faults = {rels[1]: ["500"] * 10}
        config = _bosz_config(tmp_path, redux, srv.url, spec)
        proc = snakemake(tmp_path, config, "--cores", "2", library, status, check=False)
    assert proc.returncode == 0, _output(proc)[-3000:]
    lib = read_library(tmp_path / library)
    good = [rels[3]]
    assert list(lib.params["name"]) == [Path(rel).name for rel in good]
    wave_air = read_wave_grid(mirror / rels[0])
    vacuum = air_to_vacuum(wave_air)
    keep = (vacuum >= 3000.0) & (vacuum <= 11000.0)
    flux, continuum = read_resampled(mirror / good[0], nrows=wave_air.size)
    assert np.allclose(lib.wave, vacuum[keep]) and np.allclose(lib.flux[0], flux[keep], rtol=1e-6)
    assert np.allclose(lib.continuum[0], continuum[keep], rtol=1e-6)
    table = pd.read_csv(tmp_path / status, keep_default_na=False).set_index("relpath")
    assert sorted(table.index) == sorted([rels[1], rels[2], rels[4]])
    assert set(table["step"]) == {"bosz_download"}
    assert table.loc[rels[1], "status"] == "error" and table.loc[rels[1], "reason"] == "HTTP 500"
    assert table.loc[rels[2], "status"] == "error" and "bad gzip" in table.loc[rels[2], "reason"]
    assert table.loc[rels[4], "status"] == "not_found" and table.loc[rels[4], "reason"] == "HTTP 404"
    assert all(table.loc[rel, "url"] == srv.url + rel for rel in table.index)
