"""DrugGRPO end to end on local Ray (1 env-runner actor + learner in the driver): weight sync,
runner fault tolerance, metrics. Uses the toy task so a random-init tiny model gets reward."""

from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("ray.rllib")
pytest.importorskip("peft")

from ray.rllib.core import DEFAULT_MODULE_ID  # noqa: E402
from ray.rllib.utils.metrics import (  # noqa: E402
    ENV_RUNNER_SAMPLING_TIMER,
    EPISODE_RETURN_MEAN,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED,
    NUM_EPISODES,
    SYNCH_WORKER_WEIGHTS_TIMER,
)

from drugenv.training import metrics as M  # noqa: E402
from drugenv.training.grpo_config import DrugGRPOConfig  # noqa: E402
from tests.training.toy import UppercaseAgentIO, UppercaseEnv, slow_weight_sync_runner  # noqa: E402

G, GROUPS, TURNS = 4, 2, 2


def _config(model_dir, **env_config):
    return (
        DrugGRPOConfig()
        .environment(env=UppercaseEnv, env_config={"turns": TURNS, "reward": "fraction", **env_config})
        .training(model_name_or_path=model_dir, agent_io=UppercaseAgentIO, scenario_suite=None,
                  group_size=G, groups_per_iteration=GROUPS, max_turns=TURNS, max_new_tokens=6, lr=1e-2, torch_num_threads=1)
        .env_runners(num_env_runners=1, num_envs_per_env_runner=4)
        .learners(num_learners=0)
        .debugging(seed=0)
    )


def _learner_adapter(algo):
    return algo.learner_group.get_state(components="learner/rl_module")["learner"]["rl_module"][DEFAULT_MODULE_ID]


def _runner_adapters(algo):
    return algo.env_runner_group.foreach_env_runner(lambda er: er.module.get_state(), local_env_runner=False)


def _runner_pids(algo):
    return algo.env_runner_group.foreach_env_runner(lambda er: os.getpid(), local_env_runner=False)


def test_runner_and_learner_adapters_identical_after_sync(ray_local, tiny_model_dir):
    """Two env runners share an iteration's groups (three groups: one runner plays two), every group
    whole; the learner trains on all of them and both runners end with its adapter."""
    groups = GROUPS + 1
    algo = _config(tiny_model_dir).training(groups_per_iteration=groups).env_runners(num_env_runners=2).build_algo()
    try:
        initial = _learner_adapter(algo)
        tasks = algo.sample_tasks(algo.iteration)
        episodes, _ = algo._sample(tasks)
        assert sorted(e.custom_data["group_id"] for e in episodes) == sorted([t["group_id"] for t in tasks] * G)
        result = algo.train()
        learner = _learner_adapter(algo)
        runners = _runner_adapters(algo)
        assert len(runners) == 2
        for runner in runners:
            assert set(runner) == set(learner)
            for k in learner:
                np.testing.assert_array_equal(runner[k], learner[k])
        assert any(not np.array_equal(initial[k], learner[k]) for k in learner), "the update changed nothing"
        # Only the adapter travels (RLlib's sync_weights ships the module state, which is LoRA-only).
        assert learner and all("lora_" in k for k in learner)
        er = result["env_runners"]
        assert er[NUM_EPISODES] == G * groups and er[M.NUM_GROUPS_SAMPLED] == groups
        assert er[NUM_ENV_STEPS_SAMPLED] == G * groups * TURNS  # one env step = one agent turn
        assert result["learners"][DEFAULT_MODULE_ID][M.NUM_TRAIN_TURNS] == G * groups * TURNS
        for key in (ENV_RUNNER_SAMPLING_TIMER, LEARNER_UPDATE_TIMER, SYNCH_WORKER_WEIGHTS_TIMER):
            assert result["timers"][key] > 0
        assert result["learners"][DEFAULT_MODULE_ID][M.RATIO_MIN] == pytest.approx(1.0, abs=1e-4)
    finally:
        algo.stop()


