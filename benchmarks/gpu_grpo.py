"""One-GPU GRPO cost of the real Qwen2.5 architectures (random weights), without Ray: a JSON report.

For each architecture (default: 0.5B and 3B, with the group size, prompt budget, completion cap,
minibatch and LoRA rank of ``rllib_configs/grpo_qwen25_05b.py`` and ``grpo_qwen25_3b_h200.py``):

1. **Prompts**: real DrugEnv multi-turn prompts. The heuristic agent plays ``group_size`` procedural
   scenarios for up to ``max_turns`` turns; each prompt is the last turn's observation rendered with
   the config's token budget by ``drugenv.llm.prompts`` and the exact Qwen2.5 tokenizer/chat template.
2. **Generation**: HF ``generate`` on the group (temperature 1, full vocabulary, exactly
   ``max_new_tokens`` new tokens), bare and as ``DrugLLMRLModule.generate`` samples (with
   ``output_scores`` and the log-prob gather); tokens/s and weight-streaming bandwidth.
3. **Learner update**: LoRA on all seven linear layers (the config's rank), one optimizer step on
   ``minibatch_size`` rows of (prompt + completion) with the project's ``completion_logprobs`` and DAPO
   ``grpo_loss``; activation checkpointing off and on; time, model-FLOPs utilisation against
   ``--peak-tflops`` (989, H200 SXM bf16 dense) and peak memory.
4. **Adapter sync**: extract the LoRA tensors to CPU float32 numpy (``DrugLLMRLModule.get_state``) and
   copy them back (``set_state``).
5. **Largest batch that fits**: rows at the full prompt budget, doubling from the group size until
   out-of-memory, the row cap, or the time budget: for generation and for the learner step.

Imports only torch, transformers, peft, numpy, pydantic and DrugEnv's simulator, prompt, architecture
and loss modules: never Ray or TRL (``tests/benchmarks/test_gpu_grpo.py`` checks it). The Qwen2.5
tokenizer is rebuilt offline from ``qwen.tiktoken`` (``.cache/drugenv/qwen.tiktoken`` or
``$DRUGENV_QWEN_TIKTOKEN``); nothing is downloaded unless ``--fetch-tokenizer`` asks for that file.

How to run (repository root)::

    python benchmarks/gpu_grpo.py --out docs/results/performance/gpu_grpo_h200.json  # H200, < 8 min
    python benchmarks/gpu_grpo.py --tiny --device cpu --out runs/bench/gpu_grpo_tiny.json  # CPU, full-length prompts: minutes
    # a CPU smoke in seconds (as tests/benchmarks/test_gpu_grpo.py runs it); --fetch-tokenizer on a fresh clone
    python benchmarks/gpu_grpo.py --tiny --device cpu --group-size 2 --max-new-tokens 4 --minibatch 2 \
        --max-prompt-tokens 384 --row-cap 4 --repeats 1 --out runs/bench/gpu_grpo_tiny.json

Results to expect: a JSON report (schema in ``docs/gpu.md``). ``--tiny`` keeps each architecture's
vocabulary but shrinks it to 1 layer of width 64, so its numbers only prove that the code runs.
"""

from __future__ import annotations

import argparse
import ast
import gc
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = ("torch", "transformers", "peft", "tokenizers", "numpy", "pydantic")
"""Third-party modules this benchmark (and the DrugEnv modules it imports) need."""

CONFIGS = {
    "Qwen/Qwen2.5-0.5B-Instruct": "rllib_configs/grpo_qwen25_05b.py",
    "Qwen/Qwen2.5-3B-Instruct": "rllib_configs/grpo_qwen25_3b_h200.py",
}
"""The run config whose settings each architecture is measured at."""

ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
TINY_OVERRIDES = {"num_hidden_layers": 1, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2,
                  "num_key_value_heads": 1}
"""``--tiny``: the architecture's vocabulary (the tokenizer's ids need it), one narrow layer."""


