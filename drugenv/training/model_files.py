"""The run's model on every node of a cluster: a folder only the driver has travels through Ray's object store.

A GRPO run's model is often a folder on the driver's disk: its SFT warm start (under the run's folder) or a
model built there. On a cluster whose nodes do not share that disk, a learner or env runner on another node
found no such folder. So, on a cluster of more than one node, ``DrugGRPO.setup`` starts a small actor on the
driver's node before any learner or env runner starts (``share_model``). An actor whose node lacks the folder
asks it for the folder (``model_on_this_node``): it reads the files then, once, puts them in Ray's object store,
and the asking node copies them into a folder of its own named by the files' digest; Ray moves the object
between nodes as it moves any other. A node that has the folder (one machine, or a disk every node mounts)
reads it where it is: then nothing is read twice, put or copied.

The holder lives as long as the process that shared the folder (the driver, or a Tune trial), so a learner or
env runner that Ray restarts on another node later finds it too; it reads the folder again if its files changed
(a new SFT warm start under the same path).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, Optional

MODEL_CACHE_ENV = "DRUGENV_MODEL_CACHE"
"""The variable naming where a node keeps the model folders it fetched, one per digest (``<digest>/``); unset,
``<the temporary directory>/drugenv-models``. Set it where the Ray nodes start (a fast local disk)."""


def model_cache() -> Path:
    """Where this node keeps the model folders it fetched (``MODEL_CACHE_ENV``)."""
    return Path(os.environ.get(MODEL_CACHE_ENV) or Path(tempfile.gettempdir()) / "drugenv-models")


_HOLDERS: dict[str, Any] = {}
"""The holders this process made, by path: Ray ends a named actor once no handle to it is left."""


def _actor_name(path: str) -> str:
    """The named actor that holds the folder at ``path`` (the path as the run's config names it)."""
    return "drugenv-model-folder-" + hashlib.sha256(str(path).encode()).hexdigest()[:20]


def _read_folder(folder: Path) -> tuple[str, dict[str, bytes]]:
    """``(digest, {relative path: bytes})`` of every file under ``folder``."""
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    h = hashlib.sha256()
    for rel, data in files.items():
        h.update(rel.encode() + b"\0" + len(data).to_bytes(8, "little") + data)
    return h.hexdigest()[:32], files


def _signature(folder: Path) -> list[tuple[str, int, int]]:
    """What says a folder's files changed, without reading them: each one's path, size and modification time."""
    return [(p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()]


class ModelFolder:
    """A Ray actor on the driver's node that serves one model folder of its disk, read when first asked."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._read: Optional[tuple[list, str, list]] = None  # (signature, digest, [reference to the files])

    def get(self) -> tuple[str, list]:
        """``(digest, [reference to {relative path: bytes}])``; the reference is wrapped so it travels as is."""
        import ray

        if not self.path.is_dir():  # removed since: what was read stays served; never an empty folder
            if self._read is None:
                raise FileNotFoundError(f"the run's model {self.path} is gone from the driver's node too")
            return self._read[1], self._read[2]
        signature = _signature(self.path)
        if self._read is None or self._read[0] != signature:
            digest, files = _read_folder(self.path)
            self._read = (signature, digest, [ray.put(files)])
        return self._read[1], self._read[2]


def _cluster_nodes() -> int:
    import ray

    return sum(1 for n in ray.nodes() if n.get("Alive"))


def share_model(path: Optional[str]) -> Optional[Any]:
    """On a cluster of more than one node, serve the model folder ``path`` of this node's disk to the nodes that
    lack it (driver side; returns the holder actor, pinned to this node). Nothing for a hub id or model spec (each
    node reads its own cache) or on a single node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if not path or not Path(path).is_dir() or not ray.is_initialized() or _cluster_nodes() < 2:
        return None
    here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
    holder = ray.remote(num_cpus=0)(ModelFolder).options(name=_actor_name(path), get_if_exists=True,
                                                         scheduling_strategy=here).remote(str(Path(path).resolve()))
    _HOLDERS[str(path)] = holder
    return holder


def model_on_this_node(path: str) -> str:
    """The folder to load the run's model from on this node: ``path`` itself where it exists or is a hub id;
    else the copy of it the driver shared (``share_model``), fetched once per node; else
    ``FileNotFoundError`` saying whose disk it is on and what to do (transformers took the path for a hub
    id: "Repo id must be in the form 'repo_name' ...")."""
    from drugenv.llm.run_agent import missing_local_path

    if not missing_local_path(str(path)):
        return str(path)
    fetched = _fetch_shared(str(path))
    if fetched is not None:
        return fetched
    raise FileNotFoundError(
        f"the run's model {path} is not on this node ({socket.gethostname()}, {_node_ip()}): the driver wrote it "
        "on its own disk, and shared it with no node (it does on a cluster of more than one node, when the run "
        "starts). Run the driver on the node of the learners and env runners (cluster.yaml: ray job submit "
        "--entrypoint-num-gpus 1), or give --out a folder on a disk every node mounts.")


def _fetch_shared(path: str) -> Optional[str]:
    import ray

    if not ray.is_initialized():
        return None
    try:
        holder = ray.get_actor(_actor_name(path))
    except ValueError:
        return None
    digest, wrapped = ray.get(holder.get.remote())
    target = model_cache() / digest
    if not target.is_dir():
        files = ray.get(wrapped[0])
        staging = Path(tempfile.mkdtemp(prefix=f"{digest}.", dir=_made(model_cache())))
        for rel, data in files.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_bytes(data)
        try:
            os.rename(staging, target)  # whole or not at all: another process of this node may fetch it too
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not target.is_dir():
                raise
    return str(target)


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _node_ip() -> str:
    try:
        import ray

        return ray.util.get_node_ip_address()
    except Exception:  # noqa: BLE001 - outside Ray: the hostname says enough
        return "no Ray"


__all__ = ["MODEL_CACHE_ENV", "model_cache", "model_on_this_node", "share_model"]
