"""DrugEnv: drug-target validation as a partially observable RL environment, with Ray RLlib training.

    from drugenv import DrugTargetEnvironment, DrugTargetAction      # in-process
    from drugenv import DrugTargetEnv                                 # OpenEnv client (needs drugenv[server])
    from drugenv import Policy                                        # your own agent, for drugenv eval
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drugenv.actions import ACTION_TABLE, ActionType, EvidenceDimension
from drugenv.agents.base import Policy
from drugenv.errors import ConfigError, DependencyNotInstalled, DrugEnvError, EnvNotResetError, UnknownScenarioError
from drugenv.models import DrugTargetAction, DrugTargetState, EvidenceDossier, IntermediateOutput, ValidationObservation
from drugenv.simulator.environment import DrugTargetEnvironment
from drugenv.simulator.params import RewardConfig, SimParams
from drugenv import provenance as _provenance

# A Ray worker whose drugenv differs from its driver's stops here, before it can mix two versions
# of the code into one run (``drugenv.provenance``); a no-op unless a driver exported its digest.
_provenance.check_same_source()

__version__ = "0.1.0"

if TYPE_CHECKING:  # what __getattr__ returns, for type checkers (at run time the client is imported on first use)
    from drugenv.client import (
        AsyncDrugTargetEnv, CapacityReachedError, DrugTargetEnv, EnvConnectionError, EnvServerError, InvalidRequestError,
        SessionEndedError, StepResult, WrongEventLoopError,
    )

_LAZY = {name: "drugenv.client" for name in (
    "AsyncDrugTargetEnv", "CapacityReachedError", "DrugTargetEnv", "EnvConnectionError", "EnvServerError",
    "InvalidRequestError", "SessionEndedError", "StepResult", "WrongEventLoopError")}


def __getattr__(name: str) -> Any:
    # The client pulls in httpx/websockets; import it only when asked for.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'drugenv' has no attribute {name!r}")


def __dir__() -> list[str]:
    # What tab completion offers: the public names, the lazily imported client's among them (a module's own dir()
    # lists only what is loaded, and its imports: Any, TYPE_CHECKING).
    return sorted({*__all__, "__version__"} | {name for name in globals() if name.startswith("__")})


__all__ = sorted([
    "ACTION_TABLE", "ActionType", "AsyncDrugTargetEnv", "CapacityReachedError", "ConfigError", "DependencyNotInstalled", "DrugEnvError", "DrugTargetAction",
    "DrugTargetEnv", "DrugTargetEnvironment", "DrugTargetState", "EnvConnectionError", "EnvNotResetError", "EnvServerError",
    "EvidenceDimension",
    "EvidenceDossier", "IntermediateOutput", "InvalidRequestError", "Policy", "RewardConfig", "SessionEndedError", "SimParams", "StepResult", "UnknownScenarioError",
    "ValidationObservation", "WrongEventLoopError",
])
