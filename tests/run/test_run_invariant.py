"""The run invariant, as a state machine: whatever sequence of commands changes a run — render, retake, pick, replace,
lock, unlock, a narration edit, `tale stitch RUN`, `tale clean`, and in a run of drafts `tale finalize` — the film
afterwards is the one a fresh render of the same state makes: as long as the plan, voiced where the plan speaks, at the
recipe's loudness, subtitled by the speech cues, its `mix` record what ffmpeg measures; and a fresh render of it pays
nothing and writes no new film. A run of drafts holds two such films, film.draft.mp4 and (once finalized) film.mp4."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from providers import register
from sound import sounding_s
from typer.testing import CliRunner

from tale_cli.backends.base import RenderResult, ShotRequest
from tale_cli.backends.local.preview import PreviewVideo
from tale_cli.cli.app import app
from tale_cli.errors import ExitCode
from tale_cli.film.mix import measure_loudness
from tale_cli.film.subtitles import speech_cues
from tale_cli.media.ffmpeg import encode_frames, probe
from tale_cli.registry import Role
from tale_cli.run.identity import file_digest

RECIPE = """
description = "the invariant's tiny voiced animatic"
width = 160
height = 96
fps = 12
shots = 3
seconds = 3.0

[video]
backend = "preview"
jobs = 2

[voice]
backend = "espeak"

[draft.video]
backend = "sketch"
"""

STORY = """---
title: Invariant
---

The fox ran.

A bell rang twice.

The night was quiet.
"""

NARRATIONS = ["A cat slept.", "Rain fell on the roof.", "", "The boat came home."]


class Sketch(PreviewVideo):
    """The draft tier's backend: the animatic under another name (other cache keys), on another seed (other pixels)."""

    name = "sketch"

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "tier": "sketch"}

    def render_shot(self, request: ShotRequest) -> RenderResult:
        request.seed += 1
        try:
            return super().render_shot(request)
        finally:
            request.seed -= 1


STEPS: list[str] = []  # every rule run, over all examples: the closing note counts them


def tale(*args: str) -> dict:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, (args, result.output[-2000:])
    return json.loads(result.stdout[result.stdout.index("{") :])


def srt_cues(path: Path) -> list[tuple[float, float, str]]:
    def seconds(stamp: str) -> float:
        h, m, rest = stamp.split(":")
        s, ms = rest.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    cues = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        lines = block.splitlines()
        start, end = re.split(r"\s+-->\s+", lines[1])
        cues.append((seconds(start), seconds(end), " ".join(lines[2:])))
    return cues


