"""What the Serve tests share: a tiny trained-agent checkpoint (the offline tiny model + a peft LoRA adapter), laid out
as `drugenv train` writes it, and the helpers that start a Serve command in its own process and stop it."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

ROOT = Path(__file__).resolve().parents[2]


def serve_process_env() -> dict:
    """The environment of a Serve command a test starts as a user would (offline, loopback Ray, no usage stats)."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def wait_healthy(proc: Optional[subprocess.Popen], url: str, timeout: float = 300,
                 check: Optional[Callable[[], None]] = None) -> dict:
    """``url``'s /health answer, once it answers 200 (fails if ``proc`` exits first, or when ``check`` raises)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc is None or proc.poll() is None, f"the server exited early with {proc.returncode}"
        if check is not None:
            check()
        try:
            r = httpx.get(f"{url}/health", timeout=10)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(2)
    raise TimeoutError(f"{url}/health did not answer in {timeout}s")


def stop_serve_process(proc: subprocess.Popen) -> int:
    """SIGTERM our own server process; it stops Serve and the Ray it started."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=30)


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
        {"algo": "grpo", "iteration": 1, "settings": {"run": {"eval_max_new_tokens": 16}}}), encoding="utf-8")
    return ckpt


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("agent"))
