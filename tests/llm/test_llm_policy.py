import pytest

torch = pytest.importorskip("torch")

from drugenv.llm.parsing import UNPARSEABLE_ACTION_TYPE, ParseFailure  # noqa: E402
from drugenv.llm.policy import Generation, GenerationBackend, HFGenerateBackend, HFPolicy, SamplingConfig  # noqa: E402
from drugenv.models import DrugTargetAction  # noqa: E402
from drugenv.simulator.environment import DrugTargetEnvironment  # noqa: E402


def _observations(n: int):
    env = DrugTargetEnvironment()
    return [env.reset(seed=i, scenario=s) for i, s in enumerate(["egfr_nsclc_viable", "cd33_aml_misleading"] * n)][:n]


class ScriptedBackend(GenerationBackend):
    """Returns fixed texts: exercises HFPolicy's prompt -> parse path without a model."""

    def __init__(self, tokenizer, texts):
        self.tokenizer, self.texts, self.prompts = tokenizer, list(texts), []

    def generate(self, prompts, sampling):
        self.prompts += prompts
        return [Generation(list(p), [1], [0.0], self.texts.pop(0), "stop") for p in prompts]


def test_act_parses_valid_and_blocks_invalid_outputs(bpe_tokenizer):
    policy = HFPolicy(model_obj=object(), tokenizer_obj=bpe_tokenizer)
    policy.backend = ScriptedBackend(bpe_tokenizer, ['```json\n{"action_type": "literature_search"}\n```', "no idea"])
    obs = _observations(2)
    actions = policy.act(obs)
    assert isinstance(actions[0], DrugTargetAction) and actions[0].action_type.value == "literature_search"
    assert actions[1]["action_type"] == UNPARSEABLE_ACTION_TYPE
    assert isinstance(policy.last_steps[1].result, ParseFailure) and policy.last_steps[1].result.kind == "no_json"
    assert policy.backend.prompts[0] == policy.prompt_ids(obs[0])[1]


def test_finished_slots_are_not_generated(bpe_tokenizer):
    policy = HFPolicy(model_obj=object(), tokenizer_obj=bpe_tokenizer)
    policy.backend = ScriptedBackend(bpe_tokenizer, ['{"action_type": "literature_search"}'])
    obs = _observations(2)
    obs[0] = obs[0].model_copy(update={"done": True})
    actions = policy.act(obs)
    assert len(policy.backend.prompts) == 1
    assert isinstance(actions[1], DrugTargetAction) and actions[0]["action_type"] == UNPARSEABLE_ACTION_TYPE


def test_hf_backend_returns_ids_and_logprobs_consistent_with_a_forward_pass(tiny_model):
    model, tok = tiny_model
    policy = HFPolicy(model_obj=model, tokenizer_obj=tok, sampling=SamplingConfig(temperature=0.9, max_new_tokens=12, seed=0))
    obs = _observations(3)
    actions = policy.act(obs)
    assert len(actions) == 3
    prompts = [policy.prompt_ids(o)[1] for o in obs]
    assert len({len(p) for p in prompts}) > 1  # ragged prompts: left padding is exercised
    for step, prompt in zip(policy.last_steps, prompts):
        g = step.generation
        assert g.prompt_ids == prompt
        assert 1 <= len(g.completion_ids) == len(g.logprobs) <= 12
        assert (g.finish_reason == "stop") == (g.completion_ids[-1] == tok.eos_token_id)
        assert tok.eos_token_id not in g.completion_ids[:-1]
        # Token-in/token-out: recompute log-probs unpadded and compare.
        ids = torch.tensor([g.prompt_ids + g.completion_ids])
        with torch.inference_mode():
            logits = model(input_ids=ids).logits[0, len(g.prompt_ids) - 1:-1].float() / 0.9
        lp = torch.log_softmax(logits, -1).gather(-1, torch.tensor(g.completion_ids)[:, None]).squeeze(-1)
        assert torch.allclose(lp, torch.tensor(g.logprobs), atol=1e-4)


def test_greedy_generation_is_deterministic(tiny_model):
    model, tok = tiny_model
    backend = HFGenerateBackend(model, tok, batch_size=2)
    prompts = [[1, 5, 6, 7], [1, 8, 9]]
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=6)
    a, b = backend.generate(prompts, greedy), backend.generate(prompts, greedy)
    assert [g.completion_ids for g in a] == [g.completion_ids for g in b]
    # Batched output equals one-at-a-time output (left padding does not change the result).
    single = backend.generate(prompts[1:], greedy)[0]
    assert single.completion_ids == a[1].completion_ids


def test_peft_lora_adapter_loads_into_hfpolicy(tiny_model_dir, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model

    from drugenv.llm.loading import load_model_and_tokenizer

    base, tok = load_model_and_tokenizer(tiny_model_dir, device="cpu")
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                 task_type="CAUSAL_LM"))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)  # lora_B starts at zero; make the adapter change the output
    peft_model.save_pretrained(tmp_path / "adapter")
    ids = torch.tensor([[1, 5, 6, 7, 8]])
    with torch.inference_mode():
        want = peft_model(input_ids=ids).logits

    policy = HFPolicy(tiny_model_dir, adapter=tmp_path / "adapter", sampling=SamplingConfig(max_new_tokens=4), device="cpu")
    plain = HFPolicy(tiny_model_dir, sampling=SamplingConfig(max_new_tokens=4), device="cpu")
    assert isinstance(policy.model, PeftModel)
    with torch.inference_mode():
        got = policy.model(input_ids=ids).logits
        bare = plain.model(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, bare, atol=1e-3)
    assert len(policy.act(_observations(1))) == 1


@pytest.mark.parametrize("kwargs", [{"temperature": -1}, {"top_p": 0}, {"max_new_tokens": 0},
                                    # NaN passed "< 0" and failed inside generate after the model loaded; text
                                    # (an --extra value) was a TypeError
                                    {"temperature": float("nan")}, {"temperature": float("inf")}, {"temperature": "0.7"},
                                    {"top_k": 2.5}, {"max_new_tokens": True}])
def test_sampling_config_validates(kwargs):
    with pytest.raises(ValueError, match="need finite numbers, temperature >= 0"):
        SamplingConfig(**kwargs)


def test_policy_needs_a_model():
    with pytest.raises(ValueError, match="needs model"):
        HFPolicy()


def test_a_completion_longer_than_the_models_context_is_refused(tiny_model):
    """max_new_tokens=10**9 was taken: a policy (an agent service's replica among them) generated for as long as
    anyone let it (an audit's call ran past 300 s); a completion cannot outgrow the model's context."""
    from drugenv.errors import ConfigError

    model, tok = tiny_model
    context = model.config.max_position_embeddings
    with pytest.raises(ConfigError, match=f"max_new_tokens {10**9} exceeds the model's context length \\({context} tokens\\)"):
        HFPolicy(model_obj=model, tokenizer_obj=tok, sampling=SamplingConfig(max_new_tokens=10**9))
    assert HFPolicy(model_obj=model, tokenizer_obj=tok, sampling=SamplingConfig(max_new_tokens=context)).sampling.max_new_tokens == context


def test_the_agent_services_batch_wait_is_finite():
    from pydantic import ValidationError

    serve_agent = pytest.importorskip("serve.agent_service")
    with pytest.raises(ValidationError, match="finite number"):
        serve_agent.AgentServiceArgs(checkpoint="x", batch_wait_timeout_s=float("inf"))
