"""The environment as a Serve app, started as a user starts it: `serve run serve/env_service.yaml` in its own process
on loopback, two replicas serving /ws sessions beyond Serve's default of 5 a replica, stopped by SIGTERM."""

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
    config = yaml.safe_load((ROOT / "serve" / "env_service.yaml").read_text())
    config["http_options"]["port"] = port
    config["applications"][0]["args"]["max_sessions"] = 4  # 8 sessions below fill both replicas
    (tmp_path / "env.yaml").write_text(yaml.safe_dump(config))
    serve_bin = Path(sys.executable).parent / "serve"
    proc = subprocess.Popen([str(serve_bin), "run", "--address", "local", str(tmp_path / "env.yaml")], cwd=ROOT,
                            env=serve_process_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_healthy(proc, url)["max_sessions"] == 4
        with ExitStack() as stack:  # 8 open at once: only two replicas of 4 hold them all
            envs = [stack.enter_context(DrugTargetEnv(base_url=url, connect_timeout_s=30)) for _ in range(8)]
            for seed, env in enumerate(envs):
                env.reset(seed=seed)
            for env in envs:
                assert env.step({"action_type": "literature_search"}).observation.step_count == 1
    finally:
        stop_serve_process(proc)  # `serve run` answers SIGTERM by stopping Serve and its Ray, then exits with 15
