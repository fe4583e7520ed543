"""The five curated scenarios of the spec, built from public facts (``shared/research/targets.md`` §3).

| name                          | difficulty | decision | what it tests                                                          |
|-------------------------------|------------|----------|------------------------------------------------------------------------|
| egfr_nsclc_viable             | easy       | go       | expression + druggability alone suffice                                |
| kras_pdac_borderline          | medium     | go       | classic druggability looks poor; recent inhibitor literature decides   |
| cd33_aml_misleading           | hard       | no_go    | expression says go; off-target + toxicity + clinical reveal no_go      |
| tp53_solid_tumors_clear_fail  | easy       | no_go    | druggability alone suffices                                            |
| ptpn11_juvenile_mml_complex   | very_hard  | go       | needs binding_site_analysis(include_allosteric=True), off-target work, |
|                               |            |          | patient stratification and an in-vitro assay                           |

Names are evaluation labels only: the agent never sees them (they give the answer away).
"""

from __future__ import annotations

from drugenv.actions import ActionType
from drugenv.actions import EvidenceDimension as D
from drugenv.scenarios.base import Scenario
from drugenv.simulator.latent import DataQualityState, MisleadingSignal, TargetProfile
from drugenv.simulator.params import SimParams


def _quality(difficulty: str, params: SimParams, **coverage: float) -> DataQualityState:
    rate = params.false_rate[difficulty]
    return DataQualityState(noise_level=params.noise_level[difficulty], false_positive_rate=rate,
                            false_negative_rate=rate, database_coverage=coverage)


def _tpm(heart, liver, marrow, brain, skin, gut, lung, kidney) -> dict[str, float]:
    return dict(heart=heart, liver=liver, marrow=marrow, brain=brain, skin=skin, gut=gut, lung=lung, kidney=kidney)


