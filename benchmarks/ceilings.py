"""How much faster the core could step without changing what it does: two ceilings, measured.

How to run::

    python benchmarks/ceilings.py                  # the core as it is, and with its seeding left out
    python benchmarks/ceilings.py --cython         # + the simulator's modules compiled by Cython (needs Cython and gcc)

Issue 14 asks the core for 20,000 steps/s; ``bench_env.py`` measures ~12,000 on the 2-core AMD
development machine. Two ways it could get there without a rewrite, each measured on
``bench_env.py``'s core row (``RandomPolicy`` agent, procedural resets, CPU clock):

- ``no query seeding``: every evidence query, coverage draw and scenario child draws from one shared
  generator instead of seeding a PCG64 of its own (~7 µs each). The episodes differ from the real
  ones, so this is a bound on what cheaper seeding could give, not a mode. The real seeding stays:
  identical queries must give identical readouts, and the golden trajectories pin every draw.
- ``cython`` (``--cython``): the step and reset modules (``COMPILED``) compiled as they are, without
  type annotations for Cython, into a scratch copy of the package. It must play the very same
  episodes (its checksum of every reward must equal the run as it is), so it is the same simulator
  without CPython's bytecode loop.

Each variant runs in its own process (a fresh interpreter, its own imports); the variants take turns
for ``--repeats`` rounds, and the medians and each variant's ratio to the core as it is are printed.
Results to expect: ``docs/performance_history.md``, "Fourteenth round".
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import tyro

ROOT = Path(__file__).resolve().parents[1]

COMPILED: tuple[str, ...] = (
    "drugenv/simulator/environment.py", "drugenv/simulator/evidence.py", "drugenv/simulator/rules.py",
    "drugenv/simulator/reward.py", "drugenv/simulator/transitions.py", "drugenv/simulator/gates.py",
    "drugenv/simulator/seeding.py", "drugenv/scenarios/procedural.py", "drugenv/agents/baselines.py",
)
"""What a core step and a procedural reset run through, outside pydantic and numpy (the modules defining
pydantic models stay Python: pydantic builds them from their annotations)."""

Variant = Literal["as is", "no query seeding", "cython"]


@dataclass
class Args:
    steps: int = 60000
    """Core steps per measurement (resets included)."""
    repeats: int = 3
    """Rounds; in each, every variant runs once, in its own process."""
    seed: int = 0
    """Seed of the first episode and of the random agent."""
    cython: bool = False
    """Also compile ``COMPILED`` with Cython and measure that."""
    cython_modules: Optional[tuple[str, ...]] = None
    """Compile these (paths from the repository root) instead of ``COMPILED``."""
    variant: Optional[Variant] = None
    """Internal: run one variant in this process and print its result as JSON."""
    package_root: Optional[str] = None
    """Internal: import ``drugenv`` from this folder (the compiled copy)."""
    json_out: Optional[str] = None
    """Also write the results to this path (``benchmarks/records.py``'s envelope)."""


def _import_from(folder: str) -> None:
    """Make ``import drugenv`` load the copy in ``folder``: drop the finders of an editable install
    (they map ``drugenv`` to the checkout before ``sys.path`` is read) and put ``folder`` first."""
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, folder)


def _leave_out_query_seeding(seed: int) -> None:
    """Every evidence query, coverage draw and scenario child draws from one shared generator."""
    import numpy as np

    import drugenv.scenarios.procedural as procedural
    import drugenv.simulator.evidence as evidence

    shared = np.random.default_rng(seed)
    evidence.seeded_generator = lambda _seed: shared
    procedural.spawned_child = lambda _seed, _words, _i: shared


def run_variant(variant: Variant, steps: int, seed: int) -> dict[str, Any]:
    """``bench_env``'s core row in this process: steps/s (CPU clock), episodes played, the ``drugenv``
    modules it ran compiled, and a checksum of every reward (two runs play the same steps only if their
    checksums agree)."""
    import hashlib

    from drugenv.agents.baselines import RandomPolicy
    from drugenv.simulator import environment

    if variant == "no query seeding":
        _leave_out_query_seeding(seed)
    env, policy = environment.DrugTargetEnvironment(), RandomPolicy(seed=seed)
    obs, episodes, rewards = env.reset(seed=seed), 0, []
    t0 = time.process_time()
    for _ in range(steps):
        obs = env.step(policy.act([obs])[0])
        rewards.append(obs.reward)
        if obs.done:
            episodes += 1
            obs = env.reset(seed=seed + episodes)
    elapsed = time.process_time() - t0
    compiled = sorted(name for name, m in sys.modules.items()
                      if name.startswith("drugenv") and str(getattr(m, "__file__", "")).endswith(".so"))
    return {"steps_per_s": steps / elapsed, "episodes": episodes, "compiled_modules": compiled,
            "checksum": hashlib.sha256(repr(rewards).encode()).hexdigest()[:16]}


