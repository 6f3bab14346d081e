"""The run folder: its paths, the manifest model and the job journal (the film's records are in tale_cli.run.film_records,
safe file writes in tale_cli.files)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tale_cli.errors import OutputError
from tale_cli.files import atomic_write_bytes, atomic_write_text, find_symlink, now_iso, refuse_symlink
from tale_cli.keys.seal import SEAL_FILE, identity, media_sealed, read_bytes, read_lines, seal_folder, seal_of
from tale_cli.literals import Tier
from tale_cli.record import FileRecord, Record
from tale_cli.run.film_records import FilmRecord, MixRecord, MusicRecord, VoiceClipRecord, VoiceRecord
from tale_cli.run.made_voices import MadeVoiceRecord
from tale_cli.run.verdicts import JudgeCharge, JudgeRecord, TakeJudgement, judge_charges
from tale_cli.version import __version__

if TYPE_CHECKING:
    from tale_cli.story.plan import Plan


class RunFolder:
    """`out/<slug>/`: plan.json, refs/, shots/, film.mp4, film.srt, storyboard.png, manifest.json, jobs.jsonl; a run
    rendered with --draft has its draft film in film.draft.mp4 (and .srt), its final film in film.mp4.

    A sealed run (seal.json, tale_cli.keys.seal) has its text files sealed: `write_text` seals them and `read_bytes`
    opens them in memory. `seal=True` seals the folder when it is created (and a plain one already there).
    """

    def __init__(self, root: Path, *, private: bool = False, seal: bool = False, seal_media: bool = False) -> None:
        self.root = root
        self.private = private
        self.file_mode = 0o600 if private else 0o644
        self.seal = seal or seal_media
        self.seal_media = seal_media

    @property
    def plan(self) -> Path:
        return self.root / "plan.json"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def journal(self) -> Path:
        return self.root / "jobs.jsonl"

    @property
    def refs(self) -> Path:
        return self.root / "refs"

    @property
    def ref_cache(self) -> Path:
        return self.root / "refs" / "by-hash"

    @property
    def shots(self) -> Path:
        return self.root / "shots"

    @property
    def cache(self) -> Path:
        return self.root / "shots" / "by-hash"

    @property
    def takes(self) -> Path:
        return self.root / "shots" / "takes"

    @property
    def film(self) -> Path:
        return self.root / "film.mp4"

    @property
    def srt(self) -> Path:
        return self.root / "film.srt"

    @property
    def draft_film(self) -> Path:
        return self.root / "film.draft.mp4"

    @property
    def draft_srt(self) -> Path:
        return self.root / "film.draft.srt"

    @property
    def storyboard(self) -> Path:
        return self.root / "storyboard.png"

    def shot_file(self, index: int) -> Path:
        return self.shots / f"shot-{index:02d}.mp4"

    def take_file(self, index: int, take: int) -> Path:
        return self.takes / f"shot-{index:02d}-take-{take}.mp4"

    @property
    def seal_file(self) -> Path:
        return self.root / SEAL_FILE

    @property
    def sealed(self) -> bool:
        return self.seal_file.is_file()

    def check_seal(self) -> None:
        """Before anything is read or written: the identity that opens this sealed run (or will seal it) is at hand
        and is the right one; else one KeysError, and nothing is touched."""
        found = seal_of(self.root) if self.root.is_dir() else None
        if found is not None:
            found.check()
        elif self.seal:
            identity()

    def check_writable(self) -> None:
        """Refuse, before any work, an output folder that is a file, a link or cannot be written."""
        for path in (self.root, *self.root.parents):
            if path.exists() or path.is_symlink():
                if path == self.root:
                    refuse_symlink(path)
                if not path.is_dir():
                    raise OutputError(f"{path} exists and is not a folder", hint="choose another --out")
                try:
                    with tempfile.TemporaryFile(dir=path):
                        pass
                except OSError:
                    raise OutputError(
                        f"cannot write to {path}", hint="choose another --out or fix its permissions"
                    ) from None
                return
        raise OutputError(f"cannot create {self.root}")

    def create(self) -> None:
        self.check_writable()
        dir_mode = 0o700 if self.private else 0o755
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=dir_mode)
            planted = find_symlink(self.root)
            if planted is not None:
                refuse_symlink(planted)
            for sub in (self.refs, self.ref_cache, self.shots, self.cache, self.takes):
                refuse_symlink(sub)
                sub.mkdir(exist_ok=True, mode=dir_mode)
            if self.private:
                for sub in (self.root, self.refs, self.ref_cache, self.shots, self.cache, self.takes):
                    sub.chmod(0o700)
        except OSError as error:
            raise OutputError(f"cannot create {self.root}: {error.strerror}") from None
        if self.seal:
            seal_folder(self.root, media=self.seal_media)

    def seal_media_made(self) -> None:
        """In a media-sealed run: the media written since the last pass sealed in place (a clip and its cached copy
        stay one file); nothing is rewritten when all are sealed already."""
        if media_sealed(self.root):
            seal_folder(self.root, media=True)

    def write_text(self, path: Path, text: str) -> None:
        """Write a text file of the run, sealed in a sealed run."""
        found = seal_of(self.root)
        if found is None:
            atomic_write_text(path, text, mode=self.file_mode)
        else:
            atomic_write_bytes(path, found.seal(text.encode("utf-8")), mode=self.file_mode)

    def read_text(self, path: Path) -> str:
        """A text file of the run as it reads in the clear (a sealed one opened in memory)."""
        return read_bytes(path).decode("utf-8")

    def secure(self, path: Path) -> None:
        if self.private and path.exists() and not path.is_symlink():
            path.chmod(0o600)


class ShotStatus(StrEnum):
    """A shot's state in manifest.json."""

    RENDERING = "rendering"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # in flight when the run was stopped; the next run renders it again


