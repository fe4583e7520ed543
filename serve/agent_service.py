"""The trained agent as a service: one Ray Serve application of three deployments, composed with DeploymentHandles.

    AgentService  FastAPI ingress: GET /health, POST /act, POST /episodes
     ├── Agent        HFPolicy (base model + LoRA adapter); ``@serve.batch`` turns concurrent /act calls
     │                and episode steps into one batched ``generate``
     └── Environment  DrugTargetEnvironment sessions; non-strict by default: an action the model got
                      wrong is a penalised step (hard ``invalid_action`` violation), never an error

How to run (from the repository root; loopback)::

    drugenv serve --checkpoint runs/grpo_tiny_cpu/checkpoint_final --port 8000
    serve run --address local serve/agent_service.yaml  # the same app from a Serve config file
    curl -s 127.0.0.1:8000/health
    curl -s -X POST 127.0.0.1:8000/episodes -H 'content-type: application/json' \\
        -d '{"gene": "EGFR", "indication": "NSCLC", "seed": 0}'

``--checkpoint`` is a GRPO run's checkpoint directory (``adapter/`` inside) or a peft adapter
directory; the base model is read from the adapter's ``adapter_config.json`` unless ``--model`` is
given. ``POST /episodes`` plays one whole episode: the ingress runs the shared episode loop
(``drugenv.evaluation.episodes.play_episodes``) with the Agent and Environment handles as its policy and
environment, and returns the report, confidence, dossier, steps and reward breakdown. The hidden
truth never leaves the Environment deployment (it never calls ``outcome()``); the terminal reward
is returned, as in every observation's ``step_reward_breakdown``.

Results to expect: ``benchmarks/bench_agent_service.py`` (numbers in ``docs/server.md``, "The agent
as a service").
"""

# No ``from __future__ import annotations``: FastAPI must resolve the endpoint types at import.
import asyncio
import collections
import math
import threading
import uuid
from pathlib import Path
from typing import Any, Optional

from fastapi import Body, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator
from ray import serve

from drugenv.agents.base import Policy
from drugenv.errors import ConfigError, DrugEnvError, UnknownScenarioError
from drugenv.evaluation.episodes import LLM_EPISODE_STEP_CAP
from drugenv.llm.checkpoint import DEFAULT_CHECKPOINT_MAX_NEW_TOKENS
from drugenv.models import DrugTargetAction, ValidationObservation
from drugenv.server.app import harden_json_api
from drugenv.server.hosts import LOOPBACK_NAMES, KnownHosts, allowed_hosts_for
from drugenv.simulator.reward import terminal_reward
from drugenv.server.protocol import MAX_SEED
from drugenv.simulator.params import SimParams
from drugenv.storage import is_uri

GENE_SEARCH_SEEDS = 20_000
"""How many procedural seeds from ``seed`` on are searched for a requested gene / indication."""
EPISODE_STEP_CAP = LLM_EPISODE_STEP_CAP
"""Safety cap on the steps of one ``POST /episodes`` episode (the environment's own cap ends it first)."""


# ---------------------------------------------------------------------------------------------
# Arguments and checkpoint resolution (no Ray, no torch: the CLI checks these first)
# ---------------------------------------------------------------------------------------------


