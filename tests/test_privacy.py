"""Private mode: the backend guard, private-network planner addresses, owner-only run folders."""

from __future__ import annotations

import os

import pytest

from tale_cli.config import Recipe
from tale_cli.errors import ExitCode, OutputError, PrivacyError
from tale_cli.privacy import check_private, is_private_address, private_files, secure_run_folder


def recipe(**roles) -> Recipe:
    return Recipe.model_validate({"private": True, **roles})


def test_local_recipe_passes():
    check_private(recipe())


@pytest.mark.parametrize(
    ("roles", "named"),
    [
        ({"video": {"backend": "google"}}, "video backend 'google'"),
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
        check_private(recipe(video={"backend": "runway"}, image={"backend": "google"}))
    assert "(and 1 more)" in caught.value.message


def test_flag_makes_a_public_recipe_private():
    public = Recipe.model_validate({"video": {"backend": "google"}})
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
