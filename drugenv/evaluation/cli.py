"""``drugenv eval``: score an agent on a suite and print a table.

How to run::

    drugenv eval --agent heuristic --suite curated --episodes 50 --seed 0
    drugenv eval --agent oracle --suite procedural-test --episodes 200 --out runs/eval/oracle.json
    drugenv eval --agent hf --model Qwen/Qwen2.5-0.5B-Instruct --suite curated --episodes 10
    drugenv eval --agent checkpoint:runs/grpo_tiny_cpu/checkpoint_final
    drugenv eval --agent examples/safety_and_potency.py:SafetyAndPotency --suite procedural-test --paired heuristic  # yours
    drugenv eval --agent serve:http://127.0.0.1:8000 --suite curated      # the Serve agent app, or any POST /act server
    drugenv eval --agent trl:outputs/checkpoint-500 --max-steps 12        # a model TRL trained through DrugTargetToolEnv
    drugenv eval --agent heuristic --suite procedural-test --episodes 3000 --reliability
    drugenv eval --agent heuristic --suite procedural-test --difficulty very_hard --episodes 300   # one tier
    drugenv eval --agent checkpoint:runs/grpo_tiny_cpu_long/checkpoint_best --suite curated --episodes 100 \
        --seed 2000 --max-steps 12 --by-belief          # where the agent departs from its evidence table
    drugenv eval --agent checkpoint:runs/ppo_vector/checkpoint_final --suite procedural-test --episodes 500 \
        --seed 1000 --paired heuristic                  # + the heuristic on the same episodes, paired 95% intervals

Results to expect (measured, README "Baseline scores"): oracle accuracy 1.0, heuristic well above random.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from drugenv.evaluation.agents import make_policy
from drugenv.evaluation.evaluate import by_scenario, evaluate, group_of, write_results
from drugenv.evaluation.metrics import METRIC_KEYS, belief_agreement, reliability, twin_metrics
from drugenv.scenarios import HELDOUT_SUITES, Suite
from drugenv.simulator.params import Difficulty, RewardConfig
from drugenv.storage import shown


@dataclass
class EvalArgs:
    """Evaluate an agent with the standard metrics."""

    agent: str = "heuristic"
    """random | heuristic | expression_only | oracle | hf | checkpoint:PATH (a GRPO or PPO checkpoint; a PPO one is
    RLlib's pickle, which runs code as it loads) |
    serve:URL (an agent over HTTP answering POST URL/act) | trl:PATH (a model TRL trained through
    DrugTargetToolEnv) | your own agent as MODULE:NAME or FILE.py:NAME (a `drugenv.Policy` subclass, instance
    or a function returning one; built with `--extra` and `--seed` if it takes a `seed`)."""
    suite: Suite = "curated"
    """Which episodes: the five curated scenarios, procedural train / held-out test seeds, or held-out
    counterfactual twin pairs (adds pair accuracy: does the verdict follow the evidence, not the gene?)."""
    difficulty: Optional[Difficulty] = None
    """Play a procedural suite's seeds in one tier (easy | medium | hard | very_hard; very_hard, five key
    dimensions and up to three misleading signals, is played only when asked for). Default: each seed's own
    tier, one of easy / medium / hard. Not for the curated suite, whose scenarios have their own."""
    episodes: int = 50
    """Number of episodes."""
    seed: int = 0
    """First seed of the suite (episodes are fully determined by suite, episodes and seed); the random agent's
    draws and an hf agent's sampling are seeded by it too."""
    batch_size: int = 8
    """Episodes stepped in lockstep (batched generation for LLM policies)."""
    max_steps: Optional[int] = None
    """The step cap (the environment's is 30): lower it to bound an LLM's generation time; an episode that
    hits it has no report."""
    decision_scoring: Literal["linear", "brier"] = "linear"
    """Decision-accuracy rule inside the reward (metrics report both accuracy and Brier regardless)."""
    model: Optional[str] = None
    """--agent hf: HF model id or local path, or 'tiny' (default $RUN_AGENT_MODEL_ID; one of the two is required)."""
    adapter: Optional[str] = None
    """--agent hf: optional peft LoRA adapter path (default $RUN_AGENT_LORA_ADAPTER)."""
    out: Optional[str] = None
    """Write summary + per-scenario + per-episode results as JSON here."""
    reliability: bool = False
    """Also print how often each stated confidence was right, per decision and confidence bin
    (`metrics.reliability`): where an agent is over- or under-confident."""
    by_belief: bool = False
    """Also print the reports sorted by the public belief of each episode's last observation (the
    evidence table's decision and confidence; `metrics.belief_agreement`): how often the agent
    followed it, per band, and how often it was right."""
    paired: Optional[str] = None
    """Also play this agent (same names as `--agent`, e.g. `heuristic`) on the same episodes and print
    `--agent` minus it per metric, with paired bootstrap 95% intervals (`evaluation.bootstrap`), overall
    and per curated scenario or procedural tier (`--out` keeps both, as `paired`); a group of fewer than
    20 episodes gets its difference without an interval, which would be too narrow to be 95%."""
    seal: Optional[str] = None
    """Play sealed episodes, as `drugenv serve-env --seal` serves them: the seeds name worlds no public seed
    names and observations carry no seed, so an agent that runs code cannot look its episodes up (your own,
    best over serve:URL, where it sees only observations). Default: $DRUGENV_SEAL, else unsealed. Prefer the
    variable: a secret on the command line shows in the process list."""
    progress: bool = True
    """Show a progress bar."""
    extra: dict = field(default_factory=dict)
    """Extra keyword arguments for the policy constructor (`--extra submit_prob 0.5 device cpu`, or the flag
    once per pair): a value that reads as a JSON number, `true`, `false` or `null` is passed as that, any other
    as text."""


