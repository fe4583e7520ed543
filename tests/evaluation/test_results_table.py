"""The README's main-job table is generated from the committed JSON (docs/results/), not typed."""

import json
import re
from pathlib import Path

import pytest

from drugenv.evaluation.results_table import readme_block, seeds_block, seeds_table, table, update_readme

ROOT = Path(__file__).resolve().parents[2]
M = {"decision_accuracy": 0.8, "report_rate": 1.0, "brier": 0.15, "mean_return": 1.2, "evidence_coverage": 0.8}


def _results():
    iv = {k: {"mean": v, "ci": [v - 0.1, v + 0.1], "ref_mean": v, "diff": 0.0, "diff_ci": [-0.1, 0.1]}
          for k, v in M.items() if k != "evidence_coverage"}
    return {"before": {**M, "decision_accuracy": 0.0}, "after_grpo": M, "heuristic": M,
            "_meta": {"suite": "procedural-test", "episodes": 100, "seed": 0, "max_steps": 12, "before_episodes": 32},
            "_evidence": {"procedural-test": {"episodes": 100, "seed": 0, "max_steps": 12,
                                              "metrics": {"after_grpo": M, "heuristic": M}, "vs_heuristic": {"after_grpo": iv}}}}


def test_table_rows_intervals_and_paired_difference():
    t = table(_results())
    assert "| tiny model, untrained (32 episodes) | 0.00 |" in t
    assert "| after SFT + GRPO | 0.80 [0.70, 0.90] | 1.00 [0.90, 1.10] | 0.150 [0.050, 0.250] |" in t
    assert "after SFT + GRPO − heuristic (paired, same episodes): accuracy 0.00 [−0.10, 0.10]" in t


def test_twins_block_reports_pair_accuracy_per_agent():
    r = _results()
    tw = {"twin_pairs": 50, "original_accuracy": 0.8, "twin_accuracy": 0.9, "pair_accuracy": 0.7, "same_decision_rate": 0.3}
    r["_evidence"]["procedural-test-twins"] = {"episodes": 100, "seed": 0, "max_steps": 12, "metrics": {"heuristic": M},
                                               "twins": {"after_grpo": {**tw, "pair_accuracy": 0.6}, "heuristic": tw}}
    t = table(r)
    assert "**procedural-test-twins**" in t and "Counterfactual twins (50 pairs" in t
    assert "after SFT + GRPO 0.60 / 0.30; heuristic 0.70 / 0.30." in t


def test_per_scenario_utility_and_validation_selection_are_tabled():
    r = _results()
    u = {"mean": 0.9, "ci": [0.8, 1.0], "ref_mean": 0.6, "diff": 0.3, "diff_ci": [0.1, 0.5]}
    r["_evidence"]["curated"] = {"episodes": 40, "seed": 0, "max_steps": 12, "metrics": {"heuristic": M},
                                 "per_scenario": {"cd33_aml_misleading": {"episodes": 20, "after_grpo": {"decision_utility": u}}}}
    r["_meta"]["selection"] = {"suite": "procedural-train", "seed": 700000, "episodes": 96, "metric": "decision_utility",
                               "iteration": 48, "value": 0.61, "history": [[16, 0.5], [32, 0.55], [48, 0.61]]}
    t = table(r)
    assert "| cd33_aml_misleading | 20 | 0.60 | 0.90 [0.80, 1.00] | 0.300 [0.100, 0.500] |" in t
    assert "GRPO checkpoint: iteration 48, the best of 3 evaluations on validation decision utility (0.61 on 96" in t
    r["_meta"]["selection"]["iteration"] = 0
    r["_meta"]["sft_choice"] = {"suite": "procedural-train", "seed": 700000, "episodes": 96, "metric": "decision_utility",
                                "chosen_seed": 1001, "candidates": [{"seed": 1, "value": 0.41}, {"seed": 1001, "value": 0.47}]}
    t = table(r)
    assert "GRPO checkpoint: iteration 0 (the SFT model: no GRPO iteration beat it)" in t
    assert "SFT start: seed 1001, the best of 2 SFT seeds on validation decision utility (seed 1 0.41, seed 1001 0.47; 96" in t