class AgentServiceArgs(BaseModel):
    """Arguments of ``build_agent_service`` (``serve run ... key=value`` or a config file's ``args``)."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: Optional[str] = Field(None, description="GRPO checkpoint directory or peft adapter directory.")
    model: Optional[str] = Field(None, description="Base model path or hub id (default: the adapter's base model); "
                                                   "'tiny' builds the offline tiny model.")
    adapter: Optional[str] = Field(None, description="peft adapter directory, when not given through --checkpoint.")
    temperature: float = Field(0.0, ge=0.0, description="Sampling temperature; 0 = greedy.")
    max_new_tokens: Optional[int] = Field(None, ge=1, description="Completion cap (default: the checkpoint's, as its run "
                                                                 "evaluated it: drugenv.llm.checkpoint.checkpoint_budgets).")
    max_batch_size: int = Field(16, ge=1, description="Most observations in one batched generate.")
    batch_wait_timeout_s: float = Field(0.01, ge=0.0, allow_inf_nan=False,  # inf: a batch short of full waited forever
                                        description="How long a batch waits to fill, seconds.")
    strict_actions: bool = Field(False, description="Refuse (HTTP 422) an action that is not a valid DrugTargetAction "
                                                    "instead of playing it as a penalised step.")
    torch_threads: Optional[int] = Field(None, ge=1, description="torch CPU threads in the Agent replica.")
    num_gpus: float = Field(0.0, ge=0.0, description="GPUs the Agent replica reserves (1 on a GPU node: Ray then places it "
                                                     "there and sets CUDA_VISIBLE_DEVICES; with 0 the model still picks "
                                                     "CUDA where the replica sees one, unreserved).")
    allowed_hosts: Optional[list[str]] = Field(None, min_length=1, description=(
        "Host names a request may give in its Host header; any other gets 421, so a web page whose name a DNS server "
        "points at 127.0.0.1 (DNS rebinding) cannot play episodes or read the answers. None: the loopback names, for "
        "Serve's HTTP proxy on 127.0.0.1 (the shipped config's, drugenv serve's default); ['*']: any name, for a proxy "
        "on another interface (drugenv serve --host passes it then)."))


def resolve_agent(args: AgentServiceArgs) -> tuple[str, Optional[str], int, Optional[int]]:
    """``(model, adapter, max_new_tokens, max_prompt_tokens)``: a checkpoint's budgets are the ones
    ``drugenv eval --agent checkpoint:`` decodes it with (``checkpoint_budgets``); a bare ``--model`` /
    ``--adapter`` has ``DEFAULT_CHECKPOINT_MAX_NEW_TOKENS`` and the adapter's trained prompt budget (None).
    ``ConfigError`` for a missing path or an unnamed base model. A checkpoint named by URI is read without its
    weights (``fetch_checkpoint(weights=False)``): the ``Agent`` replicas read the whole from the URI themselves,
    on their nodes, and ignore this copy's paths."""
    from drugenv.llm.checkpoint import checkpoint_budgets, require_existing, resolve_adapter_checkpoint
    from drugenv.storage import fetch_checkpoint

    meta: dict[str, Any] = {}
    if args.checkpoint:
        described = fetch_checkpoint(args.checkpoint, weights=False) if is_uri(args.checkpoint) else args.checkpoint
        model, adapter, meta = resolve_adapter_checkpoint(described, args.model)
    elif args.model:
        model, adapter = args.model, str(require_existing(args.adapter, "adapter").resolve()) if args.adapter else None
    else:
        raise ConfigError("the agent service needs a trained agent: pass --checkpoint PATH (a GRPO checkpoint or a "
                          "peft adapter directory) or --model PATH_OR_HUB_ID")
    if Path(model).exists():
        model = str(Path(model).resolve())  # replicas may not share the caller's working directory
    max_new_tokens, max_prompt_tokens = checkpoint_budgets(meta)
    return model, adapter, int(args.max_new_tokens or max_new_tokens), (max_prompt_tokens if meta else None)


def non_finite_at(value: Any, path: str = "observation") -> Optional[str]:
    """The path of a float in ``value`` (dicts and lists, nested to any depth) that is NaN or infinite, or None. No
    observation the environment writes holds one."""
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return where
        if isinstance(item, dict):
            stack.extend((f"{where}.{k}", v) for k, v in item.items())
        elif isinstance(item, (list, tuple)):
            stack.extend((f"{where}.{i}", v) for i, v in enumerate(item))
    return None


