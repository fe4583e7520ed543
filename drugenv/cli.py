"""``drugenv`` command line: one subcommand per job, each with its own ``@dataclass`` Args.

    drugenv eval       score an agent on a suite (table + JSON)
    drugenv train      train from an rllib_configs/ config (GRPO or PPO)
    drugenv sweep      Ray Tune sweep over reward weights or curricula
    drugenv serve      a trained agent as a Ray Serve app: /health, /act, /episodes
    drugenv serve-env  OpenEnv-compatible environment server
    drugenv run-agent  play episodes with an LLM agent, live dashboard snapshot
    drugenv dashboard  live evidence dashboard in a browser: runs, curves, sweeps, episodes

Subcommand modules are imported only when used, so ``drugenv eval`` never imports torch or Ray.

Mistakes are one line: a ``DrugEnvError`` (bad path, unknown key, value out of range, ...) is
printed as ``drugenv COMMAND: error: <what, why, fix>`` on stderr with exit code 2, no traceback.
Each command checks its arguments before Ray or a model starts. So is a missing optional extra:
``drugenv train`` on an install without Ray says ``ray[rllib,serve,tune] is not installed; install it
with: pip install 'drugenv[train]'`` (``drugenv.extras`` reads which extra provides what). A file that
could not be written for a reason outside the program (a full disk, a read-only folder: ``DISK_ERRORS``) is
one line too, with exit code 1.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

# name -> (module, Args dataclass, main function, one-line help, the extra it needs: None for the core install)
COMMANDS: dict[str, tuple[str, str, str, str, Optional[str]]] = {
    "eval": ("drugenv.evaluation.cli", "EvalArgs", "eval_main", "score an agent on a suite", None),
    "train": ("drugenv.training.cli", "TrainArgs", "train_main", "train from an rllib_configs/ config", "train"),
    "sweep": ("drugenv.tuning.sweep", "SweepArgs", "sweep_main", "Ray Tune sweep over reward weights or curricula", "train"),
    "serve": ("serve.apps", "ServeArgs", "serve_main", "a trained agent as a Ray Serve app", "train"),
    "serve-env": ("drugenv.server.serve", "Args", "serve_env_main", "OpenEnv-compatible environment server", "server"),
    "run-agent": ("drugenv.llm.run_agent", "RunAgentArgs", "run_agent_main", "play episodes with an LLM agent", "llm"),
    "dashboard": ("drugenv.dashboard.cli", "DashboardArgs", "dashboard_main", "live evidence dashboard in a browser", "dashboard"),
}


def _usage() -> str:
    lines = ["usage: drugenv COMMAND [options]   (drugenv COMMAND --help for options)", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, _, _, help_, _) in COMMANDS.items()]
    return "\n".join(lines)


def tolerate_any_console_encoding() -> None:
    """Let standard output and error write any text. Where their encoding is not UTF-8 (Windows with output
    redirected or piped, a Latin-1 locale), a character it lacks (``−``, ``→``, ``µ``, a model's stray
    token) is written as an escape (``\\u2212``) instead of ending the command with ``UnicodeEncodeError``
    after its work is done and before its results are written. Called by the command-line entry points only."""
    import codecs

    for stream in (sys.stdout, sys.stderr):
        try:
            utf8 = codecs.lookup(stream.encoding or "ascii").name == "utf-8"
        except (AttributeError, LookupError):
            utf8 = False
        if not utf8 and getattr(stream, "errors", None) in ("strict", "surrogateescape") and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    tolerate_any_console_encoding()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"drugenv: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, args_name, main_name, _, extra = COMMANDS[name]
    prog = f"drugenv {name}"
    if module_name.startswith("serve."):  # serve/ sits beside the package, in the repository root
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        if importlib.util.find_spec("serve") is None:
            print(f"{prog}: error: the Serve apps (serve/) ship with the repository, not the package; "
                  "run it from a clone of the repository (pip install -e '.[train]')", file=sys.stderr)
            return 2
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        return _report_missing_extra(prog, e, extra)
    args = parse_args(getattr(module, args_name), args=join_repeated_flag(rest, "--extra"), prog=prog)
    return run_command(prog, getattr(module, main_name), args, extra=extra)


def parse_args(kind: Any, args: Optional[list[str]] = None, prog: Optional[str] = None) -> Any:
    """``tyro.cli(kind, args=, prog=)``, with each field's help written as the paragraph its docstring is (every
    command line of DrugEnv's parses through here)."""
    import tyro

    with _help_as_paragraphs():
        return tyro.cli(kind, args=args, prog=prog)


