from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tale_cli.backends.base import RenderResult, ShotRequest, VideoCapabilities
from tale_cli.backends.local.preview import PreviewVideo
from tale_cli.cli.app import app
from tale_cli.config import load_recipe
from tale_cli.errors import BackendError, InputError, KeysError
from tale_cli.executors import ThreadExecutor
from tale_cli.pipeline.batch import BatchOptions, find_stories, run_batch

RECIPE = """
width = 160
height = 96
fps = 12
shots = 3
seconds = 1.0

[video]
backend = "preview"
jobs = 2

[video.options]
counter = "{counter}"
fail_title = "Refused Film"
hold = "{hold}"
"""


class CountingPreview(PreviewVideo):
    """The preview backend that appends `title:shot:pid` to a file after each COMPLETED render.

    The title in `fail_title` is refused; the shot named by `hold` (`title:index`) waits, on its first
    attempt only, long enough to be killed mid-shot. A job is recorded for every shot, as a paid
    backend would before polling.
    """

    def __init__(self, recipe: Any) -> None:
        super().__init__(recipe)
        self.options = dict(recipe.video.options)

    def render_shot(self, request: ShotRequest) -> RenderResult:
        title, index = request.plan.title, request.shot.index
        if title == self.options.get("fail_title"):
            raise BackendError(f"this backend refuses {title}")
        request.journal.record_job({"id": f"job-{title}-{index}"})
        marker = Path(self.options["counter"]).with_name("held.pid")
        if self.options.get("hold") == f"{title}:{index}" and not marker.exists():
            marker.write_text(str(os.getpid()))
            time.sleep(120)
        result = super().render_shot(request)
        with open(self.options["counter"], "a", encoding="utf-8") as handle:
            handle.write(f"{title}:{index}:{os.getpid()}\n")
        return result


class ModelPreview(CountingPreview):
    """Looks like a local model backend (it loads a model), so Ray gives each worker a GPU."""

    def capabilities(self) -> VideoCapabilities:
        return dataclasses.replace(super().capabilities(), loads_model=True)

    def load(self) -> None:
        self.loaded = True


def write_story(folder: Path, name: str, title: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(f"---\ntitle: {title}\n---\n\nA fox ran to {title}. It jumped over a wall. It slept.\n")
    return path


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Any]:
    counter = tmp_path / "renders.txt"
    counter.touch()
    recipe_path = tmp_path / "tiny.toml"
    recipe_path.write_text(RECIPE.format(counter=counter, hold=""))
    stories = tmp_path / "stories"
    for name in ("north", "south", "east"):
        write_story(stories, name, f"The {name.title()} Film")
    return {"tmp": tmp_path, "counter": counter, "recipe": recipe_path, "stories": stories}


def renders(counter: Path) -> Counter[str]:
    lines = [line.rsplit(":", 1)[0] for line in counter.read_text().splitlines() if line]
    return Counter(lines)


def expected_shots(*titles: str) -> Counter[str]:
    return Counter(f"{title}:{index}" for title in titles for index in (1, 2, 3))


def manifest(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "manifest.json").read_text())
    return data


# ----------------------------------------------------------------------------------------------
# Without Ray


