"""Dollars as price books write them and reports print them: the price type, low–high ranges, rounding, text."""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _rate(value: Any) -> Any:
    """A price may be written as a fraction ("11/3") where the source's figures use one."""
    if isinstance(value, str) and "/" in value:
        numerator, _, denominator = value.partition("/")
        try:
            return float(Fraction(int(numerator.strip()), int(denominator.strip())))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"not a price: {value!r}") from None
    return value


Usd = Annotated[float, BeforeValidator(_rate), Field(ge=0, allow_inf_nan=False)]


class Range(BaseModel):
    """A low-high figure; a single number in TOML is a range of one value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: Usd
    high: Usd

    @model_validator(mode="before")
    @classmethod
    def _from_number_or_pair(cls, value: Any) -> Any:
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            return {"low": value, "high": value}
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError("a range is [low, high]")
            return {"low": value[0], "high": value[1]}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"range low {self.low} is above high {self.high}")
        return self

    @property
    def mid(self) -> float:
        return (self.low + self.high) / 2

    def __add__(self, other: Range) -> Range:
        return Range(low=self.low + other.low, high=self.high + other.high)


def sum_ranges(ranges: Iterable[Range]) -> Range:
    total = Range(low=0, high=0)
    for item in ranges:
        total = total + item
    return total


def cents(value: float) -> float:
    """Rounded to the cent, always a float: how every dollar figure leaves Tale as JSON."""
    return round(value + 0.0, 2)


def in_cents(value: float) -> int:
    """A dollar figure as whole cents, rounded half up: what a budget and an estimate are compared in, so
    $1.001 is within a budget of $1.00 and never "exceeds" it."""
    return math.floor(value * 100 + 0.5 + 1e-9)


def usd_text(value: float) -> str:
    return f"${value:,.0f}" if abs(value) >= 100 else f"${value:,.2f}"


def usd_range_text(value: Range) -> str:
    return usd_text(value.low) if value.low == value.high else f"{usd_text(value.low)}–{usd_text(value.high)}"
