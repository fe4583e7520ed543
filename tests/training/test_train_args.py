"""`drugenv train` argument checks (before Ray or a model starts): --set keys and types, --overrides, --resume."""

import json
from pathlib import Path

import pytest

from drugenv.errors import ConfigError
from drugenv.training.cli import TrainArgs, check_args, check_overrides

ROOT = Path(__file__).resolve().parents[2]
GRPO = str(ROOT / "rllib_configs" / "grpo_tiny_cpu.py")
PPO = str(ROOT / "rllib_configs" / "ppo_vector.py")


def test_check_overrides_keys_and_types():
    defaults = {"run": {"iterations": 10, "suite": "x", "flag": True}, "training": {"lr": 1e-3, "hidden": [64]}, "seed": 0,
                "extra": {}, "maybe": None}
    check_overrides(defaults, {"algo": "a", "run": {"iterations": 2, "suite": 3, "flag": False}, "training": {"lr": 1},
                               "extra": {"anything": 1}, "maybe": {"k": 1}, "seed": 3})
    for bad, words in (({"run": {"iteratons": 1}}, "did you mean run.iterations"), ({"training": {"lr": "abc"}}, "a number"),
                       ({"run": {"iterations": 2.5}}, "an integer"), ({"run": {"flag": 1}}, "true or false"),
                       ({"training": {"hidden": 64}}, "a list"), ({"run": 3}, "must be a mapping"), ({"nope": 1}, "top level")):
        with pytest.raises(ConfigError, match=words):
            check_overrides(defaults, bad)


def test_check_args_accepts_rllib_knobs_and_reward_fields():
    _, overrides = check_args(TrainArgs(config=PPO, set=["training.use_kl_loss=true", "env_config.reward_config.w_decision=2"]))
    assert overrides["training"]["use_kl_loss"] is True
    check_args(TrainArgs(config=GRPO, set=["training.reward_config.novelty_bonus=0.5", "training.drop_zero_std_groups=false"]))
    with pytest.raises(ConfigError, match="training.nope_knob"):
        check_args(TrainArgs(config=PPO, set=["training.nope_knob=1"]))


