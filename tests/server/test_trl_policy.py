"""``ToolCallingPolicy``: a model trained through ``DrugTargetToolEnv`` plays DrugEnv in ``drugenv eval`` as TRL's
``GRPOTrainer`` rolled it out: the same prompt tokens and tool-result tokens as TRL's trainer makes, each tool
call one step, a refused call shown as TRL shows it and no step, and the model's part over where TRL's ends."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from drugenv.integrations.trl_env import DrugTargetToolEnv, tool_call_action
from tests.server.test_trl_env import teach


def test_trl_specs_that_cannot_load_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from drugenv.errors import ConfigError, DependencyNotInstalled
    from drugenv.evaluation.agents import make_policy

    with pytest.raises(ConfigError, match="is not a folder"):
        make_policy(f"trl:{tmp_path / 'nope'}")
    with pytest.raises(ConfigError, match="holds no model"):  # a folder, but not one a trainer saved a model in
        make_policy(f"trl:{tmp_path}")
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with monkeypatch.context() as m:  # an install without TRL (the dashboard's form answers it with a 400)
        m.setitem(sys.modules, "trl", None)
        with pytest.raises(DependencyNotInstalled, match=r"pip install 'drugenv\[train\]'"):
            make_policy(f"trl:{tmp_path}")
    pytest.importorskip("trl")
    with pytest.raises(ConfigError, match="does not take --extra colour; it takes .*max_completion_length"):
        make_policy(f"trl:{tmp_path}", colour="red")


def test_a_tool_call_is_checked_as_the_tool_checks_it() -> None:
    assert tool_call_action("query_expression", {"database": "GTEx"}).parameters == {"database": "GTEx"}
    report = tool_call_action("submit_validation_report", {"final_decision": "go", "confidence": 0.7})
    assert (report.final_decision, report.confidence) == ("go", 0.7)
    for name, arguments, message in [("guess", {}, "Tool guess not found."),
                                     ("query_expression", {"database": "nope"}, "invalid arguments for query_expression"),
                                     ("query_expression", {"bogus": 1}, "query_expression: got an unexpected keyword"),
                                     ("query_expression", ["TCGA"], "the arguments must be an object")]:
        with pytest.raises(ValueError, match=message):
            tool_call_action(name, arguments)


@pytest.mark.slow  # teaches a tiny model three lessons, then plays it on ~4.5k-token prompts: ~20-30 s on 2 cores
def test_a_trl_trained_model_plays_as_trl_rolled_it_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny model is taught, in TRL's own tokens, to call a tool with a bad argument first, then report after
    TRL's error message, then stop after the report's result. Scored by ``evaluate``: every episode takes one
    step (the refused call takes none) and reports go at 0.7; the prompt and tool-result tokens are the ones
    TRL's ``GRPOTrainer`` makes for the same episode."""
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    trl = pytest.importorskip("trl", minversion="1.16")  # 1.16: parse_response(tools=), which the policy calls
    datasets = pytest.importorskip("datasets")
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from drugenv.evaluation.evaluate import evaluate
    from drugenv.integrations.trl_policy import ToolCallingPolicy
    from drugenv.llm.tiny import cached_tiny_model

    path = cached_tiny_model()
    tokenizer = AutoTokenizer.from_pretrained(path)
    config = AutoConfig.from_pretrained(path)
    config.use_sliding_window, config.sliding_window = True, 16  # a lesson on the prompt's end holds for all of it
    config.layer_types = ["sliding_attention"] * config.num_hidden_layers
    config.max_position_embeddings = 8192
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(path, config=config)

    # TRL's trainer, built only to read how it renders (its tools, template and tool-result tokens)
    args = trl.GRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, num_generations=2,
                          max_completion_length=400, use_cpu=True, report_to=[], save_strategy="no")
    rows = datasets.Dataset.from_list([{"prompt": [{"role": "user", "content": ""}], "seed": 3}])
    trainer = trl.GRPOTrainer(model=model, args=args, train_dataset=rows, processing_class=tokenizer,
                              environment_factory=DrugTargetToolEnv)
    policy = ToolCallingPolicy(model, trainer.processing_class, max_completion_length=400)

    def render(messages: list[dict[str, Any]], generation_prompt: bool) -> list[int]:
        return tokenizer.apply_chat_template(messages, tools=trainer.tools, chat_template=trainer.chat_template,
                                             add_generation_prompt=generation_prompt, tokenize=True, return_dict=False)

    env = DrugTargetToolEnv()
    user = [{"role": "user", "content": env.reset(seed=3)}]
    prompt = render(user, True)
    assert policy.prompt_ids(env.observation) == prompt  # the very tokens TRL's trainer renders

    def said(messages: list[dict], call: dict) -> list[int]:
        """The tokens of an assistant turn making ``call`` after ``messages``, up to its end-of-turn token."""
        before = render(messages, True)
        after = render(messages + [{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": call}]}], False)
        turn = after[len(before):]
        end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        return turn[:turn.index(end) + 1]

    bad = {"name": "query_expression", "arguments": {"database": "nope"}}
    report = {"name": "submit_validation_report", "arguments": {"final_decision": "go", "confidence": 0.7}}
    with pytest.raises(ValueError) as refused:
        tool_call_action("query_expression", {"database": "nope"})
    error = [{"role": "tool", "name": "query_expression", "content": str({"error": str(refused.value)})}]  # as TRL shows it
    result = [{"role": "tool", "name": "submit_validation_report", "content": env.submit_validation_report(**report["arguments"])}]
    assert policy.tool_suffix_ids(error) == trainer._get_tool_suffix_ids(error)  # TRL's own tool-result tokens
    assert policy.tool_suffix_ids(result) == trainer._get_tool_suffix_ids(result)

    first = said(user, bad)
    after_error = prompt + first + policy.tool_suffix_ids(error)
    second = said(user + [{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": bad}]}] + error, report)
    after_result = after_error + second + policy.tool_suffix_ids(result)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    context = 2 * config.sliding_window
    # Three contexts, one answer each: taught until the answers' summed loss is under 0.6 nats, so every token's is
    # (p > 0.55: the model's greedy choice); teach's slack counts from the 2 ln 2 of its 50/50 lessons.
    loss = teach(model, [(prompt[-context:], first), (after_error[-context:], second), (after_result[-context:], [end])],
                 slack=0.6 - 2 * math.log(2), max_steps=1500)
    assert loss < 0.6, loss
    model.eval()

    summary, records = evaluate(policy, "procedural-test", 4, 0, max_steps=3, batch_size=2, progress=False)
    assert [(r.steps, r.decision, r.confidence) for r in records] == [(1, "go", 0.7)] * 4
    assert summary["report_rate"] == 1 and all(r.violations == 0 for r in records)

    # drugenv eval --agent trl:DIR plays the saved model the same way
    from drugenv.evaluation.agents import make_policy

    model.save_pretrained(tmp_path / "trained")
    tokenizer.save_pretrained(tmp_path / "trained")
    loaded = make_policy(f"trl:{tmp_path / 'trained'}", max_completion_length=400, device="cpu")
    again, _ = evaluate(loaded, "procedural-test", 4, 0, max_steps=3, batch_size=4, progress=False)
    assert again == summary
    # ... and once the model stops calling tools, the episode has no report: TRL's unfinished rollout
    short = make_policy(f"trl:{tmp_path / 'trained'}", max_completion_length=400, max_tool_calling_iterations=1, device="cpu")
    _, records = evaluate(short, "procedural-test", 2, 0, max_steps=3, progress=False)
    assert [(r.steps, r.decision, r.violations) for r in records] == [(3, None, 3)] * 2
