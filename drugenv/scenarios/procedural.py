"""Procedural scenarios over real cancer targets, with counterfactual twins and seed splits.

The data (``scenarios/data/targets.json``, read through ``target_data``) holds public knowledge of
22 targets, 8 indications (+ CLL and GIST as alternates) and 52 (target, indication) pairs, each with
base values for the ``TargetProfile`` fields and its public verdict. See that file's ``_meta`` for
units and sources.

How a seed becomes a scenario (one ``np.random.default_rng(seed)``; child generators come from
``rng.spawn``, so the whole scenario is a pure function of ``(seed, difficulty, twin)``):

1. **Pair**: a target uniformly (so each target record is equally frequent: a gene with two records,
   KRAS's G12C and G12D, comes up about twice as often as the others), then one of its indications.
2. **Tier**: a uniform draw over easy / medium / hard when ``difficulty`` is None (``very_hard`` only
   on request). The draw is made either way, so ``generate_scenario(s)`` equals
   ``generate_scenario(s, its_tier)``.
3. **Perturbation** of the base values, with a tier-dependent spread (``SPREAD``).
4. **Hidden truth**: a fair coin sets the wanted decision. If ``gates.decide()`` on the perturbed values
   disagrees, a counterfactual edit makes it agree: a go becomes no_go by failing *one* gate (safety,
   selectivity, translation; linkage or tractability only where no drug is approved), a no_go becomes
   go by rescuing every failing gate (an allosteric pocket or a recent inhibitor for an undruggable
   target, a stronger dependency, a cleaner safety window, ...). So go / no_go is balanced for every
   gene and memorising gene names cannot win.
5. **Margins**: easy (and, less, medium) values are pushed away from the gate thresholds.
6. **Misleading signals** (up to: medium 1, hard 2, very_hard 3; fewer where a world offers fewer
   that keep both worlds' verdicts, set no field an earlier cue set and stay plausible in both: about 5%
   of hard worlds get 1, and about 37% of very_hard worlds 1 or 2):
   true readouts that point the wrong way when read alone (strong overexpression of an unsafe target,
   huge literature on an undruggable one, a weak cell assay for a target that works in vivo, ...).
   Each one leaves ``decide()`` unchanged, and one that moves a fact of public record (structures
   deposited, papers, patients altered) moves it at most threefold (``PLAUSIBLE_RAISE``): MYC, with 10
   deposited structures, never reads as having hundreds. They are drawn for the seed's two worlds (this one and its
   twin) at once, and each is applied to both: it misleads in one and reads the right way in the other
   (an *echo*), so that the cues a seed gets do not depend on its answer and no cue read alone tells
   the answer in reverse (``_add_misleading`` says why).
7. **Labels** from ``drugenv.simulator.gates.decide()`` (the public gates and their thresholds live
   there); ``key_evidence_dimensions`` are the dimensions of the gates that decide the answer
   (easy 2, medium 3, hard 4, very_hard 5).

**Counterfactual twins**: ``generate_scenario(seed, twin=True)`` (or ``twin_of``) draws the same pair,
tier and perturbation and flips the coin, so the twin has the same gene and indication and the
opposite decision. Twins are as likely to be go as their originals, so the ``-twin`` id suffix
carries no information about the answer.

**Splits**: train seeds are ``0 <= seed < TEST_SEED_OFFSET``, test seeds are ``TEST_SEED_OFFSET + i``.
They are disjoint by construction; ``split_of(seed)`` names the split. Both splits draw from the same
pairs (generalisation is over perturbations and hidden truths, not over unseen genes).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Literal, NamedTuple, TypeVar

import numpy as np

from drugenv.actions import ActionType, EvidenceDimension
from drugenv.errors import ConfigError
from drugenv.models import trusted, trusted_from
from drugenv.scenarios.base import Scenario
from drugenv.scenarios.target_data import base_fields, load_target_data, pair_record
from drugenv.simulator.gates import (
    ALTERATION_MIN,
    DEPENDENCY_MAX,
    IC50_MAX,
    LOG2FC_MIN,
    POCKET_MIN,
    SELECTIVITY_MIN,
    STRONG_POCKET,
    TGI_MIN,
    TOXICITY_MAX,
    decide,
    gate_results,
)
from drugenv.simulator.latent import VITAL_TISSUES, DataQualityState, MisleadingSignal, TargetProfile
from drugenv.simulator.params import DIFFICULTIES, SimParams
from drugenv.simulator.seeding import child_entropy, seeded_generator, spawned_child, uniform, validated_seed

TEST_SEED_OFFSET = 1_000_000
"""Seeds below this are train seeds; seeds from it on are test seeds."""
TRAINING_SEEDS_END = 500_000
"""Training draws train seeds below this. The train seeds from here to ``TEST_SEED_OFFSET`` are held
out of training for model selection, so selection never looks at the test split: SFT checkpoint
selection from ``SFT_SELECT_SEED_START``, GRPO checkpoint selection (validation) from
``VALIDATION_SEED_START``."""
SFT_SELECT_SEED_START = TRAINING_SEEDS_END
VALIDATION_SEED_START = 700_000
DEFAULT_TIERS = ("easy", "medium", "hard")
"""Tiers drawn when ``difficulty`` is None."""
SPREAD = {"easy": 0.05, "medium": 0.12, "hard": 0.2, "very_hard": 0.25}
"""Relative perturbation spread of base values, by tier."""
N_KEY_DIMS = {"easy": 2, "medium": 3, "hard": 4, "very_hard": 5}
N_MISLEADING = {"easy": 0, "medium": 1, "hard": 2, "very_hard": 3}
MARGIN = {"easy": 1.0, "medium": 0.5, "hard": 0.0, "very_hard": 0.0}
"""How far values are pushed from gate thresholds (1 = full margins below)."""
COVERAGE_TIER = {"easy": 1.0, "medium": 0.97, "hard": 0.92, "very_hard": 0.88}
BASE_COVERAGE = {
    "GTEx": 0.98, "HPA": 0.95, "TCGA": 0.95, "CCLE": 0.9, "Reactome": 0.9, "KEGG": 0.85, "GO": 0.95,
    "STRING": 0.92, "BioGRID": 0.85, "PDB": 0.95, "AlphaFold": 0.99, "ClinicalTrials.gov": 0.95,
    "PubMed": 0.99, "DepMap": 0.9, "ChEMBL": 0.9,
}
"""Chance a database holds data for a well-studied target (lowered for rarely studied ones)."""
_CURATED_DBS = ("Reactome", "KEGG", "GO", "STRING", "BioGRID", "PubMed")
_DBS_BY_NAME = tuple(sorted(BASE_COVERAGE))
"""The databases of a scenario's coverage (always ``BASE_COVERAGE``'s), in the order of their noise draws."""

GATES = ("tractable", "safe", "linkage", "selective", "translates")
"""The gates of ``drugenv.simulator.gates.GATE_NAMES``, in priority order for a no_go's key dimensions."""

