"""docs/server.md's agent-service table is generated from the committed records of
``benchmarks/bench_agent_service.py --out`` (``docs/results/agent_service/``), so anyone can check it."""

from __future__ import annotations

from pathlib import Path

from benchmark_scripts import load

ROOT = Path(__file__).resolve().parents[2]
RECORDS = sorted((ROOT / "docs" / "results" / "agent_service").glob("*.json"))

bench = load("bench_agent_service")


def test_the_docs_table_is_the_committed_records():
    assert RECORDS, "no committed agent-service record"
    records = bench.load_table_records([str(p) for p in RECORDS])
    block = f"{bench.BEGIN}\n{bench.table(records)}\n{bench.END}"
    assert block in (ROOT / "docs" / "server.md").read_text(encoding="utf-8"), (
        "regenerate: python benchmarks/bench_agent_service.py --table docs/results/agent_service/*.json --write docs/server.md")


def test_each_record_names_its_machine_load_and_commit():
    for rec in bench.load_table_records([str(p) for p in RECORDS]):
        assert rec["host"]["cores"] >= 1 and rec["commit"] and {"before", "after"} <= set(rec["load_average"])
        assert [r["clients"] for r in rec["results"]["rows"]] == rec["config"]["clients"]


def test_write_replaces_only_its_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"before\n{bench.BEGIN}\nold\n{bench.END}\nafter\n", encoding="utf-8")
    records = bench.load_table_records([str(p) for p in RECORDS])
    assert bench.write_table(page, bench.table(records)) is True
    text = page.read_text(encoding="utf-8")
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    assert bench.write_table(page, bench.table(records)) is False
