"""The article sanad answers about: the packaged one, any UTF-8 text or Markdown file, or an
uploaded one (``document_from_bytes``: text, Markdown, or a web page's article text).

Whatever a user points ``--document`` at is checked before a byte of it is trusted: it must be a
regular file (a FIFO or ``/dev/zero`` would block or never end), no bigger than
``SANAD_MAX_DOCUMENT_BYTES`` (checked from ``stat`` and again while reading, so a 50 MB file is
refused at once and a growing one cannot slip past), not binary, and UTF-8. Every refusal is a
one-line ``DocumentError`` that says what to do.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import stat
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .arabic import has_words
from .config import Settings
from .html import html_text

#: Where the packaged article comes from, for people who ask (README says the same).
PACKAGED_ARTICLE = "article.txt"

# Formats people plausibly mistake for an article, by their first bytes: naming the format is
# more useful than "not UTF-8" (a PNG's first byte is not valid UTF-8; a PDF's header is ASCII).
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image", ""),
    (b"\xff\xd8\xff", "a JPEG image", ""),
    (b"GIF87a", "a GIF image", ""),
    (b"GIF89a", "a GIF image", ""),
    (b"%PDF-", "a PDF", "; extract its text first, e.g. pdftotext"),
    (b"PK\x03\x04", "a ZIP archive (or a .docx/.odt)", "; save it as plain text first"),
    (b"\x1f\x8b", "gzip-compressed", "; decompress it first"),
    (b"\x7fELF", "a program", ""),
)
# UTF-16/32 are text, but not UTF-8: say so rather than "binary" (their NULs would say that).
_WIDE_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
# Line and paragraph separators other than \n: the chunker splits paragraphs on \n only.
# Each is one character, so offsets do not move.
_OTHER_NEWLINES = str.maketrans({"\u2028": "\n", "\u2029": "\n", "\x85": "\n"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class DocumentError(ValueError):
    """The document cannot be used; the message says why in one line."""


class DocumentTooLargeError(DocumentError):
    """The document is over ``SANAD_MAX_DOCUMENT_BYTES``."""


#: What an upload may be, by its name's suffix; a name without one is text.
TEXT_SUFFIXES = frozenset({"", ".txt", ".text", ".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})


@dataclass(frozen=True)
class Document:
    text: str
    name: str  # what to call it in messages and the UI
    path: Path | None  # None for the packaged article and for uploaded bytes
    sha256: str


def _show(value: object) -> str:
    """``value`` for a one-line message: a file name may legally hold a newline or an escape."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def load_document(settings: Settings) -> Document:
    """Read ``settings.document`` (or the packaged article), refusing what cannot be an article."""
    if settings.document is None:
        data = resources.files("index").joinpath("data", PACKAGED_ARTICLE).read_bytes()
        return _decode(data, name="article.txt (packaged)", path=None)
    path = Path(settings.document).expanduser()
    shown = _show(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DocumentError(f"document not found: {shown}") from None
    except OSError as e:  # e.g. a folder on the way that cannot be entered
        raise DocumentError(f"cannot open document {shown}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise DocumentError(f"document is a directory, not a file: {shown}")
    if not stat.S_ISREG(st.st_mode):
        raise DocumentError(f"document is not a regular file (a pipe or a device?): {shown}")
    limit = settings.max_document_bytes
    if st.st_size > limit:
        raise DocumentTooLargeError(_too_big(st.st_size, limit, shown))
    try:
        with path.open("rb") as f:
            # One byte over the limit is enough to know: the file may have grown since stat.
            data = f.read(limit + 1)
    except OSError as e:
        raise DocumentError(f"cannot read document {shown}: {e.strerror or e}") from None
    if len(data) > limit:
        raise DocumentTooLargeError(_too_big(len(data), limit, shown))
    return _decode(data, name=_show(path.name), path=path)


def document_from_bytes(data: bytes, name: str, settings: Settings) -> Document:
    """An uploaded file (or pasted text, encoded) called ``name``, checked as a file given by
    path is: size, binary, encoding, no words. A web page (.html) is checked so too, then
    stands for the article text extracted from it."""
    shown = _show(Path(name).name) or "the document"
    suffix = Path(name).suffix.lower()
    if suffix not in TEXT_SUFFIXES | HTML_SUFFIXES and not data.startswith(b"%PDF-"):
        raise DocumentError(
            f"{shown}: {_show(suffix)} files are not read; give a .txt, .md or .html file"
        )
    limit = settings.max_document_bytes
    if len(data) > limit:
        raise DocumentTooLargeError(_too_big(len(data), limit, shown))
    document = _decode(data, name=shown, path=None)
    if suffix not in HTML_SUFFIXES:
        return document
    text = html_text(document.text)
    if not text:
        raise DocumentError(f"{shown} is a web page with no article text in it")
    return _decode(text.encode("utf-8"), name=shown, path=None)


def _too_big(size: int, limit: int, shown: str) -> str:
    return (
        f"document is {size / 1e6:.1f} MB, over the {limit / 1e6:g} MB limit "
        f"(raise SANAD_MAX_DOCUMENT_BYTES to allow it): {shown}"
    )


def _convert_to(name: str) -> str:
    """The tail of a conversion command a user can paste: quoted input, then a new output."""
    return f"{shlex.quote(name)} > {shlex.quote(Path(name).stem + '.utf8.txt')}"


def _decode(data: bytes, *, name: str, path: Path | None) -> Document:
    if not data:
        raise DocumentError(f"{name} is empty")
    for magic, kind, hint in _SIGNATURES:
        if data.startswith(magic):
            raise DocumentError(f"{name} is {kind}, not a text file{hint}")
    for mark, encoding in _WIDE_BOMS:
        if data.startswith(mark):
            raise DocumentError(
                f"{name} is {encoding}, not UTF-8; convert it first, e.g. "
                f"iconv -f {encoding} -t UTF-8 {_convert_to(name)}"
            )
    if b"\x00" in data:
        raise DocumentError(f"{name} looks binary (it contains NUL bytes); give a UTF-8 text file")
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # a BOM is allowed and dropped
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as e:
        raise DocumentError(
            f"{name} is not UTF-8 (byte 0x{e.object[e.start]:02X} at offset {bom + e.start}); "
            f"if it is Arabic in Windows-1256, convert it first: "
            f"iconv -f WINDOWS-1256 -t UTF-8 {_convert_to(name)}"
        ) from None
    # One newline convention, so character offsets mean the same on every platform.
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_OTHER_NEWLINES)
    if not has_words(text):
        raise DocumentError(f"{name} has no text to answer from (only spaces or punctuation)")
    return Document(
        text=text, name=name, path=path, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest()
    )
