"""The agent registry: an ``--agent`` string to a ``Policy``.

``drugenv eval --agent``, the dashboard's "play an episode" form and anything else that names agents
by string go through ``make_policy``:

| spec               | policy                                                                          |
|--------------------|---------------------------------------------------------------------------------|
| ``random``, ``heuristic``, ``expression_only``, ``oracle`` | the baselines (``agents.baselines.BASELINES``) |
| ``hf``             | ``HFPolicy`` of ``--model`` / ``$RUN_AGENT_MODEL_ID`` (``llm.run_agent.make_hf_policy``) |
| ``checkpoint:PATH``| a GRPO checkpoint (``llm.checkpoint``) or a PPO checkpoint (``training.ppo``)    |
| ``serve:URL``      | an agent over HTTP answering ``POST URL/act``: the Serve agent app, or yours (``agents.remote``) |
| ``trl:PATH``       | a model trained through TRL's ``GRPOTrainer`` with ``DrugTargetToolEnv`` (``integrations.trl_policy``) |
| ``MODULE:NAME``, ``FILE.py:NAME`` | your own ``Policy`` (``import_policy``; only where ``allow_import``) |

This module sits above ``agents/``, ``llm/`` and ``training/`` and imports each lazily, so a
baseline needs neither torch nor Ray.

Your own agent is imported only where the caller says so (``allow_import=True``: ``drugenv eval``,
whose user runs their own code anyway). The dashboard's "play an episode" form takes an agent name
over HTTP and leaves it False: a name from a request never imports a module.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any, Optional

from drugenv.agents import remote
from drugenv.agents.base import Policy
from drugenv.errors import ConfigError
from drugenv.extras import missing_extra

TRL_PREFIX = "trl:"
"""``--agent trl:PATH``."""
BUILTIN_PREFIXES = ("checkpoint:", remote.PREFIX, TRL_PREFIX)
"""``--agent`` strings with a colon that name no import (``checkpoint:PATH``, ``serve:URL``, ``trl:PATH``)."""


def load_checkpoint_policy(path: str | Path, **kwargs: Any) -> Policy:
    """``--agent checkpoint:PATH``: a GRPO checkpoint as a greedy ``HFPolicy``, a PPO checkpoint as its RLModule."""
    from drugenv.llm.checkpoint import is_grpo_checkpoint, load_grpo_checkpoint_policy, require_existing, resolve_checkpoint_dir

    p = resolve_checkpoint_dir(require_existing(path))  # a run's folder: its checkpoint_final
    if is_grpo_checkpoint(p):
        return load_grpo_checkpoint_policy(p, **kwargs)
    from drugenv.training.ppo import is_ppo_checkpoint, load_ppo_checkpoint_policy

    if is_ppo_checkpoint(p):
        return load_ppo_checkpoint_policy(p, **kwargs)
    raise ConfigError(f"{path} is neither a DrugEnv GRPO checkpoint (no drugenv_checkpoint.json with algo 'grpo') nor an RLlib PPO checkpoint; "
                      "pass a checkpoint_* directory of a drugenv train run")


def load_trl_policy(path: str, *, seed: int = 0, **kwargs: Any) -> Policy:
    """``--agent trl:PATH``: a model TRL trained through ``DrugTargetToolEnv`` (a model folder, or a peft adapter's,
    whose base its ``adapter_config.json`` names), as ``ToolCallingPolicy`` plays it; ``--extra`` sets its
    keywords (``max_completion_length``, ``max_tool_calling_iterations``, ``temperature``, ``device``...)."""
    folder = Path(path).expanduser()
    if not str(path).strip() or not folder.is_dir():
        raise ConfigError(f"trl:PATH: {path!r} is not a folder; pass the output folder (or a checkpoint-N folder in it) "
                          "that TRL's GRPOTrainer saved")
    if not ((folder / "config.json").is_file() or (folder / "adapter_config.json").is_file()):
        raise ConfigError(f"trl:PATH: {path!r} holds no model (no config.json, no adapter_config.json); pass the folder "
                          "TRL's GRPOTrainer saved the model or its adapter in")
    try:
        importlib.import_module("trl")  # ToolCallingPolicy plays the model with TRL's own parser and templates
    except ModuleNotFoundError as e:  # a DrugEnvError: one line from the CLI, a 400 from the dashboard's form
        missing = missing_extra(e, "train")
        if missing is None:
            raise
        raise missing from None
    from drugenv.integrations.trl_policy import ToolCallingPolicy

    takes = {name for fn, skip in ((ToolCallingPolicy.from_pretrained, {"model", "kwargs"}),
                                   (ToolCallingPolicy.__init__, {"self", "model", "tokenizer"}))
             for name in inspect.signature(fn).parameters if name not in skip}
    unknown = sorted(set(kwargs) - takes)
    if unknown:
        raise ConfigError(f"agent trl:PATH does not take --extra {', '.join(unknown)}; it takes {', '.join(sorted(takes - {'seed'}))}")
    return ToolCallingPolicy.from_pretrained(path, seed=seed, **kwargs)


def is_import_spec(spec: str) -> bool:
    """``MODULE:NAME`` or ``FILE.py:NAME`` (a colon, and none of ``BUILTIN_PREFIXES``)."""
    return ":" in spec and not spec.startswith(BUILTIN_PREFIXES)


def _import_module(target: str, spec: str) -> Any:
    """The module ``target`` names: a ``.py`` file (its folder goes first on ``sys.path``, as when it is
    run as a script, so it imports its neighbours) or a dotted module, looked up from the current folder
    first, as ``python -m`` and ``uvicorn module:app`` do."""
    if target.endswith(".py") or "/" in target:
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"--agent {spec}: no such file {target!r} (FILE.py:NAME names a Python file)")
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        name = f"drugenv_agent_{path.stem}"  # not the file's own name: agent.py must not shadow another 'agent'
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ConfigError(f"--agent {spec}: {target!r} cannot be imported as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # before it runs: dataclasses and pickle look classes up by module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as e:
        # Only the module the spec names (or a package above it) is the user's mistake; a module that
        # *their* code imports and lacks is a defect in it, and keeps its traceback.
        if e.name is None or not (target == e.name or target.startswith(e.name + ".")):
            raise
        raise ConfigError(f"--agent {spec}: no module named {e.name!r} (from {Path.cwd()}); run from the folder "
                          "that holds it, or name the file: --agent path/to/agent.py:NAME") from None


def _takes(fn: Any, kwargs: dict[str, Any], spec: str) -> None:
    """``kwargs`` fit ``fn``'s signature, or ``ConfigError`` (checked before the call, so a ``TypeError``
    raised inside the user's own constructor keeps its traceback)."""
    try:
        inspect.signature(fn).bind(**kwargs)
    except TypeError as e:
        given = f" --extra {', '.join(sorted(kwargs))}" if kwargs else " no arguments"
        raise ConfigError(f"--agent {spec} cannot be called with{given}: {e}") from None
    except ValueError:  # no signature to read (a builtin): let the call say
        pass