@pytest.mark.slow  # restarts an actor (reloads the model): 40-90 s on a busy 2-core box
def test_killed_runner_is_restarted_and_training_continues(ray_local, tiny_model_dir):
    import ray

    # 8 episodes x 2 turns at 0.25 s per env step on 4 envs: sampling takes ~1 s or more.
    algo = _config(tiny_model_dir, step_delay_s=0.25).build_algo()
    try:
        algo.train()
        (actor,) = algo.env_runner_group._worker_manager.actors().values()
        (pid_before,) = _runner_pids(algo)

        killed_at: list[float] = []
        killer = threading.Timer(0.5, lambda: (killed_at.append(time.time()), ray.kill(actor, no_restart=False)))
        killer.start()
        result = algo.train()  # the runner dies while sampling
        ended_at = time.time()
        killer.join()
        assert killed_at and killed_at[0] < ended_at, "the kill must land inside the iteration"
        # RLlib's fault tolerance: the dead runner's groups are lost for this iteration (no update),
        # Ray restarts the actor, and the next iteration's restore_env_runners syncs it.
        assert result.get("env_runners", {}).get(M.NUM_GROUPS_SAMPLED, 0) == 0
        # Ray restarts the actor (reloading the model takes a while): the next iteration, finding no healthy
        # runner, waits for restore_env_runners to bring it back (DrugGRPO._await_env_runners, up to
        # env_runner_health_probe_timeout_s) and samples every group, rather than sampling nothing.
        result = algo.train()
        assert algo.env_runner_group.num_healthy_remote_workers() == 1
        assert _runner_pids(algo) != [pid_before]
        # The restarted runner got the learner's adapter, and training goes on.
        assert result["env_runners"][M.NUM_GROUPS_SAMPLED] == GROUPS
        learner = _learner_adapter(algo)
        (runner,) = _runner_adapters(algo)
        for k in learner:
            np.testing.assert_array_equal(runner[k], learner[k])
    finally:
        algo.stop()


@pytest.mark.slow  # three algorithms, each with its runner actor: ~40-60 s
def test_a_resumed_run_replays_the_uninterrupted_one(ray_local, tiny_model_dir, tmp_path):
    """Three iterations straight, against two, a checkpoint, and the third in a fresh algorithm (fresh
    runner process, fresh learner): the third samples the same completions, shuffles the same
    minibatches (two epochs of minibatches of 4 turn rows) and ends at the same adapter.

    The runners take 2 s to load pushed weights, as on a busy machine, so the restored adapter's
    push comes while the build's push is still in flight (RLlib drops such a push)."""
    config = (_config(tiny_model_dir).training(num_epochs=2, minibatch_size=4)
              .env_runners(env_runner_cls=slow_weight_sync_runner(2.0)))

    def third_iteration(algo):
        result = algo.train()
        return ({k: result["env_runners"][k] for k in (EPISODE_RETURN_MEAN, M.COMPLETION_LEN_MEAN)},
                {k: result["learners"][DEFAULT_MODULE_ID][k] for k in (M.LOSS, M.GRAD_NORM)}, _learner_adapter(algo))

    straight = config.build_algo()
    try:
        straight.train()
        straight.train()
        expected = third_iteration(straight)
    finally:
        straight.stop()
    first = config.build_algo()
    try:
        first.train()
        first.train()
        first.save_to_path(str(tmp_path / "ckpt"))
    finally:
        first.stop()
    resumed = config.build_algo()
    try:
        resumed.restore_from_path(str(tmp_path / "ckpt"))
        assert resumed.iteration == 2
        got = third_iteration(resumed)
    finally:
        resumed.stop()
    assert got[0] == expected[0] and got[1] == expected[1]
    assert set(got[2]) == set(expected[2])
    for k in expected[2]:
        np.testing.assert_array_equal(got[2][k], expected[2][k])


