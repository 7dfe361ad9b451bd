"""The bridge as an app factory for uvicorn's worker processes (``--workers N``): each worker
reads its settings from the environment the command line prepared, and opens its own
connection (SQLite) or pool (PostgreSQL) to the shared store."""

from __future__ import annotations

import gc

from starlette.applications import Starlette

from .. import settings as settings_module
from . import logs
from .routes import create_app


def create() -> Starlette:
    settings = settings_module.load()
    logs.configure(settings)  # in each worker: uvicorn's own setup ran before
    app = create_app(settings)
    freeze_startup_objects()
    return app


def freeze_startup_objects() -> None:
    """Leave what startup built (modules, the app, ~90,000 objects) out of the garbage
    collector's full passes, which walked them all: ~50 ms with the event loop stopped, a
    few times a minute under load (the token endpoint's p99). For a serving process only:
    they are never freed."""
    gc.collect()
    gc.freeze()
