"""``drugenv dashboard``: serve the live evidence dashboard over a runs folder.

How to run::

    drugenv dashboard --runs runs/ --host 127.0.0.1 --port 8050     # then open http://127.0.0.1:8050
    bash scripts/main.sh & drugenv dashboard                          # watch the main job train

Results to expect: the runs list (GRPO, PPO, sweeps) with status, iteration and elapsed time; a run's
page draws its training curve, checkpoint progression and before/after card, and follows
``metrics.jsonl`` as it grows; /episodes plays an agent step by step, or follows run-agent's
``_dashboard_state.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drugenv.server.hosts import allowed_hosts_for


@dataclass
class DashboardArgs:
    """Serve the dashboard (`drugenv dashboard`)."""

    runs: str = "runs"
    """Folder of run folders (drugenv train / drugenv sweep outputs); it may not exist yet."""
    host: str = "127.0.0.1"
    """Interface to bind. Loopback by default: the dashboard has no authentication."""
    port: int = 8050
    """HTTP port."""
    snapshot: tuple[str, ...] = ()
    """Extra run-agent snapshot files to list (e.g. ./_dashboard_state.json); those under --runs are found anyway."""
    poll: float = 1.0
    """Seconds between file checks of an open live view."""
    stale_after: float = 1800.0
    """An unfinished run with no new output for this many seconds is shown as failed (sooner when it wrote
    stopped.json, or when the process its .drugenv.lock names on this host has ended)."""
    step_delay: float = 0.4
    """Seconds before each action of an episode played from the page, so a person can follow it."""
    checkpoint_dir: tuple[str, ...] = ()
    """Folders besides --runs whose checkpoints the episode form may play (checkpoint:PATH, trl:PATH): loading a
    checkpoint runs the code pickled in it, so the form plays none from elsewhere."""
    agent_url: tuple[str, ...] = ()
    """Agents over HTTP the episode form may play as serve:URL (e.g. http://127.0.0.1:8001); none by default, so
    the page cannot be made to post to any other address."""


def dashboard_main(args: DashboardArgs) -> int:
    """Check the arguments, then run uvicorn until interrupted."""
    from drugenv.dashboard.app import check_timings
    from drugenv.server.serve import check_port

    check_timings(poll_s=args.poll, stale_after_s=args.stale_after, step_delay_s=args.step_delay,
                  spell=lambda name: "--" + name.removesuffix("_s").replace("_", "-"))

    check_port(args.host, args.port)  # before the URL is printed: a taken port was uvicorn's own error line, exit code 3
    import uvicorn

    from drugenv.dashboard.app import create_app

    app = create_app(args.runs, snapshots=args.snapshot, poll_s=args.poll, stale_after_s=args.stale_after,
                     step_delay_s=args.step_delay, checkpoint_dirs=args.checkpoint_dir, agent_urls=args.agent_url,
                     allowed_hosts=allowed_hosts_for(args.host))  # loopback: loopback names only (DNS rebinding)
    print(f"dashboard: http://{args.host}:{args.port}  (runs: {args.runs})")
    _server_class()(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=3)).run()
    return 0


def _server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, ending the live views' streams when told to stop: it waits for open responses to
        finish, and a page's stream never does (it waited its 3 s graceful timeout, then logged each stream's
        cancellation)."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            self.config.app.state.live_views.close()
            super().handle_exit(sig, frame)
    return Server


__all__ = ["DashboardArgs", "dashboard_main"]
