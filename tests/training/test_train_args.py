"""`drugenv train` argument checks (before Ray or a model starts): --set keys and types, --overrides, --resume."""

import json
from pathlib import Path

import pytest

from drugenv.errors import ConfigError
from drugenv.training.cli import TrainArgs, check_args, check_overrides

ROOT = Path(__file__).resolve().parents[2]
GRPO = str(ROOT / "rllib_configs" / "grpo_tiny_cpu.py")
PPO = str(ROOT / "rllib_configs" / "ppo_vector.py")


def test_check_overrides_keys_and_types():
    defaults = {"run": {"iterations": 10, "suite": "x", "flag": True}, "training": {"lr": 1e-3, "hidden": [64]}, "seed": 0,
                "extra": {}, "maybe": None}
    check_overrides(defaults, {"algo": "a", "run": {"iterations": 2, "suite": 3, "flag": False}, "training": {"lr": 1},
                               "extra": {"anything": 1}, "maybe": {"k": 1}, "seed": 3})
    for bad, words in (({"run": {"iteratons": 1}}, "did you mean run.iterations"), ({"training": {"lr": "abc"}}, "a number"),
                       ({"run": {"iterations": 2.5}}, "an integer"), ({"run": {"flag": 1}}, "true or false"),
                       ({"training": {"hidden": 64}}, "a list"), ({"run": 3}, "must be a mapping"), ({"nope": 1}, "top level")):
        with pytest.raises(ConfigError, match=words):
            check_overrides(defaults, bad)


def test_check_args_accepts_rllib_knobs_and_reward_fields():
    _, overrides = check_args(TrainArgs(config=PPO, set=["training.use_kl_loss=true", "env_config.reward_config.w_decision=2"]))
    assert overrides["training"]["use_kl_loss"] is True
    check_args(TrainArgs(config=GRPO, set=["training.reward_config.novelty_bonus=0.5", "training.drop_zero_std_groups=false"]))
    with pytest.raises(ConfigError, match="training.nope_knob"):
        check_args(TrainArgs(config=PPO, set=["training.nope_knob=1"]))


def test_overrides_file_names_the_algo(tmp_path):
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"algo": "ppo_vector", "training": {"lr": 1e-3}}))
    module, overrides = check_args(TrainArgs(overrides=str(best)))
    assert module.ALGO == "ppo_vector" and overrides["training"]["lr"] == 1e-3
    best.write_text(json.dumps({"algo": "grpo", "training": {}}))
    with pytest.raises(ConfigError, match="pass the config file"):
        check_args(TrainArgs(overrides=str(best)))
    best.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        check_args(TrainArgs(config=PPO, overrides=str(best)))


def test_resume_is_checked_first(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        check_args(TrainArgs(config=GRPO, resume=str(tmp_path / "nope")))
    with pytest.raises(ConfigError, match="not a GRPO checkpoint"):
        check_args(TrainArgs(config=GRPO, resume=str(tmp_path)))
    with pytest.raises(ConfigError, match="not an RLlib PPO checkpoint"):
        check_args(TrainArgs(config=PPO, resume=str(tmp_path)))
