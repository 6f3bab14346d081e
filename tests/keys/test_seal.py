"""Sealed run folders: a sealed render leaves none of the story's words in the clear, in the run folder or the
temporary folder it used, and renders again for nothing; a wrong or missing identity is exit 10 and touches nothing;
`tale seal` / `tale unseal` convert a run in place; the review page of a sealed run is only served."""

from __future__ import annotations

import json
import shutil
import stat
import tempfile
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from keyring_fakes import MemoryKeyring, using_keyring
from typer.testing import CliRunner

from tale_cli.backends.base import RenderResult, ShotRequest
from tale_cli.backends.local.preview import PreviewVideo
from tale_cli.cli.app import app
from tale_cli.config import load_recipe
from tale_cli.errors import ExitCode
from tale_cli.executors import ThreadExecutor
from tale_cli.keys.audit import read_audit
from tale_cli.keys.seal import AGE_HEADER, IDENTITY_ENV, LINE_PREFIX, new_identity
from tale_cli.pipeline import RenderOptions, render
from tale_cli.pipeline.review_server import open_server
from tale_cli.story.plan import load_plan

pyrage = pytest.importorskip("pyrage")
runner = CliRunner()

SENTENCE = "The quartermaster buried seven brass compasses beneath the pear orchard."
DESCRIPTION = "a wiry cartographer with indigo tattoos of tidal charts"
STORY = f"""---
title: The Sealed Test
characters:
  - name: Wren
    description: {DESCRIPTION}
---

Wren climbed the hill at noon. {SENTENCE}

Wren opened the map and frowned. The river had moved.

Wren said: "The tide is wrong." She folded the map and ran.
"""


class CountingPreview(PreviewVideo):
    """The preview backend, counting what it is asked to render."""

    def __init__(self, recipe: Any) -> None:
        super().__init__(recipe)
        self.requests: list[ShotRequest] = []

    def render_shot(self, request: ShotRequest) -> RenderResult:
        self.requests.append(request)
        return super().render_shot(request)


def _render(story: Path, recipe_path: Path, out: Path, **options: Any) -> tuple[Any, CountingPreview]:
    recipe = load_recipe(str(recipe_path))
    backend = CountingPreview(recipe)
    executor = ThreadExecutor(recipe, backend=backend)
    try:
        return render(story, RenderOptions(recipe=recipe, out_root=out, executor=executor, **options)), backend
    finally:
        executor.close()


