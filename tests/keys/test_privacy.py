"""Private mode: the backend guard, private-network planner addresses, owner-only run folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from providers import register

from tale_cli.backends.base import VideoBackend
from tale_cli.config import Recipe
from tale_cli.errors import ExitCode, OutputError, PrivacyError
from tale_cli.keys.privacy import check_private, private_files, secure_run_folder
from tale_cli.registry import Role, is_private_address


def recipe(**roles) -> Recipe:
    return Recipe.model_validate({"private": True, **roles})


def test_local_recipe_passes():
    check_private(recipe())


@pytest.fixture(autouse=True)
def _no_planner_address(monkeypatch):
    monkeypatch.delenv("TALE_PLANNER_BASE_URL", raising=False)


@pytest.mark.parametrize(
    ("roles", "named"),
    [
        ({"video": {"backend": "veo"}}, "video backend 'veo'"),
        ({"image": {"backend": "openai"}}, "image backend 'openai'"),
        ({"planner": {"backend": "gemini"}}, "planner backend 'gemini'"),
        ({"planner": {"backend": "openai-compatible", "base_url": "https://api.example.com/v1"}}, "planner"),
        ({"planner": {"backend": "openai-compatible"}}, "no base_url"),
    ],
)
def test_cloud_roles_are_refused_by_name(roles, named):
    with pytest.raises(PrivacyError) as caught:
        check_private(recipe(**roles))
    assert named in caught.value.message
    assert caught.value.exit_code == ExitCode.PRIVACY


def test_every_offending_role_is_counted():
    with pytest.raises(PrivacyError) as caught:
        check_private(recipe(video={"backend": "runway"}, image={"backend": "gemini"}))
    assert "(and 1 more)" in caught.value.message


def test_flag_makes_a_public_recipe_private():
    public = Recipe.model_validate({"video": {"backend": "veo"}})
    check_private(public)
    with pytest.raises(PrivacyError):
        check_private(public, private=True)


@pytest.mark.parametrize(
    ("url", "private"),
    [
        ("http://127.0.0.1:8000/v1", True),
        ("http://localhost:11434/v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://10.0.3.7:8000/v1", True),
        ("http://192.168.1.20/v1", True),
        ("http://172.20.0.5:8000", True),
        ("http://[fd00::5]:8000", True),
        ("http://[::ffff:10.1.2.3]:80", True),
        ("10.0.0.2:8000", True),
        ("https://api.openai.com/v1", False),
        ("http://8.8.8.8/v1", False),
        ("http://vllm.internal:8000/v1", False),
        ("http://127.0.0.1.nip.io/v1", False),
        ("", False),
        (None, False),
    ],
)
def test_private_addresses(url, private):
    assert is_private_address(url) is private


def test_openai_compatible_planner_on_the_private_network_is_allowed():
    check_private(recipe(planner={"backend": "openai-compatible", "base_url": "http://10.0.0.2:8000/v1"}))


def test_openai_compatible_planner_address_from_the_environment(monkeypatch):
    monkeypatch.setenv("TALE_PLANNER_BASE_URL", "http://127.0.0.1:11434/v1")
    check_private(recipe(planner={"backend": "openai-compatible"}))
    monkeypatch.setenv("TALE_PLANNER_BASE_URL", "https://llm.example.com/v1")
    with pytest.raises(PrivacyError) as caught:
        check_private(recipe(planner={"backend": "openai-compatible"}))
    assert "https://llm.example.com/v1" in caught.value.message


def test_secure_run_folder_tightens_what_is_there(tmp_path):
    run_dir = tmp_path / "film"
    (run_dir / "shots").mkdir(parents=True)
    (run_dir / "plan.json").write_text("{}")
    (run_dir / "plan.json").chmod(0o644)
    (run_dir / "shots").chmod(0o755)
    secure_run_folder(run_dir)
    assert run_dir.stat().st_mode & 0o777 == 0o700
    assert (run_dir / "shots").stat().st_mode & 0o777 == 0o700
    assert (run_dir / "plan.json").stat().st_mode & 0o777 == 0o600


def test_secure_run_folder_refuses_a_symlink(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    target.chmod(0o755)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(OutputError):
        secure_run_folder(link)
    assert target.stat().st_mode & 0o777 == 0o755


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_private_files_umask(tmp_path):
    before = current_umask()
    with private_files():
        (tmp_path / "made.txt").write_text("x")
        (tmp_path / "made").mkdir()
    assert (tmp_path / "made.txt").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "made").stat().st_mode & 0o777 == 0o700
    assert current_umask() == before


# ---------------------------------------------------------------- proof: a private run opens no outside connection

TINY_RECIPE = """
width = 128
height = 72
fps = 8
shots = 2
seconds = 1.0
{private}
[planner]
backend = "offline"
[image]
backend = "preview"
[video]
backend = "{video}"
"""

STORY = """---
title: Quiet Harbour
characters:
  - name: Mira
    description: a lighthouse keeper
---

