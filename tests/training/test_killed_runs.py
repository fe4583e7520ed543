"""Runs that died hard (SIGKILL, or stopped after a resume into their own folder), and resuming them: which
checkpoint continues a run, partial checkpoint folders, what a resumed run keeps of a finished one, and a row
for every checkpoint (from an audit of kill -9 during training)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from drugenv.errors import ConfigError
from drugenv.llm.checkpoint import CHECKPOINT_META, newest_checkpoint, resolve_checkpoint_dir

ROOT = Path(__file__).resolve().parents[2]


def _grpo_checkpoint(folder: Path, iteration: int) -> Path:
    folder.mkdir(parents=True)
    (folder / CHECKPOINT_META).write_text(json.dumps({"algo": "grpo", "iteration": iteration}), encoding="utf-8")
    (folder / "algorithm_state.pkl").write_bytes(b"")
    return folder


def test_the_newest_checkpoint_is_the_latest_iteration(tmp_path):
    """A run resumed into its own folder and stopped leaves the earlier run's checkpoint_final (iteration 6) beside
    checkpoint_iter_0008: the final was named to continue it, and iterations 7-8 were lost."""
    run = tmp_path / "run"
    _grpo_checkpoint(run / "checkpoint_final", 6)
    for it in (5, 8):
        _grpo_checkpoint(run / f"checkpoint_iter_{it:04d}", it)
    _grpo_checkpoint(run / "checkpoint_iter_0009.tmp", 9)  # being written when the run was killed
    assert newest_checkpoint(run) == run / "checkpoint_iter_0008"
    final_at_8 = _grpo_checkpoint(tmp_path / "finished" / "checkpoint_final", 8)
    _grpo_checkpoint(tmp_path / "finished" / "checkpoint_iter_0008", 8)
    assert newest_checkpoint(tmp_path / "finished") == final_at_8  # a tie: the run's end
    ppo = tmp_path / "ppo" / "checkpoint_final"
    ppo.mkdir(parents=True)
    (ppo / "algorithm_state.pkl").write_bytes(b"")  # PPO's final says no iteration, and PPO writes no other
    assert newest_checkpoint(tmp_path / "ppo") == ppo


def test_resuming_a_folder_whose_final_is_older_names_both_checkpoints(tmp_path):
    from drugenv.training.cli import check_resume

    run = tmp_path / "run"
    (run).mkdir()
    (run / "settings.json").write_text("{}", encoding="utf-8")
    _grpo_checkpoint(run / "checkpoint_final", 6)
    _grpo_checkpoint(run / "checkpoint_iter_0008", 8)
    for algo in ("grpo", "ppo_vector"):
        with pytest.raises(ConfigError) as e:
            check_resume(SimpleNamespace(ALGO=algo), str(run), {})
        assert (f"checkpoint_final holds iteration 6, and a run resumed there went on to iteration 8 before it stopped; "
                f"continue that one with --resume {run / 'checkpoint_iter_0008'}, or go back with --resume "
                f"{run / 'checkpoint_final'}") in str(e.value)


def test_a_partial_checkpoint_folder_is_refused_and_the_whole_one_named(tmp_path):
    """A kill while a GRPO checkpoint was written left checkpoint_iter_0002.tmp with RLlib's state but no adapter
    or metadata: --resume called it a PPO checkpoint, and --agent checkpoint: ended in a KeyError traceback."""
    from drugenv.evaluation.agents import make_policy
    from drugenv.training.cli import check_resume

    run = tmp_path / "run"
    _grpo_checkpoint(run / "checkpoint_iter_0001", 1)
    for name in ("checkpoint_iter_0002.tmp", "checkpoint_final.old"):
        partial = run / name
        partial.mkdir()
        (partial / "algorithm_state.pkl").write_bytes(b"")
        (partial / "rllib_checkpoint.json").write_text("{}", encoding="utf-8")
        expected = f"is a checkpoint its run was writing or replacing when it stopped, and may be incomplete; " \
                   f"pass the run's newest whole checkpoint, {run / 'checkpoint_iter_0001'}"
        for call in (lambda: resolve_checkpoint_dir(partial), lambda: make_policy(f"checkpoint:{partial}"),
                     lambda: check_resume(SimpleNamespace(ALGO="grpo"), str(partial), {}),
                     lambda: check_resume(SimpleNamespace(ALGO="ppo_vector"), str(partial), {})):
            with pytest.raises(ConfigError, match="may be incomplete") as e:
                call()
            assert expected in str(e.value)


def test_a_resumed_run_drops_the_finished_runs_final_evaluation_at_once(tmp_path):
    """Resumed into a finished run's folder, a GRPO run kept its evidence file's after_grpo until its own end, and the
    dashboard showed it finished while it ran and after it was killed."""
    from drugenv.training.grpo_train import FINAL_REPORT_KEYS, resumed_report

    path = tmp_path / "evidence" / "before_after_metrics.json"
    assert resumed_report(path) == {}
    path.parent.mkdir()
    kept = {"before": {"decision_accuracy": 0.5}, "after_sft": {"decision_accuracy": 0.8}}
    path.write_text(json.dumps({**kept, **{k: {"x": 1} for k in FINAL_REPORT_KEYS}}), encoding="utf-8")
    assert resumed_report(path) == kept
    assert json.loads(path.read_text(encoding="utf-8")) == kept  # on disk, before the resumed run trains


@pytest.mark.slow
def test_every_checkpoint_has_its_row_when_a_run_dies_after_writing_it(tmp_path, monkeypatch):
    """GRPO wrote checkpoint_iter_k before row k: a kill between the two left a checkpoint whose row was never
    logged, and resuming from it lost the row for good (the audit saw iterations [1, 3, 4, 5, 6]). The row now
    comes first; here the run dies right after checkpoint_iter_0002 is in place."""
    import drugenv.training.grpo_train as grpo_train
    from drugenv.training.cli import TrainArgs, train_main

    from tests.training.test_train_cli import TINY

    class Killed(Exception):
        pass

    real = grpo_train.save_checkpoint

    def save_then_die(algo, path, meta):
        written = real(algo, path, meta)
        if Path(path).name == "checkpoint_iter_0002":
            raise Killed
        return written

    monkeypatch.setattr(grpo_train, "save_checkpoint", save_then_die)
    out = tmp_path / "run"
    with pytest.raises(Killed):
        train_main(TrainArgs(config=str(ROOT / "rllib_configs/grpo_tiny_cpu.py"), set=[*TINY, "run.iterations=3"],
                             out=str(out), sft=False, progress=False))
    rows = [json.loads(r)["iteration"] for r in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    checkpoints = sorted(int(p.name[-4:]) for p in out.glob("checkpoint_iter_????"))
    assert checkpoints == [1, 2] and rows == [1, 2]
    assert newest_checkpoint(out) == out / "checkpoint_iter_0002"
