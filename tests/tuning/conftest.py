import os

import pytest


@pytest.fixture(scope="package")
def local_ray():
    """One local loopback Ray (2 CPUs, no dashboard) for the package's tests, shut down after its last one.

    tests/tuning is a package (its ``__init__.py``) for that: in a plain folder pytest keeps a "package"
    fixture to the session's end, and a later test's own ``ray.init`` failed on the Ray left running."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    from drugenv.training.configs import init_ray

    started = init_ray(2)
    yield
    if started:
        ray.shutdown()


TINY_BUDGET = {
    "run": {"iterations": 1, "eval_interval": 1, "eval_episodes": 8, "eval_seed": 0},
    "training": {"train_batch_size_per_learner": 120, "minibatch_size": 60, "num_epochs": 1},
    "model": {"fcnet_hiddens": [16]},
}
"""A budget that exercises every code path in seconds (nothing is learned)."""


@pytest.fixture
def tiny():
    """``TINY_BUDGET`` as settings overrides (a fresh copy per test)."""
    import copy

    return copy.deepcopy(TINY_BUDGET)
