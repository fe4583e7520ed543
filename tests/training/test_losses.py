"""Pure-loss tests: hand-computed values per loss type, advantages, masking, TRL 1.16 agreement."""

from __future__ import annotations

import math
from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from drugenv.training.losses import LOSS_TYPES, group_advantages, grpo_loss  # noqa: E402

# B=2 turns, T=3 completion positions; row 1 has one padding position.
LOGP = [[-1.0, -0.5, -2.0], [-0.3, -1.2, -9.0]]
OLD = [[-1.5, -0.5, -1.5], [-0.9, -0.8, -5.0]]
REF = [[-1.0, -0.7, -1.8], [-0.4, -1.1, -3.0]]
MASK = [[1, 1, 1], [1, 1, 0]]
ADV = [0.8, -1.5]


def _hand_loss(loss_type: str, eps_lo: float, eps_hi: float, beta: float, l_max: int) -> float:
    """Element-by-element Python arithmetic, written from the papers' formulas."""
    per_row_sums, per_row_counts = [], []
    for i in range(2):
        s, n = 0.0, 0
        for t in range(3):
            if not MASK[i][t]:
                continue
            ratio = math.exp(LOGP[i][t] - OLD[i][t])
            clipped = min(max(ratio, 1 - eps_lo), 1 + eps_hi)
            a = ADV[i]
            term = -min(ratio * a, clipped * a)
            d = REF[i][t] - LOGP[i][t]
            term += beta * (math.exp(d) - d - 1)
            s += term
            n += 1
        per_row_sums.append(s)
        per_row_counts.append(n)
    if loss_type == "grpo":
        return sum(s / n for s, n in zip(per_row_sums, per_row_counts)) / 2
    if loss_type == "dr_grpo":
        return sum(per_row_sums) / (2 * l_max)
    return sum(per_row_sums) / sum(per_row_counts)


def _hand_token_means() -> tuple[float, float, float]:
    """Over the 5 unpadded tokens: the mean ratio, the mean k3 KL estimate and the smallest ratio."""
    ratios, kls = [], []
    for i in range(2):
        for t in range(3):
            if MASK[i][t]:
                ratios.append(math.exp(LOGP[i][t] - OLD[i][t]))
                d = REF[i][t] - LOGP[i][t]
                kls.append(math.exp(d) - d - 1)
    return sum(ratios) / len(ratios), sum(kls) / len(kls), min(ratios)


def _tensors():
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    return t(LOGP).requires_grad_(True), t(OLD), t(REF), t(ADV), t(MASK)


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_loss_matches_hand_computation(loss_type, beta):
    logp, old, ref, adv, mask = _tensors()
    loss, stats = grpo_loss(
        logp, old, ref, adv, mask, loss_type=loss_type, epsilon=0.2, epsilon_high=0.28, beta=beta,
        max_completion_length=5,
    )
    expected = _hand_loss(loss_type, 0.2, 0.28, beta, 5)
    assert loss.item() == pytest.approx(expected, rel=1e-10)
    # Clipping binds on 2 of the 5 completion tokens: row 0, t=0 (ratio e^0.5 = 1.65 > 1.28, A > 0)
    # and row 1, t=1 (ratio e^-0.4 = 0.67 < 0.8, A < 0). Row 0, t=2 (0.61, A > 0) and row 1, t=0
    # (1.82, A < 0) are outside the range too, but there the unclipped term is the minimum.
    assert stats["clip_fraction"].item() == pytest.approx(2 / 5)
    assert stats["ratio_max"].item() == pytest.approx(math.exp(0.6))
    # The logged statistics: padding left out of each, the policy term without the KL term.
    ratio_mean, kl, ratio_min = _hand_token_means()
    assert stats["ratio_mean"].item() == pytest.approx(ratio_mean, rel=1e-12)
    assert stats["ratio_min"].item() == pytest.approx(ratio_min, rel=1e-12)
    assert stats["kl"].item() == pytest.approx(kl if beta else 0.0, rel=1e-12)
    assert stats["policy_loss"].item() == pytest.approx(_hand_loss(loss_type, 0.2, 0.28, 0.0, 5), rel=1e-10)


def test_clip_fraction_counts_clipped_tokens():
    logp = torch.tensor([[0.5, 0.0]], requires_grad=True)
    old = torch.zeros(1, 2)
    _, stats = grpo_loss(logp, old, None, torch.tensor([1.0]), torch.ones(1, 2), epsilon=0.2, epsilon_high=0.28)
    assert stats["clip_fraction"].item() == pytest.approx(0.5)  # e^0.5 = 1.65 > 1.28 with A > 0


