"""Sweep -> retrain: best_config.json holds the best trial's full settings, and `drugenv train --overrides
best_config.json` (no config file: the file names its algo) reproduces the trial's held-out metrics; the same
sweep run again samples the same configs and gives the same table, but for Tune's trial ids."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from drugenv.tuning.sweep import HELDOUT_COLUMNS, load_sweep, run_sweep

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_retrain_from_best_config_reproduces_the_trial(local_ray, tmp_path, tiny):
    sweep = load_sweep(REPO / "tune_sweeps" / "reward_weights")
    # A base setting the sweep does not search: the retrain must train with it too.
    base = {**tiny, "training": {**tiny["training"], "lr": 1e-3}}
    res = run_sweep(sweep, num_samples=2, out=tmp_path, max_concurrent_trials=2, base_overrides=base, seed=0)
    assert not res["errors"]
    out = tmp_path / sweep.NAME
    best = json.loads((out / "best_config.json").read_text(encoding="utf-8"))
    trial = json.loads((out / "best_trial.json").read_text(encoding="utf-8"))
    assert best["algo"] == "ppo_vector"
    assert best["training"]["lr"] == 1e-3 and best["run"] == {**tiny["run"]}  # base and budget are in the file
    assert best["env_config"]["reward_config"] == res["best"]["_overrides"]["env_config"]["reward_config"]

    # docs/ppo_and_sweeps.md: run again, a sweep gives the same rows in the same order; only trial ids differ.
    again = run_sweep(sweep, num_samples=2, out=tmp_path / "again", max_concurrent_trials=2, base_overrides=base, seed=0)

    def table(folder: Path) -> list[dict[str, str]]:
        with open(folder / sweep.NAME / "results.csv", newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    first, second = table(tmp_path), table(tmp_path / "again")
    for row in first + second:
        del row["trial_id"]  # Tune's own, random per run
    assert first == second and len(first) == 2
    assert [r["_overrides"] for r in again["table"]] == [r["_overrides"] for r in res["table"]]

    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    run = subprocess.run([sys.executable, "-m", "drugenv.cli", "train", "--overrides", str(out / "best_config.json"),
                          "--out", str(tmp_path / "retrain"), "--no-progress", "--num-cpus", "1"],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    last = json.loads((tmp_path / "retrain" / "metrics.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    for k in HELDOUT_COLUMNS:
        assert last[f"heldout/{k}"] == pytest.approx(trial[f"heldout/{k}"], abs=1e-9, nan_ok=True), k