def import_policy(spec: str, *, seed: int = 0, **kwargs: Any) -> Policy:
    """Your own agent: ``MODULE:NAME`` or ``FILE.py:NAME``, where ``NAME`` (dots reach into it) is

    - a ``Policy`` subclass: built with ``kwargs`` (``--extra``), and ``seed=seed`` if it takes a ``seed``;
    - a function returning a ``Policy``: called the same way;
    - a ``Policy`` instance: used as it is (it takes no ``kwargs``).

    Every mistake in the spec is a one-line ``ConfigError``; an exception raised by the agent's own code
    (importing it, building it) is the agent's, and propagates with its traceback.
    """
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise ConfigError(f"--agent {spec}: expected MODULE:NAME or FILE.py:NAME, e.g. my_agents:MyPolicy")
    obj = _import_module(target, spec)
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n in dir(obj) if not n.startswith("_"))[:20]
            raise ConfigError(f"--agent {spec}: {target} has no {attr!r} (it has: {', '.join(public) or 'nothing public'})")
        obj = getattr(obj, part)
    if isinstance(obj, Policy):
        if kwargs:
            raise ConfigError(f"--agent {spec} is a Policy instance, built already: it takes no --extra {', '.join(sorted(kwargs))}")
        return obj
    is_class = isinstance(obj, type)
    if not callable(obj) or (is_class and not issubclass(obj, Policy)):
        raise ConfigError(f"--agent {spec} is {type(obj).__name__ if not is_class else 'the class ' + obj.__name__}, "
                          "not a drugenv Policy: subclass drugenv.Policy (reset and act), or name a function that returns one")
    if is_class and inspect.isabstract(obj):
        missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
        raise ConfigError(f"--agent {spec}: {obj.__name__} does not define {missing} (abstract in drugenv.Policy)")
    try:
        takes_seed = "seed" in inspect.signature(obj).parameters
    except ValueError:
        takes_seed = False
    if takes_seed and "seed" not in kwargs:
        kwargs = {"seed": seed, **kwargs}
    _takes(obj, kwargs, spec)
    policy = obj(**kwargs)
    if not isinstance(policy, Policy):
        raise ConfigError(f"--agent {spec} returned {type(policy).__name__}, not a drugenv Policy")
    return policy


