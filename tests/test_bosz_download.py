"""bosz_download against a real local HTTP server that injects failures."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from bosz_server import FaultServer, make_mirror
from sdssflow.fluxcal.download import download_file, read_manifest
from sdssflow.fluxcal.steps import bosz_download
from sdssflow.io.bosz import load_subgrid_spec, subgrid_models, wave_grid_relpath
from sdssflow.resources import data_path
from sdssflow.steps import run_step


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _args(spec, server_url, dest, *extra):
    return ["--subgrid", str(spec), "--base-url", server_url, "--dest", str(dest), "--threads", "3",
            "--backoff", "0.01", "--timeout", "2", *extra]


def test_download_with_faults_resume_and_rerun(tmp_path):
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = make_mirror(mirror)
    dest = tmp_path / "dest"
    with FaultServer(mirror) as srv:
        srv.faults = {rels[1]: ["500", "500"], rels[2]: ["truncate"], rels[3]: ["slow:0.3"]}
        results = bosz_download.main(_args(spec, srv.url, dest))
        status = {r.relpath: r.status for r in results}
        assert status[rels[-1]] == "not_found"
        assert all(status[r] == "ok" for r in rels[:-1])
        # the 404 is asked once, never retried
        assert sum(1 for rel, _ in srv.requests if rel == rels[-1]) == 1
        # the 500s were retried; the truncated body was resumed with a Range request
        assert sum(1 for rel, _ in srv.requests if rel == rels[1]) == 3
        ranges = [rg for rel, rg in srv.requests if rel == rels[2] and rg]
        half = len((mirror / rels[2]).read_bytes()) // 2
        assert ranges == [f"bytes={half}-"]
        for rel in rels[:-1]:
            assert _sha(dest / rel) == _sha(mirror / rel)
        manifest = {r.relpath: r for r in read_manifest(dest / "manifest.csv")}
        assert manifest[rels[2]].sha256 == _sha(mirror / rels[2])
        assert manifest[rels[2]].size == (mirror / rels[2]).stat().st_size
        assert not list(dest.rglob("*.part"))
        # a re-run fetches nothing that is complete (only the missing one is asked again)
        n_before = len(srv.requests)
        again = bosz_download.main(_args(spec, srv.url, dest))
        assert [rel for rel, _ in srv.requests[n_before:]] == [rels[-1]]
        assert {r.status for r in again[:-1]} == {"skipped"}


def test_dry_run_lists_urls_without_requests(tmp_path, capsys):
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = make_mirror(mirror)
    with FaultServer(mirror) as srv:
        bosz_download.main(_args(spec, srv.url, tmp_path / "d", "--dry-run"))
        assert srv.requests == []
    lines = capsys.readouterr().out.split()
    assert lines == [srv.url + rel for rel in rels]
    assert "+" in lines[1] and "%2B" not in lines[1]


def test_persistent_500_is_an_error_row_and_the_step_succeeds(tmp_path):
    """A file that keeps failing is an ``error`` row; the step still exits 0.

    Behaviour change required by issue 10 (this test was ``test_persistent_500_fails_step``,
    which expected exit 1): one bad file must not stop the survey, so the step succeeds
    with the other files and the manifest says what is missing and why.
    """
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = make_mirror(mirror, missing=0)
    with FaultServer(mirror) as srv:
        srv.faults = {rels[1]: ["500"] * 10}
        code = run_step(bosz_download.main, _args(spec, srv.url, tmp_path / "d", "--retries", "2"))
        assert code == 0
        assert sum(1 for rel, _ in srv.requests if rel == rels[1]) == 3
    rows = {r.relpath: r for r in read_manifest(tmp_path / "d" / "manifest.csv")}
    assert rows[rels[1]].status == "error" and "500" in rows[rels[1]].message
    assert rows[rels[1]].url == srv.url + rels[1] and rows[rels[1]].attempts == 3
    assert not (tmp_path / "d" / rels[1]).exists()
    assert {rows[r].status for r in rels if r != rels[1]} == {"ok"}


def test_manifest_survives_with_error_rows_and_the_good_files(tmp_path):
    """500s, a 404 and a corrupt gzip in one run: exit 0, every file one row with its reason."""
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = make_mirror(mirror, missing=1)
    (mirror / rels[2]).write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    dest = tmp_path / "d"
    with FaultServer(mirror) as srv:
        srv.faults = {rels[1]: ["500"] * 10}
        code = run_step(bosz_download.main, _args(spec, srv.url, dest, "--retries", "1"))
    assert code == 0
    rows = _statuses(dest / "manifest.csv")
    assert list(rows) == rels  # every file of the subgrid, in order, none lost
    assert rows[rels[1]].status == "error" and rows[rels[1]].message == "HTTP 500"
    assert rows[rels[2]].status == "error" and "bad gzip" in rows[rels[2]].message
    assert "\n" not in rows[rels[2]].message
    assert rows[rels[-1]].status == "not_found" and rows[rels[-1]].message == "HTTP 404"
    for rel in (rels[0], rels[3]):
        assert rows[rel].status == "ok" and rows[rel].sha256 == _sha(mirror / rel)
        assert _sha(dest / rel) == _sha(mirror / rel)
    assert not any((dest / rel).exists() for rel in (rels[1], rels[2], rels[-1]))
    assert not list(dest.rglob("*.part"))


@pytest.mark.parametrize("broken", ["grid", "every model"])
def test_no_usable_template_is_an_unusable_configuration(tmp_path, broken, capsys):
    """Exit 1 only when nothing can be used: the wavelength grid or every model is missing."""
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = make_mirror(mirror, missing=0)
    gone = [rels[0]] if broken == "grid" else rels[1:]
    for rel in gone:
        (mirror / rel).unlink()
    dest = tmp_path / "d"
    with FaultServer(mirror) as srv:
        code = run_step(bosz_download.main, _args(spec, srv.url, dest))
    assert code == 1
    expected = "wavelength grid not_found (HTTP 404)" if broken == "grid" else "none of the 4 models could be had"
    err = capsys.readouterr().err
    assert expected in err and str(dest / "manifest.csv") in err
    rows = _statuses(dest / "manifest.csv")  # written all the same, before the exit
    assert [rows[rel].status for rel in gone] == ["not_found"] * len(gone)


def test_timeout_is_retried(tmp_path):
    mirror = tmp_path / "mirror" / "bosz2024"
    make_mirror(mirror, missing=0)
    rel = wave_grid_relpath(10000)
    with FaultServer(mirror) as srv:
        srv.faults = {rel: ["slow:1.0"]}
        result = download_file(srv.url + rel, tmp_path / "w.txt", rel, retries=2, backoff=0.01, timeout=0.3)
    assert result.status == "ok" and result.attempts == 2


def test_file_url_and_kspecdr_subgrid(tmp_path):
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = make_mirror(mirror)
    results = bosz_download.main(_args(spec, mirror.resolve().as_uri(), tmp_path / "d"))
    assert [r.status for r in results] == ["ok"] * (len(rels) - 1) + ["not_found"]
    default = load_subgrid_spec(data_path("fluxcal/subgrid_kspecdr_fstar.yaml"))
    assert len(subgrid_models(default)) == 520


def test_bad_spec_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("resolution: 10000\nteff: [5000]\nlogg: [4.0]\nfeh: [0.0]\ncolour: red\n")
    with pytest.raises(ValueError, match=r"bad.yaml: unknown keys \['colour'\]"):
        load_subgrid_spec(bad)


def test_subgrid_resolution_as_mast_folder_name_and_orig_refused(tmp_path):
    # BOSZ 2024 at MAST (Meszaros et al. 2024; reference/kspecdr_fluxcal.md section 5): the
    # data folders are r500 ... r50000 and rorig, and kspecdr configures resolution="r10000".
    # "r5000" was kept as a string and failed in subgrid_models with int()'s bare message;
    # rorig files are 3-column _noresam products on their own wavelengths: refused by name.
    spec = tmp_path / "s.yaml"
    spec.write_text("resolution: r5000\nteff: [6000]\nlogg: [4.0]\nfeh: [0.0]\n")
    loaded = load_subgrid_spec(spec)
    assert loaded["resolution"] == 5000
    assert subgrid_models(loaded)[0].relpath.startswith("r5000/m+0.00/")
    for value in ("orig", "rorig"):
        spec.write_text(f"resolution: {value}\nteff: [6000]\nlogg: [4.0]\nfeh: [0.0]\n")
        with pytest.raises(ValueError, match=r"s.yaml: resolution .*native-resolution"):
            load_subgrid_spec(spec)
    spec.write_text("resolution: high\nteff: [6000]\nlogg: [4.0]\nfeh: [0.0]\n")
    with pytest.raises(ValueError, match=r"s.yaml: resolution 'high' is not a resolving power"):
        load_subgrid_spec(spec)


def _statuses(manifest: Path) -> dict:
    return {r.relpath: r for r in read_manifest(manifest)}


def test_short_body_without_length_and_wrong_206_start_are_repaired(tmp_path):
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = make_mirror(mirror, missing=0)
    dest = tmp_path / "dest"
    with FaultServer(mirror) as srv:
        # rels[0] (plain text): cut short then resumed at a wrong offset; rels[1] (gz): cut
        # short without Content-Length; rels[2] (gz): cut short, then the whole body as a 206
        srv.faults = {rels[0]: ["truncate", "badrange"], rels[1]: ["nolength"], rels[2]: ["truncate", "badrange"]}
        results = bosz_download.main(_args(spec, srv.url, dest))
        asked = {rel: [rg for r, rg in srv.requests if r == rel] for rel in rels[:3]}
    assert [r.status for r in results] == ["ok"] * len(rels)
    for rel in rels:
        assert _sha(dest / rel) == _sha(mirror / rel), rel
    size1 = (mirror / rels[1]).stat().st_size
    # the short body without a length was followed by a Range request from its end
    assert asked[rels[1]] == [None, f"bytes={size1 // 2}-"]
    # the 206 from byte 0 was refused and the file restarted with a plain request
    half0 = (mirror / rels[0]).stat().st_size // 2
    assert asked[rels[0]] == [None, f"bytes={half0}-", None]
    rows = _statuses(dest / "manifest.csv")
    assert rows[rels[0]].size == (mirror / rels[0]).stat().st_size and rows[rels[0]].attempts == 3


def test_present_files_are_reverified_and_refetch(tmp_path):
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = make_mirror(mirror, missing=0)
    dest = tmp_path / "dest"
    with FaultServer(mirror) as srv:
        bosz_download.main(_args(spec, srv.url, dest))
        # truncated at its final path: the manifest's size and sha256 catch it
        full = (mirror / rels[2]).read_bytes()
        (dest / rels[2]).write_bytes(full[: len(full) // 3])
        n = len(srv.requests)
        again = {r.relpath: r for r in bosz_download.main(_args(spec, srv.url, dest))}
        assert [rel for rel, _ in srv.requests[n:]] == [rels[2]]
        assert again[rels[2]].status == "ok"
        assert f"{len(full) // 3} bytes on disk, {len(full)} in the manifest" in again[rels[2]].message
        assert _sha(dest / rels[2]) == _sha(mirror / rels[2])
        assert {again[r].status for r in rels if r != rels[2]} == {"skipped"}
        # without a manifest every present file is asked from its end: a 416 confirms the
        # complete ones, a 206 sends the rest of the truncated one
        (dest / "manifest.csv").unlink()
        (dest / rels[1]).write_bytes((mirror / rels[1]).read_bytes()[:100])
        n = len(srv.requests)
        third = {r.relpath: r for r in bosz_download.main(_args(spec, srv.url, dest))}
        ranges = dict(srv.requests[n:])
        assert ranges[rels[1]] == "bytes=100-"
        assert ranges[rels[3]] == f"bytes={(mirror / rels[3]).stat().st_size}-"
        assert {r.status for r in third.values()} == {"ok"}
        assert all(_sha(dest / rel) == _sha(mirror / rel) for rel in rels)
        # --force (config bosz.refetch) fetches everything again with plain requests
        n = len(srv.requests)
        forced = bosz_download.main(_args(spec, srv.url, dest, "--force"))
        assert {r.status for r in forced} == {"ok"}
        assert sorted(rel for rel, rg in srv.requests[n:] if rg is None) == sorted(rels)


def test_slow_server_is_ended_by_the_file_deadline(tmp_path):
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = make_mirror(mirror, missing=0)
    dest = tmp_path / "dest"
    with FaultServer(mirror) as srv:
        srv.faults = {rels[1]: ["trickle"] * 5}
        t0 = time.monotonic()
        code = run_step(bosz_download.main, _args(spec, srv.url, dest, "--file-timeout", "2.5"))
        elapsed = time.monotonic() - t0
    assert code == 0 and elapsed < 8.0  # issue 10: the late file is an error row, not a failed step
    rows = _statuses(dest / "manifest.csv")
    assert rows[rels[1]].status == "error" and "deadline of 2.5 s" in rows[rels[1]].message
    assert not (dest / rels[1]).exists()
    assert {rows[r].status for r in rels if r != rels[1]} == {"ok"}


def test_bad_gzip_and_missing_file_over_file_url_are_recorded(tmp_path):
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = make_mirror(mirror, missing=1)
    good = (mirror / rels[2]).read_bytes()
    (mirror / rels[2]).write_bytes(good[: len(good) // 2])  # a truncated gzip
    (mirror / rels[3]).write_bytes(b"not a gzip at all")
    dest = tmp_path / "dest"
    code = run_step(bosz_download.main, _args(spec, mirror.resolve().as_uri(), dest))
    assert code == 0  # issue 10: errors are manifest rows; the good files carry on
    rows = _statuses(dest / "manifest.csv")
    assert len(rows) == len(rels)
    assert rows[rels[2]].status == "error" and "bad gzip" in rows[rels[2]].message
    assert str(mirror / rels[2]) in rows[rels[2]].message
    assert rows[rels[3]].status == "error" and "bad gzip" in rows[rels[3]].message
    assert rows[rels[-1]].status == "not_found" and "missing" in rows[rels[-1]].message
    assert rows[rels[1]].status == "ok" and rows[rels[1]].sha256 == _sha(mirror / rels[1])
    assert not (dest / rels[2]).exists() and not list(dest.rglob(".*tmp*"))


def test_listed_size_is_checked(tmp_path):
    mirror = tmp_path / "mirror" / "bosz2024"
    make_mirror(mirror, missing=0)
    rel = wave_grid_relpath(10000)
    size = (mirror / rel).stat().st_size
    with FaultServer(mirror) as srv:
        wrong = download_file(srv.url + rel, tmp_path / "a.txt", rel, backoff=0.01, expected_size=size + 1)
        right = download_file(srv.url + rel, tmp_path / "b.txt", rel, backoff=0.01, expected_size=size)
    assert wrong.status == "error" and f"listed {size + 1}" in wrong.message and not (tmp_path / "a.txt").exists()
    assert right.status == "ok" and right.size == size
    local = download_file(mirror.resolve().as_uri() + "/" + rel, tmp_path / "c.txt", rel, expected_size=size - 1)
    assert local.status == "error" and f"{size - 1} expected" in local.message


def test_server_without_length_or_ranges_is_flagged_unverified(tmp_path):
    mirror = tmp_path / "mirror" / "bosz2024"
    make_mirror(mirror, missing=0)
    rel = wave_grid_relpath(10000)
    with FaultServer(mirror) as srv:
        srv.faults = {rel: ["plain", "plain"]}
        result = download_file(srv.url + rel, tmp_path / "w.txt", rel, backoff=0.01)
        asked = [rg for r, rg in srv.requests if r == rel]
    size = (mirror / rel).stat().st_size
    assert asked == [None, f"bytes={size}-"]  # the probe from the end, answered with a whole 200
    assert result.status == "ok" and "size unverified" in result.message
    assert _sha(tmp_path / "w.txt") == _sha(mirror / rel)


def test_bosz_left_outs_reach_the_problem_table(tmp_path):
    """Every model bosz_library left out is one row of problems.fits/.csv: step, path, reason."""
    from astropy.table import Table

    from sdssflow.fluxcal.download import DownloadResult
    from sdssflow.fluxcal.steps.bosz_library import left_out_row, write_status
    from sdssflow.qc.steps import problems

    root = tmp_path / "bosz2024"
    rel = "r10000/m+0.00/bosz2024_mp_t6000_g+4.0_m+0.00_a+0.00_c+0.00_v1_r10000_resam.txt.gz"
    rows = [
        left_out_row(DownloadResult(rel, "https://host/b/" + rel, "error"), root, "bosz_download", "error",
                     "deadline of 900 s per file passed after 12 bytes"),
        left_out_row(DownloadResult(rel.replace("t6000", "t6250"), "https://host/b/x", "ok"), root,
                     "bosz_library", "rejected", "ValueError: sha256 differs"),
    ]  # fmt: skip
    write_status(rows, tmp_path / "bosz_library_status.csv")
    out = tmp_path / "problems.fits"
    problems.main(["--bosz-status", str(tmp_path / "bosz_library_status.csv"), "--out", str(out),
                   "--csv", str(tmp_path / "problems.csv")])  # fmt: skip
    table = Table.read(out, hdu="PROBLEMS")
    assert list(table["STEP"]) == ["bosz_download", "bosz_library"]
    assert list(table["UNIT"]) == ["file", "file"] and set(table["STATUS"]) == {"left_out"}
    assert table["PATH"][0] == "https://host/b/" + rel
    assert table["PATH"][1] == str(root / rel.replace("t6000", "t6250"))
    assert table["REASON"][0] == "error: deadline of 900 s per file passed after 12 bytes"
    assert table["REASON"][1] == "rejected: ValueError: sha256 differs"
    csv = Table.read(tmp_path / "problems.csv", format="ascii.csv")
    assert list(csv["PATH"]) == list(table["PATH"])


def test_subgrid_names_spherical_marcs_giants_and_every_sign():
    # BOSZ 2024 at MAST (reference/kspecdr_fluxcal.md section 5): MARCS models are
    # bosz2024_ms_... (spherical) for log g <= 3.0 and bosz2024_mp_... from 3.5, ATLAS9 ap
    # from atlas_teff_min; log g, [M/H], [alpha/M] and [C/M] carry their sign (g-0.5,
    # m-2.50, a-0.25, c-0.75). Giants were all named mp: a 404 for each, left out.
    spec = {
        "resolution": 10000,
        "teff": [2800, 4500, 7750],
        "logg": [-0.5, 3.0, 3.5],
        "feh": [-2.5, 0.75],
        "alpha": [-0.25, 0.5],
        "carbon": -0.75,
        "vmicro": 4,
    }
    models = subgrid_models(spec)
    atmos = {(m.teff, m.logg): m.atmos for m in models}
    assert atmos[(2800, -0.5)] == atmos[(4500, 3.0)] == "ms"
    assert atmos[(4500, 3.5)] == "mp" and atmos[(7750, -0.5)] == "ap"
    from sdssflow.io.bosz import parse_bosz_name

    names = {m.relpath for m in models}
    assert "r10000/m-2.50/bosz2024_ms_t2800_g-0.5_m-2.50_a-0.25_c-0.75_v4_r10000_resam.txt.gz" in names
    assert "r10000/m+0.75/bosz2024_mp_t4500_g+3.5_m+0.75_a+0.50_c-0.75_v4_r10000_resam.txt.gz" in names
    assert all(parse_bosz_name(m.relpath) == m for m in models)
