"""The hidden truth never leaves the simulator: not in observations, state, or via imports."""

import json
from pathlib import Path

import pytest

import drugenv
from drugenv.agents.baselines import HeuristicPolicy, RandomPolicy
from drugenv.scenarios import CURATED_NAMES, curated_scenarios
from drugenv.simulator.environment import DrugTargetEnvironment
from tests.imports import imported_modules

HIDDEN_NAMES = ["correct_decision", "true_viability_score", "key_evidence_dimensions", "misleading_signals",
                "required_parameters", "scenario_id", "false_negative_rate", "database_coverage"]
PKG = Path(drugenv.__file__).parent
# Modules allowed to import the hidden-truth module.
ALLOWED = {"simulator/latent.py", "simulator/transitions.py", "simulator/evidence.py", "simulator/reward.py",
           "simulator/environment.py", "scenarios/base.py", "scenarios/curated.py", "scenarios/procedural.py"}


def secrets():
    out = list(HIDDEN_NAMES) + list(CURATED_NAMES)
    for sc in curated_scenarios().values():
        out += [m.description for m in sc.profile.misleading_signals]
    return out


@pytest.mark.parametrize("scenario", [*CURATED_NAMES, "procedural"])
@pytest.mark.parametrize("policy_cls", [RandomPolicy, HeuristicPolicy])
def test_no_secret_in_any_observation_or_state(scenario, policy_cls):
    env = DrugTargetEnvironment()
    for seed in range(4):
        pol = policy_cls()
        obs = env.reset(seed=seed, scenario=scenario)
        dumps = [obs.model_dump_json(), env.state.model_dump_json()]
        while not obs.done:
            obs = env.step(pol.act([obs])[0])
            dumps += [obs.model_dump_json(), env.state.model_dump_json(), json.dumps(env.last_info)]
        blob = "\n".join(dumps)
        for s in secrets():
            assert s not in blob, f"hidden {s!r} leaked"


def test_schema_has_no_hidden_fields():
    from drugenv.models import DrugTargetState, ValidationObservation

    blob = json.dumps([ValidationObservation.model_json_schema(), DrugTargetState.model_json_schema()])
    for s in HIDDEN_NAMES:
        assert s not in blob


def test_only_engines_import_the_hidden_truth():
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        names = imported_modules(path, PKG.parent)
        if any(n == "drugenv.simulator.latent" or n.startswith("drugenv.simulator.latent.") for n in names) and rel not in ALLOWED:
            offenders.append(rel)
    assert not offenders, f"modules importing drugenv.simulator.latent outside the engines: {sorted(set(offenders))}"


def test_the_import_scan_resolves_relative_imports(tmp_path):
    """Control: ``from .latent import X`` and ``from . import latent`` inside ``drugenv/simulator`` are the module."""
    sim = tmp_path / "drugenv" / "simulator"
    sim.mkdir(parents=True)
    for i, line in enumerate(["from .latent import FullLatentState", "from . import latent",
                              "def f():\n    from ..simulator.latent import TargetProfile"]):
        (sim / f"m{i}.py").write_text(line + "\n", encoding="utf-8")
        assert "drugenv.simulator.latent" in imported_modules(sim / f"m{i}.py", tmp_path), line
