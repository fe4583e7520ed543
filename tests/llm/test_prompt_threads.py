"""Rendering is safe from several threads (the dashboard's live agents, an LLM agent per thread, prompts built at
several budgets in parallel): the renderer's kept readings of a dossier are shared by every thread, and two
threads rendering one observation raised ``RuntimeError: Set changed size during iteration`` (the threads audit:
~50 times in 17,600 renders with a 1 µs switch interval; never a wrong text)."""

from __future__ import annotations

import random
import sys
import threading

import numpy as np

from drugenv.gym_envs.vector_env import VECTOR_ACTIONS
from drugenv.llm.prompts import evidence_table, render_observation
from drugenv.simulator.environment import DrugTargetEnvironment

ACTIONS = [va.to_action() for va in VECTOR_ACTIONS[:24]]


def _episode(seed: int) -> list:
    env, rng = DrugTargetEnvironment(), np.random.default_rng(seed)
    observations = [env.reset(seed=seed)]
    for _ in range(10):
        observations.append(env.step(ACTIONS[int(rng.integers(len(ACTIONS)))]))
    return observations


def _render(obs, level: int) -> str:
    return "\n".join(evidence_table(obs)) if level == 6 else render_observation(obs, level)


def test_threads_rendering_the_same_observations_get_the_single_threaded_texts():
    episodes = {seed: _episode(seed) for seed in range(12)}
    expected = {(seed, i, level): _render(o, level) for seed, obs in episodes.items()
                for i, o in enumerate(obs) for level in range(7)}
    threads, rounds, errors, wrong = 8, 200, [], []
    order = random.Random(0)
    current = [0]
    barrier = threading.Barrier(threads, action=lambda: current.__setitem__(0, order.randrange(len(episodes))))

    def work(tid: int) -> None:
        levels = random.Random(tid)
        for _ in range(rounds):
            barrier.wait()
            seed = current[0]
            for i, obs in enumerate(episodes[seed]):
                level = levels.randrange(7)
                try:
                    if _render(obs, level) != expected[(seed, i, level)]:
                        wrong.append((seed, i, level))
                except Exception as e:  # noqa: BLE001 - what a thread raised is the finding
                    errors.append(f"{type(e).__name__}: {e}")
            barrier.wait()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race needs a switch mid-loop
    try:
        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, f"{len(errors)} renders raised, e.g. {errors[0]}"
    assert not wrong
