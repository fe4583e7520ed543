"""The live evidence dashboard: training runs, checkpoints, before/after, sweeps and episodes in a browser.

``drugenv dashboard --runs runs/`` serves it (``drugenv.dashboard.cli``); ``create_app`` builds the
FastAPI app, which ``serve.apps`` also mounts as a Ray Serve app.
"""

from drugenv.dashboard.app import create_app

__all__ = ["create_app"]
