"""The gymnasium wrappers: API conformance (check_env), determinism by seed, encodings, curricula."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, check_step_determinism

import drugenv.gym_envs  # noqa: F401  (registers the ids)
from drugenv.gym_envs import TEXT_ENV_ID, VECTOR_ENV_ID, DrugEnvText, DrugEnvVector
from drugenv.gym_envs.text_render import TEXT_CHARSET
from drugenv.gym_envs.vector_env import FEATURE_NAMES, OBS_DIM, VECTOR_ACTIONS, vector_features
from drugenv.errors import ConfigError, EnvNotResetError
from drugenv.scenarios import CURATED_NAMES
from drugenv.scenarios.procedural import TEST_SEED_OFFSET

CONFIGS = [{"suite": "curated"}, {"suite": "procedural-train"}, {"suite": "procedural-test", "difficulty": "hard"},
           {"scenario": "ptpn11_juvenile_mml_complex"}, {"curriculum": "adaptive"}]


def _play(env, seed, actions):
    obs, info = env.reset(seed=seed)
    out = [(obs, info)]
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        out.append((obs, r, term, trunc, info))
        if term or trunc:
            break
    return out


@pytest.mark.parametrize("env_id", [TEXT_ENV_ID, VECTOR_ENV_ID])
@pytest.mark.parametrize("config", CONFIGS)
def test_check_env_passes(env_id, config):
    env = gym.make(env_id, **config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        check_env(env.unwrapped)
        check_step_determinism(env.unwrapped)
    env.close()


@pytest.mark.parametrize("cls", [DrugEnvText, DrugEnvVector])
def test_same_seed_same_episode(cls):
    rng = np.random.default_rng(0)
    if cls is DrugEnvVector:
        actions = [int(a) for a in rng.integers(0, len(VECTOR_ACTIONS), size=40)]
    else:
        actions = ['{"action_type": "query_expression", "parameters": {}}', "not json",
                   '{"action_type": "druggability_screen", "parameters": {"modality": "any"}}',
                   '{"action_type": "submit_validation_report", "final_decision": "go", "confidence": 0.7}']
    a, b = _play(cls(), 7, actions), _play(cls(), 7, actions)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            if isinstance(u, np.ndarray):
                np.testing.assert_array_equal(u, v)
            else:
                assert u == v
    c = _play(cls(), 8, actions)
    assert a[0][1]["episode_seed"] != c[0][1]["episode_seed"]


@pytest.mark.parametrize("seed", [0, 7, 2**40 + 3, 2**130 + 1])
def test_reset_seeds_np_random_as_gymnasium_does(seed):
    """``reset(seed=...)`` seeds ``np_random`` through the simulator's seeding, not gymnasium's: the
    same stream and ``np_random_seed``; bad seeds still get gymnasium's error."""
    from gymnasium.utils import seeding

    ours, theirs = DrugEnvVector(), DrugEnvVector()
    _, info = ours.reset(seed=seed)
    theirs._np_random, theirs._np_random_seed = seeding.np_random(seed)  # what gymnasium's reset(seed) does
    _, expected = theirs.reset()  # the episode drawn from that generator
    assert info == expected
    assert ours.np_random_seed == theirs.np_random_seed == seed
    assert ours.np_random.bit_generator.state == theirs.np_random.bit_generator.state
    for bad in (-1, 1.5, np.int64(3)):
        with pytest.raises(gym.error.Error):
            DrugEnvVector().reset(seed=bad)


@pytest.mark.parametrize("cls", [DrugEnvText, DrugEnvVector])
def test_observation_is_a_copy_the_next_step_leaves_alone(cls):
    """The wrapper's core lends it its record; what ``observation`` hands out must still stay put."""
    env = cls()
    env.reset(seed=3)
    step = '{"action_type": "query_expression", "parameters": {}}' if cls is DrugEnvText else 0
    env.step(step)
    before = env.observation
    frozen = before.model_dump_json()
    env.step(step)
    env.step(step)
    assert before.model_dump_json() == frozen
    now = env.observation
    assert now.step_count == before.step_count + 2 and len(now.pipeline_history) == len(before.pipeline_history) + 2
    now.pipeline_history.clear()
    now.dossier.expression.clear()
    assert len(env.observation.pipeline_history) == before.step_count + 2  # the caller's copy, not the record


