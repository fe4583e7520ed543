"""The one episode loop (``evaluation.episodes.play_episodes``) and the remote-environment adapter."""

from __future__ import annotations

import pytest

from drugenv.agents.base import Policy
from drugenv.agents.baselines import HeuristicPolicy, OraclePolicy, RandomPolicy
from drugenv.errors import ConfigError
from drugenv.evaluation.episodes import EpisodeSpec, play_episodes
from drugenv.evaluation.evaluate import episode_record, run_episodes
from drugenv.scenarios import suite_episodes
from drugenv.simulator.environment import DrugTargetEnvironment

EPISODES = suite_episodes("curated", 3, 0) + suite_episodes("procedural-test", 4, 0)


def _summary(played):
    return [(p.spec, p.steps, p.episode_return, p.terminal_reward, p.violations, p.last_observation.model_dump_json())
            for p in played]


def test_batching_does_not_change_episodes():
    runs = {b: play_episodes(HeuristicPolicy(), EPISODES, batch_size=b) for b in (1, 3, 8)}
    assert _summary(runs[1]) == _summary(runs[3]) == _summary(runs[8])
    assert all(p.done and p.outcome is not None for p in runs[3])
    assert [p.index for p in runs[3]] == list(range(len(EPISODES)))


def test_evaluation_records_come_from_the_loop():
    played = play_episodes(RandomPolicy(seed=3), EPISODES, batch_size=4)
    assert run_episodes(RandomPolicy(seed=3), EPISODES, batch_size=4, progress=False) == [episode_record(p) for p in played]


class _NeverReports(Policy):
    """Queries expression until the credits run out: the episode ends on a query step, whose breakdown holds
    step terms beside the terminal ones (a reporting agent's last step has none)."""

    def act(self, observations):
        return [{"action_type": "query_expression", "parameters": {"database": "GTEx"}, "reasoning": "again"}
                for _ in observations]


@pytest.mark.parametrize("policy_cls", [HeuristicPolicy, RandomPolicy, _NeverReports])
def test_a_record_holds_what_the_environment_says_of_its_episode(policy_cls):
    """Each field against the environment played by hand: the sum of its rewards, of its terminal
    terms, of its violations, and its outcome (not the loop's own bookkeeping read back)."""
    spec = EPISODES[0]
    (record,) = run_episodes(policy_cls(), [spec], batch_size=1, progress=False)
    policy, env = policy_cls(), DrugTargetEnvironment()
    obs = env.reset(seed=spec[1], scenario=spec[0])
    policy.reset(1)
    from drugenv.agents.base import brief

    brief(policy, 0, env)
    rewards, violations, last = [], 0, obs
    while not last.done:
        last = env.step(policy.act([last])[0])
        rewards.append(last.reward)
        violations += len(last.rule_violations)
    out = env.outcome()
    terminal = sum(v for k, v in last.step_reward_breakdown.items() if k.startswith("terminal/"))
    assert (record.decision, record.confidence, record.correct_decision) == (out.decision, out.confidence, out.correct_decision)
    assert (record.coverage, record.credits_used, record.steps, record.termination) == \
        (out.key_evidence_coverage, out.credits_used, out.steps, out.termination_reason)
    assert record.episode_return == pytest.approx(sum(rewards)) and record.terminal_reward == pytest.approx(terminal)
    assert record.violations == violations and record.steps == len(rewards)


def test_hooks_see_every_reset_step_and_end():
    resets, events, ends = [], [], []
    played = play_episodes(HeuristicPolicy(), EPISODES[:4], batch_size=2, on_reset=lambda i, s, o: resets.append((i, s)),
                           on_step=events.append, on_episode_end=ends.append)
    assert [i for i, _ in resets] == [0, 1, 2, 3] and ends == played
    assert len(events) == sum(p.steps for p in played)
    for p in played:
        mine = [e for e in events if e.episode == p.index]
        assert [e.step for e in mine] == list(range(1, p.steps + 1))
        assert mine[-1].episode_return == p.episode_return and mine[-1].observation is p.last_observation
        assert all(e.record is None and e.seconds >= 0 for e in mine)  # baselines keep no per-step record


