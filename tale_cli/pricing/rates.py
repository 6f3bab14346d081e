"""What one item costs, from a price book: a video clip (billed seconds, credits), an image, seconds of speech, a
composed track, a judge's tokens. The backends price what they bill with these; estimates add them up."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Any

from tale_cli.pricing.book import PriceBook, default_book
from tale_cli.pricing.prices import ImagePrice, JudgePrice, MadeVoicePrice, MusicPrice, VideoPrice, VoicePrice


@dataclass
class ShotPrice:
    """A priced shot: what the provider will bill for a clip of some seconds."""

    price: str
    billed_seconds: float
    usd: float
    credits: float | None = None
    usd_per_credit: float | None = None
    note: str | None = None


_PRICING_DAY: ContextVar[date | None] = ContextVar("pricing_day", default=None)


def pricing_day() -> date:
    """The day prices are looked up for: today, or the day `priced_on` sets (`tale cost estimate --on DATE`)."""
    return _PRICING_DAY.get() or date.today()


@contextlib.contextmanager
def priced_on(day: date | None) -> Iterator[None]:
    """Within the block, prices are those in force on `day` (None: today)."""
    token = _PRICING_DAY.set(day)
    try:
        yield
    finally:
        _PRICING_DAY.reset(token)


def _best(entries: Sequence[Any], backend: str, model: str) -> Any:
    """The entry pricing this backend's model on the pricing day: an exact model name before a pattern, the first
    of equals."""
    day = pricing_day()
    entries = [entry for entry in entries if entry.in_force(day)]
    scored = [(entry.match(backend, model), position, entry) for position, entry in enumerate(entries)]
    scored = [item for item in scored if item[0] > 0]
    if not scored:
        return None
    return max(scored, key=lambda item: (item[0], -item[1]))[2]


def price_shot(
    backend: str,
    model: str,
    seconds: float,
    *,
    resolution: str | None = None,
    audio: bool = False,
    book: PriceBook | None = None,
) -> ShotPrice | None:
    """What a video API bills for one clip, from the book; None when the book does not price that model."""
    book = book or default_book()
    entry: VideoPrice | None = _best(book.video, backend, model)
    if entry is None or not entry.prices_audio(audio):
        return None
    rate, note = entry.rate(resolution, audio=audio)
    billed = entry.billed_seconds(seconds)
    # Credits follow the rate: a clip with audio costs more of them.
    credits = billed * entry.credits_per_second * rate / entry.usd_per_second if entry.credits_per_second else None
    return ShotPrice(
        price=entry.id,
        billed_seconds=billed,
        usd=billed * rate,
        credits=credits,
        usd_per_credit=entry.usd_per_credit,
        note=note,
    )


def price_image(
    backend: str, model: str, quality: str | None, *, book: PriceBook | None = None
) -> tuple[float, str | None] | None:
    """(USD, note) for one image from the book; None when the book does not price that model."""
    book = book or default_book()
    entry: ImagePrice | None = _best(book.image, backend, model) if model else None
    return None if entry is None else entry.price(quality)


def price_voice(
    backend: str, model: str, seconds: float, *, book: PriceBook | None = None, audio_tokens: int | None = None
) -> float | None:
    """USD for `seconds` of speech from the book (by the audio tokens billed, where the provider reported them and
    the book prices tokens); None when the book does not price that model."""
    book = book or default_book()
    entry: VoicePrice | None = _best(book.voice, backend, model) if model else None
    return None if entry is None else entry.usd(seconds, audio_tokens)


def price_made_voice(backend: str, model: str, *, book: PriceBook | None = None) -> float | None:
    """USD for one voice designed or cloned at a provider, from the book; None when the book does not price it."""
    book = book or default_book()
    entry: MadeVoicePrice | None = _best(book.made_voice, backend, model) if model else None
    return None if entry is None else entry.usd_per_voice


def price_music(backend: str, model: str, *, book: PriceBook | None = None) -> float | None:
    """USD for one composed track from the book; None when the book does not price that model."""
    book = book or default_book()
    entry: MusicPrice | None = _best(book.music, backend, model) if model else None
    return None if entry is None else entry.usd_per_track


def price_judge(backend: str, model: str, *, book: PriceBook | None = None) -> JudgePrice | None:
    """The book's token prices for a judge model; None when the book does not price it."""
    book = book or default_book()
    entry: JudgePrice | None = _best(book.judge, backend, model) if model else None
    return entry
