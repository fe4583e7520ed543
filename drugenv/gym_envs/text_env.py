"""``DrugEnvText``: DrugEnv with text observations and text (JSON) actions, for LLM agents."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

from gymnasium import spaces

from drugenv.gym_envs.base import DrugEnvBase
from drugenv.gym_envs.text_render import MAX_OBSERVATION_CHARS, TEXT_CHARSET, EpisodeText
from drugenv.llm.parsing import parse_action, to_env_action
from drugenv.models import DrugTargetAction, ValidationObservation
from drugenv.simulator.rules import UNPARSEABLE_ACTION_TYPE

MAX_ACTION_CHARS = 4096
"""Longest action text accepted by the action space."""


class DrugEnvText(DrugEnvBase):
    """DrugEnv with text in and text out: the observation is the LLM agent's rendered user turn, the
    action is one JSON action object.

    ## Description
    The agent validates a drug target (gene × indication): it spends credits on noisy simulated
    queries whose outputs come from a hidden target profile, then submits a go / no-go report with a
    confidence. The system prompt describing the actions is ``drugenv.llm.prompts.system_prompt()``.

    ## Action Space
    ``Text(max_length=4096, charset=printable ASCII + newline)``: one JSON object
    ``{"action_type": ..., "parameters": {...}, "reasoning": ..., "final_decision": "go"|"no_go",
    "confidence": 0-1}`` (the last two for ``submit_validation_report`` only), optionally wrapped in
    prose or a code fence. It is parsed by ``drugenv.llm.parsing.parse_action``; text that is not a
    valid action becomes the core environment's ``invalid_action`` hard violation (blocked,
    penalised, nothing charged, the episode goes on). It never raises.

    ## Observation Space
    ``Text(min_length=1, max_length=8192, charset=printable ASCII + newline)``:

    | section          | content                                                     |
    |------------------|-------------------------------------------------------------|
    | header           | target, indication, disease context                         |
    | budget           | credits remaining / total, step / max steps                 |
    | legal actions    | the affordable actions                                      |
    | dossier          | findings by section (summaries, readouts), red flags        |
    | recent steps     | the last pipeline-history entries with violations           |
    | last output      | status, summary and readouts of the latest step             |
    | violations       | rule violations of the last step                            |

    The most detailed rendering that fits 8192 characters is used; if even the most compact is longer, its
    dossier and history are cut (``[truncated]``), never the budget, the last output, the violations or
    the request.

    Vectorised: ``SyncVectorEnv`` as is; ``AsyncVectorEnv`` (``gym.make_vec(..., vectorization_mode="async")``)
    only with ``shared_memory=False`` (``vector_kwargs={"shared_memory": False}``): gymnasium 1.2's
    ``AsyncVectorEnv`` reads a ``Text`` space's shared memory once, at construction, so every observation
    would be the blank text it held then (gymnasium issue #1164).

    ## Rewards
    The core environment's reward (``RewardConfig``); ``info["reward_terms"]`` holds the breakdown.

    ## Starting State
    As ``DrugEnvVector``: a scenario of the configured suite; tier and core seed from ``self.np_random``.

    ## Episode End
    1. Termination: a report is submitted.
    2. Termination: credits run out without a report.
    3. Truncation: the step cap (``SimParams.max_steps``, 30) is reached without a report.

    ## Arguments
    As ``DrugEnvVector`` (see ``drugenv.gym_envs.base``): ``suite``, ``scenario``, ``difficulty``,
    ``curriculum``, ``reward_config``, ``sim_params``, ``seal``; ``reset(options=...)`` may override
    ``suite``, ``scenario``, ``difficulty`` and ``episode_seed``.

    >>> import gymnasium as gym
    >>> import drugenv.gym_envs
    >>> env = gym.make("DrugEnv/Text-v0", scenario="egfr_nsclc_viable")
    >>> obs, info = env.reset(seed=123)
    >>> obs.splitlines()[0]
    'Target: EGFR | Indication: non-small cell lung cancer (NSCLC), East-Asian adenocarcinoma cohort (oncology / solid tumour)'

    ## Version History
    * v0: initial version.
    """

    def __init__(self, config: Optional[Mapping[str, Any]] = None, render_mode: Optional[str] = None, **kwargs: Any):
        super().__init__(config, render_mode=render_mode, **kwargs)
        self.observation_space = spaces.Text(max_length=MAX_OBSERVATION_CHARS, min_length=1, charset=TEXT_CHARSET)
        self.action_space = spaces.Text(max_length=MAX_ACTION_CHARS, min_length=0, charset=TEXT_CHARSET)
        self._render = EpisodeText(MAX_OBSERVATION_CHARS)

    def _encode(self, obs: ValidationObservation) -> str:
        return self._render(obs)

    def _decode(self, action: Any) -> Union[DrugTargetAction, dict[str, Any]]:
        return decode_text_action(action)


def decode_text_action(action: Any) -> Union[DrugTargetAction, dict[str, Any]]:
    """The text env's action decoder: text parsed by ``parse_action`` (an unparseable text is the core's
    ``invalid_action`` violation); anything but text too, saying so."""
    if isinstance(action, str) or action is None:
        return to_env_action(parse_action(action))
    # Not text at all (bytes, a dict, a number): the core's invalid_action violation, saying so (it was
    # reported as an empty reply).
    return {"action_type": UNPARSEABLE_ACTION_TYPE,
            "reasoning": f"the action is of type {type(action).__name__}, not text: send one JSON action object as a str"}


__all__ = ["DrugEnvText", "MAX_ACTION_CHARS", "MAX_OBSERVATION_CHARS", "decode_text_action"]
