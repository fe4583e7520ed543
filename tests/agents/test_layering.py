"""Layering: ``agents/`` is the layer below ``llm/``, ``training/`` and ``evaluation/``; the one episode loop
and the remote adapter need no LLM code; ``llm.tiny`` builds models and does not import the policy back."""

from __future__ import annotations

from pathlib import Path

import drugenv
from tests.imports import imported_modules

PKG = Path(drugenv.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module a file imports (top level or inside functions; relative imports resolved)."""
    return imported_modules(path, PKG.parent)


def _offenders(files, forbidden) -> list[str]:
    return [f"{p.relative_to(PKG)}: {m}" for p in files for m in sorted(_imports(p))
            if any(m == f or m.startswith(f + ".") for f in forbidden)]


def test_agents_import_nothing_above_them():
    above = ["drugenv.llm", "drugenv.training", "drugenv.evaluation", "drugenv.dashboard", "drugenv.tuning", "serve"]
    assert _offenders(sorted((PKG / "agents").glob("*.py")), above) == []


def test_the_episode_loop_and_remote_adapter_are_model_free():
    files = [PKG / "evaluation" / "episodes.py", PKG / "evaluation" / "remote_env.py", PKG / "evaluation" / "evaluate.py"]
    assert _offenders(files, ["drugenv.llm", "drugenv.training", "torch", "ray"]) == []


def test_llm_does_not_reach_into_training_and_tiny_does_not_import_the_policy():
    assert _offenders(sorted((PKG / "llm").glob("*.py")), ["drugenv.training"]) == []
    assert _offenders([PKG / "llm" / "tiny.py"], ["drugenv.llm.policy", "drugenv.llm.checkpoint"]) == []
    assert _offenders([PKG / "llm" / "loading.py"], ["drugenv.llm.policy", "drugenv.llm.tiny"]) == []
