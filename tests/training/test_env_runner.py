"""DrugEnvRunner in-process (no Ray actors) on the real simulator, and the scenario sampler."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("ray.rllib")
pytest.importorskip("peft")

from drugenv.simulator.params import RewardConfig  # noqa: E402
from drugenv.training.env_runner import DrugEnvRunner  # noqa: E402
from drugenv.training.grpo import DrugGRPO  # noqa: E402
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
    eps = out["episodes"]
    assert [(e["group_id"], e["index"]) for e in eps] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for e in eps:
        assert 1 <= len(e["turns"]) <= 2
        for t in e["turns"]:
            assert len(t["completion_ids"]) == len(t["logprobs"]) <= 8
            assert all(lp <= 0 for lp in t["logprobs"])
        # The prompt is the chat-templated observation, ending with the generation prompt.
        assert runner.tokenizer.decode(e["turns"][0]["prompt_ids"]).rstrip().endswith("assistant")
        # A random-init model writes no valid action: every turn is a parse failure, penalised by the env.
        assert e["parse_failures"] == len(e["turns"])
        assert e["return"] < 0
        # Stopped at max_turns, the environment itself truncates (its step cap is max_turns), so the
        # episode pays the no-report penalty exactly as evaluation with max_steps does.
        assert e["terminated"] and len(e["turns"]) == 2
        assert e["return"] <= -RewardConfig().no_report_penalty
    # Same scenario seed -> same first prompt within a group (the group shares its start state).
    assert eps[0]["turns"][0]["prompt_ids"] == eps[1]["turns"][0]["prompt_ids"]
    assert eps[0]["turns"][0]["prompt_ids"] != eps[2]["turns"][0]["prompt_ids"]


@pytest.mark.parametrize("suite", ["procedural-train", "curated"])
def test_sample_tasks_is_deterministic_per_iteration(suite):
    cfg = DrugGRPOConfig().training(model_name_or_path="unused", groups_per_iteration=3, scenario_suite=suite,
                                    difficulty=lambda it: "easy" if it < 5 else "hard")
    algo = SimpleNamespace(config=cfg)
    a0, a0b, a1 = DrugGRPO.sample_tasks(algo, 0), DrugGRPO.sample_tasks(algo, 0), DrugGRPO.sample_tasks(algo, 7)
    assert a0 == a0b and a0 != a1
    assert [t["group_id"] for t in a0] == [0, 1, 2]
    assert all(t["reset_kwargs"]["difficulty"] == "easy" for t in a0)
    assert all(t["reset_kwargs"]["difficulty"] == "hard" for t in a1)
    assert len({(t["reset_kwargs"]["scenario"], t["reset_kwargs"]["seed"]) for t in a0}) == 3


def test_scenario_pool_repeats_the_same_scenarios():
    cfg = DrugGRPOConfig().training(model_name_or_path="unused", groups_per_iteration=3, scenario_pool=3)
    algo = SimpleNamespace(config=cfg)
    key = lambda tasks: sorted((t["reset_kwargs"]["scenario"], t["reset_kwargs"]["seed"]) for t in tasks)  # noqa: E731
    assert key(DrugGRPO.sample_tasks(algo, 0)) == key(DrugGRPO.sample_tasks(algo, 9))  # the whole pool each time
    assert len(set(key(DrugGRPO.sample_tasks(algo, 0)))) == 3
    # A pool larger than an iteration: draws cover it without repeats inside one iteration.
    big = SimpleNamespace(config=DrugGRPOConfig().training(model_name_or_path="unused", groups_per_iteration=2, scenario_pool=5))
    seen = {k for it in range(20) for k in key(DrugGRPO.sample_tasks(big, it))}
    assert len(seen) == 5 and all(len(set(key(DrugGRPO.sample_tasks(big, it)))) == 2 for it in range(20))
    with pytest.raises(ValueError, match="scenario_pool"):
        DrugGRPOConfig().training(model_name_or_path="m", scenario_pool=0).validate()


def test_config_validate_names_the_fix():
    with pytest.raises(ValueError, match="model_name_or_path"):
        DrugGRPOConfig().validate()
    with pytest.raises(ValueError, match="valid choices"):
        DrugGRPOConfig().training(model_name_or_path="m", loss_type="ppo").validate()
    with pytest.raises(ValueError, match="group_size >= 2"):
        DrugGRPOConfig().training(model_name_or_path="m", group_size=1).validate()
