"""A model folder or adapter from someone else: DrugEnv loads weights, never code.

transformers runs a folder's own Python (``auto_map`` in config.json) when asked to trust it, and asked at a
``[y/N]`` prompt when not told; torch loads ``.bin`` weights with ``weights_only=True`` and refuses a pickle
that would run code, with a traceback that suggests turning that off.
"""

from __future__ import annotations

import builtins
import json
import pickle
import shutil

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from drugenv.errors import ConfigError  # noqa: E402
from drugenv.llm.loading import load_model_and_tokenizer  # noqa: E402


class _Touch:
    """A pickle that, loaded without ``weights_only``, would create ``path``."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_model_folders_own_code_is_refused_without_a_prompt(tiny_model_dir, tmp_path, monkeypatch):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    ran = tmp_path / "ran"
    (folder / "evil.py").write_text(f"open({str(ran)!r}, 'w').close()\n", encoding="utf-8")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config.update(model_type="evil_model", auto_map={"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"})
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    asked = []
    monkeypatch.setattr(builtins, "input", lambda prompt="": asked.append(prompt) or "y")  # a user who answers yes
    with pytest.raises(ValueError, match="trust_remote_code"):
        load_model_and_tokenizer(folder, device="cpu")
    assert asked == [] and not ran.exists()


def test_an_adapter_pickled_with_code_is_a_config_error(tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    adapter = tmp_path / "adapter"
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir), LoraConfig(r=2, target_modules=["q_proj"]))
    model.save_pretrained(adapter)
    (adapter / "adapter_model.safetensors").unlink()
    ran = tmp_path / "ran"
    with open(adapter / "adapter_model.bin", "wb") as f:
        pickle.dump({"base_model.model.lm_head.weight": _Touch(str(ran))}, f)
    with pytest.raises(ConfigError, match="weights are not plain tensors .* use safetensors weights"):
        load_model_and_tokenizer(tiny_model_dir, adapter=adapter, device="cpu")
    assert not ran.exists()


def test_an_adapter_loads_without_peft_s_deprecation_notice(tiny_model_dir, tmp_path):
    """peft reads transformers' deprecated ``is_gradient_checkpointing``, so every adapter load printed a FutureWarning
    about a call DrugEnv does not make."""
    import warnings

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    adapter = tmp_path / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir), LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(adapter)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        load_model_and_tokenizer(tiny_model_dir, adapter=adapter, device="cpu")
    assert [str(w.message) for w in seen if "is_gradient_checkpointing" in str(w.message)] == []
