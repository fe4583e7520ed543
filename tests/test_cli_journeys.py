"""A new user's mistakes at the `drugenv` command line: each is one line on stderr (what, why, the fix) and
exit code 2, never a traceback, and it comes before Ray, SFT or a model starts (each run here takes seconds)."""

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]


def drugenv(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RUN_AGENT_MODEL_ID"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    return subprocess.run([sys.executable, "-m", "drugenv.cli", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def no_algo_overrides(tmp_path_factory) -> str:
    p = tmp_path_factory.mktemp("overrides") / "best.json"
    p.write_text(json.dumps({"training": {"lr": 1e-3}}), encoding="utf-8")
    return str(p)


JOURNEYS = [
    (["train", "rllib_configs/nope.py"], "not found"),
    (["train", "rllib_configs/grpo_tiny.py"], "did you mean rllib_configs/grpo_tiny_cpu?"),
    (["sweep", "tune_sweeps/curriculum", "--algo", "grpo_tiny"], "is no algorithm's name; expected one of ppo_vector, grpo_tiny_cpu (did you mean grpo_tiny_cpu?)"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "run.iteratons=1"], "did you mean run.iterations"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "training.lr=abc"], "training.lr='abc' has the wrong type"),
    (["train", "rllib_configs/ppo_vector.py", "--set", "model=3"], "must be a mapping"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--resume", "/nope"], "'/nope' does not exist"),
    (["train", "rllib_configs/ppo_vector.py", "--overrides", "/nope.json"], "does not exist"),
    (["train", "rllib_configs/ppo_vector.py", "--overrides", "rllib_configs"], "'rllib_configs' is a directory, not a JSON file"),
    (["train", "--overrides", "NO_ALGO"], "name no algo"),
    (["eval", "--agent", "heurstic"], "unknown agent 'heurstic'"),
    (["eval", "--agent", "checkpoint:/nope"], "'/nope' does not exist"),
    (["eval", "--episodes", "-1"], "--episodes -1 is out of range"),
    (["eval", "--agent", "hf", "--episodes", "1"], "--agent hf needs a model"),
    (["sweep", "tune_sweeps/reward_weights", "--num-samples", "0"], "--num-samples 0 is out of range"),
    (["serve", "--checkpoint", "/nope"], "'/nope' does not exist"),
    (["serve"], "pass --checkpoint PATH"),
    # values, not only keys and types, are checked before Ray or a model starts
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "run.iterations=-3"], "run.iterations=-3 must be >= 0"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "sft.expert=nosuch"], "sft.expert='nosuch' is unknown"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "training.scenario_suite=nosuch"], "scenario_suite='nosuch' is unknown"),
    (["train", "rllib_configs/ppo_vector.py", "--set", "training.train_batch_size_per_learner=0"], "training.train_batch_size_per_learner=0 must be a whole number >= 1"),
    # each was a traceback after Ray started, or silently accepted
    (["train", "rllib_configs/ppo_vector.py", "--set", "training.num_env_runners=2"], "unknown setting 'training.num_env_runners'"),
    (["train", "rllib_configs/ppo_vector.py", "--set", "run.iterations=0"], "run.iterations=0 must be >= 1"),
    (["train", "rllib_configs/ppo_vector.py", "--set", "run.eval_interval=0"], "run.eval_interval=0 must be a whole number >= 1"),
    (["train", "rllib_configs/ppo_vector.py", "--set", "model.fcnet_activation=bogus"], "Unknown activation (bogus)"),
    (["train", "rllib_configs/ppo_vector.py", "--set", "training.clip_param=-1"], "training.clip_param=-1 must be a finite number > 0"),
    (["train", "rllib_configs/ppo_vector.py", "--set", "env_runners.num_env_runners=-1"], "num_env_runners=-1 must be a whole number >= 0"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "model=tiny:bogus"], "is not a model this package builds"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "model=nonexistent/model"], "not in the local Hugging Face cache"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "model=tiny:L2H100"], "hidden must divide by heads"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "model=tiny:L0H128"], "both must be >= 1"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "training.dtype=bogus"], "dtype='bogus' is unknown"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "training.device=bogus"], "device='bogus' is unknown"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "sft.mode=bogus"], "sft.mode='bogus' is unknown"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "sft.select_by=bogus"], "sft.select_by='bogus' is unknown"),
    (["sweep", "tune_sweeps/reward_weights", "--algo", "grpo_tiny_cpu"], "has no GRPO search space"),
    # output paths are checked before the work that fills them
    (["train", "rllib_configs/ppo_vector.py", "--out", "A_FILE"], "is a file; pass a directory"),
    (["eval", "--episodes", "1", "--out", "A_FILE/eval.json"], "is a file, so no folder can be made under it"),
    (["sweep", "tune_sweeps/reward_weights", "--out", "A_FILE"], "is a file; pass a directory"),
    (["eval", "--agent", "random", "--extra", "seed", "3"], "--extra seed: set --seed instead"),
    (["eval", "--agent", "heuristic", "--extra", "depth", "3"], "does not take --extra depth"),
    (["eval", "--agent", "hf", "--model", "tiny", "--adapter", "/nope", "--episodes", "1"], "adapter path '/nope' does not exist"),
    (["serve-env", "--port", "70000"], "--port must be 0-65535"),
    (["serve-env", "--log-level", "bogus"], "--log-level must be one of"),
    (["serve-env", "--seal", ""], "--seal is empty"),
    (["serve", "--checkpoint", "/nope", "--port", "70000"], "--port must be 1-65535, got 70000"),
    (["eval", "--suite", "procedural-train", "--seed", "999999", "--episodes", "2"], "runs past the train seeds"),
    (["eval", "--agent", "random", "--extra", "submit_prob", "abc"], "submit_prob must be a number in [0, 1], got 'abc'"),
    (["eval", "--episodes", "1", "--out", "/tmp/" + "a" * 300 + ".json"], "cannot be written: File name too long"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "run.eval_suite=nope"], "run.eval_suite='nope' is unknown"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "model=/nope/model"], "model='/nope/model' does not exist"),
    (["train", "rllib_configs/ppo_vector.py", "--set", "env_config.suite=nope"], "env_config: suite 'nope' is unknown"),
    # training on the held-out split made every held-out number a training number, without a word
    (["train", "rllib_configs/ppo_vector.py", "--set", "env_config.suite=procedural-test"], "is the held-out split"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "training.scenario_suite=procedural-test"], "is the held-out split"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "sft.suite=procedural-test-twins"], "is the held-out split"),
    # the gym env's keys a config file leaves out are settable, and a typo lists them
    (["train", "rllib_configs/ppo_vector.py", "--set", "env_config.scenarioo=x"], "did you mean env_config.scenario?"),
    (["train", "rllib_configs/ppo_vector.py", "--set", "env_config.scenario=nope"], "env_config: scenario 'nope' is unknown"),
    # --extra an agent does not take was dropped (a PPO checkpoint) or a traceback (hf, a GRPO checkpoint)
    (["eval", "--agent", "hf", "--model", "tiny", "--extra", "foo", "1"], "agent 'hf' does not take --extra foo; it takes temperature"),
    (["eval", "--agent", "checkpoint:GRPO_CHECKPOINT", "--extra", "foo", "1"], "takes --extra device, dtype, batch_size only, not foo"),
    # a GRPO run's folder is its checkpoint_final (it has a learner_group/ too, and was read as a PPO one)
    (["eval", "--agent", "checkpoint:GRPO_RUN", "--extra", "foo", "1"], "takes --extra device, dtype, batch_size only, not foo"),
    (["eval", "--agent", "checkpoint:", "--episodes", "1"], "checkpoint path is empty"),
    (["train", "BAD_PY"], "line 1: SyntaxError: '(' was never closed"),
    (["sweep", "RAISING_PY"], "line 2: RuntimeError: boom (while importing it)"),
    (["eval", "--agent", "checkpoint:CORRUPT_CHECKPOINT", "--episodes", "1"], "drugenv_checkpoint.json is not readable JSON"),
    (["eval", "--agent", "checkpoint:LIST_CHECKPOINT", "--episodes", "1"], "holds a JSON list, not the object"),
    (["serve", "--checkpoint", "CORRUPT_ADAPTER"], "adapter_config.json is not readable JSON"),
    (["dashboard", "--stale-after", "-5"], "--stale-after must be > 0 seconds (and finite), got -5.0"),
    # NaN passed every comparison: the live views' streams died on it, every run read as stopped
    (["dashboard", "--poll", "nan"], "--poll must be > 0 and at most 3600 seconds, got nan"),
    (["dashboard", "--stale-after", "nan"], "--stale-after must be > 0 seconds (and finite), got nan"),
    (["dashboard", "--step-delay", "inf"], "--step-delay must be >= 0 and at most 3600 seconds, got inf"),
    (["run-agent", "--episodes", "0"], "--episodes 0 is out of range"),
    (["run-agent", "--model", "tiny", "--temperature", "-1"], "temperature >= 0"),
    (["run-agent", "--model", "/nope/model", "--quiet"], "model path '/nope/model' does not exist"),
    # nested past the JSON decoder's recursion limit: a RecursionError traceback (no ValueError)
    (["train", "rllib_configs/ppo_vector.py", "--overrides", "DEEP_JSON"], "is not valid JSON (nested too deeply)"),
    (["train", "rllib_configs/ppo_vector.py", "--set", "run.iterations=" + "[" * 5000],
     "--set run.iterations=...: the value is nested too deeply"),
    (["eval", "--episodes", "1", "--agent", "random", "--extra", "submit_prob", "[" * 5000],
     "submit_prob must be a number in [0, 1], got '[[["),
    # urllib's ValueError traceback, after the model had loaded
    (["run-agent", "--model", "/nope/model", "--base-url", "http://[::1"],
     "--base-url: base_url='http://[::1' is not a URL the client can connect to (Invalid IPv6 URL)"),
    # from the bad-input audit: each was a traceback, a hang, or a check after the model loaded
    (["serve-env", "--workers", "2", "--max-sessions", "0"], "--max-sessions must be >= 1"),  # uvicorn respawned workers for ever
    (["serve-env", "--max-message-bytes", "10"], "--max-message-bytes must be >= 1024"),
    (["serve-env", "--env-threads", "-1"], "--env-threads must be >= 0"),
    # from the second server audit: a traceback for a host the IDNA codec cannot encode, and for IPv6 under
    # granian's port 0; an empty host (an unset variable) bound every interface without a word
    (["serve-env", "--port", "0", "--host", "é" * 70], "the host is not a name or an address"),
    (["dashboard", "--port", "1", "--host", "é" * 70], "the host is not a name or an address"),
    (["serve-env", "--port", "0", "--host", ""], "--host is empty"),
    (["serve-env", "--send-timeout-s", "0"], "--send-timeout-s must be a finite number of seconds > 0"),
    (["serve-env", "--send-timeout-s", "inf"], "--send-timeout-s must be a finite number of seconds > 0"),
    (["serve-env", "--body-timeout-s", "0"], "--body-timeout-s must be a finite number of seconds > 0"),
    (["serve-env", "--allowed-hosts"], "--allowed-hosts needs at least one name"),
    (["eval", "--episodes", "99999999999999999999"], "at most 1,000,000 per run"),  # the episode list took every byte
    (["eval", "--suite", "procedural-test", "--seed", "9223372036854775000", "--episodes", "1"], "runs past the last seed"),
    (["run-agent", "--model", "tiny", "--temperature", "nan"], "need finite numbers"),
    (["eval", "--agent", "hf", "--model", "tiny", "--extra", "temperature", "abc", "--episodes", "1"], "need finite numbers"),
    (["run-agent", "--model", "tiny", "--scenario", "nope"], "unknown scenario 'nope'"),
    (["run-agent", "--model", "tiny", "--difficulty", "ultra"], "--difficulty 'ultra' is unknown"),
    (["run-agent", "--model", "/nope/model", "--seed", "9223372036854775807", "--episodes", "2"], "runs past the last seed"),
    (["eval", "--agent", "checkpoint:GONE_BASE_CHECKPOINT", "--episodes", "1"], "its base model '/nonexistent/sft_model' does not exist"),
    (["serve", "--model", "tiny", "--num-gpus", "nan"], "must be a finite number >= 0"),
    (["serve", "--model", "/nonexistent/model"], "is not a model directory here"),
    (["eval", "--agent", "heuristic", "--adapter", "/nonexistent", "--episodes", "1"], "--adapter is read by --agent hf only"),
    (["eval", "--episodes", "1", "--out", ""], "--out is empty"),
    # an unset shell variable: train fell back to runs/<config> and wiped that run, sweep wrote into the current folder
    (["train", "rllib_configs/ppo_vector.py", "--out", ""], "--out is empty: pass a folder, or leave --out out"),
    (["train", "rllib_configs/ppo_vector.py", "--out", " "], "--out is empty: pass a folder, or leave --out out"),
    (["sweep", "tune_sweeps/reward_weights", "--out", ""], "--out is empty: pass a folder, or leave --out out"),
    # a symbolic link to nowhere: eval played every episode and then failed, train a FileExistsError traceback
    (["eval", "--episodes", "1", "--out", "DANGLING_FILE"], "and DANGLING_TARGET does not exist: make it, or pass another path"),
    (["train", "rllib_configs/ppo_vector.py", "--out", "DANGLING_DIR"], "does not exist: make it, or pass another path"),
    (["train", "README.md"], "is not a Python config file"),
    # settings read only minutes into a run (after Ray and the "before" evaluation), or never failing at all
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "sft.schedule=bogus"], "sft.schedule='bogus' must be 'constant' or 'cosine'"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "run.eval_max_steps=0"], "run.eval_max_steps=0 must be a whole number >= 1"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "training.lora_r=-4"], "training.lora_r=-4 must be a whole number >= 1"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "seed=-1"], "seed must be an integer >= 0, got -1"),
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "sft.candidates=2"],
     "sft.candidates > 1 chooses on the run's validation episodes"),  # was raised after Ray, a model and an evaluation
    (["train", "rllib_configs/grpo_tiny_cpu.py", "--set", "sft.select_metric=bogus"], "sft.select_metric='bogus' is unknown"),
    (["train", "rllib_configs/ppo_vector.py", "--set", "training.lambda_=2"], "training.lambda_=2 must be a number in [0, 1]"),
]


