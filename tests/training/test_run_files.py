"""A run's files are replaced whole: the dashboard polls run folders while runs write them."""

from __future__ import annotations

import json
import os
import stat

import pytest

from drugenv.cli import write_text_atomic
from drugenv.training.run_files import RunFiles


def test_a_rewrite_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"old": 1}')
    inode = path.stat().st_ino
    write_text_atomic(path, '{"new": 2}')
    assert json.loads(path.read_text()) == {"new": 2}
    assert path.stat().st_ino != inode  # a new file renamed over the old one, never the old one truncated
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # as write_text would have made it
    assert os.listdir(tmp_path) == ["settings.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text('{"old": 1}')
    with pytest.raises(TypeError):
        write_text_atomic(path, None)  # type: ignore[arg-type]  # fails after the temporary exists
    assert json.loads(path.read_text()) == {"old": 1} and os.listdir(tmp_path) == ["summary.json"]


def test_run_files_rewrites_are_atomic(tmp_path):
    files = RunFiles(tmp_path)
    files.start("ppo", {"seed": 1})
    for i in (1, 2, 3):
        files.log({"iteration": i})
    before = {p: (tmp_path / p).stat().st_ino for p in ("settings.json", "metrics.jsonl")}
    files.start("ppo", {"seed": 1}, resumed_from=tmp_path)
    files.resume_after(2)
    assert [r["iteration"] for r in files.history()] == [1, 2]
    assert all((tmp_path / p).stat().st_ino != ino for p, ino in before.items())
    summary = files.finish({"decision_utility": 0.5})
    assert json.loads(summary.read_text())["final"] == {"decision_utility": 0.5}
    assert sorted(os.listdir(tmp_path)) == ["evidence", "metrics.jsonl", "settings.json", "summary.json"]


def test_with_wandb_the_settings_and_every_row_go_to_an_offline_wandb_run(tmp_path, monkeypatch):
    """``drugenv train --wandb`` (GRPO and PPO both write through RunFiles): offline unless WANDB_MODE says
    otherwise, in the run folder, with the rows' numbers at their iteration."""
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    files = RunFiles(tmp_path, wandb=True)
    files.start("ppo", {"seed": 1})
    assert os.environ["WANDB_MODE"] == "offline"
    for i in (1, 2):
        files.log({"iteration": i, "heldout/decision_accuracy": 0.5 + i / 10, "note": "text is not logged"})
    files.close()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    (log,) = runs[0].glob("run-*.wandb")
    data = log.read_bytes()
    assert b"heldout/decision_accuracy" in data and b"0.7" in data and b"text is not logged" not in data
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[1])["iteration"] == 2  # the files as ever
