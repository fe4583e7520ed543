"""`benchmarks/bench_env.py`: the wrapper rows are set against the core playing the very same steps."""

from __future__ import annotations

import pytest
from benchmark_scripts import load


@pytest.fixture(scope="module")
def bench_env():
    return load("bench_env")


@pytest.mark.parametrize("env_id", ["DrugEnv/Vector-v0", "DrugEnv/Text-v0"])
def test_the_core_replays_the_gym_envs_steps(bench_env, env_id, monkeypatch):
    gym_rate, core_rate = bench_env.bench_gym_and_core(env_id, 120, seed=3, chunk=50)
    assert gym_rate > 0 and core_rate > 0
    # A core that played other episodes with the same actions reads other evidence: the pair refuses
    # to call that the same steps (the core environment is the only one that takes seeds it is given).
    from drugenv.simulator.environment import DrugTargetEnvironment

    reset = DrugTargetEnvironment.reset

    def other_episode(self, seed=None, **kwargs):
        return reset(self, seed=None if seed is None else seed + (1 if self._lend_records is False else 0), **kwargs)

    monkeypatch.setattr(DrugTargetEnvironment, "reset", other_episode)
    with pytest.raises(RuntimeError, match="not the same steps"):
        bench_env.bench_gym_and_core(env_id, 120, seed=3, chunk=50)


def test_a_pass_measures_every_row_of_the_table(bench_env):
    rates = bench_env.one_pass(60, seed=0)
    assert set(bench_env.ROW_KEYS.values()) | {"procedural_resets"} == set(rates)
    assert all(rate > 0 for rate in rates.values())


@pytest.mark.parametrize("kind", ["text", "vector", "unrelated"])
def test_interleave_times_the_same_steps_three_ways(kind):
    # The encoder alone (over recorded observations) and interleaved with the core end on the same
    # encoding, or interleave() raises; every timing is positive.
    timings = load("interleave").interleave(kind, steps=90, turn=30)
    assert set(timings) == {"core", "encoder", "together"} and all(t > 0 for t in timings.values())


def test_the_core_and_cartpole_take_turns(bench_env, monkeypatch):
    """The goal's ratio compares the two over the same stretch of time: turns of ``chunk`` steps each."""
    import itertools

    import gymnasium as gym

    from drugenv.simulator.environment import DrugTargetEnvironment

    log: list[str] = []
    core_step, make = DrugTargetEnvironment.step, gym.make

    def logged_core_step(self, action):
        log.append("core")
        return core_step(self, action)

    def logged_make(env_id, **kwargs):
        env = make(env_id, **kwargs)
        pole_step = env.step

        def step(action):
            log.append("pole")
            return pole_step(action)

        env.step = step
        return env

    monkeypatch.setattr(DrugTargetEnvironment, "step", logged_core_step)
    monkeypatch.setattr(gym, "make", logged_make)
    core_rate, pole_rate = bench_env.bench_core_and_cartpole(70, seed=1, chunk=30)
    assert core_rate > 0 and pole_rate > 0
    runs = [(kind, len(list(group))) for kind, group in itertools.groupby(log)]
    assert runs == [("core", 30), ("pole", 30), ("core", 30), ("pole", 30), ("core", 10), ("pole", 10)]
