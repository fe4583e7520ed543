"""The GRPO main job: SFT warm-start → LoRA-GRPO → held-out evaluation, checkpoints and metrics.

How to run::

    drugenv train rllib_configs/grpo_tiny_cpu.py                     # the README's main job
    drugenv train rllib_configs/grpo_tiny_cpu.py --resume runs/grpo_tiny_cpu/checkpoint_final --set run.iterations=2

Output directory (``--out``, default ``runs/<config name>``)::

    base_model/                 the tiny model built offline (``model: tiny:...`` only)
    sft_model/                  base + expert (oracle or heuristic) SFT, merged (GRPO trains a fresh LoRA on top of it)
    checkpoint_iter_NNNN/       RLlib checkpoint + adapter/ (peft) + drugenv_checkpoint.json
    checkpoint_final/           the same, at the end
    checkpoint_best/            with ``run.select_suite``: the iteration best on validation episodes (evaluated on test)
    settings.json               everything the run used (first file written; ``training.run_files``)
    metrics.jsonl               one line per iteration (rollout / learner / sync times, losses, returns, held-out)
    summary.json                final held-out metrics, the heuristic on the same episodes, the checkpoint
    evidence/before_after_metrics.json   held-out metrics: base, after SFT, after GRPO, heuristic, oracle
    evidence/training_curve.png          return, parse-failure/report rates and time split per iteration
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping, Optional

from drugenv.cli import save_figure, write_text_atomic
from drugenv.errors import ConfigError
from drugenv.evaluation.evaluate import results_json
from drugenv.evaluation.metrics import LOWER_IS_BETTER
from drugenv.llm.checkpoint import ADAPTER_DIR, CHECKPOINT_META, follow_moved_run  # the checkpoint layout's one definition
from drugenv.llm.prompts import DEFAULT_MAX_PROMPT_TOKENS
from drugenv.simulator.params import SimParams
from drugenv.training import metrics as M
from drugenv.training.configs import stop_algorithm
from drugenv.training.run_files import CHECKPOINT_BEST, CHECKPOINT_FINAL, RunFiles, restore_or_refuse, write_dir_atomically
from drugenv.storage import RunStorage


# ------------------------------------------------------------------------------------- model prep


def resolve_base_model(spec: str, out_dir: Path) -> str:
    """``architectures.resolve_model_spec``; a ``tiny`` / ``tiny:L4H256`` model is also copied into
    ``out_dir/base_model``; ``random:<architecture>`` stays in the cache (~1 GB per 0.5B in bf16)."""
    from drugenv.llm.architectures import TINY_SPEC, resolve_model_spec

    src = resolve_model_spec(spec)
    if not TINY_SPEC.fullmatch(spec):
        return src

    dst = out_dir / "base_model"
    # Copied whole or not at all, and copied again unless every file is there at its size: a full disk once left
    # base_model/ with empty or cut-off weights beside a whole config.json, which every later run here then loaded.
    if not _same_files(Path(src), dst):
        write_dir_atomically(dst, lambda folder: shutil.copytree(src, folder, dirs_exist_ok=True))
    return str(dst.resolve())


def _same_files(src: Path, dst: Path) -> bool:
    """Whether ``dst`` holds every file of ``src`` at the same size (a tiny model's files: a few stats)."""
    for file in src.rglob("*"):
        if file.is_file():
            copy = dst / file.relative_to(src)
            if not copy.is_file() or copy.stat().st_size != file.stat().st_size:
                return False
    return (dst / "config.json").is_file()


SFT_SETTINGS: dict[str, tuple[type, ...]] = {
    "enabled": (bool,), "mode": (str,), "expert": (str,), "suite": (str,), "episodes": (int,), "steps": (int,),
    "lr": (float, int), "batch_size": (int,), "micro_batch_size": (int, type(None)), "gradient_checkpointing": (bool,),
    "lora_r": (int,), "lora_alpha": (int,), "target_modules": (list,), "warmup": (float, int), "schedule": (str,),
    "explore": (float, int), "report_episodes": (int,), "report_weight": (int,), "follow_up_weight": (int,),
    "confident_go_weight": (int,), "select_episodes": (int,), "select_every": (int,), "select_by": (str,),
    "select_metric": (str,), "select_max_new_tokens": (int,), "candidates": (int,),
}
"""Every ``sft.*`` setting ``sft_warm_start`` and ``sft_choose_start`` read, with the types they take: what
``drugenv train --set sft.KEY=VALUE`` accepts on any GRPO config, whether or not the config sets it
(``max_prompt_tokens`` and ``max_steps`` come from the training section: ``sft_settings_for``)."""


def sft_settings_for(s: Mapping[str, Any]) -> dict[str, Any]:
    """The SFT settings of a run: ``s["sft"]`` plus the game GRPO and evaluation play — the prompt
    budget (``training.max_prompt_tokens``) and the step cap (``training.max_turns``), so SFT prompts
    say ``Step: k/<max_turns>`` exactly as rollouts and evaluation do."""
    one_run = {k: v for k, v in s["sft"].items() if k != "candidates"}  # how many SFT runs, not what one is made from
    return {**one_run, "max_prompt_tokens": int(s["training"].get("max_prompt_tokens", DEFAULT_MAX_PROMPT_TOKENS)),
            "max_steps": int(s["training"].get("max_turns") or s["run"].get("eval_max_steps") or SimParams().max_steps)}


def sft_warm_start(base_model: str, sft: Mapping[str, Any], out_dir: Path, *, seed: int = 0, progress: bool = True,
                   dst: Optional[Path] = None) -> str:
    """Fine-tune on expert trajectories from the training split and save the merged model.

    ``sft["expert"]`` is ``"oracle"`` (default, the spec's) or ``"heuristic"`` (see ``llm.sft.expert_examples``).

    ``mode="full"`` trains every weight (a random-init tiny model needs it); ``mode="lora"`` trains
    a LoRA (``lora_r``, ``lora_alpha``) and merges it, as the spec's ``sft_warmstart.py`` does.
    Written to ``dst`` (default ``out_dir/sft_model``). Skipped when ``dst`` already holds a warm start
    made from the same base model, settings and seed (a resumed or repeated run keeps it); redone when
    they differ (the seed picks the SFT episodes and their shuffling: a seed-1 run in a seed-0 run's
    folder once kept seed 0's model).
    """
    dst = dst or out_dir / "sft_model"
    made = dst / "drugenv_sft.json"
    if (dst / "config.json").exists() and made.exists():
        prev = json.loads(made.read_text(encoding="utf-8"))
        if (prev.get("base_model") == base_model and prev.get("settings") == json.loads(json.dumps(dict(sft)))
                and prev.get("seed") == seed):
            return str(dst.resolve())
    select_by = str(sft.get("select_by", "imitation"))
    if select_by not in ("imitation", "rollouts"):  # before any work: building the SFT data takes a while
        raise ConfigError(f"sft.select_by={select_by!r}; expected 'rollouts' or 'imitation'")
    shutil.rmtree(dst, ignore_errors=True)
    import torch

    from drugenv.llm.sft import decision_weighted, expert_examples, imitation_accuracy, rollout_score, sft_on_trajectories
    from drugenv.llm.loading import load_model_and_tokenizer
    from drugenv.scenarios import suite_episodes
    from drugenv.scenarios.procedural import SFT_SELECT_SEED_START

    torch.manual_seed(seed)
    model, tok = load_model_and_tokenizer(base_model)
    if progress:  # the expert plays its episodes before the first step: say what is going on meanwhile
        print(f"SFT warm start: playing {sft['episodes']} {sft.get('expert', 'oracle')} episodes on {sft['suite']}, "
              f"then {sft['steps']} steps", flush=True)
    episodes = suite_episodes(sft["suite"], int(sft["episodes"]), seed)
    expert = str(sft.get("expert", "oracle"))
    budget = int(sft.get("max_prompt_tokens", DEFAULT_MAX_PROMPT_TOKENS))
    max_steps = sft.get("max_steps")  # the training config's max_turns: one game for SFT, GRPO and evaluation
    teach = functools.partial(expert_examples, expert=expert, tokenizer=tok, max_prompt_tokens=budget, max_steps=max_steps)
    explore = float(sft.get("explore", 0.0))
    examples = teach(episodes, explore=explore)
    n_reports = int(sft.get("report_episodes", 0))
    if n_reports:  # more distinct decisions: the report turns of further teacher episodes, after the SFT episodes' seeds
        examples += teach(suite_episodes(sft["suite"], n_reports, seed + int(sft["episodes"])), explore=explore, reports_only=True)
    train = decision_weighted(examples, int(sft.get("report_weight", 1)), int(sft.get("follow_up_weight", 1)),
                              int(sft.get("confident_go_weight", 1)))
    if sft.get("mode", "lora") == "lora":
        from peft import LoraConfig, get_peft_model

        from drugenv.llm.loading import peft_without_its_own_deprecation

        with peft_without_its_own_deprecation():
            model = get_peft_model(model, LoraConfig(r=int(sft.get("lora_r", 16)), lora_alpha=int(sft.get("lora_alpha", 32)),
                                                     target_modules=list(sft.get("target_modules", ["q_proj", "k_proj", "v_proj", "o_proj"])),
                                                     lora_dropout=0.0, task_type="CAUSAL_LM"))
    eval_fn, eval_log = None, []
    if int(sft.get("select_episodes", 0)) > 0:
        # Checkpoint selection on training-split seeds disjoint from the SFT episodes (offset), never
        # the test split: by the model's own greedy episodes (select_by="rollouts", scored by
        # select_metric), or by teacher-forced imitation accuracy of action and decision.
        n_select, select_seed = int(sft["select_episodes"]), seed + SFT_SELECT_SEED_START
        n_new = int(sft.get("select_max_new_tokens", 64))
        if select_by == "rollouts":
            metric = str(sft.get("select_metric", "decision_utility"))
            eval_fn = lambda m: rollout_score(m, tok, sft["suite"], n_select, select_seed, metric=metric,  # noqa: E731
                                              max_steps=max_steps, max_prompt_tokens=budget, max_new_tokens=n_new)
        else:
            held = teach(suite_episodes(sft["suite"], n_select, select_seed))
            eval_fn = lambda m: imitation_accuracy(m, tok, held, max_new_tokens=n_new)  # noqa: E731
    t0 = time.perf_counter()
    losses = sft_on_trajectories(model, tok, train, steps=int(sft["steps"]), lr=float(sft["lr"]),
                                 batch_size=int(sft["batch_size"]), seed=seed, log_every=0,
                                 warmup=float(sft.get("warmup", 0.0)), schedule=str(sft.get("schedule", "constant")),
                                 eval_fn=eval_fn, eval_every=int(sft.get("select_every", 0)), eval_log=eval_log,
                                 micro_batch_size=sft.get("micro_batch_size"),
                                 gradient_checkpointing=bool(sft.get("gradient_checkpointing", False)), progress=progress)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    tmp = dst.with_name(dst.name + ".tmp")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "drugenv_sft.json").write_text(json.dumps({
        "base_model": base_model, "seed": seed, "examples": len(examples), "train_rows": len(train), "episodes": len(episodes),
        "settings": dict(sft), "loss_first": losses[0], "loss_last": losses[-1], "selection": eval_log,
        "selected_step": max(eval_log, key=lambda r: r["score"])["step"] if eval_log else int(sft["steps"]),
        "seconds": round(time.perf_counter() - t0, 1)}, indent=2), encoding="utf-8")
    os.replace(tmp, dst)
    del model
    if torch.cuda.is_available():  # the driver's cached blocks would otherwise starve the learner and runner actors
        torch.cuda.empty_cache()
    if progress:
        print(f"SFT warm-start: {len(examples)} {expert} turns ({len(train)} rows), {sft['steps']} steps, "
              f"loss {losses[0]:.3f} → {losses[-1]:.3f}" + (f", held-out imitation {eval_log}" if eval_log else ""))
    return str(dst.resolve())


