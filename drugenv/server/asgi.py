"""ASGI entry for process managers: ``uvicorn drugenv.server.asgi:app`` or
``granian --interface asgi drugenv.server.asgi:app`` (the ``app`` of ``openenv.yaml``).

``drugenv serve-env --workers N`` (under either ``--asgi-server``) starts N of these and passes its settings in ``DRUGENV_SERVER_ARGS``
(JSON of ``drugenv.server.serve.Args``; the seal in ``DRUGENV_SEAL``). Without that variable, limits
come from OpenEnv's conventional environment variables: ``MAX_CONCURRENT_ENVS`` (sessions, default
256) and ``SESSION_IDLE_TIMEOUT_S`` (seconds, default 3600; ``none`` disables it); see
``drugenv.server.serve.settings_from_environment``.
Prefer ``python -m drugenv.server``, which also sets uvicorn's frame-size and keepalive limits.
"""

from __future__ import annotations

from drugenv.server.serve import make_app, settings_from_environment

app = make_app(settings_from_environment())


__all__ = ["app"]
