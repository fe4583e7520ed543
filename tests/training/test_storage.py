"""``drugenv train --storage URI``: the run folder mirrored where the driver's node cannot take it away."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")

from drugenv.errors import ConfigError  # noqa: E402
from drugenv.training.run_files import RunFiles  # noqa: E402
from drugenv.storage import RunStorage  # noqa: E402


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("form", ["uri", "path"])
def test_the_folder_is_mirrored_file_for_file_and_only_what_changed_is_copied(tmp_path, form):
    store = tmp_path / "bucket" / "runs"
    run = tmp_path / "local" / "ppo_vector"
    storage = RunStorage.open(store.as_uri() if form == "uri" else str(store), run.name)
    assert storage.uri.endswith("/runs/ppo_vector") and os.listdir(store / "ppo_vector") == []  # the probe is gone
    (run / "checkpoint_best").mkdir(parents=True)
    (run / "settings.json").write_text('{"seed": 0}', encoding="utf-8")
    (run / "metrics.jsonl").write_text('{"iteration": 1}\n', encoding="utf-8")
    (run / "checkpoint_best" / "state.pkl").write_bytes(b"\x00\x01" * 1000)
    assert storage.mirror(run) == 3
    assert _tree(store / "ppo_vector") == _tree(run)
    assert storage.mirror(run) == 0  # nothing changed, nothing copied

    with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:  # a row appended, a better checkpoint replacing the best one
        f.write('{"iteration": 2}\n')
    (run / "checkpoint_best" / "state.pkl").unlink()
    (run / "checkpoint_best" / "module.pt").write_bytes(b"weights")
    (store / "ppo_vector" / "notes.txt").write_text("the user's", encoding="utf-8")  # never written by the run: left alone
    assert storage.mirror(run) == 2
    assert _tree(store / "ppo_vector") == {**_tree(run), "notes.txt": b"the user's"}


def test_run_files_mirror_each_write_and_a_run_stopped_by_an_error_keeps_what_it_wrote(tmp_path):
    store, run = tmp_path / "store", tmp_path / "runs" / "grpo_tiny_cpu"
    files = RunFiles(run, storage=RunStorage.open(store.as_uri(), run.name))
    files.start("grpo", {"seed": 0})
    assert json.loads((store / run.name / "settings.json").read_text(encoding="utf-8"))["seed"] == 0
    with pytest.raises(KeyboardInterrupt):
        try:
            files.log({"iteration": 1})
            (run / "checkpoint_iter_0001").mkdir()
            (run / "checkpoint_iter_0001" / "adapter.bin").write_bytes(b"lora")
            raise KeyboardInterrupt  # Ctrl-C in iteration 2, after its checkpoint
        finally:
            files.close()
    assert _tree(store / run.name) == _tree(run)
    assert (store / run.name / "checkpoint_iter_0001" / "adapter.bin").read_bytes() == b"lora"


def test_a_storage_that_fails_while_closing_warns_and_leaves_the_runs_own_error_to_be_seen(tmp_path):
    store, run = tmp_path / "store", tmp_path / "run"
    files = RunFiles(run, storage=RunStorage.open(str(store), run.name))
    files.start("ppo", {"seed": 0})
    (store / run.name).rename(tmp_path / "gone")
    (store / run.name).write_text("a file where the run's folder was", encoding="utf-8")
    (run / "metrics.jsonl").write_text('{"iteration": 1}\n', encoding="utf-8")
    with pytest.warns(UserWarning, match=f"could not copy {run}"):
        files.close()


def test_a_copy_that_fails_mid_run_warns_the_run_goes_on_and_the_next_copy_catches_up(tmp_path):
    store, run = tmp_path / "store", tmp_path / "run"
    files = RunFiles(run, storage=RunStorage.open(str(store), run.name))
    files.start("grpo", {"seed": 0})
    (store / run.name).rename(tmp_path / "away")  # the storage unreachable for a while
    (store / run.name).write_text("not a folder", encoding="utf-8")
    with pytest.warns(UserWarning, match="the next copy tries again"):
        files.log({"iteration": 1})
    (store / run.name).unlink()
    (tmp_path / "away").rename(store / run.name)  # back
    files.log({"iteration": 2})
    assert _tree(store / run.name) == _tree(run) and len((run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()) == 2


@pytest.mark.parametrize("cut", ["a rewritten file", "a checkpoint"])
def test_a_copy_cut_off_midway_leaves_no_file_cut_short_and_no_checkpoint_marker_there(tmp_path, cut):
    """The store's disk fails while a file is copied (a file size limit on the copying process: EFBIG). The copy went
    straight to the file's name: a metrics.jsonl cut short replaced the whole one there, and a checkpoint's marker
    (rllib_checkpoint.json, sorted before its state) said "checkpoint" over a folder missing its state."""
    import resource
    import subprocess
    import sys

    store, run = tmp_path / "store", tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"iteration": 1}\n', encoding="utf-8")
    RunStorage.open(str(store), run.name).mirror(run)  # the copy as it was before the failed one
    if cut == "a rewritten file":
        (run / "metrics.jsonl").write_text('{"iteration": 1}\n' * 1000, encoding="utf-8")
    else:
        (run / "checkpoint_final").mkdir()
        (run / "checkpoint_final" / "rllib_checkpoint.json").write_text("{}", encoding="utf-8")
        (run / "checkpoint_final" / "state.pkl").write_bytes(b"s" * 16384)
    script = ("import sys; from drugenv.storage import RunStorage; "
              "RunStorage.open(sys.argv[1], 'run').mirror(sys.argv[2])")

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PYTHONDONTWRITEBYTECODE": "1"}
    copy = subprocess.run([sys.executable, "-c", script, str(store), str(run)], env=env, capture_output=True, text=True,
                          timeout=120, preexec_fn=limited)
    assert copy.returncode != 0 and "File too large" in copy.stderr, copy.stderr[-2000:]
    assert _tree(store / "run") == {"metrics.jsonl": b'{"iteration": 1}\n'}  # as it was: nothing cut, no marker
    assert not [p for p in (store / "run").rglob("*.tmp")]  # the temporary went with the failure
    assert RunStorage.open(str(store), run.name).mirror(run) and _tree(store / "run") == _tree(run)  # the next copy


def test_the_checkpoint_marker_is_copied_after_the_files_it_vouches_for_and_removed_before_them(tmp_path):
    import shutil

    import pyarrow.fs

    store, run = tmp_path / "store", tmp_path / "run"
    for name in ("drugenv_checkpoint.json", "rllib_checkpoint.json", "state.pkl", "zz.bin"):
        (run / "checkpoint_iter_0001" / "sub").mkdir(parents=True, exist_ok=True)
        (run / "checkpoint_iter_0001" / name).write_text(name, encoding="utf-8")
    (run / "checkpoint_iter_0001" / "sub" / "metadata.json").write_text("{}", encoding="utf-8")
    storage = RunStorage.open(str(store), run.name)
    moved, deleted = [], []

    class Watched(pyarrow.fs.LocalFileSystem):  # the files it moves into place and deletes, noted in order
        def move(self, src, dst):
            moved.append(Path(dst).name)
            super().move(src, dst)

        def delete_file(self, path):
            deleted.append(Path(path).name)
            super().delete_file(path)

    storage._fs = Watched()
    storage.mirror(run)
    assert sorted(moved[-2:]) == ["drugenv_checkpoint.json", "rllib_checkpoint.json"] and len(moved) == 5
    shutil.rmtree(run / "checkpoint_iter_0001")  # replaced by a later checkpoint: removed there too, marker first
    storage.mirror(run)
    assert sorted(deleted[:2]) == ["drugenv_checkpoint.json", "rllib_checkpoint.json"] and len(deleted) == 5


def test_the_markers_are_the_checkpoint_files_readers_look_for():
    from drugenv.llm.checkpoint import CHECKPOINT_META
    from drugenv.storage import CHECKPOINT_MARKERS

    assert CHECKPOINT_META in CHECKPOINT_MARKERS and "rllib_checkpoint.json" in CHECKPOINT_MARKERS


def test_a_run_whose_last_copy_failed_says_so_last_and_exits_1(tmp_path, monkeypatch, capsys):
    """The run exited 0, with the failure a UserWarning amid its output: a user who counted on the copy (the node's
    disk goes with the node) learnt nothing. (A copy that fails mid-run is caught up by the next one: a warning.)"""
    from drugenv.cli import run_command
    from drugenv.training import cli

    store, out = tmp_path / "store", tmp_path / "run"
    store_goes = [True]

    def train(module, overrides, run_dir, args, storage):
        files = RunFiles(run_dir, storage=storage)
        files.start("ppo_vector", {"seed": 0})
        if store_goes.pop():
            (store / run_dir.name).rename(tmp_path / "away")  # the store gone before the run's last copy
            (store / run_dir.name).write_text("not a folder", encoding="utf-8")
        files.close()
        files.finish({"decision_accuracy": 1.0})
        return {"final": {}}

    monkeypatch.setattr(cli, "_start_ray", lambda n: None)
    monkeypatch.setattr(cli, "_train", train)
    args = cli.TrainArgs(config="rllib_configs/ppo_vector.py", out=str(out), storage=str(store), progress=False)
    with pytest.warns(UserWarning, match="the next copy tries again"):
        assert run_command("drugenv train", cli.train_main, args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"drugenv train: error: the last copy of {out} to {store / out.name} failed (") and \
        err[-1].endswith(f"the files are whole in {out} only: copy them there yourself"), err
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["final"] == {"decision_accuracy": 1.0}

    (store / out.name).unlink()  # the store back: the same run, copied whole, exits 0
    (tmp_path / "away").rename(store / out.name)
    store_goes.append(False)
    assert run_command("drugenv train", cli.train_main, args) == 0
    assert _tree(store / out.name) == {k: v for k, v in _tree(out).items() if k != ".drugenv.lock"} | \
        {".drugenv.lock": (out / ".drugenv.lock").read_bytes()}


def test_a_sweep_whose_last_copy_failed_says_so_last_and_exits_1(tmp_path, monkeypatch, capsys):
    from drugenv.cli import run_command
    from drugenv.training import configs
    from drugenv.tuning import sweep

    store, out = tmp_path / "store", tmp_path / "sweeps"

    def run_sweep(swept, *, out, **kwargs):
        (Path(out) / swept.NAME / "results.md").write_text("| trial |", encoding="utf-8")
        (store / swept.NAME).rename(tmp_path / "away")  # the store gone before the sweep's copy
        (store / swept.NAME).write_text("not a folder", encoding="utf-8")
        return {"table": [], "files": {}}

    monkeypatch.setattr(configs, "init_ray", lambda n: None)
    monkeypatch.setattr(sweep, "run_sweep", run_sweep)
    monkeypatch.setattr(sweep, "format_table", lambda table, metric: "")
    args = sweep.SweepArgs(sweep="tune_sweeps/reward_weights", out=str(out), storage=str(store))
    with pytest.warns(UserWarning, match="could not copy"):
        assert run_command("drugenv sweep", sweep.sweep_main, args) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"drugenv sweep: error: the last copy of {out.resolve()}/") and last.endswith("copy them there yourself")


@pytest.mark.parametrize("uri, says", [
    ("nosuchscheme://bucket/runs", "pyarrow cannot open it"),
    ("relative/path", "pyarrow cannot open it"),
    ("", "give a URI"),
])
def test_a_uri_pyarrow_cannot_open_is_one_config_error(uri, says):
    with pytest.raises(ConfigError, match=says):
        RunStorage.open(uri, "run")


def test_a_place_it_cannot_write_to_is_one_config_error_naming_it(tmp_path):
    (tmp_path / "a_file").write_text("not a folder", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cannot write to .*a_file/sub/run"):
        RunStorage.open(str(tmp_path / "a_file" / "sub"), "run")


def test_drugenv_train_refuses_a_bad_storage_before_ray_starts(tmp_path, monkeypatch):
    """The check comes before Ray: a cluster job with a mistyped bucket fails in a second, not after SFT."""
    from drugenv.training import cli

    monkeypatch.setattr(cli, "_start_ray", lambda n: pytest.fail("Ray started before --storage was checked"))
    (tmp_path / "a_file").write_text("", encoding="utf-8")
    args = cli.TrainArgs(config="rllib_configs/ppo_vector.py", out=str(tmp_path / "run"), storage=str(tmp_path / "a_file"))
    with pytest.raises(ConfigError, match="--storage"):
        cli.train_main(args)


def _stored_run(root: Path) -> Path:
    run = root / "grpo_x"
    (run / "checkpoint_iter_0002").mkdir(parents=True)
    (run / "checkpoint_iter_0002" / "drugenv_checkpoint.json").write_text('{"iteration": 2}', encoding="utf-8")
    (run / "sft_model").mkdir()
    (run / "sft_model" / "config.json").write_text("{}", encoding="utf-8")
    (run / "metrics.jsonl").write_text('{"iteration": 1}\n{"iteration": 2}\n', encoding="utf-8")
    return run


@pytest.mark.parametrize("named", ["checkpoint", "run folder"])
def test_resume_from_storage_copies_the_whole_run_folder_and_names_the_checkpoint(tmp_path, named):
    """``drugenv train --resume URI``: the checkpoint, and beside it what it needs (its model, its curve)."""
    from drugenv.storage import download_run

    run = _stored_run(tmp_path / "bucket")
    uri = (run / "checkpoint_iter_0002").as_uri() if named == "checkpoint" else run.as_uri()
    got = download_run(uri, tmp_path / "new_node" / "run")
    assert got == (tmp_path / "new_node" / "run" / ("checkpoint_iter_0002" if named == "checkpoint" else "")).resolve()
    assert _tree(tmp_path / "new_node" / "run") == _tree(run)


def test_resume_from_storage_refuses_a_full_out_and_an_empty_place(tmp_path):
    from drugenv.storage import download_run

    run = _stored_run(tmp_path / "bucket")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "settings.json").write_text("{}", encoding="utf-8")  # another run's: never overwritten
    with pytest.raises(ConfigError, match="already holds files; give an --out that is empty or new"):
        download_run(run.as_uri(), tmp_path / "full")
    assert os.listdir(tmp_path / "full") == ["settings.json"]
    with pytest.raises(ConfigError, match="no run folder or checkpoint is there"):
        download_run((tmp_path / "bucket" / "grpo_y").as_uri(), tmp_path / "new")
    with pytest.raises(ConfigError, match="pyarrow cannot open it"):
        download_run("nosuchscheme://bucket/grpo_x", tmp_path / "new")


def test_a_copy_from_storage_that_fails_midway_is_one_error_and_leaves_no_half_copy(tmp_path, monkeypatch):
    """A copy cut off midway (a file gone from the store, the network down) was pyarrow's traceback, and the half-filled
    --out was then refused by the next --resume as holding files; a half checkpoint copy stayed in the cache."""
    import pyarrow.fs

    from drugenv.storage import CHECKPOINT_CACHE_ENV, download_run, fetch_checkpoint

    run = _stored_run(tmp_path / "bucket")
    real = pyarrow.fs.copy_files

    def cut_off(source, destination, **kwargs):
        real(source, destination, **kwargs)  # the files arrive, then the connection drops
        raise OSError("When reading information for key 'runs/x': AWS Error NETWORK_CONNECTION")

    monkeypatch.setattr(pyarrow.fs, "copy_files", cut_off)
    with pytest.raises(ConfigError, match=r"--resume file://.*: copying it here failed \(When reading .*NETWORK_CONNECTION\)"):
        download_run(run.as_uri(), tmp_path / "out")
    assert os.listdir(tmp_path / "out") == []
    monkeypatch.setenv(CHECKPOINT_CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match="copying it here failed"):
        fetch_checkpoint(run.as_uri())
    assert os.listdir(tmp_path / "cache") == []
    monkeypatch.setattr(pyarrow.fs, "copy_files", real)
    assert download_run(run.as_uri(), tmp_path / "out") == (tmp_path / "out").resolve()  # the next try is not refused
    assert _tree(tmp_path / "out") == _tree(run)


def test_a_command_stopped_by_sigterm_removes_its_checkpoint_copy(tmp_path):
    """`drugenv eval --agent checkpoint:URI` ended by SIGTERM left its copy of the checkpoint (a 3B run's model is GBs)
    in the temporary folder: no command but the Ray drivers turned SIGTERM into an unwinding stop."""
    import signal
    import subprocess
    import sys

    uri = (_stored_run(tmp_path / "bucket") / "checkpoint_iter_0002").as_uri()
    code = ("import sys, time; from drugenv.cli import run_command; from drugenv.storage import fetch_checkpoint\n"
            "def main(_):\n    print(fetch_checkpoint(sys.argv[1]), flush=True)\n    time.sleep(120)\n"
            "sys.exit(run_command('drugenv eval', main, None))")
    env = {**os.environ, "DRUGENV_CHECKPOINT_CACHE": str(tmp_path / "copies")}
    proc = subprocess.Popen([sys.executable, "-c", code, uri], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        copy = Path(proc.stdout.readline().strip())
        assert copy.is_dir(), proc.stderr.read() if proc.poll() is not None else copy
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
        assert proc.stderr.read().strip().splitlines()[-1] == "drugenv eval: terminated"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert not copy.parent.exists() and list((tmp_path / "copies").iterdir()) == []


def test_a_resumed_checkpoint_trains_on_the_model_beside_it_once_its_run_moved(tmp_path):
    """A run copied back from its storage (or moved) records its SFT model at the old place: the copy beside
    the checkpoint is the one it continues on, where the old place is gone or holds another run's."""
    from drugenv.training.grpo_train import resumed_model

    run = _stored_run(tmp_path / "copied_back")
    meta = run / "checkpoint_iter_0002" / "drugenv_checkpoint.json"
    meta.write_text(json.dumps({"model": "/home/ubuntu/gone/grpo_x/sft_model", "iteration": 2}), encoding="utf-8")
    assert resumed_model(run / "checkpoint_iter_0002") == str(run / "sft_model")
    meta.write_text(json.dumps({"model": "/home/ubuntu/gone/base_model", "iteration": 2}), encoding="utf-8")
    with pytest.raises(ConfigError, match="is gone"):  # nothing of that name beside it: said, as before
        resumed_model(run / "checkpoint_iter_0002")


def test_a_checkpoint_named_by_uri_is_read_from_a_copy_with_the_model_beside_it(tmp_path, monkeypatch):
    """``--agent checkpoint:URI`` / ``drugenv serve --checkpoint URI``: the checkpoint, and the run's model folder its
    metadata names (not the other checkpoints), copied afresh for each reader; a URI with nothing there says so."""
    from drugenv.llm.checkpoint import follow_moved_run, require_existing
    from drugenv.storage import CHECKPOINT_CACHE_ENV, fetch_checkpoint

    monkeypatch.setenv(CHECKPOINT_CACHE_ENV, str(tmp_path / "copies"))
    run = _stored_run(tmp_path / "bucket")
    (run / "checkpoint_final").mkdir()
    (run / "checkpoint_final" / "drugenv_checkpoint.json").write_text(json.dumps({"model": "/old/node/grpo_x/sft_model"}), encoding="utf-8")
    got = require_existing((run / "checkpoint_final").as_uri())
    assert got.name == "checkpoint_final" and got.is_relative_to(tmp_path / "copies")
    assert sorted(p.name for p in got.parent.iterdir()) == ["checkpoint_final", "sft_model"]  # not checkpoint_iter_0002
    assert follow_moved_run("/old/node/grpo_x/sft_model", got) == str(got.parent / "sft_model")
    again = require_existing(run.as_uri())  # a run's folder stands for its checkpoint_final, copied afresh
    assert again.name == "checkpoint_final" and again != got
    with pytest.raises(ConfigError, match="no checkpoint is there"):
        require_existing((tmp_path / "bucket" / "nothing").as_uri())
    (run / "checkpoint_final" / "adapter").mkdir()
    (run / "checkpoint_final" / "adapter" / "adapter_config.json").write_text("{}", encoding="utf-8")
    (run / "checkpoint_final" / "adapter" / "adapter_model.safetensors").write_bytes(b"weights")
    described = fetch_checkpoint(run.as_uri(), weights=False)  # what the agent service's builder reads
    assert sorted(str(p.relative_to(described.parent)) for p in described.parent.rglob("*") if p.is_file()) == [
        "checkpoint_final/adapter/adapter_config.json", "checkpoint_final/drugenv_checkpoint.json"]  # no weights, no model


def test_a_checkpoint_copy_is_removed_when_its_process_ends_or_by_the_next_read_when_it_was_killed(tmp_path,
                                                                                                   monkeypatch):
    """A 3B run's model is GBs, copied by every ``--agent checkpoint:URI``: the copies must not pile up."""
    import socket
    import subprocess
    import sys

    from drugenv.storage import CHECKPOINT_CACHE_ENV, fetch_checkpoint, remove_copy

    copies = tmp_path / "copies"
    monkeypatch.setenv(CHECKPOINT_CACHE_ENV, str(copies))
    uri = (_stored_run(tmp_path / "bucket") / "checkpoint_iter_0002").as_uri()
    reader = ("import sys; from drugenv.storage import fetch_checkpoint; print(fetch_checkpoint(sys.argv[1]), flush=True); "
              "sys.stdin.read()")  # holds its copy until its stdin closes

    def start() -> tuple[subprocess.Popen, Path]:
        p = subprocess.Popen([sys.executable, "-c", reader, uri], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        return p, Path(p.stdout.readline().strip()).parent

    ended, ended_copy = start()
    ended.stdin.close()
    ended.stdout.close()
    assert ended.wait() == 0 and ended_copy.parent == copies and not ended_copy.exists()  # removed at its exit

    killed, killed_copy = start()
    alive, alive_copy = start()
    try:
        killed.kill()  # no exit of its own: its copy stays behind...
        killed.wait()
        killed.stdin.close()
        killed.stdout.close()
        assert killed_copy.exists()
        elsewhere = copies / f"run.{killed.pid}.another-{socket.gethostname()}.x"  # a shared cache: another machine's
        elsewhere.mkdir()
        mine = fetch_checkpoint(uri).parent  # ...until the next read on this machine
        assert sorted(copies.iterdir()) == sorted([alive_copy, elsewhere, mine])
    finally:
        alive.stdin.close()
        alive.wait()
        alive.stdout.close()
    assert not alive_copy.exists()

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CHECKPOINT_CACHE_ENV, "copies")  # relative, as a user may set it
    served = fetch_checkpoint(uri)
    remove_copy((served / "drugenv_checkpoint.json").resolve())  # what a Serve replica does at its shutdown
    assert not served.parent.exists() and copies.exists()


def test_clearing_killed_copies_never_signals_a_process_it_may_end(tmp_path, monkeypatch):
    """``os.kill(pid, 0)`` asks whether a process exists on POSIX only; on Windows it ends the process (the
    types audit: a second fetch in one process would end that process). Nor may a folder's name crash a fetch."""
    import socket

    from drugenv import storage

    host = socket.gethostname()
    for pid in (os.getpid(), 99999999999999999999999, 4194305):
        (tmp_path / f"run.{pid}.{host}.x").mkdir()
    sent = []

    def kill(pid: int, sig: int) -> None:  # as POSIX answers: no such process, or an id too large for one
        sent.append(pid)
        raise OverflowError("signed integer is greater than maximum") if pid > 2**31 else ProcessLookupError()

    monkeypatch.setattr(os, "kill", kill)
    storage._remove_orphaned_copies(tmp_path, host)
    assert os.getpid() not in sent and 4194305 in sent  # never its own process
    assert sorted(p.name.split(".")[1] for p in tmp_path.iterdir()) == sorted([str(os.getpid()), "99999999999999999999999"])
    sent.clear()
    monkeypatch.setattr(os, "name", "nt")
    storage._remove_orphaned_copies(tmp_path, host)
    assert sent == []


# --- S3: a real S3 API on 127.0.0.1 (tests/conftest.py's s3_bucket), the store cluster.yaml's submit line names ---


def test_a_run_folder_is_mirrored_to_an_s3_bucket_and_a_stopped_run_keeps_its_checkpoint_there(tmp_path, s3_bucket):
    from tests.conftest import stored_tree

    run = tmp_path / "runs" / "grpo_tiny_cpu"
    files = RunFiles(run, storage=RunStorage.open(f"{s3_bucket}/drugenv-runs", run.name))
    assert files.storage.uri == f"{s3_bucket}/drugenv-runs/grpo_tiny_cpu" and stored_tree(files.storage.uri) == {}
    files.start("grpo", {"seed": 0})
    assert json.loads(stored_tree(files.storage.uri)["settings.json"])["seed"] == 0
    with pytest.raises(KeyboardInterrupt):
        try:
            files.log({"iteration": 1})
            (run / "checkpoint_best").mkdir()
            (run / "checkpoint_best" / "adapter.bin").write_bytes(b"\x00lora" * 4096)
            files.log({"iteration": 2})
            (run / "checkpoint_best" / "adapter.bin").unlink()  # replaced by a better one: removed there too
            (run / "checkpoint_best" / "module.bin").write_bytes(b"better")
            raise KeyboardInterrupt  # Ctrl-C in iteration 3, after its checkpoint
        finally:
            files.close()
    assert stored_tree(files.storage.uri) == _tree(run)
    assert files.storage.mirror(run) == 0  # nothing changed since: nothing sent


def test_a_run_is_resumed_and_its_checkpoint_read_back_from_an_s3_bucket(tmp_path, s3_bucket, monkeypatch):
    import pyarrow.fs

    from drugenv.llm.checkpoint import follow_moved_run, require_existing
    from drugenv.storage import CHECKPOINT_CACHE_ENV, download_run

    run = _stored_run(tmp_path / "gone_node")
    (run / "checkpoint_final").mkdir()
    (run / "checkpoint_final" / "drugenv_checkpoint.json").write_text(json.dumps({"model": str(run / "sft_model")}), encoding="utf-8")
    pyarrow.fs.copy_files(str(run), f"{s3_bucket}/drugenv-runs/grpo_x")  # as the run's --storage left it

    got = download_run(f"{s3_bucket}/drugenv-runs/grpo_x/checkpoint_iter_0002", tmp_path / "new_node" / "run")
    assert got == (tmp_path / "new_node" / "run" / "checkpoint_iter_0002").resolve()
    assert _tree(tmp_path / "new_node" / "run") == _tree(run)

    monkeypatch.setenv(CHECKPOINT_CACHE_ENV, str(tmp_path / "copies"))
    kept = require_existing(f"{s3_bucket}/drugenv-runs/grpo_x")  # drugenv eval --agent checkpoint:s3://...
    assert kept.name == "checkpoint_final" and sorted(p.name for p in kept.parent.iterdir()) == ["checkpoint_final", "sft_model"]
    assert follow_moved_run(str(run / "sft_model"), kept) == str(kept.parent / "sft_model")


def test_an_s3_compatible_store_named_in_the_uri_keeps_its_address_behind_the_folder_name(tmp_path, s3_bucket, monkeypatch):
    """MinIO and the like are named in the URI's query (pyarrow's ``endpoint_override``): the run's URI, which the run
    prints and ``--resume`` takes back, puts the folder's name before the query, not after it."""
    from drugenv.storage import download_run

    endpoint = os.environ.pop("AWS_ENDPOINT_URL")  # the address in the URI alone
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    query = f"?endpoint_override={endpoint.removeprefix('http://')}&scheme=http"
    run = tmp_path / "ppo_vector"
    (run / "checkpoint_final").mkdir(parents=True)
    (run / "checkpoint_final" / "algorithm_state.pkl").write_bytes(b"state")
    storage = RunStorage.open(f"{s3_bucket}/runs{query}", run.name)
    assert storage.uri == f"{s3_bucket}/runs/ppo_vector{query}"
    assert storage.mirror(run) == 1
    back = download_run(f"{s3_bucket}/runs/ppo_vector/checkpoint_final{query}", tmp_path / "back")
    assert back.name == "checkpoint_final" and _tree(tmp_path / "back") == _tree(run)


def test_a_missing_bucket_or_an_unreachable_store_is_one_config_error(s3_bucket, monkeypatch):
    with pytest.raises(ConfigError, match=r"cannot write to s3://no-such-bucket-here/runs/run \(Bucket 'no-such-bucket-here' not found"):
        RunStorage.open("s3://no-such-bucket-here/runs", "run")
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{s.getsockname()[1]}")
        with pytest.raises(ConfigError, match=rf"--storage {s3_bucket}/runs: cannot write to {s3_bucket}/runs/run \(.*connect"):
            RunStorage.open(f"{s3_bucket}/runs", "run")


def test_a_secret_in_the_uri_is_never_printed_nor_said_in_an_error(tmp_path, s3_bucket, capsys):
    """pyarrow takes S3 credentials in a URI (``s3://KEY_ID:SECRET@bucket``): such a URI works as any other, and
    DrugEnv's own lines (what it prints, its errors) show ``***`` for the secret."""
    from drugenv.llm.checkpoint import require_existing
    from drugenv.storage import download_run, shown

    bucket = s3_bucket.removeprefix("s3://")
    with_key = f"s3://drugenv-test:hunter2@{bucket}"
    assert shown(f"{with_key}/runs?scheme=http") == f"s3://drugenv-test:***@{bucket}/runs?scheme=http"
    assert shown(f"checkpoint:{with_key}/run") == f"checkpoint:s3://drugenv-test:***@{bucket}/run"  # an --agent
    assert shown(f"{s3_bucket}/runs?scheme=http") == f"{s3_bucket}/runs?scheme=http" and shown("/a/b") == "/a/b"
    run = tmp_path / "run"
    (run / "checkpoint_final").mkdir(parents=True)
    (run / "checkpoint_final" / "algorithm_state.pkl").write_bytes(b"state")
    storage = RunStorage.open(f"{with_key}/runs", run.name)
    assert storage.uri == f"{with_key}/runs/run" and storage.mirror(run) == 1
    download_run(f"{with_key}/runs/run/checkpoint_final", tmp_path / "back")
    assert _tree(tmp_path / "back") == _tree(run)
    said = capsys.readouterr().out
    with pytest.raises(ConfigError) as missing_bucket:
        RunStorage.open("s3://drugenv-test:hunter2@no-such-bucket-here/runs", "run")
    with pytest.raises(ConfigError) as nothing_there:
        download_run(f"{with_key}/runs/nothing", tmp_path / "new")
    with pytest.raises(ConfigError) as no_checkpoint:
        require_existing(f"{with_key}/runs/nothing")  # --agent checkpoint:URI, drugenv serve --checkpoint URI
    with pytest.raises(ConfigError, match="pyarrow cannot open it") as unparsable:  # pyarrow's message quotes the URI
        RunStorage.open(f"hdfs://drugenv-test:hunter2@{bucket}:notaport/runs", "run")
    said += f"{missing_bucket.value} {nothing_there.value} {no_checkpoint.value} {unparsable.value}"
    assert "drugenv-test:***@" in said and "hunter2" not in said
