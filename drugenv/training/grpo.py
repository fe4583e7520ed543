"""``DrugGRPO``: multi-turn LoRA-GRPO as an RLlib ``Algorithm``.

How to run (tiny offline model, CPU)::

    from drugenv.llm.tiny import cached_tiny_model
    from drugenv.training import DrugGRPOConfig

    algo = (DrugGRPOConfig()
            .training(model_name_or_path=str(cached_tiny_model()), group_size=4, groups_per_iteration=2,
                      max_turns=4, max_new_tokens=48, lr=1e-3)
            .env_runners(num_env_runners=1, num_envs_per_env_runner=4)
            .build_algo())
    for _ in range(3):
        print(algo.train()["env_runners"]["env/episode_return_mean"])

Results to expect: a random-init tiny model never emits a parseable action, so on the real
environment every group has equal returns (no signal) until the model is SFT warm-started. From
the heuristic-trajectory SFT start, ``rllib_configs/grpo_tiny_cpu.py`` (turn-level advantages)
raises the held-out greedy return from −0.13 to 0.69 in 20 iterations of ~30 s on 2 CPU cores
(``docs/grpo.md``, "Learning on DrugEnv").
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import ray
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE, DEFAULT_MODULE_ID
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    EPISODE_RETURN_MEAN,
    LEARNER_RESULTS,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES,
    TIMERS,
    WEIGHTS_SEQ_NO,
)

from drugenv.training import metrics as M
from drugenv.training.grpo_config import DrugGRPOConfig
from drugenv.training.losses import ADVANTAGE_MODES, group_advantages, scale_by_std_for, turn_advantages
from drugenv.training.rl_module import (
    ADVANTAGES,
    ATTENTION_MASK,
    COMPLETION_MASK,
    INPUT_IDS,
    OLD_LOGP,
    adapter_nbytes,
)


def build_train_batch(
    episodes: Sequence[Dict[str, Any]],
    group_size: int,
    *,
    loss_type: str,
    pad_token_id: int = 0,
    drop_zero_std_groups: bool = False,
    advantage: str = "episode",
    gamma: float = 1.0,
) -> tuple[Dict[str, np.ndarray], Dict[str, float]]:
    """Turn-level training columns from finished episodes.

    Args:
        episodes: episode dicts from ``DrugEnvRunner.sample``, ordered so that each consecutive
            block of ``group_size`` episodes is one group (same ``group_id``).
        group_size: G.
        loss_type: decides whether advantages are std-scaled (``losses.scale_by_std_for``).
        pad_token_id: id written into padding positions (never attended to, never in the loss).
        drop_zero_std_groups: leave out the turns of groups with no non-zero advantage (equal
            returns for ``"episode"``, equal rewards-to-go turn by turn for ``"turn"``): DAPO's
            dynamic-sampling filter. With ``beta = 0`` they add no
            gradient, only learner time, and dilute the token-mean normaliser. Rollout statistics
            still cover every episode.
        advantage: ``"episode"`` (every turn carries its episode's group-relative advantage,
            ``losses.group_advantages``) or ``"turn"`` (reward-to-go against a per-turn group
            baseline, ``losses.turn_advantages``; turns need their step ``reward``).
        gamma: discount of the reward-to-go for ``advantage="turn"``.

    Returns:
        ``(columns, stats)``: columns as in ``rl_module``'s table (one row per agent turn, each
        carrying its episode's advantage; zero rows when every group was dropped), and
        rollout/advantage statistics.
    """
    if len(episodes) % group_size:
        raise ValueError(f"{len(episodes)} episodes do not form groups of {group_size}.")
    if advantage not in ADVANTAGE_MODES:
        raise ValueError(f"advantage={advantage!r}; valid choices are {list(ADVANTAGE_MODES)}.")
    returns = np.array([e["return"] for e in episodes], dtype=np.float64)
    scale = scale_by_std_for(loss_type)
    if advantage == "episode":
        adv = group_advantages(returns, group_size, scale_by_std=scale)
        per_turn = [np.full(len(e["turns"]), a, dtype=np.float32) for e, a in zip(episodes, adv)]
    else:
        per_turn = turn_advantages([[t["reward"] for t in e["turns"]] for e in episodes], group_size, gamma=gamma,
                                   scale_by_std=scale)
        adv = np.concatenate(per_turn) if per_turn else np.zeros(0)
    groups = returns.reshape(-1, group_size)
    group_std = groups.std(axis=1)
    # A group carries signal when any of its turns has a non-zero advantage.
    signal = np.array([any(a.any() for a in per_turn[g : g + group_size]) for g in range(0, len(episodes), group_size)])
    keep = np.repeat(signal, group_size) if drop_zero_std_groups else np.ones(len(episodes), dtype=bool)
    all_turns = [t for e in episodes for t in e["turns"]]
    turns = [(t, a) for e, advs, k in zip(episodes, per_turn, keep) if k for t, a in zip(e["turns"], advs)]
    p_len = max((len(t["prompt_ids"]) for t, _ in turns), default=1)
    c_len = max(max((len(t["completion_ids"]) for t, _ in turns), default=1), 1)
    n = len(turns)
    input_ids = np.full((n, p_len + c_len), pad_token_id, dtype=np.int64)
    attn = np.zeros((n, p_len + c_len), dtype=np.int64)
    cmask = np.zeros((n, c_len), dtype=np.float32)
    old_logp = np.zeros((n, c_len), dtype=np.float32)
    advantages = np.zeros((n,), dtype=np.float32)
    for i, (t, a) in enumerate(turns):
        p, c = t["prompt_ids"], t["completion_ids"]
        input_ids[i, p_len - len(p) : p_len] = p
        attn[i, p_len - len(p) : p_len] = 1
        input_ids[i, p_len : p_len + len(c)] = c
        attn[i, p_len : p_len + len(c)] = 1
        cmask[i, : len(c)] = 1.0
        old_logp[i, : len(c)] = t["logprobs"]
        advantages[i] = a
    n_turns = max(len(all_turns), 1)
    stats = {
        M.EPISODE_RETURN_MEAN: float(returns.mean()),
        M.EPISODE_RETURN_MIN: float(returns.min()),
        M.EPISODE_RETURN_MAX: float(returns.max()),
        M.EPISODE_LEN_MEAN: float(np.mean([len(e["turns"]) for e in episodes])),
        M.NUM_EPISODES: float(len(episodes)),
        M.NUM_TURNS: float(len(all_turns)),
        M.NUM_TRAIN_TURNS: float(n),
        M.PARSE_FAILURE_RATE: float(sum(e["parse_failures"] for e in episodes) / n_turns),
        M.REPORT_RATE: float(np.mean([bool(e.get("reported")) for e in episodes])),
        M.COMPLETION_LEN_MEAN: float(sum(len(t["completion_ids"]) for t in all_turns) / n_turns),
        M.TRUNCATED_COMPLETION_RATE: float(sum(t["truncated"] for t in all_turns) / n_turns),
        M.ADVANTAGE_ABS_MEAN: float(np.abs(adv).mean()) if len(adv) else 0.0,
        M.FRAC_ZERO_STD_GROUPS: float((~signal).mean()),
        M.GROUP_RETURN_STD_MEAN: float(group_std.mean()),
    }
    columns = {
        INPUT_IDS: input_ids,
        ATTENTION_MASK: attn,
        COMPLETION_MASK: cmask,
        OLD_LOGP: old_logp,
        ADVANTAGES: advantages,
    }
    return columns, stats


class DrugGRPO(Algorithm):
    """Multi-turn LoRA-GRPO on DrugEnv inside RLlib (Tune, checkpoints, fault tolerance for free)."""

    @classmethod
    @override(Algorithm)
    def get_default_config(cls) -> DrugGRPOConfig:
        return DrugGRPOConfig()

    @override(Algorithm)
    def setup(self, config) -> None:
        super().setup(config)
        self._pad_token_id = 0
        self.last_adapter_bytes = 0

    # ----------------------------------------------------------------------------- training step

    @override(Algorithm)
    def training_step(self) -> None:
        """One GRPO iteration. Phases, each timed under ``timers/``:

        1. rollout: sample ``groups_per_iteration`` scenario seeds; the env-runner actors play
           ``group_size`` episodes per seed with the current adapter (lost groups are retried);
        2. advantages: group-relative advantages from episode returns, one token-level row per
           agent turn;
        3. learner: ``LearnerGroup.update`` (``num_epochs`` passes, ``minibatch_size`` rows);
        4. sync: push the LoRA adapter weights from the learner to every env runner.
        """
        cfg: DrugGRPOConfig = self.config
        with self.metrics.log_time((TIMERS, M.TIMER_ROLLOUT), reduce="mean", window=1):
            tasks = self.sample_tasks(self.iteration)
            episodes, runner_timers = self._rollout(tasks)

        with self.metrics.log_time((TIMERS, M.TIMER_ADVANTAGES), reduce="mean", window=1):
            columns, stats = build_train_batch(
                episodes, cfg.group_size, loss_type=cfg.loss_type, pad_token_id=self._pad_token_id,
                drop_zero_std_groups=cfg.drop_zero_std_groups, advantage=cfg.advantage, gamma=cfg.gamma,
            )
            batch = MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(columns)}, env_steps=len(columns[ADVANTAGES]))
        self._log_rollout_stats(stats, runner_timers)
        if not len(columns[ADVANTAGES]):
            # Every group had equal returns: no advantage anywhere, nothing to learn from (and the
            # adapter is unchanged, so there is nothing to sync).
            return

        with self.metrics.log_time((TIMERS, M.TIMER_LEARNER), reduce="mean", window=1):
            results = self.learner_group.update(
                batch=batch,
                num_epochs=cfg.num_epochs,
                minibatch_size=cfg.minibatch_size,
                shuffle_batch_per_epoch=cfg.minibatch_size is not None,
                timesteps={
                    NUM_ENV_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
                        (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0
                    )
                },
            )
            self.metrics.aggregate(results, key=LEARNER_RESULTS)

        with self.metrics.log_time((TIMERS, M.TIMER_SYNC), reduce="mean", window=1):
            self.sync_adapter_weights()

    # --------------------------------------------------------------------------------- rollouts

    def sample_tasks(self, iteration: int) -> List[Dict[str, Any]]:
        """The scenario seeds of one iteration: ``[{"group_id", "reset_kwargs"}, ...]``.

        Deterministic in ``(config.seed, iteration)``, so a resumed run sees the same scenarios.
        """
        cfg: DrugGRPOConfig = self.config
        n = cfg.groups_per_iteration
        base = 0 if cfg.seed is None else int(cfg.seed)
        if cfg.scenario_sampler is not None:
            rng = np.random.default_rng([base, iteration])
            resets = list(cfg.scenario_sampler(rng, iteration, n))
        else:
            difficulty = cfg.difficulty(iteration) if callable(cfg.difficulty) else cfg.difficulty
            if cfg.scenario_suite is None:
                rng = np.random.default_rng([base, iteration])
                resets = [{"seed": int(s)} for s in rng.integers(0, 2**31 - 1, size=n)]
            else:
                from drugenv.scenarios import suite_episodes

                if cfg.scenario_pool:
                    pool = suite_episodes(cfg.scenario_suite, cfg.scenario_pool, seed=base * 1_000_003)
                    rng = np.random.default_rng([base, iteration])
                    # A whole pass over the pool before any repeat within an iteration.
                    order = np.concatenate([rng.permutation(len(pool)) for _ in range(-(-n // len(pool)))])
                    pairs = [pool[i] for i in order[:n]]
                else:
                    pairs = suite_episodes(cfg.scenario_suite, n, seed=base * 1_000_003 + iteration * n)
                resets = [{"scenario": sc, "seed": int(s)} for sc, s in pairs]
            if difficulty is not None:
                for r in resets:
                    r["difficulty"] = difficulty
        if len(resets) != n:
            raise ValueError(f"scenario_sampler returned {len(resets)} reset dicts, expected groups_per_iteration={n}.")
        return [{"group_id": i, "reset_kwargs": r} for i, r in enumerate(resets)]

    def _rollout(self, tasks: List[Dict[str, Any]]) -> tuple[List[Dict[str, Any]], Dict[str, float]]:
        cfg: DrugGRPOConfig = self.config
        pending = {t["group_id"]: t for t in tasks}
        by_group: Dict[int, List[Dict[str, Any]]] = {}
        timers: Dict[str, float] = {"generate_s": 0.0, "env_s": 0.0}
        retried = 0
        for attempt in range(cfg.sample_attempts):
            if attempt:
                retried += len(pending)
                self._wait_for_healthy_runners()
            for res in self._dispatch(list(pending.values())):
                for key in ("generate_s", "env_s"):
                    timers[key] = max(timers[key], res["timers"][key])
                for ep in res["episodes"]:
                    by_group.setdefault(ep["group_id"], []).append(ep)
            for gid in list(pending):
                if len(by_group.get(gid, [])) >= cfg.group_size:
                    pending.pop(gid)
                else:
                    by_group.pop(gid, None)
            if not pending:
                break
        if pending:
            raise RuntimeError(
                f"Groups {sorted(pending)} were not sampled after {cfg.sample_attempts} attempts; "
                "env runners keep failing (see their logs) or sample_attempts is too low."
            )
        self.metrics.log_value((ENV_RUNNER_RESULTS, M.NUM_GROUPS_RETRIED), retried, reduce="sum")
        episodes = [ep for gid in sorted(by_group) for ep in sorted(by_group[gid], key=lambda e: e["index"])]
        return episodes, timers

    def _dispatch(self, tasks: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        group = self.env_runner_group
        if group.num_remote_env_runners() == 0:
            return [group.local_env_runner.sample(tasks=tasks)]
        ids = group.healthy_env_runner_ids()
        if not ids:
            return []
        chunks = [tasks[i :: len(ids)] for i in range(len(ids))]
        ids, chunks = zip(*[(i, c) for i, c in zip(ids, chunks) if c])
        return group.foreach_env_runner(
            "sample",
            kwargs=[{"tasks": c} for c in chunks],
            remote_worker_ids=list(ids),
            local_env_runner=False,
        )

    def _wait_for_healthy_runners(self) -> None:
        deadline = time.monotonic() + self.config.env_runner_restart_wait_s
        while time.monotonic() < deadline:
            self.restore_env_runners(self.env_runner_group)
            if self.env_runner_group.healthy_env_runner_ids():
                return
            time.sleep(1.0)

    def _log_rollout_stats(self, stats: Dict[str, float], runner_timers: Dict[str, float]) -> None:
        for key, value in stats.items():
            self.metrics.log_value((ENV_RUNNER_RESULTS, key), value, window=1)
        self.metrics.log_value((ENV_RUNNER_RESULTS, EPISODE_RETURN_MEAN), stats[M.EPISODE_RETURN_MEAN], window=1)
        self.metrics.log_value((ENV_RUNNER_RESULTS, NUM_EPISODES), stats[M.NUM_EPISODES], window=1)
        self.metrics.log_value(
            (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), int(stats[M.NUM_TURNS]), reduce="lifetime_sum"
        )
        for key, value in runner_timers.items():
            self.metrics.log_value((TIMERS, f"rollout_{key}"), value, window=1)

    # ------------------------------------------------------------------------------ weight sync

    def sync_adapter_weights(self, to_worker_indices: Optional[List[int]] = None) -> int:
        """Broadcast the learner's LoRA adapter to the env runners and wait until applied.

        Mirrors ``EnvRunnerGroup.sync_weights`` (learner state → one ``ray.put`` → ``set_state``
        on each runner), but blocks so the next rollout and the sync timer see applied weights.
        Only the adapter travels (``DrugLLMRLModule.get_state``). Returns the bytes sent.
        """
        state = self.learner_group.get_state(
            components=COMPONENT_LEARNER + "/" + COMPONENT_RL_MODULE, inference_only=True
        )[COMPONENT_LEARNER]
        state = {k: v for k, v in state.items() if k in (COMPONENT_RL_MODULE, WEIGHTS_SEQ_NO)}
        nbytes = adapter_nbytes(state[COMPONENT_RL_MODULE][DEFAULT_MODULE_ID])
        group = self.env_runner_group
        if group.num_remote_env_runners():
            ref = ray.put(state)
            group.foreach_env_runner(
                "set_state",
                kwargs={"state": ref},
                remote_worker_ids=to_worker_indices,
                local_env_runner=False,
            )
        if group.local_env_runner is not None and to_worker_indices is None:
            group.local_env_runner.set_state(state)
        self.last_adapter_bytes = nbytes
        self.metrics.log_value(M.ADAPTER_BYTES, nbytes, window=1)
        return nbytes

    @override(Algorithm)
    def restore_env_runners(self, env_runner_group) -> List[int]:
        """Bring restarted env runners back and give them the current adapter."""
        restored = env_runner_group.probe_unhealthy_env_runners()
        if restored:
            self._counters["total_num_restored_workers"] += len(restored)
            self.sync_adapter_weights(to_worker_indices=list(restored))
        return list(restored or [])


__all__ = ["DrugGRPO", "DrugGRPOConfig", "build_train_batch"]
