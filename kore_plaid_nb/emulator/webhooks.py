"""The emulator's webhooks, signed as Plaid signs them, sent in the background.

Each webhook is a JSON body (2-space indented, as Plaid sends it) POSTed to the webhook URL
with the header ``Plaid-Verification: <JWT>``: an ES256 JWT whose header carries the ``kid``
of the emulator's P-256 key and whose claims are ``iat`` and ``request_body_sha256`` (hex
SHA-256 of the exact body bytes). The key lives in the emulator's SQLite file, so a restarted
emulator keeps its ``kid``; ``/webhook_verification_key/get`` serves its public JWK.

It also holds a key under the id of Plaid's published Sandbox key (:data:`SANDBOX_KID`, the
one Plaid's client tests ask for): generated here, since only Plaid has Plaid's private key, so
``/webhook_verification_key/get`` answers a valid P-256 JWK for it and :meth:`WebhookSender.sign`
can sign with it (``kid=SANDBOX_KID``); deliveries are signed with the emulator's own key.

One daemon thread delivers (never the request handler). Wait for delivery with
:meth:`WebhookSender.wait_idle` (in-process: ``app.state.webhooks``) or, from anywhere,
``GET /_emulator/webhooks?wait=<seconds>`` (see :func:`wait_for_deliveries`).
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from ..tls import client_context
from . import data
from .errors import PlaidAPIError, item_error
from .store import ENVIRONMENT, Item, SigningKey, Store

log = logging.getLogger("kore_plaid_nb.emulator")

HEADER = "Plaid-Verification"
DELIVERY_TIMEOUT = 10.0  # Plaid gives a receiver 10 seconds
KEPT_DELIVERIES = 200

Body = dict[str, object]

# Plaid's Sandbox webhook key id, as Plaid's client tests ask for it (plaid-python
# tests/integration/util.py WEBHOOK_VERIFICATION_KEY_ID; plaid-go plaid/webhooks_test.go)
SANDBOX_KID = "6c5516e1-92dc-479e-a8ff-5a51992e0001"
# dated before any key of the emulator's own, so it is never taken for the newest
SANDBOX_KEY_CREATED_AT = 1560466143

# webhook_type of DEFAULT_UPDATE -> the product the Item needs (Plaid's Sandbox list)
DEFAULT_UPDATE_PRODUCTS = {
    "AUTH": "auth",
    "IDENTITY": "identity",
    "TRANSACTIONS": "transactions",
    "INVESTMENTS_TRANSACTIONS": "investments",
    "HOLDINGS": "investments",
    "LIABILITIES": "liabilities",
}
# webhook_code -> the webhook_type it is sent with (DEFAULT_UPDATE: see above)
FIRE_TYPES = {
    "NEW_ACCOUNTS_AVAILABLE": "ITEM",
    "ERROR": "ITEM",
    "PENDING_DISCONNECT": "ITEM",
    "USER_PERMISSION_REVOKED": "ITEM",
    "USER_ACCOUNT_REVOKED": "ITEM",
    "LOGIN_REPAIRED": "ITEM",
    "SYNC_UPDATES_AVAILABLE": "TRANSACTIONS",
    "RECURRING_TRANSACTIONS_UPDATE": "TRANSACTIONS",
}
# codes plaid-python allows that concern products the emulator has no Items for
NOT_EMULATED = frozenset({"SMS_MICRODEPOSITS_VERIFICATION", "AUTHORIZATION_GRANTED",
                          "PRODUCT_READY"})  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def encode(payload: Body) -> bytes:
    """The exact bytes sent (and hashed): JSON with a 2-space indent, as Plaid sends."""
    return json.dumps(payload, indent=2).encode()


# ---------------------------------------------------------------------------- bodies


def item_webhook(
    item_id: str, webhook_code: str, webhook_type: str = "ITEM", **extra: object
) -> Body:
    return {
        "webhook_type": webhook_type,
        "webhook_code": webhook_code,
        "item_id": item_id,
        **extra,
        "environment": ENVIRONMENT,
    }


def transactions_webhook(item_id: str, webhook_code: str, **extra: object) -> Body:
    """A ``TRANSACTIONS`` webhook: INITIAL_UPDATE, HISTORICAL_UPDATE, DEFAULT_UPDATE (with
    ``error`` and ``new_transactions``) or SYNC_UPDATES_AVAILABLE (with the two flags)."""
    return item_webhook(item_id, webhook_code, "TRANSACTIONS", **extra)


def sync_updates_available(item_id: str, *, historical_update_complete: bool) -> Body:
    return transactions_webhook(
        item_id,
        "SYNC_UPDATES_AVAILABLE",
        initial_update_complete=True,
        historical_update_complete=historical_update_complete,
    )


def error_object(error_code: str) -> Body:
    """The ``error`` of an Item webhook: Plaid's error object with its HTTP status."""
    return {**item_error(error_code), "status": PlaidAPIError(error_code).status}