_D = EvidenceDimension
_FAIL_DIMS = {
    "tractable": (_D.DRUGGABILITY, _D.STRUCTURE),
    "safe": (_D.TOXICITY, _D.EXPRESSION),
    "linkage": (_D.DEPENDENCY, _D.EXPRESSION),
    "selective": (_D.OFF_TARGET, _D.IN_VITRO),
    "translates": (_D.IN_VITRO, _D.IN_VIVO),
}
_VITAL_TOX = {
    "heart": "cardiotoxicity: troponin rise at efficacious exposure (heart)",
    "liver": "grade >=3 transaminase rise (liver)",
    "marrow": "grade >=3 cytopenias (marrow)",
    "brain": "neurotoxicity (brain)",
}
_VITAL_RE = re.compile(r"\((heart|liver|marrow|brain)\b")
_FAILURE_RE = re.compile(r"fail|withdrawn|CRL|hold|negative|stopped|excess deaths", re.IGNORECASE)
_ID_RE = re.compile(r"^proc-(\d+)-([a-z_]+)(-twin)?$")


@lru_cache(maxsize=1)
def _pairs_by_target() -> dict[str, list[dict]]:
    """Pairs of each target (cached: the data never changes; do not mutate)."""
    data = load_target_data()
    out: dict[str, list[dict]] = {key: [] for key in data["targets"]}
    for pair in data["pairs"]:
        out[pair["target"]].append(pair)
    return out


@lru_cache(maxsize=1)
def _sorted_targets() -> tuple[str, ...]:
    return tuple(sorted(_pairs_by_target()))


_HEAD_FIELDS = ("gene", "indication", "disease_context", "target_class")
_VERDICT_FIELDS = ("correct_decision", "true_viability_score", "key_evidence_dimensions", "misleading_signals",
                   "required_parameters")
_MEASURED_FIELDS = tuple(k for k in TargetProfile.model_fields if k not in _HEAD_FIELDS + _VERDICT_FIELDS)
"""The ``TargetProfile`` fields a pair's base values set (and the generator perturbs), in declaration order."""
_TUPLE_FIELDS = ("off_target_genes", "toxicity_profile", "clinical_notes")
"""Measured fields the profile declares as tuples (the template holds tuples; the generator may replace them with lists)."""
assert _HEAD_FIELDS + _MEASURED_FIELDS + _VERDICT_FIELDS == tuple(TargetProfile.model_fields)


class _Template(NamedTuple):
    """What every scenario of one pair starts from, computed once per pair (cached data: do not mutate)."""

    fields: dict
    """``base_fields`` of the pair (``_copy_fields`` it)."""
    tissues: tuple[str, ...]
    """The tissues of ``normal_expression_tpm``, sorted: the order of their perturbation draws."""
    head: dict
    """``gene``, ``indication``, ``disease_context``, ``target_class`` of the profile."""
    indication: dict
    """The indication's record in ``targets.json``."""


@lru_cache(maxsize=None)
def _template(pair_id: str) -> _Template:
    pair = pair_record(pair_id)
    f = base_fields(pair)
    # _profile passes exactly these fields on (validation would refuse a missing or extra one), and
    # _copy_fields copies the one dict among them.
    if set(f) != set(_MEASURED_FIELDS):
        raise ValueError(f"pair {pair_id!r}: base fields {sorted(set(f) ^ set(_MEASURED_FIELDS))} differ from TargetProfile's")
    if [k for k, v in f.items() if isinstance(v, dict)] != ["normal_expression_tpm"]:
        raise ValueError(f"pair {pair_id!r}: normal_expression_tpm must be the one mapping among the base fields")
    for k in _TUPLE_FIELDS:  # shared by every copy (_copy_fields): a tuple refuses an edit in place
        f[k] = tuple(f[k])
    data = load_target_data()
    target = data["targets"][pair["target"]]
    head = {"gene": target["gene"], "indication": pair["indication"], "disease_context": pair["disease_context"],
            "target_class": target["target_class"]}
    return _Template(f, tuple(sorted(f["normal_expression_tpm"])), head, data["indications"][pair["indication"]])


def _copy_fields(f: dict) -> dict:
    """A copy of TargetProfile field values that the generator may change as ``json_copy``'s deep copy
    would allow: the values are scalars, sequences of strings and one dict (tissue -> TPM). The dict is
    changed in place, so it is copied; the sequences are only ever replaced (``f[key] = [...]``), so the
    copy shares them (the template's are tuples: an edit in place would raise, not reach every scenario)."""
    out = dict(f)
    out["normal_expression_tpm"] = dict(f["normal_expression_tpm"])
    return out


# ----------------------------------------------------------------------------------------- splits


def procedural_train_seeds(n: int, start: int = 0) -> list[int]:
    """``n`` train seeds from ``start`` (all below ``TEST_SEED_OFFSET``)."""
    if start < 0 or n < 0 or start + n > TEST_SEED_OFFSET:
        raise ConfigError(f"train seeds must lie in [0, {TEST_SEED_OFFSET}); got start={start}, n={n}, which run to "
                          f"{start + n - 1} (test seeds start at {TEST_SEED_OFFSET}: the procedural-test suite).")
    return list(range(start, start + n))


def procedural_test_seeds(n: int, start: int = 0) -> list[int]:
    """``n`` test seeds: ``TEST_SEED_OFFSET + start + i``."""
    if start < 0 or n < 0:
        raise ConfigError(f"start and n must be >= 0; got start={start}, n={n}.")
    return [TEST_SEED_OFFSET + start + i for i in range(n)]


