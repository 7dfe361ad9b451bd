"""Plaid webhook verification, as Plaid documents it ("Verify webhooks").

Every webhook carries a ``Plaid-Verification`` header: a JWT whose header names the signing
key (``kid``) and whose claims hold ``iat`` and the SHA-256 of the body. A webhook is
accepted only when:

1. the JWT's header, read without verification, says ``alg: ES256`` (anything else,
   ``none`` and ``HS256`` included, is refused before any key is looked at);
2. the key ``kid`` names is one Plaid hands out (``/webhook_verification_key/get``, cached
   per ``kid``, see :class:`KeyCache`) and has no ``expired_at``;
3. the signature verifies with that key (PyJWT, ES256 only);
4. ``iat`` is at most :data:`MAX_AGE_SECONDS` old (and not in the future);
5. the SHA-256 hex digest of the raw body equals ``request_body_sha256`` (constant time).

A refusal is a :class:`WebhookRejected` that names the reason; nothing of the JWT or the
body is in it.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import jwt

from .client_address import budget_key

ALGORITHM = "ES256"
MAX_AGE_SECONDS = 5 * 60
FUTURE_LEEWAY_SECONDS = 30  # clocks differ a little: a JWT "issued" that far ahead passes
KEY_CACHE_SECONDS = 3600.0  # a key is asked for again after this (Plaid may expire it)
UNKNOWN_KEY_SECONDS = 60.0  # a kid Plaid does not know is not asked for again before this
# Keys that verified a webhook are kept (Plaid has a handful); every other kid asked of
# Plaid (unknown ones above all) lives in an LRU of its own, which forgeries cannot grow
# past this nor use to push out Plaid's real keys.
MAX_UNVERIFIED_KIDS = 64
# Plaid is asked for kids not in the cache at most this often per client (an IPv4 address,
# an IPv6 /64: budget_key), and at most KEY_LOOKUPS_OVERALL_PER_MINUTE overall: forged
# webhooks that name a new kid each cannot turn the bridge into a stream of calls to Plaid,
# and one sender's forgeries do not spend the lookups Plaid's own webhooks need.
KEY_LOOKUPS_PER_MINUTE = 10
KEY_LOOKUPS_OVERALL_PER_MINUTE = 100
MAX_JWT_LENGTH = 4096

# The key for a kid (a JWK as Plaid's /webhook_verification_key/get returns it), or None
# when Plaid knows no such key. Raises when Plaid cannot be asked.
KeySource = Callable[[str], Mapping[str, Any] | None]

FIX = (
    "Webhooks come from Plaid, signed: send them through Plaid (Sandbox: "
    "/sandbox/item/fire_webhook), unchanged, within 5 minutes of signing."
)


class WebhookRejected(Exception):
    """The webhook is not verifiably Plaid's: ``reason`` (a short code) and a message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.fix = FIX


class KeyLookupsExhausted(Exception):
    """Too many keys never seen before were asked of Plaid in the last minute: the webhook
    cannot be checked now (answer 503 with ``Retry-After``; Plaid sends it again)."""

    retry_after = 60
    message = (
        "This webhook names a signing key the bridge has not seen, and too many new keys were "
        "asked of Plaid in the last minute."
    )
    fix = "Nothing to do for Plaid's own webhooks: Plaid sends them again later."


class LookupBudget:
    """Lookups of new kids in the last minute, per client (:func:`budget_key`) and overall."""

    def __init__(self) -> None:
        self._by_address: dict[str, list[float]] = {}
        self._all: list[float] = []

    def spend(self, address: str, now: float) -> None:
        """Count one lookup for ``address``; :class:`KeyLookupsExhausted` past a budget."""
        address = budget_key(address)
        self._all = [t for t in self._all if now - t < 60.0]
        if len(self._by_address) > KEY_LOOKUPS_OVERALL_PER_MINUTE:  # forget quiet addresses
            self._by_address = {
                a: times for a, times in self._by_address.items() if now - times[-1] < 60.0
            }
        mine = [t for t in self._by_address.get(address, ()) if now - t < 60.0]
        if len(mine) >= KEY_LOOKUPS_PER_MINUTE or len(self._all) >= KEY_LOOKUPS_OVERALL_PER_MINUTE:
            raise KeyLookupsExhausted()
        self._by_address[address] = [*mine, now]
        self._all.append(now)


class KeyCache:
    """Keys by kid: the ones that verified a webhook (never evicted), and an LRU of
    :data:`MAX_UNVERIFIED_KIDS` other kids (a JWK, or None when Plaid knows no such kid),
    each with the time Plaid was asked."""

    def __init__(self) -> None:
        self.verified: dict[str, tuple[float, Mapping[str, Any] | None]] = {}
        self.unverified: OrderedDict[str, tuple[float, Mapping[str, Any] | None]] = OrderedDict()

    def get(self, kid: str) -> tuple[float, Mapping[str, Any] | None] | None:
        entry = self.verified.get(kid)
        if entry is None:
            entry = self.unverified.get(kid)
            if entry is not None:
                self.unverified.move_to_end(kid)
        return entry

    def put(self, kid: str, at: float, jwk: Mapping[str, Any] | None) -> None:
        if kid in self.verified:
            self.verified[kid] = (at, jwk)
            return
        self.unverified[kid] = (at, jwk)
        self.unverified.move_to_end(kid)
        while len(self.unverified) > MAX_UNVERIFIED_KIDS:
            self.unverified.popitem(last=False)

    def mark_verified(self, kid: str) -> None:
        entry = self.unverified.pop(kid, None)
        if entry is not None:
            self.verified[kid] = entry


