"""Key lookup order, fingerprints, keyring storage and the `tale keys` commands (never showing a key)."""

from __future__ import annotations

import json

import pytest
from keyring.backends import fail, null
from keyring_fakes import FAKE_KEY, ForgetfulKeyring, MemoryKeyring, clear_key_env, using_keyring
from typer.testing import CliRunner

from tale_cli.backends.google.client import vertex_adc
from tale_cli.cli import keys as keys_cli
from tale_cli.errors import ExitCode, KeysError
from tale_cli.keys import store as keys

OTHER_KEY = "second-fake-key-not-real-5678"


@pytest.fixture
def memory(monkeypatch):
    clear_key_env(monkeypatch)
    with using_keyring(MemoryKeyring()) as backend:
        yield backend


def run(args, **kwargs):
    return CliRunner().invoke(keys_cli.app, args, **kwargs)


def test_lookup_order_tale_var_then_standard_var_then_keyring(memory, monkeypatch):
    assert keys.get_key("openai") is None
    memory.set_password("tale", "openai", "keyring-fake-key-0001")
    assert keys.get_key("openai") == "keyring-fake-key-0001"
    assert keys.key_source("openai").source == "keyring"
    monkeypatch.setenv("OPENAI_API_KEY", OTHER_KEY)
    assert keys.get_key("openai") == OTHER_KEY
    assert keys.key_source("openai").where == "OPENAI_API_KEY"
    monkeypatch.setenv("TALE_OPENAI_API_KEY", FAKE_KEY)
    assert keys.get_key("openai") == FAKE_KEY
    assert keys.key_source("openai").where == "TALE_OPENAI_API_KEY"


@pytest.mark.parametrize(
    ("provider", "variable"),
    [
        ("google", "GEMINI_API_KEY"),
        ("google", "GOOGLE_API_KEY"),
        ("runway", "RUNWAYML_API_SECRET"),
        ("huggingface", "HF_TOKEN"),
    ],
)
def test_standard_env_vars(memory, monkeypatch, provider, variable):
    monkeypatch.setenv(variable, FAKE_KEY)
    assert keys.get_key(provider) == FAKE_KEY
    assert keys.key_source(provider).where == variable


def test_vertex_key_and_adc(memory, monkeypatch):
    monkeypatch.setenv("GOOGLE_API_KEY", FAKE_KEY)
    # GOOGLE_API_KEY is a Gemini key unless the SDK is told to use Vertex.
    assert keys.get_key("vertex") is None
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    assert keys.get_key("vertex") == FAKE_KEY
    monkeypatch.delenv("GOOGLE_API_KEY")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "film-project")
    assert keys.get_key("vertex") is None
    source = keys.key_source("vertex")
    assert source.source == "adc"
    assert "film-project" in source.where
    assert "global" in source.where
    assert vertex_adc() == ("film-project", "global")


def test_unknown_provider_lists_valid_names(memory):
    with pytest.raises(KeysError) as caught:
        keys.get_key("dalle")
    assert "google, huggingface, openai, runway, vertex" in caught.value.hint
    result = run(["set", "dalle", "--stdin"], input=FAKE_KEY + "\n")
    assert result.exit_code == ExitCode.KEYS
    assert "unknown provider 'dalle'" in result.output and "did you mean" not in result.output
    result = run(["set", "opneai", "--stdin"], input=FAKE_KEY + "\n")
    assert result.exit_code == ExitCode.KEYS
    assert "unknown provider 'opneai'; did you mean 'openai'?" in " ".join(result.output.split())


def test_fingerprint_shows_only_the_last_four_characters():
    assert keys.fingerprint(FAKE_KEY) == "…1234"
    assert keys.fingerprint("short-key") == "…"


