"""The public go/no-go gates have one home, ``drugenv.simulator.gates``, and every consumer reads it."""

import ast
import re
from pathlib import Path

import pytest

import drugenv
from drugenv.actions import ActionType as A
from drugenv.agents import belief
from drugenv.models import EvidenceDossier, Finding
from drugenv.scenarios import curated, procedural
from drugenv.simulator import gates, latent

PKG = Path(drugenv.__file__).parent
THRESHOLDS = ("POCKET_MIN", "DEPENDENCY_MAX", "LOG2FC_MIN", "ALTERATION_MIN", "TOXICITY_MAX", "SELECTIVITY_MIN",
              "TGI_MIN", "IC50_MAX")
CONSUMERS = {"agents/belief.py": belief, "scenarios/procedural.py": procedural}


def _tree(rel: str) -> ast.Module:
    return ast.parse((PKG / rel).read_text(encoding="utf-8"))


@pytest.mark.parametrize("rel", sorted(CONSUMERS))
def test_consumers_hold_the_gates_objects_not_copies(rel):
    # A float written again elsewhere is a different object, so ``is`` catches a re-typed copy.
    module = CONSUMERS[rel]
    for name in THRESHOLDS:
        assert getattr(module, name, None) is getattr(gates, name), f"{rel} does not take {name} from gates"


def test_no_module_but_gates_defines_a_threshold_or_the_verdict():
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        if rel == "simulator/gates.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, (ast.AnnAssign, ast.AugAssign)) else []
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            names |= {e.id for t in targets if isinstance(t, ast.Tuple) for e in t.elts if isinstance(e, ast.Name)}
            if isinstance(node, ast.FunctionDef) and node.name in ("decide", "gate_results"):
                names.add(node.name)
            offenders += [f"{rel}: {n}" for n in names & {*THRESHOLDS, "decide", "gate_results"}]
    assert not offenders
    assert not hasattr(latent, "decide") and "decide" not in latent.__all__


def test_belief_margins_contain_no_threshold_literal():
    # Every gate probability is _pass(margin, noise scale): the margin is readout vs a named threshold.
    calls = 0
    for node in ast.walk(_tree("agents/belief.py")):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_pass":
            calls += 1
            margin = node.args[0]
            literals = [c.value for c in ast.walk(margin) if isinstance(c, ast.Constant) and isinstance(c.value, (int, float))]
            assert not literals, f"threshold literal {literals} in {ast.unparse(margin)}"
    assert calls >= 8, f"found {calls} _pass calls: renamed or inlined? this test would then check nothing"


def test_gates_module_is_public_knowledge():
    """It must not import the hidden truth (agents read it), nor anything that does."""
    imported = []
    for node in ast.walk(_tree("simulator/gates.py")):
        if isinstance(node, ast.ImportFrom):
            imported.append(node.module or "")
        elif isinstance(node, ast.Import):
            imported += [a.name for a in node.names]
    assert set(imported) <= {"__future__", "typing"}, imported


def test_docstring_table_states_the_constants():
    stated = re.findall(r"``([A-Z0-9_]+)`` \((-?\d+(?:\.\d+)?)", gates.__doc__)
    assert {name for name, _ in stated} == set(THRESHOLDS)
    for name, value in stated:
        assert float(value) == getattr(gates, name), name


def test_gate_names_agree():
    assert set(procedural.GATES) == set(gates.GATE_NAMES) == set(gates.gate_results(_passing()))


def _passing(**changes) -> dict:
    """True values that pass every gate, each by one route only (so one change can fail a gate)."""
    fields = dict(druggability_score=0.9, allosteric_pocket_score=0.0, antibody_accessible=False,
                  recent_inhibitor_evidence=False, dependency_score=-1.0, disease_overexpression_log2fc=0.0,
                  alteration_frequency=0.0, toxicity_risk=0.1, selectivity_ratio=100.0, in_vivo_tgi_pct=0.0,
                  in_vitro_ic50_nm=10.0)
    fields.update(changes)
    return fields


EPS = 1e-9
BOUNDARIES = [  # (gate, values on the passing side of the bound, values just past it)
    ("tractable", dict(druggability_score=gates.POCKET_MIN), dict(druggability_score=gates.POCKET_MIN - EPS)),
    ("tractable", dict(druggability_score=0.1, allosteric_pocket_score=gates.POCKET_MIN),
     dict(druggability_score=0.1, allosteric_pocket_score=gates.POCKET_MIN - EPS)),
    ("linkage", dict(dependency_score=gates.DEPENDENCY_MAX), dict(dependency_score=gates.DEPENDENCY_MAX + EPS)),
    ("linkage", dict(dependency_score=0.0, disease_overexpression_log2fc=gates.LOG2FC_MIN, alteration_frequency=gates.ALTERATION_MIN),
     dict(dependency_score=0.0, disease_overexpression_log2fc=gates.LOG2FC_MIN, alteration_frequency=gates.ALTERATION_MIN - EPS)),
    ("linkage", dict(dependency_score=0.0, disease_overexpression_log2fc=gates.LOG2FC_MIN, alteration_frequency=gates.ALTERATION_MIN),
     dict(dependency_score=0.0, disease_overexpression_log2fc=gates.LOG2FC_MIN - EPS, alteration_frequency=gates.ALTERATION_MIN)),
    ("safe", dict(toxicity_risk=gates.TOXICITY_MAX - EPS), dict(toxicity_risk=gates.TOXICITY_MAX)),
    ("selective", dict(selectivity_ratio=gates.SELECTIVITY_MIN), dict(selectivity_ratio=gates.SELECTIVITY_MIN - EPS)),
    ("translates", dict(in_vitro_ic50_nm=gates.IC50_MAX), dict(in_vitro_ic50_nm=gates.IC50_MAX + EPS)),
    ("translates", dict(in_vitro_ic50_nm=5000.0, in_vivo_tgi_pct=gates.TGI_MIN),
     dict(in_vitro_ic50_nm=5000.0, in_vivo_tgi_pct=gates.TGI_MIN - EPS)),
]


