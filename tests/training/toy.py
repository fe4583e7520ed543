"""A toy multi-turn text task for smoke-testing the GRPO pipeline with a random-init tiny model.

A random-init model never writes a parseable DrugEnv action, so every episode of the real
environment gets the same (penalty) return and GRPO has no signal until the model is SFT
warm-started. This task gives a graded reward from the first iteration, so the pipeline's
plumbing (advantages, updates, sync, fault tolerance) can be exercised with non-zero signal on CPU
in seconds. (It is not a good learning check for a random-init model: its mean return did not
rise clearly in 40 iterations; docs/grpo.md has the learning runs on DrugEnv itself.)

- the observation asks for capital letters; each episode has ``turns`` agent turns;
- the reward of a turn is 1 when the reply's first non-space character is an uppercase letter,
  else 0; the return is the sum over turns, in ``[0, turns]``. A random-init tiny model with the
  BPE tokenizer scores about 0.09 per turn. The reward hinges on the first token, whose context
  is the prompt, so the group-relative signal is strong (a per-character reward over the whole
  reply was too diluted to learn from in a few dozen steps). ``reward="fraction"`` gives that
  per-character reward instead: weak to learn from, but it differs between almost any two
  replies, so tests that need non-zero advantages use it.

Use it with ``.environment(env=UppercaseEnv, env_config={"turns": 3})`` and
``.training(agent_io=UppercaseAgentIO)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple


@dataclass
class ToyObservation:
    """What the toy agent sees: a short instruction, plus the last reward and done flag."""

    text: str
    reward: Optional[float] = None
    done: bool = False


def starts_uppercase(text: str) -> float:
    """1.0 when the first non-space character of ``text`` is an uppercase letter, else 0.0."""
    return float(text.lstrip()[:1].isupper())


def uppercase_fraction(text: str) -> float:
    """Fraction of the non-space characters of ``text`` that are uppercase letters (0 when empty)."""
    chars = [c for c in text if not c.isspace()]
    return sum(c.isupper() for c in chars) / len(chars) if chars else 0.0


class UppercaseEnv:
    """``reset``/``step`` like ``DrugTargetEnvironment``; actions are the reply text."""

    def __init__(self, turns: int = 3, reward: str = "first", step_delay_s: float = 0.0):
        if reward not in ("first", "fraction"):
            raise ValueError(f"reward={reward!r}; valid choices are 'first' and 'fraction'.")
        self.turns = int(turns)
        self.reward_kind = reward
        self.step_delay_s = float(step_delay_s)  # simulates a slow (e.g. remote) environment
        self._t = 0

    def reset(self, seed: Optional[int] = None, **kwargs: Any) -> ToyObservation:
        self._t = 0
        # The seed does not enter the prompt: every episode starts from the same context, so the
        # group-relative signal accumulates on the same first-token distribution.
        return ToyObservation(text=f"Answer in CAPITAL LETTERS. Turn 1 of {self.turns}.")

    def step(self, action: Any) -> ToyObservation:
        self._t += 1
        if self.step_delay_s:
            time.sleep(self.step_delay_s)
        reward = starts_uppercase(str(action)) if self.reward_kind == "first" else uppercase_fraction(str(action))
        done = self._t >= self.turns
        return ToyObservation(
            text=f"Answer in CAPITAL LETTERS. Turn {self._t + 1} of {self.turns}.", reward=reward, done=done
        )

    def close(self) -> None:
        pass


class UppercaseAgentIO:
    """Chat-template the instruction; the reply text is the action (always "parsed")."""

    def prompt_ids(self, tokenizer: Any, observation: ToyObservation) -> List[int]:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": observation.text}], tokenize=False, add_generation_prompt=True
        )
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def to_action(self, text: str) -> Tuple[Any, bool]:
        return text, True


def slow_weight_sync_runner(delay_s: float = 2.0):
    """A ``DrugEnvRunner`` that takes ``delay_s`` to load pushed adapter weights, as a runner on a
    busy machine may: RLlib's fire-and-forget ``sync_weights`` then finds the previous push still
    in flight when it sends the next one."""
    from ray.rllib.core import COMPONENT_RL_MODULE

    from drugenv.training.env_runner import DrugEnvRunner

    class SlowWeightSyncRunner(DrugEnvRunner):
        def set_state(self, state):
            if COMPONENT_RL_MODULE in state:  # a weight push (connector-state pushes carry none)
                time.sleep(delay_s)
            super().set_state(state)

    return SlowWeightSyncRunner


__all__ = ["ToyObservation", "UppercaseAgentIO", "UppercaseEnv", "slow_weight_sync_runner", "starts_uppercase",
           "uppercase_fraction"]
