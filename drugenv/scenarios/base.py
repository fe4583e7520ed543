"""A scenario: the hidden profile plus the episode's instrument quality and budget.

Scenarios are hidden truth (they hold a ``TargetProfile``); only the environment unpacks them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from drugenv.simulator.latent import DataQualityState, TargetProfile
from drugenv.simulator.params import Difficulty


class Scenario(BaseModel):
    """Everything needed to start an episode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario_id: str = Field(..., description="Opaque id; curated names are never shown to the agent.")
    difficulty: Difficulty
    profile: TargetProfile
    quality: DataQualityState
    credits: int = Field(..., gt=0, description="Credit budget, credits.")


__all__ = ["Scenario"]
