"""Driving the ngrok agent with pyngrok: the real one (live mode) or the local stand-in.

Every pyngrok failure becomes one readable :class:`RunbookError` (:func:`explain`); the
authtoken never appears in a message (it is masked).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from pyngrok import conf, ngrok
from pyngrok.exception import (
    PyngrokError,
    PyngrokNgrokError,
    PyngrokNgrokHTTPError,
    PyngrokNgrokInstallError,
)

from ..errors import RunbookError
from ..settings import Settings, mask, ngrok_domain_url
from .launcher import STANDIN_AUTHTOKEN, write_launcher
from .state import tunnel_dir

TOKEN_PAGE = "https://dashboard.ngrok.com/get-started/your-authtoken"  # noqa: S105 - a URL  # nosec B105
KORE_FIELDS = "Authorization URL, Token Request URL and Refresh Token URL"


def ngrok_path(settings: Settings) -> str:
    """The stand-in's launcher in the embedded mode, else PYNGROK_NGROK_PATH or pyngrok's."""
    if settings.embedded:
        return str(write_launcher(settings.home))
    return os.environ.get("PYNGROK_NGROK_PATH") or conf.DEFAULT_NGROK_PATH


def authtoken(settings: Settings) -> str | None:
    """NGROK_AUTHTOKEN; the stand-in gets a placeholder when none is configured."""
    if settings.ngrok_authtoken:
        return settings.ngrok_authtoken
    return STANDIN_AUTHTOKEN if settings.embedded else None


def agent_config(settings: Settings) -> conf.PyngrokConfig:
    """pyngrok's configuration; the authtoken goes into the 0600 agent config file."""
    path = tunnel_dir(settings.home) / "ngrok.yml"
    write_agent_config(path, authtoken(settings))
    config = conf.PyngrokConfig(
        ngrok_path=ngrok_path(settings),
        config_path=str(path),
        region=settings.ngrok_region,
        # the agent shares the tunnel service's process group: stopping one stops both
        start_new_session=False,
    )
    # not on the agent's command line (visible in `ps`): the config file holds it
    config.auth_token = None
    return config


def write_agent_config(path: Path, token: str | None) -> None:
    """ngrok's v3 config file with ``agent.authtoken`` (removed when ``token`` is None)."""
    try:
        data = yaml.safe_load(path.read_text()) if path.is_file() else {}
    except yaml.YAMLError:
        data = {}
    data = data if isinstance(data, dict) else {}
    data["version"] = "3"
    agent = data.get("agent")
    agent_section: dict[str, object] = agent if isinstance(agent, dict) else {}
    if token:
        agent_section["authtoken"] = token
    else:
        agent_section.pop("authtoken", None)
    data["agent"] = agent_section
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(data, handle)


def no_authtoken_error() -> RunbookError:
    return RunbookError(
        "ngrok needs an authtoken and none is configured (ERR_NGROK_4018).",
        fix=f"Copy your authtoken from {TOKEN_PAGE} into NGROK_AUTHTOKEN (in .env or the "
        "notebook's ngrok token field), then open the tunnel again.",
        step="5",
    )


def install(settings: Settings) -> None:
    """Make sure the agent is on disk (pyngrok downloads the real one at first use)."""
    try:
        ngrok.install_ngrok(agent_config(settings))
    except PyngrokError as exc:
        raise explain(exc, settings.ngrok_authtoken) from None


def connect(
    settings: Settings, port: int, config: conf.PyngrokConfig | None = None
) -> ngrok.NgrokTunnel:
    """Open a tunnel to ``127.0.0.1:port``; returns pyngrok's ``NgrokTunnel``."""
    if not authtoken(settings):
        raise no_authtoken_error()
    config = config or agent_config(settings)
    # no request inspection: the agent's inspector (127.0.0.1:4040) would keep every token
    # request (the Basic header with the Plaid secret, codes, tokens) for anyone local
    options: dict[str, str | bool] = {"inspect": False}
    if settings.ngrok_domain and not settings.embedded:
        options["url"] = ngrok_domain_url(settings.ngrok_domain)
    try:
        return ngrok.connect(
            f"http://127.0.0.1:{port}",
            "http",
            name=f"kore-plaid-{port}",
            pyngrok_config=config,
            **options,
        )
    except PyngrokError as exc:
        raise explain(exc, authtoken(settings) or "") from None


