"""Ray Tune sweeps over reward weights and curricula, each trial scored on the same held-out evaluation.

How to run::

    drugenv sweep tune_sweeps/reward_weights --num-samples 12
    drugenv sweep tune_sweeps/curriculum --num-samples 8 --max-concurrent-trials 2
    python -m drugenv.tuning.sweep tune_sweeps/reward_weights --num-samples 4 --iterations 4   # a smoke run

A sweep file (``tune_sweeps/*.py``) defines ``NAME``, ``METRIC`` / ``MODE`` (a ``heldout/*`` key),
``NUM_SAMPLES``, ``ALGO``, ``BASE_OVERRIDES`` (settings every trial shares), ``ASHA``
(``grace_period`` / ``reduction_factor`` in evaluation rounds), ``KEY_PARAMS`` (dotted paths plotted)
and ``search_space()`` (nested overrides of the algo's settings with Tune primitives at the leaves).

Each trial trains the algo (``--algo ppo_vector``: ``rllib_configs/ppo_vector.py``) and, every
``run.eval_interval`` iterations, runs ``drugenv.training.ppo.heldout_eval``: the SAME
``procedural-test`` episodes for every trial, default ``RewardConfig`` — never the trial's own
training reward, whose scale the swept weights change. ASHA early-stops on that metric.

``--algo grpo_tiny_cpu`` sweeps the LLM agent the RLlib way: ``Tuner(DrugGRPO, param_space=config)``
with the ``DrugGRPOConfig`` of ``rllib_configs/grpo_tiny_cpu.py`` (the sweep file's
``search_space("grpo_tiny_cpu")`` and ``GRPO_BASE_OVERRIDES`` placed on it). The SFT warm start is
made once, before Tune, and every trial starts from it; each is scored by RLlib's evaluation on the
held-out suite (``heldout/x`` is ``evaluation/env_runners/x``).

Writes into ``--out/<NAME>/``: ``results.csv`` and ``results.md`` (trials sorted by the metric, with
their config), ``metric_vs_params.png``, ``best_config.json`` (the best trial's full settings:
the algo's defaults, the sweep's base and budget overrides, the sampled values and the iterations
it ran, ``{"algo": ..., "config": "rllib_configs/...", ...}``; ``drugenv train --overrides
best_config.json`` retrains exactly that trial and reproduces its held-out metrics) and ``best_trial.json`` (its metrics). Tune's own files go to ``--out/<NAME>/tune/``.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Mapping, Optional

import tyro

from drugenv.cli import check_output_path, save_figure, write_text_atomic  # (the dashboard reads the sweep's files while it writes them)
from drugenv.errors import ConfigError, DrugEnvError, Terminated
from drugenv.evaluation.metrics import HELDOUT_TABLE_KEYS
from drugenv.training.metrics import HELDOUT_PREFIX
from drugenv.storage import RunStorage

HELDOUT_COLUMNS: tuple[str, ...] = HELDOUT_TABLE_KEYS
"""Held-out metrics every results table shows (``evaluation.metrics.HELDOUT_TABLE_KEYS``)."""
PPO_TRIAL_BUDGET: dict[str, Any] = {
    "run": {"iterations": 30, "eval_interval": 5, "eval_episodes": 100, "eval_seed": 0},
    # The PPO default's step, pinned so that trials keep their budget if the default moves (at 3e-4, the
    # default before, 30-iteration trials were still learning to report).
    "training": {"lr": 1e-3},
}
"""The budget every PPO trial of the committed sweeps shares (their ``BASE_OVERRIDES``), so that their
results compare: 30 iterations, a held-out evaluation of 100 episodes every 5."""
PPO_TRIAL_ASHA: dict[str, Any] = {"grace_period": 2, "reduction_factor": 2}
"""The committed PPO sweeps' ASHA settings, in evaluation rounds (one round = ``run.eval_interval`` iterations)."""
ALGO_CONFIGS: dict[str, str] = {"ppo_vector": "rllib_configs/ppo_vector.py", "grpo_tiny_cpu": "rllib_configs/grpo_tiny_cpu.py"}
"""Algo name -> its rllib config file, relative to the repository root."""
_REPO_ROOT = Path(__file__).resolve().parents[2]


