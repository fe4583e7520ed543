"""``drugenv train CONFIG``: train from an ``rllib_configs/`` file (GRPO or PPO), on local Ray or a cluster.

How to run::

    drugenv train rllib_configs/grpo_tiny_cpu.py
    drugenv train rllib_configs/grpo_tiny_cpu.py --set run.iterations=2 --set training.group_size=2
    drugenv train rllib_configs/grpo_tiny_cpu.py --resume runs/grpo_tiny_cpu/checkpoint_final
    drugenv train rllib_configs/ppo_vector.py --overrides runs/sweeps/reward_weights/best_config.json

    # against a running cluster (local head here: ray start --head; RAY_AUTH_MODE=token for the CLI)
    ray job submit --address http://127.0.0.1:8265 --working-dir . -- drugenv train rllib_configs/grpo_tiny_cpu.py

Inside a Ray job (``RAY_ADDRESS`` set) it joins that cluster; otherwise it starts a loopback-only local Ray.
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional

import tyro

from drugenv.errors import ConfigError


@dataclass
class TrainArgs:
    """Train an agent from an rllib_configs/ config."""

    config: tyro.conf.Positional[str]
    """Config file, e.g. rllib_configs/grpo_tiny_cpu.py (the .py is optional)."""
    set: Annotated[list[str], tyro.conf.UseAppendAction] = field(default_factory=list)
    """Overrides as dotted key=value, repeatable: --set run.iterations=4 --set training.lr=1e-4."""
    overrides: Optional[str] = None
    """A JSON file of nested overrides (e.g. a sweep's best_config.json); --set is applied on top."""
    out: Optional[str] = None
    """Output directory (default runs/<config name>)."""
    resume: Optional[str] = None
    """A checkpoint directory to continue from (iteration count and optimizer state are kept)."""
    no_sft: bool = False
    """GRPO: skip the SFT warm-start."""
    wandb: bool = False
    """Log to Weights & Biases (offline unless WANDB_MODE / a login says otherwise)."""
    progress: bool = True
    """Show progress bars."""
    num_cpus: int = 2
    """CPUs for a local Ray (ignored when joining a cluster)."""


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` → ``{"a": {"b": 1}, "c": "x"}``; values parse as JSON/Python literals, else strings."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} is not key=value (e.g. --set run.iterations=4)")
        key, raw = item.split("=", 1)
        try:
            value: Any = json.loads(raw)
        except ValueError:
            try:
                value = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                value = raw
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _start_ray(num_cpus: int) -> bool:
    from drugenv.training.configs import init_ray

    if os.environ.get("RAY_ADDRESS"):
        import ray

        ray.init(address="auto", log_to_driver=False)
        return True
    return init_ray(num_cpus)


def train_main(args: TrainArgs) -> dict[str, Any]:
    from drugenv.training.configs import load_overrides, load_rllib_config

    from drugenv.training.configs import merge

    module = load_rllib_config(args.config)
    overrides = merge(load_overrides(args.overrides), parse_set(args.set))
    if args.no_sft:
        overrides = merge(overrides, {"sft": {"enabled": False}})
    out = Path(args.out or Path("runs") / Path(args.config).stem)
    started = _start_ray(args.num_cpus)
    try:
        if module.ALGO == "grpo":
            from drugenv.training.grpo_train import run_grpo

            return run_grpo(module, overrides, out, resume=args.resume, progress=args.progress, use_wandb=args.wandb)
        if module.ALGO == "ppo_vector":
            from drugenv.training.ppo import format_curve, train_ppo

            result = train_ppo(module, overrides, out, progress=args.progress, resume_from=args.resume)
            print(format_curve(result["curve"]))
            return result
        raise ConfigError(f"{args.config}: ALGO={module.ALGO!r} is not trainable here (grpo | ppo_vector)")
    finally:
        if started:
            import ray

            ray.shutdown()
