"""The five curated scenarios of the spec, built from public facts (``shared/research/targets.md`` §3).

| name                          | difficulty | decision | what it tests                                                          |
|-------------------------------|------------|----------|------------------------------------------------------------------------|
| egfr_nsclc_viable             | easy       | go       | expression + druggability alone suffice                                |
| kras_pdac_borderline          | medium     | go       | classic druggability looks poor; recent inhibitor literature decides   |
| cd33_aml_misleading           | hard       | no_go    | expression says go; off-target + toxicity + clinical reveal no_go      |
| tp53_solid_tumors_clear_fail  | easy       | no_go    | druggability alone suffices                                            |
| ptpn11_juvenile_mml_complex   | very_hard  | go       | needs binding_site_analysis(include_allosteric=True), off-target work, |
|                               |            |          | patient stratification and an in-vitro assay (and CRISPR: linkage)    |

Names are evaluation labels only: the agent never sees them (they give the answer away).

Every value comes from ``scenarios/data/targets.json``: a scenario is one pair's base values
(``target_data.base_fields``) plus a short dict of named overrides, each with the one-line reason
the scenario needs it (usually its teaching point). ``curated_overrides`` lists them, and a test
checks that a profile differs from its pair by exactly these. The indication and disease context are
the scenario's wording shown to the agent, not facts of the pair. The verdict is not written here:
it is ``gates.decide`` of the final values, and building a scenario fails if that verdict is not the
one the table above promises. The viability is part of the design (it is what the expert panel of
``request_expert_review`` reads, noisily), so each spec sets it, on its verdict's side of the gates'
viability bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drugenv.actions import ActionType
from drugenv.actions import EvidenceDimension as D
from drugenv.scenarios.base import Scenario
from drugenv.scenarios.target_data import base_fields, load_target_data, pair_record
from drugenv.simulator.gates import GO_VIABILITY_MIN, NO_GO_VIABILITY_MAX, Decision, decide
from drugenv.simulator.latent import DataQualityState, MisleadingSignal, TargetProfile
from drugenv.simulator.params import DIFFICULTIES, Difficulty, SimParams


@dataclass(frozen=True)
class CuratedSpec:
    """One curated scenario: a targets.json pair, the overrides it needs, and its hidden design."""

    name: str
    difficulty: Difficulty
    decision: Decision
    pair: str
    indication: str
    disease_context: str
    overrides: dict[str, tuple[Any, str]]
    """TargetProfile field -> (value, why this scenario departs from the pair's value)."""
    viability: float
    """True viability, 0-1: what the expert panel reads (e.g. clearly low for CD33, whatever the expression)."""
    key_evidence_dimensions: tuple[D, ...]
    misleading_signals: tuple[MisleadingSignal, ...] = ()
    required_parameters: dict[ActionType, dict] = field(default_factory=dict)


def _signal(dimension: D, description: str) -> MisleadingSignal:
    return MisleadingSignal(dimension=dimension, description=description)


SPECS: tuple[CuratedSpec, ...] = (
    CuratedSpec(
        name="egfr_nsclc_viable", difficulty="easy", decision="go", pair="EGFR/NSCLC",
        indication="non-small cell lung cancer (NSCLC), East-Asian adenocarcinoma cohort",
        disease_context="oncology / solid tumour",
        overrides={
            "alteration_frequency": (0.45, "East-Asian adenocarcinoma cohort: EGFR mutated in 40-50% (targets.md §2); "
                                           "the pair's 0.15 is the Western rate"),
            "disease_overexpression_log2fc": (3.0, "the spec's easy case: expression + druggability decide, so linkage "
                                                   "reads through overexpression (a simplification: targets.md §3 says "
                                                   "expression alone does not predict EGFR response)"),
            "tumor_expression_tpm": (180.0, "matches the raised log2FC over normal lung (~25 TPM)"),
            "responder_fraction": (0.35, "ex19del/L858R carriers among all patients of the 45%-mutant cohort "
                                         "(the pair's 0.7 counts EGFR-mutant patients only)"),
        },
        viability=0.9,
        key_evidence_dimensions=(D.EXPRESSION, D.DRUGGABILITY),
    ),
    CuratedSpec(
        name="kras_pdac_borderline", difficulty="medium", decision="go", pair="KRAS_G12D/PDAC",
        indication="pancreatic ductal adenocarcinoma (PDAC)", disease_context="oncology / solid tumour",
        overrides={
            "alteration_frequency": (0.92, "the task is KRAS in all of PDAC (pan-RAS(ON) daraxonrasib is not "
                                           "allele-restricted, targets.md §1): KRAS mutated in 90-95% (§2)"),
            "druggability_score": (0.2, "the classic pocket must read clearly poor (the 'undruggable' 1982-2013 "
                                        "trap) through medium-tier noise"),
            "allosteric_pocket_score": (0.45, "below POCKET_MIN, so tractability rests on the recent inhibitor "
                                              "literature: the scenario's teaching point"),
            "responder_fraction": (0.9, "patients carrying a RAS mutation, which is what pan-RAS(ON) needs: ~90% of "
                                        "PDAC (the pair's 0.33, an estimate made for the G12D framing, read as the "
                                        "carrier fraction beside 'altered in 92%' above)"),
            "toxicity_risk": (0.4, "only tractability is borderline here: 0.45 lets medium-tier noise fail the "
                                   "safety gate too (pan-RAS rash/GI events mostly grade 1-2, targets.md §3, (u))"),
            "selectivity_ratio": (25.0, "only tractability is borderline here: 15x lets medium-tier noise fail the "
                                        "selectivity gate too"),
        },
        viability=0.62,
        # Linkage rests on dependency here (log2FC ~0.5 reads under LOG2FC_MIN: expression argues against it),
        # tractability on the literature once the classic pocket reads poor.
        key_evidence_dimensions=(D.DEPENDENCY, D.DRUGGABILITY, D.LITERATURE),
        misleading_signals=(_signal(D.DRUGGABILITY, "classic orthosteric druggability is poor ('undruggable' 1982-2013)"),),
    ),
    CuratedSpec(
        name="cd33_aml_misleading", difficulty="hard", decision="no_go", pair="CD33/AML",
        indication="acute myeloid leukaemia (AML)", disease_context="oncology / haematological",
        overrides={
            "disease_overexpression_log2fc": (3.5, "the expression trap must say go decisively through hard-tier noise "
                                                   "(2.5 reads near LOG2FC_MIN)"),
            "clinical_precedent": ("failed", "a new CD33 program's history is failure (SWOG S0106 withdrawal 2010, "
                                             "vadastuximab Ph3 stopped 2017): clinical evidence must reveal no_go"),
        },
        viability=0.25,
        key_evidence_dimensions=(D.OFF_TARGET, D.TOXICITY, D.CLINICAL),
        misleading_signals=(
            _signal(D.EXPRESSION, "CD33+ blasts in ~85-90% of patients: expression says go"),
            _signal(D.IN_VITRO, "AML lines die at pM-nM, but so do normal CD34+ colonies"),
            _signal(D.IN_VIVO, "xenografts respond; rodents lack the human CD33 pattern"),
        ),
    ),
    CuratedSpec(
        # TP53/NSCLC: the pair whose alteration frequency (~50%) is the pan-solid-tumour rate (targets.md §3).
        name="tp53_solid_tumors_clear_fail", difficulty="easy", decision="no_go", pair="TP53/NSCLC",
        indication="solid tumours (pan-cancer)", disease_context="oncology / solid tumour",
        overrides={
            "clinical_precedent": ("failed", "pan-cancer framing: the target's record is the reactivator failures "
                                             "(APR-246 Ph3 2020, FDA holds 2021; targets.md §3), absent from NSCLC"),
            "clinical_notes": (tuple(pair_record("TP53/AML")["clinical_notes"]),
                               "that record, as written for the TP53/AML pair where the trials ran"),
        },
        viability=0.1,
        key_evidence_dimensions=(D.DRUGGABILITY,),
        misleading_signals=(_signal(D.LITERATURE, ">100k papers: popularity, not tractability"),),
    ),
    CuratedSpec(
        name="ptpn11_juvenile_mml_complex", difficulty="very_hard", decision="go", pair="PTPN11/JMML",
        indication="juvenile myelomonocytic leukaemia (JMML)", disease_context="oncology / paediatric haematological",
        overrides={
            "druggability_score": (0.15, "the charged active site must read undruggable through very-hard noise, "
                                         "so the plain pocket search says no_go"),
            "allosteric_pocket_score": (0.82, "the tunnel site must read druggable through very-hard noise once "
                                              "include_allosteric=True is asked (SHP099 ~70 nM, targets.md §3)"),
            "recent_inhibitor_evidence": (False, "no SHP2 inhibitor trial in JMML (targets.md §3, (u)): tractability "
                                                 "must come from binding_site_analysis(include_allosteric=True)"),
            "dependency_score": (-1.0, "the difficulty is the allosteric route and allele stratification, not a "
                                       "borderline dependency: -0.7 reads at DEPENDENCY_MAX under very-hard noise"),
            "toxicity_risk": (0.35, "likewise a clear safety window (targets.md grades no SHP2 AE; "
                                    "its toxicities are (u)): 0.45 reads at TOXICITY_MAX under very-hard noise"),
        },
        viability=0.58,
        # The spec's four, plus dependency: linkage passes only through it (log2FC ~0.3, alteration 0.35), and
        # stratification's prerequisite is an expression query, which reads against linkage on its own.
        key_evidence_dimensions=(D.STRUCTURE, D.OFF_TARGET, D.STRATIFICATION, D.IN_VITRO, D.DEPENDENCY),
        required_parameters={ActionType.BINDING_SITE_ANALYSIS: {"include_allosteric": True}},
        misleading_signals=(
            _signal(D.DRUGGABILITY, "the charged active site is not druggable"),
            _signal(D.CLINICAL, "no approval and ~0 monotherapy response in adults"),
        ),
    ),
)

CURATED_NAMES: tuple[str, ...] = tuple(spec.name for spec in SPECS)
_SPEC_BY_NAME = {spec.name: spec for spec in SPECS}


def curated_overrides(name: str) -> dict[str, tuple[Any, str]]:
    """The documented departures of one curated scenario from its targets.json pair: field -> (value, reason)."""
    return dict(_SPEC_BY_NAME[name].overrides)


def curated_pair(name: str) -> str:
    """The targets.json pair id a curated scenario is built from."""
    return _SPEC_BY_NAME[name].pair


def _profile(spec: CuratedSpec) -> TargetProfile:
    pair = pair_record(spec.pair)
    fields = base_fields(pair)
    fields.update({key: value for key, (value, _) in spec.overrides.items()})
    decision, _ = decide(fields)
    if decision != spec.decision:
        raise ValueError(f"curated scenario {spec.name!r} promises {spec.decision} but its values decide {decision}.")
    if not (spec.viability <= NO_GO_VIABILITY_MAX if decision == "no_go" else spec.viability >= GO_VIABILITY_MIN):
        raise ValueError(f"curated scenario {spec.name!r}: viability {spec.viability} contradicts its verdict {decision}.")
    target = load_target_data()["targets"][pair["target"]]
    return TargetProfile(
        gene=target["gene"], target_class=target["target_class"], indication=spec.indication,
        disease_context=spec.disease_context, **fields, correct_decision=decision, true_viability_score=spec.viability,
        key_evidence_dimensions=spec.key_evidence_dimensions, misleading_signals=spec.misleading_signals,
        required_parameters=spec.required_parameters,
    )


def check_spec(spec: CuratedSpec) -> None:
    """Build ``spec``'s profile once, refusing a spec that would fail at a reset: a ``ValueError`` naming the
    scenario. Every spec of ``SPECS`` is checked when the module is imported (a quarter of a millisecond),
    because a curated scenario is otherwise built at the first curated reset, where one bad spec failed
    every curated scenario with a bare ``KeyError`` (a 500 from the server)."""
    where = f"curated scenario {spec.name!r} (drugenv/scenarios/curated.py, SPECS)"
    if spec.difficulty not in DIFFICULTIES:
        raise ValueError(f"{where}: difficulty {spec.difficulty!r} is not one of {list(DIFFICULTIES)}")
    if not spec.key_evidence_dimensions:
        raise ValueError(f"{where}: key_evidence_dimensions is empty, so evidence coverage would be 0 for every agent")
    try:
        _profile(spec)
    except ValueError as e:
        raise ValueError(f"{where}: {' '.join(str(e).split())}") from e
    except (KeyError, TypeError) as e:
        raise ValueError(f"{where}: {type(e).__name__}: {e}") from e


def _quality(difficulty: str, params: SimParams) -> DataQualityState:
    rate = params.false_rate[difficulty]
    return DataQualityState(noise_level=params.noise_level[difficulty], false_positive_rate=rate,
                            false_negative_rate=rate)


_BUILT: dict[str, dict[str, Scenario]] = {}
"""Curated scenarios already built, by the JSON of their ``SimParams`` (a reset used to build all five)."""


def curated_scenarios(params: SimParams | None = None) -> dict[str, Scenario]:
    """The five curated scenarios by name, with credits and noise from ``params`` (default ``SimParams()``).

    Scenarios are frozen, so they are built once per distinct ``params`` and shared; the dict is fresh.
    """
    params = params or SimParams()
    key = params.model_dump_json()
    built = _BUILT.get(key)
    if built is None:
        built = {
            spec.name: Scenario(scenario_id=spec.name, difficulty=spec.difficulty, profile=_profile(spec),
                                quality=_quality(spec.difficulty, params), credits=params.credits[spec.difficulty])
            for spec in SPECS
        }
        if len(_BUILT) >= 64:
            _BUILT.clear()
        _BUILT[key] = built
    return dict(built)


for _spec in SPECS:
    check_spec(_spec)
del _spec

__all__ = ["CURATED_NAMES", "CuratedSpec", "SPECS", "check_spec", "curated_overrides", "curated_pair", "curated_scenarios"]
