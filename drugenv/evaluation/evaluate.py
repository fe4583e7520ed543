"""Run a policy over a suite of episodes and score it with the standard metrics.

Episodes are played by the one episode loop (``evaluation.episodes.play_episodes``): environments
are stepped in lockstep batches so batched policies (LLMs) generate for many episodes at once;
every episode is fully determined by its (scenario, seed, difficulty). Scoring reads each episode's
``outcome()``, so it needs environments with the truth in-process (the simulator).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from drugenv.agents.base import Policy
from drugenv.errors import ConfigError, whole_number
from drugenv.evaluation.episodes import EnvFactory, EpisodeLike, EpisodeSpec, PlayedEpisode, StepEvent, play_episodes
from drugenv.evaluation.metrics import EpisodeRecord, summarize
from drugenv.scenarios import TWIN_SCENARIO, check_difficulty, suite_episodes
from drugenv.simulator.environment import DrugTargetEnvironment, seal_key
from drugenv.simulator.params import RewardConfig, SimParams


def episode_record(ep: PlayedEpisode) -> EpisodeRecord:
    """The metrics' view of a played episode (its ``outcome`` must be known)."""
    out = ep.outcome
    if out is None:
        raise ConfigError(f"episode {ep.spec} has no outcome (a remote environment, or stopped before its end); "
                          "evaluation scores episodes on the in-process simulator")
    from drugenv.agents.belief import assess

    belief, belief_conf = assess(ep.last_observation.dossier).decision()  # public: what the agent's last prompt showed
    return EpisodeRecord(
        scenario=ep.spec.scenario or "procedural", seed=ep.spec.seed, difficulty=out.difficulty,  # None: procedural
        decision=out.decision, confidence=out.confidence,
        correct_decision=out.correct_decision, episode_return=ep.episode_return, terminal_reward=ep.terminal_reward,
        coverage=out.key_evidence_coverage,
        credits_used=out.credits_used, steps=out.steps, violations=ep.violations,
        termination=out.termination_reason, belief_decision=belief, belief_confidence=float(belief_conf),
    )


def run_episodes(
    policy: Policy,
    episodes: Sequence[EpisodeLike],
    *,
    reward_config: Optional[RewardConfig] = None,
    sim_params: Optional[SimParams] = None,
    batch_size: int = 8,
    progress: bool = True,
    desc: str = "eval",
    on_step: Optional[Callable[[StepEvent], None]] = None,
    env_factory: Optional[EnvFactory] = None,
    seal: Optional[str] = None,
) -> list[EpisodeRecord]:
    """Play each (scenario, seed) episode to the end; returns one record per episode, in order.

    ``env_factory`` defaults to ``DrugTargetEnvironment(reward_config=..., sim_params=..., seal=...)``; ``on_step``
    receives every step (``episodes.StepEvent``).
    """
    factory = env_factory or (lambda: DrugTargetEnvironment(reward_config=reward_config, sim_params=sim_params, seal=seal))
    records: list[EpisodeRecord] = []
    # Each episode becomes its record as its batch ends: only the records are kept (see play_episodes' keep).
    play_episodes(policy, episodes, env_factory=factory, batch_size=batch_size, on_step=on_step, progress=progress,
                  desc=desc, on_episode_end=lambda ep: records.append(episode_record(ep)), keep=False)
    return records


def sealed_order(episodes: Sequence[tuple[str, int]], secret: str) -> list[tuple[str, int]]:
    """The order a sealed run plays a suite's episodes in: as given, unless it holds counterfactual twins; then
    every original first and every twin after them, each half in an order only ``secret`` gives.

    ``suite_episodes`` lays each twin beside its original, so both fell in one lockstep batch (8 episodes by
    default), where the few other episodes rarely share their gene, indication and tier: an agent shown the
    batch (over ``serve:URL`` too) could pair them by what it sees and give each pair one go, which lifted the
    heuristic's pair accuracy from 0.75 to 0.92 on the sealed suite (300 pairs). Apart, a twin's original is
    one of the many earlier episodes that look like it, and the secret's order does not say which.
    """
    if not any(scenario == TWIN_SCENARIO for scenario, _ in episodes):
        return list(episodes)
    digest = hashlib.blake2b(b"drugenv suite order", key=seal_key(secret), digest_size=16).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "big"))
    originals = [ep for ep in episodes if ep[0] != TWIN_SCENARIO]
    twins = [ep for ep in episodes if ep[0] == TWIN_SCENARIO]
    return [originals[i] for i in rng.permutation(len(originals))] + [twins[i] for i in rng.permutation(len(twins))]


