"""Facts the prose restates follow their one source: the action table, the curated specs, the vector env.

The docs and docstrings say "22 tools", "34 discrete actions", "five curated scenarios" and show tables of
costs and scenarios for people to read; the extension audit changed a cost and added a scenario, and every
such copy went stale with no test failing. Each copy is checked here against the value the code computes
(``docs/agents.md``'s generated reference has its own test; ``docs/performance_history.md`` is history).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import drugenv.actions as actions_module
import drugenv.scenarios.curated as curated_module
from drugenv.actions import ACTION_TABLE, ActionType
from drugenv.gym_envs.vector_env import EVIDENCE_VECTOR_ACTIONS, FEATURE_NAMES, VECTOR_ACTIONS
from drugenv.scenarios.curated import SPECS

ROOT = Path(__file__).resolve().parents[1]
PROSE = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "performance_history.md"),
         *sorted((ROOT / "drugenv").rglob("*.py"))]
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}

STATED = [
    (r"\b(\d+) (?:actions|tools|tool schemas)\b", len(ACTION_TABLE), "actions of the action table"),
    (r"\b(\d+) discrete actions\b|Discrete\((\d+)\)", len(VECTOR_ACTIONS), "the vector env's action catalogue"),
    (r"\b(\d+) evidence actions \(incl\. parameter variants\)", len(EVIDENCE_VECTOR_ACTIONS), "the vector env's evidence actions"),
    (r"Box\(-1, 1, \((\d+),\)", len(FEATURE_NAMES), "the vector env's features"),
    (r"\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten) curated scenarios\b(?! were)", len(SPECS), "curated specs"),  # not "two curated scenarios were corrected"
]


def _statements(pattern: str):
    for path in PROSE:
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(pattern, text):
            said = next(g for g in m.groups() if g is not None)
            yield f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}", int(NUMBER_WORDS.get(said, said))


@pytest.mark.parametrize("pattern, actual, what", STATED, ids=[s[2] for s in STATED])
def test_every_stated_count_is_the_computed_one(pattern, actual, what):
    found = list(_statements(pattern))
    assert found, f"no statement of {what} found: the pattern is stale"
    wrong = [f"{where}: says {said}" for where, said in found if said != actual]
    assert not wrong, f"{what} number {actual}:\n" + "\n".join(wrong)


def _table_rows(doc: str) -> list[list[str]]:
    """The cells of a docstring's markdown table rows (header, rule and continuation rows left out)."""
    rows = []
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.strip().startswith("|") and cells[0] and not set(cells[0]) <= set("-") and cells[0] not in ("id", "name"):
            rows.append(cells)
    return rows


def test_the_action_modules_table_is_the_action_table():
    prereq_words = {"-": set(), "any evidence": {"any evidence"}}
    rows = _table_rows(actions_module.__doc__)
    assert [r[1] for r in rows] == [a.value for a in ActionType]
    for row in rows:
        spec = ACTION_TABLE[ActionType(row[1])]
        assert int(row[0]) == list(ActionType).index(ActionType(row[1])), row
        assert int(row[2]) == spec.cost, f"{row[1]}: the docstring says cost {row[2]}, the table {spec.cost}"
        assert row[3] == (spec.dimension.value if spec.dimension else "-"), row
        assert row[4] == (spec.section or "-"), row
        said = row[5].split("(")[0].strip()
        expected = {d.value for d in spec.soft_prereq} | ({"any evidence"} if spec.needs_any_evidence else set())
        assert prereq_words.get(said, {w.strip() for w in said.split(",")}) == expected, row


def test_the_curated_modules_table_is_the_curated_specs():
    rows = _table_rows(curated_module.__doc__)
    assert [(r[0], r[1], r[2]) for r in rows] == [(s.name, s.difficulty, s.decision) for s in SPECS]


def test_the_oracle_takes_the_cheapest_action_of_each_dimension_as_its_comment_says():
    from drugenv.agents.baselines import _ORACLE_ACTION

    for dimension, (action, _) in _ORACLE_ACTION.items():
        cheapest = min(s.cost for s in ACTION_TABLE.values() if s.dimension == dimension)
        assert ACTION_TABLE[action].cost == cheapest, f"{dimension.value}: {action.value} is not the cheapest"
