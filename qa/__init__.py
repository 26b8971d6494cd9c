"""sanad's question answering: retrieval, follow-ups, answer backends and the ``Answer``.

Public API (other tools depend on it; keep it stable)::

    from qa import Assistant
    bot = Assistant()                     # embedded defaults: packaged article, offline model
    a = bot.ask("كم عدد القتلى في هجوم موسكو؟", history=[...])
    a.answer, a.language, a.abstained, a.sources, a.to_dict()
    for piece in bot.stream(question, history): ...   # str pieces, then the final Answer
    bot.embeddings                        # the LangChain Embeddings in use
    Assistant(index_dir="...", top_k=2)   # any Settings field; a bad value is a ConfigError

    docs = Documents(default=bot)         # the articles on this server, kept in the cache dir
    info = docs.add(path.read_bytes(), path.name)   # .txt/.md/.html, or docs.add(text, "name")
    docs.list(), docs.get(info.id)        # DocumentInfo: id, name, title, chars, chunks, added
    docs.assistant(info.id).ask("...")    # an Assistant for that article (None: the default)
"""

from __future__ import annotations

from index import ConfigError, DocumentError, Settings

from .answer import Answer, Language, Source
from .assistant import Assistant
from .documents import DocumentInfo, Documents
from .errors import (
    BackendError,
    DocumentLimitError,
    DocumentNotFoundError,
    HistoryError,
    QuestionError,
)

__all__ = [
    "Answer",
    "Assistant",
    "BackendError",
    "ConfigError",
    "DocumentError",
    "DocumentInfo",
    "DocumentLimitError",
    "DocumentNotFoundError",
    "Documents",
    "HistoryError",
    "Language",
    "QuestionError",
    "Settings",
    "Source",
]