def fire_body(item: Item, webhook_code: str, webhook_type: str | None) -> Body:
    """The body ``/sandbox/item/fire_webhook`` sends; a Plaid error if the code does not fit."""
    if webhook_code in NOT_EMULATED:
        raise PlaidAPIError(
            "SANDBOX_PRODUCT_NOT_ENABLED", f"the product of {webhook_code} is not enabled"
        )
    if webhook_code == "DEFAULT_UPDATE":
        kind = webhook_type or "TRANSACTIONS"
        product = DEFAULT_UPDATE_PRODUCTS.get(kind)
        if product is None:
            raise PlaidAPIError(
                "INVALID_FIELD",
                f"webhook_type must be one of {', '.join(DEFAULT_UPDATE_PRODUCTS)} for "
                "DEFAULT_UPDATE",
            )
    else:
        kind = FIRE_TYPES[webhook_code]
        if webhook_type is not None and webhook_type != kind:
            if webhook_code == "ERROR" and webhook_type == "ASSETS":
                raise PlaidAPIError("SANDBOX_PRODUCT_NOT_ENABLED",
                                    "the assets product is not enabled on this item")  # fmt: skip
            raise PlaidAPIError(
                "INVALID_FIELD", f"webhook_type must be {kind} (or omitted) for {webhook_code}"
            )
        product = "transactions" if kind == "TRANSACTIONS" else None
    if product is not None and product not in item.products:
        raise PlaidAPIError(
            "SANDBOX_PRODUCT_NOT_ENABLED", f"the {product} product is not enabled on this item"
        )
    if webhook_code == "SYNC_UPDATES_AVAILABLE":
        return sync_updates_available(item.item_id, historical_update_complete=True)
    return item_webhook(item.item_id, webhook_code, kind, **_fire_fields(item, webhook_code, kind))


def _fire_fields(item: Item, code: str, kind: str) -> Body:
    """The fields of a fired webhook beyond type, code and item (the Item's own accounts)."""
    country = data.country(item.institution_id)
    account_ids = [a["account_id"] for a in data.accounts(item.item_id, country)]
    now = datetime.now(UTC)
    if code == "DEFAULT_UPDATE":
        by_kind: dict[str, Body] = {
            "TRANSACTIONS": {"error": None, "new_transactions": 0},
            "AUTH": {"error": None, "account_ids_with_new_auth": [],
                     "account_ids_with_updated_auth": {}},
            "IDENTITY": {"error": None, "account_ids_with_updated_identity": {}},
            "HOLDINGS": {"error": None, "new_holdings": 0, "updated_holdings": 0},
            "INVESTMENTS_TRANSACTIONS": {"error": None, "new_investments_transactions": 0,
                                         "cancelled_investments_transactions": 0},
            "LIABILITIES": {"error": None, "account_ids_with_new_liabilities": [],
                            "account_ids_with_updated_liabilities": {}},
        }  # fmt: skip
        return by_kind[kind]
    by_code: dict[str, Body] = {
        "NEW_ACCOUNTS_AVAILABLE": {"error": None},
        "ERROR": {"error": error_object("ITEM_LOGIN_REQUIRED")},
        "PENDING_DISCONNECT": {"reason": "INSTITUTION_TOKEN_EXPIRATION",
                               "disconnect_time": _iso(now + timedelta(days=7))},
        "USER_PERMISSION_REVOKED": {"error": error_object("USER_PERMISSION_REVOKED")},
        "USER_ACCOUNT_REVOKED": {"account_id": account_ids[0]},
        "LOGIN_REPAIRED": {},
        "RECURRING_TRANSACTIONS_UPDATE": {"account_ids": account_ids},
    }  # fmt: skip
    return by_code[code]


