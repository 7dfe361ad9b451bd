"""The Kore side: the authorization-profile generator and the Kore simulator."""

from .profile import (
    AuthorizationField,
    KoreProfile,
    build_profile,
    remember_public_url,
    remembered_public_url,
    resolve_public_url,
)
from .simulator import KoreFlowError, KoreSimulator

__all__ = [
    "AuthorizationField",
    "KoreFlowError",
    "KoreProfile",
    "KoreSimulator",
    "build_profile",
    "remember_public_url",
    "remembered_public_url",
    "resolve_public_url",
]
