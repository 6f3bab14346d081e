"""What the judge writes into manifest.json: each take's judgement, and the film's summary."""

from __future__ import annotations

from pydantic import Field

from tale_cli.record import Record


class CharacterJudgement(Record):
    """One character in one take: found or not, and how alike it is to its reference and to itself elsewhere."""

    found: bool | None = None  # None: the backend does not look for characters
    cross: float | None = None  # against the character's reference picture, 0–1
    self_score: float | None = None  # against the same character in the other shots' current takes, 0–1
    reason: str | None = None  # a vision-language judge's words


class TakeJudgement(Record):
    """One take as the judge saw it: its scores (0–1 unless said), the no-model checks, and what judging cost."""

    key: str  # the cache key: the take's clip, the shot's prompt and characters, the judge's settings
    backend: str
    model: str | None = None
    judged_at: str
    score: float | None = None  # the take's overall score, which a recipe's retake bar reads
    prompt: float | None = None
    alignment: float | None = None  # a vision-language judge's own 0–4 prompt alignment
    cross: float | None = None
    self_score: float | None = None
    characters: dict[str, CharacterJudgement] = Field(default_factory=dict)
    frozen: bool = False
    mute_line: bool = False  # dialogue in the clip, and no speech heard in it
    flash: bool = False
    motion: float | None = None  # mean change between frames, 0–1
    dark_frames: int = 0
    flashes: int = 0
    cost_usd: float | None = None
    notes: list[str] | None = None


class JudgeCharge(Record):
    """One paid judging of a take, kept whatever judge scores it next: the ledger reads what was spent from these."""

    key: str  # the judgement's cache key: a judging read back from the cache is not paid again
    backend: str
    model: str | None = None
    cost_usd: float
    judged_at: str


def judge_charges(judge: TakeJudgement | None, charges: list[JudgeCharge] | None) -> list[JudgeCharge]:
    """Every paid judging of a take: its charges, and a judgement from before charges were kept that none covers."""
    kept = list(charges or [])
    if judge is not None and judge.cost_usd and all(charge.key != judge.key for charge in kept):
        kept.append(
            JudgeCharge(
                key=judge.key,
                backend=judge.backend,
                model=judge.model,
                cost_usd=judge.cost_usd,
                judged_at=judge.judged_at,
            )
        )
    return kept


class MetricSummary(Record):
    """One metric over the film's current takes."""

    mean: float
    min: float
    shots: int


class ScoreMove(Record):
    """How an automatic retake moved one shot's score."""

    shot: int
    before: float | None
    after: float | None
    takes: int  # takes the shot has for the plan as it is (the first one and its retakes)
    kept: int  # the take that became current


class RetakeSummary(Record):
    """What the recipe's retake bar did in the last render."""

    below: float
    max_retakes: int
    retaken: int = 0
    takes_made: int = 0
    stopped: str | None = None  # why it stopped short of max_retakes (the budget), if it did
    moves: list[ScoreMove] = Field(default_factory=list)


class JudgeRecord(Record):
    """The last judging of the film: who judged, when, the summary per metric, and the retakes it led to."""

    backend: str
    model: str | None = None
    settings: str
    judged_at: str
    summary: dict[str, MetricSummary] = Field(default_factory=dict)
    flagged: list[int] = Field(default_factory=list)  # shots whose current take is frozen, flashes or is mute
    retakes: RetakeSummary | None = None
