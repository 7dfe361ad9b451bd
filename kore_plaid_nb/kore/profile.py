"""Every value to type into Kore's "OAuth v2 - Custom" authorization profile, in form order.

Build it with :func:`build_profile`. :meth:`KoreProfile.form_rows` lists the form's inputs in
the order Kore's form shows them, one row per input with Kore's own label, the procedure step
that fills it, and where the row comes from (the seed procedure or Kore's docs: the OAuth v2
page gives the labels, Kore's HubSpot guide the order). Rows that not every form shows say so
(``shown``). :meth:`KoreProfile.elsewhere_rows` lists the values that go elsewhere (Plaid's
dashboard, the tenant Kore asks for on *Authorize*). Render with :meth:`KoreProfile.to_text`
(terminal), :meth:`KoreProfile.to_markdown` or :meth:`KoreProfile.to_json`; the notebook view
is :mod:`.profile_view`. The client secret is masked unless ``reveal=True``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from .. import services, tunnel
from ..command_line import cli_command
from ..errors import RunbookError
from ..private_files import private_folder, write_private
from ..settings import Settings, mask
from ..tables import format_table
from ..tunnel import TunnelInfo

TOKEN_PATH = "/api/send_the_access_token_AUTH"  # noqa: S105 - a URL path  # nosec B105
LINK_RETURN_PATH = "/oauth-return"
TENANT_BASE_URL = "https://{tenant}.plaid.com"
IDENTITY_PROVIDER_NAME = "Plaid"
MODES = ("Pre-authorize the Integration", "Allow Users to Authorize the Integration")
# "0.0.0.0" is listed to refuse it as a public URL; nothing binds to it
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})  # noqa: S104  # nosec B104
REVEAL_ARGUMENTS = "profile --reveal"
FORM_TITLE = (
    'Kore: Custom > Select Authorization > Create New, type "oAuth v2" (in the form\'s order)'
)
ELSEWHERE_TITLE = "Outside the profile form"
REMARKS_TITLE = "About some rows"
ALWAYS = "always"  # a row's ``shown`` when every variant of Kore's form has the input
# where a row comes from (FACTS: the seed procedure; Kore's XO docs)
SEED = "the seed procedure"
KORE_OAUTH_PAGE = "Kore's docs, OAuth v2 page"
KORE_AGENT_PLATFORM = "Kore's docs, the Agent Platform's OAuth v2 page"
KORE_PLAID_GUIDE = "Kore's docs, Plaid guide"
LANGUAGE_SOURCE = (
    "ui_locales: OpenID Connect Core 1.0, 3.1.2.1; that Kore keeps a query in the Authorization "
    "URL: an assumption (the project's issue 27), not seen on the wire"
)
# what each public_url_source means, in a sentence
SOURCE_PHRASES = {
    "tunnel": "the ngrok tunnel's URL",
    "tunnel (local stand-in)": "the local ngrok stand-in's URL (embedded mode)",
    "running bridge": "the running bridge's local URL (no tunnel is open)",
    "APP_PORT (bridge not running)": "the bridge's local address from APP_PORT (not running)",
    "given": "the URL given with --url",
}


@dataclass(frozen=True)
class AuthorizationField:
    """One row of the profile's Authorization Fields table (steps 8-9)."""

    field_type: str
    key: str
    value: str
    step: str


@dataclass(frozen=True)
class ProfileRow:
    """One input: the procedure step, the label Kore shows, what to do, the value.

    ``value`` is what may be shown: masked when ``secret`` (unless the profile was built
    with ``reveal=True``). ``link`` marks a URL that can be opened as it is. ``shown`` says
    when Kore's form has the input (:data:`ALWAYS`, or the condition); ``source`` where the
    row comes from; ``note`` anything else to know about it.
    """

    step: str
    label: str
    action: str
    value: str
    secret: bool = False
    link: bool = False
    shown: str = ALWAYS
    source: str = ""
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "label": self.label,
            "action": self.action,
            "value": self.value,
            "secret": self.secret,
            "shown": self.shown,
            "source": self.source,
            "note": self.note,
        }

    def remark(self) -> str:
        """When the form shows it and what to know, with the source; empty when nothing."""
        parts = [f"{self.shown}." if self.shown != ALWAYS else "", self.note]
        said = " ".join(part for part in parts if part)
        if not said:
            return ""
        source = f" Source: {self.source}." if self.source else ""
        return f"{self.label}: {said[0].upper()}{said[1:]}{source}"


