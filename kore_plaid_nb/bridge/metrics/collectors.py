"""The metrics built at scrape time rather than recorded: the build info, and what the store
holds (:class:`StoreFigures`: the Items by health, the open repair links, and whether the
store answered), read at most every :data:`ITEMS_MAX_AGE_SECONDS` so scrapes never hammer the
database."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from prometheus_client.metrics_core import GaugeMetricFamily, InfoMetricFamily, Metric

from ..store.errors import StoreUnavailable
from . import catalog

ITEMS_MAX_AGE_SECONDS: Final = 10.0
log = logging.getLogger("kore_plaid_nb.bridge")


class BuildInfo:
    """``kore_plaid_bridge_build_info{version, backend, link_mode} 1``."""

    def __init__(self, version: str, backend: str, link_mode: str) -> None:
        self.labels = {"version": version, "backend": backend, "link_mode": link_mode}

    def collect(self) -> Iterator[Metric]:
        yield InfoMetricFamily(catalog.BUILD_INFO_NAME, catalog.BUILD_INFO_HELP, self.labels)

    describe = collect


@dataclass(frozen=True)
class StoreReading:
    """One read of the store: Items by (bounded) health, and repair links by state."""

    items: dict[str, int]
    repair_links: dict[str, int]


def _no_repair_links() -> dict[str, int]:
    return {}


class StoreFigures:
    """``kore_plaid_bridge_items{health}``, ``kore_plaid_bridge_repair_links{state}`` and
    ``kore_plaid_bridge_store_up``: ``read_items`` (the store's count by health) and
    ``read_repair_links`` (its links by state) called at most once every ``max_age`` seconds,
    whatever the number of scrapes. Every health of :data:`.catalog.ITEM_HEALTHS` is shown, 0
    when no Item is in it; a store that cannot answer shows ``store_up 0`` and leaves the
    other two out."""

    def __init__(
        self,
        read_items: Callable[[], dict[str, int]],
        read_repair_links: Callable[[], dict[str, int]] = _no_repair_links,
        max_age: float = ITEMS_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read_items = read_items
        self.read_repair_links = read_repair_links
        self.max_age = max_age
        self.clock = clock
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._reading: StoreReading | None = None

    def describe(self) -> Iterator[Metric]:
        yield self._store_up()
        yield self._items()
        yield self._repair_links()

    def collect(self) -> Iterator[Metric]:
        reading = self.reading()
        up = self._store_up()
        up.add_metric([], 0 if reading is None else 1)
        yield up
        if reading is None:
            return
        items = self._items()
        for health, count in sorted(reading.items.items()):
            items.add_metric([health], count)
        yield items
        links = self._repair_links()
        for state, count in reading.repair_links.items():  # every state, 0 included
            links.add_metric([state], count)
        yield links

    def counts(self) -> dict[str, int] | None:
        """Items by (bounded) health, as last read; None when the store could not answer."""
        reading = self.reading()
        return None if reading is None else reading.items

    def reading(self) -> StoreReading | None:
        """The last read; None when the store could not answer (that too is kept
        ``max_age`` seconds: an outage is not asked again every scrape)."""
        with self._lock:  # concurrent scrapes wait for one read
            now = self.clock()
            if self._read_at is None or now - self._read_at >= self.max_age:
                self._reading = self._read()
                self._read_at = now
            return self._reading

    def _read(self) -> StoreReading | None:
        try:
            found, links = self.read_items(), self.read_repair_links()
        except StoreUnavailable as exc:
            log.warning("The store's figures left out of the metrics: %s", exc.message)
            return None
        except Exception as exc:  # a scrape must answer, whatever the store does
            log.warning("The store's figures left out of the metrics: %s", type(exc).__name__)
            return None
        counts = dict.fromkeys(catalog.ITEM_HEALTHS, 0)
        for health, items in found.items():
            shown = catalog.bounded(health, catalog.ITEM_HEALTHS)
            counts[shown] = counts.get(shown, 0) + items
        return StoreReading(counts, links)

    @staticmethod
    def _items() -> GaugeMetricFamily:
        return GaugeMetricFamily(catalog.ITEMS_NAME, catalog.ITEMS_HELP, labels=["health"])

    @staticmethod
    def _repair_links() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            catalog.REPAIR_LINKS_NAME, catalog.REPAIR_LINKS_HELP, labels=["state"]
        )

    @staticmethod
    def _store_up() -> GaugeMetricFamily:
        return GaugeMetricFamily(catalog.STORE_UP_NAME, catalog.STORE_UP_HELP)
