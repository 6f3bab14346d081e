"""The one JSON form of every cost result: typed fields, rounded where `tale cost … --json` rounds them."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, PlainSerializer, SerializerFunctionWrapHandler, model_serializer

from tale_cli.pricing.money import Range, cents


def _rounded(digits: int) -> PlainSerializer:
    return PlainSerializer(lambda value: round(value, digits), return_type=float)


# Results keep their exact figures (estimates are compared with what providers bill); JSON rounds them.
Cents = Annotated[float, PlainSerializer(cents, return_type=float)]
OneDecimal = Annotated[float, _rounded(1)]
ThreeDecimals = Annotated[float, _rounded(3)]
FourDecimals = Annotated[float, _rounded(4)]
CentsRange = Annotated[Range, PlainSerializer(lambda value: [cents(value.low), cents(value.high)], return_type=list)]


class Report(BaseModel):
    """A cost result or one of its rows; `to_json` is how any of them becomes JSON."""

    # An autoscaled pool whose GPUs cost nothing buys endless hours: JSON says Infinity, as Python's json writes it.
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    # JSON keys left out when their value is None (the source document's columns, which only its own book has).
    omitted_when_none: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        for key in self.omitted_when_none:
            if key in data and data[key] is None:
                del data[key]
        return data

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data (a dict), for `--json`."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data
