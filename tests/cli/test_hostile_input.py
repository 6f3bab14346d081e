"""Hostile and broken input: each gets one clear error line and its own exit code, and destroys nothing."""

from __future__ import annotations

import json
import random
import shutil
import string
import subprocess
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.errors import ExitCode

TINY_RECIPE = """
width = 128
height = 72
fps = 8
shots = 2
seconds = 1.0
"""

DOCUMENTED_CODES = {int(code) for code in ExitCode}


def story(front_matter: str = "", body: str = "Mira climbs the stairs at dusk. The lamp is dark.") -> str:
    return f"---\n{front_matter}\n---\n\n{body}\n" if front_matter else body + "\n"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "tiny.toml").write_text(TINY_RECIPE, encoding="utf-8")
    return tmp_path


def tale(*args: str):
    result = CliRunner().invoke(app, list(args))
    text = result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), text
    assert "Traceback" not in text
    return result.exit_code, text


def one_error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, text
    return lines[0]


def tiny_plan(**changes) -> dict:
    plan = {
        "title": "Tiny",
        "slug": "tiny",
        "width": 128,
        "height": 72,
        "fps": 8,
        "characters": [{"id": "mira", "name": "Mira", "description": "a keeper"}],
        "shots": [
            {"index": 1, "duration_s": 1.0, "prompt": "Mira at the lamp", "characters": ["mira"]},
            {"index": 2, "duration_s": 1.0, "prompt": "The beam sweeps the sea"},
        ],
    }
    plan.update(changes)
    return plan


# ---------------------------------------------------------------- paths that point outside


@pytest.mark.parametrize("image", ["../secret.png", "/etc/hostname", "refs/../../secret.png", "a\\..\\b.png"])
def test_front_matter_image_outside_the_story_folder_is_refused(workdir, image):
    (workdir / "story.md").write_text(story(f"characters:\n  - name: Mira\n    image: '{image}'"), encoding="utf-8")
    code, text = tale("plan", "story.md", "-o", "out", "-r", "tiny.toml")
    assert code == ExitCode.INPUT
    assert "image" in one_error_line(text)
    assert not (workdir / "out").exists()


def test_front_matter_image_symlinked_outside_is_refused(workdir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "private.png"
    outside.write_bytes(b"\x89PNG not really")
    (workdir / "mira.png").symlink_to(outside)
    (workdir / "story.md").write_text(story("characters:\n  - name: Mira\n    image: mira.png"), encoding="utf-8")
    code, text = tale("plan", "story.md", "-o", "out", "-r", "tiny.toml")
    assert code == ExitCode.INPUT
    assert "points outside" in one_error_line(text)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"characters": [{"id": "mira", "name": "Mira", "reference_image": "../../etc/passwd"}]}, "reference_image"),
        ({"characters": [{"id": "mira", "name": "Mira", "reference_image": "/etc/passwd"}]}, "reference_image"),
        ({"slug": "../escape"}, "slug"),
        ({"slug": "-rf"}, "slug"),
        ({"slug": ".."}, "slug"),
    ],
)
def test_plan_paths_outside_the_run_folder_are_refused(workdir, changes, field):
    (workdir / "plan.json").write_text(json.dumps(tiny_plan(**changes)), encoding="utf-8")
    code, text = tale("render", "plan.json", "-o", "out", "--dry-run")
    assert code == ExitCode.PLAN
    assert field in one_error_line(text)


@pytest.mark.parametrize(
    ("title", "slug"),
    [("../../../etc", "etc"), ("-rf --no-preserve-root", "rf-no-preserve-root"), ("..", "story"), ("/", "story")],
)
def test_dangerous_titles_make_safe_folder_names(workdir, title, slug):
    (workdir / "story.md").write_text(story(f"title: '{title}'"), encoding="utf-8")
    code, text = tale("plan", "story.md", "-o", "out", "-r", "tiny.toml")
    assert code == 0, text
    assert (workdir / "out" / slug / "plan.json").is_file()
    assert [p.name for p in (workdir / "out").iterdir()] == [slug]


# ---------------------------------------------------------------- symlinks planted in the run folder


