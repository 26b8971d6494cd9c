"""The one access policy in front of every route: who may use the server, how often, and how much
they may send.

``AccessPolicy`` is an ASGI middleware around the whole app, so the JSON API and the mounted
Gradio chat (its pages, its API, its queue) pass through the same checks:

* **who**: with ``SANAD_API_TOKEN`` or ``SANAD_UI_AUTH`` set, every route that answers or accepts
  data needs ``Authorization: Bearer <token>`` or the chat's login cookie. What the login page
  itself needs (the page, its scripts and fonts, ``POST /login``), the API docs and
  ``/api/health`` stay open; Gradio routes the chat does not use (uploads, file and proxy
  access, run history, streamed media) are refused outright;
* **to whom**: a server listening on loopback answers only requests that name a loopback host
  (``localhost``, ``127.0.0.1``, ``::1``) or a ``SANAD_TRUSTED_ORIGINS`` host in ``Host``: a
  site that rebinds its own name to 127.0.0.1 (DNS rebinding) would otherwise read answers and
  add articles from a visitor's browser as if it were the server's own page;
* **from where**: a browser sends data (any method but GET, HEAD and OPTIONS) only from the
  server's own pages: a request whose ``Origin`` is another site's (or ``null``) is refused,
  so a page elsewhere cannot use a visitor's login cookie, or reach a server on their
  loopback, to ask questions or add articles. Clients that are not browsers send no
  ``Origin`` and are not affected; ``SANAD_TRUSTED_ORIGINS`` names a reverse proxy's public
  origin when it rewrites the ``Host`` header;
* **how often**: every request that sends data (any method but GET, HEAD and OPTIONS) takes a
  token from its client's bucket (``SANAD_RATE_LIMIT_PER_MINUTE``); ``POST /login`` and wrong
  bearer tokens share their own, much smaller bucket, so that neither passwords nor the token can
  be guessed at speed. The client is the peer address,
  or what ``X-Forwarded-For`` says only when the peer is in ``SANAD_TRUSTED_PROXIES``
  (``ui.server`` applies uvicorn's ``ProxyHeadersMiddleware`` for that, outside this one);
* **how much**: a body is read here, before any route sees it, up to ``MAX_BODY_BYTES`` and
  within ``BODY_SECONDS``, or for an article's upload (``UPLOAD_ROUTES``) up to
  ``SANAD_MAX_DOCUMENT_BYTES`` plus ``MAX_BODY_BYTES`` (for the multipart or JSON around the
  text) and within ``UPLOAD_SECONDS``; a JSON body must be strict JSON (UTF-8, no NaN or
  Infinity, no number Python cannot hold, nested at most ``MAX_JSON_DEPTH`` deep), else 422.

Errors are one-line JSON: ``{"error": "..."}``, or FastAPI's ``{"detail": [...]}`` for a body
that is not valid JSON, as the API's own validation errors are.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from index import Settings

#: Largest request body accepted, in bytes: a question and a long conversation fit many times.
MAX_BODY_BYTES = 64 * 1024
#: A request body must arrive within this many seconds, so a half-sent one cannot hold a worker.
BODY_SECONDS = 10.0
#: The routes that take an article rather than a question, and the time its body may take.
UPLOAD_ROUTES = frozenset({"/api/documents"})
UPLOAD_SECONDS = 60.0
#: Deepest JSON nesting accepted; the API's bodies are four levels deep.
MAX_JSON_DEPTH = 32
#: Login attempts (and wrong bearer tokens) per client per minute.
LOGIN_ATTEMPTS_PER_MINUTE = 10

# Open to anyone: what the browser needs to show the chat or its login form, the API's docs and
# the health probe. Gradio decides itself what "/" shows to a visitor who has not logged in.
_PUBLIC = frozenset(
    {
        "/",
        "/favicon.ico",
        "/theme.css",
        "/robots.txt",
        "/manifest.json",
        "/login",
        "/logout",
        "/docs",
        "/docs/oauth2-redirect",
        "/openapi.json",
        "/api/health",
        "/gradio_api/theme.css",
        "/gradio_api/login_check",
        "/gradio_api/app_id",
        "/gradio_api/startup-events",
    }
)
_PUBLIC_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon", "/fonts/")
# The Gradio API routes the chat page and gradio_client use (run/ for the handlers that skip the
# queue, such as opening a citation; Gradio refuses the queued ones there). Everything else
# under /gradio_api (uploads, file=, proxy=, run history, streamed media, component servers) is
# refused: the chat has no component that needs it, and each is a way to store or fetch data.
_GRADIO_ROUTES = re.compile(
    r"/gradio_api/(?:info|queue/(?:join|data|status)|heartbeat/[^/]+|cancel|user|token"
    r"|run/[^/]+|call/(?:v2/)?[^/]+(?:/[^/]+)?)/?"
)
_GRADIO_SESSION_USER = "sanad-bearer-token"  # the Gradio user a bearer-token request acts as
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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


class GradioSessions:
    """Gradio's login sessions, as its own routes check them: the login cookie's value must be
    one of the tokens its App handed out at ``/login`` (``gradio.routes.App.tokens``)."""

    def __init__(self, gradio_app: Any) -> None:
        self.app = gradio_app
        self.cookies = (
            f"access-token-{gradio_app.cookie_id}",
            f"access-token-unsecure-{gradio_app.cookie_id}",
        )
        # A request with the bearer token carries this session to Gradio, whose routes would
        # otherwise ask it for a login cookie as well.
        self.bridge = secrets.token_urlsafe(32)

    def logged_in(self, cookies: Mapping[str, str]) -> bool:
        tokens = self.app.tokens
        return any(cookies.get(name) in tokens for name in self.cookies if cookies.get(name))

    def bridge_cookie(self) -> bytes:
        # Set on each use: Gradio's /logout drops every session of the user that logs out.
        self.app.tokens[self.bridge] = _GRADIO_SESSION_USER
        return f"{self.cookies[1]}={self.bridge}".encode()


class RequestRefused(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(status)
        self.response = JSONResponse(body, status, headers=headers)


def _refuse(status: int, message: str, headers: dict[str, str] | None = None) -> RequestRefused:
    return RequestRefused(status, {"error": message}, headers)


class AccessPolicy:
    """The ASGI middleware; see the module's docstring. ``sessions`` is Gradio's login state,
    None when the chat has no login page (neither the token nor a UI login is set)."""

    def __init__(
        self, app: ASGIApp, *, settings: Settings, sessions: GradioSessions | None = None
    ) -> None:
        self.app = app
        self.token = settings.api_token.encode() if settings.api_token else None
        self.sessions = sessions
        self.guarded = bool(settings.api_token or settings.ui_auth)
        self.upload_bytes = settings.max_document_bytes + MAX_BODY_BYTES
        per_minute = settings.rate_limit_per_minute
        self.limiter = RateLimiter(per_minute) if per_minute > 0 else None
        self.logins = RateLimiter(LOGIN_ATTEMPTS_PER_MINUTE)
        self.origins = frozenset(settings.trusted_origin_list)
        # Only a server on loopback can be reached through a rebound name without credentials;
        # elsewhere the token or login guards it (serve refuses to listen open without one).
        self.hosts = (
            frozenset(urlsplit(o).hostname or "" for o in self.origins)
            if is_loopback(settings.host)
            else None
        )
        if settings.api_token and settings.ui_auth:
            self.unauthorised = "a valid bearer token or a chat login is required"
        elif settings.api_token:
            self.unauthorised = "a valid bearer token is required"
        else:
            self.unauthorised = "log in to the chat first"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            # Lifespan passes; websockets are turned off in uvicorn and refused if not.
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        try:
            scope = self._admit(scope)
            receive = await self._read_body(scope, receive)
        except RequestRefused as e:
            await e.response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    # -- who and how often -------------------------------------------------------------------

    def _admit(self, scope: Scope) -> Scope:
        path: str = scope["path"]
        method: str = scope["method"]
        client = scope["client"][0] if scope.get("client") else "?"
        if path.endswith("/") and path != "/":
            path = path.rstrip("/")
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1").strip().lower()
        if self.hosts is not None:
            self._check_host(host)
        if method not in _SAFE_METHODS and b"origin" in headers:
            # Only browsers name an Origin, and they name it on every cross-site request.
            self._check_origin(headers[b"origin"].decode("latin-1").strip().lower(), host)
        if path == "/login" and method == "POST":
            self._take(self.logins, client, "too many login attempts; wait a minute")
            return scope
        if path in _PUBLIC or path.startswith(_PUBLIC_PREFIXES):
            return scope
        if path.startswith("/gradio_api/") and not _GRADIO_ROUTES.fullmatch(scope["path"]):
            raise _refuse(404, "not found")
        if self.guarded:
            scope = self._authorise(scope, client)
        if method not in _SAFE_METHODS and self.limiter is not None:
            self._take(self.limiter, client, "too many requests; slow down")
        return scope

    def _check_host(self, host: str) -> None:
        try:
            name = urlsplit(f"//{host}").hostname or ""
        except ValueError:  # a malformed port or bracket
            name = ""
        if not (is_loopback(name) or name.endswith(".localhost") or name in self.hosts):
            raise _refuse(
                403,
                f"refused: this server answers to its loopback address, not {host[:100]!r}; "
                "a reverse proxy's public origin goes in SANAD_TRUSTED_ORIGINS",
            )

    def _check_origin(self, given: str, host: str) -> None:
        own = bool(host) and given != "null" and urlsplit(given).netloc == host
        if not own and given not in self.origins:
            raise _refuse(
                403,
                f"refused: sent from another site ({given[:100]}); a reverse proxy's public "
                "origin goes in SANAD_TRUSTED_ORIGINS",
            )

    def _authorise(self, scope: Scope, client: str) -> Scope:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        guessed = False
        for name, value in headers:
            if name == b"authorization" and self.token is not None:
                scheme, _, given = value.partition(b" ")
                if scheme.lower() == b"bearer" and secrets.compare_digest(
                    given.strip(), self.token
                ):
                    if self.sessions is None:
                        return scope
                    bridged = [(n, v) for n, v in headers if n != b"cookie"]
                    bridged.append((b"cookie", self.sessions.bridge_cookie()))
                    return {**scope, "headers": bridged}
                guessed = True
        if guessed:  # a wrong token is a guess, throttled as password guesses are
            self._take(self.logins, client, "too many failed attempts; wait a minute")
        if self.sessions is not None:
            cookies = cookie_parser(
                "; ".join(v.decode("latin-1") for n, v in headers if n == b"cookie")
            )
            if self.sessions.logged_in(cookies):
                return scope
        challenge = {"WWW-Authenticate": "Bearer"} if self.token else None
        raise _refuse(401, self.unauthorised, challenge)

    @staticmethod
    def _take(limiter: RateLimiter, client: str, message: str) -> None:
        wait = limiter.retry_after(client)
        if wait is not None:
            raise _refuse(429, message, {"Retry-After": str(math.ceil(wait))})

    # -- how much ----------------------------------------------------------------------------

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive:
        """The body, read in full (within the limits) before the app runs, and handed to it
        again as one message."""
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        upload = scope["path"].rstrip("/") in UPLOAD_ROUTES
        limit, seconds = (
            (self.upload_bytes, UPLOAD_SECONDS) if upload else (MAX_BODY_BYTES, BODY_SECONDS)
        )
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        if scope["method"] in _SAFE_METHODS and not declared.strip(b"0"):
            return receive
        chunks, size = [], 0
        with anyio.move_on_after(seconds) as timer:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _refuse(400, "the client went away")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        if timer.cancelled_caught:
            raise _refuse(408, f"the request body did not arrive within {seconds:.0f} s")
        body = b"".join(chunks)
        if body and headers.get(b"content-type", b"").split(b";")[0].strip().endswith(b"json"):
            _check_json(body)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # what follows is the disconnect, when it comes
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _too_large(limit: int) -> RequestRefused:
    return _refuse(413, f"the request body is larger than {limit} bytes")


def _not_json(why: str) -> RequestRefused:
    # The shape of FastAPI's own 422 for a body it cannot decode.
    return RequestRefused(
        422, {"detail": [{"type": "json_invalid", "loc": ["body"], "msg": f"JSON {why}"}]}
    )


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number too large for a float")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_json(body: bytes) -> None:
    """Raise a 422 unless ``body`` is strict JSON that Python and Starlette can work with."""
    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except UnicodeDecodeError as e:
        raise _not_json(f"is not UTF-8 (bad byte at offset {e.start})") from None
    except RecursionError:
        raise _not_json(f"is nested more than {MAX_JSON_DEPTH} deep") from None
    except ValueError as e:  # JSONDecodeError, NaN/Infinity, an integer of too many digits
        raise _not_json(f"is invalid: {str(e).splitlines()[0]}") from None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _not_json(f"is nested more than {MAX_JSON_DEPTH} deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
