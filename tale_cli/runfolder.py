"""The run folder: paths, atomic writes that never follow planted symlinks, and the manifest."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tale_cli import __version__
from tale_cli.errors import OutputError


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _refuse_symlink(path: Path) -> None:
    if path.is_symlink():
        raise OutputError(
            f"{path} is a symbolic link; Tale does not write through links in a run folder",
            hint="remove the link and run again",
        )


def find_symlink(root: Path) -> Path | None:
    """The first symbolic link anywhere under `root` (a run folder has none unless someone planted it)."""
    for current, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            if (Path(current) / name).is_symlink():
                return Path(current) / name
    return None


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write `data` to `path` via `path.part` and a rename, refusing planted symlinks."""
    _refuse_symlink(path)
    part = path.with_name(path.name + ".part")
    with contextlib.suppress(FileNotFoundError):
        part.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(part, flags, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(part, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        raise


def atomic_write_text(path: Path, text: str, *, mode: int = 0o644) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


class RunFolder:
    """`out/<slug>/`: plan.json, refs/, shots/, film.mp4, film.srt, storyboard.png, manifest.json."""

    def __init__(self, root: Path, *, private: bool = False) -> None:
        self.root = root
        self.private = private
        self.file_mode = 0o600 if private else 0o644

    @property
    def plan(self) -> Path:
        return self.root / "plan.json"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def refs(self) -> Path:
        return self.root / "refs"

    @property
    def shots(self) -> Path:
        return self.root / "shots"

    @property
    def cache(self) -> Path:
        return self.root / "shots" / "by-hash"

    @property
    def film(self) -> Path:
        return self.root / "film.mp4"

    @property
    def srt(self) -> Path:
        return self.root / "film.srt"

    @property
    def storyboard(self) -> Path:
        return self.root / "storyboard.png"

    def shot_file(self, index: int) -> Path:
        return self.shots / f"shot-{index:02d}.mp4"

    def check_writable(self) -> None:
        """Refuse, before any work, an output folder that is a file, a link or cannot be written."""
        for path in (self.root, *self.root.parents):
            if path.exists() or path.is_symlink():
                if path == self.root:
                    _refuse_symlink(path)
                if not path.is_dir():
                    raise OutputError(f"{path} exists and is not a folder", hint="choose another --out")
                try:
                    with tempfile.TemporaryFile(dir=path):
                        pass
                except OSError:
                    raise OutputError(
                        f"cannot write to {path}", hint="choose another --out or fix its permissions"
                    ) from None
                return
        raise OutputError(f"cannot create {self.root}")

    def create(self) -> None:
        self.check_writable()
        dir_mode = 0o700 if self.private else 0o755
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=dir_mode)
            planted = find_symlink(self.root)
            if planted is not None:
                _refuse_symlink(planted)
            for sub in (self.refs, self.shots, self.cache):
                _refuse_symlink(sub)
                sub.mkdir(exist_ok=True, mode=dir_mode)
            if self.private:
                for sub in (self.root, self.refs, self.shots, self.cache):
                    sub.chmod(0o700)
        except OSError as error:
            raise OutputError(f"cannot create {self.root}: {error.strerror}") from None

    def write_text(self, path: Path, text: str) -> None:
        atomic_write_text(path, text, mode=self.file_mode)

    def secure(self, path: Path) -> None:
        if self.private and path.exists() and not path.is_symlink():
            path.chmod(0o600)


class Manifest:
    """manifest.json: what was rendered, how, what it cost; saved atomically after every change."""

    def __init__(self, folder: RunFolder, data: dict[str, Any]) -> None:
        self.folder = folder
        self.data = data
        self._lock = threading.RLock()

    @classmethod
    def load(cls, folder: RunFolder) -> Manifest:
        data: dict[str, Any] = {}
        if folder.manifest.is_file() and not folder.manifest.is_symlink():
            try:
                loaded = json.loads(folder.manifest.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    data = loaded
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                data = {}
        data.setdefault("run", {"created": now_iso()})
        data.setdefault("planner", None)
        data.setdefault("refs", {})
        data.setdefault("shots", {})
        data.setdefault("film", None)
        if not isinstance(data["shots"], dict) or not isinstance(data["refs"], dict):
            data["shots"], data["refs"] = {}, {}
        return cls(folder, data)

    def shot(self, index: int) -> dict[str, Any]:
        with self._lock:
            entry: dict[str, Any] = self.data["shots"].setdefault(str(index), {"index": index})
            return entry

    def ref(self, character_id: str) -> dict[str, Any]:
        with self._lock:
            entry: dict[str, Any] = self.data["refs"].setdefault(character_id, {})
            return entry

    def update_shot(self, index: int, **fields: Any) -> None:
        with self._lock:
            self.shot(index).update(fields)
            self.save()

    def update_ref(self, character_id: str, **fields: Any) -> None:
        with self._lock:
            self.ref(character_id).update(fields)
            self.save()

    def set(self, key: str, value: Any) -> None:
        with self._lock:
            self.data[key] = value
            self.save()

    def save(self) -> None:
        with self._lock:
            self.data["tale_version"] = __version__
            self.data["run"]["updated"] = now_iso()
            text = json.dumps(self.data, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
            atomic_write_text(self.folder.manifest, text, mode=self.folder.file_mode)
