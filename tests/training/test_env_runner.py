"""DrugEnvRunner in-process (no Ray actors) on the real simulator, and the scenario sampler."""

from __future__ import annotations

import pytest

pytest.importorskip("ray.rllib")
pytest.importorskip("peft")

import numpy as np  # noqa: E402
from ray.rllib.core import DEFAULT_MODULE_ID  # noqa: E402
from ray.rllib.core.columns import Columns  # noqa: E402
from ray.rllib.utils.metrics import EPISODE_RETURN_MEAN, NUM_ENV_STEPS_SAMPLED, NUM_EPISODES  # noqa: E402
from ray.rllib.utils.metrics.metrics_logger import MetricsLogger  # noqa: E402

from drugenv.simulator.params import RewardConfig, SimParams  # noqa: E402
from drugenv.training import metrics as M  # noqa: E402
from drugenv.training.env_runner import COMPLETION_LOGP, DrugEnvRunner, group_tasks, sampling_seed  # noqa: E402
from drugenv.training.grpo_config import DrugGRPOConfig  # noqa: E402


def test_runner_plays_groups_on_the_real_environment_in_lockstep(tiny_model_dir):
    config = DrugGRPOConfig().training(
        model_name_or_path=tiny_model_dir, group_size=2, max_turns=2, max_new_tokens=8, max_prompt_tokens=4096, torch_num_threads=1,
    ).env_runners(num_envs_per_env_runner=3)
    runner = DrugEnvRunner(config=config, worker_index=1)
    try:
        tasks = [{"group_id": 0, "reset_kwargs": {"scenario": "procedural", "seed": 3}},
                 {"group_id": 1, "reset_kwargs": {"scenario": "procedural", "seed": 4}}]
        out = runner.sample(tasks=tasks)
    finally:
        runner.stop()
    eps = out
    assert [(e.custom_data["group_id"], e.custom_data["index"]) for e in eps] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for e in eps:
        assert 1 <= len(e) <= 2  # one timestep per agent turn
        for t in range(len(e)):
            comp, lp = e.get_actions(t), e.get_extra_model_outputs(COMPLETION_LOGP, t)
            assert len(comp) == len(lp) <= 8
            assert all(x <= 0 for x in lp)
            assert e.get_extra_model_outputs(Columns.ACTION_LOGP, t) == pytest.approx(float(np.sum(lp)), abs=1e-4)
        # The observation is the chat-templated prompt, ending with the generation prompt.
        assert runner.tokenizer.decode(e.get_observations(0)).rstrip().endswith("assistant")
        # A random-init model writes no valid action: every turn is a parse failure, penalised by the env.
        assert e.custom_data["parse_failures"] == len(e)
        assert e.get_return() < 0
        assert not e.custom_data["reported"] and e.custom_data["decision"] is None
        breakdown = e.custom_data["reward_breakdown"]  # summed over the turns: the public step terms + terminal ones
        assert sum(breakdown.values()) == pytest.approx(e.get_return(), abs=1e-6)
        # Stopped at max_turns, the environment itself truncates (its step cap is max_turns), so the
        # episode pays the no-report penalty exactly as evaluation with max_steps does.
        assert e.is_terminated and len(e) == 2
        assert e.get_return() <= -RewardConfig().no_report_penalty
    # Same scenario seed -> same first prompt within a group (the group shares its start state).
    assert eps[0].get_observations(0).tolist() == eps[1].get_observations(0).tolist()
    assert eps[0].get_observations(0).tolist() != eps[2].get_observations(0).tolist()
    # Metrics go through RLlib's MetricsLogger, with RLlib's own keys where they exist.
    m = MetricsLogger.peek_results(runner.get_metrics())
    assert m[NUM_EPISODES] == 4 and m[NUM_ENV_STEPS_SAMPLED] == sum(len(e) for e in eps)
    assert m[M.PARSE_FAILURE_RATE] == 1.0 and m[M.REPORT_RATE] == 0.0
    assert m[EPISODE_RETURN_MEAN] == pytest.approx(np.mean([e.get_return() for e in eps]))
    assert m[M.GENERATE_S] > 0 and m[M.ENV_S] > 0
    # The spaces are the token-id sequences the episodes hold.
    space = runner.get_spaces()[DEFAULT_MODULE_ID][0]
    assert space.contains(tuple(eps[0].get_observations(0).tolist()))


