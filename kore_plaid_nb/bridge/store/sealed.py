"""Secrets at rest: the values the store must read back (Plaid access tokens, Link tokens,
public tokens) are sealed with AES-256-GCM, and the lookups that compared them use a keyed
digest.

* A sealed value is ``ks1.<key id>.<base64url(nonce + ciphertext + tag)>``: a fresh 96-bit
  nonce per value, and the row's identity (table, column, row key) as associated data, so a
  value copied into another row does not open.
* A :class:`Keyring` holds the current key (it seals) and older ones (they only open), each
  named by a key id derived from it: a value says which key opens it.
* A lookup digest is ``<key id>:<hex HMAC-SHA256>`` under a key derived (HKDF) from each key.
  A lookup tries the digests under every key of the ring; ``kore-plaid keys rotate``
  recomputes digests as it re-seals (it opens the value anyway).
* A replica finds and opens only what its own ring's keys sealed. Hence the order of a
  rotation (:data:`ROTATION_STEPS`): the new key reaches every replica as an older key before
  any replica seals with it, and the old key stays until nothing is left under it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import StoreConfigError, StoreUnavailable

PREFIX = "ks1."
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_CHARS = 12
ROTATION_STEPS = (
    "make a key (`kore-plaid keys new`) and add it to BRIDGE_ENCRYPTION_KEYS on every "
    "replica, restarting them one by one;",
    "make it BRIDGE_ENCRYPTION_KEY everywhere, the old key moved to BRIDGE_ENCRYPTION_KEYS "
    "(one by one again);",
    "run `kore-plaid keys rotate` once, from any host with the same settings;",
    "when it reports left 0, drop the old key from BRIDGE_ENCRYPTION_KEYS everywhere.",
)


class StoreKeyError(StoreUnavailable):
    """A stored secret cannot be opened with the configured keys (wrong or missing key, or a
    value moved to another row): the call is refused with 503, and the row is left as is."""

    retry_after = 30


def decode_key(text: str, name: str = "BRIDGE_ENCRYPTION_KEY") -> bytes:
    """The 32 bytes a base64 key stands for; :class:`StoreConfigError` otherwise."""
    try:
        standard = text.strip().replace("-", "+").replace("_", "/")  # base64url welcome
        key = base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise StoreConfigError(
            f"{name} is not a key: it must be {KEY_BYTES} random bytes in base64.",
            fix="Make one with `kore-plaid keys new` (it prints a fresh key and stores "
            "nothing), and set it on every replica.",
        )
    return key


def new_key_text() -> str:
    """A fresh key, as BRIDGE_ENCRYPTION_KEY holds it."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


@dataclass(frozen=True)
class Key:
    """One key of the ring: its id, cipher and lookup-digest key (never shown)."""

    kid: str
    aead: AESGCM = field(repr=False)
    lookup: bytes = field(repr=False)

    @classmethod
    def of(cls, material: bytes) -> Key:
        kid = hashlib.sha256(b"kore-plaid key id\0" + material).hexdigest()[:KEY_ID_CHARS]
        hkdf = HKDF(hashes.SHA256(), 32, salt=None, info=b"kore-plaid lookup digest")
        return cls(kid, AESGCM(material), hkdf.derive(material))

    def digest(self, value: str) -> str:
        mac = hmac.new(self.lookup, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"{self.kid}:{mac.hexdigest()}"


def identity(table: str, column: str, row_key: str) -> bytes:
    """The associated data that ties a sealed value to its row and column."""
    return f"kore-plaid {table}.{column} {row_key}".encode("utf-8", "surrogatepass")


def is_sealed(stored: str | None) -> bool:
    return stored is not None and stored.startswith(PREFIX)


def key_id_of(stored: str) -> str | None:
    """The key id a stored value was sealed with (None for a plain, legacy value)."""
    return stored.split(".", 2)[1] if is_sealed(stored) else None


class Keyring:
    """The current key (seals, digests) and older ones (open only)."""

    def __init__(self, current: bytes, older: Sequence[bytes] = ()) -> None:
        self.current = Key.of(current)
        self.keys = {self.current.kid: self.current}
        for material in older:
            key = Key.of(material)
            self.keys.setdefault(key.kid, key)

    def __repr__(self) -> str:
        return f"Keyring(current={self.current.kid!r}, keys={list(self.keys)!r})"

    @classmethod
    def from_text(cls, current: str, older: Iterable[str] = ()) -> Keyring:
        return cls(decode_key(current), [decode_key(k, "BRIDGE_ENCRYPTION_KEYS") for k in older])

    def seal(self, value: str, table: str, column: str, row_key: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        plain = value.encode("utf-8", "surrogatepass")
        sealed = self.current.aead.encrypt(nonce, plain, identity(table, column, row_key))
        text = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{PREFIX}{self.current.kid}.{text}"

    def unseal(self, stored: str, table: str, column: str, row_key: str) -> str:
        """The value a stored text holds; a plain (legacy, not yet sealed) value as is.
        :class:`StoreKeyError` when no key of the ring opens it."""
        if not is_sealed(stored):
            return stored
        _, kid, text = stored.split(".", 2)
        key = self.keys.get(kid)
        if key is None:
            raise StoreKeyError(
                f"The bridge cannot open a stored {table}.{column}: it was sealed with "
                f"encryption key {kid}, which this bridge is not given (its keys: "
                f"{', '.join(self.keys)}).",
                fix="Set BRIDGE_ENCRYPTION_KEY (or list the old key in BRIDGE_ENCRYPTION_KEYS) "
                "to the key that sealed it, on every replica, and restart; nothing was changed.",
            )
        try:
            blob = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            plain = key.aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:],
                                     identity(table, column, row_key))  # fmt: skip
        except (InvalidTag, ValueError, binascii.Error):
            raise StoreKeyError(
                f"A stored {table}.{column} does not open with encryption key {kid}: it was "
                "altered, or copied from another row.",
                fix="Restore the row from a backup, or authorize this Item again in Kore.",
            ) from None
        return plain.decode("utf-8", "surrogatepass")

    def digest(self, value: str) -> str:
        """The lookup digest under the current key (what a write stores)."""
        return self.current.digest(value)

    def digests(self, value: str) -> list[str]:
        """The lookup digests under every key of the ring (what a lookup matches)."""
        return [key.digest(value) for key in self.keys.values()]

    def lookup(self, column: str, value: str) -> tuple[str, list[str]]:
        """The condition (``?`` placeholders) and arguments of a row whose digest ``column``
        is ``value``'s under any key of the ring."""
        digests = self.digests(value)
        return f"{column} IN ({', '.join('?' * len(digests))})", digests
