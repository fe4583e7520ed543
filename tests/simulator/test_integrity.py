"""Environment integrity: an agent can win only by reading the evidence.

Each test here is one way an adversarial agent could know the answer without doing the science:
step rewards that encode the hidden key dimensions, a public seed that maps to the truth, and the
truth read through a method. The side-channel classifier is checked to have teeth: given the
readouts it does predict the decision.
"""

import ast
import json
from pathlib import Path

import numpy as np
import pytest

import drugenv
from drugenv.actions import EVIDENCE_ACTIONS, ActionType as A
from drugenv.agents.baselines import HeuristicPolicy, OraclePolicy, RandomPolicy
from drugenv.errors import EpisodeNotFinishedError
from drugenv.models import DrugTargetAction
from drugenv.scenarios import suite_episodes
from drugenv.scenarios.procedural import generate_scenario, procedural_test_seeds, procedural_train_seeds
from drugenv.simulator.environment import DrugTargetEnvironment
from drugenv.simulator.params import RewardConfig

PKG = Path(drugenv.__file__).parent

# The attack of the issue: six fixed queries, whose order and parameters do not depend on the evidence.
PROBE = [
    (A.QUERY_EXPRESSION, {"database": "TCGA"}),
    (A.DRUGGABILITY_SCREEN, {"modality": "any"}),
    (A.TOXICITY_PANEL, {}),
    (A.OFF_TARGET_SCREEN, {}),
    (A.CRISPR_KNOCKOUT, {"cell_lines": "altered"}),
    (A.IN_VITRO_ASSAY, {}),
]
REWARD_KEYS = ("reward/novelty", "reward/coherence", "reward/credit_cost", "reward/violations", "reward/shaping")
DIFFICULTY = ("easy", "medium", "hard", "very_hard")


def _non_evidence_features(obs) -> list[float]:
    """Everything a client receives on a step except the evidence readouts (dossier, outputs, history summaries)."""
    b = obs.step_reward_breakdown
    meta = obs.metadata
    return [obs.reward or 0.0, *(b.get(k, 0.0) for k in REWARD_KEYS), float(len(b)), float(len(obs.rule_violations)),
            float(len(obs.legal_actions)), float(obs.credits_remaining), float(obs.credits_total), float(obs.done),
            float(bool(meta.get("truncated"))), *(float(meta.get("difficulty") == d) for d in DIFFICULTY)]


def _readout_features(obs) -> list[float]:
    """The numeric readouts of the latest output (the evidence itself): the classifier's control."""
    return [float(v) for _, v in sorted(obs.latest_output.data.items()) if isinstance(v, (int, float))][:6]


def _episode(seed: int, rng: np.random.Generator, cfg: RewardConfig, random_probe: bool,
             difficulty: str) -> tuple[list[float], list[float], int]:
    env = DrugTargetEnvironment(reward_config=cfg)
    obs = env.reset(seed=seed, scenario="procedural", difficulty=difficulty)
    side, evidence = _non_evidence_features(obs), []
    probe = [PROBE[i] for i in rng.permutation(len(PROBE))] if random_probe else PROBE
    for at, params in probe:
        obs = env.step(DrugTargetAction(action_type=at, parameters=params, reasoning="probe"))
        side += _non_evidence_features(obs)
        feats = _readout_features(obs)
        evidence += feats + [0.0] * (6 - len(feats))
    env.step(DrugTargetAction(action_type=A.SUBMIT_VALIDATION_REPORT, reasoning="probe", final_decision="go", confidence=0.5))
    return side, evidence, int(env.outcome().correct_decision == "go")


def _dataset(seeds, cfg, random_probe=False, seed=0):
    """Every tier in turn: a default reset draws easy, medium or hard only, and very_hard is played too."""
    rng = np.random.default_rng(seed)
    rows = [_episode(s, rng, cfg, random_probe, DIFFICULTY[i % len(DIFFICULTY)]) for i, s in enumerate(seeds)]
    return (np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), np.array([r[2] for r in rows]))


