"""Judging takes: each take's frames checked and shown to the judge once (cached by take and judge settings), then
scored against the other shots, written into manifest.json and judge.json."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tale_cli.backends.base import (
    CharacterVerdict,
    JudgeBackend,
    JudgeCharacter,
    JudgeEntity,
    JudgeRequest,
    TakeVerdict,
)
from tale_cli.errors import KeysError, RecipeError, TaleError
from tale_cli.files import now_iso
from tale_cli.judge.checks import FrameChecks, check_frames
from tale_cli.judge.frames import grey_frames, judged_frames
from tale_cli.keys.redact import redact
from tale_cli.keys.seal import read_bytes
from tale_cli.registry import Role, create
from tale_cli.run.verdicts import (
    AppearanceSummary,
    CharacterJudgement,
    MetricSummary,
    TakeJudgement,
    appearance_score,
    lowest,
)

if TYPE_CHECKING:
    from tale_cli.config import Recipe
    from tale_cli.keys.audit import AuditLog
    from tale_cli.run.folder import Manifest, RunFolder, TakeRecord
    from tale_cli.story.plan import Plan

JUDGE_VERSION = 1
# The metrics a film's summary gives, in the order the terminal shows them.
METRICS = ("score", "prompt", "cross", "self_score", "alignment")


def judge_backend(recipe: Recipe) -> JudgeBackend | None:
    """The recipe's judge backend; None for "none" (the no-model checks only)."""
    if not recipe.judge.enabled:
        return None
    backend: JudgeBackend = create(Role.JUDGE, recipe.judge.backend, recipe)
    return backend


@dataclass
class Judged:
    """One take's judging as cached in judge/<key>.json: the frame checks and the judge's verdict (None: no model)."""

    key: str
    checks: FrameChecks
    verdict: TakeVerdict | None
    cached: bool = False
    error: str | None = None  # the judge failed on this take (it is judged again next time)

    def to_json(self) -> str:
        return json.dumps({"key": self.key, "checks": asdict(self.checks),
                           "verdict": asdict(self.verdict) if self.verdict else None})  # fmt: skip

    @classmethod
    def read(cls, path: Path, key: str) -> Judged | None:
        try:
            data = json.loads(read_bytes(path).decode("utf-8"))
            verdict = data.get("verdict")
            if verdict is not None:
                characters = {cid: CharacterVerdict(**item) for cid, item in verdict.pop("characters", {}).items()}
                entities = {eid: CharacterVerdict(**item) for eid, item in verdict.pop("entities", {}).items()}
                verdict = TakeVerdict(**verdict, characters=characters, entities=entities)
            return cls(key, FrameChecks(**data["checks"]), verdict, cached=True)
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None


@dataclass
class Appearance:
    """One character or entity in one take, as `tale judge` lists it."""

    kind: str  # "character", or the entity's kind
    found: bool | None
    cross: float | None
    self_score: float | None
    score: float | None  # see `appearance_score`: 0 when not found


@dataclass
class JudgeRow:
    """One take as `tale judge` lists it."""

    shot: int
    take: int
    current: bool
    score: float | None
    prompt: float | None
    alignment: float | None
    cross: float | None
    self_score: float | None
    frozen: bool
    flash: bool
    mute_line: bool
    motion: float
    # The characters and entities the plan puts in the shot that were looked for and not found.
    missing: list[str] = field(default_factory=list)
    weakest: float | None = None  # the lowest score of a character or entity on screen
    characters: dict[str, Appearance] = field(default_factory=dict)
    entities: dict[str, Appearance] = field(default_factory=dict)
    cached: bool = False
    cost_usd: float | None = None
    notes: list[str] = field(default_factory=list)