def test_runner_samples_from_the_tasks_seeds_not_from_its_past(tiny_model_dir):
    """What a runner samples for a task list depends on the tasks' sampling seeds only: not on what
    the process sampled before (a resumed run or a restarted runner starts a fresh process), and
    the process's own torch stream is left as it was."""
    import torch

    config = DrugGRPOConfig().training(model_name_or_path=tiny_model_dir, group_size=2, max_turns=2, max_new_tokens=8,
                                       torch_num_threads=1, scenario_suite="procedural-train")
    runner = DrugEnvRunner(config=config, worker_index=1)

    def completions(tasks):
        return [[e.get_actions(t).tolist() for t in range(len(e))] for e in runner.sample(tasks=tasks)]

    try:
        tasks = group_tasks(config, 5)
        assert [t["sampling_seed"] for t in tasks] == [sampling_seed(0, 5, i) for i in range(len(tasks))]
        first = completions(tasks)
        torch.rand(1000)  # the process draws something else in between
        before = torch.random.get_rng_state()
        assert completions(tasks) == first
        assert torch.equal(torch.random.get_rng_state(), before)  # its stream is left as it was
        assert completions(group_tasks(config, 6)) != first
        # Tasks without sampling seeds (a caller's own) sample from the process's stream.
        own = [{k: v for k, v in t.items() if k != "sampling_seed"} for t in tasks]
        assert completions(own) != completions(own)
    finally:
        runner.stop()
    # Seeds differ between groups, iterations and run seeds.
    assert len({sampling_seed(b, it, g) for b in (0, 1) for it in range(4) for g in range(4)}) == 32


@pytest.mark.parametrize("suite", ["procedural-train", "curated"])
def test_sample_tasks_is_deterministic_per_iteration(suite):
    cfg = DrugGRPOConfig().training(model_name_or_path="unused", groups_per_iteration=3, scenario_suite=suite,
                                    difficulty=lambda it: "easy" if it < 5 else "hard")
    a0, a0b, a1 = group_tasks(cfg, 0), group_tasks(cfg, 0), group_tasks(cfg, 7)
    assert a0 == a0b and a0 != a1
    assert [t["group_id"] for t in a0] == [0, 1, 2]
    assert all(t["reset_kwargs"]["difficulty"] == "easy" for t in a0)
    assert all(t["reset_kwargs"]["difficulty"] == "hard" for t in a1)
    assert len({(t["reset_kwargs"]["scenario"], t["reset_kwargs"]["seed"]) for t in a0}) == 3


def test_every_run_seed_trains_on_train_scenarios_outside_the_selection_ranges():
    """Seeds >= 1 used to start at seed * 1_000_003, past the test split (and raised)."""
    from drugenv.scenarios.procedural import TRAINING_SEEDS_END

    seeds = lambda cfg, its: [t["reset_kwargs"]["seed"] for it in its for t in group_tasks(cfg, it)]  # noqa: E731
    base = dict(model_name_or_path="unused", groups_per_iteration=4, scenario_suite="procedural-train")
    assert seeds(DrugGRPOConfig().training(**base), [0, 1, 2]) == list(range(12))  # seed 0: unchanged
    for run_seed in (1, 2, 7, 123):
        cfg = DrugGRPOConfig().training(**base).debugging(seed=run_seed)
        got = seeds(cfg, [0, 1, 500, 200_000])
        assert all(0 <= s < TRAINING_SEEDS_END for s in got) and len(set(got)) == len(got)
    pooled = DrugGRPOConfig().training(**base, scenario_pool=4).debugging(seed=5)
    assert all(0 <= s < TRAINING_SEEDS_END for s in seeds(pooled, [0, 3]))
    # No suite (the environment's own choice of world): training seeds too; they were drawn from [0, 2**31),
    # whose seeds from 1,000,000 on are the test split's.
    unsuited = DrugGRPOConfig().training(**{**base, "scenario_suite": None})
    got = seeds(unsuited, range(20))
    assert all(0 <= s < TRAINING_SEEDS_END for s in got) and len(set(got)) == len(got)


def test_scenario_pool_repeats_the_same_scenarios():
    cfg = DrugGRPOConfig().training(model_name_or_path="unused", groups_per_iteration=3, scenario_pool=3)
    key = lambda tasks: sorted((t["reset_kwargs"]["scenario"], t["reset_kwargs"]["seed"]) for t in tasks)  # noqa: E731
    assert key(group_tasks(cfg, 0)) == key(group_tasks(cfg, 9))  # the whole pool each time
    assert len(set(key(group_tasks(cfg, 0)))) == 3
    # A pool larger than an iteration: draws cover it without repeats inside one iteration.
    big = DrugGRPOConfig().training(model_name_or_path="unused", groups_per_iteration=2, scenario_pool=5)
    seen = {k for it in range(20) for k in key(group_tasks(big, it))}
    assert len(seen) == 5 and all(len(set(key(group_tasks(big, it)))) == 2 for it in range(20))
    with pytest.raises(ValueError, match="scenario_pool"):
        DrugGRPOConfig().training(model_name_or_path="m", scenario_pool=0).validate()


def test_config_validate_names_the_fix():
    with pytest.raises(ValueError, match="model_name_or_path"):
        DrugGRPOConfig().validate()
    with pytest.raises(ValueError, match="valid choices"):
        DrugGRPOConfig().training(model_name_or_path="m", loss_type="ppo").validate()
    with pytest.raises(ValueError, match="group_size >= 2"):
        DrugGRPOConfig().training(model_name_or_path="m", group_size=1).validate()