def check_dependencies() -> None:
    """Exit 2 with one line naming every missing module, before anything heavy is imported."""
    missing = [m for m in REQUIRED if importlib.util.find_spec(m) is None]
    if missing:
        print(f"gpu_grpo: missing Python modules: {', '.join(missing)}. This benchmark needs "
              f"{', '.join(REQUIRED)} (no Ray, no TRL); install them or run where they exist.", file=sys.stderr)
        sys.exit(2)


def config_settings(path: Path) -> dict[str, Any]:
    """``DEFAULTS`` of an ``rllib_configs`` file, read as a literal (the file is not imported)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == "DEFAULTS" and node.value is not None:
            return ast.literal_eval(node.value)
    raise ValueError(f"{path} defines no literal DEFAULTS")


# ------------------------------------------------------------------------------------- timing helpers


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn: Callable[[], Any], device: str) -> tuple[float, Any]:
    _sync(device)
    t = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - t, out


def _reset_peak(device: str) -> None:
    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> Optional[float]:
    import torch

    if device.startswith("cuda"):
        return round(torch.cuda.max_memory_allocated() / 2**30, 3)
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)  # process max RSS (Linux KiB)
    except ImportError:  # pragma: no cover
        return None


def _sig(x: float, digits: int = 4) -> float:
    """``x`` to ``digits`` significant digits (tiny CPU runs give MFUs like 3e-7)."""
    return float(f"{x:.{digits}g}")


def _is_oom(e: BaseException) -> bool:
    import torch

    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


# ------------------------------------------------------------------------------------- DrugEnv prompts


def drugenv_prompts(tokenizer: Any, group_size: int, max_turns: int, max_prompt_tokens: int, seed: int = 0) -> list[list[int]]:
    """Token ids of ``group_size`` real multi-turn prompts: the heuristic agent plays procedural
    scenarios (seeds ``seed..seed+group_size-1``) for up to ``max_turns - 1`` turns, then the observation
    before its last turn is rendered exactly as ``ChatAgentIO`` renders rollout prompts."""
    from drugenv.agents.baselines import HeuristicPolicy
    from drugenv.llm.prompts import build_messages, prompt_token_ids
    from drugenv.simulator.environment import DrugTargetEnvironment

    prompts = []
    for i in range(group_size):
        env, agent = DrugTargetEnvironment(), HeuristicPolicy()
        obs = env.reset(seed=seed + i)
        for _ in range(max_turns - 1):
            nxt = env.step(agent.act([obs])[0])
            if nxt.done:
                break
            obs = nxt
        msgs = build_messages(obs, tokenizer=tokenizer, max_prompt_tokens=max_prompt_tokens)
        prompts.append(prompt_token_ids(tokenizer, msgs))
    return prompts


def _left_pad(rows: list[list[int]], pad_id: int, device: str):
    """``generation.left_pad`` (the sampler's batch layout), moved to ``device``."""
    from drugenv.llm.generation import left_pad

    ids, attn = left_pad(rows, pad_id)
    return ids.to(device), attn.to(device)


# ------------------------------------------------------------------------------------- measurements


def measure_generate(model: Any, prompts: list[list[int]], new_tokens: int, pad_id: int, device: str,
                     *, with_scores: bool) -> dict[str, Any]:
    """One ``generate`` call on ``prompts`` producing exactly ``new_tokens`` each."""
    import torch

    ids, attn = _left_pad(prompts, pad_id, device)
    model.eval()

    def run():
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=attn, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                                 max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=pad_id,
                                 return_dict_in_generate=True, output_scores=with_scores)
            if with_scores:  # what DrugLLMRLModule.generate does with them
                new = out.sequences[:, ids.shape[1]:]
                scores = torch.stack(out.scores, dim=1).float()  # (B, N, V)
                torch.log_softmax(scores, dim=-1).gather(-1, new.unsqueeze(-1)).squeeze(-1).cpu()
            return out.sequences[:, ids.shape[1]:].cpu()

    _reset_peak(device)
    seconds, seqs = _timed(run, device)
    n = len(prompts) * new_tokens
    return {"batch": len(prompts), "prompt_tokens_padded": int(ids.shape[1]), "new_tokens": new_tokens,
            "seconds": round(seconds, 4), "tokens_per_s": round(n / seconds, 1), "peak_memory_GiB": _peak_gib(device),
            "with_scores": with_scores, "completions": seqs.tolist()}