def split_of(seed: int) -> Literal["train", "test"]:
    """Which split a seed belongs to (a seed is ``validated_seed``'s: 1.5 was "train", 2**64 a world no
    episode could reset to, "3" a TypeError)."""
    seed = validated_seed(seed, "procedural seed")  # True would be seed 1 (and a scenario id "proc-True-...")
    return "train" if seed < TEST_SEED_OFFSET else "test"


# ------------------------------------------------------------------------------------------ gates


def _failing(f: dict) -> list[str]:
    """The failing gates of ``f``, in ``GATES`` priority order."""
    g = gate_results(f)
    return [name for name in GATES if not g[name]]


def _clip(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    """``float(min(hi, max(lo, x)))`` spelled as the builtins decide it (``max`` keeps ``lo`` unless
    ``x > lo``, ``min`` keeps ``hi`` unless the value is below it): the same value, without two
    builtin calls (~80 ns each; a scenario clips ~20 values)."""
    x = x if x > lo else lo
    return float(x if x < hi else hi)


_EXP_KEYS = ("tumor_expression_tpm", "selectivity_ratio", "in_vitro_ic50_nm")
_SCORE_KEYS = ("druggability_score", "binding_pocket_quality", "tissue_specificity", "toxicity_risk",
               "pathway_relevance", "literature_support", "responder_fraction")


@lru_cache(maxsize=None)
def _exp_scales(s: float, n: int) -> np.ndarray:
    """The scales of ``_perturb``'s ``n + 6`` multiplicative draws: ``2 * s`` for the ``n`` tissues and
    the ``_EXP_KEYS``, ``s`` for literature, structures and alteration."""
    two_s = 2 * s
    scales = np.array([two_s] * (n + 3) + [s] * 3)
    scales.flags.writeable = False  # shared by every call
    return scales


def _perturb(f: dict, s: float, rng: np.random.Generator, tissues: tuple[str, ...]) -> None:
    """Perturb in place; always draws the same number of normals (keeps twins aligned). ``tissues``
    are ``f["normal_expression_tpm"]``'s keys, sorted.

    The multiplicative factors ``exp(c·z)`` take one ``np.exp`` over ``z * scales`` (elementwise the
    same IEEE products and the same values as one call per draw), and the other draws are Python
    floats: numpy scalar arithmetic cost ~1 µs per operation and gives the same IEEE results.
    """
    draws = rng.standard_normal(32)
    z = draws.tolist()
    tissue_tpm = f["normal_expression_tpm"]
    n = len(tissues)
    # Draw order: one per tissue (2s), the _EXP_KEYS (2s), literature, structures, alteration (s).
    factors = np.exp(draws[:n + 6] * _exp_scales(s, n)).tolist()
    for i, tissue in enumerate(tissues):
        tissue_tpm[tissue] = round(tissue_tpm[tissue] * factors[i], 2)
    for i, key in enumerate(_EXP_KEYS):
        f[key] = f[key] * factors[n + i]
    # round() of a float is already an int.
    f["literature_volume"] = round(f["literature_volume"] * factors[n + 3])
    f["structure_count"] = round(f["structure_count"] * factors[n + 4])
    f["alteration_frequency"] = _clip(f["alteration_frequency"] * factors[n + 5])
    i = n + 6
    for key in _SCORE_KEYS:
        f[key] = _clip(f[key] + 0.5 * s * z[i])
        i += 1
    allo = z[i]
    if f["allosteric_pocket_score"] > 0:
        f["allosteric_pocket_score"] = _clip(f["allosteric_pocket_score"] + 0.5 * s * allo)
    f["biomarker_correlation"] = _clip(f["biomarker_correlation"] + 0.5 * s * z[i + 1], -1.0, 1.0)
    f["dependency_score"] += s * z[i + 2]
    f["disease_overexpression_log2fc"] += 2 * s * z[i + 3]
    f["in_vivo_tgi_pct"] += 40 * s * z[i + 4]


def _break(f: dict, gate: str, rng: np.random.Generator) -> None:
    """Make one passing gate fail (go -> no_go counterfactual)."""
    if gate == "safe":
        f["toxicity_risk"] = uniform(rng, 0.68, 0.9)
        tissue = VITAL_TISSUES[int(rng.integers(len(VITAL_TISSUES)))]
        f["normal_expression_tpm"][tissue] = max(30.0, 3 * f["normal_expression_tpm"][tissue])
        f["toxicity_profile"] = [_VITAL_TOX[tissue], *f["toxicity_profile"]]
    elif gate == "selective":
        f["selectivity_ratio"] = uniform(rng, 1.5, 6.0)
    elif gate == "translates":
        f["in_vivo_tgi_pct"], f["in_vitro_ic50_nm"] = uniform(rng, 5, 30), uniform(rng, 600, 5000)
    elif gate == "linkage":
        f["dependency_score"] = uniform(rng, -0.3, 0.1)
        if f["alteration_frequency"] >= ALTERATION_MIN:
            f["disease_overexpression_log2fc"] = min(f["disease_overexpression_log2fc"], uniform(rng, 0.5, 1.5))
    elif gate == "tractable":
        f["druggability_score"] = min(f["druggability_score"], uniform(rng, 0.1, 0.35))
        f["allosteric_pocket_score"] = min(f["allosteric_pocket_score"], uniform(rng, 0.0, 0.35))
        f["recent_inhibitor_evidence"] = False
    else:
        raise ValueError(f"Unknown gate {gate!r}; valid: {GATES}.")


def _rescue(f: dict, gate: str, rng: np.random.Generator) -> None:
    """Make one failing gate pass (no_go -> go counterfactual)."""
    if gate == "tractable":
        if rng.random() < 0.5:  # a cryptic / allosteric pocket is found
            f["allosteric_pocket_score"] = uniform(rng, 0.62, 0.8)
            f["binding_pocket_quality"] = max(f["binding_pocket_quality"], 0.6)
        else:  # recent clinical-grade inhibitors are reported
            f["recent_inhibitor_evidence"] = True
            f["literature_support"] = max(f["literature_support"], 0.6)
    elif gate == "safe":
        f["toxicity_risk"] = uniform(rng, 0.15, 0.45)
        for tissue in VITAL_TISSUES:
            if f["normal_expression_tpm"][tissue] > 30:
                f["normal_expression_tpm"][tissue] = round(0.3 * f["normal_expression_tpm"][tissue], 2)
        # Only the target's own events that spare vital organs stay; a target with none (MCL1, MYC) lists
        # none. An event written only into rescued worlds would tell a go whatever the readouts say.
        f["toxicity_profile"] = [t for t in f["toxicity_profile"] if not _VITAL_RE.search(t)]
    elif gate == "linkage":
        f["dependency_score"] = uniform(rng, -1.2, -0.65)
    elif gate == "selective":
        f["selectivity_ratio"] = uniform(rng, 30, 150)
    elif gate == "translates":
        f["in_vivo_tgi_pct"], f["in_vitro_ic50_nm"] = uniform(rng, 55, 85), uniform(rng, 20, 250)
    else:
        raise ValueError(f"Unknown gate {gate!r}; valid: {GATES}.")


def _edit_to(f: dict, failing: list[str], rng: np.random.Generator) -> None:
    """Edit ``f`` (whose failing gates are ``failing``) to the other decision: a no_go becomes go by
    rescuing every failing gate, a go becomes no_go by failing one gate (linkage or tractability only
    where no drug is approved; tractability only without an antibody route or a strong pocket)."""
    if failing:
        for gate in failing:
            _rescue(f, gate, rng)
        return
    options = ["safe", "selective", "translates"]
    if f["clinical_precedent"] != "approved":
        options.append("linkage")
        if not f["antibody_accessible"] and f["druggability_score"] < STRONG_POCKET:
            options.append("tractable")
    _break(f, options[int(rng.integers(len(options)))], rng)


def _sharpen(f: dict, k: float) -> None:
    """Push values away from the gate thresholds by margin factor ``k`` without changing any gate."""
    if k <= 0:
        return
    g = gate_results(f)
    if g["tractable"]:
        if f["druggability_score"] >= POCKET_MIN:
            f["druggability_score"] = max(f["druggability_score"], POCKET_MIN + 0.12 * k)
        elif f["allosteric_pocket_score"] >= POCKET_MIN:
            f["allosteric_pocket_score"] = max(f["allosteric_pocket_score"], POCKET_MIN + 0.12 * k)
    else:
        f["druggability_score"] = min(f["druggability_score"], POCKET_MIN - 0.12 * k)
        f["allosteric_pocket_score"] = min(f["allosteric_pocket_score"], POCKET_MIN - 0.12 * k)
    tox = f["toxicity_risk"]
    f["toxicity_risk"] = min(tox, TOXICITY_MAX - 0.12 * k) if g["safe"] else max(tox, TOXICITY_MAX + 0.12 * k)
    if f["dependency_score"] <= DEPENDENCY_MAX:
        f["dependency_score"] = min(f["dependency_score"], DEPENDENCY_MAX - 0.2 * k)
    elif g["linkage"]:
        f["disease_overexpression_log2fc"] = max(f["disease_overexpression_log2fc"], LOG2FC_MIN + 0.4 * k)
    else:
        f["dependency_score"] = max(f["dependency_score"], DEPENDENCY_MAX + 0.2 * k)
    sel = f["selectivity_ratio"]
    f["selectivity_ratio"] = max(sel, SELECTIVITY_MIN * (1 + k)) if g["selective"] else min(sel, SELECTIVITY_MIN / (1 + k))
    if not g["translates"]:
        f["in_vivo_tgi_pct"] = min(f["in_vivo_tgi_pct"], TGI_MIN - 10 * k)
        f["in_vitro_ic50_nm"] = max(f["in_vitro_ic50_nm"], IC50_MAX * (1 + k))
    elif f["in_vitro_ic50_nm"] <= IC50_MAX:
        f["in_vitro_ic50_nm"] = min(f["in_vitro_ic50_nm"], IC50_MAX / (1 + k))
    else:
        f["in_vivo_tgi_pct"] = max(f["in_vivo_tgi_pct"], TGI_MIN + 15 * k)
    assert gate_results(f) == g, "sharpening must not change a gate"


# ------------------------------------------------------------------------------ misleading signals


def _tractability_route(f: dict) -> str:
    if f["druggability_score"] >= POCKET_MIN:
        return "orthosteric"
    if f["antibody_accessible"]:
        return "antibody"
    if f["allosteric_pocket_score"] >= POCKET_MIN:
        return "allosteric"
    if f["recent_inhibitor_evidence"]:
        return "inhibitor"
    return "none"


PLAUSIBLE_RAISE = 3.0
"""A cue moves a fact of public record (structures deposited, papers published, patients altered) at most
this many times up or down from what the world had: a target with 10 deposited structures (MYC) does not
gain 300, a pair altered in 5% of patients does not become altered in 60%, and a target with 14,000 papers
does not read "only ~60 papers", in either world of a pair. Measurements (an IC50, a Chronos score, a
tissue's TPM) are not capped: a tool compound or a cell model can differ from world to world."""

_Count = TypeVar("_Count", int, float)


def _raised(current: _Count, drawn: _Count, floor: _Count) -> _Count | None:
    """What a cue that raises a readout to ``drawn`` (at least ``floor``) sets it to: ``drawn`` capped at
    ``PLAUSIBLE_RAISE`` times ``current``, never below ``current``; None (the cue does not apply) where
    even that cap stays under ``floor``. Checked alike in both worlds of a pair: an echo is held to it too.
    ``drawn`` is a Python int for a count (``int(rng.integers(...))``), so the cap is one too."""
    cap = type(drawn)(current * PLAUSIBLE_RAISE)
    if cap < floor:
        return None
    return max(current, min(drawn, cap))


def _lowered(current: _Count, drawn: _Count, ceiling: _Count) -> _Count | None:
    """``_raised``'s mirror for a cue that cuts a readout to ``drawn`` (at most ``ceiling``): ``drawn``, but
    no lower than ``current / PLAUSIBLE_RAISE`` nor above ``current``; None where that bound is over ``ceiling``."""
    bound = current / PLAUSIBLE_RAISE
    if type(drawn) is int:
        bound = math.ceil(bound)  # a count rounded up: never cut more than threefold
    if bound > ceiling:
        return None
    return min(current, max(drawn, bound))


def _mislead_go(name: str, f: dict, rng: np.random.Generator, *, echo: bool = False
                ) -> tuple[EvidenceDimension, str] | None:
    """Readouts of a true go that point to no_go (mutates ``f``); None if not applicable.

    ``echo=True`` applies the readout to the pair's no_go world (where it reads the right way): a cue that
    only names a readout (no field changes) has nothing to apply there, and conditions that keep a
    description true of a go world are not checked (the caller checks that no gate moves)."""
    if name in _NAMING_CUES and echo:
        return None
    if name == "poor_orthosteric":
        routes = {"antibody": "an antibody-accessible epitope", "inhibitor": "recent clinical-grade inhibitors",
                  "allosteric": "an allosteric pocket"}
        route = next((r for r in ("allosteric", "inhibitor", "antibody") if
                      (r == "allosteric" and f["allosteric_pocket_score"] >= POCKET_MIN + 0.05)
                      or (r == "inhibitor" and f["recent_inhibitor_evidence"])
                      or (r == "antibody" and f["antibody_accessible"])), None)
        if route is None or f["druggability_score"] >= POCKET_MIN:  # only where the pocket really is poor
            return None
        return _D.DRUGGABILITY, (f"Orthosteric small-molecule druggability reads poor "
                                 f"({f['druggability_score']:.2f}); tractability comes from {routes[route]}.")
    if name == "weak_cell_assay":
        f["in_vivo_tgi_pct"] = max(f["in_vivo_tgi_pct"], uniform(rng, 55, 75))
        f["in_vitro_ic50_nm"] = uniform(rng, 1500, 8000)
        return _D.IN_VITRO, (f"Cell-viability IC50 is weak (~{f['in_vitro_ic50_nm'] / 1000:.1f} uM): the mechanism is "
                             f"not antiproliferative in a dish, yet in vivo TGI is {f['in_vivo_tgi_pct']:.0f}%.")
    if name == "sparse_literature":
        # At most a threefold cut, as huge_literature's raise: a famous target (over 15,000 papers) never
        # reads as sparse, and a less-studied one keeps a third of its papers or more.
        volume = _lowered(f["literature_volume"], int(rng.integers(60, 400)), 5_000)
        if volume is None:
            return None
        f["literature_volume"] = volume
        f["literature_support"] = uniform(rng, 0.25, 0.4)
        return _D.LITERATURE, f"Only ~{f['literature_volume']} papers with mixed support; popularity is not validity."
    if name == "vital_expression":
        tissue = VITAL_TISSUES[int(rng.integers(len(VITAL_TISSUES)))]
        f["normal_expression_tpm"][tissue] = round(uniform(rng, 60, 150), 1)
        return _D.EXPRESSION, (f"High normal expression in {tissue} ({f['normal_expression_tpm'][tissue]:.0f} TPM) "
                               "looks like a safety risk, but the on-target toxicity data show it is tolerated.")
    if name == "no_dependency":
        # Its description ("acts through its overexpression") stays true without declaring these two fields:
        # the cues that set them only raise them (overexpression to log2FC >= 2.8, frequent_alteration).
        if not echo and not (f["disease_overexpression_log2fc"] >= LOG2FC_MIN and f["alteration_frequency"] >= ALTERATION_MIN):
            return None
        f["dependency_score"] = uniform(rng, -0.25, 0.05)
        return _D.DEPENDENCY, ("CRISPR knockout shows little fitness effect; the target acts through its "
                               "overexpression (delivery / immune / differentiation), not cell-autonomous dependency.")
    if name == "failure_history":
        if f["clinical_precedent"] != "failed" and not any(_FAILURE_RE.search(n) for n in f["clinical_notes"]):
            return None
        return _D.CLINICAL, "Clinical history lists failures or withdrawals; they were molecule- or setting-specific."
    raise ValueError(f"Unknown misleading signal {name!r}.")


def _mislead_no_go(name: str, f: dict, failing: list[str], rng: np.random.Generator, *, echo: bool = False
                   ) -> tuple[EvidenceDimension, str] | None:
    """Readouts of a true no_go that point to go (mutates ``f``); None if not applicable.

    ``echo=True`` applies the readout to the pair's go world, as ``_mislead_go`` says."""
    if name in _NAMING_CUES and echo:
        return None
    why = ", ".join(failing)
    if name == "overexpression":
        if "linkage" in failing and f["alteration_frequency"] >= ALTERATION_MIN:  # it would rescue linkage
            return None
        f["disease_overexpression_log2fc"] = uniform(rng, 2.8, 4.0)
        f["tumor_expression_tpm"] *= uniform(rng, 3, 6)
        return _D.EXPRESSION, (f"Strong tumour overexpression (log2FC {f['disease_overexpression_log2fc']:.1f}) reads "
                               f"like validation, but expression is not dependency or a safety window (fails: {why}).")
    if name == "huge_literature":
        volume = _raised(f["literature_volume"], int(rng.integers(20_000, 120_000)), 20_000)
        if volume is None:
            return None
        f["literature_volume"] = volume
        f["literature_support"] = max(f["literature_support"], uniform(rng, 0.6, 0.8))
        return _D.LITERATURE, f"Very large, upbeat literature; popularity is not validation (fails: {why})."
    if name == "potent_cells":
        if "translates" in failing:
            return None
        f["in_vitro_ic50_nm"] = uniform(rng, 2, 40)
        return _D.IN_VITRO, (f"Potent killing of disease lines (IC50 {f['in_vitro_ic50_nm']:.0f} nM) says nothing "
                             f"about the failing gates ({why}).")
    if name == "strong_dependency":
        if "linkage" in failing or f["dependency_score"] > DEPENDENCY_MAX:  # only real dependencies (MCL1, MYC)
            return None
        f["dependency_score"] = min(f["dependency_score"], uniform(rng, -1.5, -0.9))
        return _D.DEPENDENCY, (f"Strong CRISPR dependency ({f['dependency_score']:.2f}); in vitro essentiality is not "
                               f"a safety window or tractability (fails: {why}).")
    if name == "many_structures":
        if "tractable" not in failing and not echo:
            return None
        count = _raised(f["structure_count"], int(rng.integers(150, 400)), 150)
        if count is None:
            return None
        f["structure_count"] = count
        f["binding_pocket_quality"] = max(f["binding_pocket_quality"], uniform(rng, 0.7, 0.9))
        return _D.STRUCTURE, (f"{f['structure_count']} high-quality structures; structures are not a druggable "
                              f"pocket (fails: {why}).")
    if name == "frequent_alteration":
        if not echo and ("linkage" not in failing or f["disease_overexpression_log2fc"] >= LOG2FC_MIN):
            return None
        altered = _raised(f["alteration_frequency"], uniform(rng, 0.4, 0.7), 0.4)
        if altered is None:
            return None
        f["alteration_frequency"] = altered
        return _D.EXPRESSION, (f"Altered in {100 * f['alteration_frequency']:.0f}% of patients, but alteration is not "
                               f"dependency (fails: {why}).")
    if name == "approved_precedent":
        if f["clinical_precedent"] != "approved":
            return None
        return _D.CLINICAL, f"Approved drugs exist on this target here; the precedent does not fix this program ({why})."
    raise ValueError(f"Unknown misleading signal {name!r}.")


_MISLEAD_GO = ("poor_orthosteric", "weak_cell_assay", "sparse_literature", "vital_expression", "no_dependency",
               "failure_history")
_MISLEAD_NO_GO = ("overexpression", "huge_literature", "potent_cells", "strong_dependency", "many_structures",
                  "frequent_alteration", "approved_precedent")


_NAMING_CUES = frozenset({"poor_orthosteric", "failure_history", "approved_precedent"})
"""Cues that name a readout the world already has (a poor orthosteric pocket, a failed trial, an approved
drug) and change no field: they mislead in their own world and have nothing to echo in the other."""


_CUE_FIELDS = {
    "poor_orthosteric": ("druggability_score",),
    "weak_cell_assay": ("in_vitro_ic50_nm", "in_vivo_tgi_pct"),
    "sparse_literature": ("literature_volume", "literature_support"),
    "vital_expression": ("normal_expression_tpm",),
    "no_dependency": ("dependency_score",),
    "failure_history": ("clinical_precedent", "clinical_notes"),
    "overexpression": ("disease_overexpression_log2fc", "tumor_expression_tpm"),
    "huge_literature": ("literature_volume", "literature_support"),
    "potent_cells": ("in_vitro_ic50_nm",),
    "strong_dependency": ("dependency_score",),
    "many_structures": ("structure_count", "binding_pocket_quality"),
    "frequent_alteration": ("alteration_frequency",),
    "approved_precedent": ("clinical_precedent",),
}
"""The fields each cue sets or names: a pair's cues share none, so a later cue never changes the readout an
earlier signal describes (``tests/scenarios/test_procedural.py`` checks that a cue changes no other)."""


def _try_cue(name: str, side: str, worlds: dict[str, dict], gates: dict[str, dict[str, bool]],
             failing: dict[str, list[str]], touched: set[str], rng: np.random.Generator) -> MisleadingSignal | None:
    """Apply cue ``name`` to both worlds of a pair (mutated) if it keeps every gate of each and sets no
    field another cue set: misleading in the ``side`` world, an echo in the other."""
    fields = _CUE_FIELDS[name]
    if not touched.isdisjoint(fields):
        return None
    other = "no_go" if side == "go" else "go"
    if side == "go":
        cue, args, echo_args = _mislead_go, (), ()
    else:
        cue, args, echo_args = _mislead_no_go, (failing[side],), (failing[other],)
    trial = _copy_fields(worlds[side])
    out = cue(name, trial, *args, rng)
    # decide() is "go" iff no gate fails, so the same gates also mean the same decision.
    if out is None or gate_results(trial) != gates[side]:
        return None
    if name not in _NAMING_CUES:
        echo = _copy_fields(worlds[other])
        echoed = cue(name, echo, *echo_args, rng, echo=True)  # its own draws, from the same distributions
        if echoed is None or gate_results(echo) != gates[other]:
            return None
        worlds[other].clear()
        worlds[other].update(echo)
    touched.update(fields)
    worlds[side].clear()
    worlds[side].update(trial)
    return trusted(MisleadingSignal, dimension=out[0], description=out[1])  # an enum and a str


def _add_misleading(go: dict, no_go: dict, n: int, rng: np.random.Generator
                    ) -> tuple[list[MisleadingSignal], list[MisleadingSignal]]:
    """Up to ``n`` misleading signals for each world of a counterfactual pair (mutated), and each
    signal echoed in the other world: ``(go's signals, no_go's signals)``.

    A pair is the seed's two worlds, the same perturbation with opposite decisions (``generate_scenario``'s
    ``twin``). Each cue, a weak cell assay say, is applied to both, each world with its own draws from the
    same distributions: in the go world it misleads (its description is that world's signal), in the
    no_go world it reads the right way (an *echo*; no description). Cues take turns, a go cue then a
    no_go cue, each the next in its own permutation that keeps every gate of both worlds, sets no
    field an earlier cue set and, where it moves a fact of public record, moves it at most threefold in
    both (``PLAUSIBLE_RAISE``).

    Why both worlds: misleading cues alone are one-sided. Only no_go worlds would get huge literature,
    potent cells and strong overexpression, and only go worlds a weak cell assay or sparse literature, so
    in the hard tiers each of those readouts predicted the answer *in reverse* (areas under the ROC curve
    of 0.68-0.83 against the naive reading, over 1,500 seeds per tier). An agent could learn "too good to
    be true means no_go" instead of reading the gates. The cues a seed gets do not depend on its coin, so
    a cue read alone says nothing about the answer beyond what the gates' own edits left in its readout
    (``tests/scenarios/test_procedural.py::test_no_surface_cue_predicts_in_reverse``). Since no cue sets a
    field another set, every signal's readout stays as its description says
    (``test_misleading_readouts_stay_as_described``).
    """
    worlds = {"go": go, "no_go": no_go}
    gates = {"go": gate_results(go), "no_go": gate_results(no_go)}
    failing = {"go": [], "no_go": _failing(no_go)}
    # Reversed, so that pop() takes the next; Python ints: numpy scalars index a tuple slower.
    go_queue = [_MISLEAD_GO[i] for i in reversed(rng.permutation(len(_MISLEAD_GO)).tolist())]
    no_go_queue = [_MISLEAD_NO_GO[i] for i in reversed(rng.permutation(len(_MISLEAD_NO_GO)).tolist())]
    go_signals: list[MisleadingSignal] = []
    no_go_signals: list[MisleadingSignal] = []
    touched: set[str] = set()
    turns = (("go", go_queue, go_signals), ("no_go", no_go_queue, no_go_signals))
    wanting = True
    while wanting:  # rounds of one signal a side, until neither side wants one and has a cue left
        wanting = False
        for side, queue, signals in turns:
            while queue and len(signals) < n:
                signal = _try_cue(queue.pop(), side, worlds, gates, failing, touched, rng)
                if signal is not None:
                    signals.append(signal)
                    break
            wanting = wanting or bool(queue and len(signals) < n)
    return go_signals, no_go_signals


# --------------------------------------------------------------------------------- key dimensions


def key_dimensions(f: dict, decision: str, n: int) -> tuple[EvidenceDimension, ...]:
    """The ``n`` dimensions whose gates decide the answer (see the module docstring)."""
    if decision == "no_go":
        failing = _failing(f)
        order = [_FAIL_DIMS[g][0] for g in failing] + [_FAIL_DIMS[g][1] for g in failing]
        if "safe" in failing and f["clinical_precedent"] == "failed":
            order.append(_D.CLINICAL)
        order += [_D.CLINICAL, _D.DEPENDENCY, _D.DRUGGABILITY, _D.TOXICITY, _D.OFF_TARGET, _D.EXPRESSION]
    else:
        linkage = _D.DEPENDENCY if f["dependency_score"] <= DEPENDENCY_MAX else _D.EXPRESSION
        tract = {"orthosteric": _D.DRUGGABILITY, "antibody": _D.DRUGGABILITY, "allosteric": _D.STRUCTURE,
                 "inhibitor": _D.LITERATURE}[_tractability_route(f)]
        translation = _D.IN_VITRO if f["in_vitro_ic50_nm"] <= IC50_MAX else _D.IN_VIVO
        order = [linkage, tract, _D.TOXICITY, _D.OFF_TARGET, translation, _D.STRATIFICATION, _D.CLINICAL]
    return tuple(dict.fromkeys(order))[:n]


@lru_cache(maxsize=4096)
def _log2_1p(count: int) -> float:
    """``np.log2(1 + count)`` as a Python float (the same IEEE value), once per structure count."""
    return float(np.log2(1 + count))


def _database_coverage(f: dict, indication: dict, tier: str, rng: np.random.Generator) -> dict[str, float]:
    # numpy's logs as Python floats: the arithmetic after them gives the same IEEE values without
    # numpy scalar operations. The count goes in as a float (exact below 2**53): numpy runs the same
    # float64 log10 loop on it without first casting a Python int (~4x the call's cost).
    study = _clip((float(np.log10(float(f["literature_volume"] + 1))) - 2) / 2.5, 0.3, 1.0)
    cov = dict(BASE_COVERAGE)
    curated = 0.7 + 0.3 * study
    for db in _CURATED_DBS:
        cov[db] *= curated
    cov["PDB"] = 0.05 if f["structure_count"] == 0 else min(0.98, 0.5 + 0.08 * _log2_1p(f["structure_count"]))
    tractable = max(f["druggability_score"], f["allosteric_pocket_score"], 0.8 * f["recent_inhibitor_evidence"])
    cov["ChEMBL"] = 0.4 + 0.55 * tractable
    if f["clinical_precedent"] == "none":
        cov["ClinicalTrials.gov"] = 0.5
    for db, p in indication["database_coverage"].items():
        cov[db] = min(cov[db], p)  # a database outside BASE_COVERAGE fails here
    noise = rng.normal(0.0, 0.02, size=len(_DBS_BY_NAME)).tolist()
    k = COVERAGE_TIER[tier]
    out = {}
    for db, e in zip(_DBS_BY_NAME, noise):
        p = cov[db] * k + e  # a Python float, clipped to [0.05, 1] as min(1.0, max(0.05, p)) would
        out[db] = round(1.0 if p >= 1.0 else p if p > 0.05 else 0.05, 3)
    return out


# ------------------------------------------------------------------------------------- generation


def _draw_pair_and_tier(rng: np.random.Generator) -> tuple[dict, str]:
    by_target = _pairs_by_target()
    targets = _sorted_targets()
    target = targets[int(rng.integers(len(targets)))]
    pairs = by_target[target]
    pair = pairs[int(rng.integers(len(pairs)))]
    tier = DEFAULT_TIERS[int(rng.integers(len(DEFAULT_TIERS)))]
    return pair, tier


def pair_of(seed: int) -> str:
    """The pair id (e.g. ``"EGFR/NSCLC"``) a seed draws; the same for its twin and every tier."""
    return _draw_pair_and_tier(seeded_generator(validated_seed(seed, "procedural seed")))[0]["id"]


def generate_scenario(seed: int, difficulty: str | None = None, *, twin: bool = False,
                      params: SimParams | None = None, rng: np.random.Generator | None = None) -> Scenario:
    """A deterministic procedural scenario.

    Args:
        seed: any int >= 0; ``split_of(seed)`` says whether it is a train or a test seed.
        difficulty: easy | medium | hard | very_hard; None draws one of easy / medium / hard.
        twin: return the counterfactual twin (same gene, indication, tier and perturbation; the
            opposite decision).
        params: tier credits and noise (default ``SimParams()``).
        rng: ``np.random.default_rng(seed)`` at its start, if the caller has built it (the
            environment reads the episode id from the same stream); None builds it here.
    """
    if difficulty is not None and difficulty not in DIFFICULTIES:
        raise ConfigError(f"difficulty={difficulty!r} is not one of {DIFFICULTIES} (or None to draw one).")
    split_of(seed)  # validates the seed
    if type(twin) is not bool:  # "yes" was a twin, as any truthy value
        raise ConfigError(f"twin must be True or False, got {twin!r:.40}")
    if params is not None and not isinstance(params, SimParams):  # a dict was an AttributeError far inside
        raise ConfigError(f"params must be a SimParams (SimParams(**fields)), got {type(params).__name__}")
    params = params or SimParams()
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ConfigError(f"rng must be np.random.default_rng({seed}) or None, got {type(rng).__name__}")
    if rng is None:
        rng = seeded_generator(seed)
    else:
        seeded = rng.bit_generator.seed_seq
        if seeded.entropy != seed or seeded.spawn_key or seeded.n_children_spawned:
            raise ValueError(f"rng must be np.random.default_rng({seed}) (the seed's own stream), or None.")
    pair, drawn_tier = _draw_pair_and_tier(rng)
    tier = difficulty or drawn_tier
    template = _template(pair["id"])
    f = _copy_fields(template.fields)
    _perturb(f, SPREAD[tier], rng, template.tissues)
    want_go = bool(rng.random() < 0.5) != twin
    # The children of rng.spawn(3), in order edit (then misleading signals), unused, quality; each is
    # built only where it is used (a child costs a SeedSequence and a PCG64 seeding, and the easy tier
    # does not always need an edit). rng is default_rng(seed) at its start (checked above), so child i
    # is SeedSequence(seed, spawn_key=(i,))'s stream. (Child 1 drew the misleading signals of one world.)
    words = child_entropy(seed)
    want = "go" if want_go else "no_go"
    n_misleading = N_MISLEADING[tier]
    failing = _failing(f)  # decide(f) is go iff no gate fails (its viability is not needed yet)
    natural = "no_go" if failing else "go"
    worlds = {natural: f}
    if want != natural or n_misleading:  # misleading signals are drawn for both worlds at once
        counterfactual = _copy_fields(f)
        edit_rng = spawned_child(seed, words, 0)
        _edit_to(counterfactual, failing, edit_rng)
        worlds["go" if failing else "no_go"] = counterfactual
    if n_misleading:
        for world in worlds.values():
            _sharpen(world, MARGIN[tier])
        # The edit's child goes on to draw the signals: one child fewer to seed (~5 us).
        go_signals, no_go_signals = _add_misleading(worlds["go"], worlds["no_go"], n_misleading, edit_rng)
        misleading = go_signals if want == "go" else no_go_signals
    else:
        _sharpen(worlds[want], MARGIN[tier])
        misleading = []
    f = worlds[want]
    decision, viability = decide(f)
    assert decision == want and (decision == "go") == (not _failing(f)), "gates and decide() disagree"

    required = {}
    if decision == "go" and _tractability_route(f) == "allosteric":
        required[ActionType.BINDING_SITE_ANALYSIS] = {"include_allosteric": True}
    profile = _profile(
        f, template.head, correct_decision=decision, true_viability_score=viability,
        key_evidence_dimensions=key_dimensions(f, decision, N_KEY_DIMS[tier]),
        misleading_signals=tuple(misleading), required_parameters=required,
    )
    noise, false_rate, credits = params.noise_level[tier], params.false_rate[tier], params.credits[tier]
    coverage = _database_coverage(f, template.indication, tier, spawned_child(seed, words, 2))
    scenario_id = f"proc-{seed}-{tier}" + ("-twin" if twin else "")
    # SimParams types the tier's rates and budget but does not bound them: values that validation would
    # keep as they are (the coverage is rounded probabilities in [0.05, 1]) skip it; others are validated
    # (converted, or refused with the same ValidationError as before).
    if _is_probability(noise) and _is_probability(false_rate):
        quality = trusted(DataQualityState, noise_level=noise, false_positive_rate=false_rate,
                          false_negative_rate=false_rate, database_coverage=coverage)
    else:
        quality = DataQualityState(noise_level=noise, false_positive_rate=false_rate, false_negative_rate=false_rate,
                                   database_coverage=coverage)
    if credits.__class__ is int and credits > 0:
        return trusted(Scenario, scenario_id=scenario_id, difficulty=tier, profile=profile, quality=quality,
                       credits=credits)
    return Scenario(scenario_id=scenario_id, difficulty=tier, profile=profile, quality=quality, credits=credits)


def _is_probability(x: float) -> bool:
    """A float in [0, 1] (not NaN): what a probability field of ``DataQualityState`` keeps unchanged."""
    return x.__class__ is float and 0.0 <= x <= 1.0


def _profile(f: dict, head: dict, **verdict) -> TargetProfile:
    """``TargetProfile(**head, **f, **verdict)`` without re-validating values the generator built itself
    (``drugenv.models.trusted``; validation was ~6 us a scenario).

    What validation would change, done here: the fields in declaration order and the three lists as
    tuples. Every other value already has its declared type (the perturbation makes every measured
    float a Python float, counts are ``int``s) and lies in its declared range by construction (scores
    are clipped, ratios and potencies are positive products); ``tests/scenarios/test_procedural.py``
    re-validates generated profiles, and the golden trajectories pin their values.
    """
    values = dict(head)  # _HEAD_FIELDS, in order
    for k in _MEASURED_FIELDS:
        values[k] = f[k]
    for k in _TUPLE_FIELDS:
        values[k] = tuple(values[k])
    for k in _VERDICT_FIELDS:
        values[k] = verdict[k]
    return trusted_from(TargetProfile, values)


def twin_of(scenario_or_seed: Scenario | int, difficulty: str | None = None, *,
            params: SimParams | None = None) -> Scenario:
    """The counterfactual twin: a seed's twin, or the other member of a procedural scenario's pair.

    ``params`` sets the twin's credits and noise, as in ``generate_scenario`` (default ``SimParams()``).
    """
    if isinstance(scenario_or_seed, Scenario):
        match = _ID_RE.match(scenario_or_seed.scenario_id)
        if match is None:
            raise ValueError(f"{scenario_or_seed.scenario_id!r} is not a procedural scenario id (proc-<seed>-<tier>).")
        return generate_scenario(int(match.group(1)), match.group(2), twin=match.group(3) is None, params=params)
    return generate_scenario(scenario_or_seed, difficulty, twin=True, params=params)


__all__ = [
    "DEFAULT_TIERS",
    "GATES",
    "TEST_SEED_OFFSET",
    "base_fields",
    "generate_scenario",
    "key_dimensions",
    "load_target_data",
    "pair_of",
    "procedural_test_seeds",
    "procedural_train_seeds",
    "split_of",
    "twin_of",
]
