"""``DrugEnvRunner``: an RLlib EnvRunner that plays DrugEnv episodes with the LLM policy.

Each runner actor holds K environments (``num_envs_per_env_runner``), in-process
(``DrugTargetEnvironment``) or remote sessions of a DrugEnv server (``env_url``), and one sampling
copy of the policy (``DrugLLMRLModule``: base model + LoRA adapter). ``sample(tasks=...)`` plays
``group_size`` episodes per task (one task = one scenario seed) with the K environments in
lockstep: every step renders the prompts of all running episodes, generates their completions in
one batch, parses and steps each environment, and refills finished slots from the queue.

Every agent turn is recorded token-in/token-out: the prompt ids given to ``generate``, the
completion ids it sampled and their behaviour log-probs. Nothing is re-tokenised later.
"""

from __future__ import annotations

import importlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Protocol, Tuple

import ray
from ray.rllib.core import COMPONENT_RL_MODULE, DEFAULT_MODULE_ID
from ray.rllib.env import INPUT_ENV_SPACES, INPUT_ENV_SINGLE_SPACES
from ray.rllib.env.env_runner import EnvRunner
from ray.rllib.utils.annotations import override
from ray.rllib.utils.checkpoints import Checkpointable
from ray.rllib.utils.metrics import WEIGHTS_SEQ_NO


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

    def __init__(self, max_prompt_tokens: int = 2048):
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


class _RemoteEnv:
    """Adapter from the DrugEnv HTTP/WS client to the in-process ``reset``/``step`` interface."""

    def __init__(self, url: str):
        from drugenv.client import DrugTargetEnv

        self._client = DrugTargetEnv(base_url=url)

    @staticmethod
    def _obs(result: Any) -> Any:
        obs = getattr(result, "observation", result)
        for name in ("reward", "done"):
            if getattr(obs, name, None) is None and getattr(result, name, None) is not None:
                setattr(obs, name, getattr(result, name))
        return obs

    def reset(self, **kwargs: Any) -> Any:
        return self._obs(self._client.reset(**kwargs))

    def step(self, action: Any) -> Any:
        return self._obs(self._client.step(action))

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            close()


@dataclass
class _Episode:
    group_id: int
    index: int
    reset_kwargs: Dict[str, Any]
    ret: float = 0.0
    turns: List[Dict[str, Any]] = field(default_factory=list)
    parse_failures: int = 0
    obs: Any = None
    done: bool = False
    reported: bool = False

    def to_dict(self) -> Dict[str, Any]:
        return {
            "group_id": self.group_id,
            "index": self.index,
            "return": self.ret,
            "turns": self.turns,
            "parse_failures": self.parse_failures,
            "terminated": self.done,
            "reported": self.reported,
        }


