"""The hidden truth of an episode. Nothing in this module may reach an observation, a state, a
schema, a log line or an error message.

Only the engines that need the truth import it: ``transitions``, ``evidence``, ``reward`` (and the
scenario builders that create it, and ``environment`` that holds it). ``tests/simulator/test_hidden.py``
enforces the import boundary. The truth leaves the simulator through two documented doors only:
``DrugTargetEnvironment.outcome()`` once an episode is over (``simulator.episode.EpisodeOutcome``),
and ``DrugTargetEnvironment.oracle_view()`` for the oracle agent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from drugenv.actions import ActionType, EvidenceDimension

VITAL_TISSUES = ("heart", "liver", "marrow", "brain")
OTHER_TISSUES = ("skin", "gut", "lung", "kidney")

ClinicalPrecedent = Literal["approved", "late_clinical", "early_clinical", "failed", "none"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MisleadingSignal(_Frozen):
    """A readout that points the wrong way when read alone."""

    dimension: EvidenceDimension
    description: str


class TargetProfile(_Frozen):
    """Ground truth about one target in one indication (units in the field descriptions)."""

    gene: str
    indication: str
    disease_context: str
    target_class: str = Field(..., description="e.g. 'RTK', 'small GTPase', 'tumour suppressor'.")
    # expression / genetics
    tumor_expression_tpm: float = Field(..., ge=0, description="Median tumour expression, TPM.")
    normal_expression_tpm: dict[str, float] = Field(..., description="Normal-tissue expression by tissue, TPM.")
    tissue_specificity: float = Field(..., ge=0, le=1, description="0 ubiquitous .. 1 tumour/tissue restricted.")
    disease_overexpression_log2fc: float = Field(..., description="log2 fold change tumour vs normal.")
    alteration_frequency: float = Field(..., ge=0, le=1, description="Fraction of patients with the driver alteration.")
    dependency_score: float = Field(..., description="DepMap Chronos in altered lines (-1 = common-essential median).")
    pathway_relevance: float = Field(..., ge=0, le=1, description="How central the target's pathway is to the disease.")
    # protein / druggability
    druggability_score: float = Field(..., ge=0, le=1, description="Orthosteric small-molecule druggability, 0-1.")
    allosteric_pocket_score: float = Field(0.0, ge=0, le=1, description="Best allosteric/cryptic pocket, 0-1 (0: none).")
    antibody_accessible: bool = Field(False, description="Extracellular, internalising epitope (Ab/ADC route).")
    binding_pocket_quality: float = Field(..., ge=0, le=1, description="Structure quality / pocket definition, 0-1.")
    structure_count: int = Field(..., ge=0, description="Number of experimental structures.")
    # selectivity / safety
    selectivity_ratio: float = Field(..., gt=0, description="Fold selectivity over nearest off-target.")
    off_target_genes: tuple[str, ...] = ()
    toxicity_risk: float = Field(..., ge=0, le=1, description="On-target toxicity risk in vital tissues, 0-1.")
    toxicity_profile: tuple[str, ...] = ()
    # clinical / literature
    clinical_precedent: ClinicalPrecedent
    clinical_notes: tuple[str, ...] = ()
    competitor_programs: int = Field(0, ge=0, description="Programmes at Phase 2+.")
    literature_volume: int = Field(..., ge=0, description="Paper count.")
    literature_support: float = Field(..., ge=0, le=1, description="How consistently the literature supports the target.")
    recent_inhibitor_evidence: bool = Field(False, description="Recent (>=2013) clinical-grade inhibitors reported.")
    # experimental / translation
    responder_fraction: float = Field(..., ge=0, le=1, description="Fraction of patients with a responsive biomarker/allele.")
    stratification_biomarker: str = ""
    biomarker_correlation: float = Field(..., ge=-1, le=1, description="Pearson r between biomarker and response.")
    in_vitro_ic50_nm: float = Field(..., gt=0, description="Tool-compound IC50 in disease lines, nM.")
    in_vivo_tgi_pct: float = Field(..., description="Tumour growth inhibition at a tolerated dose, %.")
    # verdict
    correct_decision: Literal["go", "no_go"]
    true_viability_score: float = Field(..., ge=0, le=1)
    key_evidence_dimensions: tuple[EvidenceDimension, ...]
    misleading_signals: tuple[MisleadingSignal, ...] = ()
    required_parameters: dict[ActionType, dict] = Field(
        default_factory=dict,
        description="Parameters without which a key dimension is not really covered "
        "(e.g. binding_site_analysis needs include_allosteric=True for PTPN11).",
    )


class DataQualityState(_Frozen):
    """How noisy the world's instruments are in this episode."""

    noise_level: float = Field(0.15, ge=0, le=1, description="Relative noise SD on continuous readouts.")
    false_positive_rate: float = Field(0.05, ge=0, le=1, description="Chance a categorical flag appears falsely.")
    false_negative_rate: float = Field(0.05, ge=0, le=1, description="Chance a true categorical flag is missed.")
    database_coverage: dict[str, float] = Field(
        default_factory=dict, description="Chance a database holds data for this target, by database name (default 1)."
    )


class FullLatentState(BaseModel):
    """The secret side of an episode (the public side is ``simulator.episode.EpisodeBook``).

    ``world_seed`` seeds the world (the scenario, the episode id); it equals the reset seed unless the
    environment is sealed, in which case it is derived from (seed, secret) and never shown.
    ``noise_key`` keys every readout's noise: the world seed unsealed, a secret key sealed
    (``evidence.generate`` says why the two differ).
    """

    profile: TargetProfile
    quality: DataQualityState
    world_seed: int
    scenario_id: str
    noise_key: int | bytes = Field(repr=False, exclude=True,  # a sealed key is a secret: kept out of reprs and dumps
                                   description="What keys the readouts' noise: the world seed, or a sealed episode's secret key.")
    covered_key_dimensions: set[EvidenceDimension] = Field(
        default_factory=set, description="Key dimensions investigated with the parameters they require (terminal coverage)."
    )

    @property
    def key_coverage(self) -> float:
        """Fraction of the key evidence dimensions covered, in [0, 1]."""
        return len(self.covered_key_dimensions) / max(1, len(self.profile.key_evidence_dimensions))


class OracleView(_Frozen):
    """What the oracle agent is told: the plan-relevant slice of the truth. Only
    ``drugenv.agents.base.brief`` asks for it (``tests/simulator/test_hidden.py`` enforces this)."""

    key_evidence_dimensions: tuple[EvidenceDimension, ...]
    required_parameters: dict[ActionType, dict]
    correct_decision: Literal["go", "no_go"]


__all__ = [
    "ClinicalPrecedent",
    "DataQualityState",
    "FullLatentState",
    "MisleadingSignal",
    "OTHER_TISSUES",
    "OracleView",
    "TargetProfile",
    "VITAL_TISSUES",
]
