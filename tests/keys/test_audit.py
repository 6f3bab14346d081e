"""The audit log: one JSON line per request, thread-safe, prompt only on request, never a key; `tale audit`."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
import typer
from keyring_fakes import FAKE_KEY, clear_key_env
from typer.testing import CliRunner

from tale_cli.cli.audit import audit
from tale_cli.errors import ExitCode, OutputError
from tale_cli.keys.audit import AuditLog, read_audit

PROMPT = "A lighthouse keeper climbs the stairs at dusk"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    clear_key_env(monkeypatch)
    monkeypatch.setenv("COLUMNS", "200")


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(audit)
    return app


def lines(run_dir):
    return [json.loads(line) for line in (run_dir / "audit.jsonl").read_text(encoding="utf-8").splitlines()]


def test_record_writes_the_documented_fields_and_no_prompt_by_default(tmp_path):
    log = AuditLog(tmp_path, audit_prompts=False)
    log.record(
        role="video",
        backend="preview",
        model="animatic",
        shot=3,
        prompt=PROMPT,
        outcome="ok",
        billed_units=8.0,
        unit="seconds",
        cost_usd=0.8,
        duration_s=1.23456,
    )
    [entry] = lines(tmp_path)
    assert entry["role"] == "video"
    assert entry["shot"] == 3
    assert entry["prompt_sha256"] == hashlib.sha256(PROMPT.encode()).hexdigest()
    assert entry["billed_units"] == 8.0
    assert entry["duration_s"] == 1.235
    assert {"time", "user", "host", "backend", "model", "outcome"} <= set(entry)
    assert "prompt" not in entry
    assert PROMPT not in (tmp_path / "audit.jsonl").read_text()


def test_prompt_is_kept_when_the_recipe_asks(tmp_path):
    AuditLog(tmp_path, audit_prompts=True).record(
        role="planner", backend="offline", model="", shot=None, prompt=PROMPT, outcome="ok"
    )
    assert lines(tmp_path)[0]["prompt"] == PROMPT


def test_keys_in_errors_and_prompts_never_reach_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv("TALE_RUNWAY_API_KEY", FAKE_KEY)
    log = AuditLog(tmp_path, audit_prompts=True)
    log.record(
        role="video",
        backend="runway",
        model="gen4.5",
        shot=1,
        prompt=f"{PROMPT} {FAKE_KEY}",
        outcome="error",
        error=f"401 Unauthorized: Bearer {FAKE_KEY}",
    )
    text = (tmp_path / "audit.jsonl").read_text()
    assert "401 Unauthorized" in text
    assert FAKE_KEY not in text


def test_concurrent_records_stay_whole_lines(tmp_path):
    log = AuditLog(tmp_path, audit_prompts=True)

    def work(worker: int) -> None:
        for shot in range(25):
            log.record(
                role="video", backend="preview", model="m", shot=shot, prompt=PROMPT * 20, outcome="ok", attempt=worker
            )

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = lines(tmp_path)
    assert len(entries) == 200
    assert {(e["attempt"], e["shot"]) for e in entries} == {(w, s) for w in range(8) for s in range(25)}


def test_audit_file_is_owner_only_and_symlinks_are_refused(tmp_path):
    AuditLog(tmp_path, audit_prompts=False).record(
        role="image", backend="preview", model="", shot=None, prompt="x", outcome="ok", character="mira"
    )
    assert (tmp_path / "audit.jsonl").stat().st_mode & 0o777 == 0o600
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("precious\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "audit.jsonl").symlink_to(elsewhere)
    with pytest.raises(OutputError) as caught:
        AuditLog(run_dir, audit_prompts=False).record(
            role="image", backend="preview", model="", shot=None, prompt="x", outcome="ok"
        )
    assert "symlink" in (caught.value.hint or "")
    assert elsewhere.read_text() == "precious\n"


def test_tale_audit_table_and_json(tmp_path):
    log = AuditLog(tmp_path, audit_prompts=False)
    log.record(role="planner", backend="offline", model="heuristic", shot=None, prompt=PROMPT, outcome="ok")
    log.record(role="video", backend="runway", model="gen4.5", shot=2, prompt=PROMPT, outcome="error", attempt=1)
    log.record(
        role="video",
        backend="runway",
        model="gen4.5",
        shot=2,
        prompt=PROMPT,
        outcome="ok",
        attempt=2,
        billed_units=40,
        unit="credits",
        cost_usd=0.4,
    )
    table = CliRunner().invoke(cli(), [str(tmp_path)])
    assert table.exit_code == 0, table.output
    assert "gen4.5" in table.output
    assert "40 credits" in table.output
    assert "3 requests, 1 not ok, $0.40 billed" in table.output
    as_json = CliRunner().invoke(cli(), [str(tmp_path / "audit.jsonl"), "--json"])
    assert as_json.exit_code == 0
    data = json.loads(as_json.output)
    assert data["requests"] == 3
    assert data["entries"][2]["attempt"] == 2


def test_tale_audit_errors(tmp_path):
    missing = CliRunner().invoke(cli(), [str(tmp_path)])
    assert missing.exit_code == ExitCode.INPUT
    assert "no audit log" in missing.output
    (tmp_path / "audit.jsonl").write_text('{"role": "video"}\nnot json\n')
    broken = CliRunner().invoke(cli(), [str(tmp_path)])
    assert broken.exit_code == ExitCode.INPUT
    assert "line 2 is not JSON" in broken.output


def test_read_audit_counts(tmp_path):
    (tmp_path / "audit.jsonl").write_text(
        json.dumps({"outcome": "ok", "cost_usd": 0.1}) + "\n\n" + json.dumps({"outcome": "error"}) + "\n"
    )
    summary = read_audit(tmp_path)
    assert (summary.requests, summary.failed, summary.cost_usd) == (2, 1, 0.1)


def test_deferred_lines_wait_for_the_run_folder_and_keep_only_the_latest(tmp_path):
    run_dir = tmp_path / "not-yet"
    log = AuditLog(run_dir, audit_prompts=False)
    log.record(role="planner", backend="offline", model="", shot=None, prompt="first", outcome="ok", defer=True)
    log.record(role="planner", backend="offline", model="", shot=None, prompt="second", outcome="ok", defer=True)
    assert not run_dir.exists()
    run_dir.mkdir()
    assert AuditLog(run_dir, audit_prompts=False).write_deferred() == 1
    assert [entry["prompt_sha256"] for entry in lines(run_dir)] == [hashlib.sha256(b"second").hexdigest()]
    assert log.write_deferred() == 0
