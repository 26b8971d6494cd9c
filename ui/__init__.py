"""sanad's web face: the Gradio chat and the HTTP API.

Public API::

    from ui import build_app, create_app, serve
    build_app(bot)          # gr.Blocks: the chat (launch it with css=ui.app.CSS)
    create_app(bot)         # FastAPI: /api/ask, /api/health, /docs, and the chat at /
    serve(settings)         # load the assistant and run uvicorn on settings.host:port
"""

from .app import build_app
from .server import create_app, serve

__all__ = ["build_app", "create_app", "serve"]