def cosine(a: list[float], b: list[float]) -> float:
    left, right = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(left) * np.linalg.norm(right))
    return 0.0 if norm == 0 else float(np.dot(left, right) / norm)


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def settings_key(backend: JudgeBackend | None, recipe: Recipe) -> str:
    """The judge's settings as one short key: what, besides the take, changes a judgement."""
    from tale_cli.files import digest

    fingerprint = backend.fingerprint() if backend is not None else {"backend": "none"}
    return digest({"v": JUDGE_VERSION, **fingerprint, "frames": recipe.judge.frames})[:16]


class Judge:
    """The judge of one run folder: its backend (loaded once), its cache in judge/ and its audit lines."""

    def __init__(self, folder: RunFolder, plan: Plan, recipe: Recipe, audit: AuditLog | None) -> None:
        self.folder = folder
        self.plan = plan
        self.recipe = recipe
        self.audit = audit
        self.backend = judge_backend(recipe)
        self.settings = settings_key(self.backend, recipe)
        self._loaded = False
        self._ref_digests: dict[str, str] = {}

    @property
    def name(self) -> str:
        return self.backend.name if self.backend is not None else "none"

    @property
    def model(self) -> str | None:
        return self.backend.model if self.backend is not None else None

    def preflight(self) -> None:
        if self.backend is not None:
            self.backend.preflight()

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()

    @property
    def cache(self) -> Path:
        return self.folder.root / "judge"

    def _characters(self, index: int) -> list[JudgeCharacter]:
        from tale_cli.run.folder import expected_refs

        refs = expected_refs(self.plan, self.folder)
        shot = self.plan.shots[index - 1]
        wanted = [c for c in self.plan.characters if c.id in shot.characters]
        return [
            JudgeCharacter(c.id, c.name, c.description, refs[c.id] if refs[c.id].is_file() else None) for c in wanted
        ]

    def _entities(self, index: int) -> list[JudgeEntity]:
        from tale_cli.run.folder import expected_refs

        shot = self.plan.shots[index - 1]
        if not shot.entities:
            return []
        refs = expected_refs(self.plan, self.folder)
        wanted = [e for e in self.plan.entities if e.id in shot.entities]
        return [
            JudgeEntity(e.id, e.kind, e.name, e.description, refs[e.id] if refs[e.id].is_file() else None)
            for e in wanted
        ]

    def _ref_digest(self, thing_id: str, reference: Path | None) -> str | None:
        from tale_cli.run.identity import file_digest

        if reference is None:
            return None
        if thing_id not in self._ref_digests:
            self._ref_digests[thing_id] = file_digest(reference)
        return self._ref_digests[thing_id]

    def _key(
        self, index: int, clip_sha: str, characters: list[JudgeCharacter], entities: list[JudgeEntity] | None = None
    ) -> str:
        from tale_cli.files import digest

        people = [[c.id, c.description, self._ref_digest(c.id, c.reference)] for c in characters]
        shot = self.plan.shots[index - 1]
        fields: dict[str, object] = {"settings": self.settings, "clip": clip_sha, "prompt": shot.prompt,
                                     "characters": people}  # fmt: skip
        if entities:  # a shot without entities keeps the key it had before there were any
            fields["entities"] = [[e.id, e.kind, e.name, e.description, self._ref_digest(e.id, e.reference)]
                                  for e in entities]  # fmt: skip
            fields["entity_judge"] = self.backend.entity_fingerprint() if self.backend is not None else {}
        if self._says_lines(index):
            fields["lines"] = [line.text for line in shot.lines]
        return digest(fields)[:32]

    def _says_lines(self, index: int) -> bool:
        """The shot's clip is to say its lines itself (dialogue = "clip")."""
        from tale_cli.film.dialogue import in_clip

        return in_clip(self.recipe) and any(line.text.strip() for line in self.plan.shots[index - 1].lines)

    def take(self, index: int, take: TakeRecord, clip: Path) -> Judged:
        """The take's judging: from the cache when this take was judged with these settings, else made now."""
        from tale_cli.run.identity import file_digest

        characters, entities = self._characters(index), self._entities(index)
        sha = take.file.sha256 if take.file is not None else file_digest(clip)
        key = self._key(index, sha, characters, entities)
        path = self.cache / f"{key}.json"
        if path.is_file() and not path.is_symlink():
            found = Judged.read(path, key)
            if found is not None:
                return found
        if self.backend is None:
            judged = Judged(key, check_frames(grey_frames(clip)), None)
        else:
            # One decode: every frame small and grey for the checks, and the few the model sees.
            with tempfile.TemporaryDirectory(prefix="tale-judge-") as work:
                count = min(self.recipe.judge.frames, self.backend.capabilities().max_frames)
                grey, frames = judged_frames(clip, Path(work), count=count)
                judged = Judged(key, check_frames(grey), None)
                judged.verdict, judged.error = self._ask(index, take.take, frames, characters, entities)
        if self._says_lines(index):
            from dataclasses import replace

            from tale_cli.film.dialogue import heard_in

            judged.checks = replace(judged.checks, mute_line=not heard_in(clip).speaks)
        unread = judged.verdict is not None and judged.verdict.prompt is None and bool(judged.verdict.notes)
        if judged.error is None and not unread:  # a verdict that could not be read is asked for again next time
            self.cache.mkdir(exist_ok=True, mode=0o700 if self.folder.private else 0o755)
            self.folder.write_text(path, judged.to_json())
        return judged

    def _ask(
        self,
        index: int,
        take: int,
        frames: list[Path],
        characters: list[JudgeCharacter],
        entities: list[JudgeEntity],
    ) -> tuple[TakeVerdict | None, str | None]:
        assert self.backend is not None
        if not self._loaded:
            self.backend.load()
            self._loaded = True
        prompt = self.plan.shots[index - 1].prompt
        started = time.monotonic()
        try:
            verdict = self.backend.judge(JudgeRequest(index, take, prompt, frames, characters, entities))
        except (KeysError, RecipeError):
            raise  # every other take would fail the same way
        except TaleError as error:
            message = redact(error.message)
            self._audit(index, prompt, None, started, error=message)
            return None, message
        self._audit(index, prompt, verdict, started)
        return verdict, None

    def _audit(
        self, index: int, prompt: str, verdict: TakeVerdict | None, started: float, *, error: str | None = None
    ) -> None:
        if self.audit is None or self.backend is None:
            return
        model = verdict.model if verdict is not None else self.backend.model
        for number, attempt in enumerate(verdict.attempts if verdict is not None else [], start=1):
            self.audit.record(role="judge", backend=self.name, model=model, shot=index, prompt=prompt,
                              attempt=number, outcome=str(attempt.get("outcome", "retry")),
                              error=str(attempt.get("error", "")) or None)  # fmt: skip
        tokens = None
        if verdict is not None and verdict.input_tokens is not None:
            tokens = float(verdict.input_tokens + (verdict.output_tokens or 0))
        self.audit.record(
            role="judge",
            backend=self.name,
            model=model,
            shot=index,
            prompt=prompt,
            attempt=len(verdict.attempts) + 1 if verdict is not None else 1,
            outcome="ok" if error is None else "error",
            billed_units=tokens,
            unit="tokens" if tokens is not None else None,
            cost_usd=verdict.cost_usd if verdict is not None else None,
            duration_s=time.monotonic() - started,
            error=error,
        )

    def judge_film(self, manifest: Manifest, *, every_take: bool = True) -> list[JudgeRow]:
        """Judge every shot's current take (and, with `every_take`, every take on disk), score each against the
        other shots' current takes, and write the judgements into the manifest. Rows are in shot and take order."""
        from tale_cli.run.takes import adopt_current, take_source

        judged: dict[tuple[int, int], Judged] = {}
        current: dict[int, int] = {}
        for shot in self.plan.shots:
            index = shot.index
            adopt_current(self.folder, manifest, index)
            entry = manifest.data.shots.get(str(index))
            if entry is None or not entry.takes:
                continue
            if entry.take is not None:
                current[index] = entry.take
            for take in entry.takes:
                if not every_take and take.take != entry.take:
                    continue
                clip, _ = take_source(self.folder, index, take)
                if clip is not None:
                    judged[(index, take.take)] = self.take(index, take, clip)
        rows: list[JudgeRow] = []
        for (index, number), result in sorted(judged.items(), key=lambda item: item[0]):
            others = {
                shot: judged[(shot, take_number)]
                for shot, take_number in current.items()
                if shot != index and (shot, take_number) in judged
            }
            judgement = self.score(index, result, others)
            rows.append(self._row(index, number, current.get(index) == number, judgement, result))
            with manifest.edit_shot(index) as entry:
                for record in entry.takes or []:
                    if record.take == number:
                        record.judged(judgement)
        return rows

    def score(self, index: int, result: Judged, others: dict[int, Judged]) -> TakeJudgement:
        """The take's scores: prompt fidelity, each character against its reference (cross) and against itself in
        the other shots (self), and the overall score: their mean, or 0 for a frozen or flashing clip. The entities
        on screen are measured as the characters are, beside it (the retake bar reads the weakest of them all)."""
        verdict = result.verdict
        shot = self.plan.shots[index - 1]
        characters, crosses = _appearances(shot.characters, verdict.characters if verdict is not None else {},
                                           [o.verdict.characters for o in others.values() if o.verdict is not None])  # fmt: skip
        entities, _ = _appearances(shot.entities, verdict.entities if verdict is not None else {},
                                   [o.verdict.entities for o in others.values() if o.verdict is not None])  # fmt: skip
        selves = [seen.self_score for seen in characters.values() if seen.self_score is not None]
        prompt = None if verdict is None or verdict.prompt is None else round(verdict.prompt, 4)
        cross_mean, self_mean = _mean(crosses), _mean(selves)
        parts = [value for value in (prompt, cross_mean, self_mean) if value is not None]
        checks = result.checks
        score = 0.0 if checks.frozen or checks.flash or checks.mute_line else (_mean(parts) if parts else 1.0)
        notes = [
            *(verdict.notes if verdict is not None else []),
            *([f"judge failed: {result.error}"] if result.error else []),
        ]
        return TakeJudgement(
            key=result.key,
            backend=self.name,
            model=verdict.model if verdict is not None else None,
            judged_at=now_iso(),
            score=score,
            prompt=prompt,
            alignment=verdict.alignment if verdict is not None else None,
            cross=cross_mean,
            self_score=self_mean,
            characters=characters,
            entities=entities,
            frozen=checks.frozen,
            flash=checks.flash,
            mute_line=checks.mute_line,
            motion=round(checks.motion, 5),
            dark_frames=checks.dark_frames,
            flashes=checks.flashes,
            cost_usd=(verdict.cost_usd if verdict is not None else None),
            notes=notes or None,
        )

    def _row(self, index: int, number: int, current: bool, judgement: TakeJudgement, result: Judged) -> JudgeRow:
        seen_in = {**judgement.characters, **judgement.entities}
        missing = [thing for thing, seen in seen_in.items() if seen.found is False]
        kinds = {e.id: e.kind for e in self.plan.entities}
        return JudgeRow(
            shot=index,
            take=number,
            current=current,
            score=judgement.score,
            prompt=judgement.prompt,
            alignment=judgement.alignment,
            cross=judgement.cross,
            self_score=judgement.self_score,
            frozen=judgement.frozen,
            mute_line=judgement.mute_line,
            flash=judgement.flash,
            motion=judgement.motion or 0.0,
            missing=missing,
            weakest=judgement.weakest,
            characters={cid: _appearance("character", seen) for cid, seen in judgement.characters.items()},
            entities={eid: _appearance(kinds.get(eid, "entity"), seen) for eid, seen in judgement.entities.items()},
            cached=result.cached,
            cost_usd=None if result.cached else judgement.cost_usd,
            notes=list(judgement.notes or []),
        )


