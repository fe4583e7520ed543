"""Evidence generator: noisy, typed readouts drawn from the hidden profile through DataQualityState.

Every query draws from its own RNG, seeded by (episode seed, action type, the parameters that make
it a measurement of its own), so an identical repeated query returns the identical result —
redundancy only wastes credits — and episodes are reproducible wherever they run. Parameters that
only filter or annotate a readout (a threshold, a free-text question) do not draw anew: asked again
with another value, a query reads the same measurement (``measurement_parameters``). Units are in
the data keys.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
import zlib
from functools import lru_cache
from typing import Any, Callable, Optional

import numpy as np

from drugenv.actions import ACTION_TABLE, EVIDENCE_ACTIONS, ActionType
from drugenv.models import DrugTargetAction, IntermediateOutput, parameters_key, trusted
from drugenv.simulator.gates import DEPENDENCY_MAX, IC50_MAX, POCKET_MIN, SELECTIVITY_MIN, TGI_MIN, TOXICITY_MAX
from drugenv.simulator.latent import OTHER_TISSUES, VITAL_TISSUES, DataQualityState, TargetProfile
from drugenv.simulator.seeding import normal, seeded_generator

# Which database answers each action (for coverage), given its parameters.
_DB_OF: dict[ActionType, Callable[[dict], str]] = {
    ActionType.QUERY_EXPRESSION: lambda p: p["database"],
    ActionType.DIFFERENTIAL_EXPRESSION: lambda p: "TCGA",
    ActionType.PATHWAY_ENRICHMENT: lambda p: p["database"],
    ActionType.COEXPRESSION_NETWORK: lambda p: p["database"],
    ActionType.PROTEIN_INTERACTION_NETWORK: lambda p: p["database"],
    ActionType.PROTEIN_STRUCTURE_LOOKUP: lambda p: p["source"],
    ActionType.DRUGGABILITY_SCREEN: lambda p: "ChEMBL",
    ActionType.CLINICAL_TRIAL_LOOKUP: lambda p: "ClinicalTrials.gov",
    ActionType.LITERATURE_SEARCH: lambda p: "PubMed",
    ActionType.CRISPR_KNOCKOUT: lambda p: "DepMap",
}
# Relative noise of each source (1 = the episode's noise level).
_DB_NOISE = {"GTEx": 1.0, "HPA": 1.3, "TCGA": 1.0, "CCLE": 1.5, "STRING": 1.0, "BioGRID": 1.3, "Reactome": 1.0,
             "KEGG": 1.2, "GO": 1.5, "kinome": 1.0, "safety_panel": 1.0, "proteome": 1.6,
             "fpocket": 1.0, "DoGSiteScorer": 0.8, "xenograft": 1.2, "PDX": 0.8, "GEMM": 1.0}


def _stable_seed(*parts: Any) -> int:
    return zlib.crc32(json.dumps(parts, sort_keys=True, default=str).encode())


def _sealed_seed(noise_key: bytes, text: str) -> int:
    """A sealed episode's seed for one stream: 128 bits of BLAKE2b keyed by the episode's secret noise key
    (``environment.sealed_noise_key``), so no value smaller than the key ties two queries' noise together."""
    return int.from_bytes(hashlib.blake2b(text.encode(), key=noise_key, digest_size=16).digest(), "little")


def _coverage_seed(episode_seed: int | bytes, db: str) -> int:
    """``_stable_seed(episode_seed, "coverage", db)`` without the encoder (every database name is plain
    ASCII, so its JSON is the name in quotes): a new episode draws each database's coverage once.
    A sealed episode's noise key (bytes) seeds through ``_sealed_seed`` instead."""
    if type(episode_seed) is not int:
        if isinstance(episode_seed, bytes):
            return _sealed_seed(episode_seed, f'["coverage", "{db}"]')
        return _stable_seed(episode_seed, "coverage", db)
    return zlib.crc32(f'[{episode_seed}, "coverage", "{db}"]'.encode())


