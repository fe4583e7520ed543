"""Pure GRPO-family objectives and group-relative advantages (no Ray, no model).

Notation (DeepSeekMath, arXiv 2402.03300): for each scenario seed ``q`` the policy plays a group of
``G`` episodes ``o_1..o_G`` with returns ``R_1..R_G``. Every agent turn of every episode is one
training sample (prompt tokens, completion tokens); all turns of episode ``i`` carry the episode's
advantage ``A_i``. ``t`` indexes completion tokens of one turn.

Three loss types (all token-level PPO clipping, they differ in advantage scaling and aggregation):

| loss_type | advantage ``A_i``                    | aggregation over tokens                      | paper |
|-----------|--------------------------------------|----------------------------------------------|-------|
| grpo      | ``(R_i - mean_g) / (std_g + eps)``   | mean over a turn's tokens, then over turns   | Shao et al. 2024 |
| dr_grpo   | ``R_i - mean_g``                     | sum over all tokens / (B * L_max)            | Liu et al. 2025, arXiv 2503.20783 |
| dapo      | ``(R_i - mean_g) / (std_g + eps)``   | sum over all tokens / number of tokens       | Yu et al. 2025, arXiv 2503.14476 |

The aggregations match TRL 1.16's ``GRPOTrainer._compute_loss`` for the same names (the
agreement is tested in ``tests/training/test_losses.py``).
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple, Union

import numpy as np
import torch

LOSS_TYPES = ("grpo", "dr_grpo", "dapo")
"""Valid values of ``loss_type``."""

ADVANTAGE_MODES = ("episode", "turn")
"""Valid values of ``advantage``: ``group_advantages`` per episode, ``turn_advantages`` per turn."""

_STD_SCALED = {"grpo": True, "dapo": True, "dr_grpo": False}


def group_advantages(
    rewards: Union[Sequence[float], np.ndarray, torch.Tensor],
    group_size: int,
    *,
    scale_by_std: bool = True,
    eps: float = 1e-4,
) -> np.ndarray:
    """Group-relative advantages of episode returns.

    ``A_i = (r_i - mean_g) / (std_g + eps)`` with ``mean_g``/``std_g`` the mean and population
    standard deviation of the group ``g`` that episode ``i`` belongs to; with
    ``scale_by_std=False`` (Dr. GRPO) ``A_i = r_i - mean_g``. A group whose returns are all equal
    gets ``A_i = 0`` (never NaN): it carries no learning signal.

    Args:
        rewards: episode returns, shape ``(N,)``; consecutive blocks of ``group_size`` entries form
            one group (the G episodes played from the same scenario seed).
        group_size: G, the number of episodes per group; must divide ``N``.
        scale_by_std: divide by the group std (GRPO, DAPO) or not (Dr. GRPO).
        eps: added to the std so near-constant groups stay finite.

    Returns:
        ``np.float32`` array of shape ``(N,)``.
    """
    r = torch.as_tensor(np.asarray(rewards, dtype=np.float64) if not isinstance(rewards, torch.Tensor)
                        else rewards.detach().double())
    if r.ndim != 1:
        raise ValueError(f"rewards must be 1-D, got shape {tuple(r.shape)}.")
    if group_size < 1 or r.numel() % group_size != 0:
        raise ValueError(
            f"{r.numel()} rewards cannot be split into groups of {group_size}; "
            "pass the G returns of each scenario seed contiguously."
        )
    if not torch.isfinite(r).all():
        raise ValueError(f"rewards must be finite, got {r.tolist()}.")
    g = r.view(-1, group_size)  # (num_groups, G)
    centred = g - g.mean(dim=1, keepdim=True)
    if scale_by_std:
        std = g.std(dim=1, unbiased=False, keepdim=True)
        adv = centred / (std + eps)
    else:
        adv = centred
    # Exactly zero for constant groups: the centring leaves 1e-17 residues where G is not a power of two
    # (the mean of three 0.1s is not 0.1), and their std is then 1e-17, not 0: tested on the returns.
    constant = g.amax(dim=1, keepdim=True) == g.amin(dim=1, keepdim=True)
    adv = torch.where(constant, torch.zeros_like(adv), adv)
    return adv.reshape(-1).float().numpy()


def turn_advantages(
    turn_rewards: Sequence[Sequence[float]],
    group_size: int,
    *,
    gamma: float = 1.0,
    scale_by_std: bool = True,
    eps: float = 1e-4,
) -> List[np.ndarray]:
    """Turn-level group-relative advantages: discounted reward-to-go against a per-turn baseline.

    For episode ``i`` of a group and its turn ``t``, ``G_{i,t} = sum_{k>=t} gamma^(k-t) r_{i,k}``
    (``r`` are the environment's per-step rewards; the terminal reward is the last one). The
    baseline is the mean of ``G_{j,t}`` over the group's episodes that reached turn ``t``, so a
    turn is compared with what the other episodes from the same start did at the same point:
    ``A_{i,t} = G_{i,t} - mean_j G_{j,t}``, divided by the std of the group's ``A`` when
    ``scale_by_std``. A turn that only one episode reached gets 0; a group whose episodes got the
    same rewards turn by turn gets 0 everywhere (never NaN). With ``gamma = 1`` and equal-length
    episodes this is the episode-level advantage minus what earlier turns already explain: a
    turn's own step reward (e.g. the penalty of an unparseable action) counts towards its own
    advantage instead of being averaged over the whole episode.

    Args:
        turn_rewards: per-episode lists of step rewards; consecutive blocks of ``group_size``
            episodes form one group.
        group_size: G.
        gamma: discount of later rewards in the reward-to-go, in ``(0, 1]``.
        scale_by_std: divide by the group's std of the centred values (GRPO, DAPO) or not (Dr. GRPO).
        eps: added to the std.

    Returns:
        one ``np.float32`` array per episode, one entry per turn.
    """
    if group_size < 1 or len(turn_rewards) % group_size:
        raise ValueError(f"{len(turn_rewards)} episodes cannot be split into groups of {group_size}.")
    if not 0 < gamma <= 1:
        raise ValueError(f"gamma={gamma} must be in (0, 1].")
    out: List[np.ndarray] = []
    for g0 in range(0, len(turn_rewards), group_size):
        rtg = []
        for rewards in turn_rewards[g0 : g0 + group_size]:
            r = np.asarray(rewards, dtype=np.float64)
            if not np.isfinite(r).all():
                raise ValueError(f"rewards must be finite, got {r.tolist()}.")
            g = np.zeros_like(r)
            acc = 0.0
            for t in range(len(r) - 1, -1, -1):
                acc = r[t] + gamma * acc
                g[t] = acc
            rtg.append(g)
        centred = []
        for g in rtg:
            base = np.array([np.mean([h[t] for h in rtg if len(h) > t]) for t in range(len(g))])
            c = g - base
            c[np.abs(c) < 1e-12] = 0.0  # exactly 0 where all episodes agree (no float residue)
            centred.append(c)
        flat = np.concatenate(centred)
        std = flat.std() if flat.size else 0.0
        for c in centred:
            a = c / (std + eps) if (scale_by_std and std > 0) else c
            out.append(a.astype(np.float32))
    return out


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    adv: torch.Tensor,
    mask: torch.Tensor,
    *,
    loss_type: str = "dapo",
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    beta: float = 0.0,
    max_completion_length: int | None = None,
) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    r"""Clipped GRPO-family surrogate loss on completion tokens.

    .. math::

        \rho_{i,t} = \exp(\log\pi_\theta(o_{i,t}) - \log\pi_{old}(o_{i,t}))

        \ell_{i,t} = -\min(\rho_{i,t} A_i,\ \mathrm{clip}(\rho_{i,t}, 1-\epsilon, 1+\epsilon_{high}) A_i)
                     + \beta\,[\,e^{\log\pi_{ref}-\log\pi_\theta} - (\log\pi_{ref}-\log\pi_\theta) - 1\,]

        \text{grpo:}\ L = \frac{1}{B}\sum_i \frac{1}{|o_i|}\sum_t \ell_{i,t} \qquad
        \text{dr\_grpo:}\ L = \frac{1}{B\,L_{max}}\sum_{i,t} \ell_{i,t} \qquad
        \text{dapo:}\ L = \frac{1}{\sum_i |o_i|}\sum_{i,t} \ell_{i,t}

    Sums over ``t`` run over completion tokens only (``mask == 1``); prompt, observation and padding
    tokens never enter the loss, so they get no gradient. The KL term is the unbiased k3 estimator
    against the reference policy (the base model with the LoRA adapter disabled).

    Args:
        logp: ``(B, T)`` log-probs of the completion tokens under the current policy (with grad).
        old_logp: ``(B, T)`` behaviour log-probs recorded by the sampler (no grad).
        ref_logp: ``(B, T)`` reference log-probs, or None when ``beta == 0``.
        adv: ``(B,)`` advantage of the episode each sample belongs to.
        mask: ``(B, T)`` 1 for completion tokens, 0 for padding.
        loss_type: one of ``LOSS_TYPES``.
        epsilon: lower clip range ε (ratio floor ``1 - ε``).
        epsilon_high: upper clip range (ceiling ``1 + ε_high``); None means ``epsilon``. DAPO uses 0.28.
        beta: KL coefficient β; 0 disables the KL term.
        max_completion_length: ``L_max`` for ``dr_grpo`` (the per-turn token budget); None uses ``T``.

    Returns:
        ``(loss, stats)``; stats are detached scalars: ``policy_loss``, ``kl``, ``clip_fraction``,
        ``ratio_mean``, ``ratio_min``, ``ratio_max``.
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"Unknown loss_type {loss_type!r}; valid choices are {list(LOSS_TYPES)}.")
    eps_low = float(epsilon)
    eps_high = float(epsilon if epsilon_high is None else epsilon_high)
    mask = mask.to(logp.dtype)
    adv = adv.to(logp.dtype).reshape(-1, 1)  # (B, 1)

    ratio = torch.exp(logp - old_logp)  # (B, T)
    clipped_ratio = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)
    per_token_loss = -torch.min(ratio * adv, clipped_ratio * adv)  # (B, T)
    policy_per_token = per_token_loss
    per_token_kl = None
    if beta != 0.0:
        if ref_logp is None:
            raise ValueError("beta != 0 needs ref_logp (the adapter-disabled log-probs).")
        d = ref_logp - logp
        per_token_kl = torch.exp(d) - d - 1.0  # (B, T)
        per_token_loss = per_token_loss + beta * per_token_kl

    n_tokens = mask.sum().clamp(min=1.0)

    def aggregate(x: torch.Tensor) -> torch.Tensor:
        if loss_type == "grpo":
            return ((x * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
        if loss_type == "dr_grpo":
            l_max = max_completion_length if max_completion_length is not None else x.size(1)
            return (x * mask).sum() / (x.size(0) * l_max)
        return (x * mask).sum() / n_tokens  # dapo

    loss = aggregate(per_token_loss)

    with torch.no_grad():
        is_clipped = ((ratio < 1.0 - eps_low) & (adv < 0)) | ((ratio > 1.0 + eps_high) & (adv > 0))
        valid = mask > 0
        stats = {
            "policy_loss": aggregate(policy_per_token).detach(),
            "kl": ((per_token_kl * mask).sum() / n_tokens).detach() if per_token_kl is not None
            else torch.zeros((), dtype=logp.dtype),
            "clip_fraction": (is_clipped.to(logp.dtype) * mask).sum() / n_tokens,
            "ratio_mean": (ratio.detach() * mask).sum() / n_tokens,
            "ratio_min": ratio.detach()[valid].min() if valid.any() else torch.ones((), dtype=logp.dtype),
            "ratio_max": ratio.detach()[valid].max() if valid.any() else torch.ones((), dtype=logp.dtype),
        }
    return loss, stats


def scale_by_std_for(loss_type: str) -> bool:
    """Whether ``loss_type`` divides advantages by the group std (False only for ``dr_grpo``)."""
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"Unknown loss_type {loss_type!r}; valid choices are {list(LOSS_TYPES)}.")
    return _STD_SCALED[loss_type]


__all__ = ["ADVANTAGE_MODES", "LOSS_TYPES", "group_advantages", "grpo_loss", "scale_by_std_for", "turn_advantages"]
