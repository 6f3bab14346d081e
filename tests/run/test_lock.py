"""One writer per run folder: the lock itself, and two real renders of one folder against the fake providers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cloudrender import EXAMPLE_STORY, SMALL_VEO
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.errors import BusyError, ExitCode
from tale_cli.run.folder import RunFolder
from tale_cli.run.lock import lock_path, run_folder_lock

ROOT = Path(__file__).resolve().parents[2]


def tale(*args: str, **kw: Any) -> subprocess.Popen[str]:
    """`tale …` in a process of its own, running this checkout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tale_cli", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def holder_pid(folder: RunFolder, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid = lock_path(folder).read_text().split()[0]
        except (OSError, IndexError):
            pid = ""
        if pid.isdigit():
            return int(pid)
        time.sleep(0.02)
    raise AssertionError("nobody took the lock")


def test_a_second_holder_waits_and_says_for_whom(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "out" / "film")
    heard: list[str] = []
    entered = threading.Event()
    with run_folder_lock(folder, "rendering"):
        busy = rf"pid {os.getpid()} is rendering .*film; nothing was done"
        with pytest.raises(BusyError, match=busy) as refused, run_folder_lock(folder, "planning", wait=False):
            pass
        assert refused.value.exit_code == ExitCode.BUSY == 13

        def second() -> None:
            with run_folder_lock(folder, "stitching", on_wait=heard.append):
                entered.set()

        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.6)
        assert not entered.is_set()
    waiter.join(timeout=10)
    assert entered.is_set()
    assert heard == [f"waiting for pid {os.getpid()}, which is rendering this run folder…"]


def test_folders_made_only_for_the_lock_are_removed_again(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "out" / "film")
    with run_folder_lock(folder, "rendering"):
        assert lock_path(folder).is_file()
    assert not (tmp_path / "out").exists()
    with run_folder_lock(folder, "rendering"):
        (folder.root / "plan.json").write_text("{}")
    assert sorted(p.name for p in folder.root.iterdir()) == ["plan.json"]


def test_a_private_folder_and_its_lock_are_owner_only(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "film", private=True)
    with run_folder_lock(folder, "rendering"):
        assert folder.root.stat().st_mode & 0o777 == 0o700
        assert lock_path(folder).stat().st_mode & 0o777 == 0o600


def test_a_lock_planted_as_a_link_is_refused(tmp_path: Path) -> None:
    from tale_cli.errors import OutputError

    folder = RunFolder(tmp_path / "film")
    folder.root.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    lock_path(folder).symlink_to(victim)
    with pytest.raises(OutputError, match="cannot open"), run_folder_lock(folder, "rendering"):
        pass
    assert victim.read_text() == "precious"


def test_a_holder_killed_with_sigkill_leaves_no_lock(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "film")
    script = (
        "import sys, time; from pathlib import Path; from tale_cli.run.lock import run_folder_lock; "
        "from tale_cli.run.folder import RunFolder\n"
        "with run_folder_lock(RunFolder(Path(sys.argv[1])), 'rendering'):\n    time.sleep(120)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(folder.root)], env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    try:
        assert holder_pid(folder) == holder.pid
        with pytest.raises(BusyError, match=f"pid {holder.pid} is rendering"), run_folder_lock(folder, "x", wait=False):
            pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert lock_path(folder).exists()  # the file stays behind; the lock on it died with its process
    with run_folder_lock(folder, "rendering", wait=False):
        assert holder_pid(folder) == os.getpid()


def test_two_renders_of_one_run_folder_pay_for_each_shot_once(fake_providers: Any, tmp_path: Path) -> None:
    recipe = tmp_path / "veo-small.toml"
    recipe.write_text(SMALL_VEO, encoding="utf-8")
    out = tmp_path / "out"
    planned = CliRunner().invoke(
        app, ["plan", str(EXAMPLE_STORY), "--recipe", str(recipe), "--planner", "offline", "--out", str(out)]
    )
    assert planned.exit_code == 0, planned.output
    folder = RunFolder(out / "the-lighthouse-keeper-s-cat")
    fake_providers.clip_delay_s = 4.0  # both renders are under way while the provider works
    render = ["render", str(folder.plan), "--recipe", str(recipe), "--yes", "--jobs", "8"]

    both = [tale(*render), tale(*render)]
    deadline = time.monotonic() + 120
    while not fake_providers.creates["veo"] and time.monotonic() < deadline:
        time.sleep(0.02)
    refused = tale(*render, "--no-wait")
    refused_out, refused_err = refused.communicate(timeout=120)
    outputs = [" ".join(stdout.split()) for stdout, _ in (process.communicate(timeout=300) for process in both)]

    assert fake_providers.creates["veo"] == 8  # one paid job per shot (16 when both rendered every shot)
    assert [process.returncode for process in both] == [0, 0]
    waits = [f"waiting for pid {other.pid}, which is rendering this run folder…" for other in reversed(both)]
    waited = [number for number, stdout in enumerate(outputs) if waits[number] in stdout]
    assert len(waited) == 1, outputs
    holder = both[1 - waited[0]].pid
    assert "0 rendered, 8 cached, 0 failed" in outputs[waited[0]]
    assert refused.returncode == ExitCode.BUSY, refused_err
    assert f"pid {holder} is rendering" in " ".join(refused_err.split()) and "nothing was done" in refused_err
    assert "estimate" not in refused_out + refused_err  # refused before the plan was even priced
    manifest = json.loads(folder.manifest.read_text(encoding="utf-8"))
    assert {shot["status"] for shot in manifest["shots"].values()} == {"done"}
    assert not lock_path(folder).exists()


def test_a_render_killed_with_sigkill_does_not_block_the_next(tmp_path: Path, story_file: Path) -> None:
    recipe = tmp_path / "slowish.toml"
    recipe.write_text("width = 320\nheight = 192\nfps = 24\nshots = 6\nseconds = 2.0\n[video]\njobs = 1\n")
    out = tmp_path / "out"
    folder = RunFolder(out / "the-small-test")
    render = ["render", str(story_file), "--recipe", str(recipe), "--out", str(out)]
    killed = tale(*render)
    assert holder_pid(folder) == killed.pid
    os.kill(killed.pid, signal.SIGKILL)
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL and lock_path(folder).exists()

    finished = tale(*render, "--no-wait")
    stdout, stderr = finished.communicate(timeout=300)
    assert finished.returncode == 0, stderr
    assert "waiting" not in stdout and (folder.root / "film.mp4").is_file()


def test_plan_and_stitch_of_a_folder_in_use_exit_at_once_with_no_wait(
    tmp_path: Path, story_file: Path, tiny_recipe: Path
) -> None:
    out = tmp_path / "out"
    folder = RunFolder(out / "the-small-test")
    runner = CliRunner()
    with run_folder_lock(folder, "rendering"):
        planned = runner.invoke(
            app, ["plan", str(story_file), "--recipe", str(tiny_recipe), "--out", str(out), "--no-wait"]
        )
        stitched = runner.invoke(app, ["stitch", str(folder.root), "--no-wait"])
    for result in (planned, stitched):
        assert result.exit_code == ExitCode.BUSY, result.output
        assert f"pid {os.getpid()} is rendering" in " ".join(result.stderr.split())
    assert not folder.plan.exists()
    planned = runner.invoke(app, ["plan", str(story_file), "--recipe", str(tiny_recipe), "--out", str(out)])
    assert planned.exit_code == 0 and folder.plan.is_file() and not lock_path(folder).exists()