Mira climbs the stairs at dusk and lights the lamp. A boat turns away from the rocks.
"""

DOCUMENTATION_ADDRESS = ("203.0.113.7", 443)


class CloudVideo(VideoBackend):
    """Stands in for a cloud backend: it opens an HTTPS connection the way an SDK would."""

    name = "test-cloud"

    def __init__(self, recipe):
        self.recipe = recipe

    def capabilities(self):
        from tale_cli.backends.base import VideoCapabilities

        return VideoCapabilities()

    def fingerprint(self):
        return {"model": "cloud-1"}

    def render_shot(self, request):
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(DOCUMENTATION_ADDRESS)
        raise AssertionError("the connection guard let an outside connection through")

    def close(self):
        return None


def _render(tmp_path, monkeypatch, *, video: str, private_recipe: bool, flag: bool):
    from typer.testing import CliRunner

    from tale_cli.cli.app import app

    register(monkeypatch, "test-cloud", Role.VIDEO, CloudVideo)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "story.md").write_text(STORY, encoding="utf-8")
    recipe = TINY_RECIPE.format(private="private = true" if private_recipe else "", video=video)
    (tmp_path / "recipe.toml").write_text(recipe, encoding="utf-8")
    args = ["render", "story.md", "-o", "out", "-r", "recipe.toml", *(["--private"] if flag else [])]
    return CliRunner().invoke(app, args)


@pytest.mark.parametrize(("private_recipe", "flag"), [(True, False), (False, True)])
def test_private_render_opens_no_outside_connection(tmp_path, monkeypatch, outbound_attempts, private_recipe, flag):
    result = _render(tmp_path, monkeypatch, video="preview", private_recipe=private_recipe, flag=flag)
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "out" / "quiet-harbour"
    assert (run_dir / "film.mp4").is_file()
    assert outbound_attempts == []
    audit = [json.loads(line) for line in (run_dir / "audit.jsonl").read_text().splitlines()]
    assert [(entry["role"], entry["backend"], entry["outcome"]) for entry in audit] == [
        ("planner", "offline", "ok"),
        ("image", "preview", "ok"),
        ("video", "preview", "ok"),
        ("video", "preview", "ok"),
    ]
    assert run_dir.stat().st_mode & 0o777 == 0o700
    modes = {path.relative_to(run_dir): path.stat().st_mode & 0o777 for path in run_dir.rglob("*")}
    assert modes[Path("film.mp4")] == 0o600
    assert modes[Path("audit.jsonl")] == 0o600
    assert {mode for path, mode in modes.items() if (run_dir / path).is_file()} == {0o600}
    assert {mode for path, mode in modes.items() if (run_dir / path).is_dir()} == {0o700}


def test_the_connection_guard_bites_on_a_cloud_recipe(tmp_path, monkeypatch, outbound_attempts):
    result = _render(tmp_path, monkeypatch, video="test-cloud", private_recipe=False, flag=False)
    assert result.exit_code == ExitCode.SHOTS_FAILED, result.output
    assert "blocked: this test allows loopback only" in result.output
    assert DOCUMENTATION_ADDRESS in outbound_attempts


@pytest.mark.parametrize(("private_recipe", "flag"), [(True, False), (False, True)])
def test_private_cloud_recipe_is_refused_before_anything_happens(
    tmp_path, monkeypatch, outbound_attempts, private_recipe, flag
):
    result = _render(tmp_path, monkeypatch, video="test-cloud", private_recipe=private_recipe, flag=flag)
    assert result.exit_code == ExitCode.PRIVACY, result.output
    assert "video backend 'test-cloud'" in result.output
    assert outbound_attempts == []
    assert not (tmp_path / "out").exists()


def test_private_plan_refuses_a_cloud_planner(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tale_cli.cli.app import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "story.md").write_text(STORY, encoding="utf-8")
    result = CliRunner().invoke(app, ["plan", "story.md", "-o", "out", "--private", "--planner", "gemini"])
    assert result.exit_code == ExitCode.PRIVACY
    assert "planner backend 'gemini'" in result.output
    assert not (tmp_path / "out").exists()


def test_every_shipped_cloud_recipe_is_refused_when_private(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tale_cli.cli.app import app
    from tale_cli.config import load_recipe, recipe_names
    from tale_cli.keys.privacy import private_problems

    monkeypatch.chdir(tmp_path)
    (tmp_path / "story.md").write_text(STORY, encoding="utf-8")
    names = recipe_names()
    assert "preview" in names
    assert not private_problems(load_recipe("preview"))
    cloud = {"veo-3.1-fast", "veo-3.1", "veo-3.1-lite", "gemini-omni", "runway-gen4-turbo", "runway-gen4.5"}
    for name in cloud & set(names):
        assert private_problems(load_recipe(name)), name
    for name in names:
        recipe = load_recipe(name)
        result = CliRunner().invoke(app, ["render", "story.md", "-r", name, "--private", "--dry-run"])
        if private_problems(recipe):
            assert result.exit_code == ExitCode.PRIVACY, (name, result.output)
        elif recipe.planner.backend == "openai-compatible":
            # Allowed (its server is on 127.0.0.1), and no such server runs here: the planner says so.
            assert result.exit_code == ExitCode.BACKEND, (name, result.output)
            assert "cannot reach openai-compatible planner" in result.output, (name, result.output)
        elif result.exit_code == ExitCode.MISSING_DEPENDENCY:
            # A local recipe whose planner model is not downloaded cannot plan, even for a dry run.
            assert "tale models pull" in result.output, (name, result.output)
        else:
            assert result.exit_code == 0, (name, result.output)
