"""The agent service's parts without Ray: checkpoint resolution, gene/indication episodes, the Environment
deployment's strictness (its class, called directly)."""

import json

import pytest

pytest.importorskip("ray.serve")  # the module defines Serve deployments, even where these tests do not start one

from drugenv.errors import ConfigError, UnknownScenarioError  # noqa: E402
from serve.agent_service import AgentServiceArgs, Environment, episode_for, resolve_agent  # noqa: E402


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


class _Remote:
    """A DeploymentHandle method stand-in: ``.remote(...).result()`` calls the replica's method in-process."""

    def __init__(self, fn):
        self.fn = fn

    def remote(self, *args, **kwargs):
        out = self.fn(*args, **kwargs)
        return type("Response", (), {"result": lambda self: out})()


def test_episode_result_through_the_shared_loop():
    """``POST /episodes``' body without Ray: the shared loop over the handle policy / environment, then ``_result``
    (a heuristic stands in for the Agent, so the episode ends with a report)."""
    from types import SimpleNamespace

    from drugenv.agents.baselines import HeuristicPolicy
    from drugenv.evaluation.episodes import EpisodeSpec, play_episodes
    from drugenv.models import DrugTargetAction
    from serve.agent_service import EpisodeRequest, HandleEnv, HandlePolicy, _result

    heuristic = HeuristicPolicy()
    heuristic.reset(1)

    def act(obs):
        a = heuristic.act([obs])[0]
        return {"action": a.model_dump(mode="json") if isinstance(a, DrugTargetAction) else dict(a), "text": "", "valid": True}

    replica = Environment.func_or_class()
    env_handle = SimpleNamespace(reset=_Remote(replica.reset), step=_Remote(replica.step), close=_Remote(replica.close))
    policy, env = HandlePolicy(SimpleNamespace(act=_Remote(act))), HandleEnv(env_handle, None)
    played = play_episodes(policy, [EpisodeSpec("egfr_nsclc_viable", 0)], env_factory=lambda: env, batch_size=1)[0]
    res = _result(EpisodeRequest(scenario="egfr_nsclc_viable"), 0, "egfr_nsclc_viable", played, policy, env)
    assert replica.sessions == {}  # the loop closed the episode's session
    assert res.report is not None and res.report.final_decision in ("go", "no_go") and res.confidence == res.report.confidence
    assert len(res.steps) == played.steps == res.valid_actions and res.total_reward == pytest.approx(sum(s.reward for s in res.steps))
    assert res.termination_reason == "report_submitted" and res.target_gene == "EGFR"
    assert res.terminal_reward == pytest.approx(sum(v for k, v in res.steps[-1].reward_terms.items() if k.startswith("terminal/")))
