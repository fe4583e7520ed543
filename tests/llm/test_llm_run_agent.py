import json
from pathlib import Path

import pytest

from drugenv.agents.base import brief
from drugenv.agents.baselines import OraclePolicy
from drugenv.llm import run_agent
from drugenv.llm.policy import Generation, GenerationBackend, HFPolicy
from drugenv.llm.prompts import action_to_json
from drugenv.llm.run_agent import DashboardState, RunAgentArgs, run_agent_episodes, run_agent_main
from drugenv.simulator.environment import DrugTargetEnvironment


class OracleTextBackend(GenerationBackend):
    """Emits the oracle's action as model text (prose-wrapped), with one garbage step first.

    ``twin`` is an in-process environment playing the same episode (the played one, or a local replay of a remote one)."""

    def __init__(self, tokenizer, twin):
        self.tokenizer, self.env, self.oracle, self.calls = tokenizer, twin, OraclePolicy(), 0

    def generate(self, prompts, sampling):
        self.calls += 1
        if self.calls == 1:
            self.oracle.reset(1)
            brief(self.oracle, 0, self.env)
            return [Generation(list(prompts[0]), [], [], "Let me think...", "length")]
        obs = self.env._obs
        text = "Next:\n```json\n" + action_to_json(self.oracle.act([obs.model_copy(update={"step_count": obs.step_count - 1})])[0]) + "\n```"
        return [Generation(list(prompts[0]), [1], [0.0], text, "stop")]


def test_snapshot_written_and_valid_after_every_step(tmp_path, monkeypatch, bpe_tokenizer):
    env = DrugTargetEnvironment()
    policy = HFPolicy(model_obj=object(), tokenizer_obj=bpe_tokenizer)
    policy.backend = OracleTextBackend(bpe_tokenizer, env)
    path = tmp_path / "dash" / "_dashboard_state.json"
    snapshots = []
    real_write = run_agent.write_dashboard

    def spy(state, p):
        real_write(state, p)
        snapshots.append(DashboardState.model_validate_json(Path(p).read_text(encoding="utf-8")))

    monkeypatch.setattr(run_agent, "write_dashboard", spy)
    done = run_agent_episodes(policy, lambda: env, episodes=1, seed=0, scenario="egfr_nsclc_viable", dashboard_path=path,
                              model_id="scripted", echo=False)
    steps = done[0].steps
    assert len(snapshots) == steps + 1  # one per step, plus the final 'finished' rewrite
    assert [s.step for s in snapshots[:-1]] == list(range(1, steps + 1))
    assert [len(s.steps) for s in snapshots[:-1]] == list(range(1, steps + 1))
    first, final = snapshots[0], snapshots[-1]
    assert first.last_step.action_type == "__unparseable__" and "no_json" in first.last_step.parse_error
    assert first.last_step.violations and first.last_step.violations[0].startswith("invalid_action (hard)")
    assert final.status == "finished" and final.done and final.completed[0].final_decision in ("go", "no_go")
    assert final.valid_action_rate == pytest.approx((steps - 1) / steps)
    assert json.loads(path.read_text(encoding="utf-8"))["schema_version"] == 1
    assert not [p for p in path.parent.iterdir() if p.name != path.name]  # atomic writes leave no temp files


def test_a_run_that_fails_says_so_on_its_dashboard(tmp_path, bpe_tokenizer):
    """Nothing wrote status "error": a crashed run read "running" for ever."""
    env = DrugTargetEnvironment()
    policy = HFPolicy(model_obj=object(), tokenizer_obj=bpe_tokenizer)
    backend = OracleTextBackend(bpe_tokenizer, env)

    class Fails(GenerationBackend):
        tokenizer = bpe_tokenizer

        def generate(self, prompts, sampling):
            if backend.calls == 2:
                raise RuntimeError("CUDA out of\nmemory")
            return backend.generate(prompts, sampling)

    policy.backend = Fails()
    path = tmp_path / "_dashboard_state.json"
    with pytest.raises(RuntimeError, match="CUDA"):
        run_agent_episodes(policy, lambda: env, episodes=1, seed=0, scenario="egfr_nsclc_viable", dashboard_path=path,
                           model_id="scripted", echo=False)
    state = DashboardState.model_validate_json(path.read_text(encoding="utf-8"))
    assert state.status == "error" and state.error == "CUDA out of memory"


def test_a_budget_below_the_compact_prompt_is_a_config_error(bpe_tokenizer):
    """It was a bare ValueError (a traceback) from inside the first act."""
    from drugenv.errors import ConfigError
    from drugenv.llm.prompts import build_messages

    obs = DrugTargetEnvironment().reset(seed=0, scenario="egfr_nsclc_viable")
    with pytest.raises(ConfigError, match="max_prompt_tokens=50"):
        build_messages(obs, max_prompt_tokens=50, tokenizer=bpe_tokenizer)