def _is_link(value: str) -> bool:
    return value.startswith(("https://", "http://")) and "{" not in value


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
    access_using_connector: str
    description: str
    additional_fields: tuple[tuple[str, str], ...]
    auth_error_status_code: str
    plaid_allowed_redirect_uris: tuple[str, ...]
    link_redirect_uri: str
    modes: tuple[str, ...]
    public_url: str
    public_url_source: str
    reachable_by_kore: bool
    note: str
    secret_revealed: bool
    mode: str

    def form_rows(self) -> list[ProfileRow]:
        """Kore's form, one row per input, in the form's order (the procedure's step each)."""
        table = [
            *self._client_rows(),
            *self._url_rows(),
            *self._authorization_field_rows(),
            ProfileRow(
                "-",
                "Auth Error Status Code",
                "leave empty (if shown)",
                self.auth_error_status_code,
                shown="only on the Agent Platform's form",
                source=KORE_AGENT_PLATFORM,
            ),
        ]
        # a link only where a browser has something to open: Kore's server POSTs to the token
        # URLs (a browser on them gets "not a page"), so they are text with Copy (issue 29)
        post_only = (self.token_request_url, self.refresh_token_url)
        return [replace(r, link=_is_link(r.value) and r.value not in post_only) for r in table]

    def _client_rows(self) -> list[ProfileRow]:
        """Authorization Type to Client Secret Key."""
        return [
            ProfileRow(
                "4.i",
                "Authorization Type",
                "select",
                self.authorization_type,
                source=f"{SEED}, step 4.i",
            ),
            ProfileRow(
                "4.v-vi",
                "Callback Link",
                "read-only: check it shows exactly this",
                self.callback_url,
                source=KORE_OAUTH_PAGE,
                note="Kore fills it in. It must equal PLAID_REDIRECT_URI character for "
                "character (notebook 02): the bridge sends the user back to that URL only.",
            ),
            ProfileRow(
                "4.ii",
                "Identity Provider Name",
                "type (any name)",
                self.identity_provider_name,
                source=f"{SEED}, step 4.ii",
            ),
            ProfileRow("4.iii", "Client ID", "paste", self.client_id, source=f"{SEED}, step 4.iii"),
            ProfileRow(
                "4.iv",
                "Client Secret Key",
                "paste",
                self.client_secret,
                secret=True,
                source=f"{SEED}, step 4.iv",
            ),
        ]

    def _url_rows(self) -> list[ProfileRow]:
        """Authorization URL to Additional Fields."""
        return [
            ProfileRow(
                "5",
                "Authorization URL",
                "paste",
                self.authorization_url,
                source=f"{SEED}, step 5; {LANGUAGE_SOURCE}",
                note="Its pages speak the browser's language (English, Spanish, French, German "
                "or Dutch); to choose one for a bot, end the URL with ?ui_locales=es (or fr, "
                "de, nl): Kore keeps a query there and adds its own parameters after it.",
            ),
            ProfileRow(
                "-",
                "Access Using a Connector",
                "select",
                self.access_using_connector,
                shown="may not be shown",
                source=KORE_OAUTH_PAGE,
                note="No: the tunnel makes the bridge public; a connector reaches servers "
                "behind a firewall (inference).",
            ),
            ProfileRow(
                "7", "Token Request URL", "paste", self.token_request_url, source=f"{SEED}, step 7"
            ),
            ProfileRow(
                "-",
                "Scope",
                "leave empty",
                self.scope,
                source=KORE_OAUTH_PAGE,
                note="Plaid has no OAuth scopes; the bridge ignores a scope.",
            ),
            ProfileRow(
                "7", "Refresh Token URL", "paste", self.refresh_token_url, source=f"{SEED}, step 7"
            ),
            ProfileRow(
                "-",
                "Description",
                "optional (any text)",
                self.description,
                source=KORE_OAUTH_PAGE,
            ),
            ProfileRow(
                "6", "Subdomain / Tenancy URL", "select", self.subdomain, source=f"{SEED}, step 6"
            ),
            ProfileRow(
                "6", "Base URL", "paste ({tenant} as is)", self.base_url, source=f"{SEED}, step 6"
            ),
            ProfileRow(
                "-",
                "Additional Fields",
                "add none",
                ", ".join(f"{key}={value}" for key, value in self.additional_fields),
                source=KORE_OAUTH_PAGE,
            ),
        ]

    def _authorization_field_rows(self) -> list[ProfileRow]:
        """Three rows (type, key, value) per Authorization Field (steps 8-9)."""
        rows: list[ProfileRow] = []
        for number, item in enumerate(self.authorization_fields, start=1):
            prefix = f"Authorization Field {number} > "
            source = f"{SEED}, step {item.step}"
            is_secret = item.field_type == "header" and item.key == "PLAID-SECRET"
            first = ProfileRow(
                item.step,
                prefix + "Field Type",
                "select (Add Authorization Fields)",
                item.field_type,
                source=source,
            )
            if number == 1:
                first = replace(
                    first,
                    action="select (edit the existing field, or add one)",
                    source=f"{KORE_PLAID_GUIDE}; {KORE_OAUTH_PAGE}",
                    note="Kore's docs disagree on whether the form starts with an "
                    "Authorization field (the Plaid guide says edit it; the OAuth v2 page "
                    "says none by default): edit it if it is there, else add it.",
                )
            rows += [
                first,
                ProfileRow(item.step, prefix + "Field Key", "type", item.key, source=source),
                ProfileRow(
                    item.step, prefix + "Field Value", "paste", item.value, is_secret, source=source
                ),
            ]
        return rows

    def remarks(self) -> list[str]:
        """One line per form row that is not on every form or has something to know."""
        return [said for said in (row.remark() for row in self.form_rows()) if said]

    def elsewhere_rows(self) -> list[ProfileRow]:
        """Values typed outside the profile form: Plaid's dashboard, Kore's Authorize step."""
        rows = [
            ProfileRow(
                "4.v-vi",
                "Plaid dashboard > Developers > API > Allowed redirect URIs",
                "add",
                uri,
                link=_is_link(uri),
            )
            for uri in self.plaid_allowed_redirect_uris
        ]
        rows.append(ProfileRow("11", "Tenant (Kore asks on Authorize)", "type", self.tenant))
        return rows

    def rows(self) -> list[tuple[str, str, str]]:
        """(procedure step, Kore input, value): the form's rows, then the ones elsewhere."""
        return [(r.step, r.label, r.value) for r in self.form_rows() + self.elsewhere_rows()]

    @property
    def reveal_command(self) -> str:
        """The command, typed at the project root, that prints the secret in clear."""
        return cli_command(REVEAL_ARGUMENTS)

    def secret_hint(self) -> str:
        """How to get the masked secret (empty when it is shown)."""
        if self.secret_revealed:
            return ""
        return (
            "Client Secret Key and PLAID-SECRET are masked. In a terminal at the project's folder, "
            f"`{self.reveal_command}` prints them."
        )

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
            "access_using_connector": self.access_using_connector,
            "description": self.description,
            "additional_fields": [{"key": k, "value": v} for k, v in self.additional_fields],
            "auth_error_status_code": self.auth_error_status_code,
            "plaid_allowed_redirect_uris": list(self.plaid_allowed_redirect_uris),
            "link_redirect_uri": self.link_redirect_uri,
            "modes": list(self.modes),
            "public_url": self.public_url,
            "public_url_source": self.public_url_source,
            "reachable_by_kore": self.reachable_by_kore,
            "note": self.note,
            "mode": self.mode,
            "form": [row.as_dict() for row in self.form_rows()],
            "elsewhere": [row.as_dict() for row in self.elsewhere_rows()],
            "reveal_command": self.reveal_command,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent, ensure_ascii=False)

    def to_text(self, secret_hint: str | None = None) -> str:
        """Plain aligned tables (a terminal, nbval, the run's summary); no Markdown.

        ``secret_hint`` replaces :meth:`secret_hint` (the notebook has its own)."""
        headers = ("step", "Kore input", "what to do", "value")

        def table(rows: list[ProfileRow]) -> str:
            return format_table(headers, [(r.step, r.label, r.action, r.value) for r in rows])

        parts = [FORM_TITLE, table(self.form_rows()), "", REMARKS_TITLE]
        parts += [f"- {said}" for said in self.remarks()]
        parts += ["", ELSEWHERE_TITLE, table(self.elsewhere_rows())]
        hint = self.secret_hint() if secret_hint is None else secret_hint
        notes = [n for n in (self.note, hint) if n]
        if notes:
            parts += ["", *notes]
        return "\n".join(parts)

    def to_markdown(self) -> str:
        lines = ["| Step | Kore input | What to do | Value |", "|---|---|---|---|"]
        for row in self.form_rows() + self.elsewhere_rows():
            lines.append(
                f"| {row.step} | {_cell(row.label)} | {_cell(row.action)} | {_cell(row.value)} |"
            )
        lines += ["", f"{REMARKS_TITLE}:", ""]
        lines += [f"- {said}" for said in self.remarks()]
        for note in (self.note, self.secret_hint()):
            if note:
                lines += ["", f"Note: {note}"]
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
    settings: Settings,
    public_url: str | None = None,
    reveal: bool = False,
    public_url_source: str = "given",
) -> KoreProfile:
    """The profile for these settings; ``public_url`` defaults to :func:`resolve_public_url`.

    ``public_url_source`` says where a given ``public_url`` comes from (a key of
    :data:`SOURCE_PHRASES`), for the note shown when Kore cannot reach it."""
    if public_url:
        url, source, reachable = public_url.rstrip("/"), public_url_source, is_public(public_url)
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
        where = SOURCE_PHRASES.get(source, source)
        notes.append(
            f"{url} is {where}, not reachable from the internet: Kore cannot reach it yet. "
            f"Open the ngrok tunnel (`{cli_command('tunnel open')}`, notebook 04_tunnel) and "
            "build the profile again before typing the URLs into Kore."
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
        access_using_connector="No",
        description="",
        additional_fields=(),
        auth_error_status_code="",
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
    path = private_folder(settings.home) / PROFILE_RECORD
    write_private(path, json.dumps({"public_url": public_url.rstrip("/")}))


def remembered_public_url(settings: Settings) -> str | None:
    """The public URL of the last profile shown, if any."""
    try:
        return str(json.loads((settings.home / PROFILE_RECORD).read_text())["public_url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