def test_vector_spaces_and_features():
    env = DrugEnvVector(scenario="egfr_nsclc_viable")
    obs, info = env.reset(seed=0)
    assert env.action_space.n == len(VECTOR_ACTIONS) == 34
    assert obs.shape == (OBS_DIM,) == (len(FEATURE_NAMES),) and obs.dtype == np.float32
    assert obs[0] == 1.0 and obs[1] == 0.0 and info["reward_terms"] == {}
    names = [a.name for a in VECTOR_ACTIONS]
    i_expr, i_drug = names.index("query_expression"), names.index("druggability_screen(any)")
    obs, r, term, trunc, info = env.step(i_expr)
    assert obs[FEATURE_NAMES.index("investigated/expression")] == 1.0
    assert obs[FEATURE_NAMES.index("done/query_expression")] == 1.0
    assert obs[FEATURE_NAMES.index("gate_seen/linkage")] == 1.0
    assert "reward/credit_cost" in info["reward_terms"] and r == pytest.approx(sum(info["reward_terms"].values()), abs=1e-5)
    obs, r, term, trunc, info = env.step(i_drug)
    assert obs[FEATURE_NAMES.index("gate_logodds/tractability")] > 0  # EGFR is tractable
    np.testing.assert_array_equal(obs, vector_features(env.observation))
    obs, r, term, trunc, info = env.step(names.index("submit(go, 0.95)"))
    assert term and not trunc and info["termination_reason"] == "report_submitted"
    assert info["reward_terms"]["terminal/decision_accuracy"] > 0


def test_vector_redundant_action_is_flagged():
    env = DrugEnvVector(scenario="egfr_nsclc_viable")
    env.reset(seed=0)
    env.step(0)
    obs, r, term, trunc, info = env.step(0)
    assert info["violations"] == ["redundant"] and obs[FEATURE_NAMES.index("last_soft_violation")] == 1.0


def test_vector_step_cap_truncates():
    env = DrugEnvVector(scenario="ptpn11_juvenile_mml_complex")
    env.reset(seed=0)
    names = [a.name for a in VECTOR_ACTIONS]
    cheap = names.index("literature_search(all_years)")  # 1 credit, repeated: redundant but affordable
    term = trunc = False
    steps = 0
    while not (term or trunc):
        _, r, term, trunc, info = env.step(cheap)
        steps += 1
    assert trunc and not term and steps == 30 and info["termination_reason"] == "step_limit"
    assert info["reward_terms"]["terminal/no_report_penalty"] < 0


class _IndexRaises:
    def __index__(self):
        raise ValueError("no index here")


class _ReprRaises:
    def __repr__(self):
        raise RuntimeError("no repr here")


@pytest.mark.parametrize("action", [-1, 34, 3.7, -0.5, float("nan"), "3", b"1", None, [1], np.array([3]), np.float64(2.0),
                                    _IndexRaises(), _ReprRaises()])  # the last two escaped as their own errors
def test_vector_actions_outside_the_space_are_violations_not_crashes(action):
    """Only integers in [0, 34) are actions (int() read 3.7 as 3 and "3" as 3; -1 submitted a report
    under python -O); anything else is a blocked, penalised step and the episode goes on."""
    env = DrugEnvVector(scenario="egfr_nsclc_viable")
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step(action)
    assert info["violations"] == ["invalid_action"] and r < 0 and not (term or trunc)
    assert obs[FEATURE_NAMES.index("last_blocked")] == 1.0 and env.observation_space.contains(obs)
    assert "is not in Discrete(34)" in env.observation.rule_violations[0].message
    assert env.observation.credits_remaining == env.observation.credits_total and env.observation.dossier.all_findings() == []
    for ok in (np.int64(0), np.array(1, dtype=np.int32), 2):  # what RLlib and people send
        assert env.step(ok)[4]["violations"] == []


@pytest.mark.parametrize("text", ["", "hello", "{not json", '{"action_type": "teleport"}', "\x00" * 3,
                                  '{"action_type": "toxicity_panel", "parameters": {"panel": 7}}',
                                  '{"a":' + "[" * 1000, '{"a":' + "1" * 4301 + "}"])  # deeper than recursion allows, longer than int() reads
def test_text_unparseable_is_a_violation_not_a_crash(text):
    env = DrugEnvText(scenario="egfr_nsclc_viable")
    obs0, _ = env.reset(seed=0)
    obs, r, term, trunc, info = env.step(text)
    assert info["violations"] == ["invalid_action"] and r < 0 and not (term or trunc)
    assert "invalid_action" in obs and env.observation_space.contains(obs)
    assert env.observation.credits_remaining == env.observation.credits_total


