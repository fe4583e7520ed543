"""Supervised warm-start on expert trajectories (``expert_examples``: oracle or heuristic): the
prompts of ``prompts.build_messages`` and the expert's actions as ``prompts.action_to_json``
replies, with loss on the assistant tokens only (``masks.assistant_token_mask``, which includes
the closing ``<|im_end|>`` so the model learns to stop).

How to run (tiny model, CPU, ~1 min)::

    python -m drugenv.llm.sft

Results to expect: the untrained tiny model's valid-action rate is ~0; after a few hundred steps
on oracle steps from the curated suite (``--suite``) it emits parseable actions.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from drugenv.llm.loading import disable_activation_checkpointing, enable_activation_checkpointing
from drugenv.llm.masks import assistant_token_mask
from drugenv.llm.parsing import parse_action
from drugenv.llm.prompts import DEFAULT_MAX_PROMPT_TOKENS, action_to_json, build_messages, prompt_token_ids
from drugenv.actions import ActionType
from drugenv.models import DrugTargetAction

Messages = list[dict[str, str]]


EXPERTS = ("oracle", "heuristic")

FOLLOW_UP_REASON = "second readout"
"""How the teacher's reasoning starts when a lone failing gate gets its second, independent readout
instead of a report (``HeuristicPolicy.follow_ups``): the turn where investigating on beats deciding."""


def teacher_reasoning(obs: Any, action: DrugTargetAction) -> str:
    """The reasoning the SFT teacher writes: it names the evidence, never a bare number.

    A report names the deciding gate and its readouts (``"safety fails: tox=0.74 ko=yes"``, or for a
    go ``"no gate fails; weakest selectivity: sel=12.1"``); an investigation says why it is next
    (``"next protocol step"``, or ``"second readout: linkage fails"`` for a follow-up).
    """
    from drugenv.agents.belief import HARD_GATES, assess
    from drugenv.llm.prompts import FAIL_BELOW, READOUT_NAMES, fmt_readout, gate_readouts

    b = assess(obs.dossier)
    if action.action_type != ActionType.SUBMIT_VALIDATION_REPORT:
        failing = [g for g in HARD_GATES if b.seen.get(g) and b.pass_prob[g] < FAIL_BELOW]
        return f"{FOLLOW_UP_REASON}: {failing[0]} fails" if len(failing) == 1 and _is_follow_up(obs, action) else "next protocol step"
    reads = gate_readouts(obs.dossier)
    seen = [g for g in HARD_GATES if b.seen.get(g)]
    if not seen:
        return "no gate inspected"
    worst = min(seen, key=lambda g: b.pass_prob[g])
    vals = " ".join(f"{READOUT_NAMES[k]}={fmt_readout(v)}" for k, v in reads[worst])
    if b.pass_prob[worst] < FAIL_BELOW:
        return f"{worst} fails: {vals}"
    return f"no gate fails; weakest {worst}: {vals}"


def _is_follow_up(obs: Any, action: DrugTargetAction) -> bool:
    from drugenv.agents.baselines import HeuristicPolicy

    return any(a == action.action_type and p.items() <= action.parameters.items()
               for a, p in HeuristicPolicy().follow_ups(obs))


def teacher_action(obs: Any, action: DrugTargetAction, expert: str) -> DrugTargetAction:
    """The expert's action as the SFT reply: heuristic reports state the table's rounded confidence
    (``prompts.report_confidence``, what the model can copy from its prompt) and every heuristic
    reply gets ``teacher_reasoning``. Decision and action are the expert's, except that on the last
    step before the cap the heuristic's honest report replaces an investigation (an episode that
    hits the cap ends without a report)."""
    if expert != "heuristic":
        return action
    from drugenv.agents.belief import assess
    from drugenv.llm.prompts import report_confidence

    decision, conf = assess(obs.dossier).decision()  # what the heuristic reports, unrounded
    if action.action_type != ActionType.SUBMIT_VALIDATION_REPORT and obs.step_count >= obs.max_steps - 1:
        # the last step: report what the evidence says
        action = DrugTargetAction(action_type=ActionType.SUBMIT_VALIDATION_REPORT, final_decision=decision,
                                  confidence=round(conf, 3), reasoning="step cap")
    update: dict[str, Any] = {"reasoning": teacher_reasoning(obs, action)}
    if action.action_type == ActionType.SUBMIT_VALIDATION_REPORT and action.confidence is not None:
        if decision == action.final_decision:
            update["confidence"] = report_confidence(conf)
    return action.model_copy(update=update)


def expert_examples(
    episodes: Sequence[tuple[str, int]],
    *,
    expert: str = "oracle",
    tokenizer: Any = None,
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS,
    max_steps: Optional[int] = None,
    explore: float = 0.0,
    reports_only: bool = False,
) -> list[Messages]:
    """One ``[system, user, assistant]`` conversation per expert step of each ``(scenario, seed)`` episode.

    ``episodes`` is what ``drugenv.scenarios.suite_episodes`` returns. ``max_steps`` is the
    environment's step cap (``SimParams.max_steps``): pass the training config's ``max_turns`` so
    SFT prompts say ``Step: k/<max_turns>`` exactly as rollouts and evaluation do. ``expert``:

    - ``"oracle"`` (the spec's warm start): sees the hidden truth, so its choices are not a function
      of the observation. A large model still picks up the format and the decision prior from it;
      a tiny one memorises it (measured: training loss 0.05, but 14% valid actions mid-episode).
    - ``"heuristic"``: ``HeuristicPolicy``, whose actions follow from the observation alone, so a
      small model can learn the mapping rather than memorise it. Its replies are ``teacher_action``:
      the decision first, then the confidence, and reasoning that names the deciding evidence.
      One step before the step cap it reports (the heuristic itself ignores the cap).

    ``explore`` (noise injection, DART-style): at each step, with this probability, the environment
    is stepped with a random affordable investigation or (one time in four) an unparseable reply
    instead of the expert's action; the expert's action is still the label of that state. The model
    then also learns to recover from states its own mistakes lead to (repeats, skipped steps,
    violations), which clean expert trajectories never show. Deterministic per episode seed.

    ``reports_only``: keep the report turns alone (decision-focused samples, ``sft.report_episodes``):
    the episodes are played exactly as without it, but only report states are rendered.
    """
    from drugenv.agents.base import brief
    from drugenv.agents.baselines import HeuristicPolicy, OraclePolicy
    from drugenv.simulator.environment import DrugTargetEnvironment
    from drugenv.simulator.params import SimParams

    if expert not in EXPERTS:
        raise ValueError(f"expert={expert!r}; valid choices are {list(EXPERTS)}.")
    out: list[Messages] = []
    policy = OraclePolicy() if expert == "oracle" else HeuristicPolicy()
    sim = SimParams(max_steps=int(max_steps)) if max_steps else None
    for scenario, seed in episodes:
        env = DrugTargetEnvironment(sim_params=sim)
        obs = env.reset(seed=seed, scenario=scenario)
        policy.reset(1, [seed])
        brief(policy, 0, env)  # the oracle's truth; a no-op for the heuristic
        rng = random.Random(f"explore-{scenario}-{seed}")
        while not obs.done:
            action = policy.act([obs])[0]
            label = teacher_action(obs, action, expert)
            if not reports_only or label.action_type == ActionType.SUBMIT_VALIDATION_REPORT:
                msgs = build_messages(obs, tokenizer=tokenizer, max_prompt_tokens=max_prompt_tokens)
                out.append([*msgs, {"role": "assistant", "content": action_to_json(label)}])
            obs = env.step(_explore_action(obs, rng) if explore and rng.random() < explore else label)
    return out


def _explore_action(obs: Any, rng: random.Random) -> Any:
    """A random affordable investigation with random valid parameters, or an unparseable reply."""
    import numpy as np

    from drugenv.actions import ACTION_TABLE
    from drugenv.agents.baselines import RandomPolicy
    from drugenv.llm.parsing import ParseFailure, unparseable_action

    options = [a for a in obs.legal_actions if a != ActionType.SUBMIT_VALIDATION_REPORT and ACTION_TABLE[a].cost < obs.credits_remaining]
    if not options or rng.random() < 0.25:
        return unparseable_action(ParseFailure("invalid_json", "exploration", "{"))
    at = options[rng.randrange(len(options))]
    params = RandomPolicy.random_parameters(at, np.random.default_rng(rng.randrange(2**32)))
    return DrugTargetAction(action_type=at, parameters=params, reasoning="exploration")


def is_report(conversation: Messages) -> bool:
    """Whether the conversation's reply is a report (a decision turn)."""
    return '"submit_validation_report"' in conversation[-1]["content"]


def is_follow_up(conversation: Messages) -> bool:
    """Whether the conversation's reply is the teacher's follow-up on a lone failing gate (its
    reasoning starts with ``FOLLOW_UP_REASON``): the turn that decides whether to report now."""
    return f'"reasoning": "{FOLLOW_UP_REASON}' in conversation[-1]["content"]


CONFIDENT = 0.97
"""A report stated at this confidence or more is confident (``is_confident_go``)."""


def is_confident_go(conversation: Messages) -> bool:
    """Whether the conversation's reply is a go report stated at ``CONFIDENT`` or more. The teacher
    rarely makes one on procedural episodes: on 4,000 procedural-train episodes 53 of its 1,475
    reports at 0.97 or more are go (all right), and a model trained on them paired "0.98 in the
    table" with no_go and reversed a clear go (curated egfr; ``docs/grpo.md``, "Confident go reports")."""
    if not is_report(conversation):
        return False
    reply = json.loads(conversation[-1]["content"])
    return reply.get("final_decision") == "go" and float(reply.get("confidence") or 0.0) >= CONFIDENT


def decision_weighted(examples: Sequence[Messages], report_weight: int = 1, follow_up_weight: int = 1,
                      confident_go_weight: int = 1) -> list[Messages]:
    """``examples`` with every report turn repeated ``report_weight`` times and every follow-up turn
    (``is_follow_up``) ``follow_up_weight`` times (decision-focused SFT: a report is one turn in ~9,
    and its decision a few tokens of it; a follow-up, where the teacher gathers a second readout on a
    lone failing gate rather than report, about one in 18). A confident go report (``is_confident_go``)
    is repeated ``report_weight * confident_go_weight`` times."""
    out: list[Messages] = []
    for c in examples:
        if is_report(c):
            w = report_weight * (confident_go_weight if is_confident_go(c) else 1)
        else:
            w = follow_up_weight if is_follow_up(c) else 1
        out += [c] * max(1, int(w))
    return out


def oracle_examples(
    episodes: Sequence[tuple[str, int]],
    *,
    tokenizer: Any = None,
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS,
) -> list[Messages]:
    """``expert_examples`` with the oracle (the spec's SFT warm start)."""
    return expert_examples(episodes, expert="oracle", tokenizer=tokenizer, max_prompt_tokens=max_prompt_tokens)


@dataclass
class SFTBatch:
    """Right-padded tensors for one SFT step."""

    input_ids: Any
    """(B, T) long."""
    attention_mask: Any
    """(B, T) long."""
    labels: Any
    """(B, T) long; -100 outside the assistant tokens."""


def collate(tokenizer: Any, conversations: Sequence[Messages]) -> SFTBatch:
    """Tokenise conversations with the chat template and mask everything but the assistant tokens."""
    import torch

    rows = [assistant_token_mask(tokenizer, c) for c in conversations]
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    ids = torch.full((len(rows), width), pad, dtype=torch.long)  # (B, T)
    attn = torch.zeros((len(rows), width), dtype=torch.long)  # (B, T)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)  # (B, T)
    for r, (seq, mask) in enumerate(rows):
        n = len(seq)
        ids[r, :n] = torch.tensor(seq)
        attn[r, :n] = 1
        m = torch.tensor(mask, dtype=torch.bool)
        labels[r, :n] = torch.where(m, torch.tensor(seq), torch.tensor(-100))
    return SFTBatch(ids, attn, labels)


def lr_factor(step: int, steps: int, *, warmup: float = 0.0, schedule: str = "constant", min_ratio: float = 0.1) -> float:
    """Learning-rate multiplier at optimizer step ``step`` (0-based) of ``steps``: linear warm-up
    over the first ``warmup`` fraction, then ``"constant"`` or ``"cosine"`` decay to ``min_ratio``."""
    import math

    n_warm = int(round(warmup * steps))
    if step < n_warm:
        return (step + 1) / n_warm
    if schedule == "constant":
        return 1.0
    if schedule != "cosine":
        raise ValueError(f"schedule={schedule!r}; expected 'constant' or 'cosine'")
    t = (step - n_warm) / max(1, steps - n_warm - 1)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


def sft_on_trajectories(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Messages],
    steps: int = 300,
    lr: float = 3e-3,
    *,
    batch_size: int = 16,
    seed: int = 0,
    log_every: int = 0,
    max_grad_norm: float = 1.0,
    warmup: float = 0.0,
    schedule: str = "constant",
    min_lr_ratio: float = 0.1,
    eval_fn: Optional[Callable[[Any], dict[str, float]]] = None,
    eval_every: int = 0,
    eval_log: Optional[list[dict[str, float]]] = None,
    micro_batch_size: Optional[int] = None,
    gradient_checkpointing: bool = False,
    progress: bool = False,
) -> list[float]:
    """Completion-only SFT with AdamW: ``steps`` updates on random mini-batches of ``examples``.

    Args:
        model: a causal LM (full model, or a peft model: only its trainable parameters are updated).
        tokenizer: its tokenizer (chat template with prefix-stable rendering, fast offsets).
        examples: conversations ending with the assistant reply to learn.
        steps: optimizer steps.
        lr: peak AdamW learning rate (3e-3 suits the random-init tiny model; use ~1e-4 with LoRA on a real model).
        batch_size: conversations per step.
        seed: mini-batch sampling seed.
        log_every: print the loss every this many steps (0: never).
        max_grad_norm: gradient clipping.
        warmup, schedule, min_lr_ratio: the learning-rate schedule (``lr_factor``).
        eval_fn: ``eval_fn(model) -> {"score": float, ...}`` (e.g. ``imitation_accuracy``), called every
            ``eval_every`` steps and after the last; the weights with the best score are restored at
            the end (checkpoint selection). Each result, with its ``step``, is appended to ``eval_log``.
        micro_batch_size: conversations per forward/backward pass (None: the whole batch). A step
            accumulates its batch's micro-batches, each loss weighted by its share of the batch's
            assistant tokens, so the update is the whole batch's (to float rounding) in a fraction of
            the activation memory: a 3B model's batch of 16 two-thousand-token conversations saves
            ~150 GB of activations in one pass (``docs/gpu.md``).
        gradient_checkpointing: recompute each layer's activations in the backward pass instead of
            keeping them (about a third more compute; turned off again at the end).
        progress: a progress bar over the steps, with the last step's loss (stderr).

    Returns:
        The loss of every step (mean cross-entropy per assistant token).
    """
    import copy

    import torch

    if not examples:
        raise ValueError("sft_on_trajectories needs at least one example conversation")
    if micro_batch_size is not None and micro_batch_size < 1:
        raise ValueError(f"micro_batch_size={micro_batch_size} must be >= 1 (or None: the whole batch)")
    micro = batch_size if micro_batch_size is None else min(micro_batch_size, batch_size)
    if gradient_checkpointing:
        enable_activation_checkpointing(model)
    rng = random.Random(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: lr_factor(i, steps, warmup=warmup, schedule=schedule, min_ratio=min_lr_ratio))
    device = next(model.parameters()).device
    best: tuple[float, int, Any] = (float("-inf"), -1, None)

    def evaluate(step: int) -> None:
        nonlocal best
        model.eval()
        res = {"step": step, **eval_fn(model)}  # type: ignore[misc]
        if eval_log is not None:
            eval_log.append(res)
        if log_every:
            print(f"sft eval step {step}: {res}")
        if res["score"] > best[0]:
            best = (res["score"], step, copy.deepcopy(model.state_dict()))
        model.train()

    from tqdm.auto import tqdm

    model.train()
    losses: list[float] = []
    bar = tqdm(total=steps, desc="SFT warm start", unit="step", disable=not progress, mininterval=2.0)
    for step in range(steps):
        chosen = [examples[rng.randrange(len(examples))] for _ in range(batch_size)]
        opt.zero_grad(set_to_none=True)
        if micro == batch_size:  # one pass (the path every recorded run took)
            batch = collate(tokenizer, chosen)
            out = model(input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device),
                        labels=batch.labels.to(device), use_cache=False)
            out.loss.backward()
            loss = float(out.loss.detach())
        else:
            parts = [collate(tokenizer, chosen[i:i + micro]) for i in range(0, batch_size, micro)]
            # The model's loss is a mean over the assistant tokens it scores (labels shifted by one).
            counts = [int((b.labels[:, 1:] != -100).sum()) for b in parts]
            total, loss = max(1, sum(counts)), 0.0
            for b, n in zip(parts, counts):
                if not n:
                    continue
                out = model(input_ids=b.input_ids.to(device), attention_mask=b.attention_mask.to(device),
                            labels=b.labels.to(device), use_cache=False)
                (out.loss * (n / total)).backward()
                loss += float(out.loss.detach()) * n / total
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        opt.step()
        sched.step()
        losses.append(loss)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        if log_every and (step + 1) % log_every == 0:
            print(f"sft step {step + 1}/{steps} loss {losses[-1]:.4f} lr {sched.get_last_lr()[0]:.2e}")
        if eval_fn is not None and eval_every and (step + 1) % eval_every == 0 and step + 1 < steps:
            evaluate(step + 1)
    bar.close()
    if eval_fn is not None:
        evaluate(steps)
        if best[2] is not None and best[1] != steps:
            model.load_state_dict(best[2])
    if gradient_checkpointing:
        disable_activation_checkpointing(model)
    model.eval()
    return losses