SFT_CANDIDATE_SEED_STRIDE = 1000
"""Candidate k of ``sft.candidates`` trains with seed ``seed + k * SFT_CANDIDATE_SEED_STRIDE`` (its own
SFT episodes and initial shuffling); candidate 0 is the run's own seed, so one candidate is the plain run."""


def candidate_selection(s: Mapping[str, Any]) -> Optional["Selection"]:
    """Where ``sft.candidates > 1`` chooses its start: the run's validation episodes (None for one candidate).
    ``drugenv train`` calls it before Ray starts, ``sft_choose_start`` again for API callers.

    Raises:
        ConfigError: several candidates and no ``run.select_*`` to choose on, or an unknown select metric.
    """
    if int((s.get("sft") or {}).get("candidates", 1)) <= 1:
        return None
    selection = Selection.from_run(s["run"])
    if selection is None:
        raise ConfigError("sft.candidates > 1 chooses on the run's validation episodes: set run.select_suite, "
                          "run.select_seed and run.select_episodes")
    return selection


def sft_choose_start(base_model: str, s: Mapping[str, Any], out_dir: Path, *, progress: bool = True) -> tuple[str, Optional[dict]]:
    """The SFT warm start of a run: ``sft_warm_start`` once, or with ``sft.candidates = n > 1`` once per
    candidate seed, keeping the one best on the run's validation episodes (``run.select_*``: greedy
    decisions on train-split seeds that no training episode uses; never the test split).

    Returns (model path, the choice's record or None). Why it exists: the main job's after-SFT
    accuracy varies with the seed (0.80 / 0.77 / 0.72 at seeds 0-2). Measured once (docs/grpo.md,
    "Choosing the SFT start"): at seed 1 of the longer recipe three candidates' validation utility
    spread 0.40-0.48 on 96 episodes, and the chosen start was no better on test, so both configs
    keep ``candidates = 1``."""
    seed = int(s["seed"])
    sft = sft_settings_for(s)
    n = int(s["sft"].get("candidates", 1))
    if n <= 1:
        return sft_warm_start(base_model, sft, out_dir, seed=seed, progress=progress), None
    selection = candidate_selection(s)
    scores = []
    for k in range(n):
        cand_seed = seed + k * SFT_CANDIDATE_SEED_STRIDE
        path = sft_warm_start(base_model, sft, out_dir, seed=cand_seed, progress=progress,
                              dst=out_dir / ("sft_model" if k == 0 else f"sft_model_seed{cand_seed}"))
        value = evaluate_model(path, None, s["run"], suite=selection.suite, episodes=selection.episodes,
                               seed=selection.seed, progress=progress)[selection.metric]
        scores.append({"seed": cand_seed, "model": path, "value": value})
        if progress:
            print(f"SFT candidate seed {cand_seed}: validation {selection.metric} {value:.3f}")
    lower = selection.metric in LOWER_IS_BETTER
    best = 0
    for i in range(1, n):  # ties keep the earlier seed
        if better(scores[i]["value"], scores[best]["value"], lower):
            best = i
    return scores[best]["model"], {"suite": selection.suite, "seed": selection.seed, "episodes": selection.episodes,
                                   "metric": selection.metric, "chosen_seed": scores[best]["seed"], "candidates": scores}