class RefStatus(StrEnum):
    """A character reference's state in manifest.json (a reference that fails stops the run, unrecorded)."""

    DONE = "done"


class RunInfo(Record):
    """The run: its slug, recipe and privacy, when it was created and last saved."""

    created: str | None = None
    slug: str | None = None
    recipe: str | None = None
    recipe_file: str | None = None  # the recipe's TOML file, when it is the user's own
    private: bool | None = None
    updated: str | None = None
    # "draft" for a run rendered with --draft: its renders and retakes make drafts, `tale finalize` its final film.
    tier: Tier | None = None


class PlannerRecord(Record):
    """Who planned the film and what planning cost."""

    backend: str
    model: str | None = None
    how: str | None = None
    finished_at: str | None = None
    cost_usd: float | None = None
    estimated: bool | None = None  # set for a planned story: True when the price book charged for it


class PlanOrigin(Record):
    """What a planned story's plan was made from: the same origin again reuses plan.json."""

    story_sha256: str
    planner: str
    model: str
    shots: int
    seconds: float
    size: list[int]


class RefRecord(Record):
    """One character's reference picture: its cache key, provider job, model, cost and file."""

    job: dict[str, Any] | None = None
    backend: str | None = None
    model: str | None = None
    params_hash: str | None = None
    status: RefStatus | None = None
    path: str | None = None
    cost_usd: float | None = None
    finished_at: str | None = None
    render_s: float | None = None
    file: FileRecord | None = None


class FallbackRecord(Record):
    """A refused shot rendered by the recipe's fallback recipe instead."""

    recipe: str
    backend: str
    reason: str | None = None
    # The recipe's own cache key its provider refused: while the shot keeps it, runs go straight to the fallback.
    refused_hash: str | None = None


