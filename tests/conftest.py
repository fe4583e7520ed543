"""The suite on an install without every extra: a test that needs a package this install lacks is skipped.

CI installs everything (``scripts/setup.sh``: the ``test`` extra), where nothing here fires. On a
smaller install (``pip install -e '.[server]'`` on a laptop, another Python), a test that fails
because an import of one of DrugEnv's optional dependencies found nothing is reported as skipped,
naming the extra to install, instead of as a failure. Only a missing *optional dependency* counts
(``drugenv.extras``, read from the package's metadata) and only where it is really not installed;
any other import error fails as before. Modules that import an extra at the top skip themselves
with ``pytest.importorskip``.
"""

from __future__ import annotations

import pytest

from drugenv.extras import uninstalled_extra

try:
    from hypothesis import configuration as hypothesis_configuration
    from hypothesis import settings as hypothesis_settings
except ImportError:  # a smaller install: its Hypothesis tests skip themselves
    pass
else:
    # Hypothesis kept its example database and a cache of the source's constants in .hypothesis/ in the checkout;
    # tests write nowhere but temporary folders. Its home is one, removed at exit, and there is no database: the
    # suite's Hypothesis tests are derandomized, so it would hold nothing they need.
    import atexit
    import shutil
    import tempfile

    _hypothesis_home = tempfile.mkdtemp(prefix="drugenv-hypothesis-")
    atexit.register(shutil.rmtree, _hypothesis_home, True)
    hypothesis_configuration.set_hypothesis_home_dir(_hypothesis_home)
    hypothesis_settings.register_profile("drugenv", database=None)
    hypothesis_settings.load_profile("drugenv")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    missing = uninstalled_extra(call.excinfo.value) if call.excinfo is not None and report.failed else None
    if missing is not None:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: needs an extra this install lacks: {missing}")


CLUSTER_OBJECT_STORE_BYTES = 100 * 2**20
"""Each node's object store in the tests' several-node Rays (``ray.cluster_utils``): Ray's floor is 75 MiB, and
three nodes' default stores would take GiBs of this machine's memory."""


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 API on 127.0.0.1 (moto's server: what an S3-compatible store such as MinIO serves), started
    once for the session and stopped after it; its URL, ``http://127.0.0.1:PORT``."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch) -> str:
    """``s3://NAME``, a new empty bucket on ``s3_endpoint``, and this process's AWS settings pointed at it the
    way a user points pyarrow at an S3-compatible store (``AWS_ENDPOINT_URL`` and key variables), restored after
    the test. Only this process sees them: a Ray worker started before the test does not."""
    import uuid

    import pyarrow.fs

    for var, value in {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "drugenv-test",
                       "AWS_SECRET_ACCESS_KEY": "drugenv-test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(var, value)
    name = f"drugenv-{uuid.uuid4().hex[:12]}"
    pyarrow.fs.S3FileSystem(endpoint_override=s3_endpoint, allow_bucket_creation=True).create_dir(name)
    return f"s3://{name}"


def stored_tree(uri: str) -> dict[str, bytes]:
    """Every file under ``uri`` (any URI pyarrow opens), by its path relative to ``uri``: what a storage holds,
    read back through its own API rather than through a local disk."""
    import pyarrow.fs

    filesystem, root = pyarrow.fs.FileSystem.from_uri(uri)
    root = root.rstrip("/")
    tree = {}
    for info in filesystem.get_file_info(pyarrow.fs.FileSelector(root, recursive=True)):
        if info.type == pyarrow.fs.FileType.File:
            with filesystem.open_input_stream(info.path) as f:
                tree[info.path[len(root) + 1:]] = f.read()
    return tree


@pytest.fixture
def held_elsewhere():
    """``held_elsewhere(folder)``: another process (a child of this one) starts a run in ``folder``
    (``RunFiles.start``, which takes the folder's lock, ``run_files.lock_folder``) and logs its first row, and
    keeps it until the test ends, as a run going on there does; its process id."""
    import subprocess
    import sys

    holders: list[subprocess.Popen] = []

    def hold(folder) -> int:
        code = ("import sys; from drugenv.training.run_files import RunFiles; files = RunFiles(sys.argv[1]); "
                "files.start('ppo_vector', {'seed': 1}); files.log({'iteration': 1}); print('held', flush=True); "
                "sys.stdin.read()")
        child = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
        holders.append(child)
        lines = iter(child.stdout.readline, "")  # what the run prints before it, to its end if it failed
        assert "held" in (line.strip() for line in lines), "the other run did not start"
        return child.pid

    yield hold
    for child in holders:
        child.stdin.close()  # it reads to the end of its input, then exits, which lets the lock go
        child.wait(timeout=30)
        child.stdout.close()
