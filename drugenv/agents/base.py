"""The one policy interface every agent implements: batched ``act(observations) -> actions``.

Baselines, the LLM policy and the trained checkpoints all sit behind it, so evaluation, the
server demo and GRPO rollouts treat them alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Mapping, Optional, Sequence, Union

from drugenv.models import DrugTargetAction, ValidationObservation

PolicyAction = Union[DrugTargetAction, Mapping[str, Any], None]
"""What ``Policy.act`` may return for a slot: an action, a dict of its fields (validated by the environment),
or anything (None) for a slot whose episode has ended."""


class Policy(ABC):
    """A batched policy: subclass it to bring your own agent (``drugenv eval --agent FILE.py:NAME``).

    ``reset(batch_size, seeds)`` starts new episodes for each slot of the batch; ``act`` maps one
    observation per slot to one action per slot, in order. Slots are independent episodes. A slot
    whose episode has ended stays in the batch (its observation's ``done`` is True) until the whole
    batch has: return any action for it, which is ignored. ``seeds`` are the episodes' seeds, for a
    policy that draws at random and should replay. An action may be a ``DrugTargetAction`` or a dict
    (a malformed one is a penalised, blocked step, as in ``DrugTargetEnvironment.step``).
    """

    name: str = "policy"
    needs_truth: bool = False
    """True only for the oracle: every episode loop then calls ``brief(policy, slot, env)`` after each reset."""

    def reset(self, batch_size: int = 1, seeds: Optional[Sequence[int]] = None) -> None:
        """Start ``batch_size`` fresh episodes (default: no state to clear)."""

    def observe_truth(self, slot: int, truth: Any) -> None:  # pragma: no cover - only the oracle
        raise NotImplementedError(f"{type(self).__name__} does not read the hidden truth")

    @abstractmethod
    def act(self, observations: Sequence[ValidationObservation]) -> Sequence[PolicyAction]:
        """One action per observation."""


def brief(policy: Policy, slot: int, env: Any) -> None:
    """Tell an oracle policy the truth of the episode just reset in ``env`` (no-op for every other policy).

    The one place the truth reaches an agent: ``tests/simulator/test_hidden.py`` checks that
    nothing else calls ``oracle_view()``, so only a policy that declares ``needs_truth`` sees it.
    """
    if policy.needs_truth:
        policy.observe_truth(slot, env.oracle_view())


__all__ = ["Policy", "PolicyAction", "brief"]
