"""``DrugGRPO``: multi-turn LoRA-GRPO as an RLlib ``Algorithm``.

How to run (tiny offline model, CPU)::

    from drugenv.llm.tiny import cached_tiny_model
    from drugenv.training import DrugGRPOConfig
    from drugenv.training.configs import init_ray

    init_ray(num_cpus=2)  # a fresh loopback Ray (build_algo alone joins any cluster left running on the machine)
    algo = (DrugGRPOConfig()
            .training(model_name_or_path=str(cached_tiny_model()), group_size=4, groups_per_iteration=2,
                      max_turns=4, max_new_tokens=48, lr=1e-3)
            .env_runners(num_env_runners=1, num_envs_per_env_runner=4)
            .build_algo())
    for _ in range(3):
        print(algo.train()["env_runners"]["episode_return_mean"])

Results to expect: a random-init tiny model never emits a parseable action, so on the real
environment every group has equal returns (no signal) until the model is SFT warm-started. From
the heuristic-trajectory SFT start, ``rllib_configs/grpo_tiny_cpu.py`` (turn-level advantages)
raises the held-out greedy return from −0.13 to 0.69 in 20 iterations of ~30 s on 2 CPU cores
(``docs/grpo.md``, "Learning on DrugEnv").
"""

from __future__ import annotations

import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import ray
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)

from drugenv.training import metrics as M
from drugenv.training.connectors import by_group, has_signal
from drugenv.training.env_runner import group_tasks
from drugenv.training.grpo_config import DrugGRPOConfig
from drugenv.training.model_files import share_model

RESTORE_POLL_S = 1.0
"""Seconds between tries to bring env runners back while none is healthy (``DrugGRPO._await_env_runners``)."""