@pytest.mark.parametrize("action", [b'{"action_type": "literature_search"}', 3, {"action_type": "literature_search"}, np.array([1])])
def test_a_text_action_that_is_not_text_says_so(action):
    """It was reported as an empty reply."""
    env = DrugEnvText(scenario="egfr_nsclc_viable")
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step(action)
    assert info["violations"] == ["invalid_action"] and r < 0 and not (term or trunc) and env.observation_space.contains(obs)
    message = env.observation.rule_violations[0].message
    assert f"the action is of type {type(action).__name__}, not text" in message and "empty" not in message


def test_text_valid_action_and_observation_in_space():
    env = DrugEnvText(scenario="cd33_aml_misleading")
    obs, _ = env.reset(seed=1)
    assert set(obs) <= set(TEXT_CHARSET) and obs.startswith("Target: CD33")
    for a in ["query_expression", "toxicity_panel", "off_target_screen", "clinical_trial_lookup", "in_vitro_assay",
              "druggability_screen", "binding_site_analysis", "literature_search", "patient_stratification"]:
        obs, r, term, trunc, info = env.step(f'```json\n{{"action_type": "{a}", "parameters": {{}}, "reasoning": "x"}}\n```')
        assert env.observation_space.contains(obs) and info["violations"] in ([], ["prerequisite"])
    obs, r, term, trunc, info = env.step('{"action_type": "submit_validation_report", "final_decision": "no_go", "confidence": 0.8}')
    assert term and "terminal/decision_accuracy" in info["reward_terms"]


def test_suite_selection_respects_splits():
    env = DrugEnvVector(suite="procedural-test")
    seeds = [env.reset(seed=s)[1]["episode_seed"] for s in range(5)]
    assert all(s >= TEST_SEED_OFFSET for s in seeds)
    env = DrugEnvVector(suite="procedural-train")
    assert all(env.reset(seed=s)[1]["episode_seed"] < TEST_SEED_OFFSET for s in range(5))
    env = DrugEnvVector(suite="procedural-train", difficulty="easy")
    assert {env.reset(seed=s)[1]["difficulty"] for s in range(5)} == {"easy"}
    _, info = env.reset(options={"episode_seed": 123, "difficulty": "hard"})
    assert info == {"reward_terms": {}, "episode_seed": 123, "difficulty": "hard"}
    env = DrugEnvVector(suite="curated")
    genes = {env.reset(seed=s) and env.observation.target_gene for s in range(30)}
    assert len(genes) == len(CURATED_NAMES)


