"""One sampler: evaluation (``HFPolicy`` / ``HFGenerateBackend``) and GRPO training (``DrugLLMRLModule.generate``)
stop on the same tokens and, for the same prompts and RNG state, produce the same completions and log-probs:
both run ``drugenv.llm.generation.generate_completions`` with ``drugenv.llm.stopping``'s stop rule."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

pytest.importorskip("peft")
pytest.importorskip("ray.rllib")

from drugenv.llm.generation import generate_completions  # noqa: E402
from drugenv.llm.policy import HFPolicy, SamplingConfig  # noqa: E402
from drugenv.llm.stopping import stop_token_ids  # noqa: E402
from drugenv.simulator.environment import DrugTargetEnvironment  # noqa: E402

MAX_NEW = 12


@pytest.fixture(scope="module")
def module(tiny_model_dir):
    """The training sampler: the GRPO RLModule (base + a fresh LoRA adapter, lora_B = 0, so the same function)."""
    import gymnasium as gym

    from drugenv.training.rl_module import DrugLLMRLModule

    box = gym.spaces.Box(0.0, 1.0, (1,))
    return DrugLLMRLModule(observation_space=box, action_space=box, inference_only=True,
                           model_config={"model_name_or_path": str(tiny_model_dir), "temperature": 1.0})


@pytest.fixture
def policy(tiny_model):
    model, tok = tiny_model
    return HFPolicy(model_obj=model, tokenizer_obj=tok, sampling=SamplingConfig(temperature=0.0, max_new_tokens=MAX_NEW))


@pytest.fixture
def prompts(policy):
    env = DrugTargetEnvironment()
    obs = [env.reset(seed=s, scenario=sc) for s, sc in enumerate(["egfr_nsclc_viable", "cd33_aml_misleading", "procedural"])]
    ps = [policy.prompt_ids(o)[1] for o in obs]
    assert len({len(p) for p in ps}) > 1  # ragged: left padding is exercised
    return ps


def _train(module, tok, prompts, temperature):
    """What ``DrugEnvRunner`` does: stop ids from ``stop_token_ids(tokenizer, module.lm)``."""
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return module.generate(prompts, max_new_tokens=MAX_NEW, eos_token_id=stop_token_ids(tok, module.lm),
                           pad_token_id=pad, temperature=temperature)


def _evaluate(policy, prompts, sampling):
    gens = policy.backend.generate(prompts, sampling)
    return ([g.completion_ids for g in gens], [g.logprobs for g in gens], [g.finish_reason == "length" for g in gens])


def _assert_same(ev, tr):
    assert ev[0] == tr[0] and ev[2] == tr[2]
    for a, b in zip(ev[1], tr[1]):
        assert torch.allclose(torch.tensor(a), torch.tensor(b), atol=1e-5)


def test_greedy_completions_are_the_same(policy, module, prompts):
    tok = policy.tokenizer
    assert stop_token_ids(tok, policy.model) == stop_token_ids(tok, module.lm)
    ev = _evaluate(policy, prompts, policy.sampling)
    tr = _train(module, tok, prompts, temperature=0.0)
    _assert_same(ev, tr)
    assert all(len(c) >= 1 for c in ev[0])


def test_both_stop_at_every_generation_config_eos(policy, module, prompts, monkeypatch):
    """Qwen2.5-style: a second end token only in the model's generation config. Pick a token the greedy
    completion of prompt 0 emits mid-way and declare it an eos in both models' generation configs: both
    samplers must cut there (keeping the token) and agree on every row."""
    tok = policy.tokenizer
    greedy = _evaluate(policy, prompts, policy.sampling)[0][0]
    extra = next(t for t in greedy[2:] if t != tok.eos_token_id)
    cut = greedy.index(extra) + 1
    for model in (policy.model, module.lm):
        monkeypatch.setattr(model.generation_config, "eos_token_id", [tok.eos_token_id, extra])
    assert stop_token_ids(tok, policy.model) == stop_token_ids(tok, module.lm) == sorted({tok.eos_token_id, extra})
    ev = _evaluate(policy, prompts, policy.sampling)
    tr = _train(module, tok, prompts, temperature=0.0)
    _assert_same(ev, tr)
    assert ev[0][0] == greedy[:cut] and ev[0][0][-1] == extra and not ev[2][0]
    for comp, truncated in zip(ev[0], ev[2]):
        stops = [i for i, t in enumerate(comp) if t in (tok.eos_token_id, extra)]
        assert stops == ([] if truncated else [len(comp) - 1])  # cut at the first stop token, kept


def test_sampled_completions_are_the_same_for_the_same_rng(policy, module, prompts):
    tok = policy.tokenizer
    torch.manual_seed(7)
    ev = _evaluate(policy, prompts, SamplingConfig(temperature=0.9, max_new_tokens=MAX_NEW))
    torch.manual_seed(7)
    tr = _train(module, tok, prompts, temperature=0.9)
    _assert_same(ev, tr)


def test_logprobs_are_raw_logits_over_temperature(tiny_model):
    """The recorded log-probs are ``log_softmax(logits / T)`` of a plain forward pass (the learner's quantity)."""
    model, tok = tiny_model
    torch.manual_seed(0)
    out = generate_completions(model, [[1, 5, 6, 7]], stop_ids=[tok.eos_token_id], pad_id=tok.pad_token_id,
                               max_new_tokens=6, temperature=1.3)
    comp = out.completion_ids[0]
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([[1, 5, 6, 7] + comp])).logits[0, 3:-1].float() / 1.3
    want = torch.log_softmax(logits, -1).gather(-1, torch.tensor(comp)[:, None]).squeeze(-1)
    assert torch.allclose(want, torch.tensor(out.logprobs[0]), atol=1e-4)


