"""``DrugTargetEnvironment``: the framework-free core (OpenEnv shape: reset / step / state)."""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Any, Mapping, Optional, TypeVar, Union

import numpy as np
from pydantic import BaseModel, ValidationError

from drugenv.actions import ACTION_TABLE, ActionType
from drugenv.errors import ConfigError, EnvNotResetError, EpisodeNotFinishedError
from drugenv.models import (
    DrugTargetAction,
    DrugTargetState,
    EvidenceDossier,
    Finding,
    HistoryEntry,
    IntermediateOutput,
    ReadOnlyDict,
    ReadOnlyList,
    RuleViolation,
    ValidationObservation,
    read_only,
    trusted,
    trusted_from,
)
from drugenv.scenarios import TWIN_SCENARIO, Scenario, make_scenario
from drugenv.scenarios.procedural import TEST_SEED_OFFSET, TRAINING_SEEDS_END
from drugenv.simulator import reward as reward_engine
from drugenv.simulator import rules, transitions
from drugenv.simulator.episode import CreditState, EpisodeBook, EpisodeOutcome
from drugenv.simulator.latent import FullLatentState, OracleView
from drugenv.simulator.params import RewardConfig, SimParams
from drugenv.simulator.seeding import MAX_SEED, seeded_generator, validated_seed  # (both were defined here)


M = TypeVar("M", bound=BaseModel)


def config_model(value: Any, cls: type[M], name: str) -> M:
    """``value`` as a ``cls`` (``RewardConfig``, ``SimParams``): an instance, a dict of its fields, or None
    for the defaults. Anything else, or a field out of range, is a ``ConfigError`` naming ``name``."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        try:
            return cls(**dict(value))
        except ValidationError as e:
            raise ConfigError(f"{name}: " + "; ".join(
                (f"{'.'.join(map(str, x['loc']))}: " if x["loc"] else "") + x["msg"].removeprefix("Value error, ")
                for x in e.errors())) from None
    raise ConfigError(f"{name} must be a {cls.__name__} or a dict of its fields, got {type(value).__name__}")


MAX_EPISODE_ID_CHARS = 255
"""The longest episode id, everywhere: the server's ``ResetRequest`` and the core's ``reset`` read this one limit."""


SEALED_WORLDS = 2**62
"""How many world seeds each split's sealed seeds map into: too many to try one by one."""
SEALED_TRAIN_WORLDS_START = TEST_SEED_OFFSET + SEALED_WORLDS
"""Sealed train seeds map into ``[SEALED_TRAIN_WORLDS_START, + SEALED_WORLDS)``, sealed test seeds into
``[TEST_SEED_OFFSET, + SEALED_WORLDS)``: two ranges apart from each other and from every train seed."""


def seal_key(secret: str) -> bytes:
    """The BLAKE2b key a secret seals with: its UTF-8 bytes, or a 64-byte hash of them when they are longer than
    the 64 bytes a BLAKE2b key holds (they were cut to their first 64, so two secrets alike that far sealed the
    very same worlds and noise). Every secret of up to 64 bytes keys as it did."""
    raw = secret.encode("utf-8")
    return raw if len(raw) <= 64 else hashlib.blake2b(raw, digest_size=64, person=b"drugenv seal").digest()


def sealed_seed(seed: int, secret: str) -> int:
    """The world seed of a sealed environment: a keyed hash (BLAKE2b) of the public seed.

    Without the secret, a public seed says nothing about the scenario or its noise; with it, the
    same (seed, secret) replays exactly. Every sealed world seed is drawn from ``SEALED_WORLDS`` seeds, too
    many to generate and look up: a train seed's world was once kept among the million train seeds, and
    a million worlds can be generated and looked up (by the episode id, or by the gene, indication, tier
    and one readout), which gave away a sealed episode's truth. A sealed train seed's world is therefore
    not a world of the train split (none that training plays), only one apart from the sealed test
    worlds, so a sealed benchmark's train and test seeds still never share a world.
    """
    digest = hashlib.blake2b(str(int(seed)).encode(), key=seal_key(secret), digest_size=8).digest()
    h = int.from_bytes(digest, "big") % SEALED_WORLDS
    return (SEALED_TRAIN_WORLDS_START if seed < TEST_SEED_OFFSET else TEST_SEED_OFFSET) + h