# ------------------------------------------------------------------------------------- evaluation


def evaluate_model(model: str, adapter: Optional[str], run: Mapping[str, Any], *, progress: bool = False,
                   suite: Optional[str] = None, episodes: Optional[int] = None, seed: Optional[int] = None,
                   records: Optional[list] = None) -> dict[str, float]:
    """Greedy held-out evaluation of ``model`` (+ ``adapter``) with the standard metrics, on
    ``suite`` / ``episodes`` / ``seed`` (default: ``run["eval_suite"]`` / ``run["eval_episodes"]`` /
    ``run["eval_seed"]``) with the run's step cap and prompt budget. ``records``, if given, receives
    the per-episode records."""
    from drugenv.evaluation.evaluate import evaluate
    from drugenv.llm.policy import HFPolicy, SamplingConfig

    batch = int(run.get("eval_batch_size", 16))
    policy = HFPolicy(model, adapter=adapter, sampling=SamplingConfig(temperature=0.0, max_new_tokens=int(run["eval_max_new_tokens"])),
                      max_prompt_tokens=int(run["eval_max_prompt_tokens"]), batch_size=batch)
    summary, recs = evaluate(policy, suite or run["eval_suite"], int(episodes or run["eval_episodes"]),
                             int(run["eval_seed"] if seed is None else seed),
                             max_steps=run.get("eval_max_steps"), batch_size=batch, progress=progress)
    if records is not None:
        records.extend(recs)
    return summary


