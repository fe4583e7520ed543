"""`random:<Qwen2.5 architecture>`: exact public config values, seeded random init, one model-string resolver."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from drugenv.errors import ConfigError
from drugenv.llm import architectures as A

# Model-card totals (parameters, non-embedding parameters) of the Qwen2.5 Instruct models.
CARD = {
    "Qwen/Qwen2.5-0.5B-Instruct": (494_032_768, 0.36e9),
    "Qwen/Qwen2.5-1.5B-Instruct": (1_543_714_304, 1.31e9),
    "Qwen/Qwen2.5-3B-Instruct": (3_085_938_688, 2.77e9),
    "Qwen/Qwen2.5-7B-Instruct": (7_615_616_512, 6.53e9),
}


def test_data_file_has_a_source_and_the_four_architectures():
    data = json.loads(resources.files("drugenv.llm").joinpath(A.ARCHITECTURES_RESOURCE).read_text(encoding="utf-8"))
    assert "config.json" in data["_source"]
    assert A.architecture_names() == sorted(CARD)
    for name in CARD:
        a = A.architecture(name)
        assert a["vocab_size"] == (152_064 if "7B" in name else 151_936)
        assert a["tie_word_embeddings"] is ("7B" not in name)
        assert a["use_sliding_window"] is False and a["rope_theta"] == 1e6 and a["rms_norm_eps"] == 1e-6


@pytest.mark.parametrize("name", sorted(CARD))
def test_param_counts_match_the_model_cards_and_transformers(name):
    total, non_emb = CARD[name]
    pc = A.param_count(name)
    assert pc["total"] == total
    assert abs(pc["non_embedding"] - non_emb) < 0.005e9
    assert A.meta_param_count(name) == total  # the transformers model, built on the meta device


def test_computed_numbers():
    assert A.kv_cache_bytes_per_token("Qwen/Qwen2.5-0.5B-Instruct") == 2 * 24 * 2 * 64 * 2
    assert A.kv_cache_bytes_per_token("Qwen/Qwen2.5-3B-Instruct") == 2 * 36 * 2 * 128 * 2
    assert A.weight_bytes("Qwen/Qwen2.5-3B-Instruct") == 2 * 3_085_938_688
    # A short sequence costs about 2 FLOPs per parameter per token (attention adds little).
    pc = A.param_count("Qwen/Qwen2.5-0.5B-Instruct")
    f = A.forward_flops("Qwen/Qwen2.5-0.5B-Instruct", 8, 0)
    assert 2 * pc["total"] * 8 <= f < 1.01 * 2 * pc["total"] * 8
    assert A.lora_update_flops("Qwen/Qwen2.5-0.5B-Instruct", 100, 10, logits_positions=11) == \
        2 * A.forward_flops("Qwen/Qwen2.5-0.5B-Instruct", 100, 10, logits_positions=11)
    # r * (fan_in + fan_out) per adapted matrix and layer.
    assert A.lora_param_count("Qwen/Qwen2.5-0.5B-Instruct", 8, ["q_proj"]) == 24 * 8 * (896 + 896)
    with pytest.raises(ValueError, match="not Qwen2 linear layers"):
        A.lora_param_count("Qwen/Qwen2.5-0.5B-Instruct", 8, ["qkv"])


def test_config_and_seeded_random_init():
    cfg = A.qwen2_config("Qwen/Qwen2.5-3B-Instruct")
    for key in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "vocab_size", "tie_word_embeddings", "max_position_embeddings", "rms_norm_eps"):
        assert getattr(cfg, key) == A.architecture("Qwen/Qwen2.5-3B-Instruct")[key], key
    small = {"num_hidden_layers": 1, "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_key_value_heads": 1}
    m1 = A.build_random_model("Qwen/Qwen2.5-0.5B-Instruct", seed=3, dtype="float32", **small)
    m2 = A.build_random_model("Qwen/Qwen2.5-0.5B-Instruct", seed=3, dtype="float32", **small)
    m3 = A.build_random_model("Qwen/Qwen2.5-0.5B-Instruct", seed=4, dtype="float32", **small)
    w = "model.layers.0.mlp.up_proj.weight"
    assert m1.state_dict()[w].equal(m2.state_dict()[w]) and not m1.state_dict()[w].equal(m3.state_dict()[w])
    assert m1.config.vocab_size == 151_936 and m1.lm_head.weight is m1.model.embed_tokens.weight
    assert m1.generation_config.eos_token_id == 151645 and m1.generation_config.pad_token_id == 151643
    bf16 = A.build_random_model("Qwen/Qwen2.5-0.5B-Instruct", seed=3, dtype="bfloat16", **small)
    assert str(bf16.dtype) == "torch.bfloat16"


def test_resolve_model_spec(tmp_path):
    assert A.resolve_model_spec("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"  # hub id unchanged
    assert A.resolve_model_spec(tmp_path) == str(tmp_path)
    assert A.resolve_model_spec("tiny").endswith(tuple("0123456789abcdef"))  # a cached directory
    assert A.is_built_spec("random:Qwen/Qwen2.5-3B-Instruct") and A.is_built_spec("tiny:L4H256")
    assert not A.is_built_spec("/models/qwen")
    with pytest.raises(ConfigError, match="random:Qwen/Qwen2.5-0.5B-Instruct"):
        A.resolve_model_spec("random:Qwen/Qwen2.5-2B-Instruct")


def test_every_consumer_resolves_through_resolve_model_spec(monkeypatch):
    """run-agent / eval (model_path), training (resolve_base_model) and HFPolicy / Serve
    (load_model_and_tokenizer) all call the one resolver."""
    import inspect

    from drugenv.llm import loading, run_agent
    from drugenv.training import grpo_train

    for fn in (run_agent.model_path, grpo_train.resolve_base_model, loading.load_model_and_tokenizer):
        assert "resolve_model_spec(" in inspect.getsource(fn), fn.__qualname__
    # ... and really use what it returns (a call in a comment or a dead branch passed the source check).
    real = A.resolve_model_spec("tiny")
    asked = []
    monkeypatch.setattr(A, "resolve_model_spec", lambda spec: asked.append(str(spec)) or real)
    assert run_agent.model_path("tiny") == real
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as out:
        assert Path(grpo_train.resolve_base_model("tiny", Path(out))).exists()
    model, _ = loading.load_model_and_tokenizer("tiny", device="cpu")
    assert model.config.name_or_path == real
    assert asked == ["tiny", "tiny", "tiny"]
