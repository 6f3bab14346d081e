"""SDXL and Flux.1 reference images from tiny random-weight pipelines."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tale_cli.backends.base import ReferenceRequest
from tale_cli.backends.diffusers.image import DiffusersImage, parse_size
from tale_cli.config import ImageConfig, Recipe
from tale_cli.errors import RecipeError
from tale_cli.executors.processes import NullJournal
from tale_cli.story.plan import Character, Plan, Shot

pytest.importorskip("diffusers")


@pytest.mark.parametrize(("family", "variant"), [("sdxl", "sdxl"), ("flux", "flux-schnell")])
def test_reference_image(tiny_model, tmp_path: Path, family: str, variant: str) -> None:
    recipe = Recipe(image=ImageConfig(backend="diffusers", model=str(tiny_model(family)), size="32x32", steps=2))
    backend = DiffusersImage(recipe)
    assert backend.fingerprint() == {"model": str(tiny_model(family)), "variant": variant, "steps": 2,
                                     "guidance": backend.guidance, "size": [32, 32]}  # fmt: skip
    character = Character(id="ada", name="Ada", description="a tall woman in a green coat")
    plan = Plan(title="t", slug="t", characters=[character], shots=[Shot(index=1, duration_s=1, prompt="x")])
    output = tmp_path / "ada.png.part"
    request = ReferenceRequest(plan=plan, character=character, prompt="Ada, a tall woman", seed=1, output=output,
                               journal=NullJournal())  # fmt: skip
    result = backend.render_reference(request)
    with Image.open(output) as image:
        assert (image.format, image.size) == ("PNG", (32, 32))
    assert result.notes["variant"] == variant and result.cost_usd == 0.0
    backend.close()


def test_image_sizes() -> None:
    assert parse_size("1024x768") == (1024, 768)
    assert parse_size("native") is None
    with pytest.raises(RecipeError, match="multiple of 8"):
        parse_size("1020x768")
    with pytest.raises(RecipeError, match="not WIDTHxHEIGHT"):
        parse_size("big")
