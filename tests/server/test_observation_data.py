"""The server's per-session encoder writes ``observation_data``'s very text from kept pieces."""

from __future__ import annotations

import json
import random

import pytest

from drugenv.actions import ActionType
from drugenv.scenarios import CURATED_NAMES
from drugenv.server import protocol
from drugenv.server.protocol import EpisodeObservationData, observation_data, observation_frame
from drugenv.server.session import FrameHandler, SessionRegistry
from drugenv.simulator.environment import DrugTargetEnvironment

from .conftest import random_action


def _odd_action(rng: random.Random, obs: dict) -> object:
    """Now and then something the environment penalises rather than runs: a malformed action, a red flag
    with an odd description, an action it cannot afford."""
    r = rng.random()
    if r < 0.05:
        return {"action_type": "no_such_action"}
    if r < 0.10:
        return {"action_type": "flag_red_flag", "parameters": {"description": rng.choice(["hERG \"signal\"", "µ-dose ≥ 3", "a\\b\n"])}}
    if r < 0.13:
        return {"action_type": "in_vivo_model"}
    return random_action(rng, obs)


@pytest.mark.parametrize("scenario", [None, "procedural", *CURATED_NAMES[:3]])
def test_kept_pieces_write_the_whole_observations_text(scenario):
    """Episodes played as the server plays them (records lent, not copied), with resets mid-episode and
    steps after the end: every text equals ``observation_data`` of the same observation."""
    env = DrugTargetEnvironment()
    env._lend_records = True
    encode = EpisodeObservationData()
    rng = random.Random(hash(scenario) % 1000)
    compared = 0
    for episode in range(24):
        obs = env.reset(seed=episode, scenario=scenario)
        assert encode(obs) == observation_data(obs)
        for _ in range(rng.randrange(3, 35)):
            if obs.done and rng.random() < 0.5:
                break
            obs = env.step(_odd_action(rng, json.loads(obs.model_dump_json())))
            assert encode(obs) == observation_data(obs), (episode, obs.step_count)
            assert encode.frame(obs) == observation_frame(obs)
            compared += 1
    assert compared > 100


def test_another_episode_or_an_older_observation_starts_afresh():
    """Two environments' observations through one encoder, and a copy of an older observation: each text
    is still the whole observation's."""
    envs = [DrugTargetEnvironment(), DrugTargetEnvironment()]
    observations = [env.reset(seed=i, scenario="procedural") for i, env in enumerate(envs)]
    encode = EpisodeObservationData()
    rng = random.Random(3)
    older = []
    for step in range(16):
        i = step % 2 if step < 8 else 0
        obs = envs[i].step(random_action(rng, json.loads(observations[i].model_dump_json())))
        observations[i] = obs
        older.append(obs)
        assert encode(obs) == observation_data(obs)
    assert encode(older[3]) == observation_data(older[3])
    assert encode(observations[0]) == observation_data(observations[0])


def test_the_server_sessions_use_it_for_the_plain_environment_only():
    assert protocol.KEPT_OBSERVATION_DATA

    class Subclass(DrugTargetEnvironment):
        pass

    registry = SessionRegistry(2)
    plain, sub = registry.open(DrugTargetEnvironment), registry.open(Subclass)
    assert plain.observation_frame.__self__.__class__ is EpisodeObservationData
    assert sub.observation_frame is observation_frame
    handle = FrameHandler(max_message_bytes=1 << 20, strict_actions=True)
    reset = json.dumps({"type": "reset", "data": {"seed": 5}})
    assert handle(plain, reset)[0] == handle(sub, reset)[0]
    step = json.dumps({"type": "step", "data": {"action_type": ActionType.QUERY_EXPRESSION.value}})
    assert handle(plain, step)[0] == handle(sub, step)[0]


def test_the_import_check_refuses_pieces_written_otherwise(monkeypatch):
    """The check at import compares with pydantic's text: a finding written another way fails it (and the
    server would then serialize every observation whole)."""
    assert protocol._kept_pieces_match_pydantic()
    original = protocol._FINDING_JSON
    monkeypatch.setattr(protocol, "_FINDING_JSON", lambda f: original(f, indent=1))
    assert not protocol._kept_pieces_match_pydantic()
