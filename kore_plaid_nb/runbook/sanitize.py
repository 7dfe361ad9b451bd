"""The sanitize rules shared by nbval (``--nbval-sanitize-with``) and ``make notebooks``.

One file, ``notebooks/sanitize.cfg``, in nbval's format (``regex:`` / ``replace:`` pairs),
so the stored outputs and the compared outputs are rewritten by the same rules.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

SANITIZE_FILE_NAME = "sanitize.cfg"


@lru_cache(maxsize=4)
def load_patterns(path: Path) -> tuple[tuple[re.Pattern[str], str], ...]:
    text = path.read_text() if path.is_file() else ""
    pairs = re.findall(r"^regex: (.*)$\n^replace: (.*)$", text, flags=re.MULTILINE)
    return tuple((re.compile(regex), replace) for regex, replace in pairs)


def sanitize_text(text: str, patterns: tuple[tuple[re.Pattern[str], str], ...]) -> str:
    for regex, replace in patterns:
        text = regex.sub(replace, text)
    return text
