"""Settings take the natural Python types, and a wrong one is a ConfigError naming the setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qa import Assistant, ConfigError, Settings


def test_overrides_are_converted_to_the_fields_types(tmp_path: Path) -> None:
    s = Settings.from_env(
        env={},
        index_dir=str(tmp_path / "indexes"),
        cache_dir="~/sanad-cache",
        document=str(tmp_path / "article.md"),
        top_k="3",
        llm_timeout=5,
        port=" 8000 ",
        embedding_model=tmp_path / "model",
    )
    assert s.index_dir == tmp_path / "indexes" and isinstance(s.index_dir, Path)
    assert s.cache_dir == Path.home() / "sanad-cache"
    assert s.document == tmp_path / "article.md"
    assert (s.top_k, s.llm_timeout, s.port) == (3, 5.0, 8000)
    assert isinstance(s.llm_timeout, float)
    assert s.embedding_model == str(tmp_path / "model")
    # replace() and the constructor convert the same way.
    assert s.replace(top_k="5", index_dir=str(tmp_path)).index_dir == tmp_path
    assert Settings(max_queue="8").max_queue == 8


def test_none_leaves_a_setting_as_it_was() -> None:
    s = Settings.from_env(env={"SANAD_TOP_K": "6"}, top_k=None, llm_api_key=None)
    assert s.top_k == 6 and s.llm_api_key is None
    assert s.replace(top_k=None) == s


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"top_k": "many"}, "top_k must be a whole number, not 'many'"),
        ({"top_k": True}, "top_k must be a whole number, not True"),
        ({"top_k": 2.5}, "top_k must be a whole number, not 2.5"),
        ({"port": [8000]}, "port must be a whole number, not [8000]"),
        ({"llm_timeout": "soon"}, "llm_timeout must be a number, not 'soon'"),
        ({"index_dir": 5}, "index_dir must be a path, not 5"),
        ({"document": ""}, "document must be a path, not ''"),
        ({"llm": 3}, "llm must be a string, not 3"),
        ({"api_token": b"secret"}, "api_token must be a string, not b'secret'"),
        ({"no_such_setting": 1}, "unknown setting 'no_such_setting'"),
    ],
)
def test_a_wrong_type_is_a_config_error_naming_the_setting(
    change: dict[str, Any], message: str
) -> None:
    for make in (
        lambda: Settings.from_env(env={}, **change),
        lambda: Settings().replace(**change),
        # Assistant applies its overrides before it loads anything.
        lambda: Assistant(Settings(), **change),
    ):
        with pytest.raises(ConfigError) as e:
            make()
        assert str(e.value) == message


def test_a_long_wrong_value_is_shortened_in_the_message() -> None:
    with pytest.raises(ConfigError) as e:
        Settings.from_env(env={}, top_k="x" * 10_000)
    assert len(str(e.value)) < 120


def test_a_bad_variable_is_named_in_the_message() -> None:
    with pytest.raises(ConfigError) as e:
        Settings.from_env(env={"SANAD_PORT": "http"})
    assert str(e.value) == "SANAD_PORT must be a whole number, not 'http'"
    with pytest.raises(ConfigError) as e:
        Settings.from_env(env={"SANAD_TOP_K": "0"})
    assert str(e.value) == "top_k must be between 1 and 20, not 0"


def test_assistant_takes_its_index_dir_as_a_string(assistant: Assistant, index_dir: Path) -> None:
    bot = Assistant(assistant.settings, index_dir=str(index_dir), top_k="2")
    assert bot.settings.index_dir == index_dir and bot.settings.top_k == 2
    assert bot.index.path.parent == index_dir
    answer = bot.ask("Who is Caleb Weiss?")
    assert not answer.abstained and len(answer.sources) >= 1


def test_trusted_origins_must_be_origins() -> None:
    settings = Settings.from_env(
        env={"SANAD_TRUSTED_ORIGINS": "https://Chat.example.org, http://a:8"}
    )
    assert settings.trusted_origin_list == ["https://chat.example.org", "http://a:8"]
    for wrong in ("chat.example.org", "https://chat.example.org/path", "ftp://x"):
        with pytest.raises(ConfigError, match="trusted_origins"):
            Settings.from_env(env={}, trusted_origins=wrong)
