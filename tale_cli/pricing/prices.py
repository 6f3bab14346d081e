"""What one thing costs, with its source: a second of API video, an image, a plan, a GPU hour, GPU time per clip."""

from __future__ import annotations

import fnmatch
import json
import math
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tale_cli.errors import InputError, describe_validation_error
from tale_cli.pricing.money import Range, Usd

Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]


class Sourced(BaseModel):
    """Where a figure comes from: every price in a book carries its source, date and whether it was verified."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1)
    as_of: date
    verified: bool
    note: str = ""


class _Matched(Sourced):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: Identifier
    label: str = Field(min_length=1)
    backends: list[str] = Field(min_length=1)
    models: list[str] = Field(default_factory=list)
    # The days the price is in force: from `from` (inclusive) until `until` (exclusive); either open.
    valid_from: date | None = Field(default=None, alias="from")
    until: date | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> _Matched:
        if self.valid_from is not None and self.until is not None and self.until <= self.valid_from:
            raise ValueError(f"until {self.until} is not after from {self.valid_from}")
        return self

    def in_force(self, day: date) -> bool:
        """Whether this price applies to a request made on `day`."""
        return (self.valid_from is None or self.valid_from <= day) and (self.until is None or day < self.until)

    def match(self, backend: str, model: str) -> int:
        """2 for an exact model name, 1 for a pattern (or no model list), 0 for no match."""
        if backend not in self.backends:
            return 0
        if not self.models:
            return 1
        wanted = model.lower()
        if any(wanted == pattern.lower() for pattern in self.models):
            return 2
        return 1 if any(fnmatch.fnmatchcase(wanted, pattern.lower()) for pattern in self.models) else 0


class VideoPrice(_Matched):
    """A video API billed per second of output."""

    resolution: str
    usd_per_second: Usd
    by_resolution: dict[str, Usd] = Field(default_factory=dict)
    usd_per_second_audio: Usd | None = None
    # The per-second rates are for clips with audio; a silent clip is priced at the silent rates where the book
    # has them (by resolution like the others), and is unpriced where it has none.
    audio_included: bool = False
    usd_per_second_silent: Usd | None = None
    by_resolution_silent: dict[str, Usd] = Field(default_factory=dict)
    credits_per_second: float | None = Field(default=None, ge=0)
    billed_durations: list[float] | None = None
    min_billed_seconds: float = Field(default=0, ge=0)
    billing_increment_s: float = Field(default=1.0, gt=0)

    def rate(self, resolution: str | None, *, audio: bool = False) -> tuple[float, str | None]:
        """USD per second at a resolution, and a note when that resolution has no price of its own."""
        if audio and self.usd_per_second_audio is not None:
            return self.usd_per_second_audio, None
        prices = {self.resolution: self.usd_per_second, **self.by_resolution}
        if not audio and self.audio_included and self.usd_per_second_silent is not None:
            prices = {self.resolution: self.usd_per_second_silent, **self.by_resolution_silent}
        if resolution is None or resolution in prices:
            return prices.get(resolution or self.resolution, self.usd_per_second), None
        highest = max(prices, key=lambda key: prices[key])
        return prices[highest], f"{self.label} has no {resolution} price; priced at {highest} (its highest)"

    def prices_audio(self, audio: bool) -> bool:
        """Whether the book has a rate for clips with (or without) audio."""
        return audio or not self.audio_included or self.usd_per_second_silent is not None

    @property
    def usd_per_credit(self) -> float | None:
        """What one provider credit costs, from the silent rate (credits are the provider's own unit)."""
        if not self.credits_per_second:
            return None
        return self.usd_per_second / self.credits_per_second

    def billed_seconds(self, seconds: float) -> float:
        if self.billed_durations:
            longer = [d for d in sorted(self.billed_durations) if d >= seconds - 1e-9]
            if longer:
                return float(longer[0])
        step = self.billing_increment_s
        return float(max(self.min_billed_seconds, math.ceil(seconds / step - 1e-9) * step))


class ImagePrice(_Matched):
    """An image API billed per image, by quality."""

    usd_per_image: dict[str, Usd] = Field(min_length=1)
    default_quality: str

    @model_validator(mode="after")
    def _default_is_priced(self) -> ImagePrice:
        if self.default_quality not in self.usd_per_image:
            raise ValueError(f"default_quality '{self.default_quality}' has no price in usd_per_image")
        return self

    def price(self, quality: str | None) -> tuple[float, str | None]:
        """The price at a quality; one the model does not know is priced at its default quality."""
        if quality in self.usd_per_image:
            return self.usd_per_image[quality], None
        chosen = self.default_quality
        note = (
            None if len(self.usd_per_image) == 1 else f"{self.label} has no '{quality}' quality; priced at '{chosen}'"
        )
        return self.usd_per_image[chosen], note


class VoicePrice(_Matched):
    """A speech API, priced per minute of speech it returns; one that bills audio tokens gives its token price and
    how many tokens a second of speech is, and a clip whose tokens the provider reported is priced by them."""

    usd_per_minute: Usd | None = None
    usd_per_million_audio_tokens: Usd | None = None
    audio_tokens_per_second: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _priced(self) -> VoicePrice:
        by_tokens = self.usd_per_million_audio_tokens is not None and self.audio_tokens_per_second is not None
        if self.usd_per_minute is None and not by_tokens:
            raise ValueError("give usd_per_minute, or usd_per_million_audio_tokens and audio_tokens_per_second")
        if self.usd_per_minute is None:
            assert self.usd_per_million_audio_tokens is not None and self.audio_tokens_per_second is not None
            self.usd_per_minute = self.usd_per_million_audio_tokens * self.audio_tokens_per_second * 60 / 1e6
        return self

    def usd(self, seconds: float, audio_tokens: int | None = None) -> float:
        """What `seconds` of speech cost: by the audio tokens billed when the provider said, else by the minute."""
        if audio_tokens is not None and self.usd_per_million_audio_tokens is not None:
            return audio_tokens * self.usd_per_million_audio_tokens / 1e6
        assert self.usd_per_minute is not None
        return self.usd_per_minute * seconds / 60


class MadeVoicePrice(_Matched):
    """A voice made at a provider, designed from a description or cloned from a sample: priced per voice."""

    usd_per_voice: Usd


class MusicPrice(_Matched):
    """A music API, priced per track it composes."""

    usd_per_track: Usd


class JudgePrice(_Matched):
    """A vision-language judge billed per token: frames and reference pictures in, a short JSON verdict out."""

    usd_per_million_input: Usd
    usd_per_million_output: Usd
    # What one picture costs in input tokens, and the text around it (instructions, prompt, verdict), for estimates.
    tokens_per_image: int = Field(gt=0)
    prompt_tokens: int = Field(default=500, ge=0)
    answer_tokens: int = Field(default=400, ge=0)

    def usd(self, input_tokens: float, output_tokens: float) -> float:
        return (input_tokens * self.usd_per_million_input + output_tokens * self.usd_per_million_output) / 1e6

    def estimate(self, images: int) -> float:
        """USD for judging one take showing `images` pictures (frames and references)."""
        return self.usd(images * self.tokens_per_image + self.prompt_tokens, self.answer_tokens)


class PlannerPrice(_Matched):
    """A hosted LLM planner, priced per plan (one story)."""

    usd_per_plan: Range


class GpuPrice(Sourced):
    label: str = Field(min_length=1)
    usd_per_hour: Usd
    usd_per_hour_range: Range | None = None
    spot_usd_per_hour: Usd | None = None


class GpuTime(Sourced):
    """Seconds of one GPU per clip (or image) for a model: from a model card, a paper or a benchmark."""

    model: str = Field(min_length=1)
    models: list[str] = Field(default_factory=list)
    gpu: str = Field(min_length=1)
    seconds: float = Field(gt=0)
    steps: int | None = Field(default=None, ge=1)
    unit: Literal["clip", "image"] = "clip"

    def matches(self, model: str) -> bool:
        wanted = model.lower()
        names = [self.model.lower(), *(pattern.lower() for pattern in self.models)]
        return any(wanted == name or fnmatch.fnmatchcase(wanted, name) for name in names)


class Timing(BaseModel):
    """One measured GPU time, as a benchmark file records it."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    gpu: str = Field(min_length=1)
    seconds_per_clip: float = Field(gt=0)
    steps: int | None = None
    source: str = "measured"


def load_timings(path: Path) -> list[GpuTime]:
    """Measured GPU seconds per clip from a JSON benchmark file: one object, a list, or {"results": [...]}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path} is not a JSON benchmark file: {error}") from None
    items = data.get("results", data) if isinstance(data, dict) else data
    items = [items] if isinstance(items, dict) else items
    if not isinstance(items, list) or not items:
        raise InputError(f"{path} holds no measurements", hint='expected {"model": …, "gpu": …, "seconds_per_clip": …}')
    timings = []
    for item in items:
        try:
            measured = Timing.model_validate(item)
        except ValidationError as error:
            raise InputError(f"{path}: {describe_validation_error(error)}") from None
        timings.append(
            GpuTime(
                model=measured.model,
                gpu=measured.gpu,
                seconds=measured.seconds_per_clip,
                steps=measured.steps,
                source=f"{measured.source} ({path.name})",
                as_of=date.fromtimestamp(path.stat().st_mtime),
                verified=True,
            )
        )
    return timings