def imitation_accuracy(model: Any, tokenizer: Any, examples: Sequence[Messages], *, max_new_tokens: int = 64,
                       batch_size: int = 32) -> dict[str, float]:
    """Greedy replies to held-out expert turns, compared with the expert's.

    Returns ``action_acc`` (same action type and parameters, all turns), ``report_acc`` (reports
    exactly where the expert reports), ``decision_acc`` (same go / no_go on the expert's report
    turns), ``confidence_acc`` (the same confidence to ±0.005 there), ``valid`` (parseable replies)
    and ``score`` = mean of action_acc and decision_acc.
    """
    from drugenv.llm.policy import HFGenerateBackend, SamplingConfig

    if not examples:
        raise ValueError("imitation_accuracy needs held-out examples")
    backend = HFGenerateBackend(model, tokenizer, batch_size=batch_size)
    gens = backend.generate([prompt_token_ids(tokenizer, c[:-1]) for c in examples],
                            SamplingConfig(temperature=0.0, max_new_tokens=max_new_tokens))
    act = rep = valid = 0
    dec: list[bool] = []
    conf: list[bool] = []
    for c, g in zip(examples, gens):
        want = parse_action(c[-1]["content"])
        got = parse_action(g.text)
        ok = isinstance(got, DrugTargetAction)
        valid += ok
        is_rep = want.action_type == ActionType.SUBMIT_VALIDATION_REPORT
        got_rep = ok and got.action_type == ActionType.SUBMIT_VALIDATION_REPORT
        rep += is_rep == got_rep
        act += ok and got.action_type == want.action_type and got.parameters == want.parameters
        if is_rep:
            dec.append(got_rep and got.final_decision == want.final_decision)
            conf.append(got_rep and got.confidence is not None and abs(got.confidence - want.confidence) < 0.005)
    n = len(examples)
    out = {"action_acc": act / n, "report_acc": rep / n, "decision_acc": sum(dec) / max(1, len(dec)),
           "confidence_acc": sum(conf) / max(1, len(conf)),
           "valid": valid / n, "n": float(n), "n_reports": float(len(dec))}
    out["score"] = 0.5 * (out["action_acc"] + out["decision_acc"])
    return out


