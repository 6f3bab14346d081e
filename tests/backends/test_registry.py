"""The provider contract, walked over every registry entry: one module, one recipe, one fake server, one price."""

from __future__ import annotations

import importlib
import inspect
import json

import pytest
from typer.testing import CliRunner

from tale_cli import registry
from tale_cli.backends.base import ImageBackend, JudgeBackend, MusicBackend, VideoBackend, VoiceBackend
from tale_cli.backends.models import ModelMissingError
from tale_cli.cli.app import app
from tale_cli.config import load_recipe, recipe_names
from tale_cli.cost import default_book
from tale_cli.errors import ExitCode, RecipeError
from tale_cli.registry import Locality, Pricing, Role

ENTRIES = sorted(registry.providers().values(), key=lambda entry: entry.name)
PROTOCOLS = {
    Role.VIDEO: VideoBackend,
    Role.IMAGE: ImageBackend,
    Role.VOICE: VoiceBackend,
    Role.MUSIC: MusicBackend,
    Role.JUDGE: JudgeBackend,
}


def _recipe_for(name: str, role: Role):
    for recipe_name in recipe_names():
        recipe = load_recipe(recipe_name)
        if getattr(recipe, role.value).backend == name:
            return recipe
    return None


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.name)
def test_every_role_has_a_recipe_and_keeps_the_contract(entry) -> None:
    assert entry.roles, f"{entry.name} plays no role"
    for role in entry.roles:
        factory = entry.factory(role)  # a planner named "module:attribute" is imported here
        recipe = _recipe_for(entry.name, role)
        assert recipe is not None, f"no shipped recipe uses {entry.name} as its {role}"
        if role is Role.PLANNER:
            assert list(inspect.signature(factory).parameters) == ["story", "recipe", "shots", "seconds"]
            continue
        protocol = PROTOCOLS[role]
        assert inspect.isclass(factory) and protocol in factory.__mro__, f"{factory} must subclass {protocol}"
        for method in ("capabilities", "fingerprint", "preflight", "close"):
            assert callable(getattr(factory, method))
        if not registry.extra_installed(entry.extra):
            continue
        try:
            backend = factory(recipe)
        except ModelMissingError:
            # No weights are ever downloaded here: a model backend must say so, naming `tale models pull`.
            assert entry.needs_weights
            continue
        try:
            assert backend.name == entry.name
            assert isinstance(backend.fingerprint(), dict)
            backend.capabilities()
        finally:
            backend.close()


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.name)
def test_paid_providers_are_in_the_price_book(entry) -> None:
    book = default_book()
    tables = {
        Role.VIDEO: book.video,
        Role.IMAGE: book.image,
        Role.PLANNER: book.planner,
        Role.VOICE: book.voice,
        Role.MUSIC: book.music,
        Role.JUDGE: book.judge,
    }
    if entry.priced_by is not Pricing.PRICE_BOOK:
        assert entry.locality is Locality.LOCAL or entry.priced_by is Pricing.GPU_TIME or entry.is_free()
        return
    for role in entry.roles:
        priced = [price for price in tables[role] if entry.name in price.backends]
        assert priced, f"price book {book.id} has no {role} entry for {entry.name}"


@pytest.mark.parametrize("name", recipe_names())
def test_shipped_recipes_name_only_declared_and_priced_cloud_models(name) -> None:
    """A model a provider retires is changed in its declaration, and no shipped recipe keeps naming the old one."""
    recipe = load_recipe(name)
    book = default_book()
    sections = ((Role.IMAGE, recipe.image, book.image), (Role.VIDEO, recipe.video, book.video))
    if recipe.voice.enabled:
        sections += ((Role.VOICE, recipe.voice, book.voice),)
    if recipe.music.source in registry.names(Role.MUSIC):
        sections += ((Role.MUSIC, recipe.music, book.music),)
    if recipe.judge.enabled:
        sections += ((Role.JUDGE, recipe.judge, book.judge),)
    for role, section, prices in sections:
        entry = registry.provider(section.backend, role)
        if entry.locality is not Locality.CLOUD:
            continue
        assert section.model in entry.models, f"{name}: [{role}] model {section.model} is not declared by {entry.name}"
        assert any(price.match(entry.name, section.model) for price in prices), f"{name}: {section.model} unpriced"


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.locality is Locality.CLOUD], ids=lambda entry: entry.name)
def test_cloud_providers_have_a_key_and_a_fake_server(entry) -> None:
    assert entry.key in registry.key_services(), f"{entry.name} names no declared key service"
    fake = importlib.import_module(f"fakes.{entry.key}")
    assert entry.key == fake.KEY_PROVIDER
    assert fake.ROUTES, f"the fake {entry.key} server serves no route"


