"""An agent of a DrugEnv gym env as a ``drugenv.Policy``, so ``drugenv eval`` scores it.

An agent trained on ``DrugEnv/Vector-v0`` (Stable-Baselines3, CleanRL, plain PyTorch) or written for
``DrugEnv/Text-v0`` (an LLM behind an API) acts on what the gym env shows it. ``GymAgentPolicy`` shows
it exactly that, made by the env's own encoder (``EpisodeFeatures``, ``EpisodeText``), and decodes its
answer with the env's own decoder, so ``drugenv eval``'s score is the score of the agent playing the
gym env, on the suites, metrics and ``--paired`` comparisons every other agent gets::

    from drugenv.evaluation.evaluate import evaluate
    from drugenv.gym_envs.policies import GymAgentPolicy

    policy = GymAgentPolicy(lambda x: model.predict(x, deterministic=True)[0], "DrugEnv/Vector-v0")
    summary, records = evaluate(policy, "procedural-test", 300)

From the command line, a function returning one: ``drugenv eval --agent my_agent.py:make_policy``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from drugenv.agents.base import Policy
from drugenv.errors import ConfigError
from drugenv.gym_envs import TEXT_ENV_ID, VECTOR_ENV_ID
from drugenv.gym_envs.text_env import decode_text_action
from drugenv.gym_envs.text_render import MAX_OBSERVATION_CHARS, EpisodeText
from drugenv.gym_envs.vector_env import EpisodeFeatures, decode_vector_action
from drugenv.models import ValidationObservation

_CODECS: dict[str, tuple[Callable[[], Callable[[ValidationObservation], Any]], Callable[[Any], Any]]] = {
    VECTOR_ENV_ID: (EpisodeFeatures, decode_vector_action),
    TEXT_ENV_ID: (lambda: EpisodeText(MAX_OBSERVATION_CHARS), decode_text_action),
}
"""Per env id: a new episode's encoder, and the action decoder (the env's own)."""


class GymAgentPolicy(Policy):
    """``predict`` over a gym env's observations, as a ``Policy``.

    Args:
        predict: the agent. Given one observation as the gym env shows it (a float32 feature vector for
            Vector-v0, a text for Text-v0), it returns one action as the env takes it (an integer, a
            JSON text). With ``batched=True`` it is given the running episodes' observations together
            (a stacked ``(n, OBS_DIM)`` array, or a list of texts) and returns one action each.
        env_id: ``"DrugEnv/Vector-v0"`` or ``"DrugEnv/Text-v0"``.
        batched: call ``predict`` once per lockstep step, for every running episode at once.
        name: the policy's name in logs (default: ``gym:<env_id>``).

    A finished episode's slot is not predicted for (its action is ignored). An action the env would not
    take (an integer out of range, text that is not an action) is the env's ``invalid_action`` step.
    """

    def __init__(self, predict: Callable[[Any], Any], env_id: str = VECTOR_ENV_ID, *, batched: bool = False,
                 name: Optional[str] = None):
        if env_id not in _CODECS:
            raise ConfigError(f"env_id {env_id!r} is not a DrugEnv gym env; expected one of: {', '.join(_CODECS)}")
        if not callable(predict):
            raise ConfigError(f"predict must be a function of the env's observation, got {type(predict).__name__}")
        self.predict, self.env_id, self.batched = predict, env_id, batched
        self.name = name or f"gym:{env_id}"
        self._new_encoder, self._decode = _CODECS[env_id]
        self._encoders: list[Callable[[ValidationObservation], Any]] = []

    def reset(self, batch_size: int = 1, seeds: Optional[Sequence[int]] = None) -> None:
        self._encoders = [self._new_encoder() for _ in range(batch_size)]  # one episode each, in step order

    def act(self, observations: Sequence[ValidationObservation]) -> list[Any]:
        if len(self._encoders) < len(observations):  # act() before reset(): a batch of fresh episodes
            self.reset(len(observations))
        running = [i for i, obs in enumerate(observations) if not obs.done]
        shown = [self._encoders[i](observations[i]) for i in running]
        if self.batched and running:
            answers = self.predict(np.stack(shown) if self.env_id == VECTOR_ENV_ID else shown)
            if len(answers) != len(running):
                raise ConfigError(f"predict (batched) returned {len(answers)} actions for {len(running)} observations")
        else:
            answers = [self.predict(x) for x in shown]
        actions: list[Any] = [None] * len(observations)
        for i, answer in zip(running, answers):
            actions[i] = self._decode(answer)
        return actions


__all__ = ["GymAgentPolicy"]