SEAL_ENV_VAR = "DRUGENV_SEAL"
"""The environment variable that holds the secret of sealed episodes (``drugenv serve-env``, ``drugenv eval``)."""


def configured_seal(flag: Optional[str], *, unsealed: str = "serve unsealed") -> Optional[str]:
    """The secret a command seals its episodes with: its ``--seal`` value, else ``$DRUGENV_SEAL``, else None
    (unsealed). An empty secret is a ``ConfigError`` either way: ``DRUGENV_SEAL=$SECRET`` with ``SECRET`` unset
    would otherwise run a benchmark unsealed. ``unsealed`` says what leaving it out does, in the message."""
    if flag is not None:
        if not flag:
            raise ConfigError(f"--seal is empty: give the secret (better: set {SEAL_ENV_VAR}), or leave it out to {unsealed}")
        return flag
    seal = os.environ.get(SEAL_ENV_VAR)
    if seal is not None and not seal:
        raise ConfigError(f"{SEAL_ENV_VAR} is set but empty: give the secret, or unset it to {unsealed}")
    return seal


def sealed_noise_key(seed: int, secret: str, twin: bool = False) -> bytes:
    """The key of a sealed episode's readout noise: a keyed hash (BLAKE2b, 32 bytes) of the public seed (and of
    ``twin``, the reset asking for the seed's counterfactual twin).

    Unsealed, a query's noise is seeded by a CRC-32 of (world seed, query), which is cheap and, the
    seed being public, hides nothing. Sealed, that would hide little: CRC-32 is a 32-bit state
    machine, so the state after the world seed's digits fixes every query's noise in the episode, and
    that one 32-bit value can be searched for by checking two readouts of one quantity against each
    other (GTEx against the toxicity panel's tissue levels), no truth needed; with the noise known the
    readouts are exact. So a sealed episode keys its noise with this key instead (``evidence``).

    A sealed counterfactual twin shares its original's world but not its noise: with the same noise every
    readout the twin's edit leaves alone would read byte for byte as its original's, and an agent shown
    both (``procedural-test-twins``) could pair them by that and give each pair one go.
    """
    return hashlib.blake2b(f"{int(seed)}{' twin' if twin else ''}".encode(), key=seal_key(secret), digest_size=32,
                           person=b"drugenv noise").digest()


def _sealed_episode_uuid(noise_key: bytes) -> str:
    """A sealed episode's id: a version-4 UUID hashed from its secret noise key (one-way, so the id tells
    nothing of the key). Not from the world seed, as an unsealed id is: a twin shares its original's world
    seed, and a shared id would pair them (``sealed_noise_key``)."""
    return str(uuid.UUID(bytes=hashlib.blake2b(noise_key, digest_size=16, person=b"drugenv episode").digest(), version=4))


