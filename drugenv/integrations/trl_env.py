"""DrugEnv as a TRL ``environment_factory``: one tool per scientific action.

How to use (TRL >= 1.8, transformers >= 5.2)::

    from trl import GRPOConfig, GRPOTrainer
    from drugenv.integrations.trl_env import DrugTargetToolEnv

    trainer = GRPOTrainer(model=..., args=GRPOConfig(...), train_dataset=ds,  # columns: prompt, seed, scenario?
                          environment_factory=DrugTargetToolEnv)              # reward: DrugTargetToolEnv.get_reward

The contract TRL expects, and how this class meets it:

- zero-argument constructor: the backend is chosen from ``DrugTargetToolEnv.base_url``, else the
  ``DRUGENV_ENV_URL`` environment variable, else a local in-process ``DrugTargetEnvironment``.
  TRL builds one instance at start to find the tools, then keeps a pool of one instance per rollout
  of a generation batch (that first one included), reused across steps and never closed. Remote mode
  holds one ``/ws`` session per instance, so start the server with ``--max-sessions`` at least the
  generation batch size.
- ``reset(**row) -> str``: reads the dataset row's ``seed``, ``scenario`` and ``difficulty``
  columns (others are ignored) and returns the task text. TRL appends it to the content of the
  prompt's last message as is, with no separator: end a ``prompt`` column with a newline, or leave
  its message empty (without a ``prompt`` column TRL uses one empty user message). TRL does not
  catch an exception from ``reset``: a bad row (``ConfigError``) stops training.
- one public method per action of ``drugenv.actions.ACTION_TABLE`` (22 tools, named like the
  action types). Their signatures, types, defaults and Google-style docstrings are generated from
  the action's parameter model, so the tool schema TRL builds (``transformers.utils.get_json_schema``)
  has the same choices, defaults and descriptions as the server's ``/schema``. Each returns the
  readout as text. Invalid arguments, or a call after the episode ended, raise ``ValueError``
  (no step is taken); TRL catches any exception a tool raises and gives the model
  ``{'error': '<message>'}`` as the tool's result, counted in ``tools/failure_frequency``.
  ``max_completion_length`` counts every turn and tool result: TRL drops a result that would
  overflow it (or the model's context) from the conversation, although the tool ran and its step
  was taken.
- ``get_reward() -> float``: the episode return (sum of step rewards). An episode the model left
  without submitting a report also gets ``-unfinished_penalty`` (default: the default ``RewardConfig``'s
  ``no_report_penalty``, what the local environment and a default ``drugenv serve-env`` use; a subclass
  sets it to match a server built with another reward config, which the adapter cannot read), so stopping
  early never pays. TRL calls it once per rollout, when the
  rollout is over: a reward source of weight 1 beside any ``reward_funcs``, logged as
  ``rewards/<class name>/mean``.

No other public method may be added: TRL would expose it as a tool.

What TRL trained is scored by ``drugenv eval --agent trl:OUTPUT_DIR`` (``integrations.trl_policy.ToolCallingPolicy``:
it plays the model as TRL's trainer rolled it out).
"""

from __future__ import annotations

import inspect
import json
import os
from typing import Any, Callable, Literal, Optional

from pydantic import ValidationError

from drugenv.actions import ACTION_TABLE, ActionType
from drugenv.models import DrugTargetAction, ValidationObservation
from drugenv.simulator.environment import validated_seed
from drugenv.simulator.params import RewardConfig

ENV_URL_VAR = "DRUGENV_ENV_URL"
"""Environment variable with the server URL (e.g. ``http://127.0.0.1:8000``); unset: local env."""


def render_task(obs: ValidationObservation) -> str:
    """The text ``reset`` returns: the task, the budget and how to finish."""
    return (f"Validate the drug target {obs.target_gene} for {obs.indication} ({obs.disease_context}).\n"
            f"Budget: {obs.credits_remaining} credits, at most {obs.max_steps} tool calls. Each tool costs credits; "
            "finish with submit_validation_report(final_decision, confidence).")