def build_compiled(modules: tuple[str, ...], into: Path) -> Path:
    """A copy of the package under ``into`` with ``modules`` compiled by Cython in place (the ``.so``
    beside each ``.py`` is what ``import`` loads). Raises ``RuntimeError`` with the build's last lines."""
    try:
        import Cython  # noqa: F401
    except ImportError as err:
        raise RuntimeError("--cython needs Cython: pip install cython") from err
    shutil.copytree(ROOT / "drugenv", into / "drugenv", ignore=shutil.ignore_patterns("__pycache__"))
    (into / "setup_compiled.py").write_text(
        "from setuptools import setup\nfrom Cython.Build import cythonize\n"
        f"setup(ext_modules=cythonize({list(modules)!r}, language_level=3, quiet=True))\n")
    build = subprocess.run([sys.executable, "setup_compiled.py", "build_ext", "--inplace", "-j", "2"], cwd=into,
                           capture_output=True, text=True)
    if build.returncode != 0:
        raise RuntimeError("Cython build failed:\n" + (build.stdout + build.stderr)[-2000:])
    return into


def measure(variant: Variant, steps: int, seed: int, package_root: Optional[Path] = None) -> dict[str, Any]:
    """One run of ``variant`` in a fresh interpreter."""
    cmd = [sys.executable, __file__, "--variant", variant, "--steps", str(steps), "--seed", str(seed)]
    if package_root is not None:
        cmd += ["--package-root", str(package_root)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{variant!r} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ceilings(steps: int, repeats: int, seed: int, compiled_root: Optional[Path] = None) -> dict[str, Any]:
    """Every variant ``repeats`` times, taking turns: each variant's runs, median steps/s and median ratio
    to the core as it is. Raises if the compiled core did not play the same steps."""
    variants: list[Variant] = ["as is", "no query seeding"] + (["cython"] if compiled_root else [])
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for _ in range(repeats):
        for v in variants:
            runs[v].append(measure(v, steps, seed, compiled_root if v == "cython" else None))
    reference = runs["as is"][0]["checksum"]
    if "cython" in runs and {r["checksum"] for r in runs["cython"]} != {reference}:
        raise RuntimeError("the compiled core played other steps than the core as it is")
    if "cython" in runs and not all(r["compiled_modules"] for r in runs["cython"]):
        raise RuntimeError("the compiled run imported the Python modules, not the compiled ones")
    results: dict[str, Any] = {"runs": runs, "steps_per_s": {}, "ratio_to_as_is": {}}
    for v in variants:
        results["steps_per_s"][v] = statistics.median(r["steps_per_s"] for r in runs[v])
        results["ratio_to_as_is"][v] = statistics.median(
            r["steps_per_s"] / a["steps_per_s"] for r, a in zip(runs[v], runs["as is"]))
    return results


def main(args: Args) -> None:
    if args.variant is not None:
        if args.package_root:
            _import_from(args.package_root)
        print(json.dumps(run_variant(args.variant, args.steps, args.seed)))
        return
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="drugenv-cython-") as scratch:
        compiled = build_compiled(args.cython_modules or COMPILED, Path(scratch)) if args.cython else None
        results = ceilings(args.steps, args.repeats, args.seed, compiled)
    load_after = os.getloadavg()
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; {args.steps} core steps per run "
          f"(RandomPolicy, procedural resets, CPU clock), medians of {args.repeats} rounds")
    print(f"{'core':<20} {'steps/s':>9} {'vs as is':>9}  runs (steps/s)")
    for v, rate in results["steps_per_s"].items():
        each = ", ".join(f"{r['steps_per_s']:,.0f}" for r in results["runs"][v])
        print(f"{v:<20} {rate:9,.0f} {results['ratio_to_as_is'][v]:9.2f}  {each}")
    if args.json_out:
        from records import write_record

        config = {k: v for k, v in vars(args).items() if k not in ("json_out", "variant", "package_root")}
        if args.cython:
            config["compiled"] = list(args.cython_modules or COMPILED)
        write_record(args.json_out, "ceilings", config, results, load_before[0], load_after[0])


if __name__ == "__main__":
    main(tyro.cli(Args))