def test_bad_config_raises_config_error():
    with pytest.raises(ConfigError, match="unknown env config keys"):
        DrugEnvVector(level=3)
    with pytest.raises(ConfigError, match="difficulty"):
        DrugEnvVector(difficulty="brutal")
    with pytest.raises(ConfigError, match="suite"):
        DrugEnvText(suite="everything")
    with pytest.raises(ConfigError, match="reset options"):
        DrugEnvVector().reset(options={"gene": "EGFR"})
    with pytest.raises(ConfigError, match="reset options must be a dict"):
        DrugEnvVector().reset(options="episode_seed=3")  # type: ignore[arg-type]
    for bad in (1.5, -1, "7", True):  # int() read 1.5 as 1 and "7" as 7
        with pytest.raises(ConfigError, match="episode_seed must be an integer >= 0"):
            DrugEnvVector().reset(options={"episode_seed": bad})
    assert DrugEnvVector().reset(options={"episode_seed": np.int64(7)})[1]["episode_seed"] == 7
    with pytest.raises(ConfigError, match=r"episode_seed must be at most 2\*\*63 - 1"):
        DrugEnvVector().reset(options={"episode_seed": 2**63})  # the server's range, so it replays there
    with pytest.raises(ConfigError, match="env config must be a dict"):
        DrugEnvVector(["scenario", "egfr_nsclc_viable"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="reward_config: decision_scoring"):
        DrugEnvText(reward_config={"decision_scoring": "nope"})
    with pytest.raises(EnvNotResetError):
        DrugEnvVector().step(0)


def test_reward_config_passes_through():
    env = DrugEnvVector(scenario="egfr_nsclc_viable", reward_config={"decision_scoring": "brier", "shaping": False})
    env.reset(seed=0)
    _, _, _, _, info = env.step(0)
    assert info["reward_terms"]["reward/shaping"] == 0.0
    _, _, _, _, info = env.step(len(VECTOR_ACTIONS) - 1)  # no_go with 0.95 on a go target
    assert info["reward_terms"]["terminal/decision_accuracy"] == pytest.approx(0.4 * (1 - 2 * 0.95 ** 2))


def test_info_never_holds_the_truth():
    env = DrugEnvVector(suite="procedural-train", curriculum="adaptive")
    rng = np.random.default_rng(0)
    for s in range(5):
        _, info = env.reset(seed=s)
        blob = [repr(info)]
        done = False
        while not done:
            _, _, term, trunc, info = env.step(int(rng.integers(len(VECTOR_ACTIONS))))
            blob.append(repr(info))
            done = term or trunc
        text = "\n".join(blob)
        for secret in ("correct_decision", "key_evidence", "true_viability", "success"):
            assert secret not in text


def test_an_explicit_difficulty_overrides_the_curriculum():
    """base.py's table: ``difficulty`` (in the config or in ``reset(options=...)``) overrides the curriculum."""
    assert DrugEnvVector(suite="procedural-train", curriculum="easy_to_hard").reset(seed=0)[1]["difficulty"] == "easy"
    env = DrugEnvVector(suite="procedural-train", curriculum="easy_to_hard", difficulty="very_hard")
    assert {env.reset(seed=s)[1]["difficulty"] for s in range(4)} == {"very_hard"}
    env = DrugEnvVector(suite="procedural-train", curriculum="easy_to_hard")
    assert env.reset(seed=1, options={"difficulty": "hard"})[1]["difficulty"] == "hard"


def test_a_none_reset_option_keeps_the_envs_own_value():
    """None meant three things: "no override" for episode_seed, an error for suite, and for scenario and
    difficulty "drop the env's own" for that episode (a curated env played a procedural world)."""
    env = DrugEnvVector(suite="curated", scenario="egfr_nsclc_viable")
    plain = env.reset(seed=3)
    with_nones = env.reset(seed=3, options={key: None for key in ("suite", "scenario", "difficulty", "episode_seed")})
    np.testing.assert_array_equal(with_nones[0], plain[0])
    assert with_nones[1] == plain[1] and env.observation.target_gene == "EGFR"
    env = DrugEnvVector(difficulty="easy")
    assert env.reset(seed=1, options={"difficulty": None})[1]["difficulty"] == "easy"


def test_the_adaptive_curriculum_counts_the_tier_a_curated_episode_played():
    """A curated scenario has its own tier; the curriculum filed its outcome under the ``difficulty`` the env
    was given instead (an easy stage promoted on very_hard episodes)."""
    env = DrugEnvVector(suite="curated", difficulty="easy", curriculum="adaptive")
    submit_go = [a.name for a in VECTOR_ACTIONS].index("submit(go, 0.95)")
    easy_outcomes, played = [], []
    for seed in range(6):
        played.append(env.reset(seed=seed)[1]["difficulty"])
        gene = env.observation.target_gene
        assert env.step(submit_go)[2]
        if played[-1] == "easy":  # the easy curated scenarios: egfr (a go) and tp53 (a no-go)
            easy_outcomes.append(gene == "EGFR")
    assert env.curriculum.episodes == 6 and 0 < len(easy_outcomes) < 6, played
    # the easy stage's success rate is over the easy episodes alone
    assert env.curriculum.stats()["stage_success_rate"] == pytest.approx(sum(easy_outcomes) / len(easy_outcomes))


def test_procedural_train_draws_only_the_seeds_training_may_use():
    # The gym env drew from all million train seeds, so PPO trained on the ranges held out for
    # SFT and GRPO checkpoint selection (half of its episodes).
    from drugenv.scenarios.procedural import TRAINING_SEEDS_END

    env = DrugEnvVector(suite="procedural-train")
    seeds = [env.reset(seed=s)[1]["episode_seed"] for s in range(300)]
    assert max(seeds) < TRAINING_SEEDS_END and len(set(seeds)) == 300
    test_seeds = [env.reset(seed=s, options={"suite": "procedural-test"})[1]["episode_seed"] for s in range(50)]
    assert min(test_seeds) >= TEST_SEED_OFFSET


@pytest.mark.parametrize("seed", [True, np.bool_(False)])
def test_a_bool_seed_is_refused_as_the_core_refuses_it(seed):
    # gymnasium took True as seed 1, and on a runner other than the first skipped the runner's mixing, so
    # runner 1's seed=True played runner 0's seed=1.
    from drugenv.scenarios.procedural import generate_scenario

    with pytest.raises(ConfigError, match="a bool"):
        DrugEnvVector().reset(seed=seed)
    with pytest.raises(ConfigError, match="a bool"):
        generate_scenario(seed)  # its scenario id was "proc-True-..."
    env = DrugEnvVector()
    played = []
    for action in (bool(seed), -1, int(bool(seed))):  # True played action 1
        env.reset(seed=0)
        played.append(env.step(action)[1:3])
    assert played[0] == played[1] != played[2]  # a bool is an invalid action, as -1 is, not the integer it equals


def test_twins_suite_is_refused_not_played_as_plain_test_episodes():
    with pytest.raises(ConfigError, match="procedural-test-twins"):
        DrugEnvVector(suite="procedural-test-twins")
    env = DrugEnvVector()
    with pytest.raises(ConfigError, match="procedural-test-twins"):
        env.reset(seed=0, options={"suite": "procedural-test-twins"})
    with pytest.raises(ConfigError, match="suite ''"):
        DrugEnvVector(suite="")


def test_rllib_runner_index_separates_the_runners_episodes():
    # RLlib seeds runner i with seed + i and a vector env seeds sub-env j with that + j, so
    # (runner 1, env 1) and (runner 2, env 0) were both reset with seed + 2 and played the same episodes.
    from ray.rllib.env.env_context import EnvContext

    def episodes(worker_index, seed):
        env = DrugEnvVector(EnvContext({"suite": "procedural-train"}, worker_index=worker_index))
        out = [env.reset(seed=seed)[1]["episode_seed"]] + [env.reset()[1]["episode_seed"] for _ in range(5)]
        env.close()
        return out

    runner1_env1, runner2_env0 = episodes(1, 2), episodes(2, 2)
    assert not set(runner1_env1) & set(runner2_env0)
    assert episodes(1, 2) == runner1_env1  # still a function of (seed, runner)
    # index 0 (a local runner, or an env built by hand) keeps the plain seed
    assert episodes(0, 2)[0] == DrugEnvVector().reset(seed=2)[1]["episode_seed"]
    plain = DrugEnvVector()
    assert episodes(0, 2)[:2] == [plain.reset(seed=2)[1]["episode_seed"], plain.reset()[1]["episode_seed"]]


def test_partial_sim_params_keep_the_other_tiers_and_bad_ones_fail_at_construction():
    # {"credits": {"easy": 25}} used to construct and then fail with KeyError at a medium or hard reset.
    env = DrugEnvVector(sim_params={"credits": {"easy": 25}})
    assert env.sim_params.credits == {"easy": 25, "medium": 35, "hard": 40, "very_hard": 45}
    for s in range(20):
        env.reset(seed=s)
    for bad in ({"credits": {"easy": 0}}, {"noise_level": {"hard": -0.1}}, {"false_rate": {"hard": 1.5}},
                {"noise_level": {"easy": float("nan")}}, {"credits": {"impossible": 30}}):
        with pytest.raises(ConfigError, match="sim_params"):
            DrugEnvVector(sim_params=bad)


def test_seal_hides_the_world_behind_the_episode_seed():
    from drugenv.simulator.environment import DrugTargetEnvironment

    sealed = DrugEnvVector(seal="secret")
    _, info = sealed.reset(seed=0)
    public = DrugTargetEnvironment().reset(seed=info["episode_seed"], scenario="procedural", difficulty=info["difficulty"])
    assert sealed.observation.metadata["episode_id"] != public.metadata["episode_id"]
    again = DrugEnvVector(seal="secret")
    assert again.reset(seed=0)[1] == info and again.observation.metadata["episode_id"] == sealed.observation.metadata["episode_id"]
    with pytest.raises(ConfigError, match="seal"):
        DrugEnvVector(seal="")


def test_render_ansi():
    env = gym.make(VECTOR_ENV_ID, render_mode="ansi", scenario="egfr_nsclc_viable")
    env.reset(seed=0)
    assert env.render().startswith("Target: EGFR")


def test_to_charset_maps_every_character_into_the_charset():
    from drugenv.gym_envs.text_render import to_charset

    text = "IC50 ≤ 300 nM · µM → log2FC −1.2 “quoted” café\ttab\rcr\x00nul 😀\nline"
    out = to_charset(text)
    assert set(out) <= set(TEXT_CHARSET)
    assert out == 'IC50 <= 300 nM * uM -> log2FC -1.2 "quoted" cafe tab?cr?nul ?\nline'
    assert to_charset(text) == out  # cached mappings give the same answer


def test_to_charset_maps_ascii_controls_and_keeps_clean_text():
    """ASCII text skips the translation only when every character is already in the charset."""
    from drugenv.gym_envs.text_render import to_charset

    for ch in [chr(c) for c in range(32) if chr(c) != "\n"] + ["\x7f"]:
        out = to_charset(f"a{ch}b")
        assert set(out) <= set(TEXT_CHARSET) and out != f"a{ch}b", repr(ch)
    clean = TEXT_CHARSET * 3
    assert to_charset(clean) == clean


def test_kept_vector_features_follow_a_replaced_field():
    """The dossier's features are kept per sequence of findings (``agents.findings_fold``); a finding's
    ``parameters`` replaced must change them as a fresh reading would, and restoring them restores them."""
    import numpy as np

    from drugenv.gym_envs.vector_env import EVIDENCE_VECTOR_ACTIONS, FEATURE_NAMES, vector_features
    from drugenv.simulator.environment import DrugTargetEnvironment

    env = DrugTargetEnvironment()
    env.reset(seed=3, scenario="procedural")
    obs = env.step(EVIDENCE_VECTOR_ACTIONS[0].to_action())
    before = vector_features(obs)
    done = FEATURE_NAMES.index(f"done/{EVIDENCE_VECTOR_ACTIONS[0].name}")
    finding = obs.dossier.all_findings()[0]
    old = finding.parameters
    assert before[done] == 1.0
    # Findings are frozen (assignment raises); code that goes round that must still get fresh features.
    object.__setattr__(finding, "parameters", {**old, "database": "GTEx" if old["database"] != "GTEx" else "HPA"})
    try:
        assert vector_features(obs)[done] == 0.0
    finally:
        object.__setattr__(finding, "parameters", old)
    assert np.array_equal(vector_features(obs), before)


def test_kept_vector_features_equal_the_features_read_afresh():
    """The fold sets a new finding's flags and only the gate it changed (and P(go)) in the kept vector; each
    observation's vector must equal the one made from the whole dossier as the observation table says: the
    belief of ``assess``, every flag from every finding, np.clip over float32, byte for byte."""
    import json

    from drugenv.actions import ACTION_TABLE, EvidenceDimension
    from drugenv.agents.baselines import HeuristicPolicy, RandomPolicy
    from drugenv.agents.belief import GATES, assess
    from drugenv.gym_envs.vector_env import EVIDENCE_VECTOR_ACTIONS, GATE_SCALE, LOGIT_SCALE, MAX_CREDITS
    from drugenv.simulator.environment import DrugTargetEnvironment

    def afresh(obs):
        rules = [v.severity for v in obs.rule_violations]
        a = assess(obs.dossier)
        log_odds, (p_go, logit) = a.log_odds, a.p_go_and_logit()
        findings = obs.dossier.all_findings()
        dims = {ACTION_TABLE[f.action_type].dimension for f in findings}
        calls = {(f.action_type.value, json.dumps(f.parameters, sort_keys=True)) for f in findings}
        x = [obs.credits_remaining / max(1, obs.credits_total), obs.step_count / max(1, obs.max_steps),
             min(1.0, obs.credits_total / MAX_CREDITS), float("hard" in rules), float("soft" in rules),
             float(np.tanh(logit / LOGIT_SCALE)), p_go]
        x += [max(-1.0, min(1.0, log_odds[g] / GATE_SCALE)) for g in GATES] + [float(a.seen[g]) for g in GATES]
        x += [float(d in dims) for d in EvidenceDimension] + [float(v.key() in calls) for v in EVIDENCE_VECTOR_ACTIONS]
        return np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0)

    env = DrugTargetEnvironment()
    checked = 0
    for policy in (HeuristicPolicy(), RandomPolicy(seed=2)):
        for seed in range(12):
            obs = env.reset(seed=seed, scenario="procedural" if seed % 3 else None)
            while True:
                assert vector_features(obs).tobytes() == afresh(obs).tobytes()
                checked += 1
                if obs.done:
                    break
                obs = env.step(policy.act([obs])[0])
    assert checked > 100


