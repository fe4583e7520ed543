"""Hidden truth never leaves the server: every payload of many episodes (observations, states, error
frames, HTTP schema / metadata / openapi / health / state / reset / step / mcp) is scanned for the
hidden models' field names, the curated scenario ids (they give the answer away), the misleading
signals' texts and the hidden classes' names."""

from __future__ import annotations

import importlib.util
import json
import random
import re
from typing import Any, Iterator, Optional

import httpx
import pytest
from websockets.sync.client import connect

from drugenv.actions import ActionType
from drugenv.scenarios import curated_scenarios
from drugenv.scenarios.base import Scenario
from drugenv.server.app import create_app
from drugenv.server.serve import serve_in_thread
from drugenv.simulator import latent

from tests.simulator.test_integrity import without_the_evidence

from .conftest import SCENARIOS, random_action, ws_url

# Readouts that the evidence engine names like a hidden field: they carry a *noisy* public
# measurement (or a public fact such as the clinical precedent), not the true value's field.
PUBLIC_READOUT_KEYS = {
    "alteration_frequency", "druggability_score", "allosteric_pocket_score", "toxicity_risk", "selectivity_ratio",
    "responder_fraction", "clinical_precedent",
}
# Generic words that are also public model fields (observation / schema vocabulary).
PUBLIC_WORDS = {"gene", "indication", "disease_context", "seed", "difficulty", "max_steps", "dimension", "description",
                "total", "used", "credits",
                "report_submitted"}  # also the public termination_reason of a submitted episode
ACTION_NAMES = {a.value for a in ActionType}  # "biomarker_correlation" is an action (a quoted value) and a hidden field
ALWAYS_SECRET = ("correct_decision", "true_viability", "key_evidence_dimensions", "misleading_signal",
                 "scenario_id", "required_parameters", "covered_key_dimensions", "oracle_view",
                 "TargetProfile", "FullLatentState", "DataQualityState", "LatentTargetState", "MisleadingSignal")


def hidden_field_names() -> set[str]:
    models = [latent.TargetProfile, latent.DataQualityState, latent.FullLatentState, latent.OracleView,
              latent.MisleadingSignal, Scenario]
    names = {n for m in models for n in m.model_fields}
    return names - PUBLIC_READOUT_KEYS - PUBLIC_WORDS


def secret_strings() -> set[str]:
    out = set(curated_scenarios())
    for sc in curated_scenarios().values():
        out |= {m.description for m in sc.profile.misleading_signals}
    return out


