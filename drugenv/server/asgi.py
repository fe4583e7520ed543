"""ASGI entry for process managers: ``uvicorn drugenv.server.asgi:app`` or
``granian --interface asgi drugenv.server.asgi:app`` (the ``app`` of ``openenv.yaml``).

``drugenv serve-env --workers N`` (under either ``--asgi-server``) starts N of these and passes its settings in ``DRUGENV_SERVER_ARGS``
(JSON of ``drugenv.server.serve.Args``; the seal in ``DRUGENV_SEAL``). Without that variable, limits
come from OpenEnv's conventional environment variables: ``MAX_CONCURRENT_ENVS`` (sessions, default
256) and ``SESSION_IDLE_TIMEOUT_S`` (seconds, default 3600; ``none`` disables it).
Prefer ``python -m drugenv.server``, which also sets uvicorn's frame-size and keepalive limits.
"""

from __future__ import annotations

import json
import os

from drugenv.server.app import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_SESSIONS
from drugenv.server.serve import WORKER_ARGS_ENV_VAR, Args, make_app

if WORKER_ARGS_ENV_VAR in os.environ:
    app = make_app(Args(**json.loads(os.environ[WORKER_ARGS_ENV_VAR])))
else:
    _idle = os.environ.get("SESSION_IDLE_TIMEOUT_S", str(DEFAULT_IDLE_TIMEOUT_S))
    app = make_app(Args(max_sessions=int(os.environ.get("MAX_CONCURRENT_ENVS", DEFAULT_MAX_SESSIONS)),
                        idle_timeout_s=None if _idle.lower() == "none" else float(_idle)))
