"""Checks of this machine for `tale doctor`: ffmpeg, fonts, Python, GPU, extras."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "required": self.required}


def _gpu() -> Check:
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=15,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        if out:
            return Check("gpu", True, "; ".join(line.strip() for line in out.splitlines()))
    return Check("gpu", False, "no NVIDIA GPU found (preview and cloud recipes need none)")


def diagnose() -> list[Check]:
    from tale_cli.media.ffmpeg import ffmpeg_exe
    from tale_cli.media.fonts import INSTALL_HINT, cjk_font, latin_font

    checks: list[Check] = [
        Check("python", sys.version_info >= (3, 11), f"{platform.python_version()} ({sys.executable})", required=True)
    ]
    try:
        exe = ffmpeg_exe()
        version = subprocess.run([exe, "-version"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
        checks.append(Check("ffmpeg", True, f"{version} ({exe})", required=True))
    except Exception as error:
        checks.append(Check("ffmpeg", False, str(error), required=True))
    latin = latin_font()
    checks.append(Check("font", latin is not None, latin or "no TrueType font found; Pillow's default is used"))
    cjk = cjk_font()
    checks.append(Check("font (Hangul/CJK)", cjk is not None, cjk or INSTALL_HINT))
    checks.append(_gpu())
    from tale_cli.registry import EXTRAS, module_installed

    for extra, modules in EXTRAS.items():
        missing = [m for m in modules if not module_installed(m)]
        detail = "installed" if not missing else f"pip install 'tale-cli[{extra}]' (missing {', '.join(missing)})"
        checks.append(Check(f"extra: {extra}", not missing, detail))
    from tale_cli.keys.store import key_sources, keyring_status

    keyring = keyring_status()
    checks.append(Check("keyring", keyring.usable, keyring.backend if keyring.usable else keyring.reason))
    checks.extend(Check(f"key: {s.provider}", s.source != "none", s.describe()) for s in key_sources())
    checks.append(_credentials())
    return checks


def _credentials() -> Check:
    """Whether films get signed Content Credentials here, and by whom."""
    from tale_cli.film.credentials import INSTALL_HINT, available
    from tale_cli.keys.signing import signing_source

    if not available():
        return Check("content credentials", False, f"films are not signed: {INSTALL_HINT}")
    source = signing_source()
    trusted = "" if source.trusted_by_viewers else "; viewers show Tale's local CA as untrusted"
    return Check("content credentials", True, f"signed with {source.source} ({source.where}){trusted}")
