"""A local HTTP server on 127.0.0.1 that injects download faults, and a tiny BOSZ mirror."""

from __future__ import annotations

import gzip
import http.server
import threading
import time
from pathlib import Path

import numpy as np
import yaml

from sdssflow.io.bosz import subgrid_models, wave_grid_relpath

SPEC = {"resolution": 10000, "teff": [6000, 6250], "logg": [4.0, 4.5], "feh": [0.0], "vmicro": 1}


def make_mirror(root: Path, missing: int = 1) -> tuple[Path, list[str]]:
    """A tiny mirror in the MAST layout; the last ``missing`` models are absent (404).

    The wavelength grid has 3000 increasing (log-uniform) air wavelengths, 2900-11500 A,
    and each model 3000 random (H, C) rows, so ``bosz_library`` can pack the mirror.
    """
    rng = np.random.default_rng(5)
    rels = [wave_grid_relpath(10000)] + [m.relpath for m in subgrid_models(SPEC)]
    for rel in rels[: len(rels) - missing]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".gz"):
            rows = "\n".join(f"{a:.6e} {b:.6e}" for a, b in rng.uniform(1, 2, (3000, 2)))
            path.write_bytes(gzip.compress(rows.encode()))
        else:
            path.write_text("\n".join(f"{w:.7e}" for w in np.geomspace(2900.0, 11500.0, 3000)) + "\n")
    spec_path = root.parent / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC))
    return spec_path, rels


class FaultServer:
    """ThreadingHTTPServer on 127.0.0.1 serving a directory, with Range and injected faults.

    ``faults[relpath]`` is a list consumed one per request: ``500``, ``truncate``
    (send half the body then close), ``slow:<s>`` (sleep before answering), ``nolength``
    (a 200 without Content-Length, half the body, then close), ``badrange`` (answer a
    Range request with the whole body as a 206 from byte 0), ``trickle`` (one byte per
    second, at most 30), ``plain`` (the whole body, no Content-Length, Range ignored). A
    Range past the end gets a 416 with ``bytes */<size>``.
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
                if fault == "nolength":
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if fault == "plain":  # an old server: no Content-Length, no Range support
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if rng and fault == "badrange":
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes 0-{len(body) - 1}/{len(body)}")
                elif rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                chunk = body[start:]
                self.send_header("Content-Length", str(len(chunk)))
                self.end_headers()
                if fault == "trickle":
                    for byte in chunk[:30]:
                        try:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                        except OSError:
                            return
                        time.sleep(1.0)
                    self.close_connection = True
                    return
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