def render_result(obs: ValidationObservation) -> str:
    """The text a tool returns: the readout, violations, reward and what is left."""
    out = obs.latest_output
    lines = [f"[{out.status}] {out.summary}"]
    if out.data:
        lines.append("data: " + json.dumps(out.data, separators=(",", ":"), default=str))
    lines += [f"violation ({v.severity}) {v.rule}: {v.message}" for v in obs.rule_violations]
    lines.append(f"reward {obs.reward:+.3f} | credits {obs.credits_remaining}/{obs.credits_total} | "
                 f"step {obs.step_count}/{obs.max_steps}")
    if obs.done:
        lines.append(f"Episode over ({obs.metadata.get('termination_reason')}).")
    return "\n".join(lines)


class DrugTargetToolEnv:
    """A DrugEnv episode whose actions are TRL tools (see the module docstring)."""

    base_url: Optional[str] = None
    """Server URL; None: ``$DRUGENV_ENV_URL``, and when that is unset too, a local environment."""
    unfinished_penalty: float = RewardConfig().no_report_penalty
    """Subtracted by ``get_reward`` when the episode has not ended (no report submitted): the default reward
    config's penalty, fixed here (a server's own reward config is not visible to its clients)."""

    def __init__(self) -> None:
        url = self.base_url or os.environ.get(ENV_URL_VAR) or None
        self._client: Any = None
        self._env: Any = None
        if url:
            from drugenv.client import DrugTargetEnv

            self._client = DrugTargetEnv(base_url=url)
        else:
            from drugenv.simulator.environment import DrugTargetEnvironment

            self._env = DrugTargetEnvironment()
        self.remote = url
        self.observation: Optional[ValidationObservation] = None
        self.total_reward = 0.0
        self.done = False

    def reset(self, **row: Any) -> str:
        """Start an episode from a dataset row (``seed``, ``scenario``, ``difficulty`` columns; others ignored)."""
        seed = row.get("seed")
        kwargs = {"seed": None if seed is None else validated_seed(seed, "the row's seed"), "scenario": row.get("scenario"),
                  "difficulty": row.get("difficulty")}
        if self._client is not None:
            obs = self._client.reset(**kwargs).observation
        else:
            obs = self._env.reset(**kwargs)
        self.observation, self.total_reward, self.done = obs, 0.0, obs.done
        return render_task(obs)

    def get_reward(self) -> float:
        """Episode return; minus ``unfinished_penalty`` if no report ended the episode."""
        return self.total_reward - (0.0 if self.done else self.unfinished_penalty)

    def _act(self, action_type: ActionType, arguments: dict[str, Any]) -> str:
        if self.observation is None:
            raise ValueError("No episode: reset() must be called before any tool.")
        if self.done:
            raise ValueError("The episode is over: no more tool calls.")
        action = _tool_action(action_type, arguments)
        obs = self._client.step(action).observation if self._client is not None else self._env.step(action)
        self.observation, self.done = obs, obs.done
        self.total_reward += float(obs.reward or 0.0)
        return render_result(obs)

    def __del__(self) -> None:  # pragma: no cover - best effort; TRL never closes its pool
        client = getattr(self, "_client", None)
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001
                pass


# ============================================================================================ tools
def _tool_action(action_type: ActionType, arguments: dict[str, Any]) -> DrugTargetAction:
    """The action a tool call with these (bound) arguments takes; ``ValueError`` for invalid ones."""
    arguments = dict(arguments)
    decision = {k: arguments.pop(k) for k in ("final_decision", "confidence") if k in arguments}
    try:
        return DrugTargetAction(action_type=action_type, parameters=arguments, **decision)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or action_type.value}: {e['msg']}"
                             for e in err.errors(include_url=False)[:5])
        raise ValueError(f"invalid arguments for {action_type.value}: {problems}") from None


