"""The HTTP API: ``POST /api/ask`` and ``GET /api/health``.

Errors that sanad raises on purpose come back as ``{"error": "..."}`` with their status; a body
that is not valid JSON or has wrong types gets FastAPI's usual 422 ``{"detail": [...]}``.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from index import ConfigError
from qa import BackendError, QuestionError

if TYPE_CHECKING:
    from qa import Assistant, Settings

log = logging.getLogger(__name__)

#: Largest request body accepted, in bytes: a question and a long conversation fit many times.
MAX_BODY_BYTES = 64 * 1024


class ApiError(HTTPException):
    """An error response, ``{"error": detail}``. An ``HTTPException`` so that FastAPI lets it
    through unchanged when it is raised while the body is read."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers)


class _CappedRequest(Request):
    """A request whose body may not exceed ``MAX_BODY_BYTES``, declared or streamed."""

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):  # Starlette's cache of the body, as FastAPI's docs use it
            declared = self.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise _too_large()
            chunks, size = [], 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _too_large()
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body


def _too_large() -> ApiError:
    return ApiError(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")


class _Route(APIRoute):
    """Caps the body and turns ``ApiError`` (from the endpoint, its dependencies or the body)
    into a JSON response. A route class rather than app exception handlers, so the router
    behaves the same in whatever app includes it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(_CappedRequest(request.scope, request.receive))
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
                        {"role": "assistant", "content": "The article says (140) [1]: «…»"},
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
    status: Literal["ok"]
    document: str
    chunks: int
    lexicon: str | None  # the English-Arabic dictionary's path, or None without one
    question_encoder: Literal["onnxruntime", "sentence-transformers"]


class ErrorOut(BaseModel):
    error: str


_bearer = HTTPBearer(auto_error=False, description="Required when the server has SANAD_API_TOKEN.")


class RateLimiter:
    """A token bucket per client key: ``per_minute`` requests a minute, in bursts of as many."""

    #: Buckets kept before full ones are dropped; a full bucket is the same as no bucket.
    MAX_CLIENTS = 10_000

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)
        self.lock = threading.Lock()

    def retry_after(self, key: str) -> float | None:
        """Take a token for ``key``; None if there was one, else seconds until there is."""
        now = self.clock()
        with self.lock:
            tokens, when = self.buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - when) * self.rate)
            if tokens < 1:
                self.buckets[key] = (tokens, now)
                return (1 - tokens) / self.rate
            self.buckets[key] = (tokens - 1, now)
            if len(self.buckets) > self.MAX_CLIENTS:
                self._forget_full(now)
            return None

    def _forget_full(self, now: float) -> None:
        for key, (tokens, when) in list(self.buckets.items()):
            if tokens + (now - when) * self.rate >= self.capacity:
                del self.buckets[key]


def create_router(
    bot: Assistant,
    *,
    settings: Settings | None = None,
    slots: threading.Semaphore | None = None,
) -> APIRouter:
    """Routes for ``bot``. ``settings`` (default ``bot.settings``) supplies the token, rate
    limit and concurrency; ``slots`` is shared with the UI so both stay within that."""
    settings = settings or bot.settings
    slots = slots or threading.BoundedSemaphore(settings.max_concurrency)
    # Waiting requests wait here, not in a worker thread each, so a burst cannot occupy the
    # whole thread pool that the UI also needs.
    waiting_room = anyio.CapacityLimiter(settings.max_concurrency)
    per_minute = settings.rate_limit_per_minute
    limiter = RateLimiter(per_minute) if per_minute > 0 else None
    token = settings.api_token
    in_flight = 0  # requests answering or waiting; only touched on the event loop

    async def rate_limit(request: Request) -> None:
        if limiter is None:
            return
        wait = limiter.retry_after(request.client.host if request.client else "?")
        if wait is not None:
            raise ApiError(
                429, "too many requests; slow down", headers={"Retry-After": str(math.ceil(wait))}
            )

    async def authorise(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if token is None:
            return
        given = credentials.credentials if credentials else ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise ApiError(
                401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )

    def answer(body: AskRequest) -> dict[str, Any]:
        history = [m.model_dump() if isinstance(m, Message) else m for m in body.history]
        with slots:
            return bot.ask(body.question, history, top_k=body.top_k).to_dict()

    router = APIRouter(
        prefix="/api",
        tags=["sanad"],
        route_class=_Route,
        dependencies=[Depends(rate_limit)],
    )

    @router.post(
        "/ask",
        response_model=AnswerOut,
        dependencies=[Depends(authorise)],
        responses={
            400: {"model": ErrorOut, "description": "The question cannot be answered as given."},
            401: {"model": ErrorOut, "description": "Missing or wrong bearer token."},
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
        except BackendError as e:
            log.warning("answer backend failed: %s", e)
            raise ApiError(502, f"the answer backend failed: {e}") from None
        except Exception:
            log.exception("answering %r failed", body.question)
            raise ApiError(500, "an internal error stopped the answer") from None
        finally:
            in_flight -= 1

    @router.get(
        "/health",
        response_model=HealthOut,
        responses={429: {"model": ErrorOut, "description": "Rate limit exceeded."}},
    )
    async def health() -> dict[str, Any]:
        """Whether the server is up, and which article it answers about."""
        encoder = getattr(bot.embeddings, "query_encoder", None)
        return {
            "status": "ok",
            "document": bot.document.name,
            "chunks": len(bot.index.chunks),
            "lexicon": bot.retrieval.lexicon.path if bot.retrieval.lexicon else None,
            "question_encoder": "onnxruntime" if encoder is not None else "sentence-transformers",
        }

    return router
