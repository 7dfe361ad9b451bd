"""The bridge's Plaid calls (through plaid-python) and how their failures are explained.

Every Plaid failure becomes a :class:`LinkStepError`: an HTTP status for the browser (never
500), the Plaid error code, a readable message, what to do, and the procedure step to check.

Retry policy (:class:`RetryPolicy`): calls that change nothing or can safely run twice
(``/link/token/create``, ``/item/get``, ``/item/remove``) are retried with exponential backoff
and jitter on 429, on 5xx and on transport failures. ``/item/public_token/exchange`` is not:
a public token is single use, and after an ambiguous failure (5xx, timeout, dropped
connection) Plaid may already have created the Item, so it is retried only on 429 (Plaid
refused the call before doing anything) and the public token of an ambiguous failure is never
sent again: the user opens Link again for a fresh one. That record (:class:`SpentTokens`)
is the bridge's store, shared by every replica and kept across restarts.

The bridge's hot path (``/link/token/create``, ``/item/public_token/exchange``,
``/item/remove`` while a user or Kore waits) has ``*_async`` twins on the event loop
(:mod:`.plaid_async`): the same bodies, retries, spent-token rule, metrics, log line and
explanations; every other call, and the sync methods, stay on plaid-python.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from starlette.concurrency import run_in_threadpool

from .. import plaid_client
from ..plaid_errors import Caller, PlaidError, PlaidProblem, advice, problem_of
from ..settings import Settings
from .i18n import N_
from .i18n.plaid_languages import link_language
from .metrics import recording
from .plaid_async import AsyncPlaid
from .refusal import Phrase, Refusal, Refused
from .store import ItemRecord, digest

if TYPE_CHECKING:
    from plaid.api import plaid_api

CLIENT_NAME = "Kore.ai bot"
DEFAULT_TIMEOUT = 30.0
FAILURE_TITLE = N_("Plaid is not available")
T = TypeVar("T")
# What the bridge was doing when Plaid failed (``during`` in the advice): msgids too.
CREATING = N_("creating the Link token")
READING_HOSTED_LINK = N_("reading the Hosted Link session")
CREATING_FOR_REPAIR = N_("creating the Link token to repair the bank connection")
CHECKING = N_("checking the bank connection")
EXCHANGING = N_("exchanging the public token")
FETCHING_KEY = "fetching Plaid's webhook verification key"  # for Plaid: English, not marked


class SpentTokens(Protocol):
    """Where the public tokens that must never be sent again are recorded."""

    def is_public_token_spent(self, public_token: str) -> bool: ...

    def mark_public_token_spent(self, public_token: str) -> None: ...


class _ProcessSpentTokens:
    """The record for a :class:`PlaidLink` used without a store (teardown, tests)."""

    def __init__(self) -> None:
        self._digests: set[str] = set()

    def is_public_token_spent(self, public_token: str) -> bool:
        return digest(public_token) in self._digests

    def mark_public_token_spent(self, public_token: str) -> None:
        self._digests.add(digest(public_token))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a Plaid call is retried (delays in seconds)."""

    attempts: int = 3
    first_delay: float = 0.25
    max_delay: float = 2.0

    def delay(self, attempt: int) -> float:
        """Backoff before retry number ``attempt`` (1-based), with up to 50 % jitter (not a
        secret: the standard PRNG is fine)."""
        base = min(self.max_delay, self.first_delay * 2.0 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)  # noqa: S311  # nosec B311


def is_transient(err: plaid_client.PlaidError) -> bool:
    """429, 5xx or no answer at all: worth retrying a call that is safe to repeat."""
    return err.status == 429 or err.status >= 500 or err.error_type == "CONNECTION_ERROR"


def is_rate_limit(err: plaid_client.PlaidError) -> bool:
    """Plaid refused the call before doing anything: even a single-use call may be re-sent."""
    return err.status == 429 or err.error_type == "RATE_LIMIT_EXCEEDED"