def test_groups_too_small_for_an_interval_are_tabled_without_one():
    """A record made before ``bootstrap.MIN_INTERVAL_EPISODES`` still holds a four-episode scenario's intervals
    (too narrow to be 95%): the tables print its means and differences alone, and say why."""
    r = _results()
    u = {"mean": 0.9, "ci": [0.8, 1.0], "ref_mean": 0.6, "diff": 0.3, "diff_ci": [0.1, 0.5]}
    r["_evidence"]["curated"] = {"episodes": 8, "seed": 0, "max_steps": 12, "metrics": {"after_grpo": M, "heuristic": M},
                                 "vs_heuristic": {"after_grpo": {k: dict(u) for k in ("decision_accuracy", "decision_utility")}},
                                 "per_scenario": {"cd33_aml_misleading": {"episodes": 4, "after_grpo": {"decision_utility": u}},
                                                  "egfr_nsclc_viable": {"episodes": 4, "after_grpo": {"decision_utility": {
                                                      **u, "ci": None, "diff_ci": None}}}}}
    t = table(r)
    assert "| cd33_aml_misleading | 4 | 0.60 | 0.90 | 0.300 |" in t and "| egfr_nsclc_viable | 4 | 0.60 | 0.90 | 0.300 |" in t
    assert "no interval below 20 episodes" in t
    curated = t.split("**curated**")[1]
    assert "accuracy 0.30; decision utility 0.30." in curated and "[" not in curated.split("\n", 1)[1]  # 8 episodes: none
    assert "| after SFT + GRPO | 0.80 [0.70, 0.90] |" in t.split("**curated**")[0]  # the procedural suite's 100 keep theirs
    runs = [json.loads(json.dumps(r))]
    runs[0]["after_grpo"] = {**M, "decision_utility": 0.5}
    runs[0]["_evidence"]["curated"]["per_scenario"]["ptpn11_juvenile_mml_complex"] = {
        "episodes": 4, "after_grpo": {"decision_utility": u}}
    row = seeds_table(runs).splitlines()[2]
    assert "| +0.300 / +0.300 |" in row


def test_update_readme_rewrites_only_its_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:x (old) -->\nstale\n<!-- /results:x -->\nrest\n", encoding="utf-8")
    assert update_readme("x", _results(), readme)
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("intro\n") and text.endswith("\nrest\n") and "stale" not in text and "0.80 [0.70, 0.90]" in text
    assert not update_readme("y", _results(), readme)


@pytest.mark.parametrize("name", ["grpo_tiny_cpu", "grpo_tiny_cpu_long"])
def test_readme_tables_match_the_committed_json(name):
    committed = ROOT / "docs" / "results" / f"{name}.json"
    if not committed.exists():
        pytest.skip(f"no committed {name} results yet")
    assert readme_block(name, json.loads(committed.read_text(encoding="utf-8"))) in (ROOT / "README.md").read_text(encoding="utf-8")


def test_seeds_table_rows_sorted_by_seed_with_mean_and_sample_sd():
    def run(seed, acc):
        m = {**M, "decision_utility": 0.5}
        return {**_results(), "after_sft": m, "after_grpo": {**m, "decision_accuracy": acc}, "heuristic": m,
                "_meta": {**_results()["_meta"], "run_seed": seed}}

    text = seeds_table([run(2, 0.9), run(0, 0.7), run(1, 0.8)])
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [r.split(" | ")[0] for r in rows] == ["| 0", "| 1", "| 2"]
    assert "| mean ± sd | | 0.80 ± 0.00 / 1.00 ± 0.00 / 0.150 ± 0.000 / 0.50 ± 0.00 | 0.80 ± 0.10 / " in text
    assert "| heuristic (same episodes) | | | 0.80 / 1.00 / 0.150 / 0.50 |" in text


def test_seeds_table_names_the_commit_of_each_seed():
    """Seeds published at different commits sit in one table only with each row's commit shown."""
    def run(seed, commit):
        m = {**M, "decision_utility": 0.5}
        meta = {**_results()["_meta"], "run_seed": seed, "code": {"commit": commit, "source_digest": "x"}}
        return {**_results(), "after_sft": m, "after_grpo": m, "heuristic": m, "_meta": meta}

    rows = seeds_table([run(1, "b7485217ab7e82"), run(0, "6dd9f1a00000")]).splitlines()
    assert rows[0].startswith("| seed | commit | after SFT")
    assert rows[2].startswith("| 0 | 6dd9f1a | ") and rows[3].startswith("| 1 | b748521 | ")


def test_seeds_table_shows_the_named_curated_scenarios_paired_utility():
    """Issue 12's longer-recipe target names ptpn11 and cd33: each seed's row gives their paired
    utility difference with its interval (at 20 episodes or more), and a dash for a scenario the run did not play."""
    r = {**_results(), "after_grpo": {**M, "decision_utility": 0.6}}
    u = {"mean": 0.85, "ci": [0.7, 0.9], "ref_mean": 0.56, "diff": 0.29, "diff_ci": [0.16, 0.42]}
    r["_evidence"]["curated"] = {"per_scenario": {"ptpn11_juvenile_mml_complex": {"episodes": 20, "after_grpo": {"decision_utility": u}}}}
    text = seeds_table([r])
    assert "| ptpn11 / cd33 utility − heuristic |" in text
    assert "| +0.290 [0.160, 0.420] / – |" in text


