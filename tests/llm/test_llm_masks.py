import pytest

torch = pytest.importorskip("torch")

from drugenv.llm.masks import assistant_token_mask, check_assistant_mask  # noqa: E402
from drugenv.llm.prompts import action_to_json, build_messages  # noqa: E402
from drugenv.models import DrugTargetAction  # noqa: E402

CONVERSATIONS = [
    [{"role": "system", "content": "sys"}, {"role": "user", "content": "hello"},
     {"role": "assistant", "content": '{"action_type": "literature_search"}'}],
    [{"role": "user", "content": "no system turn"}, {"role": "assistant", "content": "plain words"},
     {"role": "user", "content": "again"}, {"role": "assistant", "content": "second  reply\n\nwith blank lines"}],
]


@pytest.fixture(params=["bpe", "qwen"])
def tokenizer(request, bpe_tokenizer):
    return bpe_tokenizer if request.param == "bpe" else request.getfixturevalue("qwen_tokenizer")


@pytest.mark.parametrize("conv", CONVERSATIONS)
def test_mask_marks_exactly_the_assistant_tokens(tokenizer, conv):
    check_assistant_mask(tokenizer, conv)
    ids, mask = assistant_token_mask(tokenizer, conv)
    assert len(ids) == len(mask)
    full = tokenizer.apply_chat_template(conv, tokenize=False)
    assert ids == tokenizer(full, add_special_tokens=False)["input_ids"]
    # Prompt tokens, role headers and the newline after <|im_end|> are never marked.
    assert mask[0] == 0 and mask[-1] == 0
    n_assist = sum(len(tokenizer(m["content"] + tokenizer.eos_token, add_special_tokens=False)["input_ids"])
                   for m in conv if m["role"] == "assistant")
    assert sum(mask) == n_assist


def test_mask_on_a_real_drugenv_prompt(tokenizer, make_long_observation):
    msgs = build_messages(make_long_observation(10), tokenizer=tokenizer, max_prompt_tokens=4096)
    action = DrugTargetAction(action_type="submit_validation_report", final_decision="go", confidence=0.7)
    check_assistant_mask(tokenizer, [*msgs, {"role": "assistant", "content": action_to_json(action)}])


def test_mask_equals_prompt_then_completion_token_in_token_out(bpe_tokenizer):
    """The SFT mask agrees with how rollouts see it: prompt ids ++ completion ids (+ eos)."""
    tok = bpe_tokenizer
    conv = CONVERSATIONS[0]
    prompt = tok(tok.apply_chat_template(conv[:-1], tokenize=False, add_generation_prompt=True),
                 add_special_tokens=False)["input_ids"]
    completion = tok(conv[-1]["content"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids, mask = assistant_token_mask(tok, conv)
    assert ids[: len(prompt) + len(completion)] == prompt + completion
    assert mask[: len(prompt) + len(completion)] == [0] * len(prompt) + [1] * len(completion)


def test_conversation_starting_with_assistant_is_rejected(bpe_tokenizer):
    with pytest.raises(ValueError, match="starts with an assistant turn"):
        assistant_token_mask(bpe_tokenizer, [{"role": "assistant", "content": "x"}])
