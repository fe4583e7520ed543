import hashlib
import importlib
import json
import os

import pytest

torch = pytest.importorskip("torch")

from drugenv.llm import loading, tiny  # noqa: E402


def test_chat_template_is_qwen25_exact():
    text = tiny.chat_template()
    assert hashlib.sha256(text.encode()).hexdigest() == tiny.QWEN_CHAT_TEMPLATE_SHA256
    assert len(text.encode()) == 2507


def test_bpe_tokenizer_is_deterministic_and_round_trips(tmp_path):
    a = tiny.build_bpe_tokenizer(tmp_path / "a")
    b = tiny.build_bpe_tokenizer()
    assert a.get_vocab() == b.get_vocab()
    assert a.convert_ids_to_tokens([0, 1, 2]) == list(tiny.BPE_SPECIAL_TOKENS)
    loaded = loading.load_tokenizer(tmp_path / "a")
    text = '{"action_type": "query_expression", "parameters": {"database": "GTEx"}} — EGFR ΔΔ 日本'
    assert loaded(text)["input_ids"] == a(text)["input_ids"]
    assert loaded.decode(loaded(text)["input_ids"]) == text
    assert loaded.eos_token == "<|im_end|>" and loaded.pad_token == "<|endoftext|>"
    msgs = [{"role": "user", "content": "hi"}]
    assert loaded.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) == (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_qwen_tokenizer_matches_published_ids(qwen_tokenizer):
    tok = qwen_tokenizer
    assert len(tok) == 151_665
    assert tok.eos_token_id == 151645 and tok.pad_token_id == 151643
    assert tok("<|im_start|>hello<|im_end|>")["input_ids"] == [151644, 14990, 151645]
    assert tok(" hello sir. How are you Edward?")["input_ids"] == [23811, 27048, 13, 2585, 525, 498, 21891, 30]
    assert tok(" are a helpful assistant.")["input_ids"] == [525, 264, 10950, 17847, 13]
    for tid, content, _special in tiny.QWEN25_ADDED_TOKENS:
        assert tok.convert_tokens_to_ids(content) == tid


def test_qwen_tiktoken_sha_is_checked(tmp_path, monkeypatch):
    bad = tmp_path / "qwen.tiktoken"
    bad.write_bytes(b"bad")
    monkeypatch.setenv("DRUGENV_QWEN_TIKTOKEN", str(bad))
    found = None
    try:
        found = tiny.fetch_qwen_tiktoken(tmp_path / "cache", allow_pip=False)
    except tiny.TokenizerUnavailable as e:
        assert "pip download" in str(e)
    assert found != bad


def test_tiny_model_save_load_generate_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    d = tiny.build_tiny_model(tmp_path / "m", layers=2, hidden=64, seed=3)
    meta = json.loads((d / "drugenv_tiny.json").read_text(encoding="utf-8"))
    assert meta["layers"] == 2 and meta["hidden"] == 64 and meta["tokenizer"] == "bpe"
    model, tok = loading.load_model_and_tokenizer(d, device="cpu")
    assert model.config.model_type == "qwen2" and model.config.vocab_size % 64 == 0
    assert model.config.vocab_size >= len(tok) and tok.padding_side == "left"
    ids = tok.apply_chat_template([{"role": "user", "content": "EGFR?"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 5
    # Same seed, same weights; another seed, other weights.
    again = tiny.build_tiny_model(tmp_path / "m2", layers=2, hidden=64, seed=3)
    other = tiny.build_tiny_model(tmp_path / "m3", layers=2, hidden=64, seed=4)
    m2, _ = loading.load_model_and_tokenizer(again, device="cpu")
    m3, _ = loading.load_model_and_tokenizer(other, device="cpu")
    w = "model.layers.0.self_attn.q_proj.weight"
    assert torch.equal(model.state_dict()[w], m2.state_dict()[w])
    assert not torch.equal(model.state_dict()[w], m3.state_dict()[w])


def test_offline_hub_id_fails_fast(monkeypatch):
    """Offline, an uncached hub id is an OSError at once, without a single connection attempt (a network
    failure after retries raised the same OSError, so only the attempt tells them apart)."""
    import socket

    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("the test forbids network connections")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    importlib.reload(huggingface_hub.constants)
    try:
        monkeypatch.setattr(socket.socket, "connect", refuse)
        with pytest.raises(OSError):  # "at once": no attempt, so no retry to wait out (a hang is the suite's timeout)
            loading.load_model_and_tokenizer("drugenv-test/definitely-not-cached-model", device="cpu")
        assert attempts == []
    finally:
        monkeypatch.undo()
        importlib.reload(huggingface_hub.constants)


def test_cached_tiny_model_builds_once(tmp_path):
    a = tiny.cached_tiny_model(tmp_path, hidden=64)
    stamp = (a / "model.safetensors").stat().st_mtime_ns
    b = tiny.cached_tiny_model(tmp_path, hidden=64)
    c = tiny.cached_tiny_model(tmp_path, hidden=64, seed=1)
    assert a == b and (b / "model.safetensors").stat().st_mtime_ns == stamp
    assert c != a
    assert not [p for p in (tmp_path / "tiny").iterdir() if "." in p.name]  # no temp dirs left


def test_qwen_vocab_tiny_model(tmp_path, qwen_tokenizer):
    d = tiny.build_tiny_model(tmp_path / "q", layers=1, hidden=32, tokenizer="qwen")
    model, tok = loading.load_model_and_tokenizer(d, device="cpu")
    assert model.config.vocab_size == tiny.QWEN_VOCAB_ROWS and len(tok) == 151_665
    assert tok.eos_token_id == model.generation_config.eos_token_id == 151645


def test_build_tokenizer_rejects_unknown_kind():
    with pytest.raises(ValueError, match="'bpe' or 'qwen'"):
        tiny.build_tokenizer("gpt2")


@pytest.mark.parametrize("quiet", [False, True])
def test_no_progress_quiets_the_libraries_bars_too(tiny_model_dir, quiet):
    """``drugenv train --no-progress`` still printed transformers' "Loading weights" bar for every model it
    loaded (and "Writing model shards" for every save): ``quiet_library_progress_bars`` turns those off, in
    this process and, through the environment, in the Ray workers started after it."""
    import subprocess
    import sys

    script = ("from drugenv.cli import quiet_library_progress_bars\n"
              "import transformers\n"
              f"{'quiet_library_progress_bars()' if quiet else ''}\n"
              f"transformers.AutoModelForCausalLM.from_pretrained({str(tiny_model_dir)!r})\n")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert ("Loading weights" in out.stderr) is not quiet, out.stderr[-2000:]
