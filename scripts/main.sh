#!/usr/bin/env bash
# Sets up the environment and runs the main job on local Ray with the tiny offline model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=${WANDB_MODE:-offline} RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
export RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false
for agent in random heuristic oracle; do
  drugenv eval --agent "$agent" --suite curated --episodes 25 --out "runs/eval/${agent}_curated.json"
done
