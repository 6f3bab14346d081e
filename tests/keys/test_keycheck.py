"""`tale keys test` against a fake provider server on 127.0.0.1 that checks the real request shapes."""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fakes
import pytest
from keyring_fakes import FAKE_KEY, MemoryKeyring, clear_key_env, using_keyring
from typer.testing import CliRunner

from tale_cli.backends.google.client import VERTEX_CHECK_MODEL
from tale_cli.backends.runway.video import API_VERSION as RUNWAY_API_VERSION
from tale_cli.cli import keys as keys_cli
from tale_cli.errors import ExitCode
from tale_cli.keys.check import check_key

WRONG_KEY = "wrong-fake-key-not-real-0000"


class FakeProviders(BaseHTTPRequestHandler):
    """Answers like the five providers' free endpoints: 200 for FAKE_KEY, their own refusal otherwise."""

    seen: list[tuple[str, str, dict[str, str]]]

    def log_message(self, *args):
        return None

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.seen.append((method, self.path, headers))  # type: ignore[attr-defined]
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/v1/models")
            self.end_headers()
            return
        bearer = headers.get("authorization", "")
        if self.path == "/v1beta/models?pageSize=1":
            if headers.get("x-goog-api-key") == FAKE_KEY:
                return self._reply(200, {"models": [{"name": "models/x"}]})
            return self._reply(
                400, {"error": {"code": 400, "message": "API key not valid.", "status": "API_KEY_INVALID"}}
            )
        if self.path == f"/v1/publishers/google/models/{VERTEX_CHECK_MODEL}:countTokens" and method == "POST":
            if headers.get("x-goog-api-key") == FAKE_KEY:
                return self._reply(404, {"error": {"code": 404, "message": "model not found"}})
            return self._reply(401, {"error": {"code": 401, "message": "unauthenticated"}})
        if self.path.startswith("/v1/projects/film-project/") and method == "POST":
            if bearer == f"Bearer {FAKE_KEY}":
                return self._reply(200, {"totalTokens": 1})
            return self._reply(403, {"error": {"code": 403, "message": "permission denied"}})
        if self.path == "/v1/models":
            if bearer == f"Bearer {FAKE_KEY}":
                return self._reply(200, {"data": []})
            return self._reply(401, {"error": {"message": f"Incorrect API key provided: {bearer[7:]}"}})
        if self.path == "/v1/organization":
            if headers.get("x-runway-version") != RUNWAY_API_VERSION:
                return self._reply(400, {"error": "missing version"})
            if bearer == f"Bearer {FAKE_KEY}":
                return self._reply(200, {"creditBalance": 100})
            return self._reply(401, {"error": "Invalid API secret"})
        if self.path == "/api/whoami-v2":
            if bearer == f"Bearer {FAKE_KEY}":
                return self._reply(200, {"name": "someone"})
            return self._reply(401, {"error": "Invalid credentials in Authorization header"})
        return self._reply(500, {"error": "unexpected path"})

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._handle("POST")


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeProviders)
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def env(monkeypatch, server):
    clear_key_env(monkeypatch)
    base = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", base)
    monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", base)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{base}/v1")
    monkeypatch.setenv("RUNWAYML_BASE_URL", base)
    monkeypatch.setenv("HF_ENDPOINT", base)
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "1")
    with using_keyring(MemoryKeyring()):
        yield monkeypatch


PROVIDER_VARS = {
    "google": "TALE_GOOGLE_API_KEY",
    "vertex": "TALE_VERTEX_API_KEY",
    "openai": "OPENAI_API_KEY",
    "runway": "RUNWAYML_API_SECRET",
    "huggingface": "HF_TOKEN",
}


@pytest.mark.parametrize("provider", list(PROVIDER_VARS))
def test_a_working_key_is_reported_working(env, server, provider):
    env.setenv(PROVIDER_VARS[provider], FAKE_KEY)
    result = CliRunner().invoke(keys_cli.app, ["test", provider])
    assert result.exit_code == 0, result.output
    assert "key accepted" in result.output
    assert FAKE_KEY not in result.output
    _, path, headers = server.seen[-1]
    # The key travels in a header, never in the URL.
    assert FAKE_KEY not in path
    assert FAKE_KEY in json.dumps(headers)


