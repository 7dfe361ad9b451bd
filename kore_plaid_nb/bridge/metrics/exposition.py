"""What one scrape of a bridge process shows, in Prometheus' text format: the catalog's
metrics (this process's, or every worker's in multiprocess mode), the build info and what
its store holds (:class:`.collectors.StoreFigures`)."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

from ... import __version__
from ...settings import Settings
from . import catalog
from .collectors import BuildInfo, StoreFigures

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST


class StoreCounts(Protocol):
    """What the scrape needs of a store (:class:`..store.BridgeStore`)."""

    @property
    def dialect(self) -> str: ...

    def items_by_health(self) -> dict[str, int]: ...

    def repair_links_by_state(self) -> dict[str, int]: ...


def in_files() -> bool:
    """True in a worker of ``--workers N``: this process's values are written to files
    that every worker's scrape adds up (see the package's docstring)."""
    return values.ValueClass is not values.MutexValue


def scrape_registry(
    settings: Settings, store: StoreCounts, worker_files: Path | None = None
) -> CollectorRegistry:
    """A registry for one process's scrapes: with ``worker_files`` (the supervisor of
    ``--workers N``), the workers' metric files; in a worker, the same files; else the
    catalog's in-memory metrics. Plus the build info and the store's figures."""
    registry = CollectorRegistry(auto_describe=True)
    if worker_files is not None or in_files():
        folder = None if worker_files is None else str(worker_files)  # None: the env's
        MultiProcessCollector(registry, folder)  # type: ignore[no-untyped-call]  # untyped there
    else:
        registry.register(catalog.REGISTRY)
    registry.register(BuildInfo(__version__, store.dialect, settings.link_mode))
    registry.register(StoreFigures(store.items_by_health, store.repair_links_by_state))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus' text format (:data:`CONTENT_TYPE`)."""
    return generate_latest(registry)
