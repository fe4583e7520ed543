"""Your own agent in ``drugenv eval`` (``--agent MODULE:NAME`` / ``FILE.py:NAME``): it is imported, built
with ``--extra`` and ``--seed``, played and scored like a baseline; every mistake in the spec is one
line; and nothing that takes an agent name over the network imports anything."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from drugenv import DrugTargetAction, Policy
from drugenv.errors import ConfigError, UnknownScenarioError
from drugenv.evaluation.agents import is_import_spec, make_policy
from drugenv.evaluation.evaluate import evaluate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/safety_and_potency.py:SafetyAndPotency"

# One report at once: go or no_go as told, so a test can see its --extra arrive.
AGENTS = '''
from drugenv import DrugTargetAction, Policy

class Decides(Policy):
    name = "decides"
    def __init__(self, decision="go", seed=None):
        self.decision, self.seed = decision, seed
    def act(self, observations):
        return [DrugTargetAction(action_type="submit_validation_report", final_decision=self.decision,
                                 confidence=0.6, reasoning="decided") for _ in observations]

def make(decision="no_go", seed=0):
    return Decides(decision, seed)

ready = Decides("go")

def not_a_policy():
    return {"action_type": "submit_validation_report"}

class NotAPolicy:
    pass

class NoAct(Policy):
    pass

class Sure(Decides):
    def __init__(self, decision="go", confidence=0.6):
        super().__init__(decision)
        self.confidence = confidence
    def act(self, observations):
        return [a.model_copy(update={"confidence": self.confidence}) for a in super().act(observations)]

class OneActionOnly(Decides):
    def act(self, observations):
        return super().act(observations)[:1]
'''


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``drugenv eval ARGS`` in ``cwd``. ``-P`` keeps the current folder off ``sys.path``, as the ``drugenv``
    script does (``python -m`` would put it there, and hide a lookup that forgets it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    flags = ["-P"] if sys.version_info >= (3, 11) else []
    return subprocess.run([sys.executable, *flags, "-m", "drugenv.cli", "eval", "--no-progress", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def agents_module(tmp_path, monkeypatch):
    """``AGENTS`` as a module of a fresh name in a folder of its own, made the current folder; ``sys.path``
    and ``sys.modules`` come back as they were."""
    name = "own_agents_" + re.sub(r"\W", "_", tmp_path.name)  # pytest's folder names are unique in a run
    (tmp_path / f"{name}.py").write_text(AGENTS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    return name


def test_the_example_agent_is_scored_against_the_heuristic_on_the_same_episodes(tmp_path):
    out = tmp_path / "own.json"
    res = _cli("--agent", EXAMPLE, "--suite", "procedural-test", "--episodes", "20", "--paired", "heuristic", "--out", str(out))
    assert res.returncode == 0, res.stderr
    payload = json.loads(out.read_text(encoding="utf-8"))
    records = payload["records"]
    assert payload["agent"] == EXAMPLE and len(records) == 20
    # It plays its plan (five readouts, then the report), respecting every prerequisite, and decides by its rule.
    assert all(r["steps"] == 6 and r["violations"] == 0 and r["decision"] in ("go", "no_go") for r in records)
    assert {r["decision"] for r in records} == {"go", "no_go"}
    assert payload["paired"]["agent"] == "heuristic" and len(payload["paired"]["diff"]) == 5
    # --extra reaches the constructor: no IC50 is under 0 nM, so every report is no_go.
    res = _cli("--agent", EXAMPLE, "--suite", "procedural-test", "--episodes", "20", "--extra", "max_ic50_nm", "0",
               "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert {r["decision"] for r in json.loads(out.read_text(encoding="utf-8"))["records"]} == {"no_go"}


def test_a_module_is_found_from_the_current_folder(tmp_path):
    (tmp_path / "my_lab_agents.py").write_text(AGENTS, encoding="utf-8")
    out = tmp_path / "own.json"
    res = _cli("--agent", "my_lab_agents:make", "--extra", "decision", "go", "--episodes", "5", "--out", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert [r["decision"] for r in json.loads(out.read_text(encoding="utf-8"))["records"]] == ["go"] * 5


def test_every_extra_flag_reaches_the_constructor(tmp_path):
    # tyro keeps a dict flag's last use only: the first pair was dropped without a word.
    (tmp_path / "my_lab_agents.py").write_text(AGENTS, encoding="utf-8")
    out = tmp_path / "own.json"
    res = _cli("--agent", "my_lab_agents:Sure", "--extra", "decision", "no_go", "--episodes", "3", "--extra", "confidence",
               "0.9", "--out", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert {(r["decision"], r["confidence"]) for r in json.loads(out.read_text(encoding="utf-8"))["records"]} == {("no_go", 0.9)}


def test_a_class_a_factory_and_an_instance(agents_module):
    cls = make_policy(f"{agents_module}:Decides", seed=7, allow_import=True, decision="no_go")
    assert isinstance(cls, Policy) and (cls.decision, cls.seed) == ("no_go", 7)  # --seed goes to a constructor taking one
    made = make_policy(f"{agents_module}:make", seed=3, allow_import=True)
    assert (made.decision, made.seed) == ("no_go", 3)
    ready = make_policy(f"{agents_module}:ready", allow_import=True)
    assert ready.decision == "go"
    _, records = evaluate(ready, "curated", 5, 0, progress=False)
    assert [r.decision for r in records] == ["go"] * 5
    with pytest.raises(ConfigError, match="instance, built already: it takes no --extra decision"):
        make_policy(f"{agents_module}:ready", allow_import=True, decision="go")


@pytest.mark.parametrize("spec, message", [
    ("{m}:Nobody", "has no 'Nobody' \\(it has: .*Decides"),
    ("{m}:Decides.nothing", "has no 'Decides.nothing'"),
    ("{m}:not_a_policy", "returned dict, not a drugenv Policy"),
    ("{m}:NotAPolicy", "the class NotAPolicy, not a drugenv Policy"),
    ("{m}:NoAct", "NoAct does not define act"),
    ("{m}:", "expected MODULE:NAME or FILE.py:NAME"),
    ("no_such_module_anywhere:Agent", "no module named 'no_such_module_anywhere'"),
    ("no_such_folder/agent.py:Agent", "no such file 'no_such_folder/agent.py'"),
])
def test_every_mistake_in_the_spec_is_a_config_error(agents_module, spec, message):
    with pytest.raises(ConfigError, match=message):
        make_policy(spec.format(m=agents_module), allow_import=True)


def test_an_extra_the_agent_does_not_take_is_named(agents_module):
    with pytest.raises(ConfigError, match="cannot be called with --extra colour"):
        make_policy(f"{agents_module}:Decides", allow_import=True, colour="red")


def test_an_error_in_the_agents_own_code_keeps_its_traceback(agents_module, tmp_path):
    """A module the agent imports and lacks is the agent's defect, not a mistake in --agent."""
    (tmp_path / "broken_agent.py").write_text("import a_dependency_nobody_installed\n", encoding="utf-8")
    with pytest.raises(ModuleNotFoundError, match="a_dependency_nobody_installed"):
        make_policy("broken_agent:Agent", allow_import=True)
    (tmp_path / "raising_agent.py").write_text(AGENTS + "\nclass Fails(Decides):\n    def __init__(self):\n"
                                               "        raise RuntimeError('my bug')\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="my bug"):
        make_policy("raising_agent:Fails", allow_import=True)


def test_a_policy_returning_the_wrong_number_of_actions_is_named(agents_module):
    policy = make_policy(f"{agents_module}:OneActionOnly", allow_import=True)
    with pytest.raises(ConfigError, match="returned 1 actions for 2 observations"):
        evaluate(policy, "curated", 2, 0, batch_size=2, progress=False)


def test_the_cli_says_a_wrong_spec_in_one_line(tmp_path):
    res = _cli("--agent", "no_such_module_anywhere:Agent", "--episodes", "1", cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        f"drugenv eval: error: --agent no_such_module_anywhere:Agent: no module named 'no_such_module_anywhere' (from {tmp_path}); "
        "run from the folder that holds it, or name the file: --agent path/to/agent.py:NAME"]


def test_a_name_from_anywhere_else_imports_nothing(tmp_path):
    """The dashboard's form takes an agent name over HTTP: a spec there is an unknown agent, and the file
    never runs (it would leave a mark)."""
    mark = tmp_path / "imported"
    agent = tmp_path / "evil_agent.py"
    agent.write_text(f"open({str(mark)!r}, 'w').close()\n" + AGENTS, encoding="utf-8")
    spec = f"{agent}:Decides"
    assert is_import_spec(spec) and not is_import_spec("checkpoint:runs/x")
    with pytest.raises(UnknownScenarioError, match="unknown agent"):
        make_policy(spec)
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from drugenv.dashboard import create_app

    with TestClient(create_app(tmp_path, step_delay_s=0.02, stale_after_s=600)) as client:
        r = client.post("/api/episodes", json={"agent": spec})
    assert r.status_code == 400 and "unknown agent" in r.json()["detail"]
    assert not mark.exists()
    make_policy(spec, allow_import=True)  # the control: the same spec does import where allowed
    assert mark.exists()


def test_top_level_exports():
    import drugenv
    from drugenv.agents import Policy as from_agents

    assert drugenv.Policy is from_agents is Policy and DrugTargetAction is drugenv.DrugTargetAction


def test_the_committed_example_record_replays_and_the_readme_quotes_it():
    """``docs/results/example_agent.json`` is what the README's first command writes today (the environment
    has not moved under it), and the README's sentence quotes its numbers."""
    from drugenv.evaluation.agents import import_policy
    from drugenv.evaluation.bootstrap import paired_bootstrap

    committed = json.loads((ROOT / "docs" / "results" / "example_agent.json").read_text(encoding="utf-8"))
    assert (committed["agent"], committed["suite"], committed["episodes"], committed["seed"]) == (EXAMPLE, "procedural-test", 300, 0)
    summary, records = evaluate(import_policy(str(ROOT / EXAMPLE)), "procedural-test", 300, 0, progress=False)
    assert summary == pytest.approx(committed["summary"], rel=1e-9)  # last bits may differ on another CPU's numpy
    assert [(r.seed, r.decision, r.correct_decision, r.steps) for r in records] == [
        (r["seed"], r["decision"], r["correct_decision"], r["steps"]) for r in committed["records"]]
    ref_summary, ref_records = evaluate(make_policy("heuristic"), "procedural-test", 300, 0, progress=False)
    assert ref_summary == pytest.approx(committed["paired"]["summary"], rel=1e-9)
    diff = paired_bootstrap(records, ref_records)
    acc, brier = diff["decision_accuracy"], diff["brier"]
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    quoted = (f"right in {summary['decision_accuracy']:.2f} of them against the heuristic's {ref_summary['decision_accuracy']:.2f} "
              f"(paired difference {acc['diff']:+.2f} [{acc['diff_ci'][0]:.2f}, {acc['diff_ci'][1]:.2f}]), with Brier "
              f"{summary['brier']:.3f} against {ref_summary['brier']:.3f} ({brier['diff']:+.2f} [{brier['diff_ci'][0]:.2f}, "
              f"{brier['diff_ci'][1]:.2f}])").replace("-", "−")
    assert quoted in readme
    for metric, numbers in diff.items():
        for key, value in numbers.items():
            assert value == pytest.approx(committed["paired"]["diff"][metric][key], rel=1e-9, abs=1e-12), (metric, key)
