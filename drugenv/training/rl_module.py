"""RLModule wrapping a Hugging Face causal LM with a peft LoRA adapter.

Only the adapter trains (the base weights are frozen), and only the adapter travels: ``get_state``
returns the LoRA tensors alone, so ``EnvRunnerGroup.sync_weights`` and checkpoints carry a few
hundred KB instead of the whole model. The base model is re-read from ``model_name_or_path``
wherever the module is built (learner, each env runner).

Sample layout (one agent turn per row; token ids exactly as the sampler produced them):

| column              | dtype   | shape      | meaning                                                      |
|---------------------|---------|------------|--------------------------------------------------------------|
| ``input_ids``       | int64   | (B, P + C) | prompt ids left-padded to P, then completion ids right-padded to C |
| ``attention_mask``  | int64   | (B, P + C) | 1 on real tokens                                             |
| ``completion_mask`` | float32 | (B, C)     | 1 on completion tokens (incl. the EOS the model emitted)     |
| ``old_logp``        | float32 | (B, C)     | behaviour log-probs recorded at generation time              |
| ``advantages``      | float32 | (B,)       | group-relative advantage of the sample's episode             |
"""

from __future__ import annotations

from typing import Any, Collection, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override

from drugenv.llm.generation import generate_completions
from drugenv.llm.loading import enable_activation_checkpointing
from drugenv.training.logprobs import completion_logprobs, resolve_dtype
from drugenv.training.model_files import model_on_this_node

INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
COMPLETION_MASK = "completion_mask"
OLD_LOGP = "old_logp"
ADVANTAGES = Columns.ADVANTAGES
LOGP = "logp"
REF_LOGP = "ref_logp"


