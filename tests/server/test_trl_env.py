"""The TRL ``environment_factory`` adapter: TRL's tool discovery finds one tool per action, the tool
schemas TRL builds (``transformers.utils.get_json_schema``) match the action parameter models, a
tool-calling chat template renders them, and local and remote episodes are identical."""

from __future__ import annotations

import inspect
import typing
from importlib import resources
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
    template = asset.read_text()
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
