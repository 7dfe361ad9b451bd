"""Every value to type into Kore's "OAuth v2 - Custom" authorization profile, in form order.

Build it with :func:`build_profile`; render it with :meth:`KoreProfile.rows` (a notebook
table), :meth:`KoreProfile.to_markdown` or :meth:`KoreProfile.to_json`. The client secret is
masked unless ``reveal=True``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .. import services, tunnel
from ..errors import RunbookError
from ..settings import Settings, mask
from ..tunnel import TunnelInfo

TOKEN_PATH = "/api/send_the_access_token_AUTH"  # noqa: S105 - a URL path
LINK_RETURN_PATH = "/oauth-return"
TENANT_BASE_URL = "https://{tenant}.plaid.com"
IDENTITY_PROVIDER_NAME = "Plaid"
MODES = ("Pre-authorize the Integration", "Allow Users to Authorize the Integration")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})


@dataclass(frozen=True)
class AuthorizationField:
    """One row of the profile's Authorization Fields table (steps 8-9)."""

    field_type: str
    key: str
    value: str
    step: str


@dataclass(frozen=True)
class KoreProfile:
    """The authorization profile, field by field, in the order Kore's form asks for them."""

    authorization_type: str
    identity_provider_name: str
    callback_url: str
    client_id: str
    client_secret: str
    authorization_url: str
    token_request_url: str
    refresh_token_url: str
    scope: str
    subdomain: str
    base_url: str
    tenant: str
    authorization_fields: tuple[AuthorizationField, ...]
    plaid_allowed_redirect_uris: tuple[str, ...]
    link_redirect_uri: str
    modes: tuple[str, ...]
    public_url: str
    public_url_source: str
    reachable_by_kore: bool
    note: str
    secret_revealed: bool
    mode: str

    def rows(self) -> list[tuple[str, str, str]]:
        """(procedure step, field, value) in form order: a table for the notebook."""
        table = [
            ("4.i", "Authorization Type", self.authorization_type),
            ("4.ii", "Identity Provider Name", self.identity_provider_name),
            ("4.v-vi", "Callback URL (shown by Kore)", self.callback_url),
            ("4.iii", "Client ID", self.client_id),
            ("4.iv", "Client Secret", self.client_secret),
            ("5", "Authorization URL", self.authorization_url),
            ("7", "Token Request URL", self.token_request_url),
            ("7", "Refresh Token URL", self.refresh_token_url),
            ("-", "Scope", self.scope or "(leave empty)"),
            ("6", "Subdomain (Tenancy URL)", self.subdomain),
            ("6", "Base URL", self.base_url),
            ("6", "Tenant (typed when authorizing)", self.tenant),
        ]
        for number, item in enumerate(self.authorization_fields, start=1):
            table.append(
                (
                    item.step,
                    f"Authorization Field {number}",
                    f"{item.field_type} | {item.key} | {item.value}",
                )
            )
        for uri in self.plaid_allowed_redirect_uris:
            table.append(("4.v-vi", "Plaid dashboard: Allowed redirect URI", uri))
        table.append(("11-12", "Modes", " / ".join(self.modes)))
        return table

    def as_dict(self) -> dict[str, Any]:
        return {
            "authorization_type": self.authorization_type,
            "identity_provider_name": self.identity_provider_name,
            "callback_url": self.callback_url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "client_secret_revealed": self.secret_revealed,
            "authorization_url": self.authorization_url,
            "token_request_url": self.token_request_url,
            "refresh_token_url": self.refresh_token_url,
            "scope": self.scope,
            "subdomain": self.subdomain,
            "base_url": self.base_url,
            "tenant": self.tenant,
            "authorization_fields": [
                {"type": f.field_type, "key": f.key, "value": f.value, "step": f.step}
                for f in self.authorization_fields
            ],
            "plaid_allowed_redirect_uris": list(self.plaid_allowed_redirect_uris),
            "link_redirect_uri": self.link_redirect_uri,
            "modes": list(self.modes),
            "public_url": self.public_url,
            "public_url_source": self.public_url_source,
            "reachable_by_kore": self.reachable_by_kore,
            "note": self.note,
            "mode": self.mode,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent, ensure_ascii=False)

    def to_markdown(self) -> str:
        lines = ["| Step | Field | Value |", "|---|---|---|"]
        for step, name, value in self.rows():
            lines.append(f"| {step} | {name} | {_cell(value)} |")
        if self.note:
            lines += ["", f"Note: {self.note}"]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ") if value else ""


