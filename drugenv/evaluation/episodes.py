"""The one episode loop: any ``Policy`` on any DrugEnv environment, episodes in batched lockstep.

Every consumer that plays whole episodes runs ``play_episodes``:

| consumer                                   | environment                                   | what it adds (hooks)                |
|--------------------------------------------|-----------------------------------------------|-------------------------------------|
| ``evaluation.evaluate`` (``drugenv eval``) | in-process ``DrugTargetEnvironment``          | ``EpisodeRecord`` per episode       |
| ``llm.run_agent`` (``drugenv run-agent``)  | in-process, or a server (``RemoteEnvironment``) | printed steps, dashboard snapshot |
| Serve agent app ``POST /episodes``         | the Environment deployment's handle           | the episode as JSON                 |
| dashboard "watch an episode"               | in-process                                    | run-agent's snapshot, the truth at the end |

An environment is anything with the in-process interface: ``reset(seed=, scenario=, difficulty=)``
and ``step(action)`` returning a ``ValidationObservation`` (``reward``/``done`` set on it), and
``close()``. ``outcome()`` (the truth, after the end) is optional: the in-process simulator has it,
a server does not (then ``PlayedEpisode.outcome`` is None). ``env_factory`` makes one environment
per batch slot; they are reused from batch to batch and closed at the end.

Lockstep: each step the policy sees the observations of the whole batch (slots stay aligned;
finished slots' actions are ignored), so a batched policy (an LLM) generates for all running
episodes at once. Every episode is fully determined by its ``(scenario, seed, difficulty)``.

The truth reaches an agent only through ``agents.base.brief`` (the oracle), which needs an
environment with the truth in-process.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

from drugenv.agents.base import Policy, PolicyAction, brief
from drugenv.errors import ConfigError, whole_number
from drugenv.models import DrugTargetAction, ValidationObservation
from drugenv.scenarios import TWIN_SCENARIO
from drugenv.simulator.reward import terminal_reward
from drugenv.simulator.rules import parse_action


class EpisodeSpec(NamedTuple):
    """Which episode to play: a curated scenario name (or None / 'procedural'), a seed and a procedural tier."""

    scenario: Optional[str]
    seed: int
    difficulty: Optional[str] = None


EpisodeLike = Union[EpisodeSpec, tuple]
"""An ``EpisodeSpec`` or a plain ``(scenario, seed)`` / ``(scenario, seed, difficulty)`` tuple."""

EnvFactory = Callable[[], Any]
"""Makes one environment (``DrugTargetEnvironment``, ``RemoteEnvironment``, or anything with their interface)."""


@dataclass
class StepEvent:
    """One environment step, as ``on_step`` receives it."""

    episode: int
    """Index of the episode in the ``episodes`` argument."""
    spec: EpisodeSpec
    step: int
    """1-based step of the episode."""
    action: PolicyAction
    """The action played, as the policy returned it (a dict for output that did not parse into an action; whatever
    a policy returned, None included, which the environment judged as a malformed action)."""
    observation: ValidationObservation
    """The observation after the step."""
    reward: float
    episode_return: float
    """Sum of the episode's rewards so far, this step's included."""
    record: Any
    """The policy's record of this decision (``policy.last_steps[slot]``, e.g. ``HFPolicy``'s ``PolicyStep``
    with the raw text and parse result), or None for policies that keep none."""
    seconds: float
    """Wall time of the step: the batch's ``act`` plus this slot's ``env.step``."""


@dataclass
class PlayedEpisode:
    """A finished (or capped) episode, as ``play_episodes`` returns it and ``on_episode_end`` receives it."""

    index: int
    spec: EpisodeSpec
    first_observation: ValidationObservation
    last_observation: ValidationObservation
    last_action: PolicyAction
    """The episode's last action, as the policy returned it (None where no step was played)."""
    steps: int
    episode_return: float
    terminal_reward: float
    """Sum of the ``terminal/*`` terms of the last step's reward breakdown (0 when capped before the end)."""
    violations: int
    """Rule violations over the episode."""
    outcome: Any
    """``env.outcome()`` (an ``EpisodeOutcome``, truth included) when the environment has it and the episode
    ended; None for remote environments and for episodes stopped by ``max_steps``."""

    @property
    def done(self) -> bool:
        return bool(self.last_observation.done)

    @property
    def report(self) -> Optional[DrugTargetAction]:
        """The submitted report (the last action, when it was ``submit_validation_report``), else None. A dict
        action (what ``serve:`` agents send) counts as the action the environment parsed it into."""
        a = self.last_action
        if isinstance(a, Mapping):
            a, _ = parse_action(a)  # the environment's own parsing: None where it refused the dict
        if isinstance(a, DrugTargetAction) and a.action_type.value == "submit_validation_report":
            return a
        return None


