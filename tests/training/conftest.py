"""Fixtures for the GRPO tests: a tiny random-init Qwen2 (BPE tokenizer) and a 2-CPU local Ray."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on loopback only


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    """A 2-layer, hidden-128 Qwen2 with the small BPE tokenizer (about 0.7M parameters)."""
    from drugenv.llm.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", layers=2, hidden=128, seed=0))


@pytest.fixture
def ray_local():
    """A local Ray with 2 CPUs and no dashboard; always shut down."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()