def test_find_stories_reads_folders_and_files_once(tmp_path: Path) -> None:
    folder = tmp_path / "stories"
    a = write_story(folder, "a", "A")
    write_story(folder, "b", "B")
    (folder / "notes.json").write_text("{}")
    (folder / "sub").mkdir()
    write_story(folder / "sub", "c", "C")
    found = find_stories([folder, a])
    assert [p.name for p in found] == ["a.md", "b.md"]
    with pytest.raises(InputError, match="not found"):
        find_stories([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no stories"):
        find_stories([tmp_path / "empty"])


def test_failed_films_do_not_stop_the_others_and_a_rerun_renders_nothing(setup: dict[str, Any]) -> None:
    stories = setup["stories"]
    write_story(stories, "refused", "Refused Film")
    (stories / "empty.md").write_text("---\ntitle: Empty\n---\n")
    recipe = load_recipe(str(setup["recipe"]))
    out = setup["tmp"] / "out"

    def batch() -> Any:
        executor = ThreadExecutor(recipe, jobs=2, backend=CountingPreview(recipe))
        try:
            return run_batch(find_stories([stories]), BatchOptions(recipe=recipe, out_root=out, executor=executor))
        finally:
            executor.close()

    report = batch()
    by_title = {film.title: film for film in report.films}
    assert [f.status for f in report.films].count("done") == 3
    assert by_title["empty.md"].status == "failed" and "no story text" in (by_title["empty.md"].error or "")
    refused = by_title["Refused Film"]
    assert refused.status == "failed" and refused.failed == 3 and "refuses" in (refused.error or "")
    good = ("The North Film", "The South Film", "The East Film")
    assert renders(setup["counter"]) == expected_shots(*good)
    for title in good:
        film = by_title[title]
        assert film.rendered == 3 and film.cached == 0 and film.film is not None and film.film.is_file()
        shots = manifest(film.run_dir)["shots"]  # type: ignore[arg-type]
        assert shots["2"]["job"]["id"] == f"job-{title}-2"

    again = batch()
    assert renders(setup["counter"]) == expected_shots(*good)  # nothing rendered twice
    assert sum(f.cached for f in again.films) == 9 and sum(f.rendered for f in again.films) == 0
    assert len(again.failed) == 2


class RejectedKey(PreviewVideo):
    def render_shot(self, request: ShotRequest) -> RenderResult:
        raise KeysError("the provider rejected the key")


def test_a_rejected_key_stops_the_batch_from_starting_more_films(setup: dict[str, Any]) -> None:
    recipe = load_recipe(str(setup["recipe"]))
    executor = ThreadExecutor(recipe, jobs=1, backend=RejectedKey(recipe))
    try:
        options = BatchOptions(recipe=recipe, out_root=setup["tmp"] / "out", executor=executor, films_at_once=1)
        report = run_batch(find_stories([setup["stories"]]), options)
    finally:
        executor.close()
    assert report.exit_code == 10 and len(report.failed) == 3
    first, *rest = report.films
    assert "rejected the key" in (first.error or "") and first.shots == 0
    assert all("not started" in (film.error or "") and film.exit_code == 10 for film in rest)
    assert not (setup["tmp"] / "out" / "the-south-film").exists()  # never planned, nothing written


SLOWER = """
width = 320
height = 192
fps = 12
shots = 8
seconds = 3.0

[video]
backend = "preview"
jobs = 2
"""


def _done_shots(out: Path) -> int:
    done = 0
    for path in out.glob("*/manifest.json"):
        try:
            done += sum(1 for shot in json.loads(path.read_text())["shots"].values() if shot.get("status") == "done")
        except (OSError, ValueError, KeyError):
            continue
    return done


def _running_with(text: str) -> list[int]:
    """Live processes (not zombies) whose command line mentions `text`."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            mentions = text in (proc / "cmdline").read_bytes().decode("utf-8", "replace")
            if mentions and (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                found.append(int(proc.name))
        except (OSError, IndexError):
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads processes from /proc")
def test_one_ctrl_c_stops_a_batch_in_seconds_and_the_rerun_finishes_it(tmp_path: Path) -> None:
    """SIGINT to the batch's process group while films render: exit 130 within seconds, no ffmpeg left behind,
    and the same command then finishes every film, reusing the shots done before the stop."""
    stories = tmp_path / "stories"
    for name in ("north", "south", "east"):
        write_story(stories, name, f"The {name.title()} Film")
    recipe = tmp_path / "slower.toml"
    recipe.write_text(SLOWER)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "tale_cli", "batch", str(stories), "--recipe", str(recipe), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None and _done_shots(out) < 1:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGINT)
    signalled = time.monotonic()
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        pytest.fail(f"one Ctrl-C did not stop the batch in 30 s: {stderr.decode()[-2000:]}")
    stopped_s = time.monotonic() - signalled
    text = stderr.decode()

    assert process.returncode == 130, text
    assert stopped_s < 5, f"the batch took {stopped_s:.1f} s to stop"
    assert "interrupted" in text and "Traceback" not in text and "RuntimeError" not in text
    assert _running_with(str(out)) == []  # no ffmpeg goes on writing into the run folders
    done_before = _done_shots(out)
    assert 1 <= done_before < 24

    again = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    counts = json.loads(again.stdout)["counts"]
    assert counts["done"] == 3 and counts["shots_cached"] >= done_before
    assert counts["shots_cached"] + counts["shots_rendered"] == 24


def test_stories_with_the_same_title_get_their_own_folders(setup: dict[str, Any]) -> None:
    twin_dir = setup["tmp"] / "more"
    twin = write_story(twin_dir, "north", "The North Film")
    recipe = load_recipe(str(setup["recipe"]))
    sources = [setup["stories"] / "north.md", twin]
    report = run_batch(sources, BatchOptions(recipe=recipe, out_root=setup["tmp"] / "out", jobs=2))
    folders = {film.run_dir for film in report.films}
    assert len(folders) == 2 and all(f is not None and f.name.startswith("the-north-film-") for f in folders)
    assert all(film.status == "done" for film in report.films)


def test_cli_batch_summary_and_exit_codes(setup: dict[str, Any]) -> None:
    runner = CliRunner()
    out = setup["tmp"] / "out"
    args = ["batch", str(setup["stories"] / "north.md"), "--recipe", str(setup["recipe"]), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "The North Film" in result.output and "1 of 1 films done" in result.output
    assert (out / "the-north-film" / "film.mp4").is_file()

    (setup["stories"] / "empty.md").write_text("---\ntitle: Empty\n---\n")
    result = runner.invoke(app, [*args[:1], str(setup["stories"]), *args[2:], "--json"])
    assert result.exit_code == 8
    data = json.loads(result.stdout)
    assert data["counts"]["films"] == 4 and data["counts"]["failed"] == 1 and data["counts"]["shots_cached"] == 3
    assert {f["title"]: f["status"] for f in data["films"]}["empty.md"] == "failed"
    assert "1 of 4 films failed" in result.stderr


def test_devices_without_ray_runs_one_worker_process_per_device(setup: dict[str, Any]) -> None:
    from tale_cli.executors import open_executor

    recipe = load_recipe(str(setup["recipe"])).model_copy(deep=True)
    recipe.video.options = {}
    with open_executor(recipe, devices="cpu,cpu") as executor:
        assert type(executor).__name__ == "ProcessExecutor" and executor.workers == 2
        stories = [setup["stories"] / "north.md", setup["stories"] / "south.md"]
        report = run_batch(stories, BatchOptions(recipe=recipe, out_root=setup["tmp"] / "out", executor=executor))
    assert report.executor == "ProcessExecutor"
    assert [film.status for film in report.films] == ["done", "done"]
    assert all(film.run_dir is not None and (film.run_dir / "film.mp4").is_file() for film in report.films)


def test_cli_batch_without_the_ray_extra(setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    args = ["batch", str(setup["stories"]), "--recipe", str(setup["recipe"]), "--ray", "local"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 12
    assert "pip install 'tale-cli[ray]'" in result.stderr


# ----------------------------------------------------------------------------------------------
# On Ray: one session for the module (starting Ray takes seconds), two fake GPUs


@pytest.fixture(scope="module")
def ray_session(_fake_provider_server: Any) -> Any:
    import fakes

    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Workers read keys and base URLs from their own environment: the fake providers' (fake keys, 127.0.0.1).
    worker_env = {
        **fakes.environment(fakes.reset(_fake_provider_server)),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }
    ray.init(
        num_cpus=2,
        num_gpus=2,
        include_dashboard=False,
        logging_level="error",
        log_to_driver=False,
        runtime_env={"env_vars": worker_env},
    )
    # The test backends live in this module, which the workers cannot import: send them by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_gpu_workers_render_every_shot_once_and_keep_going(ray_session: Any, setup: dict[str, Any]) -> None:
    from tale_cli.executors.on_ray import RayExecutor

    stories = setup["stories"]
    write_story(stories, "refused", "Refused Film")
    (stories / "empty.md").write_text("---\ntitle: Empty\n---\n")
    recipe = load_recipe(str(setup["recipe"]))
    out = setup["tmp"] / "out"

    executor = RayExecutor(recipe, factory=ModelPreview)
    try:
        assert executor.plan.gpus == 2 and executor.plan.cpus == 0
        places = executor.wait_ready(timeout=120)
        assert sorted(g for place in places for g in place["gpus"]) == [0, 1]  # one GPU each
        options = BatchOptions(recipe=recipe, out_root=out, executor=executor)
        report = run_batch(find_stories([stories]), options)
        again = run_batch(find_stories([stories]), options)
    finally:
        executor.close()
    assert report.executor == "RayExecutor" and report.workers == 2
    good = ("The North Film", "The South Film", "The East Film")
    assert renders(setup["counter"]) == expected_shots(*good)
    by_title = {film.title: film for film in report.films}
    assert by_title["Refused Film"].status == "failed" and by_title["empty.md"].status == "failed"
    for title in good:
        run_dir = by_title[title].run_dir
        assert by_title[title].status == "done" and run_dir is not None
        shots = manifest(run_dir)["shots"]
        assert all(len(s["notes"]["worker"]["gpus"]) == 1 for s in shots.values())
        assert shots["3"]["job"]["id"] == f"job-{title}-3"  # recorded on the worker, kept in the manifest
        assert not list((run_dir / "shots" / "by-hash").glob("*.job.json"))

    assert renders(setup["counter"]) == expected_shots(*good)  # the second run rendered nothing
    assert sum(f.cached for f in again.films) == 9 and sum(f.rendered for f in again.films) == 0


@pytest.mark.slow
def test_ray_worker_killed_mid_shot_still_finishes_every_film(ray_session: Any, tmp_path: Path) -> None:
    from tale_cli.executors.on_ray import RayExecutor

    counter = tmp_path / "renders.txt"
    counter.touch()
    recipe_path = tmp_path / "tiny.toml"
    recipe_path.write_text(RECIPE.format(counter=counter, hold="The West Film:2"))
    recipe = load_recipe(str(recipe_path))
    sources = [write_story(tmp_path / "stories", n, f"The {n.title()} Film") for n in ("west", "dawn")]
    held = tmp_path / "held.pid"
    killed: list[int] = []

    def kill_when_held() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not held.exists():
            time.sleep(0.05)
        if held.exists():
            time.sleep(0.2)
            pid = int(held.read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    killer = threading.Thread(target=kill_when_held)
    killer.start()
    with RayExecutor(recipe, factory=CountingPreview) as executor:
        assert executor.plan.gpus == 0 and executor.plan.cpus == 2
        report = run_batch(sources, BatchOptions(recipe=recipe, out_root=tmp_path / "out", executor=executor))
    killer.join()
    assert len(killed) == 1
    assert [film.status for film in report.films] == ["done", "done"]
    assert renders(counter) == expected_shots("The West Film", "The Dawn Film")
    run_dir = report.films[0].run_dir
    assert run_dir is not None
    shot = manifest(run_dir)["shots"]["2"]
    assert shot["status"] == "done" and shot["notes"]["worker"]["pid"] != killed[0]


@pytest.mark.slow
def test_cli_batch_on_ray(ray_session: Any, setup: dict[str, Any]) -> None:
    out = setup["tmp"] / "out"
    args = ["batch", str(setup["stories"] / "east.md"), "--recipe", str(setup["recipe"]), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--ray", "auto", "--jobs", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["executor"] == "RayExecutor" and data["workers"] == 2
    assert data["films"][0]["status"] == "done" and data["counts"]["shots_rendered"] == 3
    shots = manifest(out / "the-east-film")["shots"]
    assert {s["notes"]["worker"]["node"] for s in shots.values()} and ray_session.is_initialized()


RUNWAY = """
width = 320
height = 180
shots = 3
seconds = 2.0

[video]
backend = "runway"
model = "gen4.5"
jobs = 2
poll_interval_s = 0.02
"""


@pytest.mark.slow
def test_api_backend_on_ray_workers(ray_session: Any, fake_providers: Any, tmp_path: Path) -> None:
    recipe = tmp_path / "runway.toml"
    recipe.write_text(RUNWAY)
    story = write_story(tmp_path / "stories", "north", "The North Film")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["batch", str(story), "--recipe", str(recipe), "--out", str(out), "--ray", "auto", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["executor"] == "RayExecutor" and data["workers"] == 2  # the recipe's jobs: CPU workers
    assert data["films"][0]["status"] == "done" and data["films"][0]["cost_usd"] > 0
    assert fake_providers.creates["runway"] == 3  # one paid job per shot, none twice
    shots = manifest(out / "the-north-film")["shots"]
    assert all(s["job"]["id"] == s["provider_job_id"] and s["notes"]["worker"]["pid"] for s in shots.values())


def test_the_same_story_given_twice_is_rendered_once(setup: dict[str, Any]) -> None:
    recipe = load_recipe(str(setup["recipe"]))
    story = setup["stories"] / "north.md"
    executor = ThreadExecutor(recipe, jobs=2, backend=CountingPreview(recipe))
    try:
        report = run_batch(
            [story, story], BatchOptions(recipe=recipe, out_root=setup["tmp"] / "out", executor=executor)
        )
    finally:
        executor.close()
    assert renders(setup["counter"]) == expected_shots("The North Film")  # each shot once, not twice
    assert [film.status for film in report.films] == ["done", "done"]
    assert sorted((film.rendered, film.cached) for film in report.films) == [(0, 3), (3, 0)]
    assert report.films[0].run_dir == report.films[1].run_dir


def test_cli_batch_uses_the_recipes_devices(setup: dict[str, Any]) -> None:
    recipe = setup["tmp"] / "workers.toml"
    recipe.write_text(
        'width = 160\nheight = 96\nfps = 12\nshots = 3\nseconds = 1.0\n[video]\nbackend = "preview"\ndevices = "cpu,cpu"\n'
    )
    stories = [str(setup["stories"] / "north.md"), str(setup["stories"] / "south.md")]
    result = CliRunner().invoke(
        app, ["batch", *stories, "--recipe", str(recipe), "--out", str(setup["tmp"] / "o"), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["executor"] == "ProcessExecutor" and data["workers"] == 2
    assert data["counts"]["films"] == 2 and data["counts"]["failed"] == 0
