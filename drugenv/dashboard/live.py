"""Live views: the dashboard's server-sent event streams, one poll of the files per view.

A page follows a view (the runs list, a run, the episodes list, an episode) at ``/api/stream/...``. Every
view open in any page is read by one task every ``poll_s`` seconds, and its followers are woken when its
JSON changed. Each stream used to read the files itself, so the CPU grew with the pages open (80 streams of
one run at ``--poll 0.2`` took 79% of a core), and any web page can open streams to a dashboard on
127.0.0.1: a browser serves an ``EventSource`` request without asking the dashboard, and withholds only the
answer. ``max_followers`` bounds the streams open at once; the next one is a 503.

``close`` ends every stream, so that a server stopping (``drugenv dashboard``, Ctrl-C) is not left waiting
on pages that never disconnect.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Optional

import anyio

from drugenv.errors import DrugEnvError

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
"""Seconds between SSE keep-alive comments on a view that does not change (proxies drop silent connections)."""
MAX_FOLLOWERS = 64
"""Streams open at once, over all views. A browser opens at most 6 connections to one host, so a person
with every tab of a dashboard open stays far below it."""


class TooManyFollowers(DrugEnvError):
    """Every stream slot is taken (``LiveViews.max_followers``); answered as a 503."""


@dataclass(eq=False)
class _View:
    fetch: Callable[[], str]
    text: str
    followers: int = 0
    ended: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: Optional[asyncio.Task[None]] = None

    def publish(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.wake()

    def wake(self) -> None:
        # One event per version: the followers waiting on the old one wake, the next wait is on the new one.
        old, self.changed = self.changed, asyncio.Event()
        old.set()


class LiveViews:
    """The views open in pages, each read by one task while anyone follows it.

    Args:
        poll_s: seconds between two reads of an open view.
        max_followers: streams open at once, over all views; one more is refused (``TooManyFollowers``).
    """

    def __init__(self, poll_s: float, max_followers: int = MAX_FOLLOWERS):
        self.poll_s = poll_s
        self.max_followers = max_followers
        self.followers = 0
        self.closed = False
        self._views: dict[Any, _View] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    def check_room(self) -> None:
        """Refuse a stream before its response starts; raises ``TooManyFollowers`` when every slot is taken."""
        if self.followers >= self.max_followers:
            raise TooManyFollowers(f"{self.followers} live views are open, the most this dashboard serves at once "
                                   f"({self.max_followers}): close a tab, or reload the page to see it without updates")

    def is_open(self, key: Any) -> bool:
        return key in self._views

    async def follow(self, key: Any, fetch: Callable[[], str], first: Optional[str]) -> AsyncIterator[str]:
        """The SSE frames of view ``key``: its JSON now, then again each time it changes, until ``close``.

        ``fetch`` reads the view's JSON (in a worker thread); ``first`` is what it read for a view not open yet
        (None when ``is_open(key)``: a follower of an open view starts from its last read).
        """
        self._loop = asyncio.get_running_loop()
        view = self._views.get(key)
        if view is None:
            if first is None:  # it closed between the route's check and here
                first = await anyio.to_thread.run_sync(fetch)
            view = self._views[key] = _View(fetch, first)
            view.task = asyncio.create_task(self._poll(key, view))
        view.followers += 1
        self.followers += 1
        try:
            sent = None
            while not (self.closed or view.ended):
                if view.text != sent:
                    sent = view.text
                    yield f"data: {sent}\n\n"
                changed = view.changed
                try:
                    await asyncio.wait_for(changed.wait(), HEARTBEAT_S)
                except asyncio.TimeoutError:  # TimeoutError itself from 3.11 on; 3.10 has its own
                    yield ": keep-alive\n\n"
        finally:
            self.followers -= 1
            view.followers -= 1
            if view.followers == 0 and self._views.get(key) is view:
                del self._views[key]
                if view.task is not None:
                    view.task.cancel()

    async def _poll(self, key: Any, view: _View) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                text = await anyio.to_thread.run_sync(view.fetch)
            except Exception:  # noqa: BLE001 - a view that cannot be read ends its streams; pages reconnect
                log.exception("live view %s could not be read; its streams end", key)
                self._views.pop(key, None)
                view.ended = True
                view.wake()
                return
            view.publish(text)

    def close(self) -> None:
        """End every stream (safe to call from a signal handler or another thread)."""
        self.closed = True
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def wake_all() -> None:
            for view in list(self._views.values()):
                view.wake()
        loop.call_soon_threadsafe(wake_all)


__all__ = ["HEARTBEAT_S", "LiveViews", "MAX_FOLLOWERS", "TooManyFollowers"]