def _query_seed(episode_seed: int | bytes, action_type: ActionType, params: dict, params_json: Optional[str]) -> int:
    """``_stable_seed(episode_seed, action_type.value, params)``, reusing the parameters' JSON when the
    caller has it (the rule engine's redundancy key is that text): the same bytes, one encoding less.
    A sealed episode's noise key (bytes) seeds through ``_sealed_seed`` instead."""
    if isinstance(episode_seed, bytes):
        text = params_json if params_json is not None else json.dumps(params, sort_keys=True, default=str)
        return _sealed_seed(episode_seed, f'["{action_type.value}", {text}]')
    if params_json is None or type(episode_seed) is not int:
        return _stable_seed(episode_seed, action_type.value, params)
    # json.dumps of [int, str, dict] is "[" + the items joined by ", " + "]"; action values are plain ASCII names.
    return zlib.crc32(f'[{episode_seed}, "{action_type.value}", {params_json}]'.encode())


class _Draw:
    """Noise helpers bound to one query's RNG and the episode's data quality."""

    def __init__(self, rng: np.random.Generator, quality: DataQualityState, scale: float = 1.0):
        self.rng, self.q, self.scale = rng, quality, scale

    @property
    def sd(self) -> float:
        return self.q.noise_level * self.scale

    def lognormal(self, value: float) -> float:
        """Positive quantity (TPM, nM, fold): multiplicative noise."""
        return float(value * np.exp(normal(self.rng, self.sd)))

    def lognormals(self, values: list[float]) -> list[float]:
        """``[lognormal(v) for v in values]`` in one draw: the same normals in the same order and the
        same products (a size-n draw is n scalar draws; ``np.exp`` is elementwise), a third of the time
        for a tissue panel."""
        return (np.array(values) * np.exp(self.rng.normal(0.0, self.sd, size=len(values)))).tolist()

    def score(self, value: float, lo: float = 0.0, hi: float = 1.0) -> float:
        """Bounded score: additive noise, clipped."""
        return _clip(value + normal(self.rng, self.sd * (hi - lo) * 0.5), lo, hi)

    def shift(self, value: float, unit_sd: float) -> float:
        """Unbounded readout with noise SD ``unit_sd`` at noise_level 1."""
        return float(value + normal(self.rng, self.sd * unit_sd))

    def flag(self, truth: bool) -> bool:
        """Categorical flag through false-positive / false-negative rates."""
        if truth:
            return bool(self.rng.random() >= self.q.false_negative_rate)
        return bool(self.rng.random() < self.q.false_positive_rate)

    def subset(self, items: tuple[str, ...], rate_scale: float = 1.0) -> list[str]:
        return [x for x in items if self.rng.random() >= self.q.false_negative_rate * rate_scale]


def _clip(x: float, lo: float, hi: float) -> float:
    """``np.clip`` for one float (same value; numpy's call overhead is ~20x a comparison)."""
    return float(min(max(x, lo), hi))


@lru_cache(maxsize=65536)
def _coverage_draw(episode_seed: int | bytes, db: str) -> float:
    """The uniform draw that decides whether ``db`` holds data in this episode (cached: it is fixed per episode)."""
    return float(seeded_generator(_coverage_seed(episode_seed, db)).random())


def _r(x: float, nd: int = 2) -> float:
    return float(round(x, nd))


def _level(tpm: float) -> str:
    return "off" if tpm < 1 else "low" if tpm < 10 else "moderate" if tpm < 100 else "high"


