"""Media-sealed runs (`--seal-media`): no clip, picture, voice or film in the clear in the run folder or in the
temporary folder a render used; a second render pays nothing and rewrites nothing; `tale unseal` gives back the
same playable film; a wrong identity is exit 10 and touches nothing; `tale review --serve` streams the film opened."""

from __future__ import annotations

import json
import tempfile
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.config import load_recipe
from tale_cli.errors import ExitCode
from tale_cli.executors import ThreadExecutor
from tale_cli.keys.audit import read_audit
from tale_cli.keys.seal import AGE_HEADER, IDENTITY_ENV, new_identity, seal_folder
from tale_cli.media.ffmpeg import probe
from tale_cli.pipeline import RenderOptions, render
from tale_cli.pipeline.review_server import open_server
from tale_cli.run import folder as run_folder_module

pytest.importorskip("pyrage")
runner = CliRunner()

STORY = """---
title: The Sealed Reel
characters:
  - name: Wren
    description: a wiry cartographer with indigo tattoos
---

Wren climbed the hill at noon and unrolled the map.

Wren said: "The tide is wrong." She folded the map and ran.
"""
MEDIA = (".mp4", ".png", ".wav", ".m4a", ".jpg")


@pytest.fixture
def identity(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    text = new_identity()
    monkeypatch.setenv(IDENTITY_ENV, text)
    return text


@pytest.fixture
def story(tmp_path: Path) -> Path:
    path = tmp_path / "story.md"
    path.write_text(STORY, encoding="utf-8")
    return path


@pytest.fixture
def recipe(tiny_recipe: Path) -> Path:
    """Two shots of a second, with narration (voice clips and a voice track) and a storyboard."""
    text = tiny_recipe.read_text(encoding="utf-8").replace("shots = 3", "shots = 2") + '[voice]\nbackend = "espeak"\n'
    tiny_recipe.write_text(text, encoding="utf-8")
    return tiny_recipe


def _render(story: Path, recipe_path: Path, out: Path, **options: Any) -> Any:
    recipe = load_recipe(str(recipe_path))
    executor = ThreadExecutor(recipe)
    try:
        return render(story, RenderOptions(recipe=recipe, out_root=out, executor=executor, **options))
    finally:
        executor.close()


def _readable_media(root: Path) -> list[str]:
    """Every file under `root` a player or viewer would read: an MP4 (`ftyp` at offset 4), a PNG, a RIFF/WAV, a JPEG."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as handle:
            head = handle.read(16)
        if head[4:8] == b"ftyp" or head.startswith((b"\x89PNG", b"RIFF", b"\xff\xd8\xff")):
            found.append(str(path.relative_to(root)))
    return found


def probe_of(data: bytes) -> float:
    """The duration of an MP4 given as bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "film.mp4"
        path.write_bytes(data)
        return probe(path).duration_s


def _state(root: Path) -> dict[str, tuple[int, int]]:
    """Each file's inode and modification time: what a rewrite would change."""
    return {
        str(path.relative_to(root)): (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_a_media_sealed_render_leaves_no_media_in_the_clear_and_renders_again_for_nothing(
    tmp_path: Path, story: Path, recipe: Path, identity: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every temporary folder the render makes is kept (not removed at its end), so what it held can be read after.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    # The passes that seal what a stage left in the clear (after each stage, and when the folder is let go) find
    # no media to seal: each file was sealed as it was made.
    swept: list[str] = []

    def sweep(root: Path, *, media: bool = False) -> Any:
        converted = seal_folder(root, media=media)
        swept.extend(name for name in converted.files if name.endswith(MEDIA))
        return converted

    monkeypatch.setattr(run_folder_module, "seal_folder", sweep)
    with monkeypatch.context() as keep:
        keep.setattr(tempfile.TemporaryDirectory, "cleanup", lambda self: None)
        keep.setattr(tempfile.TemporaryDirectory, "_cleanup", classmethod(lambda cls, *args, **kwargs: None))
        report = _render(story, recipe, tmp_path / "out", seal_media=True)
    assert swept == []
    run_dir = tmp_path / "out" / "the-sealed-reel"
    assert report.rendered == 2 and report.film is not None
    assert any(scratch.rglob("*")), "the render used no temporary folder: the scan below would prove nothing"
    media = [path for path in run_dir.rglob("*") if path.is_file() and path.suffix in MEDIA]
    assert {path.suffix for path in media} >= {".mp4", ".png", ".wav"}, media
    assert {"film.mp4", "storyboard.png", "voice/track.wav", "shots/takes/shot-01-take-1.mp4"} <= {
        path.relative_to(run_dir).as_posix() for path in media
    }
    assert all(path.read_bytes().startswith(AGE_HEADER) for path in media)
    assert _readable_media(run_dir) == []
    assert _readable_media(scratch) == []
    assert json.loads((run_dir / "seal.json").read_text(encoding="utf-8"))["media"] is True

    before = _state(run_dir)
    asked = read_audit(run_dir).requests
    again = _render(story, recipe, tmp_path / "out")
    assert again.cached == 2 and again.rendered == 0 and again.film_unchanged
    assert read_audit(run_dir).requests == asked  # nothing asked of any provider: nothing paid
    after = _state(run_dir)
    # Only the run's records are written again (as in any re-render); no clip, picture, sound or film is.
    rewritten = [name for name in before if after.get(name) != before[name]]
    assert set(rewritten) <= {"audit.jsonl", "manifest.json"} and set(after) == set(before), rewritten
    assert _readable_media(run_dir) == [] and _readable_media(scratch) == []


def test_unseal_gives_back_the_plain_renders_media_and_a_wrong_identity_touches_nothing(
    tmp_path: Path, story: Path, recipe: Path, identity: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = _render(story, recipe, tmp_path / "plain")
    command = ["render", str(story), "-r", str(recipe), "-o", str(tmp_path / "out"), "--seal-media", "--json"]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "out" / "the-sealed-reel"
    assert json.loads(result.stdout)["counts"]["rendered"] == 2 and _readable_media(run_dir) == []

    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    monkeypatch.setenv(IDENTITY_ENV, new_identity())
    for args in (["unseal", str(run_dir)], ["seal", str(run_dir), "--media"], command):
        wrong = runner.invoke(app, args)
        assert wrong.exit_code == ExitCode.KEYS == 10, (args, wrong.output)
        assert "does not open" in wrong.output and "AGE-SECRET-KEY" not in wrong.output
    assert {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()} == before

    monkeypatch.setenv(IDENTITY_ENV, identity)
    opened = runner.invoke(app, ["unseal", str(run_dir), "--json"])
    assert opened.exit_code == 0, opened.output
    assert {"film.mp4", "shots/shot-01.mp4", "storyboard.png", "voice/track.wav"} <= set(
        json.loads(opened.stdout)["files"]
    )
    assert not (run_dir / "seal.json").exists()
    assert not [path for path in run_dir.rglob("*") if path.is_file() and path.read_bytes().startswith(AGE_HEADER)]
    film = probe(run_dir / "film.mp4")
    assert film.duration_s == pytest.approx(probe(plain.film).duration_s, abs=0.05) and film.duration_s > 1.5
    for shot in ("shots/shot-01.mp4", "shots/shot-02.mp4"):
        assert (run_dir / shot).read_bytes() == (plain.run_dir / shot).read_bytes(), shot


def test_seal_media_converts_a_plain_run_and_review_serve_streams_the_film_opened(
    tmp_path: Path, story: Path, recipe: Path, identity: str
) -> None:
    report = _render(story, recipe, tmp_path / "out")
    run_dir = report.run_dir
    film = (run_dir / "film.mp4").read_bytes()
    result = runner.invoke(app, ["seal", str(run_dir), "--media", "--json"])
    assert result.exit_code == 0, result.output
    assert {"film.mp4", "storyboard.png", "plan.json"} <= set(json.loads(result.stdout)["files"])
    assert _readable_media(run_dir) == []
    again = runner.invoke(app, ["seal", str(run_dir), "--media"])
    assert again.exit_code == 0 and "already sealed" in again.output

    server = open_server(run_dir, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = server.url.rsplit("/", 1)[0]
        with urllib.request.urlopen(f"{base}/film.mp4", timeout=10) as answer:
            served, kind = answer.read(), answer.headers.get("Content-Type")
        ranged = urllib.request.Request(f"{base}/film.mp4", headers={"Range": "bytes=0-15"})
        with urllib.request.urlopen(ranged, timeout=10) as answer:
            head = answer.read()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert served == film and served[4:8] == b"ftyp" and kind == "video/mp4" and head == film[:16]
    assert _readable_media(run_dir) == []

    # A plain copy where the user asks: cut again from the sealed clips, read in memory, written outside the run.
    copy = tmp_path / "watch" / "film.mp4"
    cut = runner.invoke(app, ["stitch", str(run_dir), "--out", str(copy)])
    assert cut.exit_code == 0, cut.output
    assert copy.read_bytes()[4:8] == b"ftyp" and probe(copy).duration_s == pytest.approx(probe_of(film), abs=0.05)
    assert _readable_media(run_dir) == []
    # Publishing would hand out an age file no player opens: refused, nothing sent.
    shelf = tmp_path / "shelf"
    refused = runner.invoke(app, ["publish", str(run_dir), "--to", shelf.as_uri(), "--what", "film", "--yes"])
    assert refused.exit_code == ExitCode.INPUT == 3 and "media are sealed" in refused.output
    assert not shelf.exists() or not any(shelf.iterdir())
