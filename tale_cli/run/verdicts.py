"""What the judge writes into manifest.json: each take's judgement, and the film's summary."""

from __future__ import annotations

from pydantic import Field

from tale_cli.record import Record


class CharacterJudgement(Record):
    """One character (or entity) in one take: found or not, and how alike it is to its reference and to itself
    elsewhere."""

    found: bool | None = None  # None: the backend does not look for characters
    cross: float | None = None  # against the character's reference picture, 0–1
    self_score: float | None = None  # against the same character in the other shots' current takes, 0–1
    reason: str | None = None  # a vision-language judge's words


def appearance_score(seen: CharacterJudgement) -> float | None:
    """One character's or entity's score in a take: 0 when it was looked for and not found, else the mean of its
    cross and self scores; None when nothing was measured."""
    if seen.found is False:
        return 0.0
    parts = [value for value in (seen.cross, seen.self_score) if value is not None]
    return round(sum(parts) / len(parts), 4) if parts else None


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
    # The plan's entities on screen (props, wardrobe, places), measured as characters are.
    entities: dict[str, CharacterJudgement] = Field(default_factory=dict)
    frozen: bool = False
    mute_line: bool = False  # dialogue in the clip, and no speech heard in it
    flash: bool = False
    motion: float | None = None  # mean change between frames, 0–1
    dark_frames: int = 0
    flashes: int = 0
    cost_usd: float | None = None
    notes: list[str] | None = None

    @property
    def weakest(self) -> float | None:
        """The lowest score of a character or entity on screen (see `appearance_score`); None when none is scored."""
        return lowest(*(appearance_score(seen) for seen in (*self.characters.values(), *self.entities.values())))

    @property
    def bar_score(self) -> float | None:
        """What a recipe's retake bar reads: the take's score, or the weakest thing on screen when that is lower."""
        return lowest(self.score, self.weakest)


def lowest(*values: float | None) -> float | None:
    """The lowest of the values that are there; None when none is."""
    there = [value for value in values if value is not None]
    return min(there) if there else None


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


class AppearanceSummary(Record):
    """One character or entity over the film's current takes: in how many shots it was looked for and found, its
    scores there, and its worst shot."""

    kind: str  # "character", or the entity's kind: "prop", "wardrobe", "place"
    shots: int  # current takes that put it on screen and were judged
    found: int | None = None  # of those, the takes it was found in (None: the judge does not look)
    missing: list[int] = Field(default_factory=list)  # shots it was looked for and not found in
    cross: MetricSummary | None = None
    self_score: MetricSummary | None = None
    score: MetricSummary | None = None  # its appearance scores (see `appearance_score`)
    worst_shot: int | None = None  # the shot where it scores lowest
    worst: float | None = None


class ScoreMove(Record):
    """How an automatic retake moved one shot's score (as the bar reads it: `TakeJudgement.bar_score`)."""

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
    # Each entity over the current takes (its worst shot); None for a plan without entities.
    entities: dict[str, AppearanceSummary] | None = None