def test_an_adapter_for_another_model_is_a_config_error(tmp_path, tiny_model_dir):
    """peft's size-mismatch RuntimeError came out as a multi-line traceback."""
    from peft import LoraConfig, get_peft_model

    from drugenv.errors import ConfigError
    from drugenv.llm.tiny import build_tiny_model

    other = build_tiny_model(tmp_path / "wide", layers=2, hidden=256)
    from transformers import AutoModelForCausalLM

    lora = get_peft_model(AutoModelForCausalLM.from_pretrained(other), LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    lora.save_pretrained(tmp_path / "adapter")
    with pytest.raises(ConfigError, match="does not fit model"):
        run_agent.make_hf_policy(tiny_model_dir, str(tmp_path / "adapter"))


def test_env_vars_choose_model_and_adapter(monkeypatch):
    monkeypatch.delenv(run_agent.MODEL_ENV_VAR, raising=False)
    monkeypatch.delenv(run_agent.ADAPTER_ENV_VAR, raising=False)
    assert run_agent.resolve_model(None) == run_agent.DEFAULT_MODEL_ID
    assert run_agent.resolve_adapter(None) is None
    monkeypatch.setenv(run_agent.MODEL_ENV_VAR, "some/model")
    monkeypatch.setenv(run_agent.ADAPTER_ENV_VAR, "some/adapter")
    assert run_agent.resolve_model(None) == "some/model"
    assert run_agent.resolve_adapter(None) == "some/adapter"
    assert run_agent.resolve_model("cli/model") == "cli/model"
    assert run_agent.resolve_adapter("cli/adapter") == "cli/adapter"


def test_run_agent_main_with_tiny_model_from_env(tmp_path, monkeypatch, tiny_model_dir, capsys):
    monkeypatch.setenv(run_agent.MODEL_ENV_VAR, str(tiny_model_dir))
    monkeypatch.delenv(run_agent.ADAPTER_ENV_VAR, raising=False)
    path = tmp_path / "state.json"
    out = run_agent_main(RunAgentArgs(scenario="cd33_aml_misleading", max_steps=3, max_new_tokens=8, device="cpu",
                              dashboard_path=str(path)))
    assert len(out) == 1 and out[0].steps == 3
    state = DashboardState.model_validate_json(path.read_text(encoding="utf-8"))
    assert state.model_id == str(tiny_model_dir) and state.target_gene == "CD33" and state.status == "finished"
    assert len(state.steps) == 3 and all(s.raw_output is not None for s in state.steps)
    printed = capsys.readouterr().out
    assert "[ep 0 step  3]" in printed


def test_no_progress_silences_the_models_loading_bars(tiny_model_dir):
    """`run-agent` had no --no-progress, and its log held transformers' carriage-return "Loading weights" bars."""
    import os
    import subprocess
    import sys

    def stderr(*flags: str) -> str:
        argv = [sys.executable, "-m", "drugenv.cli", "run-agent", "--model", str(tiny_model_dir), "--episodes", "1",
                "--max-steps", "1", "--max-new-tokens", "4", "--device", "cpu", "--dashboard-path", "", "--quiet", *flags]
        env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
        run = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
        assert run.returncode == 0, run.stderr[-2000:]
        return run.stderr

    assert "Loading weights" in stderr()
    quiet = stderr("--no-progress")
    assert "Loading weights" not in quiet and "\r" not in quiet, quiet[-1000:]


def test_quiet_drops_the_step_lines_only(capsys):
    from drugenv.agents.baselines import HeuristicPolicy

    run_agent.run_agent_episodes(HeuristicPolicy(), episodes=2, scenario="egfr_nsclc_viable", dashboard_path=None, echo_steps=False)
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in printed] == ["=== episode 0 seed 0", "=== episode 0 done", "=== episode 1 seed 1",
                                                        "=== episode 1 done"], printed


@pytest.mark.parametrize("strict", [False, True])
def test_run_episodes_against_a_server(tmp_path, bpe_tokenizer, strict):
    """Same loop over the WebSocket client: the oracle text backend reaches a report on the server."""
    pytest.importorskip("websockets")
    from drugenv.server.app import create_app
    from drugenv.server.serve import serve_in_thread

    from drugenv.evaluation.remote_env import RemoteEnvironment

    class Server:  # what OracleTextBackend reads: a local twin replaying the same seed and actions
        def __init__(self, remote):
            self.remote, self.env = remote, DrugTargetEnvironment()

        def reset(self, **kw):
            self.env.reset(seed=kw["seed"], scenario=kw["scenario"])
            return self.remote.reset(**kw)

        def step(self, action):
            self.env.step(action)
            return self.remote.step(action)

        def close(self):
            self.remote.close()

    with serve_in_thread(create_app(max_sessions=4, strict_actions=strict)) as url:
        env = Server(RemoteEnvironment(url))
        policy = HFPolicy(model_obj=object(), tokenizer_obj=bpe_tokenizer)
        policy.backend = OracleTextBackend(bpe_tokenizer, env.env)
        path = tmp_path / "remote.json"
        done = run_agent_episodes(policy, lambda: env, scenario="kras_pdac_borderline", dashboard_path=path, env_name=url,
                                  echo=False)  # the loop closes env
    state = DashboardState.model_validate_json(path.read_text(encoding="utf-8"))
    assert state.env == url and state.target_gene == "KRAS" and state.status == "finished"
    assert done[0].final_decision in ("go", "no_go") and done[0].termination_reason == "report_submitted"
    first = state.steps[0]
    assert first.action_type == "__unparseable__" and first.violations[0].startswith("invalid_action (hard)")
    assert (first.reward < 0) == (not strict)  # a strict server refuses the frame: no step, no penalty