class DrugGRPO(Algorithm):
    """Multi-turn LoRA-GRPO on DrugEnv inside RLlib (Tune, checkpoints, fault tolerance for free)."""

    @classmethod
    @override(Algorithm)
    def get_default_config(cls) -> DrugGRPOConfig:
        return DrugGRPOConfig()

    @override(Algorithm)
    def setup(self, config: DrugGRPOConfig) -> None:
        # Before any learner or env runner starts: on a cluster, the nodes without the model's folder fetch it.
        share_model(config.model_name_or_path)
        try:
            super().setup(config)
        except IndexError:
            # RLlib, told to restart failed env runners, only logs why each one failed to start, then fails on
            # its own IndexError reading the spaces of a runner that is not there: raise the first runner's error.
            group = getattr(self, "env_runner_group", None)
            actors = list(group._worker_manager.actors().values()) if group is not None else []
            if not actors or group.num_healthy_remote_workers() > 0:
                raise
            try:
                ray.get(actors[0].__ray_ready__.remote())
            except ray.exceptions.RayActorError as e:
                raise RuntimeError(f"no env runner started; the first one's error: {e}") from None
            raise

    @override(Algorithm)
    def training_step(self) -> None:
        """One GRPO iteration: PPO's three phases, each timed under RLlib's ``timers/`` names (this
        iteration's seconds, ``window=1``, not RLlib's smoothed default).

        1. sample (``env_runner_sampling_timer``): ``groups_per_iteration`` scenario seeds
           (``group_tasks``) spread over the healthy env runners (``foreach_env_runner``); each
           plays ``group_size`` episodes per seed and returns ``SingleAgentEpisode`` s and its
           ``MetricsLogger`` results. A runner that dies loses its groups for this iteration;
           RLlib restarts it (``restart_failed_env_runners``) and ``restore_env_runners`` gives it
           the current adapter before the next one. With no healthy runner at all the iteration
           first waits for one (``_await_env_runners``, at most about
           ``env_runner_health_probe_timeout_s``); an iteration that lost groups says so on stderr
           in one line (``_warn_lost_groups``), since its row shows only fewer groups (none: no
           losses). Groups whose turns all have zero advantage
           are dropped here (DAPO's dynamic-sampling filter; they add no gradient).
        2. learn (``learner_update_timer``): ``learner_group.update(episodes_refs=...)``, one
           reference per group (a group never splits across learners); the learner connector
           (``GroupRelativeAdvantages``) computes advantages and pads the turn rows.
        3. sync (``synch_weights``): ``push_weights`` (RLlib's ``sync_weights``, delivery ensured)
           pushes the LoRA adapter.
        """
        cfg: DrugGRPOConfig = self.config
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER), reduce="mean", window=1):
            self._await_env_runners()
            tasks = self.sample_tasks(self.iteration)
            episodes, runner_metrics = self._sample(tasks)
            self.metrics.aggregate(runner_metrics, key=ENV_RUNNER_RESULTS)
            groups = [g for g in by_group(episodes) if len(g) == cfg.group_size]
            self._warn_lost_groups(len(groups), len(tasks))
            informative = [g for g in groups
                           if has_signal(g, advantage=cfg.advantage, loss_type=cfg.loss_type, gamma=cfg.gamma)]
            self.metrics.log_value((ENV_RUNNER_RESULTS, M.NUM_GROUPS_SAMPLED), len(groups), reduce="sum")
            if groups:
                self.metrics.log_value((ENV_RUNNER_RESULTS, M.FRAC_ZERO_STD_GROUPS),
                                       1.0 - len(informative) / len(groups), window=1)
                self.metrics.log_value((ENV_RUNNER_RESULTS, M.GROUP_RETURN_STD_MEAN),
                                       float(sum(_return_std(g) for g in groups) / len(groups)), window=1)
            train_groups = informative if cfg.drop_zero_std_groups else groups
        update_kwargs: Dict[str, Any] = {}
        if cfg.num_learners > 1:
            train_groups, update_kwargs = shard_evenly(train_groups, cfg.num_learners, cfg.num_epochs, cfg.minibatch_size)
        if not train_groups:
            # No runner came back, or every group had equal returns: nothing to learn from (and
            # the adapter is unchanged, so there is nothing to sync).
            return

        with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER), reduce="mean", window=1):
            results = self.learner_group.update(
                episodes_refs=[ray.put(g) for g in train_groups],
                num_epochs=cfg.num_epochs,
                minibatch_size=cfg.minibatch_size,
                shuffle_batch_per_epoch=cfg.minibatch_size is not None,
                timesteps={
                    NUM_ENV_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
                        (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0
                    ),
                    M.TRAINING_ITERATION: self.iteration,  # the learner's minibatch shuffle is seeded by it
                },
                **update_kwargs,
            )
            self.metrics.aggregate(results, key=LEARNER_RESULTS)

        with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER), reduce="mean", window=1):
            push_weights(self.env_runner_group, self.learner_group)

    @override(Algorithm)
    def restore_from_path(self, path, *args, **kwargs) -> None:
        """RLlib's restore, then the restored adapter pushed so that it surely arrives: RLlib's own
        push comes right after the build's and is dropped if that one is still in flight."""
        super().restore_from_path(path, *args, **kwargs)
        for group in (self.env_runner_group, self.eval_env_runner_group):
            if group is not None and group.num_remote_env_runners():
                push_weights(group, self.learner_group)

    def sample_tasks(self, iteration: int) -> List[Dict[str, Any]]:
        """The scenario seeds of one iteration (``env_runner.group_tasks``)."""
        return group_tasks(self.config, iteration)

    def _runners_down(self) -> str:
        """``"U of M env runners unhealthy"`` ("" without remote runners: the local one samples)."""
        group = self.env_runner_group
        total = group.num_remote_env_runners()
        return f"{total - group.num_healthy_remote_workers()} of {total} env runners unhealthy" if total else ""

    def _await_env_runners(self) -> None:
        """With remote env runners and none healthy (all died, e.g. killed, and Ray is restarting them), wait for
        RLlib to bring one back before sampling: ``restore_env_runners`` (which probes the unhealthy runners and
        gives the restored ones the current adapter, as RLlib does before each step) every ``RESTORE_POLL_S``
        until one is healthy or ``env_runner_health_probe_timeout_s`` has passed (each probe may take up to that
        long itself). Without it the iteration sampled nothing, its row read ``num_groups_sampled`` 0, and the run
        went on as if nothing happened (an audit killed both runners of a run: the iteration after the kill sampled
        nothing too, RLlib's own probe before the step had not brought them back). Nothing is drawn from any
        random stream, and with a healthy runner nothing is done at all."""
        group = self.env_runner_group
        if group.num_remote_env_runners() == 0 or group.num_healthy_remote_workers() > 0:
            return
        bound = float(self.config.env_runner_health_probe_timeout_s)
        print(f"grpo iteration {self.iteration + 1}: warning: no env runner is healthy ({self._runners_down()}; RLlib is "
              f"restarting them): waiting up to {bound:.0f} s for one before sampling", file=sys.stderr, flush=True)
        deadline = time.monotonic() + bound
        while True:
            restored = self.restore_env_runners(group)
            if restored:
                self._make_on_env_runners_recreated_callbacks(config=self.config, env_runner_group=group,
                                                              restored_env_runner_indices=restored)
            left = deadline - time.monotonic()
            if group.num_healthy_remote_workers() > 0 or left <= 0:
                return
            time.sleep(min(RESTORE_POLL_S, left))

    def _warn_lost_groups(self, came_back: int, asked: int) -> None:
        """One line on stderr when fewer episode groups came back than were asked for (runners died while
        sampling): the row shows it only as a smaller ``num_groups_sampled``, null metrics when none came back."""
        if came_back >= asked:
            return
        down = self._runners_down()
        why = f" ({down}; RLlib is restarting them)" if down else ""
        what = ("no episode groups came back" + why + ": this iteration trained nothing" if came_back == 0 else
                f"only {came_back} of {asked} episode groups came back{why}: the others are lost for this iteration")
        print(f"grpo iteration {self.iteration + 1}: warning: {what}", file=sys.stderr, flush=True)

    def _sample(self, tasks: List[Dict[str, Any]]) -> tuple[list, list]:
        """Episodes (ordered by group, then index) and per-runner metrics, from every healthy runner."""
        group = self.env_runner_group
        if group.num_remote_env_runners() == 0:
            runner = group.local_env_runner
            results = [(runner.sample(tasks=tasks), runner.get_metrics())]
        else:
            ids = group.healthy_env_runner_ids()
            chunks = [(i, tasks[j :: len(ids)]) for j, i in enumerate(ids)]
            chunks = [(i, c) for i, c in chunks if c]
            play = lambda runner, tasks: (runner.sample(tasks=tasks), runner.get_metrics())  # noqa: E731
            results = group.foreach_env_runner(
                [play] * len(chunks),
                kwargs=[{"tasks": c} for _, c in chunks],
                remote_worker_ids=[i for i, _ in chunks],
                local_env_runner=False,
                timeout_seconds=self.config.sample_timeout_s,
            ) if chunks else []
        episodes = sorted((e for eps, _ in results for e in eps),
                          key=lambda e: (e.custom_data["group_id"], e.custom_data["index"]))
        return episodes, [m for _, m in results]


