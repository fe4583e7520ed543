"""The files every ``drugenv train`` run writes, GRPO or PPO: one layout, written in one place.

| file                               | written                       | holds                                             |
|------------------------------------|-------------------------------|---------------------------------------------------|
| ``settings.json``                  | first, before training        | ``{"algo": ..., "code": ..., **settings}``: everything the run used, and which source ran it (``drugenv.provenance.describe``); a ``--resume`` run adds ``resumed_from``, ``resumed_at_iteration`` and ``resumed_run`` (the settings of the run that wrote the checkpoint) |
| ``metrics.jsonl``                  | one line per iteration        | the curve: training metrics, ``heldout/*`` when evaluated |
| ``evidence/training_curve.png``    | at the end                    | the curve, drawn                                   |
| ``summary.json``                   | at the end                    | final held-out metrics, the heuristic on the same episodes, the checkpoint; removed when a run starts here, ``--resume`` too |
| ``checkpoint_final/``              | at the end                    | ``Algorithm.save_to_path`` (resume with ``--resume``) |
| ``stopped.json``                   | when a run stops unfinished   | why (interrupted, terminated, an error) and when; removed when a run starts here |
| ``.drugenv.lock``                  | first                         | ``{"pid": ..., "host": ...}``: the process id and host name of the run writing here (``lock_folder``, read by ``lock_holder``); hidden, never removed |

One process writes a folder at a time: a run (and a sweep, ``drugenv.tuning.sweep``) holds an exclusive
lock on ``.drugenv.lock`` (``fcntl.flock``, non-blocking) from before it removes anything until it ends, and
a second run or sweep into the same folder, fresh or ``--resume``, is refused with a ``ConfigError`` naming the
process that holds it. (Two runs into one ``--out`` deleted each other's ``metrics.jsonl``, appended to one
curve, and left settings of one beside checkpoints of the other, both exiting 0.) The kernel lets the lock go
when the holder's process ends, however it ends, so a killed run never leaves its folder locked. Where
``fcntl`` is missing (Windows) folders are not locked: do not start two runs into one folder there.

The dashboard reads the lock file, never takes the lock (a probe would race with a run starting): an
unfinished run whose lock names this host and a process that no longer exists was killed (SIGKILL, the OOM
killer: nothing wrote ``stopped.json``), and is shown as stopped at once rather than after
its files go stale. Earlier versions wrote the process id alone; such a file names no host.

A fresh run (no ``--resume``) in a folder that holds another run's files removes that run's results first:
its ``summary.json``, ``evidence/`` and ``checkpoint_*`` folders would otherwise sit beside this run's
``settings.json`` (an interrupted rerun read as finished, and ``--resume`` of the folder continued the
old run's weights). GRPO's ``base_model/`` and ``sft_model/`` stay: they are caches, reused only when
the settings that made them match.

GRPO adds ``evidence/before_after_metrics.json`` (base, SFT, GRPO and baselines with intervals) and
its SFT model. The dashboard (``drugenv.dashboard.runs``) reads this layout. With ``wandb=True``
(``drugenv train --wandb``) the same settings and rows also go to a Weights & Biases run under
``wandb/`` (offline unless ``WANDB_MODE`` says otherwise; ``wandb sync`` uploads it). With a
``RunStorage`` (``drugenv train --storage URI``) the folder is mirrored there after each of these writes
(``drugenv.storage``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Optional

from drugenv import provenance
from drugenv.cli import write_text_atomic  # the dashboard polls run folders while runs write them
from drugenv.errors import ConfigError
from drugenv.evaluation.evaluate import results_json  # strict JSON: a metric that is not a number is null
from drugenv.llm.checkpoint import CHECKPOINT_FINAL  # a run's last checkpoint, named where checkpoints are read
from drugenv.storage import RunStorage, shown

SETTINGS = "settings.json"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
STOPPED = "stopped.json"
CURVE_PNG = "evidence/training_curve.png"
CHECKPOINT_BEST = "checkpoint_best"  # GRPO with validation selection (run.select_suite)
LOCK_FILE = ".drugenv.lock"  # hidden: the dashboard lists no hidden entry

# Folders this process holds (resolved path -> [the open lock file, how many FolderLocks hold it]): a process
# may lock a folder it holds again (drugenv train holds --out from before Ray starts, and its RunFiles
# takes it too); flock would refuse a second open file of the same process.
_HELD: dict[Path, list[Any]] = {}


class LockHolder(NamedTuple):
    """What a folder's ``LOCK_FILE`` says of the process that last took it: its id, and its host's name
    (None in a file an earlier version wrote, which held the process id alone)."""

    pid: int
    host: Optional[str]


def lock_holder(text: str) -> Optional[LockHolder]:
    """The holder a ``LOCK_FILE``'s text names (``lock_folder`` writes ``{"pid": N, "host": NAME}``; earlier
    versions the bare process id); None for an empty file (a lock being taken) or one that is neither."""
    text = text.strip()
    try:
        record = json.loads(text) if text else None
    except ValueError:
        return None
    if isinstance(record, int) and not isinstance(record, bool):
        return LockHolder(record, None) if record > 0 else None
    if not isinstance(record, dict):
        return None
    pid, host = record.get("pid"), record.get("host")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    return LockHolder(pid, host if isinstance(host, str) and host else None)


def _describe_holder(text: str) -> str:
    """``process N`` (``on host H`` when it is another host's), for the error that refuses a locked folder."""
    holder = lock_holder(text)
    if holder is None:
        return f"process {text.strip() or 'unknown'}"
    elsewhere = f" on host {holder.host}" if holder.host not in (None, socket.gethostname()) else ""
    return f"process {holder.pid}{elsewhere}"


class FolderLock:
    """A hold on a folder's ``LOCK_FILE`` (``lock_folder``). ``release()`` gives it back (again: nothing); the
    lock itself goes when the last hold of this process is released or dropped, or the process ends."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._held = folder in _HELD

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        entry = _HELD.get(self.folder)
        if entry is None:  # pragma: no cover - the interpreter's shutdown cleared the module first
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _HELD[self.folder]
            entry[0].close()  # closing the file gives the lock back

    def __enter__(self) -> "FolderLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


def lock_folder(folder: str | Path, flag: str = "--out") -> FolderLock:
    """Make ``folder`` and hold its ``LOCK_FILE`` (see the module docstring); ``ConfigError`` naming the folder,
    ``flag`` and the process that holds it when another process does. Taken before anything in the folder is
    removed or written: a fresh run's clean-up, and ``write_dir_atomically``'s fixed ``.tmp``/``.old`` names,
    are safe only with no other writer. Without ``fcntl`` (Windows) it holds nothing and refuses nothing."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = folder.resolve()
    if key in _HELD:
        _HELD[key][1] += 1
        return FolderLock(key)
    try:
        import fcntl
    except ImportError:  # Windows: no flock; documented as unguarded
        return FolderLock(key)
    f = open(key / LOCK_FILE, "a+", encoding="utf-8")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = _describe_holder(f.read())
        f.close()
        raise ConfigError(f"{flag} {folder} is being written by another run or sweep ({holder}, "
                          f"which holds {LOCK_FILE} there): wait for it to end, or pass another {flag}") from None
    except BaseException:
        f.close()
        raise
    f.seek(0)
    f.truncate()
    f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n")  # lock_holder reads it
    f.flush()
    _HELD[key] = [f, 1]
    return FolderLock(key)


def remove_paths(paths: Iterable[Path]) -> list[str]:
    """Remove each of ``paths`` that exists (a folder with its contents; a link, not what it points at); the names
    removed, a folder's with a trailing ``/``. A fresh run clears the last run's results with it, a new sweep
    the last sweep's."""
    removed = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
            removed.append(path.name + "/")
        elif path.exists() or path.is_symlink():
            path.unlink()
            removed.append(path.name)
    return removed


def write_dir_atomically(path: Path, write: Callable[[Path], Any]) -> Path:
    """``write(folder)`` into a temporary sibling of ``path``, then put it in ``path``'s place: a run stopped while a
    checkpoint is written leaves the previous one whole (or none), never pickles of two iterations beside one
    another's metadata. The old folder is moved aside before the new one is renamed in and removed after."""
    path = Path(path)
    tmp, old = path.with_name(path.name + ".tmp"), path.with_name(path.name + ".old")
    for leftover in (tmp, old):
        shutil.rmtree(leftover, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write(tmp)
    except BaseException:  # a full disk, a kill: a half-written folder would go on filling the disk
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def restore_or_refuse(algo: Any, checkpoint: str | Path) -> None:
    """``algo.restore_from_path(checkpoint)``; a checkpoint that cannot be restored (a file deleted or cut short)
    is a ``ConfigError`` naming it, not a traceback from RLlib's pickles or Arrow's file system."""
    try:
        algo.restore_from_path(str(Path(checkpoint).resolve()))
    except Exception as e:  # FileNotFoundError, UnpicklingError, EOFError, KeyError... from RLlib's readers
        raise ConfigError(f"--resume {checkpoint} cannot be restored ({type(e).__name__}: {str(e)[:200]}); the checkpoint "
                          "is damaged or incomplete: resume from another checkpoint_* of the run") from None


class RunFiles:
    """Writes one run's files under ``out`` (see the module table)."""

    def __init__(self, out: str | Path, *, wandb: bool = False, storage: Optional[RunStorage] = None):
        self.out = Path(out)
        self.use_wandb = wandb
        self.storage = storage
        self._wandb_run: Any = None
        self._settings: Optional[dict[str, Any]] = None  # settings.json as start() wrote it
        self._lock: Optional[FolderLock] = None  # the folder's, from start() to finish()

    def sync(self) -> None:
        """Mirror the folder to the run's storage, if it has one (files changed since the last call); a copy
        that fails is a warning, and tried again at the next call (``RunStorage.try_mirror``)."""
        if self.storage is not None:
            self.storage.try_mirror(self.out)

    def start(self, algo: str, settings: Mapping[str, Any], *, resumed_from: Optional[str | Path] = None) -> None:
        """``settings.json`` (with the source digest, the git commit and the checkpoint a ``--resume`` run
        continues, ``resumed_from``); a fresh run also starts a fresh ``metrics.jsonl``.

        A resumed run keeps, as ``resumed_run``, the ``settings.json`` of the run folder its checkpoint lies in:
        what trained the checkpoint (its SFT warm start, its first iterations), which this run's own settings
        do not describe, and which a resume into the same folder would otherwise overwrite.

        First it locks the folder (``lock_folder``): a ``ConfigError`` while another process writes there. The
        lock is held until ``finish()``, or until this object is dropped or the process ends."""
        if self._lock is None:
            self._lock = lock_folder(self.out)
        (self.out / STOPPED).unlink(missing_ok=True)
        if resumed_from is None:
            removed = self._remove_previous_results()
            if removed:
                print(f"{self.out}: a fresh run; removed the previous run's {', '.join(removed)} (--resume continues a run)")
        else:  # resumed into the folder of a run that finished: its summary is not this run's end (the dashboard
            (self.out / SUMMARY).unlink(missing_ok=True)  # showed the resumed run as finished, and again once it was killed)
        (self.out / "evidence").mkdir(exist_ok=True)
        record = {"algo": algo, "code": provenance.describe(), **settings}
        if resumed_from is not None:
            checkpoint = Path(resumed_from).resolve()
            record["resumed_from"] = str(checkpoint)
            try:
                record["resumed_run"] = json.loads((checkpoint.parent / SETTINGS).read_text(encoding="utf-8"))
            except (OSError, ValueError):  # a checkpoint copied out of its run folder: nothing to keep
                pass
        self._settings = record
        write_text_atomic(self.out / SETTINGS, json.dumps(record, indent=2, default=str))
        if resumed_from is None:
            (self.out / METRICS).unlink(missing_ok=True)
        if self.use_wandb and self._wandb_run is None:
            import os

            import wandb

            # Offline by default: nothing leaves the machine unless the user asks (WANDB_MODE=online).
            os.environ.setdefault("WANDB_MODE", "offline")
            # W&B records the command line in its run file (which the run's storage mirrors and `wandb sync`
            # uploads): it reads sys.argv, so for init it sees the line with any URI's secret key as `***`.
            argv = sys.argv
            sys.argv = [shown(arg) for arg in argv]
            try:
                # create_new: a W&B run the calling script already has stays open beside this one.
                self._wandb_run = wandb.init(project="drugenv", dir=str(self.out), config=record, resume="allow",
                                             reinit="create_new")
            finally:
                sys.argv = argv
        self.sync()

    def _remove_previous_results(self) -> list[str]:
        """Remove another run's summary, evidence and checkpoints from the folder (see the module docstring);
        the names of what was removed."""
        previous = [p for p in sorted(self.out.iterdir())
                    if p.name == SUMMARY or (p.name.startswith("checkpoint_") and p.is_dir())]
        evidence = self.out / "evidence"
        if evidence.is_dir() and any(evidence.iterdir()):
            previous.append(evidence)
        return remove_paths(previous)

    @staticmethod
    def mark_stopped(out: str | Path, why: str) -> None:
        """``stopped.json`` in a run folder whose run ended unfinished (``drugenv train`` calls it), so the dashboard
        shows it as stopped at once rather than as running until its files go stale."""
        out = Path(out)
        if (out / SETTINGS).exists():
            write_text_atomic(out / STOPPED, json.dumps({"why": why, "at": time.time()}))

    def log(self, row: Mapping[str, Any]) -> None:
        """Append one iteration's row to ``metrics.jsonl`` (readable while the run goes on)."""
        with open(self.out / METRICS, "a", encoding="utf-8") as f:
            f.write(results_json(dict(row)) + "\n")
        if self._wandb_run is not None:
            numbers = {k: v for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            self._wandb_run.log(numbers, step=row.get("iteration"))
        self.sync()  # the row, and a checkpoint the iteration wrote before it

    def close(self) -> None:
        """End the Weights & Biases run, if one was started, and mirror what the run wrote (called in a
        ``finally``: a run stopped by an error or Ctrl-C keeps its files in its storage too)."""
        if self._wandb_run is not None:
            import wandb

            self._wandb_run.finish()
            self._wandb_run = None
            # finish() returns before W&B's service process has written the run's last records to
            # wandb/*/run-*.wandb (it is told to close the run, not asked), so the mirror below could copy a
            # file that holds only its header. Shutting the service down waits for it, but also ends every
            # run it still holds: only when this process has no other W&B run going.
            if wandb.setup().most_recent_active_run is None:
                wandb.teardown()
        self.sync()

    def resume_after(self, iteration: int) -> None:
        """Keep only the rows up to ``iteration`` (the checkpoint a run resumes from): resumed from an
        earlier checkpoint than its last, a run would log the iterations after it a second time. And say in
        ``settings.json`` where the run starts (``resumed_at_iteration``): its ``run.iterations`` count after it."""
        if self._settings is not None:
            self._settings["resumed_at_iteration"] = int(iteration)
            write_text_atomic(self.out / SETTINGS, json.dumps(self._settings, indent=2, default=str))
        rows = [r for r in self.history() if not isinstance(r.get("iteration"), int) or r["iteration"] <= iteration]
        write_text_atomic(self.out / METRICS, "".join(results_json(r) + "\n" for r in rows))

    def history(self) -> list[dict[str, Any]]:
        """Every row of ``metrics.jsonl``, including iterations before a ``--resume``."""
        path = self.out / METRICS
        if not path.exists():
            return []
        rows, lines = [], path.read_text(encoding="utf-8").split("\n")
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                if n < len(lines):  # a damaged row inside the file: not this module's writing
                    raise ConfigError(f"{path} line {n} is not JSON: the file was changed by hand; repair or remove it") from None
                # An unterminated last line: the append a kill interrupted. The row is lost with it.
                print(f"{path}: its last line was cut off (a run stopped while writing it); dropped")
        return rows

    def finish(self, final: Mapping[str, Any], *, heuristic: Optional[Mapping[str, Any]] = None,
               checkpoint: Optional[str] = None, **extra: Any) -> Path:
        """``summary.json``: the final held-out metrics and what to compare them with. The run's last file: the
        folder's lock is given back."""
        path = self.out / SUMMARY
        write_text_atomic(path, results_json({"final": dict(final), "heuristic": dict(heuristic or {}),
                                              "checkpoint": checkpoint, **extra}, indent=2))
        self.sync()  # the run's last files: the summary, and the evidence written before it
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        return path

    def draw(self, plot: Callable[[], Any]) -> None:
        """``plot()``, evidence the run can do without (its curve): an ``OSError`` writing it (a full disk, a
        folder made read-only) is a one-line warning, so that ``summary.json`` is still written after it (it
        was lost with the run's result when the curve failed)."""
        try:
            plot()
        except OSError as e:
            print(f"{self.out}: warning: the training curve could not be written ({e.strerror or e}); "
                  f"the run's results go to {SUMMARY}")

    @property
    def curve_png(self) -> Path:
        return self.out / CURVE_PNG


__all__ = ["CHECKPOINT_BEST", "CHECKPOINT_FINAL", "CURVE_PNG", "FolderLock", "LOCK_FILE", "LockHolder", "METRICS", "RunFiles",
           "SETTINGS", "SUMMARY", "lock_folder", "lock_holder"]
