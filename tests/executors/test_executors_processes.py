"""One worker process per device: each worker's device from --devices, and two CPU workers rendering real shots."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tale_cli.backends.base import ShotRequest
from tale_cli.errors import BackendError, RecipeError
from tale_cli.executors import parse_devices
from tale_cli.executors.processes import NullJournal, ProcessExecutor, worker_devices
from tale_cli.media.ffmpeg import check_clip, probe
from tale_cli.story.plan import Plan, Shot


def test_worker_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    def devices(spec: str, count: int | None = None) -> list[str]:
        return worker_devices(parse_devices(spec), count=count)

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert devices("0,1") == ["0", "1"]
    assert devices("cpu, cpu") == ["", ""]
    assert devices("all", count=3) == ["0", "1", "2"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    assert devices("all", count=2) == ["4", "6"]
    assert devices("1") == ["6"]
    assert devices("cpu,0") == ["", "4"]
    with pytest.raises(RecipeError, match="no CUDA GPU found"):
        devices("all", count=0)
    with pytest.raises(RecipeError, match="same GPU twice"):  # index 1 is the visible GPU 6
        devices("1,6")


def _request(tmp_path: Path, number: int, *, first_frame: Path | None = None) -> ShotRequest:
    shot = Shot(index=number, duration_s=1.0, prompt=f"shot {number}: a fox on the sea")
    plan = Plan(
        title="Tiny", slug="tiny", width=96, height=64, fps=8, shots=[Shot(index=1, duration_s=1.0, prompt="x")]
    )
    return ShotRequest(
        plan=plan,
        shot=shot,
        prompt=shot.prompt,
        negative_prompt="",
        width=96,
        height=64,
        fps=8,
        duration_s=1.0,
        seed=number,
        output=tmp_path / f"shot-{number}.mp4.part",
        journal=object(),  # type: ignore[arg-type]
        first_frame=first_frame,
    )


@pytest.fixture
def one_thread_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def test_two_cpu_workers_share_the_queue(tiny_model, tmp_path: Path, one_thread_workers: None) -> None:
    from tiny_pipelines import local_recipe

    executor = ProcessExecutor(local_recipe(tiny_model("ltx")), ["", ""])
    try:
        assert executor.workers == 2
        assert executor.wait_ready(timeout=180)
        futures = [executor.submit(_request(tmp_path, n)) for n in (1, 2)]
        results = [f.result(timeout=180) for f in futures]
        for number, result in zip((1, 2), results, strict=True):
            check_clip(tmp_path / f"shot-{number}.mp4.part", expected_s=1.0, fps=8)
            assert result.notes["variant"] == "ltx-video" and result.notes["worker"]["device"] == "cpu"
        assert len({r.notes["worker"]["pid"] for r in results}) == 2
        broken = tmp_path / "broken.png"
        broken.write_text("not an image", encoding="utf-8")
        failing = executor.submit(_request(tmp_path, 3, first_frame=broken))
        with pytest.raises(BackendError, match=r"cannot read the first frame broken\.png"):
            failing.result(timeout=180)
    finally:
        executor.close()
    assert all(not p.is_alive() for p in executor._processes)


def test_render_with_devices_and_model_flags(
    tiny_model, tmp_path: Path, story_file: Path, one_thread_workers: None
) -> None:
    from tale_cli.cli.app import app

    recipe = tmp_path / "local.toml"
    recipe.write_text(
        'width = 96\nheight = 64\nfps = 8\nshots = 3\nseconds = 1.0\n[video]\nbackend = "diffusers"\n'
        'model = "example-org/replaced-by-the-flag"\nsteps = 7\n'
        "[video.options]\nnative_width = 32\nnative_height = 32\nnative_frames = 9\nnative_fps = 8\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "render",
            str(story_file),
            "--recipe",
            str(recipe),
            "--out",
            str(out),
            "--model",
            str(tiny_model("ltx")),
            "--steps",
            "2",
            "--devices",
            "cpu,cpu",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    film = out / "the-small-test" / "film.mp4"
    assert abs(probe(film).duration_s - 3.0) < 0.2
    manifest = (out / "the-small-test" / "manifest.json").read_text(encoding="utf-8")
    shots = json.loads(manifest)["shots"]
    assert {shot["model"] for shot in shots.values()} == {str(tiny_model("ltx"))}
    assert {shot["notes"]["steps"] for shot in shots.values()} == {2}
    assert {shot["notes"]["worker"]["device"] for shot in shots.values()} == {"cpu"}


def test_null_journal_records_nothing() -> None:
    journal = NullJournal()
    journal.record_job({"id": "x"})
    assert journal.existing_job() is None


def test_a_private_render_on_worker_processes_writes_owner_only_parts(
    tmp_path: Path, story_file: Path, tiny_recipe: Path
) -> None:
    from tale_cli.config import load_recipe
    from tale_cli.pipeline import RenderOptions, render

    recipe = load_recipe(str(tiny_recipe))
    out = tmp_path / "out"
    cache = out / "the-small-test" / "shots" / "by-hash"
    modes: dict[str, int] = {}
    stop = threading.Event()

    def watch() -> None:
        # Each shot's *.part as it first appears: owner-only from the first byte, not only once renamed.
        while not stop.is_set():
            with contextlib.suppress(OSError):
                for part in cache.glob("*.part"):
                    with contextlib.suppress(OSError):
                        modes.setdefault(part.name, part.stat().st_mode & 0o777)
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    # Started before the render, as `tale render --devices` starts it: the workers keep this process's umask.
    executor = ProcessExecutor(recipe, ["", ""])
    try:
        report = render(story_file, RenderOptions(recipe=recipe, out_root=out, private=True, executor=executor))
    finally:
        executor.close()
        stop.set()
        watcher.join()
    assert report.film is not None and report.rendered == 3
    assert len(modes) == 3 and set(modes.values()) == {0o600}, modes