@pytest.fixture(scope="module")
def a_file(tmp_path_factory) -> str:
    p = tmp_path_factory.mktemp("outputs") / "a_file"
    p.write_text("", encoding="utf-8")
    return str(p)


@pytest.fixture(scope="module")
def broken_files(tmp_path_factory) -> dict[str, str]:
    """Files a user can get wrong: a config that does not parse, one that raises, checkpoints whose JSON is not
    what a run writes (each was a traceback)."""
    root = tmp_path_factory.mktemp("broken")
    (root / "bad.py").write_text("x = (\n", encoding="utf-8")
    (root / "raising.py").write_text("import os\nraise RuntimeError('boom')\n", encoding="utf-8")
    for name, meta in (("corrupt", "{bad"), ("list", "[1]"), ("grpo", '{"algo": "grpo"}')):
        (root / name).mkdir()
        (root / name / "drugenv_checkpoint.json").write_text(meta, encoding="utf-8")
    (root / "grpo_run" / "checkpoint_final" / "learner_group").mkdir(parents=True)
    (root / "grpo_run" / "checkpoint_final" / "drugenv_checkpoint.json").write_text('{"algo": "grpo"}', encoding="utf-8")
    (root / "gone_base").mkdir()  # a run whose sft_model/ was deleted
    (root / "gone_base" / "drugenv_checkpoint.json").write_text('{"algo": "grpo", "model": "/nonexistent/sft_model"}', encoding="utf-8")
    (root / "adapter").mkdir()
    (root / "adapter" / "adapter_config.json").write_text("{bad", encoding="utf-8")
    (root / "deep.json").write_text("[" * 5000, encoding="utf-8")  # nested past the JSON decoder's recursion limit
    (root / "dangling_file").symlink_to(root / "nowhere" / "r.json")
    (root / "dangling_dir").symlink_to(root / "nowhere" / "run")
    return {"DEEP_JSON": str(root / "deep.json"), "BAD_PY": str(root / "bad.py"), "RAISING_PY": str(root / "raising.py"), "CORRUPT_CHECKPOINT": str(root / "corrupt"),
            "LIST_CHECKPOINT": str(root / "list"), "GRPO_CHECKPOINT": str(root / "grpo"), "GRPO_RUN": str(root / "grpo_run"), "CORRUPT_ADAPTER": str(root / "adapter"),
            "GONE_BASE_CHECKPOINT": str(root / "gone_base"), "DANGLING_FILE": str(root / "dangling_file"),
            "DANGLING_TARGET": str(root / "nowhere"), "DANGLING_DIR": str(root / "dangling_dir")}