class WebhookVerifier:
    """Verifies ``Plaid-Verification`` headers; keys come from ``keys`` and are cached per
    kid (thread-safe)."""

    def __init__(
        self,
        keys: KeySource,
        clock: Callable[[], float] = time.time,
        max_age: float = MAX_AGE_SECONDS,
    ) -> None:
        self._keys = keys
        self._clock = clock
        self._max_age = max_age
        self._lock = threading.Lock()
        self._cache = KeyCache()
        self._budget = LookupBudget()

    def verify(self, body: bytes, header: str | None, address: str = "") -> dict[str, Any]:
        """The verified claims, or :class:`WebhookRejected`; ``address``: the sender's, whose
        lookups of new kids are budgeted (:class:`KeyLookupsExhausted`)."""
        if not header:
            raise WebhookRejected(
                "missing_signature", "The webhook has no Plaid-Verification header."
            )
        if len(header) > MAX_JWT_LENGTH:
            raise WebhookRejected("malformed_signature", "Plaid-Verification is too long.")
        try:
            jwt_header = jwt.get_unverified_header(header)
        except jwt.PyJWTError:
            raise WebhookRejected(
                "malformed_signature", "Plaid-Verification is not a JSON Web Token."
            ) from None
        if jwt_header.get("alg") != ALGORITHM:
            raise WebhookRejected(
                "wrong_algorithm", f"Plaid-Verification is not signed with {ALGORITHM}."
            )
        kid = jwt_header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 200:
            raise WebhookRejected("malformed_signature", "Plaid-Verification names no key (kid).")
        key = self._key(kid, address)
        claims = self._decode(header, key)
        with self._lock:  # a genuine signature: Plaid's key, kept
            self._cache.mark_verified(kid)
        self._check_age(claims)
        self._check_body(body, claims)
        return claims

    def _key(self, kid: str, address: str) -> jwt.PyJWK:
        jwk = self._cached(kid, address)
        if jwk is None:
            raise WebhookRejected(
                "unknown_key", "Plaid-Verification names a key Plaid does not know."
            )
        if jwk.get("expired_at") is not None:
            raise WebhookRejected("expired_key", "Plaid-Verification names an expired Plaid key.")
        try:
            return jwt.PyJWK(dict(jwk), algorithm=ALGORITHM)
        except jwt.PyJWTError:
            raise WebhookRejected(
                "unknown_key", "Plaid's key for this webhook is not an ES256 key."
            ) from None

    def _cached(self, kid: str, address: str) -> Mapping[str, Any] | None:
        now = self._clock()
        with self._lock:
            entry = self._cache.get(kid)
        known = entry[1] if entry is not None else None
        if entry is not None:
            ttl = KEY_CACHE_SECONDS if known is not None else UNKNOWN_KEY_SECONDS
            if now - entry[0] < ttl:
                return known
        if known is None:  # a kid never seen (or unknown to Plaid): its lookups are limited
            with self._lock:
                self._budget.spend(address, now)
        try:
            jwk = self._keys(kid)  # may raise: Plaid cannot be asked now
        except Exception:
            if known is not None:
                return known  # a refresh failed: the key Plaid gave before still verifies
            raise
        with self._lock:
            self._cache.put(kid, now, jwk)
        return jwk

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                options={"require": ["iat"], "verify_aud": False, "verify_iss": False},
                leeway=FUTURE_LEEWAY_SECONDS,
            )
        except jwt.InvalidSignatureError:
            raise WebhookRejected(
                "bad_signature", "The Plaid-Verification signature does not verify."
            ) from None
        except jwt.ImmatureSignatureError:
            raise WebhookRejected(
                "not_yet_valid", "The Plaid-Verification token is issued in the future."
            ) from None
        except jwt.PyJWTError:
            raise WebhookRejected(
                "malformed_signature", "The Plaid-Verification token is not a valid Plaid JWT."
            ) from None

    def _check_age(self, claims: Mapping[str, Any]) -> None:
        age = self._clock() - int(claims["iat"])  # an integer: PyJWT checked it
        if age > self._max_age:
            raise WebhookRejected(
                "too_old",
                f"The webhook was signed {int(age)} s ago; at most {int(self._max_age)} s "
                "are accepted.",
            )

    @staticmethod
    def _check_body(body: bytes, claims: Mapping[str, Any]) -> None:
        claimed = claims.get("request_body_sha256")
        actual = hashlib.sha256(body).hexdigest()
        if not isinstance(claimed, str) or not hmac.compare_digest(
            actual.encode(), claimed.encode("utf-8", "surrogatepass")
        ):
            raise WebhookRejected(
                "body_mismatch", "The webhook's body is not the one Plaid signed."
            )
