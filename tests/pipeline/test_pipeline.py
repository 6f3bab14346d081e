from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tale_cli.backends.base import RenderResult, ShotRequest
from tale_cli.backends.local.preview import PreviewVideo
from tale_cli.config import load_recipe
from tale_cli.errors import InputError, OutputError
from tale_cli.executors import ThreadExecutor
from tale_cli.media.ffmpeg import check_clip, probe
from tale_cli.pipeline import RenderOptions, render


class CountingPreview(PreviewVideo):
    """The preview backend, counting renders and remembering each request."""

    def __init__(self, recipe: Any) -> None:
        super().__init__(recipe)
        self.requests: list[ShotRequest] = []

    def render_shot(self, request: ShotRequest) -> RenderResult:
        self.requests.append(request)
        return super().render_shot(request)


class BrokenFirstShot(CountingPreview):
    """Writes a zero-byte file for shot 1 and a truncated one for shot 2."""

    def render_shot(self, request: ShotRequest) -> RenderResult:
        self.requests.append(request)
        if request.shot.index == 1:
            request.output.write_bytes(b"")
            return RenderResult(model="broken")
        result = PreviewVideo.render_shot(self, request)
        if request.shot.index == 2:
            data = request.output.read_bytes()
            request.output.write_bytes(data[: len(data) // 3])
        return result


def run(source: Path, recipe_path: Path, out: Path, backend: CountingPreview | None = None, **kw: Any) -> Any:
    recipe = load_recipe(str(recipe_path))
    backend = backend or CountingPreview(recipe)
    executor = ThreadExecutor(recipe, backend=backend)
    try:
        return render(source, RenderOptions(recipe=recipe, out_root=out, executor=executor, **kw)), backend
    finally:
        executor.close()


def test_render_then_everything_is_cached(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    report, backend = run(story_file, tiny_recipe, tmp_path / "out")
    run_dir = tmp_path / "out" / "the-small-test"
    assert report.run_dir == run_dir and report.rendered == 3 and report.cached == 0
    assert len(backend.requests) == 3
    info = probe(run_dir / "film.mp4")
    assert abs(info.duration_s - 3.0) < 0.1 and (info.width, info.height) == (160, 96)
    for name in ("plan.json", "manifest.json", "film.srt", "storyboard.png", "refs/ada.png", "shots/shot-03.mp4"):
        assert (run_dir / name).is_file(), name
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {s["status"] for s in manifest["shots"].values()} == {"done"}
    assert all(len(s["params_hash"]) == 32 and s["backend"] == "preview" for s in manifest["shots"].values())

    again, backend2 = run(story_file, tiny_recipe, tmp_path / "out")
    assert again.cached == 3 and again.rendered == 0 and backend2.requests == []


def test_editing_one_shot_rerenders_only_that_shot(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    run(story_file, tiny_recipe, tmp_path / "out")
    plan_path = tmp_path / "out" / "the-small-test" / "plan.json"
    data = json.loads(plan_path.read_text())
    data["shots"][1]["prompt"] = "A completely different picture of the harbour."
    plan_path.write_text(json.dumps(data, ensure_ascii=False, indent=2))
    report, backend = run(plan_path, tiny_recipe, None)  # a plan renders in its own folder
    assert report.run_dir == plan_path.parent
    assert [r.shot.index for r in backend.requests] == [2]
    assert report.cached == 2 and report.rendered == 1
    assert json.loads(plan_path.read_text())["shots"][1]["prompt"].startswith("A completely different")


def test_broken_clips_are_never_counted_done(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    recipe = load_recipe(str(tiny_recipe))
    report, _ = run(story_file, tiny_recipe, tmp_path / "out", backend=BrokenFirstShot(recipe))
    assert sorted(s.index for s in report.failed) == [1, 2]
    assert report.film is None
    run_dir = tmp_path / "out" / "the-small-test"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["shots"]["1"]["status"] == "failed" and "empty" in manifest["shots"]["1"]["error"]
    assert manifest["shots"]["2"]["status"] == "failed"
    assert not list((run_dir / "shots" / "by-hash").glob("*.part"))
    retry, backend = run(story_file, tiny_recipe, tmp_path / "out")
    assert sorted(r.shot.index for r in backend.requests) == [1, 2]
    assert retry.cached == 1 and retry.film is not None


def test_chained_shots_start_from_the_previous_last_frame(tmp_path: Path, story_file: Path) -> None:
    recipe_path = tmp_path / "chain.toml"
    recipe_path.write_text('width = 160\nheight = 96\nfps = 12\nshots = 4\nseconds = 1.0\ncontinuity = "chain"\n')
    story_file.write_text("One paragraph only. It has four sentences. They are one scene. It ends here.\n")
    report, backend = run(story_file, recipe_path, tmp_path / "out")
    assert report.rendered == 4
    by_index = {r.shot.index: r for r in backend.requests}
    assert by_index[1].first_frame is None
    for index in (2, 3, 4):
        first = by_index[index].first_frame
        assert first is not None and first.name.endswith(".last.png")


def test_first_frame_continuity_uses_the_reference(tmp_path: Path, story_file: Path) -> None:
    recipe_path = tmp_path / "ff.toml"
    recipe_path.write_text('width = 160\nheight = 96\nfps = 12\nshots = 3\nseconds = 1.0\ncontinuity = "first-frame"\n')
    _, backend = run(story_file, recipe_path, tmp_path / "out")
    firsts = {r.shot.index: r.first_frame for r in backend.requests}
    assert firsts[1] is not None and firsts[1].name == "ada.png"


def test_dry_run_writes_nothing(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    report, backend = run(story_file, tiny_recipe, tmp_path / "out", dry_run=True)
    assert [s.status for s in report.shots] == ["would render"] * 3
    assert not (tmp_path / "out").exists() and backend.requests == []


def test_output_folder_that_is_a_file(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("keep me")
    with pytest.raises(OutputError, match="not a folder"):
        run(story_file, tiny_recipe, blocker)
    assert blocker.read_text() == "keep me"


def test_symlink_planted_in_the_run_folder_is_refused(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    run_dir = tmp_path / "out" / "the-small-test"
    run_dir.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (run_dir / "plan.json").symlink_to(victim)
    with pytest.raises(OutputError, match="symbolic link"):
        run(story_file, tiny_recipe, tmp_path / "out")
    assert victim.read_text() == "precious"


def test_reference_image_outside_the_story_folder_is_refused(tmp_path: Path, tiny_recipe: Path) -> None:
    story_dir = tmp_path / "stories"
    story_dir.mkdir()
    (tmp_path / "secret.png").write_bytes(b"x")
    link = story_dir / "ref.png"
    link.symlink_to(tmp_path / "secret.png")
    story = story_dir / "s.md"
    story.write_text("---\ncharacters:\n  - name: Ada\n    image: ref.png\n---\nAda ran.\n")
    with pytest.raises(InputError, match="outside"):
        run(story, tiny_recipe, tmp_path / "out")


def test_killed_render_resumes(tmp_path: Path, story_file: Path) -> None:
    recipe = tmp_path / "slowish.toml"
    recipe.write_text("width = 320\nheight = 192\nfps = 24\nshots = 6\nseconds = 2.0\n[video]\njobs = 1\n")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "tale_cli", "render", str(story_file), "--recipe", str(recipe), "--out", str(out)]
    manifest = out / "the-small-test" / "manifest.json"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline and process.poll() is None:
        try:
            shots = json.loads(manifest.read_text())["shots"]
            done = sum(1 for s in shots.values() if s.get("status") == "done")
        except (OSError, ValueError, KeyError):
            done = 0
        if done >= 2:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait()
    assert done >= 2 and process.returncode == -signal.SIGKILL
    assert not (out / "the-small-test" / "film.mp4").exists()
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    assert f"{done} cached" in finished.stdout or f"{done + 1} cached" in finished.stdout
    check_clip(out / "the-small-test" / "film.mp4", expected_s=12.0, fps=24)


REPO = Path(__file__).resolve().parents[2]


def _children_of(pid: int) -> list[int]:
    """Processes whose parent is `pid`, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads processes from /proc")
def test_a_stitch_killed_by_sigterm_takes_its_ffmpeg_along(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    """`kill PID` during the stitch: Tale exits 143 and its ffmpeg with it, leaves no film, no *.part, no
    temporary folder; the next run makes a film that decodes cleanly from end to end."""
    from tale_cli.media.ffmpeg import ffmpeg_exe

    # The stitch's ffmpeg reads its first clip at a quarter of real time, so it is surely caught mid-film.
    slow = tmp_path / "slow-ffmpeg"
    slow.write_text(f'#!/bin/sh\ncase "$*" in *stitched.mp4.part*) exec {ffmpeg_exe()} -readrate 0.25 "$@";; esac\n'
                    f'exec {ffmpeg_exe()} "$@"\n')  # fmt: skip
    slow.chmod(0o755)
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "IMAGEIO_FFMPEG_EXE": str(slow), "TMPDIR": str(temp)}
    out = tmp_path / "out"
    run_dir = out / "the-small-test"
    command = [sys.executable, "-m", "tale_cli", "render", str(story_file), "--recipe", str(tiny_recipe),
               "--out", str(out), "--transition", "fade:0.25", "--burn-subtitles"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stitching: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None and not stitching:
        if list(run_dir.glob(".cut-*/stitched.mp4.part")):
            stitching = _children_of(process.pid)
        time.sleep(0.02)
    assert stitching, "the stitch was never seen running"
    os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)

    assert process.returncode == 143, stderr
    time.sleep(0.5)
    assert not [pid for pid in stitching if _running(pid)], "ffmpeg outlived the Tale that started it"
    assert sorted(p.name for p in run_dir.glob("film.*")) == [] and list(run_dir.glob(".cut-*")) == []
    assert list(temp.iterdir()) == []

    again = subprocess.run(command, env={**env, "IMAGEIO_FFMPEG_EXE": ffmpeg_exe()}, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    check_clip(run_dir / "film.mp4", expected_s=2.5, fps=12)
    decoded = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(run_dir / "film.mp4"), "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert decoded.stderr == ""


def _small_default_recipe(folder: Path) -> Path:
    """The default recipe (preview video and pictures, eSpeak NG voice) at 320x180."""
    default = (REPO / "recipes" / "preview.toml").read_text(encoding="utf-8")
    recipe = folder / "small-default.toml"
    recipe.write_text(default.replace("width = 1280\nheight = 720", "width = 320\nheight = 180"), encoding="utf-8")
    return recipe


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_a_render_stopped_while_shots_render_leaves_no_part_file(tmp_path: Path, stop: signal.Signals) -> None:
    """Ctrl-C or `kill PID` while the example story's shots render (the default recipe, small): Tale exits 130 or
    143 and no `*.part` stays anywhere in the output folder; the next render makes the film."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "tale_cli", "render", str(REPO / "examples" / "story.md"),
               "--recipe", str(_small_default_recipe(tmp_path)), "--out", str(out)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rendering: list[Path] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and not rendering:
        rendering = list(out.glob("*/shots/by-hash/*.mp4.part"))
        time.sleep(0.005)
    assert rendering, "no shot was seen rendering"
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 128 + stop, stderr
    assert "run the same command again to resume" in stderr and "Traceback" not in stderr
    assert sorted(out.rglob("*.part")) == []
    run_dir = rendering[0].parents[2]
    assert not (run_dir / "film.mp4").exists()

    again = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    check_clip(run_dir / "film.mp4", expected_s=64.0, fps=24)
    assert sorted(out.rglob("*.part")) == []


@pytest.mark.parametrize("writing", ["voice clip", "reference picture", "storyboard"])
def test_a_render_stopped_while_any_file_is_written_leaves_no_part_file(
    tmp_path: Path, story_file: Path, monkeypatch: pytest.MonkeyPatch, writing: str
) -> None:
    """`kill PID` arriving just after a `.part` is written, before it is checked and kept: the signal handler raises
    Interrupted in the main thread, where voices, reference pictures and the storyboard are made."""
    from PIL import Image
    from typer.testing import CliRunner

    from tale_cli.backends.local.espeak import EspeakVoice
    from tale_cli.backends.local.preview import PreviewImage
    from tale_cli.cli.app import app
    from tale_cli.errors import Interrupted

    written: list[Path] = []

    def stop_after(write: Any, where: Any) -> Any:
        """`write`, then the signal, once its file (`where(*args)`) is on disk."""

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            write(*args, **kwargs)
            written.append(Path(where(*args)))
            raise Interrupted(signal.SIGTERM)

        return wrapped

    if writing == "voice clip":
        monkeypatch.setattr(EspeakVoice, "speak", stop_after(EspeakVoice.speak, lambda _, request: request.output))
    elif writing == "reference picture":
        draw = stop_after(PreviewImage.render_reference, lambda _, request: request.output)
        monkeypatch.setattr(PreviewImage, "render_reference", draw)
    else:
        save = Image.Image.save
        board = stop_after(save, lambda _, fp: fp)
        monkeypatch.setattr(
            Image.Image,
            "save",
            lambda image, fp, *args, **kwargs: (board if str(fp).endswith("storyboard.png.part") else save)(
                image, fp, *args, **kwargs
            ),
        )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["render", str(story_file), "-r", str(_small_default_recipe(tmp_path)), "-o", str(out)]
    )

    assert result.exit_code == 143, result.output
    assert len(written) == 1 and written[0].name.endswith(".part") and written[0].is_relative_to(out)
    assert sorted(out.rglob("*.part")) == []


class NeedsKey(CountingPreview):
    def preflight(self) -> None:
        from tale_cli.errors import KeysError

        raise KeysError("no key for the test provider", hint="tale keys set test")


class RejectedKey(CountingPreview):
    def render_shot(self, request: ShotRequest) -> RenderResult:
        from tale_cli.errors import KeysError

        self.requests.append(request)
        raise KeysError("the provider rejected the key")


class ImageOnly(CountingPreview):
    def capabilities(self) -> Any:
        from dataclasses import replace

        return replace(super().capabilities(), text_to_video=False)


def test_missing_key_stops_before_anything_is_made(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    from tale_cli.errors import KeysError

    backend = NeedsKey(load_recipe(str(tiny_recipe)))
    with pytest.raises(KeysError):
        run(story_file, tiny_recipe, tmp_path / "out", backend=backend)
    assert backend.requests == [] and not (tmp_path / "out").exists()


def test_rejected_key_stops_the_run(tmp_path: Path, story_file: Path) -> None:
    from tale_cli.errors import KeysError

    recipe = tmp_path / "one.toml"
    recipe.write_text("width = 160\nheight = 96\nfps = 12\nshots = 3\nseconds = 1.0\n[video]\njobs = 1\n")
    backend = RejectedKey(load_recipe(str(recipe)))
    with pytest.raises(KeysError):
        run(story_file, recipe, tmp_path / "out", backend=backend)
    assert len(backend.requests) == 1


def test_image_to_video_only_backends_always_get_a_first_frame(tmp_path: Path, story_file: Path) -> None:
    recipe = tmp_path / "i2v.toml"
    recipe.write_text('width = 160\nheight = 96\nfps = 12\nshots = 3\nseconds = 1.0\ncontinuity = "first-frame"\n')
    story_file.write_text("---\ncharacters:\n  - name: Ada\n---\nAda ran. The sea was calm. Gulls cried.\n")
    backend = ImageOnly(load_recipe(str(recipe)))
    report, _ = run(story_file, recipe, tmp_path / "out", backend=backend)
    assert report.rendered == 3
    assert all(r.first_frame is not None and r.first_frame.name == "ada.png" for r in backend.requests)


class RefusesShotTwo(CountingPreview):
    def render_shot(self, request: ShotRequest) -> RenderResult:
        from tale_cli.errors import ShotRefusedError

        self.requests.append(request)
        if request.shot.index == 2:
            raise ShotRefusedError("the provider's safety filter refused shot 2")
        return PreviewVideo.render_shot(self, request)


def test_refused_shot_is_rendered_by_the_fallback_recipe(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    recipe = tmp_path / "with-fallback.toml"
    recipe.write_text(tiny_recipe.read_text().replace("shots = 3", f'shots = 3\nfallback = "{tiny_recipe}"'))
    report, backend = run(story_file, recipe, tmp_path / "out", backend=RefusesShotTwo(load_recipe(str(recipe))))
    assert sorted(r.shot.index for r in backend.requests) == [1, 2, 3]
    assert report.failed == [] and report.film is not None
    shot = json.loads((report.run_dir / "manifest.json").read_text())["shots"]["2"]
    assert shot["status"] == "done" and shot["fallback"]["recipe"] == "tiny"
    assert "safety filter" in shot["fallback"]["reason"]


class PickyPreview(RefusesShotTwo):
    """Refuses shot 2; a model of its own, so its cache keys are not those of the fallback's preview."""

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "variant": "picky"}


def test_shots_chained_after_a_refused_shot_follow_the_fallback(tmp_path: Path, story_file: Path) -> None:
    tiny = tmp_path / "tiny.toml"
    tiny.write_text("width = 160\nheight = 96\nfps = 12\nshots = 4\nseconds = 1.0\n")
    recipe = tmp_path / "chain.toml"
    recipe.write_text(tiny.read_text() + f'continuity = "chain"\nfallback = "{tiny}"\n')
    story_file.write_text("One paragraph only. It has four sentences. They are one scene. It ends here.\n")

    report, backend = run(story_file, recipe, tmp_path / "out", backend=PickyPreview(load_recipe(str(recipe))))

    assert report.failed == [] and report.film is not None
    assert sorted(r.shot.index for r in backend.requests) == [1, 2, 3, 4]
    shot = json.loads((report.run_dir / "manifest.json").read_text())["shots"]["2"]
    assert shot["fallback"]["recipe"] == "tiny" and shot["fallback"]["refused_hash"] != shot["params_hash"]
    third = next(r for r in backend.requests if r.shot.index == 3)
    assert third.first_frame is not None and third.first_frame.name == f"{shot['params_hash']}.last.png"

    again, backend = run(story_file, recipe, tmp_path / "out", backend=PickyPreview(load_recipe(str(recipe))))

    assert backend.requests == []  # shot 2 is not offered again to the provider that refused it
    assert again.cached == 4 and again.failed == [] and again.film is not None


def test_without_a_fallback_a_refused_shot_fails_alone(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    report, _ = run(story_file, tiny_recipe, tmp_path / "out", backend=RefusesShotTwo(load_recipe(str(tiny_recipe))))
    assert [s.index for s in report.failed] == [2] and report.failed[0].refused
    assert report.film is None


class JournalNotesRefusalFailure(CountingPreview):
    """Records a provider job for every shot; notes and a bill on shot 1, refuses shot 2, fails shot 4."""

    def render_shot(self, request: ShotRequest) -> RenderResult:
        from tale_cli.errors import BackendError, ShotRefusedError

        index = request.shot.index
        request.journal.record_job({"provider": "fake", "id": f"job-{index}", "model": "fake-1"})
        if index == 2:
            raise ShotRefusedError("the provider's safety filter refused shot 2")
        if index == 4:
            raise BackendError("the provider is down")
        result = super().render_shot(request)
        if index == 1:
            result.notes = {"resolution": "720p"}
            result.provider_job_id, result.billed_seconds, result.cost_usd = "job-1", 1.0, 0.15
        return result


def _without_stamps(value: Any) -> Any:
    """The manifest with what differs from run to run (times) blanked, keys kept in their order."""
    stamps = {"created", "updated", "started_at", "finished_at", "recorded_at", "stitched_at", "render_s"}
    if isinstance(value, dict):
        return {key: None if key in stamps else _without_stamps(item) for key, item in value.items()}
    return value


def test_the_manifest_keeps_the_keys_values_and_order_it_always_had(tmp_path: Path) -> None:
    # tests/data/manifest-fallback.json was written by this same render before the manifest had a model.
    tiny = tmp_path / "tiny.toml"
    tiny.write_text(
        'description = "tiny"\nwidth = 160\nheight = 96\nfps = 12\nshots = 4\nseconds = 1.0\n'
        '[video]\nbackend = "preview"\njobs = 1\n'
    )
    recipe = tmp_path / "with-fallback.toml"
    recipe.write_text(tiny.read_text().replace("shots = 4", f'shots = 4\nfallback = "{tiny}"'))
    story = tmp_path / "story.md"
    story.write_text(
        "---\ntitle: The Small Test\ncharacters:\n  - name: Ada\n    description: a tall woman in a green coat\n---\n\n"
        "Ada walked to the harbour at dawn. The boats were still asleep.\n\n"
        "Ada found a bottle with a letter inside. She read it twice.\n\n"
        'The letter said: "Meet me at the lighthouse." Ada smiled.\n\nShe ran all the way.\n'
    )
    backend = JournalNotesRefusalFailure(load_recipe(str(recipe)))
    report, _ = run(story, recipe, tmp_path / "out", backend=backend)
    assert [s.status for s in report.shots] == ["done", "done", "done", "failed"]
    written = json.loads((report.run_dir / "manifest.json").read_text())
    # One key came later: the refused shot's own cache key, which sends later runs straight to the fallback.
    refused_hash = written["shots"]["2"]["fallback"].pop("refused_hash")
    assert refused_hash == written["shots"]["2"]["job"]["params_hash"]
    before = json.loads((Path(__file__).parents[1] / "data" / "manifest-fallback.json").read_text())
    # The one key added since: each finished shot and reference records its file's size and SHA-256.
    finished = [written["refs"]["ada"], *(written["shots"][key] for key in ("1", "2", "3"))]
    assert all(len(entry.pop("file")["sha256"]) == 64 for entry in finished)
    assert "file" not in written["shots"]["4"]
    # And since takes: each finished shot's clip is its take 1, current, in shots/takes/.
    for key in ("1", "2", "3"):
        shot = written["shots"][key]
        assert shot.pop("take") == 1
        [take] = shot.pop("takes")
        assert take["path"] == f"shots/takes/shot-0{key}-take-1.mp4" and take["params_hash"] == shot["params_hash"]
        assert (report.run_dir / take["path"]).samefile(report.run_dir / shot["path"])
    assert "takes" not in written["shots"]["4"]
    # And since the run found its own recipe again: the recipe's file, when it is the user's own.
    assert written["run"].pop("recipe_file") == str(recipe.resolve())
    assert json.dumps(_without_stamps(written)) == json.dumps(_without_stamps(before))
