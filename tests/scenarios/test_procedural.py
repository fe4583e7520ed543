"""Procedural scenarios: determinism, validity, splits, twins, balance, key dimensions, data coverage."""

from __future__ import annotations

import ast
import collections
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from drugenv.actions import ActionType, EvidenceDimension
from drugenv.scenarios import TWIN_SCENARIO, make_scenario, procedural
from drugenv.scenarios.procedural import (
    _CUE_FIELDS,
    GATES,
    N_MISLEADING,
    TEST_SEED_OFFSET,
    base_fields,
    generate_scenario,
    load_target_data,
    pair_of,
    procedural_test_seeds,
    procedural_train_seeds,
    split_of,
    twin_of,
)
from drugenv.simulator.environment import DrugTargetEnvironment
from drugenv.simulator.gates import decide, gate_results
from drugenv.simulator.latent import VITAL_TISSUES, TargetProfile
from drugenv.simulator.params import DIFFICULTIES, SimParams

DATABASES = {"GTEx", "HPA", "TCGA", "CCLE", "Reactome", "KEGG", "GO", "STRING", "BioGRID", "PDB", "AlphaFold",
             "ClinicalTrials.gov", "PubMed", "DepMap", "ChEMBL"}


@pytest.fixture(scope="module")
def scenarios_500():
    return [generate_scenario(seed) for seed in range(500)]


def _fields(profile: TargetProfile) -> dict:
    return profile.model_dump()


# ---------------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("difficulty", [None, *DIFFICULTIES])
def test_same_seed_same_scenario(difficulty):
    for seed in (0, 7, 123, TEST_SEED_OFFSET + 5):
        assert generate_scenario(seed, difficulty) == generate_scenario(seed, difficulty)


def test_different_seeds_differ():
    assert len({generate_scenario(s).profile.model_dump_json() for s in range(30)}) == 30


def test_drawn_tier_equals_explicit_tier():
    for seed in range(40):
        drawn = generate_scenario(seed)
        assert generate_scenario(seed, drawn.difficulty) == drawn


def test_a_seeds_answer_does_not_depend_on_the_tier():
    """The tier shapes the evidence (noise, misleading signals), not the world's answer: so whoever can
    reset with an episode's seed learns its answer at any tier (README, "Sealed evaluation")."""
    for seed in range(40):
        answers = {generate_scenario(seed, tier).profile.correct_decision for tier in DIFFICULTIES}
        assert len(answers) == 1, (seed, answers)


SEEDED_PACKAGES = ("simulator", "scenarios", "agents", "gym_envs", "evaluation")
SEEDED_GENERATOR_NAMES = {"default_rng", "Generator", "PCG64", "SeedSequence", "BitGenerator"}
# The one unseeded generator: ``reset(seed=None)`` draws a fresh training seed (its docstring says so).
UNSEEDED_ALLOWED = {("simulator/environment.py", "reset")}


def global_random_uses(path, rel: str) -> list[str]:
    """Where a module reaches numpy's or the standard library's global random state, or builds a
    generator without a seed: ``np.random.random()``, ``numpy.random.seed``, ``import random``,
    ``from numpy.random import ...``, ``default_rng()``."""
    found, tree = [], ast.parse(path.read_text(encoding="utf-8"))
    scopes = {id(n): f.name for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name in ("random", "numpy.random") for a in node.names):
            found.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in ("random", "numpy.random"):
            found.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and node.module == "numpy" and any(a.name == "random" for a in node.names):
            found.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "random" \
                and isinstance(node.value.value, ast.Name) and node.value.value.id in ("np", "numpy") \
                and node.attr not in SEEDED_GENERATOR_NAMES:
            found.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "default_rng" \
                and not node.args and not node.keywords and (rel, scopes.get(id(node))) not in UNSEEDED_ALLOWED:
            found.append(f"{rel}:{node.lineno} {ast.unparse(node)} (no seed)")
    return found


