import random

import pytest

from drugenv.actions import ACTION_TABLE, ActionType
from drugenv.llm.prompts import (
    CHARS_PER_TOKEN,
    build_messages,
    make_token_counter,
    prompt_token_ids,
    render_compact,
    render_observation,
    system_prompt,
)
from drugenv.simulator.environment import DrugTargetEnvironment


def _longest_episode_observations(seed: int = 0):
    """Every observation of a 30-step episode full of cheap evidence, red flags and invalid actions."""
    env = DrugTargetEnvironment()
    obs = env.reset(seed=seed, scenario="ptpn11_juvenile_mml_complex")
    rng = random.Random(seed)
    cheap = [a for a in ActionType if ACTION_TABLE[a].cost <= 2 and a is not ActionType.SUBMIT_VALIDATION_REPORT]
    seen = [obs]
    while not obs.done:
        at = rng.choice(cheap)
        params = {"description": "possible hepatotoxicity " * 8} if at is ActionType.FLAG_RED_FLAG else {}
        obs = env.step({"action_type": at.value, "parameters": params, "reasoning": "probe"} if rng.random() < 0.9
                       else {"action_type": "__unparseable__"})
        seen.append(obs)
    return seen


def test_system_prompt_lists_every_action_with_cost_and_params():
    sp = system_prompt()
    for at, spec in ACTION_TABLE.items():
        assert f"- {at.value} ({spec.cost}):" in sp
        for name in spec.params.model_fields:
            assert f"{name}:" in sp
    assert "submit_validation_report" in sp and '"final_decision"' in sp and '"confidence"' in sp


def test_rendering_is_deterministic(make_long_observation):
    obs = make_long_observation(20)
    a = build_messages(obs, max_prompt_tokens=4096)
    b = build_messages(obs.model_copy(deep=True), max_prompt_tokens=4096)
    assert a == b
    assert [m["role"] for m in a] == ["system", "user"]


def test_user_turn_shows_state_violations_and_last_output():
    env = DrugTargetEnvironment()
    env.reset(seed=3, scenario="egfr_nsclc_viable")
    obs = env.step({"action_type": "query_expression", "parameters": {"database": "GTEx"}})
    obs = env.step({"action_type": "query_expression", "parameters": {"database": "GTEx"}})  # redundant
    user = render_observation(obs)
    assert "Target: EGFR" in user
    assert f"Credits: {obs.credits_remaining}/{obs.credits_total}" in user
    assert "query_expression(database=GTEx)" in user
    assert "Violations last step:" in user and "redundant" in user
    assert obs.latest_output.summary[:40] in user


@pytest.mark.parametrize("budget", [1200, 1500, 2048])
def test_longest_episode_fits_budget_bpe(bpe_tokenizer, budget, make_long_observation):
    count = make_token_counter(bpe_tokenizer)
    for obs in _longest_episode_observations()[::2] + [make_long_observation(60)]:
        msgs = build_messages(obs, tokenizer=bpe_tokenizer, max_prompt_tokens=budget)
        assert count(msgs) <= budget
        assert msgs[1]["content"].startswith("Target: ")


def test_longest_episode_fits_budget_qwen(qwen_tokenizer, make_long_observation):
    obs_list = _longest_episode_observations(seed=1)
    assert obs_list[-1].step_count == obs_list[-1].max_steps  # it really is a longest episode
    for budget in (1200, 2048):
        for obs in obs_list[::3] + [obs_list[-1], make_long_observation(60)]:
            ids = prompt_token_ids(qwen_tokenizer, build_messages(obs, tokenizer=qwen_tokenizer, max_prompt_tokens=budget))
            assert len(ids) <= budget


def test_budget_degrades_detail_before_truncating(bpe_tokenizer, make_long_observation):
    obs = make_long_observation(60)
    roomy = build_messages(obs, tokenizer=bpe_tokenizer, max_prompt_tokens=20000)[1]["content"]
    tight = build_messages(obs, tokenizer=bpe_tokenizer, max_prompt_tokens=1300)[1]["content"]
    assert "[truncated]" not in roomy and "older omitted" not in roomy
    assert len(tight) < len(roomy)
    assert tight.startswith("Target: PTPN11")


def test_char_estimate_is_conservative_for_qwen(qwen_tokenizer, make_long_observation):
    """Without a tokenizer the budget uses chars/CHARS_PER_TOKEN; it must not undercount Qwen tokens."""
    estimate = make_token_counter(None)
    exact = make_token_counter(qwen_tokenizer)
    for obs in _longest_episode_observations(seed=2)[::5] + [make_long_observation(30)]:
        msgs = build_messages(obs, max_prompt_tokens=100_000)
        assert exact(msgs) <= estimate(msgs), (exact(msgs), estimate(msgs), CHARS_PER_TOKEN)


