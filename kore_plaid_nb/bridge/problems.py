"""Why an authorization session or a repair link cannot be used: :class:`Problem`, one table.

The store names a problem with a short code (``"unknown"``, ``"expired"``, ...);
:meth:`Problem.of_session` and :meth:`Problem.of_repair_link` map a code to its row and refuse
a code they do not know (a programming error, never a guess).
"""

from __future__ import annotations

from enum import Enum, unique
from typing import NamedTuple

from .i18n import N_
from .refusal import Refusal
from .store import StoreProblem

LINK_TOKENS_PER_SESSION = 5  # Link opened again after an error, a reload, an OAuth bank
LINK_TOKENS_PER_REPAIR_LINK = 5  # Link opened again after an error, a reload
CANNOT_FINISH = N_("Cannot finish the authorization")
START_AGAIN = N_("Go back to the Kore conversation and start the authorization again.")

# Rows' texts are msgids of the ``messages`` catalog (:mod:`.i18n`); ``values`` fill them.


class Row(NamedTuple):
    status: int
    error: str
    title: str
    message: str
    fix: str
    values: tuple[tuple[str, int], ...] = ()


@unique  # two equal rows would make one problem an alias of the other
class Problem(Enum):
    SESSION_UNKNOWN = Row(
        400,
        "invalid_session",
        CANNOT_FINISH,
        N_("The bridge does not know this authorization session."),
        START_AGAIN,
    )
    SESSION_EXPIRED = Row(
        400,
        "session_expired",
        CANNOT_FINISH,
        N_("This authorization page has expired (it is valid for 30 minutes)."),
        START_AGAIN,
    )
    SESSION_EXHAUSTED = Row(
        429,
        "too_many_link_tokens",
        CANNOT_FINISH,
        N_("This authorization page already opened Plaid Link %(times)s times."),
        START_AGAIN,
        (("times", LINK_TOKENS_PER_SESSION),),
    )
    SESSION_USED = Row(
        409,
        "session_used",
        CANNOT_FINISH,
        N_("This authorization was already completed or is being completed."),
        N_("Go back to the Kore conversation; start again there if it did not finish."),
    )
    REPAIR_UNKNOWN = Row(
        404,
        "repair_link_unknown",
        N_("Unknown repair link"),
        N_("This repair link is not one this bridge made: it may be mistyped or cut short."),
        N_(
            "Check that you opened the whole link; else ask for a new repair link: run "
            "`kore-plaid items` (or ask the bot's administrator to), then open the new link."
        ),
    )
    REPAIR_EXPIRED = Row(
        410,
        "repair_link_expired",
        N_("This repair link has expired"),
        N_("This repair link has expired: a repair link works for 24 hours."),
        N_(
            "To repair the connection, ask for a new repair link: run `kore-plaid items` (or "
            "ask the bot's administrator to), then open the new link."
        ),
    )
    REPAIR_USED = Row(
        410,
        "repair_link_used",
        N_("This repair link was already used"),
        N_("This repair link was already used: a repair link works once."),
        N_(
            "If the bot still cannot read your accounts, ask for a new repair link: run "
            "`kore-plaid items` (or ask the bot's administrator to)."
        ),
    )
    ITEM_REMOVED = Row(
        410,
        "item_removed",
        N_("This bank connection was removed"),
        N_("This bank connection was removed, so there is nothing left to repair."),
        N_("Connect the bank again from the Kore conversation (authorize the bot again)."),
    )
    REPAIR_EXHAUSTED = Row(
        429,
        "too_many_link_tokens",
        N_("Plaid was opened too many times"),
        N_("This repair link already opened Plaid Link %(times)s times."),
        N_(
            "To try again, ask for a new repair link: run `kore-plaid items` (or ask the "
            "bot's administrator to), then open the new link."
        ),
        (("times", LINK_TOKENS_PER_REPAIR_LINK),),
    )
    REPAIR_NOT_STARTED = Row(
        409,
        "repair_not_started",
        N_("The bank login was not done yet"),
        N_(
            "Nothing was repaired: Plaid was not opened from this repair link yet, so you have "
            "not logged in to your bank again."
        ),
        N_(
            "Press \u201cLog in to your bank again\u201d to log in to your bank first, then "
            "finish the login in Plaid."
        ),
    )

    def refusal(self) -> Refusal:
        row = self.value
        values = dict(row.values)
        return Refusal(row.status, row.error, row.message, row.fix, title=row.title, values=values)

    @classmethod
    def of_session(cls, code: StoreProblem | None) -> Problem:
        """The problem of a session the store would not hand out."""
        return _lookup(SESSION_CODES, code, "session")

    @classmethod
    def of_repair_link(cls, code: StoreProblem | None) -> Problem:
        """The problem of a repair link the store would not hand out."""
        return _lookup(REPAIR_CODES, code, "repair link")


SESSION_CODES = {
    StoreProblem.UNKNOWN: Problem.SESSION_UNKNOWN,
    StoreProblem.EXPIRED: Problem.SESSION_EXPIRED,
    StoreProblem.EXHAUSTED: Problem.SESSION_EXHAUSTED,
    StoreProblem.USED: Problem.SESSION_USED,
}
REPAIR_CODES = {
    StoreProblem.UNKNOWN: Problem.REPAIR_UNKNOWN,
    StoreProblem.EXPIRED: Problem.REPAIR_EXPIRED,
    StoreProblem.USED: Problem.REPAIR_USED,
    StoreProblem.REMOVED: Problem.ITEM_REMOVED,
    StoreProblem.EXHAUSTED: Problem.REPAIR_EXHAUSTED,
    StoreProblem.NOT_STARTED: Problem.REPAIR_NOT_STARTED,
}


def _lookup(codes: dict[StoreProblem, Problem], code: StoreProblem | None, what: str) -> Problem:
    """No default: a problem without a row here is a bug (500), never another problem."""
    if code is None or code not in codes:
        raise ValueError(f"no {what} problem is called {code!r}")
    return codes[code]
