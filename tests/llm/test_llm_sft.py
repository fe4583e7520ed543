import pytest
import torch

from drugenv.llm.sft import collate, expert_examples, oracle_examples, sft_on_trajectories
from drugenv.models import DrugTargetAction
from drugenv.llm.parsing import parse_action


@pytest.fixture(scope="module")
def examples(bpe_tokenizer):
    return oracle_examples([("egfr_nsclc_viable", 0), ("tp53_solid_tumors_clear_fail", 1)], tokenizer=bpe_tokenizer)


def test_oracle_examples_are_parseable_conversations(examples):
    assert len(examples) >= 4
    for conv in examples:
        assert [m["role"] for m in conv] == ["system", "user", "assistant"]
        assert isinstance(parse_action(conv[-1]["content"]), DrugTargetAction)
    assert parse_action(examples[-1][-1]["content"]).action_type.value == "submit_validation_report"


def test_heuristic_examples_follow_the_heuristic_policy(bpe_tokenizer):
    from drugenv.agents.baselines import HeuristicPolicy
    from drugenv.simulator.environment import DrugTargetEnvironment

    convs = expert_examples([("kras_pdac_borderline", 3)], expert="heuristic", tokenizer=bpe_tokenizer)
    # Replaying the heuristic on the same episode gives the same action sequence, ending in a report.
    env, pol = DrugTargetEnvironment(), HeuristicPolicy()
    obs, actions = env.reset(seed=3, scenario="kras_pdac_borderline"), []
    pol.reset(1, [3])
    while not obs.done:
        actions.append(pol.act([obs])[0])
        obs = env.step(actions[-1])
    assert [parse_action(c[-1]["content"]).action_type for c in convs] == [a.action_type for a in actions]
    assert actions[-1].action_type.value == "submit_validation_report"
    with pytest.raises(ValueError, match="heuristic"):
        expert_examples([("kras_pdac_borderline", 3)], expert="human")


def test_collate_labels_only_the_reply(bpe_tokenizer, examples):
    batch = collate(bpe_tokenizer, examples[:3])
    assert batch.input_ids.shape == batch.labels.shape == batch.attention_mask.shape
    for r, conv in enumerate(examples[:3]):
        target = batch.labels[r][batch.labels[r] != -100].tolist()
        assert bpe_tokenizer.decode(target) == conv[-1]["content"] + bpe_tokenizer.eos_token
        assert (batch.labels[r][batch.attention_mask[r] == 0] == -100).all()


def test_sft_lowers_the_reply_loss(tiny_model_dir, examples):
    from drugenv.llm.tiny import load_model_and_tokenizer

    torch.manual_seed(0)
    model, tok = load_model_and_tokenizer(tiny_model_dir, device="cpu")  # a private copy: this test trains it
    short = [[{"role": "system", "content": "Reply with one JSON action."}, *conv[1:]] for conv in examples]  # cheap on CPU
    losses = sft_on_trajectories(model, tok, short, steps=12, lr=3e-3, batch_size=2, seed=0)
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < losses[0] * 0.8
    assert not model.training


def test_sft_needs_examples(tiny_model):
    with pytest.raises(ValueError, match="at least one example"):
        sft_on_trajectories(*tiny_model, [], steps=1)