def test_envs_are_made_once_per_slot_reused_and_closed():
    made = []

    class Env(DrugTargetEnvironment):
        closed = False

        def close(self):
            self.closed = True
            super().close()

    def factory():
        made.append(Env())
        return made[-1]

    play_episodes(HeuristicPolicy(), EPISODES, env_factory=factory, batch_size=3)
    assert len(made) == 3 and all(e.closed for e in made)


class _Counting(Policy):
    """Always literature search; records which slots it was shown as running."""

    name = "counting"

    def __init__(self):
        self.seen = []

    def act(self, observations):
        self.seen.append([not o.done for o in observations])
        return [{"action_type": "literature_search", "reasoning": "x"} for _ in observations]


def test_max_steps_caps_episodes_without_an_outcome():
    policy = _Counting()
    played = play_episodes(policy, [EpisodeSpec("egfr_nsclc_viable", 0), EpisodeSpec("procedural", 1)], max_steps=2)
    assert [p.steps for p in played] == [2, 2] and all(p.outcome is None and not p.done for p in played)
    assert policy.seen == [[True, True], [True, True]]


def test_the_oracle_needs_the_truth_in_process():
    class Opaque:  # an environment without the truth, like a server
        def __init__(self):
            self.env = DrugTargetEnvironment()

        def reset(self, **kw):
            return self.env.reset(**kw)

        def step(self, action):
            return self.env.step(action)

        def close(self):
            self.env.close()

    with pytest.raises(ConfigError, match="in-process simulator"):
        play_episodes(OraclePolicy(), EPISODES[:1], env_factory=Opaque)
    with pytest.raises(ConfigError, match="no outcome"):
        run_episodes(HeuristicPolicy(), EPISODES[:1], env_factory=Opaque, progress=False)


@pytest.fixture
def server():
    pytest.importorskip("websockets")
    from drugenv.server.app import create_app
    from drugenv.server.serve import serve_in_thread

    def start(strict: bool):
        return serve_in_thread(create_app(max_sessions=8, strict_actions=strict))

    return start


def test_remote_environment_plays_like_the_local_simulator(server):
    from drugenv.evaluation.remote_env import RemoteEnvironment

    with server(False) as url:
        remote = play_episodes(HeuristicPolicy(), EPISODES, env_factory=lambda: RemoteEnvironment(url), batch_size=3)
    local = play_episodes(HeuristicPolicy(), EPISODES, batch_size=3)
    assert [(p.steps, p.episode_return, p.terminal_reward, p.violations) for p in remote] == \
           [(p.steps, p.episode_return, p.terminal_reward, p.violations) for p in local]
    assert [p.last_observation.metadata.get("termination_reason") for p in remote] == \
           [p.last_observation.metadata.get("termination_reason") for p in local]
    assert all(p.outcome is None for p in remote)  # a server keeps the truth


def test_remote_environment_turns_a_strict_refusal_into_a_violation(server):
    from drugenv.client import InvalidRequestError
    from drugenv.evaluation.remote_env import RemoteEnvironment
    from drugenv.llm.parsing import ParseFailure, to_env_action

    garbage = to_env_action(ParseFailure("no_json", "no JSON object found", "hmm"))
    with server(True) as url:
        with RemoteEnvironment(url) as env:
            first = env.reset(seed=0, scenario="egfr_nsclc_viable")
            obs = env.step(garbage)
            assert obs.step_count == first.step_count and obs.reward == 0.0 and not obs.done
            assert obs.rule_violations[0].rule == "invalid_action" and "refused by the server" in obs.rule_violations[0].message
        with RemoteEnvironment(url, refused_as_violation=False) as env:
            env.reset(seed=0, scenario="egfr_nsclc_viable")
            with pytest.raises(InvalidRequestError):
                env.step(garbage)


