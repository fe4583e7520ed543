"""The public side of an episode: bookkeeping the agent could keep itself, and the outcome revealed at the end.

An episode's state is split in two (``DrugTargetEnvironment`` holds one of each):

| part                          | module                  | what                                              | who reads it                         |
|-------------------------------|-------------------------|---------------------------------------------------|--------------------------------------|
| ``EpisodeBook`` (public)      | this one                | credits, what was run, redundancy, prerequisites  | rules, transitions, every step reward |
| ``FullLatentState`` (secret)  | ``simulator/latent.py`` | profile, data quality, world seed, key coverage   | transitions, evidence, terminal reward |

Everything here is a function of the agent's own actions and the public rules, so anything
computed from it (step rewards, ``state``) tells the agent nothing it could not know.
``EpisodeOutcome`` is the one channel through which the truth leaves the simulator, and only
once the episode is over: evaluation, SFT data and the gym wrappers' ``success`` read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from drugenv.actions import EvidenceDimension


@dataclass
class CreditState:
    """Credits of the episode (mutable)."""

    total: int
    """Budget at reset, credits."""
    used: int = 0
    """Spent so far, credits."""

    @property
    def remaining(self) -> int:
        return self.total - self.used


@dataclass
class ValidationProgress:
    """Which dimensions were investigated, and with which parameters (mutable)."""

    investigated: set[EvidenceDimension] = field(default_factory=set)
    calls: set[tuple[str, str]] = field(default_factory=set)
    """(action, canonical params) of executed actions."""
    measurements: set[tuple[str, str]] = field(default_factory=set)
    """``evidence.public_measurement`` of each evidence step: what coherence counts once."""
    redundant_calls: int = 0
    prereq_checked: int = 0
    prereq_satisfied: int = 0
    evidence_calls: int = 0
    report_submitted: bool = False


@dataclass
class EpisodeBook:
    """Public bookkeeping of one episode: what the agent did and what it cost.

    Plain dataclasses, not pydantic models: the simulator updates them several times a step and
    never serializes them (pydantic's attribute assignment cost ~1 µs each).
    """

    credits: CreditState
    difficulty: str
    """Tier of the scenario (public: the agent may request it)."""
    max_steps: int
    """Step cap (truncation), steps."""
    progress: ValidationProgress = field(default_factory=ValidationProgress)


class EpisodeOutcome(BaseModel):
    """How a finished episode turned out, truth included. Only available once ``done``.

    Read by evaluation (accuracy, coverage), SFT data selection and the gym wrappers' ``success``
    flag; never sent by the server (a client sees the terminal reward, which already scores the decision).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    termination_reason: Literal["report_submitted", "credits_exhausted", "step_limit"]
    decision: Optional[Literal["go", "no_go"]] = Field(None, description="The submitted decision (None: no report).")
    confidence: Optional[float] = Field(None, description="The submitted confidence in the decision, [0, 1].")
    correct_decision: Literal["go", "no_go"]
    decision_correct: Optional[bool] = Field(None, description="decision == correct_decision (None: no report).")
    key_evidence_coverage: float = Field(..., ge=0, le=1, description="Fraction of the scenario's key dimensions covered.")
    difficulty: str
    credits_used: int
    steps: int


__all__ = ["CreditState", "EpisodeBook", "EpisodeOutcome", "ValidationProgress"]
