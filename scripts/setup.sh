#!/usr/bin/env bash
# Creates .venv (if missing or broken) and installs DrugEnv with everything the tests and the main job need.
# torch is installed first and pinned to the version the results were made with. Where pip's indexes hold
# only PyPI's default (CUDA) build, that is several GB of nvidia-* packages: set
# DRUGENV_TORCH_INDEX=https://download.pytorch.org/whl/cpu to take the CPU build from PyTorch's index.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "setup.sh: DrugEnv needs Python >= 3.10; $PY is $("$PY" -V 2>&1). Set PYTHON=python3.11 (or another)." >&2
  exit 2
fi
# A venv whose python or pip does not run (a venv that failed half-way, or made by a Python since removed) is made again.
if ! { [ -x .venv/bin/python ] && .venv/bin/python -m pip --version >/dev/null 2>&1 \
       && .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 10))'; }; then
  rm -rf .venv
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null
python -m pip install -q "torch==${DRUGENV_TORCH_VERSION:-2.13.0}" ${DRUGENV_TORCH_INDEX:+--index-url "$DRUGENV_TORCH_INDEX"}
# The versions the committed results were made with (scripts/constraints.txt): a fresh clone replays them.
CONSTRAINTS=${DRUGENV_CONSTRAINTS-scripts/constraints.txt}
python -m pip install -q -e ".[test]" ${CONSTRAINTS:+-c "$CONSTRAINTS"}