def episode_for(gene: str, indication: Optional[str], seed: int) -> int:
    """The first procedural seed >= ``seed`` whose target / indication pair is ``gene`` / ``indication``. ``gene``
    is a target record (``KRAS_G12D``) or the gene an episode names (``KRAS``: any of its records), in any case."""
    from drugenv.scenarios.procedural import pair_of
    from drugenv.scenarios.target_data import load_target_data

    data = load_target_data()
    pairs = [p["id"] for p in data["pairs"]]
    want = [p["id"] for p in data["pairs"] if gene.upper() in (p["target"].upper(), data["targets"][p["target"]]["gene"].upper())
            and (indication is None or p["indication"].upper() == indication.upper())]
    if not want:
        raise UnknownScenarioError(f"{gene}/{indication or '*'}", pairs, kind="gene/indication pair")
    end = min(seed + GENE_SEARCH_SEEDS, MAX_SEED + 1)  # a seed past MAX_SEED could not be replayed anywhere
    for s in range(seed, end):
        if pair_of(s) in want:
            return s
    raise ConfigError(f"no procedural seed in [{seed}, {end}) draws {gene}/{indication}; try another seed")


# ---------------------------------------------------------------------------------------------
# Deployments
# ---------------------------------------------------------------------------------------------


@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=256)
class Agent:
    """``HFPolicy`` in one replica; concurrent requests are batched into one ``generate``."""

    def __init__(self, model: str, adapter: Optional[str] = None, temperature: float = 0.0,
                 max_new_tokens: int = DEFAULT_CHECKPOINT_MAX_NEW_TOKENS, max_batch_size: int = 16,
                 batch_wait_timeout_s: float = 0.01, torch_threads: Optional[int] = None,
                 max_prompt_tokens: Optional[int] = None, checkpoint_uri: Optional[str] = None,
                 model_override: Optional[str] = None):
        from drugenv.llm.policy import HFPolicy, SamplingConfig
        from drugenv.llm.run_agent import model_path

        if checkpoint_uri:
            # The builder read only what describes a checkpoint named by URI, on whichever node it ran: each
            # replica reads the whole into a copy of its own, on its node (drugenv.storage.fetch_checkpoint).
            from drugenv.llm.checkpoint import resolve_adapter_checkpoint

            model, adapter, _ = resolve_adapter_checkpoint(checkpoint_uri, model_override)

        if torch_threads:
            import torch

            torch.set_num_threads(torch_threads)
        self.policy = HFPolicy(model_path(model), adapter=adapter, batch_size=max_batch_size, max_prompt_tokens=max_prompt_tokens,
                               sampling=SamplingConfig(temperature=temperature, max_new_tokens=max_new_tokens))
        self.act_batch.set_max_batch_size(max_batch_size)
        self.act_batch.set_batch_wait_timeout_s(batch_wait_timeout_s)
        self._lock = threading.Lock()  # HFPolicy keeps last_steps: one act at a time
        self.batch_sizes: collections.Counter[int] = collections.Counter()

    def __del__(self) -> None:
        # Serve calls this at the replica's graceful shutdown, then kills its process: no exit of its own to
        # remove the checkpoint copy a URI was read into (GBs for a 3B run's model).
        from drugenv.storage import remove_copy

        if getattr(self, "policy", None) is not None and self.policy.adapter:
            remove_copy(self.policy.adapter)

    def info(self) -> dict[str, Any]:
        return {"model": self.policy.model_id, "adapter": self.policy.adapter,
                "batch_sizes": dict(sorted(dict(self.batch_sizes).items()))}  # a copy first: _act may add a size

    def _act(self, observations: list[ValidationObservation]) -> list[dict[str, Any]]:
        from drugenv.llm.parsing import is_valid

        with self._lock:
            actions = self.policy.act(observations)
            steps = list(self.policy.last_steps)
        self.batch_sizes[len(observations)] += 1
        return [{"action": a.model_dump(mode="json") if isinstance(a, DrugTargetAction) else dict(a),
                 "text": s.generation.text, "valid": is_valid(s.result)} for a, s in zip(actions, steps)]

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
    async def act_batch(self, observations: list[ValidationObservation]) -> list[dict[str, Any]]:
        # Generate off the event loop, so the next batch keeps filling while this one runs.
        return await asyncio.get_running_loop().run_in_executor(None, self._act, observations)

    def check_prompt(self, observation: ValidationObservation) -> None:
        """``ConfigError`` unless a prompt can be built for ``observation`` (text a tokenizer cannot encode,
        such as a lone surrogate, or text too long for any prompt). Checked per request, before batching:
        a batch shares one ``generate`` call, so one bad observation failed every request batched with it."""
        try:
            self.policy.prompt_ids(observation)
        except (ValueError, TypeError, OverflowError) as e:  # OverflowError: a readout of 1e400 (inf) or 400 digits
            raise ConfigError(f"no prompt can be built for this observation: {' '.join(str(e).split())[:300]}") from None
        where = non_finite_at(observation.model_dump())
        if where is not None:  # JSON reads 1e400 as inf; in a readout no field types, the prompt would have said "inf"
            raise ConfigError(f"no prompt can be built for this observation: {where} is not a finite number")

    async def act(self, observation: ValidationObservation) -> dict[str, Any]:
        # Tokenizing runs off the event loop: on it, one large observation held up every request to this
        # replica, /health's info() included (~4 s for a 1 MB body).
        await asyncio.to_thread(self.check_prompt, observation)
        return await self.act_batch(observation)


