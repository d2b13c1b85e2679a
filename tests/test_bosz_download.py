"""bosz_download against a real local HTTP server that injects failures."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from sdssflow.fluxcal import bosz_download
from sdssflow.fluxcal.download import download_file, read_manifest
from sdssflow.io.bosz import load_subgrid_spec, subgrid_models, wave_grid_relpath
from sdssflow.steps import run_step

SPEC = {"resolution": 10000, "teff": [6000, 6250], "logg": [4.0, 4.5], "feh": [0.0], "vmicro": 1}


def _make_mirror(root: Path, missing: int = 1) -> tuple[Path, list[str]]:
    """A tiny mirror in the MAST layout; the last ``missing`` models are absent (404)."""
    rng = np.random.default_rng(5)
    rels = [wave_grid_relpath(10000)] + [m.relpath for m in subgrid_models(SPEC)]
    for rel in rels[: len(rels) - missing]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = "\n".join(f"{a:.6e} {b:.6e}" for a, b in rng.uniform(1, 2, (3000, 2)))
        payload = rows.encode()
        path.write_bytes(gzip.compress(payload) if rel.endswith(".gz") else payload)
    spec_path = root.parent / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC))
    return spec_path, rels


class _Server:
    """ThreadingHTTPServer on 127.0.0.1 serving a directory, with Range and injected faults.

    ``faults[relpath]`` is a list consumed one per request: ``500``, ``truncate``
    (send half the body then close), ``slow:<s>`` (sleep before answering).
    """

    def __init__(self, directory: Path):
        self.faults: dict[str, list[str]] = {}
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **k):
                super().__init__(*a, directory=str(directory), **k)

            def log_message(self, *args):
                pass

            def do_GET(self):
                rel = self.path.lstrip("/").replace("%2B", "+")
                outer.requests.append((rel, self.headers.get("Range")))
                fault = outer.faults.get(rel, [None]).pop(0) if outer.faults.get(rel) else None
                if fault == "500":
                    self.send_error(500, "injected")
                    return
                if fault and fault.startswith("slow:"):
                    time.sleep(float(fault.split(":")[1]))
                path = directory / rel
                if not path.is_file():
                    self.send_error(404, "no such file")
                    return
                body = path.read_bytes()
                start = 0
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                chunk = body[start:]
                self.send_header("Content-Length", str(len(chunk)))
                self.end_headers()
                if fault == "truncate":
                    self.wfile.write(chunk[: len(chunk) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(chunk)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _args(spec, server_url, dest, *extra):
    return ["--subgrid", str(spec), "--base-url", server_url, "--dest", str(dest), "--threads", "3",
            "--backoff", "0.01", "--timeout", "2", *extra]


def test_download_with_faults_resume_and_rerun(tmp_path):
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = _make_mirror(mirror)
    dest = tmp_path / "dest"
    with _Server(mirror) as srv:
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
    spec, rels = _make_mirror(mirror)
    with _Server(mirror) as srv:
        bosz_download.main(_args(spec, srv.url, tmp_path / "d", "--dry-run"))
        assert srv.requests == []
    lines = capsys.readouterr().out.split()
    assert lines == [srv.url + rel for rel in rels]
    assert "+" in lines[1] and "%2B" not in lines[1]


def test_persistent_500_fails_step(tmp_path):
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = _make_mirror(mirror, missing=0)
    with _Server(mirror) as srv:
        srv.faults = {rels[1]: ["500"] * 10}
        code = run_step(bosz_download.main, _args(spec, srv.url, tmp_path / "d", "--retries", "2"))
        assert code == 1
        assert sum(1 for rel, _ in srv.requests if rel == rels[1]) == 3
    rows = {r.relpath: r for r in read_manifest(tmp_path / "d" / "manifest.csv")}
    assert rows[rels[1]].status == "error" and "500" in rows[rels[1]].message
    assert not (tmp_path / "d" / rels[1]).exists()


def test_timeout_is_retried(tmp_path):
    mirror = tmp_path / "mirror" / "bosz2024"
    _make_mirror(mirror, missing=0)
    rel = wave_grid_relpath(10000)
    with _Server(mirror) as srv:
        srv.faults = {rel: ["slow:1.0"]}
        result = download_file(srv.url + rel, tmp_path / "w.txt", rel, retries=2, backoff=0.01, timeout=0.3)
    assert result.status == "ok" and result.attempts == 2


def test_file_url_and_kspecdr_subgrid(tmp_path):
    mirror = tmp_path / "mirror" / "bosz2024"
    spec, rels = _make_mirror(mirror)
    results = bosz_download.main(_args(spec, mirror.resolve().as_uri(), tmp_path / "d"))
    assert [r.status for r in results] == ["ok"] * (len(rels) - 1) + ["not_found"]
    default = load_subgrid_spec(Path(__file__).parents[1] / "data/fluxcal/subgrid_kspecdr_fstar.yaml")
    assert len(subgrid_models(default)) == 520


def test_bad_spec_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("resolution: 10000\nteff: [5000]\nlogg: [4.0]\nfeh: [0.0]\ncolour: red\n")
    with pytest.raises(ValueError, match=r"bad.yaml: unknown keys \['colour'\]"):
        load_subgrid_spec(bad)