def test_runner_plays_a_remote_server_like_the_in_process_env(tiny_model_dir):
    """``env_url``: the runner steps sessions of a real DrugEnv server on loopback; the episodes match
    the in-process ones turn for turn (same prompts, rewards), since the same seed gives the same episode."""
    from drugenv.server.app import create_app
    from drugenv.server.serve import serve_in_thread

    def play(env_config=None, **training):
        config = (DrugGRPOConfig().environment(env_config=env_config or {})
                  .training(model_name_or_path=tiny_model_dir, group_size=2, max_turns=2, max_new_tokens=6,
                            torch_num_threads=1, **training).debugging(seed=0))
        runner = DrugEnvRunner(config=config, worker_index=1)
        try:
            import torch

            torch.manual_seed(0)
            return runner.sample(tasks=[{"group_id": 0, "reset_kwargs": {"scenario": "procedural", "seed": 5}}])
        finally:
            runner.stop()

    # A server's sessions keep its own step cap (SimParams().max_steps); in-process, the runner would
    # lower it to max_turns, so give the local env the server's for a like-for-like comparison.
    local = play(env_config={"sim_params": SimParams()})
    with serve_in_thread(create_app(max_sessions=4, strict_actions=False)) as url:  # unparseable text is a violation there too
        remote = play(env_url=url)
    assert len(remote) == len(local) == 2
    for a, b in zip(local, remote):
        assert [o.tolist() for o in a.get_observations(slice(0, len(a)))] == \
               [o.tolist() for o in b.get_observations(slice(0, len(b)))]
        assert a.get_rewards(slice(0, len(a))) == pytest.approx(b.get_rewards(slice(0, len(b))))


def test_curriculum_draws_each_groups_tier_from_the_schedule():
    cfg = DrugGRPOConfig().training(model_name_or_path="unused", groups_per_iteration=4, group_size=2,
                                    curriculum={"kind": "easy_to_hard", "schedule_episodes": 24, "review_prob": 0.0})
    tiers = lambda it: [t["reset_kwargs"]["difficulty"] for t in group_tasks(cfg, it)]  # noqa: E731
    # 8 episodes per iteration; the schedule moves up a tier every 8 episodes.
    assert tiers(0) == ["easy"] * 4 and tiers(1) == ["medium"] * 4 and tiers(2) == tiers(9) == ["hard"] * 4
    assert group_tasks(cfg, 1) == group_tasks(cfg, 1)  # a pure function of (seed, iteration)
    mixed = DrugGRPOConfig().training(model_name_or_path="unused", groups_per_iteration=64, curriculum="mixed")
    assert {t["reset_kwargs"]["difficulty"] for t in group_tasks(mixed, 0)} == {"easy", "medium", "hard"}
    with pytest.raises(ValueError, match="adaptive"):
        DrugGRPOConfig().training(model_name_or_path="m", curriculum="adaptive").validate()


@pytest.mark.parametrize("total, runners", [(10, 3), (7, 2), (9, 3), (5, 4), (200, 3)])
def test_evaluation_runners_split_the_suite_without_overlap_or_gaps(total, runners):
    """RLlib asks runner i for N // W + (i <= N % W) episodes; each starts where the one before it
    stopped (with (i-1)·n, N=10 over 3 runners played seed ...003 twice and never ...009)."""
    from drugenv.training.env_runner import evaluation_offset

    config = DrugGRPOConfig().evaluation(evaluation_duration=total, evaluation_num_env_runners=runners,
                                         evaluation_duration_unit="episodes")
    played = []
    for i in range(1, runners + 1):
        n = total // runners + bool(i <= total % runners)  # algorithm.py's split
        start = evaluation_offset(i, n, config)
        played += range(start, start + n)
    assert played == list(range(total))


def test_a_weight_push_older_than_the_last_one_is_ignored(tiny_model_dir):
    """Pushes carry a sequence number: a late, older push must not overwrite newer weights (seq 0, a
    restore's push, always applies), and a state without the module is ignored."""
    from ray.rllib.core import COMPONENT_RL_MODULE

    from drugenv.training.env_runner import WEIGHTS_SEQ_NO

    config = DrugGRPOConfig().training(model_name_or_path=tiny_model_dir, group_size=2, max_turns=1, max_new_tokens=4,
                                       torch_num_threads=1)
    runner = DrugEnvRunner(config=config, worker_index=1)
    try:
        base = runner.module.get_state()
        a = {k: v + 1.0 for k, v in base.items()}
        b = {k: v + 2.0 for k, v in base.items()}

        def holds(state):
            return all(np.array_equal(runner.module.get_state()[k], v) for k, v in state.items())

        runner.set_state({COMPONENT_RL_MODULE: a, WEIGHTS_SEQ_NO: 2})
        runner.set_state({COMPONENT_RL_MODULE: b, WEIGHTS_SEQ_NO: 1})  # arrives late
        assert holds(a)
        runner.set_state({WEIGHTS_SEQ_NO: 5})  # no module in it
        assert holds(a)
        runner.set_state({COMPONENT_RL_MODULE: b, WEIGHTS_SEQ_NO: 0})
        assert holds(b)
        runner.set_state({COMPONENT_RL_MODULE: a, WEIGHTS_SEQ_NO: 3})
        assert holds(a)
    finally:
        runner.stop()
