"""Where the store's encryption key comes from: ``BRIDGE_ENCRYPTION_KEY`` (with
``BRIDGE_ENCRYPTION_KEYS``, older keys that only open), else, in the embedded mode or on one
machine (SQLite), a key file made on first start in the state folder. A PostgreSQL bridge
in the live mode (replicas, several hosts) needs the key set explicitly, the same on all.
A key file left from before BRIDGE_ENCRYPTION_KEY was set still opens what it sealed."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path

from ...settings import POSTGRES_SCHEMES, Settings
from .errors import StoreConfigError
from .sealed import Keyring, decode_key, new_key_text

KEY_FILE_NAME = "bridge.key"
_told_about: set[Path] = set()  # key files this process said it kept as older keys


def key_file_path(settings: Settings) -> Path:
    return settings.home / KEY_FILE_NAME


def store_keyring(settings: Settings, target: str | Path | None = None) -> Keyring:
    """The keyring of the store ``target`` (default: the settings' store)."""
    older = [decode_key(k, "BRIDGE_ENCRYPTION_KEYS") for k in settings.bridge_encryption_keys]
    if settings.bridge_encryption_key:
        current = decode_key(settings.bridge_encryption_key)
        return Keyring(current, [*older, *_left_key_file(settings, [current, *older])])
    target = settings.bridge_store if target is None else target
    if str(target).startswith(POSTGRES_SCHEMES) and not settings.embedded:
        raise StoreConfigError(
            "BRIDGE_ENCRYPTION_KEY is not set: a bridge on PostgreSQL encrypts the stored "
            "Plaid access tokens with a key every replica must share, so it is not made up.",
            fix="Set BRIDGE_ENCRYPTION_KEY to a key `kore-plaid keys new` prints (32 random "
            "bytes in base64), the same on every replica (e.g. in /etc/kore-plaid/bridge.env), "
            "and keep a copy with the database's backups' keys.",
        )
    return Keyring(read_or_create_key(key_file_path(settings)), older)


def _left_key_file(settings: Settings, given: list[bytes]) -> list[bytes]:
    """The key of a key file made before BRIDGE_ENCRYPTION_KEY was set, when it is none of
    the ``given`` keys: it still opens what it sealed (told once per process). A file that
    cannot be used (a link, others can read it, not a key) is skipped, and said once."""
    path = key_file_path(settings)
    try:
        key = _read_key(path)
    except FileNotFoundError:
        return []
    except StoreConfigError:  # a link, readable by others, not a key
        _tell_once(
            path,
            f"kore-plaid: BRIDGE_ENCRYPTION_KEY is set; the leftover key file {path} is not "
            "used (a link, not a key, or readable by others or not this user's), so what "
            "its key sealed cannot be read. Make it a plain file of this user, mode 0600, "
            "holding that key, or remove it if nothing it sealed is needed.",
        )
        return []
    if key in given:
        return []
    _tell_once(
        path,
        f"kore-plaid: BRIDGE_ENCRYPTION_KEY is set, and the key file {path} holds another "
        "key: it is kept to decrypt what it encrypted (decrypt only). Run `kore-plaid keys "
        "rotate` to re-encrypt under BRIDGE_ENCRYPTION_KEY, then keep the file with the "
        "backups it opens (or remove it).",
    )
    return [key]


def _tell_once(path: Path, text: str) -> None:
    if path not in _told_about:
        _told_about.add(path)
        _tell(" ".join(text.split()))


def _tell(text: str) -> None:
    """On stderr, or as a line of the bridge's logs in a bridge process (:mod:`..logs`)."""
    from ..logs import announce

    announce(text, "encryption_key_file", logging.WARNING)


def read_or_create_key(path: Path) -> bytes:
    """The key in ``path`` (0600), made on first use; its path (never the key) is printed
    once, when it is made. Processes starting at once agree on one key (a hard link is
    atomic: the first one wins, the others read it)."""
    with contextlib.suppress(FileNotFoundError):
        return _read_key(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}.new")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, (new_key_text() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(draft, path)
    except FileExistsError:
        return _read_key(path)
    finally:
        draft.unlink(missing_ok=True)
    _tell(
        f"kore-plaid: made the bridge's encryption key {path} (mode 0600). Keep it with the "
        "store: without it, the stored Plaid access tokens cannot be read."
    )
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise
    except OSError as exc:  # a symlink (ELOOP), a folder, no permission
        raise StoreConfigError(
            f"The bridge's key file {path} cannot be read: {exc.strerror}.",
            fix=f"Make {path} a plain file of this user, mode 0600 (not a link), or set "
            "BRIDGE_ENCRYPTION_KEY.",
        ) from None
    try:
        info = os.fstat(fd)
        text = os.read(fd, 4096).decode("ascii", "replace")
    finally:
        os.close(fd)
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StoreConfigError(
            f"The bridge's key file {path} is readable by others or not this user's.",
            fix=f"Run `chmod 600 {path}` as its owner (if it is really yours), or remove it "
            "and authorize again (the tokens it sealed cannot be read without it).",
        )
    return decode_key(text, str(path))
