"""The runbook's notebooks on disk (light: the command lists them before its heavy imports)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def notebook_paths(notebooks_dir: Path, only: Iterable[str] = ()) -> list[Path]:
    """The runbook's notebooks in order (``NN_name.ipynb``), optionally a subset by name."""
    wanted = {name.removesuffix(".ipynb") for name in only}
    paths = sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    return [p for p in paths if not wanted or p.stem in wanted or p.stem[:2] in wanted]
