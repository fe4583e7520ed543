"""Every Python example in the README and docs/ runs as written, in a fresh interpreter.

An example that talks to a server (``http://127.0.0.1:8000``) is pointed at a real DrugEnv server on
a free loopback port; nothing else in it is changed. An example that cannot run here says why in an
HTML comment on the line before its fence (``<!-- example not run: needs a model path -->``): a
template with placeholders, a fragment, or a reproduction that needs a trained run's output or
minutes of compute. Such a marker must give its reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLE = re.compile(r"^(?:<!-- example not run: (?P<why>[^\n]*?) -->\n)?```python\n(?P<code>.*?)^```", re.S | re.M)
DOCUMENTED_URL = "http://127.0.0.1:8000"


def _examples() -> list[tuple[str, Optional[str], str]]:
    """(``file:line``, the reason it is not run or None, code) for every ```python block."""
    found = []
    for path in DOCS:
        text = path.read_text()
        for m in EXAMPLE.finditer(text):
            line = text.count("\n", 0, m.start("code"))
            found.append((f"{path.relative_to(ROOT)}:{line}", m.group("why"), m.group("code")))
    return found


EXAMPLES = _examples()


def test_every_example_runs_or_says_why_not():
    fences = sum(p.read_text().count("```python\n") for p in DOCS)
    assert len(EXAMPLES) == fences > 0, "a ```python block the pattern missed"
    assert all(why is None or why.strip() for _, why, _ in EXAMPLES)
    assert sum(why is None for _, why, _ in EXAMPLES) >= len(EXAMPLES) // 2, "most examples should run"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    from drugenv.server.app import create_app
    from drugenv.server.serve import serve_in_thread

    with serve_in_thread(create_app(max_sessions=8)) as url:
        yield url


@pytest.mark.parametrize("where,code", [(w, c) for w, why, c in EXAMPLES if why is None], ids=lambda v: v if ":" in v else "")
def test_example_runs(where, code, request):
    if DOCUMENTED_URL in code:
        code = code.replace(DOCUMENTED_URL, request.getfixturevalue("server_url"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"{where}:\n{run.stderr[-3000:]}"
