"""A local stand-in for the ngrok v3 agent, for the embedded mode and tests.

It speaks the agent's command line and local API the way pyngrok drives them and really
forwards HTTP, but only on loopback: every public URL it reports is ``http://127.0.0.1:PORT``
(local stand-in, not reachable from Kore). pyngrok runs it through a launcher script
(:func:`.launcher.write_launcher`) given as ``PyngrokConfig(ngrok_path=...)`` or
``PYNGROK_NGROK_PATH``.

Commands: ``version`` / ``--version``, ``config add-authtoken TOKEN``, ``config check``,
``config upgrade``, ``update``, ``start --none --log stdout [--config P] [--authtoken T]
[--region R]``. Differences from ngrok, on purpose:

- The web service binds an ephemeral loopback port unless ``agent.web_addr`` is configured;
  pyngrok reads it from the ``starting web service`` log line either way.
- Authtokens are not checked with ngrok.com. No authtoken fails with ERR_NGROK_4018, as ngrok
  does; the token :data:`REJECTED_AUTHTOKEN` fails with ERR_NGROK_105 (a rejected token).
- The agent exits when the process that started it goes away (no orphan agents).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

from .launcher import MARKER, PARENT_ENV, REJECTED_AUTHTOKEN, STANDIN_AUTHTOKEN, VERSION

__all__ = ["MARKER", "REJECTED_AUTHTOKEN", "STANDIN_AUTHTOKEN", "VERSION", "main"]

ERR_4018 = (
    "authentication failed: Usage of ngrok requires a verified account and authtoken.\n\n"
    "Sign up for an account: https://dashboard.ngrok.com/signup\n"
    "Install your authtoken: https://dashboard.ngrok.com/get-started/your-authtoken\r\n\r\n"
    "ERR_NGROK_4018\r\n"
)
ERR_105 = (
    "authentication failed: The authtoken you specified does not look like a proper ngrok "
    "tunnel authtoken.\nInstructions to install your authtoken are on your ngrok dashboard:\n"
    "https://dashboard.ngrok.com/get-started/your-authtoken\r\n\r\nERR_NGROK_105\r\n"
)


def default_config_path() -> Path:
    home = os.environ.get("KORE_PLAID_STANDIN_HOME")
    base = Path(home) / "tunnel" if home else Path.cwd()
    return base / "standin-ngrok.yml"


class Logger:
    """ngrok's logfmt lines: ``t=... lvl=info msg="..." key=value``."""

    def __init__(self, target: str) -> None:
        self.stream: TextIO | None
        if target in ("stdout", ""):
            self.stream = sys.stdout
        elif target == "stderr":
            self.stream = sys.stderr
        elif target in ("false", "none"):
            self.stream = None
        else:
            self.stream = open(target, "a")  # noqa: SIM115 - lives as long as the agent
        self._lock = threading.Lock()

    def __call__(self, lvl: str, msg: str, **fields: Any) -> None:
        if self.stream is None:
            return
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
        parts = [f"t={stamp}", f"lvl={lvl}", f"msg={_value(msg)}"]
        parts.extend(f"{key}={_value(value)}" for key, value in fields.items())
        with self._lock:
            try:
                self.stream.write(" ".join(parts) + "\n")
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                os._exit(0)  # whoever read our log is gone


def _value(value: Any) -> str:
    text = str(value)
    if text and not any(c in text for c in ' ="\\\n\r\t'):
        return text
    return json.dumps(text)