def load_sweep(path: str | Path) -> ModuleType:
    """Import a ``tune_sweeps/<name>.py`` file by path (``.py`` optional)."""
    from drugenv.training.configs import import_file

    mod = import_file(path, namespace="sweep", required=("NAME", "METRIC", "MODE", "search_space"),
                      example="tune_sweeps/reward_weights")
    if mod.MODE not in ("min", "max"):
        raise ConfigError(f"{path}: MODE must be 'min' or 'max', got {mod.MODE!r}")
    known = [HELDOUT_PREFIX + k for k in HELDOUT_COLUMNS]  # what every trial reports (a PPO trial's heldout_eval, GRPO's RLlib)
    if mod.METRIC not in known:  # else Ray started, and the first trial trained, before Tune refused it
        raise ConfigError(f"{path}: METRIC must be one of {', '.join(known)}, got {mod.METRIC!r}")
    return mod


def algo_config_path(algo: str) -> Path:
    if algo not in ALGO_CONFIGS:
        import difflib

        if (_REPO_ROOT / "rllib_configs" / f"{algo}.py").is_file():
            raise ConfigError(f"--algo {algo!r} is not supported by sweeps yet; expected one of {', '.join(ALGO_CONFIGS)}")
        close = difflib.get_close_matches(algo, list(ALGO_CONFIGS), n=1, cutoff=0.6)
        raise ConfigError(f"--algo {algo!r} is no algorithm's name; expected one of {', '.join(ALGO_CONFIGS)}"
                          + (f" (did you mean {close[0]}?)" if close else ""))
    return config_file(ALGO_CONFIGS[algo])


def config_file(name: str) -> Path:
    """A config file named relative to the working directory, else to the repository root."""
    local = Path(name)
    return local.resolve() if local.is_file() else _REPO_ROOT / name


def load_rllib_config_for(algo: str) -> ModuleType:
    """The rllib config module an algo name trains with."""
    from drugenv.training.configs import load_rllib_config

    return load_rllib_config(algo_config_path(algo))


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


# ---------------------------------------------------------------------------------------------
# The trial
# ---------------------------------------------------------------------------------------------


