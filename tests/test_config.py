"""Tests of a recipe's [draft] tier: the overlay merged over the recipe, what it may not change, flags at both tiers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tale_cli.config import (
    draft_recipe,
    load_recipe,
    recipe_names,
    recipe_tier,
    tier_recipe,
    with_sound_overrides,
    with_video_overrides,
)
from tale_cli.errors import RecipeError

TIERED = """
width = 320
height = 180
continuity = "references"
[video]
backend = "veo"
model = "veo-3.1-fast-generate-001"
resolution = "1080p"
options = {{ project = "studio" }}
[judge]
backend = "gemini"
retake_below = 0.5
max_retakes = 2
[draft]
continuity = "first-frame"
{extra}
[draft.video]
model = "veo-3.1-lite-generate-001"
resolution = "720p"
[draft.judge]
backend = "none"
"""


def write(tmp_path: Path, extra: str = "") -> str:
    path = tmp_path / "tiered.toml"
    path.write_text(TIERED.format(extra=extra), encoding="utf-8")
    return str(path)


def test_the_draft_is_the_recipe_with_its_draft_sections_merged_over_it(tmp_path: Path) -> None:
    final = load_recipe(write(tmp_path))
    draft = draft_recipe(final)
    assert (recipe_tier(final), recipe_tier(draft)) == ("final", "draft")
    # Replaced at the top level, merged key by key within [video] (the project stays), a new judge backend from its
    # defaults (the gemini judge's bar does not carry over to "none").
    assert draft.continuity == "first-frame" and final.continuity == "references"
    assert (draft.video.model, draft.video.resolution) == ("veo-3.1-lite-generate-001", "720p")
    assert draft.video.options == {"project": "studio"} and draft.video.backend == "veo"
    assert (draft.judge.backend, draft.judge.max_retakes) == ("none", 0)
    assert (draft.name, draft.width, draft.draft) == (final.name, 320, None)
    # The tier survives the copies the pipeline makes (shape, sound, flags).
    assert recipe_tier(draft.model_copy(update={"width": 640})) == "draft"
    assert recipe_tier(with_sound_overrides(draft, no_voice=True)) == "draft"
    assert tier_recipe(final, None) is final and tier_recipe(draft, "draft") is draft
    assert tier_recipe(final, "draft") == draft


def test_a_video_flag_holds_at_both_tiers(tmp_path: Path) -> None:
    final = with_video_overrides(load_recipe(write(tmp_path)), model="veo-3.1-generate-001")
    assert final.video.model == draft_recipe(final).video.model == "veo-3.1-generate-001"
    assert recipe_tier(with_video_overrides(draft_recipe(final), steps=4)) == "draft"


@pytest.mark.parametrize("line", ["width = 640", "seed = 3", '[draft.voice]\nbackend = "espeak"', 'prices = "2026-02"'])
def test_a_draft_cannot_change_what_the_tiers_share(tmp_path: Path, line: str) -> None:
    text = TIERED.format(extra="").replace("[draft]\n", f"[draft]\n{line}\n")
    path = tmp_path / "shared.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError) as error:
        load_recipe(str(path))
    key = line.split()[0].strip("[]").removeprefix("draft.")
    assert f"[draft] cannot set '{key}'" in error.value.message and str(path) in error.value.message
    assert "continuity, budget_usd, fallback, video, judge" in (error.value.hint or "")


def test_an_unknown_draft_key_names_the_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, extra="")
    Path(path).write_text(Path(path).read_text(encoding="utf-8") + "stepz = 4\n", encoding="utf-8")
    with pytest.raises(RecipeError) as error:
        load_recipe(path)
    assert "[draft]: unknown key 'judge.stepz'" in error.value.message and path in error.value.message


def test_a_recipe_without_a_draft_has_no_draft_tier() -> None:
    with pytest.raises(RecipeError) as error:
        draft_recipe(load_recipe("preview"))
    assert "recipe 'preview' has no [draft] section" in error.value.message


def test_every_shipped_draft_tier_loads() -> None:
    for name in recipe_names():
        recipe = load_recipe(name)
        if recipe.draft is not None:
            draft = draft_recipe(recipe)
            assert draft.video != recipe.video, name
            assert (draft.width, draft.height, draft.voice, draft.image) == (
                recipe.width,
                recipe.height,
                recipe.voice,
                recipe.image,
            )


@pytest.mark.parametrize(
    ("full", "few_step"),
    [("local-wan2.1-14b", "local-wan2.1-14b-fast"), ("local-ltx-video", "local-ltx-video-distilled")],
)
def test_a_local_recipes_draft_is_its_few_step_sibling(full: str, few_step: str) -> None:
    assert draft_recipe(load_recipe(full)).video == load_recipe(few_step).video


def test_the_shipped_drafts() -> None:
    drafts = {name: draft_recipe(load_recipe(name)) for name in recipe_names() if load_recipe(name).draft is not None}
    lite = {name for name, draft in drafts.items() if draft.video.model == "veo-3.1-lite-generate-001"}
    assert lite == {"veo-3.1", "veo-3.1-fast", "veo-3.1-fast-judged"}
    assert all(drafts[name].continuity == "first-frame" for name in lite)  # Lite takes no reference images
    animatic = {name for name, draft in drafts.items() if draft.video.backend == "preview"}
    assert animatic == {"gemini-omni", "veo-3.1-lite", *(name for name in drafts if name.startswith("runway-"))}
    assert {name for name in recipe_names() if name.startswith(("veo-", "runway-", "gemini-omni"))} <= set(drafts)
