"""Seeded sampling per episode: with a sampling seed, ``HFPolicy`` draws each completion from a stream of its
own (``generation.generate_completions(row_seeds=...)``), so an episode's completions depend on the episode,
its step and the seed, not on the episodes batched beside it or on what the process sampled before; and a
row-seeded draw follows the distribution ``generate``'s own sampling draws from."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from drugenv.llm.generation import generate_completions  # noqa: E402
from drugenv.llm.policy import HFPolicy, SamplingConfig, row_seed  # noqa: E402
from drugenv.simulator.environment import DrugTargetEnvironment  # noqa: E402


@pytest.fixture(scope="module")
def observations():
    return [DrugTargetEnvironment().reset(seed=s, scenario=n)
            for s, n in ((0, "egfr_nsclc_viable"), (1, "kras_pdac_borderline"), (2, "cd33_aml_misleading"), (3, None))]


def _policy(tiny_model, seed, batch_size=8):
    model, tok = tiny_model
    return HFPolicy(model_obj=model, tokenizer_obj=tok, batch_size=batch_size,
                    sampling=SamplingConfig(temperature=1.0, max_new_tokens=10, seed=seed))


def _first(policy, observations, index):
    policy.act(observations)
    return policy.last_steps[index].generation


def test_an_episodes_completion_is_the_same_alone_batched_and_after_other_sampling(tiny_model, observations):
    alone = _first(_policy(tiny_model, 0), observations[:1], 0)
    batched = _first(_policy(tiny_model, 0), observations, 0)
    split = _first(_policy(tiny_model, 0, batch_size=3), observations[1:] + observations[:1], 3)  # another micro-batch
    p = _policy(tiny_model, 0)
    p.act(observations[1:3])  # the process samples something else first
    after = _first(p, observations[2:0:-1] + observations[:1], 2)
    assert alone.completion_ids == batched.completion_ids == split.completion_ids == after.completion_ids
    assert torch.allclose(torch.tensor(alone.logprobs), torch.tensor(batched.logprobs), atol=1e-5)
    # ...and sampled, not greedy: another sampling seed draws another completion
    assert _first(_policy(tiny_model, 1), observations[:1], 0).completion_ids != alone.completion_ids


def test_a_counterfactual_twin_samples_apart_from_its_original(tiny_model):
    """A twin shares its original's seed, episode id and first prompt; keyed by the episode id, the two drew the
    same completions, so a sampled agent decided every pair alike (README: the random baseline's twin artifact).
    The episode loop resets a policy with seeds that tell them apart (``policy_seed``)."""
    from drugenv.evaluation.episodes import EpisodeSpec, policy_seed
    from drugenv.scenarios import TWIN_SCENARIO

    seed = 1_000_123
    original, twin = (DrugTargetEnvironment().reset(seed=seed, scenario=sc) for sc in ("procedural", TWIN_SCENARIO))
    assert original.metadata["episode_id"] == twin.metadata["episode_id"]
    p = _policy(tiny_model, 0)
    p.act([original, twin])
    by_id = [s.generation.completion_ids for s in p.last_steps]
    assert by_id[0] == by_id[1]  # what keying by the episode id gave
    p.reset(2, seeds=[policy_seed(EpisodeSpec("procedural", seed)), policy_seed(EpisodeSpec(TWIN_SCENARIO, seed))])
    p.act([original, twin])
    told = [s.generation.completion_ids for s in p.last_steps]
    assert told[0] != told[1]
    p.reset(2, seeds=[policy_seed(EpisodeSpec("procedural", seed))] * 2)
    p.act([original, twin])
    assert p.last_steps[0].generation.completion_ids == p.last_steps[1].generation.completion_ids == told[0]
    assert row_seed(0, seed, 0) != row_seed(0, seed, 1) != row_seed(1, seed, 1)  # the step and the seed count


def test_without_a_seed_the_policy_samples_from_torchs_stream(tiny_model, observations):
    p = _policy(tiny_model, None)
    torch.manual_seed(5)
    a = _first(p, observations[:1], 0).completion_ids
    torch.manual_seed(5)
    assert _first(p, observations[:1], 0).completion_ids == a
    torch.manual_seed(6)
    draws = {tuple(_first(p, observations[:1], 0).completion_ids) for _ in range(3)}
    assert len(draws | {tuple(a)}) > 1


def _nucleus(probs: dict[int, float], top_p: float) -> dict[int, float]:
    """The smallest most-likely set holding ``top_p`` of the mass, renormalised (what top-p sampling draws from)."""
    kept, mass = {}, 0.0
    for token, p in sorted(probs.items(), key=lambda kv: -kv[1]):
        if mass >= top_p:
            break
        kept[token], mass = p, mass + p
    return {t: p / mass for t, p in kept.items()}


@pytest.mark.parametrize("top_p", [1.0, 0.75])
def test_row_seeded_draws_follow_the_warped_distribution(tiny_model, top_p):
    """2,000 rows of one prompt, one token each, row seeds 0..1999: the frequencies match softmax(logits / T)
    renormalised over the top k (and the top-p nucleus), and nothing outside them is drawn."""
    model, tok = tiny_model
    prompt = tok("EGFR in NSCLC: query expression", add_special_tokens=False)["input_ids"]
    # T = 0.3 makes the tiny model's flat distribution peaked enough (top token ~0.5) that a draw ignoring
    # the temperature (~0.2) or getting it 20% wrong is many standard errors off.
    n, temperature, top_k = 2000, 0.3, 8
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([prompt])).logits[0, -1].float()
    top = torch.topk(logits / temperature, top_k)
    probs = _nucleus(dict(zip(top.indices.tolist(), torch.softmax(top.values, -1).tolist())), top_p)
    assert (len(probs) < top_k) == (top_p < 1)  # the nucleus does cut
    out = generate_completions(model, [prompt] * n, stop_ids=[tok.eos_token_id], pad_id=tok.pad_token_id or 0,
                               max_new_tokens=1, temperature=temperature, top_k=top_k, top_p=top_p,
                               row_seeds=list(range(n)))
    drawn = [c[0] for c in out.completion_ids]
    assert set(drawn) <= set(probs)
    for token, p in probs.items():
        freq = drawn.count(token) / n
        assert abs(freq - p) <= 4.5 * (p * (1 - p) / n) ** 0.5 + 1e-3, (token, freq, p)
    # the recorded log-prob is log_softmax(raw logits / T) of the drawn token, as without row seeds
    lp = torch.log_softmax(logits / temperature, -1)
    assert abs(out.logprobs[0][0] - lp[drawn[0]].item()) < 1e-4


def test_row_seeds_must_match_the_prompts(tiny_model):
    model, tok = tiny_model
    with pytest.raises(ValueError, match="2 seeds for 1 prompts"):
        generate_completions(model, [[1, 2, 3]], stop_ids=[tok.eos_token_id], pad_id=0, max_new_tokens=2,
                             temperature=1.0, row_seeds=[1, 2])


def test_a_generation_config_warper_beyond_the_three_is_turned_off(tiny_model, monkeypatch):
    """Sampling is temperature / top-k / top-p alone, on either path: a ``min_p`` in the model's generation
    config (which ``generate`` would apply while sampling, and the row-seeded path would not) changes nothing."""
    model, tok = tiny_model
    prompts = [tok("EGFR in NSCLC", add_special_tokens=False)["input_ids"]] * 4

    def sample(row_seeds=None):
        torch.manual_seed(0)
        return generate_completions(model, prompts, stop_ids=[tok.eos_token_id], pad_id=0, max_new_tokens=6,
                                    temperature=1.0, row_seeds=row_seeds).completion_ids

    plain, seeded = sample(), sample([1, 2, 3, 4])
    monkeypatch.setattr(model.generation_config, "min_p", 0.9)  # would keep only tokens near the top one
    assert sample() == plain and sample([1, 2, 3, 4]) == seeded
