"""run-agent: an LLM plays DrugEnv episodes, printing each step and writing a live dashboard snapshot.

How to run::

    # offline tiny model (no hub), local simulator, curated scenario
    drugenv run-agent --model tiny --scenario egfr_nsclc_viable
    python -m drugenv.llm.run_agent --model tiny --episodes 2

    # the spec's env vars (base + LoRA), against a running server
    RUN_AGENT_MODEL_ID=Qwen/Qwen2.5-0.5B-Instruct RUN_AGENT_LORA_ADAPTER=path/or/hub-id \\
        drugenv run-agent --base-url http://localhost:8000

Results to expect: one line per step (action, reward, credits, violations); the untrained tiny
model mostly emits unparseable text, which the environment blocks and penalises as
``invalid_action`` while the episode continues to the step cap. ``_dashboard_state.json`` (schema:
``DashboardState``) is rewritten atomically after every step.

Model names: a hub id or local directory; ``tiny`` / ``tiny-qwen`` build (once, cached) the
offline L2 H128 Qwen2 model with the domain BPE / exact Qwen2.5 tokenizer. Precedence: ``--model``,
then ``$RUN_AGENT_MODEL_ID``, then ``DEFAULT_MODEL_ID``; ``--adapter``, then ``$RUN_AGENT_LORA_ADAPTER``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from drugenv.agents.base import Policy, brief
from drugenv.llm.parsing import ParseFailure
from drugenv.models import DrugTargetAction, ValidationObservation

DEFAULT_MODEL_ID = "Qwen/Qwen2.5-0.5B-Instruct"
MODEL_ENV_VAR = "RUN_AGENT_MODEL_ID"
ADAPTER_ENV_VAR = "RUN_AGENT_LORA_ADAPTER"
DASHBOARD_SCHEMA_VERSION = 1


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------


@dataclass
class RunAgentArgs:
    model: Optional[str] = None
    """HF model id or local directory; 'tiny' / 'tiny-qwen' = offline tiny model (default: $RUN_AGENT_MODEL_ID, else Qwen/Qwen2.5-0.5B-Instruct)."""
    adapter: Optional[str] = None
    """peft LoRA adapter directory or hub id (default: $RUN_AGENT_LORA_ADAPTER, else none)."""
    base_url: Optional[str] = None
    """DrugEnv server URL (e.g. http://localhost:8000); None runs the simulator in-process."""
    scenario: Optional[str] = None
    """Curated scenario name, or None / 'procedural' for a generated one."""
    difficulty: Optional[str] = None
    """Procedural difficulty tier (easy, medium, hard, very_hard); None = the generator's choice."""
    episodes: int = 1
    """Episodes to play."""
    seed: int = 0
    """Seed of the first episode (episode i uses seed + i) and of sampling."""
    temperature: float = 0.7
    """Sampling temperature; 0 = greedy."""
    top_p: float = 1.0
    """Nucleus sampling mass (1.0 = off)."""
    max_new_tokens: int = 256
    """Completion cap per step, tokens."""
    max_prompt_tokens: Optional[int] = None
    """Token budget of each rendered prompt (None: the adapter's training budget, else 2048)."""
    device: str = "auto"
    """'auto' (CUDA if available), 'cpu', 'cuda', 'cuda:1'..."""
    dtype: Optional[str] = None
    """float32 / bfloat16 / float16; None = float32 on CPU, bfloat16 on CUDA."""
    max_steps: int = 200
    """Safety cap on steps per episode (the environment's own step cap normally ends it first)."""
    dashboard_path: str = "_dashboard_state.json"
    """Where the live snapshot is written after every step ('' disables it)."""
    quiet: bool = False
    """Do not print per-step lines."""
    torch_threads: Optional[int] = None
    """torch intra-op CPU threads (None: torch's default). On a busy shared CPU, 1 avoids OpenMP oversubscription (measured 10x faster)."""


def resolve_model(model: Optional[str]) -> str:
    """``model`` if given, else ``$RUN_AGENT_MODEL_ID``, else ``DEFAULT_MODEL_ID``."""
    return model or os.environ.get(MODEL_ENV_VAR) or DEFAULT_MODEL_ID


def resolve_adapter(adapter: Optional[str]) -> Optional[str]:
    """``adapter`` if given, else ``$RUN_AGENT_LORA_ADAPTER`` (empty = none)."""
    return adapter or os.environ.get(ADAPTER_ENV_VAR) or None


def model_path(model: str) -> str:
    """'tiny' / 'tiny-qwen' / 'random:Qwen/...' → a cached offline model directory
    (``architectures.resolve_model_spec``); anything else is returned unchanged."""
    from drugenv.llm.architectures import resolve_model_spec

    return resolve_model_spec(model)


def make_hf_policy(
    model: Optional[str] = None,
    adapter: Optional[str] = None,
    *,
    temperature: float = 0.7,
    top_p: float = 1.0,
    max_new_tokens: int = 256,
    max_prompt_tokens: Optional[int] = None,
    device: Optional[str] = "auto",
    dtype: Optional[str] = None,
    seed: Optional[int] = 0,
    batch_size: int = 8,
) -> Any:
    """``HFPolicy`` with the run-agent precedence rules for model/adapter (also used by ``drugenv eval --agent hf``)."""
    from drugenv.llm.policy import HFPolicy, SamplingConfig

    sampling = SamplingConfig(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed)
    return HFPolicy(model_path(resolve_model(model)), adapter=resolve_adapter(adapter), sampling=sampling,
                    device=device, dtype=dtype, max_prompt_tokens=max_prompt_tokens, batch_size=batch_size)


# ---------------------------------------------------------------------------------------------
# Environments: local simulator or server
# ---------------------------------------------------------------------------------------------


class LocalEnv:
    """The in-process simulator behind the (reset, step) -> (observation, reward, done) shape."""

    def __init__(self) -> None:
        from drugenv.simulator.environment import DrugTargetEnvironment

        self.env = DrugTargetEnvironment()

    def reset(self, *, seed: int, scenario: Optional[str], difficulty: Optional[str]) -> ValidationObservation:
        return self.env.reset(seed=seed, scenario=scenario, difficulty=difficulty)

    def step(self, action: DrugTargetAction | dict[str, Any]) -> tuple[ValidationObservation, float, bool]:
        obs = self.env.step(action)
        return obs, float(obs.reward or 0.0), bool(obs.done)

    def close(self) -> None:
        self.env.close()


class RemoteEnv:
    """A DrugEnv server through ``drugenv.client.DrugTargetEnv`` (reset/step return a StepResult).

    Unparseable output is sent as ``parsing.unparseable_action``. A server started with
    ``strict_actions=False`` answers it exactly like the local simulator (penalised, blocked,
    counted as a step). A strict server (OpenEnv's default) refuses the frame instead; then the
    step does not happen server-side, and this adapter returns the previous observation with an
    ``invalid_action`` violation and reward 0 (the loop's ``max_steps`` bounds such runs).
    """

    def __init__(self, base_url: str) -> None:
        try:
            from drugenv.client import DrugTargetEnv
        except ImportError as e:
            from drugenv.errors import DependencyNotInstalled

            raise DependencyNotInstalled("drugenv.client (websockets)", "server") from e
        self.client = DrugTargetEnv(base_url=base_url)
        self._last: Optional[ValidationObservation] = None

    def reset(self, *, seed: int, scenario: Optional[str], difficulty: Optional[str]) -> ValidationObservation:
        self._last = self.client.reset(seed=seed, scenario=scenario, difficulty=difficulty).observation
        return self._last

    def step(self, action: DrugTargetAction | dict[str, Any]) -> tuple[ValidationObservation, float, bool]:
        from drugenv.client import InvalidRequestError
        from drugenv.models import RuleViolation

        try:
            res = self.client.step(action)
        except InvalidRequestError as err:
            if isinstance(action, DrugTargetAction) or self._last is None:
                raise
            violation = RuleViolation(rule="invalid_action", severity="hard", message=f"refused by the server: {err}")
            self._last = self._last.model_copy(update={"rule_violations": [violation], "reward": 0.0})
            return self._last, 0.0, False
        self._last = res.observation
        return res.observation, float(res.reward or 0.0), bool(res.done)

    def close(self) -> None:
        self.client.close()


# ---------------------------------------------------------------------------------------------
# Dashboard snapshot schema
# ---------------------------------------------------------------------------------------------


class _Snap(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DashboardStep(_Snap):
    """One step as the dashboard shows it."""

    step: int = Field(..., description="Step index in the episode, 1-based.")
    action_type: str = Field(..., description="Action name, or '__unparseable__' when the output did not parse.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Canonical parameters of the action.")
    reasoning: str = Field("", description="The model's stated reason.")
    final_decision: Optional[str] = Field(None, description="go / no_go (reports only).")
    confidence: Optional[float] = Field(None, description="Report confidence, 0-1.")
    raw_output: str = Field("", description="The model's text (first 2000 chars); empty for non-LLM policies.")
    parse_error: Optional[str] = Field(None, description="Why the output was unparseable (None when it parsed).")
    reward: float = Field(..., description="Step reward.")
    cumulative_reward: float = Field(..., description="Episode return so far.")
    credits_remaining: int
    summary: str = Field("", description="latest_output.summary after the step.")
    status: str = Field("info", description="latest_output.status: ok / no_data / blocked / info.")
    violations: list[str] = Field(default_factory=list, description="'rule (severity): message' per violation.")
    done: bool
    seconds: float = Field(..., description="Wall time of the step (generation + environment), s.")


class EpisodeSummary(_Snap):
    """A finished episode."""

    episode: int
    seed: int
    scenario: Optional[str]
    target_gene: str
    indication: str
    steps: int
    total_reward: float
    valid_actions: int = Field(..., description="Steps whose output parsed into an action.")
    final_decision: Optional[str] = None
    confidence: Optional[float] = None
    termination_reason: Optional[str] = None


class DashboardState(_Snap):
    """``_dashboard_state.json``: the live snapshot, rewritten atomically after every step."""

    schema_version: Literal[1] = DASHBOARD_SCHEMA_VERSION
    updated_at: str = Field(..., description="UTC ISO-8601 time of this snapshot.")
    status: Literal["running", "finished", "error"]
    model_id: str
    adapter: Optional[str] = None
    env: str = Field(..., description="'local' or the server URL.")
    episode: int = Field(..., description="Index of the current episode, 0-based.")
    episodes_total: int
    episode_id: Optional[str] = None
    seed: int
    scenario: Optional[str] = None
    target_gene: str
    indication: str
    credits_remaining: int
    credits_total: int
    step: int
    max_steps: int
    cumulative_reward: float
    done: bool
    last_step: Optional[DashboardStep] = None
    steps: list[DashboardStep] = Field(default_factory=list, description="Every step of the current episode.")
    completed: list[EpisodeSummary] = Field(default_factory=list, description="Finished episodes of this run.")
    valid_action_rate: float = Field(..., description="Parsed / total LLM outputs in this run so far, 0-1.")
    error: Optional[str] = None


def write_dashboard(state: DashboardState, path: str | Path) -> None:
    """Write ``state`` as JSON atomically (temp file + rename), so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(state.model_dump_json(indent=2))
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


def _fmt_violations(obs: ValidationObservation) -> list[str]:
    return [f"{v.rule} ({v.severity}): {v.message[:300]}" for v in obs.rule_violations]


def run_episodes(
    policy: Policy,
    env: Any,
    *,
    episodes: int = 1,
    seed: int = 0,
    scenario: Optional[str] = None,
    difficulty: Optional[str] = None,
    max_steps: int = 200,
    dashboard_path: Optional[str | Path] = "_dashboard_state.json",
    model_id: str = "",
    adapter: Optional[str] = None,
    env_name: str = "local",
    echo: bool = True,
) -> list[EpisodeSummary]:
    """Play ``episodes`` with ``policy`` on ``env`` (``LocalEnv``/``RemoteEnv``), one slot at a time.

    After every step the snapshot goes to ``dashboard_path`` (None/'' disables it).
    """
    completed: list[EpisodeSummary] = []
    n_outputs = n_valid = 0
    for ep in range(episodes):
        ep_seed = seed + ep
        policy.reset(1, [ep_seed])
        obs = env.reset(seed=ep_seed, scenario=scenario, difficulty=difficulty)
        if getattr(policy, "needs_truth", False) and hasattr(env, "env"):
            brief(policy, 0, env.env)
        steps: list[DashboardStep] = []
        total, done, valid = 0.0, bool(obs.done), 0
        last_action: Any = None
        if echo:
            print(f"=== episode {ep} seed {ep_seed}: {obs.target_gene} / {obs.indication} "
                  f"credits {obs.credits_total} ({model_id or policy.name}) ===")
        while not done and len(steps) < max_steps:
            t0 = time.perf_counter()
            action = policy.act([obs])[0]
            record = (getattr(policy, "last_steps", None) or [None])[0]
            obs, reward, done = env.step(action)
            total += reward
            raw, err = "", None
            if record is not None:
                n_outputs += 1
                raw = record.generation.text[:2000]
                if isinstance(record.result, ParseFailure):
                    err = record.result.violation
                else:
                    n_valid += 1
                    valid += 1
            elif isinstance(action, DrugTargetAction):
                valid += 1
            last_action = action
            a = action.model_dump(mode="json") if isinstance(action, DrugTargetAction) else dict(action)
            ds = DashboardStep(
                step=len(steps) + 1, action_type=str(a.get("action_type")), parameters=a.get("parameters") or {},
                reasoning=str(a.get("reasoning", ""))[:2000], final_decision=a.get("final_decision"),
                confidence=a.get("confidence"), raw_output=raw, parse_error=err, reward=reward, cumulative_reward=total,
                credits_remaining=obs.credits_remaining, summary=obs.latest_output.summary,
                status=obs.latest_output.status, violations=_fmt_violations(obs), done=done,
                seconds=time.perf_counter() - t0,
            )
            steps.append(ds)
            if echo:
                params = ",".join(f"{k}={v}" for k, v in ds.parameters.items() if v not in (None, ""))
                extra = f" | PARSE: {err}" if err else ""
                viol = f" | violations: {'; '.join(v.split(':')[0] for v in ds.violations)}" if ds.violations else ""
                print(f"[ep {ep} step {ds.step:>2}] {ds.action_type}({params}) r={reward:+.3f} R={total:+.3f} "
                      f"credits {obs.credits_remaining}/{obs.credits_total} | {ds.summary[:100]}{viol}{extra}")
            if dashboard_path:
                write_dashboard(DashboardState(
                    updated_at=datetime.now(timezone.utc).isoformat(), status="running", model_id=model_id,
                    adapter=adapter, env=env_name, episode=ep, episodes_total=episodes,
                    episode_id=obs.metadata.get("episode_id"), seed=ep_seed, scenario=scenario,
                    target_gene=obs.target_gene, indication=obs.indication, credits_remaining=obs.credits_remaining,
                    credits_total=obs.credits_total, step=obs.step_count, max_steps=obs.max_steps,
                    cumulative_reward=total, done=done, last_step=ds, steps=steps, completed=completed,
                    valid_action_rate=(n_valid / n_outputs) if n_outputs else 1.0,
                ), dashboard_path)
        la = last_action if isinstance(last_action, DrugTargetAction) else None
        submitted = la is not None and la.action_type.value == "submit_validation_report"
        completed.append(EpisodeSummary(
            episode=ep, seed=ep_seed, scenario=scenario, target_gene=obs.target_gene, indication=obs.indication,
            steps=len(steps), total_reward=total, valid_actions=valid,
            final_decision=la.final_decision if submitted else None, confidence=la.confidence if submitted else None,
            termination_reason=obs.metadata.get("termination_reason"),
        ))
        if echo:
            c = completed[-1]
            print(f"=== episode {ep} done: {c.steps} steps, return {c.total_reward:+.3f}, valid {c.valid_actions}/{c.steps}, "
                  f"decision {c.final_decision} ({c.termination_reason}) ===")
    if dashboard_path and Path(dashboard_path).exists():
        state = DashboardState.model_validate_json(Path(dashboard_path).read_text())
        state.status, state.completed, state.updated_at = "finished", completed, datetime.now(timezone.utc).isoformat()
        write_dashboard(state, dashboard_path)
    return completed


def run_agent_main(args: RunAgentArgs) -> list[EpisodeSummary]:
    """Entry point of ``drugenv run-agent``: resolve model/adapter, build the policy and env, play."""
    model_id = resolve_model(args.model)
    adapter = resolve_adapter(args.adapter)
    print(f"run-agent: model={model_id} adapter={adapter} env={args.base_url or 'local'} args={args}", file=sys.stderr)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    policy = make_hf_policy(model_id, adapter, temperature=args.temperature, top_p=args.top_p,
                            max_new_tokens=args.max_new_tokens, max_prompt_tokens=args.max_prompt_tokens,
                            device=args.device, dtype=args.dtype, seed=args.seed, batch_size=1)
    env = RemoteEnv(args.base_url) if args.base_url else LocalEnv()
    try:
        return run_episodes(
            policy, env, episodes=args.episodes, seed=args.seed, scenario=args.scenario, difficulty=args.difficulty,
            max_steps=args.max_steps, dashboard_path=args.dashboard_path or None, model_id=model_id, adapter=adapter,
            env_name=args.base_url or "local", echo=not args.quiet,
        )
    finally:
        env.close()


def main(argv: Optional[list[str]] = None) -> None:
    """``python -m drugenv.llm.run_agent``: tyro-parsed ``RunAgentArgs``."""
    import tyro

    run_agent_main(tyro.cli(RunAgentArgs, args=argv))


if __name__ == "__main__":
    main()


__all__ = [
    "ADAPTER_ENV_VAR",
    "DEFAULT_MODEL_ID",
    "DashboardState",
    "DashboardStep",
    "EpisodeSummary",
    "LocalEnv",
    "MODEL_ENV_VAR",
    "RemoteEnv",
    "RunAgentArgs",
    "main",
    "make_hf_policy",
    "model_path",
    "resolve_adapter",
    "resolve_model",
    "run_agent_main",
    "run_episodes",
    "write_dashboard",
]
