"""`tale review --serve` against hostile requests: other hosts (DNS rebinding) and names the file system refuses."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tale_cli.pipeline.review_server import ReviewServer, open_server

PLAN = b'{"title": "not for other sites"}'
Serve = Callable[..., ReviewServer]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """serve(host) -> a running server on a free port for a run folder of review.html, plan, manifest and logs."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "review.html").write_text("<!doctype html><title>review</title>")
    for name in ("plan.json", "manifest.json", "audit.jsonl", "jobs.jsonl"):
        (run_dir / name).write_bytes(PLAN)
    started: list[tuple[ReviewServer, threading.Thread]] = []

    def start(host: str = "127.0.0.1") -> ReviewServer:
        server = open_server(run_dir, host=host, port=0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _raw(port: int, request: str) -> tuple[int, bytes]:
    """The status and body of one request sent exactly as written (a browser's Host, a proxy's target, none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request.encode("latin-1"))
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/"), answer[:200]
    return int(head.split(b" ", 2)[1]), body


def _get(port: int, path: str, *headers: str, version: str = "HTTP/1.1") -> tuple[int, bytes]:
    lines = [f"GET {path} {version}", *headers, "Connection: close"]
    return _raw(port, "\r\n".join(lines) + "\r\n\r\n")


@pytest.mark.parametrize(
    "path",
    ["/plan.json", "/review.html", "/audit.jsonl", "/manifest.json", "/jobs.jsonl", "/"],
)
def test_a_page_on_another_host_reads_nothing_dns_rebinding(serve: Serve, path: str) -> None:
    port = serve().server_port
    for host in (f"attacker.example:{port}", "attacker.example", f"127.0.0.1.attacker.example:{port}"):
        status, body = _get(port, path, f"Host: {host}")
        assert status == 421 and PLAN not in body and b"review</title>" not in body, host


def test_the_addresses_of_the_server_itself_are_answered(serve: Serve) -> None:
    port = serve().server_port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        assert _get(port, "/plan.json", f"Host: {host}") == (200, PLAN), host
    assert _get(port, "/plan.json", "Host: 127.0.0.1:1")[0] == 421  # another port is another origin
    assert _get(port, "/plan.json", version="HTTP/1.0") == (200, PLAN)  # HTTP/1.0 may name no host


def test_a_request_naming_no_host_or_two_is_refused(serve: Serve) -> None:
    port = serve().server_port
    status, body = _get(port, "/plan.json")
    assert status == 421 and PLAN not in body
    status, body = _get(port, "/plan.json", f"Host: 127.0.0.1:{port}", "Host: attacker.example")
    assert status == 421 and PLAN not in body


def test_an_absolute_target_for_another_host_is_refused(serve: Serve) -> None:
    port = serve().server_port
    here = f"Host: 127.0.0.1:{port}"
    for target in (
        "http://attacker.example/plan.json",
        f"http://attacker.example:{port}/plan.json",
        f"http://127.0.0.1:{port}@attacker.example/plan.json",
        f"ftp://127.0.0.1:{port}/plan.json",
        "plan.json",
    ):
        status, body = _get(port, target, here)
        assert status == 421 and PLAN not in body, target
    assert _get(port, f"http://127.0.0.1:{port}/plan.json", here) == (200, PLAN)
    # An origin-form path that starts with two slashes names a path, not a host.
    assert _get(port, "//attacker.example/plan.json", here)[0] == 404


def test_the_given_host_is_answered_and_every_address_when_bound_to_all(serve: Serve) -> None:
    port = serve("localhost").server_port
    assert _get(port, "/plan.json", f"Host: localhost:{port}") == (200, PLAN)
    port = serve("0.0.0.0").server_port
    assert _get(port, "/plan.json", f"Host: 192.0.2.7:{port}") == (200, PLAN)  # the machine's LAN address
    assert _get(port, "/plan.json", f"Host: [2001:db8::7]:{port}") == (200, PLAN)
    assert _get(port, "/plan.json", f"Host: attacker.example:{port}")[0] == 421
    assert _get(port, "/plan.json", f"Host: 192.0.2.7:{port}@attacker.example")[0] == 421


def test_a_path_component_too_long_for_the_file_system_is_404_and_no_traceback(
    serve: Serve, capfd: pytest.CaptureFixture[str]
) -> None:
    port = serve().server_port
    here = f"Host: 127.0.0.1:{port}"
    for path in ("/" + "a" * 300, "/shots/" + "b" * 256 + ".mp4", "/" + "/".join(["c" * 250] * 20)):
        status, body = _get(port, path, here)
        assert status == 404 and PLAN not in body, path[:20]
    assert _get(port, "/plan.json", here) == (200, PLAN)  # the server goes on answering
    assert "Traceback" not in capfd.readouterr().err
