"""The shipped local recipes: they load, name local backends only, and the private one stays private."""

from __future__ import annotations

import pytest

from tale_cli.config import load_recipe
from tale_cli.registry import Role, provider

LOCAL = ["local-cogvideox-5b", "local-cogvideox-5b-i2v", "local-wan2.1-1.3b", "local-wan2.1-14b",
         "local-wan2.2-ti2v-5b", "local-hunyuanvideo", "local-ltx-video"]  # fmt: skip


@pytest.mark.parametrize("name", LOCAL)
def test_local_recipe(name: str) -> None:
    recipe = load_recipe(name)
    assert recipe.video.backend == "diffusers"
    assert provider(recipe.video.backend, Role.VIDEO).runs_locally()
    assert provider(recipe.image.backend, Role.IMAGE).runs_locally()
    assert "/" in recipe.video.model and recipe.video.steps == 50
    assert 55 <= recipe.shots * recipe.seconds <= 65


def test_private_recipe_uses_only_local_backends() -> None:
    recipe = load_recipe("private")
    assert recipe.private
    assert recipe.planner.backend == "local" and provider("local", Role.PLANNER).runs_locally()
    assert recipe.image.backend == "diffusers" and provider("diffusers", Role.IMAGE).runs_locally()
    assert provider(recipe.video.backend, Role.VIDEO).runs_locally()


def test_the_private_check_accepts_the_private_recipe() -> None:
    from tale_cli.keys.privacy import private_problems

    assert private_problems(load_recipe("private")) == []
    assert private_problems(load_recipe("local-cogvideox-5b-i2v")) == []


FAST = {"local-wan2.1-14b-fast": ("wan", 4), "local-wan2.2-a14b-lightning": ("wan-a14b", 4),
        "local-ltx-video-distilled": ("ltx-condition", 8)}  # fmt: skip


@pytest.mark.parametrize("name", sorted(FAST))
def test_few_step_recipes_cite_their_settings(name: str) -> None:
    from tale_cli.backends.models import REPO_ID

    recipe = load_recipe(name)
    assert recipe.video.steps == FAST[name][1] and recipe.video.guidance == 1.0
    assert "huggingface.co/" in recipe.description and "Published:" in recipe.description
    assert 55 <= recipe.shots * recipe.seconds <= 65
    for lora in recipe.video.lora:
        assert lora.repo is not None and REPO_ID.match(lora.repo) and (lora.weight_name or "").endswith(".safetensors")
    experts = [lora.expert for lora in recipe.video.lora]
    assert experts == (["high-noise", "low-noise"] if "a14b" in name else [None] * len(experts))


@pytest.mark.parametrize("name", sorted(FAST))
def test_few_step_recipes_render_the_tiny_pipelines(name: str, tiny_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The recipe's own steps, guidance, scheduler, timesteps and LoRA layout, on a tiny model of its family."""
    pytest.importorskip("peft")
    from tiny_pipelines import NATIVE, save_tiny_lora, shot_request

    from tale_cli.backends.diffusers.video import DiffusersVideo

    recipe = load_recipe(name)
    family = FAST[name][0]
    loras = [
        lora.model_copy(update={"repo": None, "weight_name": None,
                                "file": str(save_tiny_lora(family.split("-")[0], tmp_path / f"lora{n}", seed=n))})
        for n, lora in enumerate(recipe.video.lora)
    ]  # fmt: skip
    video = recipe.video.model_copy(
        update={"model": str(tiny_model(family)), "lora": loras, "options": {**recipe.video.options, **NATIVE}}
    )
    tiny = recipe.model_copy(update={"video": video, "width": 96, "height": 64, "fps": 8})

    notes = DiffusersVideo(tiny).render_shot(shot_request(tmp_path)).notes

    assert notes["steps"] == FAST[name][1] and notes["segments"] == [9]
    assert sum(line.startswith("lora ") for line in notes.get("speedups", [])) == len(recipe.video.lora)
    if "scheduler" in recipe.video.options:
        assert f"scheduler {recipe.video.options['scheduler']} shift 5" in notes["speedups"]
