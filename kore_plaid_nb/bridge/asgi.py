"""The bridge as an app factory for uvicorn's worker processes (``--workers N``): each worker
reads its settings from the environment the command line prepared, and opens its own
connection (SQLite) or pool (PostgreSQL) to the shared store."""

from __future__ import annotations

from starlette.applications import Starlette

from .. import settings as settings_module
from . import logs
from .routes import create_app


def create() -> Starlette:
    settings = settings_module.load()
    logs.configure(settings)  # in each worker: uvicorn's own setup ran before
    return create_app(settings)
