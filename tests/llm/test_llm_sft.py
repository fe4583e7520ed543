import json
import warnings

import pytest

torch = pytest.importorskip("torch")

from drugenv.llm.sft import collate, expert_examples, oracle_examples, sft_on_trajectories  # noqa: E402
from drugenv.models import DrugTargetAction  # noqa: E402
from drugenv.llm.parsing import parse_action  # noqa: E402


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


def test_sft_lowers_the_reply_loss(tiny_model_dir, examples, capsys):
    from drugenv.llm.loading import load_model_and_tokenizer

    torch.manual_seed(0)
    model, tok = load_model_and_tokenizer(tiny_model_dir, device="cpu")  # a private copy: this test trains it
    short = [[{"role": "system", "content": "Reply with one JSON action."}, *conv[1:]] for conv in examples]  # cheap on CPU
    losses = sft_on_trajectories(model, tok, short, steps=12, lr=3e-3, batch_size=2, seed=0, progress=True)
    assert len(losses) == 12
    # The warm start was minutes without a line (a sweep's, the main job's); now a bar counts its steps.
    err = capsys.readouterr().err
    assert "SFT warm start" in err and "12/12" in err
    assert sum(losses[-3:]) / 3 < losses[0] * 0.8
    assert not model.training


def test_sft_needs_examples(tiny_model):
    with pytest.raises(ValueError, match="at least one example"):
        sft_on_trajectories(*tiny_model, [], steps=1)


def test_lr_schedule_warms_up_and_decays():
    from drugenv.llm.sft import lr_factor

    f = [lr_factor(i, 100, warmup=0.1, schedule="cosine", min_ratio=0.1) for i in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0) and f[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:])) and f[-1] == pytest.approx(0.1)
    assert lr_factor(50, 100) == 1.0
    with pytest.raises(ValueError, match="schedule"):
        lr_factor(50, 100, schedule="step")


def test_decision_weighting_repeats_report_turns(bpe_tokenizer):
    from drugenv.llm.sft import decision_weighted, is_report

    ex = expert_examples([("kras_pdac_borderline", 3)], expert="heuristic", tokenizer=bpe_tokenizer, max_steps=12)
    n_rep = sum(map(is_report, ex))
    assert n_rep == 1
    assert len(decision_weighted(ex, 4)) == len(ex) + 3 and decision_weighted(ex, 1) == ex


def test_follow_up_turns_are_found_and_weighted(bpe_tokenizer):
    """A lone failing gate's second readout (the heuristic investigates on instead of reporting) is a
    follow-up turn; ``follow_up_weight`` repeats exactly those."""
    from drugenv.llm.sft import decision_weighted, is_follow_up, is_report
    from drugenv.scenarios import suite_episodes

    ex = expert_examples(suite_episodes("procedural-train", 30, 0), expert="heuristic", tokenizer=bpe_tokenizer, max_steps=12)
    ups = [c for c in ex if is_follow_up(c)]
    assert ups and not any(is_report(c) for c in ups)
    assert all(json.loads(c[-1]["content"])["action_type"] in
               {"in_vivo_model", "differential_expression", "druggability_screen"} for c in ups)
    assert len(decision_weighted(ex, 1, 3)) == len(ex) + 2 * len(ups)
    assert len(decision_weighted(ex, 2, 3)) == len(ex) + 2 * len(ups) + sum(map(is_report, ex))


def test_checkpoint_selection_keeps_the_best_weights(tiny_model_dir, examples):
    """eval_fn scores every ``eval_every`` steps; the best-scoring weights are restored at the end."""
    from drugenv.llm.sft import imitation_accuracy
    from drugenv.llm.loading import load_model_and_tokenizer

    torch.manual_seed(0)
    model, tok = load_model_and_tokenizer(tiny_model_dir, device="cpu")
    short = [[{"role": "system", "content": "Reply with one JSON action."}, *conv[1:]] for conv in examples]
    acc = imitation_accuracy(model, tok, short[:2], max_new_tokens=4)
    assert set(acc) >= {"action_acc", "decision_acc", "report_acc", "valid", "score"} and acc["valid"] == 0.0
    scores = iter([3.0, 1.0, 2.0])
    snapshots, log = [], []

    def fake_eval(m):
        snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
        return {"score": next(scores)}

    sft_on_trajectories(model, tok, short, steps=6, lr=3e-3, batch_size=2, eval_fn=fake_eval, eval_every=2, eval_log=log,
                        warmup=0.2, schedule="cosine")
    assert [r["step"] for r in log] == [2, 4, 6]
    assert all(torch.equal(v, snapshots[0][k]) for k, v in model.state_dict().items())  # step 2 scored best