def _trainable(config: dict[str, Any]) -> None:
    """One trial: train with ``config["overrides"]`` and report each held-out evaluation to Tune."""
    from ray import tune

    from drugenv.training.ppo import load_rllib_config, train_ppo

    mod = load_rllib_config(config["algo_config"])
    overrides = mod.merge(config["base"], config["overrides"])

    def report(row: dict[str, Any], algo: Any) -> None:
        metrics = {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        metrics["ppo_iteration"] = metrics.pop("iteration")
        tune.report(metrics)

    train_ppo(mod, overrides, out_dir=None, progress=False, on_eval=report)


# ---------------------------------------------------------------------------------------------
# Running and reporting
# ---------------------------------------------------------------------------------------------


def run_sweep(
    sweep: ModuleType,
    *,
    algo: str = "ppo_vector",
    num_samples: Optional[int] = None,
    out: str | Path = "runs/sweeps",
    max_concurrent_trials: int = 1,
    base_overrides: Optional[Mapping[str, Any]] = None,
    seed: int = 0,
    cluster_may_grow: bool = False,
) -> dict[str, Any]:
    """Run the Tune sweep (Ray must be initialised) and write table, plot and best config.

    ``base_overrides`` are merged over the sweep's ``BASE_OVERRIDES`` (e.g. a smaller budget).
    ``cluster_may_grow``: Ray is a cluster whose autoscaler may add nodes, so a GRPO trial bigger than it is
    now is not refused (``drugenv sweep`` inside a Ray job).
    Returns ``{"table": rows, "best": row, "files": {...}}``.

    The sweep's folder is locked while it runs (``run_files.lock_folder``, as a run's is): a second sweep into
    it is a ``ConfigError`` (two mixed their trials in one Tune experiment, and each wrote its results over the other's).
    """
    from drugenv.training.run_files import lock_folder

    with lock_folder(Path(out).resolve() / sweep.NAME, "--out"):
        return _run_sweep(sweep, algo=algo, num_samples=num_samples, out=out, max_concurrent_trials=max_concurrent_trials,
                          base_overrides=base_overrides, seed=seed, cluster_may_grow=cluster_may_grow)


def _run_sweep(sweep: ModuleType, *, algo: str, num_samples: Optional[int], out: str | Path, max_concurrent_trials: int,
               base_overrides: Optional[Mapping[str, Any]], seed: int, cluster_may_grow: bool) -> dict[str, Any]:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import BasicVariantGenerator

    cfg_path = algo_config_path(algo)
    from drugenv.training.configs import load_rllib_config

    mod = load_rllib_config(cfg_path)
    if mod.ALGO == "grpo":
        return _run_grpo_sweep(sweep, mod, algo=algo, num_samples=num_samples, out=out, max_concurrent_trials=max_concurrent_trials,
                               base_overrides=base_overrides, seed=seed, cluster_may_grow=cluster_may_grow)
    base = mod.merge(getattr(sweep, "BASE_OVERRIDES", {}), base_overrides or {})
    settings = mod.settings(base)
    rounds = max(1, math.ceil(int(settings["run"]["iterations"]) / max(1, int(settings["run"]["eval_interval"]))))
    asha = {"grace_period": 1, "reduction_factor": 2, **getattr(sweep, "ASHA", {})}
    scheduler = ASHAScheduler(time_attr="training_iteration", max_t=rounds,
                              grace_period=min(int(asha["grace_period"]), rounds),
                              reduction_factor=float(asha["reduction_factor"]))
    out_dir = _fresh_sweep_dir(Path(out).resolve() / sweep.NAME)
    param_space = {"algo_config": str(cfg_path), "base": base, "overrides": sweep.search_space()}
    tuner = tune.Tuner(
        tune.with_resources(_trainable, {"cpu": 1}),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=sweep.METRIC, mode=sweep.MODE, scheduler=scheduler,
            num_samples=int(num_samples or getattr(sweep, "NUM_SAMPLES", 4)),
            # BasicVariantGenerator caps concurrency itself (Tune ignores max_concurrent_trials with it).
            search_alg=BasicVariantGenerator(random_state=seed, max_concurrent=max_concurrent_trials),
        ),
        run_config=tune.RunConfig(name="tune", storage_path=str(out_dir), verbose=0,
                                  failure_config=tune.FailureConfig(max_failures=0)),
    )
    results = _fit(tuner)
    return _finish(sweep, algo, _rows(results, sweep.METRIC), results, out_dir, sweep.METRIC)


