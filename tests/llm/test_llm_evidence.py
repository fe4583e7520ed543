"""The model sees the evidence it must decide on: every readout ``belief.assess`` uses reaches the
prompt, within each config's token budget, with the tokenizer that config trains with; and SFT,
GRPO and evaluation play one game (step cap, budget, renderer)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from drugenv.agents.baselines import HeuristicPolicy
from drugenv.agents.belief import assess
from drugenv.llm.prompts import (
    GATE_READOUTS,
    READOUT_NAMES,
    build_messages,
    evidence_table,
    fmt_readout,
    prompt_token_ids,
    report_confidence,
)
from drugenv.scenarios import suite_episodes
from drugenv.simulator.environment import DrugTargetEnvironment
from drugenv.simulator.params import SimParams

ROOT = Path(__file__).resolve().parents[2]
HELD_OUT = 12  # procedural-test episodes per config (the CI box has 2 cores)


def _config(name: str) -> dict:
    from drugenv.training.configs import load_rllib_config

    return load_rllib_config(ROOT / "rllib_configs" / name).settings()


def _state(a) -> tuple:
    return (tuple(round(p, 9) for p in a.pass_prob.values()), tuple(round(v, 9) for v in a.soft_log_odds.values()),
            tuple(a.seen.values()))


def _variants(v):
    if isinstance(v, bool):
        return [not v]
    if isinstance(v, (int, float)):
        return [v * 0.5 - 0.3, v * 2.0 + 0.7, -abs(v) - 1.0, abs(v) * 10 + 50]
    if isinstance(v, str):
        return ["approved", "failed", "none", "late_clinical", "unaltered", "altered"]
    return []


def decision_readouts(dossier) -> list[tuple[str, object]]:
    """(data key, value) of every readout whose change changes ``assess(dossier)``: found by
    perturbation, so the test does not trust the renderer's own list of what matters."""
    base = _state(assess(dossier))
    out = []
    findings = dossier.all_findings()
    for i, f in enumerate(findings):
        for k, v in f.data.items():
            for alt in _variants(v):
                d = copy.deepcopy(dossier)
                d.all_findings()[i].data[k] = alt
                try:
                    changed = _state(assess(d)) != base
                except (TypeError, ValueError, KeyError, ZeroDivisionError):
                    changed = True  # assess reads it (and chokes on an impossible value)
                if changed:
                    if not (isinstance(v, str) and k not in READOUT_NAMES):  # a condition (cell lines), not a readout
                        out.append((k, v))
                    break
    return out


def _episodes(max_steps: int, n: int = HELD_OUT):
    """Heuristic episodes on held-out procedural-test seeds: every observation and the action taken."""
    for scenario, seed in suite_episodes("procedural-test", n, 0):
        env = DrugTargetEnvironment(sim_params=SimParams(max_steps=max_steps))
        obs = env.reset(seed=seed, scenario=scenario)
        policy = HeuristicPolicy()
        policy.reset(1, [seed])
        turns = []
        while not obs.done:
            action = policy.act([obs])[0]
            turns.append((obs, action))
            obs = env.step(action)
        yield turns


def _check_turn(obs, tokenizer, budget: int) -> tuple[int, int]:
    msgs = build_messages(obs, tokenizer=tokenizer, max_prompt_tokens=budget)
    assert len(prompt_token_ids(tokenizer, msgs)) <= budget
    user = msgs[1]["content"]
    lines = user.splitlines()
    needed = decision_readouts(obs.dossier)
    found = 0
    for k, v in needed:
        shown = f"{READOUT_NAMES[k]}={fmt_readout(v)}" if k in READOUT_NAMES else None
        gate = next((g for g, pairs in GATE_READOUTS if any(k == key for key, _ in pairs)), None)
        gate_line = next((ln for ln in lines if gate and ln.lstrip().startswith(gate)), "")
        found += bool(shown and shown in gate_line.split(": ", 1)[-1].split())
    for line in evidence_table(obs):  # the table (pass probabilities, P(go)) is never cut
        assert line in lines
    return found, len(needed)


def _tokenizer_for(settings: dict):
    model = str(settings["model"])
    if model.startswith("tiny"):
        from drugenv.llm.loading import load_tokenizer
        from drugenv.llm.tiny import cached_tiny_model

        return load_tokenizer(cached_tiny_model())
    from drugenv.llm.tiny import TokenizerUnavailable, cached_tokenizer

    try:  # Qwen2.5's exact tokenizer, rebuilt offline (drugenv.llm.tiny)
        return cached_tokenizer("qwen")
    except TokenizerUnavailable as e:
        pytest.skip(str(e))


@pytest.mark.parametrize("config", ["grpo_tiny_cpu", "grpo_qwen25_05b", "grpo_qwen25_3b_h200"])
def test_every_decision_readout_reaches_the_prompt_at_the_report(config):
    s = _config(config)
    budget, cap = int(s["training"]["max_prompt_tokens"]), int(s["training"]["max_turns"])
    tok = _tokenizer_for(s)
    found = needed = reports = 0
    for turns in _episodes(cap):
        obs, action = turns[-1]
        assert action.action_type.value == "submit_validation_report"  # the heuristic reports within the cap
        f, n = _check_turn(obs, tok, budget)
        found, needed, reports = found + f, needed + n, reports + 1
    assert reports == HELD_OUT and needed > 3 * HELD_OUT
    assert found == needed, f"{config}: {found}/{needed} decision readouts reach the prompt"


