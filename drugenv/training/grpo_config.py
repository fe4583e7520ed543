"""``DrugGRPOConfig``: every knob of multi-turn LoRA-GRPO on DrugEnv, in RLlib's AlgorithmConfig style.

Example (tiny local model, one env-runner actor, learner in the driver)::

    from drugenv.training.configs import init_ray

    init_ray(num_cpus=2)  # a fresh loopback Ray (build_algo alone joins any cluster left running on the machine)
    config = (
        DrugGRPOConfig()
        .training(model_name_or_path="path/to/tiny-qwen", group_size=4, groups_per_iteration=2,
                  max_turns=4, max_new_tokens=48, loss_type="dapo", lr=1e-3)
        .env_runners(num_env_runners=1, num_envs_per_env_runner=4)
        .learners(num_learners=0)
    )
    algo = config.build_algo()
    result = algo.train()
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
import textwrap

from typing import Any, Callable, Dict, List, Optional, Sequence, Type, Union

import numpy as np
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override

from drugenv.llm.prompts import DEFAULT_MAX_PROMPT_TOKENS
from drugenv.training.losses import ADVANTAGE_MODES, LOSS_TYPES


@functools.lru_cache(maxsize=1)
def nullable_training_keys() -> frozenset[str]:
    """The ``training()`` settings ``DrugGRPOConfig`` declares as taking None (``self.X: Optional[...]``
    in its ``__init__``): read from its annotations, so ``drugenv train --set training.X=null`` follows them."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(DrugGRPOConfig.__init__)))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Attribute):
            ann = ast.unparse(node.annotation)
            if ann.startswith("Optional[") or (ann.startswith("Union[") and "None" in ann):
                out.add(node.target.attr)
    return frozenset(out)