def test_confident_go_reports_are_found_and_weighted(bpe_tokenizer):
    """A go report stated at 0.97 or more is a confident go (the egfr table's reply); a confident
    no_go is not. ``confident_go_weight`` multiplies the report weight of exactly those, and
    ``reports_only`` keeps the same episodes' report turns."""
    from drugenv.llm.sft import CONFIDENT, decision_weighted, is_confident_go, is_report

    episodes = [("egfr_nsclc_viable", 2000), ("tp53_solid_tumors_clear_fail", 2000)]
    explored = expert_examples(episodes, expert="heuristic", tokenizer=bpe_tokenizer, max_steps=12, explore=0.15)
    assert expert_examples(episodes, expert="heuristic", tokenizer=bpe_tokenizer, max_steps=12, explore=0.15,
                           reports_only=True) == [c for c in explored if is_report(c)] != []  # the same episodes played
    ex = expert_examples(episodes, expert="heuristic", tokenizer=bpe_tokenizer, max_steps=12)
    reports = [c for c in ex if is_report(c)]
    assert len(reports) == 2
    replies = [json.loads(c[-1]["content"]) for c in reports]
    assert [r["final_decision"] for r in replies] == ["go", "no_go"] and all(r["confidence"] >= CONFIDENT for r in replies)
    assert [is_confident_go(c) for c in reports] == [True, False]
    assert not any(is_confident_go(c) for c in ex if not is_report(c))
    assert len(decision_weighted(ex, 2, 1, 5)) == len(ex) + (2 * 5 - 1) + (2 - 1)
    assert decision_weighted(ex, 1, 1, 1) == ex


@pytest.mark.parametrize("micro, checkpointing", [(1, False), (2, False), (3, True)])
def test_micro_batches_and_checkpointing_take_the_whole_batchs_step(tiny_model_dir, examples, micro, checkpointing):
    """Each micro-batch's loss is weighted by its share of the batch's assistant tokens, so two steps of
    batch 4 in micro-batches (and with layers recomputed) end at the weights one pass per batch gives."""
    from drugenv.llm.loading import activation_checkpointing_on, load_model_and_tokenizer

    short = [[{"role": "system", "content": "Reply with one JSON action."}, *conv[1:]] for conv in examples]
    ends, losses = [], []
    for kwargs in ({}, {"micro_batch_size": micro, "gradient_checkpointing": checkpointing}):
        model, tok = load_model_and_tokenizer(tiny_model_dir, device="cpu")
        start = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        losses.append(sft_on_trajectories(model, tok, short, steps=2, lr=1e-3, batch_size=4, seed=0, **kwargs))
        ends.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
        assert not activation_checkpointing_on(model)  # SFT turns it off again
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    # Adam divides each gradient by its own scale, so a weight whose gradient is ~0 can move by ~lr on a
    # rounding difference: compare the whole update, not each weight.
    update = (ends[0] - start).norm()
    assert (ends[1] - ends[0]).norm() < 1e-2 * update


def test_checkpointing_reaches_lora_weights_behind_frozen_embeddings(tiny_model_dir):
    """``enable_activation_checkpointing`` asks for torch's non-reentrant checkpoint, so LoRA weights inside
    the recomputed layers get their gradients from the adapter itself, without the hook that makes the
    frozen embeddings' outputs require grad (transformers 5 adds one; transformers 4 did not). The reentrant
    checkpoint, transformers 4's default, shown beside it: with no input requiring grad, it leaves every
    LoRA weight out of the graph."""
    from peft import LoraConfig, get_peft_model

    from drugenv.llm.loading import enable_activation_checkpointing, load_model_and_tokenizer

    def logits_with_checkpointing(enable):
        base, _ = load_model_and_tokenizer(tiny_model_dir, device="cpu")
        model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                task_type="CAUSAL_LM"))
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.5)  # lora_B starts at zero, where lora_A's gradient is zero too
        enable(base)
        base.disable_input_require_grads()  # what transformers 4 left out
        model.train()
        lora = {n: p for n, p in model.named_parameters() if "lora_" in n}
        return model(input_ids=torch.tensor([[1, 5, 6, 7, 8]])).logits, lora

    logits, lora = logits_with_checkpointing(enable_activation_checkpointing)
    logits.square().sum().backward()
    assert len(lora) == 8 and all(p.grad is not None and p.grad.abs().sum() > 0 for p in lora.values())

    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`gradient_checkpointing_enable` is deprecated", FutureWarning)
        logits, lora = logits_with_checkpointing(lambda base: base.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": True}))
    assert not logits.requires_grad  # nothing to backpropagate into: no LoRA weight would learn
