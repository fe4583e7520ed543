"""PPO on the vector env: a short train -> checkpoint -> evaluation through RLlibCheckpointPolicy."""

import json
from pathlib import Path

import pytest

from drugenv.errors import ConfigError
from drugenv.evaluation.evaluate import evaluate
from drugenv.evaluation.metrics import METRIC_KEYS
from drugenv.training.ppo import (
    RLlibCheckpointPolicy, heldout_eval, is_ppo_checkpoint, load_ppo_checkpoint_policy, load_rllib_config, train_ppo,
)

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_config_settings_merge_and_validate():
    mod = load_rllib_config(REPO / "rllib_configs" / "ppo_vector")
    s = mod.settings({"algo": "ppo_vector", "env_config": {"reward_config": {"decision_scoring": "brier"}}})
    assert s["env_config"]["reward_config"] == {"decision_scoring": "brier"} and s["env_config"]["suite"] == "procedural-train"
    assert s["training"]["num_epochs"] == mod.DEFAULTS["training"]["num_epochs"]
    with pytest.raises(ValueError, match="unknown ppo_vector settings"):
        mod.settings({"trainer": {}})
    with pytest.raises(ValueError, match="grpo"):
        mod.settings({"algo": "grpo_tiny_cpu"})
    cfg = mod.build_config({"training": {"lr": 1e-3}})
    assert cfg.lr == 1e-3 and cfg.num_env_runners == 0