def learner_step(model: Any, optimizer: Any, rows: list[tuple[list[int], list[int]]], pad_id: int, device: str,
                 train: dict[str, Any]) -> dict[str, float]:
    """One DAPO step: project log-probs of the completions, ``grpo_loss``, backward, AdamW.

    ``rows`` are ``(prompt_ids, completion_ids)``; completions all have the same length here.
    """
    import torch

    from drugenv.training.logprobs import completion_logprobs
    from drugenv.training.losses import grpo_loss

    c = len(rows[0][1])
    ids, attn = _left_pad([p + comp for p, comp in rows], pad_id, device)
    g = torch.Generator().manual_seed(0)
    adv = torch.randn(len(rows), generator=g).to(device)  # (B,)
    mask = torch.ones((len(rows), c), device=device)  # (B, C)
    optimizer.zero_grad(set_to_none=True)
    logp = completion_logprobs(model, ids, attn, c, float(train.get("temperature", 1.0)))  # (B, C)
    old_logp = logp.detach() + 0.01 * torch.randn(logp.shape, generator=g).to(device)
    loss, _ = grpo_loss(logp, old_logp, None, adv, mask, loss_type=train.get("loss_type", "dapo"),
                        epsilon=float(train.get("epsilon", 0.2)), epsilon_high=train.get("epsilon_high"), beta=0.0)
    loss.backward()
    optimizer.step()
    return {"loss": float(loss.detach())}


def set_checkpointing(model: Any, on: bool) -> None:
    """Activation checkpointing on/off (non-reentrant); transformers >= 5.2x names it ``activation_checkpointing_*``."""
    prefix = "activation" if hasattr(model, "activation_checkpointing_enable") else "gradient"
    if on:
        getattr(model, f"{prefix}_checkpointing_enable")(**{f"{prefix}_checkpointing_kwargs": {"use_reentrant": False}})
    else:
        getattr(model, f"{prefix}_checkpointing_disable")()


def measure_learner(model: Any, rows: list[tuple[list[int], list[int]]], pad_id: int, device: str, train: dict[str, Any],
                    *, checkpointing: bool, flops: int, peak_tflops: float, repeats: int) -> dict[str, Any]:
    """Warm-up step, then the median of ``repeats`` timed steps."""
    import torch

    set_checkpointing(model, checkpointing)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=float(train.get("lr", 1e-5)))
    _reset_peak(device)
    times: Optional[list[float]] = None
    try:
        learner_step(model, opt, rows, pad_id, device, train)
        times = [_timed(lambda: learner_step(model, opt, rows, pad_id, device, train), device)[0] for _ in range(repeats)]
    except Exception as e:  # noqa: BLE001 - report OOM as a result, not a crash
        if not _is_oom(e):
            raise
    if times is None:  # out of memory; the exception (and the tensors its frames held) is gone now
        opt.zero_grad(set_to_none=True)
        opt = None
        set_checkpointing(model, False)
        _reset_peak(device)
        return {"activation_checkpointing": checkpointing, "rows": len(rows), "oom": True}
    if not times:  # repeats=0: only "does it fit"
        opt = None
        set_checkpointing(model, False)
        return {"activation_checkpointing": checkpointing, "rows": len(rows), "oom": False, "peak_memory_GiB": _peak_gib(device)}
    sec = statistics.median(times)
    out = {"activation_checkpointing": checkpointing, "rows": len(rows), "oom": False, "seconds": round(sec, 4),
           "seconds_all": [round(t, 4) for t in times], "model_TFLOP": _sig(flops / 1e12),
           "achieved_TFLOP_per_s": _sig(flops / sec / 1e12), "mfu": _sig(flops / sec / (peak_tflops * 1e12)),
           "peak_memory_GiB": _peak_gib(device)}
    opt = None
    set_checkpointing(model, False)
    return out


