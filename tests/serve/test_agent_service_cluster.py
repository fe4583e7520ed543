"""``serve/agent_service_cluster.yaml``, deployed as its comments say (``serve deploy`` through the head's dashboard)
onto a three-node Ray shaped like ``cluster.yaml``'s (a head with no CPUs, two worker nodes; ``ray.cluster_utils``,
one machine), from a checkpoint kept in an S3 bucket (``tests/conftest.py``'s S3 API on 127.0.0.1)."""

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from drugenv.server.serve import free_port
from tests.conftest import CLUSTER_OBJECT_STORE_BYTES
from tests.serve.conftest import ROOT, serve_process_env, wait_healthy

pytestmark = pytest.mark.slow
yaml = pytest.importorskip("yaml")
ray = pytest.importorskip("ray")


def _deploy_not_failed() -> None:
    """Fails at once, with Serve's message, when the app's deploy failed (rather than after ``wait_healthy``'s timeout)."""
    from ray import serve

    app = serve.status().applications.get("agent")
    assert app is None or app.status != "DEPLOY_FAILED", app.message


def test_the_cluster_config_serves_the_agent_from_a_bucket_on_a_worker_node(tiny_checkpoint, tmp_path, s3_bucket,
                                                                             monkeypatch):
    import pyarrow.fs
    from ray.cluster_utils import Cluster

    from drugenv.simulator.environment import DrugTargetEnvironment
    from drugenv.storage import CHECKPOINT_CACHE_ENV

    stored = f"{s3_bucket}/drugenv-runs/grpo_qwen25_3b_h200"
    pyarrow.fs.copy_files(str(tiny_checkpoint), f"{stored}/checkpoint_final")
    monkeypatch.setenv(CHECKPOINT_CACHE_ENV, str(tmp_path / "copies"))  # the nodes start with it, and s3_bucket's AWS settings
    for var, value in serve_process_env().items():
        monkeypatch.setenv(var, value)
    # serve.apps is importable only through the config's PYTHONPATH: the nodes start elsewhere than the repository
    # (as `ray start` does in the home directory), with no PYTHONPATH of their own.
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.chdir(tmp_path)

    config = yaml.safe_load((ROOT / "serve" / "agent_service_cluster.yaml").read_text(encoding="utf-8"))
    port = free_port()
    app = config["applications"][0]
    assert app["runtime_env"]["env_vars"]["PYTHONPATH"] == "/home/ubuntu/drugenv"  # cluster.yaml's file_mounts
    assert yaml.safe_load((ROOT / "cluster.yaml").read_text(encoding="utf-8"))["file_mounts"] == {"/home/ubuntu/drugenv": "."}
    app["runtime_env"]["env_vars"]["PYTHONPATH"] = str(ROOT)  # this machine's copy of the repository
    app["args"].update(checkpoint=stored, num_gpus=0, torch_threads=1)  # one machine, no GPU
    config["http_options"]["port"] = port
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    dashboard_port = free_port()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": dashboard_port,
        "object_store_memory": CLUSTER_OBJECT_STORE_BYTES})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1, object_store_memory=CLUSTER_OBJECT_STORE_BYTES)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        serve_bin = Path(sys.executable).parent / "serve"
        deployed = subprocess.run([str(serve_bin), "deploy", "--address", f"http://127.0.0.1:{dashboard_port}",
                                   str(tmp_path / "agent.yaml")], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert deployed.returncode == 0, deployed.stderr[-2000:]

        health = wait_healthy(None, f"http://127.0.0.1:{port}", check=_deploy_not_failed)
        assert health["status"] == "healthy" and Path(health["adapter"]).is_relative_to(tmp_path / "copies")
        obs = DrugTargetEnvironment().reset(seed=0, scenario="procedural").model_dump(mode="json")
        r = httpx.post(f"http://127.0.0.1:{port}/act", json=obs, timeout=120)
        assert r.status_code == 200 and "action" in r.json()

        from ray.util.state import list_actors

        head = cluster.head_node.node_id
        agents = [a for a in list_actors(filters=[("state", "=", "ALIVE")]) if a.class_name == "ServeReplica:agent:Agent"]
        assert len(agents) == 1 and agents[0].node_id != head  # on a worker node, where the head holds no replica
    finally:
        ray.shutdown()
        cluster.shutdown()
