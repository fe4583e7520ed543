"""``drugenv train CONFIG``: train from an ``rllib_configs/`` file (GRPO or PPO), on local Ray or a cluster.

How to run::

    drugenv train rllib_configs/grpo_tiny_cpu.py
    drugenv train rllib_configs/grpo_tiny_cpu.py --set run.iterations=2 --set training.group_size=2
    drugenv train rllib_configs/grpo_tiny_cpu.py --resume runs/grpo_tiny_cpu/checkpoint_final
    drugenv train rllib_configs/ppo_vector.py --overrides runs/sweeps/reward_weights/best_config.json
    drugenv train --overrides runs/sweeps/reward_weights/best_config.json   # the file names its algo

    # against a running cluster (local head here: ray start --head; RAY_AUTH_MODE=token for the CLI)
    ray job submit --address http://127.0.0.1:8265 --working-dir . -- drugenv train rllib_configs/grpo_tiny_cpu.py

Inside a Ray job (``RAY_ADDRESS`` set) it joins that cluster; otherwise it starts a loopback-only local Ray.

Everything the user typed is checked before Ray, SFT or a model starts (``check_args``): the config
and overrides files, every ``--set`` key and value type against the config's settings, and the
``--resume`` checkpoint; a mistake is one ``ConfigError`` line (``drugenv`` exits with code 2).
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Mapping, Optional

import tyro

from drugenv.cli import check_output_path, one_line
from drugenv.errors import ConfigError, Terminated
from drugenv.simulator.environment import validated_seed
from drugenv.training.configs import META_KEYS, RAY_STARTED_LOCAL
from drugenv.storage import download_run, is_uri


@dataclass
class TrainArgs:
    """Train an agent from an rllib_configs/ config."""

    config: tyro.conf.Positional[Optional[str]] = None
    """Config file, e.g. rllib_configs/grpo_tiny_cpu.py (the .py is optional); may be left out when --overrides
    names its algo (a sweep's best_config.json does)."""
    set: Annotated[list[str], tyro.conf.UseAppendAction] = field(default_factory=list)
    """Overrides as dotted key=value, repeatable: --set run.iterations=4 --set training.lr=1e-4."""
    overrides: Optional[str] = None
    """A JSON file of nested overrides (e.g. a sweep's best_config.json); --set is applied on top."""
    out: Optional[str] = None
    """Output directory (default runs/<config name>)."""
    resume: Optional[str] = None
    """A checkpoint directory (or a run's folder: its checkpoint_final) to continue from, with its iteration count, optimizer state and network; run.iterations then counts the iterations after it. GRPO replays the run that never stopped, PPO continues it on fresh episodes (docs/grpo.md, docs/ppo_and_sweeps.md). A URI (one a run's --storage kept, e.g. s3://bucket/drugenv-runs/grpo_x/checkpoint_iter_0008) first copies that run's folder into --out, which must be empty. A checkpoint is RLlib's pickles, and restoring it runs their code: resume only checkpoints you would run as code."""
    sft: bool = True
    """GRPO: warm-start with SFT first (--no-sft skips it)."""
    storage: Optional[str] = None
    """Also keep the run folder at STORAGE/<folder name> as it is written, e.g. s3://bucket/drugenv-runs: on a
    cluster the driver's node may be gone once the run ends (any URI pyarrow opens, as Ray's storage_path, or
    an absolute path; drugenv.storage)."""
    wandb: bool = False
    """Log the run's settings and every iteration's row to Weights & Biases, GRPO or PPO (offline, under <out>/wandb, unless WANDB_MODE is set; `wandb sync` uploads it)."""
    progress: bool = True
    """Show progress bars."""
    num_cpus: int = 2
    """CPUs for a local Ray (ignored when joining a cluster)."""


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` → ``{"a": {"b": 1}, "c": "x"}``; values parse as JSON/Python literals, else strings."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} is not key=value (e.g. --set run.iterations=4)")
        key, raw = item.split("=", 1)
        try:
            value: Any = json.loads(raw)
        except RecursionError:  # was a traceback
            raise ConfigError(f"--set {key.strip()}=...: the value is nested too deeply") from None
        except ValueError:
            try:
                value = ast.literal_eval(raw)
            except (ValueError, SyntaxError, RecursionError, MemoryError):  # the last two: nested too deeply
                value = raw
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _settable_env_keys() -> tuple[str, ...]:
    """The gym env's config keys a run may set: all but ``seal``, a secret that ``settings.json``, the
    run's log and a published result would hold in the clear."""
    from drugenv.gym_envs.base import ENV_CONFIG_KEYS

    return tuple(k for k in ENV_CONFIG_KEYS if k != "seal")


def _leaf_type_ok(default: Any, value: Any) -> bool:
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):  # and finite: training.lr=Infinity trained on NaN weights
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(default, str):  # e.g. rollout_fragment_length "auto" | int, model "tiny" | a path
        return isinstance(value, (str, int, float)) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return True


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list"}


def check_overrides(defaults: Mapping[str, Any], overrides: Mapping[str, Any], *,
                    extra_ok: Callable[[str], bool] = lambda path: False,
                    nullable: Callable[[str], bool] = lambda path: False, prefix: str = "") -> None:
    """Raise ``ConfigError`` for a key ``defaults`` does not have or a value of the wrong type.

    A key missing from ``defaults`` passes when ``extra_ok(dotted path)`` says so (RLlib knobs the
    config leaves at RLlib's default); an empty default mapping (e.g. ``reward_config``) takes any keys.
    ``null`` passes where the default is None or ``nullable(dotted path)`` says the setting takes None.
    """
    for key, value in overrides.items():
        path = f"{prefix}{key}"
        if not prefix and key in META_KEYS:
            continue
        if key not in defaults:
            if extra_ok(path):
                continue
            valid = set(defaults)
            if prefix.endswith("reward_config."):
                from drugenv.simulator.params import RewardConfig

                valid |= set(RewardConfig.model_fields)
            elif prefix == "env_config.":  # the gym env's keys a config file leaves out (_rllib_knob takes them)
                valid |= set(_settable_env_keys())
            close = difflib.get_close_matches(key, sorted(valid), n=1)
            hint = f"did you mean {prefix}{close[0]}? " if close else ""
            where = f"under {prefix[:-1]}" if prefix else "at the top level"
            raise ConfigError(f"unknown setting {path!r}: {hint}valid keys {where}: {', '.join(sorted(valid))}")
        default = defaults[key]
        if isinstance(default, Mapping):
            if not isinstance(value, Mapping):
                raise ConfigError(f"setting {path}={value!r} must be a mapping of {', '.join(sorted(default)) or 'keys'}; "
                                  f"set one key with --set {path}.KEY=VALUE")
            if default:
                check_overrides(default, value, extra_ok=extra_ok, nullable=nullable, prefix=f"{path}.")
        elif not (value is None and (default is None or nullable(path))) and not _leaf_type_ok(default, value):
            kind = _TYPE_NAMES.get(type(default), type(default).__name__)
            raise ConfigError(f"setting {path}={value!r} has the wrong type: expected {kind} "
                              f"(the default is {default!r}), e.g. --set {path}={json.dumps(default)}")


DEPRECATED_VALUE = -1
"""What RLlib (``ray._common.deprecation.DEPRECATED_VALUE``) leaves in a deprecated knob's attribute."""


def check_knob_types(module: Any, defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """The type check ``check_overrides`` gives a config's own keys, for the RLlib knobs it leaves at the
    algorithm config's default (``training.weight_decay``, ``learners.num_gpus_per_learner``…), against
    that default: a wrong type failed after Ray started, in a traceback, or passed (``"maybe"`` for a flag)."""
    config = None
    for section in ("training", "env_runners", "learners"):
        given = overrides.get(section)
        if not isinstance(given, Mapping):
            continue
        for name, value in given.items():
            if name in (defaults.get(section) or {}) or value is None or isinstance(value, Mapping):
                continue
            if config is None:
                with _quiet_config_notice():
                    config = module.build_config(None, model_path="unused") if module.ALGO == "grpo" else module.build_config(None)
            try:
                default = getattr(config, name, None)
            except Exception:  # noqa: BLE001 - a deprecated name's getter raises; validate() says so in one line
                continue
            if isinstance(default, int) and not isinstance(default, bool):
                if default == DEPRECATED_VALUE:  # RLlib's marker of a deprecated knob, not its type
                    continue
                if name.startswith(("num_cpus", "num_gpus")):
                    default = float(default)  # Ray's resource amounts may be fractional (0.5 of a GPU)
                elif value == "auto":  # e.g. rollout_fragment_length: an int or "auto"
                    continue
            if isinstance(default, Mapping) or _leaf_type_ok(default, value):
                continue
            kind = _TYPE_NAMES.get(type(default), type(default).__name__)
            raise ConfigError(f"setting {section}.{name}={value!r} has the wrong type: expected {kind} "
                              f"(the algorithm config's default is {default!r}), e.g. --set {section}.{name}={json.dumps(default)}")


def _section_keywords(config_cls: type, section: str) -> set[str]:
    """The keyword arguments ``config_cls.<section>(...)`` takes, over the class and its bases (a subclass's
    method may pass ``**kwargs`` on to its base's)."""
    import inspect

    names: set[str] = set()
    for klass in config_cls.__mro__:
        method = klass.__dict__.get(section)
        if method is not None:
            names |= {p.name for p in inspect.signature(method).parameters.values()
                      if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"}
    return names


def _nullable(module: Any) -> Callable[[str], bool]:
    """``nullable`` for ``check_overrides``: GRPO's ``training.X`` that ``DrugGRPOConfig`` declares
    ``Optional`` (``minibatch_size=null``: the whole batch; ``epsilon_high=null``: ε), and SFT's settings
    that take None."""
    if module.ALGO != "grpo":
        return lambda path: False
    from drugenv.training.grpo_config import nullable_training_keys
    from drugenv.training.grpo_train import SFT_SETTINGS

    def ok(path: str) -> bool:
        section, _, name = path.partition(".")
        if section == "training":
            return name in nullable_training_keys()
        return section == "sft" and type(None) in SFT_SETTINGS.get(name, ())
    return ok


def _sft_setting(module: Any, extra_ok: Callable[[str], bool]) -> Callable[[str], bool]:
    """``extra_ok`` that also takes any of ``SFT_SETTINGS`` under ``sft.`` on a GRPO config (its type is
    checked by ``check_sft_types``)."""
    if module.ALGO != "grpo":
        return extra_ok
    from drugenv.training.grpo_train import SFT_SETTINGS

    return lambda path: (path.startswith("sft.") and path[4:] in SFT_SETTINGS) or extra_ok(path)


def check_sft_types(sft: Mapping[str, Any]) -> None:
    """An ``sft.*`` value of a type ``SFT_SETTINGS`` does not list is a ``ConfigError``."""
    from drugenv.training.grpo_train import SFT_SETTINGS

    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list", type(None): "null"}
    for key, value in sft.items():
        kinds = SFT_SETTINGS.get(key)
        if kinds is None:
            continue
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if ok and isinstance(value, float) and not math.isfinite(value):
            ok = False
        if not ok:
            raise ConfigError(f"setting sft.{key}={value!r} has the wrong type: expected "
                              f"{' or '.join(names.get(k, k.__name__) for k in kinds)}")


def _rllib_knob(module: Any) -> Callable[[str], bool]:
    """``extra_ok`` for ``check_overrides``: ``training.X`` / ``env_runners.X`` / ``learners.X`` that the
    config's ``.training()`` / ``.env_runners()`` / ``.learners()`` take as a keyword (the config is
    built, for its class, only if such a key shows up)."""
    built: list[Any] = []

    def ok(path: str) -> bool:
        parent, _, leaf = path.rpartition(".")
        if parent.endswith("reward_config"):  # any RewardConfig field, not only the ones the config sets
            from drugenv.simulator.params import RewardConfig

            return leaf in RewardConfig.model_fields
        section, _, name = path.partition(".")
        if section == "env_config" and "." not in name:  # any key the gym env takes (checked by building one)
            return name in _settable_env_keys()
        if section not in ("training", "env_runners", "learners") or "." in name:
            return False
        if not built:
            built.append(module.build_config(None, model_path="unused") if module.ALGO == "grpo" else module.build_config(None))
        # A keyword of that section's method (config.training(...) and so on), not any attribute of the
        # config: training.num_env_runners is an attribute, and a TypeError from .training() after Ray started.
        return name in _section_keywords(type(built[0]), section)

    return ok


def resolve_config(args: "TrainArgs", overrides: Mapping[str, Any]) -> str:
    """The config file to train: ``args.config``, else the one the overrides file names (``config``, as a
    sweep's ``best_config.json`` writes it: one of the configs sweeps train), else the default one for its algo.

    An overrides file is settings, and a config file is code that ``drugenv train`` runs: a JSON file from
    someone else must not name a Python file of its choosing, so it may name only a config a sweep writes."""
    if args.config:
        return args.config
    from drugenv.tuning.sweep import ALGO_CONFIGS, algo_config_path, config_file

    named = overrides.get("config")
    if named is not None:
        if not isinstance(named, str) or not named:
            raise ConfigError(f"the overrides' 'config' must name a config file, got {named!r}")
        if named not in ALGO_CONFIGS.values():
            raise ConfigError(f"the overrides name config {named!r}, which is none of those a sweep writes "
                              f"({', '.join(ALGO_CONFIGS.values())}): an overrides file is settings, and a config "
                              f"file is code that runs; to train a config of your own, name it: "
                              f"drugenv train {named} --overrides FILE")
        return str(config_file(named))
    algo = overrides.get("algo")
    if algo is None:
        raise ConfigError("no config file given and the overrides name no algo; pass one, e.g. "
                          "drugenv train rllib_configs/ppo_vector.py [--overrides FILE]")
    if algo not in ALGO_CONFIGS:
        raise ConfigError(f"the overrides name algo {algo!r}, which has no default config file (known: "
                          f"{', '.join(ALGO_CONFIGS)}); pass the config file, e.g. drugenv train rllib_configs/grpo_tiny_cpu.py")
    return str(algo_config_path(algo))


ADAPTER_SETTINGS: tuple[str, ...] = ("lora_r", "lora_alpha", "lora_target_modules")
"""The GRPO settings a ``--resume`` run must share with its checkpoint: the adapter it continues."""


def _adapter_setting(value: Any) -> Any:
    """A LoRA setting as compared on ``--resume``: the target modules as a set (their order is no part of it)."""
    return frozenset(value) if isinstance(value, (list, tuple)) else value


def check_resume(module: Any, resume: Optional[str], settings: Mapping[str, Any]) -> Optional[Path]:
    """The checkpoint ``--resume`` names, checked before any SFT or Ray: one of this config's algo whose
    network the run's settings keep. A run's folder stands for its ``checkpoint_final`` (as
    ``drugenv eval --agent checkpoint:RUN`` reads it)."""
    if resume is None:
        return None
    from drugenv.llm.checkpoint import (
        CHECKPOINT_FINAL,
        CHECKPOINT_META,
        is_checkpoint_dir,
        newest_checkpoint,
        require_existing,
        resolve_checkpoint_dir,
    )

    named = require_existing(resume, "--resume checkpoint")
    p = resolve_checkpoint_dir(named)
    from drugenv.training.run_files import SETTINGS

    if not is_checkpoint_dir(p) and (p / SETTINGS).is_file():  # a run's folder with no checkpoint_final
        newest = newest_checkpoint(p)
        raise ConfigError(f"--resume {resume}: the run in this folder did not finish (no {CHECKPOINT_FINAL}); " + (
            f"continue it from its newest checkpoint: --resume {newest}" if newest else "it wrote no checkpoint to continue"))
    if p != named and newest_checkpoint(named) not in (None, p):
        # A run resumed into this folder and stopped: its checkpoint_final is the earlier run's, and newer
        # iterations lie beside it. Continuing from the final lost them without a word.
        from drugenv.llm.checkpoint import checkpoint_iteration

        newest = newest_checkpoint(named)
        raise ConfigError(f"--resume {resume}: its {CHECKPOINT_FINAL} holds iteration {checkpoint_iteration(p)}, and a run "
                          f"resumed there went on to iteration {checkpoint_iteration(newest)} before it stopped; continue "
                          f"that one with --resume {newest}, or go back with --resume {p}")
    if module.ALGO == "grpo":
        if not (p / CHECKPOINT_META).is_file():
            from drugenv.training.ppo import is_ppo_checkpoint

            if is_ppo_checkpoint(p) and (p / "algorithm_state.pkl").is_file():  # as the PPO branch says of GRPO's
                raise ConfigError(f"--resume {resume} is a PPO checkpoint; resume it with its own config, e.g. "
                                  "drugenv train rllib_configs/ppo_vector.py --resume ...")
            raise ConfigError(f"--resume {resume} is not a GRPO checkpoint (no {CHECKPOINT_META} in it); "
                              "pass a checkpoint_* directory of an earlier run, e.g. runs/grpo_tiny_cpu/checkpoint_final")
        from drugenv.llm.checkpoint import read_checkpoint_meta
        from drugenv.training.grpo_train import resumed_model

        resumed_model(p)  # the model it continues on still exists
        # The adapter's shape and scale are the checkpoint's: another rank failed after Ray started, in a
        # tensor-size traceback; another alpha or target list would change the policy without a word.
        saved = ((read_checkpoint_meta(p) or {}).get("settings") or {}).get("training") or {}
        new = settings.get("training") or {}
        differ = [f"training.{k}={new[k]!r} (the checkpoint's: {saved[k]!r})" for k in ADAPTER_SETTINGS
                  if k in saved and k in new and _adapter_setting(saved[k]) != _adapter_setting(new[k])]
        if differ:
            raise ConfigError(f"--resume {resume}: a resumed run keeps the checkpoint's LoRA adapter, and this one sets "
                              f"{'; '.join(differ)}; drop those settings, or train afresh without --resume")
        return p
    if (p / CHECKPOINT_META).is_file():
        raise ConfigError(f"--resume {resume} is a GRPO checkpoint; resume it with its own config, e.g. "
                          "drugenv train rllib_configs/grpo_tiny_cpu.py --resume ...")
    from drugenv.training.ppo import is_ppo_checkpoint, resume_mismatch

    if not is_ppo_checkpoint(p) or not (p / "algorithm_state.pkl").is_file():
        raise ConfigError(f"--resume {resume} is not an RLlib PPO checkpoint (no algorithm_state.pkl in it); pass a "
                          "checkpoint_* directory of an earlier run, e.g. runs/ppo_vector/checkpoint_final")
    differ = resume_mismatch(p, settings.get("model") or {})
    if differ:
        raise ConfigError(f"--resume {resume}: a resumed run keeps the checkpoint's network, and this one sets {differ}; "
                          "drop those settings, or train afresh without --resume")
    return p


def check_args(args: "TrainArgs") -> tuple[Any, dict[str, Any]]:
    """The config module and merged overrides, every argument checked; ``ConfigError`` otherwise."""
    from drugenv.training.configs import load_overrides, load_rllib_config, merge

    if args.num_cpus < 1:
        raise ConfigError(f"--num-cpus {args.num_cpus} must be >= 1")
    file_overrides = load_overrides(args.overrides)
    module = load_rllib_config(resolve_config(args, file_overrides))
    overrides = merge(file_overrides, parse_set(args.set))
    if not args.sft:
        overrides = merge(overrides, {"sft": {"enabled": False}})
    defaults = module.settings(None)
    if isinstance(overrides.get("env_config"), Mapping) and "seal" in overrides["env_config"]:
        raise ConfigError("env_config.seal is a secret, and a run writes its settings to settings.json and its log: "
                          "drugenv train does not take it (training reads no info['episode_seed'] to hide)")
    check_overrides(defaults, overrides, extra_ok=_sft_setting(module, _rllib_knob(module)), nullable=_nullable(module))
    check_knob_types(module, defaults, overrides)
    check_agent_io(file_overrides, overrides)
    if module.ALGO == "grpo" and isinstance(overrides.get("sft"), Mapping):
        check_sft_types(overrides["sft"])
    try:
        check_values(module, module.settings(overrides), overrides)
    except (ValueError, TypeError) as e:  # pydantic's ValidationError (a reward_config field) is a ValueError too
        raise ConfigError(" ".join(str(e).split())) from None
    # --out as given: an empty one (an unset shell variable) is refused, not read as "the default" (that wiped the
    # default run's folder); and before a checkpoint in --storage is copied into it.
    check_output_path(run_dir(args, module) if args.out is None else args.out, "--out", directory=True)
    if args.resume is not None and is_uri(args.resume):  # a checkpoint kept in --storage: copied here first
        args.resume = str(download_run(args.resume, run_dir(args, module)))
    resume = check_resume(module, args.resume, module.settings(overrides))
    if resume is not None and str(resume) != args.resume:
        print(f"--resume {args.resume}: continuing from {resume}")
        args.resume = str(resume)
    return module, overrides


def check_agent_io(file_overrides: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """``training.agent_io`` names code (``"module:Name"``, imported in every env runner): it may come from the
    command line (``--set``), not from an overrides file, which is settings; and it must import, here, rather than
    in the env runners once Ray and the model have started."""

    def agent_io(o: Mapping[str, Any]) -> Any:
        training = o.get("training")
        return training.get("agent_io") if isinstance(training, Mapping) else None

    if agent_io(file_overrides) is not None:
        raise ConfigError("the overrides file sets training.agent_io, which names code to import: an overrides file "
                          "is settings; pass it on the command line (--set training.agent_io=MODULE:NAME)")
    spec = agent_io(overrides)
    if isinstance(spec, str):
        from drugenv.training.env_runner import _load_object  # as the env runners will import it

        try:
            _load_object(spec)
        except (ImportError, AttributeError, ValueError) as e:
            raise ConfigError(f"training.agent_io {spec!r} does not import ({type(e).__name__}: {e}); "
                              "expected package.module:Name") from None


def run_dir(args: "TrainArgs", module: Any) -> Path:
    """Where the run writes its files: ``--out``, else ``runs/<config name>``."""
    return Path(args.out) if args.out is not None else Path("runs") / Path(module.__file__).stem


def check_values(module: Any, s: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """Every value in range before Ray or a model starts (``ValueError`` otherwise): the algorithm
    config's own ``validate()``, built with a placeholder model path (the model is only loaded by the
    run), and the driver's keys the config does not hold."""
    with _quiet_config_notice():
        _check_values(module, s, overrides)


@contextlib.contextmanager
def _quiet_config_notice() -> Iterator[None]:
    """Building a config logs RLlib's "new API stack" notice; the run logs it again, so a check that
    builds one keeps it quiet."""
    import logging

    rllib_config_log = logging.getLogger("ray.rllib.algorithms.algorithm_config")
    level = rllib_config_log.level
    rllib_config_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        rllib_config_log.setLevel(level)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# (section, key, test, what it must be): numbers and choices RLlib's validate() does not see, each read only once
# the run is under way (some minutes in, after Ray and the "before" evaluation), and some never failing at all
# (run.eval_max_steps=0 read as "no cap"). A value that is None keeps its default and is not checked.
_AT_LEAST_1 = (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "a whole number >= 1")
_AT_LEAST_0 = (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a whole number >= 0")
_POSITIVE = (lambda v: _is_number(v) and v > 0, "a finite number > 0")
_FRACTION = (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]")
_RANGES: tuple[tuple[str, str, Any, str], ...] = (
    *(("training", k, *_AT_LEAST_1) for k in ("lora_r", "num_epochs", "torch_num_threads", "learner_torch_num_threads",
                                              "max_prompt_tokens", "group_size", "groups_per_iteration", "max_turns",
                                              "max_new_tokens")),
    ("training", "lora_alpha", *_POSITIVE),
    ("training", "lora_target_modules", lambda v: isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(m, str) and m for m in v),
     "a non-empty list of module names"),
    ("training", "lambda_", *_FRACTION),
    # PPO's: its PPOConfig.validate() lets these through and fails (or trains on nothing) later.
    *(("training", k, *_AT_LEAST_1) for k in ("train_batch_size_per_learner", "minibatch_size")),
    *(("training", k, *_POSITIVE) for k in ("lr", "clip_param")),
    ("training", "gamma", lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    ("learners", "num_gpus_per_learner", lambda v: _is_number(v) and v >= 0, "a finite number >= 0"),
    ("env_runners", "num_gpus_per_env_runner", lambda v: _is_number(v) and v >= 0, "a finite number >= 0"),
    *(("run", k, *_AT_LEAST_1) for k in ("eval_max_steps", "eval_batch_size", "eval_max_new_tokens", "eval_max_prompt_tokens",
                                         "select_episodes", "eval_interval", "eval_episodes", "curve_eval_episodes",
                                         "checkpoint_interval")),
    ("env_runners", "num_env_runners", *_AT_LEAST_0),
    ("learners", "num_learners", *_AT_LEAST_0),
    *(("run", k, *_AT_LEAST_0) for k in ("curated_episodes", "twins_episodes")),
    *(("sft", k, *_AT_LEAST_0) for k in ("report_weight", "follow_up_weight", "confident_go_weight",
                                         "select_episodes")),  # 0: no checkpoint selection inside SFT
    *(("sft", k, *_AT_LEAST_1) for k in ("steps", "episodes", "batch_size", "candidates", "select_every",
                                         "select_max_new_tokens", "lora_r")),
    ("sft", "report_episodes", *_AT_LEAST_0),
    ("sft", "lr", *_POSITIVE),
    ("sft", "lora_alpha", *_POSITIVE),
    ("sft", "explore", lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("sft", "warmup", lambda v: _is_number(v) and 0 <= v < 1, "a fraction of the steps in [0, 1)"),
    ("sft", "schedule", lambda v: v in ("constant", "cosine"), "'constant' or 'cosine'"),
)


def _check_ranges(s: Mapping[str, Any]) -> None:
    from drugenv.evaluation.metrics import METRIC_KEYS
    from drugenv.scenarios import SUITES

    run = s.get("run") if isinstance(s.get("run"), Mapping) else {}
    for name, seed in (("seed", s.get("seed")), ("run.eval_seed", run.get("eval_seed")), ("run.select_seed", run.get("select_seed"))):
        if seed is not None:
            validated_seed(seed, name)  # a ConfigError (a ValueError) naming it
    for section, key, ok, what in _RANGES:
        values = s.get(section)
        if isinstance(values, Mapping) and values.get(key) is not None and not ok(values[key]):
            raise ValueError(f"{section}.{key}={values[key]!r} must be {what}")
    sft = s.get("sft") if isinstance(s.get("sft"), Mapping) else {}
    if sft.get("suite") is not None and sft["suite"] not in SUITES:
        raise ValueError(f"sft.suite={sft['suite']!r} is unknown; valid choices are {list(SUITES)}.")
    if sft.get("select_metric") is not None and sft["select_metric"] not in METRIC_KEYS:
        raise ValueError(f"sft.select_metric={sft['select_metric']!r} is unknown; valid choices are {sorted(METRIC_KEYS)}.")
    model = s.get("model")
    if isinstance(model, Mapping) and model.get("fcnet_hiddens") is not None:
        hidden = model["fcnet_hiddens"]
        if not isinstance(hidden, (list, tuple)) or not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in hidden):
            raise ValueError(f"model.fcnet_hiddens={hidden!r} must be a list of layer widths >= 1")
    elif model is not None and not isinstance(model, (str, Mapping)):
        raise ValueError(f"model={model!r} must be a model directory, a hub id or 'tiny'")


def _check_values(module: Any, s: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    from drugenv.scenarios import SUITES

    _check_ranges(s)
    run = s["run"]
    if module.ALGO != "grpo" and int(run["iterations"]) < 1:
        raise ValueError(f"run.iterations={run['iterations']} must be >= 1")
    if int(run["iterations"]) < 0:
        raise ValueError(f"run.iterations={run['iterations']} must be >= 0 (0: the warm start and the evaluations only)")
    if "eval_suite" in s["run"] and s["run"]["eval_suite"] not in SUITES:  # read only by the first evaluation, after Ray starts
        raise ValueError(f"run.eval_suite={s['run']['eval_suite']!r} is unknown; valid choices are {list(SUITES)}.")
    # Training on the held-out split would make every held-out number a training number, without a word.
    from drugenv.scenarios import HELDOUT_SUITES

    for section, key in (("env_config", "suite"), ("training", "scenario_suite"), ("sft", "suite"),
                         ("run", "select_suite")):
        value = (s.get(section) or {}).get(key) if isinstance(s.get(section), Mapping) else None
        if value in HELDOUT_SUITES:
            raise ValueError(f"{section}.{key}={value!r} is the held-out split, which training never sees; "
                             "train and select on procedural-train")
    if "env_config" in s:  # what every env runner builds its envs from: built once here, where a mistake is one line
        from drugenv.gym_envs.vector_env import DrugEnvVector

        try:
            DrugEnvVector(s["env_config"]).close()
        except ConfigError as e:
            raise ValueError(f"env_config: {e}") from None
    if isinstance(s.get("model"), str):
        from drugenv.llm.run_agent import missing_local_path

        if missing_local_path(s["model"]):
            raise ValueError(f"model={s['model']!r} does not exist; pass a model directory, a hub id, or 'tiny'")
        from drugenv.llm.architectures import RANDOM_PREFIX, TINY_SPEC, architecture_names, is_built_spec, is_uncached_hub_id

        name = s["model"]
        if not Path(name).exists() and (name.startswith("tiny") and not is_built_spec(name) or
                                        name.startswith(RANDOM_PREFIX) and name[len(RANDOM_PREFIX):] not in architecture_names()):
            raise ValueError(f"model={name!r} is not a model this package builds: 'tiny', 'tiny:L<layers>H<hidden>', "
                             f"'tiny-qwen' or 'random:<architecture>' ({', '.join(architecture_names())}); "
                             "or pass a model directory or hub id")
        if is_uncached_hub_id(name):
            raise ValueError(f"model={name!r} is not on disk and not in the local Hugging Face cache, and offline "
                             "mode (HF_HUB_OFFLINE=1) downloads nothing; pass a model directory, a cached hub id, "
                             "'tiny' or 'random:<architecture>' (the exact architecture at random init)")
        shape = TINY_SPEC.fullmatch(name)
        if shape and shape.group(1) and not Path(name).exists():
            from drugenv.llm.tiny import tiny_shape_problem

            problem = tiny_shape_problem(int(shape.group(1)), int(shape.group(2)))
            if problem:
                raise ValueError(f"model={name!r}: {problem}")
    if module.ALGO != "grpo":
        activation = (s.get("model") or {}).get("fcnet_activation") if isinstance(s.get("model"), Mapping) else None
        if activation is not None:
            from ray.rllib.models.utils import get_activation_fn

            get_activation_fn(activation, framework="torch")  # its ValueError names the activation
        module.build_config(overrides).validate()
        return
    from drugenv.llm.sft import EXPERTS

    sft = s.get("sft") or {}
    if sft.get("enabled"):
        from drugenv.training.grpo_train import candidate_selection

        candidate_selection(s)  # read only after Ray, the model and the "before" evaluation
    if sft.get("enabled") and sft.get("expert", EXPERTS[0]) not in EXPERTS:
        raise ValueError(f"sft.expert={sft['expert']!r} is unknown; valid choices are {list(EXPERTS)}.")
    for key, choices in (("mode", ("full", "lora")), ("select_by", ("imitation", "rollouts"))):
        if sft.get("enabled") and key in sft and sft[key] not in choices:  # read only once SFT starts, after Ray
            raise ValueError(f"sft.{key}={sft[key]!r} is unknown; valid choices are {list(choices)}.")
    module.build_config(overrides, model_path="(the run's model)").validate()


def _start_ray(num_cpus: int) -> Optional[str]:
    from drugenv.training.configs import init_ray

    return init_ray(num_cpus)


def check_fits_local_ray(module: Any, overrides: Mapping[str, Any]) -> None:
    """The run's actors (env runners, learners) fit the local Ray this command started: asked for more
    CPUs or GPUs than it has, Ray waits for them for ever, without a word. (A cluster's autoscaler may
    add nodes on demand, so a joined cluster is not checked.)"""
    import ray

    from drugenv.training.configs import resource_demand

    with _quiet_config_notice():
        config = module.build_config(overrides, model_path="unused") if module.ALGO == "grpo" else module.build_config(overrides)
    # The driver (and a local learner in it) runs outside Ray's count: only the actors ask Ray.
    need, have = resource_demand(config, driver=False), ray.cluster_resources()
    grpo = module.ALGO == "grpo"
    fixes = {"CPU": "lower env_runners.num_env_runners" + (" (or learners.num_learners)" if grpo else "")
                    + ", or give Ray more with --num-cpus",
             "GPU": "run it where the GPUs are, or on CPU with " + (
                 "training.device=cpu training.dtype=float32 learners.num_gpus_per_learner=0 "
                 "env_runners.num_gpus_per_env_runner=0 (docs/gpu.md)" if grpo else "env_runners.num_gpus_per_env_runner=0")}
    for kind, fix in fixes.items():
        n, got = need.get(kind, 0.0), have.get(kind, 0.0)
        if n > got + 1e-9:
            raise ConfigError(f"the run's actors ({config.num_env_runners} env runners, {config.num_learners} learners) "
                              f"ask the local Ray for {n:g} {kind}{'s' if n != 1 else ''} and it has {got:g}: {fix}")


def train_main(args: TrainArgs) -> dict[str, Any] | int:
    """``drugenv train``: check the arguments, lock the run folder (``run_files.lock_folder``: another run
    writing there is refused before Ray starts), start or join Ray, train."""
    from drugenv.training.run_files import lock_folder

    module, overrides = check_args(args)
    out = run_dir(args, module)
    with lock_folder(out, "--out"):
        return _locked_train_main(args, module, overrides, out)


def _locked_train_main(args: TrainArgs, module: Any, overrides: Mapping[str, Any], out: Path) -> dict[str, Any] | int:
    storage = None
    if args.storage is not None:  # reachable and writable before Ray or a model starts
        from drugenv.storage import RunStorage, shown

        storage = RunStorage.open(args.storage, out.resolve().name)
        print(f"run folder {out} mirrored to {shown(storage.uri)}")
    if not args.progress:
        from drugenv.cli import quiet_library_progress_bars

        quiet_library_progress_bars()
    began = time.time()
    started = _start_ray(args.num_cpus)
    try:
        if started == RAY_STARTED_LOCAL:  # a cluster's autoscaler may yet add the nodes the run asks for
            check_fits_local_ray(module, overrides)
        result = _train(module, overrides, out, args, storage)
    except BaseException as e:
        _stopped(out, began, e)
        raise
    finally:
        if started:
            import ray

            ray.shutdown()
    # The run finished, but its folder is not all in --storage (the last copy failed): the last line, and exit 1 as
    # for any file that could not be written, not a warning amid the output and exit 0 for a copy a user counts on.
    failed = storage.incomplete_copy(out, "drugenv train") if storage is not None else None
    if failed is not None:
        print(failed, file=sys.stderr)
        return 1
    return result


def _stopped(out: Path, began: float, error: BaseException) -> None:
    """Mark the run folder as stopped unfinished (``RunFiles.mark_stopped``) if this command's run started in it, and
    after Ctrl-C or SIGTERM say which checkpoint continues it."""
    from drugenv.llm.checkpoint import newest_checkpoint
    from drugenv.training.run_files import SETTINGS, STOPPED, RunFiles

    try:
        ours = (out / SETTINGS).stat().st_mtime >= began - 1.0  # a run this command started, not an earlier one
    except OSError:
        ours = False
    interrupted = isinstance(error, KeyboardInterrupt)
    if ours:
        why = ("terminated (SIGTERM)" if isinstance(error, Terminated) else "interrupted (Ctrl-C)") if interrupted \
            else f"{type(error).__name__}: {one_line(error)[:200]}"
        try:
            RunFiles.mark_stopped(out, why)
        except OSError as e:  # the disk that stopped the run is full still: the caller re-raises what stopped it
            print(f"{out}: warning: could not write {STOPPED} ({e.strerror or e})", file=sys.stderr)
    if interrupted:
        newest = newest_checkpoint(out)
        print(f"{out}: the run stopped before it finished; " + (f"continue it with --resume {newest}" if newest else
              "it wrote no checkpoint yet"), file=sys.stderr)


def _train(module: Any, overrides: Mapping[str, Any], out: Path, args: TrainArgs, storage: Any) -> dict[str, Any]:
    if module.ALGO == "grpo":
        from drugenv.training.grpo_train import run_grpo

        return run_grpo(module, overrides, out, resume=args.resume, progress=args.progress, use_wandb=args.wandb,
                        storage=storage)
    if module.ALGO == "ppo_vector":
        from drugenv.training.ppo import format_curve, train_ppo

        result = train_ppo(module, overrides, out, progress=args.progress, resume_from=args.resume, use_wandb=args.wandb,
                           storage=storage)
        print(format_curve(result["curve"]))
        return result
    raise ConfigError(f"{module.__file__}: ALGO={module.ALGO!r} is not trainable here (grpo | ppo_vector)")


__all__ = [
    "ADAPTER_SETTINGS", "DEPRECATED_VALUE", "TrainArgs", "check_args", "check_fits_local_ray", "check_knob_types",
    "check_overrides", "check_resume", "check_sft_types", "check_values", "parse_set", "resolve_config", "run_dir",
    "train_main",
]