@serve.deployment(ray_actor_options={"num_cpus": 0.1}, max_ongoing_requests=512)
class Environment:
    """DrugTargetEnvironment sessions, one per episode, addressed by a session id (one replica holds them all)."""

    def __init__(self, strict_actions: bool = False, max_sessions: int = 4096):
        self.strict_actions, self.max_sessions = strict_actions, max_sessions
        self.sessions: collections.OrderedDict[str, Any] = collections.OrderedDict()

    def reset(self, *, seed: int, scenario: Optional[str] = None, difficulty: Optional[str] = None,
              max_steps: Optional[int] = None) -> tuple[str, ValidationObservation]:
        from drugenv.simulator.environment import DrugTargetEnvironment

        env = DrugTargetEnvironment(sim_params=SimParams(max_steps=max_steps) if max_steps else None)
        obs = env.reset(seed=seed, scenario=scenario, difficulty=difficulty)
        session = uuid.uuid4().hex
        self.sessions[session] = env
        while len(self.sessions) > self.max_sessions:  # bounded memory: forget the oldest episode
            self.sessions.popitem(last=False)
        return session, obs

    def step(self, session: str, action: DrugTargetAction | dict[str, Any]) -> ValidationObservation:
        if session not in self.sessions:
            raise ConfigError(f"unknown or expired episode session {session!r}; reset a new episode")
        if self.strict_actions and not isinstance(action, DrugTargetAction):
            from pydantic import ValidationError

            try:
                DrugTargetAction.model_validate(action)
            except ValidationError as e:
                raise ConfigError(f"invalid action refused (strict_actions=True): {e.errors()[0]['msg']}") from None
        return self.sessions[session].step(action)

    def close(self, session: str) -> None:
        env = self.sessions.pop(session, None)
        if env is not None:
            env.close()


# ---------------------------------------------------------------------------------------------
# The episode loop's policy and environment, over the handles (called from a worker thread)
# ---------------------------------------------------------------------------------------------


class HandlePolicy(Policy):
    """The Agent deployment as a ``Policy``; keeps each step's raw text and validity."""

    name = "serve-agent"

    def __init__(self, agent: Any):
        self.agent, self.records = agent, []

    def act(self, observations: Any) -> list[Any]:
        out = []
        for obs in observations:
            r = self.agent.act.remote(obs).result()
            self.records.append(r)
            out.append(DrugTargetAction.model_validate(r["action"]) if r["valid"] else r["action"])
        return out


class HandleEnv:
    """The Environment deployment behind the in-process environment interface (``reset``/``step`` return the
    observation); no ``outcome()``: the truth stays in the Environment replica."""

    def __init__(self, handle: Any, max_steps: Optional[int]):
        self.handle, self.max_steps = handle, max_steps
        self.session: Optional[str] = None
        self.observations: list[ValidationObservation] = []

    def reset(self, *, seed: int, scenario: Optional[str] = None, difficulty: Optional[str] = None) -> ValidationObservation:
        self.session, obs = self.handle.reset.remote(seed=seed, scenario=scenario, difficulty=difficulty,
                                                  max_steps=self.max_steps).result()
        return obs

    def step(self, action: Any) -> ValidationObservation:
        obs = self.handle.step.remote(self.session, action).result()
        self.observations.append(obs)
        return obs

    def close(self) -> None:
        if self.session is not None:
            self.handle.close.remote(self.session)