def _appearances(
    on_screen: list[str], seen_here: dict[str, CharacterVerdict], elsewhere: list[dict[str, CharacterVerdict]]
) -> tuple[dict[str, CharacterJudgement], list[float]]:
    """Each character (or entity) on screen that the judge answered for: found, cross against its reference, and
    self: the mean cosine of its embedding with its embeddings in the other shots' current takes; and the cross
    scores unrounded, for the take's mean."""
    judged: dict[str, CharacterJudgement] = {}
    crosses: list[float] = []
    for thing in on_screen:
        seen = seen_here.get(thing)
        if seen is None:
            continue
        alike = [
            cosine(seen.embedding, theirs.embedding)
            for other in elsewhere
            if (theirs := other.get(thing)) is not None
            and theirs.found
            and theirs.embedding
            and seen.found
            and seen.embedding
        ]
        self_score = _mean([max(0.0, value) for value in alike])
        cross = seen.cross if seen.found else (0.0 if seen.found is False else None)
        if cross is not None:
            crosses.append(cross)
        judged[thing] = CharacterJudgement(
            found=seen.found, cross=None if cross is None else round(cross, 4), self_score=self_score,
            reason=seen.reason,
        )  # fmt: skip
    return judged, crosses


def _appearance(kind: str, seen: CharacterJudgement) -> Appearance:
    return Appearance(kind=kind, found=seen.found, cross=seen.cross, self_score=seen.self_score,
                      score=appearance_score(seen))  # fmt: skip


