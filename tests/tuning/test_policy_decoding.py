"""RLModulePolicy's greedy decoding over the factored action (no Ray needed: a fake module)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ray.rllib")  # drugenv.training.ppo builds on RLlib

from drugenv.actions import ActionType  # noqa: E402
from drugenv.gym_envs.vector_env import OBS_DIM, VECTOR_ACTIONS  # noqa: E402
from drugenv.simulator.environment import DrugTargetEnvironment  # noqa: E402
from drugenv.training.ppo import RLModulePolicy  # noqa: E402

NAMES = [a.name for a in VECTOR_ACTIONS]


class FakeModule:
    def __init__(self, logits):
        self.logits = torch.tensor(logits, dtype=torch.float32)

    def forward_inference(self, batch):
        assert batch["obs"].shape[1] == OBS_DIM
        return {"action_dist_inputs": self.logits.expand(batch["obs"].shape[0], -1)}


def _obs():
    return DrugTargetEnvironment().reset(seed=0, scenario="egfr_nsclc_viable")


def _logits(**named):
    x = np.zeros(len(VECTOR_ACTIONS))
    for k, v in named.items():
        x[NAMES.index(k.replace("__", " "))] = v
    return x


def test_factored_greedy_submits_when_report_mass_wins():
    # One evidence action is the single most likely action, but the 10 report actions together outweigh it.
    x = _logits()
    x[NAMES.index("query_expression")] = 1.5
    x[[i for i, a in enumerate(VECTOR_ACTIONS) if a.final_decision == "no_go"]] = 1.0
    x[NAMES.index("submit(no_go, 0.85)")] = 1.2
    argmax = RLModulePolicy(FakeModule(x), greedy="argmax").act([_obs()])[0]
    factored = RLModulePolicy(FakeModule(x)).act([_obs()])[0]
    assert argmax.action_type == ActionType.QUERY_EXPRESSION
    assert factored.action_type == ActionType.SUBMIT_VALIDATION_REPORT
    assert (factored.final_decision, factored.confidence) == ("no_go", 0.85)


def test_factored_greedy_picks_evidence_otherwise_and_masks_unaffordable():
    x = _logits()
    x[NAMES.index("in_vivo_model")] = 9.0  # costs 8 credits
    x[NAMES.index("toxicity_panel")] = 5.0
    obs = _obs()
    obs.legal_actions = [a for a in obs.legal_actions if a != ActionType.IN_VIVO_MODEL]
    act = RLModulePolicy(FakeModule(x)).act([obs])[0]
    assert act.action_type == ActionType.TOXICITY_PANEL


def test_bad_greedy_mode():
    with pytest.raises(ValueError, match="factored"):
        RLModulePolicy(FakeModule(_logits()), greedy="sample")