# ---------------------------------------------------------------------------------------------
# The ingress
# ---------------------------------------------------------------------------------------------


class EpisodeRequest(BaseModel):
    """``POST /episodes``: which episode to play. ``gene`` (and ``indication``) pick the first procedural seed
    from ``seed`` on that draws that pair; otherwise ``scenario`` (curated name or 'procedural') and ``seed``."""

    model_config = ConfigDict(extra="forbid")

    scenario: Optional[str] = Field(None, max_length=100, description="Curated scenario name, or None / 'procedural'.")
    gene: Optional[str] = Field(None, min_length=1, max_length=100, description="Target gene, e.g. 'EGFR' or 'KRAS' (any of its records), or a record such as 'KRAS_G12D' (instead of scenario).")
    indication: Optional[str] = Field(None, min_length=1, max_length=100, description="Indication with gene, e.g. 'NSCLC' (None: any).")
    difficulty: Optional[str] = Field(None, description="Procedural tier: easy, medium, hard, very_hard.")
    seed: int = Field(0, ge=0, le=MAX_SEED, strict=True,  # as the environment server's reset takes it: true is not 1
                      description="Episode seed (with gene: the first seed searched).")
    max_steps: Optional[int] = Field(None, ge=1, le=EPISODE_STEP_CAP, strict=True, description=(  # as seed: true is not 1
        f"The episode's step cap, 1-{EPISODE_STEP_CAP} (default: the environment's, {SimParams().max_steps})."))

    @model_validator(mode="after")
    def _one_episode(self) -> "EpisodeRequest":
        """Refused here, as a 422, what the episode would otherwise ignore or fail on inside a replica (which logged
        a traceback per request)."""
        from drugenv.scenarios import SINGLE_SCENARIOS, check_difficulty, check_scenario_request
        from drugenv.server.session import unknown_scenario_message

        try:
            check_scenario_request(self.scenario, names=SINGLE_SCENARIOS)
        except UnknownScenarioError:
            raise ValueError(unknown_scenario_message(self.scenario, SINGLE_SCENARIOS)) from None  # never the curated names: they give answers away
        check_difficulty(self.difficulty)  # a ConfigError is a ValueError: pydantic makes it a 422
        if self.indication is not None and self.gene is None:
            raise ValueError("indication needs gene (it picks the pair with that gene)")
        if self.gene is not None and self.scenario not in (None, "procedural"):
            raise ValueError("pass gene (and indication) or a curated scenario, not both")
        if self.difficulty is not None and self.scenario not in (None, "procedural"):
            raise ValueError("difficulty picks a procedural tier; a curated scenario has its own")
        return self


class EpisodeStep(BaseModel):
    step: int
    action: dict[str, Any] = Field(..., description="The action played (the unparseable no-op when the text was not an action).")
    valid: bool = Field(..., description="Whether the model's text parsed into a valid DrugTargetAction.")
    text: str = Field("", description="The model's raw completion.")
    reward: float
    reward_terms: dict[str, float] = Field(default_factory=dict, description="This step's reward breakdown.")
    credits_remaining: int
    summary: str = ""
    violations: list[str] = Field(default_factory=list)


class EpisodeReport(BaseModel):
    final_decision: Optional[str] = None
    confidence: Optional[float] = None
    reasoning: str = ""


class EpisodeResult(BaseModel):
    """One finished episode as the agent played it. Holds no hidden truth (no correct decision)."""

    episode_id: Optional[str] = None
    scenario: Optional[str] = None
    seed: int
    target_gene: str
    indication: str
    report: Optional[EpisodeReport] = Field(None, description="The submitted report; None when the episode ended without one.")
    confidence: Optional[float] = None
    dossier: dict[str, Any] = Field(default_factory=dict, description="The evidence dossier at the end.")
    steps: list[EpisodeStep] = Field(default_factory=list)
    total_reward: float
    terminal_reward: float = Field(..., description="Sum of the last step's terminal/* reward terms.")
    reward_breakdown: dict[str, float] = Field(default_factory=dict, description="Each reward term summed over the episode.")
    valid_actions: int
    termination_reason: Optional[str] = None


