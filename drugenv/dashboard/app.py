"""The dashboard's HTTP layer: one HTML shell per view, a JSON API, and server-sent events.

Every view is the same page (``static/index.html``) told which view to draw; ``static/dashboard.js``
fetches ``/api/...`` and then follows ``/api/stream/...``, where the server polls the files and sends
the view's JSON again whenever it changed, so a training run or an episode updates without a reload.
Plotly's JavaScript comes from the installed ``plotly`` package: nothing is fetched from the internet.

Errors are pages, not 500s: an unknown id is a 404 whose page says what was asked for and what
exists; damaged files are listed on the page by ``drugenv.dashboard.runs``.
"""

from __future__ import annotations

import html
import json
import math
import re
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Optional, Sequence

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from drugenv.dashboard import runs as runs_mod
from drugenv.dashboard.episodes import AgentAccess, BookFull, EpisodeBook, EpisodeRequest, snapshot_view
from drugenv.dashboard.live import MAX_FOLLOWERS, LiveViews, TooManyFollowers
from drugenv.dashboard.sweeps import load_sweep
from drugenv.errors import ConfigError, DrugEnvError
from drugenv.evaluation.evaluate import results_json
from drugenv.server.app import BODY_TIMEOUT_S, harden_json_api
from drugenv.server.hosts import KnownHosts

STATIC = Path(__file__).parent / "static"
_PLACEHOLDER = re.compile(r"__(BASE|VIEW|ARG|MESSAGE)__")
MAX_BODY_BYTES = 64 * 1024
"""Cap on a request body (the only body is the play-an-episode form's, well under 1 KB)."""


class NotFound(Exception):
    """An id the dashboard does not know; rendered as a 404 page or JSON with the ids it does know."""

    def __init__(self, what: str, name: str, known: list[str]):
        listing = ", ".join(known[:20]) or "none"
        super().__init__(f"Unknown {what} '{name}'. Known {what}s: {listing}.")


MAX_WAIT_S = 3600.0
"""The longest poll interval and step delay: an hour (an infinite one overflowed the event loop's timer)."""


def check_timings(*, poll_s: float, stale_after_s: float, step_delay_s: float, spell: Callable[[str], str] = str) -> None:
    """Refuse ``create_app``'s timings out of range, each error naming the timing as ``spell`` writes it
    (``drugenv dashboard`` checks them under its flags' names). NaN is refused too: it passed every comparison,
    then every live view's stream died on it (poll), every run read as stopped (stale_after) or every
    episode played from the page failed (step_delay, infinite).

    Raises:
        ConfigError: a timing is out of range.
    """
    if not 0 < poll_s <= MAX_WAIT_S:
        raise ConfigError(f"{spell('poll_s')} must be > 0 and at most {MAX_WAIT_S:.0f} seconds, got {poll_s}")
    if not 0 <= step_delay_s <= MAX_WAIT_S:
        raise ConfigError(f"{spell('step_delay_s')} must be >= 0 and at most {MAX_WAIT_S:.0f} seconds, got {step_delay_s}")
    if not (stale_after_s > 0 and math.isfinite(stale_after_s)):
        raise ConfigError(f"{spell('stale_after_s')} must be > 0 seconds (and finite), got {stale_after_s}")


