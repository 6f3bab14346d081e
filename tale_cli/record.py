"""The base of every manifest.json object: typed fields, unknown keys kept, written back key for key."""

from __future__ import annotations

from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)


class Record(BaseModel):
    """One object of manifest.json: typed fields, unknown keys kept, and written back key for key.

    Only keys that were read or set are written, in the order they first appeared, so a manifest
    loaded and saved again reads exactly as before and a diff of two runs shows only what changed.
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    _keys: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_key_order(cls, raw: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        record = handler(raw)
        if isinstance(raw, dict):
            # The keys as read, then those a default filled in (ManifestData's sections), then later assignments.
            filled = [name for name in type(record).model_fields if name in record.model_fields_set and name not in raw]
            record._keys = [*raw, *filled]
        return record

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_") and name not in self._keys:
            self._keys.append(name)
        super().__setattr__(name, value)

    @model_serializer(mode="wrap")
    def _in_key_order(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        document: dict[str, Any] = handler(self)
        return {**{key: document[key] for key in self._keys if key in document}, **document}

    def __eq__(self, other: object) -> bool:
        # The same record whatever order its keys were written in.
        return isinstance(other, Record) and type(other) is type(self) and self.model_dump() == other.model_dump()


class FileRecord(Record):
    """A finished file's size and SHA-256, to tell before reusing it that it is still the file that was made."""

    size: int
    sha256: str