@pytest.mark.parametrize("provider", list(PROVIDER_VARS))
def test_a_wrong_key_is_rejected_with_exit_code(env, provider):
    env.setenv(PROVIDER_VARS[provider], WRONG_KEY)
    result = CliRunner().invoke(keys_cli.app, ["test", provider])
    assert result.exit_code == ExitCode.KEYS, result.output
    assert "key rejected" in result.output
    assert WRONG_KEY not in result.output


def test_json_output(env):
    env.setenv("TALE_OPENAI_API_KEY", WRONG_KEY)
    result = CliRunner().invoke(keys_cli.app, ["test", "openai", "--json"])
    assert result.exit_code == ExitCode.KEYS
    data = json.loads(result.output)
    assert data["status"] == "rejected"
    assert data["source"].startswith("TALE_OPENAI_API_KEY")
    assert WRONG_KEY not in result.output


def test_missing_key(env):
    result = CliRunner().invoke(keys_cli.app, ["test", "runway"])
    assert result.exit_code == ExitCode.KEYS
    assert "no key set" in result.output


def test_offline_is_skipped_cleanly(env):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    env.setenv("HF_TOKEN", FAKE_KEY)
    result = CliRunner().invoke(keys_cli.app, ["test", "huggingface"])
    assert result.exit_code == 0
    assert "skipped: cannot reach 127.0.0.1" in result.output
    assert check_key("huggingface").status == "offline"


def test_redirects_are_not_followed_with_the_key(env, server):
    env.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_port}/redirect")
    env.setenv("OPENAI_API_KEY", FAKE_KEY)
    result = check_key("openai")
    assert result.status == "error"
    assert "HTTP 302" in result.detail
    assert [path for _, path, _ in server.seen] == ["/redirect/models"]


def test_non_http_base_url_is_refused(env):
    env.setenv("OPENAI_BASE_URL", "file:///etc")
    env.setenv("OPENAI_API_KEY", FAKE_KEY)
    result = CliRunner().invoke(keys_cli.app, ["test", "openai"])
    assert result.exit_code == ExitCode.KEYS
    assert "OPENAI_BASE_URL must be an http(s) URL" in result.output


def test_vertex_adc_without_google_auth_names_the_extra(env):
    env.setitem(sys.modules, "google.auth", None)
    env.setenv("GOOGLE_CLOUD_PROJECT", "film-project")
    result = CliRunner().invoke(keys_cli.app, ["test", "vertex"])
    assert result.exit_code == ExitCode.MISSING_DEPENDENCY
    assert "tale-cli[google]" in result.output


class _FakeCredentials:
    token = None

    def refresh(self, request):
        self.token = FAKE_KEY


def test_vertex_adc_sends_the_access_token_to_the_project_endpoint(env, server):
    google_auth = pytest.importorskip("google.auth")
    env.setattr(google_auth, "default", lambda scopes: (_FakeCredentials(), "film-project"))
    env.setenv("GOOGLE_CLOUD_PROJECT", "film-project")
    env.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    result = CliRunner().invoke(keys_cli.app, ["test", "vertex"])
    assert result.exit_code == 0, result.output
    assert "application-default credentials" in result.output
    assert FAKE_KEY not in result.output
    method, path, headers = server.seen[-1]
    assert (method, path) == (
        "POST",
        f"/v1/projects/film-project/locations/us-central1/publishers/google/models/{VERTEX_CHECK_MODEL}:countTokens",
    )
    assert headers["authorization"] == f"Bearer {FAKE_KEY}"


def test_vertex_adc_that_does_not_work_is_one_line(env, tmp_path):
    pytest.importorskip("google.auth")
    env.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    env.setenv("GOOGLE_CLOUD_PROJECT", "film-project")
    result = CliRunner().invoke(keys_cli.app, ["test", "vertex"])
    assert result.exit_code == ExitCode.KEYS
    assert "application-default credentials do not work" in result.output


@pytest.mark.parametrize("provider", [fake.KEY_PROVIDER for fake in fakes.PROVIDERS])
def test_the_shared_fake_providers_serve_the_key_check(fake_providers, monkeypatch, provider):
    """The fakes the backend tests use check keys where, and refuse them as, the real providers do."""
    assert check_key(provider).status == "ok"
    monkeypatch.setenv(f"TALE_{provider.upper()}_API_KEY", WRONG_KEY)
    wrong = check_key(provider)
    assert wrong.status == "rejected" and WRONG_KEY not in wrong.detail
