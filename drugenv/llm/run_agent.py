"""run-agent: an LLM plays DrugEnv episodes, printing each step and writing a live dashboard snapshot.

How to run::

    # offline tiny model (no hub), local simulator, curated scenario
    drugenv run-agent --model tiny --scenario egfr_nsclc_viable
    python -m drugenv.llm.run_agent --model tiny --episodes 2

    # the spec's env vars (base + LoRA), against a running server
    RUN_AGENT_MODEL_ID=Qwen/Qwen2.5-0.5B-Instruct RUN_AGENT_LORA_ADAPTER=path/or/hub-id \\
        drugenv run-agent --base-url http://localhost:8000

Episodes are played by the shared episode loop (``drugenv.evaluation.episodes.play_episodes``, the
loop of ``drugenv eval`` too) on the in-process simulator or, with ``--base-url``, a server through
``drugenv.evaluation.remote_env.RemoteEnvironment``; ``run_agent_episodes`` adds the printing and the
snapshot.

Results to expect: one line per step (action, reward, credits, violations); the untrained tiny
model mostly emits unparseable text, which the environment blocks and penalises as
``invalid_action`` while the episode continues to the step cap. ``_dashboard_state.json`` (schema:
``DashboardState``) is rewritten atomically after every step.

Model names: a hub id or local directory; ``tiny`` / ``tiny-qwen`` build (once, cached) the
offline L2 H128 Qwen2 model with the domain BPE / exact Qwen2.5 tokenizer. Precedence: ``--model``,
then ``$RUN_AGENT_MODEL_ID``, then ``DEFAULT_MODEL_ID``; ``--adapter``, then ``$RUN_AGENT_LORA_ADAPTER``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from drugenv.agents.base import Policy
from drugenv.errors import ConfigError
from drugenv.evaluation.episodes import LLM_EPISODE_STEP_CAP, EpisodeSpec, PlayedEpisode, StepEvent, play_episodes
from drugenv.llm.loading import DTYPES
from drugenv.llm.parsing import ParseFailure
from drugenv.models import MAX_REASONING_CHARS, DrugTargetAction, ValidationObservation

DEFAULT_MODEL_ID = "Qwen/Qwen2.5-0.5B-Instruct"
MODEL_ENV_VAR = "RUN_AGENT_MODEL_ID"
ADAPTER_ENV_VAR = "RUN_AGENT_LORA_ADAPTER"
DASHBOARD_SCHEMA_VERSION = 1
DASHBOARD_STATE_FILE = "_dashboard_state.json"
"""Where run-agent writes its live snapshot by default (``--dashboard-path``); ``drugenv dashboard`` finds
files of this name under its runs folder."""


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------


@dataclass
class RunAgentArgs:
    """An LLM plays DrugEnv episodes, printing each step and a live dashboard snapshot.

    In process, or against a server with --base-url."""

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
    """Seed of the first episode (episode i uses seed + i) and of sampling: each completion is drawn from a stream
    of (seed, its episode, its step), whatever was sampled before it."""
    temperature: float = 0.7
    """Sampling temperature; 0 = greedy."""
    top_p: float = 1.0
    """Nucleus sampling mass (1.0 = off)."""
    max_new_tokens: int = 256
    """Completion cap per step, tokens."""
    max_prompt_tokens: Optional[int] = None
    """Token budget of each rendered prompt (None: the adapter's training budget, else DEFAULT_MAX_PROMPT_TOKENS, 2048)."""
    device: str = "auto"
    """'auto' (CUDA if available), 'cpu', 'cuda', 'cuda:1'..."""
    dtype: Optional[str] = None
    """float32 / bfloat16 / float16; None = float32 on CPU, bfloat16 on CUDA."""
    max_steps: int = LLM_EPISODE_STEP_CAP
    """Safety cap on steps per episode (the environment's own step cap normally ends it first)."""
    dashboard_path: str = DASHBOARD_STATE_FILE
    """Where the live snapshot is written after every step ('' disables it)."""
    quiet: bool = False
    """Do not print per-step lines (each episode's header and summary still print)."""
    progress: bool = True
    """Show the model's loading bars (--no-progress for a log: no carriage-return lines)."""
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


def missing_local_path(name: str) -> bool:
    """Whether ``name`` is a path (a hub id is never absolute and never starts with ".") that does not exist:
    said before anything loads, instead of the hub's "Repo id must be in the form ..." error."""
    return (Path(name).is_absolute() or name.startswith(".")) and not Path(name).exists()


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
    """``HFPolicy`` with the run-agent precedence rules for model/adapter (also used by ``drugenv eval --agent hf``).

    A setting out of range, a device or dtype torch does not know, or a model or adapter that cannot be
    loaded is a ``ConfigError`` saying which, before (or instead of) a loader's traceback."""
    from drugenv.llm.policy import HFPolicy, SamplingConfig

    try:
        sampling = SamplingConfig(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if max_prompt_tokens is not None and max_prompt_tokens < 1:
        raise ConfigError(f"max_prompt_tokens={max_prompt_tokens} must be >= 1 (or None: the adapter's training budget)")
    if dtype is not None and dtype not in DTYPES:
        raise ConfigError(f"dtype={dtype!r} is not one of {', '.join(DTYPES)} (or None: float32 on CPU, bfloat16 on CUDA)")
    if device not in (None, "auto"):
        import torch

        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as e:
            raise ConfigError(f"device={device!r} is not a torch device ({e}); use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
        if dev.type == "cuda":  # else the model loads, then fails to move with a traceback from torch
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if not count or (dev.index or 0) >= count:
                why = "this torch has no CUDA" if not torch.backends.cuda.is_built() else f"CUDA sees {count} GPU(s)"
                raise ConfigError(f"device={device!r} is not available here ({why}); use 'auto' or 'cpu'")
    model_id, adapter_id = resolve_model(model), resolve_adapter(adapter)
    if missing_local_path(model_id):
        raise ConfigError(f"model path {model_id!r} does not exist; pass a model directory, a hub id, or 'tiny'")
    if adapter_id and missing_local_path(adapter_id):
        raise ConfigError(f"adapter path {adapter_id!r} does not exist; pass a peft adapter directory")
    try:
        return HFPolicy(model_path(model_id), adapter=adapter_id, sampling=sampling,
                        device=device, dtype=dtype, max_prompt_tokens=max_prompt_tokens, batch_size=batch_size)
    except (OSError, ValueError) as e:  # not on disk, not in the HF cache while offline, no such hub repo, not an adapter
        raise ConfigError(f"cannot load model {model_id!r}{f' with adapter {adapter_id!r}' if adapter_id else ''}: "
                          f"{' '.join(str(e).split())[:300]}; pass a local model directory, a cached hub id "
                          "(HF_HUB_OFFLINE=1 allows only those), or 'tiny'") from None
    except RuntimeError as e:  # peft: the adapter's tensors do not fit this model ("size mismatch for ...lora_A...")
        if not adapter_id:
            raise
        raise ConfigError(f"adapter {adapter_id!r} does not fit model {model_id!r} (it was trained on "
                          f"{_adapter_base(adapter_id) or 'another model'}): {' '.join(str(e).split())[:200]}; "
                          "pass the model it was trained on") from None


def _adapter_base(adapter_id: str) -> Optional[str]:
    """The base model an adapter's ``adapter_config.json`` names, if it can be read."""
    try:
        return str(json.loads((Path(adapter_id) / "adapter_config.json").read_text(encoding="utf-8"))["base_model_name_or_path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------------------------------------
# Dashboard snapshot schema
# ---------------------------------------------------------------------------------------------


class _Snap(BaseModel):
    # protected_namespaces=(): ``model_id`` is a field, and pydantic before 2.10 warned of it on every import
    # (a warning line before `drugenv run-agent`'s one-line errors).
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


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
    from drugenv.cli import write_text_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, state.model_dump_json(indent=2))


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


def _fmt_violations(obs: ValidationObservation) -> list[str]:
    return [f"{v.rule} ({v.severity}): {v.message[:300]}" for v in obs.rule_violations]


def make_env_factory(base_url: Optional[str] = None) -> Callable[[], Any]:
    """``RemoteEnvironment(base_url)`` makers for a server URL, else the in-process ``DrugTargetEnvironment``."""
    if base_url:
        from drugenv.evaluation.remote_env import RemoteEnvironment

        return lambda: RemoteEnvironment(base_url)
    from drugenv.simulator.environment import DrugTargetEnvironment

    return DrugTargetEnvironment


def run_agent_episodes(
    policy: Policy,
    env_factory: Optional[Callable[[], Any]] = None,
    *,
    episodes: int = 1,
    seed: int = 0,
    scenario: Optional[str] = None,
    difficulty: Optional[str] = None,
    max_steps: int = LLM_EPISODE_STEP_CAP,
    dashboard_path: Optional[str | Path] = DASHBOARD_STATE_FILE,
    model_id: str = "",
    adapter: Optional[str] = None,
    env_name: str = "local",
    echo: bool = True,
    echo_steps: bool = True,
    on_step: Optional[Callable[[StepEvent], None]] = None,
    on_episode_end: Optional[Callable[[PlayedEpisode], None]] = None,
) -> list[EpisodeSummary]:
    """Play ``episodes`` (seeds ``seed``, ``seed + 1``…) one at a time with ``policy``, through the shared
    episode loop (``evaluation.episodes.play_episodes``), printing each episode's header and summary (``echo``)
    and each step (``echo`` and ``echo_steps``), and rewriting the
    snapshot at ``dashboard_path`` after every step (None/'' disables it).

    ``env_factory`` makes the environment (default: the in-process simulator; ``make_env_factory(url)``
    for a server). ``on_step`` is called with each step before the snapshot is written, ``on_episode_end``
    with each finished episode after its summary.
    """
    completed: list[EpisodeSummary] = []
    counts = {"outputs": 0, "valid": 0}
    current: dict[str, Any] = {"steps": [], "valid": 0}

    def reset(index: int, spec: EpisodeSpec, obs: ValidationObservation) -> None:
        current.update(steps=[], valid=0)
        if echo:
            print(f"=== episode {index} seed {spec.seed}: {obs.target_gene} / {obs.indication} "
                  f"credits {obs.credits_total} ({model_id or policy.name}) ===")

    def step(ev: StepEvent) -> None:
        if on_step is not None:  # first: a caller's own record is complete before the snapshot shows the step
            on_step(ev)
        obs, action, record = ev.observation, ev.action, ev.record
        steps: list[DashboardStep] = current["steps"]
        raw, err = "", None
        if record is not None:
            counts["outputs"] += 1
            raw = record.generation.text[:2000]
            if isinstance(record.result, ParseFailure):
                err = record.result.violation
            else:
                counts["valid"] += 1
                current["valid"] += 1
        elif action is not None and not any(v.rule == "invalid_action" for v in obs.rule_violations):
            current["valid"] += 1  # an action object, or a dict (a serve: agent's) the environment took as one
        # a dict, or anything a policy returned (None: the environment judged it a malformed action)
        a = action.model_dump(mode="json") if isinstance(action, DrugTargetAction) else dict(action) if isinstance(action, Mapping) else {}
        ds = DashboardStep(
            step=ev.step, action_type=str(a.get("action_type")), parameters=a.get("parameters") or {},
            reasoning=str(a.get("reasoning", ""))[:MAX_REASONING_CHARS], final_decision=a.get("final_decision"),
            confidence=a.get("confidence"), raw_output=raw, parse_error=err, reward=ev.reward,
            cumulative_reward=ev.episode_return, credits_remaining=obs.credits_remaining, summary=obs.latest_output.summary,
            status=obs.latest_output.status, violations=_fmt_violations(obs), done=bool(obs.done), seconds=ev.seconds,
        )
        steps.append(ds)
        if echo and echo_steps:
            params = ",".join(f"{k}={v}" for k, v in ds.parameters.items() if v not in (None, ""))
            extra = f" | PARSE: {err}" if err else ""
            viol = f" | violations: {'; '.join(v.split(':')[0] for v in ds.violations)}" if ds.violations else ""
            print(f"[ep {ev.episode} step {ds.step:>2}] {ds.action_type}({params}) r={ev.reward:+.3f} R={ev.episode_return:+.3f} "
                  f"credits {obs.credits_remaining}/{obs.credits_total} | {ds.summary[:100]}{viol}{extra}")
        if dashboard_path:
            write_dashboard(DashboardState(
                updated_at=datetime.now(timezone.utc).isoformat(), status="running", model_id=model_id,
                adapter=adapter, env=env_name, episode=ev.episode, episodes_total=episodes,
                episode_id=obs.metadata.get("episode_id"), seed=ev.spec.seed, scenario=scenario,
                target_gene=obs.target_gene, indication=obs.indication, credits_remaining=obs.credits_remaining,
                credits_total=obs.credits_total, step=obs.step_count, max_steps=obs.max_steps,
                cumulative_reward=ev.episode_return, done=bool(obs.done), last_step=ds, steps=steps, completed=completed,
                valid_action_rate=(counts["valid"] / counts["outputs"]) if counts["outputs"] else 1.0,
            ), dashboard_path)

    def end(ep: PlayedEpisode) -> None:
        obs, report = ep.last_observation, ep.report
        completed.append(EpisodeSummary(
            episode=ep.index, seed=ep.spec.seed, scenario=scenario, target_gene=obs.target_gene, indication=obs.indication,
            steps=ep.steps, total_reward=ep.episode_return, valid_actions=current["valid"],
            final_decision=report.final_decision if report else None, confidence=report.confidence if report else None,
            termination_reason=obs.metadata.get("termination_reason"),
        ))
        if echo:
            c = completed[-1]
            print(f"=== episode {ep.index} done: {c.steps} steps, return {c.total_reward:+.3f}, valid {c.valid_actions}/{c.steps}, "
                  f"decision {c.final_decision} ({c.termination_reason}) ===")
        if on_episode_end is not None:
            on_episode_end(ep)

    specs = [EpisodeSpec(scenario, seed + ep, difficulty) for ep in range(episodes)]
    try:
        play_episodes(policy, specs, env_factory=env_factory, batch_size=1, max_steps=max_steps,
                      on_reset=reset, on_step=step, on_episode_end=end)
    except BaseException as e:  # the dashboard says the run ended, and why, instead of "running" for ever
        if dashboard_path and Path(dashboard_path).exists():
            from drugenv.cli import one_line

            state = DashboardState.model_validate_json(Path(dashboard_path).read_text(encoding="utf-8"))
            state.status, state.error, state.completed = "error", one_line(e)[:500], completed
            state.updated_at = datetime.now(timezone.utc).isoformat()
            write_dashboard(state, dashboard_path)
        raise
    if dashboard_path and Path(dashboard_path).exists():
        state = DashboardState.model_validate_json(Path(dashboard_path).read_text(encoding="utf-8"))
        state.status, state.completed, state.updated_at = "finished", completed, datetime.now(timezone.utc).isoformat()
        write_dashboard(state, dashboard_path)
    return completed


def check_args(args: RunAgentArgs) -> None:
    """Counts in range and the dashboard file writable, before a model loads; ``ConfigError`` otherwise
    (``make_hf_policy`` checks the sampling, device and dtype settings)."""
    from drugenv.cli import check_output_path

    for name, value, low in (("--episodes", args.episodes, 1), ("--max-steps", args.max_steps, 1), ("--seed", args.seed, 0),
                             ("--torch-threads", args.torch_threads, 1)):
        if value is not None and value < low:
            raise ConfigError(f"{name} {value} is out of range: it must be >= {low}")
    from drugenv.simulator.environment import MAX_SEED

    if args.seed + args.episodes - 1 > MAX_SEED:  # the episodes' seeds (seed + i) are the environment's; checked before the model
        raise ConfigError(f"--seed {args.seed} with --episodes {args.episodes} runs past the last seed, 2**63 - 1 "
                          f"(= {MAX_SEED}): lower --seed")
    if args.base_url:  # the client's own check (scheme, host, port, fragment), before the model loads
        from drugenv.client import server_ws_url

        try:
            server_ws_url(args.base_url)
        except ConfigError as e:
            raise ConfigError(f"--base-url: {e}") from None
    # Before the model loads (a typo cost a 0.5B model's load): the names the environment would refuse.
    from drugenv.scenarios import check_scenario_request

    check_scenario_request(args.scenario, args.difficulty, difficulty_name="--difficulty")
    if args.dashboard_path:
        check_output_path(args.dashboard_path, "--dashboard-path")


def run_agent_main(args: RunAgentArgs) -> list[EpisodeSummary]:
    """Entry point of ``drugenv run-agent``: resolve model/adapter, build the policy and env, play."""
    check_args(args)
    model_id = resolve_model(args.model)
    adapter = resolve_adapter(args.adapter)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    if not args.progress:
        from drugenv.cli import quiet_library_progress_bars

        quiet_library_progress_bars()
    policy = make_hf_policy(model_id, adapter, temperature=args.temperature, top_p=args.top_p,
                            max_new_tokens=args.max_new_tokens, max_prompt_tokens=args.max_prompt_tokens,
                            device=args.device, dtype=args.dtype, seed=args.seed, batch_size=1)
    print(f"run-agent: model={model_id} adapter={adapter} env={args.base_url or 'local'} args={args}", file=sys.stderr)
    return run_agent_episodes(
        policy, make_env_factory(args.base_url), episodes=args.episodes, seed=args.seed, scenario=args.scenario,
        difficulty=args.difficulty, max_steps=args.max_steps, dashboard_path=args.dashboard_path or None, model_id=model_id,
        adapter=adapter, env_name=args.base_url or "local", echo_steps=not args.quiet,
    )


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m drugenv.llm.run_agent``: tyro-parsed ``RunAgentArgs``, with ``drugenv``'s handling of mistakes."""
    from drugenv.cli import parse_args, run_command

    return run_command("python -m drugenv.llm.run_agent", run_agent_main, parse_args(RunAgentArgs, args=argv), extra="llm")


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "ADAPTER_ENV_VAR",
    "DASHBOARD_STATE_FILE",
    "DEFAULT_MODEL_ID",
    "DashboardState",
    "DashboardStep",
    "EpisodeSummary",
    "MODEL_ENV_VAR",
    "RunAgentArgs",
    "main",
    "make_env_factory",
    "make_hf_policy",
    "missing_local_path",
    "model_path",
    "resolve_adapter",
    "resolve_model",
    "run_agent_episodes",
    "run_agent_main",
    "write_dashboard",
]
