"""The README's main-job table, generated from committed evidence (never typed by hand).

How to run::

    python -m drugenv.evaluation.results_table publish runs/grpo_tiny_cpu --name grpo_tiny_cpu   # after a run
    python -m drugenv.evaluation.results_table table docs/results/grpo_tiny_cpu.json             # print the table
    python -m drugenv.evaluation.results_table readme docs/results/grpo_tiny_cpu.json            # rewrite README's block
    python -m drugenv.evaluation.results_table seeds grpo_tiny_cpu docs/results/grpo_tiny_cpu.json \
        docs/results/grpo_tiny_cpu_seed1.json docs/results/grpo_tiny_cpu_seed2.json           # the same config at other seeds
    python -m drugenv.evaluation.results_table refresh      # the README's and docs/grpo.md's results, seeds and confirm blocks again

``publish`` copies a run's ``evidence/before_after_metrics.json`` (with its per-iteration curve
from ``metrics.jsonl``) to ``docs/results/<name>.json`` and its ``evidence/training_curve.png`` to
``docs/images/<name>_curve.png``, then rewrites the README block between
``<!-- results:<name> -->`` and ``<!-- /results:<name> -->`` from that JSON.

PPO runs (``drugenv train rllib_configs/ppo_vector``) are published the same way into
``docs/ppo_and_sweeps.md``'s ``<!-- ppo:<name> -->`` block, and a Tune sweep's ``results.md`` (the
table ``drugenv sweep`` writes) and plot into its ``<!-- sweep:<name> -->`` block::

    python -m drugenv.evaluation.results_table ppo runs/ppo_vector --name ppo_vector [--fresh EVAL_JSON]
    python -m drugenv.evaluation.results_table sweep runs/rl/sweeps/reward_weights --name reward_weights

Published checkpoints re-checked on episodes nothing has looked at (``drugenv eval --agent
checkpoint:... --paired heuristic --out``, one procedural and one curated file per checkpoint) are
gathered into ``docs/results/<name>.json`` and its ``<!-- confirm:<name> -->`` block::

    python -m drugenv.evaluation.results_table confirm grpo_tiny_cpu_long_fresh runs/eval/fresh/*.json
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path
from typing import Any, Mapping, Optional

from drugenv.cli import copy_file_atomic, save_figure, write_text_atomic  # a failed write keeps the committed file whole
from drugenv.evaluation.bootstrap import MIN_INTERVAL_EPISODES, has_interval
from drugenv.evaluation.evaluate import results_json
from drugenv.evaluation.metrics import HELDOUT_TABLE_KEYS

ROOT = Path(__file__).resolve().parents[2]

ROWS = (
    ("before", "tiny model, untrained"),
    ("after_sft", "after SFT warm-start"),
    ("after_grpo", "after SFT + GRPO"),
    ("random", "random"),
    ("heuristic", "heuristic"),
    ("oracle", "oracle"),
)
COLUMNS = (("decision_accuracy", "accuracy"), ("report_rate", "reported"), ("brier", "Brier"),
           ("mean_return", "mean return"), ("evidence_coverage", "key-evidence coverage"))


SCENARIO_DIFF = "scenario_diff"
"""``_num``'s key for a curated scenario's paired utility difference: 3 decimals, because at the ceiling
(cd33, tp53: every episode decided right by both agents) the agents differ by their confidences'
third decimal, which 2 decimals would print as 0.00 either way."""


def _num(v: Optional[float], key: str) -> str:
    return _fixed(v, 3 if key in ("brier", SCENARIO_DIFF) else 2).replace("-", "−")


def _interval(d: Mapping[str, Any], field: str, episodes: Optional[int]) -> Optional[list[float]]:
    """``d[field]`` (``"ci"`` or ``"diff_ci"``), or None when the group of ``episodes`` is too small for one
    (``bootstrap.has_interval``): records made before that rule still hold intervals of four episodes."""
    iv = d.get(field)
    return iv if iv is not None and (episodes is None or has_interval(episodes)) else None


def _fixed(v: Optional[float], digits: int) -> str:
    """``v`` to ``digits`` decimals, or "–" for a metric that is not a number (the ECE of no report: NaN
    in memory, null in a results file)."""
    return "–" if v is None or v != v else f"{v:.{digits}f}"


def _ci(iv: Mapping[str, Any] | None, key: str, episodes: Optional[int] = None) -> str:
    shown = _interval(iv[key], "ci", episodes) if iv and key in iv else None
    return f" [{_num(shown[0], key)}, {_num(shown[1], key)}]" if shown else ""


def table(results: Mapping[str, Any]) -> str:
    """Markdown: one table per evaluated suite (procedural-test first, then curated), 95% intervals
    for the trained rows, and the paired difference to the heuristic."""
    ev = results.get("_evidence") or {}
    meta = results.get("_meta", {})
    out: list[str] = []
    main = meta.get("suite", "procedural-test")
    suites = sorted(ev, key=lambda k: (k != main, k)) or [main]  # the main suite first, whatever the JSON's key order
    for suite in suites:
        block = ev.get(suite, {})
        metrics = dict(block.get("metrics", {}))
        if suite == meta.get("suite") and "before" in results:
            metrics = {"before": results["before"], **metrics}
        n = block.get("episodes", meta.get("episodes"))
        out.append(f"**{suite}** — {n} held-out episodes, seed {block.get('seed', meta.get('seed'))}, step cap "
                   f"{block.get('max_steps', meta.get('max_steps'))}, greedy decoding, mean return scored with the "
                   "default (linear) decision reward; [95% bootstrap interval]:")
        out.append("")
        out.append("| agent | " + " | ".join(c for _, c in COLUMNS) + " |")
        out.append("|---|" + "---|" * len(COLUMNS))
        for key, label in ROWS:
            if key not in metrics:
                continue
            m = metrics[key]
            iv = block.get("vs_heuristic", {}).get(key)
            lab = label + (f" ({meta.get('before_episodes')} episodes)" if key == "before" and meta.get("before_episodes") not in (None, n) else "")
            out.append(f"| {lab} | " + " | ".join(_num(m[k], k) + _ci(iv, k, n) for k, _ in COLUMNS) + " |")
        diffs = []
        for key in ("after_sft", "after_grpo"):
            iv = block.get("vs_heuristic", {}).get(key)
            if iv:
                d = "; ".join(f"{c} {_paired(iv[k], k, n, sign=False)}" for k, c in (("decision_accuracy", "accuracy"), ("brier", "Brier"), ("report_rate", "reported"),
                                           ("decision_utility", "decision utility")) if k in iv)
                diffs.append(f"{dict(ROWS)[key]} − heuristic (paired, same episodes): {d}.")
        if diffs:
            out.append("")
            out += diffs
        per = block.get("per_scenario") or {}
        labels = [(key, label) for key, label in ROWS if any(key in v for v in per.values())]
        if per and labels:
            out.append("")
            if all(has_interval(v["episodes"]) for v in per.values()):
                out.append("Per scenario, decision utility: agent [95% interval] and its paired difference to the heuristic:")
            else:
                out.append(f"Per scenario, decision utility: agent and its paired difference to the heuristic (no interval "
                           f"below {MIN_INTERVAL_EPISODES} episodes, where a bootstrap's falls short of 95%: "
                           "`drugenv/evaluation/bootstrap.py`):")
            out.append("")
            out.append("| scenario | episodes | heuristic | " + " | ".join(f"{label} | − heuristic" for _, label in labels) + " |")
            out.append("|---|---|---|" + "---|---|" * len(labels))
            for name, v in per.items():
                u = {key: v[key]["decision_utility"] for key, _ in labels if key in v}
                ref = next(iter(u.values()))["ref_mean"]
                cells = [f"{_num(d['mean'], 'u')}{_ci({'u': d}, 'u', v['episodes'])} | "
                         f"{_paired(d, SCENARIO_DIFF, v['episodes'], sign=False)}" for d in u.values()]
                out.append(f"| {name} | {v['episodes']} | {_num(ref, 'u')} | " + " | ".join(cells) + " |")
        sel = meta.get("selection") if suite == main else None
        if sel and sel.get("iteration") is not None:
            out.append("")
            which = "0 (the SFT model: no GRPO iteration beat it)" if sel["iteration"] == 0 else sel["iteration"]
            out.append(f"GRPO checkpoint: iteration {which}, the best of {len(sel.get('history', []))} evaluations "
                       f"on validation {sel['metric'].replace('_', ' ')} ({_num(sel['value'], sel['metric'])} on {sel['episodes']} "
                       f"{sel['suite']} episodes from seed {sel['seed']}, held out of training); the rows above never chose anything.")
        choice = meta.get("sft_choice") if suite == main else None
        if choice:
            values = ", ".join(f"seed {c['seed']} {_num(c['value'], choice['metric'])}" for c in choice["candidates"])
            out.append("")
            out.append(f"SFT start: seed {choice['chosen_seed']}, the best of {len(choice['candidates'])} SFT seeds on validation "
                       f"{choice['metric'].replace('_', ' ')} ({values}; {choice['episodes']} {choice['suite']} episodes "
                       f"from seed {choice['seed']}).")
        twins = block.get("twins") or {}
        if twins:
            rows = [(label, twins[key]) for key, label in ROWS if key in twins]
            pairs = int(next(iter(twins.values())).get("twin_pairs", 0))
            out.append("")
            out.append(f"Counterfactual twins ({pairs} pairs: same gene, indication and tier, opposite truth). Pair accuracy "
                       "(both twins decided right; an agent answering from the gene name scores 0) / same decision on both: "
                       + "; ".join(f"{label} {_num(t['pair_accuracy'], 'pair')} / {_num(t['same_decision_rate'], 'same')}"
                                   for label, t in rows) + ".")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _mean_sd(values: list[float], key: str) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{_num(statistics.fmean(values), key)} ± {_num(sd, key)}"


def _run_seed(results: Mapping[str, Any]) -> int:
    # ``publish`` records the run's seed; results published before it did were the configs' default, 0.
    return int(results.get("_meta", {}).get("run_seed", 0))


def _commit(results: Mapping[str, Any]) -> str:
    """The git commit the run was made at (``drugenv.provenance``), short; empty for results published
    before runs recorded it. Seeds of one table made at different commits show it row by row."""
    return (results.get("_meta", {}).get("code", {}).get("commit") or "")[:7]


def _iteration(results: Mapping[str, Any]) -> str:
    """Which GRPO iteration the trained row is: the validation choice (0 = the SFT model) or the last."""
    sel = results.get("_meta", {}).get("selection")
    if sel and sel.get("iteration") is not None:
        return f"{sel['iteration']} (validation)" if sel["iteration"] else "0: the SFT model (validation)"
    curve = results.get("_curve") or []
    return f"{curve[-1]['iteration']} (last)" if curve else ""


SEED_SCENARIOS = ("ptpn11_juvenile_mml_complex", "cd33_aml_misleading")
"""The curated scenarios issue 12's longer-recipe target names, shown per seed in ``seeds_table``."""