def _metric(values: list[float]) -> MetricSummary | None:
    if not values:
        return None
    return MetricSummary(mean=round(float(np.mean(values)), 4), min=round(min(values), 4), shots=len(values))


def summarize_appearances(rows: list[JudgeRow], *, entities: bool) -> dict[str, AppearanceSummary]:
    """Each character (or, with `entities`, each entity) over the shots' current takes: where it was found, its
    scores, and its worst shot (the lowest appearance score; the first such shot on a tie)."""
    seen: dict[str, list[tuple[int, Appearance]]] = {}
    for row in sorted((row for row in rows if row.current), key=lambda row: row.shot):
        for thing, appearance in (row.entities if entities else row.characters).items():
            seen.setdefault(thing, []).append((row.shot, appearance))
    summary: dict[str, AppearanceSummary] = {}
    for thing, shots in seen.items():
        looked = [a.found for _, a in shots if a.found is not None]
        scored = [(a.score, shot) for shot, a in shots if a.score is not None]
        worst = min(scored, default=None)
        summary[thing] = AppearanceSummary(
            kind=shots[0][1].kind,
            shots=len(shots),
            found=sum(looked) if looked else None,
            missing=[shot for shot, a in shots if a.found is False],
            cross=_metric([a.cross for _, a in shots if a.cross is not None]),
            self_score=_metric([a.self_score for _, a in shots if a.self_score is not None]),
            score=_metric([score for score, _ in scored]),
            worst_shot=worst[1] if worst is not None else None,
            worst=worst[0] if worst is not None else None,
        )
    return summary


def bar_score(row: JudgeRow) -> float | None:
    """What a recipe's retake bar reads of a take: its score, or the weakest thing on screen when that is lower."""
    return lowest(row.score, row.weakest)


def summarize(rows: list[JudgeRow]) -> dict[str, MetricSummary]:
    """Mean and minimum of each metric over the shots' current takes."""
    summary: dict[str, MetricSummary] = {}
    current = [row for row in rows if row.current]
    for metric in METRICS:
        found = _metric([value for row in current if (value := getattr(row, metric)) is not None])
        if found is not None:
            summary[metric] = found
    return summary


def weakest_first(rows: list[JudgeRow]) -> list[JudgeRow]:
    """Rows by score, lowest first (unscored last), then by shot and take."""
    return sorted(rows, key=lambda row: (row.score is None, row.score or 0.0, row.shot, row.take))


def rows_json(rows: list[JudgeRow]) -> list[dict[str, Any]]:
    return [asdict(row) for row in rows]
