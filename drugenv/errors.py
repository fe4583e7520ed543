"""DrugEnv's exceptions. Messages give the value, what was expected, and the likely fix.

    DrugEnvError
     ├── UnknownScenarioError      a name that does not exist: a scenario, suite, agent or gene/indication pair
     ├── EnvNotResetError          step(), outcome() or oracle_view() before reset() (state is then empty)
     ├── EpisodeNotFinishedError   outcome() while the episode is still running
     ├── DependencyNotInstalled    an optional extra (torch, ray, fastapi, ...) is missing
     ├── SourceMismatchError       a worker process imported other DrugEnv source than its driver
     ├── RemoteAgentError          an agent over HTTP (serve:URL) did not answer, or not as POST /act answers
     └── ConfigError (ValueError)  a configuration value clashes with another or is out of range

    KeyboardInterrupt
     └── Terminated                SIGTERM, raised in a Ray driver's main thread as Ctrl-C raises KeyboardInterrupt

Every error pickles (``__reduce__``), so it crosses Ray task, actor and Serve handle boundaries intact.

Malformed *actions* never raise: they become ``invalid_action`` rule violations (see
``drugenv.simulator.rules``), so an agent's bad output costs reward, not the episode.
"""

from __future__ import annotations

import operator
from typing import Iterable


class DrugEnvError(Exception):
    """Base class of every DrugEnv error."""


class UnknownScenarioError(DrugEnvError, KeyError):
    """Raised when a name is not known: a scenario, suite, agent (``drugenv eval --agent``) or gene/indication pair."""

    def __init__(self, name: object, valid: Iterable[str], kind: str = "scenario"):
        self.name, self.valid, self.kind = name, tuple(valid), kind
        super().__init__(f"unknown {kind} {name!r}; expected one of: {', '.join(self.valid)}")

    def __reduce__(self) -> tuple:
        return type(self), (self.name, self.valid, self.kind)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class EnvNotResetError(DrugEnvError, RuntimeError):
    """Raised when the environment is used before ``reset()``; ``call`` names what was called."""

    def __init__(self, call: str = "step()") -> None:
        self.call = call
        super().__init__(f"call reset() before {call}")

    def __reduce__(self) -> tuple:
        return type(self), (self.call,)


class EpisodeNotFinishedError(DrugEnvError, RuntimeError):
    """Raised when ``outcome()`` is asked for before the episode has ended (the truth is revealed only at the end)."""

    def __init__(self) -> None:
        super().__init__("outcome() is available once the episode is done: submit a report, or run out of credits or steps")

    def __reduce__(self) -> tuple:
        return type(self), ()


class DependencyNotInstalled(DrugEnvError, ImportError):
    """Raised when an optional dependency is needed but missing; the message has the pip command."""

    def __init__(self, package: str, extra: str):
        self.package, self.extra = package, extra
        super().__init__(f"{package} is not installed; install it with: pip install 'drugenv[{extra}]'")

    def __reduce__(self) -> tuple:
        return type(self), (self.package, self.extra)


class SourceMismatchError(DrugEnvError, RuntimeError):
    """Raised when a process (a Ray worker) imports DrugEnv source that differs from its driver's
    (``drugenv.provenance``): the run would silently mix two versions of the code."""

    def __init__(self, expected: str, found: str, location: str):
        self.expected, self.found, self.location = expected, found, location
        super().__init__(
            f"this process imported drugenv from {location} (source digest {found}), but the process that "
            f"started it runs source digest {expected}; a PYTHONPATH or an editable install points the two at "
            "different checkouts, or the source changed while the run was going. Run from one checkout "
            "(unset PYTHONPATH, `pip install -e .` there) and do not edit it during a run.")

    def __reduce__(self) -> tuple:
        return type(self), (self.expected, self.found, self.location)


class RemoteAgentError(DrugEnvError, RuntimeError):
    """Raised when an agent over HTTP (``serve:URL``, ``drugenv.agents.remote``) cannot be reached, refuses an
    observation, or answers outside the ``POST /act`` contract; ``reason`` says which."""

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"the agent at {url}: {reason}")

    def __reduce__(self) -> tuple:
        return type(self), (self.url, self.reason)


class ConfigError(DrugEnvError, ValueError):
    """Raised when configuration values clash or are out of range."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's or ``kill``'s stop) in a command (``drugenv.cli.stop_on_sigterm``, which ``run_command``
    calls): it unwinds through the ``finally`` blocks as Ctrl-C does, and the CLI exits 143 where Ctrl-C exits 130."""


def whole_number(value: object, name: str, *, at_least: int = 1) -> int:
    """``value`` as a count: a Python or numpy integer (not a bool) of at least ``at_least``, else a
    ``ConfigError`` naming ``name`` (a batch size of -1 played no episode and reported NaN, 2.5 was a bare
    TypeError, 0 a ZeroDivisionError)."""
    try:
        if isinstance(value, bool) or type(value).__name__ == "bool_":  # numpy's bool, without importing numpy here
            raise TypeError
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ConfigError(f"{name} must be a whole number >= {at_least}, got {value!r:.60} ({type(value).__name__})") from None
    if number < at_least:
        raise ConfigError(f"{name} must be a whole number >= {at_least}, got {number}")
    return number


__all__ = ["ConfigError", "DependencyNotInstalled", "DrugEnvError", "EnvNotResetError", "EpisodeNotFinishedError",
           "RemoteAgentError", "SourceMismatchError", "Terminated", "UnknownScenarioError", "whole_number"]
