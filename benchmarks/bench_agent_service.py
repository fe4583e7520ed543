"""Agent-service load: /act latency and /episodes throughput at 1, 8 and 32 concurrent clients.

How to run this script (from the repository root; loopback; a few minutes on 2 shared cores)::

    python benchmarks/bench_agent_service.py                                 # tiny model + a fresh LoRA adapter
    python benchmarks/bench_agent_service.py --checkpoint runs/grpo_tiny_cpu/checkpoint_final --clients 1 8 32

It starts a local Ray and the agent service (``serve.agent_service``: Agent + Environment
deployments behind the ingress) in this process, then for each client count: ``act_rounds``
rounds of /act (every client posts one observation at once; latency = send -> reply) and one round
of /episodes (every client plays one episode of at most ``max_steps`` steps). Without
``--checkpoint`` it builds the offline tiny model and an untrained LoRA adapter on it.

Results to expect: /act p50/p90 latency, /act requests/s, episodes/s and the batch sizes the Agent
deployment saw, per client count, printed as a table and written to ``--out`` as JSON. With the tiny
model, concurrent clients share one batched ``generate``, so throughput grows with clients while
latency grows slowly. Numbers depend on the machine and its load; compare runs made back to back.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@dataclass
class Args:
    checkpoint: Optional[str] = None
    """A GRPO checkpoint or peft adapter directory (None: the tiny model with a fresh adapter)."""
    clients: list[int] = field(default_factory=lambda: [1, 8, 32])
    """Concurrent client counts."""
    act_rounds: int = 3
    """/act rounds per client count (each round: every client sends one request)."""
    max_steps: int = 6
    """Step cap of each /episodes episode."""
    max_new_tokens: int = 32
    """Completion cap of the agent."""
    torch_threads: int = 1
    """torch threads in the Agent replica."""
    batch_wait_timeout_s: float = 0.01
    """How long the Agent's @serve.batch waits to fill a batch, seconds."""
    num_cpus: int = 2
    """CPUs of the local Ray."""
    out: Optional[str] = None
    """Write the results as JSON here."""


def _tiny_checkpoint(folder: Path) -> Path:
    from peft import LoraConfig, get_peft_model

    from drugenv.llm.loading import load_model_and_tokenizer
    from drugenv.llm.tiny import cached_tiny_model

    base, _ = load_model_and_tokenizer(str(cached_tiny_model()), device="cpu")
    lora = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                           task_type="CAUSAL_LM"))
    lora.save_pretrained(folder / "adapter")
    return folder / "adapter"


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def _load(url: str, clients: int, args: Args, observations: list[dict[str, Any]]) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=600, limits=httpx.Limits(max_connections=clients)) as c:
        latencies: list[float] = []

        async def act(obs: dict[str, Any]) -> None:
            t0 = time.perf_counter()
            r = await c.post("/act", json=obs)
            r.raise_for_status()
            latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        for _ in range(args.act_rounds):
            await asyncio.gather(*(act(observations[i % len(observations)]) for i in range(clients)))
        act_wall = time.perf_counter() - t0

        async def episode(seed: int) -> int:
            r = await c.post("/episodes", json={"seed": seed, "max_steps": args.max_steps})
            r.raise_for_status()
            return len(r.json()["steps"])

        t0 = time.perf_counter()
        steps = await asyncio.gather(*(episode(s) for s in range(clients)))
        ep_wall = time.perf_counter() - t0
        return {"clients": clients, "act_requests": len(latencies), "act_p50_s": statistics.median(latencies),
                "act_p90_s": _pct(latencies, 0.9), "act_per_s": len(latencies) / act_wall,
                "episodes": clients, "episode_steps": sum(steps), "episodes_per_s": clients / ep_wall,
                "episode_steps_per_s": sum(steps) / ep_wall}


def main(args: Args) -> list[dict[str, Any]]:
    from records import check_args

    check_args(args, at_least={"clients": 1, "act_rounds": 1, "max_steps": 1, "max_new_tokens": 1, "torch_threads": 1, "num_cpus": 1}, outputs=("out",))
    import httpx
    import ray
    from ray import serve

    from drugenv.server.serve import free_port
    from drugenv.simulator.environment import DrugTargetEnvironment
    from serve.agent_service import build_agent_service

    if args.checkpoint is not None and not Path(args.checkpoint).is_dir():
        from drugenv.errors import ConfigError

        raise ConfigError(f"--checkpoint {args.checkpoint} is not a folder (a GRPO checkpoint or a peft adapter)")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    tmp = tempfile.TemporaryDirectory(prefix="bench-agent-")
    checkpoint = args.checkpoint or str(_tiny_checkpoint(Path(tmp.name)))
    observations = [DrugTargetEnvironment().reset(seed=s).model_dump(mode="json") for s in range(32)]
    ray.init(address="local", num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    port = free_port()  # after ray.init: Ray binds several ports of its own and could take it
    rows = []
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        t0 = time.perf_counter()
        serve.run(build_agent_service({"checkpoint": checkpoint, "max_new_tokens": args.max_new_tokens,
                                       "torch_threads": args.torch_threads, "max_batch_size": 32,
                                       "batch_wait_timeout_s": args.batch_wait_timeout_s}), name="agent")
        url = f"http://127.0.0.1:{port}"
        print(f"service up in {time.perf_counter() - t0:.1f} s: {httpx.get(f'{url}/health').json()}", flush=True)
        asyncio.run(_load(url, 1, Args(act_rounds=1, max_steps=1), observations))  # warm-up
        for n in args.clients:
            rows.append(asyncio.run(_load(url, n, args, observations)))
            print(json.dumps(rows[-1]), flush=True)
        batch_sizes = httpx.get(f"{url}/health").json()["batch_sizes"]
    finally:
        serve.shutdown()
        ray.shutdown()
        tmp.cleanup()
    print("\n| clients | /act p50 s | /act p90 s | /act req/s | episodes/s | episode steps/s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clients']} | {r['act_p50_s']:.3f} | {r['act_p90_s']:.3f} | {r['act_per_s']:.1f} | "
              f"{r['episodes_per_s']:.2f} | {r['episode_steps_per_s']:.1f} |")
    print(f"batch sizes seen by the Agent deployment (size: batches): {batch_sizes}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows, "batch_sizes": batch_sizes}, indent=1))
    return rows


if __name__ == "__main__":
    from records import cli

    sys.exit(cli(main, Args, "bench_agent_service.py"))
