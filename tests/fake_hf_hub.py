"""A stand-in for the Hugging Face hub on 127.0.0.1: serves one folder as a model repo at one commit,
through the few routes `huggingface_hub` uses to download a snapshot (repo info with file sizes,
the file tree, HEAD and GET of each file), slowly enough (`seconds_per_chunk`) that a progress bar
can be seen moving. Point a process at it with `HF_ENDPOINT` (read when huggingface_hub is
imported). Nothing else is served: any other request gets 404 and is recorded."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlparse

CHUNK = 64 * 1024


def _files(folder: Path) -> dict[str, Path]:
    return {path.relative_to(folder).as_posix(): path for path in sorted(folder.rglob("*")) if path.is_file()}


@contextmanager
def fake_hub(repo: str, folder: Path, commit: str, seconds_per_chunk: float = 0.0) -> Iterator[tuple[str, list[str]]]:
    """(endpoint URL, the requests it saw) while serving `folder` as `repo` at `commit`."""
    files = _files(folder)
    etags = {name: hashlib.sha1(path.read_bytes()).hexdigest() for name, path in files.items()}
    seen: list[str] = []

    class Hub(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _json(self, data) -> None:
            body = json.dumps(data).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _missing(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.send_header("X-Error-Code", "EntryNotFound")
            self.end_headers()

        def _route(self, with_body: bool) -> None:
            seen.append(f"{self.command} {self.path}")
            path = unquote(urlparse(self.path).path)
            api = f"/api/models/{repo}/"
            if path == api.rstrip("/") or path.startswith(api + "revision/"):
                return self._json({"id": repo, "modelId": repo, "sha": commit, "private": False,
                                   "siblings": [{"rfilename": name, "size": p.stat().st_size}
                                                for name, p in files.items()]})
            if path.startswith(api + "tree/"):
                return self._json([{"type": "file", "path": name, "size": p.stat().st_size, "oid": etags[name]}
                                   for name, p in files.items()])
            resolve = f"/{repo}/resolve/"
            if path.startswith(resolve):
                name = path[len(resolve):].split("/", 1)[-1]
                if name not in files:
                    return self._missing()
                data = files[name].read_bytes()
                self.send_response(200)
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag", f'"{etags[name]}"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if with_body:
                    for start in range(0, len(data), CHUNK):
                        self.wfile.write(data[start:start + CHUNK])
                        self.wfile.flush()
                        time.sleep(seconds_per_chunk)
                return None
            return self._missing()

        def do_GET(self) -> None:
            self._route(with_body=True)

        def do_HEAD(self) -> None:
            self._route(with_body=False)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
