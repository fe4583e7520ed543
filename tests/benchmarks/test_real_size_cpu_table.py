"""docs/gpu.md's CPU run at real size is generated from the committed record of
``benchmarks/real_size_cpu.py`` (``docs/results/real_size_cpu/``), and that script runs the page's own command."""

from __future__ import annotations

import re
from pathlib import Path

from benchmark_scripts import load

ROOT = Path(__file__).resolve().parents[2]
RECORDS = sorted((ROOT / "docs" / "results" / "real_size_cpu").glob("*.json"))

bench = load("real_size_cpu")


def test_the_docs_table_is_the_committed_record():
    assert RECORDS, "no committed real-size CPU record"
    block = f"{bench.BEGIN}\n{bench.table(bench.load_table_records([str(p) for p in RECORDS]))}\n{bench.END}"
    assert block in (ROOT / "docs" / "gpu.md").read_text(encoding="utf-8"), (
        "regenerate: python benchmarks/real_size_cpu.py --table docs/results/real_size_cpu/*.json --write docs/gpu.md")


def test_it_runs_the_command_the_page_shows_and_the_slow_test_runs(tmp_path):
    from tests.training.test_train_random_qwen import CPU_05B

    argv = bench.documented_command(tmp_path / "run")
    assert argv[1:5] == ["-m", "drugenv.cli", "train", "rllib_configs/grpo_qwen25_05b.py"]
    assert argv[argv.index("--out") + 1] == str(tmp_path / "run")
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--set"] == CPU_05B
    for rec in bench.load_table_records([str(p) for p in RECORDS]):
        assert re.findall(r"--set (\S+)", rec["config"]["command"]) == CPU_05B  # the record ran it too
