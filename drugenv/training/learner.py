"""TorchLearner for DrugGRPO: the loss is ``losses.grpo_loss``; this class only wires it to RLlib.

Like ``PPOLearner.build`` installs GAE, ``build`` installs the advantage connector
(``connectors.GroupRelativeAdvantages``, then ``NumpyToTensor``), so ``update(episodes=...)``
turns episodes into the loss batch on the learner.

Works unchanged with ``.learners(num_learners=N)``: RLlib wraps the module in DDP, and only the
LoRA parameters (the only ones with ``requires_grad``) are registered with the optimizer.

Minibatches are shuffled (``num_epochs > 1``) from a seed of the run and the iteration
(``TRAINING_ITERATION`` in ``update``'s ``timesteps``), so a resumed run shuffles as the
uninterrupted one did.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

import numpy as np
import torch
from ray.rllib.connectors.common.numpy_to_tensor import NumpyToTensor
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.utils.annotations import override

from drugenv.training import metrics as M
from drugenv.training.metrics import TRAINING_ITERATION
from drugenv.training.connectors import GroupRelativeAdvantages
from drugenv.training.losses import grpo_loss
from drugenv.training.rl_module import ADVANTAGES, COMPLETION_MASK, LOGP, OLD_LOGP, REF_LOGP


@contextmanager
def numpy_global_seed(seed: Optional[int], iteration: Optional[int]) -> Iterator[None]:
    """numpy's global generator seeded from ``(seed, iteration)`` inside, and put back afterwards.

    RLlib shuffles minibatches with numpy's global generator (``SampleBatch.shuffle``), whose state
    would otherwise carry on from whatever the learner's process drew before: a resumed run (a fresh
    process) would shuffle differently from the uninterrupted one. Without an iteration it does nothing.
    """
    if iteration is None:
        yield
        return
    saved = np.random.get_state()
    np.random.seed(np.random.SeedSequence([0 if seed is None else int(seed), int(iteration), 3]).generate_state(4))
    try:
        yield
    finally:
        np.random.set_state(saved)


class DrugGRPOLearner(TorchLearner):
    """Clipped GRPO / Dr. GRPO / DAPO on completion tokens; logs loss, KL, clip fraction, ratio
    stats and the gradient norm (``drugenv.training.metrics``)."""

    @override(TorchLearner)
    def build(self) -> None:
        threads = self.config.learner_torch_num_threads or self.config.torch_num_threads
        if threads:
            torch.set_num_threads(int(threads))
        super().build()
        cfg = self.config
        self._learner_connector.append(
            GroupRelativeAdvantages(advantage=cfg.advantage, loss_type=cfg.loss_type, gamma=cfg.gamma)
        )
        self._learner_connector.append(NumpyToTensor(as_learner_connector=True, device=self._device))

    @override(TorchLearner)
    def update(self, *args, timesteps: Optional[Dict[str, Any]] = None, **kwargs):
        with numpy_global_seed(self.config.seed, (timesteps or {}).get(TRAINING_ITERATION)):
            return super().update(*args, timesteps=timesteps, **kwargs)

    @override(TorchLearner)
    def configure_optimizers_for_module(self, module_id, config=None) -> None:
        module = self._module[module_id]
        params = [p for p in self.get_parameters(module) if p.requires_grad]
        optimizer = torch.optim.AdamW(params, weight_decay=config.weight_decay)
        self.register_optimizer(
            module_id=module_id, optimizer=optimizer, params=params, lr_or_lr_schedule=config.lr
        )

    @override(TorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch: Dict[str, Any], fwd_out: Dict[str, Any]):
        loss, stats = grpo_loss(
            fwd_out[LOGP],
            batch[OLD_LOGP],
            fwd_out.get(REF_LOGP),
            batch[ADVANTAGES],
            batch[COMPLETION_MASK],
            loss_type=config.loss_type,
            epsilon=config.epsilon,
            epsilon_high=config.epsilon_high,
            beta=config.beta,
            max_completion_length=config.max_new_tokens,
        )
        self.metrics.log_dict(
            {
                (module_id, M.LOSS): loss.detach(),
                (module_id, M.POLICY_LOSS): stats["policy_loss"],
                (module_id, M.KL): stats["kl"],
                (module_id, M.CLIP_FRACTION): stats["clip_fraction"],
                (module_id, M.RATIO_MEAN): stats["ratio_mean"],
                (module_id, M.RATIO_MIN): stats["ratio_min"],
                (module_id, M.RATIO_MAX): stats["ratio_max"],
                (module_id, M.NUM_COMPLETION_TOKENS): batch[COMPLETION_MASK].sum().detach(),
            },
            window=1,
        )
        return loss

    @override(TorchLearner)
    def postprocess_gradients_for_module(self, *, module_id, config=None, module_gradients_dict):
        grads = [g for g in module_gradients_dict.values() if g is not None]
        if grads:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            self.metrics.log_value((module_id, M.GRAD_NORM), norm.detach(), window=1)
        return super().postprocess_gradients_for_module(
            module_id=module_id, config=config, module_gradients_dict=module_gradients_dict
        )


__all__ = ["DrugGRPOLearner", "numpy_global_seed"]