@pytest.mark.parametrize("planted", ["storyboard.png.part", "refs/mira.png", "film.srt", "shots", "notes.txt"])
def test_symlinks_planted_in_the_run_folder_are_refused(workdir, tmp_path_factory, planted):
    victim = tmp_path_factory.mktemp("victim") / "precious.txt"
    victim.write_text("precious\n")
    (workdir / "plan.json").write_text(json.dumps(tiny_plan()), encoding="utf-8")
    run_dir = workdir / "out" / "tiny"
    (run_dir / "refs").mkdir(parents=True)
    link = run_dir / planted
    link.symlink_to(victim.parent if planted == "shots" else victim)
    code, text = tale("render", "plan.json", "-o", "out")
    assert code == ExitCode.OUTPUT, text
    assert "symbolic link" in one_error_line(text)
    assert victim.read_text() == "precious\n"
    assert sorted(p.name for p in victim.parent.iterdir()) == ["precious.txt"]
    assert link.is_symlink()


def test_a_run_folder_that_is_a_symlink_is_refused(workdir, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (workdir / "out").mkdir()
    (workdir / "out" / "tiny").symlink_to(elsewhere)
    (workdir / "plan.json").write_text(json.dumps(tiny_plan()), encoding="utf-8")
    code, text = tale("render", "plan.json", "-o", "out")
    assert code == ExitCode.OUTPUT
    assert "symbolic link" in one_error_line(text)
    assert list(elsewhere.iterdir()) == []


# ---------------------------------------------------------------- awkward names and text for ffmpeg


def test_names_with_spaces_dashes_quotes_and_hangul_render(workdir):
    out = workdir / "-o 'quoted\" 한글 folder"
    narration = "It's 10:30 \\ [0:v] 100% {pts} ; a,b = 'c'"
    plan = tiny_plan(title="-vf 달빛 'quote\"", slug="달빛-우체부")
    plan["shots"][0]["narration"] = narration
    plan["shots"][0]["duration_s"] = 8.0  # long enough for the preview recipe's voice to speak it
    plan["shots"][1]["prompt"] = "drawtext=text='%{localtime}':x=0 ; [in] , movie=/etc/passwd"
    (workdir / "-plan 한글 'x'.json").write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")
    code, text = tale("render", "-o", str(out), "--burn-subtitles", "--", "-plan 한글 'x'.json")
    assert code == 0, text
    film = out / "달빛-우체부" / "film.mp4"
    assert film.stat().st_size > 0
    from tale_cli.media.ffmpeg import probe

    assert probe(film).duration_s == pytest.approx(9.0, abs=0.3)


# ---------------------------------------------------------------- control characters: terminal injection

ESCAPES = "\x1b[2J\x1b]0;pwned\x07\x9b31m"


@pytest.mark.parametrize("command", [("plan",), ("render", "--dry-run")])
def test_escape_sequences_in_a_story_never_reach_the_terminal(workdir, command):
    front = 'title: "Lamp\\e[2J\\x1b]0;pwned\\x07"'
    (workdir / "story.md").write_text(story(front, f"Mira {ESCAPES}climbs the stairs. The lamp is dark."))
    code, text = tale(*command, "story.md", "-o", "out", "-r", "tiny.toml")
    assert code == 0, text
    assert not any(char in text for char in "\x1b\x07\x9b"), repr(text)
    warnings = [line for line in text.splitlines() if "control" in line]
    assert warnings == ["warning: story.md: 7 control characters removed (terminal escape sequences and the like)"]
    assert "Lamp[2J]0;pwned" in text  # the title, its printable rest kept


# ---------------------------------------------------------------- sizes


def test_a_plan_with_ten_thousand_shots_is_refused_quickly(workdir):
    shots = [{"index": i, "duration_s": 1.0, "prompt": f"shot {i}"} for i in range(1, 10_001)]
    (workdir / "plan.json").write_text(json.dumps(tiny_plan(shots=shots)), encoding="utf-8")
    code, text = tale("render", "plan.json", "-o", "out", "--dry-run")
    assert code == ExitCode.PLAN
    assert "shots" in one_error_line(text)


def test_a_two_gigabyte_story_is_refused_without_reading_it(workdir):
    huge = workdir / "huge.md"
    with huge.open("wb") as handle:
        handle.truncate(2 * 1024**3)  # sparse: no disk is used
    code, text = tale("plan", "huge.md", "-o", "out")
    assert code == ExitCode.INPUT
    assert "at most" in one_error_line(text)
    assert not (workdir / "out").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"\xff\xfe\x00binary", "binary"), ("caf\xe9".encode("latin-1") * 20, "not UTF-8"), (b"---\n: [\n---\nx", "YAML")],
)
def test_broken_story_files(workdir, data, message):
    (workdir / "story.md").write_bytes(data)
    code, text = tale("plan", "story.md", "-o", "out")
    assert code == ExitCode.INPUT
    assert message in one_error_line(text)


