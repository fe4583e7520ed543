"""Transition engine: charges credits, updates progress and asks the evidence generator for the readout.

Pure function of (secret, public book, action, rule check); it mutates only the book (credits,
progress) and the secret's ``covered_key_dimensions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from drugenv.actions import ACTION_TABLE, ActionType, EvidenceDimension
from drugenv.models import DrugTargetAction, IntermediateOutput, trusted
from drugenv.simulator import evidence
from drugenv.simulator.evidence import public_measurement
from drugenv.simulator.episode import EpisodeBook
from drugenv.simulator.latent import FullLatentState, TargetProfile
from drugenv.simulator.rules import RuleCheck


@dataclass
class Transition:
    """What one executed (or blocked) step did."""

    output: IntermediateOutput
    cost: int
    new_dimension: bool
    submitted: bool
    new_measurement: bool = False
    """An evidence step that measured what no earlier step of the episode did (``evidence.public_measurement``):
    only such a step counts for coherence."""


def covers_key_dimension(profile: TargetProfile, action: DrugTargetAction) -> Optional[EvidenceDimension]:
    """The key dimension this action covers, if any.

    A dimension with required parameters (e.g. PTPN11's structure needs
    ``binding_site_analysis(include_allosteric=True)``) is covered only by that exact call.
    """
    dim = ACTION_TABLE[action.action_type].dimension
    if dim is None or dim not in profile.key_evidence_dimensions:
        return None
    required_here = {a: p for a, p in profile.required_parameters.items() if ACTION_TABLE[a].dimension == dim}
    if not required_here:
        return dim
    want = required_here.get(action.action_type)
    if want is not None and all(action.parameters.get(k) == v for k, v in want.items()):
        return dim
    return None


def _output(action: DrugTargetAction, status: str, summary: str) -> IntermediateOutput:
    return trusted(IntermediateOutput, action_type=action.action_type, dimension=None, status=status, summary=summary,
                   data={}, cost=0)


def apply(latent: FullLatentState, book: EpisodeBook, action: DrugTargetAction, check: RuleCheck) -> Transition:
    spec = ACTION_TABLE[action.action_type]
    if check.blocked:
        msg = "; ".join(v.message for v in check.hard)
        return Transition(_output(action, "blocked", f"Blocked: {msg}"), cost=0, new_dimension=False, submitted=False)

    progress = book.progress
    book.credits.used += spec.cost
    if action.action_type == ActionType.SUBMIT_VALIDATION_REPORT:
        progress.report_submitted = True
        out = _output(action, "info", f"Report submitted: {action.final_decision} (confidence {action.confidence:.2f}).")
        return Transition(out, cost=0, new_dimension=False, submitted=True)

    if action.action_type == ActionType.FLAG_RED_FLAG:
        out = _output(action, "info", f"Red flag recorded: {action.parameters['description']}")
        progress.calls.add(check.key)
        return Transition(out, cost=spec.cost, new_dimension=False, submitted=False)
    # Coherence counts each measurement once, made by an evidence step: a flag costs nothing, and counting
    # its prerequisite let an agent raise the terminal coherence term by flagging (0.0 -> 0.095 with 20 flags
    # after one slip); asking the expert panel again in other words reads the same measurement for a credit,
    # and counting each let it do the same, and earn the step's coherence bonus (+0.02) above its cost.
    measurement = public_measurement(action.action_type, action.parameters)
    new_measurement = measurement not in progress.measurements
    progress.measurements.add(measurement)
    if check.prereq_applicable and new_measurement:
        progress.prereq_checked += 1
        progress.prereq_satisfied += int(check.prereq_met)

    progress.evidence_calls += 1
    progress.redundant_calls += int(check.redundant)
    progress.calls.add(check.key)
    new_dim = spec.dimension not in progress.investigated
    progress.investigated.add(spec.dimension)
    key_dim = covers_key_dimension(latent.profile, action)
    if key_dim is not None:
        latent.covered_key_dimensions.add(key_dim)
    out = evidence.generate(latent.profile, latent.quality, action, latent.noise_key, params_json=check.key[1])
    return Transition(out, cost=spec.cost, new_dimension=new_dim, submitted=False, new_measurement=new_measurement)


__all__ = ["Transition", "apply", "covers_key_dimension"]