_SHORT = {"decision_accuracy": "acc", "mean_return": "return", "terminal_reward": "terminal", "brier": "brier",
          "ece": "ece", "evidence_coverage": "coverage", "credits_used": "credits", "steps": "steps",
          "violation_rate": "viol/step", "report_rate": "reported", "decision_utility": "utility"}


def format_table(rows: dict[str, dict[str, float]], keys: tuple[str, ...] = METRIC_KEYS) -> str:
    """Plain-text table: one row per name, one column per metric (headers: see metrics module). A metric
    that is not a number prints ``nan``, read back from a results file (``null``) or not."""
    name_w = max([len("name")] + [len(n) for n in rows])
    head = "name".ljust(name_w) + " " + " ".join(_SHORT.get(k, k)[:9].rjust(9) for k in keys)
    lines = [head, "-" * len(head)]
    for name, m in rows.items():
        lines.append(name.ljust(name_w) + " " + " ".join(f"{math.nan if m[k] is None else m[k]:9.3f}" for k in keys))
    return "\n".join(lines)


def _band(low: float, high: float, digits: int) -> str:
    """A confidence bin as ``[low, high)``, closed at 1."""
    return f"[{low:.{digits}f}, {high:.{digits}f}{']' if high == 1.0 else ')'}"


def format_reliability(rows: list[dict]) -> str:
    """``metrics.reliability`` rows as a plain-text table."""
    return "\n".join(["decision  confidence bin   reports  mean confidence  accuracy"] + [
        f"{r['decision']:<9} {_band(r['low'], r['high'], 3)} {r['reports']:>9} {r['confidence']:>16.3f} {r['accuracy']:>9.3f}"
        for r in rows])


def format_belief_agreement(rows: list[dict]) -> str:
    """``metrics.belief_agreement`` rows as a plain-text table."""
    return "\n".join(["belief   confidence band   reports  agent go  agent no_go  followed  accuracy"] + [
        f"{r['belief']:<8} {_band(r['low'], r['high'], 2)} {r['reports']:>11} {r['go']:>9} {r['no_go']:>12}"
        f" {r['followed']:>9.3f} {r['accuracy']:>9.3f}" for r in rows])


MAX_EPISODES = 1_000_000
"""Most episodes one ``drugenv eval`` run plays (days of a baseline; its episode list is built up front)."""