def measure_adapter_sync(model: Any, device: str) -> dict[str, Any]:
    """Extract the LoRA tensors as CPU float32 numpy (``DrugLLMRLModule.get_state``) and copy them back (``set_state``)."""
    import numpy as np
    import torch

    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = dict(model.named_parameters())
    t_extract, state = _timed(lambda: {n: params[n].detach().float().cpu().numpy().copy() for n in names}, device)

    def load():
        with torch.no_grad():
            for n in names:
                params[n].copy_(torch.as_tensor(np.asarray(state[n])).to(params[n].dtype))

    t_load, _ = _timed(load, device)
    return {"tensors": len(names), "parameters": int(sum(v.size for v in state.values())),
            "bytes_float32": int(sum(v.nbytes for v in state.values())), "extract_seconds": round(t_extract, 4),
            "load_seconds": round(t_load, 4)}


def search_max_rows(try_rows: Callable[[int], bool], start: int, cap: int, deadline: float) -> dict[str, Any]:
    """Doubling search: the largest tried batch that fits, the first that did not, and why it stopped."""
    fits, fails, rows, tried = None, None, start, []
    while rows <= cap:
        if time.perf_counter() > deadline:
            return {"largest_fit": fits, "first_oom": fails, "stopped": "time budget", "tried": tried}
        t = time.perf_counter()
        ok = try_rows(rows)
        tried.append({"rows": rows, "fits": ok, "seconds": round(time.perf_counter() - t, 2)})
        if not ok:
            fails = rows
            return {"largest_fit": fits, "first_oom": fails, "stopped": "out of memory", "tried": tried}
        fits, rows = rows, rows * 2
    return {"largest_fit": fits, "first_oom": fails, "stopped": f"row cap {cap}", "tried": tried}


# ------------------------------------------------------------------------------------- one architecture


