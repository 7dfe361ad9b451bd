"""The trainer's live board: trainees' notebooks post progress events, the trainer watches a grid
of trainees x notebooks (``kore-plaid board``).

Modules: :mod:`.store` (SQLite: events and page sessions), :mod:`.progress` (the
``/api/progress`` answer: statuses, stuck trainees first), :mod:`.page` (HTML and security
headers), :mod:`.app` (the Starlette routes), :mod:`.command` (the CLI and its token),
:mod:`.demo` (a sample class for screenshots and tests).
"""