def _logistic_accuracy(x_tr, y_tr, x_te, y_te, steps=800, lr=0.5, l2=1e-3) -> float:
    """Plain L2 logistic regression by gradient descent on standardised features; held-out accuracy."""
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-9
    x_tr, x_te = (x_tr - mu) / sd, (x_te - mu) / sd
    w, b = np.zeros(x_tr.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x_tr @ w + b)))
        w -= lr * (x_tr.T @ (p - y_tr) / len(y_tr) + l2 * w)
        b -= lr * float(np.mean(p - y_tr))
    return float(np.mean(((x_te @ w + b) > 0) == y_te))


@pytest.fixture(scope="module")
def probe_data():
    cfg = RewardConfig()
    train = _dataset(procedural_train_seeds(600), cfg)
    test = _dataset(procedural_test_seeds(400), cfg)
    return train, test


def test_nothing_but_the_evidence_predicts_the_decision(probe_data):
    (side_tr, _, y_tr), (side_te, _, y_te) = probe_data
    chance = max(y_te.mean(), 1 - y_te.mean())
    acc = _logistic_accuracy(side_tr, y_tr, side_te, y_te)
    assert acc <= chance + 0.05, f"rewards/metadata predict the decision: accuracy {acc:.3f} vs chance {chance:.3f}"


def test_the_side_channel_classifier_has_teeth(probe_data):
    """Control: the same classifier reading the readouts of the same six queries does predict the decision."""
    (_, ev_tr, y_tr), (_, ev_te, y_te) = probe_data
    chance = max(y_te.mean(), 1 - y_te.mean())
    assert _logistic_accuracy(ev_tr, y_tr, ev_te, y_te) >= chance + 0.1


def test_random_order_probes_leak_nothing_either():
    cfg = RewardConfig(decision_scoring="brier")
    side_tr, _, y_tr = _dataset(procedural_train_seeds(400), cfg, random_probe=True, seed=1)
    side_te, _, y_te = _dataset(procedural_test_seeds(300), cfg, random_probe=True, seed=2)
    chance = max(y_te.mean(), 1 - y_te.mean())
    assert _logistic_accuracy(side_tr, y_tr, side_te, y_te) <= chance + 0.05


def test_shaping_covers_exactly_the_public_gates():
    from drugenv.simulator.gates import GATE_NAMES
    from drugenv.simulator.reward import GATE_DIMENSIONS

    assert tuple(GATE_DIMENSIONS) == GATE_NAMES


def test_step_rewards_do_not_depend_on_the_hidden_truth():
    """Counterfactual twins share gene, tier and perturbation but have opposite decisions and
    different key dimensions: the same actions must earn the same step rewards."""
    for i, seed in enumerate(procedural_train_seeds(32)):
        rewards = []
        for twin in (False, True):
            env = DrugTargetEnvironment()
            env.reset(seed=seed, scenario=generate_scenario(seed, DIFFICULTY[i % len(DIFFICULTY)], twin=twin))
            rng = np.random.default_rng(seed)
            row = []
            for _ in range(8):
                at = list(A)[int(rng.integers(len(A) - 1))]
                if at == A.SUBMIT_VALIDATION_REPORT:
                    continue
                obs = env.step(DrugTargetAction(action_type=at, parameters=RandomPolicy.random_parameters(at, rng), reasoning="r"))
                if obs.done:
                    break
                row.append(obs.step_reward_breakdown)
            rewards.append(row)
        assert rewards[0] == rewards[1], f"seed {seed}: step rewards differ between twins"


EVIDENCE = {a.value for a in EVIDENCE_ACTIONS}