def test_train_checkpoint_and_eval(local_ray, tmp_path, tiny, s3_bucket, monkeypatch, capsys):
    from drugenv.evaluation.cli import make_policy
    from drugenv.storage import CHECKPOINT_CACHE_ENV, RunStorage
    from tests.conftest import stored_tree

    from ray.tune.trainable import trainable

    mod = load_rllib_config(REPO / "rllib_configs" / "ppo_vector")
    overrides = {**tiny, "run": {**tiny["run"], "iterations": 2}}
    storage = RunStorage.open(f"{s3_bucket}/runs", "ppo")  # drugenv train --storage s3://BUCKET/runs
    # Tune's ~/ray_results, here: each run left an empty folder of its own there (some 500 on a machine)
    monkeypatch.setattr(trainable, "DEFAULT_STORAGE_PATH", str(tmp_path / "ray_results"))
    res = train_ppo(mod, overrides, tmp_path / "ppo", progress=False, storage=storage)
    assert list((tmp_path / "ray_results").iterdir()) == []
    assert [r["iteration"] for r in res["curve"]] == [1, 2]
    assert set(METRIC_KEYS) <= set(res["final"]) and 0.0 <= res["final"]["decision_accuracy"] <= 1.0
    # The run files every `drugenv train` run writes (training.run_files), as for GRPO.
    out = tmp_path / "ppo"
    lines = (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and "heldout/brier" in json.loads(lines[-1])
    assert json.loads((out / "settings.json").read_text(encoding="utf-8"))["algo"] == "ppo_vector"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["final"] == pytest.approx(res["final"], nan_ok=True) and summary["heuristic"]["decision_accuracy"] > 0.5
    assert (out / "evidence" / "training_curve.png").read_bytes()[:4] == b"\x89PNG"
    ckpt = Path(res["checkpoint"])
    assert is_ppo_checkpoint(ckpt) and is_ppo_checkpoint(tmp_path / "ppo") and not is_ppo_checkpoint(tmp_path)

    policy = load_ppo_checkpoint_policy(ckpt)
    assert isinstance(policy, RLlibCheckpointPolicy)
    with pytest.raises(ConfigError, match="takes no --extra options \\(got greedy\\)"):  # was dropped without a word
        load_ppo_checkpoint_policy(ckpt, greedy=False)
    summary, records = evaluate(policy, "curated", 5, 0, progress=False)
    assert len(records) == 5 and set(METRIC_KEYS) <= set(summary)
    # The restored module acts exactly like the trained one on the held-out episodes.
    again = heldout_eval(policy, episodes=8, seed=0)
    assert again == pytest.approx(res["final"], nan_ok=True)
    # The bucket holds the run file for file, and its checkpoint, read back by URI, is the same agent.
    assert stored_tree(f"{s3_bucket}/runs/ppo") == {p.relative_to(out).as_posix(): p.read_bytes()
                                                    for p in out.rglob("*") if p.is_file()}
    monkeypatch.setenv(CHECKPOINT_CACHE_ENV, str(tmp_path / "checkpoint_copies"))
    assert heldout_eval(make_policy(f"checkpoint:{s3_bucket}/runs/ppo"), episodes=8, seed=0) == again
    # drugenv eval --agent checkpoint:s3://KEY_ID:SECRET@bucket/...: the secret is in neither its lines nor its results.
    from drugenv.evaluation.cli import EvalArgs, eval_main

    capsys.readouterr()
    agent = f"checkpoint:s3://drugenv-test:hunter2@{s3_bucket.removeprefix('s3://')}/runs/ppo"
    payload = eval_main(EvalArgs(agent=agent, episodes=2, out=str(tmp_path / "eval.json")))
    assert payload["agent"] == agent.replace("hunter2", "***") and len(payload["records"]) == 2
    assert "hunter2" not in capsys.readouterr().out + (tmp_path / "eval.json").read_text(encoding="utf-8")


def test_resume_from_a_run_folder_keeps_its_network_and_records_the_checkpoint(local_ray, tmp_path, tiny):
    """``--resume RUN`` stands for RUN/checkpoint_final (it failed after Ray started, no algorithm_state.pkl);
    a network other than the checkpoint's is refused before Ray (it was a 50-line state-dict traceback);
    the resumed run's settings.json names the checkpoint it continued."""
    from drugenv.training.cli import TrainArgs, check_args

    mod = load_rllib_config(REPO / "rllib_configs" / "ppo_vector")
    first = train_ppo(mod, tiny, tmp_path / "ppo", progress=False)
    ckpt = Path(first["checkpoint"])
    with pytest.raises(ConfigError, match=r"keeps the checkpoint's network, and this one sets model.fcnet_hiddens=\[64, 64\] "
                                          r"\(the checkpoint's: \[16\]\)"):
        check_args(TrainArgs(config=str(REPO / "rllib_configs" / "ppo_vector.py"), resume=str(tmp_path / "ppo")))
    args = TrainArgs(config=str(REPO / "rllib_configs" / "ppo_vector.py"), resume=str(tmp_path / "ppo"),
                     set=["model.fcnet_hiddens=[16]"], out=str(tmp_path / "more"))
    check_args(args)
    assert Path(args.resume) == ckpt
    more = train_ppo(mod, tiny, tmp_path / "more", progress=False, resume_from=args.resume)
    assert [r["iteration"] for r in more["curve"]] == [2]
    assert json.loads((tmp_path / "more" / "settings.json").read_text(encoding="utf-8"))["resumed_from"] == str(ckpt.resolve())
    assert "resumed_from" not in json.loads((tmp_path / "ppo" / "settings.json").read_text(encoding="utf-8"))


def test_a_run_asking_for_more_than_the_local_ray_has_is_refused(local_ray):
    """Env runners beyond the local Ray's CPUs (or a GPU learner on a CPU box) left `drugenv train` waiting
    for ever, without a word; the driver itself is not counted (the main job's two runners fit 2 CPUs)."""
    from drugenv.training.cli import check_fits_local_ray

    ppo, grpo = load_rllib_config(REPO / "rllib_configs" / "ppo_vector"), load_rllib_config(REPO / "rllib_configs" / "grpo_tiny_cpu")
    check_fits_local_ray(ppo, {"env_runners": {"num_env_runners": 2}})
    check_fits_local_ray(grpo, {})
    with pytest.raises(ConfigError, match=r"\(3 env runners, 0 learners\) ask the local Ray for 3 CPUs and it has 2: lower"):
        check_fits_local_ray(ppo, {"env_runners": {"num_env_runners": 3}})
    import ray

    gpus = int(ray.cluster_resources().get("GPU", 0))  # 0 here; a GPU box asks for one more than it has
    with pytest.raises(ConfigError, match=f"ask the local Ray for {gpus + 1} GPUs? and it has {gpus}: run it where the GPUs are"):
        check_fits_local_ray(grpo, {"learners": {"num_learners": 1, "num_gpus_per_learner": gpus + 1}})


def test_eval_cli_agent_checkpoint(local_ray, tmp_path, tiny):
    """``drugenv eval --agent checkpoint:PATH`` resolves a PPO checkpoint to its RLlib policy, which plays
    as the checkpoint loaded directly does."""
    from drugenv.evaluation.cli import make_policy
    from drugenv.training.ppo import RLlibCheckpointPolicy, load_ppo_checkpoint_policy

    mod = load_rllib_config(REPO / "rllib_configs" / "ppo_vector")
    res = train_ppo(mod, tiny, tmp_path / "ppo", progress=False)
    policy = make_policy(f"checkpoint:{res['checkpoint']}")
    assert isinstance(policy, RLlibCheckpointPolicy)
    summary, records = evaluate(policy, "procedural-test", 4, 0, progress=False)
    direct, direct_records = evaluate(load_ppo_checkpoint_policy(res["checkpoint"]), "procedural-test", 4, 0, progress=False)
    assert records == direct_records and summary == pytest.approx(direct, nan_ok=True)


def test_ray_workers_run_the_drivers_source(local_ray):
    """``init_ray`` hands the driver's source digest to Ray's workers, whose ``import drugenv`` checks it."""
    import os

    import ray

    from drugenv import provenance

    @ray.remote(num_cpus=0)
    def worker_view():
        import drugenv.provenance as p

        return os.environ.get(p.DIGEST_ENV_VAR), p.source_digest()

    exported, own = ray.get(worker_view.remote())
    assert exported == own == provenance.source_digest()


def test_a_run_whose_curve_cannot_be_drawn_still_writes_its_summary(local_ray, tmp_path, tiny, monkeypatch, capsys):
    """A PPO run that had trained lost summary.json (the results the dashboard shows) when drawing its curve hit a
    full disk: the plot ran first and its OSError ended the run."""
    import errno

    import drugenv.training.ppo as ppo

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ppo, "plot_ppo_curve", full)
    mod = load_rllib_config(REPO / "rllib_configs" / "ppo_vector")
    result = train_ppo(mod, tiny, tmp_path / "ppo", progress=False)
    summary = json.loads((tmp_path / "ppo" / "summary.json").read_text(encoding="utf-8"))
    assert summary["final"] == result["final"] and summary["checkpoint"] == result["checkpoint"]
    assert "the training curve could not be written (No space left on device)" in capsys.readouterr().out
