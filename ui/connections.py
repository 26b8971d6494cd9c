"""Connection-level limits for uvicorn: a bounded number of open connections, a deadline for a
request's headers, and logs that summarise a flood instead of growing with it.

uvicorn holds a connection that never sends a request (or sends half its headers) for as long as
the client likes, and accepts connections until the process runs out of file descriptors; from
then on every accept, and every file any request opens, fails and logs a traceback. Here, a
connection must complete a request's headers within ``HEADER_SECONDS`` of opening or of its
previous response, and at most ``max_connections`` are open: one more closes the connection that
has waited longest for a request, preferring one that never sent any to a keep-alive one, once it
has waited ``MIN_IDLE_SECONDS`` (until then the limit may be exceeded, up to twice). A client that
is being answered, or that is sending a request, is never the one closed, nor is a client that
has been answered while an idle flood lasts: the flood only displaces itself. A response that
makes no progress for ``STALL_SECONDS``, because its client does not read it, drops the
connection: otherwise a client asking for a large file and never reading it would hold its
connection, being answered, past every limit.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import OrderedDict
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

#: Seconds a connection may take to send a request's headers, from opening or its last response.
HEADER_SECONDS = 10.0
#: File descriptors kept for everything but connections: model and index files, pipes, threads.
FD_RESERVE = 128
#: A connection idle for less than this is not closed to make room. Under a connection flood
#: the listen queue overflows and drops packets, so a client's connection may be accepted
#: before its request arrives: TCP resends it within about a second.
MIN_IDLE_SECONDS = 1.0
#: Seconds a response may wait for its client to read any of it before the connection is dropped.
STALL_SECONDS = 30.0


def connection_limit(wanted: int) -> int:
    """``wanted``, or fewer if the process may not open twice as many files besides its own:
    connections accepted in a burst are open (and count) until the limit closes the excess, so
    the file limit needs room above it."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(16, min(wanted, (soft - FD_RESERVE) // 2))


def bounded_protocol(max_connections: int, header_seconds: float = HEADER_SECONDS) -> type:
    """An ``H11Protocol`` class for one server (pass it as ``uvicorn.Config(http=...)``)."""
    # Connections waiting for a request, longest-waiting first: those that never sent one, and
    # keep-alive ones that did. A class per server, so that servers in one process keep theirs.
    fresh: OrderedDict[BoundedH11Protocol, None] = OrderedDict()
    kept: OrderedDict[BoundedH11Protocol, None] = OrderedDict()
    closing: set[BoundedH11Protocol] = set()  # closed here, still counted until connection_lost
    trim_pending = False  # a trim is due at the next turn of the loop
    retry: asyncio.TimerHandle | None = None  # a trim for when the oldest has waited long enough

    def trim(loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
        # Over the limit, close the connections that have waited longest for a request: first
        # those that never sent one (an idle flood is all of them), then keep-alive ones; never
        # one being answered or sending a request. None is closed before it has waited
        # MIN_IDLE_SECONDS, nor a keep-alive one while one that never sent a request is left
        # (clients answered before a flood do not make room for it): until then the limit is
        # exceeded and this runs again, up to twice the limit (the room connection_limit
        # leaves), past which no one is spared.
        nonlocal trim_pending, retry
        trim_pending = False
        if retry is not None:
            retry.cancel()
            retry = None
        excess = len(connections) - len(closing) - max_connections
        if excess > 0:
            log.warning("%d connections open, the limit: closing the longest idle", max_connections)
        now = loop.time()
        while excess > 0 and (queue := fresh or kept):
            oldest = next(iter(queue))
            wait = oldest.idle_since + MIN_IDLE_SECONDS - now
            if wait > 0 and excess <= max_connections:
                retry = loop.call_later(wait, trim, loop, connections)
                return
            oldest._close_idle()  # leaves its queue
            excess -= 1

    class BoundedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _stalled: asyncio.TimerHandle | None = None
        idle_since = 0.0

        def connection_made(self, transport: Any) -> None:
            nonlocal trim_pending
            super().connection_made(transport)
            self._wait_for_request(fresh)
            if len(self.connections) > max_connections and not trim_pending:
                # Not now: a connection accepted in this same batch may already have sent its
                # request, which is read only after the next poll. A timer due now runs after
                # that poll's reads, so such a connection is no longer waiting by then.
                trim_pending = True
                self.loop.call_later(0, trim, self.loop, self.connections)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._answering():
                self._stop_waiting()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and not self._answering():
                self._wait_for_request(kept)

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            if self._stalled is not None:
                self._stalled.cancel()
            closing.discard(self)
            super().connection_lost(exc)

        def pause_writing(self) -> None:
            # The client reads less than is sent. Waiting is uvicorn's answer, for as long as the
            # client likes; here, for STALL_SECONDS without progress (each resume starts over).
            super().pause_writing()
            if self._stalled is None:
                self._stalled = self.loop.call_later(STALL_SECONDS, self.transport.abort)

        def resume_writing(self) -> None:
            super().resume_writing()
            if self._stalled is not None:
                self._stalled.cancel()
                self._stalled = None

        def _answering(self) -> bool:
            # uvicorn's own test for "a request is in progress" (see its shutdown()).
            return self.cycle is not None and not self.cycle.response_complete

        def _wait_for_request(self, queue: OrderedDict[BoundedH11Protocol, None]) -> None:
            self._stop_waiting()
            queue[self] = None
            self.idle_since = self.loop.time()
            self._deadline = self.loop.call_later(header_seconds, self._close_idle)

        def _stop_waiting(self) -> None:
            fresh.pop(self, None)
            kept.pop(self, None)
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _close_idle(self) -> None:
            self._stop_waiting()
            if not self.transport.is_closing():
                closing.add(self)
                self.transport.close()

    return BoundedH11Protocol


class Summarised(logging.Filter):
    """Lets the first record of each message through, then at most one per ``every`` seconds,
    which says how many like it were held back. Messages are told apart by their format string,
    so one flood of the same error is one line a minute, whatever its arguments."""

    MAX_KINDS = 1000

    def __init__(self, every: float = 60.0) -> None:
        super().__init__()
        self.every = every
        self.kinds: dict[tuple[str, str], tuple[float, int]] = {}  # -> (last let through, held)

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        last, held = self.kinds.get(key, (-self.every, 0))
        if now - last < self.every:
            self.kinds[key] = (last, held + 1)
            return False
        if len(self.kinds) >= self.MAX_KINDS:
            self.kinds.clear()
        self.kinds[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} [and {held} more like this in the last {self.every:g} s]"
        return True


def summarise_logs(*names: str, every: float = 60.0) -> Summarised:
    """Put one ``Summarised`` filter on the loggers ``names`` (records are filtered by the
    logger they are created on, so each one that floods is named)."""
    summary = Summarised(every)
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, Summarised) for f in logger.filters):
            logger.addFilter(summary)
    return summary
