"""Each reward term and the terminal formula on hand-computed cases; both decision-scoring rules."""

import numpy as np
import pytest

from drugenv.simulator.environment import DrugTargetEnvironment
from drugenv.simulator.params import RewardConfig
from drugenv.simulator.reward import decision_score


def test_linear_decision_score():
    assert decision_score("go", 0.9, "go", "linear") == pytest.approx(0.8)
    assert decision_score("go", 0.9, "no_go", "linear") == pytest.approx(-0.8)
    assert decision_score("no_go", 0.5, "no_go", "linear") == 0.0


def test_brier_decision_score():
    # p_go = 0.9 when saying go with 0.9; y = 1 -> 1 - 2*0.01
    assert decision_score("go", 0.9, "go", "brier") == pytest.approx(0.98)
    # saying no_go with 0.9 means p_go = 0.1; truth go -> 1 - 2*0.81
    assert decision_score("no_go", 0.9, "go", "brier") == pytest.approx(1 - 2 * 0.81)
    with pytest.raises(ValueError, match="linear"):
        decision_score("go", 0.5, "go", "log")


@pytest.mark.parametrize("q", [0.1, 0.3, 0.65, 0.9])
def test_brier_is_proper_and_linear_is_not(q):
    """Expected score under belief q (go correct with probability q) peaks at reporting p_go = q."""
    grid = np.linspace(0.0, 1.0, 201)

    def expected(p_go, rule):
        decision, conf = ("go", p_go) if p_go >= 0.5 else ("no_go", 1 - p_go)
        return q * decision_score(decision, conf, "go", rule) + (1 - q) * decision_score(decision, conf, "no_go", rule)

    brier = [expected(p, "brier") for p in grid]
    assert grid[int(np.argmax(brier))] == pytest.approx(q, abs=0.005)
    linear = [expected(p, "linear") for p in grid]
    assert grid[int(np.argmax(linear))] in (0.0, 1.0)  # linear pays to overstate


def test_step_terms_hand_computed():
    cfg = RewardConfig()
    env = DrugTargetEnvironment(reward_config=cfg)
    env.reset(seed=0, scenario="egfr_nsclc_viable")  # key dims: expression, druggability; 30 credits
    obs = env.step({"action_type": "query_expression"})
    t = obs.step_reward_breakdown
    assert t["reward/novelty"] == cfg.novelty_bonus
    assert t["reward/credit_cost"] == pytest.approx(-cfg.credit_cost_weight * 2 / 30, abs=1e-6)
    assert t["reward/violations"] == 0
    assert t["reward/shaping"] == pytest.approx(cfg.shaping_weight / 5)  # 1 of 5 public gates (linkage)
    assert obs.reward == pytest.approx(sum(t.values()), abs=1e-5)
    obs = env.step({"action_type": "toxicity_panel"})  # prerequisite (expression) met
    assert obs.step_reward_breakdown["reward/coherence"] == cfg.coherence_bonus
    # Safety is a public gate although toxicity is not one of this scenario's hidden key dimensions:
    # the step reward must not tell the two apart.
    assert obs.step_reward_breakdown["reward/shaping"] == pytest.approx(cfg.shaping_weight / 5)
    obs = env.step({"action_type": "differential_expression"})  # linkage again: no new gate
    assert obs.step_reward_breakdown["reward/shaping"] == 0.0
    assert obs.step_reward_breakdown["reward/novelty"] == 0.0  # expression again: the bonus is for a new dimension
    obs = env.step({"action_type": "clinical_trial_lookup"})  # clinical precedent informs no hard gate
    assert obs.step_reward_breakdown["reward/shaping"] == 0.0


def test_terminal_formula_hand_computed():
    cfg = RewardConfig()
    env = DrugTargetEnvironment(reward_config=cfg)
    env.reset(seed=0, scenario="egfr_nsclc_viable")
    env.step({"action_type": "query_expression"})            # key dim 1
    env.step({"action_type": "query_expression"})            # redundant
    env.step({"action_type": "toxicity_panel"})               # prereq met
    env.step({"action_type": "in_vivo_model"})                # prereq unmet
    obs = env.step({"action_type": "submit_validation_report", "final_decision": "go", "confidence": 0.8})
    t = obs.step_reward_breakdown
    coverage, efficiency, coherence = 1 / 2, 1 - 1 / 4, 1 / 2
    assert t["terminal/evidence_coverage"] == pytest.approx(0.35 * coverage)
    assert t["terminal/credit_efficiency"] == pytest.approx(0.15 * efficiency)
    assert t["terminal/reasoning_coherence"] == pytest.approx(0.10 * coherence)
    assert t["terminal/decision_accuracy"] == pytest.approx(0.40 * 2 * abs(0.8 - 0.5))
    assert "terminal/no_evidence_penalty" not in t


def test_submit_without_evidence_is_penalised():
    env = DrugTargetEnvironment()
    env.reset(seed=0, scenario="tp53_solid_tumors_clear_fail")
    obs = env.step({"action_type": "submit_validation_report", "final_decision": "no_go", "confidence": 0.99})
    assert obs.done and obs.step_reward_breakdown["terminal/no_evidence_penalty"] == -1.0


def test_brier_config_changes_terminal():
    env = DrugTargetEnvironment(reward_config=RewardConfig(decision_scoring="brier"))
    env.reset(seed=0, scenario="egfr_nsclc_viable")
    env.step({"action_type": "query_expression"})
    obs = env.step({"action_type": "submit_validation_report", "final_decision": "no_go", "confidence": 0.7})
    assert obs.step_reward_breakdown["terminal/decision_accuracy"] == pytest.approx(0.4 * (1 - 2 * 0.7 ** 2))