def _default_env() -> Any:
    from drugenv.simulator.environment import DrugTargetEnvironment

    return DrugTargetEnvironment()


def play_episodes(
    policy: Policy,
    episodes: Sequence[EpisodeLike],
    *,
    env_factory: Optional[EnvFactory] = None,
    batch_size: int = 8,
    max_steps: Optional[int] = None,
    on_reset: Optional[Callable[[int, EpisodeSpec, ValidationObservation], None]] = None,
    on_step: Optional[Callable[[StepEvent], None]] = None,
    on_episode_end: Optional[Callable[[PlayedEpisode], None]] = None,
    progress: bool = False,
    desc: str = "episodes",
    keep: bool = True,
) -> list[PlayedEpisode]:
    """Play each episode to the end, ``batch_size`` at a time in lockstep; one ``PlayedEpisode`` per episode, in order.

    Args:
        policy: any ``Policy``; ``reset(n, seeds)`` is called per batch, ``act`` once per lockstep step.
        episodes: ``EpisodeSpec``s or ``(scenario, seed[, difficulty])`` tuples.
        env_factory: makes one environment per batch slot (default: ``DrugTargetEnvironment()``);
            they are reused across batches and closed at the end.
        batch_size: episodes played at once.
        max_steps: stop an episode after this many steps even if it has not ended (a safety cap for
            environments that may not advance, e.g. a strict server refusing unparseable actions);
            None: play until the environment ends it (its own step cap).
        on_reset: called with ``(episode index, spec, first observation)`` after each reset.
        on_step: called with a ``StepEvent`` after every step.
        on_episode_end: called with each ``PlayedEpisode`` once its batch has finished, in order.
        progress: show a tqdm bar (``desc``) over episodes.
        keep: return the played episodes; False returns none and lets each go once ``on_episode_end`` has seen
            it. A played episode holds its first and last observations (~35 KB): a long evaluation that kept
            them all grew without end (20,000 episodes, 0.76 GB), where its results need a few KB each.
    """
    batch_size = whole_number(batch_size, "batch_size")  # -1 played nothing, 0 was range()'s ValueError
    if max_steps is not None:
        max_steps = whole_number(max_steps, "max_steps")
    specs = [EpisodeSpec(*e) for e in episodes]
    make_env = env_factory or _default_env
    envs: list[Any] = []
    played: list[PlayedEpisode] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(specs), desc=desc, leave=False)
    try:
        for start in range(0, len(specs), batch_size):
            chunk = specs[start:start + batch_size]
            while len(envs) < len(chunk):
                envs.append(make_env())
            batch = _play_batch(policy, chunk, start, envs[:len(chunk)], max_steps, on_reset, on_step)
            for ep in batch:
                if on_episode_end is not None:
                    on_episode_end(ep)
            if keep:
                played += batch
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
        for env in envs:
            env.close()
    return played


LLM_EPISODE_STEP_CAP = 200
"""Safety cap on the steps of an LLM agent's episode (``drugenv run-agent``, the agent service's
``POST /episodes``): the environment's own step cap normally ends it first."""
TWIN_POLICY_SEED_OFFSET = 1 << 64
"""Added to a counterfactual twin's seed where a policy is told it (``policy_seed``)."""