def generate(profile: TargetProfile, quality: DataQualityState, action: DrugTargetAction, episode_seed: int | bytes,
             params_json: Optional[str] = None) -> IntermediateOutput:
    """Simulate the readout of one evidence action (meta and terminal actions are handled by the environment).

    ``episode_seed`` keys the noise (``FullLatentState.noise_key``): the world seed, whose CRC-32 with the
    query seeds it, or a sealed episode's secret key (bytes), whose keyed BLAKE2b does. A CRC-32 would
    leave a sealed episode's noise one 32-bit search away (``environment.sealed_noise_key``).

    ``params_json``: ``json.dumps(action.parameters, sort_keys=True)`` if the caller has it (the
    second half of ``action.key()``); it only saves encoding the parameters again.
    """
    if type(episode_seed) is not int and not isinstance(episode_seed, bytes):
        # A numpy integer keys as the int it is: the coverage cache below is keyed by value, so two spellings of
        # one seed drawing apart would make a draw depend on which came first.
        episode_seed = operator.index(episode_seed)
    spec = ACTION_TABLE[action.action_type]
    params = action.parameters
    dimension = spec.dimension.value if spec.dimension else None
    db = _DB_OF.get(action.action_type, _no_db)(params)
    if db is not None:
        coverage = quality.database_coverage.get(db, 1.0)
        # Coverage is a property of (episode, database): the same database always has or lacks data.
        if _coverage_draw(episode_seed, db) >= coverage:
            return trusted(  # built here from typed values: nothing to validate
                IntermediateOutput, action_type=action.action_type, dimension=dimension, status="no_data",
                summary=f"{db} holds no data for {profile.gene} in {profile.indication}.", data={"database": db},
                cost=spec.cost)
    measured = measurement_parameters(action.action_type, params, profile)
    if measured is not params:  # the key's JSON is the canonical parameters' only when nothing was replaced
        params_json = None
    rng = seeded_generator(_query_seed(episode_seed, action.action_type, measured, params_json))
    source = db or params.get("panel") or params.get("method") or params.get("model")
    scale = _DB_NOISE.get(str(source), 1.0)
    d = _Draw(rng, quality, scale)
    summary, data = _GENERATORS[action.action_type](profile, d, params)
    if db is not None:
        data = {"database": db, **data}
    return trusted(IntermediateOutput, action_type=action.action_type, dimension=dimension, status="ok",
                   summary=summary, data=data, cost=spec.cost)


def _no_db(params: dict) -> None:
    return None


RECENT_FROM = 2013
"""``literature_search(since_year=...)`` from this year on finds recent inhibitor reports reliably."""


def names_marker(named: Optional[str], marker: str) -> bool:
    """Whether ``patient_stratification(biomarker=named)`` names the target's stratification biomarker:
    every word of ``named`` (letters and digits, case-blind; at least 3 characters in all) is a word
    of ``marker``. ("KRAS G12C" and "g12c" name "KRAS G12C"; "a", " " and "G12" do not.)"""
    if not named:
        return False
    words = re.findall(r"[a-z0-9]+", named.lower())
    return sum(map(len, words)) >= 3 and set(words) <= set(re.findall(r"[a-z0-9]+", marker.lower()))


# Parameters that filter or annotate a readout without making it a new measurement, and the value
# each takes in the query's noise key (None: its default). A new draw per value (each question to the
# expert panel, each min_score, each year) once let an agent average a readout's noise away for a
# credit a query. Every parameter of an evidence action that is not a choice of source (a Literal or
# a bool) is here (tests/simulator/test_integrity.py checks it).
_MEASURED_AS: dict[ActionType, dict[str, Optional[Callable[[Any, TargetProfile], Any]]]] = {
    ActionType.COEXPRESSION_NETWORK: {"min_score": None},  # a threshold on the same network
    ActionType.PROTEIN_INTERACTION_NETWORK: {"min_score": None},
    ActionType.CLINICAL_TRIAL_LOOKUP: {"min_phase": None},  # named in the summary only
    ActionType.LITERATURE_SEARCH: {"query": None,  # free text
                                   "since_year": lambda v, p: RECENT_FROM if v is not None and v >= RECENT_FROM else None},
    ActionType.PATIENT_STRATIFICATION: {  # naming the biomarker is a sharper assay; any other name, the default one
        # Without a profile (``public_measurement``), every name is the default one.
        "biomarker": lambda v, p: p.stratification_biomarker if p is not None and names_marker(v, p.stratification_biomarker) else None},
    ActionType.BIOMARKER_CORRELATION: {"biomarker": None},  # not read by the readout
    ActionType.REQUEST_EXPERT_REVIEW: {"question": None},  # free text
}
_DEFAULTS = {at: {name: ACTION_TABLE[at].params.model_fields[name].default for name in names}
             for at, names in _MEASURED_AS.items()}


