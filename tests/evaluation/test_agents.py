"""The agent registry (``evaluation.agents``): ``--agent`` strings to policies, checkpoints included."""

from __future__ import annotations

import json

import pytest

from drugenv.agents.baselines import BASELINES
from drugenv.errors import ConfigError, UnknownScenarioError
from drugenv.evaluation.agents import load_checkpoint_policy, make_policy
from drugenv.evaluation.evaluate import evaluate


def test_baselines_by_name():
    for name, cls in BASELINES.items():
        assert isinstance(make_policy(name, seed=1), cls)
    with pytest.raises(UnknownScenarioError, match="checkpoint:PATH"):
        make_policy("nope")


def test_checkpoint_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        make_policy(f"checkpoint:{tmp_path / 'nope'}")
    pytest.importorskip("ray.rllib")  # the PPO check imports RLlib
    with pytest.raises(ConfigError, match="neither a DrugEnv GRPO checkpoint"):
        load_checkpoint_policy(tmp_path)


def test_grpo_checkpoint_is_a_greedy_hf_policy(tmp_path):
    pytest.importorskip("peft")
    from peft import LoraConfig, get_peft_model

    from drugenv.llm.checkpoint import trained_budget
    from drugenv.llm.loading import load_model_and_tokenizer
    from drugenv.llm.policy import HFPolicy
    from drugenv.llm.tiny import cached_tiny_model

    base, _ = load_model_and_tokenizer(str(cached_tiny_model()), device="cpu")
    ckpt = tmp_path / "checkpoint_final"
    get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
                   ).save_pretrained(ckpt / "adapter")
    settings = {"run": {"eval_max_new_tokens": 7, "eval_max_prompt_tokens": 1500}, "training": {"max_prompt_tokens": 1400}}
    (ckpt / "drugenv_checkpoint.json").write_text(json.dumps({"algo": "grpo", "settings": settings}), encoding="utf-8")  # no "model":
    policy = make_policy(f"checkpoint:{ckpt}", device="cpu")  # the adapter's base model is used
    assert isinstance(policy, HFPolicy) and policy.adapter == str(ckpt / "adapter")
    assert make_policy(f"checkpoint:{tmp_path}", device="cpu").adapter == str(ckpt / "adapter")  # the run's folder
    assert policy.sampling.temperature == 0.0 and policy.sampling.max_new_tokens == 7 and policy.max_prompt_tokens == 1500
    assert trained_budget(ckpt / "adapter") == 1400 and trained_budget(None) == 2048
    summary, records = evaluate(policy, "curated", 1, 0, max_steps=2, progress=False)
    assert len(records) == 1 and records[0].steps == 2


def test_hf_agent_samples_with_the_eval_seed():
    """`drugenv eval --agent hf --seed N` played seeds N.. but always sampled with seed 0 (and --extra seed
    is refused: "set --seed instead")."""
    pytest.importorskip("transformers")
    from drugenv.llm.tiny import cached_tiny_model

    policy = make_policy("hf", model=str(cached_tiny_model()), seed=7, device="cpu")
    assert policy.sampling.seed == 7
