"""Curricula: difficulty mix and schedules, and their use inside the vector env."""

import numpy as np
import pytest

from drugenv.errors import ConfigError
from drugenv.gym_envs import DrugEnvVector
from drugenv.scenarios.curriculum import Curriculum, CurriculumSpec


def _draws(cur, n, seed=0):
    rng = np.random.default_rng(seed)
    return [cur.sample(rng) for _ in range(n)]


def test_fixed_and_mixed():
    assert set(_draws(Curriculum(CurriculumSpec(kind="fixed", tiers=("hard",))), 20)) == {"hard"}
    draws = _draws(Curriculum(CurriculumSpec(kind="mixed", weights=(0.0, 1.0, 3.0))), 400)
    assert "easy" not in draws and 0.65 < draws.count("hard") / 400 < 0.85


def test_easy_to_hard_schedule():
    cur = Curriculum(CurriculumSpec(kind="easy_to_hard", schedule_episodes=30, review_prob=0.0))
    seen = []
    for _ in range(40):
        t = cur.sample(np.random.default_rng(0))
        seen.append(t)
        cur.update(t, success=False)
    assert seen[:10] == ["easy"] * 10 and seen[10:20] == ["medium"] * 10 and seen[20:] == ["hard"] * 20


def test_adaptive_promotes_on_success_only():
    spec = CurriculumSpec(kind="adaptive", window=5, promote_threshold=0.8, review_prob=0.0)
    cur = Curriculum(spec)
    for _ in range(20):
        cur.update("easy", success=False)
    assert cur.current_stage() == 0
    for _ in range(5):
        cur.update("easy", success=True)
    assert cur.current_stage() == 1 and cur.sample(np.random.default_rng(0)) == "medium"
    cur.update("easy", success=True)  # a review episode does not count for the stage
    assert cur.stats()["stage"] == 1.0
    assert np.isnan(cur.stats()["stage_success_rate"])  # nothing played at the new stage yet
    for _ in range(5):  # five more reviews: a window that counted them would promote to stage 2
        cur.update("easy", success=True)
    assert cur.current_stage() == 1


def test_adaptive_promotes_at_exactly_its_threshold():
    """promote_threshold is the success rate that promotes: 4 of 5 at 0.8 does, 3 of 5 does not."""
    spec = CurriculumSpec(kind="adaptive", window=5, promote_threshold=0.8, review_prob=0.0)
    cur = Curriculum(spec)
    for success in (True, False, True, False, True):
        cur.update("easy", success=success)
    assert cur.current_stage() == 0
    cur = Curriculum(spec)
    for success in (True, True, False, True, True):
        cur.update("easy", success=success)
    assert cur.current_stage() == 1


def test_parse_and_validation():
    assert CurriculumSpec.parse("adaptive").kind == "adaptive"
    spec = CurriculumSpec.parse({"kind": "mixed", "tiers": ["easy", "hard"], "weights": [1, 1]})
    assert spec.tiers == ("easy", "hard") and CurriculumSpec.parse(spec.to_dict()) == spec
    with pytest.raises(ConfigError):
        CurriculumSpec(kind="zigzag")
    with pytest.raises(ConfigError):
        CurriculumSpec(kind="mixed", weights=(1.0,))
    with pytest.raises(ConfigError):
        CurriculumSpec.parse({"kind": "mixed", "speed": 2})


@pytest.mark.parametrize("fields", [
    {"kind": "adaptive", "window": 2.5},  # was accepted and never promoted
    {"kind": "adaptive", "window": True},
    {"kind": "easy_to_hard", "schedule_episodes": "10"},  # was a TypeError
    {"kind": "adaptive", "promote_threshold": None},
    {"kind": "mixed", "weights": [float("nan"), 1, 1]},  # was numpy's ValueError at the first reset
    {"kind": "mixed", "weights": [float("inf"), 1, 1]},
    {"kind": "mixed", "tiers": "easy"},
])
def test_wrong_types_are_config_errors_at_construction(fields):
    with pytest.raises(ConfigError, match="curriculum"):
        CurriculumSpec.parse(fields)
    with pytest.raises(ConfigError, match="curriculum"):
        DrugEnvVector(curriculum=fields)


def test_numpy_numbers_are_numbers():
    spec = CurriculumSpec.parse({"kind": "adaptive", "window": np.int64(3), "promote_threshold": np.float64(0.5)})
    assert spec.window == 3 and spec.promote_threshold == 0.5


def test_steps_after_the_end_finish_no_episode():
    # Each refused step after the end used to count the episode again: one success and three
    # extra steps promoted an adaptive curriculum with a window of 3.
    env = DrugEnvVector(curriculum={"kind": "adaptive", "window": 3, "promote_threshold": 0.0})
    env.reset(seed=0)
    _, _, terminated, _, _ = env.step(24)  # submit go
    assert terminated and env.curriculum.episodes == 1
    for _ in range(3):
        _, _, _, _, info = env.step(0)
        assert info["violations"] == ["episode_done"]
    assert env.curriculum.episodes == 1 and env.curriculum.stats()["stage"] == 0.0
    env.reset(seed=1)
    env.step(24)
    assert env.curriculum.episodes == 2


def test_env_follows_the_curriculum():
    env = DrugEnvVector(curriculum={"kind": "easy_to_hard", "schedule_episodes": 6, "review_prob": 0.0})
    tiers = []
    for s in range(8):
        _, info = env.reset(seed=s)
        tiers.append(info["difficulty"])
        env.step(24)  # submit go
    assert tiers[:2] == ["easy"] * 2 and tiers[2:4] == ["medium"] * 2 and tiers[4:] == ["hard"] * 4
