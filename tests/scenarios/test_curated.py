"""Each curated scenario behaves as the spec claims, read by a sensible scientist (agents.belief).

Every claim is checked over several noise seeds, so it holds for the scenario, not for one draw.
"""

import pytest

from drugenv.agents.belief import assess
from drugenv.scenarios import CURATED_NAMES, curated_scenarios
from drugenv.scenarios.curated import curated_overrides, curated_pair
from drugenv.scenarios.target_data import base_fields, load_target_data, pair_record
from drugenv.simulator.environment import DrugTargetEnvironment
from drugenv.simulator.gates import GO_VIABILITY_MIN, NO_GO_VIABILITY_MAX, decide

SEEDS = range(12)


def belief_after(scenario, seed, actions):
    """The belief after ``actions``, and the fraction of the scenario's key dimensions they covered
    (read from the episode outcome, after reporting that belief)."""
    env = DrugTargetEnvironment()
    env.reset(seed=seed, scenario=scenario)
    for a in actions:
        obs = env.step(a)
        assert not obs.rule_violations or all(v.severity == "soft" for v in obs.rule_violations), obs.rule_violations
    b = assess(obs.dossier)
    decision, confidence = b.decision()
    env.step({"action_type": "submit_validation_report", "final_decision": decision, "confidence": confidence})
    return b, env.outcome().key_evidence_coverage


def test_all_five_exist_with_spec_decisions():
    sc = curated_scenarios()
    assert tuple(sc) == CURATED_NAMES
    want = {"egfr_nsclc_viable": ("easy", "go"), "kras_pdac_borderline": ("medium", "go"),
            "cd33_aml_misleading": ("hard", "no_go"), "tp53_solid_tumors_clear_fail": ("easy", "no_go"),
            "ptpn11_juvenile_mml_complex": ("very_hard", "go")}
    assert {k: (v.difficulty, v.profile.correct_decision) for k, v in sc.items()} == want


# Not facts of the pair: the scenario's design, its wording for the agent, and its verdict (from the gates).
DESIGN = {"indication", "disease_context", "correct_decision", "true_viability_score", "key_evidence_dimensions",
          "misleading_signals", "required_parameters"}


@pytest.mark.parametrize("name", CURATED_NAMES)
def test_profile_is_its_targets_json_pair_plus_documented_overrides(name):
    profile = curated_scenarios()[name].profile.model_dump(mode="json")
    pair = pair_record(curated_pair(name))
    target = load_target_data()["targets"][pair["target"]]
    want = {**base_fields(pair), "gene": target["gene"], "target_class": target["target_class"]}
    overrides = curated_overrides(name)
    for key, (value, reason) in overrides.items():
        assert key in want and key not in DESIGN, f"{name}: override of unknown or design field {key!r}"
        assert isinstance(reason, str) and len(reason) > 20, f"{name}: override {key!r} needs its reason"
        assert value != want[key], f"{name}: override {key!r} repeats the pair's value"
        want[key] = value
    got = {k: v for k, v in profile.items() if k not in DESIGN}
    # model_dump(mode="json") turns tuples into lists; compare in that form (80 == 80.0 already).
    assert got == {k: (list(v) if isinstance(v, tuple) else v) for k, v in want.items()}


@pytest.mark.parametrize("name", CURATED_NAMES)
def test_verdict_is_the_public_gates_of_the_profile(name):
    profile = curated_scenarios()[name].profile
    assert profile.correct_decision == decide(profile.model_dump())[0]
    # The designed viability (what the expert panel reads) lies on the verdict's side.
    if profile.correct_decision == "go":
        assert profile.true_viability_score >= GO_VIABILITY_MIN
    else:
        assert profile.true_viability_score <= NO_GO_VIABILITY_MAX


# What a careful scientist would run on any target (binding_site_analysis is varied below).
FULL = [{"action_type": "query_expression"}, {"action_type": "druggability_screen"},
        {"action_type": "literature_search", "parameters": {"since_year": 2013}},
        {"action_type": "toxicity_panel"}, {"action_type": "off_target_screen"},
        {"action_type": "crispr_knockout", "parameters": {"cell_lines": "altered"}},
        {"action_type": "in_vitro_assay"}, {"action_type": "clinical_trial_lookup"},
        {"action_type": "patient_stratification"}]
ALLOSTERIC = {"action_type": "binding_site_analysis", "parameters": {"include_allosteric": True}}
ORTHOSTERIC = {"action_type": "binding_site_analysis"}


def without(actions, action_type):
    return [a for a in actions if a["action_type"] != action_type]


@pytest.mark.parametrize("seed", SEEDS)
def test_egfr_expression_plus_druggability_suffice(seed):
    b, coverage = belief_after("egfr_nsclc_viable", seed, [
        {"action_type": "query_expression"}, {"action_type": "druggability_screen"}])
    assert b.decision()[0] == "go" and coverage == 1.0


@pytest.mark.parametrize("seed", SEEDS)
def test_kras_druggability_looks_poor_but_recent_literature_decides(seed):
    b, _ = belief_after("kras_pdac_borderline", seed, [
        {"action_type": "query_expression"}, {"action_type": "druggability_screen"}])
    # classic druggability misleads: the pocket route reads closed and only the antibody and
    # recent-inhibitor routes' chances keep tractability from failing outright (belief.ROUTE_CHANCE)
    assert b.decision()[0] == "no_go" and b.pass_prob["tractability"] < 0.5
    b, _ = belief_after("kras_pdac_borderline", seed, without(FULL, "literature_search") + [ORTHOSTERIC])
    assert b.decision()[0] == "no_go"  # everything but the literature
    b, _ = belief_after("kras_pdac_borderline", seed, FULL + [ORTHOSTERIC])
    assert b.decision()[0] == "go"  # the recent inhibitor literature flips it


