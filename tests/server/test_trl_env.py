"""The TRL ``environment_factory`` adapter: TRL's tool discovery finds one tool per action, the tool
schemas TRL builds (``transformers.utils.get_json_schema``) match the action parameter models, a
tool-calling chat template renders them, local and remote episodes are identical, and TRL's own
``GRPOTrainer`` plays episodes through the tools and trains on ``get_reward``."""

from __future__ import annotations

import inspect
import math
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from drugenv.actions import ACTION_TABLE, ActionType
from drugenv.errors import ConfigError
from drugenv.integrations import trl_env
from drugenv.integrations.trl_env import DrugTargetToolEnv
from drugenv.simulator.environment import DrugTargetEnvironment

get_json_schema = pytest.importorskip("transformers.utils").get_json_schema


def trl_discovery(instance: Any) -> tuple[bool, bool, list[Any]]:
    """What GRPOTrainer does with an environment instance: (has reset, has get_reward, tool methods)."""
    has_reset = has_reward = False
    tools = []
    for name, _ in inspect.getmembers(type(instance), predicate=inspect.isfunction):
        if name == "reset":
            has_reset = True
        elif name == "get_reward":
            has_reward = True
        elif not name.startswith("_"):
            tools.append(getattr(instance, name))
    return has_reset, has_reward, tools


def test_trl_tool_schemas_match_the_action_table() -> None:
    env = DrugTargetToolEnv()  # zero-argument constructor, as TRL calls it
    has_reset, has_reward, tools = trl_discovery(env)
    assert has_reset and has_reward
    schemas = {s["function"]["name"]: s["function"] for s in map(get_json_schema, tools)}
    assert set(schemas) == {a.value for a in ActionType} == set(trl_env.TOOL_NAMES)
    for action_type, spec in ACTION_TABLE.items():
        fn = schemas[action_type.value]
        assert fn["description"].startswith(spec.description.split(".")[0])
        props, required = fn["parameters"]["properties"], set(fn["parameters"].get("required", []))
        if action_type == ActionType.SUBMIT_VALIDATION_REPORT:
            assert props["final_decision"]["enum"] == ["go", "no_go"] and props["confidence"]["type"] == "number"
            assert required == {"final_decision", "confidence"}
            continue
        fields = spec.params.model_fields
        assert set(props) == set(fields)
        assert required == {n for n, f in fields.items() if f.is_required()}
        for name, f in fields.items():
            assert props[name]["description"].startswith((f.description or "").split()[0])
            if typing.get_origin(f.annotation) is typing.Literal:
                assert props[name]["enum"] == list(typing.get_args(f.annotation))


def test_tools_render_in_a_tool_calling_chat_template() -> None:
    render = pytest.importorskip("transformers.utils.chat_template_utils").render_jinja_template
    asset = resources.files("drugenv.llm").joinpath("assets/qwen25_chat_template.jinja")
    if not asset.is_file():
        pytest.skip("the Qwen2.5 chat template asset is not in this checkout")
    template = asset.read_text(encoding="utf-8")
    env = DrugTargetToolEnv()
    _, _, tools = trl_discovery(env)
    rendered, _ = render(conversations=[[{"role": "user", "content": env.reset(seed=0, scenario="egfr_nsclc_viable")}]],
                         tools=tools, chat_template=template, add_generation_prompt=True)
    for name in trl_env.TOOL_NAMES:
        assert f'"name": "{name}"' in rendered[0]


def play(env: DrugTargetToolEnv) -> list[str]:
    out = [env.reset(seed=3, scenario="ptpn11_juvenile_mml_complex", prompt="ignored column")]
    out.append(env.query_expression(database="TCGA"))
    out.append(env.binding_site_analysis(include_allosteric=True))
    out.append(env.toxicity_panel())
    out.append(env.flag_red_flag(description="narrow therapeutic window"))
    with pytest.raises(ValueError, match="invalid arguments"):
        env.off_target_screen(panel="everything")
    out.append(env.submit_validation_report(final_decision="go", confidence=0.8))
    with pytest.raises(ValueError, match="over"):
        env.literature_search()
    return out


