"""Fixtures for the dashboard tests: synthetic run folders in the exact formats the trainers write,
a dashboard served by uvicorn on 127.0.0.1, and headless Debian Chromium driven by Playwright.

Run folders are made with the trainers' own pieces (the config's ``settings()``, ``grpo_train``'s
curve keys, the sweep's ``_write_outputs``) so a format change there shows up here; no training runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from drugenv.evaluation.metrics import METRIC_KEYS
from drugenv.llm.checkpoint import CHECKPOINT_META
from drugenv.training.configs import load_rllib_config
from drugenv.training.metrics import CURVE_COLUMNS

REPO = Path(__file__).resolve().parents[2]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
EVAL_EPISODES = 2
"""Held-out episodes in the synthetic settings: the reference lines are evaluated on them."""


def metrics_row(it: int, *, heldout: bool) -> dict[str, Any]:
    """One metrics.jsonl line as ``run_grpo`` writes it (values vary with the iteration)."""
    row: dict[str, Any] = {"iteration": it, "seconds": round(30 + it * 0.5, 2)}
    row.update({k: round(0.01 * it + 0.001 * n, 4) for n, k in enumerate(CURVE_COLUMNS)})
    row["env/episode_return_mean"] = round(-1.0 + 0.25 * it, 4)
    row["sync/adapter_bytes"] = 115_000.0
    if heldout:
        row.update({f"heldout/{k}": round(0.1 * it + 0.01 * n, 4) for n, k in enumerate(METRIC_KEYS)})
    return row


def metrics(seed: int) -> dict[str, float]:
    return {k: round(0.05 * seed + 0.01 * n, 4) for n, k in enumerate(METRIC_KEYS)}


def make_grpo_run(root: Path, name: str = "grpo_tiny_cpu", iterations: int = 4, *, finished: bool = True) -> Path:
    """A GRPO run folder: settings.json, metrics.jsonl, checkpoints, and (finished) the before/after report."""
    out = root / name
    (out / "evidence").mkdir(parents=True)
    mod = load_rllib_config(REPO / "rllib_configs" / "grpo_tiny_cpu.py")
    s = mod.settings({"run": {"iterations": iterations, "eval_interval": 2, "checkpoint_interval": 2,
                              "eval_episodes": EVAL_EPISODES}})
    (out / "settings.json").write_text(json.dumps(s, indent=2, default=str), encoding="utf-8")
    with open(out / "metrics.jsonl", "w", encoding="utf-8") as f:
        for it in range(1, iterations + 1):
            f.write(json.dumps(metrics_row(it, heldout=it % 2 == 0)) + "\n")
    for it in range(2, iterations + 1, 2):
        (out / f"checkpoint_iter_{it:04d}").mkdir()
        (out / f"checkpoint_iter_{it:04d}" / CHECKPOINT_META).write_text(json.dumps({"algo": "grpo", "iteration": it}), encoding="utf-8")
    report: dict[str, Any] = {"before": metrics(0), "after_sft": metrics(1)}
    if finished:
        report.update({"after_grpo": metrics(2), "random": metrics(3), "heuristic": metrics(4), "oracle": metrics(5),
                       "_meta": {"suite": "procedural-test", "episodes": EVAL_EPISODES, "seed": 0}})
    (out / "evidence" / "before_after_metrics.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return out


def make_ppo_run(root: Path, name: str = "ppo_vector", *, finished: bool = True) -> Path:
    """A PPO run folder as ``train_ppo`` writes it (``training.run_files``): settings.json, metrics.jsonl,
    then summary.json at the end."""
    from drugenv.training.ppo import HELDOUT_PREFIX, TRAIN_RETURN
    from drugenv.training.run_files import RunFiles

    out = root / name
    files = RunFiles(out)
    settings = load_rllib_config(REPO / "rllib_configs" / "ppo_vector.py").settings({"run": {"eval_episodes": EVAL_EPISODES}})
    files.start("ppo_vector", settings)
    curve = [{"iteration": it, "env_steps": 4000 * it, TRAIN_RETURN: 0.1 * it, "train/episode_len_mean": 9.0, "time_s": 5.0 * it,
              **{HELDOUT_PREFIX + k: v for k, v in metrics(it).items()}, "eval_time_s": 1.0} for it in (2, 4)]
    for row in curve:
        files.log(row)
    if finished:
        files.finish(metrics(4), heuristic=metrics(5), checkpoint=str(out / "checkpoint_final"))
    return out


def make_sweep(root: Path, name: str = "reward_weights") -> Path:
    """A finished sweep folder written by ``drugenv.tuning.sweep``'s own output writer."""
    from drugenv.tuning.sweep import _write_outputs

    out = root / "sweeps" / name
    out.mkdir(parents=True)
    rows = []
    for i, w in enumerate((0.1, 0.4, 0.7)):
        overrides = {"env_config": {"reward": {"novelty_weight": w}}}
        row = {"trial_id": f"t{i}", "eval_rounds": 2, "ppo_iterations": 4, "heldout/decision_utility": 0.1 * i}
        row.update({f"heldout/{k}": 0.05 * i for k in ("decision_accuracy", "brier", "ece", "credits_used", "mean_return")})
        row.update({"config.env_config.reward.novelty_weight": w, "_overrides": overrides, "_base": {}})
        rows.append(row)
    rows.sort(key=lambda r: -r["heldout/decision_utility"])
    sweep = SimpleNamespace(NAME=name, METRIC="heldout/decision_utility", MODE="max", KEY_PARAMS=("env_config.reward.novelty_weight",))
    _write_outputs(sweep, "ppo_vector", rows, out)
    return out


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    return root


@pytest.fixture
def serve_dashboard() -> Iterator[Any]:
    """``serve_dashboard(root, **create_app_kwargs) -> base URL``; every server is stopped afterwards."""
    from drugenv.dashboard import create_app
    from drugenv.server.serve import serve_in_thread

    with contextlib.ExitStack() as servers:
        def start(root: Path, **kwargs: Any) -> str:
            app = create_app(root, **{"poll_s": 0.2, "step_delay_s": 0.05, **kwargs})
            return servers.enter_context(serve_in_thread(app))

        yield start


def find_chromium() -> str | None:
    """$DRUGENV_CHROMIUM, else the first Chromium on PATH (Debian's package is ``chromium``)."""
    env = os.environ.get("DRUGENV_CHROMIUM")
    if env:
        return env
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def _unavailable(reason: str) -> None:
    """CI must run the browser tests (``.ci/run`` installs Chromium); elsewhere they are skipped."""
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Headless Chromium, shared by the dashboard tests (starting it is the slow part) and stopped
    when they are done: Playwright's sync API holds an event loop on the main thread while it runs,
    and later tests call ``asyncio.run``."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    path = find_chromium()
    if path is None:
        _unavailable("no Chromium found (apt-get install -y chromium, or set DRUGENV_CHROMIUM=/path/to/chrome)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, serve_dashboard: Any) -> Iterator[Any]:
    """A fresh page that records console errors and page errors in ``page.errors``.

    It depends on ``serve_dashboard`` so that it closes first: a server stopped under an open page
    would cut its event stream mid-response."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.errors = []
    pg.on("console", lambda msg: pg.errors.append(msg.text) if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    try:
        yield pg
    finally:
        context.close()
