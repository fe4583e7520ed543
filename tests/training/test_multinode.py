"""DrugGRPO on a Ray cluster of several nodes: the learner and the env runner on different nodes.

``ray.cluster_utils.Cluster`` starts real nodes on this machine (a head and two workers, each with a
raylet and an object store of its own), so the adapter the learner pushes and the episodes the runner
sends back travel between object stores as they do between machines. The head has no CPUs, as in
``cluster.yaml``: only the driver runs there. The run must be the run a single node gives for the
same seed, and its checkpoint must restore on the other layout; a model folder only the driver had must
reach the nodes through the object store; and drugenv's commands inside a Ray job must join the cluster.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.rllib")
pytest.importorskip("peft")

from ray.rllib.core import DEFAULT_MODULE_ID  # noqa: E402
from ray.rllib.utils.metrics import EPISODE_RETURN_MEAN  # noqa: E402

from drugenv.training import metrics as M  # noqa: E402
from drugenv.training.grpo_train import export_adapter  # noqa: E402
from drugenv.training.model_files import _read_folder, share_model  # noqa: E402
from tests.conftest import CLUSTER_OBJECT_STORE_BYTES  # noqa: E402
from tests.training.test_algorithm import _config, _learner_adapter, _runner_adapters  # noqa: E402



def _digest(folder) -> str:
    return _read_folder(Path(folder))[0]


def _node_id() -> str:
    return ray.get_runtime_context().get_node_id()


# A lambda travels to the actors by value; a function of this module would be imported there, and the
# cluster's workers cannot import a test module.
_actor_node = lambda _: ray.get_runtime_context().get_node_id()  # noqa: E731


def _layout(algo) -> tuple[str, str]:
    """The node of the (one) learner actor and of the (one) env-runner actor."""
    (learner,) = [r.get() for r in algo.learner_group.foreach_learner(_actor_node).result_or_errors]
    (runner,) = algo.env_runner_group.foreach_env_runner(_actor_node, local_env_runner=False)
    return learner, runner


def _config_one_learner_one_runner(model_dir):
    # One CPU each: on two 1-CPU nodes the scheduler can only put them on different nodes.
    return (_config(model_dir).env_runners(num_env_runners=1, num_cpus_per_env_runner=1)
            .learners(num_learners=1, num_cpus_per_learner=1))


def _train(config, iterations: int, checkpoint=None, restore=None, adapter=None):
    """Per-iteration (return, completion length, loss, grad norm), the final adapter, the layout; the
    algorithm's checkpoint written to ``checkpoint``, its peft adapter to ``adapter``."""
    algo = config.build_algo()
    try:
        if restore is not None:
            algo.restore_from_path(str(restore))
        curve = []
        for _ in range(iterations):
            result = algo.train()
            learner = result["learners"][DEFAULT_MODULE_ID]
            curve.append((result["env_runners"][EPISODE_RETURN_MEAN], result["env_runners"][M.COMPLETION_LEN_MEAN],
                          learner[M.LOSS], learner[M.GRAD_NORM]))
        adapter_state = _learner_adapter(algo)
        (runner,) = _runner_adapters(algo)
        for k in adapter_state:  # the push crossed nodes: the runner plays with the learner's adapter
            np.testing.assert_array_equal(runner[k], adapter_state[k])
        layout = _layout(algo)
        if checkpoint is not None:
            algo.save_to_path(str(checkpoint))
        if adapter is not None:
            export_adapter(algo, adapter)
        return curve, adapter_state, layout
    finally:
        algo.stop()