def test_text_env_text_is_render_text_through_episodes_and_resets():
    """The text env renders each episode by extending the previous step's text (``EpisodeText``); every
    observation must be ``render_text``'s: through new episodes, a reset mid-episode (the same seed again, and
    another scenario with the same seed), steps after the end, invalid replies, and texts too long for the most
    detailed level."""
    import json

    from drugenv.actions import ACTION_TABLE, ActionType
    from drugenv.gym_envs.text_env import MAX_OBSERVATION_CHARS
    from drugenv.gym_envs.text_render import render_text

    cheap = [a.value for a in ActionType if ACTION_TABLE[a].cost <= 2 and a is not ActionType.SUBMIT_VALIDATION_REPORT]
    env = DrugEnvText(scenario="ptpn11_juvenile_mml_complex")
    rng = np.random.default_rng(0)
    longest = 0
    for episode, options in enumerate([None, None, {"scenario": "egfr_nsclc_viable"}, None]):
        text, _ = env.reset(seed=episode % 2, options=options)
        assert text == render_text(env.observation, MAX_OBSERVATION_CHARS)
        for step in range(34 if episode != 1 else 5):  # episode 1 is reset mid-episode
            at = "flag_red_flag" if step % 3 == 0 else str(rng.choice(cheap))
            params = {"description": "possible hepatotoxicity " * 12} if at == "flag_red_flag" else {}
            reply = json.dumps({"action_type": at, "parameters": params}) if step % 7 != 3 else "{not json"
            text, *_ = env.step(reply)
            assert text == render_text(env.observation, MAX_OBSERVATION_CHARS)
            longest = max(longest, len(render_text(env.observation, None)))
    assert longest > MAX_OBSERVATION_CHARS  # the more compact levels were needed too


