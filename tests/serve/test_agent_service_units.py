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
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "some/base"}), encoding="utf-8")
    (adapter.parent / "drugenv_checkpoint.json").write_text(json.dumps({"settings": {"run": {"eval_max_new_tokens": 24}}}), encoding="utf-8")
    assert resolve_agent(AgentServiceArgs(checkpoint=str(adapter.parent))) == ("some/base", str(adapter.resolve()), 24, 2048)
    assert resolve_agent(AgentServiceArgs(checkpoint=str(adapter), model="other"))[:2] == ("other", str(adapter.resolve()))
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": ""}), encoding="utf-8")
    with pytest.raises(ConfigError, match="--model"):
        resolve_agent(AgentServiceArgs(checkpoint=str(adapter.parent)))


@pytest.mark.parametrize("settings,budgets", [({}, (128, 2048)),
                                              ({"run": {"eval_max_new_tokens": 24, "eval_max_prompt_tokens": 700},
                                                "training": {"max_new_tokens": 40, "max_prompt_tokens": 900}}, (24, 700)),
                                              ({"training": {"max_new_tokens": 40, "max_prompt_tokens": 900}}, (40, 900))])
def test_the_service_decodes_a_checkpoint_with_the_budgets_eval_gives_it(tmp_path, settings, budgets):
    """``drugenv serve`` and ``drugenv eval --agent checkpoint:`` read one checkpoint's budgets alike
    (a run without run.eval_max_new_tokens was decoded with 96 tokens by one and 128 by the other)."""
    from drugenv.llm.checkpoint import checkpoint_budgets

    adapter = tmp_path / "checkpoint_final" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "some/base"}), encoding="utf-8")
    meta = {"algo": "grpo", "settings": settings}
    (adapter.parent / "drugenv_checkpoint.json").write_text(json.dumps(meta), encoding="utf-8")
    assert resolve_agent(AgentServiceArgs(checkpoint=str(adapter.parent)))[2:] == checkpoint_budgets(meta) == budgets


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
    # The gene an episode names asks for any of its records (KRAS was refused: the records are KRAS_G12C/D)
    assert pair_of(episode_for("KRAS", "PDAC", 0)) in ("KRAS_G12C/PDAC", "KRAS_G12D/PDAC")
    assert pair_of(episode_for("kras_g12d", "pdac", 0)) == "KRAS_G12D/PDAC"
    assert pair_of(episode_for("CDK4/6", None, 0)).startswith("CDK4_6/")
    # The search stops at the largest seed: it returned 2**63 + 24 for EGFR, which every reset refuses.
    from drugenv.server.protocol import MAX_SEED

    top = MAX_SEED - 300
    found = [s for s in range(top, MAX_SEED + 1) if pair_of(s).startswith("EGFR/")]
    assert episode_for("EGFR", None, top) == found[0]
    other = "TP53" if pair_of(MAX_SEED).startswith("EGFR/") else "EGFR"  # a gene the last seed does not draw
    with pytest.raises(ConfigError, match=f"no procedural seed in \\[{MAX_SEED}, {MAX_SEED + 1}\\)"):
        episode_for(other, None, MAX_SEED)


def test_a_readout_that_is_no_finite_number_is_found_wherever_it_sits():
    """JSON reads 1e400 as inf: in a readout no field types, /act's prompt said "inf" (a 200); now it is a 422."""
    from serve.agent_service import EpisodeRequest, non_finite_at

    from drugenv.simulator.environment import DrugTargetEnvironment

    obs = DrugTargetEnvironment().reset(seed=0)
    assert non_finite_at(obs.model_dump()) is None
    odd = obs.model_copy(update={"latest_output": obs.latest_output.model_copy(update={"data": {"extra": [1.0, float("inf")]}})})
    assert non_finite_at(odd.model_dump()) == "observation.latest_output.data.extra.1"
    deep: list = [float("nan")]
    for _ in range(5_000):
        deep = [deep]
    assert non_finite_at(deep, "x") == "x" + ".0" * 5_000 + ".0"
    for cap in (True, "2", 2.0):  # read loosely as 1 and 2, where the seed was already strict
        with pytest.raises(ValueError, match="max_steps"):
            EpisodeRequest(max_steps=cap)