class RunInvariant(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="tale-invariant-"))
        self.recipe = self.root / "tiny.toml"
        self.recipe.write_text(RECIPE, encoding="utf-8")
        story = self.root / "story.md"
        story.write_text(STORY, encoding="utf-8")
        self.clip = self.root / "mine.mp4"
        encode_frames(bytes(range(256)) * (64 * 48 * 3 * 6 // 256), source_size=(64, 48), source_fps=4,
                      output=self.clip, width=64, height=48, fps=4, duration_s=1.5)  # fmt: skip
        self.story = story
        self.run = self.root / "out" / "invariant"
        self.tier: list[str] = []  # ["--draft"] for a run of drafts

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    @initialize(draft=st.booleans())
    def rendered(self, draft: bool) -> None:
        STEPS.append("render --draft" if draft else "render")
        self.tier = ["--draft"] if draft else []
        tale("render", str(self.story), "-r", str(self.recipe), "-o", str(self.root / "out"), *self.tier)

    def manifest(self) -> dict:
        return json.loads((self.run / "manifest.json").read_text(encoding="utf-8"))

    def takes(self, shot: int) -> int:
        return len(self.manifest()["shots"][str(shot)].get("takes") or [])

    # ---- the commands

    @rule()
    def render_again(self) -> None:
        STEPS.append("render")
        tale("render", str(self.run / "plan.json"), "-r", str(self.recipe), *self.tier)

    @precondition(lambda self: self.tier)
    @rule(shots=st.lists(st.integers(1, 3), max_size=2, unique=True))
    def finalize(self, shots: list[int]) -> None:
        """Every shot's current take at the final tier, or some shots'. A take picked from before a narration edit
        (not locked) is refused with nothing rendered, as it must be."""
        STEPS.append("finalize")
        result = CliRunner().invoke(app, ["finalize", str(self.run), *map(str, shots), "--json"])
        if result.exit_code == ExitCode.INPUT:
            assert "changed in the plan since their drafts; nothing was rendered" in " ".join(result.output.split())
            return
        assert result.exit_code == 0, result.output[-2000:]
        report = json.loads(result.stdout[result.stdout.index("{") :])
        assert not [shot for shot in report["shots"] if shot["how"] == "failed"], report

    @rule(shot=st.integers(1, 3))
    def retake(self, shot: int) -> None:
        STEPS.append("retake")
        tale("retake", str(self.run), str(shot), "--new-seed", "--yes", "-r", str(self.recipe))

    @rule(shot=st.integers(1, 3), which=st.integers(0, 5))
    def pick(self, shot: int, which: int) -> None:
        STEPS.append("pick")
        takes = self.takes(shot)
        tale("pick", str(self.run), str(shot), str(which % takes + 1))

    @rule(shot=st.integers(1, 3))
    def replace(self, shot: int) -> None:
        STEPS.append("replace")
        tale("replace", str(self.run), str(shot), str(self.clip))

    @rule(shot=st.integers(1, 3), locked=st.booleans())
    def lock(self, shot: int, locked: bool) -> None:
        STEPS.append("lock" if locked else "unlock")
        tale("lock" if locked else "unlock", str(self.run), str(shot))

    @rule(shot=st.integers(1, 3), text=st.sampled_from(NARRATIONS))
    def edit_narration(self, shot: int, text: str) -> None:
        """The user edits plan.json, then renders it."""
        STEPS.append("edit")
        plan_file = self.run / "plan.json"
        plan = json.loads(plan_file.read_text(encoding="utf-8"))
        plan["shots"][shot - 1]["narration"] = text
        plan_file.write_text(json.dumps(plan, indent=2), encoding="utf-8")
        tale("render", str(plan_file), "-r", str(self.recipe), *self.tier)

    @rule()
    def stitch(self) -> None:
        STEPS.append("stitch")
        tale("stitch", str(self.run))

    @rule()
    def clean(self) -> None:
        STEPS.append("clean")
        tale("clean", str(self.run))

    # ---- what holds after every one of them

    def films(self) -> list[tuple[Path, str, str]]:
        """The run's films, each with its mix record and subtitles: film.mp4, and in a run of drafts film.draft.mp4
        (film.mp4 once finalized)."""
        films = [(self.run / "film.draft.mp4", "draft_mix", "film.draft.srt")] if self.tier else []
        if not self.tier or (self.run / "film.mp4").exists():
            films.append((self.run / "film.mp4", "mix", "film.srt"))
        return films

    @invariant()
    def the_film_is_the_one_a_fresh_render_makes(self) -> None:
        plan = json.loads((self.run / "plan.json").read_text(encoding="utf-8"))
        manifest = self.manifest()
        length = sum(shot["duration_s"] for shot in plan["shots"])
        voice = manifest.get("voice")
        clips = voice["clips"] if voice else []
        spoken = [shot for shot in plan["shots"] if shot["narration"].strip()]
        assert {clip["shot"] for clip in clips} == {shot["index"] for shot in spoken}
        for film, mix, srt in self.films():
            assert abs(probe(film).duration_s - length) <= 0.1
            for clip in clips:
                start, seconds = clip["start_s"], clip["seconds"]
                assert sounding_s(film, start, start + seconds) > 0.5 * seconds, clip
            if clips:
                measured = measure_loudness(film)
                assert abs(measured.integrated_lufs - -14.0) <= 1.0
                assert abs(manifest[mix]["integrated_lufs"] - measured.integrated_lufs) <= 0.2
                wanted = speech_cues([(clip["start_s"], clip["seconds"], clip["text"]) for clip in clips])
                got = srt_cues(self.run / srt)
                assert [text for _, _, text in got] == [" ".join(cue.text.split("\n")) for cue in wanted]
                assert all(abs(a[0] - b.start_s) <= 0.002 for a, b in zip(got, wanted, strict=True))
        before = {film: file_digest(film) for film, _, _ in self.films()}
        audit = self.run / "audit.jsonl"
        requests = audit.read_text(encoding="utf-8").count("\n") if audit.exists() else 0
        again = tale("render", str(self.run / "plan.json"), "-r", str(self.recipe), *self.tier)
        assert again["counts"]["rendered"] == 0 and again["film_unchanged"], again
        assert {film: file_digest(film) for film, _, _ in self.films()} == before
        assert (audit.read_text(encoding="utf-8").count("\n") if audit.exists() else 0) == requests


TestRunInvariant = RunInvariant.TestCase
TestRunInvariant.settings = settings(
    max_examples=6,
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)


@pytest.fixture(autouse=True, scope="module")
def _sketch_backend() -> object:
    with pytest.MonkeyPatch.context() as patch:
        register(patch, "sketch", Role.VIDEO, Sketch, local=True)
        yield


@pytest.fixture(autouse=True, scope="module")
def _steps_counted() -> object:
    yield
    print(f"\nrun invariant: {len(STEPS)} steps checked ({', '.join(sorted(set(STEPS)))})")