def _uninstalled_extra_named(line: str) -> bool:
    """Whether ``line`` reports a missing extra whose package is really not installed here (on a smaller
    install that comes before the mistake a journey makes: ``tests/test_extras.py``)."""
    named = re.search(r"error: ([\w.-]+)(?:\[[^\]]*\])? is not installed; install it with: pip install 'drugenv\[", line)
    return named is not None and importlib.util.find_spec(named.group(1).lower().replace("-", "_")) is None


@pytest.fixture(scope="module")
def journey_runs(request, no_algo_overrides, a_file, broken_files) -> Iterator[dict[tuple[str, ...], Future]]:
    """The run of every journey this session tests, started side by side, a process each as a user's command
    is: most are ``drugenv train``, whose config imports RLlib and torch (~4 s of CPU before its one line), and
    one at a time they took ~2.5 min. As many at once as there are cores (four at most: each is ~0.4 GB)."""
    def path(a: str) -> str:
        for name, value in broken_files.items():
            a = a.replace(name, value)
        return no_algo_overrides if a == "NO_ALGO" else a.replace("A_FILE", a_file)

    argvs = [tuple(item.callspec.params["argv"]) for item in request.session.items
             if item.originalname == "test_mistake_is_one_line_and_exit_code_2"]
    with ThreadPoolExecutor(max_workers=min(4, len(os.sched_getaffinity(0)))) as pool:
        yield {argv: pool.submit(drugenv, *map(path, argv)) for argv in argvs}