class TakeRecord(Record):
    """One take of a shot: a clip the shot has had (rendered, retaken, or the user's own), in shots/takes/."""

    take: int  # numbered from 1 in the order the takes were made
    path: str  # for the reader: Tale finds the file by shot and take number alone (RunFolder.take_file)
    made_at: str
    # The cache key of the plan's shot this take was made for: a render keeps a chosen take while the key holds.
    plan_hash: str | None = None
    backend: str | None = None
    model: str | None = None
    params_hash: str | None = None  # its clip in shots/by-hash
    seed: int | None = None
    recipe: str | None = None
    prompt: str | None = None  # a retake's own prompt, when it was given one instead of the plan's
    source: str | None = None  # the file the user gave, for a take made from one
    provider_job_id: str | None = None
    billed_seconds: float | None = None
    billed_credits: float | None = None
    cost_usd: float | None = None
    render_s: float | None = None
    notes: dict[str, Any] | None = None
    file: FileRecord | None = None
    judge: TakeJudgement | None = None  # `tale judge`'s scores for this take
    # Every paid judging of this take, by whichever judge: never overwritten, so re-judging keeps what was spent.
    judge_charges: list[JudgeCharge] | None = None
    # In a run rendered with --draft: "draft", or "final" for `tale finalize`'s render of draft take `draft_take`
    # (a take with no tier, such as the user's own clip, is final as it is).
    tier: Tier | None = None
    draft_take: int | None = None
    # The user's picture a take was animated from (`tale replace --animate`): shots/by-hash/<first_frame>.first.png.
    first_frame: str | None = None

    def judged(self, judgement: TakeJudgement) -> None:
        """Keep `judgement` as this take's scores, and its charge among the take's paid judgings."""
        self.judge = judgement
        charges = judge_charges(judgement, self.judge_charges)
        if charges:
            self.judge_charges = charges

    def judge_spend(self) -> list[JudgeCharge]:
        """What judging this take has cost, each paid judging once."""
        return judge_charges(self.judge, self.judge_charges)


class ShotRecord(Record):
    """One shot: its current clip's backend, cache key and seed, provider job, bill, timings, file, why it failed,
    and every take it has had."""

    index: int
    backend: str | None = None
    params_hash: str | None = None
    seed: int | None = None
    status: ShotStatus | None = None
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    job: dict[str, Any] | None = None  # the provider job, recorded before polling (see JobJournal)
    model: str | None = None
    path: str | None = None
    provider_job_id: str | None = None
    billed_seconds: float | None = None
    billed_credits: float | None = None
    cost_usd: float | None = None
    render_s: float | None = None
    notes: dict[str, Any] | None = None
    fallback: FallbackRecord | None = None
    file: FileRecord | None = None
    takes: list[TakeRecord] | None = None
    take: int | None = None  # the current take's number
    locked: bool | None = None  # keep the current take whatever the plan or recipe says (`tale lock`)

    def current_take(self) -> TakeRecord | None:
        return next((take for take in self.takes or [] if take.take == self.take), None)

    def take_of(self, params_hash: str | None) -> TakeRecord | None:
        """The take whose clip has this cache key."""
        return next((take for take in self.takes or [] if params_hash and take.params_hash == params_hash), None)

    @property
    def spent_usd(self) -> float:
        """What the shot cost as recorded: every take and its judging, or for a shot from before takes, its one clip."""
        if not self.takes:
            return self.cost_usd or 0.0
        return sum(
            (take.cost_usd or 0.0) + sum(charge.cost_usd for charge in take.judge_spend()) for take in self.takes
        )


# What a shot's entry and each of its takes say alike about one clip (who made it, its key, bill and file): the
# fields they share but the take's number and the file's place.
CLIP_FIELDS = tuple(n for n in TakeRecord.model_fields if n in ShotRecord.model_fields and n not in ("take", "path"))


def copy_clip_fields(source: Record, target: Record) -> None:
    """`target` describes the clip `source` describes; a field neither has set stays out of the file."""
    for name in CLIP_FIELDS:
        value = getattr(source, name)
        if value is not None or name in target.model_fields_set:
            setattr(target, name, value)


