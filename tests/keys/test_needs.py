"""A recipe's keys named all at once: every key its roles need and this machine lacks, in one message before
anything runs; `tale recipes list` says what each recipe needs and whether it is ready here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.errors import ExitCode


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    import fakes

    for name in fakes.CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")


def test_every_missing_key_is_named_in_one_message_before_anything_runs(
    no_keys: None, tmp_path: Path, story_file: Path
) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["render", str(story_file), "-r", "veo-3.1-fast", "-o", str(out), "--yes"])
    assert result.exit_code == ExitCode.KEYS, result.output
    said = " ".join(result.output.split())
    assert "'google' (gemini planner, gemini image)" in said and "'vertex' (veo video)" in said
    assert "`tale keys set google`; `tale keys set vertex`" in said and result.output.count("error:") == 1
    assert not out.exists()


def test_recipes_list_says_what_each_recipe_needs_and_whether_it_is_ready(no_keys: None) -> None:
    result = CliRunner().invoke(app, ["recipes", "list", "--json"])
    assert result.exit_code == 0, result.output
    recipes = {recipe["name"]: recipe for recipe in json.loads(result.stdout)}
    assert recipes["preview"]["needs"] == {
        "keys": {},
        "extras": {},
        "missing_keys": [],
        "missing_extras": [],
        "ready": True,
    }
    veo = recipes["veo-3.1-fast"]["needs"]
    assert set(veo["keys"]) == {"google", "vertex"} and not veo["ready"]
    assert sorted(veo["missing_keys"]) == ["google", "vertex"]
