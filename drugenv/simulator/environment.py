"""``DrugTargetEnvironment``: the framework-free core (OpenEnv shape: reset / step / state)."""

from __future__ import annotations

import uuid
from typing import Any, Mapping, Optional, Union

import numpy as np

from drugenv.actions import ACTION_TABLE, ActionType
from drugenv.errors import EnvNotResetError
from drugenv.models import (
    DrugTargetAction,
    DrugTargetState,
    Finding,
    HistoryEntry,
    IntermediateOutput,
    RuleViolation,
    ValidationObservation,
)
from drugenv.scenarios import Scenario, make_scenario
from drugenv.simulator import reward as reward_engine
from drugenv.simulator import rules, transitions
from drugenv.simulator.latent import CreditState, FullLatentState
from drugenv.simulator.params import RewardConfig, SimParams


class DrugTargetEnvironment:
    """Drug-target validation as a POMDP.

    ## Description
    The agent is a computational drug-discovery scientist. Given a target gene and an indication,
    it spends a credit budget on simulated queries whose noisy outputs are drawn from a hidden
    ``TargetProfile``, and ends the episode with a go / no-go report and a confidence.

    ## Action Space
    ``DrugTargetAction`` (or a dict of the same shape). The action table, with costs, dimensions and
    soft prerequisites, is ``drugenv.actions.ACTION_TABLE`` (22 ids; see its module docstring).
    ``submit_validation_report`` also needs ``final_decision`` ("go" | "no_go") and ``confidence`` in [0, 1].

    ## Observation Space
    ``ValidationObservation``:

    | key                   | type                 | range / shape                             |
    |-----------------------|----------------------|-------------------------------------------|
    | target_gene           | str                  | e.g. "EGFR"                               |
    | disease_context       | str                  |                                           |
    | indication            | str                  |                                           |
    | credits_remaining     | int                  | [0, credits_total]                        |
    | credits_total         | int                  | 30-45 by difficulty                       |
    | step_count, max_steps | int                  | [0, max_steps]                            |
    | dossier               | EvidenceDossier      | findings by section + flagged_red_flags   |
    | pipeline_history      | list[HistoryEntry]   | one per past step                         |
    | latest_output         | IntermediateOutput   | status ok / no_data / blocked / info      |
    | rule_violations       | list[RuleViolation]  | of the last step                          |
    | step_reward_breakdown | dict[str, float]     | signed terms, sum = reward                |
    | legal_actions         | list[ActionType]     | affordable actions now                    |
    | done, reward          | bool, float          |                                           |

    ## Rewards
    Step: ``novelty + coherence − credit_cost − violations + (Φ(s') − Φ(s))``; terminal (added on
    the last step): ``0.40·decision_accuracy + 0.35·evidence_coverage + 0.15·credit_efficiency +
    0.10·reasoning_coherence`` minus hard penalties (no evidence, no report). Weights and the
    decision scoring rule (linear | brier) are in ``RewardConfig``.

    ## Starting State
    ``reset(seed=s)`` builds the scenario (curated by name, or procedural from the seed) and draws
    all noise from per-query RNGs derived from ``s``: the same seed gives the same episode.

    ## Episode End
    - Termination: a report is submitted.
    - Termination: credits reach 0 without a report (no-report penalty).
    - Truncation: ``max_steps`` steps without a report (no-report penalty). ``metadata["truncated"]`` is set.

    ## Arguments
    | argument      | default        | meaning                               |
    |---------------|----------------|---------------------------------------|
    | reward_config | RewardConfig() | reward weights and decision scoring   |
    | sim_params    | SimParams()    | step cap, budgets and noise per tier  |

    ## Version History
    - v0: initial release.

    >>> env = DrugTargetEnvironment()
    >>> obs = env.reset(seed=0, scenario="egfr_nsclc_viable")
    >>> obs.target_gene, obs.credits_remaining
    ('EGFR', 30)
    """

    def __init__(self, reward_config: Optional[RewardConfig] = None, sim_params: Optional[SimParams] = None):
        self.reward_config = reward_config or RewardConfig()
        self.sim_params = sim_params or SimParams()
        self._latent: Optional[FullLatentState] = None
        self._obs: Optional[ValidationObservation] = None
        self._episode_id: Optional[str] = None
        self._cum_reward = 0.0
        self._termination: Optional[str] = None
        self.last_info: dict[str, Any] = {}

    # ------------------------------------------------------------------ API
    def reset(
        self,
        seed: Optional[int] = None,
        episode_id: Optional[str] = None,
        scenario: Optional[Union[str, Scenario]] = None,
        difficulty: Optional[str] = None,
    ) -> ValidationObservation:
        """Start an episode. ``seed=None`` draws a fresh seed; ``scenario`` is a curated name,
        ``"procedural"`` (default) or a ``Scenario``; ``difficulty`` picks the procedural tier."""
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2**31 - 1))
        seed = int(seed)
        sc = make_scenario(scenario, seed, difficulty, self.sim_params)
        self._latent = FullLatentState(
            profile=sc.profile, quality=sc.quality, credits=CreditState(total=sc.credits), seed=seed,
            scenario_id=sc.scenario_id, difficulty=sc.difficulty, max_steps=self.sim_params.max_steps,
        )
        self._episode_id = episode_id or str(uuid.UUID(bytes=np.random.default_rng(seed).bytes(16), version=4))
        self._cum_reward = 0.0
        self._termination = None
        p = sc.profile
        self._obs = ValidationObservation(
            target_gene=p.gene, disease_context=p.disease_context, indication=p.indication,
            credits_remaining=sc.credits, credits_total=sc.credits, step_count=0, max_steps=self.sim_params.max_steps,
            latest_output=IntermediateOutput(status="info", summary=f"New validation task: {p.gene} in {p.indication}."),
            legal_actions=rules.legal_actions(done=False, credits_remaining=sc.credits),
            metadata={"episode_id": self._episode_id, "seed": seed, "difficulty": sc.difficulty},
        )
        self.last_info = {"reward_terms": {}}
        return self._obs.model_copy(deep=True)

    def step(self, action: Union[DrugTargetAction, Mapping[str, Any]]) -> ValidationObservation:
        """Apply one action: validate → rules → transition → reward → observation."""
        if self._latent is None or self._obs is None:
            raise EnvNotResetError()
        latent, obs, cfg = self._latent, self._obs, self.reward_config

        parsed, invalid = rules.parse_action(action)
        if parsed is None:
            return self._finish_step(None, [invalid], IntermediateOutput(status="blocked", summary=f"Blocked: {invalid.message}"),
                                     {"reward/violations": -cfg.hard_violation_penalty}, submitted=False, cost=0, frozen=obs.done)

        check = rules.check(parsed, done=obs.done, credits_remaining=latent.credits.remaining,
                            investigated=latent.progress.investigated, past_calls=latent.progress.calls,
                            any_evidence=latent.progress.evidence_calls > 0)
        if obs.done:  # stepping a finished episode changes nothing but reports the violation
            return self._finish_step(parsed, check.violations, IntermediateOutput(status="blocked", summary="Blocked: episode has ended"),
                                     {"reward/violations": -cfg.hard_violation_penalty}, submitted=False, cost=0, frozen=True)
        phi_before = reward_engine.potential(latent, cfg)
        tr = transitions.apply(latent, parsed, check)
        terms = reward_engine.step_terms(latent, check, tr, phi_before, cfg)
        return self._finish_step(parsed, check.violations, tr.output, terms, submitted=tr.submitted, cost=tr.cost)

    @property
    def state(self) -> DrugTargetState:
        """Visible bookkeeping only (never the hidden profile)."""
        if self._latent is None or self._obs is None:
            return DrugTargetState()
        return DrugTargetState(
            episode_id=self._episode_id, step_count=self._obs.step_count, seed=self._latent.seed,
            target_gene=self._obs.target_gene, indication=self._obs.indication,
            credits_remaining=self._latent.credits.remaining, credits_total=self._latent.credits.total,
            done=self._obs.done, cumulative_reward=round(self._cum_reward, 6), termination_reason=self._termination,
        )

    def debug_truth(self) -> FullLatentState:
        """The hidden state, for the oracle agent, evaluation and debugging only. Never serve it."""
        if self._latent is None:
            raise EnvNotResetError()
        return self._latent.model_copy(deep=True)

    def close(self) -> None:
        self._latent = None
        self._obs = None

    # ------------------------------------------------------------------ internals
    def _finish_step(
        self, action: Optional[DrugTargetAction], violations: list[RuleViolation], output: IntermediateOutput,
        terms: dict[str, float], *, submitted: bool, cost: int, frozen: bool = False,
    ) -> ValidationObservation:
        latent, obs = self._latent, self._obs
        assert latent is not None and obs is not None
        if frozen:
            out = obs.model_copy(deep=True)
            out.rule_violations, out.latest_output = violations, output
            out.step_reward_breakdown = {k: round(v, 6) for k, v in terms.items()}
            out.reward = round(sum(terms.values()), 6)
            self.last_info = {"reward_terms": dict(out.step_reward_breakdown)}
            return out

        step = obs.step_count + 1
        if action is not None and output.status in ("ok", "no_data"):
            section = ACTION_TABLE[action.action_type].section
            if section is not None:
                getattr(obs.dossier, section).append(Finding(step=step, action_type=action.action_type, parameters=action.parameters,
                                                             summary=output.summary, data=output.data))
        if action is not None and action.action_type == ActionType.FLAG_RED_FLAG and output.status == "info":
            obs.dossier.flagged_red_flags.append(action.parameters["description"])
        obs.pipeline_history.append(HistoryEntry(
            step=step, action_type=action.action_type.value if action else "invalid", parameters=action.parameters if action else {},
            summary=output.summary, cost=cost, violations=[v.rule for v in violations]))

        truncated = False
        if submitted:
            self._termination = "report_submitted"
            terms.update(reward_engine.terminal_terms(latent, action, self.reward_config))
        elif latent.credits.remaining <= 0:
            self._termination = "credits_exhausted"
            terms.update(reward_engine.terminal_terms(latent, None, self.reward_config))
        elif step >= latent.max_steps:
            self._termination = "step_limit"
            truncated = True
            terms.update(reward_engine.terminal_terms(latent, None, self.reward_config))
        done = self._termination is not None

        reward = float(sum(terms.values()))
        self._cum_reward += reward
        obs.step_count = step
        obs.credits_remaining = latent.credits.remaining
        obs.latest_output = output
        obs.rule_violations = violations
        obs.step_reward_breakdown = {k: round(v, 6) for k, v in terms.items()}
        obs.done = done
        obs.reward = round(reward, 6)
        obs.legal_actions = rules.legal_actions(done=done, credits_remaining=latent.credits.remaining)
        obs.metadata = {**obs.metadata, "termination_reason": self._termination, "truncated": truncated}
        self.last_info = {"reward_terms": dict(obs.step_reward_breakdown), "truncated": truncated,
                          "termination_reason": self._termination}
        return obs.model_copy(deep=True)


__all__ = ["DrugTargetEnvironment"]
