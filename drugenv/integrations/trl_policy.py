"""A model trained through ``DrugTargetToolEnv`` (TRL's ``GRPOTrainer``) as a ``drugenv.Policy``.

TRL trains a tool-calling model: it sees the task and 22 tool schemas, answers with tool calls, reads
their results, and calls again. ``drugenv eval`` scores policies one action at a time. ``ToolCallingPolicy``
plays an episode the way TRL's trainer rolled it out during training, so its scores are the scores of
what was trained:

- the prompt: the dataset row's prompt messages (default: one empty user message) with the task text
  (``render_task``) appended to the last one, rendered by the tokenizer's chat template with the tools'
  schemas, or by TRL's training template where TRL would swap it in (a template that is not
  prefix-preserving), with TRL's response parser added (``add_response_schema``);
- each turn: the model's tokens, parsed by TRL's ``parse_response``; each tool call is stepped in order
  (one step of the episode each) and its result (``render_result``) added as a tool message; a call TRL
  would refuse (no such tool, bad arguments: ``tool_call_action``) takes no step and adds
  ``{'error': '...'}`` instead; then the tool messages' tokens, made as TRL makes them, and the next turn;
- the end of the model's part: a turn without a tool call, a ``max_tool_calling_iterations``-th turn,
  or a turn or tool result that would pass ``max_completion_length`` or the model's context (TRL drops
  such a result). The episode has then no report unless one was stepped, as TRL's rollout had none; each
  further step the loop asks for is the no-op an unparseable action is (a penalised step), until the step
  cap: pass ``--max-steps`` / ``max_steps`` to bound them.

Greedy by default (``temperature=0``); with a temperature each completion is drawn from its own stream of
``(seed, episode, turn)``, so an episode samples alike in any batch. Every turn of every running episode
is generated in one batched call.

    from drugenv.evaluation.evaluate import evaluate
    from drugenv.integrations.trl_policy import ToolCallingPolicy

    policy = ToolCallingPolicy.from_pretrained("outputs/drugenv-grpo/checkpoint-500", max_completion_length=2048)
    summary, records = evaluate(policy, "procedural-test", 300, max_steps=12)

Needs ``trl`` (the ``train`` extra) and transformers >= 5.2, as TRL's tool calling does.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from drugenv.agents.base import Policy
from drugenv.errors import ConfigError
from drugenv.integrations.trl_env import DrugTargetToolEnv, render_result, render_task, tool_call_action
from drugenv.models import ValidationObservation
from drugenv.simulator.rules import UNPARSEABLE_ACTION_TYPE


def trl_tools(env: DrugTargetToolEnv) -> list[Any]:
    """The tools TRL exposes for ``env``: its public methods but ``reset`` and ``get_reward``, listed as TRL's
    trainer lists them (``inspect.getmembers`` on the class: by name). Their order is the schema's order in
    the prompt."""
    return [getattr(env, name) for name, _ in inspect.getmembers(type(env), predicate=inspect.isfunction)
            if name not in ("reset", "get_reward") and not name.startswith("_")]


@dataclass
class _Rollout:
    """One episode's conversation, in tokens, as TRL's trainer keeps it."""

    prompt_len: int
    ids: list[int]
    pending: list[dict] = field(default_factory=list)  # this turn's tool calls not yet handled
    waiting: Optional[str] = None  # the tool whose result the next observation carries
    results: list[dict] = field(default_factory=list)  # this turn's tool messages
    turns: int = 0  # turns whose tool calls were run
    over: Optional[str] = None  # why the model's part of the episode ended


class ToolCallingPolicy(Policy):
    """A TRL-trained tool-calling model playing DrugEnv as during training (module docstring).

    Args:
        model: a causal LM (peft-wrapped or not), in eval mode.
        tokenizer: its tokenizer (left padding is not needed: prompts are padded here).
        prompt: the dataset's prompt messages the model was trained with (default: one empty user message);
            the task text is appended to the last message's content, with no separator, as TRL does.
        max_completion_length: TRL's ``max_completion_length``: the budget of all turns and tool results.
        max_tool_calling_iterations: TRL's ``max_tool_calling_iterations`` (None: no limit).
        temperature, top_p, top_k: sampling (``temperature=0``: greedy).
        seed: the sampling streams' seed.
        chat_template_kwargs: TRL's ``chat_template_kwargs`` (e.g. ``{"enable_thinking": False}``).
    """

    name = "trl_tools"

    def __init__(self, model: Any, tokenizer: Any, *, prompt: Optional[Sequence[dict]] = None,
                 max_completion_length: int = 512, max_tool_calling_iterations: Optional[int] = None,
                 temperature: float = 0.0, top_p: float = 1.0, top_k: int = 0, seed: int = 0,
                 chat_template_kwargs: Optional[dict] = None):
        from trl.chat_template_utils import add_response_schema, get_training_chat_template, is_chat_template_prefix_preserving

        if max_completion_length < 1 or (max_tool_calling_iterations is not None and max_tool_calling_iterations < 0):
            raise ConfigError("max_completion_length must be >= 1 and max_tool_calling_iterations >= 0 (or None)")
        self.model, self.seed = model, seed
        self.prompt = [dict(m) for m in (prompt or [{"role": "user", "content": ""}])]
        self.max_completion_length = max_completion_length
        self.max_iterations = float("inf") if max_tool_calling_iterations is None else max_tool_calling_iterations
        self.sampling = {"temperature": temperature, "top_p": top_p, "top_k": top_k}
        self.template_kwargs = dict(chat_template_kwargs or {})
        self.tools = trl_tools(DrugTargetToolEnv())  # a local probe, as TRL's trainer probes one instance
        # What TRL's trainer does to the tokenizer and the template when tools are given (GRPOTrainer.__init__)
        if getattr(tokenizer, "response_template", None) is None and getattr(tokenizer, "response_schema", None) is None:
            tokenizer = add_response_schema(tokenizer)
        self.tokenizer = tokenizer
        self.chat_template = None if is_chat_template_prefix_preserving(tokenizer) else get_training_chat_template(tokenizer)
        from drugenv.llm.stopping import stop_token_ids

        self.stop_ids = stop_token_ids(tokenizer, model)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]
        config = getattr(model, "config", None)
        self.context = getattr(config, "max_position_embeddings", None) or float("inf")
        self._rollouts: list[Optional[_Rollout]] = []
        self._episodes: list[int] = []

    @classmethod
    def from_pretrained(cls, model: str, adapter: Optional[str] = None, *, device: Optional[str] = None,
                        dtype: Optional[str] = None, **kwargs: Any) -> "ToolCallingPolicy":
        """Load a model folder (or hub id, with an optional peft adapter) as ``load_model_and_tokenizer`` does; a
        peft adapter's folder (TRL saves one when trained with a ``peft_config``) loads onto the base model its
        ``adapter_config.json`` names."""
        import json
        from pathlib import Path

        from drugenv.llm.loading import load_model_and_tokenizer

        adapter_config = Path(model).expanduser() / "adapter_config.json"
        if adapter is None and adapter_config.is_file():
            base = json.loads(adapter_config.read_text(encoding="utf-8")).get("base_model_name_or_path")
            if not base:
                raise ConfigError(f"{adapter_config} names no base_model_name_or_path: pass the base model and adapter= apart")
            model, adapter = base, model
        loaded, tokenizer = load_model_and_tokenizer(model, adapter, device=device, dtype=dtype)
        return cls(loaded, tokenizer, **kwargs)

    # ------------------------------------------------------------------ rendering, as TRL renders
    def _render(self, messages: list[dict], generation_prompt: bool) -> list[int]:
        return list(self.tokenizer.apply_chat_template(
            messages, tools=self.tools, chat_template=self.chat_template, add_generation_prompt=generation_prompt,
            tokenize=True, return_dict=False, **self.template_kwargs))

    def prompt_ids(self, observation: ValidationObservation) -> list[int]:
        """The tokens TRL's trainer renders for an episode whose first observation is ``observation``."""
        messages = [dict(m) for m in self.prompt]
        messages[-1]["content"] = (messages[-1].get("content") or "") + render_task(observation)
        return self._render(messages, True)

    def tool_suffix_ids(self, tool_messages: list[dict]) -> list[int]:
        """The tokens TRL's trainer appends after a turn for its tool messages (``GRPOTrainer._get_tool_suffix_ids``):
        the rendering of a stand-in conversation with and without them, from the end-of-turn token on."""
        call = [{"type": "function", "function": {"name": tool_messages[0]["name"], "arguments": {}}}]
        stand_in = [{"role": "user", "content": "dummy"}, {"role": "assistant", "content": "", "tool_calls": call}]
        before = self._render(stand_in, False)
        after = self._render(stand_in + tool_messages, True)
        eos = [i for i, t in enumerate(before) if t == self.tokenizer.eos_token_id]
        if eos:
            before = before[: eos[-1] + 1]
        if after[: len(before)] != before:
            raise ConfigError("this chat template renders a tool result that changes the turn before it; TRL refuses it too")
        return after[len(before):]

    # ------------------------------------------------------------------ Policy
    def reset(self, batch_size: int = 1, seeds: Optional[Sequence[int]] = None) -> None:
        self._rollouts = [None] * batch_size
        self._episodes = list(seeds) if seeds is not None else list(range(batch_size))

    def act(self, observations: Sequence[ValidationObservation]) -> list[Any]:
        if len(self._rollouts) < len(observations):
            self.reset(len(observations))
        actions: list[Any] = [None] * len(observations)
        running = [i for i, obs in enumerate(observations) if not obs.done]
        for i in running:
            obs, r = observations[i], self._rollouts[i]
            if r is None:
                ids = self.prompt_ids(obs)
                self._rollouts[i] = _Rollout(prompt_len=len(ids), ids=ids)
            elif r.waiting is not None:  # the step of the last call: its result is this observation
                r.results.append({"role": "tool", "name": r.waiting, "content": render_result(obs)})
                r.waiting = None
        # Turns until every running episode has an action: a turn of only refused calls is followed by another
        todo = list(running)
        while todo:
            generate = []
            for i in todo:
                action = self._next_action(self._rollouts[i])
                if action is not None:
                    actions[i] = action
                else:
                    generate.append(i)
            self._generate(generate, observations)
            todo = generate
        return actions

    def _next_action(self, r: _Rollout) -> Optional[Any]:
        """The next pending call's action, the no-op once the model is done, or None: generate a turn."""
        while r.over is None and r.pending:
            call = r.pending.pop(0)
            function = call.get("function") or {}
            name = str(function.get("name", call.get("name", "unknown")))
            try:
                if call.get("type") != "function":
                    raise ValueError(f"Unsupported tool call type: {call.get('type')}")
                action = tool_call_action(name, function.get("arguments"))
            except ValueError as e:  # TRL catches what the tool raises and shows it to the model
                r.results.append({"role": "tool", "name": name, "content": str({"error": str(e)})})
                continue
            r.waiting = name
            return action
        if r.over is None and r.results:  # the turn's calls are done: their results close it, as TRL appends them
            suffix = self.tool_suffix_ids(r.results)
            r.results = []
            ids = r.ids + suffix
            if len(ids) - r.prompt_len > self.max_completion_length or len(ids) >= self.context:
                r.over = "tool results past max_completion_length or the context (TRL drops them)"
            else:
                r.ids = ids
        if r.over is not None:
            return {"action_type": UNPARSEABLE_ACTION_TYPE, "parameters": {},
                    "reasoning": f"the tool-calling model's part of the episode is over: {r.over}"}
        return None

    def _generate(self, slots: list[int], observations: Sequence[ValidationObservation]) -> None:
        """One turn for each slot, batched; its tool calls become the slot's pending calls."""
        from trl.chat_template_utils import parse_response

        from drugenv.llm.generation import generate_completions
        from drugenv.llm.policy import row_seed

        live = []
        for i in slots:
            r = self._rollouts[i]
            if r.turns >= self.max_iterations:
                r.over = f"max_tool_calling_iterations ({int(self.max_iterations)}) turns of tool calls"
            elif len(r.ids) - r.prompt_len >= self.max_completion_length:
                r.over = "max_completion_length reached"
            else:
                live.append(i)
        if not live:
            return
        budget = max(self.max_completion_length - (len(self._rollouts[i].ids) - self._rollouts[i].prompt_len) for i in live)
        seeds = None
        if self.sampling["temperature"] > 0:
            seeds = [row_seed(self.seed, self._episodes[i], self._rollouts[i].turns) for i in live]
        done = generate_completions(self.model, [self._rollouts[i].ids for i in live], stop_ids=self.stop_ids, pad_id=self.pad_id,
                                    max_new_tokens=budget, row_seeds=seeds, **self.sampling)
        for i, completion in zip(live, done.completion_ids):
            r = self._rollouts[i]
            room = self.max_completion_length - (len(r.ids) - r.prompt_len)
            completion = completion[:room]  # the batch's budget is the roomiest slot's
            message = parse_response(self.tokenizer, completion, prefix=r.ids, tools=self.tools) if completion else {}
            r.ids = r.ids + completion
            calls = message.get("tool_calls") or []
            if not calls:
                r.over = "a turn without a tool call"
            else:
                r.pending, r.turns = list(calls), r.turns + 1


__all__ = ["ToolCallingPolicy", "trl_tools"]
