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
  episodes (its checksum of every step's reward and readout must equal the run as it is), so it is
  the same simulator without CPython's bytecode loop.

Each variant runs in its own process (a fresh interpreter, its own imports), and the variants play in
turns of ``--turn`` steps, so a machine whose speed drifts slows them alike. Printed: each variant's
steps/s, the median over turns of its ratio to the core as it is, and the range of those ratios.
Results to expect: ``docs/performance_history.md``, "Fourteenth round".
"""

from __future__ import annotations

import glob
import hashlib
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


from records import ROOT, check_args

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
    steps: int = 100000
    """Core steps each variant plays (resets included)."""
    turn: int = 2000
    """Steps per turn: the variants, each in its own process, play in turns of this many steps."""
    seed: int = 0
    """Seed of the first episode and of the random agent."""
    cython: bool = False
    """Also compile ``COMPILED`` with Cython and measure that."""
    cython_modules: Optional[tuple[str, ...]] = None
    """Compile these (paths from the repository root) instead of ``COMPILED``."""
    variant: Optional[Variant] = None
    """Internal: play one variant in this process, in the turns its parent asks for on stdin."""
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


class _CoreRun:
    """``bench_env``'s core row played in turns: the random agent's steps with procedural resets."""

    def __init__(self, variant: Variant, seed: int) -> None:
        from drugenv.agents.baselines import RandomPolicy
        from drugenv.simulator.environment import DrugTargetEnvironment

        if variant == "no query seeding":
            _leave_out_query_seeding(seed)
        self.seed, self.env, self.policy = seed, DrugTargetEnvironment(), RandomPolicy(seed=seed)
        self.obs, self.episodes, self.steps_hash = self.env.reset(seed=seed), 0, hashlib.sha256()

    def play(self, steps: int) -> float:
        """Play ``steps`` steps; the CPU seconds they took. Each step's reward and readout enter the
        run's checksum after the clock stops."""
        env, act, obs, played = self.env, self.policy.act, self.obs, []
        t0 = time.process_time()
        for _ in range(steps):
            obs = env.step(act([obs])[0])
            played.append(obs)
            if obs.done:
                self.episodes += 1
                obs = env.reset(seed=self.seed + self.episodes)
        elapsed = time.process_time() - t0
        self.obs = obs
        for step in played:
            out = step.latest_output
            self.steps_hash.update(repr((step.reward, out.status, out.summary, out.data)).encode())
        return elapsed

    def summary(self) -> dict[str, Any]:
        """Episodes played, the ``drugenv`` modules that ran compiled, and a checksum of every step's
        reward and readout (two runs played the same steps only if their checksums agree)."""
        compiled = sorted(name for name, m in sys.modules.items()
                          if name.startswith("drugenv") and str(getattr(m, "__file__", "")).endswith(".so"))
        return {"episodes": self.episodes, "compiled_modules": compiled,
                "checksum": self.steps_hash.hexdigest()[:16]}


def serve_variant(variant: Variant, seed: int) -> None:
    """The child's loop: a line holding ``n`` plays n steps and answers the CPU seconds they took; an
    empty line answers the run's summary and ends."""
    if hasattr(os, "sched_setaffinity"):
        # Every variant on the same core (the lowest this process may use): on a shared VM one vCPU can
        # be slower than another for seconds at a time, and a variant left on it would look slower.
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    run = _CoreRun(variant, seed)
    print("ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            print(json.dumps(run.summary()), flush=True)
            return
        print(run.play(int(line)), flush=True)


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
        f"setup(ext_modules=cythonize({list(modules)!r}, language_level=3, quiet=True))\n", encoding="utf-8")
    build = subprocess.run([sys.executable, "setup_compiled.py", "build_ext", "--inplace", "-j", "2"], cwd=into,
                           capture_output=True, text=True)
    if build.returncode != 0:
        raise RuntimeError("Cython build failed:\n" + (build.stdout + build.stderr)[-2000:])
    return into


class _Child:
    """One variant in a fresh interpreter of its own (its own imports), playing when told to."""

    def __init__(self, variant: Variant, seed: int, package_root: Optional[Path] = None) -> None:
        cmd = [sys.executable, __file__, "--variant", variant, "--seed", str(seed)]
        if package_root is not None:
            cmd += ["--package-root", str(package_root)]
        self.variant = variant
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                     env={**os.environ, "PYTHONHASHSEED": "0"})
        if self._reply() != "ready":
            self._fail()

    def _reply(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            self._fail()
        return line.strip()

    def _fail(self) -> None:
        self.stop()
        raise RuntimeError(f"the {self.variant!r} core failed (exit status {self.proc.returncode}); its stderr is above")

    def play(self, steps: int) -> float:
        self.proc.stdin.write(f"{steps}\n")
        return float(self._reply())

    def finish(self) -> dict[str, Any]:
        self.proc.stdin.write("\n")
        summary = json.loads(self._reply())
        self.proc.wait()
        return summary

    def stop(self) -> None:
        """End the process if it still runs."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def ceilings(steps: int, turn: int, seed: int, compiled_root: Optional[Path] = None) -> dict[str, Any]:
    """Every variant plays ``steps`` steps in its own process, the variants taking turns of ``turn`` steps
    (a machine whose speed drifts slows them alike). Per variant: steps/s, the median over turns of its
    ratio to the core as it is, and its run's summary. Raises if the compiled core did not play the
    same steps, or did not run compiled."""
    variants: list[Variant] = ["as is", "no query seeding"] + (["cython"] if compiled_root else [])
    children: list[_Child] = []
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    try:
        for v in variants:  # started inside the try: a child that fails to start ends the ones before it
            children.append(_Child(v, seed, compiled_root if v == "cython" else None))
        for start in range(0, steps, turn):
            for child in children:
                seconds[child.variant].append(child.play(min(turn, steps - start)))
        summaries = {child.variant: child.finish() for child in children}
    finally:
        for child in children:
            child.stop()
    if "cython" in summaries:
        if summaries["cython"]["checksum"] != summaries["as is"]["checksum"]:
            raise RuntimeError("the compiled core played other steps than the core as it is")
        if not summaries["cython"]["compiled_modules"]:
            raise RuntimeError("the compiled run imported the Python modules, not the compiled ones")
    # A turn's ratio: how much faster the variant played it than the core as it is played the same turn.
    turn_ratios = {v: [a / t for t, a in zip(seconds[v], seconds["as is"])] for v in variants}
    return {
        "steps_per_s": {v: steps / sum(seconds[v]) for v in variants},
        "ratio_to_as_is": {v: statistics.median(r) for v, r in turn_ratios.items()},
        "turn_ratio_range": {v: [min(r), max(r)] for v, r in turn_ratios.items()},
        "summaries": summaries,
    }


def main(args: Args) -> None:
    if args.variant is not None:
        if args.package_root:
            _import_from(args.package_root)
        serve_variant(args.variant, args.seed)
        return
    check_args(args, at_least={"steps": 1, "turn": 1})
    missing = [m for m in args.cython_modules or () if not glob.glob(str(ROOT / m))]  # paths or globs, as cythonize takes
    if missing:
        from drugenv.errors import ConfigError

        raise ConfigError(f"--cython-modules {missing[0]} matches no file (paths or globs from the repository root, e.g. {COMPILED[0]})")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="drugenv-cython-") as scratch:
        compiled = build_compiled(args.cython_modules or COMPILED, Path(scratch)) if args.cython else None
        results = ceilings(args.steps, args.turn, args.seed, compiled)
    load_after = os.getloadavg()
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; {args.steps} core steps per "
          f"variant (RandomPolicy, procedural resets, CPU clock) in turns of {args.turn}")
    print(f"{'core':<20} {'steps/s':>9} {'vs as is':>9}  {'turns range':>12}")
    for v, rate in results["steps_per_s"].items():
        lo, hi = results["turn_ratio_range"][v]
        print(f"{v:<20} {rate:9,.0f} {results['ratio_to_as_is'][v]:9.2f}  {lo:5.2f}-{hi:.2f}")
    if args.json_out:
        from records import write_record

        config = {k: v for k, v in vars(args).items() if k not in ("json_out", "variant", "package_root")}
        if args.cython:
            config["compiled"] = list(args.cython_modules or COMPILED)
        write_record(args.json_out, "ceilings", config, results, load_before[0], load_after[0])


if __name__ == "__main__":
    import tyro

    parsed = tyro.cli(Args)
    if parsed.variant is not None:  # internal: drugenv is imported from --package-root first, so not by the CLI wrapper
        main(parsed)
    else:
        from drugenv.cli import run_command

        sys.exit(run_command("benchmarks/ceilings.py", main, parsed))