def check_args(args: EvalArgs) -> None:
    """Numbers in range and output folder usable, before any model loads; ``ConfigError`` otherwise."""
    from drugenv.cli import check_output_path
    from drugenv.errors import ConfigError
    from drugenv.scenarios.procedural import TEST_SEED_OFFSET

    for name, value, low in (("--episodes", args.episodes, 1), ("--batch-size", args.batch_size, 1), ("--seed", args.seed, 0),
                             ("--max-steps", args.max_steps, 1)):
        if value is not None and value < low:
            raise ConfigError(f"{name} {value} is out of range: it must be >= {low}")
    if (args.model or args.adapter) and args.agent != "hf" and (args.paired or "") != "hf":
        flag = "--model" if args.model else "--adapter"  # taken without a word, and the agent played without them
        raise ConfigError(f"{flag} is read by --agent hf only; --agent {args.agent} loads no model "
                          "(a checkpoint: agent names its own)")
    if args.difficulty is not None and args.suite == "curated":
        raise ConfigError(f"--difficulty {args.difficulty} is for the procedural suites: each curated scenario has its "
                          "own tier (--suite procedural-test plays held-out seeds)")
    if args.episodes > MAX_EPISODES:  # the episode list is built up front: 10^20 of them took every byte of memory
        raise ConfigError(f"--episodes {args.episodes} is out of range: at most {MAX_EPISODES:,} per run")
    from drugenv.simulator.environment import MAX_SEED

    offset = TEST_SEED_OFFSET if args.suite in HELDOUT_SUITES else 0
    if offset + args.seed + args.episodes - 1 > MAX_SEED:  # the episodes' seeds, not --seed, passed the server's range
        raise ConfigError(f"--seed {args.seed} with --episodes {args.episodes} runs past the last seed, 2**63 - 1 "
                          f"(= {MAX_SEED}){f', counting {args.suite} from {offset:,}' if offset else ''}: lower --seed")
    if args.suite == "procedural-train" and args.seed + args.episodes > TEST_SEED_OFFSET:
        raise ConfigError(f"--seed {args.seed} with --episodes {args.episodes} runs past the train seeds: procedural-train plays "
                          f"seeds --seed to --seed + episodes - 1, all below {TEST_SEED_OFFSET:,}; lower --seed, or use "
                          "--suite procedural-test")
    if args.out is not None:  # "" or blanks too: an unset shell variable is refused, not taken as no --out
        check_output_path(args.out, "--out")
    taken = sorted({"seed", "model", "adapter"} & set(args.extra))
    if taken:
        raise ConfigError(f"--extra {', '.join(taken)}: set {', '.join('--' + k for k in taken)} instead")


def extra_value(text: Any) -> Any:
    """An ``--extra`` value as the policy takes it: ``"0.5"`` is 0.5, ``"true"`` True, ``"null"`` None, other
    text stays text (the command line gives every value as a string; a number compared as one failed mid-run)."""
    if not isinstance(text, str):
        return text
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: a text of thousands of "[" (was a traceback)
        return text
    return value if value is None or isinstance(value, (bool, int, float)) else text


