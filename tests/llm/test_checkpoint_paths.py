"""A GRPO checkpoint keeps its own models after its run directory is renamed (``llm.checkpoint.follow_moved_run``).

A run records absolute paths to the SFT model it trained its adapter on. Renaming ``runs/NAME`` to keep
it while the next run of the config writes ``runs/NAME`` once made the kept checkpoint load the *new*
run's SFT model under its adapter, silently."""

from __future__ import annotations

import json
import shutil

from drugenv.llm.checkpoint import follow_moved_run, resolve_adapter_checkpoint


def _run(root, name):
    """A run directory as ``grpo_train`` lays it out: its SFT model and a checkpoint naming it by absolute path."""
    run = root / name
    (run / "sft_model").mkdir(parents=True)
    ckpt = run / "checkpoint_best"
    (ckpt / "adapter").mkdir(parents=True)
    sft = str((run / "sft_model").resolve())
    (ckpt / "adapter" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": sft}), encoding="utf-8")
    (ckpt / "drugenv_checkpoint.json").write_text(json.dumps({"algo": "grpo", "model": sft}), encoding="utf-8")
    return ckpt


def test_a_renamed_run_loads_its_own_sft_model_not_the_one_now_at_its_old_path(tmp_path):
    first = _run(tmp_path, "grpo_tiny_cpu_long")
    assert resolve_adapter_checkpoint(first)[0] == str(tmp_path.resolve() / "grpo_tiny_cpu_long" / "sft_model")
    shutil.move(tmp_path / "grpo_tiny_cpu_long", tmp_path / "grpo_tiny_cpu_long_seed1")
    _run(tmp_path, "grpo_tiny_cpu_long")  # the next run of the config, at the old path
    kept = tmp_path / "grpo_tiny_cpu_long_seed1" / "checkpoint_best"
    recorded = json.loads((kept / "drugenv_checkpoint.json").read_text(encoding="utf-8"))["model"]
    assert recorded == str(tmp_path.resolve() / "grpo_tiny_cpu_long" / "sft_model")  # stale: the other run's model
    own = str(tmp_path.resolve() / "grpo_tiny_cpu_long_seed1" / "sft_model")
    assert follow_moved_run(recorded, kept) == own
    assert resolve_adapter_checkpoint(kept)[0] == own
    assert resolve_adapter_checkpoint(kept, model="chosen/by-hand")[0] == "chosen/by-hand"  # an explicit model wins


def test_models_outside_the_run_are_kept_as_recorded(tmp_path):
    ckpt = _run(tmp_path, "run")
    assert follow_moved_run("Qwen/Qwen2.5-3B-Instruct", ckpt) == "Qwen/Qwen2.5-3B-Instruct"  # a hub id
    assert follow_moved_run("models/tiny", ckpt) == "models/tiny"  # a relative path
    elsewhere = str((tmp_path / "models" / "qwen-local").resolve())
    assert follow_moved_run(elsewhere, ckpt) == elsewhere  # nothing of that name beside the checkpoint
    assert follow_moved_run(None, ckpt) is None
