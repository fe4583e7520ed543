"""Each hard rule blocks, each soft rule penalises but executes."""

import pytest

from drugenv.simulator.environment import DrugTargetEnvironment
from drugenv.simulator.params import RewardConfig, SimParams

CFG = RewardConfig()


def fresh(scenario="egfr_nsclc_viable", **kw):
    env = DrugTargetEnvironment(**kw)
    obs = env.reset(seed=0, scenario=scenario)
    return env, obs


def rules_of(obs):
    return [v.rule for v in obs.rule_violations]


def test_unaffordable_is_blocked():
    env, obs = fresh()
    env._book.credits.used = 28  # 2 left
    obs = env.step({"action_type": "in_vitro_assay"})
    assert rules_of(obs) == ["unaffordable"] and obs.latest_output.status == "blocked"
    assert obs.credits_remaining == 2 and obs.reward == -CFG.hard_violation_penalty
    assert "in_vitro_assay" not in obs.legal_actions and "submit_validation_report" in obs.legal_actions


def test_invalid_parameters_are_blocked_not_raised():
    env, obs = fresh()
    obs = env.step({"action_type": "query_expression", "parameters": {"database": "NOPE"}})
    assert rules_of(obs) == ["invalid_action"] and obs.credits_remaining == obs.credits_total
    assert "GTEx" in obs.rule_violations[0].message  # says what is valid


def test_after_done_is_blocked_and_changes_nothing():
    env, obs = fresh()
    env.step({"action_type": "query_expression"})
    done = env.step({"action_type": "submit_validation_report", "final_decision": "go", "confidence": 0.9})
    assert done.done
    again = env.step({"action_type": "query_expression", "parameters": {"database": "GTEx"}})
    assert rules_of(again) == ["episode_done"] and again.step_count == done.step_count
    assert again.credits_remaining == done.credits_remaining and len(again.pipeline_history) == len(done.pipeline_history)


@pytest.mark.parametrize("sent", [{"action_type": "literature_serch"}, "garbage", None,
                                  {"action_type": "__unparseable__", "reasoning": "no JSON object in the reply"}])
def test_anything_sent_after_done_is_told_the_episode_ended(sent):
    # An LLM loop whose output stops parsing after the report must hear that the episode is over, not be
    # told to fix its JSON.
    env, _ = fresh()
    done = env.step({"action_type": "submit_validation_report", "final_decision": "no_go", "confidence": 0.6})
    again = env.step(sent)
    assert rules_of(again) == ["episode_done"] and again.latest_output.summary == "Blocked: episode has ended"
    assert again.reward == -CFG.hard_violation_penalty and again.done and again.step_count == done.step_count
    assert again.pipeline_history == done.pipeline_history


def test_missing_decision_is_blocked_with_penalty():
    env, obs = fresh()
    obs = env.step({"action_type": "submit_validation_report", "confidence": 0.8})
    assert rules_of(obs) == ["missing_decision"] and not obs.done
    assert "final_decision" in obs.rule_violations[0].message
    assert obs.step_reward_breakdown["reward/missing_decision"] == -CFG.missing_decision_penalty


def test_redundant_executes_with_soft_penalty():
    env, obs = fresh()
    env.step({"action_type": "query_expression"})
    obs = env.step({"action_type": "query_expression"})
    assert rules_of(obs) == ["redundant"] and obs.latest_output.status == "ok"
    assert obs.step_reward_breakdown["reward/violations"] == -CFG.soft_violation_penalty


def test_prerequisites_expression_before_toxicity_and_in_vitro_before_in_vivo():
    env, obs = fresh()
    obs = env.step({"action_type": "toxicity_panel"})
    assert rules_of(obs) == ["prerequisite"] and obs.latest_output.status == "ok"
    obs = env.step({"action_type": "in_vivo_model"})
    assert rules_of(obs) == ["prerequisite"]
    env, obs = fresh()
    env.step({"action_type": "query_expression"})
    assert rules_of(env.step({"action_type": "toxicity_panel"})) == []
    env.step({"action_type": "druggability_screen"})
    env.step({"action_type": "in_vitro_assay"})
    obs = env.step({"action_type": "in_vivo_model"})
    assert rules_of(obs) == [] and obs.step_reward_breakdown["reward/coherence"] == CFG.coherence_bonus


def test_step_limit_truncates_with_no_report_penalty():
    env = DrugTargetEnvironment(sim_params=SimParams(max_steps=3))
    env.reset(seed=0, scenario="egfr_nsclc_viable")
    for _ in range(3):
        obs = env.step({"action_type": "flag_red_flag", "parameters": {"description": "x"}})
    assert obs.done and obs.metadata["truncated"] and obs.metadata["termination_reason"] == "step_limit"
    assert obs.step_reward_breakdown["terminal/no_report_penalty"] == -CFG.no_report_penalty