@pytest.mark.parametrize("argv,message", JOURNEYS, ids=[" ".join(a)[:60] for a, _ in JOURNEYS])
def test_mistake_is_one_line_and_exit_code_2(argv, message, journey_runs, broken_files):
    run = journey_runs[tuple(argv)].result()
    for name, value in broken_files.items():  # a message may name a file too
        message = message.replace(name, value)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2, run.stderr[-2000:]
    assert "Traceback" not in run.stderr and len(lines) == 1, run.stderr[-2000:]
    if _uninstalled_extra_named(lines[0]):
        message = "is not installed"
    assert lines[0].startswith(f"drugenv {argv[0]}: error: ") and message in lines[0], lines[0]


def test_serve_checkpoint_without_adapter_says_so(tmp_path):
    pytest.importorskip("ray.serve")
    run = drugenv("serve", "--checkpoint", str(tmp_path))
    assert run.returncode == 2 and "holds no LoRA adapter" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("module,argv,message", [
    ("drugenv.server", ["--port", "70000"], "--port must be 0-65535"),
    ("drugenv.llm.run_agent", ["--episodes", "0"], "--episodes 0 is out of range"),
    # skipped drugenv train's checks (a misspelt key was a ValueError traceback)
    ("drugenv.training.ppo", ["--iterations", "0"], "run.iterations=0 must be >= 1"),
    ("drugenv.training.ppo", ["--config", "rllib_configs/grpo_tiny_cpu"], "is a grpo config"),
])
def test_python_m_entry_points_report_mistakes_as_the_cli_does(module, argv, message):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-m", module, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"python -m {module}: error: ") and message in last, run.stderr