def link_webhooks(link_token: str, link_session_id: str, public_tokens: list[str]) -> list[Body]:
    """What a finished Hosted Link session sends: ITEM_ADD_RESULT per Item, SESSION_FINISHED."""
    common = {"link_session_id": link_session_id, "link_token": link_token}
    bodies: list[Body] = [
        {"webhook_type": "LINK", "webhook_code": "ITEM_ADD_RESULT", **common,
         "public_token": token, "environment": ENVIRONMENT}
        for token in public_tokens
    ]  # fmt: skip
    bodies.append(
        {"webhook_type": "LINK", "webhook_code": "SESSION_FINISHED", "status": "SUCCESS",
         **common, "public_tokens": list(public_tokens), "environment": ENVIRONMENT}
    )  # fmt: skip
    return bodies


def link_exit_webhook(link_token: str, link_session_id: str) -> Body:
    """What a Hosted Link session the user left sends: SESSION_FINISHED, EXITED, no tokens."""
    return {"webhook_type": "LINK", "webhook_code": "SESSION_FINISHED", "status": "EXITED",
            "link_session_id": link_session_id, "link_token": link_token,
            "environment": ENVIRONMENT}  # fmt: skip


def valid_webhook_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _safe_url(url: str) -> str:
    """scheme://host/path: a webhook URL's query may carry a receiver's secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


# ---------------------------------------------------------------------------- sending


def _private_key(stored: SigningKey) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(stored.private_key_pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError("the stored webhook signing key is not an EC key")
    return key


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver a webhook (no body: it may carry public tokens)."""

    url: str
    webhook_type: str
    webhook_code: str
    status_code: int | None
    error: str | None
    sent_at: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


Job = tuple[str, bytes, str, str]  # url, body, webhook_type, webhook_code


def _job(url: str, payload: Body) -> Job:
    return url, encode(payload), str(payload.get("webhook_type")), str(payload.get("webhook_code"))