def test_masked_positions_get_no_gradient():
    logp, old, ref, adv, mask = _tensors()
    for loss_type in LOSS_TYPES:
        logp.grad = None
        loss, _ = grpo_loss(logp, old, ref, adv, mask, loss_type=loss_type, epsilon=0.2, epsilon_high=0.28)
        loss.backward()
        assert logp.grad[1, 2].item() == 0.0  # padding
        # The two tokens where clipping binds get no policy gradient; the other three do.
        assert logp.grad[0, 0].item() == 0.0 and logp.grad[1, 1].item() == 0.0
        assert logp.grad[0, 1].item() != 0 and logp.grad[0, 2].item() != 0 and logp.grad[1, 0].item() != 0


def test_unknown_loss_type_lists_choices():
    logp, old, ref, adv, mask = _tensors()
    with pytest.raises(ValueError, match="grpo.*dr_grpo.*dapo"):
        grpo_loss(logp, old, ref, adv, mask, loss_type="ppo")


@pytest.mark.parametrize("group_size", [2, 3, 5, 6, 7, 12])
@pytest.mark.parametrize("scale_by_std", [True, False])
def test_a_group_of_equal_returns_has_exactly_zero_advantage_at_any_size(group_size, scale_by_std):
    """The mean of three 0.1s is not 0.1: testing std == 0 left advantages of ~1e-13, so the DAPO filter
    kept groups without signal (16-30% of constant groups at G = 3, 5, 6, 12)."""
    rng = np.random.default_rng(0)
    values = np.round(rng.uniform(-2, 2, size=200), 6)
    for v in values:
        assert np.all(group_advantages([v] * group_size, group_size, scale_by_std=scale_by_std) == 0.0), v


def test_group_advantages_hand_computed():
    r = [1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0, 3.0, 0.0, 0.0, 0.0]
    adv = group_advantages(r, 4, eps=1e-4)
    scale = 0.5 / (0.5 + 1e-4)
    np.testing.assert_allclose(adv[:4], [scale, -scale, -scale, scale], rtol=1e-6)
    assert np.all(adv[4:8] == 0.0)  # zero-variance group: exactly 0, no NaN
    std3 = math.sqrt((2.25**2 + 3 * 0.75**2) / 4)
    np.testing.assert_allclose(adv[8:], np.array([2.25, -0.75, -0.75, -0.75]) / (std3 + 1e-4), rtol=1e-6)
    dr = group_advantages(r, 4, scale_by_std=False)
    np.testing.assert_allclose(dr, [0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0, 2.25, -0.75, -0.75, -0.75], atol=1e-7)
    assert np.isfinite(group_advantages([5.0] * 4, 4)).all()


def test_group_advantages_rejects_bad_shapes():
    with pytest.raises(ValueError, match="groups of 4"):
        group_advantages([1.0, 2.0, 3.0], 4)
    with pytest.raises(ValueError, match="finite"):
        group_advantages([1.0, float("nan")], 2)


# ------------------------------------------------------------------------------------ TRL 1.16


def _trl_loss(loss_type: str, epsilon: float, epsilon_high: float, beta: float, l_max: int):
    """Call TRL's own ``GRPOTrainer._compute_loss`` on our tensors.

    TRL exposes no free function; the method reads the trainer's attributes and gets log-probs
    from ``_get_per_token_logps_and_entropies``. A namespace stands in for the trainer and returns
    our log-probs, so the arithmetic that runs is TRL's, unchanged.
    """
    from trl.trainer.grpo_trainer import GRPOTrainer

    logp, old, ref, adv, mask = _tensors()
    B, T = logp.shape
    ident = lambda x, **k: x  # noqa: E731
    fake = SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *a, **k: (logp, torch.zeros_like(logp), None),
        aux_loss_enabled=False, top_entropy_quantile=1.0, off_policy_mask_threshold=None,
        importance_sampling_level="token", beta=beta, loss_type=loss_type,
        epsilon_low=epsilon, epsilon_high=epsilon_high, use_vllm=False, vllm_importance_sampling_correction=False,
        model=SimpleNamespace(training=True), current_gradient_accumulation_steps=1,
        max_completion_length=l_max, _entropy_bonus_enabled=False,
        accelerator=SimpleNamespace(num_processes=1, gather=ident, reduce=ident, gather_for_metrics=ident,
                                    sync_gradients=True),
        args=SimpleNamespace(delta=None, use_bias_correction_kl=False, steps_per_generation=1),
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
    )
    inputs = {
        "prompt_ids": torch.zeros(B, 1, dtype=torch.long), "prompt_mask": torch.ones(B, 1, dtype=torch.long),
        "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": mask,
        "advantages": adv, "old_per_token_logps": old, "ref_per_token_logps": ref,
        "num_items_in_batch": mask.sum(),
    }
    loss = GRPOTrainer._compute_loss(fake, None, inputs)
    loss.backward()
    return loss.item(), logp.grad.clone()


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_agrees_with_trl_grpo_loss(loss_type, beta):
    trl_value, trl_grad = _trl_loss(loss_type, 0.2, 0.28, beta, l_max=5)
    logp, old, ref, adv, mask = _tensors()
    ours, _ = grpo_loss(logp, old, ref, adv, mask, loss_type=loss_type, epsilon=0.2, epsilon_high=0.28,
                        beta=beta, max_completion_length=5)
    ours.backward()
    assert ours.item() == pytest.approx(trl_value, rel=1e-12)
    torch.testing.assert_close(logp.grad, trl_grad)


