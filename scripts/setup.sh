#!/usr/bin/env bash
# Creates .venv (if missing) and installs DrugEnv with everything the tests and the main job need.
# torch is installed first and pinned: an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null
python -m pip install -q "torch==${DRUGENV_TORCH_VERSION:-2.13.0}"
# The versions the committed results were made with (scripts/constraints.txt): a fresh clone replays them.
CONSTRAINTS=${DRUGENV_CONSTRAINTS-scripts/constraints.txt}
python -m pip install -q -e ".[test]" ${CONSTRAINTS:+-c "$CONSTRAINTS"}
