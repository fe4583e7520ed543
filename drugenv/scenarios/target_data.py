"""Read access to ``scenarios/data/targets.json``: the public base values of every (target, indication)
pair. Curated and procedural scenarios both start from these values, so each number has one source.

See the file's ``_meta`` for units, sources and provenance.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

PAIR_FIELDS: tuple[str, ...] = (
    "alteration_frequency", "disease_overexpression_log2fc", "tumor_expression_tpm", "clinical_precedent",
    "clinical_notes", "competitor_programs", "responder_fraction", "stratification_biomarker",
    "biomarker_correlation", "pathway_relevance", "literature_support",
)
"""TargetProfile fields a pair sets for its indication (the rest come from the target's ``base``)."""


@lru_cache(maxsize=1)
def load_target_data() -> dict[str, Any]:
    """The parsed ``targets.json`` (cached; do not mutate)."""
    text = resources.files("drugenv.scenarios").joinpath("data/targets.json").read_text(encoding="utf-8")
    return json.loads(text)


def pair_record(pair_id: str) -> dict[str, Any]:
    """The pair record with this id (e.g. ``"EGFR/NSCLC"``; cached data, do not mutate)."""
    for pair in load_target_data()["pairs"]:
        if pair["id"] == pair_id:
            return pair
    raise KeyError(f"no pair {pair_id!r} in targets.json")


def base_fields(pair: dict) -> dict[str, Any]:
    """Unperturbed TargetProfile inputs of one pair: target base, pair values, pair overrides (a fresh copy)."""
    target = load_target_data()["targets"][pair["target"]]
    f = json_copy(target["base"])
    for key in PAIR_FIELDS:
        f[key] = pair[key]
    f.update(json_copy(pair["overrides"]))
    return f


def json_copy(value: Any) -> Any:
    """A deep copy of parsed JSON (dicts, lists, scalars): what ``json.loads(json.dumps(x))`` gives, ~10x faster."""
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) for v in value]
    return value


__all__ = ["PAIR_FIELDS", "base_fields", "json_copy", "load_target_data", "pair_record"]