def without_the_evidence(payload: dict, done: bool = False) -> dict:
    """A payload (observation, state or info, as JSON) with the evidence taken out: the dossier, the latest
    evidence output's status, summary and readouts, the history's summaries of evidence actions. At the end, also what the spec's terminal reward
    pays for knowing the truth: decision accuracy and key-evidence coverage, and the rewards that sum them."""
    out = json.loads(json.dumps(payload))
    out.pop("dossier", None)
    latest = out.get("latest_output")
    if latest and latest["action_type"] in EVIDENCE and latest["status"] in ("ok", "no_data"):
        # Whether a database holds data is evidence too (ChEMBL covers tractable targets better: docs/agents.md).
        del latest["summary"], latest["data"], latest["status"]
    for entry in out.get("pipeline_history", []):
        if entry["action_type"] in EVIDENCE and not entry["violations"][:1] == ["invalid_action"]:
            del entry["summary"]
    if done or out.get("done") or out.get("termination_reason") is not None:  # done: a wire frame says so beside it
        for terms in (out.get("step_reward_breakdown"), out.get("reward_terms")):
            for k in ("terminal/decision_accuracy", "terminal/evidence_coverage"):
                (terms or {}).pop(k, None)
        out.pop("reward", None)
        out.pop("cumulative_reward", None)
    return out


def _twin_payloads(seed: int, twin: bool, difficulty: str | None = None) -> list[dict]:
    env = DrugTargetEnvironment()
    obs = env.reset(seed=seed, scenario=generate_scenario(seed, difficulty, twin=twin))
    policy = RandomPolicy()  # reads credits and legal actions only: the same plan in both worlds while they agree
    policy.reset(seeds=[seed])
    rows = [obs.model_dump(mode="json"), env.state.model_dump(mode="json")]
    while not obs.done:
        obs = env.step(policy.act([obs])[0])
        rows += [obs.model_dump(mode="json"), env.state.model_dump(mode="json"), env.last_info]
    return [without_the_evidence(r) for r in rows]


def test_nothing_but_the_evidence_differs_between_twins():
    """What a client receives, beside the evidence, may not depend on the truth: a counterfactual twin has the
    opposite answer in the same world, so every observation, state and info of the same play must match once
    the readouts are taken out (and, at the end, the terms that pay for the truth). A field computed from the
    truth (say a verdict or the true viability in ``metadata``) is caught whatever its name."""
    checked = 0
    for i, seed in enumerate(procedural_train_seeds(160)):
        tier = DIFFICULTY[i % len(DIFFICULTY)]  # every tier, very_hard included (a default draw never plays it)
        original, twin = _twin_payloads(seed, False, tier), _twin_payloads(seed, True, tier)
        assert original == twin, f"seed {seed} ({tier}): a payload differs between twins beyond the evidence"
        checked += len(original)
    assert checked > 1500


def test_the_twin_comparison_sees_a_truth_dependent_field(monkeypatch):
    """Control: the same comparison fails when an observation carries a value computed from the truth."""
    real = DrugTargetEnvironment._finish_step

    def leaky(self, *args, **kwargs):
        obs = real(self, *args, **kwargs)
        obs.metadata["p"] = round(self._latent.profile.true_viability_score, 1)
        return obs

    monkeypatch.setattr(DrugTargetEnvironment, "_finish_step", leaky)
    seed = procedural_train_seeds(1)[0]
    for tier in DIFFICULTY:
        assert _twin_payloads(seed, False, tier) != _twin_payloads(seed, True, tier), tier


# ---------------------------------------------------------------------------------------- sealed mode


def test_sealed_metadata_and_state_carry_no_seed():
    env = DrugTargetEnvironment(seal="s3cret")
    obs = env.reset(seed=procedural_test_seeds(1)[0])
    assert "seed" not in obs.metadata and obs.metadata["sealed"] is True
    assert env.state.seed is None
    obs = env.step(DrugTargetAction(action_type=A.QUERY_EXPRESSION, parameters={"database": "TCGA"}, reasoning="x"))
    assert "seed" not in obs.metadata and env.state.seed is None


def test_sealed_seed_does_not_reveal_the_truth_but_replays_exactly():
    seeds = procedural_test_seeds(200)
    agree_open = agree_sealed = 0
    for s in seeds:
        public = generate_scenario(s).profile.correct_decision  # what an agent able to run code can compute
        for env, key in ((DrugTargetEnvironment(), "open"), (DrugTargetEnvironment(seal="s3cret"), "sealed")):
            env.reset(seed=s)
            env.step(DrugTargetAction(action_type=A.SUBMIT_VALIDATION_REPORT, reasoning="x", final_decision="go", confidence=0.5))
            same = env.outcome().correct_decision == public
            agree_open += same and key == "open"
            agree_sealed += same and key == "sealed"
    assert agree_open == len(seeds)  # unsealed: seed -> truth, by design (reproducible training)
    assert agree_sealed / len(seeds) < 0.65  # sealed: no better than a coin