def eval_main(args: EvalArgs) -> dict:
    check_args(args)
    from drugenv.simulator.environment import configured_seal

    seal = configured_seal(args.seal, unsealed="play public episodes")
    if not args.progress:  # a model's own loading bars too (--agent hf, checkpoint:)
        from drugenv.cli import quiet_library_progress_bars

        quiet_library_progress_bars()
    extra = {k: extra_value(v) for k, v in args.extra.items()}
    # Your own agent (MODULE:NAME) too: the command line runs its user's code, as `python my_agent.py` would.
    policy = make_policy(args.agent, model=args.model, adapter=args.adapter, seed=args.seed, allow_import=True, **extra)
    # Built before any episode runs, so a wrong name fails at once.
    reference = (make_policy(args.paired, model=args.model, adapter=args.adapter, seed=args.seed, allow_import=True)
                 if args.paired else None)
    cfg = RewardConfig(decision_scoring=args.decision_scoring)
    summary, records = evaluate(policy, args.suite, args.episodes, args.seed, reward_config=cfg, max_steps=args.max_steps,
                                batch_size=args.batch_size, progress=args.progress, seal=seal, difficulty=args.difficulty)
    per = by_scenario(records)
    tier = f" in the {args.difficulty} tier" if args.difficulty else ""
    print(f"\n{shown(args.agent)} on {args.suite}{tier} ({args.episodes} episodes, seed {args.seed}{', sealed' if seal else ''})")
    print(format_table({**per, "ALL": summary}))
    payload: dict[str, Any] = {
        "agent": shown(args.agent), "suite": args.suite, "difficulty": args.difficulty, "episodes": args.episodes, "seed": args.seed,
        "max_steps": args.max_steps, "decision_scoring": args.decision_scoring, "sealed": seal is not None,
        "summary": summary, "by_scenario": per, "records": [r.__dict__ for r in records]}
    if args.suite == "procedural-test-twins":
        payload["twins"] = twin_metrics(records)
        print("twins: " + "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in payload["twins"].items()))
    if args.reliability:
        payload["reliability"] = reliability(records)
        print(format_reliability(payload["reliability"]))
    if args.by_belief:
        payload["belief_agreement"] = belief_agreement(records)
        print(format_belief_agreement(payload["belief_agreement"]))
    if reference is not None:
        payload["paired"] = _paired(args, reference, cfg, records, seal)
    if args.out:
        print(f"wrote {write_results(args.out, payload)}")
    return payload


def _difference(d: dict) -> str:
    """``+0.050 [+0.010, +0.090]``, or the difference alone where the group was too small for an interval."""
    iv = d["diff_ci"]
    return f"{d['diff']:+.3f}" + (f" [{iv[0]:+.3f}, {iv[1]:+.3f}]" if iv is not None else "")


def _paired(args: EvalArgs, reference, cfg: RewardConfig, records: list, seal: Optional[str]) -> dict:
    """``reference`` (``--paired``) on the same episodes, and ``--agent`` minus it with paired bootstrap intervals."""
    from drugenv.errors import ConfigError
    from drugenv.evaluation.bootstrap import MIN_INTERVAL_EPISODES, has_interval, paired_bootstrap

    paired = args.paired
    if paired is None:  # eval_main builds a reference only from --paired
        raise ConfigError("a paired comparison needs --paired")
    ref_summary, ref_records = evaluate(reference, args.suite, args.episodes, args.seed, reward_config=cfg,
                                        max_steps=args.max_steps, batch_size=args.batch_size, progress=args.progress,
                                        seal=seal, difficulty=args.difficulty)
    diff = paired_bootstrap(records, ref_records)
    print(f"{shown(args.agent)} − {shown(paired)} on the same episodes (paired bootstrap, 95% interval):")
    for key, d in diff.items():
        print(f"  {key:<18} {d['mean']:8.3f} vs {d['ref_mean']:8.3f}   {_difference(d)}")
    groups: dict[str, tuple[list, list]] = {}  # the same pairs, per scenario (curated) or tier (procedural)
    for mine, ref in zip(records, ref_records):
        mine_list, ref_list = groups.setdefault(group_of(mine), ([], []))
        mine_list.append(mine)
        ref_list.append(ref)
    per: dict[str, dict[str, Any]] = {name: {"episodes": len(mine_list), **paired_bootstrap(mine_list, ref_list)}
           for name, (mine_list, ref_list) in sorted(groups.items())}
    print("  decision_utility by " + ("scenario: " if args.suite == "curated" else "tier: ") + "  ".join(
        f"{name} {_difference(d['decision_utility'])}" for name, d in per.items()))
    if not all(has_interval(d["episodes"]) for d in per.values()):
        print(f"  (no interval for a group of fewer than {MIN_INTERVAL_EPISODES} episodes: a bootstrap's would fall short of 95%)")
    return {"agent": shown(paired), "summary": ref_summary, "diff": diff, "by_scenario": per}


__all__ = [
    "EvalArgs", "MAX_EPISODES", "check_args", "eval_main", "extra_value", "format_belief_agreement",
    "format_reliability", "format_table",
]


if __name__ == "__main__":  # pragma: no cover
    from drugenv.cli import join_repeated_flag, parse_args, tolerate_any_console_encoding

    tolerate_any_console_encoding()
    print(json.dumps(eval_main(parse_args(EvalArgs, args=join_repeated_flag(sys.argv[1:], "--extra")))["summary"], indent=2))