def bench_architecture(name: str, settings: dict[str, Any], tokenizer: Any, args: argparse.Namespace,
                       deadline: float) -> dict[str, Any]:
    import torch
    from peft import LoraConfig, get_peft_model

    from drugenv.llm import architectures as A

    train = settings["training"]
    device = args.device
    overrides = dict(TINY_OVERRIDES) if args.tiny else {}
    arch = {**A.architecture(name), **overrides}
    group = int(args.group_size or train["group_size"])
    new_tokens = int(args.max_new_tokens or train["max_new_tokens"])
    budget = int(args.max_prompt_tokens or train["max_prompt_tokens"])
    minibatch = int(args.minibatch or train.get("minibatch_size", group))
    r = int(train.get("lora_r", 16))
    rep: dict[str, Any] = {
        "architecture": name, "tiny": args.tiny, "config": CONFIGS.get(name), "dtype": args.dtype,
        "settings": {"group_size": group, "max_new_tokens": new_tokens, "max_prompt_tokens": budget,
                     "max_turns": int(train["max_turns"]), "minibatch_size": minibatch, "lora_r": r,
                     "lora_alpha": int(train.get("lora_alpha", 2 * r)), "lora_target_modules": ALL_LINEAR,
                     "loss_type": train.get("loss_type", "dapo"),
                     "config_gradient_checkpointing": bool(train.get("gradient_checkpointing", False))},
        "computed": {"params": A.param_count(arch)["total"], "weights_bytes": A.weight_bytes(arch),
                     "kv_cache_bytes_per_token": A.kv_cache_bytes_per_token(arch),
                     "lora_params": A.lora_param_count(arch, r, ALL_LINEAR)},
    }
    t, model = _timed(lambda: A.build_random_model(name, seed=args.seed, dtype=args.dtype, device=device, **overrides), device)
    rep["build_seconds"] = round(t, 2)
    pad_id = tokenizer.pad_token_id

    prompts = drugenv_prompts(tokenizer, group, int(train["max_turns"]), budget, seed=args.seed)
    lens = [len(p) for p in prompts]
    rep["prompts"] = {"count": len(prompts), "tokens_min": min(lens), "tokens_mean": round(statistics.mean(lens), 1),
                      "tokens_max": max(lens)}

    lora = LoraConfig(r=r, lora_alpha=int(train.get("lora_alpha", 2 * r)), lora_dropout=0.0, target_modules=ALL_LINEAR,
                      task_type="CAUSAL_LM")
    torch.manual_seed(args.seed)
    model = get_peft_model(model, lora)
    model.eval()

    # Generation: warm-up, then bare and project-style (scores + log-prob gather).
    measure_generate(model, prompts[:1], 4, pad_id, device, with_scores=False)
    gen = measure_generate(model, prompts, new_tokens, pad_id, device, with_scores=False)
    completions = gen.pop("completions")
    gen["weight_stream_GB_per_s"] = round(rep["computed"]["weights_bytes"] * new_tokens / gen["seconds"] / 1e9, 1)
    gen_scores = measure_generate(model, prompts, new_tokens, pad_id, device, with_scores=True)
    gen_scores.pop("completions")
    rep["generate"] = gen
    rep["generate_project"] = gen_scores

    # Learner: minibatch rows = the group's prompts (cycled) + their sampled completions.
    rows = [(prompts[i % group], completions[i % group]) for i in range(minibatch)]
    flops = sum(A.lora_update_flops(arch, len(p), len(c), logits_positions=len(c) + 1) for p, c in rows)
    rep["learner"] = [measure_learner(model, rows, pad_id, device, train, checkpointing=ckpt, flops=flops,
                                      peak_tflops=args.peak_tflops, repeats=args.repeats) for ckpt in (False, True)]
    rep["adapter_sync"] = measure_adapter_sync(model, device)

    # Largest batch at the full prompt budget (worst case), bounded by the row cap and the time budget.
    filler = [p for p in prompts if len(p) == max(lens)][0]
    full = (filler * (budget // len(filler) + 1))[-budget:]
    ckpt = bool(train.get("gradient_checkpointing", False))

    def gen_fits(n: int) -> bool:
        ok = False
        try:
            measure_generate(model, [full] * n, new_tokens, pad_id, device, with_scores=True)
            ok = True
        except Exception as e:  # noqa: BLE001
            if not _is_oom(e):
                raise
        if not ok:
            _reset_peak(device)
        return ok

    def learn_fits(n: int) -> bool:
        res = measure_learner(model, [(full, completions[0])] * n, pad_id, device, train, checkpointing=ckpt, flops=0,
                              peak_tflops=args.peak_tflops, repeats=0 if n > minibatch else 1)
        return not res["oom"]

    rep["max_rows"] = {
        "prompt_tokens": budget, "new_tokens": new_tokens,
        "generate": search_max_rows(gen_fits, group, args.row_cap, deadline),
        "learner": {"activation_checkpointing": ckpt, **search_max_rows(learn_fits, minibatch, args.row_cap, deadline)},
    }
    model = None  # free the GPU for the next architecture
    _reset_peak(device)
    return rep


def environment(device: str) -> dict[str, Any]:
    import peft
    import torch
    import transformers

    env = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
           "peft": peft.__version__, "device": device, "host": platform.node()}
    if device.startswith("cuda"):
        p = torch.cuda.get_device_properties(device)
        env.update(gpu=p.name, gpu_memory_GiB=round(p.total_memory / 2**30, 1), cuda=torch.version.cuda)
    return env


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", default=",".join(CONFIGS), help="comma-separated architectures (keys of CONFIGS)")
    ap.add_argument("--out", default=None, help="JSON report path (default $OUT/gpu_grpo.json, else runs/bench/gpu_grpo.json; a report worth keeping is copied to docs/results/performance/)")
    ap.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    ap.add_argument("--dtype", default=None, help="bfloat16 (default on CUDA) / float32 (default on CPU)")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak for MFU (H200 SXM: 989; 1,979 is with sparsity)")
    ap.add_argument("--time-budget-s", type=float, default=300.0,
                    help="seconds from the start after which no new max-batch trial begins (each architecture gets an equal share)")
    ap.add_argument("--row-cap", type=int, default=1024, help="largest batch the max-batch search tries")
    ap.add_argument("--repeats", type=int, default=2, help="timed learner steps after the warm-up (median reported)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tiny", action="store_true", help="1 layer of width 64 per architecture (CPU smoke test)")
    ap.add_argument("--group-size", type=int, default=None, help="override the config's group size")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="override the config's completion cap")
    ap.add_argument("--max-prompt-tokens", type=int, default=None, help="override the config's prompt budget")
    ap.add_argument("--minibatch", type=int, default=None, help="override the config's learner minibatch (rows)")
    ap.add_argument("--fetch-tokenizer", action="store_true",
                    help="where the package index is reachable: fetch qwen.tiktoken (from the dashscope wheel) into "
                         ".cache/drugenv/ when it is not here, which a machine that is offline cannot; carry it there")
    return ap.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    check_dependencies()
    args = parse_args(argv)
    import torch

    from drugenv.llm.tiny import TokenizerUnavailable, build_qwen_tokenizer, fetch_qwen_tiktoken

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    args.dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    out = Path(args.out or (Path(os.environ["OUT"]) / "gpu_grpo.json" if os.environ.get("OUT")
                            else ROOT / "runs" / "bench" / "gpu_grpo.json"))
    start = time.perf_counter()
    deadline = start + args.time_budget_s
    try:  # offline unless asked: the GPU machine has no network, where a pip download would only wait
        tiktoken = fetch_qwen_tiktoken(allow_pip=args.fetch_tokenizer)
    except TokenizerUnavailable as e:
        why = " ".join(str(e).split(". Fix:")[0].split())  # one line: pip's reason may span several
        fix = ("set DRUGENV_QWEN_TIKTOKEN to the file, or copy it to .cache/drugenv/qwen.tiktoken" if args.fetch_tokenizer else
               "run once with --fetch-tokenizer where the package index is reachable (it writes "
               ".cache/drugenv/qwen.tiktoken, which a GPU machine's run then carries), or set DRUGENV_QWEN_TIKTOKEN to the file")
        print(f"gpu_grpo.py: error: {why}; {fix}", file=sys.stderr)
        sys.exit(2)
    tok = build_qwen_tokenizer(tiktoken_path=tiktoken)
    tok.padding_side = "left"
    report: dict[str, Any] = {"benchmark": "benchmarks/gpu_grpo.py", "argv": sys.argv[1:] if argv is None else argv,
                              "environment": environment(args.device), "peak_tflops": args.peak_tflops,
                              "weights": "random init (seeded); exact public architectures", "results": []}
    names = [n.strip() for n in args.archs.split(",") if n.strip()]
    for i, name in enumerate(names):
        settings = config_settings(ROOT / CONFIGS[name]) if name in CONFIGS else config_settings(ROOT / CONFIGS["Qwen/Qwen2.5-3B-Instruct"])
        # Give each remaining architecture an equal share of what is left of the budget.
        share = start + (time.perf_counter() - start) + (deadline - time.perf_counter()) / (len(names) - i)
        try:
            res = bench_architecture(name, settings, tok, args, share)
        except Exception as e:  # noqa: BLE001 - keep the other architecture's numbers
            import traceback

            res = {"architecture": name, "error": f"{type(e).__name__}: {e}"[:2000],
                   "traceback": traceback.format_exc()[-4000:]}
        report["results"].append(res)
        report["wall_seconds"] = round(time.perf_counter() - start, 1)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkstemp(dir=out.parent, suffix=".json.tmp")[1])
        tmp.write_text(json.dumps(report, indent=2), encoding="utf-8")
        os.replace(tmp, out)
        print(f"[{report['wall_seconds']:.0f}s] {name}: written {out}", flush=True)
    return report


if __name__ == "__main__":
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    main()