@pytest.mark.parametrize("gate,inside,outside", BOUNDARIES)
def test_each_gate_turns_at_its_threshold(gate, inside, outside):
    assert all(gates.gate_results(_passing(**inside)).values()) and gates.decide(_passing(**inside))[0] == "go"
    failing = [g for g, ok in gates.gate_results(_passing(**outside)).items() if not ok]
    assert failing == [gate]
    decision, viability = gates.decide(_passing(**outside))
    assert decision == "no_go" and viability <= gates.NO_GO_VIABILITY_MAX


def test_a_go_worlds_viability_is_floored_on_the_go_side():
    """A world that passes every gate only just weighs below 0.55 raw; its viability is floored there, so the
    expert review (which reads viability: "leaning go" from 0.5) never leans against the verdict."""
    edge = _passing(druggability_score=gates.POCKET_MIN, dependency_score=gates.DEPENDENCY_MAX,
                    toxicity_risk=gates.TOXICITY_MAX - EPS, selectivity_ratio=gates.SELECTIVITY_MIN,
                    in_vivo_tgi_pct=0.0, in_vitro_ic50_nm=gates.IC50_MAX)
    assert gates.decide(edge) == ("go", gates.GO_VIABILITY_MIN)
    assert gates.decide(_passing()) == ("go", 0.78)  # above the floor: the weighted sum, 3 decimals


def test_other_tractability_routes():
    undruggable = dict(druggability_score=0.1)
    assert not gates.gate_results(_passing(**undruggable))["tractable"]
    assert gates.gate_results(_passing(**undruggable, antibody_accessible=True))["tractable"]
    assert gates.gate_results(_passing(**undruggable, recent_inhibitor_evidence=True))["tractable"]


READOUTS = [  # (belief gate, a finding that reads exactly the gates threshold)
    ("tractability", A.DRUGGABILITY_SCREEN, {"druggability_score": gates.POCKET_MIN}),
    ("linkage", A.CRISPR_KNOCKOUT, {"cell_lines": "altered", "chronos_score": gates.DEPENDENCY_MAX}),
    ("safety", A.TOXICITY_PANEL, {"toxicity_risk": gates.TOXICITY_MAX, "adverse_knockout_phenotype": False}),
    ("selectivity", A.OFF_TARGET_SCREEN, {"selectivity_ratio": gates.SELECTIVITY_MIN}),
    ("translation", A.IN_VITRO_ASSAY, {"ic50_nm": gates.IC50_MAX}),
    ("translation", A.IN_VIVO_MODEL, {"tgi_pct": gates.TGI_MIN}),
]


@pytest.mark.parametrize("gate,action,data", READOUTS)
def test_belief_is_undecided_exactly_at_the_public_threshold(gate, action, data):
    dossier = EvidenceDossier(experimental=[Finding(step=1, action_type=action, summary="", data=data)])
    undecided = 0.5
    if gate == "tractability":  # the pocket route is undecided; the antibody and inhibitor routes keep their chances
        undecided = 1.0 - 0.5 * (1.0 - belief.ROUTE_CHANCE["antibody"]) * (1.0 - belief.ROUTE_CHANCE["recent inhibitors"])
    assert belief.assess(dossier).pass_prob[gate] == pytest.approx(undecided)


def test_curated_verdicts_come_from_the_gates():
    assert curated.decide is gates.decide and procedural.decide is gates.decide


def _tractability_after(*findings):
    dossier = EvidenceDossier(experimental=[Finding(step=i + 1, action_type=a, summary="", data=d, parameters=p)
                                            for i, (a, d, p) in enumerate(findings)])
    return belief.assess(dossier).pass_prob["tractability"]


def test_low_pocket_scores_close_only_the_pocket_route():
    """gates.gate_results passes tractability by a pocket, an antibody or recent inhibitors: a low
    small-molecule score leaves the other two their chances, an any-modality score reads the antibody
    route too, and a literature report of recent inhibitors opens the gate whatever the pockets say."""
    chance = belief.ROUTE_CHANCE
    low = {"druggability_score": 0.05}
    small_molecule = _tractability_after((A.DRUGGABILITY_SCREEN, {**low, "modality": "small_molecule"}, {"modality": "small_molecule"}))
    any_modality = _tractability_after((A.DRUGGABILITY_SCREEN, {**low, "modality": "any"}, {"modality": "any"}))
    closed = 1.0 - belief._pass(0.05 - gates.POCKET_MIN, 0.1)
    assert small_molecule == pytest.approx(1.0 - closed * (1.0 - chance["antibody"]) * (1.0 - chance["recent inhibitors"]))
    assert any_modality == pytest.approx(1.0 - closed * (1.0 - chance["recent inhibitors"]))
    assert small_molecule > any_modality > 0.1  # a route not looked at is not a route closed
    reported = _tractability_after((A.DRUGGABILITY_SCREEN, {**low, "modality": "any"}, {"modality": "any"}),
                                   (A.LITERATURE_SEARCH, {"recent_inhibitors_reported": True}, {"since_year": 2013}))
    none_found = _tractability_after((A.DRUGGABILITY_SCREEN, {**low, "modality": "any"}, {"modality": "any"}),
                                     (A.LITERATURE_SEARCH, {"recent_inhibitors_reported": False}, {"since_year": 2013}))
    assert reported >= 0.95 and none_found == pytest.approx(any_modality)