class DrugTargetEnvironment:
    """Drug-target validation as a POMDP.

    ## Description
    The agent is a computational drug-discovery scientist. Given a target gene and an indication,
    it spends a credit budget on simulated queries whose noisy outputs are drawn from a hidden
    ``TargetProfile``, and ends the episode with a go / no-go report and a confidence.

    ## Action Space
    ``DrugTargetAction`` (or a dict of the same shape). The action table, with costs, dimensions and
    soft prerequisites, is ``drugenv.actions.ACTION_TABLE`` (22 ids; see its module docstring).
    ``submit_validation_report`` also needs ``final_decision`` ("go" | "no_go") and ``confidence`` in [0, 1].

    ## Observation Space
    ``ValidationObservation``:

    | key                   | type                 | range / shape                             |
    |-----------------------|----------------------|-------------------------------------------|
    | target_gene           | str                  | e.g. "EGFR"                               |
    | disease_context       | str                  |                                           |
    | indication            | str                  |                                           |
    | credits_remaining     | int                  | [0, credits_total]                        |
    | credits_total         | int                  | 30-45 by difficulty                       |
    | step_count, max_steps | int                  | [0, max_steps]                            |
    | dossier               | EvidenceDossier      | findings by section + flagged_red_flags   |
    | pipeline_history      | list[HistoryEntry]   | one per past step                         |
    | latest_output         | IntermediateOutput   | status ok / no_data / blocked / info      |
    | rule_violations       | list[RuleViolation]  | of the last step                          |
    | step_reward_breakdown | dict[str, float]     | signed terms, sum = reward                |
    | legal_actions         | list[ActionType]     | affordable actions now                    |
    | done, reward          | bool, float          |                                           |

    ## Rewards
    Step: ``novelty + coherence − credit_cost − violations + (Φ(s') − Φ(s))``; terminal (added on
    the last step): ``w_decision·decision_accuracy + w_coverage·evidence_coverage +
    w_efficiency·credit_efficiency + w_coherence·reasoning_coherence`` (by default 0.40, 0.35, 0.15
    and 0.10) minus hard penalties (no evidence, no report). Weights, the decision scoring rule
    (linear | brier) and how efficiency and coherence count calls are in ``RewardConfig``.

    Every step term is computed from public quantities only: novelty (a dimension investigated for
    the first time), coherence and violations (the public rules), credit cost, and the shaping
    potential Φ = fraction of the five public go/no-go gates with evidence gathered. (The spec names
    Φ without defining it; DrugEnv's first Φ counted the scenario's *hidden* key dimensions and so
    told an agent that read rewards which dimensions mattered — and thereby the answer.) Terms computed from the truth (decision
    accuracy, key-evidence coverage) are paid only in the terminal reward.

    ## Sealed evaluation
    ``DrugTargetEnvironment(seal=SECRET)`` (``drugenv serve-env --seal``, or ``DRUGENV_SEAL``)
    derives the world seed of procedural scenarios and of all readout noise from (seed, SECRET)
    with a keyed hash, one of 2^62 world seeds (``sealed_seed``): the public generator can no longer map a
    seed to its truth, nor can an episode be looked up among generated worlds, the same (seed, SECRET)
    still replays exactly, and neither observation metadata nor ``state`` carries the seed. Curated scenarios are public by name; a sealed benchmark uses
    procedural ones. A counterfactual twin, which shares its original's world and has the opposite
    answer, reads noise and carries an episode id of its own (``sealed_noise_key``).

    ## Outcome
    ``outcome()`` (after the episode ends) returns an ``EpisodeOutcome``: the correct decision,
    whether the report got it right, and the key-evidence coverage. It is the one channel the
    truth leaves through; evaluation and SFT read it, the server never sends it. Only the oracle
    agent reads the truth itself (``oracle_view()``).

    ## Starting State
    ``reset(seed=s)`` builds the scenario (curated by name, or procedural from the seed) and draws
    all noise from per-query RNGs derived from ``s``: the same seed gives the same episode.

    ## Episode End
    - Termination: a report is submitted.
    - Termination: credits reach 0 without a report (no-report penalty).
    - Truncation: ``max_steps`` steps without a report (no-report penalty). ``metadata["truncated"]`` is set.

    ## Arguments
    | argument      | default        | meaning                               |
    |---------------|----------------|---------------------------------------|
    | reward_config | RewardConfig() | reward weights and decision scoring   |
    | sim_params    | SimParams()    | step cap, budgets and noise per tier  |
    | seal          | None           | secret that salts the world and noise |

    ## Version History
    - v0: initial release.
    - v0.1: shaping potential over public gates (was: hidden key dimensions); ``seal``;
      ``outcome()`` and ``oracle_view()`` replace ``debug_truth()``.
    - v0.2: sealed train seeds map among 2^62 worlds (were: the million train worlds, which can be
      enumerated), so sealed episodes of seeds below ``TEST_SEED_OFFSET`` differ from v0.1's.
    - v0.3: a sealed episode keys its readouts' noise with a secret key (``sealed_noise_key``; was: a
      CRC-32 of the world seed, one 32-bit state that readouts alone could be searched for), so every
      sealed episode reads other noise than v0.2's. Unsealed episodes are unchanged.
    - v0.4: a sealed twin reads noise of its own (was: its original's), and a sealed episode's id is
      hashed from its noise key (was: from the world seed, which a twin shares), so that nothing but the
      evidence pairs a twin with its original. Sealed worlds, and the noise of sealed episodes that are not
      twins, are v0.3's; unsealed episodes are unchanged.

    >>> env = DrugTargetEnvironment()
    >>> obs = env.reset(seed=0, scenario="egfr_nsclc_viable")
    >>> obs.target_gene, obs.credits_remaining
    ('EGFR', 30)
    """

    _lend_records = False
    """Internal (the ``/ws`` server sets it on its sessions' environments, the gym wrappers on their core):
    ``reset`` and ``step`` return the environment's own observation record instead of a ``_snapshot`` of
    it. Only for a caller that is done with the observation before the next call (the server serializes
    it at once; a wrapper encodes it) and never changes it."""

    def __init__(self, reward_config: Optional[RewardConfig] = None, sim_params: Optional[SimParams] = None,
                 seal: Optional[str] = None):
        self.reward_config = config_model(reward_config, RewardConfig, "reward_config")
        self.sim_params = config_model(sim_params, SimParams, "sim_params")
        if seal is not None and not (isinstance(seal, str) and seal):
            raise ConfigError("seal must be a non-empty secret string (or None for an unsealed environment)")
        if seal is not None:
            try:
                seal.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate (an undecodable byte in $DRUGENV_SEAL): it failed at reset
                raise ConfigError("seal is not text UTF-8 can encode (an undecodable byte in the secret?)") from None
        self._seal = seal
        self._latent: Optional[FullLatentState] = None
        self._book: Optional[EpisodeBook] = None
        self._obs: Optional[ValidationObservation] = None
        self._episode_id: Optional[str] = None
        self._cum_reward = 0.0
        self._termination: Optional[str] = None
        self._report: Optional[DrugTargetAction] = None
        self.last_info: dict[str, Any] = {}

    # ------------------------------------------------------------------ API
    def reset(
        self,
        seed: Optional[int] = None,
        episode_id: Optional[str] = None,
        scenario: Optional[Union[str, Scenario]] = None,
        difficulty: Optional[str] = None,
    ) -> ValidationObservation:
        """Start an episode. ``seed``: an integer >= 0 (``None`` draws a fresh training seed, below
        ``TRAINING_SEEDS_END``: never a world the held-out splits evaluate on; anything else is a
        ``ConfigError``); ``scenario`` is a curated name, ``"procedural"`` (default) or a ``Scenario``;
        ``difficulty`` picks the procedural tier."""
        if seed is None:  # not from [0, 2**31): 99.95% of that range is the test split (TEST_SEED_OFFSET on)
            seed = int(np.random.default_rng().integers(0, TRAINING_SEEDS_END))
        seed = validated_seed(seed)
        if episode_id is not None:
            _check_episode_id(episode_id)
        noise_key: int | bytes  # FullLatentState.noise_key: the world seed unsealed, a secret key sealed
        sealed_key: Optional[bytes] = None
        if self._seal is None:
            world_seed = noise_key = seed
        else:  # a twin shares its original's world, not its noise (sealed_noise_key)
            world_seed = sealed_seed(seed, self._seal)
            noise_key = sealed_key = sealed_noise_key(seed, self._seal, twin=scenario == TWIN_SCENARIO)
        # One generator of the world seed serves the episode id (its first two words, read without
        # consuming them) and a procedural scenario (the same stream from its start): seeding a PCG64
        # costs ~7 us, and the id and the scenario each seeded their own before. (seeded_generator is
        # default_rng's stream, built a little cheaper.)
        rng = seeded_generator(world_seed)
        # A sealed id comes from the secret noise key: the world seed, one of 2^62 (``sealed_seed``), would
        # hide it as well from a lookup among generated worlds, but a twin shares its original's.
        new_episode_id = episode_id or (_episode_uuid(rng) if sealed_key is None else _sealed_episode_uuid(sealed_key))
        sc = make_scenario(scenario, world_seed, difficulty, self.sim_params, rng=rng)
        # Trusted: the scenario is a validated Scenario (or built as one), world_seed an int, scenario_id its str;
        # the fields counted as set are the five that FullLatentState(...) would have been given.
        self._latent = latent = trusted(FullLatentState, profile=sc.profile, quality=sc.quality, world_seed=world_seed,
                                        scenario_id=sc.scenario_id, noise_key=noise_key, covered_key_dimensions=set())
        object.__setattr__(latent, "__pydantic_fields_set__", {"profile", "quality", "world_seed", "scenario_id", "noise_key"})
        self._book = EpisodeBook(credits=CreditState(total=sc.credits), difficulty=sc.difficulty, max_steps=self.sim_params.max_steps)
        self._episode_id = new_episode_id
        self._cum_reward = 0.0
        self._termination = None
        self._report = None
        p = sc.profile
        # Built from values made here (what ValidationObservation(...) would validate them into).
        self._obs = trusted(
            ValidationObservation,
            target_gene=p.gene, disease_context=p.disease_context, indication=p.indication,
            credits_remaining=sc.credits, credits_total=sc.credits, step_count=0, max_steps=self.sim_params.max_steps,
            dossier=_empty_dossier(), pipeline_history=[],
            latest_output=trusted(IntermediateOutput, action_type=None, dimension=None, status="info",
                                  summary=f"New validation task: {p.gene} in {p.indication}.", data=ReadOnlyDict(), cost=0),
            rule_violations=[], step_reward_breakdown={},
            legal_actions=rules.legal_actions(done=False, credits_remaining=sc.credits), done=False, reward=None,
            metadata={"episode_id": self._episode_id, "difficulty": sc.difficulty,
                      **({"sealed": True} if self._seal is not None else {"seed": seed})},
        )
        self.last_info = {"reward_terms": {}}
        return self._obs if self._lend_records else self._snapshot(self._obs)

    def step(self, action: Union[DrugTargetAction, Mapping[str, Any]]) -> ValidationObservation:
        """Apply one action: validate → rules → transition → reward → observation."""
        if self._latent is None or self._book is None or self._obs is None:
            raise EnvNotResetError()
        latent, book, obs, cfg = self._latent, self._book, self._obs, self.reward_config

        if obs.done:  # stepping a finished episode changes nothing but reports the violation, whatever was sent
            return self._finish_step(None, [rules.episode_done()], IntermediateOutput(status="blocked", summary="Blocked: episode has ended"),
                                     reward_engine.blocked_terms(cfg), submitted=False, cost=0, frozen=True)
        parsed, invalid = rules.parse_action(action)
        if parsed is None:
            assert invalid is not None  # parse_action gives an action or the violation that refused it, never neither
            return self._finish_step(None, [invalid], IntermediateOutput(status="blocked", summary=f"Blocked: {invalid.message}"),
                                     reward_engine.blocked_terms(cfg), submitted=False, cost=0)

        check = rules.check(parsed, credits_remaining=book.credits.remaining,
                            investigated=book.progress.investigated, past_calls=book.progress.calls,
                            any_evidence=book.progress.evidence_calls > 0)
        phi_before = reward_engine.potential(book, cfg)
        tr = transitions.apply(latent, book, parsed, check)
        terms = reward_engine.step_terms(book, check, tr, phi_before, cfg)
        return self._finish_step(parsed, check.violations, tr.output, terms, submitted=tr.submitted, cost=tr.cost)

    @property
    def state(self) -> DrugTargetState:
        """Visible bookkeeping only (never the hidden profile; no seed when sealed). Before the first reset, an
        empty ``DrugTargetState`` (as OpenEnv servers answer ``/state`` for a session not yet reset)."""
        if self._book is None or self._obs is None:
            return DrugTargetState()
        return trusted(
            DrugTargetState,
            episode_id=self._episode_id, step_count=self._obs.step_count, seed=self._obs.metadata.get("seed"),
            target_gene=self._obs.target_gene, indication=self._obs.indication,
            credits_remaining=self._book.credits.remaining, credits_total=self._book.credits.total,
            done=self._obs.done, cumulative_reward=round(self._cum_reward, 6), termination_reason=self._termination,
        )

    def outcome(self) -> EpisodeOutcome:
        """How the finished episode turned out, truth included (the documented channel for
        evaluation and SFT). Raises ``EpisodeNotFinishedError`` while the episode runs."""
        if self._latent is None or self._book is None or self._obs is None:
            raise EnvNotResetError("outcome()")
        if self._termination is None:
            raise EpisodeNotFinishedError()
        report = self._report
        confidence: Optional[float] = None
        if report is not None:
            # A kept report passed the missing_decision rule (rules.py): it has both a decision and a confidence.
            assert report.confidence is not None
            confidence = float(report.confidence)
        correct = self._latent.profile.correct_decision
        return EpisodeOutcome(
            termination_reason=self._termination,
            decision=report.final_decision if report else None,
            confidence=confidence,
            correct_decision=correct,
            decision_correct=(report.final_decision == correct) if report else None,
            key_evidence_coverage=self._latent.key_coverage,
            difficulty=self._book.difficulty, credits_used=self._book.credits.used, steps=self._obs.step_count,
        )

    def oracle_view(self) -> OracleView:
        """The slice of the truth the oracle agent plans from. For ``drugenv.agents.base.brief`` only:
        any other caller would be an agent that wins without reading the evidence."""
        if self._latent is None:
            raise EnvNotResetError("oracle_view()")
        p = self._latent.profile
        return OracleView(key_evidence_dimensions=p.key_evidence_dimensions, required_parameters=p.required_parameters,
                          correct_decision=p.correct_decision)

    def close(self) -> None:
        self._latent = None
        self._book = None
        self._obs = None

    # ------------------------------------------------------------------ internals
    def _finish_step(
        self, action: Optional[DrugTargetAction], violations: list[RuleViolation], output: IntermediateOutput,
        terms: dict[str, float], *, submitted: bool, cost: int, frozen: bool = False,
    ) -> ValidationObservation:
        latent, book, obs = self._latent, self._book, self._obs
        assert latent is not None and book is not None and obs is not None
        # Shared by this and every later observation (see _snapshot), so read-only to whoever holds one.
        data = output.__dict__["data"] = read_only(output.data)
        if frozen:
            out = self._snapshot(obs)
            breakdown = {k: round(v, 6) for k, v in terms.items()}
            out.__dict__.update(rule_violations=violations, latest_output=output, step_reward_breakdown=breakdown,
                                reward=round(sum(terms.values()), 6))
            self.last_info = {"reward_terms": dict(breakdown)}
            return out

        step = obs.step_count + 1
        parameters = read_only(action.parameters) if action is not None else ReadOnlyDict()
        if action is not None and output.status in ("ok", "no_data"):
            section = ACTION_TABLE[action.action_type].section
            if section is not None:
                getattr(obs.dossier, section).append(trusted(
                    Finding, step=step, action_type=action.action_type, parameters=parameters,
                    summary=output.summary, data=data))
        if action is not None and action.action_type == ActionType.FLAG_RED_FLAG and output.status == "info":
            obs.dossier.flagged_red_flags.append(action.parameters["description"])
        obs.pipeline_history.append(trusted(
            HistoryEntry, step=step, action_type=action.action_type.value if action else "invalid",
            parameters=parameters, summary=output.summary, cost=cost,
            violations=ReadOnlyList([v.rule for v in violations])))

        truncated = False
        if submitted:
            self._termination = "report_submitted"
            self._report = action
            terms.update(reward_engine.terminal_terms(latent, book, action, self.reward_config))
        elif book.credits.remaining <= 0:
            self._termination = "credits_exhausted"
            terms.update(reward_engine.terminal_terms(latent, book, None, self.reward_config))
        elif step >= book.max_steps:
            self._termination = "step_limit"
            truncated = True
            terms.update(reward_engine.terminal_terms(latent, book, None, self.reward_config))
        done = self._termination is not None

        reward = float(sum(terms.values()))
        self._cum_reward += reward
        # Most terms are zero on a given step; round(0.0, 6) is 0.0 (and -0.0 stays -0.0), so skip the call.
        breakdown = {k: v if v == 0.0 else round(v, 6) for k, v in terms.items()}
        remaining = book.credits.remaining
        # The environment's own record, updated in place: these values were built here, so pydantic's
        # per-attribute assignment machinery (a third of a step) has nothing to check.
        obs.__dict__.update(
            step_count=step, credits_remaining=remaining, latest_output=output, rule_violations=violations,
            step_reward_breakdown=breakdown, done=done, reward=round(reward, 6),
            legal_actions=rules.legal_actions(done=done, credits_remaining=remaining),
        )
        # The record's own dict (a snapshot copies it): the keys stay where the first step put them.
        obs.metadata.update(termination_reason=self._termination, truncated=truncated)
        self.last_info = {"reward_terms": dict(breakdown), "truncated": truncated, "termination_reason": self._termination}
        return obs if self._lend_records else self._snapshot(obs)

    @staticmethod
    def _snapshot(obs: ValidationObservation) -> ValidationObservation:
        """The observation handed out: fresh containers over the environment's own records.

        Why not ``model_copy(deep=True)``: the dossier and history grow every step, and deep-copying
        them was ~75% of a step. Findings, history entries, outputs and violations are written once and
        frozen, their dicts and lists read-only (``models.ReadOnlyDict``), so the copy shares them and
        copies only the containers a caller may change. Nothing is re-validated (``trusted``): the simulator built every value itself; the
        boundary where outside input arrives, ``rules.parse_action``, validates.
        """
        d = obs.dossier
        values = dict(obs.__dict__)  # every field, in declaration order (the record keeps it); containers replaced below
        values["dossier"] = trusted(
            EvidenceDossier, expression=d.expression[:], protein=d.protein[:], clinical=d.clinical[:],
            safety=d.safety[:], literature=d.literature[:], experimental=d.experimental[:],
            flagged_red_flags=d.flagged_red_flags[:])
        values["pipeline_history"] = values["pipeline_history"][:]
        values["rule_violations"] = values["rule_violations"][:]
        values["step_reward_breakdown"] = dict(values["step_reward_breakdown"])
        values["legal_actions"] = values["legal_actions"][:]
        values["metadata"] = dict(values["metadata"])
        return trusted_from(ValidationObservation, values)