@pytest.mark.parametrize("doc", ["README.md", "docs/grpo.md"])
def test_seed_tables_match_the_committed_json(doc):
    """Every seeds block in the README and the GRPO page is what its own header's command generates today."""
    from drugenv.evaluation.results_table import generated_blocks

    text = (ROOT / doc).read_text(encoding="utf-8")
    headers = [(name, files) for kind, name, files in generated_blocks(text) if kind == "seeds"]
    assert headers, f"{doc} has no seeds block"
    for name, files in headers:
        assert seeds_block(name, files, root=ROOT) in text


def test_published_results_carry_no_machine_paths(tmp_path):
    from drugenv.evaluation.results_table import portable_paths

    run = tmp_path / "runs" / "r1"
    raw = {"model": str(run / "sft_model"), "_timing": {"sft": {"base_model": str(run / "base_model")}},
           "list": [str(run / "x"), "/elsewhere/y", 1.5], "checkpoint": "runs/r1/checkpoint_final"}
    out = portable_paths(raw, tmp_path)
    assert out == {"model": "runs/r1/sft_model", "_timing": {"sft": {"base_model": "runs/r1/base_model"}},
                   "list": ["runs/r1/x", "/elsewhere/y", 1.5], "checkpoint": "runs/r1/checkpoint_final"}
    committed = (ROOT / "docs/results/grpo_tiny_cpu.json").read_text(encoding="utf-8")
    assert str(ROOT) not in committed and '"/tmp/' not in committed and '"/home/' not in committed


def test_publish_writes_the_readme_block_the_committed_json_regenerates(tmp_path):
    from drugenv.evaluation.results_table import publish

    r = _results()
    u = {"mean": 0.9, "ci": [0.8, 1.0], "ref_mean": 0.6, "diff": 0.3, "diff_ci": [0.1, 0.5]}
    # Scenarios in play order, not alphabetical: the JSON is written with sorted keys.
    r["_evidence"]["curated"] = {"episodes": 40, "seed": 0, "max_steps": 12, "metrics": {"heuristic": M},
                                 "per_scenario": {name: {"episodes": 20, "after_grpo": {"decision_utility": u}}
                                                  for name in ("egfr_nsclc_viable", "cd33_aml_misleading")}}
    run = tmp_path / "runs" / "r1"
    (run / "evidence").mkdir(parents=True)
    (run / "evidence" / "before_after_metrics.json").write_text(json.dumps(r), encoding="utf-8")
    (tmp_path / "README.md").write_text("intro\n<!-- results:r1 (old) -->\nstale\n<!-- /results:r1 -->\n", encoding="utf-8")
    dst = publish(run, "r1", root=tmp_path)
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert readme_block("r1", json.loads(dst.read_text(encoding="utf-8"))) in readme
    assert readme.index("| cd33_aml_misleading |") < readme.index("| egfr_nsclc_viable |")


def _ppo_run(run: Path) -> None:
    H = {"decision_accuracy": 0.83, "decision_utility": 0.52, "brier": 0.146, "ece": 0.08, "credits_used": 25.7,
         "mean_return": 1.28}
    run.mkdir(parents=True)
    (run / "settings.json").write_text(json.dumps({"seed": 0, "run": {"iterations": 20, "eval_interval": 10, "eval_seed": 0}}), encoding="utf-8")
    rows = [{"iteration": i, "env_steps": 1000 * i, "train/episode_return_mean": 0.1 * i, "time_s": 1.5 * i} for i in range(1, 21)]
    for i in (10, 20):
        rows[i - 1].update({f"heldout/{k}": v * i / 20 for k, v in H.items()}, eval_time_s=3.0)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (run / "summary.json").write_text(json.dumps({"final": {k: rows[-1][f"heldout/{k}"] for k in H}, "heuristic": H,
                                                  "checkpoint": str(run / "checkpoint_final"), "suite": "procedural-test",
                                                  "episodes": 200}), encoding="utf-8")