def _paired(d: Mapping[str, Any], key: str = "decision_utility", episodes: Optional[int] = None, *, sign: bool = True) -> str:
    """A paired difference of metric ``key`` with its interval: ``+0.06 [0.02, 0.10]`` (Brier to 3 decimals);
    the difference alone for a group of ``episodes`` too small for an interval."""
    iv = _interval(d, "diff_ci", episodes)
    text = f"{'+' if sign and d['diff'] > 0 else ''}{_num(d['diff'], key)}"
    return text + (f" [{_num(iv[0], key)}, {_num(iv[1], key)}]" if iv else "")


def seeds_table(runs: list[Mapping[str, Any]]) -> str:
    """Markdown: one row per run of the same config at another seed (same test episodes), with the
    commit that made it, then mean ± sd (sample sd) over the runs; after SFT and after SFT + GRPO as accuracy / reported /
    Brier / decision utility, which GRPO iteration the trained row is, the paired utility difference
    to the heuristic, curated accuracy / Brier, the paired utility difference on the curated scenarios
    issue 12 names (``SEED_SCENARIOS``: ptpn11, complex; cd33, misleading) and the twins' pair accuracy
    of the trained agent."""
    keys = ("decision_accuracy", "report_rate", "brier", "decision_utility")
    runs = sorted(runs, key=_run_seed)
    suite = runs[0].get("_meta", {}).get("suite", "procedural-test")
    out = ["| seed | commit | after SFT: accuracy / reported / Brier / utility | after SFT + GRPO | GRPO iteration "
           "| utility − heuristic (paired) | curated accuracy / Brier | " + " / ".join(n.split("_")[0] for n in SEED_SCENARIOS)
           + " utility − heuristic | twins pair accuracy |", "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        ev = r.get("_evidence", {})
        d = ev.get(suite, {}).get("vs_heuristic", {}).get("after_grpo", {}).get("decision_utility")
        cur = ev.get("curated", {}).get("metrics", {}).get("after_grpo")
        twins = ev.get("procedural-test-twins", {}).get("twins", {}).get("after_grpo")
        cells = [" / ".join(_num(r[row][k], k) for k in keys) if row in r else "" for row in ("after_sft", "after_grpo")]
        cells.append(_iteration(r))
        cells.append(_paired(d, episodes=ev.get(suite, {}).get("episodes")) if d else "")
        cells.append(f"{_num(cur['decision_accuracy'], 'a')} / {_num(cur['brier'], 'brier')}" if cur else "")
        per = ev.get("curated", {}).get("per_scenario", {})
        cells.append(" / ".join(_paired(per[n]["after_grpo"]["decision_utility"], SCENARIO_DIFF, per[n]["episodes"])
                                if "after_grpo" in per.get(n, {}) else "–"
                                for n in SEED_SCENARIOS))
        cells.append(_num(twins["pair_accuracy"], "p") if twins else "")
        out.append(f"| {_run_seed(r)} | {_commit(r)} | " + " | ".join(cells) + " |")
    if len(runs) > 1:
        cells = [" / ".join(_mean_sd([r[row][k] for r in runs], k) for k in keys) if all(row in r for r in runs) else ""
                 for row in ("after_sft", "after_grpo")]
        h = runs[0].get("heuristic")
        out.append("| mean ± sd | | " + " | ".join(cells) + " | | | | | |")
        if h:
            out.append("| heuristic (same episodes) | | | " + " / ".join(_num(h[k], k) for k in keys) + " | | | | | |")
    return "\n".join(out) + "\n"


def readme_block(name: str, results: Mapping[str, Any]) -> str:
    return (f"<!-- results:{name} (generated by `python -m drugenv.evaluation.results_table readme "
            f"docs/results/{name}.json`; do not edit) -->\n" + table(results) + f"<!-- /results:{name} -->")


def replace_block(kind: str, name: str, block: str, readme: Path) -> bool:
    """Replace the generated block ``<!-- kind:name ... -->`` … ``<!-- /kind:name -->`` of a markdown file with
    ``block`` (which carries its own markers); False if the file or the block is missing."""
    if not readme.exists():
        return False
    text = readme.read_text(encoding="utf-8")
    pat = re.compile(rf"<!-- {kind}:{re.escape(name)}[ (].*?<!-- /{kind}:{re.escape(name)} -->", re.DOTALL)
    if not pat.search(text):
        return False
    write_text_atomic(readme, pat.sub(lambda _: block, text))  # a failed write leaves the page as it was
    return True


def update_readme(name: str, results: Mapping[str, Any], readme: Path = ROOT / "README.md") -> bool:
    """Replace the README block of ``name``; False if the README has no such block."""
    return replace_block("results", name, readme_block(name, results), readme)


SEEDS_DOCS = (ROOT / "README.md", ROOT / "docs" / "grpo.md")
"""The files whose ``<!-- seeds:NAME -->`` blocks ``python -m drugenv.evaluation.results_table seeds`` rewrites."""


def seeds_block(name: str, paths: list[Path], root: Path = Path(".")) -> str:
    """The README block of ``seeds_table`` over ``paths`` (relative to ``root``, as its header shows them)."""
    files = " ".join(p.as_posix() for p in paths)
    return (f"<!-- seeds:{name} (generated by `python -m drugenv.evaluation.results_table seeds {name} {files}`; "
            f"do not edit) -->\n" + seeds_table([json.loads((root / p).read_text(encoding="utf-8")) for p in paths]) + f"<!-- /seeds:{name} -->")


def portable_paths(value: Any, base: Path) -> Any:
    """``value`` with every absolute path string under ``base`` made relative to it, recursively.

    A run records where its models live on the machine that trained it; a committed result must not
    carry that machine's layout (``/home/me/drugenv/runs/...`` -> ``runs/...``)."""
    if isinstance(value, dict):
        return {k: portable_paths(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [portable_paths(v, base) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        try:
            return Path(value).relative_to(base).as_posix()
        except ValueError:
            return value
    return value


def _write_evidence(results: Mapping[str, Any], run_dir: Path, name: str, root: Path) -> Path:
    """``docs/results/<name>.json`` (sorted keys) and the run's curve as ``docs/images/<name>_curve.png``."""
    dst = root / "docs" / "results" / f"{name}.json"
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(dst, results_json(results, indent=2, sort_keys=True) + "\n")  # the committed file kept whole on a failure
    png = run_dir / "evidence" / "training_curve.png"
    if png.exists():
        (root / "docs" / "images").mkdir(parents=True, exist_ok=True)
        copy_file_atomic(png, root / "docs" / "images" / f"{name}_curve.png")
    return dst


def publish(run_dir: Path, name: str, root: Path = ROOT) -> Path:
    """Copy a finished run's evidence into ``docs/`` and regenerate the README block. Paths inside
    the run's parent folder are written relative to it (``runs/<run>/sft_model``)."""
    results = json.loads((run_dir / "evidence" / "before_after_metrics.json").read_text(encoding="utf-8"))
    results = portable_paths(results, run_dir.resolve().parent.parent)
    settings = run_dir / "settings.json"
    if settings.exists():
        recorded = json.loads(settings.read_text(encoding="utf-8"))
        results.setdefault("_meta", {})["run_seed"] = int(recorded.get("seed", 0))
        if recorded.get("code"):  # which source made these numbers (drugenv.provenance)
            results["_meta"]["code"] = recorded["code"]
    curve = run_dir / "metrics.jsonl"
    if curve.exists():
        results["_curve"] = [json.loads(line) for line in curve.read_text(encoding="utf-8").splitlines() if line.strip()]
    dst = _write_evidence(results, run_dir, name, root)
    # From the file as written, not the run's dicts: its keys are sorted (the curated scenarios'
    # order too), and the README must be what the committed JSON regenerates.
    update_readme(name, json.loads(dst.read_text(encoding="utf-8")), root / "README.md")
    return dst


PPO_DOC = ROOT / "docs" / "ppo_and_sweeps.md"
_PPO_HEADERS = {"decision_accuracy": ("accuracy", 3), "decision_utility": ("decision utility", 3), "brier": ("Brier", 3),
                "ece": ("ECE", 3), "credits_used": ("credits used", 1), "mean_return": ("held-out return", 3)}
PPO_COLUMNS = tuple((k, *_PPO_HEADERS[k]) for k in HELDOUT_TABLE_KEYS)
"""The held-out metrics of a PPO run's table (``HELDOUT_TABLE_KEYS``): key, header, decimals."""


def ppo_table(results: Mapping[str, Any]) -> str:
    """A PPO run's held-out learning curve, the heuristic on the same episodes, and the run's timings."""
    from drugenv.training.ppo import HELDOUT_PREFIX, TRAIN_RETURN

    curve, heur = results["curve"], results["heuristic"]
    run = results["settings"]["run"]
    head = "| iteration | env steps | train return | " + " | ".join(h for _, h, _ in PPO_COLUMNS) + " |"
    lines = [f"Held-out: {results['episodes']} `{results['suite']}` episodes (seed {run['eval_seed']}), greedy actions; "
             f"seed {results['settings']['seed']}.", "", head, "|" + "---:|" * (3 + len(PPO_COLUMNS))]
    for r in curve:
        if HELDOUT_PREFIX + "decision_accuracy" not in r:
            continue
        cells = [_fixed(r[HELDOUT_PREFIX + k], d) for k, _, d in PPO_COLUMNS]
        lines.append(f"| {r['iteration']} | {r['env_steps']:,} | {r[TRAIN_RETURN]:.3f} | " + " | ".join(cells) + " |")
    lines.append("| heuristic | – | – | " + " | ".join(_fixed(heur[k], d) for k, _, d in PPO_COLUMNS) + " |")
    train_s = curve[-1]["time_s"]
    eval_s = sum(r.get("eval_time_s", 0.0) for r in curve)
    lines += ["", f"{len(curve)} iterations: {train_s / 60:.1f} min of RLlib training ({train_s / len(curve):.2f} s per "
              f"iteration, {run.get('iterations')} configured) and {eval_s / 60:.1f} min of held-out evaluation."]
    resumed = results["settings"].get("resumed_from")
    if resumed:  # made relative to the repository by publish_ppo (portable_paths)
        lines[-1] += f" The run continued `{resumed}` (`drugenv train --resume`)."
    fresh = results.get("fresh_check")
    if fresh:
        diff = fresh["paired"]["diff"]
        # An interval only where the check had one: below bootstrap.MIN_INTERVAL_EPISODES drugenv eval writes None
        # (indexing it raised TypeError after this run's record had been written).
        parts = [f"{label} {diff[k]['mean']:.3f} vs {diff[k]['ref_mean']:.3f} ({diff[k]['diff']:+.3f}"
                 + (f" [{diff[k]['diff_ci'][0]:+.3f}, {diff[k]['diff_ci'][1]:+.3f}]" if diff[k].get("diff_ci") else "") + ")"
                 for k, label in (("decision_accuracy", "accuracy"), ("decision_utility", "decision utility"),
                                  ("brier", "Brier"), ("mean_return", "return"))]
        lines += ["", f"On {fresh['episodes']} other `{fresh['suite']}` episodes (seed {fresh['seed']}) against the "
                      f"{fresh['paired']['agent']} on the same episodes, paired 95% intervals (`drugenv eval --agent "
                      f"{fresh['agent']} --suite {fresh['suite']} --episodes {fresh['episodes']} --seed {fresh['seed']} "
                      f"--paired {fresh['paired']['agent']}`): " + "; ".join(parts) + "; credits used "
                      f"{fresh['summary']['credits_used']:.1f} vs {fresh['paired']['summary']['credits_used']:.1f}."]
    return "\n".join(lines) + "\n"


def ppo_block(name: str, results: Mapping[str, Any]) -> str:
    fresh = " --fresh EVAL_JSON" if results.get("fresh_check") else ""
    return (f"<!-- ppo:{name} (generated by `python -m drugenv.evaluation.results_table ppo runs/{name} --name {name}{fresh}`"
            f" into docs/results/{name}.json; do not edit) -->\n" + ppo_table(results) + f"<!-- /ppo:{name} -->")


def publish_ppo(run_dir: Path, name: str, root: Path = ROOT, fresh: Path | None = None) -> Path:
    """Copy a finished PPO run's settings, curve (``metrics.jsonl``), summary and curve plot into ``docs/``
    and regenerate ``docs/ppo_and_sweeps.md``'s ``<!-- ppo:<name> -->`` block from the JSON as written.

    ``fresh``: a ``drugenv eval --paired ... --out`` file of the run's checkpoint on other episodes; its
    summaries and paired differences (not its per-episode records) are kept as ``fresh_check``."""
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    results = {"settings": json.loads((run_dir / "settings.json").read_text(encoding="utf-8")),
               "curve": [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()],
               **{k: summary[k] for k in ("final", "heuristic", "suite", "episodes")}}
    if fresh is not None:
        payload = json.loads(fresh.read_text(encoding="utf-8"))
        if "paired" not in payload:
            raise ValueError(f"{fresh} has no paired comparison: make it with drugenv eval ... --paired heuristic --out")
        results["fresh_check"] = {k: payload[k] for k in ("agent", "suite", "episodes", "seed", "summary", "paired")}
    results = portable_paths(results, run_dir.resolve().parent.parent)
    dst = _write_evidence(results, run_dir, name, root)
    doc = root / PPO_DOC.relative_to(ROOT)
    if not replace_block("ppo", name, ppo_block(name, json.loads(dst.read_text(encoding="utf-8"))), doc):
        print(f"({doc} has no <!-- ppo:{name} --> block; the JSON is written)")
    return dst


def ppo_seeds_table(runs: list[Mapping[str, Any]]) -> str:
    """Published PPO runs side by side (one row each: seed, learning rate, environments per runner, final
    held-out metrics, RLlib's training minutes), then mean ± sd over the runs of each setting, and the heuristic on the
    same episodes."""
    keys = ("decision_accuracy", "decision_utility", "brier", "credits_used")

    def setting(r: Mapping[str, Any]) -> tuple[float, int]:
        return r["settings"]["training"]["lr"], int(r["settings"]["env_runners"].get("num_envs_per_env_runner", 1))

    lines = ["| seed | lr | envs per runner | iterations | accuracy | decision utility | Brier | credits used | training min |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    groups: dict[tuple[float, int], list[Mapping[str, Any]]] = {}
    for r in sorted(runs, key=lambda r: (setting(r), r["settings"]["seed"])):
        lr, envs = setting(r)
        groups.setdefault((lr, envs), []).append(r)
        f = r["final"]
        lines.append(f"| {r['settings']['seed']} | {lr:g} | {envs} | {r['curve'][-1]['iteration']} | "
                     f"{f['decision_accuracy']:.3f} | {f['decision_utility']:.3f} | {f['brier']:.3f} | "
                     f"{f['credits_used']:.1f} | {r['curve'][-1]['time_s'] / 60:.1f} |")
    for (lr, envs), group in groups.items():
        if len(group) > 1:
            cells = []
            for k in keys:
                v = [g["final"][k] for g in group]
                d = 1 if k == "credits_used" else 3
                cells.append(f"{statistics.fmean(v):.{d}f} ± {statistics.stdev(v):.{d}f}")
            lines.append(f"| mean ± sd | {lr:g} | {envs} | | " + " | ".join(cells) + " | |")
    heur = {json.dumps(r["heuristic"], sort_keys=True) for r in runs}
    if len(heur) == 1:  # every run was judged on the same episodes
        h = runs[0]["heuristic"]
        lines.append(f"| heuristic | | | | {h['decision_accuracy']:.3f} | {h['decision_utility']:.3f} | {h['brier']:.3f} | "
                     f"{h['credits_used']:.1f} | |")
    return "\n".join(lines) + "\n"


def ppo_seeds_block(name: str, paths: list[Path], root: Path = Path(".")) -> str:
    files = " ".join(p.as_posix() for p in paths)
    return (f"<!-- ppo-seeds:{name} (generated by `python -m drugenv.evaluation.results_table ppo-seeds {name} {files}`; "
            f"do not edit) -->\n" + ppo_seeds_table([json.loads((root / p).read_text(encoding="utf-8")) for p in paths]) + f"<!-- /ppo-seeds:{name} -->")


CONFIRM_DOCS = SEEDS_DOCS
"""The files whose ``<!-- confirm:NAME -->`` blocks ``results_table confirm`` rewrites."""


def _checkpoint_facts(agent: str) -> dict[str, Any]:
    """Run seed, iteration and source commit of a ``checkpoint:PATH`` agent, read from the checkpoint
    (``drugenv_checkpoint.json``) and its run's ``settings.json``; empty for what is not there."""
    from drugenv.llm.checkpoint import read_checkpoint_meta

    path = Path(agent.split(":", 1)[1]) if agent.startswith("checkpoint:") else None
    if path is None or not path.is_dir():
        return {}
    meta = read_checkpoint_meta(path)
    if not meta:
        return {}
    facts = {"run_seed": int(meta.get("settings", {}).get("seed", 0)), "iteration": meta.get("iteration")}
    settings = path.parent / "settings.json"
    code = json.loads(settings.read_text(encoding="utf-8")).get("code") if settings.is_file() else None
    if code:
        facts["code"] = code
    return facts


def gather_confirmation(paths: list[Path]) -> dict[str, Any]:
    """``drugenv eval ... --paired heuristic --out`` files as one committed record: per file its agent,
    episodes, settings, summaries and paired differences (overall and per scenario or tier), without the
    per-episode records (the command line reproduces them), and what the checkpoint says of its run."""
    evaluations = []
    for path in paths:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        if "paired" not in payload or "by_scenario" not in payload["paired"]:
            raise ValueError(f"{path} has no per-scenario paired comparison: make it with drugenv eval ... --paired heuristic --out")
        keep = ("agent", "suite", "episodes", "seed", "max_steps", "decision_scoring", "summary", "paired")
        entry = {**{k: payload.get(k) for k in keep}, **_checkpoint_facts(payload["agent"])}
        if entry["agent"].startswith("checkpoint:"):  # runs/<run>/checkpoint_*, not this machine's layout
            ckpt = Path(entry["agent"].split(":", 1)[1]).resolve()
            entry["agent"] = "checkpoint:" + ckpt.relative_to(ckpt.parents[min(2, len(ckpt.parents) - 1)]).as_posix()
        evaluations.append(entry)
    evaluations.sort(key=lambda e: (e.get("run_seed", 0), e["agent"], e["suite"] != "procedural-test", e["suite"]))
    return {"evaluations": evaluations}


def confirm_table(results: Mapping[str, Any]) -> str:
    """One row per checkpoint: its procedural metrics, the heuristic's on the same episodes, and the paired
    differences with their intervals; the curated scenarios ``SEED_SCENARIOS`` from its curated file."""
    evals = results["evaluations"]
    procedural = [e for e in evals if e["suite"] != "curated"]
    curated = {e["agent"]: e for e in evals if e["suite"] == "curated"}
    if not procedural:
        raise ValueError("no procedural evaluation to tabulate")
    for group in (procedural, list(curated.values())):  # one header describes each group's episodes
        setups = {(e["suite"], e["episodes"], e["seed"], e.get("max_steps"), e.get("decision_scoring"), e["paired"]["agent"])
                  for e in group}
        if len(setups) > 1:
            raise ValueError(f"the evaluations do not share their episodes and settings: {sorted(map(str, setups))}")
    first = procedural[0]
    ref_name = first["paired"]["agent"]
    keys = ("decision_accuracy", "report_rate", "brier", "decision_utility")
    cur0 = next(iter(curated.values()), None)
    lines = [f"{first['episodes']:,} `{first['suite']}` episodes from seed {first['seed']}"
             + (f" and {cur0['episodes']} curated from seed {cur0['seed']}" if cur0 else "")
             + f" (step cap {first['max_steps']}, {first['decision_scoring']} decision scoring), each checkpoint against "
             f"the {ref_name} on the same episodes; paired bootstrap 95% intervals.", "",
             f"| seed | GRPO iteration | accuracy / reported / Brier / utility | {ref_name} | utility − {ref_name} "
             f"| Brier − {ref_name} | accuracy − {ref_name} | curated utility − {ref_name} | ptpn11 / cd33 utility − {ref_name} |",
             "|---|---|---|---|---|---|---|---|---|"]
    for e in procedural:
        mine, ref, diff = e["summary"], e["paired"]["summary"], e["paired"]["diff"]
        cur = curated.get(e["agent"])
        scen = " / ".join(_paired(cur["paired"]["by_scenario"][name]["decision_utility"], SCENARIO_DIFF,
                                  cur["paired"]["by_scenario"][name]["episodes"])
                          if cur and name in cur["paired"]["by_scenario"] else "–" for name in SEED_SCENARIOS)
        lines.append(f"| {e.get('run_seed', '–')} | {e.get('iteration', '–')} | "
                     + " / ".join(_num(mine[k], k) for k in keys) + " | " + " / ".join(_num(ref[k], k) for k in keys)
                     + f" | {_paired(diff['decision_utility'], episodes=e['episodes'])} | {_paired(diff['brier'], 'brier', e['episodes'])}"
                     + f" | {_paired(diff['decision_accuracy'], episodes=e['episodes'])}"
                     + f" | {_paired(cur['paired']['diff']['decision_utility'], episodes=cur['episodes']) if cur else '–'} | {scen} |")
    return "\n".join(lines) + "\n"


def _xerr(d: Mapping[str, Any], episodes: int) -> Optional[list[list[float]]]:
    """matplotlib's ``xerr`` for a paired difference's interval; None (a bare point) where the group has none."""
    iv = _interval(d, "diff_ci", episodes)
    return [[d["diff"] - iv[0]], [iv[1] - d["diff"]]] if iv else None


def confirm_figure(results: Mapping[str, Any]) -> Any:
    """``confirm_table`` as a picture: each checkpoint's paired difference to the reference, with its 95%
    interval, on procedural decision utility, on Brier, and on each curated scenario's utility; a
    dotted line at zero (level). Points right of it in the first and third panels, left of it in the
    second, are leads."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    evals = results["evaluations"]
    procedural = [e for e in evals if e["suite"] != "curated"]
    curated = [e for e in evals if e["suite"] == "curated"]
    ref = procedural[0]["paired"]["agent"]
    label = lambda e: f"seed {e.get('run_seed', '?')}"  # noqa: E731
    # tab10 is a ListedColormap; matplotlib types get_cmap as the base Colormap, which has no colors
    colors = dict(zip((label(e) for e in procedural), plt.get_cmap("tab10").colors))  # type: ignore[attr-defined]
    fig, ax = plt.subplots(1, 3, figsize=(15, 3.2 + 0.25 * len(procedural)))
    panels = ((ax[0], procedural, "decision_utility", f"procedural decision utility − {ref}"),
              (ax[1], procedural, "brier", f"procedural Brier − {ref} (lower is better)"))
    for a, group, key, title in panels:
        for y, e in enumerate(group):
            d = e["paired"]["diff"][key]
            a.errorbar(d["diff"], y, xerr=_xerr(d, e["episodes"]), fmt="o", capsize=4, color=colors[label(e)])
        a.set_yticks(range(len(group)), [label(e) for e in group])
        a.invert_yaxis()
        a.set(title=title, xlabel="difference, 95% paired interval")
    scenarios = sorted({s for e in curated for s in e["paired"]["by_scenario"]})
    for i, e in enumerate(curated):
        for y, name in enumerate(scenarios):
            d = e["paired"]["by_scenario"][name]["decision_utility"]
            off = (i - (len(curated) - 1) / 2) * 0.18
            ax[2].errorbar(d["diff"], y + off, xerr=_xerr(d, e["paired"]["by_scenario"][name]["episodes"]), fmt="o",
                           capsize=3, color=colors.get(label(e)), label=label(e) if y == 0 else None)
    ax[2].set_yticks(range(len(scenarios)), [n.split("_")[0] for n in scenarios])
    ax[2].invert_yaxis()
    ax[2].set(title=f"curated decision utility − {ref}", xlabel="difference, 95% paired interval")
    if curated:
        ax[2].legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=len(curated), frameon=False)
    for a in ax:
        a.axvline(0.0, ls=":", color="black")
    fig.tight_layout()
    return fig


def confirm_block(name: str, results: Mapping[str, Any]) -> str:
    return (f"<!-- confirm:{name} (generated by `python -m drugenv.evaluation.results_table confirm {name} EVAL_JSON...` "
            f"into docs/results/{name}.json; do not edit) -->\n" + confirm_table(results) + f"<!-- /confirm:{name} -->")


def publish_confirmation(name: str, paths: list[Path], root: Path = ROOT) -> Path:
    """``gather_confirmation(paths)`` as ``docs/results/<name>.json``, its picture as ``docs/images/<name>.png``,
    and its block rewritten in the README or the GRPO page (whichever holds it) from the file as written."""
    results = gather_confirmation(paths)
    dst = root / "docs" / "results" / f"{name}.json"
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(dst, results_json(results, indent=2, sort_keys=True) + "\n")  # the committed file kept whole on a failure
    block = confirm_block(name, json.loads(dst.read_text(encoding="utf-8")))
    import matplotlib.pyplot as plt

    fig = confirm_figure(json.loads(dst.read_text(encoding="utf-8")))
    (root / "docs" / "images").mkdir(parents=True, exist_ok=True)
    save_figure(fig, root / "docs" / "images" / f"{name}.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    docs = [root / d.relative_to(ROOT) for d in CONFIRM_DOCS]
    if not any(d.exists() and replace_block("confirm", name, block, d) for d in docs):
        print(f"(no <!-- confirm:{name} --> block in {', '.join(d.name for d in docs)}; the JSON is written)")
    return dst


def sweep_block(name: str, table_md: str) -> str:
    return (f"<!-- sweep:{name} (generated by `python -m drugenv.evaluation.results_table sweep runs/rl/sweeps/{name} "
            f"--name {name}`: docs/results/sweeps/{name}.md; do not edit) -->\n" + table_md + f"<!-- /sweep:{name} -->")


def publish_sweep(sweep_dir: Path, name: str, root: Path = ROOT) -> Path:
    """Copy a finished sweep's ``results.md`` to ``docs/results/sweeps/<name>.md`` (and its plot to
    ``docs/images/sweep_<name>.png``) and put the table into ``docs/ppo_and_sweeps.md``'s block."""
    dst = root / "docs" / "results" / "sweeps" / f"{name}.md"
    dst.parent.mkdir(parents=True, exist_ok=True)
    copy_file_atomic(sweep_dir / "results.md", dst)
    png = sweep_dir / "metric_vs_params.png"
    if png.exists():
        (root / "docs" / "images").mkdir(parents=True, exist_ok=True)
        copy_file_atomic(png, root / "docs" / "images" / f"sweep_{name}.png")
    doc = root / PPO_DOC.relative_to(ROOT)
    if not replace_block("sweep", name, sweep_block(name, dst.read_text(encoding="utf-8")), doc):
        print(f"({doc} has no <!-- sweep:{name} --> block; the table is written)")
    return dst


_HEADER = re.compile(r"<!-- (results|seeds|confirm):(\S+) \(generated by `python -m drugenv.evaluation.results_table "
                     r"(?:seeds \S+ ([^`]+)`)?")


def generated_blocks(text: str) -> list[tuple[str, str, list[Path]]]:
    """The generated blocks of a markdown text as ``(kind, name, files)``: ``results`` and ``confirm``
    blocks read ``docs/results/<name>.json`` (``files`` empty), a ``seeds`` block the files its header's
    command names."""
    return [(kind, name, [Path(f) for f in files.split()]) for kind, name, files in _HEADER.findall(text)]


def refresh(root: Path = ROOT) -> list[str]:
    """Rewrite every generated ``results``, ``seeds`` and ``confirm`` block of the README and the GRPO page
    from the committed JSON its own header names (after a change to how the tables are written); the
    blocks rewritten, as ``kind:name``."""
    make = {"results": readme_block, "confirm": confirm_block}
    done = []
    for doc in (root / p.relative_to(ROOT) for p in SEEDS_DOCS):
        if not doc.exists():
            continue
        for kind, name, files in generated_blocks(doc.read_text(encoding="utf-8")):
            block = (seeds_block(name, files, root) if kind == "seeds" else
                     make[kind](name, json.loads((root / "docs" / "results" / f"{name}.json").read_text(encoding="utf-8"))))
            done += [f"{kind}:{name}"] * replace_block(kind, name, block, doc)
    return done


def main(argv: list[str] | None = None) -> None:
    from drugenv.cli import tolerate_any_console_encoding

    tolerate_any_console_encoding()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("publish")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--name", required=True)
    t = sub.add_parser("table")
    t.add_argument("json", type=Path)
    r = sub.add_parser("readme")
    r.add_argument("json", type=Path)
    pp = sub.add_parser("ppo")
    pp.add_argument("run_dir", type=Path)
    pp.add_argument("--name", required=True)
    pp.add_argument("--fresh", type=Path, help="a `drugenv eval --paired heuristic --out` file of the checkpoint on other episodes")
    sw = sub.add_parser("sweep")
    sw.add_argument("run_dir", type=Path)
    sw.add_argument("--name", required=True)
    ps = sub.add_parser("ppo-seeds")
    ps.add_argument("name")
    ps.add_argument("json", type=Path, nargs="+")
    cf = sub.add_parser("confirm")
    cf.add_argument("name")
    cf.add_argument("json", type=Path, nargs="+", help="`drugenv eval --agent checkpoint:... --paired heuristic --out` files")
    sd = sub.add_parser("seeds")
    sd.add_argument("name")
    sd.add_argument("json", type=Path, nargs="+")
    sub.add_parser("refresh", help="rewrite every generated block of the README and docs/grpo.md from its committed JSON")
    a = ap.parse_args(argv)
    try:
        _run(a)
    except (OSError, ValueError) as e:  # a path that is not there, a file that is not the JSON it should be
        ap.exit(2, f"{ap.prog}: error: {' '.join(str(e).split())}\n")


def _run(a: argparse.Namespace) -> None:
    if a.cmd == "refresh":
        print("\n".join(refresh()))
    elif a.cmd == "seeds":
        block = seeds_block(a.name, a.json)
        print(block)
        # The README holds the current recipes' blocks, the GRPO page the history's.
        if not any(replace_block("seeds", a.name, block, doc) for doc in SEEDS_DOCS):
            print(f"(no <!-- seeds:{a.name} --> block in {', '.join(d.name for d in SEEDS_DOCS)}; printed only)")
    elif a.cmd == "confirm":
        print(publish_confirmation(a.name, a.json))
    elif a.cmd == "publish":
        print(publish(a.run_dir, a.name))
    elif a.cmd == "ppo":
        print(publish_ppo(a.run_dir, a.name, fresh=a.fresh))
    elif a.cmd == "ppo-seeds":
        block = ppo_seeds_block(a.name, a.json)
        print(block)
        if not replace_block("ppo-seeds", a.name, block, PPO_DOC):
            print(f"({PPO_DOC.name} has no <!-- ppo-seeds:{a.name} --> block; printed only)")
    elif a.cmd == "sweep":
        print(publish_sweep(a.run_dir, a.name))
    elif a.cmd == "table":
        print(table(json.loads(a.json.read_text(encoding="utf-8"))))
    else:
        name = a.json.stem
        if not update_readme(name, json.loads(a.json.read_text(encoding="utf-8"))):
            raise SystemExit(f"README.md has no <!-- results:{name} --> block")


if __name__ == "__main__":
    main()


__all__ = [
    "generated_blocks",
    "ppo_seeds_table",
    "ppo_table",
    "publish",
    "publish_ppo",
    "publish_sweep",
    "readme_block",
    "refresh",
    "replace_block",
    "seeds_table",
    "sweep_block",
    "table",
    "update_readme",
]
