"""Faults that must never be paid for twice: a lost manifest, an undone edit, a kill after a create, a damaged clip.

Every test renders the example story with Veo against the fake provider server and counts the provider's
create calls: eight shots are eight jobs, whatever was damaged, undone or killed in between.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cloudrender import EXAMPLE_STORY, SMALL_VEO, small

from tale_cli.config import load_recipe
from tale_cli.media import ffmpeg as media
from tale_cli.pipeline import Event, RenderOptions, RenderReport, render


def render_veo(source: Path = EXAMPLE_STORY, out: Path | None = None, **options: object) -> tuple[RenderReport, str]:
    """Render with a shrunk veo-3.1-fast recipe; returns the report and every message line the render emitted."""
    messages: list[str] = []

    def collect(event: Event) -> None:
        if event.index is None:
            messages.append(event.detail)

    recipe = small(load_recipe("veo-3.1-fast"))
    report = render(source, RenderOptions(recipe=recipe, out_root=out, **options), collect)  # type: ignore[arg-type]
    return report, "\n".join(messages)


def manifest_of(report: RenderReport) -> dict:
    return json.loads((report.run_dir / "manifest.json").read_text(encoding="utf-8"))


def film_seconds(report: RenderReport) -> float:
    assert report.film is not None
    return media.probe(report.film).duration_s


@pytest.mark.parametrize("damage", ["truncated", "garbage", "deleted"])
def test_a_lost_or_damaged_manifest_pays_for_nothing_again(fake_providers, tmp_path, damage):
    first, _ = render_veo(out=tmp_path)
    assert fake_providers.creates["veo"] == 8 and first.film is not None
    spent = {key: shot["cost_usd"] for key, shot in manifest_of(first)["shots"].items()}
    manifest = first.run_dir / "manifest.json"
    if damage == "truncated":
        text = manifest.read_bytes()
        manifest.write_bytes(text[: len(text) // 2])
    elif damage == "garbage":
        manifest.write_bytes(os.urandom(2048))
    else:
        manifest.unlink()

    again, said = render_veo(out=tmp_path)

    assert [s.status for s in again.shots] == ["cached"] * 8
    assert fake_providers.creates["veo"] == 8, "a clip in shots/by-hash was paid for again"
    assert fake_providers.creates["gemini-image"] == 2 and fake_providers.creates["plan"] == 1
    word = "missing" if damage == "deleted" else "damaged"
    assert f"manifest.json was {word}; rebuilt from shots/by-hash and the job journal" in said
    assert film_seconds(again) == pytest.approx(64.0, abs=0.1)
    rebuilt = manifest_of(again)
    assert {key: shot["cost_usd"] for key, shot in rebuilt["shots"].items()} == spent
    assert all(shot["provider_job_id"] for shot in rebuilt["shots"].values())


def test_undoing_an_edit_pays_nothing(fake_providers, tmp_path):
    first, _ = render_veo(out=tmp_path)
    plan_path = first.run_dir / "plan.json"
    original = plan_path.read_text(encoding="utf-8")
    edited = json.loads(original)
    edited["shots"][2]["prompt"] += " The sky turns violet."
    plan_path.write_text(json.dumps(edited, ensure_ascii=False, indent=2), encoding="utf-8")

    after_edit, _ = render_veo(plan_path)
    assert (after_edit.rendered, after_edit.cached, fake_providers.creates["veo"]) == (1, 7, 9)

    plan_path.write_text(original, encoding="utf-8")
    undone, _ = render_veo(plan_path)

    assert (undone.rendered, undone.cached) == (0, 8)
    assert fake_providers.creates["veo"] == 9, "the clip from before the edit was paid for again"
    assert film_seconds(undone) == pytest.approx(64.0, abs=0.1)
    assert manifest_of(undone)["shots"]["3"]["params_hash"] == manifest_of(first)["shots"]["3"]["params_hash"]


KILLED_AFTER_CREATE = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path

    from tale_cli.config import load_recipe
    from tale_cli.pipeline import RenderOptions, render
    from tale_cli.run.folder import Manifest

    save = Manifest.save

    def save_or_die(self):
        # SIGKILL after the provider accepted the first job, before manifest.json holds its id.
        if any(shot.job for shot in self.data.shots.values()):
            os.kill(os.getpid(), signal.SIGKILL)
        save(self)

    Manifest.save = save_or_die
    render(Path(sys.argv[1]), RenderOptions(recipe=load_recipe(sys.argv[2]), out_root=Path(sys.argv[3]), jobs=1))
    """
)


def test_a_kill_right_after_a_create_loses_no_job(fake_providers, tmp_path):
    recipe = tmp_path / "veo-small.toml"
    recipe.write_text(SMALL_VEO, encoding="utf-8")
    out = tmp_path / "out"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_CREATE, str(EXAMPLE_STORY), str(recipe), str(out)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert fake_providers.creates["veo"] == 1

    again = render(EXAMPLE_STORY, RenderOptions(recipe=load_recipe(str(recipe)), out_root=out))

    assert again.film is not None and again.rendered == 8
    assert fake_providers.creates["veo"] == 8, "the job accepted just before the kill was paid for again"


@pytest.mark.parametrize("keep", [0.6, 1000])
def test_a_damaged_cached_shot_is_fetched_again_not_trusted(fake_providers, tmp_path, keep):
    first, _ = render_veo(out=tmp_path)
    shot = first.run_dir / "shots" / "shot-04.mp4"
    data = shot.read_bytes()
    with shot.open("r+b") as handle:
        handle.truncate(int(len(data) * keep) if isinstance(keep, float) else keep)

    again, said = render_veo(out=tmp_path)

    assert [s.index for s in again.shots if s.status == "done"] == [4] and again.cached == 7
    assert "shot 4" in said and "damaged" in said
    assert fake_providers.creates["veo"] == 8, "the damaged shot was paid for again instead of downloaded again"
    media.check_clip(shot, expected_s=8.0, fps=24)
    assert film_seconds(again) == pytest.approx(64.0, abs=0.1)