class LinkStepError(Refused):
    """A Plaid call failed; safe to show (no token, no secret). Carries its frozen
    :class:`.refusal.Refusal` (``plaid_error`` with ``plaid_error_code``), made by :meth:`of`;
    a changed copy is ``LinkStepError(error.refusal.with_fix(...))``. Its ``message`` and
    ``fix`` are in English (logs, the runbook); the refusal renders them translated."""

    @classmethod
    def of(
        cls,
        status: int,
        code: str,
        message: str,
        fix: str,
        step: str | None,
        values: Mapping[str, str | int] | None = None,
    ) -> LinkStepError:
        details = {"plaid_error_code": code}
        refusal = Refusal(
            status, "plaid_error", message, fix, step, details=details, title=FAILURE_TITLE
        )
        return cls(replace(refusal, values=dict(values or {})))

    @property
    def code(self) -> str:
        return str(self.refusal.details["plaid_error_code"])

    @property
    def status(self) -> int:
        return self.refusal.status

    @property
    def message(self) -> str:
        return self.refusal.english.message

    @property
    def fix(self) -> str:
        return self.refusal.english.fix

    @property
    def step(self) -> str | None:
        return self.refusal.step


def explain(
    exc: BaseException, settings: Settings, during: str, redirect_uri: str | None = None
) -> LinkStepError:
    """Turn a Plaid failure into a :class:`LinkStepError` that says what to check (the
    bridge's words in :data:`.plaid_errors.ADVICE`); ``during``: a msgid (:class:`Phrase`)."""
    err = plaid_client.error_from_exception(exc)
    problem = problem_of(err)
    if problem is PlaidProblem.FIELD and not redirect_uri:
        problem = PlaidProblem.OTHER  # only a redirect URI is the bridge's to fix
    host = plaid_client.api_host(settings)
    fields = {"during": Phrase(during), "host": host, "redirect_uri": redirect_uri or ""}
    return _told(problem, err, fields)


def _told(problem: PlaidProblem, err: PlaidError, fields: dict[str, str]) -> LinkStepError:
    """The advice's msgids with their values (translated when rendered)."""
    said = advice(problem, Caller.BRIDGE)
    fields.update(code=err.error_code, error_type=err.error_type, message=err.error_message)
    return LinkStepError.of(said.status, err.error_code, said.message, said.fix, said.step, fields)


GONE_ITEM_CODES = ("INVALID_ACCESS_TOKEN", "ITEM_NOT_FOUND")


def _attempt(endpoint: str, call: Callable[[], T]) -> T:
    """One call to Plaid, recorded (:func:`.metrics.recording.plaid_call`): ``ok`` or the
    failure's error code, its duration, Plaid's ``request_id``."""
    started = time.perf_counter()
    try:
        answer = call()
    except plaid_client.PLAID_FAILURES as exc:
        _record_failure(endpoint, started, exc)
        raise
    _record_answer(endpoint, started, answer)
    return answer


async def _attempt_async(endpoint: str, call: Callable[[], Awaitable[T]]) -> T:
    """:func:`_attempt` for a call on the event loop (:mod:`.plaid_async`)."""
    started = time.perf_counter()
    try:
        answer = await call()
    except plaid_client.PLAID_FAILURES as exc:
        _record_failure(endpoint, started, exc)
        raise
    _record_answer(endpoint, started, answer)
    return answer


def _record_failure(endpoint: str, started: float, exc: BaseException) -> None:
    err = plaid_client.error_from_exception(exc)
    outcome = recording.plaid_outcome(err.error_type, err.error_code)
    recording.plaid_call(endpoint, outcome, time.perf_counter() - started, err.request_id)


def _record_answer(endpoint: str, started: float, answer: object) -> None:
    request_id = answer.get("request_id") if isinstance(answer, dict) else None
    recording.plaid_call(endpoint, "ok", time.perf_counter() - started, request_id)


def link_user_id(session_id: str) -> str:
    """The ``client_user_id`` Plaid sees for a session: a digest, never the session id."""
    return "kore-" + hashlib.sha256(session_id.encode()).hexdigest()[:32]


ALREADY_SENT = (
    409,
    "PUBLIC_TOKEN_ALREADY_SENT",
    N_(
        "This bank login was already sent to Plaid once and Plaid's answer was "
        "lost; it cannot be used again."
    ),
    N_("Open Plaid Link again (the Connect button) and log in to the bank once more."),
    "10-12",
)


def item_gone(exc: BaseException) -> LinkStepError:
    """Plaid no longer knows the Item (removed): nothing left to repair."""
    return _told(PlaidProblem.ITEM_GONE, plaid_client.error_from_exception(exc), {})