def test_credits_exhausted_terminates():
    env, obs = fresh()
    env._book.credits.used = 27
    obs = env.step({"action_type": "druggability_screen"})  # costs the last 3
    assert obs.done and obs.metadata["termination_reason"] == "credits_exhausted"
    assert obs.step_reward_breakdown["terminal/no_report_penalty"] == -CFG.no_report_penalty


def test_free_flags_cannot_farm_reward():
    env, obs = fresh()
    env.step({"action_type": "query_expression"})
    first = env.step({"action_type": "flag_red_flag", "parameters": {"description": "toxicity?"}})
    assert first.step_reward_breakdown["reward/coherence"] == 0.0 and first.reward <= 0.0
    again = env.step({"action_type": "flag_red_flag", "parameters": {"description": "toxicity?"}})
    assert rules_of(again) == ["redundant"] and again.reward < 0


def test_legal_actions_are_exactly_what_the_hard_rules_let_through():
    """The observation's (and the gym masks' and prompts') legal actions and ``check`` must agree at every
    credit balance, the action that costs exactly what is left included."""
    from drugenv.actions import ACTION_TABLE
    from drugenv.models import DrugTargetAction
    from drugenv.simulator.rules import check, legal_actions

    for credits in range(max(s.cost for s in ACTION_TABLE.values()) + 2):
        allowed = []
        for action_type in ACTION_TABLE:
            extra = ({"final_decision": "go", "confidence": 0.9} if action_type.value == "submit_validation_report" else
                     {"parameters": {"description": "x"}} if action_type.value == "flag_red_flag" else {})
            action = DrugTargetAction(action_type=action_type, **extra)
            out = check(action, credits_remaining=credits, investigated=(), past_calls=(), any_evidence=True)
            if not out.blocked:
                allowed.append(action_type)
        assert set(legal_actions(done=False, credits_remaining=credits)) == set(allowed), credits
    assert legal_actions(done=True, credits_remaining=30) == []


def test_an_action_costing_the_last_credits_is_legal_and_runs():
    env, obs = fresh()
    env._book.credits.used = obs.credits_total - 5
    obs = env.step({"action_type": "query_expression"})  # costs 2: 3 left
    assert obs.credits_remaining == 3 and "druggability_screen" in obs.legal_actions  # costs 3
    obs = env.step({"action_type": "druggability_screen"})
    assert rules_of(obs) == [] and obs.latest_output.status == "ok" and obs.credits_remaining == 0


@pytest.mark.parametrize("action_type", ["evidence_synthesis", "request_expert_review", "flag_red_flag"])
def test_synthesis_review_and_flags_need_some_evidence_first(action_type):
    env, obs = fresh()
    params = {"description": "possible toxicity"} if action_type == "flag_red_flag" else {}
    obs = env.step({"action_type": action_type, "parameters": params})
    assert rules_of(obs) == ["prerequisite"] and "needs some evidence gathered first" in obs.rule_violations[0].message
    env, obs = fresh()
    env.step({"action_type": "query_expression"})
    assert rules_of(env.step({"action_type": action_type, "parameters": params})) == []


def test_a_report_without_evidence_earns_no_credit_efficiency_and_is_penalised():
    env, obs = fresh()
    obs = env.step({"action_type": "submit_validation_report", "final_decision": "go", "confidence": 0.9})
    terms = obs.step_reward_breakdown
    assert terms["terminal/credit_efficiency"] == 0.0 and terms["terminal/no_evidence_penalty"] == -CFG.no_evidence_penalty


def test_reasoning_coherence_is_the_share_of_prerequisites_met_and_full_where_none_applied():
    env, obs = fresh()
    env.step({"action_type": "query_expression"})  # no prerequisite applies
    obs = env.step({"action_type": "submit_validation_report", "final_decision": "go", "confidence": 0.9})
    assert obs.step_reward_breakdown["terminal/reasoning_coherence"] == pytest.approx(CFG.w_coherence)
    env, obs = fresh()
    env.step({"action_type": "toxicity_panel"})  # its prerequisite (expression) unmet
    env.step({"action_type": "query_expression"})
    env.step({"action_type": "patient_stratification"})  # expression seen: met
    obs = env.step({"action_type": "submit_validation_report", "final_decision": "go", "confidence": 0.9})
    assert obs.step_reward_breakdown["terminal/reasoning_coherence"] == pytest.approx(CFG.w_coherence * 1 / 2)
    assert obs.step_reward_breakdown["terminal/credit_efficiency"] == pytest.approx(CFG.w_efficiency)  # nothing repeated