def measurement_parameters(action_type: ActionType, params: dict, profile: Optional[TargetProfile]) -> dict:
    """The parameters a query's noise is keyed on: ``params`` itself (the same object) when none of them
    only filters or annotates the readout, else a copy with those in their measured form (``profile`` None: as
    an agent can tell it, ``public_measurement``)."""
    as_measured = _MEASURED_AS.get(action_type)
    if as_measured is None:
        return params
    defaults = _DEFAULTS[action_type]
    measured = {k: v if k not in as_measured else defaults[k] if as_measured[k] is None else as_measured[k](v, profile)
                for k, v in params.items()}
    same = all(measured[k] is v or (type(measured[k]) is type(v) and measured[k] == v) for k, v in params.items())
    return params if same else measured


def public_measurement(action_type: ActionType, params: dict) -> tuple[str, str]:
    """What a query measures as an agent can tell it from the query alone: the action and its parameters in
    their measured form (``measurement_parameters``) without the hidden profile, which alone tells whether a
    stratification names the target's own biomarker (a sharper assay): here every name is the default one.
    The reward's coherence terms count a measurement once by it (``transitions.apply``)."""
    return action_type.value, parameters_key(measurement_parameters(action_type, params, None))


# --- one generator per action: (profile, draw, params) -> (summary, data) --------------------------


def _query_expression(p: TargetProfile, d: _Draw, params: dict):
    dbname = params["database"]
    tpm = p.normal_expression_tpm
    normal = dict(zip(tpm, [round(x, 1) for x in d.lognormals(list(tpm.values()))]))
    max_vital = max((normal.get(t, 0.0) for t in VITAL_TISSUES), default=0.0)
    if dbname in ("GTEx", "HPA"):
        if dbname == "HPA":
            data = {"normal_level_by_tissue": {t: _level(v) for t, v in normal.items()}}
        else:
            data = {"normal_tpm_by_tissue": normal, "max_vital_tissue_tpm": _r(max_vital, 1)}
        return (f"{p.gene} normal-tissue expression ({dbname}): highest vital tissue "
                f"{_level(max_vital)}; {dbname} holds no tumour samples."), data
    tumor = d.lognormal(p.tumor_expression_tpm)
    if dbname == "CCLE":
        return f"{p.gene} in {p.indication} cell lines: {tumor:.0f} TPM ({_level(tumor)}).", {"cell_line_tpm": _r(tumor, 1)}
    log2fc = d.shift(p.disease_overexpression_log2fc, 1.5)
    altered = d.score(p.alteration_frequency)  # TCGA carries mutation / copy-number calls too
    return (f"{p.gene} in {p.indication} tumours: {tumor:.0f} TPM ({_level(tumor)}), "
            f"log2FC vs matched normal {log2fc:+.1f}; altered in {altered:.0%} of tumours."), {
        "tumor_tpm": _r(tumor, 1), "log2fc_tumor_vs_normal": _r(log2fc), "alteration_frequency": _r(altered),
        "max_vital_tissue_tpm": _r(max_vital, 1)}


def _differential_expression(p: TargetProfile, d: _Draw, params: dict):
    if params["comparison"] == "tumor_vs_normal":
        fc = d.shift(p.disease_overexpression_log2fc, 1.2)
        return f"Tumour vs normal log2FC {fc:+.2f} for {p.gene}.", {"log2fc": _r(fc)}
    freq = d.score(p.alteration_frequency)
    fc = d.shift(p.disease_overexpression_log2fc * 0.5 + 0.5, 1.2)
    return (f"{p.gene} altered in {freq:.0%} of {p.indication} patients; altered vs unaltered log2FC {fc:+.2f}."), {
        "alteration_frequency": _r(freq), "log2fc_altered_vs_unaltered": _r(fc)}