class WebhookSender:
    """The signing key and the outbox: :meth:`send` queues, one daemon thread POSTs."""

    def __init__(self, store: Store, *, timeout: float = DELIVERY_TIMEOUT) -> None:
        self.store = store
        self.timeout = timeout
        self.kid, self._private_key, self.created_at = self._load_or_create_key()
        self._ensure_key(SANDBOX_KID, SANDBOX_KEY_CREATED_AT)
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._held: dict[str, list[Job]] = {}  # url -> webhooks waiting for send_later's time
        self._lock = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self.deliveries: collections.deque[Delivery] = collections.deque(maxlen=KEPT_DELIVERIES)

    def _load_or_create_key(self) -> tuple[str, ec.EllipticCurvePrivateKey, int]:
        """The emulator's own key: the newest stored one (never the Sandbox kid's)."""
        stored = self.store.signing_key()
        if stored is None or stored.kid == SANDBOX_KID:
            stored = self._ensure_key(str(uuid.uuid4()), int(time.time()))
        return stored.kid, _private_key(stored), stored.created_at

    def _ensure_key(self, kid: str, created_at: int) -> SigningKey:
        """The stored key ``kid``; a new P-256 key under that id if there is none."""
        stored = self.store.signing_key(kid)
        if stored is None:
            pem = (
                ec.generate_private_key(ec.SECP256R1())
                .private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                .decode()
            )
            stored = SigningKey(kid, pem, created_at)
            self.store.add_signing_key(stored)
        return stored

    def jwk(self, kid: str) -> Body | None:
        """The public JWK of ``kid`` as ``/webhook_verification_key/get`` answers; None if
        the emulator never had that key."""
        stored = self.store.signing_key(kid)
        if stored is None:
            return None
        public = ECAlgorithm.to_jwk(_private_key(stored).public_key(), as_dict=True)
        return {
            "alg": "ES256",
            "crv": public["crv"],
            "kid": stored.kid,
            "kty": public["kty"],
            "use": "sig",
            "x": public["x"],
            "y": public["y"],
            "created_at": stored.created_at,
            "expired_at": None,
        }

    def sign(self, body: bytes, now: float | None = None, kid: str | None = None) -> str:
        """The ``Plaid-Verification`` JWT of ``body``, with the emulator's own key or with the
        stored key ``kid`` (e.g. :data:`SANDBOX_KID`); KeyError if there is no such key."""
        private_key = self._private_key
        if kid is not None and kid != self.kid:
            stored = self.store.signing_key(kid)
            if stored is None:
                raise KeyError(f"the emulator has no webhook signing key {kid!r}")
            private_key = _private_key(stored)
        claims = {
            "iat": int(now if now is not None else time.time()),
            "request_body_sha256": hashlib.sha256(body).hexdigest(),
        }
        headers = {"kid": kid or self.kid, "typ": "JWT"}
        return jwt.encode(claims, private_key, algorithm="ES256", headers=headers)

    def send(self, url: str | None, payload: Body) -> bool:
        """Queue ``payload`` for ``url``; returns at once. False (nothing sent) without a URL.
        Behind webhooks held for the same URL (:meth:`send_later`), it waits its turn."""
        if not url or self._closed:
            return False
        job = _job(url, payload)
        with self._lock:
            self._pending += 1
            held = self._held.get(url)
            if held is not None:
                held.append(job)
                return True
        self._enqueue([job])
        return True

    def send_later(self, url: str | None, payloads: Sequence[Body], after: float) -> bool:
        """Queue ``payloads`` for ``url`` ``after`` seconds from now; what is sent to that URL
        meanwhile follows them, in order. Counted as pending at once (:meth:`wait_idle` waits
        for them). False without a URL."""
        if not url or self._closed or not payloads:
            return False
        with self._lock:
            self._pending += len(payloads)
            held = self._held.get(url)
            if held is None:
                held = self._held[url] = []
                timer = threading.Timer(after, self._release, (url,))
                timer.daemon = True
                timer.start()
            held.extend(_job(url, payload) for payload in payloads)
        return True

    def _release(self, url: str) -> None:
        with self._lock:
            jobs = self._held.pop(url, [])
        self._enqueue(jobs)

    def _enqueue(self, jobs: list[Job]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="emulator-webhooks", daemon=True
                )
                self._thread.start()
        for job in jobs:
            self._queue.put(job)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued webhook was attempted; False if ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def report(self) -> Body:
        """What ``GET /_emulator/webhooks`` answers."""
        deliveries = [asdict(d) for d in self.deliveries]
        return {"kid": self.kid, "pending": self.pending, "deliveries": deliveries}

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)

    def _run(self) -> None:
        with httpx.Client(
            timeout=self.timeout, follow_redirects=False, trust_env=False, verify=client_context()
        ) as http:
            while True:
                job = self._queue.get()
                if job is None:
                    return
                try:
                    self._deliver(http, *job)
                finally:
                    with self._lock:
                        self._pending -= 1
                        self._lock.notify_all()

    def _deliver(self, http: httpx.Client, url: str, body: bytes, kind: str, code: str) -> None:
        status, error = None, None
        try:
            response = http.post(
                url,
                content=body,
                headers={"Content-Type": "application/json", HEADER: self.sign(body)},
            )
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        except Exception as exc:  # a broken URL must not end the sender
            error = type(exc).__name__
        if error is not None:
            log.warning("emulator: webhook %s %s to %s failed: %s", kind, code, _safe_url(url),
                        error)  # fmt: skip
        self.deliveries.append(Delivery(_safe_url(url), kind, code, status, error, time.time()))


def wait_for_deliveries(
    emulator_url: str, client_id: str, secret: str, timeout: float = 10.0
) -> Body:
    """From any process: wait until the emulator has attempted every queued webhook; returns
    ``{pending, deliveries: [{url, webhook_type, webhook_code, status_code, error, sent_at}]}``."""
    response = httpx.get(
        emulator_url.rstrip("/") + "/_emulator/webhooks",
        params={"wait": str(timeout)},
        headers={"PLAID-CLIENT-ID": client_id, "PLAID-SECRET": secret},
        timeout=timeout + 5,
        verify=client_context(),
    )
    response.raise_for_status()
    report: Body = response.json()
    return report
