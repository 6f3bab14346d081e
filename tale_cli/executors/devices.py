"""`--devices`: the one parser of what every command that takes it asks for (render, batch, batch on Ray)."""

from __future__ import annotations

from dataclasses import dataclass

from tale_cli.errors import RecipeError

SYNTAX_HINT = "use all, a list such as 0,1, or cpu"


@dataclass(frozen=True)
class Devices:
    """`all` GPUs, or one worker per entry in order: a GPU index, or None for a CPU worker."""

    all: bool = False
    workers: tuple[int | None, ...] = ()

    @property
    def gpus(self) -> list[int]:
        return [index for index in self.workers if index is not None]

    @property
    def cpus(self) -> int:
        return sum(1 for index in self.workers if index is None)


def parse_devices(spec: str) -> Devices:
    """`all`, GPU indices such as `0,1,3`, and `cpu` entries (a CPU worker each), separated by commas."""
    text = spec.strip().lower()
    if text == "all":
        return Devices(all=True)
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise RecipeError("--devices is empty", hint=SYNTAX_HINT)
    workers: list[int | None] = []
    for part in parts:
        if part == "cpu":
            workers.append(None)
        elif part.isdigit():
            workers.append(int(part))
        else:
            raise RecipeError(f"--devices: '{part}' is not a GPU index", hint=SYNTAX_HINT)
    devices = Devices(workers=tuple(workers))
    if len(set(devices.gpus)) != len(devices.gpus):
        raise same_gpu_twice()
    return devices


def same_gpu_twice() -> RecipeError:
    return RecipeError("--devices names the same GPU twice", hint="one worker per GPU: list each index once")