@pytest.fixture
def identity(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh age identity in TALE_AGE_IDENTITY (as a pod's secret would give it); no keyring."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    text = new_identity()
    monkeypatch.setenv(IDENTITY_ENV, text)
    return text


@pytest.fixture
def story(tmp_path: Path) -> Path:
    path = tmp_path / "story.md"
    path.write_text(STORY, encoding="utf-8")
    return path


def _files(root: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def _clear_words(root: Path, words: list[str]) -> list[str]:
    """`path: word` for every file under `root` whose bytes hold one of `words`."""
    return [f"{path}: {word}" for path, data in _files(root).items() for word in words if word.encode() in data]


def test_a_sealed_render_leaves_no_words_in_the_clear_and_renders_again_for_nothing(
    tmp_path: Path, story: Path, tiny_recipe: Path, identity: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every temporary folder the render makes is kept (not removed at its end), so its bytes can be read afterwards.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with monkeypatch.context() as keep:
        keep.setattr(tempfile.TemporaryDirectory, "cleanup", lambda self: None)
        keep.setattr(tempfile.TemporaryDirectory, "_cleanup", classmethod(lambda cls, *args, **kwargs: None))
        report, backend = _render(story, tiny_recipe, tmp_path / "out", seal=True, burn_subtitles=True)
    run_dir = tmp_path / "out" / "the-sealed-test"
    assert report.rendered == 3 and len(backend.requests) == 3 and report.film is not None
    assert report.review is None and not (run_dir / "review.html").exists()
    plan = load_plan(run_dir / "plan.json")  # opened in memory with the identity
    prompt = plan.shots[0].prompt
    assert SENTENCE in prompt and plan.characters[0].description == DESCRIPTION
    assert any(scratch.rglob("*")), "the render used no temporary folder: the scan below would prove nothing"
    assert any(run_dir.glob(".cut-*")), "the cut's work folder was kept for the scan"

    assert _clear_words(run_dir, [SENTENCE, DESCRIPTION, prompt]) == []
    assert _clear_words(scratch, [SENTENCE, DESCRIPTION, prompt]) == []
    for name in ("plan.json", "manifest.json", "film.srt"):
        assert (run_dir / name).read_bytes().startswith(AGE_HEADER), name
    assert all(line.startswith(LINE_PREFIX) for line in (run_dir / "jobs.jsonl").read_bytes().splitlines())

    for kept in run_dir.glob(".cut-*"):
        shutil.rmtree(kept)  # kept for the scan only; a render removes its own
    asked = read_audit(run_dir).requests  # planner, reference and shots: every request made, sealed lines opened
    again, backend2 = _render(story, tiny_recipe, tmp_path / "out", burn_subtitles=True)
    assert again.cached == 3 and again.rendered == 0 and backend2.requests == [] and again.film_unchanged
    audit = read_audit(run_dir)
    assert asked == 5 and audit.requests == asked  # nothing asked of any provider: nothing paid
    assert {entry["role"] for entry in audit.entries} >= {"planner", "image", "video"}
    assert {"plan.json", "manifest.json", "jobs.jsonl"} <= {read["file"] for read in audit.reads}
    assert _clear_words(run_dir, [SENTENCE, DESCRIPTION, prompt]) == []


def test_a_wrong_or_missing_identity_exits_10_and_touches_nothing(
    tmp_path: Path, story: Path, tiny_recipe: Path, identity: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _render(story, tiny_recipe, tmp_path / "out", seal=True)
    run_dir = tmp_path / "out" / "the-sealed-test"
    before = {path: (data, path.stat().st_mtime_ns) for path, data in _files(run_dir).items()}
    monkeypatch.setenv(IDENTITY_ENV, new_identity())
    command = ["render", str(story), "--recipe", str(tiny_recipe), "--out", str(tmp_path / "out"), "--yes"]
    for args in (command, ["unseal", str(run_dir)], ["seal", str(run_dir)]):
        result = runner.invoke(app, args)
        assert result.exit_code == ExitCode.KEYS == 10, (args, result.output)
        assert "does not open" in result.output and "AGE-SECRET-KEY" not in result.output
    monkeypatch.delenv(IDENTITY_ENV)
    result = runner.invoke(app, command)
    assert result.exit_code == 10 and "no age identity" in result.output
    assert {path: (data, path.stat().st_mtime_ns) for path, data in _files(run_dir).items()} == before


def test_seal_and_unseal_convert_a_run_in_place(tmp_path: Path, story: Path, tiny_recipe: Path, identity: str) -> None:
    _render(story, tiny_recipe, tmp_path / "out")
    run_dir = tmp_path / "out" / "the-sealed-test"
    plain_plan = (run_dir / "plan.json").read_text(encoding="utf-8")
    assert SENTENCE in plain_plan and (run_dir / "review.html").is_file()
    # The plain film carries the subtitles as a text stream; a sealed run's film carries none.
    cue = max((line for line in (run_dir / "film.srt").read_text().splitlines() if line[:1].isalpha()), key=len)
    assert cue.encode() in (run_dir / "film.mp4").read_bytes()

    result = runner.invoke(app, ["seal", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    sealed = json.loads(result.output)
    assert sealed["sealed"] is True
    assert {"plan.json", "manifest.json", "jobs.jsonl", "audit.jsonl", "film.srt", "review.html"} <= set(
        sealed["files"]
    )
    assert _clear_words(run_dir, [SENTENCE, DESCRIPTION]) == []
    again = runner.invoke(app, ["seal", str(run_dir)])
    assert again.exit_code == 0 and "already sealed" in again.output

    rendered = runner.invoke(
        app, ["render", str(story), "--recipe", str(tiny_recipe), "--out", str(tmp_path / "out"), "--json"]
    )
    assert rendered.exit_code == 0, rendered.output
    report = json.loads(rendered.stdout)
    counts = report["counts"]
    assert counts["cached"] == 3 and counts["rendered"] == 0 and report["review"] is None
    assert not report["film_unchanged"]  # cut again, without its subtitle stream
    assert _clear_words(run_dir, [SENTENCE, DESCRIPTION, cue]) == []
    rendered = runner.invoke(
        app, ["render", str(story), "--recipe", str(tiny_recipe), "--out", str(tmp_path / "out"), "--json"]
    )
    assert rendered.exit_code == 0 and json.loads(rendered.stdout)["film_unchanged"], rendered.output

    result = runner.invoke(app, ["unseal", str(run_dir)])
    assert result.exit_code == 0 and "unsealed" in result.output
    assert json.loads((run_dir / "plan.json").read_text(encoding="utf-8")) == json.loads(plain_plan)
    assert not (run_dir / "seal.json").exists()
    assert LINE_PREFIX not in (run_dir / "jobs.jsonl").read_bytes()
    assert read_audit(run_dir).requests >= 5


def test_a_sealed_review_page_is_only_served_and_made_on_the_fly(
    tmp_path: Path, story: Path, tiny_recipe: Path, identity: str
) -> None:
    _render(story, tiny_recipe, tmp_path / "out", seal=True)
    run_dir = tmp_path / "out" / "the-sealed-test"
    result = runner.invoke(app, ["review", str(run_dir)])
    assert result.exit_code == 0 and "only served" in result.output
    assert not (run_dir / "review.html").exists()
    server = open_server(run_dir, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = server.url.rsplit("/", 1)[0]
        with urllib.request.urlopen(server.url, timeout=10) as answer:
            page = answer.read().decode("utf-8")
        with urllib.request.urlopen(f"{base}/plan.json", timeout=10) as answer:
            plan = json.loads(answer.read())
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert "The Sealed Test" in page and "<video" in page
    assert plan["characters"][0]["description"] == DESCRIPTION
    assert not (run_dir / "review.html").exists() and _clear_words(run_dir, [SENTENCE, DESCRIPTION]) == []


def test_seal_identity_is_kept_in_the_keyring_or_a_new_file_and_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(IDENTITY_ENV, raising=False)
    with using_keyring(MemoryKeyring()) as keyring:
        result = runner.invoke(app, ["keys", "seal-identity"])
        assert result.exit_code == 0, result.output
        secret = keyring.get_password("tale", "age-identity")
        assert secret and secret not in result.output and "age1" in result.output
        again = runner.invoke(app, ["keys", "seal-identity"])
        assert again.exit_code == 10 and "already holds" in again.output and secret not in again.output
    path = tmp_path / "identity.txt"
    made = runner.invoke(app, ["keys", "seal-identity", "--file", str(path), "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["recipient"].startswith("age1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and "AGE-SECRET-KEY-1" in path.read_text()
    assert "AGE-SECRET-KEY" not in made.output
    monkeypatch.setenv(IDENTITY_ENV, str(path))  # a file path works as well as the value itself
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "plan.json").write_text('{"title": "x"}', encoding="utf-8")
    result = runner.invoke(app, ["seal", str(run_dir)])
    assert result.exit_code == 0 and (run_dir / "plan.json").read_bytes().startswith(AGE_HEADER)


def test_a_sealing_recipe_or_plan_seal_writes_the_plan_sealed(
    tmp_path: Path, story: Path, tiny_recipe: Path, identity: str
) -> None:
    sealing = tmp_path / "sealing.toml"
    sealing.write_text("seal = true\n" + tiny_recipe.read_text(encoding="utf-8"), encoding="utf-8")
    for out, args in ((tmp_path / "a", ["-r", str(sealing)]), (tmp_path / "b", ["-r", str(tiny_recipe), "--seal"])):
        result = runner.invoke(app, ["plan", str(story), "-o", str(out), *args])
        assert result.exit_code == 0, result.output
        run_dir = out / "the-sealed-test"
        assert "plan.json" in result.output and (run_dir / "seal.json").is_file()
        assert (run_dir / "plan.json").read_bytes().startswith(AGE_HEADER)
        assert _clear_words(run_dir, [SENTENCE, DESCRIPTION]) == []
        assert load_plan(run_dir / "plan.json").characters[0].description == DESCRIPTION


def test_a_private_run_is_sealed_by_default_when_an_identity_is_at_hand(
    tmp_path: Path, story: Path, tiny_recipe: Path, identity: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, _ = _render(story, tiny_recipe, tmp_path / "sealed", private=True)
    assert (report.run_dir / "seal.json").is_file() and report.review is None
    assert (report.run_dir / "plan.json").read_bytes().startswith(AGE_HEADER)
    opted_out, _ = _render(story, tiny_recipe, tmp_path / "plain", private=True, seal=False)
    assert not (opted_out.run_dir / "seal.json").exists() and opted_out.review is not None
    monkeypatch.delenv(IDENTITY_ENV)
    without, _ = _render(story, tiny_recipe, tmp_path / "none", private=True)  # no identity: private, not sealed
    assert not (without.run_dir / "seal.json").exists()
    assert stat.S_IMODE((without.run_dir / "plan.json").stat().st_mode) == 0o600