class ManifestData(Record):
    """The whole of manifest.json."""

    run: RunInfo = Field(default_factory=RunInfo)
    planner: PlannerRecord | None = None
    refs: dict[str, RefRecord] = Field(default_factory=dict)
    shots: dict[str, ShotRecord] = Field(default_factory=dict)
    film: FilmRecord | None = None
    plan_origin: PlanOrigin | None = None
    voice: VoiceRecord | None = None
    music: MusicRecord | None = None
    mix: MixRecord | None = None
    # A run rendered with --draft: its draft film (film.draft.mp4) and its sound as mixed.
    draft_film: FilmRecord | None = None
    draft_mix: MixRecord | None = None
    judge: JudgeRecord | None = None
    made_voices: list[MadeVoiceRecord] | None = None  # `tale voices design` and `clone`
    tale_version: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _always_written(cls, raw: Any) -> Any:
        # Every manifest has had these five keys from its first save.
        if isinstance(raw, dict):
            raw = {"run": {"created": now_iso()}, "planner": None, "refs": {}, "shots": {}, "film": None, **raw}
        return raw

    @classmethod
    def salvage(cls, raw: dict[str, Any]) -> ManifestData:
        """What validates of a manifest: a damaged entry is dropped (it renders again), a damaged section reset."""
        try:
            return cls.model_validate(raw)
        except ValidationError:
            pass
        kept = dict(raw)
        for section, model in (("refs", RefRecord), ("shots", ShotRecord)):
            entries = raw.get(section)
            kept[section] = (
                {key: entry for key, entry in entries.items() if _validates(model, entry)}
                if isinstance(entries, dict)
                else {}
            )
        return cls.model_validate({key: value for key, value in kept.items() if _validates(cls, {key: value})})

    def restore(self, lines: Iterable[JournalLine]) -> None:
        """Fill in from the job journal what this manifest lost: each shot's and reference's last finished entry,
        the plan's origin and planner. Entries it still holds are kept."""
        shots: dict[str, ShotRecord] = {}
        refs: dict[str, RefRecord] = {}
        for line in lines:
            if line.shot is not None and line.shot_done is not None:
                shots[str(line.shot)] = line.shot_done
            if line.ref is not None and line.ref_done is not None:
                refs[line.ref] = line.ref_done
            if line.plan_origin is not None and self.plan_origin is None:
                self.plan_origin = line.plan_origin.model_copy(deep=True)
            if line.planner is not None and self.planner is None:
                self.planner = line.planner.model_copy(deep=True)
        for key, shot in sorted(shots.items(), key=lambda item: int(item[0])):
            self.shots.setdefault(key, shot.model_copy(deep=True))
        for key, ref in refs.items():
            self.refs.setdefault(key, ref.model_copy(deep=True))

    @property
    def cost_usd(self) -> float:
        """What the run cost as recorded: plan, references, every take, voice clips, score, voices made."""
        charges: list[PlannerRecord | RefRecord | VoiceClipRecord | MusicRecord | MadeVoiceRecord] = (
            [self.planner] if self.planner else []
        )
        charges += [*self.refs.values(), *([*self.voice.clips, *self.voice.samples] if self.voice else [])]
        charges += self.made_voices or []
        charges += [self.music] if self.music else []
        return sum(charge.cost_usd or 0.0 for charge in charges) + sum(shot.spent_usd for shot in self.shots.values())

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_unset=True), ensure_ascii=False, indent=2) + "\n"


def _validates(model: type[BaseModel], raw: Any) -> bool:
    try:
        model.model_validate(raw)
    except ValidationError:
        return False
    return True


