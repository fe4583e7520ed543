"""Each hard rule blocks, each soft rule penalises but executes."""

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
