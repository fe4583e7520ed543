"""``RandomPolicy`` builds its actions without re-validating them: each must equal the validated one."""

from __future__ import annotations

from drugenv.actions import ActionType
from drugenv.agents.baselines import RandomPolicy
from drugenv.models import DrugTargetAction
from drugenv.simulator.environment import DrugTargetEnvironment


def test_random_actions_equal_validated_actions():
    env, policy = DrugTargetEnvironment(), RandomPolicy(seed=5, submit_prob=0.1)
    seen: set[ActionType] = set()
    for episode in range(40):
        obs = env.reset(seed=episode)
        while not obs.done:
            action = policy.act([obs])[0]
            if action.action_type == ActionType.SUBMIT_VALIDATION_REPORT:
                want = DrugTargetAction(action_type=action.action_type, final_decision=action.final_decision,
                                        confidence=action.confidence, reasoning="random")
            else:  # as the policy built it before: parameters (canonical here: validation keeps them) and reasoning
                want = DrugTargetAction(action_type=action.action_type, parameters=action.parameters, reasoning="random")
            assert action == want
            assert action.model_fields_set == want.model_fields_set
            assert action.model_dump_json() == want.model_dump_json()
            assert action.key() == want.key()
            seen.add(action.action_type)
            obs = env.step(action)
    assert len(seen) >= 15  # most action types were drawn
