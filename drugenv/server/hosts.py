"""Which ``Host`` names a DrugEnv server answers to: the guard against DNS rebinding, shared by every app that
serves HTTP (``drugenv serve-env``, ``drugenv dashboard``, the Serve agent, environment and dashboard apps).

A browser lets any web page talk to 127.0.0.1 under the page's own name: a DNS server that first points
``evil.example`` at its own address and then at 127.0.0.1 makes the page and the loopback server one origin
to the browser, which then lets the page read the answers (and open WebSockets with a matching ``Origin``).
What the browser cannot hide is the name: it sends ``Host: evil.example:PORT``. So a server bound to
loopback answers only to loopback names (``LOOPBACK_NAMES``); programs on the machine name the address
they connect to, which is one of those.

``KnownHosts`` is a pure ASGI middleware, so it covers HTTP requests and WebSocket handshakes alike (an
``@app.middleware("http")`` never sees a WebSocket).
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Callable, Iterable, Optional
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
"""The host names a server bound to loopback answers to."""
ANY_HOST = "*"
"""In a list of allowed hosts: any name (a server behind a reverse proxy that forwards its public name)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or a host name, IPv6 with or without brackets) is this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts_for(bind_host: str, allowed_hosts: Optional[Iterable[str]] = None) -> Optional[tuple[str, ...]]:
    """The names a server bound to ``bind_host`` answers to, as ``KnownHosts`` takes them (None: any name).

    ``allowed_hosts`` None: ``LOOPBACK_NAMES`` when ``bind_host`` is loopback, any name otherwise (a server on a
    shared interface is reached under names it cannot know). A list: those names, or any if it holds ``ANY_HOST``.
    """
    if allowed_hosts is None:
        return LOOPBACK_NAMES if is_loopback(bind_host) else None
    names = tuple(allowed_hosts)
    return None if ANY_HOST in names else names


def host_name(host_header: str) -> str:
    """The name in a ``Host`` header, lower case, without port or IPv6 brackets (``""`` if it holds none)."""
    try:
        return (urlsplit("//" + host_header).hostname or "").lower()
    except ValueError:  # "[::1" and other broken brackets
        return ""


class KnownHosts:
    """ASGI middleware: a request or WebSocket handshake whose ``Host`` names none of ``allowed_hosts`` is refused.

    HTTP gets 421 (Misdirected Request) with ``{"detail": "<server> answers to <names> only ..."}``. A WebSocket
    handshake gets the same 421 where the server supports ASGI's denial-response extension (uvicorn and granian
    do), else 403 (the handshake is closed before it is accepted). Other scopes (lifespan) pass through.

    Args:
        app: the ASGI app behind it.
        allowed_hosts: host names (IPv6 with or without brackets, any case); none refuses every request.
        server: what the refusal calls the server ("the environment server").
    """

    def __init__(self, app: Any, allowed_hosts: Iterable[str], server: str = "this server"):
        self.app = app
        self.allowed = frozenset(h.lower().strip("[]") for h in allowed_hosts)
        self.detail = (f"{server} answers to {', '.join(sorted(self.allowed))} only (a web page under another "
                       "name that points here is refused); connect to one of them")

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket") or self._known(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": self.detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 421, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif "websocket.http.response" in (scope.get("extensions") or {}):
            await send({"type": "websocket.http.response.start", "status": 421, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})  # before accept: the server answers 403

    def _known(self, scope: dict) -> bool:
        for key, value in scope.get("headers") or ():
            if key == b"host":
                return host_name(value.decode("latin-1")) in self.allowed
        return False  # HTTP/1.1 requires Host; a request without one names nothing allowed


__all__ = ["ANY_HOST", "KnownHosts", "LOOPBACK_NAMES", "allowed_hosts_for", "host_name", "is_loopback"]
