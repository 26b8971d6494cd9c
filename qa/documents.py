"""The articles one server answers about: the default one (the packaged article, or
``--document``) and those users add, each with its own ``Assistant``.

An added article is stored under ``Settings.documents_dir`` (default ``cache_dir/documents``) as
``<id>.txt``, its normalised UTF-8 text, and ``<id>.json``, its metadata, each written to a
temporary file and renamed into place. The id is the start of the text's SHA-256, so adding the
same text again gives the same id and stores nothing new. The metadata is written last, after
the index is built: an article is listed only once it can be answered from, and a crash in
between leaves a text that the next add of it completes. Its index lives with the others
(``index_dir``), so both outlive the process.

Assistants are loaded when first asked for and kept in a small LRU; the embedding model is one
per process whichever article they answer about (``index.get_embeddings``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index import Settings, document_from_bytes

from .assistant import Assistant
from .errors import DocumentLimitError, DocumentNotFoundError

log = logging.getLogger(__name__)

#: Assistants kept loaded besides the default one; each holds its index and BM25 tables.
MAX_LOADED = 4
#: Longest title kept, in characters.
TITLE_CHARS = 120
_ID = re.compile(r"[0-9a-f]{16}")
_HEADING = re.compile(r"^\s*#+\s*|\s*#+\s*$")


@dataclass(frozen=True)
class DocumentInfo:
    """What a list of articles shows of one (the JSON of ``GET /api/documents``)."""

    id: str
    name: str  # as it was given: a file name, or what the paste was called
    title: str  # its first line or heading
    chars: int
    chunks: int
    added: str | None  # ISO 8601, UTC; None for the default article
    default: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def title_of(text: str) -> str:
    """The first non-blank line, without Markdown's heading marks, cut to ``TITLE_CHARS``."""
    line = next((x for x in text.splitlines() if x.strip()), "")
    title = " ".join(_HEADING.sub("", line).split())
    return title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1].rstrip() + "…"


def document_id(sha256: str) -> str:
    return sha256[:16]