def create_app(runs: str | Path = "runs", *, snapshots: tuple[str, ...] = (), poll_s: float = 1.0,
               stale_after_s: float = 1800.0, step_delay_s: float = 0.4, checkpoint_dirs: Sequence[str | Path] = (),
               agent_urls: Sequence[str] = (), allowed_hosts: Optional[Sequence[str]] = None,
               max_live_views: int = MAX_FOLLOWERS, body_timeout_s: Optional[float] = BODY_TIMEOUT_S) -> FastAPI:
    """The dashboard over the runs folder ``runs``.

    Args:
        runs: folder holding run folders (``drugenv train`` / ``drugenv sweep`` outputs); may not exist yet.
        snapshots: extra ``_dashboard_state.json`` files to list (those under ``runs`` are found anyway).
        poll_s: seconds between file checks of an open live view.
        stale_after_s: an unfinished run with no write for this long is shown as failed (sooner with
            ``stopped.json``, or when the process its lock file names on this host has ended: ``runs._ended_holder``).
        step_delay_s: pause before each action of a live episode, so a person can follow it.
        checkpoint_dirs: folders besides ``runs`` whose checkpoints the episode form may play (``AgentAccess``).
        agent_urls: agents over HTTP the episode form may play as ``serve:URL`` (none by default).
        allowed_hosts: the names a request's ``Host`` may give (None: any); any other gets 421
            (``drugenv.server.hosts.KnownHosts``). ``drugenv dashboard`` and the Serve dashboard app bound to loopback
            allow only loopback names, so a web page whose own name a DNS server points at 127.0.0.1 (DNS
            rebinding) cannot read the runs or start episodes: the browser sends that name as the host.
        max_live_views: live-update streams open at once, over all pages (``drugenv.dashboard.live``); one more is a
            503, and the page it was for shows what it read without updating.
        body_timeout_s: seconds a request body may take to arrive whole (``drugenv.server.app.BODY_TIMEOUT_S``;
            None: no deadline); a body still short then gets 408 and its connection is closed.

    Raises:
        ConfigError: a timing out of range (``check_timings``), an agent address that is not one.
    """
    check_timings(poll_s=poll_s, stale_after_s=stale_after_s, step_delay_s=step_delay_s)
    root = Path(runs).resolve()
    access = AgentAccess(checkpoint_roots=(root, *checkpoint_dirs), agent_urls=tuple(agent_urls))
    book = EpisodeBook(step_delay_s, access=access)
    live_views = LiveViews(poll_s, max_followers=max_live_views)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        live_views.close()
        book.close()

    app = harden_json_api(FastAPI(title="DrugEnv dashboard", lifespan=lifespan), max_body_bytes=MAX_BODY_BYTES,
                          body_timeout_s=body_timeout_s)
    if allowed_hosts is not None:
        app.add_middleware(KnownHosts, allowed_hosts=allowed_hosts, server="the dashboard")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def run_path(run_id: str) -> Path:
        path = runs_mod.resolve(root, run_id)
        if path is None:
            raise NotFound("run", run_id, sorted(runs_mod.discover(root)))
        return path

    def runs_index() -> dict[str, Any]:
        found = {k: runs_mod.load_run(root, p, stale_after=stale_after_s) for k, p in runs_mod.discover(root).items()}
        return {"root": str(root), "exists": root.is_dir(),
                "runs": [r.model_dump(include=set(runs_mod.RunSummary.model_fields)) for r in found.values()],
                "snapshots": sorted(all_snapshots())}

    def all_snapshots() -> dict[str, Path]:
        extra = {f"file:{Path(s).resolve()}": Path(s) for s in snapshots}
        return {**runs_mod.snapshots(root), **extra}

    def run_detail(run_id: str) -> dict[str, Any]:
        path = run_path(run_id)
        if runs_mod.kind_of(path) == "sweep":
            return {"sweep": True, **load_sweep(root, path).model_dump()}
        return runs_mod.load_run(root, path, stale_after=stale_after_s, with_references=True).model_dump()

    def episode(episode_id: str) -> dict[str, Any]:
        live = book.live.get(episode_id)  # one read: a new episode may evict this one from the book meanwhile
        if live is not None:
            return live.view().model_dump(mode="json")
        files = all_snapshots()
        if episode_id in files:
            return snapshot_view(episode_id, files[episode_id]).model_dump(mode="json")
        raise NotFound("episode", episode_id, [*book.live, *files])

    def episodes_index() -> dict[str, Any]:
        from drugenv.scenarios import SINGLE_SCENARIOS

        live = [{"id": k, "agent": e.request.agent, "seed": e.request.seed, "scenario": e.request.scenario,
                 "done": not e.thread.is_alive()} for k, e in list(book.live.items())]
        return {"live": live, "snapshots": sorted(all_snapshots()), "agents": access.agents(),
                "scenarios": list(SINGLE_SCENARIOS)}

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        if _local_path(request).startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=404)
        return page(request, "missing", "", message=str(exc), status=404)

    @app.exception_handler(StarletteHTTPException)
    async def no_route(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code != 404 or _local_path(request).startswith(("/api/", "/static/", "/vendor/")):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return page(request, "missing", "", message=f"There is no page at {request.url.path}: start from the runs list.",
                    status=404)

    def page(request: Request, view: str, arg: str, message: str = "", status: int = 200) -> HTMLResponse:
        fills = {key: html.escape(value, quote=True)
                 for key, value in (("BASE", request.scope.get("root_path", "")), ("VIEW", view), ("ARG", arg))}
        heading = "Not found" if status == 404 else "Not available"
        fills["MESSAGE"] = f'<h1>{heading}</h1><p class="error">{html.escape(message)}</p>' if message else ""
        # One pass: a value that holds a placeholder's name (a run called x__MESSAGE__y) is never filled again.
        text = _PLACEHOLDER.sub(lambda m: fills[m.group(1)], (STATIC / "index.html").read_text(encoding="utf-8"))
        return HTMLResponse(text, status_code=status)

    @app.get("/", response_class=HTMLResponse)
    def index_page(request: Request) -> HTMLResponse:
        return page(request, "runs", "")

    @app.get("/runs/{run_id:path}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str) -> HTMLResponse:
        return page(request, "sweep" if runs_mod.kind_of(run_path(run_id)) == "sweep" else "run", run_id)

    @app.get("/episodes", response_class=HTMLResponse)
    def episodes_page(request: Request) -> HTMLResponse:
        return page(request, "episodes", "")

    @app.get("/episodes/{episode_id:path}", response_class=HTMLResponse)
    def episode_page(request: Request, episode_id: str) -> HTMLResponse:
        episode(episode_id)
        return page(request, "episode", episode_id)

    @app.get("/vendor/plotly.min.js")
    def plotly_js() -> Response:
        try:
            import plotly
        except ImportError:
            msg = "plotly is not installed: pip install 'drugenv[dashboard]' to draw the charts"
            return Response(f"window.PLOTLY_MISSING = {json.dumps(msg)};", media_type="text/javascript")
        return FileResponse(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", media_type="text/javascript")

    @app.get("/api/runs")
    def api_runs() -> dict[str, Any]:
        return runs_index()

    @app.get("/api/runs/{run_id:path}")
    def api_run(run_id: str) -> dict[str, Any]:
        return run_detail(run_id)

    @app.get("/api/episodes")
    def api_episodes() -> dict[str, Any]:
        return episodes_index()

    @app.post("/api/episodes")
    def api_start_episode(request: EpisodeRequest) -> Response:
        try:
            live = book.start(request)
        except BookFull as e:
            return JSONResponse({"detail": str(e)}, status_code=503)
        except DrugEnvError as e:
            return JSONResponse({"detail": str(e)}, status_code=400)
        return JSONResponse({"id": live.id}, status_code=201)

    @app.get("/api/episodes/{episode_id:path}")
    def api_episode(episode_id: str) -> dict[str, Any]:
        return episode(episode_id)

    streams: dict[str, Callable[[str], dict[str, Any]]] = {
        "runs": lambda _: runs_index(), "run": run_detail, "episode": episode, "episodes": lambda _: episodes_index()}

    @app.get("/api/stream/{what}/{arg:path}")
    async def api_stream(what: str, arg: str) -> Response:
        if what not in streams:
            raise NotFound("stream", what, sorted(streams))
        try:
            live_views.check_room()
        except TooManyFollowers as e:
            return JSONResponse({"detail": str(e)}, status_code=503)
        fn = streams[what]
        key = (what, arg if what in ("run", "episode") else "")

        def fetch() -> str:
            try:
                payload = fn(arg)
            except NotFound as e:  # the run folder was deleted while watched
                payload = {"gone": str(e)}
            # Strict JSON (a NaN as null), which the browser's JSON.parse needs: an SSE frame with NaN in it
            # was dropped, and the page stopped updating.
            return results_json(payload)

        # An unknown id fails here, as a 404, not mid-stream; an open view needs no read.
        first = None if live_views.is_open(key) else results_json(await anyio.to_thread.run_sync(fn, arg))
        return StreamingResponse(live_views.follow(key, fetch, first), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    app.state.book = book
    app.state.live_views = live_views
    return app


def _local_path(request: Request) -> str:
    """The request path below the mount point (a Serve route prefix arrives as ``root_path``)."""
    root = request.scope.get("root_path", "")
    path = request.url.path
    return path[len(root):] if root and path.startswith(root) else path


__all__ = ["NotFound", "create_app"]
