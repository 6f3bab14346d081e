"""Redaction of key values and credential-shaped fields from error text, tracebacks and logs."""

from __future__ import annotations

import io
import logging

import pytest
import typer
from keyring_fakes import FAKE_KEY, MemoryKeyring, clear_key_env, using_keyring
from typer.testing import CliRunner

from tale_cli.cli import common
from tale_cli.errors import BackendError, ExitCode
from tale_cli.keys import store as keys
from tale_cli.keys.redact import REDACTED, RedactingFilter, install_log_redaction, redact, register_secret


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    clear_key_env(monkeypatch)


def test_env_key_values_are_removed_in_every_form(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "fake/key+with=odd&chars")
    text = "raw fake/key+with=odd&chars, quoted fake%2Fkey%2Bwith%3Dodd%26chars, json fake/key+with=odd&chars"
    cleaned = redact(text)
    assert "odd" not in cleaned
    assert cleaned.count(REDACTED) == 3


def test_keyring_values_are_removed_once_read():
    with using_keyring(MemoryKeyring()) as backend:
        backend.set_password("tale", "runway", "keyring-only-fake-value")
        assert keys.get_key("runway") == "keyring-only-fake-value"
    assert "keyring-only-fake-value" not in redact("error: bad key keyring-only-fake-value")


@pytest.mark.parametrize(
    "text",
    [
        "GET https://example.test/v1/models?key=unknownvalue123&pageSize=1",
        "url=https://example.test/x?api_key=unknownvalue123",
        "headers: {'x-goog-api-key': 'unknownvalue123'}",
        "Authorization: Bearer unknownvalue123",
        "sent authorization=Token unknownvalue123",
        '{"api_key": "unknownvalue123"}',
        "X-Runway-Api-Key: unknownvalue123",
    ],
)
def test_credential_shaped_fields_are_removed_even_for_unknown_values(text):
    cleaned = redact(text)
    assert "unknownvalue123" not in cleaned
    assert REDACTED in cleaned


def test_ordinary_text_is_left_alone():
    text = "shot 3 failed: the token budget was exceeded; key frames kept"
    assert redact(text) == text


def test_short_values_are_not_treated_as_secrets():
    register_secret("abc")
    assert redact("abc def") == "abc def"


def test_logging_filter_redacts_message_args_and_exceptions(monkeypatch):
    monkeypatch.setenv("TALE_GOOGLE_API_KEY", FAKE_KEY)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tale-test-redact")
    logger.addHandler(handler)
    try:
        logger.warning("request to %s failed", f"https://x.test/?key={FAKE_KEY}")
        try:
            raise RuntimeError(f"bad key {FAKE_KEY}")
        except RuntimeError:
            logger.exception("SDK error")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "request to" in output
    assert "RuntimeError" in output
    assert FAKE_KEY not in output


def test_installed_redaction_covers_every_logger(monkeypatch):
    monkeypatch.setenv("RUNWAYML_API_SECRET", FAKE_KEY)
    install_log_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("some.sdk.http")
    logger.addHandler(handler)
    try:
        logger.error("HTTP 401 for Bearer %s", FAKE_KEY)
    finally:
        logger.removeHandler(handler)
    assert "HTTP 401" in stream.getvalue()
    assert FAKE_KEY not in stream.getvalue()


def _failing_app(error: Exception) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def boom(debug: bool = False) -> None:
        common.set_debug(debug)
        with common.errors_handled():
            raise error

    return app


@pytest.mark.parametrize("debug", [False, True])
def test_cli_error_path_redacts_messages_and_tracebacks(monkeypatch, debug):
    monkeypatch.setenv("TALE_OPENAI_API_KEY", FAKE_KEY)
    error = BackendError(f"provider said: invalid key {FAKE_KEY}", hint=f"check {FAKE_KEY}")
    result = CliRunner().invoke(_failing_app(error), ["--debug"] if debug else [])
    assert result.exit_code == ExitCode.BACKEND
    assert "provider said: invalid key" in result.output
    assert ("Traceback" in result.output) is debug
    assert FAKE_KEY not in result.output


@pytest.mark.parametrize("debug", [False, True])
def test_unexpected_exceptions_are_one_redacted_line(monkeypatch, debug):
    monkeypatch.setenv("HF_TOKEN", FAKE_KEY)
    result = CliRunner().invoke(_failing_app(ValueError(f"401 for {FAKE_KEY}")), ["--debug"] if debug else [])
    assert result.exit_code == ExitCode.FAILURE
    assert "unexpected ValueError: 401 for" in result.output
    assert ("Traceback" in result.output) is debug
    assert FAKE_KEY not in result.output


def test_extra_secrets_passed_by_the_caller_are_removed():
    assert redact("token-from-a-file-9876 failed", "token-from-a-file-9876", None, "") == "[redacted] failed"
