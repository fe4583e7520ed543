"""The README's job recipe, copy-pasted: a head of our own on free ports, `ray job submit -- drugenv train`
with `--out` to an absolute path, and only that head stopped (the run's budget is shrunk, nothing else)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAIN_TAIL = '--set run.iterations=1 --out "$PWD/runs/grpo_job"'
TINY = ("--no-sft --no-progress --set run.iterations=1 --set run.eval_episodes=2 --set run.curve_eval_episodes=2 "
        "--set run.curated_episodes=2 --set run.eval_max_steps=3 --set training.groups_per_iteration=1 "
        "--set training.group_size=2 --set training.max_turns=3 --set training.max_new_tokens=16 "
        "--set env_runners.num_envs_per_env_runner=2")


def readme_block(marker: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker}:.*?-->\n```bash\n(.*?)```", text, re.S)
    assert match, f"README.md has no ```bash block after <!-- {marker}: ... -->"
    return match.group(1)


@pytest.mark.slow
def test_readme_job_recipe(tmp_path):
    pytest.importorskip("ray.rllib")  # the recipe starts a Ray head and submits `drugenv train`: the train extra
    recipe = readme_block("job-recipe")
    assert TRAIN_TAIL in recipe and "ray stop" not in recipe
    script = recipe.replace(TRAIN_TAIL, f'{TINY} --out "$OUT"')
    out = tmp_path / "job_run"
    env = {**os.environ, "OUT": str(out), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "RAY_USAGE_STATS_ENABLED": "0",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=900)
        # The recipe's last line stopped the head it started: nothing of it is left in its process group.
        deadline = time.monotonic() + 60
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(1)
        assert not _group_alive(proc.pid), "the recipe left processes of its head running"
    finally:
        if _group_alive(proc.pid):  # a timeout or a failure: end the head this test started, nothing else
            os.killpg(proc.pid, signal.SIGKILL)
    assert "succeeded" in log.lower(), log[-3000:]
    assert json.loads((out / "checkpoint_final" / "drugenv_checkpoint.json").read_text(encoding="utf-8"))["iteration"] == 1


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
