"""The HTTP API: ``POST /api/ask``, ``POST``/``GET /api/documents`` and ``GET /api/health``.

Errors that sanad raises on purpose come back as ``{"error": "..."}`` with their status; a body
that is not valid JSON or has wrong types gets FastAPI's usual 422 ``{"detail": [...]}``. The
token, rate limit and body cap are ``ui.policy``'s, the same for every route (the cap of
``/api/documents`` is an article's, ``SANAD_MAX_DOCUMENT_BYTES``, not a question's).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import anyio
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile  # what Request.form() gives, not FastAPI's

from index import ConfigError, DocumentTooLargeError
from qa import (
    BackendError,
    DocumentError,
    DocumentLimitError,
    DocumentNotFoundError,
    Documents,
    QuestionError,
)

from .policy import MAX_BODY_BYTES

if TYPE_CHECKING:
    from qa import Assistant, Settings

log = logging.getLogger(__name__)


class ApiError(HTTPException):
    """An error response, ``{"error": detail}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers)


class _Route(APIRoute):
    """Turns ``ApiError`` (from the endpoint or its dependencies) into a JSON response. A route
    class rather than app exception handlers, so the router behaves the same in whatever app
    includes it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as e:
                return JSONResponse({"error": e.detail}, e.status_code, headers=e.headers)

        return handle


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["user", "assistant", "system"]
    content: str


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"question": "كم عدد القتلى في هجوم موسكو؟", "history": []},
                {
                    "question": "And who claimed it?",
                    "history": [
                        {"role": "user", "content": "How many died in the Moscow attack?"},
                        {"role": "assistant", "content": "140 people [1]. In Arabic: «…»"},
                    ],
                    "top_k": 3,
                },
            ]
        },
    )

    question: str = Field(description="The question, in Arabic or English.")
    history: list[Message | str] = Field(
        default_factory=list,
        description="The conversation so far, oldest first: {role, content} messages, or "
        "plain strings alternating user and assistant.",
    )
    top_k: int | None = Field(
        default=None, ge=1, le=20, description="Number of sources (default: the server's)."
    )
    document: str | None = Field(
        default=None,
        description="The id of the article to ask (GET /api/documents lists them; "
        "default: the server's own article).",
    )


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(description="The article: plain text or Markdown, its title first.")
    name: str = Field(default="pasted text", max_length=200, description="What to call it.")


class DocumentOut(BaseModel):
    id: str = Field(description="Pass it as /api/ask's document.")
    name: str
    title: str = Field(description="The article's first line or heading.")
    chars: int
    chunks: int = Field(description="Passages it was indexed as.")
    added: str | None = Field(description="When it was added (UTC); null for the default.")
    default: bool = Field(description="True for the server's own article.")


class SourceOut(BaseModel):
    text: str = Field(description="The passage exactly as the article has it.")
    chunk_id: int
    score: float = Field(description="Higher is more relevant; comparable within one answer.")
    start: int = Field(description="Character offset of the passage in the article.")
    end: int
    highlights: list[tuple[int, int]] = Field(
        description="Character offsets (in the article) of the quoted evidence."
    )


class AnswerOut(BaseModel):
    question: str
    answer: str = Field(description="The answer; [n] cites sources[n-1].")
    language: Literal["ar", "en"]
    abstained: bool = Field(description="True when the article does not answer the question.")
    sources: list[SourceOut]
    grounded: bool = Field(
        description="False when a generated answer failed the grounding "
        "check and the extractive answer is given instead."
    )
    reason: str | None
    backend: str
    query: str | None = Field(description="The standalone query used for retrieval.")
    confidence: float | None = Field(
        description="The answer decision's probability that the article answers (0-1)."
    )


class HealthOut(BaseModel):
    status: Literal["ok", "busy", "stopped"] = Field(
        description="ok; busy when a queue is full (503); stopped when the chat's queue has "
        "stopped (503)."
    )
    document: str
    chunks: int
    lexicon: str | None  # the English-Arabic dictionary's path, or None without one
    question_encoder: Literal["onnxruntime", "sentence-transformers"]


class ErrorOut(BaseModel):
    error: str


# Checked by ui.policy, for every route; declared here so that the OpenAPI docs show it.
_bearer = HTTPBearer(auto_error=False, description="Required when the server has SANAD_API_TOKEN.")


def create_router(
    bot: Assistant,
    *,
    settings: Settings | None = None,
    slots: threading.Semaphore | None = None,
    chat_status: Callable[[], Literal["ok", "busy", "stopped"]] | None = None,
    documents: Documents | None = None,
) -> APIRouter:
    """Routes for ``bot``. ``settings`` (default ``bot.settings``) supplies the concurrency and
    queue bounds; ``slots`` is shared with the UI so both stay within that; ``chat_status``
    reports the chat's queue, for the health check; ``documents`` is the registry of articles
    (default: one whose default article is ``bot``'s). Who may call them, how often and with
    how large a body is ``ui.policy``'s job, in front of every route."""
    settings = settings or bot.settings
    documents = documents or Documents(settings, default=bot)
    # One article indexed at a time; the others wait here, on the event loop, not in threads.
    indexing = anyio.CapacityLimiter(1)
    slots = slots or threading.BoundedSemaphore(settings.max_concurrency)
    # Waiting requests wait here, not in a worker thread each, so a burst cannot occupy the
    # whole thread pool that the UI also needs.
    waiting_room = anyio.CapacityLimiter(settings.max_concurrency)
    in_flight = 0  # requests answering or waiting; only touched on the event loop

    def answer(body: AskRequest) -> dict[str, Any]:
        history = [m.model_dump() if isinstance(m, Message) else m for m in body.history]
        target = documents.assistant(body.document)
        with slots:
            return target.ask(body.question, history, top_k=body.top_k).to_dict()

    router = APIRouter(prefix="/api", tags=["sanad"], route_class=_Route)

    @router.post(
        "/ask",
        response_model=AnswerOut,
        dependencies=[Depends(_bearer)] if settings.api_token else [],
        responses={
            400: {"model": ErrorOut, "description": "The question cannot be answered as given."},
            401: {"model": ErrorOut, "description": "Missing or wrong bearer token."},
            404: {"model": ErrorOut, "description": "No article with that document id."},
            413: {"model": ErrorOut, "description": f"Body larger than {MAX_BODY_BYTES} bytes."},
            429: {"model": ErrorOut, "description": "Rate limit exceeded; see Retry-After."},
            502: {"model": ErrorOut, "description": "The answer backend failed."},
            503: {"model": ErrorOut, "description": "Too many requests waiting; see Retry-After."},
        },
    )
    async def ask(body: AskRequest) -> dict[str, Any]:
        """Answer a question about the article, quoting it with numbered citations."""
        nonlocal in_flight
        # Past this many, a request would wait longer than a client is likely to: say so now
        # rather than compute answers for clients that have given up.
        if in_flight >= settings.max_queue:
            raise ApiError(
                503, "the server is busy; try again shortly", headers={"Retry-After": "1"}
            )
        in_flight += 1
        try:
            return await anyio.to_thread.run_sync(partial(answer, body), limiter=waiting_room)
        except (QuestionError, ConfigError) as e:
            raise ApiError(400, str(e)) from None
        except DocumentNotFoundError as e:
            raise ApiError(404, str(e)) from None
        except BackendError as e:
            log.warning("answer backend failed: %s", e)
            raise ApiError(502, f"the answer backend failed: {e}") from None
        except Exception:
            log.exception("answering %r failed", body.question)
            raise ApiError(500, "an internal error stopped the answer") from None
        finally:
            in_flight -= 1

    @router.post(
        "/documents",
        status_code=201,
        response_model=DocumentOut,
        dependencies=[Depends(_bearer)] if settings.api_token else [],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": DocumentIn.model_json_schema()},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                            "required": ["file"],
                        }
                    },
                },
            }
        },
        responses={
            400: {"model": ErrorOut, "description": "Not an article: empty, binary, not UTF-8."},
            401: {"model": ErrorOut, "description": "Missing or wrong bearer token."},
            409: {"model": ErrorOut, "description": "The server holds SANAD_MAX_DOCUMENTS."},
            413: {"model": ErrorOut, "description": "Over SANAD_MAX_DOCUMENT_BYTES."},
            415: {"model": ErrorOut, "description": "Neither JSON nor multipart/form-data."},
            429: {"model": ErrorOut, "description": "Rate limit exceeded; see Retry-After."},
        },
    )
    async def add_document(request: Request) -> dict[str, Any]:
        """Add an article, as JSON ``{"text", "name"}`` or as a multipart ``file`` (.txt, .md,
        .html), and index it; answers once it can be asked. The same text again gives the same
        id."""
        data, name = await _upload(request)
        try:
            info = await anyio.to_thread.run_sync(
                partial(documents.add, data, name), limiter=indexing
            )
        except DocumentTooLargeError as e:
            raise ApiError(413, str(e)) from None
        except DocumentLimitError as e:
            raise ApiError(409, str(e)) from None
        except DocumentError as e:
            raise ApiError(400, str(e)) from None
        except Exception:
            log.exception("adding the article %r failed", name)
            raise ApiError(500, "an internal error stopped the article being added") from None
        return info.to_dict()

    @router.get(
        "/documents",
        response_model=list[DocumentOut],
        dependencies=[Depends(_bearer)] if settings.api_token else [],
        responses={401: {"model": ErrorOut, "description": "Missing or wrong bearer token."}},
    )
    async def list_documents() -> list[dict[str, Any]]:
        """The articles on this server, the default first; ask one with /api/ask's document."""
        infos = await anyio.to_thread.run_sync(documents.list)
        return [info.to_dict() for info in infos]

    @router.get(
        "/health",
        response_model=HealthOut,
        responses={503: {"model": HealthOut, "description": "A queue is full or stopped."}},
    )
    async def health(response: Response) -> dict[str, Any]:
        """Whether the server can answer now, and which article it answers about. Not rate
        limited and open without the token, for load balancers' probes."""
        status = chat_status() if chat_status else "ok"
        if status == "ok" and in_flight >= settings.max_queue:
            status = "busy"
        if status != "ok":
            response.status_code = 503
            response.headers["Retry-After"] = "1"
        encoder = getattr(bot.embeddings, "query_encoder", None)
        return {
            "status": status,
            "document": bot.document.name,
            "chunks": len(bot.index.chunks),
            "lexicon": bot.retrieval.lexicon.path if bot.retrieval.lexicon else None,
            "question_encoder": "onnxruntime" if encoder is not None else "sentence-transformers",
        }

    return router


async def _upload(request: Request) -> tuple[bytes | str, str]:
    """The article of a ``POST /api/documents``, and its name."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=4)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, 'send the article as a multipart field named "file"')
        return await upload.read(), upload.filename or "upload.txt"
    if kind == "application/json" or kind.endswith("+json"):
        try:
            body = DocumentIn.model_validate_json(await request.body())
        except ValidationError as e:
            raise RequestValidationError(e.errors(include_url=False)) from None
        return body.text, body.name
    raise ApiError(415, 'send the article as JSON {"text", "name"} or a multipart file')
