"""Simulator constants and reward weights: one place each, every field with its unit.

``RewardConfig`` is what Tune sweeps; ``SimParams`` fixes episode limits per difficulty tier.
"""

from __future__ import annotations

import math
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Difficulty = Literal["easy", "medium", "hard", "very_hard"]
DIFFICULTIES: tuple[str, ...] = get_args(Difficulty)


MAX_WEIGHT = 1e6
"""The largest reward weight or penalty: far above any a sweep tries, far below what makes a return overflow."""


class RewardConfig(BaseModel):
    """Every reward weight. Step reward (summed; penalties enter with a minus sign)::

        r_t = novelty_bonus·[new dimension] + coherence_bonus·[new measurement, soft prerequisites met]
              − credit_cost_weight·cost/credits_total − Σ violation penalties
              + shaping_weight·(Φ(s_{t+1}) − Φ(s_t)),   Φ = fraction of the 5 public gates inspected

    Every step term is computed from public quantities only (the agent's own actions and the
    rules). The spec names Φ without defining it; DrugEnv's first Φ counted the scenario's hidden key
    dimensions, which made the step reward a side channel to the answer (``simulator/reward.py``
    explains). Key-dimension coverage is paid in the terminal reward, once the episode is over.

    Terminal reward (added on the last step)::

        R_T = w_decision·decision_accuracy + w_coverage·evidence_coverage
              + w_efficiency·credit_efficiency + w_coherence·reasoning_coherence − hard penalties

    credit_efficiency = 1 − redundant / calls over the calls that gather evidence (0 with none): the
    spec's "total calls" would count red-flag notes, the report and blocked steps, which gather
    nothing. reasoning_coherence = the fraction, among the measurements made by evidence calls that have
    a soft prerequisite, whose prerequisite was met (1 with none): the spec's "fraction of actions whose
    soft prerequisites were satisfied" read literally counts every call without one as satisfied, so
    cheap queries would dilute a skipped prerequisite; a measurement (``evidence.public_measurement``)
    counts once, and earns the step's coherence bonus once, however it is worded.
    Every weight and penalty is a finite number in [0, ``MAX_WEIGHT``] (a NaN or an infinity made every reward
    NaN; a weight of 1e308 is finite, but the sums it enters overflowed to an infinite return).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    novelty_bonus: float = Field(0.05, ge=0, description="Per step that investigates a dimension for the first time.")
    coherence_bonus: float = Field(0.02, ge=0, description="Per evidence step making a new measurement whose soft prerequisites were met.")
    credit_cost_weight: float = Field(0.1, ge=0, description="Penalty per fraction of the budget spent (cost / credits_total).")
    soft_violation_penalty: float = Field(0.05, ge=0, description="Per soft-rule violation (redundant, prerequisite).")
    hard_violation_penalty: float = Field(0.1, ge=0, description="Per blocked action (unaffordable, invalid, after done, a report without a decision).")
    shaping: bool = Field(True, description="Add potential-based shaping over the public gates inspected.")
    shaping_weight: float = Field(0.2, ge=0, description="Scale of the potential Φ (its range is [0, shaping_weight]).")
    w_decision: float = Field(0.40, ge=0, description="Terminal weight of decision accuracy.")
    w_coverage: float = Field(0.35, ge=0, description="Terminal weight of key-evidence coverage.")
    w_efficiency: float = Field(0.15, ge=0, description="Terminal weight of credit efficiency (1 − redundant/evidence calls).")
    w_coherence: float = Field(0.10, ge=0, description="Terminal weight of reasoning coherence (of the calls with a soft prerequisite, the fraction that met it).")
    decision_scoring: Literal["linear", "brier"] = Field(
        "linear",
        description="linear (the spec's): ±2·|confidence − 0.5|, rewards over-confidence; "
        "brier (proper): 1 − 2·(p_go − y)², maximised in expectation by the true probability.",
    )
    no_evidence_penalty: float = Field(1.0, ge=0, description="Submitting a report with no evidence gathered.")
    missing_decision_penalty: float = Field(0.5, ge=0, description="A report without final_decision or confidence (refused: "
                                              "added to the blocked action's hard_violation_penalty).")
    no_report_penalty: float = Field(1.0, ge=0, description="Episode ended (credits exhausted or step limit) with no report.")

    @model_validator(mode="after")
    def _weights_fit_a_sum(self) -> "RewardConfig":
        big = {name: value for name, value in self if isinstance(value, float) and value > MAX_WEIGHT}
        if big:
            raise ValueError(f"reward weights must be at most {MAX_WEIGHT:g} (a return sums them); got {big}")
        return self


class SimParams(BaseModel):
    """Episode limits and instrument noise by difficulty tier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_steps: int = Field(30, ge=1, description="Step cap (truncation), steps.")
    credits: dict[str, int] = Field(
        default_factory=lambda: {"easy": 30, "medium": 35, "hard": 40, "very_hard": 45},
        description="Credit budget by difficulty, credits.",
    )
    noise_level: dict[str, float] = Field(
        default_factory=lambda: {"easy": 0.08, "medium": 0.15, "hard": 0.22, "very_hard": 0.25},
        description="Relative readout noise SD by difficulty.",
    )
    false_rate: dict[str, float] = Field(
        default_factory=lambda: {"easy": 0.02, "medium": 0.05, "hard": 0.08, "very_hard": 0.1},
        description="False-positive and false-negative rate of categorical flags by difficulty.",
    )

    @field_validator("credits", "noise_level", "false_rate", mode="before")
    @classmethod
    def _every_tier(cls, value: Any, info: Any) -> Any:
        """A partial dict sets only its tiers (the others keep their defaults), so ``{"easy": 25}``
        cannot fail later at the first reset of another tier; unknown tiers are refused."""
        if not isinstance(value, dict):
            return value
        unknown = sorted(set(value) - set(DIFFICULTIES), key=str)
        if unknown:
            raise ValueError(f"unknown difficulty tiers {unknown}; expected some of {list(DIFFICULTIES)}")
        return {**cls.model_fields[info.field_name].default_factory(), **value}

    @field_validator("credits", "noise_level", "false_rate")
    @classmethod
    def _in_range(cls, value: dict, info: Any) -> dict:
        low, high = {"credits": (1, None), "noise_level": (0, 1), "false_rate": (0, 1)}[info.field_name]
        bad = {tier: v for tier, v in value.items() if not (math.isfinite(v) and v >= low and (high is None or v <= high))}
        if bad:
            span = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise ValueError(f"every tier's value must be a finite number {span}; got {bad}")
        return value


__all__ = ["DIFFICULTIES", "Difficulty", "MAX_WEIGHT", "RewardConfig", "SimParams"]
