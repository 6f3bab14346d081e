from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.errors import ExitCode
from tale_cli.media.ffmpeg import probe

runner = CliRunner()
# Modules `tale --help` must not load. click is no dependency of Tale (newer Typer carries its own copy),
# so a core install must not need it either.
HEAVY = (
    "click",
    "torch",
    "diffusers",
    "transformers",
    "google",
    "openai",
    "runwayml",
    "ray",
    "pydantic",
    "numpy",
    "PIL",
    "yaml",
    "matplotlib",
    "opentimelineio",
    "onnxruntime",
)


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\nsys.argv = ['tale', '--help']\nfrom tale_cli.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage" in result.stdout and "render" in result.stdout
    assert "LOADED []" in result.stdout


def test_version_via_module() -> None:
    result = subprocess.run([sys.executable, "-m", "tale_cli", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("tale ")


def test_render_prints_plain_lines_and_json(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", str(story_file), "--recipe", str(tiny_recipe), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "shot  1 done" in result.output and "3 rendered, 0 cached" in result.output
    film = out / "the-small-test" / "film.mp4"
    assert abs(probe(film).duration_s - 3.0) < 0.1
    again = runner.invoke(app, ["render", str(story_file), "--recipe", str(tiny_recipe), "--out", str(out), "--json"])
    assert again.exit_code == 0
    data = json.loads(again.stdout)
    assert data["counts"] == {"shots": 3, "cached": 3, "rendered": 0, "failed": 0}
    assert data["film"] == str(film)


def test_dry_run_and_plan(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", str(story_file), "-r", str(tiny_recipe), "-o", str(out), "--dry-run"])
    assert result.exit_code == 0 and "3 shots would render" in result.output
    assert not out.exists()
    planned = runner.invoke(app, ["plan", str(story_file), "-r", str(tiny_recipe), "-o", str(out), "--json"])
    assert planned.exit_code == 0
    data = json.loads(planned.stdout)
    assert Path(data["plan_file"]).is_file() and len(data["plan"]["shots"]) == 3


def bad(tmp_path: Path, name: str) -> tuple[list[str], ExitCode]:
    recipe_args = ["--recipe", "preview"]
    if name == "missing":
        return ["render", str(tmp_path / "nope.md")], ExitCode.INPUT
    if name == "directory":
        return ["render", str(tmp_path)], ExitCode.INPUT
    path = tmp_path / f"{name}.md"
    if name == "empty":
        path.write_text("")
    elif name == "binary":
        path.write_bytes(b"\x00\x01\x02PNG")
    elif name == "latin1":
        path.write_bytes("caf\xe9".encode("latin-1"))
    elif name == "huge":
        with path.open("wb") as handle:
            handle.truncate(5_000_000)
    elif name == "unknown-recipe":
        path.write_text("A story.")
        recipe_args = ["--recipe", "no-such-recipe"]
        return ["render", str(path), *recipe_args], ExitCode.RECIPE
    elif name == "plan-types":
        path = tmp_path / "plan.json"
        path.write_text(
            json.dumps({"title": "t", "slug": "t", "shots": [{"index": 1, "duration_s": "x", "prompt": "p"}]})
        )
        return ["render", str(path)], ExitCode.PLAN
    elif name == "out-is-file":
        path.write_text("A story.")
        (tmp_path / "blocker").write_text("keep")
        return ["render", str(path), "--out", str(tmp_path / "blocker")], ExitCode.OUTPUT
    elif name == "out-unwritable":
        path.write_text("A story.")
        return ["render", str(path), "--out", "/proc/tale-cannot-write-here"], ExitCode.OUTPUT
    return ["render", str(path), *recipe_args], ExitCode.INPUT


@pytest.mark.parametrize(
    "name",
    [
        "missing",
        "directory",
        "empty",
        "binary",
        "latin1",
        "huge",
        "unknown-recipe",
        "plan-types",
        "out-is-file",
        "out-unwritable",
    ],
)
def test_bad_input_gets_one_line_and_its_exit_code(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    args, code = bad(tmp_path, name)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = runner.invoke(app, args)
    assert result.exit_code == int(code), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[0].startswith("error:") and len([line for line in lines if line.startswith("error:")]) == 1
    assert "Traceback" not in result.output
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    if name == "out-is-file":
        assert (tmp_path / "blocker").read_text() == "keep"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--recipe", "previw"], "error: unknown recipe 'previw'; did you mean 'preview'?"),
        (["--recipe", "veo-3.1-fats"], "error: unknown recipe 'veo-3.1-fats'; did you mean 'veo-3.1-fast'?"),
        (["--planner", "ofline"], "error: unknown planner 'ofline'; did you mean 'offline'?"),
        (["--voice", "espek"], "error: unknown voice backend 'espek'; did you mean 'espeak'?"),
        (["--recipe", "zzzz"], "error: unknown recipe 'zzzz'"),  # nothing close: no guess
    ],
)
def test_a_mistyped_recipe_or_backend_name_suggests_the_closest(story_file: Path, args: list[str], line: str) -> None:
    result = runner.invoke(app, ["render", str(story_file), "--dry-run", *args])
    assert result.exit_code == int(ExitCode.RECIPE), result.output
    first = " ".join(result.stderr.split("hint:")[0].split())
    assert first == line
    assert "valid names are:" in result.stderr


@pytest.mark.parametrize("command", [[], ["render"], ["stitch"], ["keys", "set"], ["review"]])
def test_help_shows_no_value_placeholder_beside_a_flag(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    flags = [
        line for line in result.output.splitlines() if re.search(r"--(help|dry-run|json|stdin|serve|debug)\b", line)
    ]
    assert flags and not [line for line in flags if re.search(r"<bool>|BOOLEAN|\bbool\b", line)], flags
    if command == ["render"]:
        assert re.search(r"--out\b.*<path>", result.output)  # an option that takes a value still says which


def test_debug_shows_traceback_and_settings_origin(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--debug", "render", str(tmp_path / "nope.md")])
    assert result.exit_code == int(ExitCode.INPUT)
    assert "Traceback" in result.output and "setting recipe = preview (from configs/defaults.toml)" in result.output


def test_recipes_list_show_and_unknown_key(tmp_path: Path) -> None:
    listed = runner.invoke(app, ["recipes", "list", "--json"])
    assert listed.exit_code == 0 and "preview" in {r["name"] for r in json.loads(listed.stdout)}
    shown = runner.invoke(app, ["recipes", "show", "preview", "--json"])
    assert json.loads(shown.stdout)["recipe"]["video"]["backend"] == "preview"
    broken = tmp_path / "broken.toml"
    broken.write_text("[video]\nbackend = 'preview'\ncolour = 'red'\n")
    result = runner.invoke(app, ["recipes", "show", str(broken)])
    assert result.exit_code == int(ExitCode.RECIPE)
    assert "broken.toml" in result.output and "video.colour" in result.output


def test_doctor_json() -> None:
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["ffmpeg"]["ok"] and checks["python"]["ok"]
    assert "extra: local" in checks


def test_sighup_and_sigterm_stop_a_command_as_ctrl_c_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stop's exit code is 128 + the signal: the shell's own convention, which supervisors read."""
    import os
    import signal

    from tests.videos import make_clip

    clip = make_clip(tmp_path / "a.mp4", seconds=0.5, width=64, height=64)
    before = signal.getsignal(signal.SIGTERM)

    for signum, code, line in ((signal.SIGHUP, 129, "stopped by SIGHUP"), (signal.SIGTERM, 143, "stopped by SIGTERM")):

        def hang_up(args: list[str], signum: int = signum) -> str:
            os.kill(os.getpid(), signum)
            raise AssertionError("the signal did not stop the stitch")

        monkeypatch.setattr("tale_cli.film.stitch.run_ffmpeg", hang_up)
        result = CliRunner().invoke(app, ["stitch", str(clip), "-o", str(tmp_path / "film.mp4"), "--fps", "12"])
        assert result.exit_code == code, result.output
        assert line in result.stderr
        assert not list(tmp_path.glob("film*"))
    assert signal.getsignal(signal.SIGTERM) is before  # put back as it was


def test_a_signal_ignored_at_start_stays_ignored() -> None:
    import os
    import signal

    from tale_cli.cli.common import stop_on_signals

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_on_signals():
            os.kill(os.getpid(), signal.SIGHUP)  # as under nohup: nothing happens
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_full_disk_is_one_clear_line_whatever_was_being_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, story_file: Path, tiny_recipe: Path
) -> None:
    import errno

    def full(path: Path, data: bytes, **_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path) + ".part")

    monkeypatch.setattr("tale_cli.files.atomic_write_bytes", full)
    out = tmp_path / "out"
    result = runner.invoke(app, ["plan", str(story_file), "-r", str(tiny_recipe), "-o", str(out)])
    assert result.exit_code == int(ExitCode.OUTPUT), result.output
    line = " ".join(result.stderr.split())
    assert f"error: no space left on device: {out / 'the-small-test'} has " in line
    assert "Errno" not in line and "unexpected" not in line


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_a_dumb_terminal_gets_the_plain_progress_lines(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    """TERM=dumb: a terminal that cannot move the cursor gets one line per event, as a log would."""
    import os
    import pty

    main, child = pty.openpty()
    env = {**os.environ, "TERM": "dumb", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, "-m", "tale_cli", "render", str(story_file), "-r", str(tiny_recipe), "-o", str(tmp_path)]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=child, stderr=child, env=env)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert process.wait(timeout=60) == 0
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "shot  1 done" in text and "shot  3 done" in text, text
    assert "\x1b[" not in text, text


def test_a_hangul_path_renders_under_a_locale_that_is_not_utf8(tmp_path: Path, story_file: Path, tiny_recipe: Path):
    import os

    folder = tmp_path / "한글 폴더"
    folder.mkdir()
    story = folder / "이야기.md"
    story.write_bytes(story_file.read_bytes())
    # Python then sees file names through ASCII with surrogates, and prints to an ASCII terminal.
    env = {**os.environ, "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "LC_ALL": "C", "LANG": "C"}
    env.pop("PYTHONIOENCODING", None)
    command = [
        sys.executable,
        "-m",
        "tale_cli",
        "render",
        str(story),
        "-r",
        str(tiny_recipe),
        "-o",
        str(folder / "출력"),
    ]
    result = subprocess.run(command, capture_output=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    films = list((folder / "출력").glob("*/film.mp4"))
    assert len(films) == 1 and probe(films[0]).duration_s > 0