class Documents:
    """The registry: ``add``, ``list``, ``get`` and ``assistant(id)``.

    ``default`` is the Assistant for the default article (made from ``settings`` if not given);
    the others are made with the same settings, their document replaced. Safe to share between
    threads; one article is indexed at a time."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        default: Assistant | None = None,
        max_loaded: int = MAX_LOADED,
    ) -> None:
        self.settings = settings or (default.settings if default else Settings.from_env())
        self.default = default or Assistant(self.settings)
        self.root = self.settings.documents_dir or self.settings.cache_dir / "documents"
        self.max_loaded = max_loaded
        text = self.default.document.text
        self.default_info = DocumentInfo(
            document_id(self.default.document.sha256),
            self.default.document.name,
            title_of(text),
            len(text),
            len(self.default.index.chunks),
            None,
            default=True,
        )
        self._loaded: OrderedDict[str, Assistant] = OrderedDict()
        self._lock = threading.Lock()  # guards _loaded
        self._adding = threading.Lock()  # one index build at a time; also the count check

    @property
    def default_id(self) -> str:
        return self.default_info.id

    # -- listing -----------------------------------------------------------------------------

    def list(self) -> list[DocumentInfo]:
        """The default article first, then the added ones, newest first."""
        added = [info for i in self._stored_ids() if (info := self._read_info(i)) is not None]
        added.sort(key=lambda info: info.added or "", reverse=True)
        return [self.default_info, *added]

    def get(self, doc_id: str | None = None) -> DocumentInfo:
        """The article ``doc_id`` (None: the default); ``DocumentNotFoundError`` if none."""
        if doc_id is None or doc_id == self.default_id:
            return self.default_info
        info = self._read_info(doc_id) if _ID.fullmatch(doc_id) else None
        if info is None:
            raise DocumentNotFoundError(f"no article with id {doc_id[:40]!r} on this server")
        return info

    def _stored_ids(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return [n[:-5] for n in names if n.endswith(".json") and _ID.fullmatch(n[:-5])]

    def _read_info(self, doc_id: str) -> DocumentInfo | None:
        meta, text = self.root / f"{doc_id}.json", self.root / f"{doc_id}.txt"
        try:
            info = DocumentInfo(**json.loads(meta.read_text(encoding="utf-8")), default=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as e:
            log.warning("skipping article %s: its metadata %s is unreadable (%s)", doc_id, meta, e)
            return None
        if info.id != doc_id or not text.is_file():
            log.warning("skipping article %s: its metadata or text is missing or wrong", doc_id)
            return None
        return info

    # -- adding ------------------------------------------------------------------------------

    def add(self, data: bytes | str, name: str) -> DocumentInfo:
        """Add an article: a file's bytes with its name (.txt, .md, .html), or pasted text.

        Refusals are one-line ``DocumentError``s (``DocumentLimitError`` when the server is
        full) and store nothing. Indexing takes a second or a few for a news article; the same
        text again returns its first ``DocumentInfo`` at once."""
        raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
        name = " ".join(name.split())[:200] or "pasted text"
        document = document_from_bytes(raw, name, self.settings)
        doc_id = document_id(document.sha256)
        if doc_id == self.default_id:
            return self.default_info
        with self._adding:
            existing = self._read_info(doc_id)
            if existing is not None:
                return existing
            if len(self._stored_ids()) >= self.settings.max_documents:
                raise DocumentLimitError(
                    f"this server already holds {self.settings.max_documents} added articles, "
                    "its limit (SANAD_MAX_DOCUMENTS)"
                )
            self.root.mkdir(parents=True, exist_ok=True)
            text_path = self.root / f"{doc_id}.txt"
            _write_atomic(text_path, document.text.encode("utf-8"))
            try:
                bot = Assistant(self.settings.replace(document=text_path))
            except BaseException:
                # Nothing stored for an article that cannot be answered from.
                with contextlib.suppress(OSError):
                    text_path.unlink()
                raise
            info = DocumentInfo(
                doc_id,
                name,
                title_of(document.text),
                len(document.text),
                len(bot.index.chunks),
                datetime.now(UTC).isoformat(timespec="seconds"),
            )
            meta = {k: v for k, v in info.to_dict().items() if k != "default"}
            _write_atomic(self.root / f"{doc_id}.json", json.dumps(meta).encode("utf-8"))
        self._keep(doc_id, bot)
        return info

    def prepare(self) -> None:
        """Load the passage encoder now, which indexing needs and answering from a cached index
        does not: the first article added then waits only for its own embeddings. Meant for a
        background thread, so a failure is logged in one line; adding an article then
        raises it to whoever adds one."""
        try:
            self.default.embeddings.embed_documents(["passage"])
        except Exception as e:
            log.warning("the passage encoder did not load: %s", (str(e).splitlines() or [e])[0])

    # -- answering ---------------------------------------------------------------------------

    def assistant(self, doc_id: str | None = None) -> Assistant:
        """The Assistant for article ``doc_id`` (None: the default), loaded if need be."""
        info = self.get(doc_id)
        if info.default:
            return self.default
        with self._lock:
            bot = self._loaded.get(info.id)
            if bot is not None:
                self._loaded.move_to_end(info.id)
                return bot
        # Loaded outside the lock: a verified index loads in well under a second, but a
        # rebuilt one (index_dir cleared) must not hold up answers about other articles.
        bot = Assistant(self.settings.replace(document=self.root / f"{info.id}.txt"))
        if document_id(bot.document.sha256) != info.id:
            raise DocumentNotFoundError(
                f"article {info.id} was changed on disk since it was added; add it again"
            )
        return self._keep(info.id, bot)

    def _keep(self, doc_id: str, bot: Assistant) -> Assistant:
        with self._lock:
            bot = self._loaded.setdefault(doc_id, bot)
            self._loaded.move_to_end(doc_id)
            while len(self._loaded) > self.max_loaded:
                self._loaded.popitem(last=False)
            return bot


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, whole."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
