"""Helpers for the ui tests: a real uvicorn server on a free loopback port, in a thread, run as
``sanad serve`` runs it (``ui.server.uvicorn_config``)."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
import uvicorn

from qa import Settings
from ui.server import uvicorn_config


@contextmanager
def running(
    app: Any, settings: Settings | None = None, timeout: float = 60.0, **config: Any
) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL once /api/health answers.
    ``settings`` gives the connection limits (default: the defaults); ``config`` goes to
    ``uvicorn_config``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn_config(app, settings or Settings(), **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            if not thread.is_alive():
                raise RuntimeError("the test server stopped while starting")
            try:
                if server.started and requests.get(f"{url}/api/health", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the test server at {url} did not come up")
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def gradio_config(url: str, **kwargs: Any) -> dict[str, Any]:
    r = requests.get(f"{url}/config", timeout=10, **kwargs)
    r.raise_for_status()
    return r.json()


def fn_index(config: dict[str, Any], api_name: str) -> int:
    """The id of the chat's event handler ``api_name`` (e.g. "respond"), as the page calls it."""
    return next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)


def queue_call(
    url: str,
    fn: int,
    data: list[Any],
    *,
    timeout: float = 60.0,
    event_data: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Run event handler ``fn`` through Gradio's queue as the chat page does (``queue/join``,
    then the ``queue/data`` event stream), and return its ``process_completed`` message.
    ``event_data`` is what the page sends with the event (e.g. a like's index, value, liked);
    ``kwargs`` (headers, cookies) go to both requests."""
    session = uuid.uuid4().hex
    r = requests.post(
        f"{url}/gradio_api/queue/join",
        json={"data": data, "fn_index": fn, "session_hash": session, "event_data": event_data},
        timeout=timeout,
        **kwargs,
    )
    r.raise_for_status()
    deadline = time.monotonic() + timeout
    with requests.get(
        f"{url}/gradio_api/queue/data",
        params={"session_hash": session},
        stream=True,
        timeout=timeout,
        **kwargs,
    ) as stream:
        for line in stream.iter_lines(decode_unicode=True):
            if time.monotonic() > deadline:
                break
            if line and line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise TimeoutError(f"no result from event handler {fn} within {timeout} s")
