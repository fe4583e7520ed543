"""How a sweep ranks its trials and what it writes for the best one, without Ray: NaN last, the
sweep's mode, and a best_config.json that is the best trial's settings with the iterations it ran."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

pytest.importorskip("ray.rllib")

from drugenv.errors import ConfigError  # noqa: E402
from drugenv.training.configs import merge  # noqa: E402
from drugenv.tuning.sweep import _finish, load_rllib_config_for  # noqa: E402


class _Results(list):
    """What ``_finish`` reads of Tune's ResultGrid: its trials, how many ended and how many failed."""

    def __init__(self, trials: int, ended: int, errors: int = 0):
        super().__init__(range(trials))
        self.num_terminated, self.num_errors, self.errors = ended, errors, []


def _row(value: float, w: float, iterations: int) -> dict:
    overrides = {"env_config": {"reward_config": {"w_decision": w}}}
    return {"trial_id": f"t{w}", "eval_rounds": 2, "ppo_iterations": iterations, "heldout/brier": value,
            "config.env_config.reward_config.w_decision": w, "_overrides": overrides, "_base": {}}


@pytest.mark.parametrize("mode, order", [("min", [0.3, 0.5, 0.9]), ("max", [0.9, 0.5, 0.3])])
def test_trials_rank_by_the_sweeps_mode_with_nan_last_and_the_best_is_retrainable(tmp_path, mode, order):
    sweep = SimpleNamespace(NAME="ranking", METRIC="heldout/brier", MODE=mode, KEY_PARAMS=())
    rows = [_row(0.20, 0.5, 6), _row(float("nan"), 0.7, 6), _row(0.10, 0.3, 4), _row(0.30, 0.9, 6)]
    out = _finish(sweep, "ppo_vector", rows, _Results(4, 4), tmp_path, "heldout/brier")
    ranked = [r["config.env_config.reward_config.w_decision"] for r in out["table"]]
    assert ranked[:3] == order and ranked[3] == 0.7 and math.isnan(out["table"][3]["heldout/brier"])
    best = json.loads((tmp_path / "best_config.json").read_text(encoding="utf-8"))
    mod = load_rllib_config_for("ppo_vector")
    expected = mod.settings(merge({}, out["best"]["_overrides"]))
    expected["run"]["iterations"] = out["best"]["ppo_iterations"]  # what the trial ran (ASHA may cut it short)
    assert {k: v for k, v in best.items() if k not in ("algo", "config")} == json.loads(json.dumps(expected))
    assert best["algo"] == mod.ALGO and best["env_config"]["reward_config"]["w_decision"] == order[0]
    assert json.loads((tmp_path / "best_trial.json").read_text(encoding="utf-8"))["mode"] == mode


def test_an_interrupted_sweep_writes_nothing_and_a_new_one_clears_the_last(tmp_path, capsys):
    """Ctrl-C: Tune stops its trials and returns, and the sweep wrote its partial results as if complete (or, with
    none, raised 'no trial reported'); the last sweep's files stayed beside them, read as current."""
    from drugenv.tuning.sweep import OUTPUTS, _fresh_sweep_dir

    sweep = SimpleNamespace(NAME="ranking", METRIC="heldout/brier", MODE="min", KEY_PARAMS=())
    with pytest.raises(KeyboardInterrupt):
        _finish(sweep, "ppo_vector", [_row(0.2, 0.5, 6)], _Results(3, 1), tmp_path, "heldout/brier")
    assert "2 of 3 trials unfinished" in capsys.readouterr().err and not (tmp_path / "results.csv").exists()
    _finish(sweep, "ppo_vector", [_row(0.2, 0.5, 6)], _Results(1, 1), tmp_path, "heldout/brier")
    (tmp_path / "tune").mkdir()
    (tmp_path / "base_model").mkdir()
    assert _fresh_sweep_dir(tmp_path) == tmp_path
    assert not any((tmp_path / name).exists() for name in OUTPUTS) and (tmp_path / "base_model").is_dir()