@pytest.mark.slow  # two learner actors (DDP over gloo) + the model in the driver: ~60-90 s
def test_two_ddp_learners_stay_identical_without_code_changes(ray_local, tiny_model_dir, tmp_path):
    config = _config(tiny_model_dir).env_runners(num_env_runners=0).learners(num_learners=2, num_cpus_per_learner=1)
    algo = config.build_algo()
    try:
        result = algo.train()
        assert result["learners"][DEFAULT_MODULE_ID][M.RATIO_MIN] == pytest.approx(1.0, abs=1e-4)
        a, b = [r.get() for r in algo.learner_group.foreach_learner(
            lambda lr: lr.module[DEFAULT_MODULE_ID].get_state()).result_or_errors]
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
        local = algo.env_runner_group.local_env_runner.module.get_state()
        for k in a:
            np.testing.assert_array_equal(local[k], a[k])
        # A checkpoint's adapter comes from a learner's module, which DDP wraps: it was silently not written.
        from drugenv.training.grpo_train import export_adapter

        export_adapter(algo, tmp_path / "adapter")
        from safetensors.numpy import load_file

        saved = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
        assert (tmp_path / "adapter" / "adapter_config.json").is_file() and len(saved) == len(a) > 0
        assert sorted(np.asarray(v).sum() for v in saved.values()) == pytest.approx(sorted(np.asarray(v).sum() for v in a.values()))
    finally:
        algo.stop()