class DrugEnvRunner(EnvRunner, Checkpointable):
    """Plays groups of DrugEnv episodes with the current LoRA policy (see module docstring)."""

    def __init__(self, *, config, **kwargs):
        super().__init__(config=config, **kwargs)
        if self.config.torch_num_threads:
            import torch

            torch.set_num_threads(int(self.config.torch_num_threads))
        self.worker_index = kwargs.get("worker_index", 0)
        self._weights_seq_no = 0
        self._last_set_state_s = 0.0
        self.envs: List[Any] = []
        self.make_env()
        self.make_module()
        if self.config.agent_io is None:
            self.agent_io: AgentIO = ChatAgentIO(self.config.max_prompt_tokens)
        else:
            io = _load_object(self.config.agent_io)
            self.agent_io = io() if isinstance(io, type) else io

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
            self.envs = [_RemoteEnv(self.config.env_url) for _ in range(k)]
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

        spec = self.config.get_rl_module_spec(inference_only=True)
        self.module = spec.build()
        self.module.to(self.config.device)
        self.module.eval()
        self.tokenizer = AutoTokenizer.from_pretrained(self.config.model_name_or_path)
        from drugenv.llm.stopping import stop_token_ids

        self.eos_token_ids = stop_token_ids(self.tokenizer, self.module.lm)  # the evaluation sampler's rule too
        eos = self.tokenizer.eos_token_id
        self.pad_token_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos

    @override(EnvRunner)
    def assert_healthy(self) -> None:
        assert self.envs and hasattr(self, "module"), "DrugEnvRunner was not fully constructed."

    @override(EnvRunner)
    def get_spaces(self) -> Dict[str, Any]:
        spaces = (self.config.observation_space, self.config.action_space)
        return {INPUT_ENV_SPACES: spaces, INPUT_ENV_SINGLE_SPACES: spaces, DEFAULT_MODULE_ID: spaces}

    # ---------------------------------------------------------------------------------- sampling

    @override(EnvRunner)
    def sample(self, *, tasks: List[Dict[str, Any]], group_size: Optional[int] = None, **kwargs) -> Dict[str, Any]:
        """Play ``group_size`` episodes for each task, K environments in lockstep.

        Args:
            tasks: ``[{"group_id": int, "reset_kwargs": {...}}, ...]``; all G episodes of a task
                start from ``env.reset(**reset_kwargs)`` (same scenario and seed).
            group_size: G (default: ``config.group_size``).

        Returns:
            ``{"worker_index", "weights_seq_no", "episodes": [episode dicts], "timers": {...}}``;
            an episode dict has ``group_id``, ``index``, ``return``, ``turns`` (each turn:
            ``prompt_ids``, ``completion_ids``, ``logprobs``, ``truncated``, ``reward``), ``parse_failures``,
            ``terminated`` and ``reported`` (ended by a submitted report).
        """
        g = int(group_size or self.config.group_size)
        queue = deque(_Episode(t["group_id"], i, dict(t.get("reset_kwargs") or {})) for t in tasks for i in range(g))
        slots: List[Optional[_Episode]] = [None] * len(self.envs)
        finished: List[_Episode] = []
        t_gen = t_env = 0.0

        def refill(k: int) -> None:
            nonlocal t_env
            slots[k] = None
            if queue:
                ep = queue.popleft()
                t0 = time.perf_counter()
                ep.obs = self.envs[k].reset(**ep.reset_kwargs)
                t_env += time.perf_counter() - t0
                slots[k] = ep

        for k in range(len(self.envs)):
            refill(k)
        while any(s is not None for s in slots):
            active = [k for k, s in enumerate(slots) if s is not None]
            prompts = [self.agent_io.prompt_ids(self.tokenizer, slots[k].obs) for k in active]
            t0 = time.perf_counter()
            comps, logps, truncs = self.module.generate(
                prompts,
                max_new_tokens=self.config.max_new_tokens,
                eos_token_id=self.eos_token_ids,
                pad_token_id=self.pad_token_id,
            )
            t_gen += time.perf_counter() - t0
            for k, p, c, lp, tr in zip(active, prompts, comps, logps, truncs):
                ep = slots[k]
                text = self.tokenizer.decode(c, skip_special_tokens=True)
                action, ok = self.agent_io.to_action(text)
                ep.parse_failures += int(not ok)
                ep.turns.append({"prompt_ids": list(p), "completion_ids": c, "logprobs": lp, "truncated": tr})
                t1 = time.perf_counter()
                ep.obs = self.envs[k].step(action)
                t_env += time.perf_counter() - t1
                reward = float(ep.obs.reward or 0.0)
                ep.ret += reward
                ep.turns[-1]["reward"] = reward
                ep.done = bool(ep.obs.done)
                # Public termination reason (the toy env has no metadata: never "reported").
                ep.reported = (getattr(ep.obs, "metadata", None) or {}).get("termination_reason") == "report_submitted"
                if ep.done or len(ep.turns) >= self.config.max_turns:
                    finished.append(ep)
                    refill(k)
        n_turns = sum(len(e.turns) for e in finished)
        self.num_env_steps_sampled_lifetime += n_turns
        finished.sort(key=lambda e: (e.group_id, e.index))
        return {
            "worker_index": self.worker_index,
            "weights_seq_no": self._weights_seq_no,
            "episodes": [e.to_dict() for e in finished],
            "timers": {"generate_s": t_gen, "env_s": t_env, "last_set_state_s": self._last_set_state_s},
        }

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
            self._last_set_state_s = time.perf_counter() - t0
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


__all__ = ["AgentIO", "ChatAgentIO", "DrugEnvRunner"]
