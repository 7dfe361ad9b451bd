"""Where pyngrok finds the local agent stand-in: ``<home>/bin/ngrok``, a script that runs it."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

VERSION = "3-local-stand-in"
# The placeholder authtoken the runbook gives the stand-in when NGROK_AUTHTOKEN is not set.
STANDIN_AUTHTOKEN = "kore-plaid-local-stand-in"
# The authtoken the stand-in rejects the way ngrok rejects a bad one (ERR_NGROK_105).
REJECTED_AUTHTOKEN = "kore-plaid-rejected-authtoken"
MARKER = "kore_plaid_nb.tunnel.standin"
PARENT_ENV = "KORE_PLAID_STANDIN_PARENT"


def write_launcher(home: Path) -> Path:
    """Write ``<home>/bin/ngrok``, an executable that runs this stand-in; returns its path."""
    path = home / "bin" / "ngrok"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    package_parent = Path(__file__).resolve().parents[2]
    text = (
        "#!/bin/sh\n"
        "# kore-plaid: local stand-in for the ngrok agent (not the real ngrok).\n"
        f"KORE_PLAID_STANDIN_HOME={_sh_quote(str(home))}; export KORE_PLAID_STANDIN_HOME\n"
        # who started the agent, known before Python starts: if it is gone by then, so is the agent
        f"{PARENT_ENV}=$PPID; export {PARENT_ENV}\n"
        f'PYTHONPATH={_sh_quote(str(package_parent))}"${{PYTHONPATH:+:$PYTHONPATH}}"; '
        "export PYTHONPATH\n"
        f'exec {_sh_quote(sys.executable)} -m {MARKER} "$@"\n'
    )
    if not path.is_file() or path.read_text() != text:
        tmp = path.with_name(".ngrok.tmp")
        tmp.write_text(text)
        os.chmod(tmp, stat.S_IRWXU)
        os.replace(tmp, path)
    return path


def _sh_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"