def baseline_metrics(run: Mapping[str, Any], *, suite: Optional[str] = None, episodes: Optional[int] = None,
                     records: Optional[dict[str, list]] = None) -> dict[str, dict[str, float]]:
    """random / heuristic / oracle on the held-out episodes, under the run's step cap (``eval_max_steps``:
    the same game as the LLM rows; the heuristic finishes within 12 steps). ``records[name]``, if
    given, receives each baseline's per-episode records."""
    from drugenv.agents.baselines import HeuristicPolicy, OraclePolicy, RandomPolicy
    from drugenv.evaluation.evaluate import evaluate

    out = {}
    for name, pol in (("random", RandomPolicy(seed=0)), ("heuristic", HeuristicPolicy()), ("oracle", OraclePolicy())):
        out[name], recs = evaluate(pol, suite or run["eval_suite"], int(episodes or run["eval_episodes"]), int(run["eval_seed"]),
                                   max_steps=run.get("eval_max_steps"), progress=False)
        if records is not None:
            records[name] = recs
    return out


def final_evidence(model: str, adapters: Mapping[str, Optional[str]], run: Mapping[str, Any], *,
                   progress: bool = False, known: Optional[Mapping[str, tuple[dict, list]]] = None) -> dict[str, Any]:
    """The committed evidence: every agent of ``adapters`` (label → adapter, None = the bare model) and
    the baselines on ``eval_suite`` and on ``curated_episodes`` curated episodes, with 95% paired
    bootstrap intervals against the heuristic on the same episodes (``evaluation.bootstrap``).
    ``known[label] = (summary, records)``: results already computed on ``eval_suite`` (not redone)."""
    from drugenv.evaluation.bootstrap import paired_bootstrap
    from drugenv.evaluation.metrics import twin_metrics

    out: dict[str, Any] = {}
    suites = [(run["eval_suite"], int(run["eval_episodes"]))]
    if int(run.get("curated_episodes", 0)) > 0:
        suites.append(("curated", int(run["curated_episodes"])))
    if int(run.get("twins_episodes", 0)) > 0:  # counterfactual twins: does the verdict follow the evidence?
        suites.append(("procedural-test-twins", int(run["twins_episodes"])))
    for suite, n in suites:
        base_recs: dict[str, list] = {}
        table = baseline_metrics(run, suite=suite, episodes=n, records=base_recs)
        rows: dict[str, Any] = {}
        intervals: dict[str, Any] = {}
        agent_recs: dict[str, list] = {}
        for label, adapter in adapters.items():
            recs: list = []
            if suite == run["eval_suite"] and known and label in known:
                rows[label], recs = known[label][0], list(known[label][1])
            else:
                rows[label] = evaluate_model(model, adapter, run, suite=suite, episodes=n, records=recs, progress=progress)
            intervals[label] = paired_bootstrap(recs, base_recs["heuristic"], seed=int(run["eval_seed"]))
            agent_recs[label] = recs
        rows.update(table)
        out[suite] = {"episodes": n, "seed": int(run["eval_seed"]), "max_steps": run.get("eval_max_steps"),
                      "metrics": rows, "vs_heuristic": intervals}
        if suite == "procedural-test-twins":
            out[suite]["twins"] = {label: twin_metrics(r) for label, r in {**agent_recs, **base_recs}.items()}
        if suite == "curated":  # each hand-built case (misleading, complex, ...) on its own, paired as above
            out[suite]["per_scenario"] = per_scenario_intervals(agent_recs, base_recs["heuristic"], seed=int(run["eval_seed"]))
    return out


