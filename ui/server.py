"""The web server: the HTTP API under /api, the Gradio chat at /, one uvicorn process."""

from __future__ import annotations

import ipaddress
import sys
import threading
from typing import TYPE_CHECKING

import gradio as gr
import uvicorn
from fastapi import FastAPI

from .api import create_router
from .app import CSS, FONT_STACK, build_app

if TYPE_CHECKING:
    from qa import Assistant, Settings


def create_app(bot: Assistant, settings: Settings | None = None) -> FastAPI:
    """The API and the chat for ``bot``; ``settings`` (default ``bot.settings``) gives the
    serving knobs: token, login, rate limit, concurrency."""
    settings = settings or bot.settings
    # One pool of answer slots for the chat and the API together: each answer keeps a core
    # busy, so two front doors must not each admit max_concurrency of them.
    slots = threading.BoundedSemaphore(settings.max_concurrency)
    app = FastAPI(
        title="sanad",
        description="Ask an Arabic news article questions in Arabic or English; answers quote "
        "the article and cite the passages. The chat UI is at /.",
    )
    app.include_router(create_router(bot, settings=settings, slots=slots))
    auth = tuple(settings.ui_auth.split(":", 1)) if settings.ui_auth else None
    return gr.mount_gradio_app(
        app,
        build_app(bot, slots=slots),
        path="/",
        auth=auth,
        css=CSS,
        # Named system fonts only: the default theme would fetch a web font that an offline
        # server cannot reach, and that font has no Arabic.
        theme=gr.themes.Default(font=[f.strip().strip('"') for f in FONT_STACK.split(",")]),
        footer_links=["api", "settings"],
        # Unexpected exceptions stay in the server log; the handlers turn the expected ones
        # into messages (gr.Error is shown either way).
        show_error=False,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def serve(settings: Settings) -> None:
    """Load the assistant and serve it until interrupted."""
    from qa import Assistant

    if not _is_loopback(settings.host) and not (settings.api_token or settings.ui_auth):
        print(
            f"sanad: warning: listening on {settings.host} with neither SANAD_API_TOKEN nor "
            "SANAD_UI_AUTH set: anyone who can reach this address can use it",
            file=sys.stderr,
        )
    print("sanad: loading the article and the model…", file=sys.stderr, flush=True)
    app = create_app(Assistant(settings))
    url = _url(settings.host, settings.port)
    print(f"sanad: chat at {url}  API docs at {url}docs", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