class ActResponse(BaseModel):
    action: dict[str, Any] = Field(..., description="The action to send to the environment (a DrugTargetAction, or the "
                                                    "documented unparseable no-op when the model's text was not a valid action).")
    text: str = Field("", description="The model's raw completion.")
    valid: bool = Field(..., description="Whether the completion parsed into a valid DrugTargetAction.")


MAX_BODY_BYTES = 1 << 18
"""Cap on a request body: an observation late in an episode is ~5-30 KB of JSON (a 200-step random episode's
largest, ~7 KB). A body is tokenized whole before the model sees it (~4 s a megabyte), so the cap bounds that too."""

MAX_NESTING = 64
"""Deepest nesting an /act observation may have (its models, and the free-form dicts inside them: metadata, a
readout's data, an action's parameters; the observation's own structure is a few levels): Ray pickles the
observation to the Agent replica, and pickle gives up on deep recursion (600 levels), which was a 500."""


def nesting_depth(value: Any) -> int:
    """How deep ``value``'s models, dicts, lists and tuples nest (0 for a scalar, 1 for a flat dict); level by
    level, not recursively, so any depth is measured."""
    depth, level = 0, [value]
    while True:
        containers = [x for x in level if isinstance(x, (BaseModel, dict, list, tuple))]
        if not containers:
            return depth
        depth += 1
        level = [v for x in containers
                 for v in (vars(x).values() if isinstance(x, BaseModel) else x.values() if isinstance(x, dict) else x)]


# Defined before the ingress: @serve.ingress pickles the FastAPI app (and what its routes use) when applied.
def _result(request: EpisodeRequest, seed: int, scenario: Optional[str], played: Any, policy: HandlePolicy,
            env: HandleEnv) -> EpisodeResult:
    steps, breakdown = [], collections.defaultdict(float)
    for i, (rec, obs) in enumerate(zip(policy.records, env.observations), start=1):
        for k, v in obs.step_reward_breakdown.items():
            breakdown[k] += v
        steps.append(EpisodeStep(step=i, action=rec["action"], valid=rec["valid"], text=rec["text"][:2000],
                                 reward=float(obs.reward or 0.0), reward_terms=dict(obs.step_reward_breakdown),
                                 credits_remaining=obs.credits_remaining, summary=obs.latest_output.summary,
                                 violations=[f"{v.rule} ({v.severity}): {v.message[:300]}" for v in obs.rule_violations]))
    last = env.observations[-1] if env.observations else None
    report, submitted = None, played.report
    if submitted is not None:
        reasoning = str(policy.records[-1]["action"].get("reasoning", "")) if policy.records else ""
        report = EpisodeReport(final_decision=str(getattr(submitted.final_decision, "value", submitted.final_decision)),
                               confidence=submitted.confidence, reasoning=reasoning)
    terminal = terminal_reward(last.step_reward_breakdown) if last else 0.0
    obs = played.last_observation
    return EpisodeResult(
        episode_id=(last.metadata.get("episode_id") if last else None), scenario=scenario, seed=seed,
        target_gene=obs.target_gene, indication=obs.indication, report=report,
        confidence=submitted.confidence if submitted is not None else None,
        dossier=last.dossier.model_dump(mode="json") if last else {}, steps=steps, total_reward=played.episode_return,
        terminal_reward=terminal, reward_breakdown=dict(breakdown), valid_actions=sum(bool(r["valid"]) for r in policy.records),
        termination_reason=obs.metadata.get("termination_reason"),
    )


agent_service_api = harden_json_api(
    FastAPI(title="DrugEnv agent service",
            description="A trained DrugEnv agent: one action (POST /act) or a whole episode (POST /episodes)."),
    max_body_bytes=MAX_BODY_BYTES)


def _unprocessable(e: Exception) -> HTTPException:
    """A 422 for a request a replica refused (Ray wraps the replica's error and keeps it as ``.cause``)."""
    cause = getattr(e, "cause", None)
    return HTTPException(status_code=422, detail=" ".join(str(cause or e).split()))