def test_ppo_publish_writes_the_curve_table_the_committed_json_regenerates(tmp_path):
    from drugenv.evaluation.results_table import ppo_block, publish_ppo

    run = tmp_path / "runs" / "p1"
    _ppo_run(run)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ppo_and_sweeps.md").write_text("intro\n<!-- ppo:p1 (old) -->\nstale\n<!-- /ppo:p1 -->\nrest\n", encoding="utf-8")
    dst = publish_ppo(run, "p1", root=tmp_path)
    published = json.loads(dst.read_text(encoding="utf-8"))
    assert published["final"]["decision_accuracy"] == pytest.approx(0.83) and published["suite"] == "procedural-test"
    assert str(tmp_path) not in dst.read_text(encoding="utf-8")  # the run's paths are written relative to its parent folder
    doc = (tmp_path / "docs" / "ppo_and_sweeps.md").read_text(encoding="utf-8")
    assert doc.startswith("intro\n") and doc.endswith("\nrest\n") and "stale" not in doc
    assert ppo_block("p1", published) in doc
    lines = doc.splitlines()
    # Only evaluated iterations are rows; the heuristic row is on the same episodes; timings from the run.
    assert "| 10 | 10,000 | 1.000 | 0.415 | 0.260 | 0.073 | 0.040 | 12.8 | 0.640 |" in lines
    assert "| 20 | 20,000 | 2.000 | 0.830 | 0.520 | 0.146 | 0.080 | 25.7 | 1.280 |" in lines
    assert "| heuristic | – | – | 0.830 | 0.520 | 0.146 | 0.080 | 25.7 | 1.280 |" in lines
    assert sum(line.startswith("| ") and line[2].isdigit() for line in lines) == 2
    assert "20 iterations: 0.5 min of RLlib training (1.50 s per iteration, 20 configured) and 0.1 min of held-out evaluation." in doc
    assert "other `procedural-test` episodes" not in doc  # no fresh check given


