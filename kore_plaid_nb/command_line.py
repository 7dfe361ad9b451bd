"""How a ``kore-plaid`` command is typed from the checkout, as shown to the user.

``make`` installs the package into ``.venv`` without putting it on PATH, so a bare
``kore-plaid ...`` is "command not found" for most users. :func:`cli_command` names the
script of the environment that runs this code, relative to the project root when it lives
there (``.venv/bin/kore-plaid profile --reveal``): the same text on every machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .settings import project_root

SCRIPT = "kore-plaid"


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def cli_command(arguments: str = "") -> str:
    """The command line that runs ``kore-plaid ARGUMENTS`` from the project root."""
    root = project_root().resolve()
    environment = Path(sys.prefix).resolve()
    script = environment / "bin" / SCRIPT
    if script.is_file():
        line = _shown(script, root)
    else:  # installed without its script (e.g. a bare PYTHONPATH): run the package
        line = f"{_shown(environment / 'bin' / 'python', root)} -m kore_plaid_nb"
    return f"{line} {arguments}".rstrip()
