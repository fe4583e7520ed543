"""Run a policy over a suite of episodes and score it with the standard metrics.

Environments are stepped in lockstep batches so batched policies (LLMs) generate for many
episodes at once; every episode is fully determined by its (scenario, seed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional, Sequence

from tqdm.auto import tqdm

from drugenv.agents.base import Policy, brief
from drugenv.evaluation.metrics import EpisodeRecord, summarize
from drugenv.models import DrugTargetAction
from drugenv.scenarios import suite_episodes
from drugenv.simulator.environment import DrugTargetEnvironment
from drugenv.simulator.params import RewardConfig, SimParams

EnvFactory = Callable[[], DrugTargetEnvironment]


def run_episodes(
    policy: Policy,
    episodes: Sequence[tuple[str, int]],
    *,
    reward_config: Optional[RewardConfig] = None,
    sim_params: Optional[SimParams] = None,
    batch_size: int = 8,
    progress: bool = True,
    desc: str = "eval",
    on_step: Optional[Callable[[int, DrugTargetAction, object], None]] = None,
) -> list[EpisodeRecord]:
    """Play each (scenario, seed) episode to the end; returns one record per episode, in order."""
    records: list[EpisodeRecord] = []
    bar = tqdm(total=len(episodes), desc=desc, disable=not progress, leave=False)
    for start in range(0, len(episodes), batch_size):
        chunk = episodes[start:start + batch_size]
        envs = [DrugTargetEnvironment(reward_config=reward_config, sim_params=sim_params) for _ in chunk]
        obs = [env.reset(seed=seed, scenario=sc) for env, (sc, seed) in zip(envs, chunk)]
        policy.reset(len(chunk), seeds=[seed for _, seed in chunk])
        for i, env in enumerate(envs):
            brief(policy, i, env)
        returns = [0.0] * len(chunk)
        terminal = [0.0] * len(chunk)
        violations = [0] * len(chunk)
        while not all(o.done for o in obs):
            live = [i for i, o in enumerate(obs) if not o.done]
            # Policies see the whole batch (slots stay aligned); finished slots' actions are ignored.
            actions = policy.act(obs)
            for i in live:
                a = actions[i]
                o = envs[i].step(a)
                obs[i] = o
                returns[i] += o.reward or 0.0
                violations[i] += len(o.rule_violations)
                if o.done:
                    terminal[i] = sum(v for k, v in o.step_reward_breakdown.items() if k.startswith("terminal/"))
                if on_step is not None:
                    on_step(start + i, a, o)
        for i, env in enumerate(envs):
            out = env.outcome()  # the documented end-of-episode channel; the truth is never read directly
            records.append(EpisodeRecord(
                scenario=chunk[i][0], seed=chunk[i][1], difficulty=out.difficulty,
                decision=out.decision, confidence=out.confidence,
                correct_decision=out.correct_decision, episode_return=returns[i], terminal_reward=terminal[i],
                coverage=out.key_evidence_coverage,
                credits_used=out.credits_used, steps=out.steps, violations=violations[i],
                termination=out.termination_reason,
            ))
        bar.update(len(chunk))
    bar.close()
    return records


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
) -> tuple[dict[str, float], list[EpisodeRecord]]:
    """Evaluate ``policy`` on ``episodes`` episodes of ``suite``; returns (summary, records).

    ``max_steps`` lowers the environment's step cap (an LLM that never submits then costs
    ``max_steps`` generations per episode instead of the default 30).
    """
    eps = suite_episodes(suite, episodes, seed)
    sim = SimParams(max_steps=max_steps) if max_steps else None
    records = run_episodes(policy, eps, reward_config=reward_config, sim_params=sim, batch_size=batch_size,
                           progress=progress, desc=f"eval {policy.name} on {suite}")
    return summarize(records), records


def by_scenario(records: Sequence[EpisodeRecord]) -> dict[str, dict[str, float]]:
    """Metrics per scenario name (curated suite) or per difficulty (procedural suites)."""
    groups: dict[str, list[EpisodeRecord]] = {}
    for r in records:
        groups.setdefault(r.scenario if r.scenario != "procedural" else r.difficulty, []).append(r)
    return {k: summarize(v) for k, v in sorted(groups.items())}


def write_results(path: str | Path, payload: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    return path