@pytest.mark.parametrize("seed", SEEDS)
def test_cd33_expression_says_go_but_safety_and_clinic_say_no_go(seed):
    b, _ = belief_after("cd33_aml_misleading", seed, [
        {"action_type": "query_expression"}, {"action_type": "druggability_screen", "parameters": {"modality": "antibody"}}])
    assert b.decision()[0] == "go"  # the trap: over-expressed, antibody-accessible
    b, coverage = belief_after("cd33_aml_misleading", seed, [
        {"action_type": "query_expression"}, {"action_type": "druggability_screen", "parameters": {"modality": "antibody"}},
        {"action_type": "off_target_screen"}, {"action_type": "toxicity_panel"}, {"action_type": "clinical_trial_lookup"}])
    assert b.decision()[0] == "no_go" and b.p_go < 0.1 and coverage == 1.0


@pytest.mark.parametrize("seed", SEEDS)
def test_tp53_druggability_alone_suffices(seed):
    b, _ = belief_after("tp53_solid_tumors_clear_fail", seed, [{"action_type": "druggability_screen", "parameters": {"modality": "any"}}])
    assert b.decision()[0] == "no_go" and b.p_go < 0.1


@pytest.mark.parametrize("seed", SEEDS)
def test_ptpn11_needs_allosteric_offtarget_stratification_in_vitro(seed):
    # Everything (literature aside: a false 'recent inhibitors' hit is a separate story), but without
    # the allosteric search the target looks undruggable.
    full = without(FULL, "literature_search")
    keys = curated_scenarios()["ptpn11_juvenile_mml_complex"].profile.key_evidence_dimensions
    assert {d.value for d in keys} == {"structure", "off_target", "stratification", "in_vitro", "dependency"}
    b, coverage = belief_after("ptpn11_juvenile_mml_complex", seed, full + [ORTHOSTERIC])
    assert b.decision()[0] == "no_go"
    assert coverage == 0.8  # all but structure: the plain pocket search does not count
    b, coverage = belief_after("ptpn11_juvenile_mml_complex", seed, full + [ALLOSTERIC])
    assert b.decision()[0] == "go" and coverage == 1.0


@pytest.mark.parametrize("name", CURATED_NAMES)
def test_key_dimensions_carry_the_verdict(name):
    """Investigating exactly the key dimensions (the oracle's plan: each once, cheaply, prerequisites
    first) gathers evidence that reads as the correct decision. Key dimensions are what the coverage
    term pays for; a key set whose evidence reads the other way would pay an agent for a query that
    misleads it (KRAS's and PTPN11's linkage rests on dependency, which their keys once left out)."""
    from drugenv.agents.baselines import oracle_plan

    right = 0
    for seed in SEEDS:
        env = DrugTargetEnvironment()
        obs = env.reset(seed=seed, scenario=name)
        plan = oracle_plan(env.oracle_view())
        for action in plan[:-1]:
            obs = env.step(action)
        right += assess(obs.dossier).decision()[0] == plan[-1].final_decision
    assert right >= 0.9 * len(SEEDS), f"{right} of {len(SEEDS)} seeds"


# --- A researcher adding a curated scenario (the extension audit): mistakes are named when the package imports ---


@pytest.mark.parametrize("change, said", [
    ({"difficulty": "moderate"}, "difficulty 'moderate' is not one of"),
    ({"pair": "EGFR/Nsclc"}, "KeyError"),
    ({"overrides": {"toxicity_risk": ("low", "a string where a number goes")}}, "TypeError"),
    ({"key_evidence_dimensions": ()}, "key_evidence_dimensions is empty"),
    ({"decision": "no_go"}, "promises no_go but its values decide go"),
])
def test_a_malformed_spec_is_refused_naming_its_scenario(change, said):
    """Before, a bad spec failed at the first curated reset, as a bare KeyError or TypeError that took every
    curated scenario down (a 500 from the server)."""
    import dataclasses

    from drugenv.scenarios.curated import SPECS, check_spec

    spec = dataclasses.replace(SPECS[0], name="my_new_scenario", **change)
    with pytest.raises(ValueError, match="curated scenario 'my_new_scenario'") as err:
        check_spec(spec)
    assert said in str(err.value)


@pytest.mark.parametrize("name", ["egfr_nsclc_viable", "procedural", "procedural-twin"])
def test_a_scenario_name_used_twice_is_refused(name):
    """A second spec named like another replaced it without a word (the eval's row of that name played the
    new one); one named like a procedural request could never be reached."""
    import subprocess
    import sys

    code = ("import importlib, drugenv.scenarios as s, drugenv.scenarios.curated as c\n"
            f"c.CURATED_NAMES = c.CURATED_NAMES + ({name!r},)\n"
            "try:\n    importlib.reload(s)\nexcept ValueError as e:\n    print('refused:', e)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.startswith("refused: scenario names must be unique"), run.stdout + run.stderr


def test_an_evidence_action_without_a_readout_generator_is_refused_at_import():
    """An action added to the table but not to the evidence generator was offered to agents (legal actions,
    the prompt, the TRL tools) and then raised KeyError at every step that took it."""
    import subprocess
    import sys

    code = ("import importlib, drugenv.actions as a, drugenv.simulator.evidence as e\n"
            "a.EVIDENCE_ACTIONS = a.EVIDENCE_ACTIONS + (a.ActionType.FLAG_RED_FLAG,)\n"
            "try:\n    importlib.reload(e)\nexcept RuntimeError as err:\n    print('refused:', err)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "missing ['flag_red_flag']" in run.stdout and "READOUTS" in run.stdout, run.stdout + run.stderr
