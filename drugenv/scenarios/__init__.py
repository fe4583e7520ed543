"""Scenario library: curated scenarios, the procedural generator, and evaluation suites.

Suites (what ``drugenv eval --suite`` accepts):

| suite              | episodes                                                              |
|--------------------|-----------------------------------------------------------------------|
| curated            | the five curated scenarios, round-robin, each with its own noise seed |
| procedural-train   | procedural scenarios from training seeds                              |
| procedural-test    | procedural scenarios from held-out test seeds (disjoint from train)   |
| procedural-test-twins | held-out test seeds in counterfactual pairs: ``("procedural", s)`` then ``("procedural-twin", s)`` |

``procedural-test-twins`` asks whether the verdict follows the evidence or the gene name: each pair
has the same gene, indication, tier and perturbation and opposite correct decisions
(``drugenv.scenarios.procedural.twin_of``); score it with ``drugenv.evaluation.metrics.twin_metrics``.
"""

from __future__ import annotations

from typing import Literal, Optional, get_args

import numpy as np

from drugenv.errors import ConfigError, UnknownScenarioError, whole_number
from drugenv.scenarios.base import Scenario
from drugenv.scenarios.curated import CURATED_NAMES, curated_scenarios
from drugenv.scenarios.procedural import TEST_SEED_OFFSET, generate_scenario, procedural_test_seeds, procedural_train_seeds
from drugenv.simulator.params import DIFFICULTIES, SimParams
from drugenv.simulator.seeding import validated_seed

Suite = Literal["curated", "procedural-train", "procedural-test", "procedural-test-twins"]
"""A suite's name, as a type (``drugenv eval --suite``'s choices)."""
SUITES: tuple[str, ...] = get_args(Suite)
HELDOUT_SUITES: tuple[str, ...] = ("procedural-test", "procedural-test-twins")
"""The suites of held-out test seeds: evaluation plays them, training and model selection never do."""
TWIN_SCENARIO = "procedural-twin"
"""The scenario request for a procedural seed's counterfactual twin (``env.reset(seed=s, scenario=TWIN_SCENARIO)``)."""
SCENARIO_NAMES: tuple[str, ...] = ("procedural", TWIN_SCENARIO, *CURATED_NAMES)
"""Every scenario request by name that ``make_scenario`` resolves."""
if len(set(SCENARIO_NAMES)) != len(SCENARIO_NAMES):  # a repeated name would replace a scenario without a word
    raise ValueError(f"scenario names must be unique (drugenv/scenarios/curated.py, SPECS): {list(SCENARIO_NAMES)}")
SINGLE_SCENARIOS: tuple[str, ...] = ("procedural", *CURATED_NAMES)
"""The requests that stand alone, which the gym envs, the dashboard and the agent service take: a twin is
one half of ``procedural-test-twins``' pairs, scored against its original."""


def check_difficulty(difficulty: object, name: str = "difficulty") -> None:
    """``ConfigError`` unless ``difficulty`` is None or one of ``DIFFICULTIES``; ``name`` is how the caller spells it."""
    if difficulty is not None and difficulty not in DIFFICULTIES:
        raise ConfigError(f"{name} {difficulty!r} is unknown; expected one of {', '.join(DIFFICULTIES)}")


def check_scenario_request(scenario: object, difficulty: object = None, *, names: tuple[str, ...] = SCENARIO_NAMES,
                           difficulty_name: str = "difficulty") -> None:
    """Refuse, before anything slow starts, a request ``make_scenario`` would refuse: an unknown scenario
    name (``UnknownScenarioError``; ``names`` narrows what a caller accepts) or difficulty (``ConfigError``)."""
    if scenario is not None and (not isinstance(scenario, str) or scenario not in names):
        raise UnknownScenarioError(scenario, names)
    check_difficulty(difficulty, difficulty_name)


def make_scenario(
    scenario: Optional[str | Scenario], seed: int, difficulty: Optional[str] = None, params: SimParams | None = None,
    *, rng: Optional[np.random.Generator] = None,
) -> Scenario:
    """Resolve a scenario request: a curated name, ``"procedural"`` / None (generated from the seed),
    ``"procedural-twin"`` (the seed's counterfactual twin: same gene, indication, tier and
    perturbation, the opposite decision), or a Scenario.

    ``params`` (default ``SimParams()``) sets the credits and instrument noise of curated and
    procedural scenarios alike; a ready Scenario is returned as given. ``rng``: the seed's generator,
    if the caller has built one (see ``generate_scenario``); only procedural scenarios draw from it.
    """
    if isinstance(scenario, Scenario):
        check_difficulty(difficulty)  # ignored for a ready scenario, but a typo is a typo
        return scenario
    # generate_scenario is imported at the top: an import statement here cost ~0.6 us a reset.
    if scenario is None or scenario == "procedural":
        return generate_scenario(seed, difficulty, params=params, rng=rng)
    if scenario == TWIN_SCENARIO:
        return generate_scenario(seed, difficulty, twin=True, params=params, rng=rng)
    curated = curated_scenarios(params)
    if isinstance(scenario, str) and scenario in curated:  # a list was an unhashable-type TypeError
        check_difficulty(difficulty)  # a curated tier is fixed, but a typo is a typo
        return curated[scenario]
    raise UnknownScenarioError(scenario, SCENARIO_NAMES)


def suite_episodes(suite: str, episodes: int, seed: int = 0) -> list[tuple[str, int]]:
    """(scenario request, episode seed) pairs of a suite; deterministic in ``seed``.

    ``procedural-test-twins`` gives adjacent pairs ``("procedural", s)``, ``("procedural-twin", s)``
    over the test seeds ``procedural_test_seeds(ceil(episodes / 2), start=seed)`` (a twin of a test
    seed is a test scenario): ``episodes // 2`` pairs, and an odd ``episodes`` ends with one unpaired original.

    ``episodes`` is a whole number >= 0 and ``seed`` an episode seed (``validated_seed``) whose suite's last
    seed is one too: anything else is a ``ConfigError`` here, where the curated suite returned [] for -3
    episodes and seeds 1.5, 2.5, 3.5 for a seed of 1.5, and failed at a reset far from the mistake.
    """
    episodes = whole_number(episodes, "episodes", at_least=0)
    seed = validated_seed(seed)
    if suite not in SUITES:
        raise UnknownScenarioError(suite, SUITES, kind="suite")
    last = seed + max(episodes, 1) - 1 + (TEST_SEED_OFFSET if suite.startswith("procedural-test") else 0)
    validated_seed(last, name=f"the suite's last seed (seed {seed} + {episodes} episodes)")
    if suite == "curated":
        return [(CURATED_NAMES[i % len(CURATED_NAMES)], seed + i) for i in range(episodes)]
    if suite == "procedural-train":
        return [("procedural", s) for s in procedural_train_seeds(episodes, start=seed)]
    if suite == "procedural-test":
        return [("procedural", s) for s in procedural_test_seeds(episodes, start=seed)]
    pairs = [ep for s in procedural_test_seeds((episodes + 1) // 2, start=seed)  # procedural-test-twins
             for ep in (("procedural", s), (TWIN_SCENARIO, s))]
    return pairs[:episodes]


__all__ = ["CURATED_NAMES", "HELDOUT_SUITES", "SCENARIO_NAMES", "SINGLE_SCENARIOS", "SUITES", "Scenario", "Suite", "TWIN_SCENARIO", "check_difficulty",
           "check_scenario_request", "curated_scenarios", "make_scenario", "suite_episodes"]