def _pathway(p: TargetProfile, d: _Draw, params: dict):
    rel = d.score(p.pathway_relevance)
    nes = 1.0 + 2.0 * rel
    fdr = float(10 ** (-4 * rel))
    return (f"{p.gene}'s pathways enriched in {p.indication}: NES {nes:.2f}, FDR {fdr:.1e}."), {
        "normalized_enrichment_score": _r(nes), "fdr": float(f"{fdr:.2e}"), "disease_relevance": _r(rel)}


def _network(p: TargetProfile, d: _Draw, params: dict):
    rel = d.score(p.pathway_relevance)
    n = int(max(1, round(d.lognormal(20 + 60 * rel) * (1.0 - 0.5 * params.get("min_score", 0.7)))))
    return f"{n} partners above score {params.get('min_score', 0.7)}; disease-module overlap {rel:.2f}.", {
        "n_partners": n, "disease_module_overlap": _r(rel)}


def _structure(p: TargetProfile, d: _Draw, params: dict):
    if params["source"] == "AlphaFold":
        plddt = d.score(50 + 45 * p.binding_pocket_quality, 0, 100)
        return f"AlphaFold model of {p.gene}: mean pLDDT {plddt:.0f}.", {"mean_plddt": _r(plddt, 1)}
    n = int(round(d.lognormal(p.structure_count))) if p.structure_count else 0
    res = d.score(1.5 + 2.0 * (1 - p.binding_pocket_quality), 1.0, 4.0)
    return f"{n} PDB structures of {p.gene}; best resolution {res:.1f} Å.", {"n_structures": n, "best_resolution_angstrom": _r(res)}


def _binding_site(p: TargetProfile, d: _Draw, params: dict):
    ortho = d.score(p.druggability_score)
    data: dict[str, Any] = {"orthosteric_pocket_score": _r(ortho), "allosteric_searched": params["include_allosteric"]}
    best = ortho
    text = f"Orthosteric pocket druggability {ortho:.2f}"
    if params["include_allosteric"]:
        allo = d.score(p.allosteric_pocket_score) if p.allosteric_pocket_score > 0 else d.score(0.05)
        data["allosteric_pocket_score"] = _r(allo)
        best = max(best, allo)
        text += f"; best allosteric/cryptic pocket {allo:.2f}"
    else:
        text += "; allosteric sites not searched"
    data["best_pocket_score"] = _r(best)
    return text + ".", data


def _druggability(p: TargetProfile, d: _Draw, params: dict):
    mod = params["modality"]
    sm = d.score(p.druggability_score)
    ab = d.score(0.9 if p.antibody_accessible else 0.05)
    score = sm if mod == "small_molecule" else ab if mod == "antibody" else max(sm, ab)
    pchembl = 4.0 + 5.0 * sm
    return (f"{mod.replace('_', ' ')} druggability of {p.gene}: {score:.2f} "
            f"({'tractable' if score >= POCKET_MIN else 'poor'}); best ligand pChEMBL {pchembl:.1f}."), {
        "modality": mod, "druggability_score": _r(score), "best_pchembl": _r(pchembl, 1)}


def _clinical(p: TargetProfile, d: _Draw, params: dict):
    notes = [n for n in p.clinical_notes if d.rng.random() >= d.q.false_negative_rate]
    n_trials = int(round(d.lognormal({"approved": 60, "late_clinical": 20, "early_clinical": 6, "failed": 12, "none": 0.5}[p.clinical_precedent])))
    return (f"Clinical precedent for {p.gene} in {p.indication}: {p.clinical_precedent.replace('_', ' ')}; "
            f"{n_trials} trials (phase >= {params['min_phase']})."), {
        "clinical_precedent": p.clinical_precedent, "n_trials": n_trials, "notes": notes}


def _toxicity(p: TargetProfile, d: _Draw, params: dict):
    tissues = VITAL_TISSUES + (OTHER_TISSUES if params["panel"] == "full" else ())
    tpm = p.normal_expression_tpm
    expr = dict(zip(tissues, [round(x, 1) for x in d.lognormals([tpm.get(t, 0.5) for t in tissues])]))
    risk = d.score(p.toxicity_risk)
    findings = d.subset(p.toxicity_profile)
    ko_flag = d.flag(p.toxicity_risk >= TOXICITY_MAX)
    return (f"On-target toxicity risk {risk:.2f}; "
            f"{'adverse knockout phenotype; ' if ko_flag else ''}findings: {', '.join(findings) or 'none'}."), {
        "toxicity_risk": _r(risk), "tissue_tpm": expr, "adverse_knockout_phenotype": ko_flag, "findings": findings}


