#!/usr/bin/env bash
# Sets up the environment and runs the main job on local Ray with the tiny offline model:
# SFT warm-start on heuristic trajectories -> LoRA-GRPO -> held-out before/after table, then evaluates
# the final checkpoint the way a user would.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=${WANDB_MODE:-offline} RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
export RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false
rm -rf runs/grpo_tiny_cpu
drugenv train rllib_configs/grpo_tiny_cpu.py --out runs/grpo_tiny_cpu "$@"
drugenv eval --agent checkpoint:runs/grpo_tiny_cpu/checkpoint_final --suite procedural-test --episodes 32 \
  --max-steps 12 --out runs/eval/grpo_tiny_cpu.json