def rollout_score(model: Any, tokenizer: Any, suite: str, episodes: int, seed: int, *, metric: str = "decision_utility",
                  max_steps: Optional[int] = None, max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS,
                  max_new_tokens: int = 64, batch_size: int = 50) -> dict[str, float]:
    """Greedy episodes played by the model itself, scored by the standard metrics.

    Teacher-forced ``imitation_accuracy`` asks whether the model repeats the expert on the expert's
    states; this asks what checkpoint selection cares about: how the model decides on its own
    trajectories, where one early slip changes every later prompt. Plays ``episodes`` episodes of
    ``suite`` from ``seed`` (held-out train-split seeds, never the test split) under the game's step
    cap and prompt budget. Returns accuracy, report rate, Brier, decision utility, violation rate and
    ``score`` = ``metric`` (negated when lower is better).
    """
    from drugenv.evaluation.evaluate import evaluate
    from drugenv.evaluation.metrics import LOWER_IS_BETTER
    from drugenv.llm.policy import HFPolicy, SamplingConfig

    if episodes < 1:
        raise ValueError("rollout_score needs at least one held-out episode")
    # seed=None: greedy decoding draws nothing, so the SFT run's torch RNG stays untouched.
    policy = HFPolicy(model_obj=model, tokenizer_obj=tokenizer, max_prompt_tokens=max_prompt_tokens, batch_size=batch_size,
                      sampling=SamplingConfig(temperature=0.0, max_new_tokens=max_new_tokens, seed=None))
    summary, _ = evaluate(policy, suite, episodes, seed, max_steps=max_steps, batch_size=batch_size, progress=False)
    out = {k: float(summary[k]) for k in ("decision_accuracy", "report_rate", "brier", "decision_utility", "violation_rate")}
    out["n"] = float(episodes)
    out["score"] = -float(summary[metric]) if metric in LOWER_IS_BETTER else float(summary[metric])
    return out


