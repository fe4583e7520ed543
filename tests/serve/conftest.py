"""A tiny trained-agent checkpoint (the offline tiny model + a peft LoRA adapter), laid out as `drugenv train` writes it."""

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def make_tiny_checkpoint(folder: Path) -> Path:
    """``folder/checkpoint_final`` with ``adapter/`` (peft) and ``drugenv_checkpoint.json``. The metadata names
    no model on purpose: the base model must come from the adapter's ``adapter_config.json``."""
    from peft import LoraConfig, get_peft_model

    from drugenv.llm.loading import load_model_and_tokenizer
    from drugenv.llm.tiny import cached_tiny_model

    base, _ = load_model_and_tokenizer(str(cached_tiny_model()), device="cpu")
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    ckpt = folder / "checkpoint_final"
    peft_model.save_pretrained(ckpt / "adapter")
    (ckpt / "drugenv_checkpoint.json").write_text(json.dumps(
        {"algo": "grpo", "iteration": 1, "settings": {"run": {"eval_max_new_tokens": 16}}}))
    return ckpt


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("agent"))
