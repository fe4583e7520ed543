"""The agent service's parts without Ray: checkpoint resolution, gene/indication episodes, the Environment
deployment's strictness (its class, called directly)."""

import json

import pytest

from drugenv.errors import ConfigError, UnknownScenarioError
from serve.agent_service import AgentServiceArgs, Environment, episode_for, resolve_agent


def test_base_model_comes_from_adapter_config(tmp_path):
    adapter = tmp_path / "checkpoint_final" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "some/base"}))
    (adapter.parent / "drugenv_checkpoint.json").write_text(json.dumps({"settings": {"run": {"eval_max_new_tokens": 24}}}))
    assert resolve_agent(AgentServiceArgs(checkpoint=str(adapter.parent))) == ("some/base", str(adapter.resolve()), 24)
    assert resolve_agent(AgentServiceArgs(checkpoint=str(adapter), model="other"))[:2] == ("other", str(adapter.resolve()))
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": ""}))
    with pytest.raises(ConfigError, match="--model"):
        resolve_agent(AgentServiceArgs(checkpoint=str(adapter.parent)))


@pytest.mark.parametrize("args,words", [({"checkpoint": "/nope"}, "does not exist"), ({}, "--checkpoint PATH"),
                                        ({"model": "m", "adapter": "/nope"}, "does not exist")])
def test_bad_agent_arguments(args, words):
    with pytest.raises(ConfigError, match=words):
        resolve_agent(AgentServiceArgs(**args))


def test_episode_for_gene_and_indication():
    from drugenv.scenarios.procedural import pair_of

    seed = episode_for("egfr", "gbm", 5)
    assert seed >= 5 and pair_of(seed) == "EGFR/GBM"
    assert pair_of(episode_for("EGFR", None, 0)).startswith("EGFR/")
    with pytest.raises(UnknownScenarioError, match="NOPE"):
        episode_for("NOPE", None, 0)


def test_environment_strictness():
    unparseable = {"action_type": "__unparseable__", "parameters": {}, "reasoning": "no JSON"}
    lenient = Environment.func_or_class()
    session, obs = lenient.reset(seed=0, scenario="egfr_nsclc_viable")
    after = lenient.step(session, unparseable)
    assert after.step_count == 1 and after.reward < 0 and after.rule_violations[0].rule == "invalid_action"
    strict = Environment.func_or_class(strict_actions=True)
    session, _ = strict.reset(seed=0, scenario="egfr_nsclc_viable", max_steps=3)
    with pytest.raises(ConfigError, match="strict_actions"):
        strict.step(session, unparseable)
    strict.close(session)
    with pytest.raises(ConfigError, match="unknown or expired"):
        strict.step(session, unparseable)