def test_episode_features_equal_vector_features_bit_for_bit():
    """``EpisodeFeatures`` (the vector env's encoder: reads only the new findings of its episode) gives
    the array ``vector_features`` gives, for every observation of 120 episodes of every kind (random
    vector actions, curated and procedural, steps after a blocked action), and starts afresh when the
    observations it is shown jump to another episode or back to a reset."""
    from drugenv.gym_envs.vector_env import EpisodeFeatures
    from drugenv.simulator.environment import DrugTargetEnvironment

    rng = np.random.default_rng(0)
    decoded = [a.to_action() for a in VECTOR_ACTIONS]
    episodes = []
    for k in range(120):
        env = DrugTargetEnvironment()
        scenario = CURATED_NAMES[k % len(CURATED_NAMES)] if k % 3 == 0 else "procedural"
        obs = env.reset(seed=k, scenario=scenario)
        seen = [obs]
        while not obs.done:
            obs = env.step(decoded[int(rng.integers(24))] if rng.random() < 0.9 else decoded[int(rng.integers(len(decoded)))])
            seen.append(obs)
        episodes.append(seen)
    encoder = EpisodeFeatures()
    checked = 0
    for seen in episodes:  # in step order, one episode after another (the vector env's use)
        for obs in seen:
            np.testing.assert_array_equal(encoder(obs), vector_features(obs))
            checked += 1
    assert checked > 600
    mixed = EpisodeFeatures()  # jumps: every third observation of one episode, then another's, then back
    for a, b in zip(episodes[::2], episodes[1::2]):
        # a[1] -> b[-1]: b's last dossier mostly holds at least as many findings in each section as a's
        # second one, so only the findings' identities tell the episodes apart (a check without them fails)
        for obs in [*a[::3], *b, *a, a[1], b[-1]]:
            np.testing.assert_array_equal(mixed(obs), vector_features(obs))


