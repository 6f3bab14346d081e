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
    from tale_cli.privacy import private_problems

    assert private_problems(load_recipe("private")) == []
    assert private_problems(load_recipe("local-cogvideox-5b-i2v")) == []
