"""The article sanad answers about: the packaged one, or any UTF-8 text or Markdown file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .arabic import has_words
from .config import Settings

#: Where the packaged article comes from, for people who ask (README says the same).
PACKAGED_ARTICLE = "article.txt"


class DocumentError(ValueError):
    """The document cannot be used; the message says why in one line."""


@dataclass(frozen=True)
class Document:
    text: str
    name: str  # what to call it in messages and the UI
    path: Path | None  # None for the packaged article
    sha256: str


def load_document(settings: Settings) -> Document:
    """Read ``settings.document`` (or the packaged article), refusing what cannot be an article."""
    if settings.document is None:
        data = resources.files("index").joinpath("data", PACKAGED_ARTICLE).read_bytes()
        return _decode(data, name="article.txt (packaged)", path=None)
    path = Path(settings.document).expanduser()
    if not path.exists():
        raise DocumentError(f"document not found: {path}")
    if path.is_dir():
        raise DocumentError(f"document is a directory, not a file: {path}")
    size = path.stat().st_size
    if size > settings.max_document_bytes:
        raise DocumentError(
            f"document is {size / 1e6:.1f} MB, over the {settings.max_document_bytes / 1e6:.0f} MB "
            f"limit (SANAD_MAX_DOCUMENT_BYTES): {path}"
        )
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DocumentError(f"cannot read document {path}: {e.strerror}") from None
    return _decode(data, name=path.name, path=path)


def _decode(data: bytes, *, name: str, path: Path | None) -> Document:
    if b"\x00" in data[:65536]:
        raise DocumentError(f"{name} looks binary (it contains NUL bytes); give a UTF-8 text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DocumentError(
            f"{name} is not UTF-8 (bad byte at offset {e.start}); convert it first, e.g. "
            f"iconv -f WINDOWS-1256 -t UTF-8"
        ) from None
    # One newline convention, so character offsets mean the same on every platform.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not has_words(text):
        raise DocumentError(f"{name} has no text to answer from")
    return Document(
        text=text, name=name, path=path, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest()
    )