class JournalLine(BaseModel):
    """One line of jobs.jsonl: a provider job as it was accepted, a finished shot or reference, or the plan's origin."""

    model_config = ConfigDict(extra="ignore")

    at: str
    shot: int | None = None
    ref: str | None = None
    job: dict[str, Any] | None = None  # written the moment the provider accepted the job; carries its params_hash
    shot_done: ShotRecord | None = None  # the shot's manifest entry as its clip was finished (or found again)
    ref_done: RefRecord | None = None  # the reference's manifest entry as its picture was finished
    plan_origin: PlanOrigin | None = None
    planner: PlannerRecord | None = None

    def encode(self) -> bytes:
        fields = self.model_dump(mode="json", exclude_unset=True)
        line = {key: value for key, value in fields.items() if value is not None}
        return (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")


class Journal:
    """jobs.jsonl beside the manifest: what was paid for and what was finished, appended and never rewritten.

    manifest.json is rewritten after every change, so one damaged or lost copy of it would forget every
    paid job; this file keeps them. Each line is a single write to the file opened O_APPEND, flushed to
    disk (fsync) before the caller goes on; a line torn by a crash is skipped when read back.
    """

    def __init__(self, path: Path, *, mode: int = 0o644) -> None:
        self.path = path
        self.mode = mode
        self._lock = threading.Lock()
        self.lines: list[JournalLine] = self._read()

    def _read(self) -> list[JournalLine]:
        if self.path.is_symlink():
            return []
        try:
            raw = self.path.read_bytes()
        except OSError:
            return []
        lines: list[JournalLine] = []
        for text in read_lines(self.path, raw):
            with contextlib.suppress(ValidationError):
                lines.append(JournalLine.model_validate_json(text))
        return lines

    def append(self, line: JournalLine) -> None:
        seal = seal_of(self.path.parent)  # a sealed run's journal: each line sealed on its own
        data = seal.seal_line(line.encode()) if seal is not None else line.encode()
        with self._lock:
            refuse_symlink(self.path)
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(self.path, flags, self.mode)
            try:
                end = os.fstat(fd).st_size
                if end:
                    os.lseek(fd, end - 1, os.SEEK_SET)
                    if os.read(fd, 1) != b"\n":
                        data = b"\n" + data  # the torn end of a crashed write: this line starts a line of its own
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            self.lines.append(line)

    def job_for(self, params_hash: str) -> dict[str, Any] | None:
        """The last provider job recorded for these parameters, whichever shot or reference it was for."""
        for line in reversed(self.lines):
            if line.job is not None and line.job.get("params_hash") == params_hash:
                return line.job
        return None

    def finished_shot(self, params_hash: str) -> ShotRecord | None:
        """The last entry of a shot finished with these parameters."""
        for line in reversed(self.lines):
            if line.shot_done is not None and line.shot_done.params_hash == params_hash:
                return line.shot_done
        return None

    def finished_ref(self, params_hash: str) -> RefRecord | None:
        """The last entry of a reference finished with these parameters."""
        for line in reversed(self.lines):
            if line.ref_done is not None and line.ref_done.params_hash == params_hash:
                return line.ref_done
        return None

    def plan_origin(self) -> PlanOrigin | None:
        return next((line.plan_origin for line in reversed(self.lines) if line.plan_origin is not None), None)


class Manifest:
    """manifest.json of one run folder: what was rendered, how, what it cost; saved atomically after every change.

    Shots finish on several threads, so every change happens under one lock and is saved before it is released.
    """

    def __init__(
        self, folder: RunFolder, data: ManifestData, *, journal: Journal | None = None, repaired: str | None = None
    ) -> None:
        self.folder = folder
        self.data = data
        self.journal = journal if journal is not None else Journal(folder.journal, mode=folder.file_mode)
        self.repaired = repaired  # what to tell the user when manifest.json was damaged or lost and rebuilt
        self._lock = threading.RLock()
        self._journaled_origin = self.journal.plan_origin()

    @staticmethod
    def read(path: Path) -> ManifestData | None:
        """A manifest.json file as its model; None when it is missing, unreadable or not a JSON object."""
        return Manifest._parse(path)[0]

    @staticmethod
    def _parse(path: Path) -> tuple[ManifestData | None, bool]:
        """The file's model (what validates of it) and whether all of it validated."""
        try:
            loaded = json.loads(read_bytes(path).decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None, False
        if not isinstance(loaded, dict):
            return None, False
        try:
            return ManifestData.model_validate(loaded), True
        except ValidationError:
            return ManifestData.salvage(loaded), False

    @classmethod
    def load(cls, folder: RunFolder) -> Manifest:
        """The folder's manifest, or a new one; one damaged, lost or replaced by a planted link is rebuilt from the
        job journal (its shots' clips are then found by their hash in shots/by-hash)."""
        journal = Journal(folder.journal, mode=folder.file_mode)
        planted = folder.manifest.is_symlink()
        data, intact = (None, False) if planted else cls._parse(folder.manifest)
        if data is not None and intact:
            return cls(folder, data, journal=journal)
        present = planted or folder.manifest.exists()
        if not present and not journal.lines:
            return cls(folder, ManifestData(), journal=journal)
        data = data or ManifestData()
        data.restore(journal.lines)
        word = "damaged" if present else "missing"
        repaired = f"manifest.json was {word}; rebuilt from shots/by-hash and the job journal"
        return cls(folder, data, journal=journal, repaired=repaired)

    def shot(self, index: int) -> ShotRecord:
        with self._lock:
            return self.data.shots.setdefault(str(index), ShotRecord(index=index))

    def ref(self, character_id: str) -> RefRecord:
        with self._lock:
            return self.data.refs.setdefault(character_id, RefRecord())

    @contextlib.contextmanager
    def edit(self) -> Iterator[ManifestData]:
        """Change the manifest in the `with` block; it is saved when the block ends."""
        with self._lock:
            yield self.data
            self.save()

    @contextlib.contextmanager
    def edit_shot(self, index: int) -> Iterator[ShotRecord]:
        with self._lock:
            yield self.shot(index)
            self.save()

    @contextlib.contextmanager
    def edit_ref(self, character_id: str) -> Iterator[RefRecord]:
        with self._lock:
            yield self.ref(character_id)
            self.save()

    def record_shot_job(self, index: int, job: dict[str, Any]) -> None:
        """A shot's provider job the moment it was accepted: in the journal first, then in the manifest.

        The journal line is one small fsynced append that waits for no other shot's manifest save, so a
        kill right after the provider's answer still leaves the job for the next run to poll.
        """
        try:
            self.journal.append(JournalLine(at=now_iso(), shot=index, job=job))
        finally:
            with self.edit_shot(index) as entry:
                entry.job = job

    def record_ref_job(self, character_id: str, job: dict[str, Any]) -> None:
        """A reference's provider job the moment it was accepted: in the journal first, then in the manifest."""
        try:
            self.journal.append(JournalLine(at=now_iso(), ref=character_id, job=job))
        finally:
            with self.edit_ref(character_id) as entry:
                entry.job = job

    @contextlib.contextmanager
    def finish_shot(self, index: int, *, start_from: ShotRecord | None = None) -> Iterator[ShotRecord]:
        """Change a finished shot's entry (replaced first by `start_from` when given, keeping the shot's takes and
        lock); the journal keeps a copy."""
        with self._lock:
            if start_from is not None:
                before = self.data.shots.get(str(index))
                entry = start_from.model_copy(deep=True, update={"index": index})
                # An entry from the journal is as it was then: the takes made since and the lock are today's.
                if before is not None and before.takes is not None:
                    entry.takes = [take.model_copy(deep=True) for take in before.takes]
                if before is not None and before.locked is not None:
                    entry.locked = before.locked
                self.data.shots[str(index)] = entry
            entry = self.shot(index)
            yield entry
            self.journal.append(JournalLine(at=now_iso(), shot=index, shot_done=entry.model_copy(deep=True)))
            self.save()

    @contextlib.contextmanager
    def finish_ref(self, character_id: str, *, start_from: RefRecord | None = None) -> Iterator[RefRecord]:
        """Change a finished reference's entry (replaced first by `start_from` when given); the journal keeps a copy."""
        with self._lock:
            if start_from is not None:
                self.data.refs[character_id] = start_from.model_copy(deep=True)
            entry = self.ref(character_id)
            yield entry
            self.journal.append(JournalLine(at=now_iso(), ref=character_id, ref_done=entry.model_copy(deep=True)))
            self.save()

    def save(self) -> None:
        with self._lock:
            self.data.tale_version = __version__
            self.data.run.updated = now_iso()
            origin = self.data.plan_origin
            if origin is not None and origin != self._journaled_origin:
                # The plan's origin goes to the journal too: a lost manifest must not plan (and pay for) the story again.
                self.journal.append(JournalLine(at=now_iso(), plan_origin=origin, planner=self.data.planner))
                self._journaled_origin = origin.model_copy(deep=True)
            self.folder.write_text(self.folder.manifest, self.data.to_json())


def expected_refs(plan: Plan, folder: RunFolder) -> dict[str, Path]:
    """Where each character's and entity's reference is (or will be), to tell cached shots before references are
    drawn."""
    return {s.id: folder.root / (s.reference_image or f"refs/{s.id}.png") for s in plan.subjects()}