def test_vector_env_observations_are_unchanged_by_its_episode_encoder():
    """The vector env's observations equal ``vector_features`` of its core observation at every step."""
    env = DrugEnvVector(suite="procedural-train")
    rng = np.random.default_rng(1)
    for seed in range(30):
        obs, _ = env.reset(seed=seed)
        np.testing.assert_array_equal(obs, vector_features(env.observation))
        term = trunc = False
        while not (term or trunc):
            obs, _, term, trunc, _ = env.step(int(rng.integers(len(VECTOR_ACTIONS))))
            np.testing.assert_array_equal(obs, vector_features(env.observation))


def test_finding_sections_are_the_dossiers_finding_lists():
    """``FINDING_SECTIONS`` (what ``EpisodeFeatures`` and the user turn walk) names every list of findings
    of ``EvidenceDossier`` in field order, and ``all_findings`` lists the findings of exactly those."""
    import typing

    from drugenv.models import FINDING_SECTIONS, EvidenceDossier, Finding

    lists = tuple(name for name, field in EvidenceDossier.model_fields.items() if field.annotation == typing.List[Finding]
                  or field.annotation == list[Finding])
    assert FINDING_SECTIONS == lists
    env = DrugEnvVector(scenario="egfr_nsclc_viable")
    env.reset(seed=0)
    for i in range(len(VECTOR_ACTIONS) - 10):  # the evidence actions in turn: findings in several sections
        _, _, term, trunc, _ = env.step(i)
        if term or trunc:
            break
    d = env.observation.dossier
    assert sorted(map(id, d.all_findings())) == sorted(id(f) for name in FINDING_SECTIONS for f in getattr(d, name))
    assert sum(1 for name in FINDING_SECTIONS if getattr(d, name)) >= 3