def test_no_global_random_state():
    """Scenario generation, the simulator, the agents, the gym envs and evaluation draw only from generators
    they seed: never numpy's or the standard library's global state (which another library or a test could
    reseed or advance), and never an unseeded generator (but reset's fresh training seed when given none)."""
    import drugenv

    root = Path(drugenv.__file__).parent
    files = [p for pkg in SEEDED_PACKAGES for p in sorted((root / pkg).rglob("*.py"))]
    assert len(files) > 30
    found = [u for p in files for u in global_random_uses(p, p.relative_to(root).as_posix())]
    assert found == []


def test_the_global_random_scan_sees_each_spelling(tmp_path):
    """Control: each way of reaching global or unseeded random state is found."""
    bad = ["import random", "import numpy.random", "from numpy.random import rand", "from numpy import random",
           "import numpy\nx = numpy.random.random()", "import numpy as np\nnp.random.seed(0)",
           "import numpy as np\ng = np.random.default_rng()", "from numpy.random import default_rng"]
    for i, source in enumerate(bad):
        path = tmp_path / f"m{i}.py"
        path.write_text(source + "\n", encoding="utf-8")
        assert global_random_uses(path, path.name), source
    ok = tmp_path / "ok.py"
    ok.write_text("import numpy as np\ng = np.random.default_rng(3)\nh: np.random.Generator = g\n", encoding="utf-8")
    assert global_random_uses(ok, "ok.py") == []


def test_unknown_difficulty_and_negative_seed_raise():
    with pytest.raises(ValueError, match="difficulty"):
        generate_scenario(0, "impossible")
    with pytest.raises(ValueError, match=">= 0"):
        generate_scenario(-1)


def test_an_unknown_scenario_lists_every_name_reset_takes():
    """It listed the curated names only, so a reader never learned 'procedural' (the default) was one."""
    from drugenv.errors import UnknownScenarioError
    from drugenv.scenarios import CURATED_NAMES, TWIN_SCENARIO

    with pytest.raises(UnknownScenarioError) as err:
        DrugTargetEnvironment().reset(seed=0, scenario="nope")
    assert err.value.valid == ("procedural", TWIN_SCENARIO, *CURATED_NAMES)
    for name in err.value.valid:  # each one listed is taken
        DrugTargetEnvironment().reset(seed=0, scenario=name)


@pytest.mark.parametrize("scenario,difficulty", [("nope", None), (["procedural"], None), ("procedural", "ultra"),
                                                 ("egfr_nsclc_viable", "ultra"), ("procedural", None), (TWIN_SCENARIO, "hard"),
                                                 (None, None), ("egfr_nsclc_viable", "easy")])
def test_run_agent_refuses_before_the_model_loads_what_reset_refuses(scenario, difficulty):
    """``run-agent`` checks the request before a model loads, with the one ``check_scenario_request``
    the environment's own names come from: it refuses what reset refuses, with the same error type."""
    from drugenv.llm.run_agent import RunAgentArgs, check_args

    args = RunAgentArgs(model="tiny", scenario=scenario, difficulty=difficulty)
    try:
        DrugTargetEnvironment().reset(seed=0, scenario=scenario, difficulty=difficulty)
    except Exception as refused:  # noqa: BLE001 - the type is what is compared
        with pytest.raises(type(refused)):
            check_args(args)
    else:
        check_args(args)


# ------------------------------------------------------------------------------------- validity


def test_profiles_validate_and_labels_match_decide(scenarios_500):
    for sc in scenarios_500:
        fields = _fields(sc.profile)
        assert TargetProfile.model_validate(fields) == sc.profile
        decision, viability = decide(fields)
        assert (decision, viability) == (sc.profile.correct_decision, sc.profile.true_viability_score)
        assert all(gate_results(fields).values()) == (decision == "go")


def test_quality_and_credits_follow_sim_params(scenarios_500):
    params = SimParams()
    for sc in scenarios_500[:100]:
        tier = sc.difficulty
        assert sc.credits == params.credits[tier]
        assert sc.quality.noise_level == params.noise_level[tier]
        assert sc.quality.false_positive_rate == sc.quality.false_negative_rate == params.false_rate[tier]
        assert set(sc.quality.database_coverage) == DATABASES
        assert all(0.05 <= p <= 1.0 for p in sc.quality.database_coverage.values())