# ---------------------------------------------------------------- numbers that are not numbers


@pytest.mark.parametrize("setting", ["shots = true", "fps = true", "seconds = true", "seed = false", 'shots = "3"'])
def test_a_recipe_number_given_as_true_or_text_is_a_recipe_error(workdir, setting):
    """TOML's `true` is no count: without this, `shots = true` quietly rendered one shot."""
    key = setting.split()[0]
    kept = [line for line in TINY_RECIPE.splitlines() if not line.startswith(key + " ")]
    (workdir / "bad.toml").write_text("\n".join([*kept, setting, ""]), encoding="utf-8")
    (workdir / "story.md").write_text(story(), encoding="utf-8")
    code, text = tale("render", "story.md", "-o", "out", "-r", "bad.toml", "--dry-run")
    assert code == ExitCode.RECIPE
    assert key in one_error_line(text)


@pytest.mark.parametrize("front_matter", ["seconds: 0.01", "seconds: 0.4", "shots: true", "seconds: yes"])
def test_front_matter_a_backend_cannot_honour_is_the_storys_error(workdir, front_matter):
    """The story asked for it, so the story is named (exit 3), not the recipe (exit 5)."""
    (workdir / "story.md").write_text(story(front_matter), encoding="utf-8")
    code, text = tale("render", "story.md", "-o", "out", "-r", "tiny.toml", "--dry-run")
    assert code == ExitCode.INPUT
    line = one_error_line(text)
    assert "story.md: front matter" in line and front_matter.split(":")[0] in line


# ---------------------------------------------------------------- fuzz: never a traceback


def _check(code: int, text: str) -> None:
    assert code in DOCUMENTED_CODES, text
    assert "unexpected" not in text, text


front_matter_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True), st.text(max_size=40)
)
front_matter = st.dictionaries(
    st.sampled_from(["title", "language", "style", "aspect", "shots", "seconds", "seed", "characters", "extra"]),
    st.one_of(
        front_matter_values,
        st.lists(front_matter_values, max_size=3),
        st.lists(
            st.dictionaries(st.sampled_from(["name", "description", "image"]), front_matter_values, max_size=3),
            max_size=3,
        ),
    ),
    max_size=5,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(meta=front_matter, body=st.text(max_size=300), raw_prefix=st.sampled_from(["", "---\n", "\ufeff", "# "]))
def test_fuzz_stories(workdir, meta, body, raw_prefix):
    import yaml

    header = f"---\n{yaml.safe_dump(meta, allow_unicode=True)}---\n" if meta else raw_prefix
    (workdir / "story.md").write_text(header + body, encoding="utf-8", errors="surrogatepass")
    _check(*tale("plan", "story.md", "-o", "out", "-r", "tiny.toml"))
    _check(*tale("render", "story.md", "-o", "out", "-r", "tiny.toml", "--dry-run"))


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=3)),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from(["title", "slug", "width", "height", "fps", "seed", "characters", "shots", "aspect", "x"]),
    value=json_values,
    shot_field=st.sampled_from(["index", "duration_s", "prompt", "characters", "narration", "seed", "camera"]),
    shot_value=json_values,
    whole=st.one_of(st.none(), json_values),
)
def test_fuzz_plans(workdir, field, value, shot_field, shot_value, whole):
    plan = tiny_plan(**{field: value})
    if isinstance(plan.get("shots"), list) and plan["shots"] and isinstance(plan["shots"][0], dict):
        plan["shots"][0][shot_field] = shot_value
    data = plan if whole is None else whole
    (workdir / "plan.json").write_text(json.dumps(data, ensure_ascii=False, allow_nan=True), encoding="utf-8")
    _check(*tale("render", "plan.json", "-o", "out", "--dry-run"))


def test_fuzz_checks_would_catch_a_crash(workdir, monkeypatch):
    """The fuzz assertions see an internal crash: without this, a swallowed bug would pass the fuzz tests."""
    from tale_cli.story import plan as plan_module

    def crash(*args, **kwargs):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(plan_module.Plan, "model_validate", crash)
    (workdir / "plan.json").write_text(json.dumps(tiny_plan()), encoding="utf-8")
    with pytest.raises(AssertionError):
        _check(*tale("render", "plan.json", "-o", "out", "--dry-run"))


