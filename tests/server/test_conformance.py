"""Wire conformance: raw JSON frames, OpenEnv's own EnvClient, and DrugEnv's client all see exactly
what the in-process environment produces for the same seed and actions; OpenEnv's reference server
hosting the same environment sends the same frames; the HTTP routes have OpenEnv's shapes."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, Optional

import httpx
import pytest
from websockets.sync.client import connect

from drugenv.client import AsyncDrugTargetEnv, DrugTargetEnv, InvalidRequestError
from drugenv.models import DrugTargetAction, DrugTargetState, ValidationObservation

from .conftest import SCENARIOS, random_action, replay, ws_url


def play_raw(url: str, seed: int, scenario: Optional[str], actions: Optional[list[dict[str, Any]]] = None,
             episode_id: Optional[str] = None, max_steps: int = 40) -> tuple[list[dict], list[dict], list[dict]]:
    """One episode over raw frames: (observation frames, state frames, actions). ``actions`` None: random play."""
    rng = random.Random(seed)
    frames, states, played = [], [], []
    with connect(ws_url(url)) as ws:
        reset: dict[str, Any] = {"seed": seed, "scenario": scenario}
        if episode_id:
            reset["episode_id"] = episode_id
        ws.send(json.dumps({"type": "reset", "data": reset}))
        frames.append(json.loads(ws.recv()))
        ws.send('{"type":"state"}')
        states.append(json.loads(ws.recv()))
        while not frames[-1]["data"]["done"] and len(played) < max_steps:
            if actions is not None and len(played) == len(actions):
                break
            action = actions[len(played)] if actions is not None else random_action(rng, frames[-1]["data"]["observation"])
            ws.send(json.dumps({"type": "step", "data": action}))
            frames.append(json.loads(ws.recv()))
            ws.send('{"type":"state"}')
            states.append(json.loads(ws.recv()))
            played.append(action)
        ws.send('{"type":"close"}')
    return frames, states, played


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_raw_frames_match_in_process(server_url: str, scenario: str) -> None:
    for seed in (0, 7):
        frames, states, actions = play_raw(server_url, seed, scenario)
        payloads, expected_states = replay(seed, scenario, actions)
        assert [f["type"] for f in frames] == ["observation"] * len(frames)
        assert [f["data"] for f in frames] == payloads
        assert [s["type"] for s in states] == ["state"] * len(states)
        assert [s["data"] for s in states] == expected_states
        assert frames[-1]["data"]["done"] or len(actions) == 40


def test_frames_match_openenv_reference_server(server_url: str, reference_url: str) -> None:
    """Same seed, same actions: DrugEnv's server and OpenEnv's reference server send the same frames."""
    for i, scenario in enumerate(SCENARIOS):
        ours, our_states, actions = play_raw(server_url, 100 + i, scenario, episode_id=f"ref-{i}")
        theirs, their_states, _ = play_raw(reference_url, 100 + i, scenario, actions=actions, episode_id=f"ref-{i}")
        assert ours == theirs
        assert our_states == their_states


def _openenv_client_cls() -> type:
    pytest.importorskip("openenv.core")
    from openenv.core.client_types import StepResult
    from openenv.core.env_client import EnvClient

    class OpenEnvDrugClient(EnvClient[DrugTargetAction, ValidationObservation, DrugTargetState]):
        """The three hooks an OpenEnv env client implements; nothing else."""

        def _step_payload(self, action: DrugTargetAction) -> dict[str, Any]:
            return action.model_dump(mode="json")

        def _parse_result(self, payload: dict[str, Any]) -> StepResult:
            obs = ValidationObservation.model_validate(
                {**payload["observation"], "reward": payload.get("reward"), "done": payload.get("done", False)})
            return StepResult(observation=obs, reward=payload.get("reward"), done=payload.get("done", False),
                              metadata=payload.get("metadata"))

        def _parse_state(self, payload: dict[str, Any]) -> DrugTargetState:
            return DrugTargetState.model_validate(payload)

    return OpenEnvDrugClient


def test_openenv_env_client_plays_full_episodes(server_url: str) -> None:
    client_cls = _openenv_client_cls()
    for i, scenario in enumerate(SCENARIOS):
        seed, rng, actions = 30 + i, random.Random(30 + i), []
        with client_cls(base_url=server_url) as client:
            result = client.reset(seed=seed, scenario=scenario)
            observations, rewards = [result.observation], [result.reward]
            while not result.done and len(actions) < 40:
                action = random_action(rng, result.observation.model_dump(mode="json"))
                result = client.step(DrugTargetAction.model_validate(action))
                actions.append(action)
                observations.append(result.observation)
                rewards.append(result.reward)
            state = client.state()
        payloads, states = replay(seed, scenario, actions)
        assert [o.model_dump(mode="json", exclude={"reward", "done"}) for o in observations] == [p["observation"] for p in payloads]
        assert rewards == [p["reward"] for p in payloads]
        assert observations[-1].done == payloads[-1]["done"]
        assert state.model_dump(mode="json") == states[-1]


def test_openenv_env_client_sees_error_codes(server_url: str) -> None:
    client_cls = _openenv_client_cls()
    with client_cls(base_url=server_url) as client:
        with pytest.raises(RuntimeError, match="NOT_RESET"):
            client.step(DrugTargetAction(action_type="literature_search"))
        client.reset(seed=1, scenario="egfr_nsclc_viable")
        assert client.step(DrugTargetAction(action_type="literature_search")).observation.step_count == 1


def test_drugenv_client_sync_matches_in_process(server_url: str) -> None:
    seed, scenario, rng, actions = 5, "kras_pdac_borderline", random.Random(5), []
    with DrugTargetEnv(base_url=server_url) as env:
        result = env.reset(seed=seed, scenario=scenario)
        seen = [result]
        while not result.done:
            action = random_action(rng, result.observation.model_dump(mode="json"))
            result = env.step(DrugTargetAction.model_validate(action) if len(actions) % 2 else action)
            actions.append(action)
            seen.append(result)
        with pytest.raises(InvalidRequestError) as err:
            env.step(DrugTargetAction(action_type="literature_search"))
        assert err.value.code == "EPISODE_DONE"
        state = env.state()
    payloads, states = replay(seed, scenario, actions)
    assert [json.loads(r.observation.model_dump_json(exclude={"reward", "done"})) for r in seen] == [p["observation"] for p in payloads]
    assert [r.reward for r in seen] == [p["reward"] for p in payloads]
    assert [r.metadata for r in seen] == [p.get("metadata", {}) for p in payloads]
    assert state.model_dump(mode="json") == states[-1]


def test_drugenv_client_async_matches_in_process(server_url: str) -> None:
    async def play(seed: int) -> tuple[list[Any], list[dict[str, Any]]]:
        rng, actions = random.Random(seed), []
        async with AsyncDrugTargetEnv(base_url=server_url) as env:
            result = await env.reset(seed=seed, scenario="cd33_aml_misleading")
            seen = [result]
            while not result.done:
                action = random_action(rng, result.observation.model_dump(mode="json"))
                result = await env.step(action)
                actions.append(action)
                seen.append(result)
        return seen, actions

    async def main() -> list[tuple[list[Any], list[dict[str, Any]]]]:
        return await asyncio.gather(*(play(s) for s in (11, 12, 13)))

    for seed, (seen, actions) in zip((11, 12, 13), asyncio.run(main())):
        payloads, _ = replay(seed, "cd33_aml_misleading", actions)
        assert [r.reward for r in seen] == [p["reward"] for p in payloads]
        assert [r.observation.dossier.model_dump(mode="json") for r in seen] == [p["observation"]["dossier"] for p in payloads]


def test_numpy_values_reach_the_server_as_the_in_process_environment_reads_them(server_url: str) -> None:
    """A seed from a dataset's column is a numpy integer, a policy's confidence a numpy float: the in-process
    environment takes them, so the client sends them as their Python values (it raised ``TypeError``)."""
    import numpy as np

    from drugenv.simulator.environment import DrugTargetEnvironment

    seed = np.int64(1_000_017)
    actions = [{"action_type": "query_expression", "parameters": {"database": np.str_("GTEx")}, "reasoning": "x"},
               {"action_type": "literature_search", "parameters": {"since_year": np.int32(2015)}, "reasoning": "x"},
               {"action_type": "submit_validation_report", "final_decision": "go", "confidence": np.float32(0.7),
                "reasoning": "x"}]
    local = DrugTargetEnvironment()
    expected = [local.reset(seed=seed)] + [local.step(a) for a in actions]

    async def play_async() -> list[Any]:
        async with AsyncDrugTargetEnv(base_url=server_url) as env:
            return [await env.reset(seed=seed)] + [await env.step(a) for a in actions]

    with DrugTargetEnv(base_url=server_url) as env:
        played = [env.reset(seed=seed), env.step(actions[0])]
        with pytest.raises(TypeError, match="type set cannot be sent to the server as JSON"):
            env.step({"action_type": "query_expression", "parameters": {"database": {"GTEx"}}})
        played += [env.step(a) for a in actions[1:]]  # the refused step was never sent: the episode goes on
    for seen in (played, asyncio.run(play_async())):
        assert [r.observation.model_dump(mode="json", exclude={"reward", "done", "metadata"}) for r in seen] == \
            [o.model_dump(mode="json", exclude={"reward", "done", "metadata"}) for o in expected]
        assert [r.reward for r in seen] == [o.reward for o in expected] and seen[-1].done
        assert seen[0].metadata["seed"] == 1_000_017 and expected[0].metadata["seed"] == 1_000_017


def test_http_routes_have_openenv_shapes(server_url: str) -> None:
    with httpx.Client(base_url=server_url, timeout=10) as http:
        assert http.get("/health").json()["status"] == "healthy"
        schema = http.get("/schema").json()
        assert set(schema) == {"action", "observation", "state", "reset_observation"}
        meta = http.get("/metadata").json()
        assert isinstance(meta["name"], str) and isinstance(meta["description"], str)
        assert http.get("/openapi.json").json()["info"]["version"]
        mcp = http.post("/mcp", json={})
        assert mcp.status_code == 200 and mcp.json()["jsonrpc"] == "2.0" and mcp.json()["error"]["code"] == -32603
        assert http.get("/state").json() == DrugTargetState().model_dump(mode="json")

        reset = http.post("/reset", json={"seed": 3, "scenario": "tp53_solid_tumors_clear_fail"})
        assert reset.status_code == 200
        payloads, _ = replay(3, "tp53_solid_tumors_clear_fail", [])
        assert reset.json() == {**payloads[0], "metadata": payloads[0].get("metadata")}
        step = http.post("/step", json={"action": {"action_type": "literature_search"}})
        assert step.status_code == 409 and "/ws" in step.json()["detail"]


def test_openenv_validate_url_passes(server_url: str) -> None:
    """What ``openenv validate --url`` runs: OpenEnv's runtime probe of a live server (6 criteria)."""
    validation = pytest.importorskip("openenv.cli._validation")
    report = validation.validate_running_environment(server_url, timeout_s=10.0)
    assert report["passed"], [c for c in report["criteria"] if not c["passed"]]
    assert report["summary"]["passed_count"] == report["summary"]["total_count"] == 6


