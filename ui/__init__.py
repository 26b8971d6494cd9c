"""sanad's web face: the Gradio chat and the HTTP API.

Public API::

    from ui import build_app, create_app, serve
    build_app(bot)          # gr.Blocks: the chat (launch it with css=ui.app.CSS)
    create_app(bot)         # FastAPI: /api/ask, /api/health, /docs, and the chat at /
    serve(settings)         # load the assistant and run uvicorn on settings.host:port
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import build_app
    from .server import create_app, serve

__all__ = ["build_app", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    # Imported on first use: Gradio takes ~5 s to import, and `sanad ask` (ui.cli) never needs it.
    if name == "build_app":
        from .app import build_app

        return build_app
    if name in ("create_app", "serve"):
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module 'ui' has no attribute {name!r}")
