"""``GymAgentPolicy``: an agent of a gym env, scored by the episode loop, plays exactly the episodes it
plays in the gym env: the same observations (byte for byte), the same actions, the same rewards."""

from __future__ import annotations

import hashlib
import json

import gymnasium as gym
import numpy as np
import pytest

from drugenv.errors import ConfigError
from drugenv.evaluation.episodes import play_episodes
from drugenv.gym_envs import TEXT_ENV_ID, VECTOR_ENV_ID
from drugenv.gym_envs.policies import GymAgentPolicy
from drugenv.gym_envs.vector_env import VECTOR_ACTIONS

EPISODES = [("egfr_nsclc_viable", 3, None), ("cd33_aml_misleading", 4, None), ("procedural", 11, "hard"),
            ("procedural", 12, "easy"), ("procedural", 13, "very_hard"), ("procedural", 14, "medium")]

# Text actions: a query, one with a missing parameter, prose, a report (the hash of the text picks one)
TEXT_ACTIONS = [json.dumps({"action_type": "query_expression", "parameters": {"database": "TCGA"}, "reasoning": "r"}),
                json.dumps({"action_type": "toxicity_panel", "reasoning": "r"}),
                "I would rather not say.",
                json.dumps({"action_type": "druggability_screen", "parameters": {"modality": "any"}, "reasoning": "r"}),
                json.dumps({"action_type": "submit_validation_report", "final_decision": "go", "confidence": 0.7,
                            "reasoning": "r"})]


def _pick(shown, n: int) -> int:
    """A deterministic function of every byte the agent is shown."""
    data = shown.tobytes() if isinstance(shown, np.ndarray) else shown.encode()
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big") % n


def _vector_agent(x: np.ndarray) -> int:
    assert x.dtype == np.float32
    return _pick(x, len(VECTOR_ACTIONS) + 2) - 1  # now and then -1 or 34: not actions


def _text_agent(text: str) -> str:
    return TEXT_ACTIONS[_pick(text, len(TEXT_ACTIONS))]


def _gym_episodes(env_id: str, agent) -> list[tuple[list, float, int]]:
    """(what the agent was shown, return, steps) per episode, played in the gym env."""
    env = gym.make(env_id)
    out = []
    for scenario, seed, difficulty in EPISODES:
        x, _ = env.reset(seed=0, options={"scenario": scenario, "episode_seed": seed, "difficulty": difficulty})
        shown, total, steps, done = [], 0.0, 0, False
        while not done:
            shown.append(x)
            x, reward, terminated, truncated, _ = env.step(agent(x))
            total, steps, done = total + reward, steps + 1, terminated or truncated
        out.append((shown, total, steps))
    env.close()
    return out


@pytest.mark.parametrize("env_id, agent", [(VECTOR_ENV_ID, _vector_agent), (TEXT_ENV_ID, _text_agent)])
@pytest.mark.parametrize("batched", [False, True])
def test_scored_episodes_are_the_gym_envs_episodes(env_id, agent, batched):
    seen: list = []

    def predict(x):
        seen.append(x)
        return [agent(one) for one in x] if batched else agent(x)

    played = play_episodes(GymAgentPolicy(predict, env_id, batched=batched), EPISODES, batch_size=4)
    expected = _gym_episodes(env_id, agent)
    assert [ep.steps for ep in played] == [steps for _, _, steps in expected]
    assert [ep.episode_return for ep in played] == pytest.approx([ret for _, ret, _ in expected], abs=1e-12)
    shown_gym = [x for episode, _, _ in expected for x in episode]
    shown_here = [one for x in seen for one in x] if batched else seen
    key = (lambda v: v.tobytes()) if env_id == VECTOR_ENV_ID else (lambda v: v)
    assert sorted(map(key, shown_here)) == sorted(map(key, shown_gym))  # the very observations, in lockstep order
    assert sum(ep.violations for ep in played) > 0 and {ep.last_observation.done for ep in played} == {True}


def test_finished_episodes_are_not_predicted_for_and_mistakes_are_config_errors():
    calls = []
    policy = GymAgentPolicy(lambda x: calls.append(x) or 33, VECTOR_ENV_ID)  # 33: a report, one step
    played = play_episodes(policy, [("procedural", 1, "easy"), ("procedural", 2, "easy")], batch_size=2)
    assert [ep.steps for ep in played] == [1, 1] and len(calls) == 2
    with pytest.raises(ConfigError, match="not a DrugEnv gym env"):
        GymAgentPolicy(lambda x: 0, "CartPole-v1")
    with pytest.raises(ConfigError, match="returned 1 actions for 2 observations"):
        play_episodes(GymAgentPolicy(lambda xs: [0], VECTOR_ENV_ID, batched=True), [("procedural", 1, None)] * 2, batch_size=2)
