"""A run's files are replaced whole: the dashboard polls run folders while runs write them."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import psutil  # a dependency of wandb's (and Ray's): present wherever the wandb tests run
import pytest

from drugenv.cli import write_text_atomic
from drugenv.errors import ConfigError
from drugenv.training.run_files import LOCK_FILE, RunFiles, lock_folder, write_dir_atomically


def test_a_rewrite_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"old": 1}', encoding="utf-8")
    inode = path.stat().st_ino
    write_text_atomic(path, '{"new": 2}')
    assert json.loads(path.read_text(encoding="utf-8")) == {"new": 2}
    assert path.stat().st_ino != inode  # a new file renamed over the old one, never the old one truncated
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # as write_text would have made it
    assert os.listdir(tmp_path) == ["settings.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text('{"old": 1}', encoding="utf-8")
    with pytest.raises(TypeError):
        write_text_atomic(path, None)  # type: ignore[arg-type]  # fails after the temporary exists
    assert json.loads(path.read_text(encoding="utf-8")) == {"old": 1} and os.listdir(tmp_path) == ["summary.json"]


def test_run_files_rewrites_are_atomic(tmp_path):
    files = RunFiles(tmp_path)
    files.start("ppo", {"seed": 1})
    for i in (1, 2, 3):
        files.log({"iteration": i})
    settings_inode = (tmp_path / "settings.json").stat().st_ino
    files.start("ppo", {"seed": 1}, resumed_from=tmp_path)
    assert (tmp_path / "settings.json").stat().st_ino != settings_inode
    metrics_inode = (tmp_path / "metrics.jsonl").stat().st_ino
    files.resume_after(2)  # (rewrites settings.json once more: a freed inode number may come back, so not compared)
    assert [r["iteration"] for r in files.history()] == [1, 2]
    assert (tmp_path / "metrics.jsonl").stat().st_ino != metrics_inode
    summary = files.finish({"decision_utility": 0.5})
    assert json.loads(summary.read_text(encoding="utf-8"))["final"] == {"decision_utility": 0.5}
    assert sorted(os.listdir(tmp_path)) == [LOCK_FILE, "evidence", "metrics.jsonl", "settings.json", "summary.json"]


def test_a_resumed_run_keeps_the_settings_that_trained_its_checkpoint(tmp_path):
    """An in-place ``--resume`` rewrote settings.json with the resume command's settings: a run warm-started
    with 60 SFT steps then said 700 (the config's default), and its first iterations were gone from it."""
    first = RunFiles(tmp_path)
    first.start("grpo", {"sft": {"steps": 60}, "run": {"iterations": 3}})
    for i in (1, 2, 3):
        first.log({"iteration": i})
    (tmp_path / "checkpoint_final").mkdir()
    again = RunFiles(tmp_path)
    again.start("grpo", {"sft": {"steps": 700}, "run": {"iterations": 1}}, resumed_from=tmp_path / "checkpoint_final")
    again.resume_after(3)
    s = json.loads((tmp_path / "settings.json").read_text(encoding="utf-8"))
    assert s["run"] == {"iterations": 1} and s["resumed_at_iteration"] == 3
    assert s["resumed_from"] == str((tmp_path / "checkpoint_final").resolve())
    assert s["resumed_run"]["sft"] == {"steps": 60} and s["resumed_run"]["run"] == {"iterations": 3}
    assert "resumed_run" not in s["resumed_run"]  # the first run was fresh
    elsewhere = RunFiles(tmp_path / "continued")  # into a new folder: the same lineage
    elsewhere.start("grpo", {"run": {"iterations": 2}}, resumed_from=tmp_path / "checkpoint_final")
    assert json.loads((tmp_path / "continued" / "settings.json").read_text(encoding="utf-8"))["resumed_run"]["resumed_run"]["sft"] == {"steps": 60}


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
    # The run's log is final when close returns (the folder is mirrored next): W&B's service, which writes
    # it after finish() has returned, has been shut down and so has nothing left to write.
    assert _wandb_services() == []
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    (log,) = runs[0].glob("run-*.wandb")
    data = log.read_bytes()
    assert b"heldout/decision_accuracy" in data and b"0.7" in data and b"text is not logged" not in data
    assert json.loads((tmp_path / "metrics.jsonl").read_text(encoding="utf-8").splitlines()[1])["iteration"] == 2  # the files as ever


def test_the_wandb_run_file_holds_the_command_line_without_a_storage_secret(tmp_path, monkeypatch):
    """W&B records the command line in its run file, which --storage mirrors and `wandb sync` uploads: a URI's secret
    key (`--storage s3://KEY_ID:SECRET@bucket/...`) was written there in clear."""
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    argv = ["drugenv", "train", "rllib_configs/ppo_vector.py", "--storage", "s3://AKIDFAKE:fakeurisecret@bucket/runs", "--wandb"]
    monkeypatch.setattr(sys, "argv", argv)
    files = RunFiles(tmp_path, wandb=True)
    files.start("ppo", {"seed": 1})
    files.close()
    assert sys.argv == argv  # the process's own arguments are left as they were
    (log,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    data = log.read_bytes()
    assert b"s3://AKIDFAKE:***@bucket/runs" in data and b"fakeurisecret" not in data


def _wandb_services() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "wandb" in p.name()]


def test_closing_the_wandb_run_leaves_another_wandb_run_in_the_process_going(tmp_path, monkeypatch):
    """A script that logs its own W&B run around a training run keeps it: the service is not shut down
    under it."""
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    theirs = wandb.init(project="theirs", dir=str(tmp_path), reinit="create_new")
    try:
        files = RunFiles(tmp_path / "run", wandb=True)
        files.start("ppo", {"seed": 1})
        files.log({"iteration": 1, "heldout/decision_accuracy": 0.5})
        files.close()
        assert _wandb_services() != []
        theirs.log({"their_metric": 1.0})  # a torn-down service would end their run: log would raise
    finally:
        theirs.finish()
        wandb.teardown()
    (log,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    assert b"their_metric" in log.read_bytes()


def test_a_fresh_run_removes_the_previous_runs_results_and_a_resumed_one_keeps_all_but_the_summary(tmp_path, capsys):
    """A fresh run into a folder that held a finished run removed only metrics.jsonl: the old summary, evidence and
    checkpoints stayed beside the new settings, so an interrupted rerun read as finished and --resume of the
    folder continued the old run's weights."""
    out = tmp_path / "run"
    for folder in ("checkpoint_final", "checkpoint_iter_0002", "evidence", "sft_model", "base_model"):
        (out / folder).mkdir(parents=True)
        (out / folder / "x").write_text("old", encoding="utf-8")
    (out / "summary.json").write_text("{}", encoding="utf-8")
    (out / "metrics.jsonl").write_text('{"iteration": 1}\n', encoding="utf-8")
    RunFiles(out).start("grpo", {"seed": 0}, resumed_from=out / "checkpoint_final")  # a resume keeps its checkpoints...
    assert (out / "checkpoint_iter_0002" / "x").exists() and (out / "evidence" / "x").exists()
    # ... but not the finished run's summary, which read as this run's end (finished while it ran, and once it was killed)
    assert not (out / "summary.json").exists()
    (out / "summary.json").write_text("{}", encoding="utf-8")
    RunFiles(out).start("grpo", {"seed": 0})
    assert sorted(p.name for p in out.iterdir()) == [".drugenv.lock", "base_model", "evidence", "settings.json", "sft_model"]
    assert not any((out / "evidence").iterdir()) and (out / "sft_model" / "x").exists()  # caches stay
    assert "removed the previous run's checkpoint_final/, checkpoint_iter_0002/, summary.json, evidence/" in capsys.readouterr().out


def test_a_row_cut_off_by_a_kill_is_dropped_and_a_damaged_row_is_named(tmp_path):
    """A run killed while it appended a row left an unterminated line, and --resume failed on it after Ray started
    (the dashboard skips it)."""
    files = RunFiles(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"iteration": 1}\n{"iteration": 2, "env/ret', encoding="utf-8")
    assert files.history() == [{"iteration": 1}]
    (tmp_path / "metrics.jsonl").write_text('{"iteration": 1}\n{bad\n{"iteration": 3}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2 is not JSON"):
        files.history()


def test_a_checkpoint_is_written_whole_or_not_at_all(tmp_path):
    """Checkpoints were written in place: a run stopped mid-write left new pickles beside the old metadata."""
    target = tmp_path / "checkpoint_iter_0001"

    def write(text):
        def into(folder):
            (folder / "a").write_text(text, encoding="utf-8")
            if text == "boom":
                raise KeyboardInterrupt
            (folder / "meta").write_text(text, encoding="utf-8")
        return into

    write_dir_atomically(target, write("one"))
    assert (target / "meta").read_text(encoding="utf-8") == "one"
    with pytest.raises(KeyboardInterrupt):
        write_dir_atomically(target, write("boom"))
    assert (target / "a").read_text(encoding="utf-8") == (target / "meta").read_text(encoding="utf-8") == "one"
    write_dir_atomically(target, write("two"))
    assert (target / "meta").read_text(encoding="utf-8") == "two" and sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_a_stopped_run_is_shown_as_stopped_at_once(tmp_path):
    """An interrupted run was shown as running for 30 minutes (until its files went stale)."""
    from drugenv.dashboard.runs import load_run

    out = tmp_path / "run"
    files = RunFiles(out)
    files.start("ppo_vector", {"run": {"iterations": 5}})
    files.log({"iteration": 1})
    assert load_run(tmp_path, out, stale_after=1800).status == "running"
    RunFiles.mark_stopped(out, "interrupted (Ctrl-C)")
    run = load_run(tmp_path, out, stale_after=1800)
    assert run.status == "failed" and run.status_reason == "stopped before finishing: interrupted (Ctrl-C)"
    RunFiles(out).start("ppo_vector", {"run": {"iterations": 5}}, resumed_from=out / "checkpoint_final")
    assert not (out / "stopped.json").exists()  # a resumed run is running again


def test_a_killed_run_is_shown_as_stopped_at_once_when_its_process_ran_on_this_host(tmp_path):
    """A SIGKILLed drugenv train (no stopped.json) was shown as running for 30 minutes, until its files went stale:
    the dashboard now reads the process id and host its lock file names (never taking the lock itself)."""
    import socket
    import subprocess
    import sys

    from drugenv.dashboard.runs import load_run

    out = tmp_path / "run"
    run = ("import os, sys; from drugenv.training.run_files import RunFiles; files = RunFiles(sys.argv[1]); "
           "files.start('grpo', {'run': {'iterations': 5}}); files.log({'iteration': 1}); os._exit(9)")
    killed = subprocess.Popen([sys.executable, "-c", run, str(out)])
    assert killed.wait(timeout=120) == 9  # ended as a kill ends it: no clean-up, no stopped.json
    assert (out / "metrics.jsonl").exists() and not (out / "stopped.json").exists()
    shown = load_run(tmp_path, out, stale_after=1800)  # its files are seconds old
    assert (shown.status, shown.status_reason) == ("failed", f"stopped before finishing: its process {killed.pid} on this "
                                                             "host ended without writing stopped.json (killed?)")
    assert json.loads((out / LOCK_FILE).read_text(encoding="utf-8")) == {"pid": killed.pid, "host": socket.gethostname()}

    def status(lock_text):
        (out / LOCK_FILE).write_text(lock_text, encoding="utf-8")
        return load_run(tmp_path, out, stale_after=1800).status

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # reaped: its process id names no process now
    host = socket.gethostname()
    assert status(json.dumps({"pid": ended.pid, "host": host})) == "failed"
    assert status(json.dumps({"pid": os.getpid(), "host": host})) == "running"  # alive: a run going on
    assert status(json.dumps({"pid": ended.pid, "host": host + "-elsewhere"})) == "running"  # not this host's: stale time decides
    assert status(f"{ended.pid}\n") == "running"  # an earlier version's bare process id names no host
    for damaged in ("", "not a lock", '{"pid": "x"}', '{"pid": 0, "host": "%s"}' % host, "\xff"):
        assert status(damaged) == "running"
    assert load_run(tmp_path, out, stale_after=0).status_reason.startswith("no new output for")  # staleness still applies
    RunFiles.mark_stopped(out, "interrupted (Ctrl-C)")  # stopped.json says more: it wins
    assert load_run(tmp_path, out, stale_after=1800).status_reason == "stopped before finishing: interrupted (Ctrl-C)"
    sweep = tmp_path / "sweep"  # a sweep holds its folder's lock too (drugenv.tuning.sweep) and writes no stopped.json
    (sweep / "tune").mkdir(parents=True)
    (sweep / LOCK_FILE).write_text(json.dumps({"pid": ended.pid, "host": host}), encoding="utf-8")
    shown = load_run(tmp_path, sweep, stale_after=1800)
    assert (shown.kind, shown.status, shown.status_reason) == ("sweep", "failed", (
        f"stopped before finishing: its process {ended.pid} on this host ended without writing results.csv (interrupted or killed)"))


def test_a_lock_held_on_another_host_is_named_with_that_host(tmp_path, held_elsewhere):
    """The refusal names the holder's process, and its host when that is not this one (a folder on a shared disk)."""
    out = tmp_path / "run"
    pid = held_elsewhere(out)
    (out / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": "node-7"}), encoding="utf-8")  # flock is advisory: the child still holds it
    with pytest.raises(ConfigError, match=rf"\(process {pid} on host node-7, which holds {LOCK_FILE} there\)"):
        lock_folder(out)
    (out / LOCK_FILE).write_text(f"{pid}\n", encoding="utf-8")  # an earlier version's file
    with pytest.raises(ConfigError, match=rf"\(process {pid}, which holds"):
        lock_folder(out)


def test_a_run_folder_another_process_writes_is_refused_before_anything_is_removed(tmp_path, held_elsewhere):
    """A second drugenv train into the same --out deleted the first's metrics.jsonl and checkpoints, both appended
    to one curve, and both exited 0."""
    from drugenv.dashboard.runs import discover

    out = tmp_path / "run"
    first = RunFiles(out)
    first.start("ppo_vector", {"seed": 1})
    again = RunFiles(out)  # this process holds the folder already: its own RunFiles share the lock
    again.start("ppo_vector", {"seed": 1}, resumed_from=out / "checkpoint_iter_0001")
    first.finish({})
    again.finish({})  # both gave it back: another process may take it now

    pid = held_elsewhere(out)  # a run going on there, with its first row
    (out / "checkpoint_iter_0001").mkdir()  # and its first checkpoint
    for resumed_from in (None, out / "checkpoint_iter_0001"):  # --resume into a folder being written too
        with pytest.raises(ConfigError, match=rf"--out {out} is being written by another run or sweep \(process {pid},"):
            RunFiles(out).start("ppo_vector", {"seed": 2}, resumed_from=resumed_from)
    assert (out / "checkpoint_iter_0001").is_dir() and json.loads((out / "settings.json").read_text(encoding="utf-8"))["seed"] == 1
    assert [r["iteration"] for r in RunFiles(out).history()] == [1]
    from drugenv.training.run_files import lock_holder

    assert lock_holder((out / LOCK_FILE).read_text(encoding="utf-8")).pid == pid
    assert discover(tmp_path) == {"run": out}  # the lock file is no run


def test_a_folder_lock_goes_with_its_process_and_survives_a_fresh_runs_clean_up(tmp_path):
    """The kernel lets a killed run's lock go; a fresh run's clean-up never removes the lock it holds."""
    import subprocess
    import sys

    out = tmp_path / "run"
    take = ("import sys; from drugenv.training.run_files import RunFiles; files = RunFiles(sys.argv[1]); "
            "files.start('grpo', {}); ")
    killed = subprocess.run([sys.executable, "-c", take + "import os; os._exit(9)", str(out)], timeout=120)
    assert killed.returncode == 9  # ended without giving anything back
    files = RunFiles(out)
    files.start("grpo", {})
    (out / "summary.json").write_text("{}", encoding="utf-8")
    files.start("grpo", {})
    from drugenv.training.run_files import lock_holder

    assert lock_holder((out / LOCK_FILE).read_text(encoding="utf-8")).pid == os.getpid() and not (out / "summary.json").exists()
    with lock_folder(out):  # held twice in this process, given back once: still held
        pass
    other = subprocess.run([sys.executable, "-c", take, str(out)], capture_output=True, text=True, timeout=120)
    assert other.returncode == 1 and f"(process {os.getpid()}," in other.stderr
    files.finish({})
    assert subprocess.run([sys.executable, "-c", take, str(out)], timeout=120).returncode == 0


def test_a_failed_checkpoint_write_leaves_no_partial_folder_filling_the_disk(tmp_path):
    """A disk that filled while checkpoint_final was written left checkpoint_final.tmp/, and its bytes, behind."""
    import errno

    def full(folder):
        (folder / "module_state.pkl").write_bytes(b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        write_dir_atomically(tmp_path / "checkpoint_final", full)
    assert list(tmp_path.iterdir()) == []


def test_a_curve_that_cannot_be_drawn_is_a_warning_and_the_summary_is_written(tmp_path, capsys):
    """A PPO run that finished training lost summary.json when drawing its curve hit a full disk."""
    import errno

    files = RunFiles(tmp_path)
    files.start("ppo_vector", {})

    def full():
        raise OSError(errno.ENOSPC, "No space left on device")

    files.draw(full)
    files.finish({"decision_accuracy": 1.0})
    assert json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))["final"] == {"decision_accuracy": 1.0}
    assert "warning: the training curve could not be written (No space left on device)" in capsys.readouterr().out
    with pytest.raises(ZeroDivisionError):  # a defect in the plot is not hidden
        files.draw(lambda: 1 / 0)


def test_the_base_model_copy_is_whole_or_absent_and_a_broken_one_is_copied_again(tmp_path):
    """A full disk while a GRPO run copied the tiny model into its folder left base_model/ with a whole config.json
    and cut-off weights, and every later run into that folder loaded it (only config.json was looked at)."""
    import resource
    import subprocess

    pytest.importorskip("transformers")
    from drugenv.llm.architectures import resolve_model_spec
    from drugenv.training.grpo_train import resolve_base_model

    src = Path(resolve_model_spec("tiny"))  # built here, outside the limited process
    script = ("import sys; from pathlib import Path; from drugenv.cli import run_command; "
              "from drugenv.training.grpo_train import resolve_base_model; "
              "sys.exit(run_command('prog', lambda _: resolve_base_model('tiny', Path(sys.argv[1])), None))")
    limit = 64 * 1024  # the config fits, the weights do not

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PYTHONDONTWRITEBYTECODE": "1",
           "GIT_OPTIONAL_LOCKS": "0"}  # git killed by SIGXFSZ would leave the repository's index.lock behind
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True, text=True,
                         timeout=300, preexec_fn=limited)
    assert run.returncode == 1 and "File too large" in run.stderr and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert os.listdir(tmp_path) == []  # neither base_model/ nor its temporary

    broken = tmp_path / "base_model"  # as an earlier version left it
    shutil.copytree(src, broken)
    (broken / "model.safetensors").write_bytes(b"")
    assert resolve_base_model("tiny", tmp_path) == str(broken.resolve())
    assert {p.name: p.read_bytes() for p in broken.iterdir()} == {p.name: p.read_bytes() for p in src.iterdir()}
    assert sorted(os.listdir(tmp_path)) == ["base_model"]
