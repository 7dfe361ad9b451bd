"""The trainer's live board: trainees' notebooks post progress events, the trainer watches a grid
of trainees x notebooks (``kore-plaid board``).

Modules: :mod:`.store` (SQLite: events, trainees' token digests, page sessions),
:mod:`.identity` (who a token is: the trainer or which trainee), :mod:`.hub` (the same under
JupyterHub, and the trainer's sign-in through the Hub), :mod:`.limits` (caps and the clock
rule), :mod:`.progress` (the ``/api/progress`` answer: statuses, stuck trainees first),
:mod:`.page` (HTML and security headers), :mod:`.app` (the Starlette routes), :mod:`.command`
(the CLI, its tokens, ``add-trainee``), :mod:`.demo` (a sample class for screenshots and tests).
"""