@pytest.fixture
def three_node_cluster(tmp_path, monkeypatch):
    """A head with no CPUs (the driver's node) and two 1-CPU worker nodes, not yet joined; always shut down."""
    from ray.cluster_utils import Cluster

    from drugenv.training.model_files import MODEL_CACHE_ENV

    monkeypatch.setenv(MODEL_CACHE_ENV, str(tmp_path / "fetched_models"))  # the nodes start with it: a fresh cache
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False, "object_store_memory": CLUSTER_OBJECT_STORE_BYTES})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1, object_store_memory=CLUSTER_OBJECT_STORE_BYTES)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.mark.slow  # a 3-node cluster, then a local Ray: two algorithms each, ~60-100 s on 2 cores
def test_a_run_across_nodes_is_the_single_node_run_and_its_checkpoint_moves(three_node_cluster, tiny_model_dir, tmp_path):
    ray.init(address=three_node_cluster.address, log_to_driver=False)
    config = _config_one_learner_one_runner(tiny_model_dir)
    head = _node_id()
    curve, adapter, (learner_node, runner_node) = _train(config, 2, checkpoint=tmp_path / "across", adapter=tmp_path / "adapter")
    assert len({head, learner_node, runner_node}) == 3, "the learner, the runner and the driver share a node"
    # A checkpoint written across nodes resumes on the cluster.
    resumed, _, _ = _train(config, 1, restore=tmp_path / "across")
    # A model folder only the driver had (its SFT warm start, on a disk the nodes do not share): shared through
    # the object store as the run starts, and fetched by every node that lacks it, the driver's own too here.
    only_driver = tmp_path / "runs" / "sft_model"
    shutil.copytree(tiny_model_dir, only_driver)
    holder = share_model(str(only_driver))
    ray.get(holder.get.remote())  # the holder reads the folder when a node first asks for it; then it is gone here too
    shutil.rmtree(only_driver)
    fetched, fetched_adapter, _ = _train(_config_one_learner_one_runner(str(only_driver)), 2, adapter=tmp_path / "adapter_fetched")
    assert fetched == curve and all(np.array_equal(fetched_adapter[k], adapter[k]) for k in adapter)
    assert [p.name for p in (tmp_path / "fetched_models").iterdir()] == [_digest(tiny_model_dir)]
    # The adapter names the model as the run does, not the node's copy, and is the same adapter.
    saved = json.loads((tmp_path / "adapter_fetched" / "adapter_config.json").read_text(encoding="utf-8"))
    assert saved["base_model_name_or_path"] == str(only_driver)
    assert ((tmp_path / "adapter_fetched" / "adapter_model.safetensors").read_bytes()
            == (tmp_path / "adapter" / "adapter_model.safetensors").read_bytes())
    ray.shutdown()
    three_node_cluster.shutdown()

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    single_curve, single_adapter, (a, b) = _train(config, 2)
    assert a == b == _node_id()
    assert single_curve == curve, "the same seed trained differently across nodes"
    assert set(single_adapter) == set(adapter)
    for k in adapter:
        np.testing.assert_array_equal(single_adapter[k], adapter[k])
    # The cluster's checkpoint continues on one node exactly as it did on the cluster.
    single_resumed, _, _ = _train(config, 1, restore=tmp_path / "across")
    assert single_resumed == resumed