def _off_target(p: TargetProfile, d: _Draw, params: dict):
    ratio = d.lognormal(p.selectivity_ratio)
    hits = d.subset(p.off_target_genes)
    return f"Selectivity {ratio:.0f}x over nearest off-target; hits: {', '.join(hits) or 'none'}.", {
        "panel": params["panel"], "selectivity_ratio": _r(ratio, 1), "off_target_hits": hits}


def _stratification(p: TargetProfile, d: _Draw, params: dict):
    matches = names_marker(params.get("biomarker"), p.stratification_biomarker)
    d2 = _Draw(d.rng, d.q, d.scale * (0.5 if matches else 1.0))
    frac = d2.score(p.responder_fraction)
    marker = p.stratification_biomarker or "main alteration"
    return f"{frac:.0%} of {p.indication} patients carry a responsive biomarker ({marker}).", {
        "responder_fraction": _r(frac), "biomarker": marker}


def _literature(p: TargetProfile, d: _Draw, params: dict):
    papers = int(round(d.lognormal(p.literature_volume)))
    support = d.score(p.literature_support)
    recent_only = params.get("since_year") is not None and params["since_year"] >= RECENT_FROM
    # Older literature swamps recent inhibitor reports unless the search is restricted to recent years.
    miss = d.q.false_negative_rate if recent_only else min(0.5, 3 * d.q.false_negative_rate + 0.1)
    recent = p.recent_inhibitor_evidence and d.rng.random() >= miss or (
        not p.recent_inhibitor_evidence and d.rng.random() < d.q.false_positive_rate)
    return (f"{papers} papers on {p.gene} in {p.indication}; {support:.0%} supportive; "
            f"{'recent clinical-grade inhibitors reported' if recent else 'no recent clinical-grade inhibitors found'}."), {
        "paper_count": papers, "support_fraction": _r(support), "recent_inhibitors_reported": bool(recent)}


def _synthesis(p: TargetProfile, d: _Draw, params: dict):
    c = d.score(p.literature_support)
    return f"Evidence consistency {c:.2f} across reviewed studies.", {"consistency": _r(c)}


def _competitors(p: TargetProfile, d: _Draw, params: dict):
    n = int(round(d.lognormal(p.competitor_programs + 0.3)))
    return f"{n} competing programmes at phase 2+{' (crowded field)' if n >= 5 else ''}.", {"programs_phase2_plus": n}


def _crispr(p: TargetProfile, d: _Draw, params: dict):
    factor = {"altered": 1.0, "unaltered": 0.15, "panel": 0.4 + 0.6 * p.alteration_frequency}[params["cell_lines"]]
    chronos = d.shift(p.dependency_score * factor, 0.8)
    return f"Chronos gene effect {chronos:+.2f} in {params['cell_lines']} lines ({'dependent' if chronos <= DEPENDENCY_MAX else 'not dependent'}).", {
        "cell_lines": params["cell_lines"], "chronos_score": _r(chronos)}


def _biomarker(p: TargetProfile, d: _Draw, params: dict):
    r = _clip(d.shift(p.biomarker_correlation, 0.6), -1, 1)
    return f"Biomarker-response correlation r = {r:+.2f}.", {"pearson_r": _r(r)}


def _in_vitro(p: TargetProfile, d: _Draw, params: dict):
    ic50 = d.lognormal(p.in_vitro_ic50_nm)
    if params["assay"] == "target_engagement":
        eng = 100.0 / (1.0 + ic50 / 100.0)
        return f"Target engagement {eng:.0f}% at 100 nM (IC50 ~{ic50:.0f} nM).", {"engagement_pct": _r(eng, 1), "ic50_nm": _r(ic50, 1)}
    return f"Tool compound IC50 {ic50:.0f} nM in {p.indication} lines ({'potent' if ic50 < 100 else 'weak'}).", {"ic50_nm": _r(ic50, 1)}


