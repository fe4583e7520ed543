"""DrugEnv's public API type-checks clean, and a user's type checker reads it (``drugenv/py.typed``).

The first test runs ``python -m mypy`` with ``pyproject.toml``'s ``[tool.mypy]`` (the public modules, the
pydantic plugin) and expects no error. The second type-checks a user's script, which imports DrugEnv as an
installed package (found on the interpreter's path, where mypy reads a package only if it has ``py.typed``):
the script (an episode, a ``Policy`` returning dicts, the client) passes, and the same script with two
mistakes is refused at both, which it would not be if DrugEnv's annotations were not read (every name Any).

Skipped where mypy is not installed (it comes with the ``test`` extra). The two runs share one cache, so the
second reads the first's analysis of DrugEnv and its libraries instead of repeating it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")
pytest.importorskip("pydantic.mypy")  # the plugin [tool.mypy] loads

ROOT = Path(__file__).resolve().parents[1]

USER_SCRIPT = '''\
from __future__ import annotations

from typing import Any, Optional, Sequence

from drugenv import ActionType, DrugTargetAction, DrugTargetEnv, DrugTargetEnvironment, Policy, StepResult, ValidationObservation
from drugenv.evaluation.evaluate import evaluate


class ExpressionFirst(Policy):
    name = "expression_first"

    def act(self, observations: Sequence[ValidationObservation]) -> list[dict[str, Any]]:
        return [{"action_type": "query_expression", "parameters": {}} if obs.step_count == 0 else
                {"action_type": "submit_validation_report", "final_decision": "go", "confidence": 0.6}
                for obs in observations]


def play(seed: int) -> float:
    env = DrugTargetEnvironment()
    obs = env.reset(seed=seed, scenario="procedural")
    policy = ExpressionFirst()
    policy.reset(1, seeds=[seed])
    total = 0.0
    while not obs.done:
        obs = env.step(policy.act([obs])[0])
        total += obs.reward or 0.0
    credits: int = obs.credits_remaining
    return total + credits


def remote(url: str) -> Optional[float]:
    with DrugTargetEnv(url) as client:
        first: StepResult = client.reset(seed=3)
        gene: str = first.observation.target_gene
        result = client.step(DrugTargetAction(action_type=ActionType.QUERY_EXPRESSION, reasoning=gene))
        return result.reward


summary, records = evaluate(ExpressionFirst(), "curated", 2, 0, progress=False)
accuracy: float = summary["decision_accuracy"]
'''

MISTAKES = {
    "    wrong_credits: str = obs.credits_remaining\n": "    credits: int = obs.credits_remaining\n",
    "        wrong_reward: str = result.reward\n": "        return result.reward\n",
}
"""A line to add before each anchor line of ``USER_SCRIPT``: each assigns a value of another type."""


def _mypy(args: list[str], cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    # mypy takes the interpreter's path from this Python; ROOT first, so the checkout's drugenv is the one found
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy_cache")


def test_the_public_modules_type_check_clean(mypy_cache):
    run = _mypy([], ROOT, mypy_cache)  # files and options: pyproject.toml's [tool.mypy]
    assert run.returncode == 0 and "Success: no issues found" in run.stdout, run.stdout + run.stderr


def test_a_users_script_type_checks_against_drugenvs_annotations(tmp_path, mypy_cache):
    good = tmp_path / "good.py"
    good.write_text(USER_SCRIPT, encoding="utf-8")
    bad_text = USER_SCRIPT
    for mistake, anchor in MISTAKES.items():
        assert bad_text.count(anchor) == 1, anchor
        bad_text = bad_text.replace(anchor, mistake + anchor)
    bad = tmp_path / "bad.py"
    bad.write_text(bad_text, encoding="utf-8")
    expected_lines = sorted(bad_text.splitlines(keepends=True).index(m) + 1 for m in MISTAKES)

    # DrugEnv is found on the interpreter's path as an installed package (not as a source of this run), with
    # the user's checker set as this repository's is (the pydantic plugin, the same cache)
    run = _mypy(["--config-file", str(ROOT / "pyproject.toml"), "good.py", "bad.py"], tmp_path, mypy_cache)
    output = run.stdout + run.stderr
    errors = re.findall(r"^(good|bad)\.py:(\d+): error: (.*)$", run.stdout, re.M)
    assert [e for e in errors if e[0] == "good"] == [], output
    assert sorted(int(line) for name, line, _ in errors if name == "bad") == expected_lines, output
    assert all("Incompatible types in assignment" in message and "[assignment]" in message for _, _, message in errors), output
    assert run.returncode == 1, output
