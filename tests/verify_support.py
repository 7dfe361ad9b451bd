"""What the ``kore-plaid verify`` tests share: the command run as cli.py runs it, and the
check that its output holds no secret."""

from __future__ import annotations

import argparse
import re

import pytest

from kore_plaid_nb import cli, settings
from kore_plaid_nb.verification import command

WRONG_SECRET = "wrong0secret0000000000000000000"


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """``kore-plaid verify ARGV`` through the command module cli.py dispatches to."""
    code, out, err = verify_streams(capsys, *argv)
    return code, out + err


def verify_streams(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The same, with stdout and stderr apart (``--json`` writes its document alone on stdout;
    a log line of a server thread may land on stderr meanwhile)."""
    assert cli.COMMANDS["verify"][0] == command.__name__
    parser = argparse.ArgumentParser()
    command.configure(parser)
    code = command.run(parser.parse_args(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_nothing_secret(out: str) -> None:
    assert settings.DEMO_SECRET not in out
    assert WRONG_SECRET not in out
    assert not re.search(r"(access|public|link)-sandbox-[0-9a-f]{8}-", out)


def assert_rows_passed(out: str, names: tuple[str, ...] | list[str]) -> None:
    """Each check named (by the start of its row) passed, with its time."""
    for name in names:
        row = next(line for line in out.splitlines() if line.startswith(name))
        assert re.search(r"\bpass\s+\d+ ms$", row), row