def test_spec_example_runs_as_written(server_url: str) -> None:
    """The spec's "Talking to the environment" example, with the package imports."""
    pytest.importorskip("drugenv.scenarios.procedural", reason="reset() without a scenario is procedural")
    with DrugTargetEnv(base_url=server_url) as env:
        result = env.reset()
        print(result.observation.target_gene, "/", result.observation.indication)
        result = env.step(DrugTargetAction(
            action_type="query_expression",
            parameters={"database": "GTEx"},
            reasoning="Establish tissue baseline",
        ))
        print(result.observation.latest_output.summary)
        result = env.step(DrugTargetAction(
            action_type="submit_validation_report",
            reasoning="Sufficient evidence for go",
            final_decision="go",
            confidence=0.85,
        ))
        print("done:", result.done, "reward:", result.reward)
    assert result.done and isinstance(result.reward, float)


def test_env_threads_mode_replays_exactly_and_one_slow_session_blocks_no_other() -> None:
    """--env-threads N steps environments in a pool of N threads: frames equal the in-process replay, and
    while one session's step is held, another session is served (no clock: the held step waits for the other
    session's reply, so a server that made it wait would answer it only after the hold gave up, 30 s on)."""
    import threading

    from drugenv.server.app import create_app
    from drugenv.server.serve import serve_in_thread
    from drugenv.simulator.environment import DrugTargetEnvironment

    entered, release, hold_over = threading.Event(), threading.Event(), threading.Event()

    class SlowOnRequest(DrugTargetEnvironment):
        def step(self, action, **kwargs):
            reasoning = action.get("reasoning") if isinstance(action, dict) else getattr(action, "reasoning", None)
            if reasoning == "slow":
                entered.set()
                release.wait(timeout=30)
                hold_over.set()
            return super().step(action, **kwargs)

    with serve_in_thread(create_app(env_factory=SlowOnRequest, env_threads=2)) as url:
        frames, states, actions = play_raw(url, 3, "egfr_nsclc_viable")
        payloads, expected_states = replay(3, "egfr_nsclc_viable", actions)
        assert [f["data"] for f in frames] == payloads and [s["data"] for s in states] == expected_states
        slow, fast = DrugTargetEnv(base_url=url), DrugTargetEnv(base_url=url)
        slow.reset(seed=1, scenario="egfr_nsclc_viable")
        fast.reset(seed=2, scenario="egfr_nsclc_viable")
        t = threading.Thread(target=slow.step, args=({"action_type": "literature_search", "reasoning": "slow"},))
        t.start()
        assert entered.wait(timeout=30), "the slow step never reached the environment"
        fast.step({"action_type": "literature_search"})
        assert not hold_over.is_set(), "the other session waited for the slow step"
        release.set()
        t.join()
        slow.close()
        fast.close()


def test_the_schema_accepts_every_action_the_server_accepts(server_url: str) -> None:
    """``parameters: null`` is taken as ``{}`` in process and over the wire, and the schema refused it, so a
    client validating against ``/schema`` refused a legal action (the wire audit)."""
    jsonschema = pytest.importorskip("jsonschema")  # the full test install has it; a server install need not

    with httpx.Client(base_url=server_url, timeout=10) as http:
        schema = http.get("/schema").json()["action"]
    for action in ({"action_type": "crispr_knockout", "parameters": None}, {"action_type": "crispr_knockout"},
                   {"action_type": "crispr_knockout", "parameters": {"cell_lines": "panel"}}):
        jsonschema.validate(action, schema)
        DrugTargetAction.model_validate(action)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"action_type": "crispr_knockout", "parameters": []}, schema)