def shutdown(config: conf.PyngrokConfig, public_url: str | None = None) -> None:
    """Close the tunnel (if the agent still answers) and kill the agent."""
    if public_url:
        try:
            ngrok.disconnect(public_url, pyngrok_config=config)
        except (PyngrokError, OSError):
            pass
    ngrok.kill(config)


def explain(exc: Exception, secret: str = "") -> RunbookError:  # no secret to mask  # nosec B107
    """One readable message, with what to do, for a pyngrok / ngrok failure."""
    if isinstance(exc, PyngrokNgrokInstallError):
        return RunbookError(
            "cannot download the ngrok agent: no internet; use the embedded mode or install "
            "ngrok and set PYNGROK_NGROK_PATH.",
            fix="Connect this machine to the internet and run the cell again, or install ngrok "
            "(https://ngrok.com/download) and set PYNGROK_NGROK_PATH to it, or unset "
            "PLAID_CLIENT_ID / PLAID_SECRET to use the embedded mode (local stand-in tunnel).",
            step="5",
        )
    text = _clean(str(getattr(exc, "ngrok_error", None) or exc), secret)
    code = getattr(exc, "ngrok_error_code", None) or _code_in(text)
    if code == "ERR_NGROK_4018":
        return no_authtoken_error()
    if code in ("ERR_NGROK_105", "ERR_NGROK_107"):
        shown = f" ({mask(secret)})" if secret else ""
        return RunbookError(
            f"ngrok rejected the authtoken{shown} ({code}).",
            fix=f"Copy the authtoken again from {TOKEN_PAGE} (the authtoken, not an API key) "
            "into NGROK_AUTHTOKEN, then open the tunnel again.",
            step="5",
        )
    if code == "ERR_NGROK_108":
        return RunbookError(
            "ngrok refused a second agent session for this account (ERR_NGROK_108).",
            fix="Stop the other ngrok agent (`kore-plaid tunnel close-all` here, or end it on "
            "the other machine / in the ngrok dashboard under Agents), then open the tunnel "
            "again.",
            step="5",
        )
    if isinstance(exc, PyngrokNgrokHTTPError):
        return RunbookError(
            f"The ngrok agent refused to open the tunnel: {_api_message(exc, secret)}",
            fix="Check NGROK_DOMAIN (a domain reserved in your ngrok dashboard, or unset it) "
            "and NGROK_REGION, then open the tunnel again.",
            step="5",
        )
    if code:
        return RunbookError(
            f"ngrok failed ({code}): {_first_line(text)}",
            fix=f"See https://ngrok.com/docs/errors/{code.lower()}/ and fix what it names, "
            "then open the tunnel again.",
            step="5",
        )
    if isinstance(exc, PyngrokNgrokError):
        logs = "; ".join(_clean(log.line, secret) for log in exc.ngrok_logs[-3:])
        return RunbookError(
            f"The ngrok agent did not start: {_first_line(text)}"
            + (f" Last agent log lines: {logs}" if logs else ""),
            fix="Run `kore-plaid tunnel close-all`, then open the tunnel again; if it fails "
            "again, run the agent by hand to see its error.",
            step="5",
        )
    return RunbookError(
        f"pyngrok failed: {_first_line(text)}",
        fix="Run `kore-plaid tunnel close-all`, then open the tunnel again.",
        step="5",
    )


def _clean(text: str, secret: str) -> str:
    text = text.replace("\\r", "").replace("\\n", " ").replace("\r", "").replace("\n", " ")
    if secret:
        text = text.replace(secret, mask(secret))
    return re.sub(r"\s+", " ", text).strip()


def _code_in(text: str) -> str | None:
    match = re.search(r"ERR_NGROK_\d+", text)
    return match.group(0) if match else None


def _first_line(text: str) -> str:
    return text if len(text) <= 300 else text[:297] + "..."


def _api_message(exc: PyngrokNgrokHTTPError, secret: str) -> str:
    import json

    try:
        body = json.loads(exc.body)
        detail = body.get("details", {}).get("err") or ""
        return _clean(f"{body.get('msg', '')}: {detail}".strip(": "), secret)
    except (ValueError, AttributeError, TypeError):
        return _first_line(_clean(exc.body or str(exc), secret))


def home_agents(home: Path) -> list[int]:
    """Pids of agent processes started for this state folder (launcher or config path)."""
    markers = (str(home / "bin" / "ngrok"), str(tunnel_dir(home) / "ngrok.yml"))
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        is_agent = "start" in args and any(m in args for m in markers)
        if is_agent:
            found.append(int(entry.name))
    return found
