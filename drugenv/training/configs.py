"""Config files: loading ``rllib_configs/`` and ``tune_sweeps/`` files, merging overrides, starting Ray.

Shared shape of the GRPO configs in ``rllib_configs/`` (one nested dict each, overridable with --set).

| key          | what it sets                                                                      |
|--------------|-----------------------------------------------------------------------------------|
| model        | base model: a local path, a hub id, or ``tiny`` / ``tiny:L4H256`` (built offline) |
| sft          | warm-start on oracle trajectories before GRPO (``enabled``, ``mode`` full|lora, …) |
| training     | ``DrugGRPOConfig.training`` keyword arguments (see its docstring)                |
| env_runners  | ``.env_runners(...)``: actors and environments per actor                        |
| learners     | ``.learners(...)``: number of learners, GPUs per learner                        |
| run          | the train loop: iterations, held-out eval and checkpoint intervals, validation  |
|              | selection (``select_suite`` / ``select_seed`` / ``select_episodes`` /           |
|              | ``select_metric``: keep the checkpoint best on held-out train-split episodes)    |
| seed         | RLlib's ``debugging(seed=...)``                                                   |
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping, Optional, Sequence

from drugenv.cli import stop_on_sigterm  # again after ray.init, whose own SIGTERM handler replaces the command's
from drugenv.errors import ConfigError, DrugEnvError
from drugenv.extras import missing_extra
from drugenv import provenance


def merge(base: Mapping[str, Any], overrides: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into a copy of ``base`` (dicts merge, everything else replaces)."""
    out = copy.deepcopy(dict(base))
    for k, v in (overrides or {}).items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


META_KEYS: tuple[str, ...] = ("algo", "config")
"""Top-level keys of an overrides file that say what it is for, not settings: the config module's
``ALGO`` and the config file it was made from (a sweep's ``best_config.json`` writes both)."""


EVAL_GAME_DEFAULTS: tuple[tuple[str, str], ...] = (
    ("eval_max_steps", "max_turns"), ("eval_max_new_tokens", "max_new_tokens"), ("eval_max_prompt_tokens", "max_prompt_tokens"))
"""A GRPO run's ``run.eval_*`` setting and the ``training`` setting it is when None: evaluation plays the
game training plays (its step cap and token budgets) unless a run says otherwise, and one ``--set`` moves both."""


def settings(defaults: Mapping[str, Any], overrides: Optional[Mapping[str, Any]], algo: str = "grpo") -> dict[str, Any]:
    """``defaults`` with ``overrides`` merged in; unknown top-level keys and another algo's overrides raise.
    A GRPO run's ``run.eval_*`` game settings left None are filled from ``training`` (``EVAL_GAME_DEFAULTS``)."""
    unknown = set(overrides or {}) - set(defaults) - set(META_KEYS)
    if unknown:
        raise ValueError(f"unknown {algo} settings {sorted(unknown)}; expected some of {sorted(defaults)}")
    if overrides and overrides.get("algo", algo) != algo:
        raise ValueError(f"these overrides are for algo {overrides['algo']!r}, not {algo!r}")
    s = merge(defaults, {k: v for k, v in (overrides or {}).items() if k not in META_KEYS})
    run, training = s.get("run"), s.get("training")
    if algo == "grpo" and isinstance(run, dict) and isinstance(training, Mapping):
        for run_key, training_key in EVAL_GAME_DEFAULTS:
            if run.get(run_key) is None and training.get(training_key) is not None:
                run[run_key] = training[training_key]
    return s


def build_config(s: Mapping[str, Any], model_path: str):
    """The ``DrugGRPOConfig`` for settings ``s``, training the model at ``model_path``."""
    from drugenv.simulator.params import RewardConfig
    from drugenv.training import DrugGRPOConfig

    training = dict(s["training"])
    if isinstance(training.get("reward_config"), Mapping):
        training["reward_config"] = RewardConfig(**training["reward_config"])
    run = s["run"]
    # The held-out curve is RLlib's evaluation: greedy, in the run's game (step cap, prompt and
    # completion budgets), every eval_interval iterations, in the driver. With ``run.select_suite``
    # it plays validation episodes (train-split seeds held out of training) and picks the checkpoint
    # (``grpo_train.run_grpo``); otherwise the first ``curve_eval_episodes`` of the eval suite.
    game = {k: run[r] for k, r in (("max_turns", "eval_max_steps"), ("max_prompt_tokens", "eval_max_prompt_tokens"),
                                    ("max_new_tokens", "eval_max_new_tokens")) if run.get(r)}
    from drugenv.training.grpo_train import Selection

    selection = Selection.from_run(run)  # the one reader of the run.select_* keys
    if selection is not None:
        curve_suite, curve_seed, curve_n = selection.suite, selection.seed, selection.episodes
    else:
        curve_suite, curve_seed = run["eval_suite"], int(run["eval_seed"])
        curve_n = int(run.get("curve_eval_episodes") or run["eval_episodes"])
    return (
        DrugGRPOConfig()
        .training(model_name_or_path=model_path, **training)
        .env_runners(**s["env_runners"])
        .learners(**s["learners"])
        .evaluation(evaluation_interval=max(1, int(run["eval_interval"])),
                    evaluation_duration=curve_n, evaluation_duration_unit="episodes", evaluation_num_env_runners=0,
                    evaluation_suite=curve_suite, evaluation_seed=curve_seed,
                    evaluation_config=game)
        # log_sys_usage: Tune's CPU/GPU monitor, whose numbers DrugEnv never reads and which asked every run to
        # "Install gputil for GPU system monitoring"
        .debugging(seed=s["seed"], log_sys_usage=False)
    )


