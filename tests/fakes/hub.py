"""A fake Hugging Face hub on 127.0.0.1: the file-resolve endpoint `hf_hub_download` talks to, answering
missing repos and files the way the hub does (404 with `X-Error-Code`), and recording every file asked for."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)$")


class FakeHub(ThreadingHTTPServer):
    """Repos as {"org/name": {"path/in/repo": bytes}}; `served` lists (method, repo, path) of every file request."""

    def __init__(self, repos: dict[str, dict[str, bytes]]) -> None:
        super().__init__(("127.0.0.1", 0), _Call)
        self.repos = repos
        self.served: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Call(BaseHTTPRequestHandler):
    server: FakeHub

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, *, body: bool) -> None:
        match = _RESOLVE.match(self.path.split("?")[0])
        if match is None:
            self._error(404, "EntryNotFound", "not a resolve path", body)
            return
        repo, path = match["repo"], match["path"]
        with self.server.lock:
            self.server.served.append((self.command, repo, path))
        files = self.server.repos.get(repo)
        if files is None:
            self._error(401, "RepoNotFound", "Repository not found", body)
            return
        if path not in files:
            self._error(404, "EntryNotFound", "Entry not found", body)
            return
        data = files[path]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("X-Repo-Commit", COMMIT)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, body: bool) -> None:
        payload = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.end_headers()
        if body:
            self.wfile.write(payload)


def start(repos: dict[str, dict[str, bytes]]) -> FakeHub:
    hub = FakeHub(repos)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    return hub