@pytest.mark.parametrize("policy_cls", [HeuristicPolicy, RandomPolicy])
def test_sealed_replay_is_exact_and_secret_dependent(policy_cls):
    def play(secret, seed=7):
        env, pol = DrugTargetEnvironment(seal=secret), policy_cls()
        pol.reset(1, [seed])
        obs, dumps = env.reset(seed=seed), []
        while not obs.done:
            obs = env.step(pol.act([obs])[0])
            dumps.append(obs.model_dump_json())
        return dumps

    assert play("alpha") == play("alpha")
    assert play("alpha") != play("beta")


def test_a_sealed_episodes_noise_hangs_on_its_secret_key_not_on_a_32_bit_crc_state():
    """A query's noise is seeded by a hash of (episode key, query). Unsealed, that is a CRC-32 of the world seed
    and the query; CRC is affine, so two queries' seeds differ by the same XOR in every world whose seed has as
    many digits: the 32-bit state after the seed's digits fixes every query of the episode, and an agent that runs
    code can search for it by checking two readouts of one quantity against each other (GTEx against the
    toxicity panel), then read the exact values behind every readout. Harmless while the seed is public; a
    sealed episode keys its noise with a secret key through BLAKE2b, where no such relation holds."""
    from drugenv.simulator import evidence
    from drugenv.simulator.environment import sealed_noise_key

    queries = [{"database": "GTEx"}, {"database": "TCGA"}]  # parameters of the same length: the relation's condition

    def seeds(key):
        return [evidence._query_seed(key, A.QUERY_EXPRESSION, p, None) for p in queries]

    a, b = seeds(10**17 + 12345), seeds(10**17 + 98765)
    assert a != b and a[0] ^ a[1] == b[0] ^ b[1]  # unsealed: the relation the search rests on
    a, b = seeds(sealed_noise_key(3, "k")), seeds(sealed_noise_key(4, "k"))
    assert a[0] ^ a[1] != b[0] ^ b[1]
    assert min(a + b) >= 2**32  # 128-bit seeds (each falls below 2**32 with odds 2**-96)
    assert sealed_noise_key(3, "k") != sealed_noise_key(3, "l")


def test_a_sealed_episode_plays_its_world_with_noise_of_its_own_and_replays_it():
    from drugenv.simulator.environment import sealed_seed

    seed = procedural_test_seeds(1)[0]
    probe = [DrugTargetAction(action_type=a, parameters=p, reasoning="x") for a, p in PROBE]

    def play(env, s):
        first = env.reset(seed=s)
        return (first.target_gene, first.indication, first.credits_remaining), [env.step(a).latest_output for a in probe]

    world, sealed_outputs = play(DrugTargetEnvironment(seal="k"), seed)
    open_world, open_outputs = play(DrugTargetEnvironment(), sealed_seed(seed, "k"))
    assert world == open_world  # the same world...
    assert sealed_outputs != open_outputs  # ...read through other noise than the public generator's for that world
    assert play(DrugTargetEnvironment(seal="k"), seed) == (world, sealed_outputs)


def _answer(env, seed, **reset):
    env.reset(seed=seed, **reset)
    env.step(DrugTargetAction(action_type=A.SUBMIT_VALIDATION_REPORT, reasoning="x", final_decision="go", confidence=0.5))
    return env.outcome().correct_decision


