"""Episodes for the "watch an episode" page: live ones played here, and run-agent snapshots.

A live episode is the shared episode loop (``drugenv.evaluation.episodes.play_episodes``, through
run-agent's ``run_agent_episodes``) on the in-process simulator, in a thread, writing the same
``_dashboard_state.json`` (schema v1) that ``drugenv run-agent`` writes; so the page reads one
format whichever fed it. The loop is paced (``step_delay``) so a person can follow it.

The truth reaches the page through ``DrugTargetEnvironment.outcome()`` only (the loop reads it once
the episode has ended, ``PlayedEpisode.outcome``): ``EpisodeView.outcome`` stays None until then by
construction. A
run-agent snapshot never carries the truth (schema v1 has no field for it).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drugenv.agents.base import Policy
from drugenv.dashboard.runs import SNAPSHOT_NAME
from drugenv.evaluation.episodes import PlayedEpisode, StepEvent
from drugenv.errors import ConfigError, DrugEnvError, UnknownScenarioError
from drugenv.llm.run_agent import DashboardState, run_agent_episodes
from drugenv.models import ValidationObservation
from drugenv.scenarios import SINGLE_SCENARIOS
from drugenv.server.protocol import MAX_SEED
from drugenv.simulator.episode import EpisodeOutcome
from drugenv.simulator.params import Difficulty


class EpisodeRequest(BaseModel):
    """What the page's "play an episode" form sends."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not a default played in its place

    # Lengths bound the strings, and a bounded str field refuses text UTF-8 cannot encode (a lone
    # surrogate), which the episode list would otherwise fail to send until the episode is evicted.
    agent: str = Field("heuristic", min_length=1, max_length=1000,
                       description="random | heuristic | expression_only | oracle | checkpoint:PATH | trl:PATH (inside the "
                                   "folders the dashboard serves) | serve:URL (an agent over HTTP at an address the "
                                   "dashboard was started with, --agent-url).")
    scenario: Optional[str] = Field(None, min_length=1, max_length=100, description="Curated scenario name, or None / 'procedural'.")
    difficulty: Optional[Difficulty] = Field(None, description="Procedural tier: easy, medium, hard, very_hard.")
    seed: int = Field(0, ge=0, le=MAX_SEED, strict=True, description="Episode seed.")  # as the environment server takes it: "3" and true are not 3 and 1


class BookFull(DrugEnvError):
    """Raised when every live-episode slot holds an episode still playing."""


class EpisodeView(BaseModel):
    """One episode as the page draws it."""

    id: str
    source: Literal["live", "snapshot"]
    agent: str
    state: Optional[DashboardState] = Field(None, description="The run-agent snapshot; None before the first step.")
    reward_terms: list[dict[str, float]] = Field(default_factory=list, description="Per-step reward breakdown (live only).")
    dossier: Optional[dict[str, list[dict[str, Any]]]] = Field(None, description="Findings by section (live only).")
    red_flags: list[str] = Field(default_factory=list)
    outcome: Optional[EpisodeOutcome] = Field(None, description="The truth; set only once the episode has ended.")
    error: Optional[str] = None


class _Stopped(Exception):
    """Raised inside a live episode's thread when the dashboard shuts down."""


class _Paced(Policy):
    """Waits ``delay`` seconds before each action so the page can be followed; forwards the rest."""

    def __init__(self, inner: Policy, delay: float, stop: threading.Event):
        self.inner, self.delay, self.stop = inner, delay, stop
        self.name, self.needs_truth = inner.name, inner.needs_truth

    def reset(self, batch_size: int = 1, seeds: Optional[Sequence[int]] = None) -> None:
        self.inner.reset(batch_size, seeds)

    def observe_truth(self, slot: int, truth: Any) -> None:
        self.inner.observe_truth(slot, truth)

    @property
    def last_steps(self) -> Any:
        return getattr(self.inner, "last_steps", None)

    def act(self, observations: Sequence[ValidationObservation]) -> list[Any]:
        if self.stop.wait(self.delay):
            raise _Stopped("the dashboard shut down")
        actions = self.inner.act(observations)
        if self.stop.is_set():  # shut down while a remote agent answered: its folder is gone, write nothing more
            raise _Stopped("the dashboard shut down")
        return actions