# Deliberately unlike the defaults in every tier, so a default leaking through cannot pass.
CUSTOM = SimParams(credits={"easy": 91, "medium": 92, "hard": 93, "very_hard": 94},
                   noise_level={"easy": 0.31, "medium": 0.32, "hard": 0.33, "very_hard": 0.34},
                   false_rate={"easy": 0.11, "medium": 0.12, "hard": 0.13, "very_hard": 0.14})


def _follows(sc, params):
    tier = sc.difficulty
    return (sc.credits, sc.quality.noise_level, sc.quality.false_positive_rate, sc.quality.false_negative_rate) == (
        params.credits[tier], params.noise_level[tier], params.false_rate[tier], params.false_rate[tier])


@pytest.mark.parametrize("difficulty", [None, *DIFFICULTIES])
def test_make_scenario_passes_sim_params_to_procedural_scenarios(difficulty):
    for seed in (0, 3, TEST_SEED_OFFSET + 1):
        sc = make_scenario("procedural", seed, difficulty, CUSTOM)
        assert _follows(sc, CUSTOM)
        assert _follows(make_scenario(None, seed, difficulty, CUSTOM), CUSTOM)
        assert _follows(twin_of(sc, params=CUSTOM), CUSTOM) and _follows(twin_of(seed, difficulty, params=CUSTOM), CUSTOM)
        # Only credits and noise follow the params: the hidden truth is the same world.
        assert sc.profile == generate_scenario(seed, difficulty).profile
        assert make_scenario("procedural", seed, difficulty) == generate_scenario(seed, difficulty)


def test_environment_budget_follows_sim_params_on_procedural_and_curated_episodes():
    env = DrugTargetEnvironment(sim_params=CUSTOM)
    for scenario in ("procedural", "egfr_nsclc_viable", "ptpn11_juvenile_mml_complex"):
        for seed in (0, 1, 2):
            obs = env.reset(seed=seed, scenario=scenario)
            tier = make_scenario(scenario, seed).difficulty
            assert obs.credits_remaining == obs.credits_total == CUSTOM.credits[tier]


def test_rare_indication_has_lower_database_coverage():
    jmml = [s for s in range(3000) if pair_of(s) == "PTPN11/JMML"][:5]
    nsclc = [s for s in range(3000) if pair_of(s) == "EGFR/NSCLC"][:5]
    assert len(jmml) == len(nsclc) == 5
    for a, b in zip(jmml, nsclc):
        cov_a = generate_scenario(a, "easy").quality.database_coverage
        cov_b = generate_scenario(b, "easy").quality.database_coverage
        assert cov_a["TCGA"] < 0.3 < cov_b["TCGA"]
        assert cov_a["DepMap"] < cov_b["DepMap"]


def test_scenario_id_is_opaque(scenarios_500):
    for sc in scenarios_500:
        assert re.fullmatch(r"proc-\d+-[a-z_]+", sc.scenario_id)
        assert sc.profile.gene.lower() not in sc.scenario_id
        assert "go" not in sc.scenario_id.split("-")


# ---------------------------------------------------------------------------------------- splits


def test_splits_are_disjoint():
    train = procedural_train_seeds(2000)
    test = procedural_test_seeds(2000)
    assert not set(train) & set(test)
    assert {split_of(s) for s in train} == {"train"} and {split_of(s) for s in test} == {"test"}
    assert max(train) < TEST_SEED_OFFSET <= min(test)
    assert procedural_train_seeds(3, start=10) == [10, 11, 12]
    with pytest.raises(ValueError):
        procedural_train_seeds(10, start=TEST_SEED_OFFSET - 5)
    assert {split_of(s) for s in procedural_test_seeds(3, start=7)} == {"test"}
    for bad in (-1, -5):  # a negative start would reach back into the train split
        with pytest.raises(ValueError):
            procedural_test_seeds(3, start=bad)
        with pytest.raises(ValueError):
            procedural_train_seeds(3, start=bad)


# ----------------------------------------------------------------------------------------- twins


