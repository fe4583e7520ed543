"""What a source file imports, relative imports resolved: the layering and hidden-truth tests read it.

``from ..llm import policy`` inside ``drugenv/agents/belief.py`` is ``drugenv.llm`` and ``drugenv.llm.policy``;
reading only ``ImportFrom.module`` would see ``llm`` and miss it (a relative import was invisible before).
"""

from __future__ import annotations

import ast
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    """``drugenv/agents/belief.py`` under ``root`` (the folder holding ``drugenv``) is ``drugenv.agents.belief``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions, as absolute names: for
    ``from A import b`` both ``A`` and ``A.b`` (``b`` may be a module)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names if a.name != "*")
    return out
