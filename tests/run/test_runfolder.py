from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from tale_cli.run.folder import (
    Journal,
    JournalLine,
    Manifest,
    ManifestData,
    PlanOrigin,
    RefStatus,
    RunFolder,
    ShotRecord,
    ShotStatus,
)

DATA = Path(__file__).parents[1] / "data"
# Written by `tale render` before the manifest had a model: the README's example film, and a run with a job
# journal, notes, a fallback and a failed shot.
WRITTEN_BEFORE = ["manifest-example.json", "manifest-fallback.json"]


@pytest.mark.parametrize("name", WRITTEN_BEFORE)
def test_a_manifest_from_an_earlier_render_reads_and_writes_back_byte_for_byte(name: str) -> None:
    text = (DATA / name).read_text(encoding="utf-8")
    data = Manifest.read(DATA / name)
    assert data is not None
    assert data.to_json() == text


def test_states_are_enums_and_the_record_is_typed() -> None:
    data = Manifest.read(DATA / "manifest-fallback.json")
    assert data is not None
    assert [shot.status for shot in data.shots.values()] == [ShotStatus.DONE] * 3 + [ShotStatus.FAILED]
    assert data.refs["ada"].status is RefStatus.DONE
    assert data.shots["2"].fallback is not None and data.shots["2"].fallback.recipe == "tiny"
    assert data.shots["1"].job is not None and data.shots["1"].job["id"] == "job-1"
    assert data.planner is not None and data.planner.how == "planned with offline"
    assert data.plan_origin is not None and data.plan_origin.size == [160, 96, 12]
    assert data.cost_usd == pytest.approx(0.15)


