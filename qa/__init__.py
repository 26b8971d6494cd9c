"""sanad's question answering: retrieval, follow-ups, answer backends and the ``Answer``.

Public API (other tools depend on it; keep it stable)::

    from qa import Assistant
    bot = Assistant()                     # embedded defaults: packaged article, offline model
    a = bot.ask("كم عدد القتلى في هجوم موسكو؟", history=[...])
    a.answer, a.language, a.abstained, a.sources, a.to_dict()
    for piece in bot.stream(question, history): ...   # str pieces, then the final Answer
    bot.embeddings                        # the LangChain Embeddings in use
    Assistant(index_dir="...", top_k=2)   # any Settings field; a bad value is a ConfigError
"""

from __future__ import annotations

from index import ConfigError, Settings

from .answer import Answer, Language, Source
from .assistant import Assistant
from .errors import BackendError, HistoryError, QuestionError

__all__ = [
    "Answer",
    "Assistant",
    "BackendError",
    "ConfigError",
    "HistoryError",
    "Language",
    "QuestionError",
    "Settings",
    "Source",
]
