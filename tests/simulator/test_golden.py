"""Golden trajectories: the simulator's behaviour, pinned.

For 64 episodes (every curated scenario with 4 noise seeds; 44 procedural seeds from both splits
and every tier) and three agents (random, heuristic, oracle), a SHA-256 over every observation,
state, reward and reward breakdown, as the wire would carry them. Speed work must leave every hash
unchanged; a deliberate behaviour change regenerates the file and says why in its commit::

    python tests/simulator/test_golden.py --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from drugenv.agents.base import brief
from drugenv.agents.baselines import HeuristicPolicy, OraclePolicy, RandomPolicy
from drugenv.scenarios import CURATED_NAMES
from drugenv.scenarios.procedural import procedural_test_seeds, procedural_train_seeds
from drugenv.simulator.environment import DrugTargetEnvironment

GOLDEN = Path(__file__).with_name("golden_trajectories.json")
AGENTS = {"random": lambda: RandomPolicy(seed=0), "heuristic": HeuristicPolicy, "oracle": OraclePolicy}
TIERS = ("easy", "medium", "hard", "very_hard")


def episodes() -> list[tuple[str, int, str | None]]:
    out: list[tuple[str, int, str | None]] = [(name, seed, None) for name in CURATED_NAMES for seed in range(4)]
    seeds = procedural_train_seeds(24) + procedural_test_seeds(20)
    out += [("procedural", s, TIERS[i % 4] if i % 3 == 0 else None) for i, s in enumerate(seeds)]
    return out


def trajectory_hash(agent: str, scenario: str, seed: int, difficulty: str | None) -> str:
    env, policy = DrugTargetEnvironment(), AGENTS[agent]()
    policy.reset(1, [seed])
    obs = env.reset(seed=seed, scenario=scenario, difficulty=difficulty)
    brief(policy, 0, env)
    h = hashlib.sha256()
    h.update(obs.model_dump_json().encode())
    h.update(env.state.model_dump_json().encode())
    while not obs.done:
        obs = env.step(policy.act([obs])[0])
        h.update(obs.model_dump_json().encode())
        h.update(env.state.model_dump_json().encode())
        h.update(json.dumps([obs.reward, obs.step_reward_breakdown, env.last_info], sort_keys=True).encode())
    return h.hexdigest()


def compute() -> dict[str, str]:
    return {f"{agent}/{sc}/{seed}/{diff or 'drawn'}": trajectory_hash(agent, sc, seed, diff)
            for agent in AGENTS for sc, seed, diff in episodes()}


def test_trajectories_match_the_golden_file():
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = compute()
    assert len(now) == len(golden) >= 150
    changed = sorted(k for k in golden if now.get(k) != golden[k])
    assert not changed, f"{len(changed)} trajectories changed, e.g. {changed[:5]} (regenerate only for a deliberate change)"


def test_golden_hashes_are_sensitive():
    """A different seed gives a different hash: the pin can fail."""
    assert trajectory_hash("heuristic", "procedural", 1, None) != trajectory_hash("heuristic", "procedural", 2, None)


if __name__ == "__main__":
    if "--write" not in sys.argv:
        pytest.main([__file__, "-q"])
    else:
        GOLDEN.write_text(json.dumps(compute(), indent=0, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {GOLDEN}")