def test_every_decision_readout_reaches_the_tiny_prompt_at_every_turn():
    s = _config("grpo_tiny_cpu")
    tok = _tokenizer_for(s)
    found = needed = 0
    for turns in _episodes(int(s["training"]["max_turns"]), n=6):
        for obs, _ in turns:
            f, n = _check_turn(obs, tok, int(s["training"]["max_prompt_tokens"]))
            found, needed = found + f, needed + n
    assert found == needed > 0


def test_table_states_the_public_belief():
    turns = next(_episodes(12, n=1))
    obs, action = turns[-1]
    b = assess(obs.dossier)
    text = "\n".join(evidence_table(obs))
    assert f"P(go)={b.p_go:.2f}" in text
    assert f'belief: "final_decision": "{action.final_decision}", "confidence": {report_confidence(action.confidence)!r}' in text
    for g, p in b.pass_prob.items():
        assert f" {g} {p:.2f}" in text


def test_table_verdicts_and_decisive_follow_the_public_belief():
    """What the agent reads off each gate line: FAIL below a pass probability of 0.4, pass from 0.6, ? between
    (the heuristic's follow-up rule); "decisive" where |log-odds of P(go)| reaches 4 (its stopping threshold)."""
    verdicts, decisive = set(), set()
    for turns in _episodes(12, n=30):
        for obs, _ in turns:
            b = assess(obs.dossier)
            lines = evidence_table(obs)
            for g, p in b.pass_prob.items():
                line = next(x for x in lines if x.startswith(f" {g} "))
                if not b.seen[g]:
                    assert line == f" {g} {p:.2f} unseen"
                    continue
                word = line.split()[2].rstrip(":")
                assert word == ("FAIL" if p < 0.4 else "pass" if p >= 0.6 else "?"), (line, p)
                verdicts.add(word)
            p_go, logit = b.p_go_and_logit()
            assert lines[-1].endswith(" decisive") == (abs(logit) >= 4.0), (lines[-1], logit)
            decisive.add(lines[-1].endswith(" decisive"))
    assert verdicts == {"FAIL", "?", "pass"} and decisive == {True, False}  # every branch was read


def test_report_confidence_states_three_decimals_within_half_and_0999():
    assert report_confidence(0.8766) == 0.877
    assert report_confidence(0.99949) == 0.999 and report_confidence(0.9996) == 0.999 and report_confidence(1.0) == 0.999
    assert report_confidence(0.4) == 0.5 and report_confidence(0.5004) == 0.5


def test_one_game_sft_grpo_and_evaluation():
    """Step cap, prompt budget and renderer are the same in SFT data, GRPO rollouts and evaluation."""
    from drugenv.llm.sft import expert_examples
    from drugenv.llm.loading import load_tokenizer
    from drugenv.llm.tiny import cached_tiny_model
    from drugenv.training.grpo_train import sft_settings_for

    for name in ("grpo_tiny_cpu", "grpo_qwen25_05b", "grpo_qwen25_3b_h200"):
        s = _config(name)
        t, run = s["training"], s["run"]
        assert t["max_turns"] == run["eval_max_steps"], name
        assert t["max_prompt_tokens"] == run["eval_max_prompt_tokens"], name
        sft = sft_settings_for(s)
        assert sft["max_steps"] == t["max_turns"] and sft["max_prompt_tokens"] == t["max_prompt_tokens"], name
    s = _config("grpo_tiny_cpu")
    sft = sft_settings_for(s)
    tok = load_tokenizer(cached_tiny_model())
    ex = expert_examples(suite_episodes("procedural-train", 3, 0), expert="heuristic", tokenizer=tok,
                         max_prompt_tokens=sft["max_prompt_tokens"], max_steps=sft["max_steps"])
    assert ex and all(f"/{s['training']['max_turns']} |" in c[1]["content"] for c in ex)
    # Rollouts render with the very same function and budget (env_runner.ChatAgentIO), and so does HFPolicy.
    from drugenv.training.env_runner import ChatAgentIO

    obs = DrugTargetEnvironment(sim_params=SimParams(max_steps=12)).reset(seed=1, scenario="procedural")
    io = ChatAgentIO(max_prompt_tokens=sft["max_prompt_tokens"])
    assert io.prompt_ids(tok, obs) == prompt_token_ids(tok, build_messages(obs, tokenizer=tok, max_prompt_tokens=512))


def test_teacher_reply_names_the_evidence_and_decides_first(bpe_tokenizer):
    from drugenv.llm.sft import expert_examples

    ex = expert_examples(suite_episodes("procedural-test", 8, 0), expert="heuristic", tokenizer=bpe_tokenizer,
                         max_prompt_tokens=512, max_steps=12)
    reports = [c for c in ex if '"submit_validation_report"' in c[-1]["content"]]
    assert len(reports) == 8
    for c in reports:
        text = c[-1]["content"]
        reply = json.loads(text)
        assert text.index('"final_decision"') < text.index('"confidence"') < text.index('"reasoning"')
        assert "P(go)" not in reply["reasoning"] and "=" in reply["reasoning"]  # readouts, not a bare belief
        assert f'belief: "final_decision": "{reply["final_decision"]}", "confidence": {reply["confidence"]!r}' in c[1]["content"]
