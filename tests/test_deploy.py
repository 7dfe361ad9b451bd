"""The deployment files in ``deploy/`` say what the code accepts: the systemd unit starts a
command line that ``kore-plaid`` parses, and the example settings load as live settings on
PostgreSQL behind a trusted proxy."""

from __future__ import annotations

import shlex
from pathlib import Path

from kore_plaid_nb import cli, settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def unit_entries(path: Path) -> dict[str, list[str]]:
    """``key -> values`` of a systemd unit (keys may repeat, as Environment= does)."""
    entries: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            entries.setdefault(key.strip(), []).append(value.strip())
    return entries


def test_the_systemd_unit_runs_the_bridge_with_workers_on_loopback() -> None:
    unit = unit_entries(DEPLOY / "kore-plaid-bridge.service")
    [exec_start] = unit["ExecStart"]
    program, *argv = shlex.split(exec_start)
    assert program.endswith("/.venv/bin/kore-plaid")
    args = cli.build_parser("bridge").parse_args(argv)
    assert (args.command, args.host, args.workers) == ("bridge", "127.0.0.1", 2)
    assert unit["User"] == ["kore-plaid"] and unit["UMask"] == ["0077"]
    assert unit["Restart"] == ["on-failure"]
    assert "KORE_PLAID_HOME=/var/lib/kore-plaid" in unit["Environment"]
    assert unit["EnvironmentFile"] == ["/etc/kore-plaid/bridge.env"]


def test_the_example_settings_load_as_live_on_postgresql_behind_the_proxy() -> None:
    example = DEPLOY / "bridge.env.example"
    names = [
        line.split("=", 1)[0]
        for line in example.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert set(names) <= set(settings.ENV_NAMES), set(names) - set(settings.ENV_NAMES)
    loaded = settings.load(environ={}, env_file=example)
    assert loaded.mode == "live" and loaded.plaid_env == "production"
    assert loaded.bridge_db_url is not None
    assert loaded.bridge_store_shown == "db.internal:5432/kore_plaid"
    assert loaded.forwarded_allow_ips == ("127.0.0.1",)
    assert loaded.link_redirect_uri == "https://bridge.example.com/oauth-return"


def test_the_proxy_configuration_sends_what_the_bridge_trusts() -> None:
    text = (DEPLOY / "nginx-kore-plaid.conf").read_text()
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
    assert "access_log off;" in text  # URLs carry codes
    assert "server 127.0.0.1:8000" in text  # the unit's --port