def test_a_sealed_twin_shares_its_originals_world_but_not_its_noise_or_its_id():
    """``procedural-test-twins`` shows an agent both worlds of a pair, one go and one no_go. Sealed, nothing but the
    evidence may pair them: a shared episode id did, and so did shared noise (every readout the twin's edit leaves
    alone read byte for byte as its original's), and a pair known is an answer known (one go each)."""
    probe = [DrugTargetAction(action_type=a, parameters=p, reasoning="x") for a, p in PROBE]

    def play(env, s, scenario):
        first = env.reset(seed=s, scenario=scenario)
        outputs = [env.step(a).latest_output for a in probe]
        outputs = [o.data if o.status == "ok" else None for o in outputs]  # no_data reads alike in any noise
        return (first.target_gene, first.indication, first.credits_remaining), first.metadata["episode_id"], outputs

    same_readouts = {"open": 0, "sealed": 0}
    for s in procedural_test_seeds(30, start=70):
        for key, env in (("open", DrugTargetEnvironment()), ("sealed", DrugTargetEnvironment(seal="k"))):
            world, ident, outputs = play(env, s, "procedural")
            twin_world, twin_ident, twin_outputs = play(env, s, "procedural-twin")
            assert world == twin_world  # the same gene, indication and budget...
            assert _answer(env, s) != _answer(env, s, scenario="procedural-twin")  # ...and the opposite answer
            assert (ident == twin_ident) == (key == "open")
            same_readouts[key] += sum(a == b for a, b in zip(outputs, twin_outputs) if a is not None)
    assert same_readouts["open"] > 60  # of 180 (74 when written): unsealed twins read the same noise, by design
    assert same_readouts["sealed"] <= 2  # a value at its floor reads alike in any noise (1 when written)


def test_sealed_worlds_are_drawn_from_2_62_each_apart_from_the_train_split_and_each_other():
    from drugenv.scenarios.procedural import TEST_SEED_OFFSET
    from drugenv.simulator.environment import SEALED_TRAIN_WORLDS_START, SEALED_WORLDS, sealed_seed

    train = [sealed_seed(s, "k") for s in procedural_train_seeds(200)]
    test = [sealed_seed(s, "k") for s in procedural_test_seeds(200)]
    assert all(SEALED_TRAIN_WORLDS_START <= w < SEALED_TRAIN_WORLDS_START + SEALED_WORLDS for w in train)
    assert all(TEST_SEED_OFFSET <= w < SEALED_TRAIN_WORLDS_START for w in test)  # never a train world
    assert len(set(train)) == len(set(test)) == 200  # spread over the range, not a few worlds
    assert min(train) < SEALED_TRAIN_WORLDS_START + SEALED_WORLDS // 4 and max(train) > SEALED_TRAIN_WORLDS_START + SEALED_WORLDS // 4 * 3


def test_a_sealed_episode_cannot_be_looked_up_among_the_worlds_of_public_seeds():
    """What an agent that runs code does: generate the episode ids of public seeds' worlds and look the sealed
    episode's id up, then replay that seed unsealed for its truth. Sealed train seeds once mapped among the
    million train worlds: ~5% of them were in this table of 50,000 (all of them in a table of the million,
    found in ~20 s)."""
    from drugenv.simulator.environment import _episode_uuid
    from drugenv.simulator.seeding import seeded_generator

    public_ids = {_episode_uuid(seeded_generator(s)) for s in range(50_000)}  # what reset(seed=s) names them
    assert DrugTargetEnvironment().reset(seed=49_999).metadata["episode_id"] in public_ids
    env = DrugTargetEnvironment(seal="a-secret-the-agent-never-sees")
    seeds = [*procedural_train_seeds(400, start=3), *procedural_test_seeds(100)]
    assert not [s for s in seeds if env.reset(seed=s).metadata["episode_id"] in public_ids]


def test_empty_seal_is_refused():
    with pytest.raises(ValueError, match="seal"):
        DrugTargetEnvironment(seal="")


# ---------------------------------------------------------------------------------------- outcome channel


def test_outcome_only_after_the_episode_ends():
    env = DrugTargetEnvironment()
    env.reset(seed=3, scenario="cd33_aml_misleading")
    with pytest.raises(EpisodeNotFinishedError):
        env.outcome()
    env.step(DrugTargetAction(action_type=A.TOXICITY_PANEL, reasoning="x"))
    env.step(DrugTargetAction(action_type=A.SUBMIT_VALIDATION_REPORT, reasoning="x", final_decision="go", confidence=0.8))
    out = env.outcome()
    assert out.termination_reason == "report_submitted" and out.decision == "go" and out.confidence == 0.8
    assert out.correct_decision == "no_go" and out.decision_correct is False
    assert 0.0 < out.key_evidence_coverage < 1.0 and out.credits_used == 3 and out.steps == 2