def test_the_sft_demo_answers_help_without_training():
    """``python -m drugenv.llm.sft --help`` took no arguments at all: it built the tiny model and started its
    300-step demo."""
    pytest.importorskip("torch")
    run = subprocess.run([sys.executable, "-m", "drugenv.llm.sft", "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0 and "--steps INT" in run.stdout and "--suite STR" in run.stdout, run.stderr[-2000:]


def test_the_sft_demo_refuses_an_out_it_cannot_make_before_training(tmp_path):
    """``--out afile/model`` trained for minutes, then failed with NotADirectoryError."""
    pytest.importorskip("torch")
    (tmp_path / "afile").write_text("", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "drugenv.llm.sft", "--out", str(tmp_path / "afile" / "model")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert run.stderr.strip() == (f"python -m drugenv.llm.sft: error: --out {tmp_path / 'afile' / 'model'}: "
                                  f"{tmp_path / 'afile'} is a file, so no folder can be made under it"), run.stderr


def test_cuda_asked_for_where_there_is_none_is_one_line():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    run = drugenv("run-agent", "--model", "tiny", "--device", "cuda", "--episodes", "1", "--max-steps", "1", "--dashboard-path", "")
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert lines[-1] == "drugenv run-agent: error: device='cuda' is not available here (this torch has no CUDA); use 'auto' or 'cpu'"


def test_extra_values_reach_the_agent_as_numbers(tmp_path):
    """``--extra submit_prob 0.5`` was the text '0.5', compared with a float mid-run (a traceback)."""
    out = tmp_path / "eval.json"
    run = drugenv("eval", "--agent", "random", "--extra", "submit_prob", "1", "--episodes", "3", "--no-progress", "--out", str(out))
    assert run.returncode == 0, run.stderr[-2000:]
    assert [r["steps"] for r in json.loads(out.read_text(encoding="utf-8"))["records"]] == [1, 1, 1]  # submits at once, every time


def test_port_0_is_told_at_the_default_log_level():
    """``--port 0`` picks a free port; uvicorn says which only at ``--log-level info``."""
    import httpx

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "drugenv.cli", "serve-env", "--port", "0"], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            found = re.search(r"--port 0 is port (\d+): http://127\.0\.0\.1:(\d+)", line)
            if found:
                break
        assert found and found.group(1) == found.group(2)
        for _ in range(100):
            try:
                assert httpx.get(f"http://127.0.0.1:{found.group(1)}/health").json()["status"] == "healthy"
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("the port told is not served")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_ctrl_c_stops_serve_env_without_a_traceback():
    import signal

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "drugenv.cli", "serve-env", "--port", "0", "--log-level", "info"], cwd=ROOT,
                            env=env, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stderr:  # uvicorn logs its address once it listens
            lines.append(line)
            if "Uvicorn running on http://127.0.0.1:" in line:
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in "".join(lines) + rest, "".join(lines) + rest
    assert "Finished server process" in rest
