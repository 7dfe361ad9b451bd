"""What every route of one bridge app works with: :class:`BridgeContext`, built once by
:func:`.create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from ...settings import Settings
from ..hosted_link import HostedLink
from ..item_health import ItemHealth
from ..metrics.exposition import scrape_registry
from ..oauth import BridgeOAuth
from ..plaid_link import PlaidLink
from ..ratelimit import SessionLimiter
from ..request_recorder import RequestRecorder
from ..store import BridgeStore, open_bridge_store
from ..webhook_verification import KeySource, WebhookVerifier


@dataclass(frozen=True)
class BridgeContext:
    """The settings, store and helpers of one bridge app (shared by all its requests)."""

    settings: Settings
    store: BridgeStore
    link: PlaidLink
    oauth: BridgeOAuth
    limiter: SessionLimiter
    verifier: WebhookVerifier
    health: ItemHealth
    hosted: HostedLink
    recorder: RequestRecorder
    metrics: CollectorRegistry  # what a scrape of this app shows (:mod:`.metrics`)

    @classmethod
    def build(
        cls,
        settings: Settings,
        store: BridgeStore | None = None,
        link: PlaidLink | None = None,
        webhook_keys: KeySource | None = None,
    ) -> BridgeContext:
        """The context of a new app; see :func:`.create_app` for the arguments."""
        store = store or open_bridge_store(settings)
        health = ItemHealth(store)
        plaid = link or PlaidLink(settings, spent=store)
        if plaid.item_errors is None:
            plaid.item_errors = health.plaid_error

        def remove_replayed_item(access_token: str, _why: str) -> None:
            plaid.remove_item(access_token)

        return cls(
            settings=settings,
            store=store,
            link=plaid,
            oauth=BridgeOAuth(settings, store, on_replay=remove_replayed_item),
            limiter=SessionLimiter(
                settings.bridge_sessions_per_address, settings.bridge_sessions_per_minute
            ),
            verifier=WebhookVerifier(webhook_keys or plaid.webhook_verification_key),
            health=health,
            hosted=HostedLink(store, plaid),
            recorder=RequestRecorder(store),
            metrics=scrape_registry(settings, store),
        )

    @property
    def inline_refresh(self) -> bool:
        """Token requests are answered on the event loop (SQLite: a few short statements on
        a local file, no fsync, no Plaid call: cheaper than a hop to the thread pool)."""
        return self.store.dialect == "sqlite"
