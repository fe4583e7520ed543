"""DrugEnv's environment server: ``DrugTargetEnvironment`` over the OpenEnv 0.10 wire protocol.

- ``drugenv.server.app.create_app(...)``: the FastAPI app (also mountable in Ray Serve).
- ``drugenv.server.serve.serve_env_main(Args(...))``: run it with uvicorn (``drugenv serve-env``).
- ``drugenv.server.session``: session registry and the I/O-free frame handler behind ``/ws``.
- ``drugenv.server.protocol``: frames and error codes, shared with ``drugenv.client``.
- ``drugenv.server.hosts``: the ``Host`` allowlist against DNS rebinding, shared by every DrugEnv HTTP app.

Importing this package does not import FastAPI; the names below load on first use.
"""

from __future__ import annotations

from typing import Any

_LAZY = {"create_app": "drugenv.server.app", "Args": "drugenv.server.serve", "serve_env_main": "drugenv.server.serve"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'drugenv.server' has no attribute {name!r}")


__all__ = ["Args", "create_app", "serve_env_main"]
