"""Module- and learner-level tests on a tiny model (no Ray cluster): masking, LoRA-only updates,
on-policy ratio, adapter-only state, token-in/token-out batches."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytest.importorskip("peft")
pytest.importorskip("ray.rllib")

from ray.rllib.core import DEFAULT_MODULE_ID  # noqa: E402
from ray.rllib.utils.metrics.metrics_logger import MetricsLogger  # noqa: E402

from drugenv.llm.loading import activation_checkpointing_on  # noqa: E402
from drugenv.training import metrics as M  # noqa: E402
from drugenv.training.connectors import turn_rows  # noqa: E402
from drugenv.training.env_runner import token_space  # noqa: E402
from drugenv.training.grpo_config import DrugGRPOConfig  # noqa: E402
from drugenv.training.rl_module import COMPLETION_MASK, LOGP  # noqa: E402

from tests.training.episodes import make_episode  # noqa: E402

SPACES = {DEFAULT_MODULE_ID: (token_space(2048), token_space(2048))}


def _learner(model_dir, **training):
    kw = dict(model_name_or_path=model_dir, lr=1e-2, max_new_tokens=6, num_epochs=1, torch_num_threads=1) | training
    return DrugGRPOConfig().training(**kw).build_learner(spaces=SPACES)


def _on_policy_episodes(module, tokenizer, group_size=4, seed=0):
    """Two prompts x group_size sampled completions with made-up, varied returns."""
    torch.manual_seed(seed)
    prompts = [tokenizer("target EGFR in lung cancer")["input_ids"], tokenizer("KRAS")["input_ids"]]
    ps = [p for p in prompts for _ in range(group_size)]
    comps, lps, trunc = module.generate(
        ps, max_new_tokens=6, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    rng = np.random.default_rng(seed)
    return [make_episode(i // group_size, i % group_size, [(p, c, lp, float(rng.normal()))])
            for i, (p, c, lp) in enumerate(zip(ps, comps, lps))]


def _columns(episodes, loss_type="dapo"):
    return turn_rows(episodes, advantage="episode", loss_type=loss_type, gamma=1.0)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_only_lora_parameters_change(tiny_model_dir, tokenizer):
    learner = _learner(tiny_model_dir)
    module = learner.module[DEFAULT_MODULE_ID]
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    episodes = _on_policy_episodes(module, tokenizer)
    for _ in range(2):  # lora_B starts at 0, so lora_A only gets gradient from the 2nd step on
        learner.update(episodes=episodes)
    after = dict(module.named_parameters())
    changed = {n for n in before if not torch.equal(before[n], after[n].detach())}
    lora = {n for n in before if "lora_" in n}
    assert changed == lora, f"unexpected changes: {sorted(changed ^ lora)[:4]}"
    assert all(not after[n].requires_grad for n in before if n not in lora)
    # Only the adapter is registered with the optimizer.
    optim = learner.get_optimizer(DEFAULT_MODULE_ID)
    assert sum(p.numel() for g in optim.param_groups for p in g["params"]) == sum(before[n].numel() for n in lora)


@pytest.mark.parametrize("loss_type,beta", [("dapo", 0.0), ("grpo", 0.04), ("dr_grpo", 0.0)])
def test_first_epoch_ratio_is_one_on_policy(tiny_model_dir, tokenizer, loss_type, beta):
    learner = _learner(tiny_model_dir, loss_type=loss_type, beta=beta)
    module = learner.module[DEFAULT_MODULE_ID]
    episodes = _on_policy_episodes(module, tokenizer)
    res = MetricsLogger.peek_results(learner.update(episodes=episodes))
    stats = res[DEFAULT_MODULE_ID]
    assert stats[M.RATIO_MIN] == pytest.approx(1.0, abs=1e-4)
    assert stats[M.RATIO_MAX] == pytest.approx(1.0, abs=1e-4)
    assert stats[M.CLIP_FRACTION] == 0.0
    assert stats[M.KL] == pytest.approx(0.0, abs=1e-6)  # LoRA B = 0 at init: policy == reference
    assert stats[M.GRAD_NORM] > 0
    # After the update the policy moved: the same (now off-policy) batch has ratio != 1, so the ratio
    # is taken against the log-probs recorded at sampling (a loss that read its own detached log-probs
    # as "old" would show 1 here and never clip).
    stale = MetricsLogger.peek_results(learner.update(episodes=episodes))[DEFAULT_MODULE_ID]
    assert max(stale[M.RATIO_MAX] - 1.0, 1.0 - stale[M.RATIO_MIN]) > 1e-3, stale
    res2 = MetricsLogger.peek_results(learner.update(episodes=_on_policy_episodes(module, tokenizer, seed=1)))
    assert res2[DEFAULT_MODULE_ID][M.RATIO_MIN] == pytest.approx(1.0, abs=1e-4)  # fresh on-policy data again
    if beta:
        assert res2[DEFAULT_MODULE_ID][M.KL] > 0


def test_gradient_checkpointing_updates_the_adapter_as_without_it(tiny_model_dir, tokenizer):
    """The flagship config recomputes activations in the backward pass (``gradient_checkpointing=True``): its
    updates must be the ones without, LoRA weights behind frozen embeddings included (the reentrant
    checkpoint, transformers 4's default, left their gradients None), and it must call none of the methods
    that transformers 5 warns will go."""
    adapters = []
    for checkpointing in (False, True):
        with warnings.catch_warnings():
            # (peft itself still reads the deprecated ``is_gradient_checkpointing``: not ours to change)
            warnings.filterwarnings("error", r"`gradient_checkpointing_(enable|disable)` is deprecated", FutureWarning)
            learner = _learner(tiny_model_dir, gradient_checkpointing=checkpointing)
            module = learner.module[DEFAULT_MODULE_ID]
            start = {n: p.detach().clone() for n, p in module.named_parameters() if "lora_" in n}
            episodes = _on_policy_episodes(module, tokenizer)
            for _ in range(2):  # lora_B starts at 0, so lora_A only gets gradient from the 2nd step on
                learner.update(episodes=episodes)
        base = module.lm.base_model.model
        assert activation_checkpointing_on(base) is checkpointing
        adapters.append({n: p.detach().clone() for n, p in module.named_parameters() if "lora_" in n})
        assert start and all(not torch.equal(start[n], adapters[-1][n]) for n in start)  # every LoRA weight learned
    for n in adapters[0]:
        torch.testing.assert_close(adapters[1][n], adapters[0][n], rtol=1e-4, atol=1e-6)


def test_prompt_and_padding_tokens_get_no_gradient(tiny_model_dir, tokenizer):
    learner = _learner(tiny_model_dir)
    module = learner.module[DEFAULT_MODULE_ID]
    episodes = _on_policy_episodes(module, tokenizer)
    first = episodes[0]
    comp, lp = first.get_actions(0)[:2], first.get_extra_model_outputs("completion_logp", 0)[:2]  # ragged
    episodes[0] = make_episode(0, 0, [(first.get_observations(0), comp, lp, first.get_return())])
    cols, _ = _columns(episodes)
    batch = {k: torch.as_tensor(v) for k, v in cols.items()}
    p_len = batch["input_ids"].shape[1] - batch[COMPLETION_MASK].shape[1]

    captured = {}

    def keep_grad(_mod, _inp, out):
        out.retain_grad()
        captured["logits"] = out

    handle = module.lm.get_output_embeddings().register_forward_hook(keep_grad)
    try:
        fwd = module.forward_train(batch)
        loss = learner.compute_loss_for_module(module_id=DEFAULT_MODULE_ID, config=learner.config,
                                               batch=batch, fwd_out=fwd)
        loss.backward()
    finally:
        handle.remove()
    logits = captured["logits"]
    c_used = int(batch[COMPLETION_MASK].sum(-1).max())
    # Logits exist only for the positions that predict completion tokens (+1 dropped): no
    # prompt/observation position is ever scored.
    assert logits.shape[1] == c_used + 1
    g = logits.grad.abs().sum(-1)  # (B, c_used + 1)
    assert torch.all(g[:, -1] == 0)  # the position after the last token
    assert torch.all(g[0, 2:c_used] == 0)  # row 0's completion padding
    assert torch.all(g[1:, :c_used] > 0)  # real completion tokens do get gradient
    # Token ids under the prompt padding change nothing.
    batch2 = dict(batch)
    ids = batch["input_ids"].clone()
    ids[batch["attention_mask"] == 0] = 7
    batch2["input_ids"] = ids
    mask = batch[COMPLETION_MASK]
    with torch.no_grad():
        torch.testing.assert_close(module.forward_train(batch2)[LOGP] * mask, fwd[LOGP].detach() * mask)
    assert p_len > 0


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_train_batch_is_token_in_token_out(tiny_model_dir, tokenizer, temperature):
    """At any sampling temperature: the learner divides the logits by the same τ (every shipped config
    samples at 1.0, where dropping τ from the learner would go unseen)."""
    learner = _learner(tiny_model_dir, temperature=temperature)
    module = learner.module[DEFAULT_MODULE_ID]
    episodes = _on_policy_episodes(module, tokenizer)
    cols, stats = _columns(episodes)
    c = cols[COMPLETION_MASK].shape[1]
    p_len = cols["input_ids"].shape[1] - c
    for row, ep in enumerate(episodes):
        prompt, comp = ep.get_observations(0).tolist(), ep.get_actions(0).tolist()
        n_p, n_c = len(prompt), len(comp)
        assert cols["input_ids"][row, p_len - n_p : p_len].tolist() == prompt
        assert cols["input_ids"][row, p_len : p_len + n_c].tolist() == comp
        np.testing.assert_allclose(cols["old_logp"][row, :n_c], ep.get_extra_model_outputs("completion_logp", 0), rtol=1e-6)
        assert cols[COMPLETION_MASK][row].sum() == n_c
    # Behaviour log-probs recorded by generate() equal the learner's recomputation.
    with torch.no_grad():
        lp = module.forward_train({k: torch.as_tensor(v) for k, v in cols.items()})[LOGP]
    mask = torch.as_tensor(cols[COMPLETION_MASK])
    assert float(((lp - torch.as_tensor(cols["old_logp"])).abs() * mask).max()) < 1e-4
    assert stats[M.NUM_TRAIN_TURNS] == len(episodes)


def test_adapter_state_is_lora_only_and_round_trips(tiny_model_dir):
    learner = _learner(tiny_model_dir)
    module = learner.module[DEFAULT_MODULE_ID]
    state = module.get_state()
    assert state and all("lora_" in k for k in state)
    n_lora = sum(p.numel() for n, p in module.named_parameters() if "lora_" in n)
    assert sum(v.size for v in state.values()) == n_lora
    bumped = {k: v + 1.0 for k, v in state.items()}
    for v in bumped.values():
        v.setflags(write=False)  # as a state read from Ray's object store is
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # torch's "not writable ... undefined behavior"
        module.set_state(bumped)
    for k, v in module.get_state().items():
        np.testing.assert_array_equal(v, bumped[k])
    with pytest.raises(ValueError, match="missing"):
        module.set_state({k: v for k, v in list(state.items())[1:]})


def test_learner_threads_override_the_runner_threads(tiny_model_dir):
    """``learner_torch_num_threads`` sets the learner's intra-op threads; unset, it follows
    ``torch_num_threads`` (the env runners' setting)."""
    before = torch.get_num_threads()
    try:
        _learner(tiny_model_dir, torch_num_threads=1, learner_torch_num_threads=2)
        assert torch.get_num_threads() == 2
        _learner(tiny_model_dir, torch_num_threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_numpy_global_seed_is_a_function_of_seed_and_iteration_and_restores_the_stream():
    """RLlib shuffles minibatches with numpy's global generator: seeded per (seed, iteration), a resumed
    run shuffles as the uninterrupted one did, and the process's own stream carries on untouched."""
    from drugenv.training.learner import numpy_global_seed

    def draws(seed, iteration):
        with numpy_global_seed(seed, iteration):
            return np.random.permutation(16).tolist()

    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    first = draws(0, 5)
    assert np.random.random() == expected_next  # the outside stream is put back
    assert draws(0, 5) == first and draws(0, 6) != first and draws(1, 5) != first
    np.random.seed(7)
    with numpy_global_seed(0, None):  # no iteration: nothing seeded
        inside = np.random.random()
    np.random.seed(7)
    assert inside == np.random.random()
