"""`tale voices design` and `clone` against the fake providers: one voice made and paid for once, kept in plan.json,
spoken by its id in every film; refused before any request without consent, in private mode, or where the provider
makes no such voice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tale_cli.cli.app import app
from tale_cli.errors import ExitCode
from tests.videos import make_audio

STORY = """---
title: Two Keepers
shots: 2
characters:
  - name: Mira
    description: a young woman who keeps the lighthouse
  - name: Tom
    description: an old fisherman
---

The storm came at night. "The lamp is out," Mira said.

Tom pulled on his coat. "I will row out," Tom said.
"""

RECIPE = """
description = "small animatic, spoken by {backend}"
width = 320
height = 180
fps = 12
shots = 2
seconds = 5.0

[video]
backend = "preview"

[voice]
backend = "{backend}"
"""
FISHERMAN = "a gravelly old fisherman, slow and warm, with a coastal accent"


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _planned(tmp_path: Path, backend: str, *extra: str) -> tuple[Path, Path]:
    """A run folder planned with a recipe whose voice is `backend`, and that recipe."""
    story = tmp_path / "keepers.md"
    story.write_text(STORY, encoding="utf-8")
    recipe = tmp_path / f"{backend}.toml"
    recipe.write_text(RECIPE.format(backend=backend), encoding="utf-8")
    code, output = _invoke("plan", str(story), "--recipe", str(recipe), "--out", str(tmp_path / "out"), *extra)
    assert code == ExitCode.OK, output
    return tmp_path / "out" / "two-keepers", recipe


def _plan_voices(run_dir: Path) -> dict[str, object]:
    plan = json.loads((run_dir / "plan.json").read_text(encoding="utf-8"))
    return {character["id"]: character["voice"] for character in plan["characters"]}


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def test_a_designed_voice_is_made_once_kept_in_the_plan_and_spoken_by_its_id(fake_providers, tmp_path: Path) -> None:
    run_dir, recipe = _planned(tmp_path, "runway")
    cast = _plan_voices(run_dir)
    code, output = _invoke("voices", "design", str(run_dir), "Tom", FISHERMAN, "--json")
    assert code == ExitCode.OK, output
    made = json.loads(output)
    assert fake_providers.creates["runway-voice"] == 1
    assert made["backend"] == "runway" and made["character"] == "tom" and made["found_again"] is False
    assert made["cost_usd"] == pytest.approx(0.05) and made["model"] == "eleven_ttv_v3"
    voice = made["voice"]
    # Kept as Tom's runway voice; his other backends' voices and Mira's are as cast.
    assert _plan_voices(run_dir) == {**cast, "tom": {**cast["tom"], "runway": voice}}
    [record] = _manifest(run_dir)["made_voices"]
    assert record["voice"] == voice and record["ready"] is True and record["prompt"] == FISHERMAN
    audit = [json.loads(line) for line in (run_dir / "audit.jsonl").read_text().splitlines()]
    [line] = [entry for entry in audit if entry["role"] == "voice"]
    assert line["character"] == "tom" and line["cost_usd"] == pytest.approx(0.05) and line["outcome"] == "ok"

    # The same description again (its spacing aside) pays nothing and asks nothing.
    requests = len(fake_providers.requests)
    code, output = _invoke("voices", "design", str(run_dir), "tom", f"  {FISHERMAN}  ")
    assert code == ExitCode.OK, output
    assert "found again, nothing paid" in output and len(fake_providers.requests) == requests
    assert fake_providers.creates["runway-voice"] == 1

    # Every film of the plan speaks Tom's lines with it: its preview is the reference of seed_audio.
    for out in ("first", "first", "second"):
        code, output = _invoke("render", str(run_dir / "plan.json"), "-r", str(recipe), "-o", str(tmp_path / out),
                               "--yes")  # fmt: skip
        assert code == ExitCode.OK, output
        clips = {clip["text"]: clip for clip in _manifest(tmp_path / out / "two-keepers")["voice"]["clips"]}
        assert clips["I will row out."]["voice"] == voice and clips["I will row out."]["model"] == "seed_audio"
        assert clips["The lamp is out."]["voice"] == cast["mira"]["runway"]  # a preset, as cast
    speech = [r["json"] for r in fake_providers.requests if r["path"] == "/v1/text_to_speech"]
    tom = [body for body in speech if body["promptText"] == "I will row out."]
    assert len(tom) == 2  # once a film: rendering the first again spoke nothing
    assert all(
        body["model"] == "seed_audio" and f"/voices/{voice}/preview" in body["voice"]["audioUri"] for body in tom
    )
    assert any(r["path"] == f"/v1/voices/{voice}" for r in fake_providers.requests)
    spent = CliRunner().invoke(app, ["cost", "spent", str(run_dir), "--json"])
    assert spent.exit_code == 0 and json.loads(spent.stdout)["total_usd"] == pytest.approx(0.05)


def test_a_voice_accepted_but_not_ready_is_waited_for_again_not_paid_again(
    fake_providers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tale_cli.backends.runway import voice as runway_voice

    monkeypatch.setattr(runway_voice, "POLL_INTERVAL_S", 0.05)
    monkeypatch.setattr(runway_voice, "POLL_TIMEOUT_S", 0.3)
    run_dir, _ = _planned(tmp_path, "runway")
    fake_providers.never_finish = True
    code, output = _invoke("voices", "design", str(run_dir), "tom", FISHERMAN)
    assert code == ExitCode.BACKEND and "did not finish" in output
    [record] = _manifest(run_dir)["made_voices"]
    # Paid once accepted: the record counts what it cost, though the voice is not ready yet.
    assert record["ready"] is False and record["cost_usd"] == pytest.approx(0.05)
    assert _plan_voices(run_dir)["tom"]["runway"] != record["voice"]
    spent = CliRunner().invoke(app, ["cost", "spent", str(run_dir), "--json"])
    assert json.loads(spent.stdout)["total_usd"] == pytest.approx(0.05)
    fake_providers.never_finish = False
    code, output = _invoke("voices", "design", str(run_dir), "tom", FISHERMAN, "--json")
    assert code == ExitCode.OK, output
    assert json.loads(output)["voice"] == record["voice"] and fake_providers.creates["runway-voice"] == 1
    [record] = _manifest(run_dir)["made_voices"]
    assert record["ready"] is True and _plan_voices(run_dir)["tom"]["runway"] == record["voice"]
    spent = CliRunner().invoke(app, ["cost", "spent", str(run_dir), "--json"])
    assert json.loads(spent.stdout)["total_usd"] == pytest.approx(0.05)


def test_a_voice_runway_fails_to_make_says_why_and_keeps_the_plans_voice(fake_providers, tmp_path: Path) -> None:
    run_dir, _ = _planned(tmp_path, "runway")
    before = _plan_voices(run_dir)["tom"]
    code, output = _invoke("voices", "design", str(run_dir), "tom", FISHERMAN + ", a forbidden kind of voice")
    assert code == ExitCode.BACKEND
    assert "Runway could not make the voice" in output and "usage guidelines" in output  # the voice's failureReason
    assert _plan_voices(run_dir)["tom"] == before


def test_a_clone_without_consent_is_refused_before_any_request(fake_providers, tmp_path: Path) -> None:
    run_dir, _ = _planned(tmp_path, "runway")
    before = (run_dir / "plan.json").read_text(encoding="utf-8")
    sample = make_audio(tmp_path / "sample.m4a", seconds=12.0)
    code, output = _invoke("voices", "clone", str(run_dir), "mira", str(sample))
    assert code == ExitCode.INPUT and "consent" in output
    not_audio = tmp_path / "consent.wav"
    not_audio.write_text("I agree.", encoding="utf-8")
    code, output = _invoke("voices", "clone", str(run_dir), "mira", str(sample), "--consent", str(not_audio))
    assert code == ExitCode.INPUT and "consent recording" in output and "is not audio" in output
    code, output = _invoke("voices", "clone", str(run_dir), "mira", str(not_audio), "--consent", str(sample))
    assert code == ExitCode.INPUT and "voice sample" in output
    assert fake_providers.requests == []
    assert (run_dir / "plan.json").read_text(encoding="utf-8") == before


def test_a_cloned_openai_voice_speaks_in_the_realtime_session_by_its_id(fake_providers, tmp_path: Path) -> None:
    run_dir, recipe = _planned(tmp_path, "openai")
    sample = make_audio(tmp_path / "sample.m4a", seconds=3.0)
    consent = make_audio(tmp_path / "consent.m4a", seconds=2.0, frequency=440)
    code, output = _invoke("voices", "clone", str(run_dir), "mira", str(sample), "--consent", str(consent), "--json")
    assert code == ExitCode.OK, output
    made = json.loads(output)
    assert made["backend"] == "openai" and made["voice"].startswith("voice_") and made["how"] == "clone"
    assert fake_providers.creates["openai-voice-consent"] == 1 and fake_providers.creates["openai-voice"] == 1
    code, output = _invoke("render", str(run_dir / "plan.json"), "-r", str(recipe), "--yes")
    assert code == ExitCode.OK, output
    sessions = [r["json"] for r in fake_providers.requests if (r["json"] or {}).get("type") == "session.update"]
    voices = [session["session"]["audio"]["output"]["voice"] for session in sessions]
    assert {"id": made["voice"]} in voices
    [clip] = [clip for clip in _manifest(run_dir)["voice"]["clips"] if clip["text"] == "The lamp is out."]
    assert clip["voice"] == made["voice"]


def test_making_a_voice_is_refused_where_it_cannot_be_made_before_any_request(fake_providers, tmp_path: Path) -> None:
    run_dir, _ = _planned(tmp_path, "openai")
    code, output = _invoke("voices", "design", str(run_dir), "tom", FISHERMAN, "--backend", "openai")
    assert code == ExitCode.RECIPE and "never designs" in output and "runway" in output and "Live" in output
    code, output = _invoke("voices", "design", str(run_dir), "tom", FISHERMAN, "--backend", "espeak")
    assert code == ExitCode.RECIPE and "espeak" in output
    code, output = _invoke("voices", "design", str(run_dir), "nobody", FISHERMAN)
    assert code == ExitCode.INPUT and "tom (Tom)" in output
    code, output = _invoke("voices", "design", str(run_dir), "tom", "old man")
    assert code == ExitCode.INPUT and "at least 20 characters" in output
    code, output = _invoke("voices", "design", str(run_dir), "tom", FISHERMAN, "--max-cost", "0.01")
    assert code == ExitCode.BUDGET and "$0.05" in output
    assert fake_providers.requests == []


def test_private_mode_keeps_to_local_voices(fake_providers, tmp_path: Path) -> None:
    run_dir, _ = _planned(tmp_path, "espeak", "--private")
    code, output = _invoke("voices", "design", str(run_dir), "tom", FISHERMAN)
    assert code == ExitCode.PRIVACY and "local voices" in output
    assert fake_providers.requests == []
