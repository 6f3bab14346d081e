"""Canary keys planted in every lookup place never appear in any byte Tale writes, on success or failure.

Every command runs in-process with the real `tale` app; backends and a planner registered for the test
fail the way SDKs do (echoing the key in messages, URLs and headers, and logging it). Then stdout, stderr
(with and without --debug), a log file and every file under the test's folder are searched for each key.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from keyring_fakes import MemoryKeyring, clear_key_env, using_keyring
from providers import register
from typer.testing import CliRunner

from tale_cli.backends.base import ImageBackend, ImageCapabilities, VideoBackend, VideoCapabilities
from tale_cli.cli.app import app
from tale_cli.errors import BackendError, ExitCode
from tale_cli.keys.redact import REDACTED
from tale_cli.keys.store import get_key, services
from tale_cli.registry import Role

STORY = """---
title: Canary Story
characters:
  - name: Mira
    description: a lighthouse keeper
---

Mira climbs the stairs at dusk. The lamp is dark and a boat drifts toward the rocks.

She fixes the gears and the beam sweeps the sea again.
"""

TINY_RECIPE = """
width = 128
height = 72
fps = 8
shots = 2
seconds = 1.0
[planner]
backend = "offline"
[image]
backend = "preview"
[video]
backend = "preview"
"""


def _sdk_style_failure(provider: str) -> str:
    key = get_key(provider)
    logging.getLogger("fake.sdk.http").warning("POST https://api.example.test/v1/generate?key=%s -> 401", key)
    return f"401 Unauthorized: Incorrect API key provided: {key}; request headers {{'Authorization': 'Bearer {key}'}}"


class LeakyVideo(VideoBackend):
    """A video backend that fails like an SDK that echoes the key (a plain exception, not a TaleError)."""

    name = "leaky"

    def __init__(self, recipe):
        self.recipe = recipe

    def capabilities(self):
        return VideoCapabilities()

    def fingerprint(self):
        return {"model": "leaky-1"}

    def render_shot(self, request):
        raise RuntimeError(_sdk_style_failure("openai"))

    def close(self):
        return None


class LeakyTaleVideo(LeakyVideo):
    """A video backend that wraps the SDK error in a BackendError without scrubbing it."""

    name = "leaky-tale"

    def render_shot(self, request):
        raise BackendError(f"runway refused the job: {_sdk_style_failure('runway')}")


class LeakyImage(ImageBackend):
    name = "leaky"

    def __init__(self, recipe):
        self.recipe = recipe

    def capabilities(self):
        return ImageCapabilities()

    def fingerprint(self):
        return {"model": "leaky-image"}

    def render_reference(self, request):
        raise RuntimeError(_sdk_style_failure("google"))

    def close(self):
        return None


def leaky_planner(story, recipe, *, shots, seconds):
    raise BackendError(f"planner request failed: {_sdk_style_failure('vertex')}")


class EchoingProvider(BaseHTTPRequestHandler):
    """Refuses every key and echoes it back, as some providers do in their 401 bodies."""

    def log_message(self, *args):
        return None

    def _refuse(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        key = self.headers.get("x-goog-api-key") or (self.headers.get("Authorization") or "")[7:]
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {key}", "key": key}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _refuse


@pytest.fixture
def provider_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), EchoingProvider)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def plant_canaries(monkeypatch, keyring: MemoryKeyring, *, env: bool) -> list[str]:
    """A distinct canary in each lookup place: TALE_* vars and standard vars (when `env`), and the keyring."""
    canaries: list[str] = []
    for provider in services().values():
        value = f"canary-{provider.name}-in-keyring-0003"
        keyring.set_password("tale", provider.name, value)
        canaries.append(value)
        if env:
            value = f"canary-{provider.name}-tale-var-0001"
            monkeypatch.setenv(provider.tale_env_var, value)
            canaries.append(value)
            for variable in provider.env_vars:
                value = f"canary-{variable.lower()}-0002"
                monkeypatch.setenv(variable, value)
                canaries.append(value)
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    return sorted(set(canaries))


def registered(name: str) -> bool:
    return any(command.name == name for command in app.registered_commands) or any(
        group.name == name for group in app.registered_groups
    )


@pytest.mark.parametrize("where", ["everywhere", "keyring-only"])
def test_no_key_in_any_output_or_file(tmp_path, monkeypatch, provider_server, where):
    clear_key_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    for variable in ("GOOGLE_GEMINI_BASE_URL", "GOOGLE_VERTEX_BASE_URL", "RUNWAYML_BASE_URL", "HF_ENDPOINT"):
        monkeypatch.setenv(variable, provider_server)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{provider_server}/v1")
    register(monkeypatch, "leaky", Role.VIDEO, LeakyVideo)
    register(monkeypatch, "leaky-tale", Role.VIDEO, LeakyTaleVideo)
    register(monkeypatch, "leaky", Role.IMAGE, LeakyImage)
    register(monkeypatch, "leaky", Role.PLANNER, leaky_planner)

    (tmp_path / "story.md").write_text(STORY, encoding="utf-8")
    (tmp_path / "tiny.toml").write_text(TINY_RECIPE, encoding="utf-8")
    for name, role in (("leaky-video", "video"), ("leaky-tale", "video"), ("leaky-image", "image")):
        backend = "leaky-tale" if name == "leaky-tale" else "leaky"
        recipe = TINY_RECIPE.replace(f'[{role}]\nbackend = "preview"', f'[{role}]\nbackend = "{backend}"')
        (tmp_path / f"{name}.toml").write_text(recipe, encoding="utf-8")
    log_file = tmp_path / "tale.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    logging.getLogger().addHandler(handler)

    run_dir = tmp_path / "out" / "canary-story"
    commands: list[tuple[list[str], int | None, str]] = [
        (["plan", "story.md", "-o", "out", "-r", "tiny.toml"], 0, "plan"),
        (["plan", "story.md", "-o", "out", "-r", "tiny.toml", "--json"], 0, '"plan_file"'),
        (["render", "story.md", "-o", "out", "-r", "tiny.toml"], 0, "film"),
        (["render", "story.md", "-o", "out", "-r", "tiny.toml", "--dry-run", "--json"], 0, '"dry_run": true'),
        (["render", str(run_dir / "plan.json"), "-r", "tiny.toml", "--json"], 0, '"cached": 2'),
        (["audit", str(run_dir), "--json"], 0, '"requests"'),
        (
            [
                "stitch",
                str(run_dir / "shots" / "shot-01.mp4"),
                str(run_dir / "shots" / "shot-02.mp4"),
                "-o",
                str(tmp_path / "joined.mp4"),
            ],
            0,
            "",
        ),
        (["keys", "list"], 0, "keyring"),
        (["keys", "list", "--json"], 0, '"fingerprint"'),
        (["doctor"], None, "key: openai"),
        (["doctor", "--json"], None, '"key: runway"'),
        # Failing paths: the SDK-style errors above, missing files, refused keys, bad input.
        (["render", "story.md", "-o", "leak1", "-r", "leaky-video.toml"], ExitCode.FAILURE, REDACTED),
        (["render", "story.md", "-o", "leak2", "-r", "leaky-tale.toml"], ExitCode.SHOTS_FAILED, REDACTED),
        (["render", "story.md", "-o", "leak3", "-r", "leaky-image.toml"], ExitCode.FAILURE, REDACTED),
        (["render", "story.md", "-o", "leak4", "-r", "leaky-tale.toml", "--json"], ExitCode.SHOTS_FAILED, REDACTED),
        (["plan", "story.md", "-o", "leak5", "-r", "tiny.toml", "--planner", "leaky"], ExitCode.BACKEND, REDACTED),
        (["render", "missing.md"], ExitCode.INPUT, "not found"),
        (["stitch", "missing.mp4", "-o", "x.mp4"], None, "missing.mp4"),
        (["audit", "nowhere"], ExitCode.INPUT, "no audit log"),
        (["keys", "set", "openai", "--stdin"], None, "openai"),
    ]
    commands += [(["keys", "test", name], ExitCode.KEYS, "key rejected") for name in services()]
    commands += [(["keys", "delete", "huggingface"], 0, "deleted")]
    if registered("cost"):
        commands += [
            (["cost", "compare", "--json"], None, ""),
            (["cost", "estimate", "story.md", "-r", "tiny.toml", "--json"], None, ""),
            (["cost", "spent", str(run_dir)], None, ""),
            (["cost", "estimate", "missing.md"], None, "missing.md"),
        ]
    with using_keyring(MemoryKeyring()) as keyring:
        canaries = plant_canaries(monkeypatch, keyring, env=where == "everywhere")
        outputs: list[str] = []
        try:
            for args, expected_code, expected_text in commands:
                for debug in ([], ["--debug"]) if expected_code not in (0, None) else ([],):
                    stdin = f"{canaries[0]}\n" if args[:2] == ["keys", "set"] else None
                    result = CliRunner().invoke(app, [*debug, *args], input=stdin)
                    text = result.stdout + result.stderr
                    outputs.append(text)
                    assert result.exception is None or isinstance(result.exception, SystemExit), (args, text)
                    if expected_code is not None:
                        assert result.exit_code == expected_code, (args, text)
                    assert expected_text in text, (args, text)
                    if debug:
                        assert "Traceback" in text, (args, text)
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()

    assert (run_dir / "film.mp4").is_file()
    assert json.loads((tmp_path / "leak2" / "canary-story" / "manifest.json").read_text())["shots"]["1"]["error"]
    log_text = log_file.read_text(encoding="utf-8")
    assert "POST https://api.example.test/v1/generate?key=[redacted]" in log_text
    written = {path: path.read_bytes() for path in Path(tmp_path).rglob("*") if path.is_file()}
    assert len(written) > 20
    for canary in canaries:
        for text in outputs:
            assert canary not in text
        for path, data in written.items():
            assert canary.encode() not in data, f"{canary} found in {path}"