def curated_scenarios(params: SimParams | None = None) -> dict[str, Scenario]:
    params = params or SimParams()
    out: list[Scenario] = []

    out.append(Scenario(
        scenario_id="egfr_nsclc_viable", difficulty="easy", credits=params.credits["easy"],
        quality=_quality("easy", params),
        profile=TargetProfile(
            gene="EGFR", indication="non-small cell lung cancer (NSCLC)", disease_context="oncology / solid tumour",
            target_class="receptor tyrosine kinase (ErbB)",
            tumor_expression_tpm=180.0, normal_expression_tpm=_tpm(3, 8, 1, 4, 60, 25, 30, 12),
            # East-Asian adenocarcinoma cohort: EGFR mutated in 40-50% (targets.md §2).
            tissue_specificity=0.4, disease_overexpression_log2fc=3.0, alteration_frequency=0.45,
            dependency_score=-1.0, pathway_relevance=0.9,
            druggability_score=0.9, allosteric_pocket_score=0.6, antibody_accessible=True,
            binding_pocket_quality=0.95, structure_count=300,
            selectivity_ratio=60.0, off_target_genes=("ERBB2", "ERBB4"),
            toxicity_risk=0.3, toxicity_profile=("acneiform rash", "diarrhea", "interstitial lung disease (1-4%)"),
            clinical_precedent="approved",
            clinical_notes=("IPASS 2009: ORR ~70% in EGFR-mutant", "FLAURA OS 38.6 vs 31.8 months", "8+ approvals"),
            competitor_programs=8, literature_volume=60000, literature_support=0.9, recent_inhibitor_evidence=True,
            responder_fraction=0.35, stratification_biomarker="EGFR ex19del / L858R", biomarker_correlation=0.7,
            in_vitro_ic50_nm=12.0, in_vivo_tgi_pct=95.0,
            correct_decision="go", true_viability_score=0.9,
            key_evidence_dimensions=(D.EXPRESSION, D.DRUGGABILITY),
        ),
    ))

    out.append(Scenario(
        scenario_id="kras_pdac_borderline", difficulty="medium", credits=params.credits["medium"],
        quality=_quality("medium", params),
        profile=TargetProfile(
            gene="KRAS", indication="pancreatic ductal adenocarcinoma (PDAC)", disease_context="oncology / solid tumour",
            target_class="small GTPase",
            tumor_expression_tpm=90.0, normal_expression_tpm=_tpm(15, 20, 25, 15, 30, 35, 30, 20),
            tissue_specificity=0.1, disease_overexpression_log2fc=1.0, alteration_frequency=0.92,
            dependency_score=-1.2, pathway_relevance=0.95,
            druggability_score=0.2, allosteric_pocket_score=0.45, antibody_accessible=False,
            binding_pocket_quality=0.6, structure_count=250,
            selectivity_ratio=25.0, off_target_genes=("HRAS", "NRAS"),
            toxicity_risk=0.4, toxicity_profile=("hepatotoxicity", "diarrhea", "rash (pan-RAS)"),
            clinical_precedent="late_clinical",
            clinical_notes=("sotorasib PDAC ORR 21% (n=38)", "daraxonrasib Breakthrough designation 2025",
                            "G12C is only 1-2% of PDAC; G12D ~40%"),
            competitor_programs=6, literature_volume=40000, literature_support=0.7, recent_inhibitor_evidence=True,
            responder_fraction=0.4, stratification_biomarker="KRAS G12D / G12C allele", biomarker_correlation=0.5,
            in_vitro_ic50_nm=40.0, in_vivo_tgi_pct=75.0,
            correct_decision="go", true_viability_score=0.62,
            key_evidence_dimensions=(D.EXPRESSION, D.DRUGGABILITY, D.LITERATURE),
            misleading_signals=(MisleadingSignal(dimension=D.DRUGGABILITY,
                                                 description="classic orthosteric druggability is poor ('undruggable' 1982-2013)"),),
        ),
    ))

    out.append(Scenario(
        scenario_id="cd33_aml_misleading", difficulty="hard", credits=params.credits["hard"],
        quality=_quality("hard", params),
        profile=TargetProfile(
            gene="CD33", indication="acute myeloid leukaemia (AML)", disease_context="oncology / haematological",
            target_class="Siglec-3 surface receptor",
            tumor_expression_tpm=400.0, normal_expression_tpm=_tpm(2, 40, 250, 20, 3, 5, 15, 3),
            tissue_specificity=0.6, disease_overexpression_log2fc=3.5, alteration_frequency=0.88,
            dependency_score=0.0, pathway_relevance=0.3,
            druggability_score=0.1, allosteric_pocket_score=0.0, antibody_accessible=True,
            binding_pocket_quality=0.5, structure_count=6,
            selectivity_ratio=3.0, off_target_genes=("normal myeloid progenitors (CD33+)", "liver sinusoidal cells", "microglia"),
            toxicity_risk=0.85,
            toxicity_profile=("hepatotoxicity incl. fatal VOD/SOS", "prolonged cytopenias", "infections"),
            clinical_precedent="failed",
            clinical_notes=("SWOG S0106: no benefit, more early deaths; withdrawn 2010",
                            "vadastuximab talirine: hold 2016, CASCADE Ph3 stopped 2017 (excess deaths)"),
            competitor_programs=3, literature_volume=8000, literature_support=0.45, recent_inhibitor_evidence=False,
            responder_fraction=0.3, stratification_biomarker="favourable cytogenetics", biomarker_correlation=0.2,
            in_vitro_ic50_nm=0.5, in_vivo_tgi_pct=85.0,
            correct_decision="no_go", true_viability_score=0.25,
            key_evidence_dimensions=(D.OFF_TARGET, D.TOXICITY, D.CLINICAL),
            misleading_signals=(
                MisleadingSignal(dimension=D.EXPRESSION, description="CD33+ blasts in ~85-90% of patients: expression says go"),
                MisleadingSignal(dimension=D.IN_VITRO, description="AML lines die at pM-nM, but so do normal CD34+ colonies"),
                MisleadingSignal(dimension=D.IN_VIVO, description="xenografts respond; rodents lack the human CD33 pattern"),
            ),
        ),
    ))

    out.append(Scenario(
        scenario_id="tp53_solid_tumors_clear_fail", difficulty="easy", credits=params.credits["easy"],
        quality=_quality("easy", params),
        profile=TargetProfile(
            gene="TP53", indication="solid tumours (pan-cancer)", disease_context="oncology / solid tumour",
            target_class="transcription factor, tumour suppressor",
            tumor_expression_tpm=60.0, normal_expression_tpm=_tpm(20, 25, 40, 15, 30, 35, 30, 25),
            tissue_specificity=0.05, disease_overexpression_log2fc=0.6, alteration_frequency=0.5,
            dependency_score=0.3, pathway_relevance=0.9,
            druggability_score=0.08, allosteric_pocket_score=0.15, antibody_accessible=False,
            binding_pocket_quality=0.3, structure_count=200,
            selectivity_ratio=2.0, off_target_genes=("glutathione (thiol alkylation)",),
            toxicity_risk=0.6, toxicity_profile=("nausea", "neurotoxicity", "liver and renal DLTs"),
            clinical_precedent="failed",
            clinical_notes=("APR-246 Ph3 TP53m MDS: CR 33% vs 22%, n.s. (2020)", "FDA holds 2021"),
            competitor_programs=2, literature_volume=100000, literature_support=0.3, recent_inhibitor_evidence=False,
            responder_fraction=0.01, stratification_biomarker="TP53 Y220C", biomarker_correlation=0.05,
            in_vitro_ic50_nm=5000.0, in_vivo_tgi_pct=15.0,
            correct_decision="no_go", true_viability_score=0.1,
            key_evidence_dimensions=(D.DRUGGABILITY,),
            misleading_signals=(MisleadingSignal(dimension=D.LITERATURE,
                                                 description=">100k papers: popularity, not tractability"),),
        ),
    ))

    out.append(Scenario(
        scenario_id="ptpn11_juvenile_mml_complex", difficulty="very_hard", credits=params.credits["very_hard"],
        quality=_quality("very_hard", params),
        profile=TargetProfile(
            gene="PTPN11", indication="juvenile myelomonocytic leukaemia (JMML)", disease_context="oncology / paediatric haematological",
            target_class="non-receptor protein tyrosine phosphatase (SHP2)",
            tumor_expression_tpm=70.0, normal_expression_tpm=_tpm(30, 35, 60, 40, 30, 35, 40, 30),
            tissue_specificity=0.1, disease_overexpression_log2fc=0.7, alteration_frequency=0.35,
            dependency_score=-1.0, pathway_relevance=0.9,
            druggability_score=0.15, allosteric_pocket_score=0.82, antibody_accessible=False,
            binding_pocket_quality=0.85, structure_count=120,
            selectivity_ratio=45.0, off_target_genes=("PTPN6 (SHP1)",),
            toxicity_risk=0.35, toxicity_profile=("edema", "anemia", "thrombocytopenia"),
            clinical_precedent="none",
            clinical_notes=("no JMML trial of a SHP2 inhibitor", "adult monotherapy ORR ~0; combination partner"),
            competitor_programs=5, literature_volume=3000, literature_support=0.6, recent_inhibitor_evidence=False,
            responder_fraction=0.3, stratification_biomarker="SHP099-sensitive PTPN11 alleles (not E76K), NF1/CBL",
            biomarker_correlation=0.5, in_vitro_ic50_nm=70.0, in_vivo_tgi_pct=55.0,
            correct_decision="go", true_viability_score=0.58,
            key_evidence_dimensions=(D.STRUCTURE, D.OFF_TARGET, D.STRATIFICATION, D.IN_VITRO),
            required_parameters={ActionType.BINDING_SITE_ANALYSIS: {"include_allosteric": True}},
            misleading_signals=(
                MisleadingSignal(dimension=D.DRUGGABILITY, description="the charged active site is not druggable"),
                MisleadingSignal(dimension=D.CLINICAL, description="no approval and ~0 monotherapy response in adults"),
            ),
        ),
    ))
    return {s.scenario_id: s for s in out}


CURATED_NAMES: tuple[str, ...] = (
    "egfr_nsclc_viable",
    "kras_pdac_borderline",
    "cd33_aml_misleading",
    "tp53_solid_tumors_clear_fail",
    "ptpn11_juvenile_mml_complex",
)
