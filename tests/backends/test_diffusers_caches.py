"""Cache hooks that need no calibration: MagCache with the published ratios, TaylorSeer with per-family patterns.

Each test counts the denoiser's real work (calls of a projection inside a block) with and without the cache,
on tiny random-weight pipelines, so "the cache is on" means "the cache skipped work", not "a hook exists".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tale_cli.backends.diffusers.caches import MAG_RATIOS, TAYLORSEER_PATTERNS, shipped_mag_ratios
from tale_cli.backends.diffusers.video import DiffusersVideo
from tale_cli.errors import RecipeError

pytest.importorskip("diffusers")

from tiny_pipelines import local_recipe

STEPS = 10


def projections_run(backend: DiffusersVideo, block: Any) -> int:
    """How many times `block`'s self-attention query projection really ran during one clip."""
    backend.load()
    calls: list[int] = []
    handle = block(backend).register_forward_hook(lambda *_: calls.append(1))
    try:
        backend.generate("a fox runs on the sea", seed=1, decode=False)
    finally:
        handle.remove()
    return len(calls)


def wan_block(backend: DiffusersVideo) -> Any:
    return backend._pipes["WanPipeline"].transformer.blocks[1].attn1.to_q


def test_magcache_runs_on_tiny_wan_with_the_shipped_ratios_and_skips_steps(tiny_model) -> None:
    model = tiny_model("wan")
    plain = projections_run(DiffusersVideo(local_recipe(model, steps=STEPS)), wan_block)
    cached = DiffusersVideo(local_recipe(model, steps=STEPS, cache="magcache"))
    assert "mag_ratios" not in cached.settings.options and not cached.settings.options.get("mag_calibrate")

    skipped = projections_run(cached, wan_block)

    assert plain == 2 * STEPS  # conditional and unconditional pass each step
    assert skipped < plain
    assert cached.speedups == ["cache magcache"]


def test_the_shipped_ratios_cover_the_recipes_models() -> None:
    assert len(shipped_mag_ratios("wan2.1-1.3b-t2v", 480) or ()) == 50
    assert len(shipped_mag_ratios("wan2.1-14b-t2v", 720) or ()) == 50
    assert shipped_mag_ratios("wan2.1-14b-i2v", 480) != shipped_mag_ratios("wan2.1-14b-i2v", 720)
    assert shipped_mag_ratios("hunyuanvideo", 720) == MAG_RATIOS["hunyuanvideo@720"]
    assert shipped_mag_ratios("ltx-video", 512) is None
    assert all(0.7 < r < 1.3 for ratios in MAG_RATIOS.values() for r in ratios)


def test_magcache_without_published_ratios_asks_for_a_calibration(tiny_model) -> None:
    with pytest.raises(RecipeError, match="none are published for ltx-video") as caught:
        DiffusersVideo(local_recipe(tiny_model("ltx"), cache="magcache"))
    assert caught.value.hint is not None and "mag_calibrate = true" in caught.value.hint
    calibrating = DiffusersVideo(local_recipe(tiny_model("ltx"), cache="magcache", options={"mag_calibrate": True}))
    assert calibrating.settings.cache == "magcache"


def test_taylorseer_skips_work_on_tiny_wan_with_its_own_patterns(tiny_model) -> None:
    model = tiny_model("wan")
    plain = projections_run(DiffusersVideo(local_recipe(model, steps=STEPS)), wan_block)
    cached = DiffusersVideo(local_recipe(model, steps=STEPS, cache="taylorseer"))

    skipped = projections_run(cached, wan_block)

    assert skipped < plain
    assert TAYLORSEER_PATTERNS["wan"] and cached.fingerprint()["cache"] == "taylorseer"


def test_diffusers_default_taylorseer_patterns_hook_nothing_in_wan(tiny_model, monkeypatch: pytest.MonkeyPatch) -> None:
    """The counter-test: without Tale's patterns TaylorSeer hooks no Wan module, so nothing is skipped."""
    model = tiny_model("wan")
    plain = projections_run(DiffusersVideo(local_recipe(model, steps=STEPS)), wan_block)
    monkeypatch.setitem(TAYLORSEER_PATTERNS, "wan", None)  # type: ignore[arg-type]

    default = projections_run(DiffusersVideo(local_recipe(model, steps=STEPS, cache="taylorseer")), wan_block)

    assert default == plain


def test_taylorseer_skips_work_on_tiny_ltx(tiny_model) -> None:
    def ltx_block(backend: DiffusersVideo) -> Any:
        return backend._pipes["LTXPipeline"].transformer.transformer_blocks[0].attn1.to_q

    model = tiny_model("ltx")
    plain = projections_run(DiffusersVideo(local_recipe(model, steps=STEPS)), ltx_block)
    skipped = projections_run(DiffusersVideo(local_recipe(model, steps=STEPS, cache="taylorseer")), ltx_block)
    assert skipped < plain


def test_a_cached_shot_still_renders(tiny_model, tmp_path: Path) -> None:
    from tiny_pipelines import shot_request

    backend = DiffusersVideo(local_recipe(tiny_model("wan"), steps=6, cache="taylorseer"))
    notes = backend.render_shot(shot_request(tmp_path)).notes
    assert notes["speedups"] == ["cache taylorseer"] and notes["steps"] == 6