def test_twins_flip_the_decision_and_keep_gene_and_indication():
    for seed in range(150):
        sc = generate_scenario(seed)
        tw = twin_of(sc)
        assert tw == generate_scenario(seed, twin=True) == twin_of(seed)
        assert (tw.profile.gene, tw.profile.indication, tw.profile.disease_context, tw.difficulty) == (
            sc.profile.gene, sc.profile.indication, sc.profile.disease_context, sc.difficulty)
        assert tw.profile.correct_decision != sc.profile.correct_decision
        assert twin_of(tw) == sc


def test_every_gene_gets_both_decisions():
    per_gene = collections.defaultdict(collections.Counter)
    for seed in range(2000):
        sc = generate_scenario(seed)
        per_gene[sc.profile.gene][sc.profile.correct_decision] += 1
    for gene, counts in sorted(per_gene.items()):
        frac = counts["go"] / sum(counts.values())
        assert 0.25 <= frac <= 0.75, (gene, dict(counts))


def test_go_no_go_balance(scenarios_500):
    go = sum(sc.profile.correct_decision == "go" for sc in scenarios_500) / len(scenarios_500)
    print(f"go fraction over 500 seeds: {go:.3f}")
    assert 0.35 <= go <= 0.65


# -------------------------------------------------------------------------- key dims / misleading


@pytest.mark.parametrize("difficulty,n_key,n_mislead,mean_mislead", [
    ("easy", 2, {0}, 0.0), ("medium", 3, {1}, 1.0), ("hard", 4, {1, 2}, 1.9), ("very_hard", 5, {1, 2, 3}, 2.5)])
def test_key_dimensions_and_misleading_per_tier(difficulty, n_key, n_mislead, mean_mislead):
    counts = []
    for seed in range(300):
        p = generate_scenario(seed, difficulty).profile
        assert len(p.key_evidence_dimensions) == len(set(p.key_evidence_dimensions)) == n_key
        assert len(p.misleading_signals) in n_mislead, (seed, p.misleading_signals)
        assert all(isinstance(d, EvidenceDimension) for d in p.key_evidence_dimensions)
        counts.append(len(p.misleading_signals))
    # A world gets fewer than its tier's count only where too few cues keep both worlds' gates and set no
    # field an earlier cue set.
    assert sum(counts) / len(counts) >= mean_mislead, sum(counts) / len(counts)


def test_key_dimensions_cover_the_deciding_gates():
    for seed in range(300):
        p = generate_scenario(seed).profile
        keys = set(p.key_evidence_dimensions)
        if p.correct_decision == "go":
            assert keys & {EvidenceDimension.DEPENDENCY, EvidenceDimension.EXPRESSION}
            assert keys & {EvidenceDimension.DRUGGABILITY, EvidenceDimension.STRUCTURE, EvidenceDimension.LITERATURE}
        else:
            results = gate_results(_fields(p))
            failing = [g for g in GATES if not results[g]]  # GATES is the priority order of key dimensions
            first = {"tractable": EvidenceDimension.DRUGGABILITY, "safe": EvidenceDimension.TOXICITY,
                     "linkage": EvidenceDimension.DEPENDENCY, "selective": EvidenceDimension.OFF_TARGET,
                     "translates": EvidenceDimension.IN_VITRO}
            assert first[failing[0]] in keys


def test_allosteric_go_requires_include_allosteric():
    seen = 0
    for seed in range(400):
        p = generate_scenario(seed).profile
        if p.correct_decision == "go" and p.druggability_score < 0.5 and p.allosteric_pocket_score >= 0.5 \
                and not p.antibody_accessible:
            assert p.required_parameters[ActionType.BINDING_SITE_ANALYSIS] == {"include_allosteric": True}
            assert EvidenceDimension.STRUCTURE in p.key_evidence_dimensions
            seen += 1
    assert seen > 0


def test_misleading_descriptions_do_not_name_the_answer():
    for seed in range(200):
        p = generate_scenario(seed, "hard").profile
        for signal in p.misleading_signals:
            assert signal.description and "go" not in signal.description.lower().split()


