"""The agent service from a checkpoint named by URI (one a run's ``--storage`` kept in an S3 bucket): the builder,
which runs wherever Ray places it, reads only what describes the checkpoint; the replica reads the whole itself."""

import shutil

import httpx
import pytest

from drugenv.server.serve import free_port

pytestmark = pytest.mark.slow


def test_the_builder_copies_no_weights_and_the_replica_reads_the_checkpoint_uri_itself(tiny_checkpoint, tmp_path,
                                                                                      monkeypatch, s3_bucket):
    ray = pytest.importorskip("ray")
    import pyarrow.fs
    from ray import serve

    from drugenv.simulator.environment import DrugTargetEnvironment
    from drugenv.storage import CHECKPOINT_CACHE_ENV
    from serve.apps import build_agent_service

    stored = f"{s3_bucket}/drugenv-runs/grpo_run/checkpoint_final"
    pyarrow.fs.copy_files(str(tiny_checkpoint), stored)
    # Before ray.init: the replicas inherit it, and s3_bucket's AWS settings, as a node's role would give them.
    monkeypatch.setenv(CHECKPOINT_CACHE_ENV, str(tmp_path / "copies"))
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    port = free_port()
    try:
        app = build_agent_service({"checkpoint": stored, "torch_threads": 1})
        (builders_copy,) = (tmp_path / "copies").iterdir()
        # A few kB however large the model: the metadata (budgets) and the adapter's config (base model).
        assert _files(builders_copy) == ["checkpoint_final/adapter/adapter_config.json",
                                         "checkpoint_final/drugenv_checkpoint.json"]
        shutil.rmtree(builders_copy)  # nothing of it is read again (the replica's node may not have it)
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(app, name="agent", route_prefix="/")
        body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=60).json()
        (replicas_copy,) = (tmp_path / "copies").iterdir()
        assert body["status"] == "healthy" and body["adapter"] == str(replicas_copy / "checkpoint_final" / "adapter")
        assert _files(replicas_copy) == _files(tiny_checkpoint.parent)  # the whole checkpoint, weights and all
        obs = DrugTargetEnvironment().reset(seed=0, scenario="procedural").model_dump(mode="json")
        r = httpx.post(f"http://127.0.0.1:{port}/act", json=obs, timeout=120)
        assert r.status_code == 200 and "action" in r.json()
        serve.shutdown()  # graceful: the replica removes its copy, where its killed process could not
        assert list((tmp_path / "copies").iterdir()) == []
    finally:
        serve.shutdown()
        ray.shutdown()


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
