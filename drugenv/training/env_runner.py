"""``DrugEnvRunner``: an RLlib EnvRunner that plays DrugEnv episodes with the LLM policy.

Each runner actor holds K environments (``num_envs_per_env_runner``), in-process
(``DrugTargetEnvironment``) or remote sessions of a DrugEnv server (``env_url``), and one sampling
copy of the policy (``DrugLLMRLModule``: base model + LoRA adapter). ``sample(tasks=...)`` plays
``group_size`` episodes per task (one task = one scenario seed) with the K environments in
lockstep: every step renders the prompts of all running episodes, generates their completions in
one batch, parses and steps each environment, and refills finished slots from the queue.

Every DrugEnv episode comes back as one RLlib ``SingleAgentEpisode`` whose timesteps are the
agent's turns, recorded token-in/token-out: the observation is the prompt ids given to
``generate``, the action the completion ids it sampled, ``extra_model_outputs`` their behaviour
log-probs. Nothing is re-tokenised later. The learner connector
(``drugenv.training.connectors.GroupRelativeAdvantages``) turns the episodes into training rows.
Rollout metrics go through RLlib's ``MetricsLogger`` (``get_metrics``) and user callbacks
(``config.callbacks(on_episode_end=...)``) see every finished episode.
"""

from __future__ import annotations

import importlib
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Protocol, Tuple

import gymnasium as gym
import numpy as np
import ray
from ray.rllib.callbacks.utils import make_callback
from ray.rllib.core import COMPONENT_RL_MODULE, DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.env import INPUT_ENV_SINGLE_SPACES, INPUT_ENV_SPACES
from ray.rllib.env.env_runner import EnvRunner
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils import force_list
from ray.rllib.utils.annotations import override
from ray.rllib.utils.checkpoints import Checkpointable
from ray.rllib.utils.metrics import (
    EPISODE_LEN_MEAN,
    EPISODE_RETURN_MAX,
    EPISODE_RETURN_MEAN,
    EPISODE_RETURN_MIN,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES,
    NUM_EPISODES_LIFETIME,
    WEIGHTS_SEQ_NO,
)

from drugenv.llm.prompts import DEFAULT_MAX_PROMPT_TOKENS
from drugenv.training import metrics as M

COMPLETION_LOGP = "completion_logp"
"""``extra_model_outputs`` key: the behaviour log-prob of each completion token (float32, ragged)."""
COMPLETION_TRUNCATED = "completion_truncated"
"""``extra_model_outputs`` key: True when the completion hit ``max_new_tokens`` without a stop token."""


class AgentIO(Protocol):
    """How the policy sees observations and how its text becomes an action.

    ``prompt_ids`` returns the chat-templated prompt token ids (generation prompt included);
    ``to_action`` returns ``(action for env.step, parsed_ok)``.
    """

    def prompt_ids(self, tokenizer: Any, observation: Any) -> List[int]: ...

    def to_action(self, text: str) -> Tuple[Any, bool]: ...


class ChatAgentIO:
    """The evaluation agent's prompts and parser (``drugenv.llm``): one ``[system, user]`` prompt
    per turn (the dossier is the memory) and ``parse_action``; unparseable text reaches the
    environment as its ``__unparseable__`` action (blocked and penalised there)."""

    def __init__(self, max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS):
        self.max_prompt_tokens = max_prompt_tokens

    def prompt_ids(self, tokenizer: Any, observation: Any) -> List[int]:
        from drugenv.llm.prompts import build_messages, prompt_token_ids

        msgs = build_messages(observation, tokenizer=tokenizer, max_prompt_tokens=self.max_prompt_tokens)
        return prompt_token_ids(tokenizer, msgs)

    def to_action(self, text: str) -> Tuple[Any, bool]:
        from drugenv.llm.parsing import is_valid, parse_action, to_env_action

        result = parse_action(text)
        return to_env_action(result), is_valid(result)


def _load_object(spec: Any) -> Any:
    """A class/callable, or ``"package.module:Name"`` imported."""
    if isinstance(spec, str):
        mod, _, name = spec.partition(":")
        return getattr(importlib.import_module(mod), name)
    return spec


def token_space(vocab_size: int) -> gym.spaces.Sequence:
    """A variable-length sequence of token ids: the observation (the rendered prompt) and the action
    (the sampled completion) of one agent turn."""
    return gym.spaces.Sequence(gym.spaces.Discrete(int(vocab_size)))


