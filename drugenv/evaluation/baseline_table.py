"""Regenerate the README's "Baseline scores" table.

How to run::

    python -m drugenv.evaluation.baseline_table --episodes 100 --readme README.md

Scores each baseline agent, writes the numbers to ``docs/results/baselines.json`` (committed, so
anyone can check the README against them) and prints a markdown table: accuracy / Brier / mean
return per curated scenario, on the procedural test split, and on the same test seeds in the very_hard
tier (which the split's own draw never plays). ``--readme`` rewrites the table
between the README's ``baseline-table`` markers from that JSON; ``tests/evaluation`` checks that
the README's table is the one the committed JSON renders.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from drugenv.agents.baselines import BASELINES, RandomPolicy
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
    out: str = "docs/results/baselines.json"
    """Where the full numbers go (the committed source of the README table)."""
    readme: Optional[str] = None
    """Rewrite the table between this file's ``<!-- baseline-table:start/end -->`` markers."""

MARK_START, MARK_END = "<!-- baseline-table:start -->", "<!-- baseline-table:end -->"
VERY_HARD_ROW = "procedural-test, very_hard"


def render_table(payload: dict) -> str:
    """The markdown table of a ``baselines.json`` payload (cells: accuracy / Brier / mean return)."""
    rows, agents = payload["results"], payload["agents"]
    lines = ["| scenario | " + " | ".join(agents) + " |", "|" + "---|" * (len(agents) + 1)]
    for b in [*CURATED_NAMES, "procedural-test", VERY_HARD_ROW]:
        cells = [f"{rows[a][b]['decision_accuracy']:.2f} / {rows[a][b]['brier']:.2f} / {rows[a][b]['mean_return']:.2f}"
                 for a in agents]
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def splice_readme(readme: str, table: str) -> str:
    """``readme`` with the text between the baseline-table markers replaced by ``table``."""
    pattern = re.compile(re.escape(MARK_START) + ".*?" + re.escape(MARK_END), re.S)
    if not pattern.search(readme):
        raise ValueError(f"no {MARK_START} ... {MARK_END} markers in the README")
    return pattern.sub(lambda _: f"{MARK_START}\n{table}\n{MARK_END}", readme)


def baseline_results(episodes: int, seed: int, agents: tuple[str, ...], progress: bool = True) -> dict[str, dict[str, dict[str, float]]]:
    """The ``results`` of ``baselines.json``: per agent, the metrics of each curated scenario, of procedural-test
    and of its seeds in the very_hard tier."""
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for name in agents:
        policy = RandomPolicy(seed=seed) if name == "random" else BASELINES[name]()  # BASELINES["random"] (a type[Policy] takes no seed)
        _, curated = evaluate(policy, "curated", episodes, seed, progress=progress)
        test, _ = evaluate(policy, "procedural-test", episodes, seed, progress=progress)
        very_hard, _ = evaluate(policy, "procedural-test", episodes, seed, difficulty="very_hard", progress=progress)
        rows[name] = {**by_scenario(curated), "procedural-test": test, VERY_HARD_ROW: very_hard}
    return rows


def check_args(args: Args) -> None:
    """Refuse what would fail after the work, or leave the committed JSON rewritten and the table not made
    (``ConfigError``): too few episodes to give each curated scenario one, an unknown agent, a seed out of
    range, an output that cannot be written, a README without the table's markers."""
    from drugenv.cli import check_output_path
    from drugenv.errors import ConfigError
    from drugenv.simulator.environment import validated_seed

    if args.episodes < len(CURATED_NAMES):
        raise ConfigError(f"--episodes {args.episodes} is too few: the curated suite needs at least "
                          f"{len(CURATED_NAMES)}, one for each of its scenarios")
    unknown = [a for a in args.agents if a not in BASELINES]
    if unknown or not args.agents:
        raise ConfigError(f"--agents {' '.join(unknown) or '(none)'}: the baselines are {', '.join(BASELINES)}")
    validated_seed(args.seed, "--seed")
    check_output_path(args.out, "--out")
    if args.readme:
        try:
            splice_readme(Path(args.readme).read_text(encoding="utf-8"), "")
        except (OSError, ValueError) as e:
            raise ConfigError(f"--readme {args.readme}: {getattr(e, 'strerror', None) or e}") from None


def main(args: Args) -> str:
    check_args(args)
    rows = baseline_results(args.episodes, args.seed, tuple(args.agents))
    payload = {"episodes": args.episodes, "seed": args.seed, "agents": list(args.agents), "results": rows,
               "command": f"python -m drugenv.evaluation.baseline_table --episodes {args.episodes} --seed {args.seed}"}
    table = render_table(json.loads(json.dumps(payload)))  # the table the file will render, made before it is written
    write_results(args.out, payload)
    print("cells: decision accuracy / Brier / mean return\n" + table)
    if args.readme:
        from drugenv.cli import write_text_atomic  # a failed write leaves the README as it was, not emptied

        write_text_atomic(args.readme, splice_readme(Path(args.readme).read_text(encoding="utf-8"), table))
    return table


__all__ = ["Args", "VERY_HARD_ROW", "baseline_results", "check_args", "main", "render_table", "splice_readme"]


if __name__ == "__main__":
    import sys

    from drugenv.cli import parse_args, run_command

    sys.exit(run_command("python -m drugenv.evaluation.baseline_table", main, parse_args(Args)))