@serve.deployment(ray_actor_options={"num_cpus": 0.1}, max_ongoing_requests=256)
@serve.ingress(agent_service_api)
class AgentService:
    """HTTP in front of the Agent and Environment deployments (DeploymentHandles, no HTTP between them); a request
    whose ``Host`` names none of ``allowed_hosts`` (None: any) gets 421 (``drugenv.server.hosts.KnownHosts``)."""

    def __init__(self, agent: Any, env: Any, strict_actions: bool = False,
                 allowed_hosts: Optional[tuple[str, ...]] = LOOPBACK_NAMES):
        self.agent, self.env, self.strict_actions = agent, env, strict_actions
        self.allowed_hosts = allowed_hosts

    def __serve_build_asgi_app__(self) -> Any:
        # Serve calls this in the replica after __init__, with this replica's own copy of the ingress app (not yet
        # started): its routes are declared at import, so the middleware that needs this deployment's
        # allowed_hosts is added here.
        if self.allowed_hosts is not None:
            self.app.add_middleware(KnownHosts, allowed_hosts=self.allowed_hosts, server="the agent service")
        return self.app

    @agent_service_api.get("/health")
    async def health(self) -> dict[str, Any]:
        return {"status": "healthy", **(await self.agent.info.remote()), "strict_actions": self.strict_actions}

    @agent_service_api.post("/act", response_model=ActResponse)
    async def act(self, observation: ValidationObservation = Body(...)) -> ActResponse:
        if nesting_depth(observation) > MAX_NESTING:
            raise HTTPException(status_code=422, detail=f"the observation nests deeper than {MAX_NESTING} levels")
        try:
            return ActResponse(**(await self.agent.act.remote(observation)))
        except DrugEnvError as e:  # the Agent replica refused the observation (check_prompt)
            raise _unprocessable(e) from None

    # A plain def: FastAPI runs it in a worker thread, where the shared (blocking) episode loop may wait on handles.
    @agent_service_api.post("/episodes", response_model=EpisodeResult)
    def episodes(self, request: EpisodeRequest) -> EpisodeResult:
        from drugenv.evaluation.episodes import EpisodeSpec, play_episodes

        try:
            seed, scenario = request.seed, request.scenario
            if request.gene is not None:
                seed, scenario = episode_for(request.gene, request.indication, request.seed), "procedural"
            policy, env = HandlePolicy(self.agent), HandleEnv(self.env, request.max_steps)
            played = play_episodes(policy, [EpisodeSpec(scenario, seed, request.difficulty)], env_factory=lambda: env,
                                   batch_size=1, max_steps=EPISODE_STEP_CAP)[0]  # the loop closes env
        except (DrugEnvError, ValueError) as e:  # unknown scenario, refused action (strict), bad difficulty
            raise _unprocessable(e) from None
        return _result(request, seed, scenario, played, policy, env)


def build_agent_service(args: dict[str, Any]) -> Any:
    """App builder: ``serve run serve.apps:build_agent_service checkpoint=PATH`` or a config file's ``args``."""
    a = AgentServiceArgs.model_validate(args)
    model, adapter, max_new_tokens, max_prompt_tokens = resolve_agent(a)
    uri = a.checkpoint if a.checkpoint and is_uri(a.checkpoint) else None  # replicas elsewhere read it themselves
    agent = Agent.options(ray_actor_options={**Agent.ray_actor_options, "num_gpus": a.num_gpus}).bind(
        model, adapter, a.temperature, max_new_tokens, a.max_batch_size, a.batch_wait_timeout_s, a.torch_threads,
        max_prompt_tokens, uri, a.model)
    # Serve's HTTP proxy is taken to be on loopback unless allowed_hosts says otherwise (AgentServiceArgs).
    return AgentService.bind(agent, Environment.bind(a.strict_actions), a.strict_actions,
                             allowed_hosts_for("127.0.0.1", a.allowed_hosts))


__all__ = ["Agent", "AgentService", "AgentServiceArgs", "Environment", "EpisodeRequest", "EpisodeResult",
           "build_agent_service", "episode_for", "resolve_agent"]
