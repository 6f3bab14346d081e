from __future__ import annotations

import errno
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from chromium import chromium_page, find_chromium
from typer.testing import CliRunner

from tale_cli.backends.base import RenderResult, ShotRequest
from tale_cli.backends.local.preview import PreviewVideo
from tale_cli.cli.app import app
from tale_cli.config import load_recipe
from tale_cli.cost import estimate_render
from tale_cli.errors import BackendError, ExitCode, ShotRefusedError
from tale_cli.executors import ThreadExecutor
from tale_cli.pipeline import RenderOptions, render
from tale_cli.pipeline.batch import BatchOptions, run_batch
from tale_cli.pipeline.review import srt_to_vtt

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "story.md"
CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium here: scripts/test installs Debian's chromium where apt-get may run"
)
runner = CliRunner()

TINY = (
    'description = "tiny"\nwidth = {w}\nheight = {h}\nfps = 8\nshots = 3\nseconds = 1.0\n[video]\nbackend = "preview"\n'
)
HOSTILE = """---
title: "<script>document.title='pwned'</script> Night <img src=x onerror=\\"document.title='pwned'\\">"
characters:
  - name: Mira
---

Mira opened <script>document.title='pwned'</script> the door. She saw <img src=x onerror="document.title='pwned'"> a cat.

The cat & Mira </p></video> walked --> home.

Then </textarea><svg onload="document.title='pwned'"> they slept.
"""