@pytest.mark.parametrize("action,coverage", [(A.COMPETITOR_LANDSCAPE, 0.0), (A.CLINICAL_TRIAL_LOOKUP, 1 / 3)])
def test_clinical_coverage_is_paid_only_for_the_trial_history(action, coverage):
    """cd33's clinical key dimension is its failed trials. A count of competing programmes (1 credit) once
    covered it as fully as the trial lookup (3 credits) that shows them, and the oracle took the shortcut."""
    env = DrugTargetEnvironment()
    env.reset(seed=3, scenario="cd33_aml_misleading")
    obs = env.step(DrugTargetAction(action_type=action))
    shows_trials = "clinical_precedent" in obs.latest_output.data
    assert shows_trials == (action == A.CLINICAL_TRIAL_LOOKUP)
    env.step(DrugTargetAction(action_type=A.SUBMIT_VALIDATION_REPORT, final_decision="no_go", confidence=0.8))
    assert env.outcome().key_evidence_coverage == pytest.approx(coverage)


def test_the_oracle_covers_each_dimension_with_an_action_of_that_dimension():
    from drugenv.agents.baselines import _ORACLE_ACTION
    from drugenv.actions import ACTION_TABLE

    for dim, (action, _) in _ORACLE_ACTION.items():
        assert ACTION_TABLE[action].dimension == dim, (dim, action)


def test_outcome_of_an_episode_without_a_report():
    from drugenv.simulator.params import SimParams

    env = DrugTargetEnvironment(sim_params=SimParams(max_steps=2))
    env.reset(seed=0, scenario="egfr_nsclc_viable")
    for _ in range(2):
        obs = env.step(DrugTargetAction(action_type=A.LITERATURE_SEARCH, reasoning="x"))
    assert obs.done
    out = env.outcome()
    assert out.termination_reason == "step_limit" and out.decision is None and out.decision_correct is None


def test_only_the_oracle_briefing_reads_the_truth():
    """``oracle_view()`` is called only by ``agents.base.brief``; nothing outside the simulator touches
    the environment's secret attributes; ``debug_truth`` is gone."""
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                if node.attr == "oracle_view" and rel not in ("agents/base.py", "simulator/environment.py"):
                    offenders.append(f"{rel}: oracle_view")
                if node.attr in ("_latent", "debug_truth") and rel != "simulator/environment.py":
                    offenders.append(f"{rel}: {node.attr}")
    assert not offenders, offenders
    assert not hasattr(DrugTargetEnvironment, "debug_truth")


def test_oracle_still_scores_perfectly_through_the_briefing():
    from drugenv.evaluation.evaluate import run_episodes
    from drugenv.evaluation.metrics import summarize

    eps = suite_episodes("procedural-test", 20) + suite_episodes("curated", 5)
    assert summarize(run_episodes(OraclePolicy(), eps, progress=False))["decision_accuracy"] == 1.0


def test_every_free_parameter_of_an_evidence_action_reads_the_same_measurement():
    """A parameter that is not a choice of source (a Literal or a bool) must not draw anew: each new
    value was a fresh, independent readout of the same hidden quantity, so a question re-worded for a
    credit a time averaged the noise away (8 expert questions put CD33 at 0.32, KRAS at 0.66)."""
    import typing

    from drugenv.actions import ACTION_TABLE
    from drugenv.simulator.evidence import _GENERATORS, _MEASURED_AS

    for at in _GENERATORS:
        for name, field in ACTION_TABLE[at].params.model_fields.items():
            if typing.get_origin(field.annotation) is not typing.Literal and field.annotation is not bool:
                assert name in _MEASURED_AS.get(at, {}), f"{at.value}.{name} draws a new readout per value"