@dataclass(frozen=True)
class AgentAccess:
    """The agents beyond the baselines that the form may name. The dashboard has no authentication and
    any process on the host (or a web page, through a DNS name rebound to 127.0.0.1) can post to it, so
    it loads a checkpoint only from inside the folders it was started over (restoring a PPO checkpoint
    unpickles code: a checkpoint anywhere else would run whatever a request points at), and posts to an
    agent over HTTP only at the addresses it was started with (any other would make it a proxy that
    posts to, and echoes part of the answer from, whatever a request names)."""

    checkpoint_roots: tuple[Path, ...] = ()
    """``checkpoint:PATH`` / ``trl:PATH`` must resolve (links followed) inside one of these."""
    agent_urls: tuple[str, ...] = ()
    """``serve:URL`` must be one of these (compared as ``remote.agent_url`` writes them)."""

    def __post_init__(self) -> None:
        from drugenv.agents.remote import agent_url

        object.__setattr__(self, "checkpoint_roots", tuple(Path(r).expanduser().resolve() for r in self.checkpoint_roots))
        object.__setattr__(self, "agent_urls", tuple(dict.fromkeys(agent_url(u) for u in self.agent_urls)))

    def agents(self) -> list[str]:
        """What the form offers: the baselines, a checkpoint by path, and each agent address allowed."""
        from drugenv.agents.baselines import BASELINES

        return [*BASELINES, "checkpoint:PATH", "trl:PATH", *(f"serve:{u}" for u in self.agent_urls)]

    def check(self, agent: str) -> None:
        """``ConfigError`` for a checkpoint outside ``checkpoint_roots`` or an address not in ``agent_urls``."""
        from drugenv.agents.remote import PREFIX, agent_url
        from drugenv.evaluation.agents import TRL_PREFIX

        for prefix in ("checkpoint:", TRL_PREFIX):
            if agent.startswith(prefix):
                path = agent[len(prefix):]
                roots = " or ".join(str(r) for r in self.checkpoint_roots) or "(none)"
                if "://" in path:
                    raise ConfigError(f"the dashboard plays checkpoints from the folders it serves ({roots}), not from an "
                                      f"address: {agent[:120]!r}; copy it under them, or score it with drugenv eval")
                try:
                    where = Path(path).expanduser().resolve()
                except (OSError, RuntimeError, ValueError) as e:  # a link loop, a NUL
                    raise ConfigError(f"{prefix}PATH {path[:120]!r} cannot be resolved: {e}") from None
                if not any(where.is_relative_to(r) for r in self.checkpoint_roots):
                    raise ConfigError(f"the dashboard plays checkpoints only from inside the folders it serves ({roots}; "
                                      f"start it with --checkpoint-dir DIR for another): {path[:120]!r} is outside them "
                                      "(loading a checkpoint runs the code pickled in it)")
                return
        if agent.startswith(PREFIX):
            url = agent_url(agent)  # a malformed address is named as such first
            if url not in self.agent_urls:
                allowed = ", ".join(self.agent_urls) or "none"
                raise ConfigError(f"the dashboard plays agents over HTTP only at the addresses it was started with "
                                  f"(--agent-url URL; now: {allowed}), not {url[:120]!r}")


def make_policy(agent: str, access: Optional[AgentAccess] = None) -> Policy:
    """An agent as ``drugenv eval --agent`` takes it (``serve:URL`` for the Serve agent app or another agent over
    HTTP; ``hf``: the model ``$RUN_AGENT_MODEL_ID`` names, the page having no ``--model``), but never your own
    module: a name from a request imports nothing (``evaluation.agents``, ``allow_import``), and checkpoints and
    agent addresses are only those ``access`` allows (None: none)."""
    import os

    from drugenv.agents.baselines import BASELINES
    from drugenv.evaluation.agents import make_policy as eval_policy
    from drugenv.llm.run_agent import MODEL_ENV_VAR

    access = AgentAccess() if access is None else access
    if agent == "hf" and not os.environ.get(MODEL_ENV_VAR):  # eval's message asks for its --model flag, which the form lacks
        raise ConfigError(f"agent 'hf' plays the model ${MODEL_ENV_VAR} names, and the dashboard's environment sets none: "
                          "play a trained agent as checkpoint:PATH, or an agent over HTTP as serve:URL (--agent-url)")
    access.check(agent)
    try:
        return eval_policy(agent)
    except UnknownScenarioError:  # eval's list, which names hf without saying the page reads it from the environment
        raise UnknownScenarioError(agent, [*BASELINES, "checkpoint:PATH", "serve:URL", "trl:PATH", f"hf (with ${MODEL_ENV_VAR} set)"],
                                   kind="agent") from None


