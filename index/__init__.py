"""sanad's index: the article, Arabic-aware normalisation, sentence-aware chunks, embeddings and
the FAISS index on disk.

Public API::

    from index import Settings, load_index
    idx = load_index(Settings.from_env())   # loads or builds the index, verifying it
    idx.document.text, idx.chunks, idx.units, idx.vectorstore, idx.embeddings
    idx.unit_scores(qvec)                   # FAISS's score of every unit, in unit order
    idx.search_units(qvec, k)               # the k best (Unit, score), best first
    document_from_bytes(data, "a.html", settings)  # an upload, checked as a file is
"""

from __future__ import annotations

from .arabic import (
    arabic_skeletons,
    detect_language,
    has_words,
    latin_skeletons,
    latin_tokens,
    loose_root,
    name_words,
    normalize,
    skeleton_match,
    tokenize,
    without_tanween_alef,
)
from .chunking import Chunk, chunk_document, split_sentences
from .config import DEFAULT_EMBEDDING_MODEL, ConfigError, Settings
from .document import (
    Document,
    DocumentError,
    DocumentTooLargeError,
    document_from_bytes,
    load_document,
)
from .embedding import (
    EmbeddingModelError,
    get_embeddings,
    model_fingerprint,
    model_id,
    provision_default_model,
)
from .store import Index, IndexStoreError, Unit, open_index


def load_index(settings: Settings, *, rebuild: bool = False) -> Index:
    """The verified index for ``settings.document`` with ``settings.embedding_model``,
    built (and the default model provisioned) first if needed."""
    document = load_document(settings)
    embeddings = get_embeddings(settings)
    model = (model_id(settings), model_fingerprint(settings))
    return open_index(settings, document, embeddings, model, rebuild=rebuild)


__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "Chunk",
    "ConfigError",
    "Document",
    "DocumentError",
    "DocumentTooLargeError",
    "EmbeddingModelError",
    "Index",
    "IndexStoreError",
    "Settings",
    "Unit",
    "arabic_skeletons",
    "chunk_document",
    "detect_language",
    "document_from_bytes",
    "get_embeddings",
    "has_words",
    "latin_skeletons",
    "latin_tokens",
    "load_document",
    "load_index",
    "loose_root",
    "model_fingerprint",
    "model_id",
    "name_words",
    "normalize",
    "open_index",
    "provision_default_model",
    "skeleton_match",
    "split_sentences",
    "tokenize",
    "without_tanween_alef",
]