def test_an_explicit_episode_seed_must_belong_to_the_suite():
    """``episode_seed`` from a training loop's own list played a held-out world in a procedural-train env without a
    word (``info['episode_seed']`` 2000000): the suite now says whose seeds it plays."""
    from drugenv.errors import ConfigError
    from drugenv.scenarios.procedural import TEST_SEED_OFFSET, TRAINING_SEEDS_END

    env = DrugEnvVector(suite="procedural-train")
    assert env.reset(seed=0, options={"episode_seed": TRAINING_SEEDS_END - 1})[1]["episode_seed"] == TRAINING_SEEDS_END - 1
    for seed in (TRAINING_SEEDS_END, 2_000_000):
        with pytest.raises(ConfigError, match=f"episode_seed {seed} is not a seed of suite 'procedural-train'"):
            env.reset(seed=0, options={"episode_seed": seed})
    assert env.reset(seed=0, options={"suite": "procedural-test", "episode_seed": 2_000_000})[1]["episode_seed"] == 2_000_000
    with pytest.raises(ConfigError, match="not a seed of suite 'procedural-test'"):
        env.reset(seed=0, options={"suite": "procedural-test", "episode_seed": TEST_SEED_OFFSET - 1})
    curated = DrugEnvVector(suite="curated")  # a curated scenario's seed only keys its noise
    assert curated.reset(seed=0, options={"episode_seed": 2_000_000})[1]["episode_seed"] == 2_000_000


def test_the_text_env_vectorised_asynchronously_as_its_docstring_says():
    """gymnasium 1.2's AsyncVectorEnv with shared memory returns a Text space's initial blank text at every
    step (gymnasium #1164): the docstring and README name shared_memory=False, which plays what one env plays."""
    import json

    action = json.dumps({"action_type": "query_expression"})
    single = gym.make(TEXT_ENV_ID)
    expected = [single.reset(seed=s)[0] for s in (3, 4)]
    stepped = []
    for s in (3, 4):
        single.reset(seed=s)
        stepped.append(single.step(action)[0])
    envs = gym.make_vec(TEXT_ENV_ID, num_envs=2, vectorization_mode="async", vector_kwargs={"shared_memory": False})
    try:
        obs, _ = envs.reset(seed=3)  # env i is seeded 3 + i
        assert list(obs) == expected
        obs, *_ = envs.step([action, action])
        assert list(obs) == stepped and all(o.startswith("Target: ") for o in obs)
    finally:
        envs.close()


def test_an_evidence_action_missing_from_the_vector_catalogue_is_refused_at_import():
    """The vector env's catalogue is written by hand (parameter variants have their own ids): an action added to
    the table was left out of it, and PPO could never take it, without a word (the extension audit)."""
    import subprocess
    import sys

    code = ("import importlib, drugenv.actions as a, drugenv.gym_envs.vector_env as v\n"
            "a.EVIDENCE_ACTIONS = a.EVIDENCE_ACTIONS + (a.ActionType.FLAG_RED_FLAG,)\n"
            "try:\n    importlib.reload(v)\nexcept RuntimeError as err:\n    print('refused:', err)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "no entry for ['flag_red_flag']" in run.stdout, run.stdout + run.stderr