def test_drugenv_commands_in_a_ray_job_use_the_cluster_not_a_ray_of_their_own(three_node_cluster, monkeypatch, tmp_path):
    """``ray job submit`` gives its driver ``RAY_ADDRESS``. ``drugenv sweep`` and ``drugenv train-ppo`` started a
    local Ray on the driver's node there, so no trial or env runner ever reached another node; ``drugenv
    train`` joined, then refused a run that the cluster's autoscaler had yet to grow into."""
    from drugenv.training import cli
    from drugenv.training.configs import RAY_JOINED_CLUSTER, init_ray

    monkeypatch.setenv("RAY_ADDRESS", three_node_cluster.address)
    assert init_ray(1) == RAY_JOINED_CLUSTER  # the one way in: train, train-ppo and sweep
    assert len(ray.nodes()) == 3 and ray.cluster_resources()["CPU"] == 2
    ray.shutdown()

    def refuse(*_):
        raise AssertionError("a joined cluster was held to the local Ray's size")

    monkeypatch.setattr(cli, "check_fits_local_ray", refuse)
    # PPO's two env runners, one on each worker node (the head has no CPUs), and the learner in the driver.
    result = cli.train_main(cli.TrainArgs(config="rllib_configs/ppo_vector.py", out=str(tmp_path / "ppo"), progress=False, set=[
        "run.iterations=1", "run.eval_interval=1", "run.eval_episodes=4", "env_runners.num_env_runners=2",
        "training.train_batch_size_per_learner=120", "training.minibatch_size=60", "model.fcnet_hiddens=[16]"]))
    assert [r["iteration"] for r in result["curve"]] == [1] and (tmp_path / "ppo" / "checkpoint_final").is_dir()
    assert not ray.is_initialized()  # train_main leaves the cluster as it found it: running, and not joined

    # drugenv sweep joins too, and does not refuse a GRPO trial larger than the cluster is now.
    from drugenv.tuning import sweep

    seen = {}

    def fake_run_sweep(*_, **kwargs):
        seen.update(kwargs, nodes=len(ray.nodes()))
        return {"table": [], "files": {}}

    monkeypatch.setattr(sweep, "run_sweep", fake_run_sweep)
    sweep.sweep_main(sweep.SweepArgs(sweep="tune_sweeps/curriculum", algo="grpo_tiny_cpu", out=str(tmp_path / "sweeps")))
    assert seen["cluster_may_grow"] is True and seen["nodes"] == 3


def test_a_model_folder_missing_on_an_actors_node_says_so(ray_local, tmp_path):
    """A learner or env runner on a node without the driver's disk looked for the run's SFT model there and
    got transformers' "Repo id must be in the form ..." (it took the path for a hub id). Both now call
    ``model_on_this_node`` first. (RLlib, told to restart failed runners as GRPO's config is, only logs a
    runner's error and then fails on its own ``IndexError``; ``DrugGRPO.setup`` raises the runner's error.)"""
    from drugenv.training.rl_module import DrugLLMRLModule, model_on_this_node

    gone = str(tmp_path / "runs" / "grpo" / "sft_model")
    assert model_on_this_node("Qwen/Qwen2.5-3B-Instruct") == "Qwen/Qwen2.5-3B-Instruct"  # a hub id is not a path
    says = r"the run's model .*sft_model is not on this node \(.*, 127\.0\.0\.1\): the driver wrote it on its own disk"
    with pytest.raises(ray.exceptions.RayTaskError, match=says):  # in a Ray worker, naming its node
        ray.get(ray.remote(lambda: model_on_this_node(gone)).remote())
    with pytest.raises(FileNotFoundError, match="is not on this node"):  # the learner's and runner's module
        DrugLLMRLModule(model_config={"model_name_or_path": gone})
    with pytest.raises(RuntimeError, match="(?s)no env runner started; the first one's error: .*" + says):
        _config(gone).env_runners(num_env_runners=1).build_algo()


def test_the_model_holder_reads_when_asked_rereads_a_changed_folder_and_costs_nothing_on_one_node(ray_local, tmp_path):
    from drugenv.training.model_files import ModelFolder

    folder = tmp_path / "sft_model"
    folder.mkdir()
    (folder / "config.json").write_text('{"layers": 2}', encoding="utf-8")
    assert share_model(str(folder)) is None  # one node: every actor reads the folder where it is
    holder = ModelFolder(str(folder))  # the actor's class, called in this process
    digest, (ref,) = holder.get()
    assert ray.get(ref) == {"config.json": b'{"layers": 2}'} and holder.get()[0] == digest
    (folder / "config.json").write_text('{"layers": 4}', encoding="utf-8")  # a new warm start under the same path
    new_digest, (new_ref,) = holder.get()
    assert new_digest != digest and ray.get(new_ref) == {"config.json": b'{"layers": 4}'}
    shutil.rmtree(folder)  # gone since it was read: what was read stays served, never an empty folder
    assert holder.get()[0] == new_digest
    with pytest.raises(FileNotFoundError, match="gone from the driver's node too"):
        ModelFolder(str(folder)).get()
