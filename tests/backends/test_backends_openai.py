"""gpt-image-2 reference images against the fake provider server, through the real openai SDK."""

from __future__ import annotations

import pytest
from cloudrender import DictJournal, one_shot_plan
from fakes import png_bytes

from tale_cli.backends import image_backend
from tale_cli.backends.base import ReferenceRequest
from tale_cli.backends.openai.client import OpenAIImage
from tale_cli.config import Recipe
from tale_cli.errors import KeysError, QuotaError, RecipeError, ShotRefusedError
from tale_cli.story.plan import Character

MIRA = Character(id="mira", name="Mira", description="a keeper in a yellow raincoat")


def recipe(**image):
    return Recipe(image={"backend": "openai", **image}, video={"backend": "runway"})


def request(tmp_path, prompt="a keeper in a yellow raincoat", **extra):
    plan = one_shot_plan(Recipe())
    return ReferenceRequest(plan, MIRA, prompt, 7, tmp_path / "mira.png.part", DictJournal(), **extra)


def test_gpt_image_2_writes_a_png(fake_providers, tmp_path):
    backend = image_backend(recipe(size="1536x1024", quality="high"))
    req = request(tmp_path)

    result = backend.render_reference(req)

    assert req.output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.model == "gpt-image-2" and result.notes == {"edited": False}
    body = next(r["json"] for r in fake_providers.requests if r["path"] == "/v1/images/generations")
    assert body == {
        "prompt": "a keeper in a yellow raincoat",
        "model": "gpt-image-2",
        "n": 1,
        "output_format": "png",
        "quality": "high",
        "size": "1536x1024",
    }
    assert fake_providers.creates["openai-image"] == 1


def test_a_source_picture_is_edited_into_a_variant(fake_providers, tmp_path):
    source = tmp_path / "photo.png"
    source.write_bytes(png_bytes(5))
    req = request(tmp_path, source_image=source)

    result = OpenAIImage(recipe()).render_reference(req)

    assert fake_providers.creates["openai-edit"] == 1 and fake_providers.creates["openai-image"] == 0
    assert result.notes == {"edited": True}
    assert req.output.stat().st_size > 0


@pytest.mark.parametrize(("model", "date"), [("dall-e-3", "2026-05-12"), ("gpt-image-1", "2026-10-23")])
def test_retired_models_name_their_replacement(model, date):
    with pytest.raises(RecipeError) as caught:
        image_backend(recipe(model=model))
    assert f"'{model}' was retired on {date}" in caught.value.message
    assert "gpt-image-2" in caught.value.message and 'model = "gpt-image-2"' in caught.value.hint


def test_refusal_and_rate_limits(fake_providers, tmp_path):
    backend = OpenAIImage(recipe())
    with pytest.raises(ShotRefusedError, match="safety system"):
        backend.render_reference(request(tmp_path, prompt="forbidden"))

    fake_providers.rate_limit_creates = 1
    backend.render_reference(request(tmp_path))
    assert [r["path"] for r in fake_providers.requests].count("/v1/images/generations") == 3

    fake_providers.rate_limit_creates = 20
    backend.cloud.policy = type(backend.cloud.policy)(retries=1)
    with pytest.raises(QuotaError, match="after 2 tries"):
        backend.render_reference(request(tmp_path))


def test_wrong_key_never_shows_the_key(fake_providers, tmp_path, monkeypatch):
    wrong = "wrong-openai-key-not-real-4321"
    monkeypatch.setenv("TALE_OPENAI_API_KEY", wrong)
    with pytest.raises(KeysError) as caught:
        OpenAIImage(recipe()).render_reference(request(tmp_path))
    # The fake echoes the key back in its error message, as real providers partly do.
    assert "Incorrect API key provided" in caught.value.message
    assert wrong not in caught.value.message


def test_bad_quality_is_a_recipe_error():
    with pytest.raises(RecipeError, match="quality 'ultra'"):
        OpenAIImage(recipe(quality="ultra"))