def per_scenario_intervals(agent_recs: Mapping[str, list], heuristic_recs: list, *, seed: int = 0) -> dict[str, Any]:
    """``{scenario: {"episodes": n, label: paired_bootstrap(...)}}``: each agent against the heuristic
    on one scenario's episodes."""
    from drugenv.evaluation.bootstrap import paired_bootstrap

    out: dict[str, Any] = {}
    for name in dict.fromkeys(r.scenario for r in heuristic_recs):
        ref = [r for r in heuristic_recs if r.scenario == name]
        out[name] = {"episodes": len(ref), **{label: paired_bootstrap([r for r in recs if r.scenario == name], ref, seed=seed)
                                              for label, recs in agent_recs.items()}}
    return out


# ------------------------------------------------------------------------------------- checkpoints


def export_adapter(algo: Any, path: Path) -> Path:
    """Write the learner's LoRA adapter in peft format (``adapter_config.json`` + weights) to ``path``.

    One learner saves it (with several, DDP keeps them identical); RLlib wraps each one's module for DDP then
    (``unwrapped()`` is the module, which has ``lm``). The learner sends the files and this process writes
    them: a learner on another node of a cluster wrote them to its own disk. The adapter names the run's
    model as the run's config does (a learner on a node that fetched the model's folder loaded it from a
    copy of its own, ``training.model_files``). A remote learner's error comes back as a result, not raised,
    so it is raised here: it left checkpoints without an adapter, unsaid, until the final evaluation failed
    to load one."""
    from ray.rllib.core import DEFAULT_MODULE_ID

    def save(learner: Any) -> Optional[dict[str, bytes]]:
        import tempfile

        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            learner.module[DEFAULT_MODULE_ID].unwrapped().lm.save_pretrained(tmp)
            return {p.relative_to(tmp).as_posix(): p.read_bytes() for p in Path(tmp).rglob("*") if p.is_file()}

    # .get() raises a learner's error; only rank 0 of several DDP learners sends files.
    saved = [files for files in (r.get() for r in algo.learner_group.foreach_learner(save)) if files is not None]
    if not saved:
        raise RuntimeError(f"no learner saved the adapter for {path}")
    files = saved[0]
    adapter_config = json.loads(files["adapter_config.json"])
    adapter_config["base_model_name_or_path"] = algo.config.model_name_or_path
    files["adapter_config.json"] = json.dumps(adapter_config, indent=2, sort_keys=True).encode()
    for rel, data in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_bytes(data)
    return path


def resumed_model(checkpoint: str | Path) -> str:
    """The model a GRPO checkpoint's adapter was trained on (its metadata's ``model``: the SFT warm start,
    or the base). Restoring only the adapter's tensors onto another model (``--no-sft`` on a warm-started
    run, a new ``--out`` whose SFT redoes the start) trained on silently; a model that is gone is a
    ``ConfigError``."""
    from drugenv.llm.run_agent import missing_local_path

    try:
        model = json.loads((Path(checkpoint) / CHECKPOINT_META).read_text(encoding="utf-8"))["model"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"--resume {checkpoint}: its {CHECKPOINT_META} names no model ({e})") from None
    if isinstance(model, str):  # a run moved (or copied back from its --storage) keeps its model beside its checkpoints
        model = follow_moved_run(model, checkpoint)
    if not isinstance(model, str) or missing_local_path(model):
        raise ConfigError(f"--resume {checkpoint}: the model its adapter was trained on, {model!r}, is gone; "
                          "resume from a checkpoint whose run folder still holds it")
    return model


def save_checkpoint(algo: Any, path: Path, meta: Mapping[str, Any]) -> Path:
    """RLlib checkpoint (resumable) + peft adapter + metadata that ``checkpoint:PATH`` agents read, written
    whole or not at all (``run_files.write_dir_atomically``)."""
    def write(folder: Path) -> None:
        algo.save_to_path(str(folder.resolve()))
        export_adapter(algo, folder / ADAPTER_DIR)
        (folder / CHECKPOINT_META).write_text(json.dumps({**meta, "iteration": int(algo.iteration)}, indent=2, default=str), encoding="utf-8")

    return write_dir_atomically(path, write)


# ------------------------------------------------------------------------------------- main loop


def _or_nan(value: Optional[float]) -> float:
    """A curve value for the progress bar: None (the held-out env has no ``outcome()``, e.g. a remote
    one) is NaN, which formats, where None raised TypeError after SFT."""
    return float("nan") if value is None else value


def better(value: float, best: float, lower: bool) -> bool:
    """Whether a validation score beats the best so far. Equal up to float rounding is a tie, which
    keeps the best: the mean of the same scores can differ in its last bit with the order it was
    summed in (0.5858333333333333 against 0.5858333333333334)."""
    if math.isclose(value, best, rel_tol=1e-9, abs_tol=1e-12):
        return False
    return value < best if lower else value > best