def keys_of(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from keys_of(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from keys_of(v)


def assert_clean(text: str, where: str) -> None:
    hidden = hidden_field_names()
    for word in ALWAYS_SECRET:
        assert word not in text, f"{where}: hidden name {word!r} in payload"
    for secret in secret_strings():
        assert secret not in text, f"{where}: secret string {secret!r} in payload"
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    leaked = set(keys_of(payload)) & hidden
    assert not leaked, f"{where}: hidden field names {sorted(leaked)} used as keys"
    quoted = {m for m in re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', text) if m in hidden - ACTION_NAMES}
    assert not quoted, f"{where}: hidden field names {sorted(quoted)} in payload"


BAD_FRAMES = [
    '{"type":"step","data":{"action_type":"submit_validation_report"}}',
    '{"type":"step","data":{"action_type":"no_such_action"}}',
    '{"type":"step","data":{"action_type":"query_expression","parameters":{"database":"nope","x":1}}}',
    '{"type":"step","data":{"action_type":"submit_validation_report","final_decision":"go","confidence":7}}',
    '{"type":"reset","data":{"scenario":"no_such_scenario"}}',
    '{"type":"reset","data":{"difficulty":"impossible"}}',
    '{"type":"reset","data":{"seed":-1,"extra":true}}',
    '{"type":"nope"}', '{bad json', '[1,2]', '{"type":"state","data":{}}',
    '{"type":"mcp","data":{"jsonrpc":"2.0","id":1,"method":"tools/list"}}',
]


def play_and_collect(url: str, seed: int, scenario: Optional[str], texts: list[str]) -> None:
    rng = random.Random(seed)
    with connect(ws_url(url)) as ws:
        ws.send(BAD_FRAMES[0])  # step before reset
        texts.append(ws.recv())
        ws.send(json.dumps({"type": "reset", "data": {"seed": seed, "scenario": scenario}}))
        frame = json.loads(texts.append(ws.recv()) or texts[-1])
        while not frame["data"]["done"]:
            ws.send(json.dumps({"type": "step", "data": random_action(rng, frame["data"]["observation"])}))
            texts.append(ws.recv())
            frame = json.loads(texts[-1])
            ws.send('{"type":"state"}')
            texts.append(ws.recv())
        for bad in BAD_FRAMES:
            ws.send(bad)
            texts.append(ws.recv())


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "penalty"])
def test_no_hidden_truth_in_any_payload(strict: bool) -> None:
    texts: list[str] = []
    scenarios: list[Optional[str]] = list(SCENARIOS)
    if importlib.util.find_spec("drugenv.scenarios.procedural") is not None:
        scenarios.append("procedural")
    with serve_in_thread(create_app(strict_actions=strict)) as url:
        for scenario in scenarios:
            for seed in range(6 if strict else 2):
                play_and_collect(url, seed, scenario, texts)
        with httpx.Client(base_url=url, timeout=10) as http:
            for path in ("/schema", "/metadata", "/openapi.json", "/health", "/state", "/docs"):
                texts.append(http.get(path).text)
            for scenario in SCENARIOS:
                texts.append(http.post("/reset", json={"seed": 1, "scenario": scenario}).text)
            texts.append(http.post("/reset", json={"scenario": "no_such_scenario"}).text)
            texts.append(http.post("/step", json={"action": {"action_type": "literature_search"}}).text)
            texts.append(http.post("/step", json={"action": {"action_type": "bogus", "x": 1}}).text)
            texts.append(http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).text)
    assert len(texts) > 200
    kinds = {json.loads(t).get("type") for t in texts if t.startswith('{"type"')}
    assert {"observation", "state", "error", "mcp"} <= kinds
    for i, text in enumerate(texts):
        assert_clean(text, f"payload {i}")


def play_twin(url: str, seed: int, scenario: str, difficulty: str) -> list[dict]:
    """Every observation and state frame of one episode, with the evidence taken out, under a random plan
    that reads only what both twins share (legal actions, step count)."""
    rng, frames = random.Random(seed), []
    with connect(ws_url(url)) as ws:
        ws.send(json.dumps({"type": "reset", "data": {"seed": seed, "scenario": scenario, "difficulty": difficulty}}))
        frame = json.loads(ws.recv())
        while True:
            data = frame["data"]
            frames.append({**data, "observation": without_the_evidence(data["observation"], done=data["done"])})
            if data["done"]:
                frames[-1].pop("reward", None)  # the terminal reward pays for the truth, as the spec's formula says
                break
            ws.send('{"type":"state"}')
            frames.append(without_the_evidence(json.loads(ws.recv())["data"]))
            ws.send(json.dumps({"type": "step", "data": random_action(rng, data["observation"])}))
            frame = json.loads(ws.recv())
    return frames


def test_nothing_but_the_evidence_differs_between_twins_over_the_wire() -> None:
    """A frame field computed from the truth leaks whatever its name: a counterfactual twin
    (``procedural-twin``, the same world with the opposite answer) played the same way must receive the
    same frames once the evidence (and, at the end, the terms paid for the truth) is taken out."""
    if importlib.util.find_spec("drugenv.scenarios.procedural") is None:
        pytest.skip("needs the procedural generator")
    frames = 0
    with serve_in_thread(create_app()) as url:
        for seed in range(16):
            tier = ("easy", "medium", "hard", "very_hard")[seed % 4]
            original, twin = play_twin(url, seed, "procedural", tier), play_twin(url, seed, "procedural-twin", tier)
            assert original == twin, f"seed {seed} ({tier}): a frame differs between twins beyond the evidence"
            frames += len(original)
    assert frames > 100


def test_scan_catches_a_leak() -> None:
    """The scanner itself: a served truth would be caught."""
    truth = curated_scenarios()["cd33_aml_misleading"]
    with pytest.raises(AssertionError):
        assert_clean(truth.profile.model_dump_json(), "profile")
    with pytest.raises(AssertionError):
        assert_clean(json.dumps({"message": "unknown scenario; expected one of: cd33_aml_misleading"}), "error")
    with pytest.raises(AssertionError):
        assert_clean(json.dumps({"tumor_expression_tpm": 3.0}), "key")