# ---------------------------------------------------------------- a hostile story, from render to every export

HOSTILE_TITLE = "Nice\n\n999  evil  V  C  00:00:00:00 00:00:01:00 00:00:00:00 00:00:01:00\n* FROM CLIP: /etc/passwd"
LONG_WORD = "".join(random.Random(10).choice(string.ascii_lowercase) for _ in range(10_000))
# One paragraph a shot: as written in the story, and as narrated (the control characters taken out).
HOSTILE_PARAGRAPHS = [
    ("Mira climbs the stairs\x1b[2J\x1b]0;pwned\x07 at dusk.", "Mira climbs the stairs[2J]0;pwned at dusk."),
    ("00:00:05,000 --> 00:00:06,000", "00:00:05,000 --> 00:00:06,000"),
    ("Bob <img src=x> walks.", "Bob <img src=x> walks."),
    ("<script>alert(4)</script>", "<script>alert(4)</script>"),
    ("{\\an8}Up here, a\\Nb.", "{\\an8}Up here, a\\Nb."),
    (f"The {LONG_WORD} ends.", f"The {LONG_WORD[:40]}"),  # as much of the word as 8 s says, in a piece
    ("Mira sleeps\x9b31m at last.", "Mira sleeps31m at last."),
    ("The lamp is dark.", "The lamp is dark."),
]
EXPORTS = {"otio": "film.otio", "fcpxml": "film.fcpxml", "premiere": "film.xml", "edl": "film.edl"}


def test_a_hostile_story_renders_and_exports_in_every_format_with_its_words_as_written(workdir):
    """Line breaks in the title, escape sequences, SRT timing and markup in the narration and a 10,000-character
    word: the default recipe renders it offline, every export reads back, and every reader shows the words."""
    import opentimelineio as otio

    from tests.subtitles import read_srt, shown, soft_track

    body = "\n\n".join(written for written, _ in HOSTILE_PARAGRAPHS)
    (workdir / "story.md").write_text(story(f"title: {json.dumps(HOSTILE_TITLE)}", body), encoding="utf-8")
    said = [narrated for _, narrated in HOSTILE_PARAGRAPHS]

    code, text = tale("render", "story.md", "-o", "out")

    assert code == 0, text
    assert "warning: story.md: 4 control characters removed" in text and "\x1b" not in text
    run = workdir / "out" / "nice-999-evil-v-c-00-00-00-00-00-00-01-00-00-00-00-00-00-00"
    plan = json.loads((run / "plan.json").read_text(encoding="utf-8"))
    assert plan["title"] == " ".join(HOSTILE_TITLE.split())
    assert [shot["narration"] for shot in plan["shots"]] == said
    for cues in (read_srt(run / "film.srt"), soft_track(run / "film.mp4")):
        assert " ".join(shown(cue.text).replace("\n", " ") for cue in cues) == " ".join(said)

    for fmt, name in EXPORTS.items():
        code, text = tale("export", str(run), "--format", fmt, "--json")
        assert code == 0, text
        path = run / name
        if fmt in ("fcpxml", "premiere"):
            ElementTree.parse(path)
            if shutil.which("xmllint"):
                lint = subprocess.run(["xmllint", "--noout", str(path)], capture_output=True, text=True, check=False)
                assert lint.returncode == 0, lint.stderr
        timeline = otio.adapters.read_from_file(str(path), **({"rate": 24} if fmt == "edl" else {}))
        clips = list(timeline.find_clips())
        video = [clip for clip in clips if clip.name.startswith("Shot")]
        assert len(video) == 8, (fmt, [clip.name for clip in clips])
        markers = [marker.name for clip in video for marker in clip.markers]
        if fmt == "edl":
            assert markers[:5] + markers[6:] == [words.upper() for words in said[:5] + said[6:]]
            lines = path.read_text(encoding="utf-8").splitlines()
            assert lines[1] == "FCM: NON-DROP FRAME" and sum(line[:1].isdigit() for line in lines) == 8
            assert all(len(line.encode("utf-8")) <= 80 for line in lines)
        else:
            assert markers == said, fmt