def evaluate(
    policy: Policy,
    suite: str = "curated",
    episodes: int = 20,
    seed: int = 0,
    *,
    reward_config: Optional[RewardConfig] = None,
    max_steps: Optional[int] = None,
    batch_size: int = 8,
    progress: bool = True,
    seal: Optional[str] = None,
    difficulty: Optional[str] = None,
) -> tuple[dict[str, float], list[EpisodeRecord]]:
    """Evaluate ``policy`` on ``episodes`` episodes of ``suite``; returns (summary, records).

    ``max_steps`` lowers the environment's step cap (an LLM that never submits then costs
    ``max_steps`` generations per episode instead of the default 30). ``seal``: play sealed episodes
    (``DrugTargetEnvironment(seal=...)``): the suite's seeds name other worlds, which no public seed
    names, and observations carry no seed, so an agent cannot look its episodes' truth up; a suite of
    counterfactual twins is played in ``sealed_order``, its twins apart from their originals. ``difficulty``
    plays a procedural suite's seeds in that tier (``very_hard`` is played only when asked for): the same
    seeds, gene and indication, the tier's key dimensions, misleading signals, noise and budget; twins
    stay pairs of one tier. A curated scenario has its own tier, so the curated suite takes none.
    """
    if isinstance(policy, type) or not callable(getattr(policy, "act", None)):
        raise ConfigError(f"policy must be a Policy instance (with act and reset), got {policy!r:.60}")
    whole_number(batch_size, "batch_size")
    eps = suite_episodes(suite, whole_number(episodes, "episodes"), seed)
    check_difficulty(difficulty)
    if difficulty is not None and suite == "curated":
        raise ConfigError(f"difficulty {difficulty!r} is for the procedural suites: each curated scenario has its own tier")
    if seal is not None:
        eps = sealed_order(eps, seal)
    specs = [EpisodeSpec(scenario, s, difficulty) for scenario, s in eps]
    # None: the environment's own cap; 0 was taken as None, -1 was pydantic's error about SimParams
    sim = SimParams(max_steps=whole_number(max_steps, "max_steps")) if max_steps is not None else None
    records = run_episodes(policy, specs, reward_config=reward_config, sim_params=sim, batch_size=batch_size,
                           progress=progress, desc=f"eval {policy.name} on {suite}", seal=seal)
    return summarize(records), records


def group_of(record: EpisodeRecord) -> str:
    """The row an episode belongs to in per-scenario tables: its curated scenario, its tier when
    procedural, and ``twin/<tier>`` for a counterfactual twin (its original's tier: the pairs' rows line up)."""
    if record.scenario == "procedural":
        return record.difficulty
    if record.scenario == TWIN_SCENARIO:
        return f"twin/{record.difficulty}"
    return record.scenario


def by_scenario(records: Sequence[EpisodeRecord]) -> dict[str, dict[str, float]]:
    """Metrics per scenario name (curated suite) or per difficulty (procedural suites)."""
    groups: dict[str, list[EpisodeRecord]] = {}
    for r in records:
        groups.setdefault(group_of(r), []).append(r)
    return {k: summarize(v) for k, v in sorted(groups.items())}


def results_json(payload: Any, **dumps: Any) -> str:
    """``json.dumps(payload, default=str, **dumps)`` as strict JSON: a float that is not a number (the ECE of
    episodes without a report, a metric of no episode) is written ``null``. ``json.dumps`` writes ``NaN``,
    which JavaScript's ``JSON.parse`` and most languages' JSON readers refuse, so a results file could
    be read back only by Python. Python reads ``null`` as None. Results files and the dashboard's event
    stream are written with it."""

    def finite(value: Any) -> Any:
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [finite(v) for v in value]
        return value

    return json.dumps(finite(payload), allow_nan=False, default=str, **dumps)


def write_results(path: str | Path, payload: dict) -> Path:
    """``payload`` as strict JSON (``results_json``) at ``path``, its folder made if missing; written whole or not
    at all (``write_text_atomic``: a full disk truncated the previous results and left them empty)."""
    from drugenv.cli import write_text_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, results_json(payload, indent=2, sort_keys=True))
    return path


__all__ = ["by_scenario", "episode_record", "evaluate", "group_of", "results_json", "run_episodes", "sealed_order", "write_results"]
