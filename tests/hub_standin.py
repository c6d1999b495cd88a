"""A local stand-in of the Hugging Face Hub for download tests (no network).

``HubStandIn(files)`` serves ``{"owner/repo": {"path/in/repo": bytes or a Path}}`` on 127.0.0.1 the way
the hub's ``/<repo>/resolve/main/<path>`` answers ``HEAD`` and ``GET`` (``X-Repo-Commit``,
``ETag``, ``Content-Length``); point ``HF_ENDPOINT`` at ``.url``. Every request is logged in
``.requests`` as ``(method, path)``. ``.status`` makes every answer that HTTP status (a hub
that refuses); ``.truncate`` sends only half of each body, as a dropped connection would.
``closed_endpoint()`` is an address where nothing listens (offline).
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional, Union

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubStandIn:
    def __init__(self, files: dict[str, dict[str, Union[bytes, Path]]]):
        self.files = files
        self.requests: list[tuple[str, str]] = []
        self.agents: list[str] = []
        self.status: Optional[int] = None
        self.truncate = False
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _answer(self, with_body: bool) -> None:
                hub.requests.append((self.command, self.path))
                hub.agents.append(self.headers.get("User-Agent", ""))
                if hub.status is not None:
                    self.send_response(hub.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = hub.lookup(urllib.parse.unquote(self.path))
                if body is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                size = body.stat().st_size if isinstance(body, Path) else len(body)
                sent = size // 2 if hub.truncate and with_body else size
                self.send_response(200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hashlib.sha256(str((self.path, size)).encode()).hexdigest()}"')
                # HEAD announces the whole file; a truncated GET says its own (shorter) length.
                self.send_header("Content-Length", str(sent))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if not with_body:
                    return
                if isinstance(body, Path):
                    with open(body, "rb") as handle:
                        shutil.copyfileobj(_Limited(handle, sent), self.wfile, 1 << 20)
                else:
                    self.wfile.write(body[:sent])

            def do_HEAD(self):
                self._answer(with_body=False)

            def do_GET(self):
                self._answer(with_body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def lookup(self, path: str) -> Optional[Union[bytes, Path]]:
        parts = path.lstrip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return None
        repo, filename = "/".join(parts[:2]), "/".join(parts[4:])
        return self.files.get(repo, {}).get(filename)

    def __enter__(self) -> "HubStandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Limited:
    def __init__(self, handle, limit: int):
        self._handle, self._left = handle, limit

    def read(self, size: int = -1) -> bytes:
        size = self._left if size < 0 else min(size, self._left)
        data = self._handle.read(size)
        self._left -= len(data)
        return data


def closed_endpoint() -> str:
    """An http address on 127.0.0.1 where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
