"""`tale review --serve`: one run folder over HTTP (loopback by default), with byte ranges so a player can seek.

Only files inside the folder are served: a path with `..`, or one that passes through a symbolic link, is
refused (403); a folder is never listed. Only requests addressed to the server itself are answered (421 for any
other Host): a web page whose own name an attacker re-points at 127.0.0.1 (DNS rebinding) reads nothing. The
server stops cleanly on Ctrl-C.

A sealed run (tale_cli.keys.seal) has no review.html on disk: the page is made for each request, and a sealed file
asked for is opened in memory (each read in the audit log); nothing in the clear is written.
"""

from __future__ import annotations

import contextlib
import ipaddress
import mimetypes
import re
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tale_cli.errors import InputError, OutputError, TaleError
from tale_cli.keys.seal import AGE_HEADER
from tale_cli.pipeline.review import REVIEW_PAGE, review_page

LOOPBACK = "127.0.0.1"
_TYPES = {".mp4": "video/mp4", ".vtt": "text/vtt", ".srt": "text/plain", ".jsonl": "text/plain"}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 256 * 1024
MAX_OPENED_BYTES = 64 * 1024 * 1024  # a sealed file is opened in memory; the story's files are far smaller
MAX_OPENED_MEDIA_BYTES = 4 * 1024 * 1024 * 1024  # a media-sealed run's film, opened in memory to stream it
_IP_AUTHORITY = re.compile(r"^(?:\[([0-9a-f:.]+)\]|([0-9.]+)):(\d+)$")
_MISDIRECTED = "Open the address `tale review --serve` printed: 127.0.0.1, localhost or its --host, with its port."


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_names(host: str, port: int) -> frozenset[str]:
    """The Host values a server on host:port answers: the loopback names and `host` itself, each with the port
    (lower case; without it too on port 80, as a browser sends it)."""
    names = {"127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host}
    with_port = {f"{name}:{port}".lower() for name in names}
    return frozenset(with_port | ({name.lower() for name in names} if port == 80 else set()))


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`host` as an IP address; None for a host name (which a DNS answer can re-point)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _names_an_address(authority: str, port: int) -> bool:
    """`authority` is `address:port` or `[v6 address]:port`: an IP address, not a name, and this port."""
    match = _IP_AUTHORITY.match(authority)
    return match is not None and _address(match[1] or match[2]) is not None and match[3] == str(port)


class _Refused(Exception):
    """A path that leaves the run folder."""


class _Misdirected(Exception):
    """A request addressed to another host than this server."""


def request_path(target: str) -> tuple[str | None, str]:
    """(authority, path) of a request target: None and the path for `/a/b?q`; the host and path of an
    absolute-form `http://host/a/b`, which a client sends a proxy; _Misdirected for anything else."""
    if target.startswith("/"):
        return None, target.partition("?")[0].partition("#")[0]
    parts = urlsplit(target)
    if parts.scheme.lower() != "http" or not parts.netloc:
        raise _Misdirected(target)
    return parts.netloc, parts.path or "/"


def resolve_path(root: Path, path: str) -> Path | None:
    """The file a request path names inside `root`; None when there is none; _Refused when it would leave it."""
    path = unquote(path)
    parts = [part for part in path.split("/") if part]
    if "\x00" in path or any(part in (".", "..") or "\\" in part for part in parts):
        raise _Refused(path)
    candidate = root
    try:
        for part in parts or [REVIEW_PAGE]:
            candidate = candidate / part
            if candidate.is_symlink():
                raise _Refused(path)
        if not candidate.resolve().is_relative_to(root.resolve()):
            raise _Refused(path)
        return candidate if candidate.is_file() else None
    except OSError:
        return None  # a name too long for the file system, or one it cannot look up: no such file


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

    def _check_host(self, authority: str | None) -> None:
        """_Misdirected unless every host the request names is this server's (HTTP/1.1 must name one)."""
        given = self.headers.get_all("Host") or []
        if len(given) > 1 or (not given and self.request_version != "HTTP/1.0"):
            raise _Misdirected(", ".join(given) or "no Host")
        named = [name for name in (authority, *given) if name is not None]
        if not all(self.server.answers(name) for name in named):
            raise _Misdirected(", ".join(named))

    def _opened(self, target: str, path: Path | None) -> tuple[Path | None, bytes | None]:
        """In a sealed run: the review page made now, or a sealed file opened in memory; (path, None) for the rest."""
        from tale_cli.keys.seal import open_bytes

        root = self.server.root
        if path is None and [part for part in unquote(target).split("/") if part] in ([], [REVIEW_PAGE]):
            return root / REVIEW_PAGE, review_page(root).encode("utf-8")
        if path is None:
            return path, None
        info = path.stat()
        with path.open("rb") as handle:
            head = handle.read(len(AGE_HEADER))
        if head == AGE_HEADER and info.st_size <= MAX_OPENED_MEDIA_BYTES:
            # A sealed film or clip (a media-sealed run): opened once and kept while a player asks for its ranges.
            key = (str(path), info.st_size, info.st_mtime_ns)
            with self.server.opened_lock:
                if self.server.opened[0] != key:
                    self.server.opened = (key, open_bytes(path, path.read_bytes()))
                return path, self.server.opened[1]
        if info.st_size > MAX_OPENED_BYTES or (head != AGE_HEADER and not path.name.endswith(".jsonl")):
            return path, None
        if path.name.endswith(".jsonl"):
            from tale_cli.keys.seal import read_lines

            return path, b"".join(line + b"\n" for line in read_lines(path, path.read_bytes()))
        return path, open_bytes(path, path.read_bytes())

    def _answer(self, *, body: bool) -> None:
        opened: bytes | None = None
        try:
            authority, target = request_path(self.path)
            self._check_host(authority)
            path = resolve_path(self.server.root, target)
            if self.server.sealed:
                path, opened = self._opened(target, path)
            size = len(opened) if opened is not None else path.stat().st_size if path is not None else 0
        except _Misdirected:
            self.send_error(HTTPStatus.MISDIRECTED_REQUEST, "not this server's address", _MISDIRECTED)
            return
        except _Refused:
            self.send_error(HTTPStatus.FORBIDDEN, "outside the run folder")
            return
        except TaleError as error:
            self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR, error.message)  # a sealed file that would not open
            return
        except OSError:
            path = None  # removed between the look-up and now
        if path is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
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
        if opened is not None:
            with contextlib.suppress(ConnectionError):
                self.wfile.write(opened[first : last + 1])
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
        from tale_cli.keys.seal import seal_of

        self.root = root
        self.sealed = seal_of(root) is not None
        self.opened: tuple[tuple[str, int, int] | None, bytes] = (None, b"")  # the last sealed file opened
        self.opened_lock = threading.Lock()
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)
        self.hosts = host_names(host, self.server_port)
        # Bound to every address (0.0.0.0, ::): reached by whichever address of the machine, never by a name.
        address = _address(host)
        self.any_address = not host or (address is not None and address.is_unspecified)

    def answers(self, authority: str) -> bool:
        """A request's Host (or absolute-form host) names this server: DNS rebinding gets 421, not the run."""
        authority = authority.strip().lower()
        if authority in self.hosts:
            return True
        return self.any_address and _names_an_address(authority, self.server_port)

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
    from tale_cli.keys.seal import seal_of

    seal = seal_of(run_dir)
    if seal is not None:
        seal.check()  # the identity that opens the run, before a request asks for anything
    elif not (run_dir / REVIEW_PAGE).is_file():
        raise InputError(f"{run_dir} has no {REVIEW_PAGE}", hint="run `tale review RUN_DIR` to write it")
    try:
        return ReviewServer(run_dir, host, port)
    except OSError as error:
        raise OutputError(
            f"cannot listen on {host}:{port}: {error.strerror or error}", hint="choose another --port"
        ) from None
