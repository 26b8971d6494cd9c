"""``sanad serve``: flags to settings, the refusal to serve a public address open, and errors as
one line."""

from __future__ import annotations

from typing import Any

import pytest

import qa
from qa import Assistant
from ui import cli, server


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, assistant: Assistant) -> dict[str, Any]:
    """Runs ``serve`` up to uvicorn, with the session's assistant instead of a second load."""
    seen: dict[str, Any] = {}

    def load(settings: qa.Settings) -> Assistant:
        seen["settings"] = settings
        return assistant

    class Server:  # uvicorn's, up to run(): the config it would serve
        def __init__(self, config: Any) -> None:
            seen.update(app=config.app, host=config.host, port=config.port)

        def run(self) -> None:
            pass

    monkeypatch.setattr(qa, "Assistant", load)
    monkeypatch.setattr(server.uvicorn, "Server", Server)
    for name in ("SANAD_API_TOKEN", "SANAD_UI_AUTH", "SANAD_HOST", "SANAD_PORT"):
        monkeypatch.delenv(name, raising=False)
    return seen


def test_serve_refuses_a_public_host_without_a_credential(
    served: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "8123"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sanad: error: refusing to listen on 0.0.0.0") and err.count("\n") == 1
    assert "SANAD_API_TOKEN" in err and "--insecure-public" in err
    assert "app" not in served  # refused before loading anything


def test_serve_passes_flags_and_warns_when_told_to_serve_open(
    served: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--host", "0.0.0.0", "--port", "8123", "--top-k", "3", "--insecure-public"]
    assert cli.main(argv) == 0
    assert (served["host"], served["port"]) == ("0.0.0.0", 8123)
    assert served["settings"].top_k == 3
    out = capsys.readouterr()
    assert "http://localhost:8123/" in out.out
    warnings = [line for line in out.err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "open to anyone" in warnings[0]


def test_serve_on_loopback_or_with_a_token_does_not_warn(
    served: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.main(["serve", "--port", "8124"]) == 0
    assert served["host"] == "127.0.0.1"
    monkeypatch.setenv("SANAD_API_TOKEN", "t")
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 0
    assert served["settings"].api_token == "t"
    assert "warning" not in capsys.readouterr().err


def test_bad_flag_value_is_one_line(
    served: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sanad: error:") and err.count("\n") == 1
    assert "app" not in served