def test_shards_for_several_learners_are_never_empty_and_step_alike():
    from drugenv.training.grpo import shard_evenly

    groups = [[[0] * 2] * 4, [[0] * 3] * 4, [[0] * 2] * 4]  # three groups of 4 episodes (2, 3 and 2 turns each)
    assert shard_evenly(groups[:1], 2, 1, None) == ([], {})  # one learner would get none: nothing to share
    assert shard_evenly(groups, 2, 1, None) == (groups[:2], {})
    assert shard_evenly(groups, 2, 3, 4) == (groups[:2], {"num_total_minibatches": 3 * 20 // 8})
    assert shard_evenly(groups[:2], 2, 1, 64) == (groups[:2], {"num_total_minibatches": 1})


@pytest.mark.slow  # two learner actors (DDP over gloo): ~30-60 s
@pytest.mark.timeout(300)  # the failure this guards against is a hang
def test_two_ddp_learners_with_an_odd_number_of_groups_and_minibatches(ray_local, tiny_model_dir):
    """Three groups over two learners split 2/1: with a minibatch size the learners took 6 and 3 steps, and the
    first waited for ever on the second's all-reduce."""
    config = (_config(tiny_model_dir).env_runners(num_env_runners=0).learners(num_learners=2, num_cpus_per_learner=1)
              .training(groups_per_iteration=3, minibatch_size=3, drop_zero_std_groups=False))
    algo = config.build_algo()
    try:
        before = _learner_adapter(algo)
        algo.train()
        a, b = [r.get() for r in algo.learner_group.foreach_learner(
            lambda lr: lr.module[DEFAULT_MODULE_ID].get_state()).result_or_errors]
        for k in a:  # both took the same steps, in step with each other
            np.testing.assert_array_equal(a[k], b[k])
        assert any(not np.array_equal(np.asarray(before[k]), np.asarray(a[k])) for k in a)  # and learned
    finally:
        algo.stop()


def test_user_callback_sees_episodes_and_evaluation_runs_through_rllib(ray_local, tiny_model_dir):
    def on_episode_end(*, episode, metrics_logger, **kwargs):
        # A DrugEnv episode: one timestep per agent turn, the agent's decision and the reward
        # breakdown in custom_data (the toy task has no report: decision None, no breakdown terms).
        metrics_logger.log_value("callback_episodes", 1, reduce="sum")
        metrics_logger.log_value("callback_turns", len(episode), reduce="mean")
        assert {"group_id", "decision", "confidence", "reward_breakdown", "parse_failures"} <= set(episode.custom_data)

    config = (_config(tiny_model_dir).callbacks(on_episode_end=on_episode_end)
              .evaluation(evaluation_interval=1, evaluation_duration=3, evaluation_duration_unit="episodes",
                          evaluation_num_env_runners=0))
    algo = config.build_algo()
    try:
        result = algo.train()
        er = result["env_runners"]
        assert er["callback_episodes"] == G * GROUPS and er["callback_turns"] == TURNS
        ev = result["evaluation"]["env_runners"]
        # Greedy held-out episodes, one per scenario, played by the same runner class and callbacks.
        assert ev[NUM_EPISODES] == 3 and ev["callback_episodes"] == 3
        assert ev[M.REPORT_RATE] == 0.0
    finally:
        algo.stop()


class _Learners:
    """A stand-in learner group: keeps what each update was given."""

    def __init__(self):
        self.calls = []

    def update(self, episodes_refs, **kwargs):
        self.calls.append(episodes_refs)
        return []


def test_training_step_drops_groups_without_signal_and_incomplete_ones(monkeypatch):
    """DAPO's dynamic-sampling filter in DrugGRPO.training_step, without Ray: a group of equal returns
    and a group missing an episode never reach the learner; the metrics count them; an iteration with
    nothing to learn from neither updates nor pushes weights."""
    from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS
    from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

    from drugenv.training import grpo as grpo_mod
    from tests.training.episodes import make_episode

    def group(gid, returns):
        return [make_episode(gid, i, [([1, 2], [3, 4], [-0.5, -0.5], r)]) for i, r in enumerate(returns)]

    pushed = []
    monkeypatch.setattr(grpo_mod, "push_weights", lambda runners, learners: pushed.append(1))
    monkeypatch.setattr(grpo_mod.ray, "put", lambda value: value)

    def step(episodes):
        algo = grpo_mod.DrugGRPO.__new__(grpo_mod.DrugGRPO)
        algo.config = DrugGRPOConfig().training(group_size=3, advantage="episode", loss_type="dapo")
        algo.metrics, algo.learner_group = MetricsLogger(), _Learners()
        algo.env_runner_group = SimpleNamespace(num_remote_env_runners=lambda: 0)  # the local runner samples
        algo.sample_tasks = lambda iteration: []
        algo._sample = lambda tasks: (episodes, [])
        monkeypatch.setattr(grpo_mod.DrugGRPO, "iteration", property(lambda self: 0))
        algo.training_step()
        return algo, algo.metrics.peek(ENV_RUNNER_RESULTS)

    flat, varied, short = group(0, [1.0, 1.0, 1.0]), group(1, [0.0, 1.0, 0.5]), group(2, [0.0, 1.0])
    algo, results = step(flat + varied + short)
    (sent,) = algo.learner_group.calls
    assert [[e.custom_data["group_id"] for e in g] for g in sent] == [[1, 1, 1]]
    assert results[M.NUM_GROUPS_SAMPLED] == 2 and results[M.FRAC_ZERO_STD_GROUPS] == pytest.approx(0.5)
    assert pushed == [1]
    algo, results = step(flat + short)
    assert algo.learner_group.calls == [] and pushed == [1]  # no update, no sync
    assert results[M.FRAC_ZERO_STD_GROUPS] == pytest.approx(1.0)


class _Runners:
    """An ``EnvRunnerGroup`` of two remote runners as ``DrugGRPO`` sees it: ``healthy`` of them healthy; a
    probe (``restore_env_runners``) brings them all back from the ``back_after``-th on; ``die`` runners die
    while sampling (their groups never come back)."""

    def __init__(self, healthy, back_after=None, die=()):
        self.healthy, self.back_after, self.die, self.probes, self.sampled_by = list(healthy), back_after, set(die), 0, []

    def num_remote_env_runners(self):
        return 2

    def num_healthy_remote_workers(self):
        return len(self.healthy)

    def healthy_env_runner_ids(self):
        return list(self.healthy)

    def restore(self):
        self.probes += 1
        if self.back_after is not None and self.probes >= self.back_after and not self.healthy:
            self.healthy = [1, 2]
            return [1, 2]
        return []

    def foreach_env_runner(self, funcs, *, kwargs, remote_worker_ids, **_):
        from tests.training.episodes import make_episode

        self.sampled_by.append(list(remote_worker_ids))
        out = []
        for i, kw in zip(remote_worker_ids, kwargs):
            if i in self.die:  # RLlib leaves a dead runner's call out of the results and marks it unhealthy
                self.healthy.remove(i)
                continue
            out.append(([make_episode(t["group_id"], k, [([1, 2], [3, 4], [-0.5, -0.5], float(k))])
                         for t in kw["tasks"] for k in range(2)], {}))
        return out


def test_an_iteration_without_healthy_env_runners_waits_for_them_and_says_what_it_lost(monkeypatch, capsys):
    """With every env runner dead (killed; RLlib restarts them after a while) an iteration sampled no group,
    trained nothing, logged a row of nulls and the run went on, exit 0, saying nothing: two of six iterations in
    an audit. Now it first waits (bounded) for RLlib to bring a runner back, and an iteration that still lost
    groups says so in one line. Without Ray: a stand-in runner group."""
    from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS
    from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

    from drugenv.training import grpo as grpo_mod

    monkeypatch.setattr(grpo_mod, "push_weights", lambda runners, learners: None)
    monkeypatch.setattr(grpo_mod.ray, "put", lambda value: value)
    monkeypatch.setattr(grpo_mod, "RESTORE_POLL_S", 0.01, raising=False)
    monkeypatch.setattr(grpo_mod.DrugGRPO, "iteration", property(lambda self: 3))

    def step(runners, bound=30.0):
        algo = grpo_mod.DrugGRPO.__new__(grpo_mod.DrugGRPO)
        algo.config = (DrugGRPOConfig().training(group_size=2, groups_per_iteration=2, advantage="episode")
                       .fault_tolerance(env_runner_health_probe_timeout_s=bound))
        algo.metrics, algo.learner_group, algo.env_runner_group = MetricsLogger(), _Learners(), runners
        algo.sample_tasks = lambda iteration: [{"group_id": 0}, {"group_id": 1}]
        algo.restore_env_runners = lambda group: group.restore()
        recreated = []
        algo._make_on_env_runners_recreated_callbacks = lambda **kw: recreated.append(kw["restored_env_runner_indices"])
        t0 = time.monotonic()
        algo.training_step()
        return algo, recreated, time.monotonic() - t0, capsys.readouterr().err.strip().splitlines()

    # Both runners down; RLlib brings them back on the third probe: the iteration waits, then samples and trains.
    runners = _Runners(healthy=[], back_after=3)
    algo, recreated, _, err = step(runners)
    assert runners.probes == 3 and recreated == [[1, 2]] and runners.sampled_by == [[1, 2]]
    assert len(algo.learner_group.calls) == 1 and algo.metrics.peek((ENV_RUNNER_RESULTS, M.NUM_GROUPS_SAMPLED)) == 2
    assert err == ["grpo iteration 4: warning: no env runner is healthy (2 of 2 env runners unhealthy; RLlib is restarting "
                   "them): waiting up to 30 s for one before sampling"]

    # They do not come back within the bound: one line says the iteration trained nothing.
    runners = _Runners(healthy=[])
    algo, recreated, seconds, err = step(runners, bound=0.2)
    assert 0.2 <= seconds < 10 and runners.probes >= 2 and recreated == [] and algo.learner_group.calls == []
    assert err[-1] == ("grpo iteration 4: warning: no episode groups came back (2 of 2 env runners unhealthy; RLlib is "
                       "restarting them): this iteration trained nothing") and len(err) == 2

    # A runner dies while sampling: its group is lost, and the line says so.
    runners = _Runners(healthy=[1, 2], die={2})
    algo, _, _, err = step(runners)
    assert runners.probes == 0 and len(algo.learner_group.calls) == 1
    assert err == ["grpo iteration 4: warning: only 1 of 2 episode groups came back (1 of 2 env runners unhealthy; RLlib "
                   "is restarting them): the others are lost for this iteration"]

    # The normal path: nothing probed, nothing waited for, nothing said.
    runners = _Runners(healthy=[1, 2])
    algo, _, _, err = step(runners)
    assert runners.probes == 0 and runners.sampled_by == [[1, 2]] and len(algo.learner_group.calls) == 1 and err == []