def _run_grpo_sweep(sweep: ModuleType, mod: ModuleType, *, algo: str, num_samples: Optional[int], out: str | Path,
                    base_overrides: Optional[Mapping[str, Any]], seed: int, cluster_may_grow: bool = False,
                    max_concurrent_trials: int = 1) -> dict[str, Any]:
    """``Tuner(DrugGRPO, param_space=DrugGRPOConfig)`` over the sweep's GRPO search space."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import BasicVariantGenerator

    from drugenv.training.configs import merge, resource_demand
    from drugenv.training.grpo import DrugGRPO
    from drugenv.training.grpo_train import resolve_base_model, sft_settings_for, sft_warm_start
    from drugenv.training.metrics import HELDOUT_CURVE_COLUMNS
    from drugenv.training.model_files import share_model

    metric = HELDOUT_CURVE_COLUMNS.get(sweep.METRIC)  # RLlib's name for it ("heldout/x" -> "evaluation/env_runners/x")
    if metric is None:
        raise ConfigError(f"{sweep.NAME}: METRIC {sweep.METRIC!r} is not one a GRPO trial reports; expected one of "
                          f"{', '.join(sorted(HELDOUT_CURVE_COLUMNS))}")
    space = grpo_search_space(sweep, algo)
    base = merge(getattr(sweep, "GRPO_BASE_OVERRIDES", {}), base_overrides or {})
    s = mod.settings(base)
    out_dir = _fresh_sweep_dir(Path(out).resolve() / sweep.NAME)
    model = resolve_base_model(str(s["model"]), out_dir)
    # A trial asks Ray for the driver's bundle and its actors': more than the cluster has and Tune waits
    # for ever, after the SFT warm start. Said here, before it.
    need = resource_demand(mod.build_config(base, model_path=model), driver=True)
    have = ray.cluster_resources()
    for kind in ("CPU", "GPU"):
        if need.get(kind, 0.0) > have.get(kind, 0.0) + 1e-9 and not cluster_may_grow:
            raise ConfigError(f"a trial of this sweep asks for {need[kind]:g} {kind}s (the driver and its env runners and "
                              f"learners) and the Ray cluster has {have.get(kind, 0):g}: lower env_runners.num_env_runners "
                              f"in the sweep file's GRPO_BASE_OVERRIDES, or start Ray with more (drugenv sweep --num-cpus)")
    if s["sft"].get("enabled"):  # once, before Tune: every trial starts from the same warm start
        model = sft_warm_start(model, sft_settings_for(s), out_dir, seed=int(s["seed"]))
    share_model(model)  # on a cluster, trials on nodes without this driver's disk fetch the model from Ray
    config = mod.build_config(merge(base, space), model_path=model)
    run = s["run"]
    iterations, every = int(run["iterations"]), max(1, int(run["eval_interval"]))
    asha = {"grace_period": 1, "reduction_factor": 2, **getattr(sweep, "ASHA", {})}
    scheduler = ASHAScheduler(time_attr="training_iteration", max_t=iterations,
                              grace_period=min(int(asha["grace_period"]) * every, iterations),
                              reduction_factor=float(asha["reduction_factor"]))
    tuner = tune.Tuner(
        DrugGRPO,
        param_space=config,
        tune_config=tune.TuneConfig(metric=metric, mode=sweep.MODE, scheduler=scheduler,
                                    num_samples=int(num_samples or getattr(sweep, "NUM_SAMPLES", 4)),
                                    search_alg=BasicVariantGenerator(random_state=seed, max_concurrent=max_concurrent_trials)),
        run_config=tune.RunConfig(name="tune", storage_path=str(out_dir), verbose=0,
                                  stop={"training_iteration": iterations},
                                  failure_config=tune.FailureConfig(max_failures=0)),
    )
    results = _fit(tuner)
    searched = list(flatten(space))
    rows = []
    for res in results:
        df = res.metrics_dataframe
        if df is None or metric not in df or df[metric].dropna().empty:
            continue
        evals = df[df[metric].notna()]
        last = evals.iloc[-1]
        # RLlib repeats the last evaluation's metrics on the iterations between two: count the rounds.
        rounds = int((evals["training_iteration"] % every == 0).sum()) if "training_iteration" in evals else len(evals)
        row: dict[str, Any] = {"trial_id": res.metrics.get("trial_id", ""), "status": _status(res), "eval_rounds": rounds,
                               "iterations": int(last.get("training_iteration", 0)), sweep.METRIC: float(last[metric])}
        for k in HELDOUT_COLUMNS:  # RLlib's names for them; ECE is not one it reports (left blank)
            v = last.get(HELDOUT_CURVE_COLUMNS.get(HELDOUT_PREFIX + k, ""))
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                row[HELDOUT_PREFIX + k] = float(v)
        sampled: dict[str, Any] = {}
        for key in searched:  # "training.curriculum.kind" -> the trial's config["curriculum"]["kind"]
            node: Any = res.config
            for part in key.split(".")[1:]:
                node = node.get(part) if isinstance(node, Mapping) else None
            row[f"config.{key}"] = node
            leaf = sampled
            parts = key.split(".")
            for part in parts[:-1]:
                leaf = leaf.setdefault(part, {})
            leaf[parts[-1]] = node
        row["_overrides"], row["_base"] = sampled, base
        rows.append(row)
    return _finish(sweep, algo, rows, results, out_dir, metric)


def grpo_search_space(sweep: ModuleType, algo: str) -> dict[str, Any]:
    """The sweep's GRPO search space (a sweep file opts in by taking the algo: ``search_space(algo)``,
    as ``tune_sweeps/curriculum.py`` does), or ``ConfigError``."""
    space = sweep.search_space(algo) if "algo" in inspect.signature(sweep.search_space).parameters else None
    if not space or "training" not in space:
        raise ConfigError(f"sweep {sweep.NAME} has no GRPO search space (search_space(algo) returning training "
                          f"overrides); run it with --algo ppo_vector or add one (see tune_sweeps/curriculum.py)")
    return space


OUTPUTS = ("results.csv", "results.md", "metric_vs_params.png", "best_config.json", "best_trial.json", "tune")
"""What a sweep writes into its folder (``tune``: Tune's experiment)."""


def _fresh_sweep_dir(out_dir: Path) -> Path:
    """``out_dir``, made, without an earlier sweep's outputs: a sweep stopped early left the last one's results
    looking current (the dashboard showed it finished), and Tune's folder mixed the two experiments' trials.
    A base model kept there (a GRPO sweep's cache) stays."""
    from drugenv.training.run_files import remove_paths

    out_dir.mkdir(parents=True, exist_ok=True)
    removed = remove_paths(out_dir / name for name in OUTPUTS)
    if removed:
        print(f"{out_dir}: a new sweep; removed the previous one's {', '.join(removed)}")
    return out_dir


class SweepFailedError(DrugEnvError):
    """Every trial of a sweep failed: nothing to rank (one line: how many, and the first error's last line)."""


def _fit(tuner: Any) -> Any:
    """``tuner.fit()``, stopped by Ctrl-C or SIGTERM as any drugenv command is. Tune's own Ctrl-C handler ends the
    experiment and returns, its running trial marked TERMINATED and the trials not started yet absent, so an
    interrupted sweep wrote its partial results as a finished one's with exit code 0 (an audit: 3 of 8 trials), and
    a SIGTERM read as a Ctrl-C. Here Tune's handler is off (``TUNE_DISABLE_SIGINT_HANDLER``); either signal raises
    in this thread, and is raised again after ``fit`` should Tune have caught it."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        return tuner.fit()
    caught: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        caught.append(signum)
        raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    tune_handler = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    try:
        results = tuner.fit()
    except KeyboardInterrupt:
        # Raised inside Ray's C++ wait (ray.wait), the handler's Terminated comes out as a plain KeyboardInterrupt:
        # a SIGTERM still ends the sweep as terminated (exit 143), not as a Ctrl-C
        if caught and caught[0] == signal.SIGTERM:
            raise Terminated from None
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if tune_handler is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = tune_handler
    if caught:
        raise Terminated if caught[0] == signal.SIGTERM else KeyboardInterrupt
    return results


def _status(result: Any) -> str:
    """A trial's status in the results table: ``error`` (it raised: its metrics, if any, are from before) or ``ok``."""
    return "error" if getattr(result, "error", None) is not None else "ok"


def _last_line(error: Any) -> str:
    """An error's last non-empty line, without the terminal colours Ray's remote tracebacks carry."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(error)).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(error).__name__


def _finish(sweep: ModuleType, algo: str, rows: list[dict[str, Any]], results: Any, out_dir: Path,
            metric: str) -> dict[str, Any]:
    """Sort the trials by the sweep's metric (NaN last; a trial that failed after it reported, after every one that
    did not), write the outputs and return the summary. A sweep whose trials did not all end writes nothing and stops
    as interrupted. Each failed trial is one line on stderr (Tune's traceback is in its log), and is never the best:
    one that raised after reporting was ranked first and written to ``best_config.json`` (an audit)."""
    errors = [_last_line(e) for e in results.errors]
    unfinished = len(results) - results.num_terminated - results.num_errors
    if unfinished > 0:
        print(f"sweep {sweep.NAME}: stopped with {unfinished} of {len(results)} trials unfinished; no results written "
              f"(Tune's files: {out_dir / 'tune'})", file=sys.stderr)
        raise KeyboardInterrupt
    for error in errors:
        print(f"sweep {sweep.NAME}: a trial failed: {error}", file=sys.stderr)
    ranked = [r for r in rows if r.get("status") != "error"]
    if not ranked:
        raise SweepFailedError(f"sweep {sweep.NAME}: every trial failed ({len(errors)} of {len(results)}), none reported "
                               f"{metric}" + (f"; the first: {errors[0]}" if errors else "")
                               + f" (Tune's logs: {out_dir / 'tune'})")
    rows.sort(key=lambda r: (r.get("status") == "error", math.isnan(r[sweep.METRIC]),
                             r[sweep.METRIC] if sweep.MODE == "min" else -r[sweep.METRIC]))
    files = _write_outputs(sweep, algo, rows, out_dir)
    if errors:
        print(f"sweep {sweep.NAME}: {len(errors)} of {len(results)} trials failed; the results rank the others "
              "(a failed trial that reported is listed last, status error)", file=sys.stderr)
    return {"table": rows, "best": rows[0], "files": files, "errors": errors}


def _rows(results: Any, metric: str) -> list[dict[str, Any]]:
    """One row per trial: its last held-out evaluation and its searched config (dotted keys)."""
    rows = []
    for res in results:
        if res.metrics is None or metric not in res.metrics:
            continue
        m = res.metrics
        row: dict[str, Any] = {
            "trial_id": m.get("trial_id", ""),
            "status": _status(res),
            "eval_rounds": int(m.get("training_iteration", 0)),
            "ppo_iterations": int(m.get("ppo_iteration", 0)),
            metric: float(m[metric]),
        }
        for k in HELDOUT_COLUMNS:
            row[HELDOUT_PREFIX + k] = float(m.get(HELDOUT_PREFIX + k, float("nan")))
        row.update({f"config.{k}": v for k, v in flatten(res.config["overrides"]).items()})
        row["_overrides"] = res.config["overrides"]
        row["_base"] = res.config["base"]
        rows.append(row)
    return rows


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def format_table(rows: list[dict[str, Any]], metric: str) -> str:
    """The sorted results as a Markdown table (metric first, then held-out metrics, then config)."""
    counts = [c for c in ("ppo_iterations", "iterations") if any(c in r for r in rows)]
    status = ["status"] if any(r.get("status") == "error" for r in rows) else []  # shown where a trial failed
    cols = ["trial_id", *status, "eval_rounds", *counts] + [HELDOUT_PREFIX + k for k in HELDOUT_COLUMNS]
    cols += sorted({k for r in rows for k in r if k.startswith("config.")})
    head = [c.replace("config.env_config.", "").replace("config.training.", "").replace(HELDOUT_PREFIX, "") for c in cols]
    lines = [f"sorted by {metric}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _plot(rows: list[dict[str, Any]], metric: str, key_params: tuple[str, ...], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    params = [p for p in key_params if any(f"config.{p}" in r for r in rows)] or \
        sorted({k[len("config."):] for r in rows for k in r if k.startswith("config.")})[:6]
    n = max(1, len(params))
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), squeeze=False)
    y = np.array([r[metric] for r in rows], dtype=float)
    rng = np.random.default_rng(0)
    for ax, p in zip(axes.flat, params):
        vals = [r.get(f"config.{p}") for r in rows]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
        if numeric:
            ax.scatter(vals, y, c="tab:blue")
            if min(vals) > 0 and max(vals) / max(min(vals), 1e-12) > 100:
                ax.set_xscale("log")
        else:
            cats = sorted({str(v) for v in vals})
            x = np.array([cats.index(str(v)) for v in vals], dtype=float) + rng.uniform(-0.12, 0.12, len(vals))
            ax.scatter(x, y, c="tab:orange")
            ax.set_xticks(range(len(cats)))
            ax.set_xticklabels(cats, rotation=20, fontsize=8)
        ax.set_xlabel(p.split(".")[-1])
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(f"{metric} (held-out procedural-test) vs. swept parameters, {len(rows)} trials", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def _write_outputs(sweep: ModuleType, algo: str, rows: list[dict[str, Any]], out_dir: Path) -> dict[str, str]:
    import csv
    import io


    metric = sweep.METRIC
    table = format_table(rows, metric)
    write_text_atomic(out_dir / "results.md", table + "\n")
    cols = list(dict.fromkeys(k for r in rows for k in r if not k.startswith("_")))
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    for r in rows:
        w.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.items() if not k.startswith("_")})
    write_text_atomic(out_dir / "results.csv", buf.getvalue())
    plot = _plot(rows, metric, tuple(getattr(sweep, "KEY_PARAMS", ())), out_dir / "metric_vs_params.png")
    best = rows[0]
    # Everything the trial trained with (what _trainable merged), so a retrain needs nothing else.
    from drugenv.training.configs import merge

    mod = load_rllib_config_for(algo)
    # "algo" is the module's own (what its settings() checks), "config" the file it came from, so
    # ``drugenv train --overrides best_config.json`` finds the file and accepts the settings; and the
    # iterations the trial ran (ASHA may have stopped it early), so the retrain is that trial.
    best_config = {"algo": mod.ALGO, "config": ALGO_CONFIGS[algo], **mod.settings(merge(best["_base"], best["_overrides"]))}
    ran = best.get("ppo_iterations", best.get("iterations"))
    if isinstance(ran, int) and ran > 0:
        best_config["run"]["iterations"] = ran
    write_text_atomic(out_dir / "best_config.json", json.dumps(best_config, indent=2) + "\n")
    write_text_atomic(out_dir / "best_trial.json", json.dumps(
        {"sweep": sweep.NAME, "metric": metric, "mode": sweep.MODE,
         **{k: v for k, v in best.items() if not k.startswith(("_", "config."))}}, indent=2) + "\n")
    return {"table": str(out_dir / "results.md"), "csv": str(out_dir / "results.csv"), "plot": str(plot),
            "best_config": str(out_dir / "best_config.json"), "best_trial": str(out_dir / "best_trial.json")}


@dataclass
class SweepArgs:
    """Run a Tune sweep (`drugenv sweep tune_sweeps/<name>`)."""

    sweep: Annotated[str, tyro.conf.Positional]
    """Sweep file, e.g. tune_sweeps/reward_weights or tune_sweeps/curriculum (`.py` optional)."""
    num_samples: Optional[int] = None
    """Trials to sample (None: the sweep file's NUM_SAMPLES)."""
    algo: str = "ppo_vector"
    """Algorithm each trial trains: ppo_vector, or grpo_tiny_cpu (the LLM agent; sweep files with a GRPO search space)."""
    out: str = "runs/sweeps"
    """Output root; results go to OUT/<sweep NAME>/."""
    max_concurrent_trials: int = 1
    """Trials running at once (a PPO trial needs 1 CPU, a GRPO trial 2: one env runner beside its learner)."""
    iterations: Optional[int] = None
    """Override the sweep's training iterations per trial (PPO or GRPO)."""
    eval_interval: Optional[int] = None
    """Override iterations between held-out evaluations (= ASHA rounds)."""
    eval_episodes: Optional[int] = None
    """Override held-out episodes per evaluation."""
    train_batch_size: Optional[int] = None
    """Override PPO's train_batch_size_per_learner (env steps per iteration)."""
    seed: int = 0
    """Seed of the random search (same seed, same trial configs)."""
    num_cpus: int = 2
    """CPUs Ray may use."""
    storage: Optional[str] = None
    """Also keep the sweep's folder at STORAGE/<sweep NAME> once it ends (or stops), e.g. s3://bucket/sweeps; any URI
    pyarrow opens, or an absolute path (drugenv.storage)."""


def budget_overrides(args: SweepArgs) -> dict[str, Any]:
    """Budget flags of ``args`` as settings overrides."""
    grpo = args.algo.startswith("grpo")
    # GRPO's held-out evaluation during training is RLlib's, sized by run.curve_eval_episodes.
    episodes_key = "curve_eval_episodes" if grpo else "eval_episodes"
    run = {k: v for k, v in (("iterations", args.iterations), ("eval_interval", args.eval_interval),
                             (episodes_key, args.eval_episodes)) if v is not None}
    out: dict[str, Any] = {"run": run} if run else {}
    if args.train_batch_size is not None and grpo:
        raise ConfigError("--train-batch-size is PPO's; a GRPO batch is training.groups_per_iteration x group_size episodes")
    if args.train_batch_size is not None:
        mb = min(args.train_batch_size, 250)
        out["training"] = {"train_batch_size_per_learner": args.train_batch_size, "minibatch_size": mb}
    return out


def check_args(args: SweepArgs) -> None:
    """Numbers in range before Ray starts; ``ConfigError`` otherwise."""
    for name, value, low in (("--num-samples", args.num_samples, 1), ("--max-concurrent-trials", args.max_concurrent_trials, 1),
                             ("--iterations", args.iterations, 1), ("--eval-interval", args.eval_interval, 1),
                             ("--eval-episodes", args.eval_episodes, 1), ("--train-batch-size", args.train_batch_size, 1),
                             ("--num-cpus", args.num_cpus, 1), ("--seed", args.seed, 0)):
        if value is not None and value < low:
            raise ConfigError(f"{name} {value} is out of range: it must be >= {low}")
    check_output_path(args.out, "--out", directory=True)


def sweep_main(args: SweepArgs) -> dict[str, Any] | int:
    """CLI entry: run the sweep on a local loopback Ray, print the table and where the files are."""
    from drugenv.training.run_files import lock_folder

    check_args(args)
    budget_overrides(args)  # --train-batch-size with a GRPO algo: refused before Ray starts
    sweep = load_sweep(args.sweep)
    if load_rllib_config_for(args.algo).ALGO == "grpo":
        grpo_search_space(sweep, args.algo)  # before Ray starts
    storage = RunStorage.open(args.storage, sweep.NAME) if args.storage is not None else None
    with lock_folder(Path(args.out).resolve() / sweep.NAME, "--out"):  # another sweep there: refused before Ray starts
        return _locked_sweep_main(args, sweep, storage)


def _locked_sweep_main(args: SweepArgs, sweep: ModuleType, storage: Optional[RunStorage]) -> dict[str, Any] | int:
    from drugenv.training.configs import RAY_JOINED_CLUSTER, init_ray

    started = init_ray(args.num_cpus)
    try:
        res = run_sweep(sweep, algo=args.algo, num_samples=args.num_samples, out=args.out,
                        max_concurrent_trials=args.max_concurrent_trials, base_overrides=budget_overrides(args),
                        seed=args.seed, cluster_may_grow=started == RAY_JOINED_CLUSTER)
    finally:
        if storage is not None:  # also when the sweep stopped on an error
            storage.try_mirror(Path(args.out).resolve() / sweep.NAME)
        if started:
            import ray

            ray.shutdown()
    print(format_table(res["table"], sweep.METRIC))
    print("\n" + "\n".join(f"{k}: {v}" for k, v in res["files"].items()))
    failed = storage.incomplete_copy(Path(args.out).resolve() / sweep.NAME, "drugenv sweep") if storage is not None else None
    if failed is not None:  # the last line, and exit 1: see drugenv train
        print(failed, file=sys.stderr)
        return 1
    return res


__all__ = ["ALGO_CONFIGS", "HELDOUT_COLUMNS", "PPO_TRIAL_ASHA", "PPO_TRIAL_BUDGET", "SweepArgs", "SweepFailedError", "budget_overrides", "flatten", "format_table",
           "load_sweep", "run_sweep", "sweep_main"]


if __name__ == "__main__":  # pragma: no cover
    from drugenv.cli import parse_args, run_command

    # Mistakes one line, Ctrl-C exit 130 and SIGTERM 143, as `drugenv sweep` (it printed tracebacks)
    sys.exit(run_command("python -m drugenv.tuning.sweep", sweep_main, parse_args(SweepArgs), extra="train"))