def test_budget_below_system_prompt_raises(bpe_tokenizer, make_long_observation):
    with pytest.raises(ValueError, match="raise max_prompt_tokens"):
        build_messages(make_long_observation(5), tokenizer=bpe_tokenizer, max_prompt_tokens=200)


def test_compact_prompt_keeps_the_evidence_table_in_the_longest_episode(bpe_tokenizer):
    """Small budgets (the tiny model's 512) render the compact turn; a long history shrinks, the table stays."""
    from drugenv.llm.prompts import COMPACT_BELOW, compact_system_prompt, evidence_table

    count = make_token_counter(bpe_tokenizer)
    assert 512 < COMPACT_BELOW
    for obs in _longest_episode_observations()[::3]:
        msgs = build_messages(obs, tokenizer=bpe_tokenizer, max_prompt_tokens=512)
        assert count(msgs) <= 512 and msgs[0]["content"] == compact_system_prompt()
        assert all(line in msgs[1]["content"].splitlines() for line in evidence_table(obs))
        assert f"Step: {obs.step_count}/{obs.max_steps}" in msgs[1]["content"]


def _replace(record, field, value):
    """Set a field of a frozen record (findings and outputs are shared between observations, so frozen):
    the renderer's kept texts must still notice code that goes round that."""
    object.__setattr__(record, field, value)


def test_kept_finding_text_follows_a_replaced_field():
    """Rendering keeps each finding's text; a field replaced on the finding must show, not the kept text."""
    from drugenv.agents.baselines import HeuristicPolicy
    from drugenv.llm.prompts import render_observation
    from drugenv.simulator.environment import DrugTargetEnvironment

    env, policy = DrugTargetEnvironment(), HeuristicPolicy()
    obs = env.reset(seed=11, scenario="procedural")
    for _ in range(3):
        obs = env.step(policy.act([obs])[0])
    before = render_observation(obs)
    finding = obs.dossier.all_findings()[0]
    old_summary = finding.summary
    _replace(finding, "summary", "a replaced summary")
    try:
        assert "a replaced summary" in render_observation(obs)
    finally:
        _replace(finding, "summary", old_summary)
    assert render_observation(obs) == before


def test_kept_evidence_table_and_belief_follow_a_replaced_field():
    """The evidence table and ``assess`` are kept per sequence of findings (``agents.findings_fold``);
    a finding's ``data`` replaced must change them as a fresh reading would, and restoring it restores them."""
    from drugenv.agents.baselines import HeuristicPolicy
    from drugenv.agents.belief import assess
    from drugenv.llm.prompts import evidence_table, gate_readouts
    from drugenv.simulator.environment import DrugTargetEnvironment

    env, policy = DrugTargetEnvironment(), HeuristicPolicy()
    obs = env.reset(seed=11, scenario="procedural")
    while not any("toxicity_risk" in f.data for f in obs.dossier.all_findings()):
        obs = env.step(policy.act([obs])[0])
    before = (evidence_table(obs), gate_readouts(obs.dossier), assess(obs.dossier))
    finding = next(f for f in obs.dossier.all_findings() if "toxicity_risk" in f.data)
    old_data = finding.data
    _replace(finding, "data", {**old_data, "toxicity_risk": 0.99, "adverse_knockout_phenotype": True})
    try:
        assert " tox=0.99 ko=yes" in "\n".join(evidence_table(obs))
        assert ("toxicity_risk", 0.99) in gate_readouts(obs.dossier)["safety"]
        assert assess(obs.dossier).pass_prob["safety"] < before[2].pass_prob["safety"]
    finally:
        _replace(finding, "data", old_data)
    assert (evidence_table(obs), gate_readouts(obs.dossier), assess(obs.dossier)) == before


def test_episode_user_turn_is_render_observation_in_step_order():
    """``EpisodeUserTurn`` extends the previous observation's pieces; each text must be ``render_observation``'s,
    and an observation that does not continue the kept episode (another episode, a reset, one fed out of
    order) must start afresh rather than extend the kept pieces."""
    from drugenv.llm.prompts import EpisodeUserTurn

    episode = _longest_episode_observations(seed=0)
    other = _longest_episode_observations(seed=1)
    turn = EpisodeUserTurn()
    for obs in episode:
        assert turn(obs) == render_observation(obs)
    assert turn(episode[-1]) == render_observation(episode[-1])  # the same observation again
    for a, b in zip(episode[::4], other[::4]):  # two episodes interleaved: each call starts afresh
        assert turn(a) == render_observation(a) and turn(b) == render_observation(b)
    assert turn(episode[3]) == render_observation(episode[3])  # an older observation of the kept episode
    fresh = EpisodeUserTurn()
    assert fresh(episode[10]) == render_observation(episode[10])  # first call mid-episode: every record read


