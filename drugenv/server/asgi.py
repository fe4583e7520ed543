"""ASGI entry for process managers: ``uvicorn drugenv.server.asgi:app`` (the ``app`` of ``openenv.yaml``).

Limits come from OpenEnv's conventional environment variables: ``MAX_CONCURRENT_ENVS`` (sessions,
default 256) and ``SESSION_IDLE_TIMEOUT_S`` (seconds, default 3600; ``none`` disables it).
Prefer ``python -m drugenv.server``, which also sets uvicorn's frame-size and keepalive limits.
"""

from __future__ import annotations

import os

from drugenv.server.app import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_SESSIONS, create_app

_idle = os.environ.get("SESSION_IDLE_TIMEOUT_S", str(DEFAULT_IDLE_TIMEOUT_S))
app = create_app(max_sessions=int(os.environ.get("MAX_CONCURRENT_ENVS", DEFAULT_MAX_SESSIONS)),
                 idle_timeout_s=None if _idle.lower() == "none" else float(_idle))