def test_overrides_file_names_the_algo(tmp_path):
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"algo": "ppo_vector", "training": {"lr": 1e-3}}), encoding="utf-8")
    module, overrides = check_args(TrainArgs(overrides=str(best)))
    assert module.ALGO == "ppo_vector" and overrides["training"]["lr"] == 1e-3
    best.write_text(json.dumps({"algo": "grpo", "training": {}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="pass the config file"):
        check_args(TrainArgs(overrides=str(best)))
    best.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        check_args(TrainArgs(config=PPO, overrides=str(best)))


def test_an_overrides_file_names_only_a_config_a_sweep_writes(tmp_path):
    """An overrides file is settings (a colleague's best_config.json), and its ``config`` was imported whatever
    Python file it named: the file ran before any check."""
    ran = tmp_path / "ran"
    code = tmp_path / "helper.py"
    code.write_text(f"open({str(ran)!r}, 'w').close()\n", encoding="utf-8")
    best = tmp_path / "best_config.json"
    best.write_text(json.dumps({"algo": "ppo_vector", "config": str(code), "training": {"lr": 1e-3}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="an overrides file is settings, and a config file is code"):
        check_args(TrainArgs(overrides=str(best)))
    assert not ran.exists()
    best.write_text(json.dumps({"algo": "ppo_vector", "config": "rllib_configs/ppo_vector.py", "training": {"lr": 1e-3}}),
                    encoding="utf-8")  # as a sweep writes it
    assert check_args(TrainArgs(overrides=str(best)))[0].ALGO == "ppo_vector"
    with pytest.raises(ConfigError, match="must define ALGO"):  # a config named on the command line is code, and runs
        check_args(TrainArgs(config=str(code), overrides=str(best)))
    assert ran.exists()


def test_agent_io_comes_from_the_command_line_and_must_import(tmp_path):
    """``training.agent_io`` names code every env runner imports: an overrides file (settings) set it unchecked, and a
    name that did not import failed in the env runners, after Ray and the model had started."""
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"training": {"agent_io": "drugenv.training.env_runner:ChatAgentIO"}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="overrides file sets training.agent_io"):
        check_args(TrainArgs(config=GRPO, overrides=str(best)))
    with pytest.raises(ConfigError, match="training.agent_io 'no_such_mod:X' does not import"):
        check_args(TrainArgs(config=GRPO, set=["training.agent_io=no_such_mod:X"]))
    with pytest.raises(ConfigError, match="does not import .AttributeError"):
        check_args(TrainArgs(config=GRPO, set=["training.agent_io=drugenv.training.env_runner:NoSuchIO"]))
    _, overrides = check_args(TrainArgs(config=GRPO, set=["training.agent_io=drugenv.training.env_runner:ChatAgentIO"]))
    assert overrides["training"]["agent_io"] == "drugenv.training.env_runner:ChatAgentIO"


def test_a_config_is_found_by_its_bare_name_and_a_typo_gets_a_suggestion(tmp_path, monkeypatch):
    """``drugenv train grpo_tiny_cpu`` said "not found (looked for grpo_tiny_cpu.py)", where ``drugenv sweep
    --algo`` takes that very name; a near miss suggested ppo_vector, whatever it was near."""
    from drugenv.training.configs import load_rllib_config

    monkeypatch.chdir(tmp_path)  # not the repository: the names are found from it all the same
    assert Path(load_rllib_config("grpo_tiny_cpu").__file__) == Path(GRPO)
    with pytest.raises(ConfigError, match=r"did you mean rllib_configs/grpo_tiny_cpu\?"):
        load_rllib_config("rllib_configs/grpo_tiny")
    with pytest.raises(ConfigError, match=r"not found \(looked for zzz.py\); e.g. rllib_configs/ppo_vector"):
        load_rllib_config("zzz")


def test_resume_is_checked_first(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        check_args(TrainArgs(config=GRPO, resume=str(tmp_path / "nope")))
    with pytest.raises(ConfigError, match="not a GRPO checkpoint"):
        check_args(TrainArgs(config=GRPO, resume=str(tmp_path)))
    with pytest.raises(ConfigError, match="not an RLlib PPO checkpoint"):
        check_args(TrainArgs(config=PPO, resume=str(tmp_path)))
    # A run's folder stands for its checkpoint_final (tests/tuning/test_ppo_train_eval.py for PPO's).
    (tmp_path / "checkpoint_final").mkdir()
    (tmp_path / "checkpoint_final" / "drugenv_checkpoint.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"checkpoint_final: its drugenv_checkpoint.json names no model"):
        check_args(TrainArgs(config=GRPO, resume=str(tmp_path)))


def test_resume_of_an_unfinished_run_names_its_newest_checkpoint(tmp_path):
    """A run stopped before checkpoint_final: --resume of its folder said it was 'not a GRPO checkpoint'."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "settings.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="did not finish .* it wrote no checkpoint to continue"):
        check_args(TrainArgs(config=GRPO, resume=str(run)))
    for it in (1, 2):
        (run / f"checkpoint_iter_000{it}").mkdir()
        (run / f"checkpoint_iter_000{it}" / "drugenv_checkpoint.json").write_text("{}", encoding="utf-8")
    (run / "checkpoint_iter_0003.tmp").mkdir()  # a checkpoint being written when the run stopped
    (run / "checkpoint_iter_0003.tmp" / "drugenv_checkpoint.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"continue it from its newest checkpoint: --resume {run / 'checkpoint_iter_0002'}$"):
        check_args(TrainArgs(config=PPO, resume=str(run)))


def test_an_existing_output_folder_that_cannot_be_written_is_refused_before_ray(tmp_path, monkeypatch):
    """--out naming an existing read-only folder passed (its parent was tested), and the run failed after Ray
    started, in a PermissionError traceback."""
    import os

    from drugenv.cli import check_output_path

    folder = tmp_path / "ro"
    folder.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == folder else real(p, mode))
    with pytest.raises(ConfigError, match=f"{folder} is not writable"):
        check_output_path(folder, "--out", directory=True)
    (tmp_path / "rw").mkdir()
    check_output_path(tmp_path / "rw", "--out", directory=True)  # the control: an existing writable folder


def test_resume_keeps_the_checkpoints_adapter_and_algo(tmp_path):
    """Another LoRA rank on --resume was a tensor-size traceback after Ray started (another alpha or target
    list changed the policy silently); a GRPO checkpoint given to the PPO config was an optimizer traceback."""
    ckpt = tmp_path / "checkpoint_final"
    ckpt.mkdir()
    (ckpt / "drugenv_checkpoint.json").write_text(json.dumps({
        "algo": "grpo", "model": "tiny", "settings": {"training": {"lora_r": 16, "lora_alpha": 32, "lora_target_modules": ["q_proj"]}}}), encoding="utf-8")
    check_args(TrainArgs(config=GRPO, resume=str(ckpt), set=["training.lora_target_modules=['q_proj']"]))
    for bad, match in (("training.lora_r=8", r"training.lora_r=8 \(the checkpoint's: 16\)"),
                       ("training.lora_alpha=64", r"training.lora_alpha=64 \(the checkpoint's: 32\)")):
        with pytest.raises(ConfigError, match="keeps the checkpoint's LoRA adapter, and this one sets " + match):
            check_args(TrainArgs(config=GRPO, resume=str(ckpt), set=[bad, "training.lora_target_modules=['q_proj']"]))
    with pytest.raises(ConfigError, match="lora_target_modules"):  # the config's default list is not the checkpoint's
        check_args(TrainArgs(config=GRPO, resume=str(ckpt)))
    (ckpt / "drugenv_checkpoint.json").write_text(json.dumps({
        "algo": "grpo", "model": "tiny", "settings": {"training": {"lora_target_modules": ["k_proj", "q_proj"]}}}), encoding="utf-8")
    check_args(TrainArgs(config=GRPO, resume=str(ckpt), set=["training.lora_target_modules=['q_proj','k_proj']"]))  # a set
    for path in (ckpt, tmp_path):
        with pytest.raises(ConfigError, match="is a GRPO checkpoint; resume it with its own config"):
            check_args(TrainArgs(config=PPO, resume=str(path)))
    ppo = tmp_path / "ppo_run" / "checkpoint_final"  # the layout train_ppo writes (ppo.module_path reads it)
    (ppo / "learner_group").mkdir(parents=True)
    (ppo / "algorithm_state.pkl").write_bytes(b"")
    for path in (ppo, ppo.parent):  # the same answer the other way round (it said "no drugenv_checkpoint.json")
        with pytest.raises(ConfigError, match="is a PPO checkpoint; resume it with its own config"):
            check_args(TrainArgs(config=GRPO, resume=str(path)))


def test_rllib_knobs_a_config_leaves_out_get_a_type_check():
    """training.lora_dropout=abc and friends passed the checks and failed after Ray started; a flag given
    "maybe" trained as true."""
    ok = ["learners.num_gpus_per_learner=0.5", "training.weight_decay=0", "training.gradient_checkpointing=true"]
    check_args(TrainArgs(config=GRPO, set=ok))
    check_args(TrainArgs(config=PPO, set=["training.grad_clip=0.5", "env_runners.num_cpus_per_env_runner=0.5"]))
    for config, bad, kind in ((GRPO, "training.lora_dropout=abc", "a number"), (GRPO, "training.weight_decay=abc", "a number"),
                              (GRPO, "learners.num_gpus_per_learner=abc", "a number"),
                              (GRPO, "training.gradient_checkpointing=maybe", "true or false"),
                              (PPO, "training.use_kl_loss=3", "true or false")):
        with pytest.raises(ConfigError, match=f"has the wrong type: expected {kind}"):
            check_args(TrainArgs(config=config, set=[bad]))


def test_knobs_rllib_types_loosely_keep_their_old_answers():
    """The knob type check leaves RLlib's int-or-"auto" knobs, deprecated names (whose getter raises) and
    deprecated markers (-1) to the config's validate(), which answered them in one line before it."""
    check_args(TrainArgs(config=GRPO, set=["env_runners.rollout_fragment_length=auto"]))
    check_args(TrainArgs(config=PPO, set=["env_runners.rollout_fragment_length=auto"]))
    for bad in ("env_runners.num_envs_per_worker=4", "env_runners.num_rollout_workers=2"):
        with pytest.raises(ConfigError, match="deprecated"):
            check_args(TrainArgs(config=GRPO, set=[bad]))
    try:
        check_args(TrainArgs(config=PPO, set=["training.vf_share_layers=true"]))
    except ConfigError as e:
        assert "wrong type" not in str(e), e


def test_the_seal_is_not_a_setting_a_run_writes_down():
    """env_config.seal would sit in settings.json, the run's log and a published result, in the clear."""
    with pytest.raises(ConfigError, match="env_config.seal is a secret"):
        check_args(TrainArgs(config=PPO, set=["env_config.seal=s3cret"]))
    with pytest.raises(ConfigError, match="valid keys under env_config: curriculum, difficulty, reward_config, scenario, "
                                          "sim_params, suite$"):
        check_args(TrainArgs(config=PPO, set=["env_config.bogus=1"]))


def test_resource_demand_leaves_the_driver_out_unless_a_tune_trial_asks():
    """A local learner's GPU sits in the driver's bundle, which Ray does not schedule for `drugenv train`:
    counting it refused a 0.5B run with its learner in the driver on a 1-GPU box."""
    from drugenv.training.configs import load_rllib_config, resource_demand

    mod = load_rllib_config(ROOT / "rllib_configs" / "grpo_qwen25_05b.py")
    local = mod.build_config({"learners": {"num_learners": 0, "num_gpus_per_learner": 1}}, model_path="unused")
    assert resource_demand(local, driver=False) == {"CPU": 1.0, "GPU": 0.5}  # the env runner alone
    assert resource_demand(local, driver=True)["GPU"] == 1.5
    default = mod.build_config(None, model_path="unused")  # a learner actor and a runner at half a GPU each
    assert resource_demand(default, driver=False) == {"CPU": 1.0, "GPU": 1.0}


def test_documented_nulls_sft_settings_and_finite_numbers():
    """null was refused wherever the config's default is not None (training.minibatch_size=null, "None =
    whole batch"); sft settings the code reads but a config does not set were "unknown"; Infinity passed."""
    GPU = str(ROOT / "rllib_configs/grpo_qwen25_3b_h200.py")
    arch = "model=random:Qwen/Qwen2.5-3B-Instruct"  # its hub id is refused offline: no weights in the cache
    _, overrides = check_args(TrainArgs(config=GPU, set=[arch, "training.minibatch_size=null", "training.epsilon_high=null",
                                                         "sft.target_modules=['q_proj']", "sft.schedule=cosine",
                                                         "sft.micro_batch_size=null"]))
    assert overrides["training"]["minibatch_size"] is None and overrides["sft"]["target_modules"] == ["q_proj"]
    for bad, match in (("training.lr=Infinity", "training.lr"), ("training.group_size=null", "training.group_size"),
                       ("sft.steps=1.5", "sft.steps"), ("sft.lr=nan", "sft.lr"), ("sft.nope=1", "unknown setting")):
        with pytest.raises(ConfigError, match=match):
            check_args(TrainArgs(config=GPU, set=[arch, bad]))


def test_sft_settings_list_every_key_the_sft_code_reads():
    import re

    from drugenv.training import grpo_train

    source = Path(grpo_train.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r"""\bsft(?:\.get\(|\[)["']([a-z_]+)["']""", source))
    read |= set(re.findall(r"""s\["sft"\](?:\.get\(|\[)["']([a-z_]+)["']""", source))
    assert read, "the pattern no longer finds the reads"
    assert read - {"max_prompt_tokens", "max_steps"} <= set(grpo_train.SFT_SETTINGS), read - set(grpo_train.SFT_SETTINGS)


def test_hub_id_missing_offline_is_refused_before_ray(tmp_path, monkeypatch):
    """A mistyped or uncached hub id under HF_HUB_OFFLINE=1 was a 112-line log of tracebacks a minute into
    the run (after Ray started and the run folder was made); now it is refused with the other argument
    mistakes. A cached id passes, and online the id is left to the loader (it may download)."""
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    for name in ("nonexistent/model", "Qwen/Qwen2.5-3B-Instruct", "not//a valid id"):
        with pytest.raises(ConfigError, match=f"model={name!r} is not on disk and not in the local Hugging Face cache"):
            check_args(TrainArgs(config=GRPO, set=[f"model={name}"]))
    repo = tmp_path / "hub" / "models--org--cached"
    (repo / "snapshots" / "abc").mkdir(parents=True)
    (repo / "snapshots" / "abc" / "config.json").write_text("{}", encoding="utf-8")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc", encoding="utf-8")
    check_args(TrainArgs(config=GRPO, set=["model=org/cached"]))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", False)
    check_args(TrainArgs(config=GRPO, set=["model=nonexistent/model"]))


@pytest.mark.parametrize("config", ["grpo_tiny_cpu", "grpo_tiny_cpu_long", "grpo_qwen25_05b", "grpo_qwen25_3b_h200"])
def test_evaluation_plays_trainings_game_unless_a_run_says_otherwise(config):
    """A GRPO config leaves run.eval_max_steps / eval_max_new_tokens / eval_max_prompt_tokens None: they are
    training's max_turns / max_new_tokens / max_prompt_tokens, so one --set moves both (the 0.5B CPU recipe
    had to set each half), and an explicit run value still wins."""
    from drugenv.training.configs import EVAL_GAME_DEFAULTS, load_rllib_config

    mod = load_rllib_config(f"rllib_configs/{config}.py")
    s = mod.settings()
    assert all(s["run"][r] == s["training"][t] and mod.DEFAULTS["run"][r] is None for r, t in EVAL_GAME_DEFAULTS)
    moved = mod.settings({"training": {"max_turns": 3, "max_new_tokens": 16, "max_prompt_tokens": 1024}})
    assert [moved["run"][r] for r, _ in EVAL_GAME_DEFAULTS] == [3, 16, 1024]
    own = mod.settings({"training": {"max_turns": 3}, "run": {"eval_max_steps": 5}})
    assert own["run"]["eval_max_steps"] == 5 and own["training"]["max_turns"] == 3
    model = ["model=tiny"]  # the hub models are not on this machine
    check_args(TrainArgs(config=f"rllib_configs/{config}.py", set=[*model, "run.eval_max_steps=7", "training.max_turns=4"]))
    with pytest.raises(ConfigError, match="run.eval_max_steps"):  # None in the file, still range-checked
        check_args(TrainArgs(config=f"rllib_configs/{config}.py", set=[*model, "run.eval_max_steps=0"]))


def test_a_second_run_into_an_out_another_writes_is_one_line_before_ray(tmp_path, monkeypatch, capsys, held_elsewhere):
    """Two drugenv train into one --out both ran and exited 0, the second's clean-up deleting the first's files."""
    import drugenv.training.cli as train_cli
    from drugenv.cli import main

    def no_ray(num_cpus):
        raise AssertionError("Ray started")

    monkeypatch.setattr(train_cli, "_start_ray", no_ray)
    # (a PPO checkpoint is made by a run: its checks have their own tests; here the folder is what is resumed)
    monkeypatch.setattr(train_cli, "check_resume", lambda module, resume, settings: resume and Path(resume))
    out = tmp_path / "run"
    pid = held_elsewhere(out)
    for resume in ([], ["--resume", str(out)]):
        assert main(["train", PPO, "--out", str(out), *resume]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"drugenv train: error: --out {out} is being written by another run "
                                                   f"or sweep (process {pid},"), err
    assert not (out / "stopped.json").exists()  # the other run's folder is not marked stopped
    assert [json.loads(line)["iteration"] for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()] == [1]


def test_a_full_disk_is_one_line_and_stopped_json_failing_does_not_hide_it(tmp_path, monkeypatch, capsys):
    """A disk that filled during a run printed ~60 lines of chained traceback, ending in the failure to write
    stopped.json (which hid the error that stopped the run)."""
    import errno
    import time

    import drugenv.training.cli as train_cli
    import drugenv.training.run_files as run_files
    from drugenv.cli import run_command

    out = tmp_path / "run"
    run_files.RunFiles(out).start("ppo_vector", {})
    full = OSError(errno.ENOSPC, "No space left on device", str(out / "checkpoint_final.tmp" / "x.pkl"))

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    def training(_):
        try:
            raise full
        except BaseException as e:
            train_cli._stopped(out, time.time() - 5, e)
            raise

    monkeypatch.setattr(run_files, "write_text_atomic", no_space)
    assert run_command("drugenv train", training, None) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{out}: warning: could not write stopped.json (No space left on device)",
                   f"drugenv train: error: No space left on device: {full.filename} (free space there, or write to "
                   "another disk)"]
    for bug in (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), FileNotFoundError(errno.ENOENT, "gone", "x")):
        with pytest.raises(type(bug)):  # not a full or forbidden disk: may be a defect, keeps its traceback
            run_command("drugenv train", lambda _: (_ for _ in ()).throw(bug), None)


def test_a_ray_address_that_refuses_is_a_config_error_naming_it(monkeypatch):
    """RAY_ADDRESS naming a head that is not there: Ray retried it for some 14 minutes, then gave a raw
    ConnectionError traceback. A port that refuses connections is said at once; a cluster that Ray cannot join
    is a ConfigError naming RAY_ADDRESS."""
    import socket

    import ray

    from drugenv.training.configs import init_ray

    calls = []

    def refused(**kwargs):
        calls.append(kwargs)
        raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # closed with the socket: the port refuses
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{closed}")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refused)
    with pytest.raises(ConfigError, match=rf"RAY_ADDRESS=127\.0\.0\.1:{closed}: nothing listens there .*RAY_AUTH_MODE=token"):
        init_ray(1)
    assert calls == []  # said before Ray's retries
    monkeypatch.setenv("RAY_ADDRESS", "auto")  # (an address Ray reads from its own files: for Ray to try)
    with pytest.raises(ConfigError, match=r"RAY_ADDRESS=auto names a Ray cluster this process cannot join \(Failed to connect"):
        init_ray(1)
    assert len(calls) == 1


def test_a_grpo_row_says_how_many_groups_came_back():
    """docs/grpo.md sent readers of a run with a lost env runner to env_runners/num_groups_sampled, which no
    metrics.jsonl row held: its iterations showed as nulls only."""
    from drugenv.training import metrics as M

    assert M.CURVE_COLUMNS[M.CURVE_NUM_GROUPS_SAMPLED] == "env_runners/" + M.NUM_GROUPS_SAMPLED
    assert "`reward/num_groups_sampled`" in (ROOT / "docs" / "grpo.md").read_text(encoding="utf-8")


def test_a_damaged_ppo_checkpoint_to_resume_is_one_error(tmp_path):
    """``--resume`` of a PPO checkpoint whose module file is truncated was an 8-frame UnpicklingError traceback from the
    argument check (``drugenv eval`` of the same folder already said it in one line)."""
    import pickle

    from drugenv.training.ppo import _MODULE_SUBPATH, checkpoint_model_config

    module = tmp_path.joinpath("checkpoint_final", *_MODULE_SUBPATH)
    module.mkdir(parents=True)
    whole = pickle.dumps({"ctor_args_and_kwargs": ((), {"model_config": {"fcnet_hiddens": [64]}})})
    (module / "class_and_ctor_args.pkl").write_bytes(whole)
    assert checkpoint_model_config(tmp_path / "checkpoint_final") == {"fcnet_hiddens": [64]}
    (module / "class_and_ctor_args.pkl").write_bytes(whole[:20])
    with pytest.raises(ConfigError, match=r"class_and_ctor_args.pkl cannot be read \((UnpicklingError|EOFError)"):
        checkpoint_model_config(tmp_path / "checkpoint_final")


def test_runs_start_no_system_usage_monitor():
    """Tune's CPU/GPU usage monitor (RLlib's default) logged "Install gputil for GPU system monitoring" on every
    `drugenv train`; DrugEnv never reads its numbers."""
    from drugenv.training.configs import load_rllib_config

    for config in (PPO, GRPO):
        module = load_rllib_config(config)
        built = module.build_config(None, model_path="unused") if module.ALGO == "grpo" else module.build_config(None)
        assert built.log_sys_usage is False, config