@pytest.mark.parametrize("tox, extra", [
    ((0.0, -0.0), (0.0, -0.0)),  # equal, written "0" and "-0"
    ((1, True), (1, True)),  # equal, written "1" and "yes" / "True"
    ((0.5, 0.5), (1234, 1234.0)),  # equal, written "1234" and "1.23e+03"
    ((0.5, 0.5), ([1, 2], [True, 2])),  # equal lists, JSON "[1,2]" and "[true,2]"
    ((0.5, 0.5), ({"a": 1.0}, {"a": 1})),  # equal dicts, JSON '{"a":1.0}' and '{"a":1}'
    ((0.5, 0.5), ("x", "x")),  # written alike: the kept text is reused
])
def test_episode_user_turn_rewrites_a_repeated_finding_whose_values_are_written_apart(tox, extra):
    """A repeated query's finding reuses the last one's text (and the evidence table its gate's) only where
    every value is written alike: values that are equal but of another type, or a float zero of the other
    sign, must be written again."""
    from drugenv.llm.prompts import EpisodeUserTurn, fmt_readout

    env, turn = DrugTargetEnvironment(), EpisodeUserTurn()
    obs = env.reset(seed=3, scenario="procedural")
    for tox_value, extra_value in zip(tox, extra):
        obs = env.step({"action_type": "toxicity_panel", "parameters": {}})
        finding = obs.dossier.safety[-1]  # replaced before any rendering reads it
        _replace(finding, "data", {**finding.data, "toxicity_risk": tox_value, "extra": extra_value})
        _replace(obs.latest_output, "data", dict(finding.data))
        text = render_observation(obs)
        assert turn(obs) == text
        assert f" tox={fmt_readout(tox_value)}" in text


def test_every_level_shows_its_whole_cap_of_history_and_findings():
    """A level shows the newest ``min(n, cap)`` history entries and findings of a section, for every ``n``:
    a history or a section shorter than the cap is shown whole (a negative slice start once showed
    ``cap - n`` of them, e.g. 1 of 7 steps at level 0)."""
    import re

    from drugenv.llm.prompts import DETAIL_LEVELS, EpisodeUserTurn

    episode = _longest_episode_observations(seed=0)
    turn = EpisodeUserTurn()
    for obs in episode:
        n = len(obs.pipeline_history)
        for level, lvl in enumerate(DETAIL_LEVELS):
            text = render_observation(obs, level)
            shown = min(n, lvl.history)
            if shown:
                assert f"Recent steps (last {shown} of {n}):" in text, (level, n)
            else:
                assert "Recent steps" not in text
            for sec, count, omitted in re.findall(r"^ (\w+) \((\d+)\):(?: (\d+) older omitted)?$", text, re.M):
                cap = lvl.findings_per_section
                expected = 0 if cap is None else max(0, int(count) - cap)
                assert int(omitted or 0) == expected, (level, sec, count)
        assert turn(obs) == render_observation(obs)


def test_compact_turn_names_the_shorter_of_the_affordable_and_unaffordable_lists():
    """As credits run down the compact turn says what can still be bought: the affordable actions once they
    are fewer than half the table, before that the ones that are not (the shorter list, for a small budget)."""
    env = DrugTargetEnvironment()
    obs = env.reset(seed=3, scenario="egfr_nsclc_viable")
    kinds = set()
    while not obs.done:
        legal = {a.value for a in obs.legal_actions}
        lines = render_compact(obs).splitlines()
        affordable = [x for x in lines if x.startswith("Affordable only: ")]
        unaffordable = [x for x in lines if x.startswith("Not affordable: ")]
        if len(legal) == len(ACTION_TABLE):
            assert not affordable and not unaffordable
        elif 2 * len(legal) < len(ACTION_TABLE):
            assert not unaffordable and set(affordable[0].split()[2:]) == legal
            kinds.add("affordable")
        else:
            assert not affordable and set(unaffordable[0].split()[2:]) == {a.value for a in ACTION_TABLE} - legal
            kinds.add("unaffordable")
        dearest = max((a for a in obs.legal_actions if a is not ActionType.SUBMIT_VALIDATION_REPORT),
                      key=lambda a: ACTION_TABLE[a].cost, default=None)
        if dearest is None:
            break
        obs = env.step({"action_type": dearest.value, "parameters": {}, "reasoning": "spend"})
    assert kinds == {"affordable", "unaffordable"}


def _flagged_then_queried(flags: int = 20):
    """An observation after two queries, ``flags`` long red flags (the agent's own text, free) and a query
    with numeric readouts: the newest evidence is the ``in_vitro_assay``'s IC50."""
    env = DrugTargetEnvironment()
    env.reset(seed=0, scenario="tp53_solid_tumors_clear_fail")
    env.step({"action_type": "query_expression"})
    env.step({"action_type": "toxicity_panel"})
    for i in range(flags):
        env.step({"action_type": "flag_red_flag",
                  "parameters": {"description": f"flag {i}: " + "marrow toxicity seen in the panel, grade 3 " * 8}})
    return env.step({"action_type": "in_vitro_assay"})