@contextlib.contextmanager
def _help_as_paragraphs() -> Iterator[None]:
    """tyro (1.0.17, the newest) keeps every line break of a field docstring written over several source lines: it
    joins single line breaks before it dedents, so each indented continuation line reads as a new paragraph, and
    ``--help`` broke lines where the source does, inside its own wrapping (ragged at 80 columns). While a command
    line is parsed, tyro's docstring reader hands it the docstrings dedented (``inspect.cleandoc``); a tyro
    without that reader is left as it is."""
    import inspect

    try:
        from tyro import _docstrings

        read = _docstrings.parse_docstring_from_object
    except (ImportError, AttributeError):
        yield
        return

    def dedented(obj: object) -> dict[str, str]:
        return {name: inspect.cleandoc(text) for name, text in read(obj).items()}

    _docstrings.parse_docstring_from_object = dedented
    try:
        yield
    finally:
        _docstrings.parse_docstring_from_object = read


def join_repeated_flag(argv: list[str], flag: str) -> list[str]:
    """``argv`` with every repeat of the dict flag ``flag`` joined into its first: ``--extra a 1 --extra b 2``
    reads as ``--extra a 1 b 2``. tyro keeps only a dict flag's last use, so ``drugenv eval`` dropped every
    ``--extra`` pair but the last without a word."""
    out: list[str] = []
    values: list[str] = []
    first = None
    i = 0
    while i < len(argv):
        if argv[i] == flag:
            i += 1
            while i < len(argv) and not argv[i].startswith("--"):
                values.append(argv[i])
                i += 1
            if first is None:
                first = len(out)
            continue
        out.append(argv[i])
        i += 1
    return argv if first is None else [*out[:first], flag, *values, *out[first:]]


DISK_ERRORS: dict[int, str] = {
    errno.ENOSPC: "free space there, or write to another disk",
    errno.EDQUOT: "free space within the quota, or write to another disk",
    errno.EFBIG: "a file grew past what the file system takes; write to another disk",
    errno.EROFS: "the file system is read-only; write to another folder",
    errno.EACCES: "this user may not use that file; use another folder",
    errno.EPERM: "this user may not use that file; use another folder",
}
"""``OSError`` numbers that ``run_command`` reports as one line, each with its likely fix (a permission error
only on a named file: one on a signal or a socket option is no disk's)."""