@dataclass
class Selection:
    """Checkpoint selection on validation episodes: train-split seeds held out of training
    (``scenarios.procedural.VALIDATION_SEED_START``), played by RLlib's evaluation every
    ``eval_interval`` iterations and once before the first (iteration 0: the SFT model, so a run
    whose GRPO never beats its start keeps the start). The best checkpoint is ``checkpoint_best/``,
    and the test suite evaluates only it, so no choice is made on test episodes."""

    metric: str
    suite: str
    seed: int
    episodes: int
    iteration: Optional[int] = None
    value: Optional[float] = None
    history: list = field(default_factory=list)

    @classmethod
    def from_run(cls, run: Mapping[str, Any]) -> Optional["Selection"]:
        if not run.get("select_suite"):
            return None
        metric = str(run.get("select_metric", "decision_utility"))
        if M.HELDOUT_PREFIX + metric not in M.HELDOUT_CURVE_COLUMNS:
            choices = sorted(k.removeprefix(M.HELDOUT_PREFIX) for k in M.HELDOUT_CURVE_COLUMNS)
            raise ConfigError(f"run.select_metric={metric!r}: RLlib's evaluation reports {choices}")
        return cls(metric=metric, suite=str(run["select_suite"]), seed=int(run["select_seed"]), episodes=int(run["select_episodes"]))

    def improved(self, iteration: int, value: Optional[float]) -> bool:
        """Record ``value`` at ``iteration``; True if it is the best so far (ties keep the earlier)."""
        if value is None:
            return False
        self.history.append([iteration, value])
        if not math.isfinite(value):  # e.g. ECE when no episode reported: nothing to rank, and NaN beats nothing
            return False
        if self.value is None or better(value, self.value, self.metric in LOWER_IS_BETTER):
            self.iteration, self.value = iteration, value
            return True
        return False

    def restore(self, record: Mapping[str, Any]) -> None:
        self.iteration, self.value = record.get("iteration"), record.get("value")
        self.history = [list(r) for r in record.get("history", [])]

    def record(self) -> dict[str, Any]:
        return {"suite": self.suite, "seed": self.seed, "episodes": self.episodes, "metric": self.metric,
                "iteration": self.iteration, "value": self.value, "history": self.history}


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "/"))
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[key] = v
    return out


