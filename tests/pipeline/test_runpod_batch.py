"""scripts/runpod_batch.py: every story in a folder, finished films skipped, a failed story does not stop the batch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tale_cli.media.ffmpeg import probe

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "runpod_batch.py"


def test_batch_renders_skips_and_keeps_going(tmp_path: Path, story_file: Path, tiny_recipe: Path) -> None:
    stories = tmp_path / "stories"
    stories.mkdir()
    (stories / "a-harbour.md").write_text(story_file.read_text(encoding="utf-8"), encoding="utf-8")
    (stories / "b-empty.md").write_text("---\ntitle: Nothing\n---\n\n", encoding="utf-8")
    out = tmp_path / "volume" / "out"

    def batch() -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable,
            str(SCRIPT),
            str(stories),
            "--recipe",
            str(tiny_recipe),
            "--out",
            str(out),
            "--devices",
            "none",
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)

    first = batch()
    assert first.returncode == 1, first.stderr
    assert "2 stories: 1 rendered, 0 skipped, 1 failed" in first.stdout
    assert "b-empty.md" in first.stdout and "has no story text" in first.stdout
    film = out / "the-small-test" / "film.mp4"
    assert abs(probe(film).duration_s - 3.0) < 0.2
    (stories / "b-empty.md").unlink()
    second = batch()
    assert second.returncode == 0, second.stdout + second.stderr
    assert "1 story: 0 rendered, 1 skipped, 0 failed" in second.stdout