def test_reads_never_crash_on_a_failing_keyring(monkeypatch):
    clear_key_env(monkeypatch)
    with using_keyring(fail.Keyring()):
        assert keys.get_key("openai") is None
        assert keys.key_source("openai").source == "none"
        result = run(["list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["keyring"]["usable"] is False
    assert {p["provider"] for p in data["providers"]} == set(keys.services())


@pytest.mark.parametrize("backend", [fail.Keyring, null.Keyring, ForgetfulKeyring])
def test_set_refuses_a_keyring_that_cannot_keep_keys(monkeypatch, backend):
    clear_key_env(monkeypatch)
    with using_keyring(backend()):
        result = run(["set", "openai", "--stdin"], input=FAKE_KEY + "\n")
    assert result.exit_code == ExitCode.KEYS
    assert "TALE_OPENAI_API_KEY" in result.output
    assert "stored" not in result.output
    assert FAKE_KEY not in result.output


@pytest.mark.parametrize("backend", [fail.Keyring, null.Keyring])
@pytest.mark.parametrize("how", ["prompt", "stdin"])
def test_set_says_the_keyring_cannot_keep_keys_before_asking_for_one(monkeypatch, backend, how):
    clear_key_env(monkeypatch)
    with using_keyring(backend()):
        # Nothing typed or piped yet: the answer must come before the key is asked for.
        result = run(["set", "google", *(["--stdin"] if how == "stdin" else [])], input="")
    assert result.exit_code == ExitCode.KEYS, result.output
    assert "cannot store keys here" in result.output and "TALE_GOOGLE_API_KEY" in result.output
    assert "key for google" not in result.output and "interrupted" not in result.output
    assert "no key on standard input" not in result.output


def test_set_list_delete_round_trip(memory):
    result = run(["set", "runway", "--stdin"], input=FAKE_KEY + "\n")
    assert result.exit_code == 0, result.output
    assert "…1234" in result.output
    assert memory.store[("tale", "runway")] == FAKE_KEY

    listed = run(["list", "--json"])
    assert listed.exit_code == 0
    runway = next(p for p in json.loads(listed.output)["providers"] if p["provider"] == "runway")
    assert runway == {
        "provider": "runway",
        "source": "keyring",
        "where": "keyring (service tale)",
        "fingerprint": "…1234",
    }
    table = run(["list"])
    assert table.exit_code == 0
    assert "keyring (service tale)" in table.output
    for output in (result.output, listed.output, table.output):
        assert FAKE_KEY not in output

    deleted = run(["delete", "runway"])
    assert deleted.exit_code == 0
    assert ("tale", "runway") not in memory.store
    again = run(["delete", "runway"])
    assert again.exit_code == ExitCode.KEYS
    assert "no key stored" in again.output


def test_set_with_hidden_prompt_does_not_echo(memory):
    result = run(["set", "huggingface"], input=FAKE_KEY + "\n")
    assert result.exit_code == 0, result.output
    assert memory.store[("tale", "huggingface")] == FAKE_KEY
    assert FAKE_KEY not in result.output


def test_set_warns_when_an_env_var_takes_precedence(memory, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OTHER_KEY)
    result = run(["set", "openai", "--stdin"], input=FAKE_KEY + "\n")
    assert result.exit_code == 0
    assert "OPENAI_API_KEY is set and takes precedence" in result.output
    assert OTHER_KEY not in result.output


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "no key on standard input"),
        ("\n", "no key given"),
        ("two words here\n", "spaces"),
        ("abc\n", "does not look"),
    ],
)
def test_set_refuses_what_is_not_a_key(memory, given, message):
    result = run(["set", "openai", "--stdin"], input=given)
    assert result.exit_code == ExitCode.KEYS
    assert message in result.output
    assert memory.store == {}


def test_interrupted_set_stores_nothing(memory):
    # End of input at the hidden prompt is what an interrupted paste looks like to the prompt.
    result = run(["set", "openai"], input="")
    assert result.exit_code == ExitCode.INTERRUPTED
    assert "nothing was stored" in result.output
    assert memory.store == {}


def test_delete_on_a_failing_keyring_is_one_clear_error(monkeypatch):
    clear_key_env(monkeypatch)
    with using_keyring(fail.Keyring()):
        result = run(["delete", "openai"])
    assert result.exit_code == ExitCode.KEYS
    assert "no keyring" in result.output
    assert "Traceback" not in result.output


def test_require_key_names_the_ways_to_set_one(memory):
    with pytest.raises(KeysError) as caught:
        keys.require_key("openai")
    assert "tale keys set openai" in caught.value.hint
    assert "OPENAI_API_KEY" in caught.value.hint
    with pytest.raises(KeysError) as caught:
        keys.require_key("runway", role="video backend")
    assert "(needed by the video backend)" in caught.value.message


def test_doctor_shows_each_providers_key_source(memory, monkeypatch):
    from tale_cli.cli.app import app

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("RUNWAYML_API_SECRET", FAKE_KEY)
    memory.set_password("tale", "openai", OTHER_KEY)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "film-project")
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert checks["key: runway"] == {
        "name": "key: runway",
        "ok": True,
        "detail": "RUNWAYML_API_SECRET …1234",
        "required": False,
    }
    assert checks["key: openai"]["detail"] == "keyring (service tale) …5678"
    assert "application-default credentials (film-project, global)" in checks["key: vertex"]["detail"]
    assert checks["key: huggingface"]["ok"] is False
    assert checks["keyring"]["ok"] is True
    table = CliRunner().invoke(app, ["doctor"])
    assert "RUNWAYML_API_SECRET …1234" in table.stdout
    assert FAKE_KEY not in result.stdout + table.stdout
    assert OTHER_KEY not in result.stdout + table.stdout
