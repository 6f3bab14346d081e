"""The Ray executor's decisions that need no running cluster (tests/test_batch.py runs it on Ray)."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import socket
from pathlib import Path
from typing import Any

import pytest
from providers import register

from tale_cli.backends.base import VideoCapabilities
from tale_cli.backends.local.preview import PreviewVideo
from tale_cli.config import Recipe
from tale_cli.errors import BackendError, RecipeError
from tale_cli.executors import parse_devices
from tale_cli.executors.on_ray import (
    RaySession,
    SharedJournal,
    check_reachable,
    journal_path,
    plan_workers,
    portable_request,
    ray_workers,
)
from tale_cli.pipeline import JobJournal, build_tasks
from tale_cli.registry import Role
from tale_cli.run.folder import Manifest, RunFolder
from tale_cli.story.plan import Plan


class ModelBackend(PreviewVideo):
    def capabilities(self) -> VideoCapabilities:
        return dataclasses.replace(super().capabilities(), loads_model=True)


class ApiBackend(PreviewVideo):
    name = "api"

    def capabilities(self) -> VideoCapabilities:
        return VideoCapabilities(default_jobs=4)


def test_devices_on_ray() -> None:
    assert ray_workers(parse_devices("all"), available_gpus=4) == (4, 0)
    assert ray_workers(parse_devices("0,1"), available_gpus=2) == (2, 0)
    assert ray_workers(parse_devices("cpu,cpu"), available_gpus=0) == (0, 2)
    assert ray_workers(parse_devices("0, cpu"), available_gpus=1) == (1, 1)
    for spec, message in (("all", "the Ray cluster has no GPU"), ("0,1,2", "has 2 GPUs")):
        with pytest.raises(RecipeError, match=message):
            ray_workers(parse_devices(spec), available_gpus=0 if spec == "all" else 2)


def test_worker_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "api", Role.VIDEO, ApiBackend)
    recipe = Recipe()
    preview = plan_workers(PreviewVideo(recipe), recipe, devices=None, jobs=None, available_gpus=8)
    assert (preview.gpus, preview.cpus, preview.cpus_per_actor) == (0, 2, 1.0)  # the backend's default, no GPU
    assert plan_workers(PreviewVideo(recipe), recipe, devices=None, jobs=5, available_gpus=0).cpus == 5
    api = plan_workers(ApiBackend(recipe), recipe, devices=None, jobs=None, available_gpus=0)
    assert (api.gpus, api.cpus, api.cpus_per_actor) == (0, 4, 0.0)
    model = plan_workers(ModelBackend(recipe), recipe, devices=None, jobs=None, available_gpus=3)
    assert (model.gpus, model.cpus) == (3, 0)  # one worker per GPU in the cluster
    assert plan_workers(ModelBackend(recipe), recipe, devices=None, jobs=2, available_gpus=3).gpus == 2
    assert (
        plan_workers(ModelBackend(recipe), recipe, devices=parse_devices("cpu"), jobs=None, available_gpus=0).total == 1
    )
    with pytest.raises(RecipeError, match="needs a GPU"):
        plan_workers(ModelBackend(recipe), recipe, devices=None, jobs=None, available_gpus=0)


def _request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, private: bool = False) -> tuple[Any, Manifest]:
    from tale_cli.planners import plan_story
    from tale_cli.story.reader import read_story

    story = tmp_path / "s.md"
    story.write_text("---\ntitle: Journal\n---\n\nA fox ran. It slept.\n")
    recipe = Recipe(width=160, height=96, fps=12, shots=2, seconds=1.0)
    plan: Plan = plan_story(read_story(story), recipe, planner_name="offline")
    monkeypatch.chdir(tmp_path)
    folder = RunFolder(Path("out") / "journal", private=private)  # relative, as `--out out` gives
    folder.create()
    manifest = Manifest.load(folder)
    tasks = build_tasks(plan, recipe, folder, manifest, PreviewVideo(recipe), {})
    return tasks[0].request, manifest


def test_portable_request_pickles_with_absolute_paths_and_a_shared_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request, manifest = _request(tmp_path, monkeypatch)
    assert isinstance(request.journal, JobJournal) and not request.output.is_absolute()
    request.journal.record_job({"id": "job-known"})
    portable = pickle.loads(pickle.dumps(portable_request(request)))
    assert portable.output.is_absolute() and portable.output.resolve() == request.output.resolve()
    journal = portable.journal
    assert isinstance(journal, SharedJournal)
    assert journal.path == journal_path(portable.output) and journal.path.name.endswith(".job.json")
    assert journal.existing_job() is not None and journal.existing_job()["id"] == "job-known"  # type: ignore[index]

    journal.record_job({"id": "job-new"})  # as a worker on another node would, before polling
    assert json.loads(journal.path.read_text())["id"] == "job-new"
    retried = portable_request(request)  # a retry elsewhere finds the job on the shared volume
    assert retried.journal.existing_job()["id"] == "job-new"  # type: ignore[index]
    assert journal.recorded == [{"id": "job-new"}]
    assert (manifest.shot(1).job or {}).get("id") == "job-known"


def test_an_address_nobody_answers_fails_fast() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with pytest.raises(BackendError, match="no Ray head answers"):
        check_reachable(f"127.0.0.1:{free_port}", timeout=2)
    with pytest.raises(BackendError, match="not an address"):
        check_reachable("nonsense")
    check_reachable("auto")
    ray = pytest.importorskip("ray")
    if ray.is_initialized():  # a session already open is used as it is, whatever the address
        return
    with pytest.raises(BackendError, match="no Ray head answers"), RaySession(f"127.0.0.1:{free_port}"):
        pass


def test_auto_sends_this_machines_token_to_a_head_on_this_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ray = pytest.importorskip("ray")
    # `ray start --head` with RAY_AUTH_MODE unset guards the cluster with ~/.ray/auth_token (here a fake one).
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text("0123456789abcdef" * 4)
    monkeypatch.setenv("HOME", str(home))
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)  # restored after the test, whatever connecting set
    refreshed: list[str] = []
    monkeypatch.setattr(ray._raylet, "Config", type("Config", (), {"initialize": staticmethod(refreshed.append)}))
    modes: list[str | None] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **_: modes.append(os.environ.get("RAY_AUTH_MODE")))
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    with socket.socket() as head:
        head.bind(("127.0.0.1", 0))
        head.listen()
        monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{head.getsockname()[1]}")  # as `ray start` suggests
        with RaySession("auto"):
            pass
    assert modes == ["token"] and refreshed == [""]


def test_this_machines_token_stays_here_and_an_explicit_mode_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tale_cli.executors.on_ray import is_this_machine, use_this_machines_token

    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("0123456789abcdef" * 4)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAY_AUTH_MODE", "")
    monkeypatch.delenv("RAY_AUTH_MODE")
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    assert is_this_machine("auto") and is_this_machine("127.0.0.1:6379") and is_this_machine("localhost:6379")
    assert not is_this_machine("203.0.113.7:6379")  # a documentation address: never this machine's
    use_this_machines_token("203.0.113.7:6379")
    assert "RAY_AUTH_MODE" not in os.environ
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    use_this_machines_token("127.0.0.1:6379")
    assert os.environ["RAY_AUTH_MODE"] == "disabled"


class ModeOfPart(PreviewVideo):
    """The preview backend, noting the mode its *.part file was created with."""

    def render_shot(self, request: Any) -> Any:
        result = super().render_shot(request)
        result.notes["mode"] = request.output.stat().st_mode & 0o777
        return result


@pytest.mark.parametrize("private", [True, False])
def test_a_ray_worker_writes_a_private_runs_shot_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private: bool
) -> None:
    from tale_cli.executors.on_ray import ShotWorker

    request, _ = _request(tmp_path, monkeypatch, private=private)
    worker = ShotWorker(Recipe(width=160, height=96, fps=12, shots=2, seconds=1.0), ModeOfPart)
    monkeypatch.setattr(ShotWorker, "where", lambda self: {"pid": os.getpid()})
    umask = os.umask(0o022)  # the umask a worker inherits from Ray, whatever the driver had
    try:
        kind, result, _ = worker.render(portable_request(request))
    finally:
        os.umask(umask)
    assert kind == "done", result
    assert result.notes["mode"] == (0o600 if private else 0o644)
