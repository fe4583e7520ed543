"""`drugenv train` at real size on CPU: the exact Qwen2.5-0.5B architecture, random weights, one iteration.

Opt-in (minutes on 2 cores, ~12 GB RAM: 8.0 GB in the driver and 3.3 in the env runner,
``docs/results/real_size_cpu/qwen25_05b.json``; ~1 GB cache): ``DRUGENV_REAL_SIZE=1 pytest -m slow tests/training/test_train_random_qwen.py``
(docs/gpu.md). The default run and ``scripts/test.sh`` skip it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CPU_05B = ["model=random:Qwen/Qwen2.5-0.5B-Instruct", "run.iterations=1", "training.device=cpu", "training.dtype=float32",
           "env_runners.num_gpus_per_env_runner=0", "learners.num_learners=0", "learners.num_gpus_per_learner=0",
           "training.torch_num_threads=1", "training.group_size=2", "training.groups_per_iteration=1", "training.max_turns=3",
           "training.max_new_tokens=16", "training.gradient_checkpointing=true", "training.minibatch_size=2",
           "training.max_prompt_tokens=1024", "training.drop_zero_std_groups=false", "env_runners.num_envs_per_env_runner=2",
           "run.eval_episodes=2", "run.eval_interval=1", "run.checkpoint_interval=1"]
"""The documented CPU command's overrides (docs/gpu.md): small groups, short turns, checkpointing, 2-row minibatches.
Evaluation plays training's game: its run.eval_* step cap and token budgets are None in the config."""


def test_the_documented_cpu_command_is_the_one_tested():
    import re

    page = (ROOT / "docs" / "gpu.md").read_text(encoding="utf-8")
    command = page[page.index("drugenv train rllib_configs/grpo_qwen25_05b.py --no-sft"):]
    command = command[:command.index("```")]
    assert re.findall(r"--set (\S+)", command) == CPU_05B


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("DRUGENV_REAL_SIZE") != "1", reason="0.5B-sized run: set DRUGENV_REAL_SIZE=1 (docs/gpu.md)")
def test_train_one_iteration_of_random_qwen25_05b(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "drugenv.cli", "train", "rllib_configs/grpo_qwen25_05b.py", "--no-sft", "--no-progress",
           "--out", str(out), *[x for kv in CPU_05B for x in ("--set", kv)]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "WANDB_MODE": "offline",
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    final = out / "checkpoint_final"
    meta = json.loads((final / "drugenv_checkpoint.json").read_text(encoding="utf-8"))
    assert meta["iteration"] == 1
    made = json.loads((Path(meta["model"]) / "drugenv_random.json").read_text(encoding="utf-8"))
    assert made["architecture"] == "Qwen/Qwen2.5-0.5B-Instruct" and made["params"] == 494_032_768
    adapter = json.loads((final / "adapter" / "adapter_config.json").read_text(encoding="utf-8"))
    assert sorted(adapter["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]
