"""The HTTP plumbing the bridge and the board share (kore_plaid_nb/http_plumbing.py): a leaf on
Starlette and the standard library, so the board starts without loading the bridge (plaid-python,
oauthlib, the store, jinja2), and one definition of the no-store headers."""

from __future__ import annotations

import subprocess
import sys

from kore_plaid_nb import http_plumbing
from kore_plaid_nb.board import page as board_page
from kore_plaid_nb.bridge import http as bridge_http
from kore_plaid_nb.bridge import refusal

HEAVY = ("plaid", "oauthlib", "jinja2", "kore_plaid_nb.bridge")


def loaded_after(statement: str) -> set[str]:
    """The top modules and kore_plaid_nb modules a fresh interpreter holds after ``statement``."""
    script = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return set(out.split())


def test_the_board_app_does_not_load_the_bridge() -> None:
    loaded = loaded_after("import kore_plaid_nb.board.app")
    assert "kore_plaid_nb.http_plumbing" in loaded
    assert [name for name in HEAVY if name in loaded] == []


def test_the_plumbing_loads_no_other_module_of_the_package() -> None:
    loaded = loaded_after("import kore_plaid_nb.http_plumbing")
    ours = {name for name in loaded if name.startswith("kore_plaid_nb")}
    assert ours == {"kore_plaid_nb", "kore_plaid_nb.http_plumbing"}


def test_the_no_store_headers_have_one_definition() -> None:
    assert bridge_http.NO_STORE is http_plumbing.NO_STORE
    assert refusal.NO_STORE is http_plumbing.NO_STORE
    assert board_page.NO_STORE is http_plumbing.NO_STORE
