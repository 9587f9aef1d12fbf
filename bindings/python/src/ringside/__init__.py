# SPDX-License-Identifier: MIT
"""ringside: never-blocking Kafka produce through the local ringsided.

A :class:`Client` is a session with ``ringsided``: :meth:`Client.send`
writes a record into a shared-memory ring and returns at once (it raises
:class:`Full` when the ring is full, and never waits), and the daemon
produces it to Kafka. Delivery reports come back through :meth:`Client.poll`
(or :meth:`Client.flush`), which runs the callbacks; :meth:`Client.fileno`
lets a selector or an asyncio loop wait for them, and
:meth:`Client.send_wait` awaits one record's report.

    import ringside

    with ringside.Client() as client:
        client.send("orders", b'{"id": 1}', key=b"alice")
        client.flush(5.0)
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable, Optional

from . import _ringside
from ._ringside import (  # noqa: F401  (re-exported)
    EAUTH,
    EDENIED,
    EDROPPED,
    EFULL,
    EINVAL,
    EKAFKA,
    ELIMIT,
    EMSG_TIMEOUT,
    ENOTCONN,
    EPROTO,
    ERECORD_TOO_LARGE,
    ESHUTDOWN,
    ETIMEDOUT,
    ETOOBIG,
    ETOPIC,
    EUNKNOWN_TOPIC,
    NOT_PERSISTED,
    PERSISTED,
    POSSIBLY_PERSISTED,
    STAGE_ACKED,
    STAGE_FAILED,
    STAGE_SENT,
    STAGE_SPOOLED,
    Error,
    Full,
    Report,
    State,
    Topic,
    library_version,
    strerror,
)

__all__ = [
    "Client", "Error", "Full", "Report", "State", "Topic", "strerror",
    "library_version",
]
__version__ = "0.1.0"


class Client(_ringside.Client):
    """A session with ringsided.

    Args:
        socket: the daemon's socket; default ``$RINGSIDE_SOCKET``, then
            ``/run/ringside/ringside.sock``.
        name: shown in ``ringsidectl status`` and the daemon's log.
        timeout: seconds to wait for the daemon when opening and for a
            topic lookup.
        reconnect: hand the session to a restarted daemon by itself (the
            default); sends meanwhile go on into the ring.
        on_report: called with every :class:`Report` of a record sent
            without ``on_delivery``, and with non-final (spooled) reports.
        max_callbacks: at most this many ``on_delivery`` callbacks wait for
            their reports; beyond, ``send(on_delivery=...)`` raises
            :class:`Full`. Reports may be dropped (the daemon never waits
            for an application), so the bound keeps memory owned.

    Raises:
        Error: the daemon could not be reached or refused the session.
    """

    def __init__(self, socket: Optional[str] = None, name: Optional[str] = None,
                 timeout: float = 5.0, reconnect: bool = True,
                 on_report: Optional[Callable[[Report], Any]] = None,
                 max_callbacks: int = 1 << 20) -> None:
        super().__init__(socket, name, timeout, reconnect, on_report,
                         max_callbacks)
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.closed:
            try:
                self.flush(5.0)
            finally:
                self._stop_reader()
                super().close()

    def close(self, timeout: float = 0.0) -> None:
        """Ends the session, after a flush of up to ``timeout`` seconds.

        Records already accepted are still delivered by the daemon; reports
        not yet polled are lost, and their callbacks let go of (counted in
        ``callbacks_abandoned``).
        """
        if self.closed:
            return
        try:
            if timeout > 0:
                self.flush(timeout)
        finally:
            self._stop_reader()
            super().close()

    def _stop_reader(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.fileno())
        self._loop = None

    def poll_all(self) -> int:
        """Runs callbacks until no report waits: :meth:`fileno` becomes
        readable again only after a :meth:`poll` that found nothing, so an
        event loop calls this when it is readable. Returns the count."""
        total = 0
        while True:
            n = self.poll()
            if n <= 0:
                return total
            total += n

    def _ensure_reader(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._stop_reader()
            loop.add_reader(self.fileno(), self.poll_all)
            self._loop = loop
            self.poll_all()  # arms the wake-up
        return loop

    async def send_wait(self, topic: "str | Topic", value: Any,
                        key: Any = None, headers: Any = None,
                        partition: Optional[int] = None,
                        timestamp: Optional[int] = None) -> Report:
        """Sends a record and resolves to its final :class:`Report`.

        The send itself never waits (it raises :class:`Full` at once when
        the ring is full); the await lasts until Kafka acknowledges the
        record or it fails. The running loop polls the client's
        :meth:`fileno`.
        """
        loop = self._ensure_reader()
        fut: asyncio.Future[Report] = loop.create_future()

        def done(report: Report) -> None:
            if not fut.done():
                fut.set_result(report)

        self.send(topic, value, key=key, headers=headers, partition=partition,
                  timestamp=timestamp, on_delivery=done)
        return await fut

    def __repr__(self) -> str:
        return "<ringside.Client %s>" % ("closed" if self.closed else "open")