def make_policy(spec: str, *, model: Optional[str] = None, adapter: Optional[str] = None, seed: int = 0,
                allow_import: bool = False, **kwargs: Any) -> Policy:
    """Build a policy from an ``--agent`` string (see the module docstring); ``UnknownScenarioError`` for others.

    ``allow_import`` lets ``MODULE:NAME`` / ``FILE.py:NAME`` import and build your own agent (``import_policy``);
    without it such a string is an unknown agent, and nothing is imported.
    """
    from drugenv.agents.baselines import BASELINES, RandomPolicy

    if not isinstance(spec, str):  # None and 5 were AttributeErrors ('startswith')
        raise ConfigError(f"an agent is named by a string (e.g. 'heuristic', 'checkpoint:PATH'), got {spec!r:.40}")
    if spec in BASELINES:
        cls = BASELINES[spec]
        try:
            # BASELINES maps to type[Policy], whose constructor takes no seed: the random baseline is named as itself
            return RandomPolicy(seed=seed, **kwargs) if spec == "random" else cls(**kwargs)
        except TypeError as e:  # an --extra key the agent does not take (or takes from another flag)
            raise ConfigError(f"agent {spec!r} does not take --extra {', '.join(sorted(kwargs))}: {e}") from None
    if spec == "hf":
        import os

        from drugenv.llm.run_agent import MODEL_ENV_VAR, make_hf_policy

        # Same precedence as run-agent: --model, else $RUN_AGENT_MODEL_ID; "tiny" builds the offline model.
        if not (model or os.environ.get(MODEL_ENV_VAR)):
            raise ConfigError(f"--agent hf needs a model: pass --model PATH_OR_HUB_ID (or set ${MODEL_ENV_VAR}), "
                              "e.g. --model tiny for the offline tiny model")
        takes = [n for n, p in inspect.signature(make_hf_policy).parameters.items() if p.kind is p.KEYWORD_ONLY and n != "seed"]
        unknown = sorted(set(kwargs) - set(takes))
        if unknown:
            raise ConfigError(f"agent 'hf' does not take --extra {', '.join(unknown)}; it takes {', '.join(takes)}")
        # --seed seeds the sampling too: each completion from (seed, its episode, its step), so the same seed gives
        # the same episodes and the same completions at any --batch-size (llm.policy.row_seed).
        return make_hf_policy(model, adapter, seed=seed, **kwargs)  # a model that cannot be loaded is a ConfigError there
    if spec.startswith("checkpoint:"):
        return load_checkpoint_policy(spec.split(":", 1)[1], **kwargs)
    if spec.startswith(remote.PREFIX):
        try:
            inspect.signature(remote.RemoteAgentPolicy).bind(spec, **kwargs)
        except TypeError as e:
            raise ConfigError(f"agent serve:URL does not take --extra {', '.join(sorted(kwargs))}: {e}") from None
        return remote.RemoteAgentPolicy(spec, **kwargs)
    if spec.startswith(TRL_PREFIX):
        return load_trl_policy(spec[len(TRL_PREFIX):], seed=seed, **kwargs)
    if allow_import and is_import_spec(spec):
        return import_policy(spec, seed=seed, **kwargs)
    from drugenv.errors import UnknownScenarioError

    raise UnknownScenarioError(spec, [*BASELINES, "hf", "checkpoint:PATH", "serve:URL", "trl:PATH", *(["MODULE:NAME", "FILE.py:NAME"] if allow_import else [])],
                               kind="agent")


__all__ = ["BUILTIN_PREFIXES", "TRL_PREFIX", "import_policy", "is_import_spec", "load_checkpoint_policy", "load_trl_policy",
           "make_policy"]