class PlaidLink:
    """Link token creation, public token exchange and Item removal for one bridge."""

    def __init__(
        self,
        settings: Settings,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        spent: SpentTokens | None = None,
        item_errors: Callable[[str, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._api = None
        self._lock = threading.Lock()
        # The hot path's pool on the event loop (opened there, closed by the lifespan).
        self.hot = AsyncPlaid.for_settings(settings, timeout)
        # Public tokens whose exchange ended ambiguously: never sent again.
        self.spent = spent or _ProcessSpentTokens()
        # Told (access token, Plaid error code) when Plaid reports an Item in error.
        self.item_errors = item_errors

    @property
    def api(self) -> plaid_api.PlaidApi:
        with self._lock:
            if self._api is None:
                self._api = plaid_client.create(self.settings, timeout=self.timeout)
            return self._api

    def _call(
        self,
        endpoint: str,
        call: Callable[[], T],
        retry_if: Callable[[plaid_client.PlaidError], bool],
    ) -> T:
        """Run ``call`` (Plaid's ``endpoint``); on a failure ``retry_if`` accepts, wait and
        try again (bounded). Each attempt is counted, timed and logged (:func:`_attempt`)."""
        attempt = 1
        while True:
            try:
                return _attempt(endpoint, call)
            except plaid_client.PLAID_FAILURES as exc:
                if attempt >= self.retry.attempts or not retry_if(
                    plaid_client.error_from_exception(exc)
                ):
                    raise
            time.sleep(self.retry.delay(attempt))
            attempt += 1

    async def _call_async(
        self,
        endpoint: str,
        body: Mapping[str, object],
        retry_if: Callable[[plaid_client.PlaidError], bool],
    ) -> dict[str, Any]:
        """:meth:`_call` on the event loop: POST ``body`` to ``endpoint`` (:mod:`.plaid_async`),
        same retries, same records."""
        attempt = 1
        while True:
            try:
                return await _attempt_async(endpoint, lambda: self.hot.call_json(endpoint, body))
            except plaid_client.PLAID_FAILURES as exc:
                if attempt >= self.retry.attempts or not retry_if(
                    plaid_client.error_from_exception(exc)
                ):
                    raise
            await asyncio.sleep(self.retry.delay(attempt))
            attempt += 1

    async def aclose(self) -> None:
        """Close the hot path's pool (the app's lifespan)."""
        await self.hot.aclose()

    def create_link_token(
        self,
        session_id: str,
        redirect_uri: str | None = None,
        webhook: str | None = None,
        hosted_link: dict[str, object] | None = None,
        language: str | None = None,
    ) -> str:
        """A Link token for one end user (the session names the user, Plaid sees a digest);
        ``redirect_uri`` is where OAuth banks send the browser back (``/oauth-return``),
        ``webhook`` where Plaid reports on the Item (``/plaid/webhook``), ``hosted_link``
        Plaid's Hosted Link options (:meth:`create_link` also returns its URL), ``language``
        the end user's (Link gets it when Plaid offers it for the configured countries)."""
        answer = self.create_link(session_id, redirect_uri, webhook, hosted_link, language)
        return str(answer["link_token"])

    def create_link(
        self,
        session_id: str,
        redirect_uri: str | None = None,
        webhook: str | None = None,
        hosted_link: dict[str, object] | None = None,
        language: str | None = None,
    ) -> dict[str, Any]:
        """Plaid's whole ``/link/token/create`` answer (``hosted_link_url`` with
        ``hosted_link``); see :meth:`create_link_token`."""
        user_id = link_user_id(session_id)
        try:
            return self._call(
                "/link/token/create",
                lambda: plaid_client.link_token_answer(
                    self.settings,
                    user_id,
                    redirect_uri,
                    CLIENT_NAME,
                    api=self.api,
                    timeout=self.timeout,
                    webhook=webhook,
                    hosted_link=hosted_link,
                    language=self.link_language(language),
                ),
                is_transient,
            )
        except plaid_client.PLAID_FAILURES as exc:
            raise explain(exc, self.settings, CREATING, redirect_uri) from None

    async def create_link_token_async(
        self,
        session_id: str,
        redirect_uri: str | None = None,
        webhook: str | None = None,
        hosted_link: dict[str, object] | None = None,
        language: str | None = None,
    ) -> str:
        """:meth:`create_link_token` on the event loop."""
        answer = await self.create_link_async(
            session_id, redirect_uri, webhook, hosted_link, language
        )
        return str(answer["link_token"])

    async def create_link_async(
        self,
        session_id: str,
        redirect_uri: str | None = None,
        webhook: str | None = None,
        hosted_link: dict[str, object] | None = None,
        language: str | None = None,
    ) -> dict[str, Any]:
        """:meth:`create_link` on the event loop."""
        body = plaid_client.link_token_body(
            self.settings,
            link_user_id(session_id),
            redirect_uri,
            CLIENT_NAME,
            webhook=webhook,
            hosted_link=hosted_link,
            language=self.link_language(language),
        )
        try:
            return await self._call_async("/link/token/create", body, is_transient)
        except plaid_client.PLAID_FAILURES as exc:
            raise explain(exc, self.settings, CREATING, redirect_uri) from None

    def link_token_get(self, link_token: str, during: str = READING_HOSTED_LINK) -> dict[str, Any]:
        """``/link/token/get``: the Link token's sessions, with the public tokens they made
        (``during``: what the bridge was doing, for the error message)."""
        try:
            return self._call(
                "/link/token/get",
                lambda: plaid_client.link_token_get(self.api, link_token, self.timeout),
                is_transient,
            )
        except plaid_client.PLAID_FAILURES as exc:
            raise explain(exc, self.settings, during) from None

    def create_update_link_token(
        self,
        access_token: str,
        client_user_id: str,
        redirect_uri: str | None = None,
        webhook: str | None = None,
        language: str | None = None,
    ) -> str:
        """A Link token in update mode for the Item of ``access_token`` (its user logs in to
        the bank again; the Item and its access token stay), for the same ``client_user_id``
        as when it was linked; ``language`` as for :meth:`create_link_token`."""
        try:
            answer = self._call(
                "/link/token/create",
                lambda: plaid_client.create_update_link_token(
                    self.settings,
                    access_token,
                    client_user_id,
                    redirect_uri=redirect_uri,
                    client_name=CLIENT_NAME,
                    api=self.api,
                    timeout=self.timeout,
                    webhook=webhook,
                    language=self.link_language(language),
                ),
                is_transient,
            )
        except plaid_client.PLAID_FAILURES as exc:
            during = CREATING_FOR_REPAIR
            if plaid_client.error_from_exception(exc).error_code in GONE_ITEM_CODES:
                raise item_gone(exc) from None
            raise explain(exc, self.settings, during, redirect_uri) from None
        return str(answer["link_token"])

    def link_language(self, language: str | None) -> str:
        """What Link is opened in for an end user of ``language`` (English when Plaid does
        not offer it for PLAID_COUNTRY_CODES)."""
        return link_language(language, self.settings.plaid_country_codes)

    def item_error(self, access_token: str) -> str | None:
        """The error code Plaid reports for the Item now (``item.error``), None when it
        works; :class:`LinkStepError` when Plaid cannot say."""
        try:
            error = self._item_get(access_token)["item"].get("error")
        except plaid_client.PLAID_FAILURES as exc:
            if plaid_client.error_from_exception(exc).error_code in GONE_ITEM_CODES:
                raise item_gone(exc) from None
            raise explain(exc, self.settings, CHECKING) from None
        return str(error.get("error_code")) if isinstance(error, dict) else None

    def exchange(self, public_token: str, session_id: str) -> ItemRecord:
        """Exchange the public token (once: re-sent only after a 429). The Item's institution
        is left for :meth:`institution` (only notebooks show it; Kore's flow does not need
        a second Plaid call)."""
        self.refuse_spent(public_token)
        try:
            response = self._call(
                "/item/public_token/exchange",
                lambda: plaid_client.call_json(
                    self.api,
                    "item_public_token_exchange",
                    {"public_token": public_token},
                    self.timeout,
                ),
                is_rate_limit,
            )
        except plaid_client.PLAID_FAILURES as exc:
            raise self._exchange_failed(exc, public_token) from None
        return _item_record(response, session_id)

    def refuse_spent(self, public_token: str) -> None:
        """:class:`LinkStepError` (409) when ``public_token`` must never be sent again."""
        if self.spent.is_public_token_spent(public_token):
            raise LinkStepError.of(*ALREADY_SENT)

    async def exchange_async(
        self, public_token: str, session_id: str, checked: bool = False
    ) -> ItemRecord:
        """:meth:`exchange` on the event loop. The spent-token record is the store's: read
        in the thread pool, unless the caller ran :meth:`refuse_spent` in its own store hop
        (``checked``); an ambiguous failure records it there too."""
        if not checked:
            await run_in_threadpool(self.refuse_spent, public_token)
        body = {"public_token": public_token}
        try:
            response = await self._call_async("/item/public_token/exchange", body, is_rate_limit)
        except plaid_client.PLAID_FAILURES as exc:
            failure = await run_in_threadpool(self._exchange_failed, exc, public_token)
            raise failure from None
        return _item_record(response, session_id)

    def _exchange_failed(self, exc: BaseException, public_token: str) -> LinkStepError:
        """An exchange's failure; after an ambiguous one (5xx, no answer) the public token is
        recorded as spent: never sent again."""
        err = plaid_client.error_from_exception(exc)
        if not is_rate_limit(err) and (err.status >= 500 or err.status == 0):
            self.spent.mark_public_token_spent(public_token)  # Plaid may have used it
            failure = explain(exc, self.settings, EXCHANGING).refusal
            told = failure.with_fix(
                N_(
                    "Open Plaid Link again (the Connect button) and log in to the bank once "
                    "more; if it keeps failing, wait a minute."
                )
            ).with_step("10-12")  # the user logs in through Link again
            return LinkStepError(told)
        return explain(exc, self.settings, EXCHANGING)

    def _item_get(self, access_token: str) -> dict[str, Any]:
        """``/item/get``; an Item in error (Plaid's ``item.error``, or a failed call) is
        reported to :attr:`item_errors`."""
        try:
            answer = self._call(
                "/item/get",
                lambda: plaid_client.call_json(
                    self.api, "item_get", {"access_token": access_token}, self.timeout
                ),
                is_transient,
            )
        except plaid_client.PLAID_FAILURES as exc:
            self._report(access_token, exc)
            raise
        error = (answer.get("item") or {}).get("error")
        if isinstance(error, dict) and error.get("error_code") and self.item_errors:
            self.item_errors(access_token, str(error["error_code"]))
        return answer

    def _report(self, access_token: str, exc: BaseException) -> None:
        if self.item_errors is not None:
            err = plaid_client.error_from_exception(exc)
            if err.error_type != "CONNECTION_ERROR":
                self.item_errors(access_token, err.error_code)

    def institution(self, access_token: str) -> str | None:
        """The Item's institution id (``/item/get``), None when Plaid cannot say."""
        try:
            institution = self._item_get(access_token)["item"].get("institution_id")
        except plaid_client.PLAID_FAILURES:  # the institution is only for display
            return None
        return str(institution) if institution else None

    def item_exists(self, access_token: str) -> bool:
        """False when Plaid no longer knows the access token (already removed)."""
        try:
            self._item_get(access_token)
        except plaid_client.PLAID_FAILURES as exc:
            return plaid_client.error_from_exception(exc).error_code != "INVALID_ACCESS_TOKEN"
        return True

    def remove_item(self, access_token: str) -> bool:
        """Invalidate an access token at Plaid (``/item/remove``); False when that failed."""
        try:
            self._call(
                "/item/remove",
                lambda: plaid_client.call_json(
                    self.api, "item_remove", {"access_token": access_token}, self.timeout
                ),
                is_transient,
            )
        except plaid_client.PLAID_FAILURES as exc:
            self._report(access_token, exc)
            return False
        return True

    async def remove_item_async(self, access_token: str) -> bool:
        """:meth:`remove_item` on the event loop."""
        body = {"access_token": access_token}
        try:
            await self._call_async("/item/remove", body, is_transient)
        except plaid_client.PLAID_FAILURES as exc:
            await run_in_threadpool(self._report, access_token, exc)  # the store: off the loop
            return False
        return True

    def webhook_verification_key(self, key_id: str) -> dict[str, Any] | None:
        """The JWK Plaid signs webhooks with under ``key_id``
        (``/webhook_verification_key/get``); None when Plaid knows no such key. Plaid
        unreachable, rate limiting or refusing the bridge's keys: :class:`LinkStepError`."""
        try:
            answer = self._call(
                "/webhook_verification_key/get",
                lambda: plaid_client.webhook_verification_key(self.api, key_id, self.timeout),
                is_transient,
            )
        except plaid_client.PLAID_FAILURES as exc:
            err = plaid_client.error_from_exception(exc)
            if 400 <= err.status < 500 and not is_rate_limit(err) and err.status != 401:
                if err.error_code != "INVALID_API_KEYS":
                    return None
            raise explain(exc, self.settings, FETCHING_KEY) from None
        return dict(answer["key"])


def _item_record(response: Mapping[str, Any], session_id: str) -> ItemRecord:
    """The Item an exchange made (its institution left for :meth:`PlaidLink.institution`)."""
    item_id, access_token = str(response["item_id"]), str(response["access_token"])
    return ItemRecord(item_id, access_token, None, link_user_id(session_id))