def load_config(paths: Sequence[Path]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in paths:
        if not path.is_file():
            continue
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the configuration is not a YAML mapping")
        for key, value in data.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return merged


def _agent_section(config: dict[str, Any]) -> dict[str, Any]:
    if str(config.get("version", "2")) == "3":
        agent = config.get("agent") or {}
        return agent if isinstance(agent, dict) else {}
    return config


def _config_paths(values: Sequence[str] | None) -> list[Path]:
    paths = [Path(p) for value in values or [] for p in value.split(",") if p]
    return paths or [default_config_path()]


def cmd_version(args: argparse.Namespace) -> int:
    print(f"ngrok version {VERSION}")
    return 0


def cmd_add_authtoken(args: argparse.Namespace) -> int:
    path = _config_paths(args.config)[0]
    config = load_config([path]) if path.is_file() else {}
    config.setdefault("version", "3")
    if str(config["version"]) == "3":
        config.setdefault("agent", {})["authtoken"] = args.token
    else:
        config["authtoken"] = args.token
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(config, handle)
    print(f"Authtoken saved to configuration file: {path}")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    paths = _config_paths(args.config)
    try:
        load_config(paths)
    except (ValueError, yaml.YAMLError) as exc:
        print(f"ERROR:  {exc}", file=sys.stderr)
        return 1
    print(f"Valid configuration file at {paths[0]}")
    return 0


def cmd_config_upgrade(args: argparse.Namespace) -> int:
    print("The local stand-in reads configuration versions 2 and 3; nothing to upgrade.")
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    print("No update available: this is the local stand-in, not the real ngrok agent.")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    from .forwarder import ThreadedServer, bind_loopback
    from .standin_api import Registry, build_api

    log = Logger(args.log)
    paths = _config_paths(args.config)
    try:
        config = load_config(paths)
    except (ValueError, yaml.YAMLError) as exc:
        log("crit", "command failed", err=f"failed to read configuration: {exc}")
        return 1
    for path in paths:
        log("info", "open config file", path=str(path), err="nil" if path.is_file() else "missing")
    agent = _agent_section(config)
    authtoken = args.authtoken or agent.get("authtoken") or os.environ.get("NGROK_AUTHTOKEN")
    region = args.region or agent.get("region") or "local"

    web_host, web_port = _web_addr(agent.get("web_addr"))
    registry = Registry(log)
    try:
        api = ThreadedServer(
            build_api(registry, VERSION), bind_loopback(web_port), "standin-api", False
        ).start()
    except OSError as exc:
        log("crit", "command failed", err=f"cannot start the web service: {exc}")
        return 1
    log("info", "starting web service", obj="web", addr=f"{web_host}:{api.port}", allow_hosts="[]")

    failure = None
    if not authtoken:
        failure = ERR_4018
    elif authtoken == REJECTED_AUTHTOKEN:
        failure = ERR_105
    if failure:
        log("eror", "failed to reconnect session", obj="tunnels.session", err=failure)
        log("eror", "session closing", obj="tunnels.session", err=failure)
        log("eror", "terminating with error", obj="app", err=failure)
        log("crit", "command failed", err=failure)
        api.stop()
        print(
            "ERROR:  " + failure.replace("\r", "").strip().replace("\n", "\nERROR:  "),
            file=sys.stderr,
        )
        return 1

    log(
        "info",
        "client session established",
        obj="tunnels.session",
        region=region,
        note="local stand-in, not reachable from Kore",
    )
    log("info", "tunnel session started", obj="tunnels.session")

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    parent = _starting_parent()
    while parent == ORPHANED or not stop.wait(0.25):
        if parent == ORPHANED or os.getppid() != parent:
            log("info", "parent process gone; stopping", obj="app")
            break
    log("info", "received stop request", obj="app", stopReq="{err:<nil> restart:false}")
    registry.close_all()
    api.stop()
    return 0


ORPHANED = 1


def _starting_parent() -> int:
    """The process that started the agent (the launcher passes it: a parent that died while
    Python was starting would otherwise go unnoticed). ``ORPHANED`` (init) when the parent
    was gone even before the launcher's shell started: the agent always has a Python parent."""
    passed = os.environ.get(PARENT_ENV, "")
    return int(passed) if passed.isdigit() else os.getppid()


def _web_addr(value: Any) -> tuple[str, int]:
    if not value:
        return "127.0.0.1", 0
    text = str(value)
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port) if port.isdigit() else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ngrok", description="kore-plaid local stand-in for the ngrok v3 agent"
    )
    parser.add_argument("--version", action="store_true", help="print the version")
    sub = parser.add_subparsers(dest="command")

    version = sub.add_parser("version")
    version.set_defaults(handler=cmd_version)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", action="append")
        p.add_argument("--log", default="false")
        p.add_argument("--log-format", default="term")
        p.add_argument("--log-level", default="info")

    config = sub.add_parser("config")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    add = config_sub.add_parser("add-authtoken")
    add.add_argument("token")
    common(add)
    add.set_defaults(handler=cmd_add_authtoken)
    check = config_sub.add_parser("check")
    common(check)
    check.set_defaults(handler=cmd_config_check)
    upgrade = config_sub.add_parser("upgrade")
    common(upgrade)
    upgrade.add_argument("--dry-run", action="store_true")
    upgrade.set_defaults(handler=cmd_config_upgrade)

    update = sub.add_parser("update")
    common(update)
    update.set_defaults(handler=cmd_update)

    start = sub.add_parser("start")
    common(start)
    start.add_argument("--none", action="store_true")
    start.add_argument("--all", action="store_true")
    start.add_argument("--authtoken")
    start.add_argument("--region")
    start.add_argument("names", nargs="*")
    start.set_defaults(handler=cmd_start)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version and not args.command:
        return cmd_version(args)
    if not args.command:
        parser.print_help()
        return 0
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