def _in_vivo(p: TargetProfile, d: _Draw, params: dict):
    tgi = d.shift(p.in_vivo_tgi_pct, 40)
    bwl = max(0.0, d.shift(3 + 20 * p.toxicity_risk, 10))
    return f"{params['model']}: tumour growth inhibition {tgi:.0f}%, body-weight loss {bwl:.0f}%.", {
        "tgi_pct": _r(tgi, 1), "body_weight_loss_pct": _r(bwl, 1)}


def _expert(p: TargetProfile, d: _Draw, params: dict):
    v = _clip(p.true_viability_score + normal(d.rng, 0.1 + 0.5 * d.q.noise_level), 0, 1)
    return f"Expert panel viability estimate {v:.2f} ({'leaning go' if v >= 0.5 else 'leaning no-go'}).", {"viability_estimate": _r(v)}


READOUTS: dict[str, str] = {
    "database": "the database queried (a query it holds no data for reads only this key, status no_data)",
    "tumor_tpm": "tumour expression, TPM",
    "log2fc_tumor_vs_normal": "tumour vs matched normal expression, log2 fold change",
    "alteration_frequency": "fraction of the indication's patients with the target altered (0-1)",
    "max_vital_tissue_tpm": f"highest normal expression in a vital tissue ({', '.join(VITAL_TISSUES)}), TPM",
    "normal_tpm_by_tissue": "normal expression by tissue, TPM",
    "normal_level_by_tissue": "normal expression by tissue as levels: off (below 1 TPM), low, moderate, high (HPA's "
                              "not detected, low, medium, high)",
    "cell_line_tpm": "expression in the indication's cell lines, TPM",
    "log2fc": "tumour vs normal expression, log2 fold change",
    "log2fc_altered_vs_unaltered": "altered vs unaltered tumours' expression, log2 fold change",
    "normalized_enrichment_score": "pathway enrichment in the disease, NES (1 = none, 3 = strong)",
    "fdr": "the enrichment's false discovery rate",
    "disease_relevance": "how relevant the target's pathways are to the disease (0-1)",
    "n_partners": "interaction or co-expression partners above min_score",
    "disease_module_overlap": "overlap of those partners with the disease module (0-1)",
    "n_structures": "experimental (PDB) structures of the target",
    "best_resolution_angstrom": "best structure resolution, Å (lower is better)",
    "mean_plddt": "AlphaFold model confidence, mean pLDDT (0-100)",
    "orthosteric_pocket_score": f"druggability of the orthosteric pocket (0-1; druggable from {POCKET_MIN})",
    "allosteric_searched": "whether allosteric or cryptic sites were searched (include_allosteric)",
    "allosteric_pocket_score": "druggability of the best allosteric or cryptic pocket (0-1)",
    "best_pocket_score": f"the best pocket's druggability (0-1; the tractability gate's pocket route passes from {POCKET_MIN})",
    "modality": "the modality screened",
    "druggability_score": f"tractability for that modality (0-1; tractable from {POCKET_MIN})",
    "best_pchembl": "best known ligand's potency, pChEMBL (-log10 molar)",
    "clinical_precedent": "clinical history of drugs on the target: approved, late_clinical, early_clinical, failed or none",
    "n_trials": "trials at or above min_phase",
    "notes": "notable clinical findings (a note can be missed)",
    "toxicity_risk": f"on-target toxicity risk in vital tissues (0-1; the safety gate passes below {TOXICITY_MAX})",
    "tissue_tpm": "expression in the panel's tissues, TPM",
    "adverse_knockout_phenotype": "whether knockout animals show an adverse phenotype",
    "findings": "toxicity findings by organ (a finding can be missed)",
    "panel": "the off-target panel screened",
    "selectivity_ratio": f"fold selectivity over the nearest off-target (the selectivity gate passes from {SELECTIVITY_MIN:g})",
    "off_target_hits": "off-target genes hit (a hit can be missed)",
    "responder_fraction": "fraction of patients with a responsive biomarker (0-1; sharper when the right biomarker is named)",
    "biomarker": "the stratifying biomarker",
    "paper_count": "papers on the target in the indication",
    "support_fraction": "fraction of them that support the target (0-1)",
    "recent_inhibitors_reported": f"whether recent clinical-grade inhibitors are reported (a search with since_year {RECENT_FROM} or later finds them more often)",
    "consistency": "how consistent the literature is (0-1)",
    "programs_phase2_plus": "competing programmes at phase 2 or later",
    "cell_lines": "the cell lines knocked out",
    "chronos_score": f"gene effect, DepMap Chronos (0 = none, -1 = common-essential median; dependent at {DEPENDENCY_MAX} or below)",
    "pearson_r": "correlation between the biomarker and response (-1 to 1)",
    "ic50_nm": f"tool compound's cell IC50, nM (the translation gate passes at {IC50_MAX:g} or below)",
    "engagement_pct": "target engagement at 100 nM, %",
    "tgi_pct": f"in-vivo tumour growth inhibition, % (the translation gate passes from {TGI_MIN:g})",
    "body_weight_loss_pct": "in-vivo body-weight loss, % (a toxicity signal)",
    "viability_estimate": "an expert panel's estimate of the target's viability (0-1; 0.5 and up leans go)",
}
"""Every key a readout's ``data`` can hold, and what it means (units, range, the public gate that reads
it). ``docs/agents.md`` lists them by action; a test checks that the evidence generators write exactly
these keys (``tests/agents/test_reference.py``)."""