def shard_evenly(groups: List[Any], num_learners: int, num_epochs: int,
                 minibatch_size: Optional[int]) -> tuple[List[Any], Dict[str, Any]]:
    """The groups several DDP learners can share, and the update's extra arguments.

    RLlib hands each learner a contiguous run of the group references (``ShardObjectRefIterator``): with
    fewer groups than learners some get none, and an empty batch fails that learner's update while DDP
    waits on it; and with a ``minibatch_size`` a learner with more turn rows takes more gradient steps than
    the others, whose all-reduce then never comes (RLlib fixes the count, ``num_total_minibatches``, only
    for plain episodes). So a multiple of ``num_learners`` groups is kept (the rest, the last in group
    order, sit this iteration out), and with a minibatch size every learner takes the same number of
    steps, RLlib's own count for episodes: ``num_epochs * turns / (num_learners * minibatch_size)``."""
    kept = groups[: len(groups) // num_learners * num_learners]
    if minibatch_size is None or not kept:
        return kept, {}
    turns = sum(len(episode) for group in kept for episode in group)
    return kept, {"num_total_minibatches": max(1, num_epochs * turns // (num_learners * minibatch_size))}


def push_weights(group: Any, learner_group: Any) -> None:
    """Send the learner group's weights to every healthy runner of ``group``, before its next sample.

    RLlib's ``sync_weights`` is fire-and-forget (``timeout_seconds=0``) and skips a runner whose
    previous ``set_state`` is still in flight (``max_requests_in_flight_per_env_runner`` is 1):
    that runner then samples with older weights, silently. This happened on a busy 2-core machine
    after ``--resume``: RLlib's push of the restored adapter came right behind the build's, and
    the first resumed iteration sampled with the initial adapter. Waiting for the earlier pushes
    first (``timeout_seconds=None``) makes room for this one, and a runner runs its calls in order,
    so the push lands before the next sample.
    """
    group.sync_weights(from_worker_or_learner_group=learner_group, inference_only=True, timeout_seconds=None)


def _return_std(group: Sequence[Any]) -> float:
    return float(np.std([ep.get_return() for ep in group]))


__all__ = ["DrugGRPO", "DrugGRPOConfig", "push_weights", "shard_evenly"]
