"""Train RLlib PPO on the vector env, score it on the held-out split, and evaluate its checkpoints.

How to run::

    python -m drugenv.training.ppo --config rllib_configs/ppo_vector --iterations 40 --out runs/ppo_vector
    drugenv eval --agent checkpoint:runs/ppo_vector/checkpoint_final --suite procedural-test --episodes 200

Pieces:

- ``load_rllib_config(path)`` (from ``drugenv.training.configs``): import an ``rllib_configs/*.py`` file.
- ``train_ppo(module, overrides, out_dir)``: ``Algorithm.train()`` in a loop (tqdm bar), a held-out
  evaluation every ``run.eval_interval`` iterations (``heldout_eval``: ``procedural-test``, fixed
  seed, default ``RewardConfig``, greedy actions); with ``out_dir`` the run files every
  ``drugenv train`` run writes (``training.run_files``: ``settings.json``, ``metrics.jsonl``,
  ``evidence/training_curve.png``, ``summary.json``, ``checkpoint_final``).
- ``RLModulePolicy`` / ``RLlibCheckpointPolicy``: a ``Policy`` that acts greedily on the vector
  features of the core observation, so ``drugenv.evaluation.evaluate`` scores it like any baseline.

Results to expect: see ``docs/ppo_and_sweeps.md``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from drugenv.agents.base import Policy
from drugenv.errors import ConfigError
from drugenv.gym_envs.vector_env import VECTOR_ACTIONS, vector_features
from drugenv.models import DrugTargetAction, ValidationObservation
from drugenv.training.configs import RAY_STARTED_LOCAL, init_ray, load_overrides, load_rllib_config  # noqa: F401  (re-exported)
from drugenv.training.configs import stop_algorithm
from drugenv.llm.checkpoint import CHECKPOINT_FINAL, CHECKPOINT_META, resolve_checkpoint_dir
from drugenv.training.metrics import HELDOUT_PREFIX  # noqa: F401  (re-exported: the dashboard and tables read it here)
from drugenv.training.run_files import RunFiles, restore_or_refuse, write_dir_atomically
from drugenv.storage import RunStorage

HELDOUT_SUITE = "procedural-test"
"""Every PPO run and sweep trial is scored on this suite (never on its own training reward)."""
TRAIN_RETURN = "train/episode_return_mean"
CHECKPOINT_NAME = CHECKPOINT_FINAL
_EVIDENCE_IDX = np.array([i for i, a in enumerate(VECTOR_ACTIONS) if a.final_decision is None])
_GO_IDX = np.array([i for i, a in enumerate(VECTOR_ACTIONS) if a.final_decision == "go"])
_NO_GO_IDX = np.array([i for i, a in enumerate(VECTOR_ACTIONS) if a.final_decision == "no_go"])
_MODULE_SUBPATH = ("learner_group", "learner", "rl_module", "default_policy")


# ---------------------------------------------------------------------------------------------
# Ray set-up
# ---------------------------------------------------------------------------------------------



# ---------------------------------------------------------------------------------------------
# Policies over an RLModule
# ---------------------------------------------------------------------------------------------


class RLModulePolicy(Policy):
    """Greedy policy of a PPO ``RLModule`` over ``vector_features``.

    Greedy over the factored action (``greedy="factored"``, the default): the report is one choice
    spread over 10 submit actions (decision × confidence bin), so a plain argmax under-weights it.
    With π the softmax over the affordable actions: submit if ``Σ_submit π ≥ max_evidence π``, with
    the decision of larger total mass and that decision's most likely confidence bin; otherwise the
    most likely evidence action. ``greedy="argmax"`` is the plain argmax. Actions the core
    environment would block as unaffordable are masked out (the observation lists the legal ones).
    """

    name = "ppo"

    def __init__(self, module: Any, greedy: str = "factored"):
        if greedy not in ("factored", "argmax"):
            raise ConfigError(f"greedy must be 'factored' or 'argmax', got {greedy!r}")
        self.module = module
        self.greedy = greedy

    def logits(self, observations: Sequence[ValidationObservation]) -> np.ndarray:
        import torch

        x = torch.as_tensor(np.stack([vector_features(o) for o in observations]))
        with torch.no_grad():
            out = self.module.forward_inference({"obs": x})
        return out["action_dist_inputs"].detach().cpu().numpy()  # (B, n_actions)

    def act(self, observations: Sequence[ValidationObservation]) -> list[DrugTargetAction]:
        logits = self.logits(observations)
        actions = []
        for row, obs in zip(logits, observations):
            legal = set(obs.legal_actions)
            masked = np.where([a.action_type in legal for a in VECTOR_ACTIONS], row, -np.inf)
            actions.append(VECTOR_ACTIONS[self._choose(masked)].to_action())
        return actions

    def _choose(self, masked_logits: np.ndarray) -> int:
        if self.greedy == "argmax":
            return int(np.argmax(masked_logits))
        if not np.isfinite(masked_logits.max()):  # nothing legal: the episode is over, the action is ignored
            return int(_GO_IDX[0])
        p = np.exp(masked_logits - masked_logits.max())
        p /= p.sum()
        ev, go, no = p[_EVIDENCE_IDX], p[_GO_IDX], p[_NO_GO_IDX]
        if go.sum() + no.sum() >= ev.max():
            return int(_GO_IDX[np.argmax(go)] if go.sum() >= no.sum() else _NO_GO_IDX[np.argmax(no)])
        return int(_EVIDENCE_IDX[np.argmax(ev)])


def module_path(checkpoint: str | Path) -> Path:
    """The RLModule directory inside an algorithm checkpoint (or the path itself if it is one)."""
    p = resolve_checkpoint_dir(checkpoint)
    if (p / CHECKPOINT_META).is_file():  # a GRPO checkpoint has a learner_group/ too
        raise ConfigError(f"{checkpoint} is a GRPO checkpoint, not an RLlib PPO one")
    if (p / "learner_group").is_dir():
        return p.joinpath(*_MODULE_SUBPATH)
    if (p / "module_state.pkl").exists() or (p / "class_and_ctor_args.pkl").exists():
        return p
    raise ConfigError(f"{checkpoint} is not an RLlib PPO checkpoint (no learner_group/ or RLModule files); "
                      f"pass the directory train_ppo wrote, e.g. runs/ppo_vector/{CHECKPOINT_NAME}")


def checkpoint_model_config(checkpoint: str | Path) -> dict[str, Any]:
    """The network settings (``DefaultModelConfig`` fields) a PPO checkpoint's RLModule was built with. Reading them
    unpickles the file, as restoring the checkpoint does (docs/ppo_and_sweeps.md: a PPO checkpoint is code)."""
    import pickle

    path = module_path(checkpoint) / "class_and_ctor_args.pkl"
    try:
        with open(path, "rb") as f:
            _, kwargs = pickle.load(f)["ctor_args_and_kwargs"]
        return dict(kwargs.get("model_config") or {})
    except Exception as e:  # a truncated or damaged pickle: EOFError, UnpicklingError, a missing key or class...
        raise ConfigError(f"{checkpoint} looks like an RLlib PPO checkpoint but {path.name} cannot be read "
                          f"({type(e).__name__}: {str(e)[:200]}); is it damaged or written by another RLlib?") from None


def resume_mismatch(checkpoint: str | Path, model: Mapping[str, Any]) -> Optional[str]:
    """Why a run with these ``model`` settings cannot continue from ``checkpoint`` (None: it can): the
    restored weights keep the checkpoint's shapes, and RLlib says so only after Ray started, in a
    50-line traceback."""
    saved = checkpoint_model_config(checkpoint)
    differ = [f"model.{k}={model[k]!r} (the checkpoint's: {saved[k]!r})" for k in sorted(model)
              if k in saved and _same_setting(saved[k]) != _same_setting(model[k])]
    return "; ".join(differ) or None


def _same_setting(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def is_ppo_checkpoint(path: str | Path) -> bool:
    """True if ``path`` holds a PPO (vector env) checkpoint this module can load."""
    try:
        module_path(path)
    except ConfigError:
        return False
    return True


class RLlibCheckpointPolicy(RLModulePolicy):
    """``RLModulePolicy`` restored from a checkpoint written by ``train_ppo`` (or ``algo.save_to_path``).

    ``drugenv eval --agent checkpoint:PATH`` builds it through ``load_ppo_checkpoint_policy(PATH)``.
    """

    def __init__(self, checkpoint: str | Path):
        from ray.rllib.core.rl_module.rl_module import RLModule

        self.checkpoint = Path(checkpoint)
        try:
            module = RLModule.from_checkpoint(str(module_path(checkpoint).resolve()))
        except ConfigError:
            raise
        except Exception as e:  # a truncated or damaged pickle: EOFError, UnpicklingError, a missing class...
            raise ConfigError(f"{checkpoint} looks like an RLlib PPO checkpoint but cannot be restored "
                              f"({type(e).__name__}: {str(e)[:200]}); is it damaged or written by another RLlib?") from e
        super().__init__(module)
        self.name = f"checkpoint:{checkpoint}"


def load_ppo_checkpoint_policy(path: str | Path, **options: Any) -> RLlibCheckpointPolicy:
    """Entry point for ``drugenv eval --agent checkpoint:PATH`` on a PPO checkpoint. It takes no options
    (``--extra``): the policy is the module's greedy legal action, and an option dropped without a
    word would look applied."""
    if options:
        raise ConfigError(f"a PPO checkpoint's policy takes no --extra options (got {', '.join(sorted(options))}): "
                          "it plays its RLModule's most likely legal action")
    return RLlibCheckpointPolicy(path)


# ---------------------------------------------------------------------------------------------
# Held-out evaluation and the train loop
# ---------------------------------------------------------------------------------------------


def heldout_eval(policy_or_module: Any, episodes: int = 200, seed: int = 0) -> dict[str, float]:
    """The fixed held-out evaluation: ``procedural-test`` episodes ``seed .. seed+episodes-1`` with the
    default ``RewardConfig`` (so ``mean_return`` is comparable across reward sweeps)."""
    from drugenv.evaluation.evaluate import evaluate

    policy = policy_or_module if isinstance(policy_or_module, Policy) else RLModulePolicy(policy_or_module)
    summary, _ = evaluate(policy, HELDOUT_SUITE, episodes, seed, progress=False, batch_size=32)
    return summary


def _train_row(it: int, result: Mapping[str, Any]) -> dict[str, Any]:
    envr = result.get("env_runners", {})
    return {
        "iteration": it,
        "env_steps": int(result.get("num_env_steps_sampled_lifetime", envr.get("num_env_steps_sampled_lifetime", 0)) or 0),
        TRAIN_RETURN: float(envr.get("episode_return_mean", float("nan"))),
        "train/episode_len_mean": float(envr.get("episode_len_mean", float("nan"))),
        "time_s": float(result.get("time_total_s", 0.0)),
    }


def train_ppo(
    config_module: ModuleType,
    overrides: Optional[Mapping[str, Any]] = None,
    out_dir: Optional[str | Path] = None,
    *,
    progress: bool = True,
    on_eval: Optional[Callable[[dict[str, Any], Any], None]] = None,
    resume_from: Optional[str | Path] = None,
    use_wandb: bool = False,
    storage: Optional[RunStorage] = None,
) -> dict[str, Any]:
    """Train, evaluating on the held-out split every ``run.eval_interval`` iterations.

    ``on_eval(row, algo)`` is called after each held-out evaluation (Tune reports through it).
    ``resume_from``: an algorithm checkpoint (``checkpoint_final``) to continue from; iterations
    are then counted on from the checkpoint's. ``use_wandb``: also log the run files' rows to Weights &
    Biases (with ``out_dir``). ``storage``: mirror the run files there as they are written
    (``drugenv.storage``, with ``out_dir``).
    Returns ``{"settings", "curve", "final", "checkpoint"}`` (and ``"heuristic"``, its held-out
    metrics on the same episodes, with ``out_dir``); with ``out_dir`` also writes the run files
    (``training.run_files``). Ray must already be initialised.
    """
    from tqdm.auto import tqdm

    from drugenv.training.grpo import push_weights

    s = config_module.settings(overrides)
    run = s["run"]
    iterations, interval = int(run["iterations"]), max(1, int(run["eval_interval"]))
    algo = config_module.build_config(overrides).build_algo()
    first = 1
    if resume_from is not None:
        restore_or_refuse(algo, resume_from)
        push_weights(algo.env_runner_group, algo.learner_group)  # RLlib's own push may be skipped
        first = int(algo.iteration) + 1
    curve: list[dict[str, Any]] = []
    files = RunFiles(out_dir, wandb=use_wandb, storage=storage) if out_dir is not None else None
    if files is not None:
        files.start(config_module.ALGO, s, resumed_from=resume_from)
        if resume_from is not None:
            files.resume_after(first - 1)
    ckpt: Optional[str] = None
    try:
        bar = tqdm(range(first, first + iterations), desc=f"train {config_module.ALGO}", disable=not progress)
        for it in bar:
            row = _train_row(it, algo.train())
            if it % interval == 0 or it == first + iterations - 1:
                t0 = time.perf_counter()
                metrics = heldout_eval(algo.get_module(), int(run["eval_episodes"]), int(run["eval_seed"]))
                row.update({HELDOUT_PREFIX + k: v for k, v in metrics.items()})
                row["eval_time_s"] = time.perf_counter() - t0
                if on_eval is not None:
                    on_eval(row, algo)
                bar.set_postfix(acc=f"{metrics['decision_accuracy']:.2f}", util=f"{metrics['decision_utility']:.2f}",
                                ret=f"{row[TRAIN_RETURN]:.2f}")
            curve.append(row)
            if files is not None:
                files.log(row)
        if files is not None:
            ckpt = str(write_dir_atomically(files.out / CHECKPOINT_NAME, lambda folder: algo.save_to_path(str(folder.resolve()))).resolve())
    finally:
        stop_algorithm(algo)
        if files is not None:
            files.close()
    final = {k[len(HELDOUT_PREFIX):]: v for k, v in curve[-1].items() if k.startswith(HELDOUT_PREFIX)}
    result = {"settings": s, "curve": curve, "final": final, "checkpoint": ckpt}
    if files is not None:
        from drugenv.agents.baselines import HeuristicPolicy

        result["heuristic"] = heldout_eval(HeuristicPolicy(), int(run["eval_episodes"]), int(run["eval_seed"]))
        history = files.history()
        files.draw(lambda: plot_ppo_curve(history, files.curve_png, heuristic=result["heuristic"]))
        files.finish(final, heuristic=result["heuristic"], checkpoint=ckpt, suite=HELDOUT_SUITE,
                     episodes=int(run["eval_episodes"]))
    return result


def plot_ppo_curve(curve: Sequence[Mapping[str, Any]], path: Path, heuristic: Optional[Mapping[str, float]] = None) -> Path:
    """PPO's training curve: training return per iteration, and held-out decision accuracy and Brier
    at each evaluation against the heuristic on the same episodes (dotted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it = [r["iteration"] for r in curve]
    evals = [r for r in curve if HELDOUT_PREFIX + "decision_accuracy" in r]
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    ax[0].plot(it, [r.get(TRAIN_RETURN) for r in curve], "o-", ms=3, label="training return (own reward)")
    ax[0].set(xlabel="iteration", ylabel="episode return", title="Training return")
    for key, label, color in (("decision_accuracy", "accuracy", "tab:blue"), ("brier", "Brier", "tab:red")):
        ax[1].plot([r["iteration"] for r in evals], [r[HELDOUT_PREFIX + key] for r in evals], "s-", color=color,
                   label=f"held-out {label}")
        if heuristic and key in heuristic:
            ax[1].axhline(heuristic[key], ls=":", color=color, label=f"heuristic {label}")
    ax[1].set(xlabel="iteration", ylim=(-0.02, 1.02), title=f"Held-out ({HELDOUT_SUITE})")
    for a in ax:
        a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.tight_layout()
    from drugenv.cli import save_figure  # a failed write leaves the previous curve whole

    save_figure(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def format_curve(curve: Sequence[Mapping[str, Any]]) -> str:
    """The learning curve's evaluation rows as a text table."""
    from drugenv.evaluation.metrics import DECISION_ACCURACY, HELDOUT_TABLE_KEYS as keys

    lines = [f"{'iter':>4} {'env_steps':>9} {'train_ret':>9} " + " ".join(f"{k[:12]:>12}" for k in keys)]
    for r in curve:
        if HELDOUT_PREFIX + DECISION_ACCURACY not in r:
            continue
        lines.append(f"{r['iteration']:>4} {r['env_steps']:>9} {r[TRAIN_RETURN]:>9.3f} "
                     + " ".join(f"{r[HELDOUT_PREFIX + k]:>12.3f}" for k in keys))
    return "\n".join(lines)


@dataclass
class PPOTrainArgs:
    """Train PPO on the vector env (``drugenv train rllib_configs/ppo_vector``)."""

    config: str = "rllib_configs/ppo_vector"
    """Path of the rllib config file (``.py`` optional)."""
    overrides: Optional[str] = None
    """JSON file of setting overrides, e.g. a sweep's ``best_config.json``."""
    iterations: Optional[int] = None
    """PPO iterations (None: the config's ``run.iterations``)."""
    eval_interval: Optional[int] = None
    """Held-out evaluation every this many iterations (None: the config's)."""
    eval_episodes: Optional[int] = None
    """Held-out (procedural-test) episodes per evaluation (None: the config's)."""
    seed: Optional[int] = None
    """RLlib seed (None: the config's)."""
    out: str = "runs/ppo_vector"
    """Output directory: the run files (settings.json, metrics.jsonl, summary.json, checkpoint_final/, ...)."""
    num_cpus: int = 2
    """CPUs Ray may use (the box is shared: keep it small)."""
    progress: bool = True
    """Show a tqdm bar."""
    resume: Optional[str] = None
    """Continue from this algorithm checkpoint (e.g. runs/ppo_vector/checkpoint_final) for --iterations more."""


def train_ppo_main(args: PPOTrainArgs) -> dict[str, Any]:
    """CLI entry: train, print the learning curve and the heuristic's held-out numbers for comparison."""
    from drugenv.errors import ConfigError
    from drugenv.training.cli import TrainArgs, check_args

    # The checks `drugenv train` makes (one-line errors before Ray starts), on the same settings.
    sets = [f"run.{k}={v}" for k, v in (("iterations", args.iterations), ("eval_interval", args.eval_interval),
                                        ("eval_episodes", args.eval_episodes)) if v is not None]
    if args.seed is not None:
        sets.append(f"seed={args.seed}")
    checked = TrainArgs(config=args.config, overrides=args.overrides, set=sets, out=args.out, resume=args.resume,
                        num_cpus=args.num_cpus)
    mod, overrides = check_args(checked)  # --resume of a run's folder becomes its checkpoint_final
    if mod.ALGO != "ppo_vector":
        raise ConfigError(f"{args.config} is a {mod.ALGO} config; train it with drugenv train {args.config}")
    print(json.dumps({"config": args.config, "settings": mod.settings(overrides)}, indent=1, default=str))
    from drugenv.training.cli import check_fits_local_ray

    started = init_ray(args.num_cpus)
    try:
        if started == RAY_STARTED_LOCAL:  # a cluster's autoscaler may yet add the nodes the run asks for
            check_fits_local_ray(mod, overrides)
        result = train_ppo(mod, overrides, args.out, progress=args.progress, resume_from=checked.resume)
    finally:
        if started:
            import ray

            ray.shutdown()
    print("\nheld-out learning curve (" + HELDOUT_SUITE + "):\n" + format_curve(result["curve"]))
    heur = result.get("heuristic")
    if heur:
        print(f"\nheuristic on the same episodes: decision_accuracy {heur['decision_accuracy']:.3f}, "
              f"decision_utility {heur['decision_utility']:.3f}, brier {heur['brier']:.3f}, credits_used {heur['credits_used']:.1f}")
    print(f"checkpoint: {result['checkpoint']}")
    return result


__all__ = [
    "CHECKPOINT_NAME",
    "HELDOUT_SUITE",
    "PPOTrainArgs",
    "RLModulePolicy",
    "RLlibCheckpointPolicy",
    "format_curve",
    "heldout_eval",
    "init_ray",
    "is_ppo_checkpoint",
    "load_overrides",
    "load_ppo_checkpoint_policy",
    "load_rllib_config",
    "module_path",
    "train_ppo",
    "train_ppo_main",
]


if __name__ == "__main__":  # pragma: no cover
    import sys


    from drugenv.cli import parse_args, run_command

    sys.exit(run_command("python -m drugenv.training.ppo", train_ppo_main, parse_args(PPOTrainArgs), extra="train"))
