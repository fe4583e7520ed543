"""``docs/agents.md``'s reference: its tables are what ``drugenv.agents.reference`` makes today, and the readout
glossary describes exactly the keys the simulator writes (a key added to a readout without a meaning, or a
meaning left for a key no readout writes, fails here)."""

from __future__ import annotations

from pathlib import Path

from drugenv.actions import ACTION_TABLE, ActionType
from drugenv.agents import reference
from drugenv.simulator.evidence import READOUTS

DOC = Path(__file__).resolve().parents[2] / "docs" / "agents.md"


def test_the_committed_reference_is_the_generated_one():
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(reference.MARKERS[0]), text.index(reference.MARKERS[1]) + len(reference.MARKERS[1])
    assert text[start:end] == reference.reference(), "run: python -m drugenv.agents.reference --write docs/agents.md"


def test_the_glossary_describes_every_key_a_readout_writes_and_no_other():
    written = {key for action_type, spec in ACTION_TABLE.items() if spec.dimension is not None
               for _, keys in reference.readout_keys(action_type) for key in keys}
    assert written - set(READOUTS) == set(), "keys without a meaning in evidence.READOUTS"
    assert set(READOUTS) - written == set(), "meanings of keys no readout writes"
    assert all(meaning.strip() for meaning in READOUTS.values())


def test_a_parameter_that_changes_the_readout_shows_each_choice():
    groups = dict(reference.readout_keys(ActionType.QUERY_EXPRESSION))
    assert groups["database=HPA"] == ("database", "normal_level_by_tissue")
    assert "tumor_tpm" in groups["database=TCGA"] and "tumor_tpm" not in groups["database=GTEx"]
    (only,) = reference.readout_keys(ActionType.TOXICITY_PANEL)
    assert only[0] == "" and "toxicity_risk" in only[1]  # its panel choice changes no key