def tool_call_action(name: str, arguments: Any) -> DrugTargetAction:
    """The action a model's tool call ``name(**arguments)`` takes in ``DrugTargetToolEnv``, checked as the tool
    checks it, without a step: ``ValueError`` where the tool (or TRL, for a tool it does not have) would refuse
    the call, with the message the model is shown."""
    if name not in TOOL_NAMES:
        raise ValueError(f"Tool {name} not found.")  # TRL's own words for a tool it does not have
    if not isinstance(arguments, dict):
        raise ValueError(f"{name}: the arguments must be an object, got {type(arguments).__name__}")
    tool = getattr(DrugTargetToolEnv, name)
    try:
        bound = tool.__signature__.bind(None, **arguments)
    except TypeError as err:
        raise ValueError(f"{name}: {err}") from None
    found = dict(bound.arguments)
    found.pop("self")
    return _tool_action(ActionType(name), found)


_SUBMIT_ARGS = {
    "final_decision": (Literal["go", "no_go"], "'go' to advance the target, 'no_go' to drop it."),
    "confidence": (float, "Probability, between 0 and 1, that the decision is right."),
}


def _doc_line(text: Optional[str]) -> str:
    return " ".join((text or "").split())


def _make_tool(action_type: ActionType) -> Callable[..., str]:
    """A method ``<action>(self, **parameters) -> str`` with a real signature and an ``Args:`` docstring."""
    spec = ACTION_TABLE[action_type]
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {}
    args_doc: list[str] = []
    if action_type == ActionType.SUBMIT_VALIDATION_REPORT:
        for name, (tp, desc) in _SUBMIT_ARGS.items():
            params.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=tp))
            annotations[name] = tp
            args_doc.append(f"    {name}: {desc}")
    else:
        for name, f in spec.params.model_fields.items():
            default = inspect.Parameter.empty if f.is_required() else f.default
            params.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                                            annotation=f.annotation))
            annotations[name] = f.annotation
            shown = "" if f.is_required() else f" Default: {f.default!r}."
            args_doc.append(f"    {name}: {_doc_line(f.description)}{shown}")

    prereq = ""
    if spec.soft_prereq:
        prereq = f" Run it after {' or '.join(d.value for d in spec.soft_prereq)} evidence, or pay a penalty."
    elif spec.needs_any_evidence:
        prereq = " Run it after gathering some evidence, or pay a penalty."
    doc = f"{_doc_line(spec.description)} Costs {spec.cost} credit{'' if spec.cost == 1 else 's'}.{prereq}"
    if args_doc:
        doc += "\n\nArgs:\n" + "\n".join(args_doc)
    doc += "\n\nReturns:\n    The readout, any rule violations, the step reward and the credits left."

    # The instance is positional-only, so an argument a model names "self" reaches the signature check (a
    # ValueError, as promised) instead of Python's own "multiple values for argument 'self'" TypeError.
    def tool(env: DrugTargetToolEnv, /, *args: Any, **kwargs: Any) -> str:
        try:
            bound = tool.__signature__.bind(env, *args, **kwargs)  # type: ignore[attr-defined]
        except TypeError as err:  # a missing, unknown or repeated argument: invalid arguments, as promised above
            raise ValueError(f"{action_type.value}: {err}") from None
        arguments = dict(bound.arguments)
        arguments.pop("self")
        return env._act(action_type, arguments)

    tool.__name__ = action_type.value
    tool.__qualname__ = f"DrugTargetToolEnv.{action_type.value}"
    tool.__doc__ = doc
    tool.__signature__ = inspect.Signature(params, return_annotation=str)  # type: ignore[attr-defined]
    tool.__annotations__ = {**annotations, "return": str}
    return tool


for _action_type in ACTION_TABLE:
    setattr(DrugTargetToolEnv, _action_type.value, _make_tool(_action_type))
del _action_type

TOOL_NAMES: tuple[str, ...] = tuple(a.value for a in ACTION_TABLE)
"""The tools ``DrugTargetToolEnv`` exposes, in action-table order."""

__all__ = ["DrugTargetToolEnv", "ENV_URL_VAR", "TOOL_NAMES", "render_result", "render_task", "tool_call_action"]