def test_a_cut_prompt_keeps_the_newest_evidence_and_the_request():
    """The last-resort cut took the body from its end, where the last output sat: the readouts just paid
    for went first while every red flag (text the agent writes, as much as it likes) stayed; and the
    detail levels from the fourth on dropped the last output's readouts, which were then nowhere."""
    from drugenv.llm.prompts import DETAIL_LEVELS

    obs = _flagged_then_queried()
    ic50 = obs.latest_output.data["ic50_nm"]
    assert ic50 >= 1000  # written whole everywhere (it was 1.23e+03 in the dossier, 1226 in the table)
    for level in range(len(DETAIL_LEVELS)):
        text = render_observation(obs, level)
        assert "Last output (in_vitro_assay, ok)" in text and f"ic50_nm={round(ic50)}" in text, level
        assert "e+0" not in text, level
    tail = render_observation(obs, len(DETAIL_LEVELS) - 1)
    assert "red flags: (20 earlier)" in tail and "flag 19" not in tail  # the most compact level counts them
    cut = 0
    for budget in range(3000, 900, -50):
        user = build_messages(obs, max_prompt_tokens=budget)[1]["content"]
        if "[truncated]" in user:
            cut += 1
            assert f"ic50_nm={round(ic50)}" in user and user.endswith("Your next action (one JSON object):"), budget
            assert user.index("[truncated]") < user.index("Last output (in_vitro_assay"), budget
    assert cut >= 1  # the flags counted at the compact levels, few budgets are left to cut at


def test_a_refused_action_is_not_called_the_reset():
    env = DrugTargetEnvironment()
    assert "Last output (reset, info)" in render_observation(env.reset(seed=0, scenario="egfr_nsclc_viable"))
    text = render_observation(env.step({"action_type": "__unparseable__", "reasoning": "unparseable model output"}))
    assert "Last output (invalid action, blocked)" in text and "(reset," not in text


def test_a_budget_that_fits_the_first_turns_does_not_fail_the_episode_later():
    """The compact prompt grows with the episode (the affordable-actions line, the violations); a budget
    that fitted the first turns raised ConfigError steps later, losing the run. Those lines go before it raises."""
    from drugenv.llm.prompts import _messages

    env = DrugTargetEnvironment()
    obs = env.reset(seed=0, scenario="egfr_nsclc_viable")
    first = make_token_counter(None)(build_messages(obs, max_prompt_tokens=700))
    while len(obs.legal_actions) == len(ACTION_TABLE):  # spend until some action is no longer affordable
        obs = env.step({"action_type": "in_vivo_model"})
    obs = env.step({"action_type": "__unparseable__"})
    assert obs.rule_violations and len(obs.legal_actions) < len(ACTION_TABLE)
    count = make_token_counter(None)
    lean = count(_messages(render_compact(obs, 0, lean=True), True))
    assert lean < count(_messages(render_compact(obs, 0), True))
    budget = max(lean, first)
    msgs = build_messages(obs, max_prompt_tokens=budget)
    assert count(msgs) <= budget and "Violations last step" not in msgs[1]["content"]
    with pytest.raises(ValueError, match="raise max_prompt_tokens"):
        build_messages(obs, max_prompt_tokens=lean - 1)


def test_the_text_env_cuts_its_body_not_the_request():
    """The text env cut its observation from the end: with many red flags the request line, the
    violation and the last output were gone."""
    from drugenv.gym_envs.text_render import render_text, to_charset
    from drugenv.llm.prompts import DETAIL_LEVELS, render_parts

    env = DrugTargetEnvironment(sim_params={"max_steps": 300})
    env.reset(seed=0, scenario="egfr_nsclc_viable")
    env.step({"action_type": "literature_search"})
    for i in range(150):
        env.step({"action_type": "flag_red_flag", "parameters": {"description": f"flag number {i} about hepatotoxicity in the liver panel"}})
    obs = env.step({"action_type": "__unparseable__", "reasoning": "unparseable model output"})
    most_compact = len(to_charset(render_observation(obs, len(DETAIL_LEVELS) - 1)))
    head, _, tail = render_parts(obs, len(DETAIL_LEVELS) - 1)
    for max_chars in (most_compact - 1, len("\n".join(head + tail)) + 40):
        text = render_text(obs, max_chars)
        assert len(text) <= max_chars and "[truncated]" in text
        assert "Last output (invalid action, blocked)" in text and "Violations last step:" in text
        assert text.endswith("Your next action (one JSON object):") and "Credits:" in text
