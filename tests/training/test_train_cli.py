"""`drugenv train`: configs build, train → checkpoint → resume, the peft adapter serves, ray job submit."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drugenv.errors import ConfigError
from drugenv.server.serve import free_port
from drugenv.training.cli import TrainArgs, parse_set, train_main

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (ROOT / "rllib_configs").glob("*.py") if not p.name.startswith("_"))
# A run small enough for a test: no warm-start, 1 group of 2 episodes of at most 3 turns. The
# random-init model's episodes all score the same, so keep zero-variance groups in the batch: the
# test needs real optimizer steps to check that resuming carries the optimizer state.
TINY = ["run.eval_episodes=2", "run.curve_eval_episodes=2", "run.curated_episodes=2", "run.twins_episodes=2", "run.eval_max_steps=3", "run.eval_interval=1", "run.checkpoint_interval=1",
        "training.groups_per_iteration=1", "training.group_size=2", "training.max_turns=3",
        "training.max_new_tokens=16", "env_runners.num_envs_per_env_runner=2", "training.drop_zero_std_groups=false"]


def test_parse_set():
    assert parse_set(["run.iterations=4", "training.lr=1e-4", "model=tiny", "x.y.z=[1, 2]", "flag=true"]) == {
        "run": {"iterations": 4}, "training": {"lr": 1e-4}, "model": "tiny", "x": {"y": {"z": [1, 2]}}, "flag": True}
    with pytest.raises(ValueError, match="key=value"):
        parse_set(["iterations"])


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_config_builds(path, tmp_path):
    """GPU configs are built (not run) without a GPU."""
    from drugenv.training.configs import load_rllib_config

    module = load_rllib_config(path)
    if module.ALGO == "grpo":
        config = module.build_config(None, model_path=str(tmp_path / "model"))
        assert config.group_size >= 2 and config.model_name_or_path == str(tmp_path / "model")
    else:
        config = module.build_config(None)
    assert config.to_dict()
    with pytest.raises(ValueError, match="unknown"):
        module.settings({"no_such_section": {}})


def _optimizer_step(checkpoint: Path) -> float:
    state = pickle.loads((checkpoint / "learner_group" / "learner" / "state.pkl").read_bytes())
    opt = next(iter(state["optimizer"].values()))["state"]["state"]
    return float(next(iter(opt.values()))["step"])


@pytest.mark.slow
def test_train_checkpoint_resume_and_adapter(tmp_path, monkeypatch):
    monkeypatch.setenv("DRUGENV_CHECKPOINT_CACHE", str(tmp_path / "checkpoint_copies"))  # drugenv.storage.CHECKPOINT_CACHE_ENV
    out = tmp_path / "run"
    train_main(TrainArgs(config=str(ROOT / "rllib_configs/grpo_tiny_cpu.py"), set=[*TINY, "run.iterations=2"],
                         out=str(out), sft=False, progress=False, storage=(tmp_path / "bucket").as_uri()))
    # --storage: the run folder, file for file, at STORAGE/<its name> (checkpoints, metrics, evidence).
    tree = lambda root: {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}  # noqa: E731
    assert tree(tmp_path / "bucket" / "run") == tree(out)
    # ... and a checkpoint named by its URI is read from a copy: the same agent, on the same episodes.
    from drugenv.evaluation.cli import make_policy
    from drugenv.evaluation.evaluate import evaluate

    kept = make_policy(f"checkpoint:{(tmp_path / 'bucket' / 'run').as_uri()}")  # the run's folder: its checkpoint_final
    assert Path(kept.adapter).parts[-2:] == ("checkpoint_final", "adapter")
    assert not Path(kept.adapter).is_relative_to(out) and not Path(kept.adapter).is_relative_to(tmp_path / "bucket")
    played = [evaluate(p, "curated", 2, 0, max_steps=3, progress=False)
              for p in (kept, make_policy(f"checkpoint:{out / 'checkpoint_final'}"))]
    assert played[0][1] == played[1][1] and played[0][0] == pytest.approx(played[1][0], nan_ok=True)

    # Resumed elsewhere from what --storage kept (a fresh node): the run's folder is copied into the new --out first.
    resumed = tmp_path / "resumed"
    train_main(TrainArgs(config=str(ROOT / "rllib_configs/grpo_tiny_cpu.py"), set=[*TINY, "run.iterations=1"],
                         out=str(resumed), sft=False, progress=False,
                         resume=(tmp_path / "bucket" / "run" / "checkpoint_final").as_uri()))
    final = resumed / "checkpoint_final"
    meta = json.loads((final / "drugenv_checkpoint.json").read_text(encoding="utf-8"))
    assert meta["iteration"] == 3 and _optimizer_step(final) == 3.0  # counted on, optimizer state carried
    assert [json.loads(r)["iteration"] for r in (resumed / "metrics.jsonl").read_text(encoding="utf-8").splitlines()] == [1, 2, 3]
    assert json.loads((resumed / "settings.json").read_text(encoding="utf-8"))["resumed_from"] == str(final)

    # The peft adapter loads into HFPolicy through --agent checkpoint:PATH, and plays.
    from drugenv.evaluation.cli import make_policy
    from drugenv.evaluation.evaluate import evaluate

    policy = make_policy(f"checkpoint:{final}")
    assert policy.adapter == str(final / "adapter")
    summary, records = evaluate(policy, "curated", 2, 0, max_steps=3, progress=False)
    assert len(records) == 2 and summary["steps"] == 3.0


def test_validation_selection_keeps_the_best_and_never_a_worse_later_one():
    from drugenv.training.grpo_train import Selection

    assert Selection.from_run({"eval_suite": "procedural-test"}) is None
    sel = Selection.from_run({"select_suite": "procedural-train", "select_seed": 700_000, "select_episodes": 8})
    assert sel.metric == "decision_utility"
    assert [sel.improved(i, v) for i, v in ((8, 0.2), (16, None), (24, 0.5), (32, 0.5), (40, 0.1))] == [True, False, True, False, False]
    assert (sel.iteration, sel.value, sel.history) == (24, 0.5, [[8, 0.2], [24, 0.5], [32, 0.5], [40, 0.1]])
    brier = Selection.from_run({"select_suite": "procedural-train", "select_seed": 0, "select_episodes": 8, "select_metric": "brier"})
    assert [brier.improved(i, v) for i, v in ((1, 0.2), (2, 0.1), (3, 0.15))] == [True, True, False]
    # A NaN (a metric over no reports) ranks nothing: as the first value it blocked every later one.
    nan_first = Selection.from_run({"select_suite": "procedural-train", "select_seed": 0, "select_episodes": 8, "select_metric": "brier"})
    assert [nan_first.improved(i, v) for i, v in ((1, float("nan")), (2, 0.2))] == [False, True]
    with pytest.raises(ConfigError, match="select_metric='ece'"):  # not something RLlib's evaluation reports
        Selection.from_run({"select_suite": "procedural-train", "select_seed": 0, "select_episodes": 8, "select_metric": "ece"})
    resumed = Selection.from_run({"select_suite": "procedural-train", "select_seed": 0, "select_episodes": 8})
    resumed.restore(sel.record())
    assert not resumed.improved(48, 0.4) and resumed.iteration == 24
    # The longer recipe's seed-1 run: 256 and 272 scored the same 96 episodes' mean, apart in the last bit.
    tied = Selection.from_run({"select_suite": "procedural-train", "select_seed": 0, "select_episodes": 96})
    assert [tied.improved(i, v) for i, v in ((256, 0.5858333333333333), (272, 0.5858333333333334))] == [True, False]
    assert tied.iteration == 256


@pytest.mark.slow
def test_validation_selection_run_evaluates_the_chosen_checkpoint(tmp_path):
    """run.select_*: RLlib's evaluation plays the validation episodes, checkpoint_best is what the
    test suite sees, and curated results come per scenario."""
    out = tmp_path / "run"
    train_main(TrainArgs(config=str(ROOT / "rllib_configs/grpo_tiny_cpu_long.py"), out=str(out), sft=False, progress=False,
                         set=[*TINY, "run.iterations=2", "run.curated_episodes=5", "run.select_episodes=2"]))
    report = json.loads((out / "evidence" / "before_after_metrics.json").read_text(encoding="utf-8"))
    sel = report["_meta"]["selection"]
    # Iteration 0 (the SFT start, here the bare model) is evaluated before GRPO and is a candidate.
    assert sel["suite"] == "procedural-train" and sel["seed"] >= 500_000 and [r[0] for r in sel["history"]] == [0, 1, 2]
    assert report["_meta"]["checkpoint"] == str(out / "checkpoint_best") and sel["iteration"] in (0, 1, 2)
    best = json.loads((out / "checkpoint_best" / "drugenv_checkpoint.json").read_text(encoding="utf-8"))
    assert best["iteration"] == sel["iteration"] and (out / "checkpoint_final").exists()
    per = report["_evidence"]["curated"]["per_scenario"]
    assert len(per) == 5 and all(v["episodes"] == 1 and "decision_utility" in v["after_grpo"] for v in per.values())


def test_sft_candidates_need_validation_episodes(tmp_path):
    from drugenv.training.grpo_train import sft_choose_start

    from drugenv.training.configs import load_rllib_config

    s = load_rllib_config(ROOT / "rllib_configs/grpo_tiny_cpu.py").settings({"sft": {"candidates": 2}})  # no run.select_*
    with pytest.raises(ConfigError, match="sft.candidates > 1 chooses on the run's validation episodes"):
        sft_choose_start("unused", s, tmp_path, progress=False)


@pytest.mark.slow
def test_sft_candidates_keep_the_start_best_on_validation(tmp_path):
    """sft.candidates=2: two SFT seeds, each scored on the validation episodes, the best one is what
    GRPO starts from and what the after-SFT row evaluates."""
    out = tmp_path / "run"
    train_main(TrainArgs(config=str(ROOT / "rllib_configs/grpo_tiny_cpu_long.py"), out=str(out), progress=False,
                         set=[*TINY, "run.iterations=1", "run.curated_episodes=1", "run.select_episodes=2", "sft.candidates=2",
                              "sft.steps=4", "sft.episodes=2", "sft.select_episodes=0", "sft.batch_size=4"]))
    report = json.loads((out / "evidence" / "before_after_metrics.json").read_text(encoding="utf-8"))
    choice = report["_meta"]["sft_choice"]
    assert [c["seed"] for c in choice["candidates"]] == [0, 1000] and choice["episodes"] == 2
    chosen = next(c for c in choice["candidates"] if c["seed"] == choice["chosen_seed"])
    assert chosen["value"] == max(c["value"] for c in choice["candidates"])
    assert report["_meta"]["model"] == chosen["model"]
    assert (out / "sft_model").is_dir() and (out / "sft_model_seed1000").is_dir()


def _wait_for_jobs_api(ray_bin: Path, address: str, env: dict, timeout_s: float = 90.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if subprocess.run([str(ray_bin), "job", "list", f"--address={address}"], env=env, capture_output=True,
                          timeout=60).returncode == 0:
            return
        time.sleep(2)
    raise TimeoutError(f"Ray jobs API at {address} did not come up in {timeout_s}s")


def _start_head(ray_bin: Path, env: dict) -> tuple[subprocess.Popen, str]:
    """``ray start --head --block`` in its own process group, on ports picked for it."""
    dash = free_port()
    head = subprocess.Popen([str(ray_bin), "start", "--head", "--block", f"--port={free_port()}", "--node-ip-address=127.0.0.1",
                             "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", "--num-cpus=2",
                             # Own ports for the job agent: a default one may still be held by an earlier Ray.
                             f"--dashboard-agent-listen-port={free_port()}", f"--metrics-export-port={free_port()}",
                             "--disable-usage-stats"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    return head, f"http://127.0.0.1:{dash}"


def _stop_head(head: subprocess.Popen) -> None:
    import signal

    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=30)


@pytest.mark.slow
def test_ray_job_submit_against_local_head(tmp_path):
    """The documented cluster path: `ray start --head`, then `ray job submit -- drugenv train ...`.

    The head runs with --block in its own process group, so the test stops exactly the Ray it
    started (``ray stop`` would end every Ray on the machine).
    """
    pytest.importorskip("ray")  # the `ray` command line comes with it
    import time

    ray_bin = Path(sys.executable).parent / "ray"
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token", "HF_HUB_OFFLINE": "1",
           "WANDB_MODE": "offline", "RAY_USAGE_STATS_ENABLED": "0"}
    out = tmp_path / "job_run"
    job = None
    # A port picked free can be taken before Ray binds it; the head's job agent then exits
    # ("Address already in use") and never becomes available: start a new head on new ports.
    for _head_attempt in range(3):
        head, address = _start_head(ray_bin, env)
        try:
            try:
                _wait_for_jobs_api(ray_bin, address, env)
            except (TimeoutError, subprocess.TimeoutExpired):  # a port it was given was taken: it never answers
                continue
            cmd = [str(ray_bin), "job", "submit", f"--address={address}", "--working-dir", str(ROOT), "--",
                   sys.executable, "-m", "drugenv.cli", "train", "rllib_configs/grpo_tiny_cpu.py", "--no-sft", "--no-progress",
                   "--out", str(out), *[x for kv in [*TINY, "run.iterations=1"] for x in ("--set", kv)]]
            for _ in range(12):  # the job agent can lag the jobs API by tens of seconds on a loaded machine
                job = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
                if "No available agent" not in job.stdout + job.stderr:
                    break
                time.sleep(5)
        finally:
            _stop_head(head)
        if "No available agent" not in job.stdout + job.stderr:
            break
    assert job is not None, "no Ray head's jobs API came up in 3 tries"
    assert job.returncode == 0, (job.stdout + job.stderr)[-3000:]
    assert "succeeded" in (job.stdout + job.stderr).lower()
    assert json.loads((out / "checkpoint_final" / "drugenv_checkpoint.json").read_text(encoding="utf-8"))["iteration"] == 1


def test_sft_warm_start_is_reused_only_with_the_same_settings(tiny_model_dir, tmp_path):
    from drugenv.training.grpo_train import sft_warm_start

    sft = {"suite": "curated", "episodes": 1, "steps": 1, "lr": 1e-3, "batch_size": 2, "mode": "full",
           "expert": "heuristic", "max_prompt_tokens": 512}
    path = Path(sft_warm_start(tiny_model_dir, sft, tmp_path, progress=False))
    made = json.loads((path / "drugenv_sft.json").read_text(encoding="utf-8"))
    assert made["settings"] == sft and made["base_model"] == tiny_model_dir and made["seed"] == 0
    weights = next(path.glob("*.safetensors"))
    stamp = weights.stat().st_mtime_ns
    assert Path(sft_warm_start(tiny_model_dir, dict(sft), tmp_path, progress=False)) == path
    assert weights.stat().st_mtime_ns == stamp  # same settings: the warm start is kept
    changed = {**sft, "expert": "oracle"}
    sft_warm_start(tiny_model_dir, changed, tmp_path, progress=False)
    assert json.loads((path / "drugenv_sft.json").read_text(encoding="utf-8"))["settings"] == changed  # redone
    stamp = weights.stat().st_mtime_ns
    sft_warm_start(tiny_model_dir, changed, tmp_path, seed=1, progress=False)  # another seed: other episodes
    assert json.loads((path / "drugenv_sft.json").read_text(encoding="utf-8"))["seed"] == 1 and weights.stat().st_mtime_ns != stamp


def test_sft_selection_by_the_models_own_episodes(tiny_model_dir, tmp_path):
    """select_by="rollouts" scores each checkpoint on greedy held-out episodes it plays itself (the
    standard metrics, scored by select_metric); an unknown select_by is a ConfigError."""
    from drugenv.training.grpo_train import sft_warm_start

    sft = {"suite": "procedural-train", "episodes": 2, "steps": 4, "lr": 1e-3, "batch_size": 2, "mode": "full",
           "expert": "heuristic", "max_prompt_tokens": 512, "max_steps": 3, "select_episodes": 2, "select_every": 2,
           "select_by": "rollouts", "select_metric": "brier"}
    path = Path(sft_warm_start(tiny_model_dir, sft, tmp_path, progress=False))
    made = json.loads((path / "drugenv_sft.json").read_text(encoding="utf-8"))
    assert [r["step"] for r in made["selection"]] == [2, 4]
    for r in made["selection"]:
        assert r["n"] == 2 and 0.0 <= r["report_rate"] <= 1.0
        assert r["score"] == -r["brier"]  # lower is better: negated, so the best score is the lowest Brier
    best = max(made["selection"], key=lambda r: r["score"])
    assert made["selected_step"] == best["step"]
    with pytest.raises(ConfigError, match="select_by"):
        sft_warm_start(tiny_model_dir, {**sft, "select_by": "vibes"}, tmp_path / "bad", progress=False)


def test_the_local_ray_binds_loopback_even_after_rllib_was_imported(tmp_path):
    """drugenv train builds the RLlib config (importing Ray's constants) before init_ray sets
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, which Ray had already read: the node bound the NIC's address."""
    code = ("import ray, ray.rllib.algorithms.ppo\n"
            "from drugenv.training.configs import init_ray\n"
            "assert init_ray(1)\n"
            "try:\n"
            "    print(ray.util.get_node_ip_address())\n"
            "finally:\n"
            "    ray.shutdown()\n")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS")}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "127.0.0.1"


def test_a_resumed_run_continues_on_its_checkpoints_model_and_curve(tmp_path):
    """--resume restored only the adapter onto whatever model this run built (--no-sft on a warm-started
    run, or a new SFT); a run resumed from an earlier checkpoint logged the later iterations twice."""
    from drugenv.training.grpo_train import resumed_model
    from drugenv.training.run_files import RunFiles

    ckpt = tmp_path / "checkpoint_iter_0002"
    ckpt.mkdir()
    model = tmp_path / "sft_model"
    model.mkdir()
    (ckpt / "drugenv_checkpoint.json").write_text(json.dumps({"algo": "grpo", "model": str(model), "iteration": 2}), encoding="utf-8")
    assert resumed_model(ckpt) == str(model)
    shutil.rmtree(model)
    with pytest.raises(ConfigError, match="is gone"):
        resumed_model(ckpt)
    (ckpt / "drugenv_checkpoint.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="names no model"):
        resumed_model(ckpt)

    files = RunFiles(tmp_path / "run")
    files.start("grpo", {})
    for it in range(1, 6):
        files.log({"iteration": it})
    files.resume_after(2)
    files.log({"iteration": 3})
    assert [r["iteration"] for r in files.history()] == [1, 2, 3]


def test_ctrl_c_is_one_line_and_exit_code_130(capsys):
    """Ctrl-C printed a 35-60-line KeyboardInterrupt traceback."""
    from drugenv.cli import run_command
    from drugenv.errors import Terminated

    def interrupted(_):
        raise KeyboardInterrupt

    def terminated(_):
        raise Terminated

    assert run_command("drugenv x", interrupted, None) == 130
    assert run_command("drugenv x", terminated, None) == 143
    assert capsys.readouterr().err.splitlines() == ["drugenv x: interrupted", "drugenv x: terminated"]


@pytest.mark.slow
def test_sigterm_stops_a_ray_driver_through_its_finally_blocks(tmp_path):
    """SIGTERM (a scheduler's stop) went to the handler ray.init installs (sys.exit(15)), and drugenv train then
    died by SIGABRT: exit 134 and a native stack dump, read as a crash. It now stops as Ctrl-C does."""
    import signal
    import time

    code = ("import sys, time\n"
            "from drugenv.cli import run_command\n"
            "from drugenv.training.configs import init_ray\n"
            "def main(_):\n"
            "    import ray\n"
            "    init_ray(1)\n"
            "    try:\n"
            "        print('ready', flush=True)\n"
            "        time.sleep(300)\n"
            "    finally:\n"
            "        open('finally_ran', 'w').close()\n"
            "        ray.shutdown()\n"
            "sys.exit(run_command('drugenv x', main, None))\n")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-2000:]
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 143, err[-2000:]
    assert err.strip().splitlines()[-1] == "drugenv x: terminated" and (tmp_path / "finally_ran").exists()