def test_saving_a_loaded_manifest_changes_only_its_stamps(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.create()
    shutil.copyfile(DATA / "manifest-example.json", folder.manifest)
    before = json.loads(folder.manifest.read_text(encoding="utf-8"))
    Manifest.load(folder).save()
    after = json.loads(folder.manifest.read_text(encoding="utf-8"))
    assert after["run"].pop("updated") >= before["run"].pop("updated")
    assert after == before
    assert list(folder.root.glob("*.part")) == []


def test_unknown_keys_are_kept(tmp_path: Path) -> None:
    document = json.loads((DATA / "manifest-example.json").read_text(encoding="utf-8"))
    document["review"] = {"page": "review.html"}
    document["shots"]["3"]["takes"] = [
        {"take": 1, "path": "shots/takes/shot-03-take-1.mp4", "made_at": "2026-11-30T01:53:21+00:00", "score": 0.8}
    ]
    document["film"]["loudness_lufs"] = -16.0
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    data = Manifest.read(path)
    assert data is not None
    assert json.loads(data.to_json()) == document


def test_a_damaged_entry_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    document = json.loads((DATA / "manifest-example.json").read_text(encoding="utf-8"))
    document["shots"]["2"]["status"] = "half-done"
    document["shots"]["5"] = "not a shot"
    document["refs"] = ["not", "a", "mapping"]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    data = Manifest.read(path)
    assert data is not None
    assert sorted(data.shots) == ["1", "3", "4", "6", "7", "8"]
    assert data.refs == {}
    assert data.film is not None and data.film.duration_s == 64.0


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", "\udcff"])
def test_an_unreadable_manifest_reads_as_none_and_loads_as_a_new_one(tmp_path: Path, content: str) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.create()
    folder.manifest.write_bytes(content.encode("utf-8", "surrogateescape"))
    assert Manifest.read(folder.manifest) is None
    manifest = Manifest.load(folder)
    assert manifest.data.shots == {} and manifest.data.run.created is not None


def test_a_new_manifest_has_its_five_sections_in_order(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.create()
    manifest = Manifest.load(folder)
    with manifest.edit_shot(2) as shot:
        shot.status = ShotStatus.RENDERING
    written = json.loads(folder.manifest.read_text(encoding="utf-8"))
    assert list(written) == ["run", "planner", "refs", "shots", "film", "tale_version"]
    assert written["shots"] == {"2": {"index": 2, "status": "rendering"}}
    assert list(written["run"]) == ["created", "updated"]


def test_keys_are_written_in_the_order_they_were_first_set() -> None:
    shot = ShotRecord(index=1)
    shot.render_s = 1.5
    shot.status = ShotStatus.FAILED
    shot.error = "refused"
    shot.status = ShotStatus.DONE
    assert list(json.loads(ManifestData(shots={"1": shot}).to_json())["shots"]["1"]) == [
        "index",
        "render_s",
        "status",
        "error",
    ]
    assert shot == ShotRecord(status=ShotStatus.DONE, error="refused", index=1, render_s=1.5)


def test_changes_from_many_threads_all_reach_the_file(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.create()
    manifest = Manifest.load(folder)

    def record(index: int) -> None:
        for attempt in range(20):
            with manifest.edit_shot(index) as shot:
                shot.job = {"id": f"job-{index}-{attempt}"}

    threads = [threading.Thread(target=record, args=(index,)) for index in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = Manifest.read(folder.manifest)
    assert written is not None
    assert {key: shot.job for key, shot in written.shots.items()} == {
        str(index): {"id": f"job-{index}-19"} for index in range(1, 9)
    }


def test_a_planted_link_is_not_read_as_the_manifest(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.create()
    folder.manifest.symlink_to(DATA / "manifest-example.json")
    assert Manifest.load(folder).data.shots == {}


def test_the_journal_skips_a_torn_last_line_and_the_next_line_starts_on_its_own(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.create()
    Journal(folder.journal).append(JournalLine(at="t1", shot=1, job={"id": "job-1", "params_hash": "a"}))
    with folder.journal.open("ab") as handle:
        handle.write(b'{"at": "t2", "shot": 2, "job": {"id": "jo')  # killed in the middle of a write
    assert [line.job for line in Journal(folder.journal).lines] == [{"id": "job-1", "params_hash": "a"}]

    Journal(folder.journal).append(JournalLine(at="t3", shot=3, job={"id": "job-3", "params_hash": "c"}))

    journal = Journal(folder.journal)
    assert [line.shot for line in journal.lines] == [1, 3]
    assert journal.job_for("c") == {"id": "job-3", "params_hash": "c"} and journal.job_for("b") is None


def test_a_job_is_in_the_journal_before_the_manifest_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.create()
    manifest = Manifest.load(folder)

    def killed(*_: object, **__: object) -> None:
        raise SystemExit("killed while writing manifest.json")

    monkeypatch.setattr("tale_cli.run.folder.atomic_write_text", killed)
    with pytest.raises(SystemExit):
        manifest.record_shot_job(4, {"provider": "vertex-veo", "id": "op-4", "params_hash": "h4"})

    assert Manifest.read(folder.manifest) is None
    assert Manifest.load(folder).journal.job_for("h4") == {"provider": "vertex-veo", "id": "op-4", "params_hash": "h4"}


def test_a_lost_manifest_is_rebuilt_from_the_journal(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.create()
    manifest = Manifest.load(folder)
    with manifest.edit() as data:
        data.plan_origin = PlanOrigin(story_sha256="s", planner="offline", model="", shots=2, seconds=8.0, size=[1, 2])
    for index in (1, 2):
        manifest.record_shot_job(index, {"id": f"job-{index}", "params_hash": f"h{index}"})
        with manifest.finish_shot(index) as shot:
            shot.params_hash = f"h{index}"
            shot.status = ShotStatus.DONE
            shot.cost_usd = 0.8
    with manifest.finish_ref("ada") as ref:
        ref.params_hash = "r"
        ref.status = RefStatus.DONE
    kept = json.loads(folder.manifest.read_text(encoding="utf-8"))
    folder.manifest.write_text(folder.manifest.read_text(encoding="utf-8")[:200], encoding="utf-8")

    rebuilt = Manifest.load(folder)

    assert rebuilt.repaired == "manifest.json was damaged; rebuilt from shots/by-hash and the job journal"
    written = json.loads(rebuilt.data.to_json())
    for section in ("shots", "refs", "plan_origin"):
        assert written[section] == kept[section]
    folder.manifest.unlink()
    assert Manifest.load(folder).repaired == "manifest.json was missing; rebuilt from shots/by-hash and the job journal"
