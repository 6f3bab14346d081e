"""Private mode: a run that must stay on this machine (or its private network), checked before anything starts.

`check_private` refuses a private recipe that names a backend which would send the story, characters
or prompts elsewhere; `private_files` makes the run folder 0700 and everything written in it 0600.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tale_cli.errors import OutputError, PrivacyError

if TYPE_CHECKING:
    from tale_cli.config import Recipe


def private_problems(recipe: Recipe, *, planner: str | None = None) -> list[str]:
    """Each role of `recipe` that would leave the machine, as a sentence naming the role and backend."""
    from tale_cli.registry import Locality, Role, names, provider

    problems: list[str] = []
    planner_name = planner or recipe.planner.backend
    roles = (
        (Role.PLANNER, planner_name, recipe.planner.base_url),
        (Role.IMAGE, recipe.image.backend, None),
        (Role.VIDEO, recipe.video.backend, None),
        *([(Role.VOICE, recipe.voice.backend, None)] if recipe.voice.enabled else []),
        *([(Role.MUSIC, recipe.music.source, None)] if recipe.music.source in names(Role.MUSIC) else []),
        *([(Role.JUDGE, recipe.judge.backend, None)] if recipe.judge.enabled else []),
    )
    for role, name, base_url in roles:
        entry = provider(name, role)
        if entry.runs_locally(base_url):
            continue
        what = "planner backend" if role is Role.PLANNER else f"{role} backend"
        if entry.locality is Locality.SELF_HOSTED:
            where = entry.server_address(base_url) or "no base_url"
            problems.append(f"{role} '{name}' points at {where}, not a loopback or private-network address")
        else:
            problems.append(f"{what} '{name}' is a cloud service")
    return problems


def check_private(recipe: Recipe, *, private: bool = False, planner: str | None = None) -> None:
    """Refuse a private run (recipe.private, or `private=True` from --private) that names a non-local backend.

    `planner` is a --planner override, checked instead of the recipe's planner.
    """
    if not (private or recipe.private):
        return
    problems = private_problems(recipe, planner=planner)
    if problems:
        raise PrivacyError(
            f"private run refused: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            hint="a private run may use only local backends (`tale providers` marks them), "
            "or a self-hosted server at a loopback or private-network IP address",
        )


def secure_run_folder(path: Path) -> Path:
    """Create (or tighten) a private run folder: the folder and its subfolders 0700, its files 0600."""
    path = Path(path)
    if path.is_symlink():
        raise OutputError(f"refusing to use {path}: it is a symlink", hint="pass a real folder with --out")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)
        for root, dirs, files in os.walk(path):
            for name in dirs:
                entry = Path(root) / name
                if not entry.is_symlink():
                    entry.chmod(0o700)
            for name in files:
                entry = Path(root) / name
                if not entry.is_symlink():
                    entry.chmod(0o600)
    except OSError as error:
        raise OutputError(f"cannot secure the private run folder {path}: {error.strerror}") from None
    return path


@contextmanager
def private_files(enabled: bool = True) -> Iterator[None]:
    """While active, every file and folder this process (and ffmpeg) creates is readable by its owner only."""
    if not enabled:
        yield
        return
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)
