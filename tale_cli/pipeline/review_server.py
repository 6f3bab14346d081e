"""`tale review --serve`: one run folder over HTTP (loopback by default), with byte ranges so a player can seek.

Only files inside the folder are served: a path with `..`, or one that passes through a symbolic link, is
refused (403); a folder is never listed. The server stops cleanly on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import ipaddress
import mimetypes
import re
import socket
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tale_cli.errors import InputError, OutputError
from tale_cli.pipeline.review import REVIEW_PAGE

LOOPBACK = "127.0.0.1"
_TYPES = {".mp4": "video/mp4", ".vtt": "text/vtt", ".srt": "text/plain", ".jsonl": "text/plain"}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 256 * 1024


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Refused(Exception):
    """A path that leaves the run folder."""


def resolve_path(root: Path, target: str) -> Path | None:
    """The file a request path names inside `root`; None when there is none; _Refused when it would leave it."""
    path = unquote(urlsplit(target).path)
    parts = [part for part in path.split("/") if part]
    if "\x00" in path or any(part in (".", "..") or "\\" in part for part in parts):
        raise _Refused(path)
    candidate = root
    for part in parts or [REVIEW_PAGE]:
        candidate = candidate / part
        if candidate.is_symlink():
            raise _Refused(path)
    if not candidate.resolve().is_relative_to(root.resolve()):
        raise _Refused(path)
    return candidate if candidate.is_file() else None


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `Range: bytes=…` request; None for the whole file; ValueError if unsatisfiable."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # several ranges or another unit: the whole file is a valid answer
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = int(last)
        if length == 0:
            raise ValueError(header)
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ValueError(header)
    return start, end


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "tale-review"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def log_message(self, format: str, *args: object) -> None:
        return None  # a player makes many range requests; the terminal stays quiet

    def _answer(self, *, body: bool) -> None:
        try:
            path = resolve_path(self.server.root, self.path)
        except _Refused:
            self.send_error(HTTPStatus.FORBIDDEN, "outside the run folder")
            return
        if path is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        size = path.stat().st_size
        try:
            wanted = byte_range(self.headers.get("Range"), size)
        except ValueError:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        first, last = wanted if wanted is not None else (0, size - 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT if wanted is not None else HTTPStatus.OK)
        kind = _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self.send_header("Content-Type", kind + ("; charset=utf-8" if kind.startswith("text/") else ""))
        self.send_header("Content-Length", str(max(0, last - first + 1)))
        self.send_header("Accept-Ranges", "bytes")
        if wanted is not None:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if not body:
            return
        # A player drops connections as it seeks; that is not an error worth a word.
        with contextlib.suppress(ConnectionError), path.open("rb") as handle:
            handle.seek(first)
            remaining = last - first + 1
            while remaining > 0:
                chunk = handle.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)


class ReviewServer(ThreadingHTTPServer):
    """An HTTP server for one run folder; `serve()` runs it until Ctrl-C."""

    daemon_threads = True
    block_on_close = False  # a stalled media connection must not hold up stopping

    def __init__(self, root: Path, host: str, port: int) -> None:
        self.root = root
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/{REVIEW_PAGE}"

    def serve(self) -> None:
        """Answer requests until Ctrl-C (SIGINT), then close the socket and return."""
        try:
            self.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.server_close()


def open_server(run_dir: Path, *, host: str = LOOPBACK, port: int = 8000) -> ReviewServer:
    """A server for RUN_DIR bound to host:port (port 0 picks a free one), not yet serving."""
    if not (run_dir / REVIEW_PAGE).is_file():
        raise InputError(f"{run_dir} has no {REVIEW_PAGE}", hint="run `tale review RUN_DIR` to write it")
    try:
        return ReviewServer(run_dir, host, port)
    except OSError as error:
        raise OutputError(
            f"cannot listen on {host}:{port}: {error.strerror or error}", hint="choose another --port"
        ) from None
