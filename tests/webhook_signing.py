"""Plaid's webhook signatures, played by the tests: a P-256 key with its JWK, the ES256 JWT
of ``Plaid-Verification``, and a key ring standing in for ``/webhook_verification_key/get``."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm


def new_key(kid: str) -> tuple[ec.EllipticCurvePrivateKey, dict]:
    """A P-256 key and its public JWK as Plaid's /webhook_verification_key/get returns it."""
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.update(kid=kid, alg="ES256", use="sig", created_at=int(time.time()), expired_at=None)
    return private, jwk


@dataclass
class KeyRing:
    """The test's stand-in for Plaid's key endpoint; counts what the bridge asked."""

    keys: dict[str, dict] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def __call__(self, kid: str) -> dict | None:
        self.asked.append(kid)
        return self.keys.get(kid)


def sign(
    body: bytes,
    key: object,
    kid: str = "kid-1",
    iat: float | None = None,
    algorithm: str = "ES256",
    body_sha256: str | None = None,
) -> str:
    """The ``Plaid-Verification`` header of ``body``, as Plaid signs it (or a forgery of it)."""
    claims = {
        "iat": int(time.time() if iat is None else iat),
        "request_body_sha256": body_sha256 or hashlib.sha256(body).hexdigest(),
    }
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})
