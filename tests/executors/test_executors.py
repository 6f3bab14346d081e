"""Choosing where shots run: the one --devices parser, open_executor's default, errors crossing from a worker."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.config import load_recipe
from tale_cli.errors import BackendError, KeysError, RecipeError
from tale_cli.executors import Devices, ThreadExecutor, open_executor, parse_devices
from tale_cli.executors.errors import pack_error, unpack_error


def test_parse_devices() -> None:
    assert parse_devices(" ALL ") == Devices(all=True)
    devices = parse_devices("0, cpu,3,")
    assert devices.workers == (0, None, 3) and devices.gpus == [0, 3] and devices.cpus == 1
    for spec, message in (
        (" , ", "--devices is empty"),
        ("0,gpu1", "--devices: 'gpu1' is not a GPU index"),
        ("1,cpu,1", "--devices names the same GPU twice"),
    ):
        with pytest.raises(RecipeError, match=message):
            parse_devices(spec)


def test_threads_by_default_with_the_jobs_asked_for(tiny_recipe: Path) -> None:
    recipe = load_recipe(str(tiny_recipe))
    with open_executor(recipe) as executor:
        assert isinstance(executor, ThreadExecutor) and executor.workers == 2  # the recipe's jobs
    with open_executor(recipe, jobs=5) as executor:
        assert isinstance(executor, ThreadExecutor) and executor.workers == 5


@pytest.mark.parametrize("command", ["render", "batch"])
def test_every_command_reads_devices_the_same_way(command: str, tiny_recipe: Path, story_file: Path) -> None:
    args = [command, str(story_file), "--recipe", str(tiny_recipe), "--out", str(story_file.parent / "out")]
    result = CliRunner().invoke(app, [*args, "--devices", "0,gpu1"])
    assert result.exit_code == 5
    assert "--devices: 'gpu1' is not a GPU index" in result.stderr
    assert not (story_file.parent / "out").exists()


def test_a_workers_error_reaches_the_driver_as_the_same_error() -> None:
    packed = pickle.loads(pickle.dumps(pack_error(KeysError("the key was rejected", hint="check it"))))
    error = unpack_error(packed, "GPU 0")
    assert type(error) is KeysError and error.message == "the key was rejected" and error.hint == "check it"
    other = unpack_error(pack_error(ValueError("bad frame")), "CPU worker")
    assert type(other) is BackendError and other.message == "ValueError on CPU worker: bad frame"
