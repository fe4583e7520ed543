"""Bad input to the in-process Python API is a ``ConfigError`` naming the value, at the call that takes it.

Each case was something else before (an audit of the API a researcher calls directly): a bare numpy or Python
error far from the mistake, a crash in the middle of an episode, or a silent wrong result.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from drugenv import DrugTargetEnvironment
from drugenv.agents.baselines import OraclePolicy, RandomPolicy
from drugenv.errors import ConfigError, EnvNotResetError, UnknownScenarioError, whole_number
from drugenv.evaluation.evaluate import evaluate, sealed_order
from drugenv.scenarios import make_scenario, suite_episodes
from drugenv.scenarios.curriculum import CurriculumSpec
from drugenv.scenarios.procedural import generate_scenario, pair_of, split_of
from drugenv.simulator.environment import MAX_SEED, seal_key, sealed_noise_key, sealed_seed
from drugenv.simulator.params import MAX_WEIGHT, RewardConfig


@pytest.mark.parametrize("kwargs,message", [
    ({"batch_size": -1}, "batch_size must be a whole number >= 1, got -1"),  # played nothing and reported NaN
    ({"batch_size": 0}, "batch_size must be a whole number >= 1, got 0"),
    ({"batch_size": 2.5}, "batch_size must be a whole number >= 1, got 2.5"),
    ({"episodes": -1}, "episodes must be a whole number >= 1, got -1"),
    ({"episodes": 2.5}, "episodes must be a whole number >= 1"),
    ({"max_steps": 0}, "max_steps must be a whole number >= 1, got 0"),  # was taken as "no cap"
    ({"max_steps": -1}, "max_steps must be a whole number >= 1, got -1"),
    ({"seed": 1.5}, "seed must be an integer >= 0, got 1.5"),
    ({"seed": MAX_SEED}, "the suite's last seed"),
])
def test_evaluate_refuses_bad_counts_and_seeds(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        evaluate(RandomPolicy(), **{"suite": "curated", "episodes": 2, "progress": False, **kwargs})


@pytest.mark.parametrize("policy", [None, RandomPolicy])
def test_evaluate_wants_a_policy_instance(policy):
    with pytest.raises(ConfigError, match="policy must be a Policy instance"):
        evaluate(policy, "curated", 1, progress=False)


def test_every_suite_checks_its_count_and_seeds_alike():
    for suite in ("curated", "procedural-train", "procedural-test", "procedural-test-twins"):
        assert suite_episodes(suite, 0) == []
        with pytest.raises(ConfigError, match="episodes must be a whole number >= 0"):
            suite_episodes(suite, -3)  # the curated suite returned []
        with pytest.raises(ConfigError, match="seed must be an integer >= 0"):
            suite_episodes(suite, 3, 1.5)  # curated seeds 1.5, 2.5, 3.5
        with pytest.raises(ConfigError, match="seed must be an integer >= 0"):
            suite_episodes(suite, 3, -5)
    with pytest.raises(ConfigError, match="the suite's last seed"):
        suite_episodes("curated", 3, MAX_SEED - 1)  # its last seed, 2**63, no reset takes
    with pytest.raises(UnknownScenarioError):
        suite_episodes("nope", 3)


def test_a_secret_longer_than_a_blake2b_key_is_not_cut_to_its_first_64_bytes():
    prefix = "org-benchmark-secret-0123456789abcdef0123456789abcdef0123456789a"
    assert len(prefix.encode()) == 64
    a, b = prefix + "-run-A", prefix + "-run-B"  # alike for 64 bytes: they sealed the very same worlds and noise
    seed = 1_000_123
    assert sealed_seed(seed, a) != sealed_seed(seed, b) and sealed_noise_key(seed, a) != sealed_noise_key(seed, b)
    eps = suite_episodes("procedural-test-twins", 40)
    assert sealed_order(eps, a) != sealed_order(eps, b)
    assert seal_key(prefix) == prefix.encode()  # a secret of up to 64 bytes keys as it always did
    envs = DrugTargetEnvironment(seal=a), DrugTargetEnvironment(seal=b)
    assert envs[0].reset(seed=seed).metadata["episode_id"] != envs[1].reset(seed=seed).metadata["episode_id"]
    with pytest.raises(ConfigError, match="UTF-8 can encode"):
        DrugTargetEnvironment(seal="\udc80")  # constructed, then a UnicodeEncodeError at the first reset


def test_curriculum_weights_need_a_finite_sum_and_lists_are_taken():
    with pytest.raises(ConfigError, match="finite sum"):
        CurriculumSpec(weights=(1e308, 1e308, 1e308))  # numpy's "probabilities do not sum to 1" at the first reset
    spec = CurriculumSpec(kind="mixed", tiers=["easy", "hard"], weights=[1, 2])  # "must be a list", then refused one
    assert spec.tiers == ("easy", "hard") and spec.weights == (1, 2)


def test_reward_weights_are_bounded_so_a_return_stays_finite():
    with pytest.raises(ConfigError, match="at most 1e\\+06"):
        DrugTargetEnvironment(reward_config={"credit_cost_weight": 1e308})  # a return of -inf, JSON's null
    assert RewardConfig(w_decision=MAX_WEIGHT).w_decision == MAX_WEIGHT


@pytest.mark.parametrize("call,message", [
    (lambda: generate_scenario(1.5), "procedural seed must be an integer >= 0"),
    (lambda: generate_scenario("3"), "procedural seed must be an integer >= 0"),
    (lambda: generate_scenario(2**64), "at most 2\\*\\*63 - 1"),
    (lambda: split_of(1.5), "procedural seed must be an integer >= 0"),  # was "train"
    (lambda: pair_of(-1), "procedural seed must be an integer >= 0"),
    (lambda: generate_scenario(1, params={"credits": {}}), "params must be a SimParams"),
    (lambda: generate_scenario(1, rng=5), "rng must be np.random.default_rng\\(1\\) or None"),
    (lambda: generate_scenario(1, twin="yes"), "twin must be True or False"),
    (lambda: make_scenario(generate_scenario(5, "hard"), 1, "bogus"), "difficulty 'bogus' is unknown"),
])
def test_scenario_functions_check_their_arguments(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_policies_check_their_state_calls():
    obs = DrugTargetEnvironment().reset(seed=1)
    p = RandomPolicy()
    with pytest.raises(ConfigError, match="batch_size must be a whole number >= 1, got 0"):
        p.reset(0)  # then a ZeroDivisionError at act
    with pytest.raises(ConfigError, match="an episode's seed must be a whole number >= 0, got -1"):
        p.reset(2, [-1, 0])
    with pytest.raises(ConfigError, match="2 seeds for a batch of 3"):
        p.reset(3, [1, 2])
    p.reset(1, [2**64 + 5])  # a counterfactual twin's policy seed runs past 64 bits
    for seed in (-1, True, 1.5):
        with pytest.raises(ConfigError, match="seed must be a whole number >= 0"):
            RandomPolicy(seed=seed)
    oracle = OraclePolicy()
    oracle.reset(1)
    with pytest.raises(ConfigError, match="has no truth for slot 0: call drugenv.agents.base.brief"):
        oracle.act([obs])  # an IndexError


def test_remote_agent_and_agent_names_are_checked_when_given():
    from drugenv.agents.remote import RemoteAgentPolicy
    from drugenv.evaluation.agents import make_policy

    for kwargs, message in (({"max_concurrency": 0}, "max_concurrency must be a whole number >= 1"),
                            ({"timeout": -1}, "timeout must be a number of seconds > 0"),
                            ({"timeout": "x"}, "timeout must be a number of seconds > 0")):
        with pytest.raises(ConfigError, match=message):
            RemoteAgentPolicy("http://127.0.0.1:9", **kwargs)  # failed at the first act, mid-episode
    with pytest.raises(ConfigError, match="needs the agent's address as text"):
        RemoteAgentPolicy(None)
    for spec in (None, 5):
        with pytest.raises(ConfigError, match="an agent is named by a string"):
            make_policy(spec)


def test_a_sampling_seed_follows_the_episode_seed_rule():
    pytest.importorskip("torch")
    from drugenv.llm.policy import SamplingConfig

    for seed in (1.5, 2**70, "x", True):  # 1.5 sampled as seed 1; 2**70 overflowed torch.manual_seed
        with pytest.raises(ConfigError, match="SamplingConfig.seed must be"):
            SamplingConfig(seed=seed)
    assert SamplingConfig(seed=3).seed == 3


def test_not_reset_errors_name_the_call():
    env = DrugTargetEnvironment()
    assert env.state.episode_id is None  # documented: an empty state before the first reset
    for call, name in ((lambda: env.step({"action_type": "query_expression"}), "step()"),
                       (env.outcome, "outcome()"), (env.oracle_view, "oracle_view()")):
        with pytest.raises(EnvNotResetError, match=f"call reset\\(\\) before {name.replace('(', '[(]').replace(')', '[)]')}"):
            call()
    import pickle

    err = pickle.loads(pickle.dumps(EnvNotResetError("outcome()")))
    assert str(err) == "call reset() before outcome()"


def test_a_mapping_whose_methods_raise_is_a_violation_not_a_crash():
    class Broken(Mapping):
        def __getitem__(self, key):
            raise RuntimeError("boom")

        def __iter__(self):
            return iter(["action_type"])

        def __len__(self):
            return 1

    env = DrugTargetEnvironment()
    env.reset(seed=1, scenario="egfr_nsclc_viable")
    obs = env.step(Broken())
    assert [v.rule for v in obs.rule_violations] == ["invalid_action"] and "boom" in obs.rule_violations[0].message
    assert not obs.done and obs.credits_remaining == obs.credits_total


def test_whole_number():
    assert whole_number(3, "n") == 3
    for bad in (True, 2.0, "3", None):
        with pytest.raises(ConfigError, match="n must be a whole number >= 1"):
            whole_number(bad, "n")


def test_metrics_refuse_arguments_that_made_a_perfect_score_or_reversed_bounds():
    from drugenv.evaluation.bootstrap import paired_bootstrap
    from drugenv.evaluation.metrics import expected_calibration_error

    for bins in (0, -3):  # 0.0 read as perfect calibration
        with pytest.raises(ConfigError, match="bins must be a whole number >= 1"):
            expected_calibration_error([0.9, 0.6], [1, 0], bins=bins)
    with pytest.raises(ConfigError, match="confidences must be numbers in \\[0, 1\\]"):
        expected_calibration_error([float("nan"), 0.6], [1, 0])
    with pytest.raises(ConfigError, match="one outcome per confidence"):
        expected_calibration_error([0.9, 0.6], [1])
    _, records = evaluate(RandomPolicy(), "curated", 4, progress=False)
    for kwargs, message in (({"level": 1.5}, "level must be a number in \\(0, 1\\)"),
                            ({"level": -0.1}, "level must be a number in \\(0, 1\\)"),  # reversed the bounds
                            ({"n_boot": 0}, "n_boot must be a whole number >= 1"),
                            ({"seed": -1}, "seed must be a whole number >= 0")):
        with pytest.raises(ConfigError, match=message):
            paired_bootstrap(records, records, min_episodes=1, **kwargs)


def test_prompt_helpers_refuse_a_level_or_budget_that_is_no_count():
    pytest.importorskip("torch")
    from drugenv.llm.prompts import DETAIL_LEVELS, build_messages, render_observation

    obs = DrugTargetEnvironment().reset(seed=1)
    for level in (len(DETAIL_LEVELS), -1, 1.5):  # an IndexError, the last level, a TypeError
        with pytest.raises(ConfigError, match="level must be a whole number from 0"):
            render_observation(obs, level)
    for budget in (float("nan"), "100", None):
        with pytest.raises(ConfigError, match="max_prompt_tokens must be a whole number >= 1"):
            build_messages(obs, max_prompt_tokens=budget)
