"""Shared machinery of the gymnasium wrappers: episode selection and stepping the core environment.

``DrugEnvBase`` owns one ``DrugTargetEnvironment`` and the gymnasium bookkeeping; subclasses only
define the spaces and how an observation / action is encoded (``_encode`` / ``_decode``).

Episode selection (constructor config, overridable per episode by ``reset(options=...)``):

| key           | default            | meaning                                                                 |
|---------------|--------------------|-------------------------------------------------------------------------|
| suite         | "procedural-train" | where episodes come from: ``procedural-train`` (the seeds training may draw, below ``TRAINING_SEEDS_END``), ``procedural-test``, ``curated`` |
| scenario      | None               | a curated name or "procedural": overrides the suite's choice            |
| difficulty    | None               | a fixed procedural tier ("easy" … "very_hard"); overrides the curriculum |
| curriculum    | None               | a ``CurriculumSpec`` (or its kind / dict) drawing the tier per episode  |
| episode_seed  | None               | the core environment's seed (options only; None: drawn from np_random); a procedural world's must be one of the suite's |
| reward_config | RewardConfig()     | ``RewardConfig`` or a dict of its fields                                |
| sim_params    | SimParams()        | ``SimParams`` or a dict of its fields                                   |
| seal          | None               | a secret that seals the core environment (``DrugTargetEnvironment(seal=...)``): ``info["episode_seed"]`` no longer names a public world |

A key given as None in ``options`` is the same as leaving it out: the env's own value holds.

Every random choice (scenario, core seed, tier) is drawn from ``self.np_random``, so
``reset(seed=s)`` fixes the whole episode, given the curriculum's state: a curriculum that moves
with the episodes played (``easy_to_hard``, ``adaptive``) draws the tier of its current stage.

Under RLlib, an ``EnvContext`` config's ``worker_index`` is mixed into the seed: RLlib seeds env
runner ``i`` with ``seed + i`` and a vector env seeds its sub-env ``j`` with that ``+ j``, so without
it (runner 1, env 1) and (runner 2, env 0) would play the very same episodes. Index 0 (a local
runner, or the env built by hand) keeps the plain seed.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping, Optional, Union

import gymnasium as gym
import numpy as np

from drugenv.errors import ConfigError, EnvNotResetError, UnknownScenarioError
from drugenv.models import DrugTargetAction, ValidationObservation
from drugenv.scenarios import CURATED_NAMES, SINGLE_SCENARIOS, SUITES, check_scenario_request, suite_episodes
from drugenv.scenarios.curriculum import Curriculum, CurriculumSpec
from drugenv.scenarios.procedural import TEST_SEED_OFFSET, TRAINING_SEEDS_END
from drugenv.simulator.environment import DrugTargetEnvironment, config_model, validated_seed
from drugenv.simulator.params import RewardConfig, SimParams
from drugenv.simulator.seeding import seeded_generator

ENV_CONFIG_KEYS: tuple[str, ...] = ("suite", "scenario", "difficulty", "curriculum", "reward_config", "sim_params", "seal")
GYM_SUITES: tuple[str, ...] = ("procedural-train", "procedural-test", "curated")
"""The suites a gym env draws single episodes from (``procedural-test-twins`` is an evaluation suite of
ordered pairs: ``drugenv eval --suite procedural-test-twins``)."""
RESET_OPTION_KEYS: tuple[str, ...] = ("suite", "scenario", "difficulty", "episode_seed")
_SUITE_SEEDS = {"procedural-train": f"procedural seeds below {TRAINING_SEEDS_END:,}, the ones training may draw",
                "procedural-test": f"procedural seeds from {TEST_SEED_OFFSET:,}, the held-out test split"}


def _in_suite(suite: str, seed: int) -> bool:
    """Whether a procedural world's seed belongs to ``suite`` (the curated suite's seeds are only noise)."""
    if suite == "procedural-train":
        return seed < TRAINING_SEEDS_END
    if suite == "procedural-test":
        return seed >= TEST_SEED_OFFSET
    return True


_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})  # what ``reset`` without options looks keys up in
_SEED_DRAW_HIGH = {"procedural-train": TRAINING_SEEDS_END, "procedural-test": TEST_SEED_OFFSET, "curated": TEST_SEED_OFFSET}
"""Episode indices into a suite are drawn from [0, _SEED_DRAW_HIGH[suite]): training never draws the train
seeds held out for model selection (``TRAINING_SEEDS_END`` on)."""


class DrugEnvBase(gym.Env):
    """Common base of ``DrugEnvText`` and ``DrugEnvVector`` (see their docstrings for the spec)."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, config: Optional[Mapping[str, Any]] = None, render_mode: Optional[str] = None, **kwargs: Any):
        if config is not None and not isinstance(config, Mapping):
            raise ConfigError(f"the env config must be a dict (keys {list(ENV_CONFIG_KEYS)}), got {type(config).__name__}")
        cfg = {**dict(config or {}), **kwargs}
        unknown = set(cfg) - set(ENV_CONFIG_KEYS)
        if unknown:
            raise ConfigError(f"unknown env config keys {sorted(unknown)}; expected some of {list(ENV_CONFIG_KEYS)}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(f"render_mode {render_mode!r} is not supported; expected one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        suite = cfg.get("suite")
        self.suite: str = "procedural-train" if suite is None else suite
        self.scenario: Optional[str] = cfg.get("scenario")
        self.difficulty: Optional[str] = cfg.get("difficulty")
        self._check_selection(self.suite, self.scenario, self.difficulty)
        spec = CurriculumSpec.parse(cfg.get("curriculum"))
        self.curriculum: Optional[Curriculum] = Curriculum(spec) if spec is not None else None
        self.reward_config: RewardConfig = config_model(cfg.get("reward_config"), RewardConfig, "reward_config")
        self.sim_params: SimParams = config_model(cfg.get("sim_params"), SimParams, "sim_params")
        self.core = DrugTargetEnvironment(reward_config=self.reward_config, sim_params=self.sim_params, seal=cfg.get("seal"))
        # RLlib's EnvContext (a dict with the runner's index); see the module docstring.
        self._worker_index = int(getattr(config, "worker_index", 0) or 0)
        # The wrapper encodes each observation before the next step and keeps only what its encoder
        # keeps (immutable findings and history entries, never the record's lists), so the core may
        # lend it its own record rather than copy it every step; ``observation`` hands out a copy.
        self.core._lend_records = True
        self._obs: Optional[ValidationObservation] = None
        self._tier: Optional[str] = None
        self._episode_recorded = True  # whether the curriculum has counted the current episode

    # ------------------------------------------------------------------ subclass hooks
    def _encode(self, obs: ValidationObservation) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _decode(self, action: Any) -> Union[DrugTargetAction, dict[str, Any]]:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None):
        if type(seed) is int and seed >= 0:
            # What gymnasium's reset does with it (``seeding.np_random``: ``default_rng(seed)``'s
            # stream), seeded as the simulator seeds (``simulator.seeding``), ~5 us less per episode.
            # An RLlib runner's index goes above the seed's 64 bits: distinct entropy per (seed, runner).
            stream = seed if self._worker_index == 0 else seed + (self._worker_index << 64)
            self._np_random, self._np_random_seed = seeded_generator(stream), seed
        elif isinstance(seed, (bool, np.bool_)):  # gymnasium takes True as seed 1 (and skips the runner's mixing)
            raise ConfigError(f"seed must be an integer >= 0 or None, got {seed!r} (a bool)")
        else:
            super().reset(seed=seed)  # None, or gymnasium's error for a bad seed
        if options is None:
            opts: Mapping[str, Any] = _NO_OPTIONS
        elif not isinstance(options, Mapping):
            raise ConfigError(f"reset options must be a dict (keys {list(RESET_OPTION_KEYS)}), got {type(options).__name__}")
        else:
            unknown = set(options) - set(RESET_OPTION_KEYS)
            if unknown:
                raise ConfigError(f"unknown reset options {sorted(unknown)}; expected some of {list(RESET_OPTION_KEYS)}")
            # None is "no override" for every key, as for episode_seed (a None suite was refused, and a
            # None scenario or difficulty dropped the env's own for that episode)
            opts = {key: value for key, value in options.items() if value is not None}
        suite = opts.get("suite", self.suite)
        scenario = opts.get("scenario", self.scenario)
        difficulty = opts.get("difficulty", self.difficulty)
        self._check_selection(suite, scenario, difficulty)
        rng = self.np_random
        if scenario is None:
            scenario = CURATED_NAMES[int(rng.integers(len(CURATED_NAMES)))] if suite == "curated" else "procedural"
        episode_seed = opts.get("episode_seed")
        if episode_seed is None:
            k = int(rng.integers(_SEED_DRAW_HIGH[suite]))
            episode_seed = suite_episodes(suite, 1, seed=k)[0][1] if (scenario == "procedural" and suite != "curated") else k
        else:
            episode_seed = validated_seed(episode_seed, "reset option episode_seed")
            if scenario == "procedural" and not _in_suite(suite, episode_seed):
                # A training loop passing its own seeds played held-out worlds without a word: the suite says whose
                raise ConfigError(f"reset option episode_seed {episode_seed} is not a seed of suite {suite!r} "
                                  f"({_SUITE_SEEDS[suite]}); pass suite='procedural-test' (or the seed's own suite) to play it")
        if scenario == "procedural" and difficulty is None and self.curriculum is not None:
            difficulty = self.curriculum.sample(rng)
        self._episode_recorded = False
        self._obs = self.core.reset(seed=int(episode_seed), scenario=scenario, difficulty=difficulty)
        # The tier played: a curated scenario has its own, whatever ``difficulty`` asked for.
        self._tier = self._obs.metadata.get("difficulty") or difficulty
        info: dict[str, Any] = {"reward_terms": {}, "episode_seed": int(episode_seed), "difficulty": self._obs.metadata.get("difficulty")}
        return self._encode(self._obs), info

    def step(self, action: Any):
        if self._obs is None:
            raise EnvNotResetError()
        decoded = self._decode(action)
        obs = self.core.step(decoded)
        self._obs = obs
        truncated = bool(obs.metadata.get("truncated", False))
        terminated = bool(obs.done) and not truncated
        if obs.done and not self._episode_recorded:
            self._episode_recorded = True  # steps after the end are refused; they finish no episode
            if self.curriculum is not None:
                self._record_curriculum(obs)
        info: dict[str, Any] = {"reward_terms": dict(self.core.last_info.get("reward_terms", {})),
                "violations": [v.rule for v in obs.rule_violations]}
        if obs.done:
            info["termination_reason"] = obs.metadata.get("termination_reason")
        return self._encode(obs), float(obs.reward or 0.0), terminated, truncated, info

    # gymnasium types render's result with a TypeVar of the method alone (RenderFrame), which no override can
    # name: the "ansi" mode's frame is a str
    def render(self) -> Optional[str]:  # type: ignore[override]
        if self.render_mode != "ansi" or self._obs is None:
            return None
        from drugenv.gym_envs.text_render import render_text

        return render_text(self._obs, max_chars=None)

    def close(self) -> None:
        self.core.close()
        self._obs = None

    # ------------------------------------------------------------------ helpers
    @property
    def observation(self) -> Optional[ValidationObservation]:
        """The core observation behind the last encoded one (visible data only; a copy, like the
        core's own observations: the next step does not change it)."""
        return None if self._obs is None else self.core._snapshot(self._obs)

    def _record_curriculum(self, obs: ValidationObservation) -> None:
        # Success needs the hidden answer: read from the episode's outcome for the curriculum only, never returned.
        assert self.curriculum is not None
        tier = self._tier or str(obs.metadata.get("difficulty"))
        self.curriculum.update(tier, bool(self.core.outcome().decision_correct))

    @staticmethod
    def _check_selection(suite: str, scenario: Optional[str], difficulty: Optional[str]) -> None:
        if suite not in GYM_SUITES:
            what = ("is an evaluation suite of ordered pairs (drugenv eval --suite procedural-test-twins), not one a gym "
                    "env draws episodes from" if suite in SUITES else "is unknown")
            raise ConfigError(f"suite {suite!r} {what}; expected one of {', '.join(GYM_SUITES)}")
        try:
            check_scenario_request(scenario, difficulty, names=SINGLE_SCENARIOS)
        except UnknownScenarioError:  # a ConfigError, as every other mistake in an env config is
            raise ConfigError(f"scenario {scenario!r} is unknown; expected one of {', '.join(SINGLE_SCENARIOS)}") from None


__all__ = ["DrugEnvBase", "ENV_CONFIG_KEYS", "GYM_SUITES", "RESET_OPTION_KEYS"]