def test_local_entries_need_no_key() -> None:
    for entry in ENTRIES:
        if entry.locality is not Locality.CLOUD:
            assert entry.key is None, entry.name


def test_unknown_names_list_the_registry() -> None:
    with pytest.raises(RecipeError) as caught:
        registry.provider("sora", Role.VIDEO)
    assert caught.value.message == "unknown video backend 'sora'"
    assert caught.value.hint == "valid names are: " + ", ".join(registry.names(Role.VIDEO))
    with pytest.raises(RecipeError) as planner:
        registry.provider("preview", Role.PLANNER)
    assert "unknown planner 'preview'" in planner.value.message
    with pytest.raises(RecipeError) as mistyped:
        registry.provider("Preveiw", Role.VIDEO)
    assert mistyped.value.message == "unknown video backend 'Preveiw'; did you mean 'preview'?"


def test_self_hosted_is_local_only_at_a_private_address(monkeypatch) -> None:
    entry = registry.provider("openai-compatible", Role.PLANNER)
    monkeypatch.setenv("TALE_PLANNER_BASE_URL", "http://127.0.0.1:8000/v1")
    assert entry.runs_locally() and entry.is_free()
    assert not entry.runs_locally("https://api.example.com/v1")
    monkeypatch.delenv("TALE_PLANNER_BASE_URL")
    assert not entry.runs_locally() and not entry.is_free()


def test_providers_json_lists_every_entry(monkeypatch) -> None:
    from keyring_fakes import clear_key_env

    clear_key_env(monkeypatch)
    monkeypatch.setenv("TALE_RUNWAY_API_KEY", "test-runway-key-not-real-1234")
    result = CliRunner().invoke(app, ["providers", "--json"])
    assert result.exit_code == ExitCode.OK, result.output
    rows = {row["name"]: row for row in json.loads(result.output)["providers"]}
    assert set(rows) == set(registry.providers())
    for row in rows.values():
        assert {"name", "roles", "local", "needs", "priced_by", "ready"} <= set(row)
    assert rows["preview"]["local"] is True and rows["preview"]["ready"] is True
    assert rows["preview"]["roles"] == ["image", "video"]
    assert rows["veo"]["local"] is False and rows["veo"]["needs"]["key"] == "vertex"
    assert rows["veo"]["ready"] is False and "tale keys set vertex" in rows["veo"]["missing"][0]
    assert rows["runway"]["priced_by"] == "price-book"
    seedance = rows["runway"]["limits"]["seedance2"]
    assert seedance["durations_s"] == {"min": 4, "max": 15, "auto": True} and seedance["max_prompt_chars"] == 3500
    assert rows["runway"]["limits"]["kling2.5_turbo_pro"]["durations_s"] == {"one_of": [5, 10]}
    assert "second-hand" in rows["runway"]["limits"]["kling_4"]["limits_from"]
    assert rows["diffusers"]["priced_by"] == "gpu-time" and rows["diffusers"]["needs"]["weights"] is True
    assert "test-runway-key" not in result.output