def _episode(group_id, ret, n_turns=2, rewards=None):
    from tests.training.episodes import make_episode

    rewards = rewards or [0.0] * (n_turns - 1) + [ret]
    return make_episode(group_id, 0, [([1, 2, 3], [4, 5], [-0.5, -0.7], r) for r in rewards])


def test_connector_drops_nothing_and_the_sampling_filter_finds_zero_std_groups():
    from ray.rllib.core import DEFAULT_MODULE_ID
    from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

    from drugenv.training import metrics as M
    from drugenv.training.connectors import GroupRelativeAdvantages, by_group, has_signal

    # Group 0 has equal returns (no signal); group 1 differs.
    episodes = [_episode(0, 1.0), _episode(0, 1.0), _episode(1, 0.0, 3), _episode(1, 2.0, 3)]
    kw = dict(advantage="episode", loss_type="dapo", gamma=1.0)
    assert [has_signal(g, **kw) for g in by_group(episodes)] == [False, True]
    logger = MetricsLogger()
    batch = GroupRelativeAdvantages(**kw)(rl_module=None, batch={}, episodes=episodes, metrics=logger)
    cols = batch[DEFAULT_MODULE_ID]
    assert len(cols["advantages"]) == 10  # every turn of every episode it is given
    assert not cols["advantages"][:4].any()  # group 0: zero advantage
    np.testing.assert_allclose(cols["advantages"][4:], [-1, -1, -1, 1, 1, 1], atol=1e-3)  # (R - mean) / (std + 1e-4)
    assert logger.peek((DEFAULT_MODULE_ID, M.NUM_TRAIN_TURNS)) == 10
    assert logger.peek((DEFAULT_MODULE_ID, M.ADVANTAGE_ABS_MEAN)) == pytest.approx(0.6, abs=1e-3)


def test_turn_advantages_hand_computed():
    from drugenv.training.losses import turn_advantages

    # One group of two episodes from the same start; e0 reports at turn 3, e1 stops after 2 turns.
    rewards = [[0.1, -0.1, 1.0], [0.1, 0.2]]
    a0, a1 = turn_advantages(rewards, 2, gamma=1.0, scale_by_std=False)
    # reward-to-go e0 [1.0, 0.9, 1.0], e1 [0.3, 0.2]; per-turn baselines [0.65, 0.55, (1.0 alone)]
    np.testing.assert_allclose(a0, [0.35, 0.35, 0.0], atol=1e-6)
    np.testing.assert_allclose(a1, [-0.35, -0.35], atol=1e-6)
    b0, b1 = turn_advantages(rewards, 2, gamma=0.5, scale_by_std=False)
    # e0 [0.1 + 0.5*(-0.1 + 0.5*1.0), -0.1 + 0.5*1.0, 1.0] = [0.3, 0.4, 1.0]; e1 [0.2, 0.2]
    np.testing.assert_allclose(b0, [0.05, 0.1, 0.0], atol=1e-6)
    np.testing.assert_allclose(b1, [-0.05, -0.1], atol=1e-6)
    s0, s1 = turn_advantages(rewards, 2, gamma=1.0, scale_by_std=True)
    np.testing.assert_allclose(np.concatenate([s0, s1]), np.array([0.35, 0.35, 0, -0.35, -0.35]) / (np.sqrt(0.098) + 1e-4), rtol=1e-5)
    # With gamma=1 the first turn's advantage is the episode-level one (same centring).
    np.testing.assert_allclose([a0[0], a1[0]], group_advantages([1.0, 0.3], 2, scale_by_std=False), atol=1e-6)
    # Identical reward sequences: exactly zero, no NaN; bad inputs are named.
    z = turn_advantages([[0.1, -0.1], [0.1, -0.1]], 2)
    assert all((a == 0).all() for a in z)
    with pytest.raises(ValueError, match="gamma"):
        turn_advantages(rewards, 2, gamma=0.0)
    with pytest.raises(ValueError, match="groups of 3"):
        turn_advantages(rewards, 3)


def test_turn_mode_batch_gives_each_turn_its_own_advantage():
    from drugenv.training.connectors import turn_rows

    episodes = [_episode(0, 0.9, rewards=[1.0, -0.1]), _episode(0, 0.3, rewards=[0.1, 0.2])]
    cols, _ = turn_rows(episodes, advantage="turn", loss_type="dr_grpo", gamma=1.0)
    # reward-to-go [0.9, -0.1] vs [0.3, 0.2]; baselines [0.6, 0.05]
    np.testing.assert_allclose(cols["advantages"], [0.3, -0.15, -0.3, 0.15], atol=1e-6)
    with pytest.raises(ValueError, match="episode"):
        turn_rows(episodes, advantage="token", loss_type="dapo", gamma=1.0)
