"""Settings: read once, defaults that work offline, bad values fail with one line naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings


def test_defaults_need_no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "REDIS_URL", "TEAMBOT_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None)
    assert settings.data_dir == Path("data")
    assert settings.redis_url is None and not settings.model_configured


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TEAMBOT_TOP_K", "many", "TEAMBOT_TOP_K: Input should be a valid integer"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL: must start with redis://"),
        ("OPENAI_BASE_URL", "ftp://x", "OPENAI_BASE_URL: must be an http:// or https:// URL"),
        ("TEAMBOT_LOG_LEVEL", "loud", "TEAMBOT_LOG_LEVEL: Input should be"),
        ("DISCORD_GUILD_IDS", "123,abc", "DISCORD_GUILD_IDS: 'abc' is not a numeric guild id"),
        ("TEAMBOT_CHUNK_OVERLAP", "5000", "TEAMBOT_CHUNK_OVERLAP: must be smaller than TEAMBOT_CHUNK_SIZE"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                      expected: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None)
    message = str(raised.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_env_file_and_blank_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("TEAMBOT_CHAT_MODEL", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=\nTEAMBOT_CHAT_MODEL=llama3\n")
    settings = load_settings(_env_file=env_file)
    assert settings.openai_api_key is None
    assert settings.chat_model == "llama3"


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    settings = load_settings(_env_file=None)
    assert "sk-very-secret" not in repr(settings)
    assert settings.model_configured


def test_env_example_documents_every_variable_and_loads() -> None:
    from pydantic import AliasChoices

    from bot.settings import Settings

    example = Path(__file__).resolve().parents[1] / ".env.example"
    documented = {
        line.split("=", 1)[0] for line in example.read_text().splitlines() if line and not line.startswith("#")
    }
    declared = {
        field.validation_alias.choices[0]
        for field in Settings.model_fields.values()
        if isinstance(field.validation_alias, AliasChoices)
    }
    assert documented == declared
    load_settings(_env_file=example)  # the example itself is a valid configuration
