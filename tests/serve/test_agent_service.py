"""The agent service (one Serve app: Agent + Environment deployments behind an ingress) on loopback:
/health, /act (batched), /episodes (a whole episode, no truth), invalid output as a penalised step."""

import asyncio
import json

import httpx
import pytest

from drugenv.server.serve import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(tiny_checkpoint):
    ray = pytest.importorskip("ray")
    from ray import serve

    from serve.apps import build_agent_service

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    port = free_port()  # after ray.init: Ray binds several ports of its own and could take it
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_agent_service({"checkpoint": str(tiny_checkpoint), "torch_threads": 1, "batch_wait_timeout_s": 0.05}),
                  name="agent", route_prefix="/")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def test_health_reads_the_base_model_from_the_adapter(service, tiny_checkpoint):
    from drugenv.llm.tiny import cached_tiny_model

    body = httpx.get(f"{service}/health", timeout=60).json()
    assert body["status"] == "healthy" and body["strict_actions"] is False
    assert body["model"] == str(cached_tiny_model().resolve()) and body["adapter"] == str((tiny_checkpoint / "adapter").resolve())


def test_act_and_concurrent_acts_are_batched(service):
    from drugenv.simulator.environment import DrugTargetEnvironment

    obs = [DrugTargetEnvironment().reset(seed=s, scenario="procedural").model_dump(mode="json") for s in range(8)]

    async def fire():
        async with httpx.AsyncClient(base_url=service, timeout=120) as c:
            return await asyncio.gather(*(c.post("/act", json=o) for o in obs))

    replies = asyncio.run(fire())
    assert all(r.status_code == 200 for r in replies), replies[0].text
    assert all("action_type" in r.json()["action"] and isinstance(r.json()["valid"], bool) for r in replies)
    sizes = {int(k): v for k, v in httpx.get(f"{service}/health", timeout=60).json()["batch_sizes"].items()}
    assert max(sizes) > 1, sizes  # concurrent requests shared a generate call
    assert httpx.post(f"{service}/act", json={"target_gene": 1}, timeout=60).status_code == 422