def test_ppo_publish_of_a_resumed_run_names_the_checkpoint_it_continued(tmp_path):
    """A resumed run's table read "1 iterations ... 1 configured" above a lone row for iteration 3, with
    nothing to say the run continued another; its settings.json now names the checkpoint."""
    from drugenv.evaluation.results_table import ppo_table, publish_ppo

    run = tmp_path / "runs" / "p2"
    _ppo_run(run)
    settings = json.loads((run / "settings.json").read_text(encoding="utf-8"))
    settings["resumed_from"] = str(tmp_path / "runs" / "p1" / "checkpoint_final")
    (run / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ppo_and_sweeps.md").write_text("", encoding="utf-8")
    published = json.loads(publish_ppo(run, "p2", root=tmp_path).read_text(encoding="utf-8"))
    assert ppo_table(published).rstrip().endswith(
        "held-out evaluation. The run continued `runs/p1/checkpoint_final` (`drugenv train --resume`).")


def test_ppo_publish_keeps_a_fresh_paired_check_without_its_records(tmp_path):
    from drugenv.evaluation.results_table import ppo_table, publish_ppo

    run = tmp_path / "runs" / "p1"
    _ppo_run(run)
    d = {"mean": 0.8, "ci": [0.75, 0.85], "ref_mean": 0.78, "diff": 0.02, "diff_ci": [-0.03, 0.07]}
    diff = {k: d for k in ("decision_accuracy", "decision_utility", "brier", "mean_return", "report_rate")}
    fresh = tmp_path / "fresh.json"
    fresh.write_text(json.dumps({"agent": "checkpoint:runs/p1/checkpoint_final", "suite": "procedural-test", "episodes": 500,
                                 "seed": 1000, "summary": {"credits_used": 21.9}, "records": [{"big": 1}] * 3,
                                 "paired": {"agent": "heuristic", "summary": {"credits_used": 24.0}, "diff": diff}}), encoding="utf-8")
    dst = publish_ppo(run, "p1", root=tmp_path, fresh=fresh)
    published = json.loads(dst.read_text(encoding="utf-8"))
    assert "records" not in published["fresh_check"] and published["fresh_check"]["episodes"] == 500
    line = ppo_table(published).splitlines()[-1]
    assert line.startswith("On 500 other `procedural-test` episodes (seed 1000) against the heuristic")
    assert "`drugenv eval --agent checkpoint:runs/p1/checkpoint_final --suite procedural-test --episodes 500 --seed 1000 --paired heuristic`" in line
    assert "accuracy 0.800 vs 0.780 (+0.020 [-0.030, +0.070])" in line and line.endswith("credits used 21.9 vs 24.0.")
    fresh.write_text(json.dumps({"agent": "x", "suite": "procedural-test", "episodes": 5, "seed": 0, "summary": {}}), encoding="utf-8")
    with pytest.raises(ValueError, match="no paired comparison"):
        publish_ppo(run, "p1", root=tmp_path, fresh=fresh)


def test_ppo_doc_table_matches_the_committed_json():
    from drugenv.evaluation.results_table import ppo_block

    committed = ROOT / "docs" / "results" / "ppo_vector.json"
    if not committed.exists():
        pytest.skip("no committed PPO results yet")
    assert ppo_block("ppo_vector", json.loads(committed.read_text(encoding="utf-8"))) in (ROOT / "docs" / "ppo_and_sweeps.md").read_text(encoding="utf-8")


def test_sweep_publish_copies_the_table_into_its_block(tmp_path):
    from drugenv.evaluation.results_table import publish_sweep, sweep_block

    sweep = tmp_path / "runs" / "rl" / "sweeps" / "s1"
    sweep.mkdir(parents=True)
    (sweep / "results.md").write_text("| trial | accuracy |\n|---|---:|\n| 00001 | 0.700 |\n", encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ppo_and_sweeps.md").write_text("a\n<!-- sweep:s1 (old) -->\nstale\n<!-- /sweep:s1 -->\nb\n", encoding="utf-8")
    dst = publish_sweep(sweep, "s1", root=tmp_path)
    doc = (tmp_path / "docs" / "ppo_and_sweeps.md").read_text(encoding="utf-8")
    assert dst.read_text(encoding="utf-8") == (sweep / "results.md").read_text(encoding="utf-8")
    assert sweep_block("s1", dst.read_text(encoding="utf-8")) in doc and "stale" not in doc and "| 00001 | 0.700 |" in doc


@pytest.mark.parametrize("name", ["reward_weights", "curriculum"])
def test_sweep_doc_tables_match_the_committed_tables(name):
    from drugenv.evaluation.results_table import sweep_block

    committed = ROOT / "docs" / "results" / "sweeps" / f"{name}.md"
    if not committed.exists():
        pytest.skip(f"no committed {name} sweep yet")
    assert sweep_block(name, committed.read_text(encoding="utf-8")) in (ROOT / "docs" / "ppo_and_sweeps.md").read_text(encoding="utf-8")


def test_ppo_seeds_table_rows_then_mean_and_sd_per_setting():
    from drugenv.evaluation.results_table import ppo_seeds_table

    H = {"decision_accuracy": 0.83, "decision_utility": 0.519, "brier": 0.142, "credits_used": 25.7}

    def run(seed, lr, acc, envs=1):
        return {"settings": {"seed": seed, "training": {"lr": lr}, "env_runners": {"num_envs_per_env_runner": envs}},
                "curve": [{"iteration": 150, "time_s": 180.0 / envs}], "heuristic": H,
                "final": {"decision_accuracy": acc, "decision_utility": acc - 0.2, "brier": 1 - acc, "credits_used": 20.0}}

    lines = ppo_seeds_table([run(1, 1e-3, 0.86), run(0, 3e-4, 0.76), run(0, 1e-3, 0.84), run(1, 3e-4, 0.82),
                             run(0, 1e-3, 0.83, envs=8)]).splitlines()
    assert lines[2:7] == ["| 0 | 0.0003 | 1 | 150 | 0.760 | 0.560 | 0.240 | 20.0 | 3.0 |",
                          "| 1 | 0.0003 | 1 | 150 | 0.820 | 0.620 | 0.180 | 20.0 | 3.0 |",
                          "| 0 | 0.001 | 1 | 150 | 0.840 | 0.640 | 0.160 | 20.0 | 3.0 |",
                          "| 1 | 0.001 | 1 | 150 | 0.860 | 0.660 | 0.140 | 20.0 | 3.0 |",
                          "| 0 | 0.001 | 8 | 150 | 0.830 | 0.630 | 0.170 | 20.0 | 0.4 |"]
    assert lines[7] == "| mean ± sd | 0.0003 | 1 | | 0.790 ± 0.042 | 0.590 ± 0.042 | 0.210 ± 0.042 | 20.0 ± 0.0 | |"
    assert lines[8].startswith("| mean ± sd | 0.001 | 1 | | 0.850 ± 0.014 |")
    assert len(lines) == 10 and lines[-1] == "| heuristic | | | | 0.830 | 0.519 | 0.142 | 25.7 | |"  # one run: no mean row


def test_ppo_seed_tables_in_the_doc_match_the_committed_json():
    from drugenv.evaluation.results_table import PPO_DOC, ppo_seeds_block

    doc = PPO_DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- ppo-seeds:(\S+) \(generated by `python -m drugenv.evaluation.results_table ppo-seeds \S+ ([^`]+)`", doc)
    assert blocks or not (ROOT / "docs" / "results" / "ppo_vector_seed1.json").exists()
    for name, files in blocks:
        assert ppo_seeds_block(name, [Path(f) for f in files.split()], root=ROOT) in doc


def test_readme_quotes_the_committed_ppo_fresh_check():
    committed = ROOT / "docs" / "results" / "ppo_vector.json"
    if not committed.exists():
        pytest.skip("no committed PPO results yet")
    diff = json.loads(committed.read_text(encoding="utf-8"))["fresh_check"]["paired"]["diff"]
    acc, brier = diff["decision_accuracy"], diff["brier"]
    quoted = (f"accuracy {acc['mean']:.3f} vs {acc['ref_mean']:.3f} ({acc['diff']:+.3f} [{acc['diff_ci'][0]:.3f}, "
              f"{acc['diff_ci'][1]:.3f}], paired 95% interval) and Brier {brier['mean']:.3f} vs {brier['ref_mean']:.3f}")
    assert quoted in " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())  # line breaks are the README's own


def _eval_file(path, agent, suite, seed_of_episodes, utility_diff, scenarios):
    d = lambda diff: {"mean": 0.6, "ci": [0.5, 0.7], "ref_mean": 0.6 - diff, "diff": diff, "diff_ci": [diff - 0.03, diff + 0.03]}
    diff = {k: d(utility_diff if k == "decision_utility" else 0.004) for k in
            ("decision_accuracy", "decision_utility", "brier", "mean_return", "report_rate")}
    summary = {"decision_accuracy": 0.85, "report_rate": 1.0, "brier": 0.1, "decision_utility": 0.6}
    path.write_text(json.dumps({"agent": agent, "suite": suite, "episodes": 1000 if suite != "curated" else 250,
                                "seed": seed_of_episodes, "max_steps": 12, "decision_scoring": "brier", "summary": summary,
                                "records": [{"big": 1}] * 3,
                                "paired": {"agent": "heuristic", "summary": {**summary, "decision_utility": 0.58},
                                           "diff": diff, "by_scenario": {n: {"episodes": 50, **diff} for n in scenarios}}}), encoding="utf-8")
    return path


def test_confirm_gathers_fresh_checks_of_checkpoints_into_one_table(tmp_path):
    from drugenv.evaluation.results_table import SEED_SCENARIOS, confirm_table, publish_confirmation

    files = []
    for seed, name in ((1, "long_seed1"), (0, "long")):  # given out of order: rows come by run seed
        ckpt = tmp_path / "work" / "runs" / name / "checkpoint_best"
        ckpt.mkdir(parents=True)
        (ckpt / "drugenv_checkpoint.json").write_text(json.dumps({"algo": "grpo", "iteration": 100 + seed, "settings": {"seed": seed}}), encoding="utf-8")
        (ckpt.parent / "settings.json").write_text(json.dumps({"code": {"commit": "abc"}}), encoding="utf-8")
        files += [_eval_file(tmp_path / f"{name}_test.json", f"checkpoint:{ckpt}", "procedural-test", 3000, 0.01 * (seed + 1), []),
                  _eval_file(tmp_path / f"{name}_cur.json", f"checkpoint:{ckpt}", "curated", 3000, 0.05, SEED_SCENARIOS)]
    (tmp_path / "README.md").write_text("a\n<!-- confirm:fresh -->old<!-- /confirm:fresh -->\nb\n", encoding="utf-8")
    dst = publish_confirmation("fresh", files, root=tmp_path)
    published = json.loads(dst.read_text(encoding="utf-8"))
    assert all("records" not in e for e in published["evaluations"])
    assert str(tmp_path) not in dst.read_text(encoding="utf-8")  # checkpoints as runs/<run>/checkpoint_best
    assert published["evaluations"][0]["agent"] == "checkpoint:runs/long/checkpoint_best"
    rows = [line for line in confirm_table(published).splitlines() if line.startswith("| 0") or line.startswith("| 1")]
    assert rows == ["| 0 | 100 | 0.85 / 1.00 / 0.100 / 0.60 | 0.85 / 1.00 / 0.100 / 0.58 | +0.01 [−0.02, 0.04] "
                    "| +0.004 [−0.026, 0.034] | +0.00 [−0.03, 0.03] | +0.05 [0.02, 0.08] | +0.050 [0.020, 0.080] / +0.050 [0.020, 0.080] |",
                    "| 1 | 101 | 0.85 / 1.00 / 0.100 / 0.60 | 0.85 / 1.00 / 0.100 / 0.58 | +0.02 [−0.01, 0.05] "
                    "| +0.004 [−0.026, 0.034] | +0.00 [−0.03, 0.03] | +0.05 [0.02, 0.08] | +0.050 [0.020, 0.080] / +0.050 [0.020, 0.080] |"]
    assert (tmp_path / "docs" / "images" / "fresh.png").stat().st_size > 10_000
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "1,000 `procedural-test` episodes from seed 3000 and 250 curated from seed 3000" in readme and "old" not in readme
    _eval_file(files[2], json.loads(files[2].read_text(encoding="utf-8"))["agent"], "procedural-test", 2000, 0.0, [])
    with pytest.raises(ValueError, match="do not share their episodes"):  # one seed's test on other episodes
        publish_confirmation("fresh", files, root=tmp_path)
    files[0].write_text(json.dumps({"agent": "x", "suite": "procedural-test", "paired": {"diff": {}}}), encoding="utf-8")
    with pytest.raises(ValueError, match="no per-scenario paired comparison"):
        publish_confirmation("fresh", files, root=tmp_path)


@pytest.mark.parametrize("doc", ["README.md", "docs/grpo.md"])
def test_confirm_blocks_match_the_committed_json(doc):
    from drugenv.evaluation.results_table import confirm_block, generated_blocks

    text = (ROOT / doc).read_text(encoding="utf-8")
    for name in [name for kind, name, _ in generated_blocks(text) if kind == "confirm"]:
        assert confirm_block(name, json.loads((ROOT / "docs" / "results" / f"{name}.json").read_text(encoding="utf-8"))) in text


def test_refresh_rewrites_every_generated_block_from_its_json(tmp_path):
    """After a change to how tables are written, ``refresh`` regenerates each block from the JSON its
    header names: a block edited by hand comes back as the JSON says, and nothing else moves."""
    import shutil

    from drugenv.evaluation.results_table import refresh

    (tmp_path / "docs").mkdir()
    shutil.copytree(ROOT / "docs" / "results", tmp_path / "docs" / "results")
    for doc in ("README.md", "docs/grpo.md"):
        shutil.copy(ROOT / doc, tmp_path / doc)
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    # The main job's block, emptied by hand: whatever its numbers are, refresh must bring them back.
    start = readme.index("\n", readme.index("<!-- results:grpo_tiny_cpu ")) + 1
    edited = readme[:start] + "stale\n" + readme[readme.index("<!-- /results:grpo_tiny_cpu -->"):]
    assert edited != readme
    (tmp_path / "README.md").write_text(edited, encoding="utf-8")
    done = refresh(tmp_path)
    assert "results:grpo_tiny_cpu" in done and {d.split(":")[0] for d in done} == {"results", "seeds", "confirm"}
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == readme
    assert (tmp_path / "docs/grpo.md").read_text(encoding="utf-8") == (ROOT / "docs/grpo.md").read_text(encoding="utf-8")


def _strict(text: str):
    def refuse(constant: str):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_results_files_are_strict_json(tmp_path):
    """``json.dumps`` wrote the ECE of episodes without a report as ``NaN``, which JavaScript's JSON.parse and
    most languages' readers refuse: results are written with null there, and every committed one parses."""
    from drugenv.evaluation.evaluate import results_json, write_results
    from drugenv.evaluation.metrics import summarize

    payload = {"summary": summarize([]), "nested": [float("inf"), {"x": float("-inf")}], "path": tmp_path}
    back = _strict(write_results(tmp_path / "r.json", payload).read_text(encoding="utf-8"))
    assert back["summary"]["ece"] is None and back["nested"] == [None, {"x": None}] and back["path"] == str(tmp_path)
    assert _strict(results_json({"a": 1.5}, indent=2)) == {"a": 1.5}
    files = sorted((ROOT / "docs" / "results").rglob("*.json"))
    assert len(files) > 20
    for path in files:
        _strict(path.read_text(encoding="utf-8"))


def test_a_metric_read_back_as_null_prints_as_nan():
    """A resumed GRPO run prints the report it read back from its results file, where the untrained model's
    ECE is null: format_table raised TypeError on it (CI on 29abde3, test_train_checkpoint_resume_and_adapter)."""
    from drugenv.evaluation.cli import format_table
    from drugenv.evaluation.evaluate import results_json
    from drugenv.evaluation.metrics import summarize

    fresh = {"before": summarize([])}
    assert format_table(json.loads(results_json(fresh))) == format_table(fresh)
    assert "nan" in format_table(fresh)


def test_a_fresh_check_too_small_for_intervals_is_tabled_without_them(tmp_path):
    """drugenv eval --paired writes no interval for fewer than 20 episodes: ppo_table indexed it (TypeError) after
    publish_ppo had written the run's record (an audit)."""
    from drugenv.evaluation.results_table import ppo_table, publish_ppo

    run = tmp_path / "runs" / "p1"
    _ppo_run(run)
    d = {"mean": 0.8, "ci": None, "ref_mean": 0.78, "diff": 0.02, "diff_ci": None}
    fresh = tmp_path / "fresh.json"
    fresh.write_text(json.dumps({"agent": "x", "suite": "procedural-test", "episodes": 10, "seed": 1000, "summary": {"credits_used": 21.9},
                                 "paired": {"agent": "heuristic", "summary": {"credits_used": 24.0},
                                            "diff": {k: d for k in ("decision_accuracy", "decision_utility", "brier", "mean_return")}}}), encoding="utf-8")
    line = ppo_table(json.loads(publish_ppo(run, "p1", root=tmp_path, fresh=fresh).read_text(encoding="utf-8"))).splitlines()[-1]
    assert "accuracy 0.800 vs 0.780 (+0.020); decision utility 0.800 vs 0.780 (+0.020);" in line and "[" not in line


# Every metric and agent its own value: a renderer reading the wrong field (terminal reward for mean return, the SFT
# row for the trained one, accuracy for coverage) changes a cell these tests pin (an audit's mutations passed before).
AGENT_M = {"after_sft": {"decision_accuracy": 0.71, "report_rate": 0.93, "brier": 0.171, "mean_return": 1.11,
                         "evidence_coverage": 0.31, "decision_utility": 0.41, "terminal_reward": 0.51},
           "after_grpo": {"decision_accuracy": 0.82, "report_rate": 0.96, "brier": 0.122, "mean_return": 1.32,
                          "evidence_coverage": 0.42, "decision_utility": 0.62, "terminal_reward": 0.72},
           "heuristic": {"decision_accuracy": 0.86, "report_rate": 0.99, "brier": 0.104, "mean_return": 1.37,
                         "evidence_coverage": 0.57, "decision_utility": 0.66, "terminal_reward": 0.77}}


def test_each_table_cell_reads_its_own_metric_and_agent():
    r = _results()
    r["_evidence"]["procedural-test"]["metrics"] = dict(AGENT_M)
    r["_evidence"]["procedural-test"]["vs_heuristic"] = {}
    t = table(r)
    assert "| after SFT warm-start | 0.71 | 0.93 | 0.171 | 1.11 | 0.31 |" in t
    assert "| after SFT + GRPO | 0.82 | 0.96 | 0.122 | 1.32 | 0.42 |" in t
    assert "| heuristic | 0.86 | 0.99 | 0.104 | 1.37 | 0.57 |" in t


def test_each_seeds_table_cell_reads_the_trained_agents_curated_and_twins_results():
    r = {**_results(), **{k: v for k, v in AGENT_M.items() if k != "heuristic"}}
    tw = {"twin_pairs": 50, "original_accuracy": 0.8, "twin_accuracy": 0.9, "same_decision_rate": 0.3}
    r["_evidence"]["curated"] = {"episodes": 20, "metrics": {**AGENT_M, "after_sft": {**AGENT_M["after_sft"], "decision_accuracy": 0.55}}}
    r["_evidence"]["procedural-test-twins"] = {"twins": {"after_sft": {**tw, "pair_accuracy": 0.44},
                                                         "after_grpo": {**tw, "pair_accuracy": 0.66},
                                                         "heuristic": {**tw, "pair_accuracy": 0.77}}}
    row = seeds_table([r]).splitlines()[2].split(" | ")
    assert row[2:4] == ["0.71 / 0.93 / 0.171 / 0.41", "0.82 / 0.96 / 0.122 / 0.62"]
    assert row[6] == "0.82 / 0.122" and row[-1] == "0.66 |"


def test_the_baseline_table_cells_are_accuracy_brier_and_mean_return():
    from drugenv.evaluation.baseline_table import VERY_HARD_ROW, render_table
    from drugenv.scenarios import CURATED_NAMES

    rows = {name: {"decision_accuracy": 0.1 + i / 100, "brier": 0.2 + i / 100, "mean_return": 0.3 + i / 100,
                   "terminal_reward": 0.4 + i / 100, "evidence_coverage": 0.5 + i / 100}
            for i, name in enumerate([*CURATED_NAMES, "procedural-test", VERY_HARD_ROW])}
    table_md = render_table({"agents": ["heuristic", "oracle"], "results": {
        "heuristic": rows, "oracle": {k: {**v, "mean_return": 0.9} for k, v in rows.items()}}}).splitlines()
    assert table_md[0] == "| scenario | heuristic | oracle |"
    assert table_md[-2] == "| procedural-test | 0.15 / 0.25 / 0.35 | 0.15 / 0.25 / 0.90 |"
    assert table_md[-1] == f"| {VERY_HARD_ROW} | 0.16 / 0.26 / 0.36 | 0.16 / 0.26 / 0.90 |"