_GENERATORS: dict[ActionType, Callable[[TargetProfile, _Draw, dict], tuple[str, dict]]] = {
    ActionType.QUERY_EXPRESSION: _query_expression,
    ActionType.DIFFERENTIAL_EXPRESSION: _differential_expression,
    ActionType.PATHWAY_ENRICHMENT: _pathway,
    ActionType.COEXPRESSION_NETWORK: _network,
    ActionType.PROTEIN_STRUCTURE_LOOKUP: _structure,
    ActionType.BINDING_SITE_ANALYSIS: _binding_site,
    ActionType.DRUGGABILITY_SCREEN: _druggability,
    ActionType.PROTEIN_INTERACTION_NETWORK: _network,
    ActionType.CLINICAL_TRIAL_LOOKUP: _clinical,
    ActionType.TOXICITY_PANEL: _toxicity,
    ActionType.OFF_TARGET_SCREEN: _off_target,
    ActionType.PATIENT_STRATIFICATION: _stratification,
    ActionType.LITERATURE_SEARCH: _literature,
    ActionType.EVIDENCE_SYNTHESIS: _synthesis,
    ActionType.COMPETITOR_LANDSCAPE: _competitors,
    ActionType.CRISPR_KNOCKOUT: _crispr,
    ActionType.BIOMARKER_CORRELATION: _biomarker,
    ActionType.IN_VITRO_ASSAY: _in_vitro,
    ActionType.IN_VIVO_MODEL: _in_vivo,
    ActionType.REQUEST_EXPERT_REVIEW: _expert,
}
# An evidence action of the action table without a generator would be offered to agents (legal actions, the
# prompt, the TRL tools) and then fail every step that takes it: say so when the package is imported.
if set(_GENERATORS) != set(EVIDENCE_ACTIONS):
    raise RuntimeError(
        "drugenv/simulator/evidence.py: _GENERATORS must hold one readout generator per evidence action of "
        f"drugenv.actions.ACTION_TABLE; missing {sorted(a.value for a in set(EVIDENCE_ACTIONS) - set(_GENERATORS))}, "
        f"not evidence actions {sorted(a.value for a in set(_GENERATORS) - set(EVIDENCE_ACTIONS))} "
        "(a new action also needs its readout keys in READOUTS, and docs/agents.md regenerated: "
        "python -m drugenv.agents.reference --write docs/agents.md)")


__all__ = ["READOUTS", "RECENT_FROM", "generate", "measurement_parameters", "names_marker", "public_measurement"]