def _reshaping_settings(eos: int) -> dict[str, dict]:
    """Generation-config settings a model may ship that change which token ``generate`` draws or where it stops."""
    return {
        "repetition_penalty": {"repetition_penalty": 50.0},  # Qwen2.5-Instruct ships 1.05-1.1
        "min_new_tokens": {"min_new_tokens": MAX_NEW},
        "min_length": {"min_length": 10_000},
        "suppress_tokens": {"suppress_tokens": [eos]},
        "begin_suppress_tokens": {"begin_suppress_tokens": [eos]},
        "bad_words_ids": {"bad_words_ids": [[eos]]},
        "sequence_bias": {"sequence_bias": {(eos,): 50.0}},
        "no_repeat_ngram_size": {"no_repeat_ngram_size": 1},
        "forced_eos_token_id": {"forced_eos_token_id": eos},
        "exponential_decay_length_penalty": {"exponential_decay_length_penalty": (1, 50.0)},
        "min_p": {"min_p": 0.5},
        "typical_p": {"typical_p": 0.2},
        "num_beams": {"num_beams": 2},
    }


@pytest.mark.parametrize("temperature", [0.0, 1.0])
@pytest.mark.parametrize("setting", sorted(_reshaping_settings(0)))
def test_what_the_model_config_carries_does_not_change_what_is_sampled(tiny_model, prompts, temperature, setting):
    """``generate`` applies every logits processor the model's generation config names (Qwen2.5-Instruct's
    carries a repetition penalty; another model may carry a minimum length, suppressed tokens...), so tokens
    came from a distribution other than the one whose log-probs were recorded (and greedy was not the argmax):
    GRPO's ratio was 1 for data drawn off-policy."""
    model, tok = tiny_model
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    torch.manual_seed(7)
    probe = generate_completions(model, prompts, stop_ids=stop_token_ids(tok, model), pad_id=pad,
                                 max_new_tokens=MAX_NEW, temperature=temperature)
    # Stop at the token the first row draws first: the tiny model rarely draws its eos, and a setting that
    # holds back or forbids the stop token changes nothing where it is never drawn.
    stops = [probe.completion_ids[0][0]]
    changes = _reshaping_settings(stops[0])[setting]
    kept = {k: getattr(model.generation_config, k) for k in changes}
    runs = []
    for values in (kept, changes):
        for k, v in values.items():
            setattr(model.generation_config, k, v)
        try:
            torch.manual_seed(7)
            runs.append(generate_completions(model, prompts, stop_ids=stops, pad_id=pad, max_new_tokens=MAX_NEW,
                                             temperature=temperature))
        finally:
            for k, v in kept.items():
                setattr(model.generation_config, k, v)
    plain, reshaped = runs
    assert reshaped.completion_ids == plain.completion_ids and reshaped.logprobs == plain.logprobs
    assert reshaped.truncated == plain.truncated and not plain.truncated[0]
