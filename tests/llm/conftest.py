"""Fixtures for drugenv.llm tests: offline tiny model and tokenizers, long observations.

Models and tokenizers are built once into the repo's ignored ``.cache/drugenv`` (keyed by a hash
of config and code, see ``drugenv.llm.tiny.cached_tiny_model``), so reruns take milliseconds.
"""

from __future__ import annotations

import os
import random

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from drugenv.actions import ACTION_TABLE, ActionType  # noqa: E402
from drugenv.models import (  # noqa: E402
    EvidenceDossier,
    Finding,
    HistoryEntry,
    IntermediateOutput,
    RuleViolation,
    ValidationObservation,
)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """One intra-op thread: the CI box has 2 shared cores, and oversubscribed OpenMP threads make the
    tiny model's steps 2-20x slower under load. Restored after each module. (Nothing to set where torch is
    not installed: the modules that need it skip.)"""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model_dir():
    """L2 H128 Qwen2 with the domain BPE tokenizer (cached)."""
    from drugenv.llm.tiny import cached_tiny_model

    return cached_tiny_model()


@pytest.fixture(scope="session")
def bpe_tokenizer(tiny_model_dir):
    from drugenv.llm.loading import load_tokenizer

    return load_tokenizer(tiny_model_dir)


@pytest.fixture(scope="session")
def qwen_tokenizer():
    """Qwen2.5's exact tokenizer rebuilt from qwen.tiktoken; skipped when the file cannot be obtained."""
    from drugenv.llm.tiny import TokenizerUnavailable, cached_tokenizer

    try:
        return cached_tokenizer("qwen")
    except TokenizerUnavailable as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    """(model, tokenizer) loaded on CPU; shared, so tests must not train it."""
    from drugenv.llm.loading import load_model_and_tokenizer

    return load_model_and_tokenizer(tiny_model_dir, device="cpu")


def long_observation(n_findings: int = 60, seed: int = 0, *, summary_words: int = 40) -> ValidationObservation:
    """A worst-case observation: many findings with long summaries and readouts, full history, violations."""
    rng = random.Random(seed)
    types = [a for a in ACTION_TABLE if ACTION_TABLE[a].section is not None]
    dossier = EvidenceDossier()
    history = []
    for step in range(1, n_findings + 1):
        at = types[step % len(types)]
        words = " ".join(rng.choice(["expression", "TPM", "fold", "change", "pocket", "ligand", "selectivity",
                                     "toxicity", "liver", "marrow", "trial", "phase", "response"])
                         for _ in range(summary_words))
        f = Finding(step=step, action_type=at, parameters={"database": "TCGA"} if at is ActionType.QUERY_EXPRESSION else {},
                    summary=f"Result {step}: {words}",
                    data={f"readout_{k}": rng.random() * 1000 for k in range(10)} | {"hits": ["ERBB2", "ERBB4"]})
        getattr(dossier, ACTION_TABLE[at].section).append(f)
        history.append(HistoryEntry(step=step, action_type=at.value, summary=f.summary, cost=ACTION_TABLE[at].cost,
                                    violations=["redundant"] if step % 3 == 0 else []))
    dossier.flagged_red_flags.extend([f"red flag {i}: " + "hepatotoxicity signal " * 10 for i in range(5)])
    return ValidationObservation(
        target_gene="PTPN11", disease_context="oncology / haematological", indication="juvenile myelomonocytic leukaemia",
        credits_remaining=3, credits_total=45, step_count=n_findings, max_steps=30, dossier=dossier,
        pipeline_history=history,
        latest_output=IntermediateOutput(action_type=types[0], status="ok", summary="x " * 400,
                                         data={f"k{i}": i * 1.5 for i in range(30)}, cost=2),
        rule_violations=[RuleViolation(rule="redundant", severity="soft", message="identical query " * 30)],
        legal_actions=[ActionType.LITERATURE_SEARCH, ActionType.SUBMIT_VALIDATION_REPORT],
    )


@pytest.fixture
def make_long_observation():
    return long_observation