class DrugGRPOConfig(AlgorithmConfig):
    """Configuration of ``DrugGRPO`` (multi-turn LoRA-GRPO).

    Defaults are sized for a CPU smoke run; raise ``group_size``, ``groups_per_iteration`` and the
    model for real training. ``validate()`` raises ``ValueError`` naming the clashing values.
    """

    def __init__(self, algo_class=None):
        from drugenv.training.grpo import DrugGRPO

        super().__init__(algo_class=algo_class or DrugGRPO)

        # Model and adapter.
        self.model_name_or_path: Optional[str] = None
        self.lora_r = 8
        self.lora_alpha = 16
        self.lora_dropout = 0.0
        self.lora_target_modules: List[str] = ["q_proj", "v_proj"]
        self.dtype = "float32"
        self.device = "cpu"
        self.gradient_checkpointing = False
        self.torch_num_threads: Optional[int] = None
        self.learner_torch_num_threads: Optional[int] = None

        # Rollouts.
        self.group_size = 4
        self.groups_per_iteration = 2
        self.scenario_suite: Optional[str] = "procedural-train"
        self.difficulty: Union[None, str, Callable[[int], Optional[str]]] = None
        self.scenario_sampler: Optional[Callable[[np.random.Generator, int, int], List[Dict[str, Any]]]] = None
        self.scenario_pool: Optional[int] = None
        self.curriculum: Optional[Any] = None
        self.temperature = 1.0
        self.max_new_tokens = 64
        self.max_turns = 8
        self.max_prompt_tokens = DEFAULT_MAX_PROMPT_TOKENS
        self.reward_config: Optional[Any] = None
        self.env_url: Optional[str] = None
        self.agent_io: Optional[Union[str, type]] = None
        self.drop_zero_std_groups = True
        self.advantage = "episode"
        self.gamma = 1.0  # RLlib's knob (default 0.99 there); only advantage="turn" uses it
        self.evaluation_seed = 0

        # Loss and optimisation.
        self.loss_type = "dapo"
        self.epsilon = 0.2
        self.epsilon_high: Optional[float] = 0.28
        self.beta = 0.0
        self.weight_decay = 0.0
        self.lr = 1e-5
        self.num_epochs = 1
        self.minibatch_size: Optional[int] = None
        self.grad_clip = 1.0
        self.grad_clip_by = "global_norm"

        # RLlib plumbing: our own runner class, our own learner, no local env runner (the
        # driver holds the learner; runners hold the sampling copies). The spaces (token-id
        # sequences) come from the runners' tokenizer (``DrugEnvRunner.get_spaces``). RLlib's
        # default learner connectors are off: the advantage connector pads ragged turns itself.
        from drugenv.training.env_runner import DrugEnvRunner

        self.env_runner_cls = DrugEnvRunner
        self.create_local_env_runner = False
        self.num_env_runners = 1
        self.add_default_connectors_to_learner_pipeline = False
        self.restart_failed_env_runners = True
        self.delay_between_env_runner_restarts_s = 1.0  # RLlib's 60 s would stall a small run
        self.env_runner_health_probe_timeout_s = 60.0
        self.sample_timeout_s = None

    @override(AlgorithmConfig)
    def training(
        self,
        *,
        model_name_or_path: Optional[str] = NotProvided,
        lora_r: Optional[int] = NotProvided,
        lora_alpha: Optional[int] = NotProvided,
        lora_dropout: Optional[float] = NotProvided,
        lora_target_modules: Optional[Sequence[str]] = NotProvided,
        dtype: Optional[str] = NotProvided,
        device: Optional[str] = NotProvided,
        gradient_checkpointing: Optional[bool] = NotProvided,
        torch_num_threads: Optional[int] = NotProvided,
        learner_torch_num_threads: Optional[int] = NotProvided,
        group_size: Optional[int] = NotProvided,
        groups_per_iteration: Optional[int] = NotProvided,
        scenario_suite: Optional[str] = NotProvided,
        difficulty: Union[None, str, Callable[[int], Optional[str]]] = NotProvided,
        scenario_sampler: Optional[Callable] = NotProvided,
        scenario_pool: Optional[int] = NotProvided,
        curriculum: Optional[Any] = NotProvided,
        temperature: Optional[float] = NotProvided,
        max_new_tokens: Optional[int] = NotProvided,
        max_turns: Optional[int] = NotProvided,
        max_prompt_tokens: Optional[int] = NotProvided,
        reward_config: Optional[Any] = NotProvided,
        env_url: Optional[str] = NotProvided,
        agent_io: Optional[Union[str, type]] = NotProvided,
        drop_zero_std_groups: Optional[bool] = NotProvided,
        advantage: Optional[str] = NotProvided,
        loss_type: Optional[str] = NotProvided,
        epsilon: Optional[float] = NotProvided,
        epsilon_high: Optional[float] = NotProvided,
        beta: Optional[float] = NotProvided,
        weight_decay: Optional[float] = NotProvided,
        **kwargs,
    ) -> "DrugGRPOConfig":
        """Sets the GRPO training configuration.

        Args:
            model_name_or_path: local directory (or hub id, online only) of a causal LM and its
                tokenizer; the base weights stay frozen. Required.
            lora_r: LoRA rank r. Adapter size grows linearly in r.
            lora_alpha: LoRA scaling α (the update is scaled by α / r).
            lora_dropout: dropout on the LoRA input. Must be 0 for exact on-policy ratios
                (ratio == 1 on the first epoch); > 0 makes the learner's log-probs noisy.
            lora_target_modules: module names that get adapters, e.g. ``["q_proj", "v_proj"]``.
            dtype: ``"float32"`` (CPU default) | ``"bfloat16"`` | ``"float16"``.
            device: device of the env runners' sampling copy (``"cpu"`` or ``"cuda"``). The
                learner's device follows ``.learners(num_gpus_per_learner=...)``.
            gradient_checkpointing: recompute activations in the learner backward pass.
            torch_num_threads: ``torch.set_num_threads`` in each env runner (and the learner,
                unless ``learner_torch_num_threads`` is set); None keeps torch's default. On a
                shared CPU box use 1: with 2 intra-op threads a learner update measured 4-7 s vs
                0.7-0.9 s with 1 under heavy contention.
            learner_torch_num_threads: ``torch.set_num_threads`` in the learner; None: as
                ``torch_num_threads``. Sampling and learning take turns (``DrugGRPO.training_step``),
                so while a local learner (``num_learners=0``) updates, the env runners wait and it
                can use every core: on 2 cores, 2 threads halve the tiny model's update.
            group_size: G, episodes played per scenario seed (the GRPO group). ≥ 2, since a
                single episode has zero group-relative advantage.
            groups_per_iteration: scenario seeds per training iteration; the batch holds
                ``group_size * groups_per_iteration`` episodes and all their turns.
            scenario_suite: scenario suite passed to ``env.reset(scenario=...)``, one of
                ``drugenv.scenarios.SUITES`` (train on ``"procedural-train"``); None lets the
                environment choose.
            difficulty: ``env.reset(difficulty=...)``: None, a fixed level, or a curriculum
                ``f(iteration) -> level``.
            scenario_sampler: ``f(rng, iteration, n) -> [reset_kwargs, ...]`` replacing the
                default sampler (seeds drawn from ``rng``, plus suite and difficulty above).
            scenario_pool: draw each iteration's scenario seeds from a fixed pool of this many
                ``scenario_suite`` episodes instead of fresh ones (None). With a pool of
                ``groups_per_iteration`` the policy meets the same scenarios every iteration: a
                learning check (can it improve where it has been?) rather than generalisation.
            curriculum: difficulty tiers over training (``drugenv.scenarios.curriculum``): a
                ``CurriculumSpec``, its dict (``{"kind": "easy_to_hard", "schedule_episodes": 400}``)
                or a kind name; each group's tier is drawn from it (overrides ``difficulty``).
                ``fixed``, ``mixed`` and ``easy_to_hard`` (its schedule counts the episodes played,
                ``iteration * groups_per_iteration * group_size``); ``adaptive`` needs per-episode
                feedback that a group's scenario choice cannot wait for, and is refused.
            temperature: sampling temperature τ; the learner divides logits by the same τ.
            max_new_tokens: token budget of one agent turn (``L_max`` in Dr. GRPO).
            max_turns: agent turns per episode before the runner stops it (truncation). For
                in-process environments it is also the environment's step cap, so a stopped
                episode pays the no-report penalty as in evaluation with ``max_steps``.
            max_prompt_tokens: token budget of one rendered prompt (system + observation);
                ``drugenv.llm.prompts.build_messages`` compacts the observation to fit.
            reward_config: passed to ``DrugTargetEnvironment(reward_config=...)``.
            env_url: base URL of a DrugEnv server; when set, runners step remote sessions
                (``drugenv.evaluation.remote_env.RemoteEnvironment``) instead of in-process
                environments. The server's own step cap and reward apply, and it must accept
                malformed actions as violations (``drugenv serve-env --no-strict-actions``).
            agent_io: class (or ``"module:Class"``) turning observations into prompt token
                ids and completion text into actions; None uses ``drugenv.llm`` prompts/parsing.
            drop_zero_std_groups: leave groups with no non-zero advantage (equal returns for
                ``advantage="episode"``, equal rewards-to-go turn by turn for ``"turn"``) out of
                the learner batch (DAPO's dynamic-sampling filter, without resampling): with
                ``beta = 0`` they only cost learner time. An iteration where
                every group is constant skips the update (``reward/num_train_turns`` = 0).
            advantage: ``"episode"``: every turn of an episode carries the episode's
                group-relative advantage (outcome supervision); ``"turn"``: each turn gets its
                discounted reward-to-go minus the mean reward-to-go of the group's episodes at the
                same turn index (``losses.turn_advantages``), so a turn's own step reward (an
                unparseable action's penalty, a new dimension's bonus) weighs on that turn.
            gamma: (RLlib's own keyword, through ``**kwargs``) discount of the reward-to-go for
                ``advantage="turn"``, in ``(0, 1]``; default 1 here. ``"episode"`` ignores it.
            loss_type: ``"grpo"`` (per-turn length normalisation, Shao et al. 2024),
                ``"dr_grpo"`` (no std scaling, constant normaliser; arXiv 2503.20783) or
                ``"dapo"`` (token-level mean; arXiv 2503.14476).
            epsilon: lower clip range ε; ratios below ``1 - ε`` are clipped for negative advantages.
            epsilon_high: upper clip range ε_high (DAPO clip-higher, 0.28); None means ε.
            beta: KL coefficient β against the reference (base model, adapter disabled);
                0 skips the reference forward pass.
            weight_decay: AdamW weight decay on the adapter.
            **kwargs: forwarded to ``AlgorithmConfig.training`` (``lr``, ``num_epochs`` (μ),
                ``minibatch_size`` (turn samples per gradient step, None = whole batch),
                ``grad_clip``, ...).

        Returns:
            This updated config.
        """
        super().training(**kwargs)
        for name, value in dict(
            model_name_or_path=model_name_or_path, lora_r=lora_r, lora_alpha=lora_alpha,
            lora_dropout=lora_dropout, dtype=dtype, device=device,
            gradient_checkpointing=gradient_checkpointing, torch_num_threads=torch_num_threads,
            learner_torch_num_threads=learner_torch_num_threads,
            group_size=group_size,
            groups_per_iteration=groups_per_iteration, scenario_suite=scenario_suite,
            difficulty=difficulty, scenario_sampler=scenario_sampler, scenario_pool=scenario_pool,
            curriculum=curriculum,
            temperature=temperature,
            max_new_tokens=max_new_tokens, max_turns=max_turns,
            max_prompt_tokens=max_prompt_tokens, reward_config=reward_config,
            env_url=env_url, agent_io=agent_io,
            drop_zero_std_groups=drop_zero_std_groups, advantage=advantage,
            loss_type=loss_type, epsilon=epsilon, epsilon_high=epsilon_high, beta=beta,
            weight_decay=weight_decay,
        ).items():
            if value is not NotProvided:
                setattr(self, name, value)
        if lora_target_modules is not NotProvided:
            self.lora_target_modules = list(lora_target_modules)
        return self

    @override(AlgorithmConfig)
    def evaluation(
        self,
        *,
        evaluation_suite: Optional[str] = NotProvided,
        evaluation_seed: Optional[int] = NotProvided,
        **kwargs,
    ) -> "DrugGRPOConfig":
        """Sets RLlib's evaluation settings, plus where DrugEnv's held-out evaluation plays.

        Evaluation runs through RLlib (``Algorithm.evaluate``, every ``evaluation_interval``
        iterations, results under ``evaluation/env_runners/``): the evaluation runners play the
        first ``evaluation_duration`` episodes of ``evaluation_suite`` greedily (one episode per
        scenario, ``explore=False``) and log the per-episode means of ``drugenv.evaluation.metrics``
        (``training.metrics.HELDOUT_EPISODE_MEANS``: decision accuracy, Brier, ...) beside the
        return, report rate and parse-failure rate (``docs/grpo.md``, "Metrics").

        Args:
            evaluation_suite: scenario suite of the held-out episodes (e.g. ``"procedural-test"``);
                sets ``scenario_suite`` in ``evaluation_config``.
            evaluation_seed: seed of ``drugenv.scenarios.suite_episodes`` for the held-out
                episodes (the same episodes at every evaluation).
            **kwargs: ``AlgorithmConfig.evaluation`` keywords (``evaluation_interval``,
                ``evaluation_duration``, ``evaluation_num_env_runners``, ...).
        """
        super().evaluation(**kwargs)
        overrides = dict(self.evaluation_config or {})
        overrides.setdefault("explore", False)
        if evaluation_suite is not NotProvided:
            overrides["scenario_suite"] = evaluation_suite
        if evaluation_seed is not NotProvided:
            self.evaluation_seed = int(evaluation_seed)
        self.evaluation_config = overrides
        return self

    @override(AlgorithmConfig)
    def validate(self) -> None:
        super().validate()
        if not self.model_name_or_path:
            raise ValueError(
                "model_name_or_path is not set; call .training(model_name_or_path=<local model dir>)."
            )
        if self.advantage not in ADVANTAGE_MODES:
            raise ValueError(f"advantage={self.advantage!r} is unknown; valid choices are {list(ADVANTAGE_MODES)}.")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma={self.gamma} must be in (0, 1] (1 = undiscounted reward-to-go).")
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type={self.loss_type!r} is unknown; valid choices are {list(LOSS_TYPES)}.")
        if self.group_size < 2:
            raise ValueError(
                f"group_size={self.group_size} gives every episode zero advantage; use group_size >= 2."
            )
        if self.scenario_pool is not None and (self.scenario_pool < 1 or self.scenario_suite is None):
            raise ValueError(
                f"scenario_pool={self.scenario_pool} needs scenario_suite set and a pool size >= 1 "
                "(e.g. scenario_pool=groups_per_iteration)."
            )
        if self.curriculum is not None:
            from drugenv.scenarios.curriculum import CurriculumSpec

            if CurriculumSpec.parse(self.curriculum).kind == "adaptive":
                raise ValueError("curriculum kind 'adaptive' is not available for GRPO (a group's tier is chosen before its "
                                 "episodes are played); use fixed, mixed or easy_to_hard.")
        if self.groups_per_iteration < 1:
            raise ValueError(f"groups_per_iteration={self.groups_per_iteration} must be >= 1.")
        from drugenv.llm.loading import DTYPES

        if self.dtype not in DTYPES:
            raise ValueError(f"dtype={self.dtype!r} is unknown; valid choices are {list(DTYPES)}.")
        if not isinstance(self.device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?|mps", self.device):
            raise ValueError(f"device={self.device!r} is unknown; expected 'cpu', 'cuda', 'cuda:N' or 'mps'.")
        if self.temperature <= 0:
            raise ValueError(
                f"temperature={self.temperature} must be > 0: GRPO needs sampled, not greedy, rollouts."
            )
        if self.max_new_tokens < 1 or self.max_turns < 1:
            raise ValueError(
                f"max_new_tokens={self.max_new_tokens} and max_turns={self.max_turns} must both be >= 1."
            )
        if not 0 < self.epsilon < 1 or (self.epsilon_high is not None and self.epsilon_high <= 0):
            raise ValueError(
                f"epsilon={self.epsilon}, epsilon_high={self.epsilon_high}: need 0 < epsilon < 1 and "
                "epsilon_high > 0 (typical: 0.2 / 0.28)."
            )
        if self.beta < 0:
            raise ValueError(f"beta={self.beta} must be >= 0.")
        if self.minibatch_size is not None and self.minibatch_size < 1:
            raise ValueError(f"minibatch_size={self.minibatch_size} must be >= 1 or None (whole batch).")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr} must be > 0.")
        if self.num_env_runners < 0:
            raise ValueError(f"num_env_runners={self.num_env_runners} must be >= 0 (0: play in the driver's runner).")
        if self.scenario_suite is not None:
            from drugenv.scenarios import SUITES

            if self.scenario_suite not in SUITES:
                raise ValueError(f"scenario_suite={self.scenario_suite!r} is unknown; valid choices are {list(SUITES)}.")
        if self.num_env_runners == 0 and not self.create_local_env_runner:
            # RLlib always creates a local runner when there are no remote ones.
            self.create_local_env_runner = True

    @override(AlgorithmConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from drugenv.training.rl_module import DrugLLMRLModule

        return RLModuleSpec(module_class=DrugLLMRLModule)

    @override(AlgorithmConfig)
    def get_default_learner_class(self) -> Type:
        from drugenv.training.learner import DrugGRPOLearner

        return DrugGRPOLearner

    @property
    @override(AlgorithmConfig)
    def _model_config_auto_includes(self) -> Dict[str, Any]:
        return super()._model_config_auto_includes | {
            "model_name_or_path": self.model_name_or_path,
            "lora_r": self.lora_r,
            "lora_alpha": self.lora_alpha,
            "lora_dropout": self.lora_dropout,
            "lora_target_modules": list(self.lora_target_modules),
            "temperature": self.temperature,
            "beta": self.beta,
            "dtype": self.dtype,
            "seed": 0 if self.seed is None else int(self.seed),
            "gradient_checkpointing": self.gradient_checkpointing,
        }


__all__ = ["DrugGRPOConfig"]