def test_bad_bodies_get_422_never_500_and_a_bad_observation_fails_alone(service):
    """FastAPI's own 422 handler echoed the value and answered 500 where it could not encode it (NaN,
    a lone surrogate); an observation no prompt can be built for failed every request batched with it."""
    from drugenv.simulator.environment import DrugTargetEnvironment

    good = DrugTargetEnvironment().reset(seed=0, scenario="procedural").model_dump_json()
    bad_gene = good.replace('"target_gene":"', '"target_gene":"\\ud800', 1)
    for path, body in (("/act", good.replace('"credits_remaining":', '"credits_remaining":NaN,"x":', 1)),
                       ("/episodes", '{"seed": NaN}'), ("/episodes", '{"seed": "\\ud800"}'), ("/episodes", '{"\\ud800": 1}')):
        r = httpx.post(f"{service}{path}", content=body, headers={"content-type": "application/json"}, timeout=60)
        assert r.status_code == 422 and "ud800" not in r.text, (path, body[:80], r.status_code, r.text[:300])

    async def fire():
        async with httpx.AsyncClient(base_url=service, timeout=120, headers={"content-type": "application/json"}) as c:
            return await asyncio.gather(*(c.post("/act", content=b) for b in (good, bad_gene, good)))

    replies = asyncio.run(fire())
    assert [r.status_code for r in replies] == [200, 422, 200], [r.text[:200] for r in replies]
    assert "no prompt can be built" in replies[1].text

    # Metadata nested 600 deep validated, then failed to pickle on its way to the Agent replica: a 500.
    deep = good.replace('"metadata":{', '"metadata":{"deep":' + "[" * 600 + "]" * 600 + ",", 1)
    r = httpx.post(f"{service}/act", content=deep, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 422 and "nests deeper than 64" in r.text, (r.status_code, r.text[:300])
    payload = json.loads(good)
    payload["latest_output"]["data"] = {"deep": json.loads("[" * 600 + "]" * 600)}  # a readout's data, not metadata
    deep = json.dumps(payload)
    r = httpx.post(f"{service}/act", content=deep, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 422 and "nests deeper than 64" in r.text, (r.status_code, r.text[:300])
    # A body 4x a long episode's observation was taken (1 MiB) and tokenized whole, blocking the replica.
    big = good.replace('"indication":"', '"indication":"' + "lorem " * 60_000, 1)
    r = httpx.post(f"{service}/act", content=big, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 413, (r.status_code, r.text[:300])

    # Readouts JSON can hold but a float cannot (1e400 reads as inf) or a prompt cannot format: a 500 before.
    import re

    from drugenv.models import DrugTargetAction

    env = DrugTargetEnvironment()
    env.reset(seed=0, scenario="egfr_nsclc_viable")
    screened = env.step(DrugTargetAction(action_type="druggability_screen", reasoning="x")).model_dump_json()
    assert '"druggability_score":' in screened
    for value in ("1e400", "-1e400", "9" * 400):
        body = re.sub(r'"druggability_score":[-0-9.e]+', f'"druggability_score":{value}', screened)
        r = httpx.post(f"{service}/act", content=body, headers={"content-type": "application/json"}, timeout=60)
        assert r.status_code == 422 and "no prompt can be built" in r.text, (value[:10], r.status_code, r.text[:300])
    # ... and in a readout no field types, where the prompt said "inf" (a 200)
    body = screened.replace('"druggability_score":', '"extra_readout":1e400,"druggability_score":', 1)
    r = httpx.post(f"{service}/act", content=body, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 422 and "extra_readout is not a finite number" in r.text, (r.status_code, r.text[:300])


def test_episode_plays_to_the_end_without_truth(service):
    r = httpx.post(f"{service}/episodes", json={"scenario": "egfr_nsclc_viable", "seed": 0, "max_steps": 3}, timeout=300)
    assert r.status_code == 200, r.text
    ep = r.json()
    assert ep["target_gene"] == "EGFR" and len(ep["steps"]) == 3 and ep["termination_reason"]
    # The untrained model's text is mostly not an action: each such step is played and penalised, the loop goes on.
    bad = [s for s in ep["steps"] if not s["valid"]]
    assert bad, "an untrained tiny model wrote a valid action at every step: nothing below is checked"
    assert all(any(v.startswith("invalid_action") for v in s["violations"]) and s["reward"] < 0 for s in bad)
    assert ep["reward_breakdown"] and set(ep["steps"][0]["reward_terms"]) <= set(ep["reward_breakdown"])
    assert ep["total_reward"] == pytest.approx(sum(s["reward"] for s in ep["steps"]))
    assert "dossier" in ep and "terminal_reward" in ep
    text = json.dumps(ep)
    assert "correct_decision" not in text and "decision_correct" not in text  # the truth never leaves the env


def test_episode_by_gene_and_indication_and_bad_requests(service):
    r = httpx.post(f"{service}/episodes", json={"gene": "egfr", "indication": "GBM", "seed": 0, "max_steps": 1}, timeout=300)
    assert r.status_code == 200, r.text
    assert (r.json()["target_gene"], r.json()["indication"]) == ("EGFR", "GBM")
    from drugenv.scenarios import CURATED_NAMES

    for body, words in (({"gene": "NOPE1"}, "unknown gene/indication pair"), ({"scenario": "nope"}, "unknown scenario"),
                        ({"seed": -1}, "greater than or equal"),
                        # answered 200 while a field was ignored: another gene's episode, or the curated one dropped
                        ({"indication": "NSCLC", "max_steps": 1}, "indication needs gene"), ({"gene": "", "indication": "GBM"}, "at least 1"),
                        ({"gene": "EGFR", "scenario": "tp53_solid_tumors_clear_fail"}, "not both"),
                        ({"scenario": "egfr_nsclc_viable", "difficulty": "very_hard"}, "a curated scenario has its own"),
                        ({"difficulty": "brutal"}, "difficulty 'brutal' is unknown"), ({"scenario": "x" * 100_000}, "at most 100"),
                        ({"seed": True}, "valid integer"), ({"seed": "1"}, "valid integer"), ({"seed": 2**64}, "less than or equal")):
        r = httpx.post(f"{service}/episodes", json=body, timeout=60)
        assert r.status_code == 422 and words in r.text, r.text[:500]
        assert len(r.text) < 2_000 and not any(name in r.text for name in CURATED_NAMES if name not in json.dumps(body)), r.text[:500]


def test_environment_sessions_are_bounded_oldest_first():
    """The Environment deployment forgets its oldest episode past max_sessions (bounded memory); the
    forgotten session is a clear ConfigError, the others play on. The class itself, without Serve."""
    pytest.importorskip("ray.serve")
    from drugenv.errors import ConfigError
    from serve.agent_service import Environment

    env = Environment.func_or_class(max_sessions=2)
    ids = [env.reset(seed=s, scenario="egfr_nsclc_viable")[0] for s in range(3)]
    with pytest.raises(ConfigError, match="unknown or expired"):
        env.step(ids[0], {"action_type": "literature_search"})
    assert [env.step(i, {"action_type": "literature_search"}).step_count for i in ids[1:]] == [1, 1]
