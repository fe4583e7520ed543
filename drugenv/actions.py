"""The action table: the one source of truth for every action's cost, evidence dimension,
dossier section, typed parameters and soft prerequisites.

Everything else (rule engine, evidence generator, prompts, vector env, docs) reads this table.

| id | action                      | cost | dimension       | section      | soft prerequisite (any of)                    |
|----|-----------------------------|------|-----------------|--------------|-----------------------------------------------|
|  0 | query_expression            | 2    | expression      | expression   | -                                             |
|  1 | differential_expression     | 2    | expression      | expression   | -                                             |
|  2 | pathway_enrichment          | 2    | pathway         | expression   | -                                             |
|  3 | coexpression_network        | 2    | pathway         | expression   | -                                             |
|  4 | protein_structure_lookup    | 3    | structure       | protein      | -                                             |
|  5 | binding_site_analysis       | 3    | structure       | protein      | -                                             |
|  6 | druggability_screen         | 3    | druggability    | protein      | -                                             |
|  7 | protein_interaction_network | 2    | pathway         | protein      | -                                             |
|  8 | clinical_trial_lookup       | 3    | clinical        | clinical     | -                                             |
|  9 | toxicity_panel              | 3    | toxicity        | safety       | expression                                    |
| 10 | off_target_screen           | 3    | off_target      | safety       | druggability, structure                       |
| 11 | patient_stratification      | 3    | stratification  | clinical     | expression                                    |
| 12 | literature_search           | 1    | literature      | literature   | -                                             |
| 13 | evidence_synthesis          | 1    | literature      | literature   | any evidence                                  |
| 14 | competitor_landscape        | 1    | literature      | clinical     | -                                             |
| 15 | crispr_knockout             | 4    | dependency      | experimental | -                                             |
| 16 | biomarker_correlation       | 3    | biomarker       | experimental | expression                                    |
| 17 | in_vitro_assay              | 5    | in_vitro        | experimental | druggability, structure                       |
| 18 | in_vivo_model               | 8    | in_vivo         | experimental | in_vitro                                      |
| 19 | flag_red_flag               | 0    | -               | -            | any evidence                                  |
| 20 | request_expert_review       | 1    | expert          | literature   | any evidence                                  |
| 21 | submit_validation_report    | 0    | -               | -            | -  (terminal; needs final_decision+confidence)|

(The spec's table lists the same 22 actions in fewer rows: ``flag_red_flag`` and
``request_expert_review``, for one, share its "Meta" row.)

A soft prerequisite that is unmet does not block the action; it costs a rule-violation penalty
and lowers the episode's reasoning-coherence score.

To add an action: a member of ``ActionType`` and a row of ``ACTION_TABLE`` (and of the table above, which
``tests/test_stated_facts.py`` compares); for an evidence action also its readout generator in
``drugenv/simulator/evidence.py`` (``_GENERATORS``, its keys in ``READOUTS``) and an entry of
``drugenv/gym_envs/vector_env.py``'s ``EVIDENCE_VECTOR_ACTIONS`` (the package refuses to import without
either); then ``python -m drugenv.agents.reference --write docs/agents.md`` and, as behaviour changes,
``python tests/simulator/test_golden.py --write``.

Numeric and boolean parameters are strictly typed (pydantic ``strict=True``): a number field takes
a JSON number (an int where the field is an int; any number where it is a float), a flag takes
``true``/``false``. ``"0.5"``, ``"true"``, ``1`` for a flag or ``true`` for a number are refused, not
coerced: a coerced ``true`` would silently become 1.0, so a typo would change what is measured.
A numpy scalar counts as the Python value it holds (``np.int64(2015)`` is the integer 2015, as the client
sends it over the wire; ``np.float64(2015.0)`` is still not an integer).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ActionType(str, Enum):
    """Every action an agent can take (values are the wire names)."""

    QUERY_EXPRESSION = "query_expression"
    DIFFERENTIAL_EXPRESSION = "differential_expression"
    PATHWAY_ENRICHMENT = "pathway_enrichment"
    COEXPRESSION_NETWORK = "coexpression_network"
    PROTEIN_STRUCTURE_LOOKUP = "protein_structure_lookup"
    BINDING_SITE_ANALYSIS = "binding_site_analysis"
    DRUGGABILITY_SCREEN = "druggability_screen"
    PROTEIN_INTERACTION_NETWORK = "protein_interaction_network"
    CLINICAL_TRIAL_LOOKUP = "clinical_trial_lookup"
    TOXICITY_PANEL = "toxicity_panel"
    OFF_TARGET_SCREEN = "off_target_screen"
    PATIENT_STRATIFICATION = "patient_stratification"
    LITERATURE_SEARCH = "literature_search"
    EVIDENCE_SYNTHESIS = "evidence_synthesis"
    COMPETITOR_LANDSCAPE = "competitor_landscape"
    CRISPR_KNOCKOUT = "crispr_knockout"
    BIOMARKER_CORRELATION = "biomarker_correlation"
    IN_VITRO_ASSAY = "in_vitro_assay"
    IN_VIVO_MODEL = "in_vivo_model"
    FLAG_RED_FLAG = "flag_red_flag"
    REQUEST_EXPERT_REVIEW = "request_expert_review"
    SUBMIT_VALIDATION_REPORT = "submit_validation_report"


class EvidenceDimension(str, Enum):
    """What an evidence action investigates; coverage and novelty are counted per dimension."""

    EXPRESSION = "expression"
    PATHWAY = "pathway"
    STRUCTURE = "structure"
    DRUGGABILITY = "druggability"
    CLINICAL = "clinical"
    TOXICITY = "toxicity"
    OFF_TARGET = "off_target"
    STRATIFICATION = "stratification"
    LITERATURE = "literature"
    DEPENDENCY = "dependency"
    BIOMARKER = "biomarker"
    IN_VITRO = "in_vitro"
    IN_VIVO = "in_vivo"
    EXPERT = "expert"


DossierSection = Literal["expression", "protein", "clinical", "safety", "literature", "experimental"]


# ---------------------------------------------------------------------------------------------
# Typed parameters, one model per action type. Field descriptions feed the JSON schema that the
# server, the LLM prompt and the TRL tool schemas show.
# ---------------------------------------------------------------------------------------------


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(_Params):
    """This action takes no parameters."""


class ExpressionParams(_Params):
    database: Literal["GTEx", "HPA", "TCGA", "CCLE"] = Field(
        "TCGA",
        description="Expression source. GTEx/HPA: normal tissues only (no tumour data); "
        "TCGA: tumour vs matched normal; CCLE: cancer cell lines. Coverage and noise differ.",
    )


class DifferentialExpressionParams(_Params):
    comparison: Literal["tumor_vs_normal", "altered_vs_unaltered"] = Field(
        "tumor_vs_normal", description="Which two groups are compared (log2 fold change)."
    )


class PathwayParams(_Params):
    database: Literal["Reactome", "KEGG", "GO"] = Field("Reactome", description="Pathway database.")


class NetworkParams(_Params):
    database: Literal["STRING", "BioGRID"] = Field("STRING", description="Interaction database.")
    min_score: float = Field(0.7, ge=0.0, le=1.0, strict=True, allow_inf_nan=False,
                             description="Minimum edge confidence, 0-1.")


class StructureParams(_Params):
    source: Literal["PDB", "AlphaFold"] = Field(
        "PDB", description="Experimental structures (PDB) or predicted (AlphaFold, pLDDT 0-100)."
    )


class BindingSiteParams(_Params):
    include_allosteric: bool = Field(
        False, strict=True, description="Also search allosteric / cryptic sites, not only the orthosteric one."
    )
    method: Literal["fpocket", "DoGSiteScorer"] = Field("fpocket", description="Pocket finder.")


class DruggabilityParams(_Params):
    modality: Literal["small_molecule", "antibody", "any"] = Field(
        "small_molecule", description="Which drug modality to assess tractability for."
    )


class ClinicalParams(_Params):
    min_phase: int = Field(1, ge=1, le=4, strict=True, description="Lowest trial phase to include, 1-4.")


class ToxicityParams(_Params):
    panel: Literal["vital_organs", "full"] = Field(
        "vital_organs", description="vital_organs: heart, liver, marrow, brain; full: adds skin, gut, lung, kidney."
    )


class OffTargetParams(_Params):
    panel: Literal["kinome", "safety_panel", "proteome"] = Field(
        "safety_panel", description="Screening panel; proteome is broadest but noisiest."
    )


class StratificationParams(_Params):
    biomarker: Optional[str] = Field(
        None, max_length=80, description="Biomarker or allele to stratify patients by (None: the target's main alteration)."
    )


class LiteratureParams(_Params):
    query: str = Field("", max_length=200, description="Free-text query, added to the target and indication.")
    since_year: Optional[int] = Field(
        None, ge=1950, le=2030, strict=True, description="Only papers from this year on (None: all years)."
    )


class CrisprParams(_Params):
    cell_lines: Literal["altered", "unaltered", "panel"] = Field(
        "panel", description="Which cell lines to knock the gene out in (DepMap Chronos score)."
    )


class BiomarkerParams(_Params):
    biomarker: Optional[str] = Field(None, max_length=80, description="Biomarker to correlate with response.")


class InVitroParams(_Params):
    assay: Literal["cell_viability", "target_engagement"] = Field(
        "cell_viability", description="Readout: cell viability IC50 (nM) or target engagement."
    )


class InVivoParams(_Params):
    model: Literal["xenograft", "PDX", "GEMM"] = Field("xenograft", description="Animal model type.")


class RedFlagParams(_Params):
    description: str = Field(..., min_length=1, max_length=500, description="What the red flag is.")


class ExpertReviewParams(_Params):
    question: str = Field("", max_length=500, description="What to ask the expert panel.")


@dataclass(frozen=True)
class ActionSpec:
    """One row of the action table."""

    action_type: ActionType
    cost: int
    """Credits charged when the action executes."""
    dimension: Optional[EvidenceDimension]
    """Evidence dimension investigated (None for meta and terminal actions)."""
    section: Optional[DossierSection]
    """Dossier section the finding is filed under."""
    params: type[_Params]
    soft_prereq: tuple[EvidenceDimension, ...] = ()
    """At least one of these dimensions should have been investigated first."""
    needs_any_evidence: bool = False
    """Soft prerequisite: some evidence should exist first."""
    category: str = ""
    description: str = ""


_D = EvidenceDimension
_A = ActionType

ACTION_TABLE: dict[ActionType, ActionSpec] = {
    s.action_type: s
    for s in [
        ActionSpec(_A.QUERY_EXPRESSION, 2, _D.EXPRESSION, "expression", ExpressionParams, category="Expression & omics",
                   description="Tumour and normal-tissue expression levels (TPM) of the target."),
        ActionSpec(_A.DIFFERENTIAL_EXPRESSION, 2, _D.EXPRESSION, "expression", DifferentialExpressionParams, category="Expression & omics",
                   description="log2 fold change between groups and alteration frequency in the indication."),
        ActionSpec(_A.PATHWAY_ENRICHMENT, 2, _D.PATHWAY, "expression", PathwayParams, category="Expression & omics",
                   description="Pathways the target sits in and whether they are disease-enriched."),
        ActionSpec(_A.COEXPRESSION_NETWORK, 2, _D.PATHWAY, "expression", NetworkParams, category="Expression & omics",
                   description="Genes co-expressed with the target in the disease."),
        ActionSpec(_A.PROTEIN_STRUCTURE_LOOKUP, 3, _D.STRUCTURE, "protein", StructureParams, category="Protein & structure",
                   description="Available structures, resolution and model confidence."),
        ActionSpec(_A.BINDING_SITE_ANALYSIS, 3, _D.STRUCTURE, "protein", BindingSiteParams, category="Protein & structure",
                   description="Pocket detection and pocket druggability scores (0-1)."),
        ActionSpec(_A.DRUGGABILITY_SCREEN, 3, _D.DRUGGABILITY, "protein", DruggabilityParams, category="Protein & structure",
                   description="Tractability for a modality: druggability score (0-1) and best known ligands."),
        ActionSpec(_A.PROTEIN_INTERACTION_NETWORK, 2, _D.PATHWAY, "protein", NetworkParams, category="Protein & structure",
                   description="Protein interaction partners of the target."),
        ActionSpec(_A.CLINICAL_TRIAL_LOOKUP, 3, _D.CLINICAL, "clinical", ClinicalParams, category="Clinical & safety",
                   description="Trials and approvals for drugs on this target, outcomes and failures."),
        ActionSpec(_A.TOXICITY_PANEL, 3, _D.TOXICITY, "safety", ToxicityParams, soft_prereq=(_D.EXPRESSION,), category="Clinical & safety",
                   description="On-target toxicity risk from expression in vital tissues and knockout phenotypes."),
        ActionSpec(_A.OFF_TARGET_SCREEN, 3, _D.OFF_TARGET, "safety", OffTargetParams, soft_prereq=(_D.DRUGGABILITY, _D.STRUCTURE), category="Clinical & safety",
                   description="Selectivity ratio versus the nearest off-targets."),
        ActionSpec(_A.PATIENT_STRATIFICATION, 3, _D.STRATIFICATION, "clinical", StratificationParams, soft_prereq=(_D.EXPRESSION,), category="Clinical & safety",
                   description="Fraction of patients with a responsive biomarker or allele."),
        ActionSpec(_A.LITERATURE_SEARCH, 1, _D.LITERATURE, "literature", LiteratureParams, category="Literature",
                   description="Paper counts and key findings, including recent inhibitor reports."),
        ActionSpec(_A.EVIDENCE_SYNTHESIS, 1, _D.LITERATURE, "literature", NoParams, needs_any_evidence=True, category="Literature",
                   description="Summary of how consistent the literature is."),
        # Literature, as the spec's table files it: a count of programmes carries no trial history, so it
        # must not cover the clinical dimension (it did, for 1 credit to clinical_trial_lookup's 3).
        ActionSpec(_A.COMPETITOR_LANDSCAPE, 1, _D.LITERATURE, "clinical", NoParams, category="Literature",
                   description="Programmes against this target by phase."),
        ActionSpec(_A.CRISPR_KNOCKOUT, 4, _D.DEPENDENCY, "experimental", CrisprParams, category="Experimental",
                   description="Gene dependency (DepMap Chronos; -1 = common-essential median, 0 = no effect)."),
        ActionSpec(_A.BIOMARKER_CORRELATION, 3, _D.BIOMARKER, "experimental", BiomarkerParams, soft_prereq=(_D.EXPRESSION,), category="Experimental",
                   description="Correlation between a biomarker and response (Pearson r)."),
        ActionSpec(_A.IN_VITRO_ASSAY, 5, _D.IN_VITRO, "experimental", InVitroParams, soft_prereq=(_D.DRUGGABILITY, _D.STRUCTURE), category="Experimental",
                   description="Tool-compound potency in disease cell lines (IC50, nM)."),
        ActionSpec(_A.IN_VIVO_MODEL, 8, _D.IN_VIVO, "experimental", InVivoParams, soft_prereq=(_D.IN_VITRO,), category="Experimental",
                   description="Tumour growth inhibition (%) and tolerability in an animal model."),
        ActionSpec(_A.FLAG_RED_FLAG, 0, None, None, RedFlagParams, needs_any_evidence=True, category="Meta",
                   description="Record a red flag in the dossier."),
        ActionSpec(_A.REQUEST_EXPERT_REVIEW, 1, _D.EXPERT, "literature", ExpertReviewParams, needs_any_evidence=True, category="Meta",
                   description="A noisy expert opinion on the target's overall viability."),
        ActionSpec(_A.SUBMIT_VALIDATION_REPORT, 0, None, None, NoParams, category="Terminal",
                   description="End the episode with final_decision (go / no_go) and confidence in [0, 1]."),
    ]
}

EVIDENCE_ACTIONS: tuple[ActionType, ...] = tuple(a for a, s in ACTION_TABLE.items() if s.dimension is not None)
"""Actions that gather evidence (charge credits, count for coverage)."""

MIN_EVIDENCE_COST: int = min(ACTION_TABLE[a].cost for a in EVIDENCE_ACTIONS)


def action_cost(action_type: ActionType | str) -> int:
    """Credits an action costs."""
    return ACTION_TABLE[ActionType(action_type)].cost


def parse_parameters(action_type: ActionType | str, parameters: dict[str, Any] | None) -> _Params:
    """Validate raw parameters against the action's parameter model.

    Raises pydantic ``ValidationError`` (unknown keys, wrong types, out-of-range values).
    """
    spec = ACTION_TABLE[ActionType(action_type)]
    plain = _numpy_scalars_as_python(parameters)
    return spec.params.model_validate(plain if plain is not None else parameters or {})


def _numpy_scalars_as_python(parameters: Any) -> Optional[dict[str, Any]]:
    """``parameters`` with each numpy scalar replaced by the Python value it holds, or None when it holds none.
    A policy's numpy output is meant as its value, and the client sends it as that value (JSON), so in process
    and over the wire play alike only if validation sees that value: strict fields refuse ``np.int64`` as not
    an ``int``, and a strict float took ``np.True_`` as 1.0 where the wire's ``true`` is refused (the wire
    audit). Validation runs only when the memo of canonical parameters misses (``models``), so a step
    seldom pays for the scan."""
    if not isinstance(parameters, dict) or not any(isinstance(v, np.generic) for v in parameters.values()):
        return None
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in parameters.items()}


def canonical_parameters(action_type: ActionType | str, parameters: dict[str, Any] | None) -> dict[str, Any]:
    """Parameters with defaults filled in: two calls are 'identical' iff these are equal."""
    return parse_parameters(action_type, parameters).model_dump(mode="json")


__all__ = [
    "ACTION_TABLE",
    "ActionSpec",
    "ActionType",
    "DossierSection",
    "EVIDENCE_ACTIONS",
    "EvidenceDimension",
    "MIN_EVIDENCE_COST",
    "ValidationError",
    "action_cost",
    "canonical_parameters",
    "parse_parameters",
]