class LiveEpisode:
    """One episode playing in a background thread; ``view()`` is safe to call at any time."""

    def __init__(self, episode_id: str, request: EpisodeRequest, policy: Policy, folder: Path, step_delay: float,
                 stop: threading.Event):
        self.id, self.request = episode_id, request
        self.path = folder / SNAPSHOT_NAME
        self.last: Optional[ValidationObservation] = None
        self.terms: list[dict[str, float]] = []
        self.outcome: Optional[EpisodeOutcome] = None
        self.error: Optional[str] = None
        self.thread = threading.Thread(target=self._play, args=(_Paced(policy, step_delay, stop),),
                                       name=f"episode-{episode_id}", daemon=True)
        self.thread.start()

    def _play(self, policy: Policy) -> None:
        r = self.request
        try:
            run_agent_episodes(policy, episodes=1, seed=r.seed, scenario=r.scenario, difficulty=r.difficulty,
                               dashboard_path=self.path, model_id=r.agent, env_name="local", echo=False,
                               on_step=self._record, on_episode_end=self._end)
        except Exception as e:  # the page shows why the episode stopped instead of hanging on "running"
            self.error = f"{type(e).__name__}: {e}"

    def _record(self, ev: StepEvent) -> None:  # the public observation after each step (dossier, reward breakdown)
        self.last = ev.observation
        self.terms.append(dict(ev.observation.step_reward_breakdown))

    def _end(self, ep: PlayedEpisode) -> None:
        self.outcome = ep.outcome

    def view(self) -> EpisodeView:
        # The outcome is read before the snapshot: the loop writes the final (done) snapshot before it calls
        # _end, so an outcome seen here always pairs with a done state. Read the other way round, an episode
        # ending between the two reads gave a not-done view carrying the truth (a CI run caught it).
        outcome, error = self.outcome, self.error
        state = DashboardState.model_validate_json(self.path.read_text(encoding="utf-8")) if self.path.exists() else None
        obs = self.last  # after the snapshot: on_step sets it first, so the dossier is never behind the state
        dossier = None
        if obs is not None:
            d = obs.dossier.model_dump(mode="json")
            dossier = {k: v for k, v in d.items() if k != "flagged_red_flags"}
        n = len(state.steps) if state else 0
        return EpisodeView(id=self.id, source="live", agent=self.request.agent, state=state, reward_terms=self.terms[:n],
                           dossier=dossier, red_flags=list(obs.dossier.flagged_red_flags) if obs else [],
                           outcome=outcome, error=error)


def snapshot_view(episode_id: str, path: Path) -> EpisodeView:
    """A ``_dashboard_state.json`` written by run-agent; a damaged one becomes ``error``."""
    try:
        state = DashboardState.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        return EpisodeView(id=episode_id, source="snapshot", agent="?", error=f"{path.name} cannot be read ({e}).")
    except ValidationError as e:
        first = e.errors()[0]
        return EpisodeView(id=episode_id, source="snapshot", agent="?", error=(
            f"{path.name} is not a schema-v1 run-agent snapshot ({e.error_count()} problems; first: "
            f"{'.'.join(map(str, first['loc'])) or 'file'}: {first['msg']})."))
    return EpisodeView(id=episode_id, source="snapshot", agent=state.model_id, state=state)


class EpisodeBook:
    """The live episodes of one dashboard, each in its own folder of a temporary directory."""

    def __init__(self, step_delay: float, max_live: int = 32, access: Optional[AgentAccess] = None):
        self.step_delay, self.max_live = step_delay, max_live
        self.access = AgentAccess() if access is None else access
        self._tmp = tempfile.TemporaryDirectory(prefix="drugenv-dashboard-")
        self._ids = itertools.count(1)
        self._stop = threading.Event()
        # FastAPI runs starts in a thread pool: the count is checked and the episode added under one
        # lock, or concurrent starts (each building a policy in between) all passed the check.
        self._lock = threading.Lock()
        self.live: dict[str, LiveEpisode] = {}

    def start(self, request: EpisodeRequest) -> LiveEpisode:
        """Build the policy and play. An unknown agent or scenario raises ``DrugEnvError`` here, before any
        thread; so does a full book (``BookFull``: ``max_live`` episodes are still playing)."""
        from drugenv.scenarios import check_scenario_request

        check_scenario_request(request.scenario, names=SINGLE_SCENARIOS)
        with self._lock:
            self._make_room()  # a full book fails before the (maybe slow) policy is built
        policy = make_policy(request.agent, self.access)
        with self._lock:
            self._make_room()
            episode_id = f"live-{next(self._ids)}"
            folder = Path(self._tmp.name) / episode_id
            folder.mkdir()
            self.live[episode_id] = LiveEpisode(episode_id, request, policy, folder, self.step_delay, self._stop)
            return self.live[episode_id]

    def _make_room(self) -> None:
        """Bounded memory and disk: at ``max_live`` forget the oldest finished episode and remove its folder,
        or raise ``BookFull``."""
        if len(self.live) >= self.max_live:
            oldest = next((k for k, e in self.live.items() if not e.thread.is_alive()), None)
            if oldest is None:
                raise BookFull(f"{self.max_live} episodes are still playing; start another when one has finished")
            shutil.rmtree(self.live.pop(oldest).path.parent, ignore_errors=True)

    def close(self) -> None:
        self._stop.set()
        for e in list(self.live.values()):  # a copy: a request may still be starting one
            e.thread.join(timeout=5)
        self._tmp.cleanup()


__all__ = ["AgentAccess", "BookFull", "EpisodeBook", "EpisodeRequest", "EpisodeView", "LiveEpisode", "make_policy", "snapshot_view"]