def test_shaping_off_and_potential_based():
    """Shaping terms telescope: their episode sum is Φ(final) − Φ(0) (3 of 5 gates inspected here)."""
    on = DrugTargetEnvironment()
    on.reset(seed=0, scenario="cd33_aml_misleading")
    total = 0.0
    for a in ["query_expression", "off_target_screen", "toxicity_panel", "clinical_trial_lookup"]:
        total += on.step({"action_type": a}).step_reward_breakdown["reward/shaping"]
    assert total == pytest.approx(RewardConfig().shaping_weight * 3 / 5, abs=1e-5)
    off = DrugTargetEnvironment(reward_config=RewardConfig(shaping=False))
    off.reset(seed=0, scenario="cd33_aml_misleading")
    assert off.step({"action_type": "off_target_screen"}).step_reward_breakdown["reward/shaping"] == 0.0


def test_free_red_flags_do_not_raise_the_terminal_coherence():
    """A flag costs nothing; counting its prerequisite ("some evidence first") raised the terminal
    coherence term from 0.0 to 0.095 with 20 flags after one unmet prerequisite."""
    def play(flags: int) -> float:
        env = DrugTargetEnvironment()
        env.reset(seed=4, scenario="egfr_nsclc_viable")
        env.step({"action_type": "toxicity_panel"})  # before any expression evidence: a prerequisite unmet
        for i in range(flags):
            env.step({"action_type": "flag_red_flag", "parameters": {"description": f"flag {i}"}})
        obs = env.step({"action_type": "submit_validation_report", "final_decision": "go", "confidence": 0.6})
        return obs.step_reward_breakdown["terminal/reasoning_coherence"]

    assert play(0) == play(5) == play(20) == 0.0


@pytest.mark.parametrize("action_type,reworded", [
    ("request_expert_review", "question"), ("biomarker_correlation", "biomarker"),
    ("patient_stratification", "biomarker")])
def test_a_query_asked_again_in_other_words_earns_no_coherence(action_type, reworded):
    """Asked with another question or biomarker, a query reads the same measurement; each was paid
    the coherence bonus (+0.02 against a 1-credit cost of 0.0033) and counted in the terminal coherence, so an
    agent farmed reward by re-asking the expert panel (20 re-asks took the terminal coherence after one slip
    from 0.0 to 0.095)."""
    values = {"question": ["Is it viable?", "Any safety concerns?", "Would you fund it?"],
              "biomarker": ["PD-L1", "TMB", "MSI"]}[reworded]
    env = DrugTargetEnvironment()
    env.reset(seed=4, scenario="egfr_nsclc_viable")
    env.step({"action_type": "toxicity_panel"})  # before any expression evidence: a prerequisite unmet
    env.step({"action_type": "query_expression"})
    first = env.step({"action_type": action_type, "parameters": {reworded: values[0]}})
    assert first.step_reward_breakdown["reward/coherence"] == RewardConfig().coherence_bonus
    for value in values[1:]:
        again = env.step({"action_type": action_type, "parameters": {reworded: value}})
        assert not again.rule_violations  # not redundant: the README's "its price is its cost"
        assert again.step_reward_breakdown["reward/coherence"] == 0.0 and again.reward < 0
    obs = env.step({"action_type": "submit_validation_report", "final_decision": "go", "confidence": 0.6})
    # toxicity (unmet), expression (no prerequisite), the one measurement (met): one of two.
    assert obs.step_reward_breakdown["terminal/reasoning_coherence"] == pytest.approx(RewardConfig().w_coherence / 2)


@pytest.mark.parametrize("fields", [{"final_decision": "go", "confidence": 0.9}, {"final_decision": "no_go"}, {"confidence": 0.9}])
def test_report_fields_on_another_action_are_a_soft_violation(fields):
    """They were accepted and ignored without a word: an LLM could believe it had reported. Either one alone
    is enough."""
    env = DrugTargetEnvironment()
    env.reset(seed=4, scenario="egfr_nsclc_viable")
    obs = env.step({"action_type": "literature_search", **fields})
    assert [v.rule for v in obs.rule_violations] == ["report_fields"] and not obs.done
    assert obs.step_reward_breakdown["reward/violations"] == pytest.approx(-RewardConfig().soft_violation_penalty)
    obs = env.step({"action_type": "submit_validation_report", "final_decision": "go", "confidence": 0.9})
    assert obs.done and not obs.rule_violations


def test_the_env_docstring_gives_the_reward_configs_terminal_weights():
    """The environment's docstring is the spec: the terminal weights it prints are ``RewardConfig``'s defaults."""
    import re

    from drugenv.simulator.environment import DrugTargetEnvironment
    from drugenv.simulator.params import RewardConfig

    doc = " ".join(DrugTargetEnvironment.__doc__.split())
    printed = re.search(r"\(by default ([\d.]+), ([\d.]+), ([\d.]+) and ([\d.]+)\)", doc)
    cfg = RewardConfig()
    assert printed and tuple(map(float, printed.groups())) == (cfg.w_decision, cfg.w_coverage, cfg.w_efficiency,
                                                               cfg.w_coherence)
    assert "w_decision·decision_accuracy + w_coverage·evidence_coverage" in doc