def _check_episode_id(episode_id: Any) -> None:
    """What the server's reset takes (1 to ``MAX_EPISODE_ID_CHARS`` characters of text UTF-8 can write): an int went into a str field,
    and a lone surrogate made every later ``model_dump_json`` of the episode raise."""
    if not isinstance(episode_id, str) or not 1 <= len(episode_id) <= MAX_EPISODE_ID_CHARS:
        raise ConfigError(f"episode_id must be text of 1 to {MAX_EPISODE_ID_CHARS} characters, got {episode_id!r:.60}")
    try:
        episode_id.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"episode_id {episode_id!r:.60} holds a character UTF-8 cannot write (a lone surrogate)") from None


def _empty_dossier() -> EvidenceDossier:
    return trusted(EvidenceDossier, expression=[], protein=[], clinical=[], safety=[], literature=[], experimental=[],
                   flagged_red_flags=[])


def _episode_uuid(rng: np.random.Generator) -> str:
    """The episode id of an unnamed episode: a version-4 UUID from the first 16 bytes of ``rng``
    (``default_rng(world_seed)``, not drawn from yet), which stays at its start for the scenario.
    ``Generator.bytes(16)`` is two 64-bit PCG64 outputs, little-endian, read here directly (the same
    bytes, without the array round trip)."""
    bits = rng.bit_generator
    start = bits.state
    raw = bits.random_raw(2)
    bits.state = start
    return str(uuid.UUID(bytes=int(raw[0]).to_bytes(8, "little") + int(raw[1]).to_bytes(8, "little"), version=4))

__all__ = ["DrugTargetEnvironment", "MAX_SEED", "SEALED_TRAIN_WORLDS_START", "SEALED_WORLDS", "SEAL_ENV_VAR", "config_model",
           "configured_seal", "sealed_seed", "validated_seed"]