def test_nesting_depth_is_measured_level_by_level():
    from serve.agent_service import nesting_depth

    deep: dict = {}
    node = deep
    for _ in range(2_000):  # deeper than Python's recursion limit allows a recursive walk
        node["d"] = [{}]
        node = node["d"][0]
    assert [nesting_depth(v) for v in (1, "x", {}, [], {"a": 1}, {"a": {"b": [1]}}, [[], [[]]])] == [0, 0, 1, 1, 1, 3, 3]
    assert nesting_depth(deep) == 4_001
    # Models count as levels, and their free-form dicts are measured too, not only the metadata.
    from drugenv.simulator.environment import DrugTargetEnvironment

    obs = DrugTargetEnvironment().reset(seed=0)
    base = nesting_depth(obs)
    assert 1 < base < 16
    deeper = obs.model_copy(update={"latest_output": obs.latest_output.model_copy(update={"data": {"d": deep}})})
    assert nesting_depth(deeper) >= 4_001


def test_the_agent_replica_reserves_the_gpus_asked_for():
    from serve.agent_service import build_agent_service

    ckpt_args = {"model": "tiny"}
    assert AgentServiceArgs(**ckpt_args).num_gpus == 0.0
    with pytest.raises(ValueError):
        AgentServiceArgs(num_gpus=-1)
    app = build_agent_service({**ckpt_args, "num_gpus": 1})
    agents = [d for d in _deployments(app) if d.name == "Agent"]
    assert agents and agents[0].ray_actor_options["num_gpus"] == 1 and agents[0].ray_actor_options["num_cpus"] == 1


def _deployments(app):
    """The deployments an application binds (its ingress and those its arguments bind), without Serve running."""
    seen, todo = [], [app]
    while todo:
        deployment = todo.pop()._bound_deployment
        seen.append(deployment)
        todo += [a for a in (*deployment.init_args, *deployment.init_kwargs.values()) if hasattr(a, "_bound_deployment")]
    return seen


def test_a_replica_whose_seal_disagrees_with_the_builder_refuses_to_start(monkeypatch):
    """The seal reaches a replica from the environment of the process that started Ray, not from the driver: a Ray
    started without it served a sealed app unsealed (every observation carrying its seed)."""
    from serve.apps import EXPECT_SEAL_ENV_VAR, _build_env_asgi_app, build_env_app

    from drugenv.server.serve import SEAL_ENV_VAR

    monkeypatch.setenv(SEAL_ENV_VAR, "s3cret")
    app = build_env_app({"replicas": 1})
    env_vars = app._bound_deployment.ray_actor_options["runtime_env"]["env_vars"]
    assert env_vars[EXPECT_SEAL_ENV_VAR] == "1" and "s3cret" not in json.dumps(env_vars)
    monkeypatch.setenv(EXPECT_SEAL_ENV_VAR, "1")
    monkeypatch.delenv(SEAL_ENV_VAR)
    with pytest.raises(ConfigError, match="refusing to serve unsealed"):
        _build_env_asgi_app()
    monkeypatch.setenv(EXPECT_SEAL_ENV_VAR, "0")
    monkeypatch.setenv(SEAL_ENV_VAR, "other")
    with pytest.raises(ConfigError, match="built unsealed"):
        _build_env_asgi_app()
    monkeypatch.delenv(SEAL_ENV_VAR)
    assert _build_env_asgi_app() is not None  # agreeing: unsealed both sides


def test_serve_ports_are_checked_before_ray_starts(monkeypatch):
    import socket

    import serve.apps
    from serve.apps import Args, ServeArgs, main, serve_main

    def started(*args, **kwargs):  # Serve took port 0 and 70000 and failed, or served, after Ray started
        raise AssertionError("Ray and Serve were started")

    monkeypatch.setattr(serve.apps, "_run_blocking", started)

    for port in (0, 70_000):
        with pytest.raises(ConfigError, match=f"--port must be 1-65535, got {port}"):
            main(Args(app="env", port=port))
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot bind 127.0.0.1:{port}"):
            main(Args(app="env", port=port))
        with pytest.raises(ConfigError, match=f"cannot bind 127.0.0.1:{port}"):
            serve_main(ServeArgs(model="tiny", port=port))
    # A setting of another app was dropped without a word (--app env --checkpoint x served the env app)
    for args, words in ((Args(app="env", checkpoint="x"), "--checkpoint is a setting of --app agent; --app env"),
                        (Args(app="agent", checkpoint="x", replicas=2), "--replicas is a setting of --app env"),
                        (Args(app="dashboard", max_sessions=3), "--max-sessions is a setting of --app env"),
                        (Args(app="env", runs="elsewhere"), "--runs is a setting of --app dashboard")):
        with pytest.raises(ConfigError, match=words):
            main(args)


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