def test_a_spec_without_a_scenario_is_recorded_as_procedural():
    """``EpisodeSpec(None, seed)`` plays a procedural episode (its docstring); its record and the per-scenario
    summary group it by its tier (the types audit: ``by_scenario`` raised TypeError comparing None with a name)."""
    from drugenv.evaluation.evaluate import by_scenario

    records = run_episodes(HeuristicPolicy(), [EpisodeSpec(None, 5), EpisodeSpec("procedural", 6)], progress=False)
    assert [r.scenario for r in records] == ["procedural", "procedural"]
    groups = by_scenario(records)  # procedural episodes group by their tier
    assert set(groups) == {r.difficulty for r in records} and all("decision_accuracy" in g for g in groups.values())


def test_an_evaluation_keeps_only_its_records_while_it_plays():
    """``run_episodes`` turns each episode into its record as its batch ends and lets the episode go: it kept
    every played episode (first and last observations, ~35 KB) until the suite ended, so a long ``drugenv eval``
    grew without end (the soak audit: 0.76 GB at 20,000 episodes)."""
    import gc
    import weakref

    last_of_first: list = []
    alive_later: list[bool] = []

    def on_step(ev):
        if ev.episode == 0 and ev.observation.done:
            last_of_first.append(weakref.ref(ev.observation))
        if ev.episode == 5 and ev.step == 1:  # a later batch: episode 0's batch has ended
            gc.collect()
            alive_later.append(last_of_first[0]() is not None)

    records = run_episodes(HeuristicPolicy(), EPISODES, batch_size=2, progress=False, on_step=on_step)
    assert len(records) == len(EPISODES) and alive_later == [False]
    assert [r.seed for r in records] == [EpisodeSpec(*e).seed for e in EPISODES]


def test_play_episodes_without_keeping_them_hands_each_to_its_callback_in_order():
    seen = []
    kept = play_episodes(HeuristicPolicy(), EPISODES, batch_size=3, keep=False, on_episode_end=seen.append)
    assert kept == [] and [ep.index for ep in seen] == list(range(len(EPISODES)))
    assert _summary(seen) == _summary(play_episodes(HeuristicPolicy(), EPISODES, batch_size=3))


def test_a_report_sent_as_a_dict_is_the_episode_report():
    """``serve:`` agents send dicts: their report was dropped from episode summaries, and their actions were
    not counted valid (the dashboard showed no decision and 0 valid actions for an agent that reported go;
    the extension audit)."""
    from drugenv.llm.run_agent import run_agent_episodes

    class DictAgent(Policy):
        def act(self, observations):
            return [{"action_type": "query_expression"} if o.step_count == 0 else
                    {"action_type": "submit_validation_report", "final_decision": "go", "confidence": 0.7}
                    for o in observations]

    class BadReport(Policy):
        def act(self, observations):
            return [{"action_type": "submit_validation_report", "final_decision": "maybe", "confidence": 0.7}] * len(observations)

    played = play_episodes(DictAgent(), [("egfr_nsclc_viable", 0)])
    assert played[0].report is not None and (played[0].report.final_decision, played[0].report.confidence) == ("go", 0.7)
    assert play_episodes(BadReport(), [("egfr_nsclc_viable", 0)], max_steps=2)[0].report is None
    summary = run_agent_episodes(DictAgent(), scenario="egfr_nsclc_viable", dashboard_path=None, echo=False)[0]
    assert (summary.final_decision, summary.confidence, summary.valid_actions, summary.steps) == ("go", 0.7, 2, 2)
    bad = run_agent_episodes(BadReport(), scenario="egfr_nsclc_viable", dashboard_path=None, echo=False, max_steps=2)[0]
    assert bad.valid_actions == 0 and bad.final_decision is None


def test_run_agent_plays_a_policy_that_returns_none_for_a_running_episode():
    """``None`` for a running slot is a malformed action the environment penalises; run-agent's step record
    called ``dict(None)`` on it and ended the run with a TypeError."""
    from drugenv.llm.run_agent import run_agent_episodes

    class Silent(Policy):
        def act(self, observations):
            return [None if o.step_count == 0 else
                    {"action_type": "submit_validation_report", "final_decision": "go", "confidence": 0.6}
                    for o in observations]

    summary = run_agent_episodes(Silent(), scenario="egfr_nsclc_viable", dashboard_path=None, echo=False)[0]
    assert (summary.steps, summary.valid_actions, summary.final_decision) == (2, 1, "go")