def _auc(scores: list[float], positive: list[bool]) -> float:
    """Area under the ROC curve (ties count half): the chance a random positive outscores a random negative."""
    pos = [s for s, y in zip(scores, positive) if y]
    neg = [s for s, y in zip(scores, positive) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


# Each readout as a naive reader takes it: a larger value reads more like go.
_NAIVE_CUES = {
    "literature volume": lambda p: p.literature_volume,
    "literature support": lambda p: p.literature_support,
    "tumour overexpression (log2FC)": lambda p: p.disease_overexpression_log2fc,
    "fraction altered": lambda p: p.alteration_frequency,
    "structure count": lambda p: p.structure_count,
    "cell potency (-IC50)": lambda p: -p.in_vitro_ic50_nm,
    "CRISPR dependency (-Chronos)": lambda p: -p.dependency_score,
    "quiet vital tissues (-max TPM)": lambda p: -max(p.normal_expression_tpm[t] for t in VITAL_TISSUES),
}


@lru_cache(maxsize=None)
def _cue_aucs(difficulty: str) -> dict[str, float]:
    profiles = [generate_scenario(seed, difficulty).profile for seed in range(800)]
    go = [p.correct_decision == "go" for p in profiles]
    return {name: _auc([cue(p) for p in profiles], go) for name, cue in _NAIVE_CUES.items()}


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_no_surface_cue_predicts_in_reverse(difficulty):
    """Misleading signals must not turn a readout into a tell, in reverse or the right way round. They once
    did: only no_go worlds got huge literature and strong overexpression, only go worlds a weak cell assay,
    so in the hard tier literature volume separated the answers with an AUC of 0.28 (0.72 for "more papers
    means no_go") over these seeds and very_hard's cell potency 0.18. A later fix echoed each signal with
    one of the other answer's cues, which overwrote some signals' readouts and left very_hard's cell potency
    telling a go at 0.79, against 0.65 in the easy tier (no misleading signals). Now each cue is applied to
    both worlds of a seed's pair: no readout tells the answer in reverse, and none tells it better than in
    the easy tier."""
    aucs, easy = _cue_aucs(difficulty), _cue_aucs("easy")
    print(difficulty, {k: round(v, 2) for k, v in aucs.items()})
    assert all(v >= 0.42 for v in aucs.values()), aucs
    assert all(aucs[k] <= max(0.58, easy[k] + 0.03) for k in aucs), (aucs, easy)


_DESCRIBED_READOUTS = {  # a description's phrase -> (profile, description): its readout still reads so
    "Cell-viability IC50 is weak": lambda p, d: p.in_vitro_ic50_nm >= 1500 and p.in_vivo_tgi_pct >= 55,
    "Only ~": lambda p, d: p.literature_volume == int(re.search(r"Only ~(\d+) papers", d)[1]) <= 5_000
    and p.literature_support <= 0.4,
    "High normal expression in": lambda p, d: p.normal_expression_tpm[re.search(r"in (\w+) \(", d)[1]] >= 60,
    "CRISPR knockout shows little": lambda p, d: p.dependency_score >= -0.25,
    "Strong tumour overexpression": lambda p, d: p.disease_overexpression_log2fc >= 2.8,
    "Very large, upbeat": lambda p, d: p.literature_volume >= 20_000 and p.literature_support >= 0.6,
    "Potent killing": lambda p, d: p.in_vitro_ic50_nm <= 40,
    "Strong CRISPR": lambda p, d: p.dependency_score <= -0.9,
    "high-quality structures": lambda p, d: p.structure_count >= 150,
    "Altered in": lambda p, d: p.alteration_frequency >= 0.4,
}


@pytest.mark.parametrize("difficulty", ["medium", "hard", "very_hard"])
def test_misleading_readouts_stay_as_described(difficulty):
    """Every misleading signal's readout still reads as its description says: no later cue (misleading in
    this world or echoed from its twin's) sets a field an earlier one set. Before, an echo could overwrite
    the signal it followed: about half the weak-cell-assay signals no longer read weak."""
    checked = 0
    for seed in range(400):
        p = generate_scenario(seed, difficulty).profile
        for signal in p.misleading_signals:
            for prefix, still_reads in _DESCRIBED_READOUTS.items():
                if prefix in signal.description:
                    assert still_reads(p, signal.description), (seed, signal.description)
                    checked += 1
    assert checked >= 250 * N_MISLEADING[difficulty]  # most signals have a readout to check


def test_each_cue_sets_only_its_declared_fields():
    """``_add_misleading`` keeps a pair's cues apart by ``_CUE_FIELDS``: a cue that changed a field it does not
    declare could overwrite another signal's readout unseen."""
    fields_seen = collections.defaultdict(set)
    for seed in range(200):
        sc = generate_scenario(seed, "hard")
        f = _fields(sc.profile)
        failing = [g for g, ok in gate_results(f).items() if not ok]
        for name in _CUE_FIELDS:
            for echo in (False, True):
                trial = procedural._copy_fields(f)
                rng = np.random.default_rng(seed)
                if name in procedural._MISLEAD_GO:
                    procedural._mislead_go(name, trial, rng, echo=echo)
                else:
                    procedural._mislead_no_go(name, trial, failing, rng, echo=echo)
                changed = {k for k in trial if trial[k] != f[k]}
                assert changed <= set(_CUE_FIELDS[name]), (name, changed)
                fields_seen[name] |= changed
    # every cue that changes fields was seen changing them (the check above is not vacuous)
    assert {n for n, seen in fields_seen.items() if seen} == set(_CUE_FIELDS) - procedural._NAMING_CUES


_PUBLIC_RECORD_FIELDS = ("structure_count", "literature_volume", "alteration_frequency")
"""The facts of public record that misleading cues move (``procedural.PLAUSIBLE_RAISE``)."""


@pytest.mark.parametrize("difficulty", ["medium", "hard", "very_hard"])
def test_cues_move_a_fact_of_public_record_at_most_threefold(difficulty, monkeypatch):
    """Every world's structure count, literature volume and fraction altered is within a factor of
    ``PLAUSIBLE_RAISE`` of the same world drawn without misleading signals (the cues are drawn last, so
    that world is the same but for them), and of the same type. Before, an echo of many_structures gave
    MYC (10 deposited structures) 150-400, frequent_alteration made a pair altered in 5% of patients
    altered in 40-70%, and sparse_literature cut IDH1's ~14,000 papers to ~60."""
    with_cues = {(seed, twin): generate_scenario(seed, difficulty, twin=twin).profile
                 for seed in range(300) for twin in (False, True)}
    monkeypatch.setitem(procedural.N_MISLEADING, difficulty, 0)
    moved = collections.Counter()
    for (seed, twin), p in with_cues.items():
        bare = generate_scenario(seed, difficulty, twin=twin).profile
        assert not bare.misleading_signals
        for key in _PUBLIC_RECORD_FIELDS:
            before, after = getattr(bare, key), getattr(p, key)
            assert type(after) is type(before), (seed, key)
            assert before / procedural.PLAUSIBLE_RAISE <= after <= before * procedural.PLAUSIBLE_RAISE, (
                seed, twin, p.gene, key, before, after)
            moved[key] += after != before
    assert all(moved[key] >= 5 for key in _PUBLIC_RECORD_FIELDS), moved  # each cue did move its fact


@pytest.mark.parametrize("difficulty", ["medium", "hard", "very_hard"])
def test_a_pairs_worlds_share_their_facts_of_public_record_before_the_cues(difficulty, monkeypatch):
    """The plausibility cap reads each world's own structure count, literature volume and fraction altered,
    so a cue is refused in both worlds or in neither only while the counterfactual edit leaves those facts
    alike in the two: otherwise which cues a seed gets could depend on its answer. No edit touches them."""
    monkeypatch.setitem(procedural.N_MISLEADING, difficulty, 0)
    differ = 0
    for seed in range(300):
        world, twin = (generate_scenario(seed, difficulty, twin=t).profile for t in (False, True))
        assert world.correct_decision != twin.correct_decision
        for key in _PUBLIC_RECORD_FIELDS:
            assert getattr(world, key) == getattr(twin, key), (seed, key)
        differ += _fields(world) != _fields(twin)
    assert differ == 300  # the edit did change something in every pair


def test_a_target_with_few_structures_never_shows_many():
    """MYC (10 deposited structures in its record) and CD33 (5) stay far from the 150-400 "high-quality
    structures" of the many_structures cue in every world of the hard tiers, echoes included."""
    genes = {"MYC", "CD33"}
    seen = 0
    for difficulty in ("medium", "hard", "very_hard"):
        for seed in range(600):
            for twin in (False, True):
                p = generate_scenario(seed, difficulty, twin=twin).profile
                if p.gene in genes:
                    seen += 1
                    assert p.structure_count < 100, (seed, difficulty, twin, p.gene, p.structure_count)
    assert seen >= 200


# --------------------------------------------------------------------------------- data coverage


def test_data_file_shape():
    data = load_target_data()
    assert {"description", "units", "sources"} <= set(data["_meta"])
    assert len(data["targets"]) >= 20
    assert sum(not i["alternate"] for i in data["indications"].values()) == 8
    assert len(data["pairs"]) >= 40
    assert len({p["id"] for p in data["pairs"]}) == len(data["pairs"])
    per_target = collections.Counter(p["target"] for p in data["pairs"])
    assert set(per_target) == set(data["targets"])
    assert sum(n >= 2 for n in per_target.values()) >= 15
    for p in data["pairs"]:
        assert p["indication"] in data["indications"]
        assert p["public_verdict"] in {"GO", "NO-GO", "BORDERLINE"}
        assert p["expected_decision"] in {"go", "no_go"}
        assert isinstance(p["unverified"], bool) and p["source_note"]
        TargetProfile.model_validate({  # every pair builds a valid profile unperturbed
            **base_fields(p), "gene": "X", "indication": "Y", "disease_context": "Z", "target_class": "c",
            "correct_decision": "go", "true_viability_score": 0.5, "key_evidence_dimensions": ()})
    records = [*data["targets"].values(), *data["indications"].values(), *data["pairs"]]
    assert all(isinstance(r["source_marked_u"], bool) and (r["unverified"] or not r["source_marked_u"]) for r in records)
    assert data["targets"]["PTPN11"]["source_marked_u"] and not data["targets"]["ALK"]["source_marked_u"]


def test_toxicity_events_are_the_targets_own_or_a_failed_safety_gates():
    """A world lists only its target's own toxicity events, plus the vital-organ event that fails a safety
    gate. A string the generator wrote only into the worlds it rescued would tell a go by itself, whatever
    the target: "manageable grade 1-2 events" did, for MCL1 and MYC, whose own events are all vital-organ."""
    pairs = {p["id"]: p for p in load_target_data()["pairs"]}
    vital = set(procedural._VITAL_TOX.values())
    rescued_bare = 0
    for seed in range(1500):
        own = set(base_fields(pairs[pair_of(seed)])["toxicity_profile"])
        for sc in (generate_scenario(seed), twin_of(seed)):
            events = set(sc.profile.toxicity_profile)
            assert events <= own | vital, (seed, sc.profile.gene, events - own - vital)
            rescued_bare += not events
    assert rescued_bare > 0  # the rescued MCL1 / MYC worlds: their readouts say "findings: none"


def test_every_target_indication_and_pair_is_reachable():
    data = load_target_data()
    reached = {pair_of(seed) for seed in range(3000)}
    assert reached == {p["id"] for p in data["pairs"]}
    indications = {generate_scenario(seed).profile.indication for seed in range(600)}
    assert indications == set(data["indications"])


def test_decide_agrees_with_public_verdicts():
    data = load_target_data()
    disagreements = []
    for p in data["pairs"]:
        decision, viability = decide(base_fields(p))
        if decision != p["expected_decision"]:
            disagreements.append(f"{p['id']}: decide={decision} ({viability}), public={p['public_verdict']} "
                                 f"({p['verdict_text']})")
    rate = 1 - len(disagreements) / len(data["pairs"])
    print(f"decide() agreement with public verdicts: {rate:.3f} ({len(data['pairs'])} pairs)")
    print("\n".join(disagreements))
    # The one exception is named in targets.json's _meta (the gates do not model a differentiation mechanism).
    assert [d.split(":")[0] for d in disagreements] == ["IDH1/AML"]
    assert "IDH1/AML" in data["_meta"]["provenance"]["numeric_base_values"]