@pytest.mark.parametrize("action, values, key", [
    (A.REQUEST_EXPERT_REVIEW, [{"question": f"q{i}"} for i in range(6)], "viability_estimate"),
    (A.LITERATURE_SEARCH, [{"query": q} for q in ("", "a", "b", "inhibitors")], "support_fraction"),
    (A.LITERATURE_SEARCH, [{"since_year": y} for y in (2013, 2016, 2024, 2030)], "support_fraction"),
    (A.LITERATURE_SEARCH, [{"since_year": y} for y in (None, 1950, 2000, 2012)], "support_fraction"),
    (A.BIOMARKER_CORRELATION, [{"biomarker": b} for b in (None, "x", "KRAS", "PD-L1")], "pearson_r"),
    (A.COEXPRESSION_NETWORK, [{"min_score": s} for s in (0.0, -0.0, 0.3, 0.7, 1.0)], "disease_module_overlap"),
    (A.CLINICAL_TRIAL_LOOKUP, [{"min_phase": n} for n in (1, 2, 3, 4)], "n_trials"),
    (A.PATIENT_STRATIFICATION, [{"biomarker": b} for b in (None, "zzz", "a", " ", "G12")], "responder_fraction"),
])
def test_re_asking_with_other_text_or_thresholds_reads_the_same_measurement(action, values, key):
    readouts = set()
    for params in values:
        env = DrugTargetEnvironment()
        env.reset(seed=11, scenario="kras_pdac_borderline")
        env.step(DrugTargetAction(action_type=A.QUERY_EXPRESSION, parameters={"database": "TCGA"}))
        obs = env.step(DrugTargetAction(action_type=action, parameters=params))
        assert obs.latest_output.status == "ok", obs.latest_output.summary
        readouts.add(obs.latest_output.data[key])
    assert len(readouts) == 1, readouts


def test_only_naming_the_stratification_biomarker_sharpens_the_assay():
    from drugenv.simulator.evidence import names_marker

    marker = "KRAS G12C / RTK driver / NF1 loss"
    assert all(names_marker(n, marker) for n in ("KRAS G12C", "g12c", " kras  g12c ", "NF1 loss", "rtk driver"))
    assert not any(names_marker(n, marker) for n in (None, "", " ", "a", "G12", "KRAS G12D", "rt", "nf1 gain"))


def test_readout_noise_follows_the_tiers_noise_level_around_the_truth():
    """Data quality shapes the evidence: a readout's spread over episodes grows with the noise level, and
    its mean stays near the same value (only golden hashes pinned this before)."""
    from drugenv.simulator.params import SimParams

    def readouts(noise: float) -> np.ndarray:
        env = DrugTargetEnvironment(sim_params=SimParams(noise_level={"easy": noise}))
        out = []
        for seed in range(120):
            env.reset(seed=seed, scenario="egfr_nsclc_viable")
            env.step({"action_type": "query_expression", "parameters": {"database": "TCGA"}})
            out.append(env.step({"action_type": "druggability_screen"}).latest_output.data["druggability_score"])
        return np.array(out)

    quiet, noisy = readouts(0.05), readouts(0.4)
    assert noisy.std() > 3 * quiet.std() > 0
    assert abs(noisy.mean() - quiet.mean()) < 0.1


def test_a_database_without_coverage_says_no_data_every_time_and_still_charges():
    """A rare indication's TCGA often holds nothing: the reply is no_data, the same on every repeat of
    the episode, and the query is paid for (coverage is a property of the episode and database)."""
    seeds = [s for s in range(200) if generate_scenario(s, "easy").quality.database_coverage["TCGA"] < 0.3]
    found = 0
    for seed in seeds:
        replies = []
        for _ in range(2):
            env = DrugTargetEnvironment()
            before = env.reset(seed=seed, scenario="procedural", difficulty="easy")
            obs = env.step({"action_type": "query_expression", "parameters": {"database": "TCGA"}})
            replies.append((obs.latest_output.status, obs.latest_output.summary, before.credits_remaining - obs.credits_remaining))
        assert replies[0] == replies[1]
        if replies[0][0] == "no_data":
            found += 1
            assert replies[0][2] > 0 and "holds no data" in replies[0][1]
    assert found >= 3, f"only {found} no_data replies among {len(seeds)} low-coverage episodes"
