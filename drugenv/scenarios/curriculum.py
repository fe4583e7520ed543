"""Curricula over difficulty tiers: which tier the next training episode is drawn from.

A curriculum lives inside each environment instance (each RLlib env runner keeps its own), is
driven by that instance's own episode count and results, and draws with the environment's one
RNG (``env.np_random``), so a seeded environment replays the same sequence of tiers.

| kind           | tier of the next episode                                                          |
|----------------|-----------------------------------------------------------------------------------|
| ``fixed``      | always ``tiers[0]``                                                               |
| ``mixed``      | drawn from ``tiers`` with probabilities ``weights`` (uniform when None)           |
| ``easy_to_hard`` | stage ``k = floor(episodes · len(tiers) / schedule_episodes)`` (capped at the last tier); the stage's tier, or with probability ``review_prob`` a uniformly drawn earlier tier |
| ``adaptive``   | success-rate-adaptive: stays at a stage until the success rate over the last ``window`` episodes of that stage reaches ``promote_threshold``, then moves up one tier; ``review_prob`` as above |

"Success" is a correct go/no-go decision in a submitted report. The environment computes it for
the curriculum's bookkeeping only; it never enters an observation or ``info``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Optional, Union

import numpy as np

from drugenv.errors import ConfigError
from drugenv.scenarios.procedural import DEFAULT_TIERS
from drugenv.simulator.params import DIFFICULTIES

CurriculumKind = Literal["fixed", "mixed", "easy_to_hard", "adaptive"]
CURRICULUM_KINDS: tuple[str, ...] = ("fixed", "mixed", "easy_to_hard", "adaptive")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    """A finite int or float (not a bool, not NaN or infinity)."""
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
            and bool(np.isfinite(value)))


@dataclass(frozen=True)
class CurriculumSpec:
    """A curriculum's settings (plain data: JSON- and Tune-friendly)."""

    kind: CurriculumKind = "mixed"
    """One of ``fixed``, ``mixed``, ``easy_to_hard``, ``adaptive`` (see the module table)."""
    tiers: tuple[str, ...] = DEFAULT_TIERS
    """Difficulty tiers, easiest first; values from ``drugenv.simulator.params.DIFFICULTIES``."""
    weights: Optional[tuple[float, ...]] = None
    """``mixed`` only: probability of each tier (normalised; None = uniform)."""
    schedule_episodes: int = 2000
    """``easy_to_hard`` only: episodes (per environment instance) to reach the last tier."""
    promote_threshold: float = 0.8
    """``adaptive`` only: success rate over ``window`` episodes that promotes to the next tier, 0-1."""
    window: int = 50
    """``adaptive`` only: episodes of the current stage the success rate is measured over."""
    review_prob: float = 0.2
    """``easy_to_hard`` / ``adaptive``: chance an episode replays a uniformly drawn earlier tier, 0-1."""

    def __post_init__(self) -> None:
        # Types first: a dataclass checks none, and a wrong one surfaced episodes later (a window of
        # 2.5 never promoted; a NaN weight failed in numpy at the first reset; "10" was a TypeError).
        # A list is the tuple it lists (the message said "a list" and then refused one).
        for name in ("tiers", "weights"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("schedule_episodes", "window"):
            value = getattr(self, name)
            if not _is_int(value):
                raise ConfigError(f"curriculum {name} must be a whole number; got {value!r}")
        for name in ("promote_threshold", "review_prob"):
            value = getattr(self, name)
            if not _is_real(value):
                raise ConfigError(f"curriculum {name} must be a number in [0, 1]; got {value!r}")
        if not isinstance(self.tiers, tuple) or not all(isinstance(t, str) for t in self.tiers):
            raise ConfigError(f"curriculum tiers must be a list of tier names from {DIFFICULTIES}; got {self.tiers!r}")
        if self.weights is not None and (not isinstance(self.weights, tuple) or not all(_is_real(w) for w in self.weights)):
            raise ConfigError(f"curriculum weights must be a list of finite numbers, one per tier; got {self.weights!r}")
        if self.kind not in CURRICULUM_KINDS:
            raise ConfigError(f"curriculum kind {self.kind!r} is unknown; expected one of {', '.join(CURRICULUM_KINDS)}")
        bad = [t for t in self.tiers if t not in DIFFICULTIES]
        if not self.tiers or bad:
            raise ConfigError(f"curriculum tiers {self.tiers!r} must be a non-empty subset of {DIFFICULTIES}")
        if self.weights is not None and (len(self.weights) != len(self.tiers) or min(self.weights) < 0
                                         or not 0 < sum(float(w) for w in self.weights) < float("inf")):
            raise ConfigError(f"curriculum weights {self.weights!r} need one non-negative weight per tier {self.tiers!r}, "
                              "with a positive, finite sum (three weights of 1e308 sum to inf: numpy refused them at the first reset)")
        if self.schedule_episodes < 1 or self.window < 1 or not 0 <= self.promote_threshold <= 1 or not 0 <= self.review_prob <= 1:
            raise ConfigError("curriculum needs schedule_episodes >= 1, window >= 1, promote_threshold and review_prob in [0, 1]; "
                              f"got {self!r}")

    @classmethod
    def parse(cls, value: Union[None, str, dict, "CurriculumSpec"]) -> Optional["CurriculumSpec"]:
        """None, a kind name (``"adaptive"``), a dict of fields, or a spec."""
        if value is None or isinstance(value, CurriculumSpec):
            return value
        if isinstance(value, str):
            return cls(kind=value)  # type: ignore[arg-type]
        if isinstance(value, dict):
            d = dict(value)
            for k in ("tiers", "weights"):
                if isinstance(d.get(k), (list, tuple)):
                    d[k] = tuple(d[k])
            unknown = set(d) - set(cls.__dataclass_fields__)
            if unknown:
                raise ConfigError(f"unknown curriculum keys {sorted(unknown)}; expected {sorted(cls.__dataclass_fields__)}")
            return cls(**d)
        raise ConfigError(f"a curriculum is None, a kind name, a dict or a CurriculumSpec; got {type(value).__name__}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tiers"] = list(self.tiers)
        d["weights"] = list(self.weights) if self.weights is not None else None
        return d


@dataclass
class Curriculum:
    """The running curriculum of one environment instance."""

    spec: CurriculumSpec
    episodes: int = 0
    """Episodes finished so far."""
    stage: int = 0
    """Index into ``spec.tiers`` of the current stage (easy_to_hard / adaptive)."""
    _recent: deque = field(default_factory=deque, repr=False)

    def current_stage(self) -> int:
        s = self.spec
        if s.kind == "easy_to_hard":
            return min(len(s.tiers) - 1, self.episodes * len(s.tiers) // s.schedule_episodes)
        if s.kind == "adaptive":
            return self.stage
        return 0

    def sample(self, rng: np.random.Generator) -> str:
        """The tier of the next episode (draws from ``rng`` only)."""
        s = self.spec
        if s.kind == "fixed":
            return s.tiers[0]
        if s.kind == "mixed":
            w = np.ones(len(s.tiers)) if s.weights is None else np.asarray(s.weights, dtype=float)
            return s.tiers[int(rng.choice(len(s.tiers), p=w / w.sum()))]
        stage = self.current_stage()
        if stage > 0 and rng.random() < s.review_prob:
            return s.tiers[int(rng.integers(stage))]
        return s.tiers[stage]

    def update(self, tier: str, success: bool) -> None:
        """Record one finished episode of ``tier``."""
        self.episodes += 1
        s = self.spec
        if s.kind != "adaptive" or tier != s.tiers[self.stage]:
            return
        self._recent.append(bool(success))
        if len(self._recent) > s.window:
            self._recent.popleft()
        if (len(self._recent) == s.window and self.stage < len(s.tiers) - 1
                and sum(self._recent) / s.window >= s.promote_threshold):
            self.stage += 1
            self._recent.clear()

    def stats(self) -> dict[str, float]:
        """Public bookkeeping (no hidden truth): episodes, stage, recent success rate of the stage."""
        rate = sum(self._recent) / len(self._recent) if self._recent else float("nan")
        return {"episodes": float(self.episodes), "stage": float(self.current_stage()), "stage_success_rate": rate}


__all__ = ["CURRICULUM_KINDS", "Curriculum", "CurriculumKind", "CurriculumSpec"]
