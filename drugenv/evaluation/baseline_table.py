"""Regenerate the README's "Baseline scores" table.

How to run::

    python -m drugenv.evaluation.baseline_table --episodes 100 --out runs/eval/baselines.json

Prints a markdown table: accuracy / Brier / mean return per curated scenario and on the
procedural test split, for each baseline agent.
"""

from __future__ import annotations

from dataclasses import dataclass

import tyro

from drugenv.agents.baselines import BASELINES
from drugenv.evaluation.evaluate import by_scenario, evaluate, write_results
from drugenv.scenarios import CURATED_NAMES


@dataclass
class Args:
    episodes: int = 100
    """Episodes per suite (curated episodes are spread round-robin over the five scenarios)."""
    seed: int = 0
    """First seed of each suite."""
    agents: tuple[str, ...] = ("random", "expression_only", "heuristic", "oracle")
    """Baselines to score."""
    out: str = "runs/eval/baselines.json"
    """Where the full numbers go."""


def main(args: Args) -> str:
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for name in args.agents:
        policy = BASELINES[name](seed=args.seed) if name == "random" else BASELINES[name]()
        _, curated = evaluate(policy, "curated", args.episodes, args.seed, progress=True)
        test, _ = evaluate(policy, "procedural-test", args.episodes, args.seed, progress=True)
        rows[name] = {**by_scenario(curated), "procedural-test": test}
    buckets = [*CURATED_NAMES, "procedural-test"]
    head = "| scenario | " + " | ".join(args.agents) + " |"
    lines = [head, "|" + "---|" * (len(args.agents) + 1)]
    for b in buckets:
        cells = [f"{rows[a][b]['decision_accuracy']:.2f} / {rows[a][b]['brier']:.2f} / {rows[a][b]['mean_return']:.2f}"
                 for a in args.agents]
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print("cells: decision accuracy / Brier / mean return\n" + table)
    write_results(args.out, rows)
    return table


if __name__ == "__main__":
    main(tyro.cli(Args))
