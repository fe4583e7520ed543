"""A run's folder kept where its node cannot take it away: ``drugenv train --storage URI``.

On a cluster the run's folder is on the driver's disk. Submitted as ``cluster.yaml`` shows, the driver
runs on the GPU node, which the autoscaler removes once it is idle: its checkpoints, metrics and
evidence go with it. With ``--storage URI`` the run mirrors its folder to ``URI/<folder name>`` as it
goes, as Ray Train and Tune keep trials under their ``storage_path``:

- ``URI`` is anything ``pyarrow.fs.FileSystem.from_uri`` opens, as for Ray's ``storage_path``:
  ``s3://bucket/prefix``, ``gs://bucket/prefix``, ``hdfs://...``, ``file:///path``, or an absolute
  path (an NFS mount the nodes share). Credentials come from the node, as for any pyarrow client
  (an S3 bucket: the instance's role or ``AWS_*`` variables). An S3-compatible store (MinIO, Ceph) is named by
  ``AWS_ENDPOINT_URL`` or in the URI's query (``s3://bucket/runs?endpoint_override=host:9000&scheme=http``);
  the run's own URI puts its folder's name before that query. Credentials belong to the node (its role, ``AWS_*``
  variables): a secret key in the URI (``s3://KEY_ID:SECRET@bucket/prefix``) is shown as ``***`` in what DrugEnv
  prints, but Ray keeps a job's command line and a Serve config's arguments as they are.
- When: once the run starts (``settings.json``), after every iteration (the files changed since the
  last copy: the new ``metrics.jsonl`` row, a checkpoint just written), at the end, and when the run
  stops on an error or Ctrl-C, with what it had written by then. The copy runs in the training loop, so
  the first one after a GRPO run's SFT warm start, which holds that model, takes as long as the model
  takes to upload; later ones copy a row and a checkpoint (a LoRA adapter and its optimizer state). A copy
  that fails (the storage briefly unreachable) is a warning, not the run's end: what it did not copy, the
  next one does. When the last one, at the run's end, fails, the command says so in its last line and
  exits 1 (``RunStorage.incomplete_copy``): the run's files are whole on its own disk only.
- What: the folder, file for file, mirrored: a file the run rewrote is copied again, and one it
  removed (a validation-selected checkpoint replaced by a better one) is removed there too. A file
  the run never wrote is never touched, so two runs may share a prefix, each under its own name.
  Each file arrives whole or not at all (on a disk, through a temporary name and a rename; an object
  store shows an upload only once it is complete), and a checkpoint's marker file comes after the
  files it vouches for: a copy cut off midway leaves nothing cut short under its own name.

``drugenv train`` opens the storage before Ray or a model starts (``RunStorage.open``): a URI pyarrow
cannot open, or a place it cannot write to, is one ``ConfigError`` line.

The way back: ``drugenv train --resume URI/<folder name>/checkpoint_iter_0008`` (or the run's folder, for its
``checkpoint_final``) copies that run's folder into the new run's ``--out`` first (``download_run``), on
whichever node the run resumes: its checkpoints, its curve and the model its adapter was trained on. And a
checkpoint named by URI wherever one is read (``drugenv eval --agent checkpoint:URI``, ``drugenv serve
--checkpoint URI``) is copied, with the model folder beside it that it names, into a folder of this process's
own first (``fetch_checkpoint``). The agent service's builder copies only the files that say what the checkpoint
is (``weights=False``: a few kB, where the model beside a 3B run's checkpoint is GBs), and each replica copies
the whole, on its own node.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any, Optional

from drugenv.errors import ConfigError


def _one_line(e: BaseException) -> str:
    """An error's message on one line, as DrugEnv says it (``shown``: pyarrow's messages may quote the URI)."""
    return shown(" ".join(str(e).split())) or type(e).__name__


_URI_FORMS = "s3://bucket/prefix, gs://bucket/prefix, file:///path or an absolute path"


def _open_uri(uri: str, what: str) -> tuple[Any, str]:
    """``(pyarrow filesystem, path in it)`` for ``uri``; ``ConfigError`` starting with ``what`` (the flag and its
    value) when pyarrow is missing or cannot open it. The one place every reader and writer here opens a URI."""
    try:
        import pyarrow.fs
    except ModuleNotFoundError:
        raise ConfigError(f"{what}: reading or writing a URI needs pyarrow; install it with: "
                          "pip install 'drugenv[train]'") from None
    try:
        filesystem, path = pyarrow.fs.FileSystem.from_uri(uri)
    except (ValueError, TypeError, OSError) as e:
        raise ConfigError(f"{what}: pyarrow cannot open it ({_one_line(e)}); give {_URI_FORMS}") from None
    return filesystem, path.rstrip("/")


_URI_SECRET = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@", re.IGNORECASE)


def shown(text: str) -> str:
    """``text`` (a URI, or a line holding one: ``checkpoint:URI``) as DrugEnv prints it, writes it in a results file
    and says it in an error or a warning: the secret key of a URI that carries its credentials
    (``s3://KEY_ID:SECRET@bucket/prefix``, as pyarrow reads them) replaced by ``***``, so that no log line holds it."""
    return _URI_SECRET.sub(r"\1***@", text)


def _joined(uri: str, name: str) -> str:
    """``uri`` with ``/name`` added to its path, before any query (``s3://bucket/runs?endpoint_override=...``: an
    S3-compatible store's address travels in the query, and the folder's name belongs in front of it)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if not parts.scheme or len(parts.scheme) == 1:  # a path (a Windows drive letter parses as a scheme)
        return f"{uri.rstrip('/')}/{name}"
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{name}"))


CHECKPOINT_MARKERS = frozenset({"rllib_checkpoint.json", "drugenv_checkpoint.json"})
"""The files that make a folder a checkpoint to its readers: RLlib's and DrugEnv's (``llm.checkpoint.CHECKPOINT_META``,
named here because that module imports this one). ``RunStorage.mirror`` copies them last."""

_WHOLE_ON_UPLOAD = frozenset({"s3", "gcs", "abfs"})
"""pyarrow file systems (``type_name``) that show an object only once its upload is complete: a file is copied
straight to its name there (a move is a second copy on an object store)."""


def _is_marker(rel: str) -> bool:
    return rel.rpartition("/")[2] in CHECKPOINT_MARKERS


class RunStorage:
    """Mirrors one run folder to ``uri/<name>`` (``mirror``). Make one with ``RunStorage.open``."""

    def __init__(self, filesystem: Any, root: str, uri: str):
        self._fs = filesystem
        self._root = root.rstrip("/")
        self.uri = uri
        """Where the run's files go: the ``--storage`` URI joined with the run folder's name."""
        self._sent: dict[str, tuple[int, int]] = {}  # relative path -> (size, mtime_ns) of the copy sent
        self.failure: Optional[str] = None
        """Why the last ``try_mirror`` did not copy everything; None when it did."""

    @classmethod
    def open(cls, uri: str, name: str) -> "RunStorage":
        """The storage for the run folder ``name`` under ``uri``, checked by writing and removing a probe
        file there; ``ConfigError`` when pyarrow cannot open the URI or write to it."""
        if not uri or not name:
            raise ConfigError(f"--storage {uri!r}: give a URI ({_URI_FORMS})")
        said = f"--storage {shown(uri)}"
        filesystem, root = _open_uri(uri, said)
        root = f"{root}/{name}" if root else name
        storage = cls(filesystem, root, _joined(uri, name))
        probe = f"{root}/.drugenv-storage-probe-{uuid.uuid4().hex}"
        try:
            filesystem.create_dir(root, recursive=True)
            with filesystem.open_output_stream(probe) as f:
                f.write(b"drugenv")
            filesystem.delete_file(probe)
        except (OSError, ValueError) as e:
            raise ConfigError(f"{said}: cannot write to {shown(storage.uri)} ({_one_line(e)})") from None
        return storage

    def mirror(self, local: str | Path) -> int:
        """Copy the files under ``local`` that changed since the last call (by size and modification
        time), and remove there the ones this storage sent that ``local`` no longer has. Returns the
        number of files copied.

        Each file arrives whole under its name or not at all (``_put``), and a checkpoint's marker file
        (``CHECKPOINT_MARKERS``), which says a folder is a checkpoint, is copied after every other file and
        removed before them: a copy cut off midway leaves no checkpoint that looks whole and is not."""
        import pyarrow.fs

        local = Path(local).resolve()  # pyarrow takes absolute paths only
        now: dict[str, tuple[int, int]] = {}
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            st = path.stat()
            now[path.relative_to(local).as_posix()] = (st.st_size, st.st_mtime_ns)
        changed = sorted((rel for rel, sig in now.items() if self._sent.get(rel) != sig), key=_is_marker)
        for rel in changed:
            dst = f"{self._root}/{rel}"
            self._fs.create_dir(dst.rsplit("/", 1)[0], recursive=True)
            self._put(local / rel, dst)
            self._sent[rel] = now[rel]
        for rel in sorted(set(self._sent) - set(now), key=lambda rel: not _is_marker(rel)):
            info = self._fs.get_file_info(f"{self._root}/{rel}")
            if info.type == pyarrow.fs.FileType.File:
                self._fs.delete_file(info.path)
            del self._sent[rel]
        return len(changed)

    def _put(self, source: Path, dst: str) -> None:
        """Copy the local file ``source`` to ``dst`` so that it is never there cut short: an object store
        (``_WHOLE_ON_UPLOAD``) shows an object only once its upload completes; elsewhere (a local or shared disk,
        HDFS) the file is copied to a temporary name beside ``dst`` and then moved onto it (a rename), and the
        temporary is removed if the copy fails. (A copy straight to ``dst`` left it truncated under its own name.)"""
        import pyarrow.fs

        if self._fs.type_name in _WHOLE_ON_UPLOAD:
            pyarrow.fs.copy_files(str(source), dst, destination_filesystem=self._fs)
            return
        folder, _, name = dst.rpartition("/")
        tmp = f"{folder}/.{name[:32]}.{uuid.uuid4().hex[:8]}.tmp"  # short: a long name plus a suffix can pass 255 bytes
        try:
            pyarrow.fs.copy_files(str(source), tmp, destination_filesystem=self._fs)
            try:
                self._fs.move(tmp, dst)  # a rename: it replaces dst on a local disk
            except OSError:
                if self._fs.get_file_info(dst).type != pyarrow.fs.FileType.File:
                    raise
                self._fs.delete_file(dst)  # HDFS's rename does not replace a file: the old copy goes first
                self._fs.move(tmp, dst)
        except BaseException:
            with contextlib.suppress(Exception):
                self._fs.delete_file(tmp)
            raise

    def try_mirror(self, local: str | Path) -> bool:
        """``mirror``, where a failure to copy must not stop the run: it is a warning, and the files it did not
        copy are copied by the next call. In a training loop, a storage that is briefly unreachable costs a
        late copy, not hours of training; in a ``finally``, the error that stopped the run stays the one
        raised. Returns whether everything was copied; ``failure`` keeps why the last call did not (None when
        it did), for the command to say at its end that the copy is incomplete (``incomplete_copy``)."""
        try:
            self.mirror(local)
            self.failure = None
            return True
        except Exception as e:  # noqa: BLE001 - see the docstring
            self.failure = _one_line(e)
            warnings.warn(f"could not copy {local} to {shown(self.uri)} (the next copy tries again): {self.failure}", stacklevel=2)
            return False

    def incomplete_copy(self, local: str | Path, prog: str) -> Optional[str]:
        """The line a command prints last, and exits 1 with, when its final copy to this storage failed (``None``
        when it did not): the run's files are whole in ``local``, but not in the storage, which a user counting on
        it (the node's disk goes with the node) must be told at the end, not by a warning amid the run's output."""
        if self.failure is None:
            return None
        return (f"{prog}: error: the last copy of {local} to {shown(self.uri)} failed ({self.failure}); the files are "
                f"whole in {local} only: copy them there yourself")


def is_uri(text: str) -> bool:
    """Whether ``text`` names a place by URI (``s3://...``, ``file:///...``) rather than by a local path."""
    return "://" in text


def download_run(uri: str, local: str | Path) -> Path:
    """Copy the run folder at ``uri``, or the run folder of the checkpoint ``uri`` names (a ``checkpoint_*``
    folder), into ``local``, which must be empty or absent; returns the local copy of what ``uri`` named.
    ``ConfigError`` when pyarrow cannot open ``uri``, nothing is there, or ``local`` already holds files."""
    said = f"--resume {shown(uri)}"
    filesystem, path = _open_uri(uri, said)
    import pyarrow.fs

    local = Path(local).resolve()
    run, _, name = path.rpartition("/")
    if not name.startswith("checkpoint_"):  # the run's folder itself: the run resumes from its checkpoint_final
        run, name = path, ""
    try:
        kind = filesystem.get_file_info(path).type
    except OSError as e:
        raise ConfigError(f"{said}: cannot read it ({_one_line(e)})") from None
    if kind != pyarrow.fs.FileType.Directory:
        raise ConfigError(f"{said}: no run folder or checkpoint is there")
    if local.exists() and any(local.iterdir()):
        raise ConfigError(f"{said} copies that run into --out {local}, which already holds files; "
                          "give an --out that is empty or new")
    local.mkdir(parents=True, exist_ok=True)
    try:
        _copy_files(run, local, filesystem, said)
    except ConfigError:  # nothing half-copied stays behind to be refused as "already holds files" next time
        for child in list(local.iterdir()):
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        raise
    print(f"{said}: copied its run folder to {local}")
    return local / name if name else local


def _copy_files(source: str, destination: str | Path, filesystem: Any, said: str) -> None:
    """``pyarrow.fs.copy_files`` from the store to a local path; a failure midway (a file gone, the network down, a
    name that is no local path) is a ``ConfigError`` naming the URI as DrugEnv shows it."""
    import pyarrow
    import pyarrow.fs

    try:
        pyarrow.fs.copy_files(source, str(destination), source_filesystem=filesystem)
    except (OSError, pyarrow.ArrowException) as e:
        raise ConfigError(f"{said}: copying it here failed ({_one_line(e)})") from None


CHECKPOINT_CACHE_ENV = "DRUGENV_CHECKPOINT_CACHE"
"""The variable naming where checkpoints read by URI are copied (``fetch_checkpoint``); unset, ``<the temporary
directory>/drugenv-checkpoints``."""

_own_copies: list[Path] = []
"""The copies this process made: removed when it exits (``_remove_own_copies``)."""


def _remove_own_copies() -> None:
    for copy in list(_own_copies):
        remove_copy(copy)


def remove_copy(path: str | Path) -> None:
    """Remove the copy this process's ``fetch_checkpoint`` made that holds ``path`` (nothing, when no copy of
    this process holds it): for a process that may be killed, not exit, once done with it (a Serve replica at
    its graceful shutdown)."""
    for copy in list(_own_copies):
        if Path(path).is_relative_to(copy):
            shutil.rmtree(copy, ignore_errors=True)
            _own_copies.remove(copy)


def _remove_orphaned_copies(root: Path, host: str) -> None:
    """Remove the copies under ``root`` that processes of this machine made and that have ended without
    removing them (killed: a Serve replica a redeploy stopped, a run ended by SIGKILL). A copy is named
    ``run.<pid>.<host>.*``; another machine's (a shared cache folder) is left alone, as its process is not
    ours to see. POSIX only: elsewhere (Windows) ``os.kill(pid, 0)`` ends the process instead of asking about it,
    so a killed process's copy stays there."""
    import os

    if os.name != "posix":
        return
    for copy in root.glob(f"run.*.{host}.*"):
        pid = copy.name.split(".", 2)[1]
        if not pid.isdigit() or not copy.name.startswith(f"run.{pid}.{host}.") or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            shutil.rmtree(copy, ignore_errors=True)
        except (OSError, OverflowError):
            pass  # PermissionError: another user's process, alive; OverflowError: no process has that id


def fetch_checkpoint(uri: str, *, weights: bool = True) -> Path:
    """A local copy of the checkpoint (or run folder, or peft adapter folder) at ``uri``: the folder, and for a
    GRPO checkpoint the model folder its metadata names where the run's folder holds one, beside it as in the
    run, so that the checkpoint finds its model (``llm.checkpoint.follow_moved_run``). Each call copies afresh
    into a folder of its own under ``DRUGENV_CHECKPOINT_CACHE``: a URI may name a checkpoint that a resumed
    run has since rewritten, and processes of one node (Serve replicas) never share a half-written copy.
    The copy is removed when this process exits, and a killed process's copy by the next call on its
    machine: a 3B run's model is GBs, copied by every ``drugenv eval --agent checkpoint:URI``.

    ``weights=False`` copies only the files that say what the checkpoint is (its metadata and its adapter's
    ``adapter_config.json``), none of the weights nor the model beside it: what a process that sets up, but
    does not load, the agent reads (the agent service's builder)."""
    import atexit
    import os
    import socket
    import tempfile

    said = shown(uri)
    filesystem, path = _open_uri(uri, said)
    import pyarrow.fs

    from drugenv.llm.checkpoint import CHECKPOINT_FINAL

    try:
        info = filesystem.get_file_info(path)
    except OSError as e:
        raise ConfigError(f"{said}: cannot read it ({_one_line(e)})") from None
    if info.type != pyarrow.fs.FileType.Directory:
        raise ConfigError(f"{said}: no checkpoint is there; pass the URI of a checkpoint folder a run's --storage kept, "
                          "e.g. s3://bucket/drugenv-runs/grpo_tiny_cpu/checkpoint_final")
    if filesystem.get_file_info(f"{path}/{CHECKPOINT_FINAL}").type == pyarrow.fs.FileType.Directory:
        path = f"{path}/{CHECKPOINT_FINAL}"  # a run's folder stands for its last checkpoint
    run, _, name = path.rpartition("/")
    # Absolute: the copy's paths are compared with resolved ones (remove_copy) and outlive a change of directory.
    root = Path(os.environ.get(CHECKPOINT_CACHE_ENV) or Path(tempfile.gettempdir()) / "drugenv-checkpoints").resolve()
    root.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    _remove_orphaned_copies(root, host)
    local_run = Path(tempfile.mkdtemp(prefix=f"run.{os.getpid()}.{host}.", dir=root))
    atexit.unregister(_remove_own_copies)  # registered once, however many copies come and go
    atexit.register(_remove_own_copies)
    _own_copies.append(local_run)
    try:
        return _copy_checkpoint(filesystem, path, run, name, local_run, said, weights=weights)
    except ConfigError:
        remove_copy(local_run)  # not a half copy for the next reader
        raise


def _copy_checkpoint(filesystem: Any, path: str, run: str, name: str, local_run: Path, said: str, *, weights: bool) -> Path:
    """``fetch_checkpoint``'s copy into ``local_run``, made there."""
    import json

    import pyarrow.fs

    from drugenv.llm.checkpoint import ADAPTER_DIR, CHECKPOINT_META

    (local_run / name).mkdir()
    if not weights:
        for file in (CHECKPOINT_META, "adapter_config.json", f"{ADAPTER_DIR}/adapter_config.json"):
            if filesystem.get_file_info(f"{path}/{file}").type == pyarrow.fs.FileType.File:
                (local_run / name / file).parent.mkdir(exist_ok=True)
                _copy_files(f"{path}/{file}", local_run / name / file, filesystem, said)
        return local_run / name
    _copy_files(path, local_run / name, filesystem, said)
    meta = local_run / name / CHECKPOINT_META
    try:
        model = json.loads(meta.read_text(encoding="utf-8")).get("model") if meta.is_file() else None
    except ValueError:
        model = None  # the reader that follows reports a corrupt metadata file
    if isinstance(model, str) and Path(model).is_absolute() and run:
        beside = f"{run}/{Path(model).name}"
        if filesystem.get_file_info(beside).type == pyarrow.fs.FileType.Directory:
            (local_run / Path(model).name).mkdir()
            _copy_files(beside, local_run / Path(model).name, filesystem, said)
    return local_run / name


__all__ = ["CHECKPOINT_CACHE_ENV", "CHECKPOINT_MARKERS", "RunStorage", "download_run", "fetch_checkpoint", "is_uri", "remove_copy", "shown"]