def valid_action_rate(policy: Any, observations: Sequence[Any]) -> float:
    """Fraction of ``policy.act(observations)`` outputs that parse into an action (0-1)."""
    actions = policy.act(list(observations))
    return sum(isinstance(a, DrugTargetAction) for a in actions) / max(1, len(actions))


def first_observations(n: int, suite: str = "curated", seed: int = 0) -> list[Any]:
    """The reset observations of the first ``n`` episodes of ``suite`` (for valid-action-rate checks)."""
    from drugenv.scenarios import suite_episodes
    from drugenv.simulator.environment import DrugTargetEnvironment

    return [DrugTargetEnvironment().reset(seed=s, scenario=sc) for sc, s in suite_episodes(suite, n, seed)]


def main(steps: int = 300, episodes: int = 40, samples: int = 50, seed: int = 0, suite: str = "curated",
         out: Optional[str] = None) -> dict:
    """Tiny model: valid-action rate before and after SFT on oracle trajectories; optionally save the model.

    Valid-action rate is measured on ``samples`` first observations of held-out seeds of ``suite``
    and on ``samples`` mid-episode observations (oracle trajectories of held-out seeds).
    """
    import time

    from drugenv.cli import check_output_path

    if out is not None:  # before the training, not after it (a file in the way was a NotADirectoryError at the end)
        check_output_path(out, "--out", directory=True)
    from drugenv.llm.policy import HFPolicy, SamplingConfig
    from drugenv.llm.loading import load_model_and_tokenizer
    from drugenv.llm.tiny import cached_tiny_model
    from drugenv.scenarios import suite_episodes

    model, tok = load_model_and_tokenizer(cached_tiny_model(), device="cpu")
    sampling = SamplingConfig(temperature=0.7, max_new_tokens=96, seed=seed)
    policy = HFPolicy(model_obj=model, tokenizer_obj=tok, sampling=sampling, batch_size=25)
    probe_first = first_observations(samples, suite, seed=10_000)
    held_out = oracle_examples(suite_episodes(suite, samples, 20_000), tokenizer=tok)
    probe_mid = [held_out[i * len(held_out) // samples] for i in range(samples)]

    def rates() -> tuple[float, float]:
        first = valid_action_rate(policy, probe_first)
        gens = policy.backend.generate([prompt_token_ids(tok, c[:-1]) for c in probe_mid], sampling)
        mid = sum(isinstance(parse_action(g.text), DrugTargetAction) for g in gens) / len(gens)
        return first, mid

    before = rates()
    data = oracle_examples(suite_episodes(suite, episodes, seed), tokenizer=tok)
    t0 = time.perf_counter()
    losses = sft_on_trajectories(model, tok, data, steps=steps, lr=3e-3, seed=seed, log_every=50)
    secs = time.perf_counter() - t0
    after = rates()
    if out:
        model.save_pretrained(out)
        tok.save_pretrained(out)
    res = {"valid_first_obs_before": before[0], "valid_mid_obs_before": before[1],
           "valid_first_obs_after": after[0], "valid_mid_obs_after": after[1], "examples": len(data),
           "steps": steps, "sft_seconds": round(secs, 1), "final_loss": round(losses[-1], 4)}
    print(res)
    return res


if __name__ == "__main__":  # the flags are main's arguments (--steps, --episodes, ...); --help lists them
    import sys

    from drugenv.cli import parse_args, run_command

    # A mistake (--out where no folder can be made) or a full disk is one line, as for the drugenv commands.
    sys.exit(run_command("python -m drugenv.llm.sft", lambda _: parse_args(main), None))


__all__ = [
    "EXPERTS",
    "FOLLOW_UP_REASON",
    "SFTBatch",
    "collate",
    "decision_weighted",
    "expert_examples",
    "first_observations",
    "imitation_accuracy",
    "is_follow_up",
    "is_report",
    "lr_factor",
    "oracle_examples",
    "rollout_score",
    "sft_on_trajectories",
    "teacher_action",
    "teacher_reasoning",
    "valid_action_rate",
]