class DrugLLMRLModule(TorchRLModule):
    """A causal LM + LoRA adapter as an RLlib RLModule.

    ``model_config`` keys: ``model_name_or_path`` (local dir or hub id), ``lora_r``,
    ``lora_alpha``, ``lora_dropout``, ``lora_target_modules``, ``temperature``, ``beta``,
    ``dtype``, ``seed`` (LoRA init seed), ``gradient_checkpointing``.
    """

    @override(TorchRLModule)
    def setup(self) -> None:
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM

        from drugenv.llm.loading import peft_without_its_own_deprecation

        cfg = dict(self.model_config or {})
        if not cfg.get("model_name_or_path"):
            raise ValueError(
                "DrugLLMRLModule needs model_config['model_name_or_path']; set it with "
                "DrugGRPOConfig().training(model_name_or_path=...)."
            )
        self.temperature = float(cfg.get("temperature", 1.0))
        self.beta = float(cfg.get("beta", 0.0))
        dtype = resolve_dtype(cfg.get("dtype", "float32"))
        base = AutoModelForCausalLM.from_pretrained(model_on_this_node(cfg["model_name_or_path"]), dtype=dtype,
                                                    trust_remote_code=False)
        if cfg.get("gradient_checkpointing") and not self.inference_only:
            enable_activation_checkpointing(base)
        lora = LoraConfig(
            r=int(cfg.get("lora_r", 8)),
            lora_alpha=int(cfg.get("lora_alpha", 16)),
            lora_dropout=float(cfg.get("lora_dropout", 0.0)),
            target_modules=list(cfg.get("lora_target_modules", ["q_proj", "v_proj"])),
            task_type="CAUSAL_LM",
        )
        # Same seed everywhere so learner and runners start from the same adapter even before
        # the first sync (the sync makes them identical regardless).
        with torch.random.fork_rng(devices=[]), peft_without_its_own_deprecation():
            torch.manual_seed(int(cfg.get("seed", 0)))
            self.lm = get_peft_model(base, lora)
        self._adapter_names = tuple(n for n, p in self.named_parameters() if p.requires_grad)
        if not self._adapter_names:
            raise ValueError(f"LoRA target modules {lora.target_modules} matched no layer of the model.")

    # ----------------------------------------------------------------------------------- forward

    def _logps(self, batch: Dict[str, Any], with_ref: bool) -> Dict[str, torch.Tensor]:
        input_ids = batch[INPUT_IDS].long()
        attn = batch[ATTENTION_MASK].long()
        comp_mask = batch[COMPLETION_MASK]
        total_c = comp_mask.shape[1]
        p_len = input_ids.shape[1] - total_c
        # Trim columns that are padding in every row of this (mini)batch.
        c_used = max(int(comp_mask.sum(-1).max().item()), 1)
        prompt_real = attn[:, :p_len].sum(0) > 0
        left = int(torch.nonzero(prompt_real)[0].item()) if prompt_real.any() else p_len - 1
        ids = input_ids[:, left : p_len + c_used]
        am = attn[:, left : p_len + c_used]
        out = {LOGP: F.pad(completion_logprobs(self.lm, ids, am, c_used, self.temperature), (0, total_c - c_used))}
        if with_ref:
            with torch.no_grad(), self.lm.disable_adapter():
                ref = completion_logprobs(self.lm, ids, am, c_used, self.temperature)
            out[REF_LOGP] = F.pad(ref, (0, total_c - c_used))
        return out

    @override(TorchRLModule)
    def _forward_train(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        return self._logps(batch, with_ref=self.beta != 0.0)

    @override(TorchRLModule)
    def _forward(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        with torch.no_grad():
            return self._logps(batch, with_ref=False)

    # ------------------------------------------------------------------------------- generation

    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        *,
        max_new_tokens: int,
        eos_token_id: Union[int, List[int]],
        pad_token_id: int,
        temperature: Optional[float] = None,
    ) -> Tuple[List[List[int]], List[List[float]], List[bool]]:
        """Sample one completion per prompt (batched, left-padded); token-in/token-out.

        The one sampler of evaluation too (``drugenv.llm.generation.generate_completions``): plain
        temperature sampling over the full vocabulary (no top-k/top-p; ``temperature=0`` is greedy),
        so the recorded behaviour log-probs equal ``completion_logprobs`` of the same tokens.

        Returns:
            ``(completion_ids, logprobs, truncated)`` per prompt; completions stop after the first
            EOS (which is kept); ``truncated`` is True when no EOS came within ``max_new_tokens``.
        """
        temperature = self.temperature if temperature is None else float(temperature)
        was_training = self.lm.training
        self.lm.eval()
        try:
            out = generate_completions(
                self.lm,
                prompts,
                stop_ids=[eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id),
                pad_id=pad_token_id,
                max_new_tokens=int(max_new_tokens),
                temperature=temperature,
            )
        finally:
            self.lm.train(was_training)
        return out.completion_ids, out.logprobs, out.truncated

    # ------------------------------------------------------------------------ adapter-only state

    def adapter_parameter_names(self) -> Tuple[str, ...]:
        """Names (in this module's ``state_dict``) of the trainable LoRA tensors."""
        return self._adapter_names

    @override(TorchRLModule)
    def get_state(
        self,
        components: Optional[Union[str, Collection[str]]] = None,
        *,
        not_components: Optional[Union[str, Collection[str]]] = None,
        inference_only: bool = False,
        **kwargs,
    ) -> Dict[str, np.ndarray]:
        """The LoRA adapter tensors only, as numpy copies (not views of the live weights), keyed by name."""
        params = dict(self.named_parameters())
        return {n: params[n].detach().float().cpu().numpy().copy() for n in self._adapter_names}

    @override(TorchRLModule)
    def set_state(self, state: Dict[str, Any]) -> None:
        """Load adapter tensors; unknown or missing keys are an error (architecture mismatch)."""
        missing = set(self._adapter_names) - set(state)
        unexpected = set(state) - set(self._adapter_names)
        if missing or unexpected:
            raise ValueError(
                f"Adapter state does not match this module: missing {sorted(missing)[:3]}..., "
                f"unexpected {sorted(unexpected)[:3]}...; were both built with the same LoRA settings?"
            )
        params = dict(self.named_parameters())
        with torch.no_grad():
            for n in self._adapter_names:
                # torch.tensor copies: a state from Ray's object store is read-only, and a tensor over it
                # (torch.as_tensor) made torch warn, in every run's log, that writing to it is undefined
                params[n].copy_(torch.tensor(np.asarray(state[n]), dtype=params[n].dtype))


def adapter_nbytes(state: Dict[str, Any]) -> int:
    """Bytes of an adapter state dict as shipped (numpy float32)."""
    return int(sum(np.asarray(v).nbytes for v in state.values()))


__all__ = [
    "ADVANTAGES",
    "ATTENTION_MASK",
    "COMPLETION_MASK",
    "DrugLLMRLModule",
    "INPUT_IDS",
    "LOGP",
    "OLD_LOGP",
    "REF_LOGP",
    "adapter_nbytes",
    "completion_logprobs",
    "resolve_dtype",
]
