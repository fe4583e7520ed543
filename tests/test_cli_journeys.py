"""A new user's mistakes at the `drugenv` command line: each is one line on stderr (what, why, the fix) and
exit code 2, never a traceback, and it comes before Ray, SFT or a model starts (each run here takes seconds)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def drugenv(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RUN_AGENT_MODEL_ID"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    return subprocess.run([sys.executable, "-m", "drugenv.cli", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def no_algo_overrides(tmp_path_factory) -> str:
    p = tmp_path_factory.mktemp("overrides") / "best.json"
    p.write_text(json.dumps({"training": {"lr": 1e-3}}))
    return str(p)


JOURNEYS = [
    (["train", "rllib_configs/nope.py"], "not found"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "run.iteratons=1"], "did you mean run.iterations"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "training.lr=abc"], "training.lr='abc' has the wrong type"),
    (["train", "rllib_configs/ppo_vector.py", "--set", "model=3"], "must be a mapping"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--resume", "/nope"], "'/nope' does not exist"),
    (["train", "rllib_configs/ppo_vector.py", "--overrides", "/nope.json"], "does not exist"),
    (["train", "--overrides", "NO_ALGO"], "name no algo"),
    (["eval", "--agent", "heurstic"], "unknown agent 'heurstic'"),
    (["eval", "--agent", "checkpoint:/nope"], "'/nope' does not exist"),
    (["eval", "--episodes", "-1"], "--episodes -1 is out of range"),
    (["eval", "--agent", "hf", "--episodes", "1"], "--agent hf needs a model"),
    (["sweep", "tune_sweeps/reward_weights", "--num-samples", "0"], "--num-samples 0 is out of range"),
    (["serve", "--checkpoint", "/nope"], "'/nope' does not exist"),
    (["serve"], "pass --checkpoint PATH"),
]


@pytest.mark.parametrize("argv,message", JOURNEYS, ids=[" ".join(a)[:60] for a, _ in JOURNEYS])
def test_mistake_is_one_line_and_exit_code_2(argv, message, no_algo_overrides):
    run = drugenv(*[no_algo_overrides if a == "NO_ALGO" else a for a in argv])
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2, run.stderr[-2000:]
    assert "Traceback" not in run.stderr and len(lines) == 1, run.stderr[-2000:]
    assert lines[0].startswith(f"drugenv {argv[0]}: error: ") and message in lines[0], lines[0]


def test_serve_checkpoint_without_adapter_says_so(tmp_path):
    run = drugenv("serve", "--checkpoint", str(tmp_path))
    assert run.returncode == 2 and "holds no LoRA adapter" in run.stderr and "Traceback" not in run.stderr