def resource_demand(config: Any, *, driver: bool) -> dict[str, float]:
    """What an algorithm config asks of Ray, summed over RLlib's resource bundles. The first bundle is
    the main process (with a local learner): a Tune trial asks Ray for it (``driver=True``), a run that
    builds the algorithm in its own process does not."""
    bundles = config.algo_class.default_resource_request(config).bundles
    total: dict[str, float] = {}
    for bundle in bundles if driver else bundles[1:]:
        for kind, amount in bundle.items():
            total[kind] = total.get(kind, 0.0) + float(amount)
    return total


RAY_STARTED_LOCAL, RAY_JOINED_CLUSTER = "local", "cluster"
"""What ``init_ray`` did: started a local Ray, or joined the cluster ``RAY_ADDRESS`` names."""


def init_ray(num_cpus: int = 2) -> Optional[str]:
    """Join the cluster ``RAY_ADDRESS`` names (``ray job submit`` sets it for its driver), else start a local
    loopback-only Ray of ``num_cpus`` (no dashboard). Returns ``RAY_JOINED_CLUSTER`` or ``RAY_STARTED_LOCAL``
    (either way the caller's to ``ray.shutdown()``), or None when Ray was already initialised.

    A job that started a Ray of its own on its node, as this did for ``drugenv sweep`` and ``python -m
    drugenv.training.ppo`` before, never used the cluster's other nodes: every trial and env runner waited
    for the driver's node."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # bind to 127.0.0.1, not the NIC
    # Ray runs workers (Tune trials, env runners) at nice 15 by default; on a busy shared box that
    # starves trials next to un-niced processes, so run them at the driver's priority.
    os.environ.setdefault("RAY_worker_niceness", "0")
    try:
        import ray
        import ray._private.ray_constants as ray_constants
    except ModuleNotFoundError as e:  # pragma: no cover - depends on the install
        # pyproject.toml's train extra names the requirement (it read "ray[rllib,tune]" here, "ray[rllib,serve,tune]" there)
        raise (missing_extra(e, "train") or e) from e
    if ray.is_initialized():
        return None
    if os.environ.get("RAY_ADDRESS"):
        address = os.environ["RAY_ADDRESS"]
        fix = ("start that head (ray start --head), correct RAY_ADDRESS, or unset it to start a local Ray; a head "
               "started with RAY_AUTH_MODE=token needs RAY_AUTH_MODE=token and its token here too")
        if _refuses_connections(address):  # Ray would retry it for some 14 minutes (20 tries of ~40 s)
            raise ConfigError(f"RAY_ADDRESS={address}: nothing listens there (the connection was refused): {fix}")
        try:
            ray.init(address="auto", log_to_driver=False)
        except ConnectionError as e:  # a raw traceback after Ray's retries, which did not say where it looked or why
            raise ConfigError(f"RAY_ADDRESS={address} names a Ray cluster this process cannot join "
                              f"({' '.join(str(e).split())[:200]}): {fix}") from None
        stop_on_sigterm()
        return RAY_JOINED_CLUSTER
    if os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0":
        # Ray reads the variable once, when ray_constants is first imported: building an RLlib config
        # (drugenv train's checks) imports it before this runs, and the driver then bound the NIC's
        # address. The node address is looked up through this constant when ray.init starts the node.
        ray_constants.ENABLE_RAY_CLUSTER = False
    # Workers inherit the driver's environment: they check that they import the same drugenv source.
    provenance.export_to_workers()
    # address="local": always a fresh local Ray, never a stale cluster file left by an earlier head.
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    stop_on_sigterm()
    return RAY_STARTED_LOCAL


def stop_algorithm(algo: Any) -> None:
    """``algo.stop()``, and the folder Tune's ``Trainable`` made for it removed when it is still empty: an Algorithm
    built outside Tune (``drugenv train``) gets a new ``~/ray_results/<time><random>/`` it never writes to (Ray 2.60
    takes no logger_creator any more), one a run, some 500 on a machine that ran the suite. A Tune trial's own
    folder, or one something was written to, stays."""
    from ray.tune.trainable import trainable

    logdir = getattr(algo, "logdir", None)
    algo.stop()
    if logdir and Path(logdir).parent == Path(trainable.DEFAULT_STORAGE_PATH):
        try:
            os.rmdir(logdir)  # only an empty folder goes
        except OSError:
            pass


def _refuses_connections(address: str) -> bool:
    """``address`` is a ``host:port`` (a GCS address, as ``ray start`` prints it) at which the host refuses a TCP
    connection, so no Ray head listens there. Any other answer, or form (``auto``, ``ray://...``), is for
    ``ray.init`` to try."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in host:
        return False
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except ConnectionRefusedError:
        return True
    except OSError:  # a timeout, a name that does not resolve yet: Ray's own retries decide
        return False
    return False


_REPO_ROOT = Path(__file__).resolve().parents[2]


def import_file(path: str | Path, *, namespace: str, required: Sequence[str], example: str) -> ModuleType:
    """Import a config-like Python file by path (``.py`` optional; relative paths also tried from the
    repository root, and a bare name in ``example``'s folder: ``grpo_tiny_cpu`` is
    ``rllib_configs/grpo_tiny_cpu.py``, as ``drugenv sweep --algo`` names it) and check it defines
    ``required``; ``example`` names a file to copy from."""
    p = Path(path)
    if p.suffix != ".py":
        if p.is_file() or (_REPO_ROOT / p).is_file():  # "README.md not found (looked for README.py)" misled
            raise ConfigError(f"{str(path)!r} is not a Python config file (a .py file); e.g. {example}")
        p = p.with_suffix(".py")
    folder = Path(example).parent  # where such files live: rllib_configs/, tune_sweeps/
    candidates = [p, _REPO_ROOT / p, *((folder / p, _REPO_ROOT / folder / p) if len(p.parts) == 1 else ())]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        import difflib

        known = sorted({f.stem for d in (folder, _REPO_ROOT / folder) if d.is_dir() for f in d.glob("*.py")
                        if not f.name.startswith("_")})
        close = difflib.get_close_matches(p.stem, known, n=1, cutoff=0.6)
        hint = f"did you mean {(folder / close[0]).as_posix()}?" if close else f"e.g. {example}"
        raise ConfigError(f"{str(path)!r} not found (looked for {p}); {hint}")
    p = found
    name = f"drugenv_{namespace}_{p.stem}"
    spec = importlib.util.spec_from_file_location(name, p.resolve())
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except DrugEnvError:  # already one line (a missing extra, a bad value the file checks itself)
        sys.modules.pop(name, None)
        raise
    except SyntaxError as e:
        sys.modules.pop(name, None)
        raise ConfigError(f"{p}, line {e.lineno}: SyntaxError: {e.msg}") from None
    except Exception as e:  # the file's own code failed: say where, in one line, as for any other mistake in it
        sys.modules.pop(name, None)
        own = [f.lineno for f in traceback.extract_tb(e.__traceback__) if Path(f.filename) == p.resolve()]
        raise ConfigError(f"{p}{f', line {own[-1]}' if own else ''}: {type(e).__name__}: {e} (while importing it)") from None
    missing = [a for a in required if not hasattr(mod, a)]
    if missing:
        raise ConfigError(f"{p} must define {', '.join(missing)} (see {example}.py)")
    return mod


def load_rllib_config(path: str | Path) -> ModuleType:
    """Import an ``rllib_configs/<name>.py`` file by path (``.py`` optional)."""
    return import_file(path, namespace="rllib_config", required=("ALGO", "settings", "build_config"),
                       example="rllib_configs/ppo_vector")


def load_overrides(path: Optional[str | Path]) -> dict[str, Any]:
    """A JSON overrides file (e.g. a sweep's ``best_config.json``); ``{}`` for None."""
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        what = "is a directory, not a JSON file" if p.is_dir() else "does not exist"
        raise ConfigError(f"overrides file {str(path)!r} {what}; e.g. runs/sweeps/reward_weights/best_config.json")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as e:  # RecursionError: nested too deeply for the decoder (a traceback)
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise ConfigError(f"overrides file {path} is not valid JSON ({why}); it must hold one JSON object") from None
    if not isinstance(data, dict):
        raise ConfigError(f"overrides file {path} must hold a JSON object")
    return data


__all__ = [
    "EVAL_GAME_DEFAULTS", "META_KEYS", "RAY_JOINED_CLUSTER", "RAY_STARTED_LOCAL", "build_config", "import_file", "init_ray", "load_overrides", "load_rllib_config", "merge",
    "resource_demand", "settings",
]
