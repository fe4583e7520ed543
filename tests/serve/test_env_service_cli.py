"""The environment as a Serve app, started as a user starts it: `serve run serve/env_service.yaml` in its own process
on loopback, serving more /ws sessions at once than Serve's default of 5 a replica allows two replicas, stopped by
SIGTERM. (How sessions spread over the replicas is tests/serve/test_env_replicas.py's: here /health can answer while
the second replica still starts.)"""

import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from drugenv.client import DrugTargetEnv
from drugenv.server.serve import free_port

from tests.serve.conftest import ROOT, serve_process_env, stop_serve_process, wait_healthy

pytestmark = pytest.mark.slow


def test_serve_run_env_config_file(tmp_path):
    yaml = pytest.importorskip("yaml")

    port = free_port()
    config = yaml.safe_load((ROOT / "serve" / "env_service.yaml").read_text(encoding="utf-8"))
    config["http_options"]["port"] = port
    (tmp_path / "env.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    serve_bin = Path(sys.executable).parent / "serve"
    proc = subprocess.Popen([str(serve_bin), "run", "--address", "local", str(tmp_path / "env.yaml")], cwd=ROOT,
                            env=serve_process_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_healthy(proc, url)["max_sessions"] == config["applications"][0]["args"]["max_sessions"]
        with ExitStack() as stack:  # 12 open at once: more than Serve's default would let two replicas hold
            envs = [stack.enter_context(DrugTargetEnv(base_url=url, connect_timeout_s=30)) for _ in range(12)]
            for seed, env in enumerate(envs):
                env.reset(seed=seed)
            for env in envs:
                assert env.step({"action_type": "literature_search"}).observation.step_count == 1
    finally:
        stop_serve_process(proc)  # `serve run` answers SIGTERM by stopping Serve and its Ray, then exits with 15