def test_a_second_sweep_into_a_folder_another_sweep_writes_is_refused_before_ray(tmp_path, monkeypatch, capsys,
                                                                                held_elsewhere):
    """Two drugenv sweep into one --out mixed their trials in one Tune experiment and wrote each other's results."""
    import drugenv.training.configs as configs
    from drugenv.cli import main
    from drugenv.tuning.sweep import load_sweep, run_sweep

    def no_ray(num_cpus):
        raise AssertionError("Ray started")

    monkeypatch.setattr(configs, "init_ray", no_ray)
    folder = tmp_path / "reward_weights"
    (folder / "tune").mkdir(parents=True)
    pid = held_elsewhere(folder)
    assert main(["sweep", "tune_sweeps/reward_weights", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"drugenv sweep: error: --out {folder} is being written by another run or sweep (process {pid}, "
                   f"which holds .drugenv.lock there): wait for it to end, or pass another --out"]
    with pytest.raises(ConfigError, match=f"process {pid}"):
        run_sweep(load_sweep("tune_sweeps/reward_weights"), out=tmp_path)
    assert (folder / "tune").is_dir()  # the other sweep's experiment stays


def test_a_failed_trial_is_named_never_ranked_best_and_a_sweep_of_failures_is_one_line(tmp_path, capsys):
    """A trial that raised after it reported was ranked first and written to best_config.json, and failed trials were
    otherwise silent (Tune's 90-line traceback aside); with every trial failed, a RuntimeError holding two tracebacks
    with terminal colours (an audit)."""
    from drugenv.tuning.sweep import SweepFailedError

    sweep = SimpleNamespace(NAME="ranking", METRIC="heldout/brier", MODE="min", KEY_PARAMS=())
    crashed = {**_row(0.05, 0.6, 2), "status": "error"}
    results = _Results(3, 2, errors=1)
    results.errors = [RuntimeError("Traceback ...\n  File x\n\x1b[36mRuntimeError: injected crash after round 2\x1b[0m\n")]
    out = _finish(sweep, "ppo_vector", [crashed, {**_row(0.2, 0.5, 6), "status": "ok"}, {**_row(0.1, 0.3, 6), "status": "ok"}],
                  results, tmp_path, "heldout/brier")
    assert [r["config.env_config.reward_config.w_decision"] for r in out["table"]] == [0.3, 0.5, 0.6]
    assert json.loads((tmp_path / "best_config.json").read_text(encoding="utf-8"))["env_config"]["reward_config"]["w_decision"] == 0.3
    err = capsys.readouterr().err
    assert "sweep ranking: a trial failed: RuntimeError: injected crash after round 2\n" in err
    assert "1 of 3 trials failed" in err and "\x1b" not in err
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| trial_id | status |" in md and md.rstrip().splitlines()[-1].startswith("| t0.6 | error |")
    with pytest.raises(SweepFailedError, match=r"every trial failed \(1 of 1\), none reported heldout/brier; the first: "
                                               r"RuntimeError: injected crash after round 2 \(Tune's logs"):
        failed = _Results(1, 0, errors=1)
        failed.errors = results.errors
        _finish(sweep, "ppo_vector", [], failed, tmp_path, "heldout/brier")


def test_a_sweep_file_names_a_metric_its_trials_report(tmp_path):
    """METRIC = "heldout/accuracy" was found out by Tune after Ray started and the first trial trained (a traceback)."""
    from drugenv.tuning.sweep import load_sweep

    f = tmp_path / "bad_metric.py"
    f.write_text('NAME = "bad"\nMETRIC = "heldout/accuracy"\nMODE = "max"\n\ndef search_space():\n    return {}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="METRIC must be one of heldout/decision_accuracy, .*got 'heldout/accuracy'"):
        load_sweep(f)


def test_ctrl_c_and_sigterm_during_tunes_fit_stop_the_sweep_even_where_tune_catches_them(monkeypatch):
    """Tune's own Ctrl-C handler ended the experiment and returned its trials as if finished (an audit: 3 of 8 trials
    written as the results, exit 0), and a SIGTERM read as Ctrl-C (exit 130, not 143), also where Ray's C++ wait turns
    the handler's exception into a plain KeyboardInterrupt (a later audit: `drugenv sweep` SIGTERMed exited 130)."""
    import os
    import signal

    from drugenv.errors import Terminated
    from drugenv.tuning.sweep import _fit

    class Tuner:
        def __init__(self, signum, swallow):
            self.signum, self.swallow, self.env = signum, swallow, None

        def fit(self):
            self.env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
            try:
                os.kill(os.getpid(), self.signum)
                signal.sigtimedwait([], 0.01) if hasattr(signal, "sigtimedwait") else None
            except BaseException:
                if self.swallow == "as Ray's wait does":  # ray._raylet.check_status raises its own KeyboardInterrupt
                    raise KeyboardInterrupt from None
                if not self.swallow:
                    raise
            return "partial results"

    monkeypatch.delenv("TUNE_DISABLE_SIGINT_HANDLER", raising=False)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    for signum, raised in ((signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)):
        for swallow in (False, True, "as Ray's wait does"):
            tuner = Tuner(signum, swallow)
            with pytest.raises(raised) as e:
                _fit(tuner)
            assert (type(e.value) is Terminated) == (signum == signal.SIGTERM)
            assert tuner.env == "1" and "TUNE_DISABLE_SIGINT_HANDLER" not in os.environ
            assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert _fit(SimpleNamespace(fit=lambda: "all trials")) == "all trials"


def test_sweep_flags_refused_before_ray_and_the_module_entry_point_is_one_line(monkeypatch):
    """--train-batch-size with a GRPO algo was refused after Ray had started; python -m drugenv.tuning.sweep, which the
    docs give as the same command, printed tracebacks for a mistake."""
    import subprocess
    import sys

    import drugenv.training.configs as configs
    from drugenv.tuning.sweep import SweepArgs, sweep_main

    monkeypatch.setattr(configs, "init_ray", lambda *a, **k: pytest.fail("Ray started"))
    with pytest.raises(ConfigError, match="--train-batch-size is PPO's"):
        sweep_main(SweepArgs(sweep="tune_sweeps/curriculum", algo="grpo_tiny_cpu", train_batch_size=100))
    proc = subprocess.run([sys.executable, "-m", "drugenv.tuning.sweep", "tune_sweeps/nope"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("python -m drugenv.tuning.sweep: error: 'tune_sweeps/nope' not found")
