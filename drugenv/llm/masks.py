"""Which tokens the model wrote: the assistant-token mask of SFT's loss.

The rule is "train on exactly the assistant's tokens, including the closing ``<|im_end|>``, never
the prompt, the role headers, the newline after ``<|im_end|>`` or padding":
``assistant_token_mask(tokenizer, messages)`` applies it to a whole conversation rendered with the
tokenizer's chat template. Works for any template that renders prefixes of the conversation as
prefixes of the text (Qwen2.5's does), without ``{% generation %}`` markers. GRPO needs no mask of
this kind: the sampler keeps each completion up to and including its stop token, and the learner
connector masks by those lengths (``training.connectors``).

``check_assistant_mask`` is the exactness check the tests (ours and the trainer's) run.
"""

from __future__ import annotations

from typing import Any, Sequence


def _render(tokenizer: Any, messages: Sequence[dict[str, Any]], add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=add_generation_prompt)


def assistant_char_spans(tokenizer: Any, messages: Sequence[dict[str, Any]]) -> tuple[str, list[tuple[int, int]]]:
    """``(text, spans)``: the rendered conversation and each assistant turn's ``[start, end)`` characters.

    A span covers the turn's content and its end-of-turn token (``tokenizer.eos_token``, e.g.
    ``<|im_end|>``), not the role header before it nor the newline after it.

    Raises:
        ValueError: if the conversation starts with an assistant turn, or the template does not
            render prefixes of the conversation as prefixes of the text.
    """
    text = _render(tokenizer, messages, add_generation_prompt=False)
    spans: list[tuple[int, int]] = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        if i == 0:
            raise ValueError("the conversation starts with an assistant turn; put a system or user turn first")
        before = _render(tokenizer, messages[:i], add_generation_prompt=True)
        upto = _render(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if not (text.startswith(upto) and upto.startswith(before)):
            raise ValueError(
                f"chat template is not prefix-stable at message {i}: rendering messages[:{i}] is not a prefix of "
                "the full text, so assistant tokens cannot be located. Use a template like Qwen2.5's."
            )
        end = len(upto.rstrip("\n"))
        spans.append((len(before), end))
    return text, spans


def assistant_token_mask(tokenizer: Any, messages: Sequence[dict[str, Any]]) -> tuple[list[int], list[int]]:
    """``(input_ids, mask)`` for a conversation: ``mask[t] = 1`` iff token ``t`` starts inside an assistant span.

    Tokens are those of ``tokenizer(text, add_special_tokens=False)`` for the rendered text, so
    ``input_ids`` equals what the model sees. Needs a fast tokenizer (offset mappings).

    A token that starts before a span is not in it: a reply that begins with a newline loses that newline,
    which BPE merges with the template's own into one token (``check_assistant_mask`` says so). SFT's
    replies are JSON actions, which begin with ``{``.
    """
    text, spans = assistant_char_spans(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(a <= s < b for a, b in spans) and e > s) for s, e in enc["offset_mapping"]]
    return list(enc["input_ids"]), mask


def check_assistant_mask(tokenizer: Any, messages: Sequence[dict[str, Any]]) -> None:
    """Assert that the mask selects exactly each assistant turn's content + eos, in order (AssertionError if not)."""
    ids, mask = assistant_token_mask(tokenizer, messages)
    runs: list[list[int]] = []
    prev = 0
    for tid, m in zip(ids, mask):
        if m and not prev:
            runs.append([])
        if m:
            runs[-1].append(tid)
        prev = m
    expected = [m["content"] + tokenizer.eos_token for m in messages if m["role"] == "assistant"]
    got = [tokenizer.decode(r, skip_special_tokens=False) for r in runs]
    assert got == expected, f"assistant mask selects {got!r}, expected {expected!r}"
    for r in runs:
        assert r[-1] == tokenizer.eos_token_id, "each assistant run must end with the eos token"


__all__ = ["assistant_char_spans", "assistant_token_mask", "check_assistant_mask"]
