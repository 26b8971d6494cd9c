"""The web server: the HTTP API under /api, the Gradio chat at /, one uvicorn process, and one
access policy (ui.policy) in front of all of it."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Literal

import gradio as gr
import uvicorn
from fastapi import FastAPI
from starlette.routing import Mount
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from index import ConfigError
from qa import Documents

from .api import create_router
from .app import CSS, FONT_STACK, build_app
from .connections import HEADER_SECONDS, bounded_protocol, connection_limit, summarise_logs
from .fonts import create_font_router
from .policy import AccessPolicy, GradioSessions, is_loopback

if TYPE_CHECKING:
    from qa import Assistant, Settings

#: Seconds between sweeps of the chat queue's bookkeeping of results nobody read.
SWEEP_SECONDS = 60.0


def create_app(bot: Assistant, settings: Settings | None = None) -> FastAPI:
    """The API and the chat for ``bot``; ``settings`` (default ``bot.settings``) gives the
    serving knobs: token, login, rate limit, concurrency, queue bounds, trusted proxies."""
    settings = settings or bot.settings
    # One pool of answer slots for the chat and the API together: each answer keeps a core
    # busy, so two front doors must not each admit max_concurrency of them.
    slots = threading.BoundedSemaphore(settings.max_concurrency)
    # The articles on this server, ``bot``'s the default; the chat and the API share them.
    documents = Documents(settings, default=bot)
    blocks = build_app(bot, settings=settings, slots=slots, documents=documents)
    app = FastAPI(
        title="sanad",
        description="Ask an Arabic news article questions in Arabic or English; answers quote "
        "the article and cite the passages. The chat UI is at /.",
    )
    app.include_router(create_font_router())
    app.include_router(
        create_router(
            bot,
            settings=settings,
            slots=slots,
            chat_status=_chat_status(blocks),
            documents=documents,
        )
    )
    login, message = _login(settings)
    gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        auth=login,
        auth_message=message,
        css=CSS,
        # Named system fonts only: the default theme would fetch a web font that an offline
        # server cannot reach, and that font has no Arabic.
        theme=gr.themes.Default(font=[f.strip().strip('"') for f in FONT_STACK.split(",")]),
        # Gradio's own settings (screen recording, PWA, run history) would sit beside the
        # chat's, and none of them is for a reader.
        footer_links=["api"],
        # Unexpected exceptions stay in the server log; the handlers turn the expected ones
        # into messages (gr.Error is shown either way).
        show_error=False,
        # The chat has no file component (it uploads to /api/documents), and the policy
        # refuses Gradio's uploads; this is Gradio's own bound should a route let one through.
        max_file_size=0,
    )
    gradio_app = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "")
    app.add_middleware(
        AccessPolicy,
        settings=settings,
        sessions=GradioSessions(gradio_app) if login is not None else None,
    )
    if settings.trusted_proxy_list:
        # Outside the policy, so that its rate limit counts the client the proxy names.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)
    _sweep_while_serving(app, blocks)
    app.state.documents = documents
    return app


def _login(settings: Settings) -> tuple[Callable[[str, str], bool] | None, str | None]:
    """Gradio's login check and the message on its login page. The token alone also opens the
    chat (as the password, with any user name), so that either secret works everywhere."""
    if not (settings.api_token or settings.ui_auth):
        return None, None
    user, _, password = (settings.ui_auth or "").partition(":")

    def same(a: str, b: str) -> bool:
        return secrets.compare_digest(a.encode(), b.encode())

    def check(username: str, given: str) -> bool:
        by_login = bool(settings.ui_auth) and same(username, user) & same(given, password)
        by_token = bool(settings.api_token) and same(given, settings.api_token or "")
        return by_login or by_token

    if settings.ui_auth:
        return check, None
    return check, "Log in with any user name and the server's API token as the password."


def _chat_status(blocks: gr.Blocks) -> Callable[[], Literal["ok", "busy", "stopped"]]:
    def status() -> Literal["ok", "busy", "stopped"]:
        queue = blocks._queue
        if queue.stopped:
            return "stopped"
        if queue.max_size is not None and len(queue) >= queue.max_size:
            return "busy"
        return "ok"

    return status


def _sweep_while_serving(app: FastAPI, blocks: gr.Blocks) -> None:
    """Run ``_forget_unread`` for as long as the app is served (inside its lifespan)."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[Any]:
        async with inner(a) as state:
            task = asyncio.create_task(_forget_unread(blocks))
            try:
                yield state
            finally:
                task.cancel()

    app.router.lifespan_context = lifespan


async def _forget_unread(blocks: gr.Blocks) -> None:
    """Gradio files each event's id under its session until a client reads the result, and
    never forgets the session: every ``/gradio_api/call`` whose result nobody reads would grow
    that map for good. Sessions with nothing pending, or whose messages Gradio has already
    dropped (it keeps those of the last 2,000 sessions), can never be read and are forgotten.
    (The queue's ``max_size`` keeps any session with an event still to run among those 2,000.)"""
    queue = blocks._queue
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        pending, messages = queue.pending_event_ids_session, queue.pending_messages_per_session
        for session in [s for s, ids in pending.items() if not ids or s not in messages]:
            pending.pop(session, None)


def uvicorn_config(
    app: Any, settings: Settings, *, header_seconds: float = HEADER_SECONDS, **kwargs: Any
) -> uvicorn.Config:
    """How sanad runs uvicorn (``serve`` and the tests both use it): a bounded number of
    connections, deadlines for headers and idle keep-alives, no proxy headers but those of
    ``settings.trusted_proxies`` (which ``create_app`` applies), and flood-proof logs."""
    config = uvicorn.Config(
        app,
        **{"host": settings.host, "port": settings.port, **kwargs},
        log_level="warning",
        http=bounded_protocol(connection_limit(settings.max_connections), header_seconds),
        ws="none",  # nothing here uses websockets
        # uvicorn otherwise believes X-Forwarded-For from 127.0.0.1: any local process, or a
        # proxy that passes the header through, could then pick its own rate-limit bucket.
        proxy_headers=False,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,  # request line and headers
    )
    summarise_logs("uvicorn.error", "asyncio", "ui.connections")
    return config


def _url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def serve(settings: Settings) -> None:
    """Load the assistant and serve it until interrupted."""
    from qa import Assistant

    if not is_loopback(settings.host) and not (settings.api_token or settings.ui_auth):
        if not settings.insecure_public:
            raise ConfigError(
                f"refusing to listen on {settings.host} with neither SANAD_API_TOKEN nor "
                "SANAD_UI_AUTH set, as anyone who can reach it could use it; set one, or pass "
                "--insecure-public to serve it open anyway"
            )
        print(
            f"sanad: warning: listening on {settings.host} open to anyone who can reach it "
            "(--insecure-public)",
            file=sys.stderr,
        )
    print("sanad: loading the article and the model…", file=sys.stderr, flush=True)
    app = create_app(Assistant(settings))
    if settings.max_documents > 0:
        # Adding an article needs the passage encoder, which answering from a cached index
        # does not; loaded on the first upload it would make that one wait 10-16 s, not ~1 s.
        threading.Thread(target=app.state.documents.prepare, daemon=True).start()
    url = _url(settings.host, settings.port)
    print(f"sanad: chat at {url}  API docs at {url}docs", flush=True)
    uvicorn.Server(uvicorn_config(app, settings)).run()