def _training_start(start: int, n: int) -> int:
    """``start`` folded into the seeds training may draw (``TRAINING_SEEDS_END``), ``n`` of them in a
    row: every run seed trains on train-split scenarios, never on the held-out selection ranges
    (seed 0 is unchanged: ``base * 1_000_003`` left the train split for every other seed)."""
    from drugenv.scenarios.procedural import TRAINING_SEEDS_END

    return start % (TRAINING_SEEDS_END - n)


def group_tasks(config: Any, iteration: int) -> List[Dict[str, Any]]:
    """The scenario seeds of one training iteration: ``[{"group_id", "reset_kwargs"}, ...]``.

    Deterministic in ``(config.seed, iteration)``, so a resumed run sees the same scenarios. The
    G episodes of a group all start from ``env.reset(**reset_kwargs)``. Each task also carries its
    ``sampling_seed(seed, iteration, group_id)``: the runner that plays it samples completions from
    those seeds, not from its process's random state.
    """
    n = config.groups_per_iteration
    base = 0 if config.seed is None else int(config.seed)
    if config.scenario_sampler is not None:
        rng = np.random.default_rng([base, iteration])
        resets = list(config.scenario_sampler(rng, iteration, n))
    else:
        difficulty = config.difficulty(iteration) if callable(config.difficulty) else config.difficulty
        tiers: List[Optional[str]] = [difficulty] * n
        if config.curriculum is not None:
            from drugenv.scenarios.curriculum import Curriculum, CurriculumSpec

            cur = Curriculum(CurriculumSpec.parse(config.curriculum), episodes=iteration * n * int(config.group_size))
            tier_rng = np.random.default_rng([base, iteration, 1])
            tiers = [cur.sample(tier_rng) for _ in range(n)]
        if config.scenario_suite is None:  # the environment's own choice of world, from the seeds training may draw
            from drugenv.scenarios.procedural import TRAINING_SEEDS_END

            rng = np.random.default_rng([base, iteration])
            resets = [{"seed": int(s)} for s in rng.integers(0, TRAINING_SEEDS_END, size=n)]
        else:
            from drugenv.scenarios import suite_episodes

            if config.scenario_pool:
                pool = suite_episodes(config.scenario_suite, config.scenario_pool, seed=_training_start(base, config.scenario_pool))
                rng = np.random.default_rng([base, iteration])
                # A whole pass over the pool before any repeat within an iteration.
                order = np.concatenate([rng.permutation(len(pool)) for _ in range(-(-n // len(pool)))])
                pairs = [pool[i] for i in order[:n]]
            else:
                pairs = suite_episodes(config.scenario_suite, n, seed=_training_start(base * 1_000_003 + iteration * n, n))
            resets = [{"scenario": sc, "seed": int(s)} for sc, s in pairs]
        for r, tier in zip(resets, tiers):
            if tier is not None:
                r["difficulty"] = tier
    if len(resets) != n:
        raise ValueError(f"scenario_sampler returned {len(resets)} reset dicts, expected groups_per_iteration={n}.")
    return [{"group_id": i, "reset_kwargs": r, "sampling_seed": sampling_seed(base, iteration, i)}
            for i, r in enumerate(resets)]


def sampling_seed(base: int, iteration: int, group_id: int) -> int:
    """The seed group ``group_id`` of training iteration ``iteration`` is sampled with (64 bits).

    Why not the runner's own random state: it would carry on from whatever that process sampled
    before, so a run resumed from a checkpoint (fresh runner processes, seeded as at the start) or a
    runner RLlib restarted after a failure would sample other completions than the run that never
    stopped. Drawn from the run seed, the iteration and the group alone, a resumed run replays the
    uninterrupted one exactly (``tests/training/test_algorithm.py``).
    """
    # The trailing word keeps this stream apart from group_tasks' scenario draws, which hash
    # [base, iteration] and [base, iteration, 1].
    words = np.random.SeedSequence([base, iteration, group_id, 2]).generate_state(2, np.uint32)
    return int(words[0]) | int(words[1]) << 32


@contextmanager
def seeded_sampling(tasks: List[Dict[str, Any]], device: Any) -> Iterator[None]:
    """torch's random state for one ``sample`` call: drawn from the tasks' ``sampling_seed`` s, and put
    back afterwards (the process's own stream is left as it was). Tasks without one (a caller's own)
    sample from the process's stream, as before."""
    seeds = [t.get("sampling_seed") for t in tasks]
    if not seeds or any(s is None for s in seeds):
        yield
        return
    import torch

    words = np.random.SeedSequence([int(s) for s in seeds]).generate_state(2, np.uint32)
    dev = torch.device(device)
    cuda = [torch.cuda.current_device() if dev.index is None else dev.index] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(int(words[0]) | int(words[1]) << 32)
        yield


@dataclass
class _Slot:
    """One environment's running episode."""

    episode: SingleAgentEpisode
    obs: Any
    prompt: List[int]
    turn_rewards: Dict[str, float] = field(default_factory=dict)


def evaluation_offset(worker_index: int, num_episodes: int, config: Any) -> int:
    """Where evaluation runner ``worker_index`` (1-based) starts in the held-out suite, given that it
    was asked for ``num_episodes``. RLlib splits ``evaluation_duration`` N over W runners unevenly (the
    first N % W get one more), so runner i starts after ``(i-1)·(N // W) + min(i-1, N % W)`` episodes;
    ``(i-1)·num_episodes`` played one episode twice and skipped another when W does not divide N."""
    i = max(0, worker_index - 1)
    total, runners = config.evaluation_duration, config.evaluation_num_env_runners
    if isinstance(total, int) and not isinstance(total, bool) and runners and config.evaluation_duration_unit == "episodes":
        return i * (total // runners) + min(i, total % runners)
    return i * num_episodes  # "auto" or timesteps: each runner's share is what it was asked for


class DrugEnvRunner(EnvRunner, Checkpointable):
    """Plays groups of DrugEnv episodes with the current LoRA policy (see module docstring)."""

    def __init__(self, *, config, **kwargs):
        super().__init__(config=config, **kwargs)
        if self.config.torch_num_threads:
            import torch

            torch.set_num_threads(int(self.config.torch_num_threads))
        self.worker_index = kwargs.get("worker_index", 0)
        self._weights_seq_no = 0
        self._sample_calls = 0
        self.envs: List[Any] = []
        self.make_env()
        self.make_module()
        if self.config.agent_io is None:
            self.agent_io: AgentIO = ChatAgentIO(self.config.max_prompt_tokens)
        else:
            io = _load_object(self.config.agent_io)
            self.agent_io = io() if isinstance(io, type) else io
        self._callbacks = [cls() for cls in force_list(self.config.callbacks_class)]

    # ------------------------------------------------------------------------------ construction

    @override(EnvRunner)
    def make_env(self) -> None:
        for env in self.envs:
            try:
                env.close()
            except Exception:  # noqa: BLE001 - closing a broken env must not stop a rebuild
                pass
        k = max(1, int(self.config.num_envs_per_env_runner))
        env_config = dict(self.config.env_config or {})
        if self.config.env_url:
            from drugenv.evaluation.remote_env import RemoteEnvironment

            # A refused action is an error here (the runner only sends parsed or __unparseable__ actions).
            self.envs = [RemoteEnvironment(self.config.env_url, refused_as_violation=False) for _ in range(k)]
        elif self.config.env is not None:
            env_cls = _load_object(self.config.env)
            self.envs = [env_cls(**env_config) for _ in range(k)]
        else:
            from drugenv.simulator.environment import DrugTargetEnvironment
            from drugenv.simulator.params import SimParams

            # The runner stops an episode after max_turns; the environment's own step cap is set to
            # the same number so a stopped episode ends as a truncation (no-report penalty), exactly
            # as evaluation's ``max_steps`` does. Otherwise never reporting would look free in training.
            if "sim_params" not in env_config:
                env_config["sim_params"] = SimParams(max_steps=min(SimParams().max_steps, int(self.config.max_turns)))
            self.envs = [DrugTargetEnvironment(reward_config=self.config.reward_config, **env_config) for _ in range(k)]
        self.env = self.envs

    @override(EnvRunner)
    def make_module(self) -> None:
        from transformers import AutoTokenizer

        from drugenv.training.model_files import model_on_this_node

        self.tokenizer = AutoTokenizer.from_pretrained(model_on_this_node(self.config.model_name_or_path),
                                                       trust_remote_code=False)
        self._space = token_space(len(self.tokenizer))
        spec = self.config.get_rl_module_spec(spaces=self.get_spaces(), inference_only=True)
        self.module = spec.build()
        self.module.to(self.config.device)
        self.module.eval()
        from drugenv.llm.stopping import stop_token_ids

        self.eos_token_ids = stop_token_ids(self.tokenizer, self.module.lm)  # the evaluation sampler's rule too
        eos = self.tokenizer.eos_token_id
        self.pad_token_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos

    @override(EnvRunner)
    def assert_healthy(self) -> None:
        assert self.envs and hasattr(self, "module"), "DrugEnvRunner was not fully constructed."

    @override(EnvRunner)
    def get_spaces(self) -> Dict[str, Any]:
        spaces = (self._space, self._space)
        return {INPUT_ENV_SPACES: spaces, INPUT_ENV_SINGLE_SPACES: spaces, DEFAULT_MODULE_ID: spaces}

    # ---------------------------------------------------------------------------------- sampling

    @override(EnvRunner)
    def sample(
        self,
        *,
        tasks: Optional[List[Dict[str, Any]]] = None,
        num_episodes: Optional[int] = None,
        num_timesteps: Optional[int] = None,
        explore: Optional[bool] = None,
        group_size: Optional[int] = None,
        **kwargs,
    ) -> List[SingleAgentEpisode]:
        """Play ``group_size`` episodes for each task, K environments in lockstep.

        Args:
            tasks: ``[{"group_id": int, "reset_kwargs": {...}, "sampling_seed": int}, ...]``; all G
                episodes of a task start from ``env.reset(**reset_kwargs)`` (same scenario and seed);
                with every task's ``sampling_seed`` given (``group_tasks`` gives them), completions
                are sampled from those seeds alone, else from the process's torch stream. None: when
                exploring, one iteration's groups from ``group_tasks`` counted by this runner's own
                ``sample`` calls (for a runner used on its own; ``DrugGRPO`` always passes tasks, so
                several runners never draw the same groups); when not (RLlib's
                evaluation calls ``sample(num_episodes=...)`` with ``explore=False`` in the
                evaluation config), the first ``num_episodes`` held-out episodes of
                ``scenario_suite`` (``evaluation_seed``), one per task, offset by the runner index
                so parallel evaluation runners play different episodes.
            num_episodes / num_timesteps: the evaluation duration (timesteps are turns; the
                runner plays whole episodes, ``ceil(num_timesteps / max_turns)`` of them).
            explore: sample at ``temperature`` (True) or greedily (False); default
                ``config.explore``.
            group_size: G (default: ``config.group_size``; 1 when not exploring).

        Returns:
            One ``SingleAgentEpisode`` per DrugEnv episode, ordered by ``(group_id, index)``:
            observations are the prompt token ids of each turn (the final one empty), actions
            the sampled completion ids, ``extra_model_outputs`` the per-token behaviour log-probs
            (``COMPLETION_LOGP``), their sum (``action_logp``) and whether the completion hit
            ``max_new_tokens`` (``COMPLETION_TRUNCATED``); ``custom_data`` holds ``group_id``,
            ``index``, ``reported``, ``parse_failures``, the agent's ``decision`` and
            ``confidence`` (None without a report) and the summed ``reward_breakdown``.
        """
        explore = self.config.explore if explore is None else bool(explore)
        if tasks is None:
            if explore:
                tasks = group_tasks(self.config, self._sample_calls)
            else:
                tasks = self._evaluation_tasks(num_episodes, num_timesteps)
        g = int(group_size or (self.config.group_size if explore else 1))
        self._sample_calls += 1
        queue = deque((t["group_id"], i, dict(t.get("reset_kwargs") or {})) for t in tasks for i in range(g))
        slots: List[Optional[_Slot]] = [None] * len(self.envs)
        finished: List[SingleAgentEpisode] = []
        t_gen = t_env = 0.0

        def refill(k: int) -> None:
            nonlocal t_env
            slots[k] = None
            if queue:
                group_id, index, reset_kwargs = queue.popleft()
                t0 = time.perf_counter()
                obs = self.envs[k].reset(**reset_kwargs)
                t_env += time.perf_counter() - t0
                ep = SingleAgentEpisode(observation_space=self._space, action_space=self._space)
                ep.custom_data.update(group_id=group_id, index=index, parse_failures=0, reported=False,
                                      decision=None, confidence=None)
                prompt = self.agent_io.prompt_ids(self.tokenizer, obs)
                ep.add_env_reset(observation=np.asarray(prompt, dtype=np.int64), infos={"reset_kwargs": reset_kwargs})
                make_callback("on_episode_start", callbacks_objects=self._callbacks,
                              callbacks_functions=self.config.callbacks_on_episode_start,
                              kwargs=dict(episode=ep, env_runner=self, metrics_logger=self.metrics,
                                          env=self.envs[k], env_index=k, rl_module=self.module))
                slots[k] = _Slot(ep, obs, prompt)

        # Completions are drawn from the tasks' own seeds (``seeded_sampling``), so what a runner
        # samples does not depend on what its process sampled before.
        with seeded_sampling(tasks, self.config.device):
            for k in range(len(self.envs)):
                refill(k)
            while any(s is not None for s in slots):
                active = [k for k, s in enumerate(slots) if s is not None]
                prompts = [slots[k].prompt for k in active]
                t0 = time.perf_counter()
                comps, logps, truncs = self.module.generate(
                    prompts,
                    max_new_tokens=self.config.max_new_tokens,
                    eos_token_id=self.eos_token_ids,
                    pad_token_id=self.pad_token_id,
                    temperature=None if explore else 0.0,  # None: the module's training temperature; 0: greedy
                )
                t_gen += time.perf_counter() - t0
                for k, c, lp, tr in zip(active, comps, logps, truncs):
                    slot = slots[k]
                    ep = slot.episode
                    text = self.tokenizer.decode(c, skip_special_tokens=True)
                    action, ok = self.agent_io.to_action(text)
                    ep.custom_data["parse_failures"] += int(not ok)
                    t1 = time.perf_counter()
                    obs = self.envs[k].step(action)
                    t_env += time.perf_counter() - t1
                    reward = float(obs.reward or 0.0)
                    done = bool(obs.done)
                    capped = not done and len(ep) + 1 >= self.config.max_turns
                    for key, value in (getattr(obs, "step_reward_breakdown", None) or {}).items():
                        slot.turn_rewards[key] = slot.turn_rewards.get(key, 0.0) + float(value)
                    slot.prompt = [] if (done or capped) else self.agent_io.prompt_ids(self.tokenizer, obs)
                    slot.obs = obs
                    ep.add_env_step(
                        observation=np.asarray(slot.prompt, dtype=np.int64),
                        action=np.asarray(c, dtype=np.int64),
                        reward=reward,
                        infos={"parsed": ok},
                        terminated=done,
                        truncated=capped,
                        extra_model_outputs={
                            COMPLETION_LOGP: np.asarray(lp, dtype=np.float32),
                            Columns.ACTION_LOGP: np.float32(sum(lp)),
                            COMPLETION_TRUNCATED: bool(tr),
                        },
                    )
                    self.metrics.log_value(M.PARSE_FAILURE_RATE, float(not ok), reduce="mean")
                    self.metrics.log_value(M.COMPLETION_LEN_MEAN, len(c), reduce="mean")
                    self.metrics.log_value(M.TRUNCATED_COMPLETION_RATE, float(tr), reduce="mean")
                    if done or capped:
                        self._finish(k, slot, action, finished, explore)
                        refill(k)
        finished.sort(key=lambda e: (e.custom_data["group_id"], e.custom_data["index"]))
        steps = sum(len(e) for e in finished)
        self.metrics.log_value(NUM_ENV_STEPS_SAMPLED, steps, reduce="sum")
        self.metrics.log_value(NUM_ENV_STEPS_SAMPLED_LIFETIME, steps, reduce="lifetime_sum")
        self.metrics.log_value(NUM_EPISODES, len(finished), reduce="sum")
        self.metrics.log_value(NUM_EPISODES_LIFETIME, len(finished), reduce="lifetime_sum")
        self.metrics.log_value(M.GENERATE_S, t_gen, reduce="sum")
        self.metrics.log_value(M.ENV_S, t_env, reduce="sum")
        self.num_env_steps_sampled_lifetime += steps
        return finished

    def _finish(self, k: int, slot: _Slot, action: Any, finished: List[SingleAgentEpisode], explore: bool) -> None:
        """Close one episode: its public summary in ``custom_data``, metrics, ``on_episode_end``."""
        ep, obs = slot.episode, slot.obs
        # Public termination reason (the toy env has no metadata: never "reported").
        reported = (getattr(obs, "metadata", None) or {}).get("termination_reason") == "report_submitted"
        ep.custom_data.update(
            reported=reported,
            decision=getattr(action, "final_decision", None) if reported else None,
            confidence=getattr(action, "confidence", None) if reported else None,
            reward_breakdown=dict(slot.turn_rewards),
        )
        ret = float(ep.get_return())
        self.metrics.log_value(EPISODE_RETURN_MEAN, ret, reduce="mean")
        self.metrics.log_value(EPISODE_RETURN_MIN, ret, reduce="min")
        self.metrics.log_value(EPISODE_RETURN_MAX, ret, reduce="max")
        self.metrics.log_value(EPISODE_LEN_MEAN, len(ep), reduce="mean")
        self.metrics.log_value(M.REPORT_RATE, float(reported), reduce="mean")
        outcome = getattr(self.envs[k], "outcome", None)
        if not explore and outcome is not None:
            # Held-out evaluation only: the documented end-of-episode channel is scored with
            # evaluation's own metric definitions, for people; nothing of it enters the episode.
            from drugenv.evaluation.metrics import EpisodeRecord, summarize
            from drugenv.simulator.reward import terminal_reward

            out = outcome()
            record = EpisodeRecord(
                scenario="", seed=0, difficulty=out.difficulty, decision=out.decision, confidence=out.confidence,
                correct_decision=out.correct_decision, episode_return=ret,
                terminal_reward=terminal_reward(slot.turn_rewards),
                coverage=out.key_evidence_coverage, credits_used=out.credits_used, steps=out.steps, violations=0,
                termination=out.termination_reason)
            for key, value in summarize([record]).items():
                if key in M.HELDOUT_EPISODE_MEANS:
                    self.metrics.log_value(key, value, reduce="mean")
        make_callback("on_episode_end", callbacks_objects=self._callbacks,
                      callbacks_functions=self.config.callbacks_on_episode_end,
                      kwargs=dict(episode=ep, env_runner=self, metrics_logger=self.metrics,
                                  env=self.envs[k], env_index=k, rl_module=self.module))
        finished.append(ep)

    def _evaluation_tasks(self, num_episodes: Optional[int], num_timesteps: Optional[int]) -> List[Dict[str, Any]]:
        from drugenv.scenarios import suite_episodes

        if num_episodes is None:
            num_episodes = -(-int(num_timesteps or self.config.max_turns) // int(self.config.max_turns))
        n = int(num_episodes)
        offset = evaluation_offset(int(self.worker_index), n, self.config)
        if self.config.scenario_suite is None:
            return [{"group_id": i, "reset_kwargs": {"seed": int(self.config.evaluation_seed) + offset + i}} for i in range(n)]
        pairs = suite_episodes(self.config.scenario_suite, offset + n, int(self.config.evaluation_seed))[offset:]
        return [{"group_id": i, "reset_kwargs": {"scenario": sc, "seed": int(s)}} for i, (sc, s) in enumerate(pairs)]

    @override(EnvRunner)
    def get_metrics(self) -> Dict[str, Any]:
        return self.metrics.reduce()

    # ------------------------------------------------------------------------------ state / sync

    @override(Checkpointable)
    def get_state(self, components=None, *, not_components=None, **kwargs) -> Dict[str, Any]:
        state: Dict[str, Any] = {}
        if self._check_component(COMPONENT_RL_MODULE, components, not_components):
            state[COMPONENT_RL_MODULE] = self.module.get_state()
            state[WEIGHTS_SEQ_NO] = self._weights_seq_no
        return state

    @override(Checkpointable)
    def set_state(self, state: Dict[str, Any]) -> None:
        """Load adapter weights pushed by the learner (connector states, if any, are ignored)."""
        if COMPONENT_RL_MODULE not in state:
            return
        seq_no = state.get(WEIGHTS_SEQ_NO, 0)
        if seq_no == 0 or self._weights_seq_no < seq_no:
            t0 = time.perf_counter()
            module_state = state[COMPONENT_RL_MODULE]
            if isinstance(module_state, ray.ObjectRef):
                module_state = ray.get(module_state)
            if isinstance(module_state, dict) and DEFAULT_MODULE_ID in module_state:
                module_state = module_state[DEFAULT_MODULE_ID]
            self.module.set_state(module_state)
            self.metrics.log_value(M.SET_STATE_S, time.perf_counter() - t0, reduce="mean")
        if seq_no > 0:
            self._weights_seq_no = seq_no

    @override(Checkpointable)
    def get_ctor_args_and_kwargs(self):
        return (), {"config": self.config}

    @override(Checkpointable)
    def get_checkpointable_components(self):
        return [(COMPONENT_RL_MODULE, self.module)]

    @override(EnvRunner)
    def stop(self) -> None:
        for env in self.envs:
            try:
                env.close()
            except Exception:  # noqa: BLE001
                pass


__all__ = ["AgentIO", "COMPLETION_LOGP", "COMPLETION_TRUNCATED", "ChatAgentIO", "DrugEnvRunner", "group_tasks", "sampling_seed",
           "seeded_sampling", "token_space"]