def _render(story: Path, recipe_file: Path, out: Path, backend: PreviewVideo | None = None) -> Any:
    recipe = load_recipe(str(recipe_file))
    executor = ThreadExecutor(recipe, backend=backend or PreviewVideo(recipe))
    try:
        return render(story, RenderOptions(recipe=recipe, out_root=out, executor=executor))
    finally:
        executor.close()


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The example story, 8 shots of 8 s, rendered small."""
    root = tmp_path_factory.mktemp("example")
    recipe = root / "small.toml"
    recipe.write_text(TINY.format(w=160, h=96).replace("shots = 3\nseconds = 1.0\n", ""), encoding="utf-8")
    return _render(EXAMPLE, recipe, root / "out")


@needs_chromium
def test_example_page_in_a_real_browser_loads_everything_and_only_its_own_files(example_run: Any) -> None:
    run_dir = example_run.run_dir
    assert example_run.review == run_dir / "review.html"
    with chromium_page(CHROMIUM) as page:
        page.open(example_run.review.as_uri(), width=1280, height=900)
        assert page.evaluate("document.querySelectorAll('article.shot').length") == 8
        media = "[...document.querySelectorAll('video')]"
        assert page.until(f"{media}.length === 9 && {media}.every(v => v.readyState >= 1)"), page.evaluate(
            f"{media}.map(v => [v.currentSrc, v.readyState, v.error && v.error.message])"
        )
        srt_cues = (run_dir / "film.srt").read_text(encoding="utf-8").strip().count("\n\n") + 1
        # The animatic draws the narration itself: the subtitles are there, but off until the viewer turns them on.
        assert page.evaluate("document.querySelector('#film').textTracks[0].mode") == "disabled"
        page.evaluate("document.querySelector('#film').textTracks[0].mode = 'hidden'")
        assert page.until("(document.querySelector('#film').textTracks[0].cues || []).length") == srt_cues >= 8
        # The page's own script runs (its policy admits it): a clip plays while the pointer is over it.
        box = page.evaluate(
            "(() => { const c = document.querySelector('video.clip'); c.scrollIntoView();"
            " const r = c.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        page.call("Input.dispatchMouseEvent", type="mouseMoved", x=box[0], y=box[1])
        assert page.until("!document.querySelector('video.clip').paused")
        text = page.evaluate("document.body.innerText")
        assert "done" in text and "planned with offline" in text and "veo-3.1-fast" in text
        errors, requests = page.log.errors, page.log.requests
    assert errors == []
    inside = run_dir.as_uri() + "/"
    assert requests and all(url.startswith((inside, "data:")) for url in requests), requests


@needs_chromium
def test_hostile_story_runs_no_script_and_a_tall_film_shows_tall(tmp_path: Path) -> None:
    story = tmp_path / "night.md"
    story.write_text(HOSTILE, encoding="utf-8")
    recipe = tmp_path / "tall.toml"
    # Shots long enough for each paragraph's words (a shot says only what fits its seconds, and a run of markup
    # such as <script>document.title='pwned'</script> counts as the several words it takes to say).
    recipe.write_text(TINY.format(w=96, h=160).replace("seconds = 1.0", "seconds = 10.0"), encoding="utf-8")
    report = _render(story, recipe, tmp_path / "out")
    html = report.review.read_text(encoding="utf-8")
    assert "<img src=x" not in html and "<svg onload" not in html and "&lt;script&gt;" in html
    with chromium_page(CHROMIUM) as page:
        page.open(report.review.as_uri(), width=390, height=844, mobile=True)
        page.until("[...document.querySelectorAll('video')].every(v => v.readyState >= 1)")
        time.sleep(0.3)  # time for any injected handler to have fired
        assert page.evaluate("document.title") == f"{report.plan.title} · review"
        assert "<script>document.title='pwned'</script>" in page.evaluate("document.querySelector('h1').textContent")
        width, height = page.evaluate(
            "(() => { const r = document.querySelector('#film').getBoundingClientRect(); return [r.width, r.height]; })()"
        )
        page.evaluate("document.querySelector('#film').textTracks[0].mode = 'hidden'")
        cues = page.until("(document.querySelector('#film').textTracks[0].cues || []).length")
        first = page.evaluate("document.querySelector('#film').textTracks[0].cues[0].getCueAsHTML().textContent")
        errors = page.log.errors
    assert height > width > 0
    srt_cues = (report.run_dir / "film.srt").read_text(encoding="utf-8").strip().count("\n\n") + 1
    assert cues == srt_cues >= 3 and "<script>" in first.replace("\u2060", "")  # shown as written (film.srt)
    assert errors == []


class BreaksShotsTwoAndThree(PreviewVideo):
    """Shot 2 fails with a provider error full of markup; shot 3 is refused."""

    def render_shot(self, request: ShotRequest) -> RenderResult:
        if request.shot.index == 2:
            raise BackendError('<img src=x onerror="alert(1)"> upstream said no')
        if request.shot.index == 3:
            raise ShotRefusedError("the safety filter refused the shot")
        return super().render_shot(request)


def test_failed_and_refused_shots_show_their_errors_as_text(
    tmp_path: Path, story_file: Path, tiny_recipe: Path
) -> None:
    report = _render(story_file, tiny_recipe, tmp_path / "out", BreaksShotsTwoAndThree(load_recipe(str(tiny_recipe))))
    assert report.film is None and report.review is not None
    html = report.review.read_text(encoding="utf-8")
    assert '<span class="badge failed">failed</span>' in html and '<span class="badge refused">refused</span>' in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; upstream said no" in html and "<img src=x" not in html
    assert "No film yet" in html and 'id="film"' not in html
    # What the same film would cost on the shipped recipes, and which ones the book cannot price.
    veo = estimate_render(report.plan, load_recipe("veo-3.1-fast"), include_planner=True)
    assert f"<tr><td>veo-3.1-fast</td><td class=num>${veo.total_usd:,.2f}</td></tr>" in html
    assert "<tr><td>local-hunyuanvideo<br><small class=dim>video diffusers/" in html
    assert "this run · tiny" in html


def test_review_command_prints_the_page_opens_it_and_refuses_other_folders(
    example_run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = example_run.run_dir / "review.html"
    page.unlink()
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    result = runner.invoke(app, ["review", str(example_run.run_dir), "--open"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(page) and page.is_file()
    assert opened == [page.resolve().as_uri()]
    result = runner.invoke(app, ["review", str(tmp_path)])
    assert result.exit_code == 3 and "not a run folder" in result.output


def _get(port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def test_serve_answers_ranges_refuses_paths_outside_and_other_hosts_and_stops_on_sigint(example_run: Any) -> None:
    run_dir = example_run.run_dir
    outside = run_dir.parent / "secret.txt"
    outside.write_text("not for the page")
    server = subprocess.Popen(
        [sys.executable, "-m", "tale_cli", "review", str(run_dir), "--serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == str(run_dir / "review.html")
        line = server.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line
        port = int(line.split(":")[2].split("/")[0])

        status, headers, body = _get(port, "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b"The Lighthouse Keeper" in body
        film = (run_dir / "film.mp4").read_bytes()
        status, headers, body = _get(port, "/film.mp4", {"Range": "bytes=100-1123"})
        assert (status, headers["Content-Range"], body) == (206, f"bytes 100-1123/{len(film)}", film[100:1124])
        status, headers, body = _get(port, "/shots/shot-02.mp4", {"Range": "bytes=-64"})
        assert status == 206 and body == (run_dir / "shots" / "shot-02.mp4").read_bytes()[-64:]
        assert _get(port, "/film.mp4", {"Range": f"bytes={len(film)}-"})[0] == 416
        status, headers, body = _get(port, "/film.mp4", method="HEAD")
        assert status == 200 and headers["Content-Length"] == str(len(film)) and body == b""

        (run_dir / "escape").symlink_to(outside)
        try:
            for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/shots/..%2f..%2fsecret.txt", "/escape"):
                status, _, body = _get(port, path)
                assert status == 403 and b"not for the page" not in body, path
        finally:
            (run_dir / "escape").unlink()
        assert _get(port, "/nothing-here.mp4")[0] == 404
        assert _get(port, "/" + "x" * 300)[0] == 404  # too long a name for the file system: no traceback below
        status, _, body = _get(port, "/plan.json", {"Host": f"attacker.example:{port}"})  # DNS rebinding
        assert status == 421 and b"Lighthouse" not in body

        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=15)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


def test_batch_index_links_every_review_page_and_stitch_refreshes_one(tmp_path: Path, tiny_recipe: Path) -> None:
    stories = tmp_path / "stories"
    stories.mkdir()
    (stories / "harbour.md").write_text("# Harbour\n\nAda walked. The boats slept. Gulls cried.\n", encoding="utf-8")
    (stories / "hill.md").write_text("# The <b>Hill</b>\n\nBo climbed. The wind rose. Night fell.\n", encoding="utf-8")
    (stories / "broken.md").write_bytes(b"\xff\xfe not text")
    recipe = load_recipe(str(tiny_recipe))
    report = run_batch(sorted(stories.iterdir()), BatchOptions(recipe=recipe, out_root=tmp_path / "out", jobs=2))
    assert report.index == tmp_path / "out" / "index.html"
    html = report.index.read_text(encoding="utf-8")
    assert html.count('<a href="') == 2 and "The &lt;b&gt;Hill&lt;/b&gt;" in html
    for film in report.films:
        if film.status == "done":
            assert f'<a href="{film.run_dir.name}/review.html">' in html
            assert (film.run_dir / "review.html").is_file()
    assert html.count("<td class=done>done</td>") == 2 and "<td class=failed>failed</td>" in html
    assert json.loads(json.dumps(report.to_json()))["index"] == str(report.index)

    run_dir = next(film.run_dir for film in report.films if film.status == "done")
    (run_dir / "review.html").unlink()
    result = runner.invoke(app, ["stitch", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert 'id="film"' in (run_dir / "review.html").read_text(encoding="utf-8")


def test_subtitles_become_webvtt_with_their_text_escaped() -> None:
    srt = "1\n00:00:00,000 --> 00:00:01,500\nA <b>bold</b> & --> move\n\n2\n00:00:01,500 --> 00:00:03,000\nLine one\nLine two\n"
    assert srt_to_vtt(srt) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nA &lt;b&gt;bold&lt;/b&gt; &amp; --&gt; move\n\n"
        "00:00:01.500 --> 00:00:03.000\nLine one\nLine two\n"
    )


def test_a_private_run_page_is_owner_only(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    private = tmp_path / "private.toml"
    private.write_text(tiny_recipe.read_text().replace('description = "tiny test recipe"', "private = true"))
    report = _render(story_file, private, tmp_path / "out")
    assert report.review is not None and os.stat(report.review).st_mode & 0o777 == 0o600


@pytest.mark.parametrize("obstacle", ["read-only folder", "folder where the page goes"])
def test_a_page_that_cannot_be_written_is_one_line_naming_it_and_exit_6(
    example_run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, obstacle: str
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(example_run.run_dir, run_dir)
    page = run_dir / "review.html"
    page.unlink()
    if obstacle == "folder where the page goes":
        page.mkdir()
    else:  # what a read-only mount answers (root may write through a folder's permissions, a mount refuses it)
        real_open = os.open

        def read_only(path: Any, *args: Any, **kwargs: Any) -> int:
            if Path(path).parent == run_dir:
                raise OSError(errno.EROFS, "Read-only file system", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr("tale_cli.files.os.open", read_only)

    result = runner.invoke(app, ["review", str(run_dir)])

    assert result.exit_code == int(ExitCode.OUTPUT), result.output
    first = result.stderr.splitlines()[0]
    assert " ".join(result.stderr.split()).startswith(f"error: cannot write {page}: "), result.stderr
    assert "unexpected" not in first and "Errno" not in first and "Traceback" not in result.output
    assert not (run_dir / "review.html.part").exists()


def test_a_full_disk_names_the_run_folder_and_its_free_space_not_the_working_folders(
    example_run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full_disk: Any
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(example_run.run_dir, run_dir)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    asked = full_disk("review.html")

    result = runner.invoke(app, ["review", str(run_dir)])

    assert result.exit_code == int(ExitCode.OUTPUT), result.output
    assert " ".join(result.stderr.split()).startswith(f"error: no space left on device: {run_dir} has ")
    assert asked == [run_dir]
    assert not (run_dir / "review.html.part").exists()