def run_command(prog: str, command_main: Callable[[Any], Any], args: Any, *, extra: Optional[str] = None) -> int:
    """``command_main(args)`` with the command line's handling of mistakes: a ``DrugEnvError`` is printed
    as ``PROG: error: <message>`` on stderr and gives exit code 2, without a traceback, and so is an
    optional dependency that is not installed (``extra``: the extra the command needs; see
    ``drugenv.extras.missing_extra``). The ``python -m`` entry points (``drugenv.server``,
    ``drugenv.llm.run_agent``, ``drugenv.training.ppo``) run through it too. Ctrl-C is one line and exit code
    130 (SIGTERM, where the command turns it into ``KeyboardInterrupt``: 143), not a traceback. So is a file
    the command could not write for a reason outside the program (``DISK_ERRORS``: a full disk, a read-only
    or forbidden folder; ``disk_error``), with exit code 1: a disk that filled during a run printed some 60 lines of
    chained traceback. Any other error may be a defect, and keeps its traceback."""
    from drugenv.errors import DrugEnvError, Terminated

    tolerate_any_console_encoding()
    stop_on_sigterm()
    try:
        result = command_main(args)
    except DrugEnvError as e:
        print(f"{prog}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        return _report_missing_extra(prog, e, extra)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM where the command turned it into Terminated
        terminated = isinstance(e, Terminated)
        print(f"{prog}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130  # 128 + the signal's number, as a shell reports a process it ended
    except Exception as e:
        disk = disk_error(e)
        if disk is None:
            raise
        code, message, filename = disk
        where = f": {filename}" if filename else ""
        print(f"{prog}: error: {message}{where} ({DISK_ERRORS[code]})", file=sys.stderr)
        return 1
    return result if isinstance(result, int) else 0


def _terminated(signum: int, frame: Any) -> None:
    from drugenv.errors import Terminated

    raise Terminated


def stop_on_sigterm() -> None:
    """Make SIGTERM stop the command as Ctrl-C does, through its ``finally`` blocks and exit hooks, with exit code 143
    and one line: a checkpoint ``drugenv eval`` copied from --storage stayed in the temporary folder, weights and all,
    under the default handler (which ends the process at once). Every command calls it (``run_command``); a driver
    calls it again after ``ray.init``, whose own handler (``sys.exit(15)``, after which the process aborted: exit 134
    and a native stack trace) replaces it. A server (uvicorn, granian) puts its own in place while it serves."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)


_ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\] ([^:'\]]+)|\((?:os error|errno) (\d+)\)")


def disk_error(error: BaseException) -> Optional[tuple[int, str, Optional[str]]]:
    """``(errno, what happened, the file)`` when ``error`` is a disk's (``DISK_ERRORS``), else None. An ``OSError``
    says so by its ``errno`` (a permission error only on a named file: one on a signal or a socket option is no
    disk's). Two carry the number in their text only: ``shutil.Error``, ``copytree``'s list of the files it could
    not copy (``[Errno 28] No space left on device``), and safetensors' ``SafetensorError`` (``No space left on
    device (os error 28)``), which is no ``OSError``; both printed a traceback for a full disk."""
    import shutil

    if isinstance(error, shutil.Error):
        failures = error.args[0] if error.args and isinstance(error.args[0], list) else []
        for failure in failures:
            if isinstance(failure, tuple) and len(failure) == 3:
                found = _ERRNO_IN_TEXT.search(str(failure[2]))
                if found and found.group(1) and int(found.group(1)) in DISK_ERRORS:
                    return int(found.group(1)), found.group(2).strip(), str(failure[1])
        return None
    if isinstance(error, OSError):
        if error.errno not in DISK_ERRORS or (error.errno in (errno.EACCES, errno.EPERM) and not error.filename):
            return None
        return error.errno, error.strerror or one_line(error), error.filename
    if type(error).__name__ == "SafetensorError":  # not imported here: the core install has no safetensors
        found = _ERRNO_IN_TEXT.search(str(error))
        code = int(found.group(3)) if found and found.group(3) else None
        if code in DISK_ERRORS and code not in (errno.EACCES, errno.EPERM):  # no file named: see above
            return code, os.strerror(code), None
    return None


def _report_missing_extra(prog: str, error: ModuleNotFoundError, extra: Optional[str]) -> int:
    """Print a missing optional dependency as a mistake (exit code 2); any other missing module is a
    defect, and keeps its traceback."""
    from drugenv.extras import missing_extra

    missing = missing_extra(error, extra)
    if missing is None:
        raise error
    print(f"{prog}: error: {one_line(missing)}", file=sys.stderr)
    return 2


def quiet_library_progress_bars() -> None:
    """``--no-progress`` for the libraries too: transformers' "Loading weights" and "Writing model shards" bars
    and the hub's read ``HF_HUB_DISABLE_PROGRESS_BARS`` when imported, here and in the Ray workers a local
    Ray started afterwards (they inherit the environment); one already imported is told directly."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()


def check_output_path(path: str | Path, flag: str, *, directory: bool = False) -> None:
    """Refuse an output path that cannot be written (``ConfigError``), before the work that fills it:
    an empty one (an unset shell variable: ``--out ""`` read as "the default" wiped the default run), a file where
    a directory is wanted or the reverse, a file in the way of the folders to create, or a symbolic link that
    points nowhere the output can go (checked on the link's target: the writer writes through it)."""
    import tempfile

    from drugenv.errors import ConfigError

    if not str(path).strip():  # a str: Path("") is "."
        raise ConfigError(f"{flag} is empty: pass {'a folder' if directory else 'a file path'}, or leave {flag} out")
    p = Path(path)
    try:
        if p.is_symlink() and not p.exists():  # dangling: the checks below would test the link's own folder
            target = Path(os.path.realpath(p))
            if directory or not target.parent.is_dir():
                missing = target if directory else target.parent
                raise ConfigError(f"{flag} {path} is a symbolic link to {target}, and {missing} does not exist: "
                                  "make it, or pass another path")
            p = target
        if p.exists() and p.is_dir() != directory:
            want = "a directory" if directory else "a file path, e.g. " + str(p / "results.json")
            raise ConfigError(f"{flag} {path} is {'a file' if directory else 'a directory'}; pass {want}")
        # An existing directory is written into itself (a run folder again): test it, not the folder above.
        parent = p if directory and p.is_dir() else p.parent
        while not parent.exists():
            if parent.is_symlink():  # a dangling link among the folders to make: mkdir fails on it
                raise ConfigError(f"{flag} {path}: {parent} is a symbolic link to {os.path.realpath(parent)}, which "
                                  "does not exist: make it, or pass another path")
            parent = parent.parent
        if not parent.is_dir():
            raise ConfigError(f"{flag} {path}: {parent} is a file, so no folder can be made under it")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(f"{flag} {path}: {parent} is not writable")
        # os.access says yes to root everywhere (/proc, a read-only mount): a file made and removed there says more.
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as e:  # a name too long, a folder that takes no files...
        raise ConfigError(f"{flag} {path} cannot be written: {e.strerror or e}") from None


_UMASK = os.umask(0o022)
os.umask(_UMASK)  # the process's umask, read once at import (os.umask can only be read by setting it)

_TEMP_NAME_KEEPS = 32
"""How much of a file's name its temporary sibling (``replacing``) keeps: the whole name plus a suffix went past
the file system's 255-byte limit for a legal 250-character name."""


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A temporary file beside ``path`` for any writer to fill (text, a figure, a copied file), put in ``path``'s place
    by one rename when the block ends without error, and removed when it raises: a full disk or a kill midway leaves
    the previous file whole (``Path.write_text``, ``savefig`` and ``shutil.copyfile`` truncate it first), and a
    reader polling the file never sees half of one. A symbolic link is written through, as ``open(path, "w")``
    writes: the file it points to is replaced and the link stays (a rename over the link replaced the link with a
    file, and the file it named kept the old text). The temporary name is ``<first 32 characters>.<random>.tmp``.
    A writer that picks a format by the name's suffix (matplotlib's ``savefig``) must be told the format."""
    import tempfile

    target = Path(os.path.realpath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=target.name[:_TEMP_NAME_KEEPS] + ".", suffix=".tmp", dir=target.parent)
    except OSError as e:  # a read-only or forbidden folder: the error names the file asked for, not a random one
        e.filename = str(path)
        raise
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # what open(path, "w") gives (mkstemp makes it 0600)
        os.replace(tmp, target)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename in (None, tmp):  # a failed write names no file, or a gone one
            e.filename = str(path)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through ``replacing``: never an empty or half file, and the previous one
    whole if the write fails. Every result file a user keeps is written with it (run files and snapshots the
    dashboard polls, evaluation results, the README's generated tables)."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_figure(fig: Any, path: str | Path, **savefig: Any) -> Path:
    """``fig.savefig(path, **savefig)`` through ``replacing`` (the format from ``path``'s suffix, PNG without one)."""
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    with replacing(path) as tmp:
        fig.savefig(tmp, format=fmt, **savefig)
    return Path(path)


def copy_file_atomic(src: str | Path, dst: str | Path) -> Path:
    """``shutil.copyfile(src, dst)`` through ``replacing``."""
    import shutil

    with replacing(dst) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)


def one_line(error: BaseException) -> str:
    """The error's message on one line (a chained ``DrugEnvError`` keeps its own message only)."""
    return " ".join(str(error).split()) or type(error).__name__


__all__ = ["COMMANDS", "DISK_ERRORS", "check_output_path", "copy_file_atomic", "disk_error", "main", "one_line", "parse_args",
           "replacing", "run_command", "save_figure", "stop_on_sigterm", "tolerate_any_console_encoding",
           "write_text_atomic"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
