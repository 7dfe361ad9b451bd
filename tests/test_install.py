"""The install (issue 15): a first `make run` shows progress, the venv's setuptools is current,
and the editable install prints no warning banner."""

from __future__ import annotations

import importlib.metadata
import re
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def install_recipe() -> str:
    makefile = (ROOT / "Makefile").read_text()
    return makefile.split("$(STAMP):", 1)[1].split("\ninstall:", 1)[0]


def test_the_install_says_what_it_does_and_lets_pip_show_progress() -> None:
    recipe = install_recipe()
    assert "Installing the runbook's Python packages" in recipe
    requirements_line = next(line for line in recipe.splitlines() if "-r requirements.txt" in line)
    assert "--quiet" not in requirements_line


def test_the_venv_gets_a_current_setuptools() -> None:
    assert re.search(r"pip install --quiet --upgrade pip setuptools", install_recipe())
    major = int(importlib.metadata.version("setuptools").split(".")[0])
    assert major >= 70, "make install upgrades setuptools; rerun `make install`"


def test_the_editable_install_is_a_plain_path_entry() -> None:
    """setuptools prints its "Editable installation" banner when it installs an import-hook
    finder; the project's layout (package-dir at the root) gets a silent plain path entry."""
    import kore_plaid_nb

    site = Path(sysconfig.get_paths()["purelib"])
    assert not list(site.glob("__editable___*kore_plaid*finder.py"))
    entries = [p.read_text().strip() for p in site.glob("__editable__*kore_plaid*.pth")]
    assert entries == [str(ROOT)]
    assert Path(kore_plaid_nb.__file__).resolve().is_relative_to(ROOT)