def _number(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


FINAL_REPORT_KEYS = ("after_grpo", "_meta", "_evidence", "_timing")
"""What ``evidence/before_after_metrics.json`` gains when a run finishes (the evaluation after GRPO, and what it was
made of); a run resumed in that folder keeps the rest (the base and SFT evaluations) and drops these until its own end."""


def resumed_report(path: Path) -> dict[str, Any]:
    """The evidence file a resumed run starts from (``path``, its folder's ``before_after_metrics.json``; {} when there
    is none): the base and SFT evaluations are kept, not made again. What a finished run added
    (``FINAL_REPORT_KEYS``) is removed from the file at once: the dashboard read its final evaluation as the
    resumed run's, which showed as finished while it ran and after it was killed."""
    if not path.exists():
        return {}
    report = json.loads(path.read_text(encoding="utf-8"))
    if any([report.pop(k, None) is not None for k in FINAL_REPORT_KEYS]):
        write_text_atomic(path, results_json(report, indent=2))
    return report


def run_grpo(
    config_module: ModuleType,
    overrides: Optional[Mapping[str, Any]],
    out_dir: Path,
    *,
    resume: Optional[str] = None,
    progress: bool = True,
    use_wandb: bool = False,
    storage: Optional[RunStorage] = None,
) -> dict[str, Any]:
    """Warm-start, train, evaluate and checkpoint. Ray must already be initialised. ``storage``: mirror
    the run folder there as it is written (``drugenv.storage``)."""
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    s = config_module.settings(overrides)
    run = s["run"]
    files = RunFiles(out_dir, wandb=use_wandb, storage=storage)
    files.start("grpo", s, resumed_from=resume)
    print("settings:", json.dumps(s, default=str))

    base = resolve_base_model(str(s["model"]), out_dir)
    before_path = out_dir / "evidence" / "before_after_metrics.json"
    report = resumed_report(before_path) if resume else {}
    if "before" not in report:  # the random-init model never reports: the short curve set is enough
        report["before"] = evaluate_model(base, None, run, progress=progress, episodes=run.get("curve_eval_episodes"))
    sft_choice = None
    model = base
    if resume:  # the adapter continues on the model it was trained on, not on whatever this run would build
        model = resumed_model(resume)
    elif s["sft"].get("enabled"):
        model, sft_choice = sft_choose_start(base, s, out_dir, progress=progress)
    known: dict[str, tuple[dict, list]] = {}
    if s["sft"].get("enabled") and "after_sft" not in report:
        recs: list = []
        report["after_sft"] = evaluate_model(model, None, run, progress=progress, records=recs)
        known["after_sft"] = (report["after_sft"], recs)

    algo = config_module.build_config(overrides, model_path=model).build_algo()
    first = 1
    if resume:
        restore_or_refuse(algo, resume)
        first = int(algo.iteration) + 1
        files.resume_after(int(algo.iteration))
    meta = {"algo": "grpo", "model": model, "base_model": base, "config": getattr(config_module, "__file__", None), "settings": s}

    iterations = int(run["iterations"])
    ckpt_every = max(1, int(run["checkpoint_interval"]))
    curve: list[dict[str, Any]] = []
    selection = Selection.from_run(run)
    best_meta = out_dir / CHECKPOINT_BEST / CHECKPOINT_META
    if selection is not None and resume and best_meta.exists():  # a resumed run keeps its best so far
        selection.restore(json.loads(best_meta.read_text(encoding="utf-8")).get("selection") or {})
    elif selection is not None and first == 1:
        # Iteration 0 is a candidate too: the LoRA adapter starts at zero, so this is the SFT model
        # itself, and a run whose GRPO iterations never beat it on validation keeps it. The
        # evaluation runners play the same fixed validation episodes every time and draw nothing
        # from the training streams, so the iterations after it are unchanged.
        heldout = _flatten({"evaluation": algo.evaluate()})
        value = _number(heldout.get(M.HELDOUT_CURVE_COLUMNS[M.HELDOUT_PREFIX + selection.metric]))
        if selection.improved(0, value):
            save_checkpoint(algo, out_dir / CHECKPOINT_BEST, {**meta, "selection": selection.record()})
        if progress:
            print(f"validation {selection.metric} before GRPO (iteration 0): {value}")
    try:
        bar = tqdm(range(first, first + iterations), desc="grpo", disable=not progress)
        for it in bar:
            t0 = time.perf_counter()
            flat = _flatten(algo.train())  # RLlib runs the held-out evaluation every eval_interval iterations
            row = {"iteration": it, "seconds": round(time.perf_counter() - t0, 2)}
            row.update({col: _number(flat.get(path)) for col, path in M.CURVE_COLUMNS.items()})
            every = algo.config.evaluation_interval
            if every and algo.iteration % every == 0:  # RLlib evaluated in this train() call (its result repeats the last one otherwise)
                row.update({col: _number(flat.get(path)) for col, path in M.HELDOUT_CURVE_COLUMNS.items()})
                if selection is not None and selection.improved(it, row.get(M.HELDOUT_PREFIX + selection.metric)):
                    save_checkpoint(algo, out_dir / CHECKPOINT_BEST, {**meta, "selection": selection.record()})
            curve.append(row)
            files.log(row)  # and to Weights & Biases with --wandb
            # The row before its checkpoint: a kill between the two resumes from the checkpoint before, which drops
            # this row and plays the iteration again. The other order lost the row for good (resume_after kept rows
            # up to the checkpoint's iteration, and this one was never written).
            if it % ckpt_every == 0:
                save_checkpoint(algo, out_dir / f"checkpoint_iter_{it:04d}", meta)
                files.sync()
            bar.set_postfix(ret=f"{row[M.CURVE_RETURN] or 0:.2f}", parse_fail=f"{row[M.CURVE_PARSE_FAILURE_RATE] or 0:.2f}",
                            acc=f"{_or_nan(row.get(M.HELDOUT_PREFIX + 'decision_accuracy')):.2f}")
        final = save_checkpoint(algo, out_dir / CHECKPOINT_FINAL, meta)
    finally:
        stop_algorithm(algo)
        files.close()
    if selection is not None and selection.iteration is not None:
        final = out_dir / CHECKPOINT_BEST  # the test suite sees only the validation-selected checkpoint
        if progress:
            print(f"selected iteration {selection.iteration}: validation {selection.metric} {selection.value:.3f}")
    recs = []
    report["after_grpo"] = evaluate_model(model, str(final / ADAPTER_DIR), run, progress=progress, records=recs)
    known["after_grpo"] = (report["after_grpo"], recs)
    report["_meta"] = {"suite": run["eval_suite"], "episodes": run["eval_episodes"], "seed": run["eval_seed"],
                       "before_episodes": run.get("curve_eval_episodes") or run["eval_episodes"],
                       "max_steps": run.get("eval_max_steps"), "model": model, "checkpoint": str(final)}
    if selection is not None:
        report["_meta"]["selection"] = selection.record()
    if sft_choice is not None:
        report["_meta"]["sft_choice"] = sft_choice
    adapters = {"after_sft": None, "after_grpo": str(final / ADAPTER_DIR)} if s["sft"].get("enabled") else {"after_grpo": str(final / ADAPTER_DIR)}
    evidence_all = final_evidence(model, adapters, run, progress=progress, known=known)
    report.update({k: v for k, v in evidence_all[run["eval_suite"]]["metrics"].items() if k in ("random", "heuristic", "oracle")})
    report["_evidence"] = evidence_all
    sft_made = Path(model) / "drugenv_sft.json"
    report["_timing"] = {
        "train_seconds": round(time.perf_counter() - t_start, 1),
        "sft": json.loads(sft_made.read_text(encoding="utf-8")) if sft_made.exists() else None,
        "iteration_seconds": [r["seconds"] for r in curve],
        "torch_threads": __import__("torch").get_num_threads(), "cpu_count": os.cpu_count(),
    }
    write_text_atomic(before_path, results_json(report, indent=2))
    history = files.history()  # the whole history, including iterations before a --resume
    if history:
        files.draw(lambda: plot_curve(history, files.curve_png, baselines={k: report[k] for k in ("heuristic", "oracle")},
                                      start=report.get("after_sft") or report.get("before")))
    files.finish(report["after_grpo"], heuristic=report["heuristic"], checkpoint=str(final),
                 suite=run["eval_suite"], episodes=run["eval_episodes"])
    print_report(report)
    return {"settings": s, "curve": curve, "report": report, "checkpoint": str(final)}


def plot_curve(curve: list[Mapping[str, Any]], path: Path, baselines: Optional[Mapping[str, Mapping[str, float]]] = None,
               start: Optional[Mapping[str, float]] = None) -> Path:
    """Write ``curve_figure(...)`` to ``path`` (PNG)."""
    import matplotlib.pyplot as plt

    fig = curve_figure(curve, baselines=baselines, start=start)
    save_figure(fig, path, dpi=110, bbox_inches="tight")  # a failed write leaves the previous curve whole
    plt.close(fig)
    return path


def curve_figure(curve: list[Mapping[str, Any]], baselines: Optional[Mapping[str, Mapping[str, float]]] = None,
                 start: Optional[Mapping[str, float]] = None) -> Any:
    """Training curve: rollout return (and its 3-iteration mean), parse failures, held-out greedy
    return and report rate at each evaluation (``start``: the held-out metrics of the model GRPO
    started from, drawn at iteration 0), and the rollout / learner / sync split per iteration.

    Read at a glance: iterations are whole numbers; legends sit below the panels, never on the data;
    each reference line carries its name at its right end; a one-iteration run still shows its
    points and whole bars (markers on every series, x-range padded by half an iteration).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    it = np.array([r["iteration"] for r in curve])
    col = lambda k: np.array([np.nan if r.get(k) is None else r[k] for r in curve], dtype=float)  # noqa: E731
    ret = col(M.CURVE_RETURN)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.6))
    ax[0].plot(it, ret, "o-", alpha=0.45, label="rollout return (sampled, each iteration)")
    if len(ret) >= 3:
        ax[0].plot(it[2:], np.convolve(ret, np.ones(3) / 3, mode="valid"), "-", lw=2.5, label="rollout return, 3-iteration mean")
    h_return, h_report = M.HELDOUT_PREFIX + "mean_return", M.HELDOUT_PREFIX + M.REPORT_RATE
    held = [(r["iteration"], r[h_return], r.get(h_report)) for r in curve if r.get(h_return) is not None]
    if start and held:
        held.insert(0, (0, start["mean_return"], start.get("report_rate")))
    if held:
        hx, hy, hr = (np.array([np.nan if v is None else v for v in c], dtype=float) for c in zip(*held))
        ax[0].plot(hx, hy, "s--", color="black", label="held-out return (greedy)")
    x_lo = min([*it.tolist(), *([0] if start and held else [])], default=0) - 0.5
    x_hi = max(it.tolist(), default=1) + 0.5
    for (name, m), color in zip((baselines or {}).items(), ("tab:green", "tab:purple", "tab:brown")):
        if "mean_return" in m:
            ax[0].axhline(m["mean_return"], ls=":", color=color, label=f"{name} (held-out)")
            ax[0].annotate(name, (1.0, m["mean_return"]), xycoords=("axes fraction", "data"), xytext=(3, 0),
                           textcoords="offset points", va="center", fontsize=8, color=color)
    ax[0].set(xlabel="iteration", ylabel="episode return", title="Return")
    ax[1].plot(it, col(M.CURVE_PARSE_FAILURE_RATE), "o-", label="parse failures (rollout)")
    ax[1].plot(it, col(M.CURVE_REPORT_RATE), "^-", label="report rate (rollout)")
    if held and not np.all(np.isnan(hr)):
        ax[1].plot(hx, hr, "s--", color="black", label="report rate (held-out)")
    ax[1].set(xlabel="iteration", ylim=(-0.02, 1.02), title="Rates")
    bottom = np.zeros(len(it))
    for key, label in ((M.CURVE_TIMER_ROLLOUT, "rollout"), (M.CURVE_TIMER_LEARNER, "learner"), (M.CURVE_TIMER_SYNC, "sync")):
        v = np.nan_to_num(col(key))
        ax[2].bar(it, v, width=0.6, bottom=bottom, label=label)
        bottom += v
    ax[2].set(xlabel="iteration", ylabel="seconds", title="Time per iteration")
    if len(bottom) and bottom.max() > 0:
        ax[2].set_ylim(0, bottom.max() * 1.08)  # the whole stack, with room above it
    for a in ax:
        a.set_xlim(x_lo, x_hi)
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
        a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def print_report(report: Mapping[str, Any]) -> None:
    from drugenv.evaluation.cli import format_table

    rows = {k: v for k, v in report.items() if not k.startswith("_")}
    print("\nheld-out evaluation (" + json.dumps(report.get("_meta", {})) + ")")
    print(format_table(rows))


__all__ = [
    "FINAL_REPORT_KEYS", "SFT_CANDIDATE_SEED_STRIDE", "SFT_SETTINGS", "Selection", "baseline_metrics", "better", "candidate_selection",
    "curve_figure", "evaluate_model", "export_adapter", "final_evidence", "per_scenario_intervals", "plot_curve",
    "print_report", "resolve_base_model", "resumed_model", "resumed_report", "run_grpo", "save_checkpoint", "sft_choose_start",
    "sft_settings_for", "sft_warm_start",
]