def is_public(url: str) -> bool:
    """True when Kore (on the internet) could reach ``url``: not a loopback address."""
    host = (urlsplit(url).hostname or "").lower()
    return bool(host) and host not in LOOPBACK_HOSTS and not host.startswith("127.")


def current_tunnel(settings: Settings) -> TunnelInfo | None:
    """The open tunnel, else None (a broken tunnel must not break the profile)."""
    try:
        return tunnel.current_tunnel(settings)
    except RunbookError:
        return None


def tunnel_public_url(settings: Settings) -> str | None:
    """The tunnel's public URL, when a tunnel is open."""
    found = current_tunnel(settings)
    return str(found.public_url).rstrip("/") if found is not None else None


def bridge_url(settings: Settings) -> str | None:
    """The URL of the bridge recorded as running in the state folder, if any."""
    record = services.read(settings.home, "bridge")
    return record.url.rstrip("/") if record is not None else None


def _resolve(settings: Settings) -> tuple[str, str, bool]:
    """(URL, where it came from, reachable by Kore)."""
    found = current_tunnel(settings)
    if found is not None:
        url = found.public_url.rstrip("/")
        local = found.local
        return url, "tunnel (local stand-in)" if local else "tunnel", not local and is_public(url)
    running = bridge_url(settings)
    if running is not None:
        return running, "running bridge", is_public(running)
    return f"http://127.0.0.1:{settings.app_port}", "APP_PORT (bridge not running)", False


def resolve_public_url(settings: Settings) -> str:
    """Tunnel URL, else the running bridge's URL, else ``http://127.0.0.1:APP_PORT``."""
    return _resolve(settings)[0]


def build_profile(
    settings: Settings, public_url: str | None = None, reveal: bool = False
) -> KoreProfile:
    """The profile for these settings; ``public_url`` defaults to :func:`resolve_public_url`."""
    if public_url:
        url, source, reachable = public_url.rstrip("/"), "given", is_public(public_url)
    else:
        url, source, reachable = _resolve(settings)
    secret = settings.secret if reveal else mask(settings.secret)
    token_url = url + TOKEN_PATH
    link_redirect = settings.link_redirect_uri or url + LINK_RETURN_PATH
    allowed = [settings.plaid_redirect_uri]
    if link_redirect not in allowed:
        allowed.append(link_redirect)
    notes = []
    if not reachable:
        notes.append(
            f"{url} ({source}) is not reachable from the internet: Kore cannot reach it yet. "
            "Open the ngrok tunnel (`kore-plaid tunnel open`, notebook 04_tunnel) and build the "
            "profile again before typing the URLs into Kore."
        )
    if settings.embedded:
        notes.append(
            "Embedded mode: demo keys and the local Plaid emulator; real Kore needs your own "
            "PLAID_CLIENT_ID / PLAID_SECRET in .env."
        )
    return KoreProfile(
        authorization_type="oAuth v2",
        identity_provider_name=IDENTITY_PROVIDER_NAME,
        callback_url=settings.plaid_redirect_uri,
        client_id=settings.client_id,
        client_secret=secret,
        authorization_url=url + "/",
        token_request_url=token_url,
        refresh_token_url=token_url,
        scope="",
        subdomain="Yes",
        base_url=TENANT_BASE_URL,
        tenant=settings.plaid_env,
        authorization_fields=(
            AuthorizationField("payload", "access_token", "{{accessToken}}", "8"),
            AuthorizationField("header", "PLAID-CLIENT-ID", settings.client_id, "9"),
            AuthorizationField("header", "PLAID-SECRET", secret, "9"),
        ),
        plaid_allowed_redirect_uris=tuple(allowed),
        link_redirect_uri=link_redirect,
        modes=MODES,
        public_url=url,
        public_url_source=source,
        reachable_by_kore=reachable,
        note=" ".join(notes),
        secret_revealed=reveal,
        mode=settings.mode,
    )


PROFILE_RECORD = "kore-profile.json"


def remember_public_url(settings: Settings, public_url: str) -> None:
    """Record the public URL the profile was shown with (what the user typed into Kore)."""
    path = settings.home / PROFILE_RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"public_url": public_url.rstrip("/")}))


def remembered_public_url(settings: Settings) -> str | None:
    """The public URL of the last profile shown, if any."""
    try:
        return str(json.loads((settings.home / PROFILE_RECORD).read_text())["public_url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