def test_local_and_remote_episodes_are_identical(server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    local = DrugTargetToolEnv()
    local_texts = play(local)
    monkeypatch.setenv(trl_env.ENV_URL_VAR, server_url)
    remote = DrugTargetToolEnv()
    assert remote.remote == server_url
    assert play(remote) == local_texts
    assert remote.get_reward() == pytest.approx(local.get_reward())
    assert local.done and "Episode over" in local_texts[-1]


def test_unfinished_episode_is_penalised() -> None:
    env = DrugTargetToolEnv()
    with pytest.raises(ValueError, match="reset"):
        env.literature_search()
    env.reset(seed=1, scenario="egfr_nsclc_viable")
    env.literature_search(query="EGFR inhibitors")
    # The same step in process, and the penalty the reward config names (not the wrapper's own sums).
    from drugenv.simulator.params import RewardConfig

    local = DrugTargetEnvironment()
    local.reset(seed=1, scenario="egfr_nsclc_viable")
    step = local.step({"action_type": "literature_search", "parameters": {"query": "EGFR inhibitors"}})
    assert env.get_reward() == pytest.approx(step.reward - RewardConfig().no_report_penalty)
    env.submit_validation_report(final_decision="go", confidence=0.7)
    report = local.step({"action_type": "submit_validation_report", "final_decision": "go", "confidence": 0.7})
    assert env.get_reward() == pytest.approx(step.reward + report.reward)  # reported: no penalty


@pytest.mark.parametrize("row,needle", [({"seed": "7"}, "seed must be an integer"), ({"seed": 1.9}, "seed must be an integer"),
                                        ({"seed": -1}, "seed must be an integer"), ({"seed": True}, "a bool"),
                                        ({"seed": 3, "difficulty": "brutal"}, "difficulty")])
def test_a_bad_dataset_row_is_a_config_error(row: dict[str, Any], needle: str) -> None:
    """TRL calls reset outside its tool-error handling: a bad row must say what is wrong with it
    (int() read 1.9 as seed 1 and "7" as 7, and played other episodes than the dataset listed)."""
    with pytest.raises(ConfigError, match=needle):
        DrugTargetToolEnv().reset(**row)


@pytest.mark.parametrize("call", [lambda env: env.query_expression(bogus=1), lambda env: env.flag_red_flag(),
                                  lambda env: env.query_expression("GTEx", database="GTEx"),
                                  lambda env: env.literature_search(self=1)])  # a TypeError from Python itself before
def test_tool_calls_with_bad_arguments_raise_value_error_and_take_no_step(call: Any) -> None:
    env = DrugTargetToolEnv()
    env.reset(seed=1, scenario="egfr_nsclc_viable")
    with pytest.raises(ValueError):  # the module's promise (TRL returns it to the model as a tool error)
        call(env)
    assert env.observation is not None and env.observation.step_count == 0


def teach(model: Any, lessons: list[tuple[list[int], list[int]]], *, slack: float, max_steps: int = 500) -> float:
    """Fit ``model`` by cross-entropy on each lesson's continuation after its context (AdamW, one batch of all
    lessons) until the summed loss is within ``slack`` nats of the ``ln 2`` per lesson a 50/50 choice costs;
    returns that loss. Contexts and continuations are token ids."""
    import torch

    end = max(len(c) + len(t) for c, t in lessons)
    ids = torch.zeros(len(lessons), end, dtype=torch.long)
    labels = torch.full_like(ids, -100)
    for i, (context, target) in enumerate(lessons):
        ids[i, :len(context) + len(target)] = torch.tensor(context + target)
        labels[i, len(context):len(context) + len(target)] = torch.tensor(target)
    floor = 2 * math.log(2)  # two lessons share a context and differ from their first token: at best 50/50 each
    n = int(labels.ne(-100).sum())
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(max_steps):
        loss = model(input_ids=ids, labels=labels).loss * n  # the mean over label tokens, summed back
        if loss.item() < floor + slack:
            break
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return loss.item()


@pytest.mark.slow  # trains a tiny model, then one GRPO step on four ~4.5k-token rollouts: ~20-40 s on 2 cores
def test_grpo_trainer_plays_episodes_through_the_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TRL's own GRPOTrainer with ``environment_factory=DrugTargetToolEnv``: it resets each pooled instance with its
    dataset row, parses the model's ``<tool_call>``, calls the tool, scores the rollout with ``get_reward`` and
    updates the model.

    The tiny random model is first taught, in a few seconds, what to say after the prompt TRL renders: half the
    time the report tool call, half the time nothing (so a group's rewards differ and GRPO has an advantage to
    follow), and nothing after a tool's result. Its attention is limited to the last 16 tokens (a sliding window),
    so a lesson taught on the end of the ~4.4k-token prompt (22 tool schemas) holds for the whole prompt."""
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")  # environment_factory is experimental in TRL: known, documented
    trl = pytest.importorskip("trl", minversion="1.8")  # 1.8: environment-owned reward (get_reward)
    datasets = pytest.importorskip("datasets")
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from drugenv.llm.tiny import cached_tiny_model

    path = cached_tiny_model()
    tokenizer = AutoTokenizer.from_pretrained(path)
    config = AutoConfig.from_pretrained(path)
    config.use_sliding_window, config.sliding_window = True, 16
    config.layer_types = ["sliding_attention"] * config.num_hidden_layers
    # Room for prompt + call + result: at 4096 TRL would drop the tool's result (the call still ran).
    config.max_position_embeddings = 8192
    model = AutoModelForCausalLM.from_pretrained(path, config=config)

    instances: list[DrugTargetToolEnv] = []

    class RecordedToolEnv(DrugTargetToolEnv):
        def __init__(self) -> None:
            super().__init__()
            instances.append(self)

    seeds = (3, 4)  # two dataset rows, two episodes with different targets
    rows = [{"prompt": [{"role": "user", "content": ""}], "seed": seed} for seed in seeds]
    args = trl.GRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, num_generations=2,
                          max_completion_length=160, max_tool_calling_iterations=1, use_cpu=True, report_to=[],
                          logging_steps=1, save_strategy="no", seed=0)
    trainer = trl.GRPOTrainer(model=model, args=args, train_dataset=datasets.Dataset.from_list(rows),
                              processing_class=tokenizer, environment_factory=RecordedToolEnv)

    # The lessons, in the tokens TRL's chat template renders: prompt -> report call | end; tool result -> end.
    def render(messages: list[dict[str, Any]], generation_prompt: bool) -> list[int]:
        return tokenizer.apply_chat_template(messages, tools=trainer.tools, chat_template=trainer.chat_template,
                                             add_generation_prompt=generation_prompt, tokenize=True, return_dict=False)

    env = DrugTargetToolEnv()
    report = {"final_decision": "go", "confidence": 0.7}
    user = [{"role": "user", "content": env.reset(seed=seeds[0])}]
    call = [{"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "submit_validation_report", "arguments": report}}]}]
    result = [{"role": "tool", "name": "submit_validation_report", "content": env.submit_validation_report(**report)}]
    prompt, with_call, with_result = render(user, True), render(user + call, False), render(user + call + result, True)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    said = with_call[len(prompt):]
    said = said[:said.index(end) + 1]  # '<tool_call>\n{"name": ...}\n</tool_call><|im_end|>'
    context = 2 * config.sliding_window  # what two layers of 16-token windows can see
    loss = teach(model, [(prompt[-context:], said), (prompt[-context:], [end]), (with_result[-context:], [end])],
                 slack=0.15)
    assert loss < 2 * math.log(2) + 0.15, loss

    before = [p.detach().clone() for p in model.parameters()]
    torch.manual_seed(0)
    trainer.train()

    # TRL probed one instance at init and made it the first of the pool: one instance per rollout, all played.
    assert len(instances) == args.per_device_train_batch_size
    targets = {seed: DrugTargetEnvironment().reset(seed=seed).target_gene for seed in seeds}
    assert sorted(e.observation.target_gene for e in instances if e.observation) == sorted(
        targets[s] for s in seeds for _ in range(args.num_generations))  # reset got each rollout's dataset row
    reported = [e for e in instances if e.done]
    assert reported, "no rollout's tool call reached the environment"
    for e in reported:  # the tool ran with the arguments the model wrote
        assert e.observation.metadata["termination_reason"] == "report_submitted"
        assert e.observation.latest_output.summary == "Report submitted: go (confidence 0.70)."
        assert e.observation.step_count == 1
    for e in instances:
        if not e.done:  # said nothing: the episode is unfinished, and get_reward says so
            assert e.observation.step_count == 0

    log = trainer.state.log_history[0]
    assert log["tools/call_frequency"] == pytest.approx(len(reported) / len(instances))
    assert log["tools/failure_frequency"] == 0
    # The environment's own reward is the trainer's reward column, named after the class: the report step's
    # reward as the simulator gives it, or the unfinished penalty.
    from drugenv.simulator.params import RewardConfig

    def report_reward(seed: int) -> float:
        local = DrugTargetEnvironment()
        local.reset(seed=seed)
        return local.step({"action_type": "submit_validation_report", **report}).reward

    by_target = {targets[s]: report_reward(s) for s in seeds}
    rewards = [e.get_reward() for e in instances]
    unfinished = -RewardConfig().no_report_penalty
    assert rewards == pytest.approx([by_target[e.observation.target_gene] if e.done else unfinished for e in instances])
    assert log[f"rewards/{RecordedToolEnv.__name__}/mean"] == pytest.approx(sum(rewards) / len(rewards), abs=1e-6)
    assert log["grad_norm"] > 0 and log["loss"] != 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