def policy_seed(spec: EpisodeSpec) -> int:
    """The seed a policy is reset with for an episode: the episode's seed, moved past 64 bits for a
    counterfactual twin. A twin replays its original's seed, so a policy drawing from that seed played
    both members of a pair alike (the random baseline decided every pair the same way: a pair accuracy
    of 0 by construction, not by reading the gene)."""
    return spec.seed + TWIN_POLICY_SEED_OFFSET if spec.scenario == TWIN_SCENARIO else spec.seed


def _play_batch(policy: Policy, chunk: Sequence[EpisodeSpec], start: int, envs: Sequence[Any], max_steps: Optional[int],
                on_reset: Optional[Callable], on_step: Optional[Callable]) -> list[PlayedEpisode]:
    n = len(chunk)
    obs = [env.reset(seed=s.seed, scenario=s.scenario, difficulty=s.difficulty) for env, s in zip(envs, chunk)]
    first = list(obs)
    policy.reset(n, seeds=[policy_seed(s) for s in chunk])
    if policy.needs_truth and not all(hasattr(env, "oracle_view") for env in envs):
        raise ConfigError(f"policy {policy.name!r} reads the hidden truth: it needs the in-process simulator, "
                          "not a remote environment")
    for i, env in enumerate(envs):
        brief(policy, i, env)
    if on_reset is not None:
        for i, s in enumerate(chunk):
            on_reset(start + i, s, obs[i])
    steps = [0] * n
    returns = [0.0] * n
    terminal = [0.0] * n
    violations = [0] * n
    last_action: list[Any] = [None] * n

    def running(i: int) -> bool:
        return not obs[i].done and (max_steps is None or steps[i] < max_steps)

    while any(running(i) for i in range(n)):
        live = [i for i in range(n) if running(i)]
        # Policies see the whole batch (slots stay aligned); finished slots' actions are ignored. A slot
        # stopped by max_steps is shown as done, so a batched policy does not generate for it.
        seen = obs if max_steps is None else [o if running(i) or o.done else o.model_copy(update={"done": True})
                                              for i, o in enumerate(obs)]
        t0 = time.perf_counter()
        actions = policy.act(seen)
        act_s = time.perf_counter() - t0
        count = len(actions) if hasattr(actions, "__len__") and hasattr(actions, "__getitem__") else None
        if count != n:  # e.g. one action per running episode: the slots would be misaligned
            got = f"{count} actions" if count is not None else f"a {type(actions).__name__}"
            raise ConfigError(f"policy {policy.name!r} returned {got} for {n} observations: act() returns one action "
                              "per observation, in order, finished episodes' slots included (their actions are ignored)")
        records = getattr(policy, "last_steps", None)
        for i in live:
            a = actions[i]
            t1 = time.perf_counter()
            o = envs[i].step(a)
            step_s = time.perf_counter() - t1
            obs[i] = o
            steps[i] += 1
            last_action[i] = a
            reward = o.reward or 0.0
            returns[i] += reward
            violations[i] += len(o.rule_violations)
            if o.done:
                terminal[i] = terminal_reward(o.step_reward_breakdown)
            if on_step is not None:
                record = records[i] if records is not None and i < len(records) else None
                on_step(StepEvent(episode=start + i, spec=chunk[i], step=steps[i], action=a, observation=o,
                                  reward=float(reward), episode_return=returns[i], record=record,
                                  seconds=act_s + step_s))
    out = []
    for i, env in enumerate(envs):
        # The documented end-of-episode channel; the truth is never read directly.
        outcome = env.outcome() if obs[i].done and callable(getattr(env, "outcome", None)) else None
        out.append(PlayedEpisode(
            index=start + i, spec=chunk[i], first_observation=first[i], last_observation=obs[i], last_action=last_action[i],
            steps=steps[i], episode_return=returns[i], terminal_reward=terminal[i], violations=violations[i], outcome=outcome,
        ))
    return out


__all__ = ["EnvFactory", "EpisodeLike", "EpisodeSpec", "LLM_EPISODE_STEP_CAP", "PlayedEpisode", "StepEvent", "play_episodes"]
