#!/usr/bin/env bash
# Sets up the environment and runs the main job on local Ray with the tiny offline model:
# SFT warm-start on heuristic trajectories -> LoRA-GRPO -> held-out evaluation (300 procedural-test
# episodes + 20 curated, 95% paired bootstrap intervals against the heuristic), then evaluates the
# final checkpoint the way a user would, and publishes the evidence: docs/results/grpo_tiny_cpu.json,
# docs/images/grpo_tiny_cpu_curve.png and the README's main-job table generated from that JSON
# (PUBLISH=0 skips the publishing step; CONFIG=<rllib_configs file stem> runs another recipe the same way).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=${WANDB_MODE:-offline} RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
export RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false
CONFIG=${CONFIG:-grpo_tiny_cpu}  # CONFIG=grpo_tiny_cpu_long: the longer recipe (README, "The longer recipe")
rm -rf "runs/$CONFIG"
drugenv train "rllib_configs/$CONFIG.py" --out "runs/$CONFIG" "$@"
ckpt="runs/$CONFIG/checkpoint_best"  # a run with validation selection evaluates its chosen checkpoint
[ -d "$ckpt" ] || ckpt="runs/$CONFIG/checkpoint_final"
drugenv eval --agent "checkpoint:$ckpt" --suite procedural-test --episodes 100 \
  --max-steps 12 --batch-size 50 --out "runs/eval/$CONFIG.json"
if [ "${PUBLISH:-1}" = "1" ]; then
  python -m drugenv.evaluation.results_table publish "runs/$CONFIG" --name "$CONFIG"
fi