def test_providers_table_shows_each_name() -> None:
    result = CliRunner().invoke(app, ["providers"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in registry.providers():
        assert name in result.output


def test_models_carry_their_lifecycles_and_no_shipped_default_is_past_its_date() -> None:
    import json
    from datetime import date

    from typer.testing import CliRunner

    from tale_cli.cli.app import app
    from tale_cli.config import load_recipe, recipe_names

    listed = CliRunner().invoke(app, ["providers", "--json"])
    assert listed.exit_code == 0, listed.output
    shown = json.loads(listed.stdout)
    by_name = {entry["name"]: entry for entry in (shown["providers"] if isinstance(shown, dict) else shown)}
    assert by_name["openai"]["lifecycles"]["gpt-4o-mini-tts"]["retires"] == "2027-01-06"
    assert by_name["openai"]["lifecycles"]["gpt-4o-mini-tts"]["replaced_by"] == "gpt-realtime-2.1-mini"
    assert by_name["gemini"]["lifecycles"]["gemini-3.1-flash-image"]["retires"] == "2026-10-29"
    today = date.today()
    for entry in registry.providers().values():
        if entry.models:
            life = entry.lifecycles.get(entry.models[0])
            assert life is None or life.retires > today, f"{entry.name}'s default {entry.models[0]} is past its date"
    for name in recipe_names():
        registry.check_lifecycles(load_recipe(name), today)


def test_a_retired_model_is_refused_before_anything_runs_and_a_retiring_one_warns(
    fake_providers, tmp_path, story_file, caplog
) -> None:
    from datetime import date

    from typer.testing import CliRunner

    from tale_cli.cli.app import app
    from tale_cli.config import load_recipe
    from tale_cli.errors import ExitCode, RecipeError

    recipe = tmp_path / "old-images.toml"
    recipe.write_text(
        'width = 320\nheight = 180\nshots = 2\nseconds = 2.0\n[video]\nbackend = "preview"\n'
        '[image]\nbackend = "openai"\nmodel = "gpt-image-1-mini"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["render", str(story_file), "-r", str(recipe), "-o", str(tmp_path / "out")])
    assert result.exit_code == ExitCode.RECIPE, result.output
    words = " ".join(result.output.split())
    assert "openai model gpt-image-1-mini retired on 2026-12-01" in words and 'model = "gpt-image-2"' in words
    assert fake_providers.requests == [] and not (tmp_path / "out").exists()
    speech = load_recipe("preview-openai-voice").model_copy(deep=True)
    speech.voice.model = "gpt-4o-mini-tts"
    registry.check_lifecycles(speech, date(2026, 12, 10))  # 27 days before: a warning line
    assert "retires on 2027-01-06" in caplog.text
    with pytest.raises(RecipeError, match="retired on 2027-01-06"):
        registry.check_lifecycles(speech, date(2027, 1, 6))


def test_providers_check_asks_the_providers_about_every_model_the_recipes_name(fake_providers, tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from tale_cli.cli.app import app
    from tale_cli.errors import ExitCode

    speech = tmp_path / "speech.toml"
    speech.write_text(
        '[video]\nbackend = "preview"\n[voice]\nbackend = "openai"\nmodel = "gpt-4o-mini-tts"\n', encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["providers", "--check", "--recipe", str(speech), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    by_model = {(m["provider"], m["model"]): m for m in report["models"]}
    named = by_model[("openai", "gpt-4o-mini-tts")]
    assert (
        named["retires"] == "2027-01-06" and named["source"] == "openai's model list" and named["recipes"] == ["speech"]
    )
    assert by_model[("gemini", "gemini-3.8-flash")]["status"] == "ok"  # the veo recipes' planner, listed
    assert report["not_asked"]["veo"] == "no model listing to ask" and report["ok"]
    asked = {(r["method"], r["path"]) for r in fake_providers.requests}
    assert ("GET", "/v1/models") in asked and ("GET", "/v1beta/models") in asked
    assert not any(r["method"] == "POST" for r in fake_providers.requests)  # nothing paid for

    # A model the provider no longer lists fails the check (exit 5), as a morning CI run wants.
    gone = tmp_path / "gone.toml"
    gone.write_text('[video]\nbackend = "preview"\n[music]\nsource = "lyria"\nmodel = "lyria-3-pro-preview"\n')
    result = CliRunner().invoke(app, ["providers", "--check", "--recipe", str(gone)])
    assert result.exit_code == ExitCode.RECIPE, result.output
    assert "unknown lyria lyria-3-pro-preview" in " ".join(result.output.split())


def test_providers_check_without_keys_says_what_it_could_not_ask(monkeypatch) -> None:
    import json

    import fakes
    from typer.testing import CliRunner

    from tale_cli.cli.app import app

    for name in fakes.CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    result = CliRunner().invoke(app, ["providers", "--check", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["not_asked"]["openai"].startswith("no 'openai' key here")
    assert report["not_asked"]["gemini"].startswith("no 'google' key here")
    assert all(m["source"] == "registry" or m["retires"] is None for m in report["models"])
