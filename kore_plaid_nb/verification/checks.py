"""The ordered checks of ``kore-plaid verify``: the Kore simulator, step by step, timed.

Each check passes, fails (with the message naming the procedure step that is most likely
wrong) or is skipped because a check it needs did not pass.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import RunbookError
from ..kore.profile import bridge_url, tunnel_public_url
from ..kore.simulator import (
    DEFAULT_BEHAVIOUR,
    STEP_BRIDGE,
    STEP_PRODUCTS,
    AuthorizationRequest,
    KoreBehaviour,
    KoreSimulator,
    PlaidAction,
    StepSkipped,
    TokenResult,
    plaid_actions,
    product_names,
    token_style,
)
from ..settings import Settings

PASS, FAIL, SKIP = "pass", "FAIL", "skip"
KORE_ACTION_PRODUCTS = ("investments", "liabilities")


@dataclass(frozen=True)
class CheckResult:
    name: str
    result: str
    seconds: float
    detail: str = ""
    step: str | None = None
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.result != FAIL

    @property
    def time_text(self) -> str:
        return f"{self.seconds * 1000:6.0f} ms" if self.result != SKIP else "-"


@dataclass
class VerificationReport:
    url: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results) and bool(self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.result == FAIL]

    def rows(self) -> list[tuple[str, str, str]]:
        """(check, result, time) for a notebook table."""
        return [(r.name, _result_text(r), r.time_text) for r in self.results]

    def to_text(self) -> str:
        rows = [("check", "result", "time"), *self.rows()]
        width = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [
            f"{row[0]:<{width[0]}}  {row[1]:<{width[1]}}  {row[2]:>{width[2]}}" for row in rows
        ]
        lines.insert(1, "-" * (sum(width) + 4))
        lines += ["", *_failure_lines(self)]
        return "\n".join(lines).rstrip()

    def to_markdown(self) -> str:
        lines = ["| check | result | time |", "|---|---|---|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in self.rows()]
        failures = _failure_lines(self)
        return "\n".join(lines + ([""] + failures if failures else []))

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def _result_text(result: CheckResult) -> str:
    if result.result == FAIL and result.step:
        return f"FAIL (step {result.step})"
    return result.result


def _failure_lines(report: VerificationReport) -> list[str]:
    lines = []
    for r in report.failures:
        step = f" (procedure step {r.step})" if r.step else ""
        lines.append(f"FAIL {r.name}: {r.detail}{step}")
        if r.fix:
            lines.append(f"     What to do: {r.fix}")
    for r in report.results:
        if r.result == SKIP and not r.detail.startswith("needs:"):
            lines.append(f"skip {r.name}: {r.detail}")
    if report.results:
        lines.append(
            f"{len(report.failures)} of {len(report.results)} checks failed against {report.url}"
            if report.failures
            else f"All {len(report.results)} checks passed against {report.url}"
        )
    return lines


class Runner:
    """Runs checks in order, timing each; a check whose needs failed is skipped.
    ``passed``: the keys of checks already passed elsewhere (the matrix's common checks)."""

    def __init__(
        self,
        report: VerificationReport,
        on_result: Callable[[CheckResult], None],
        passed: set[str] | None = None,
    ) -> None:
        self.report = report
        self.on_result = on_result
        self.passed: set[str] = set(passed or ())
        self.by_key: dict[str, CheckResult] = {}

    def check(
        self, key: str, name: str, action: Callable[[], Any], needs: tuple[str, ...] = ()
    ) -> Any:
        missing = [n for n in needs if n not in self.passed]
        if missing:
            return self._add(key, CheckResult(name, SKIP, 0.0, "needs: " + ", ".join(missing)))
        start = time.perf_counter()
        try:
            value = action()
        except StepSkipped as exc:
            skipped = CheckResult(name, SKIP, time.perf_counter() - start, exc.message)
            return self._add(key, skipped)
        except RunbookError as exc:
            failed = CheckResult(
                name, FAIL, time.perf_counter() - start, exc.message, exc.step, exc.fix
            )
            return self._add(key, failed)
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            # Only the type: an exception's text can quote a URL that carries a code.
            failed = CheckResult(
                name,
                FAIL,
                time.perf_counter() - start,
                f"Unexpected {type(exc).__name__} (the bridge's answer did not fit its contract).",
                STEP_BRIDGE,
                "Read the bridge's log (`kore-plaid status` shows where).",
            )
            return self._add(key, failed)
        self.passed.add(key)
        detail = str(value) if isinstance(value, str | TokenResult) else ""
        self._add(key, CheckResult(name, PASS, time.perf_counter() - start, detail))
        return value

    def _add(self, key: str, result: CheckResult) -> None:
        self.by_key[key] = result
        self.report.results.append(result)
        self.on_result(result)


def check_products(settings: Settings) -> str:
    """PLAID_PRODUCTS must hold the products Kore's Plaid actions read (seed step 4.x)."""
    products = ",".join(settings.plaid_products)
    unknown = [p for p in settings.plaid_products if p not in product_names()]
    if unknown:
        raise RunbookError(
            f"PLAID_PRODUCTS={products} names what is not a Plaid product: {', '.join(unknown)}.",
            fix="Set PLAID_PRODUCTS=auth,transactions,identity,investments,liabilities in .env "
            "and restart the bridge.",
            step=STEP_PRODUCTS,
        )
    lacking = [p for p in KORE_ACTION_PRODUCTS if p not in settings.plaid_products]
    if lacking:
        raise RunbookError(
            f"PLAID_PRODUCTS={products} lacks {', '.join(lacking)}: Link does not ask users to "
            "share that data, so Kore's investment / liabilities actions can fail for them "
            "(PRODUCTS_NOT_SUPPORTED, ADDITIONAL_CONSENT_REQUIRED).",
            fix="Set PLAID_PRODUCTS=auth,transactions,identity,investments,liabilities in .env, "
            "restart the bridge (`kore-plaid stop bridge`, then start it) and authorize again.",
            step=STEP_PRODUCTS,
        )
    return ",".join(settings.plaid_products)


def run_checks(
    settings: Settings,
    url: str,
    tenant: str | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    behaviour: KoreBehaviour = DEFAULT_BEHAVIOUR,
) -> VerificationReport:
    """Play Kore (as ``behaviour`` says) against the bridge at ``url``; every check in
    order, timed."""
    report = VerificationReport(url=url.rstrip("/"))
    run = Runner(report, on_result or (lambda result: None))
    with KoreSimulator(settings, url, tenant=tenant, behaviour=behaviour) as sim:
        common_checks(run, sim, settings)
        authorization_chain(run, sim, settings, with_sample=True)
    return report


def common_checks(run: Runner, sim: KoreSimulator, settings: Settings) -> None:
    """What every authorization needs: products, tenant, bridge, callbacks."""
    run.check("products", "PLAID_PRODUCTS covers Kore's actions", lambda: check_products(settings))
    run.check("tenant", f"tenant {sim.tenant!r} -> Plaid host", lambda: sim.plaid_base_url())
    run.check("bridge", "bridge answers (GET /healthz)", sim.check_bridge_up)
    run.check(
        "kore_callback",
        "Kore's callback is registered at the bridge",
        lambda: _kore_callback(sim, settings),
        needs=("bridge",),
    )
    run.check("callback_server", "simulator callback server", sim.start_callback_server)


def authorization_chain(
    run: Runner, sim: KoreSimulator, settings: Settings, with_sample: bool = False
) -> None:
    """One authorization as ``sim.behaviour`` plays it: request, Link, redirect, code ->
    token (then Kore's sample JSON ``{code}`` when ``with_sample``), refresh, every Plaid
    action. Check keys: authorize, public_token, set_access_token, redirect, token,
    token_json, refresh, plaid:<path>."""
    behaviour = sim.behaviour
    request: AuthorizationRequest = sim.authorization_request()
    session = run.check(
        "authorize",
        f"Authorization URL -> Link session ({_authorize_text(behaviour)})",
        lambda: sim.get_link_token(request),
        needs=("bridge",),
    )
    public_token = run.check(
        "public_token",
        "user in Link: sandbox public token",
        sim.create_public_token,
        needs=("authorize",),
    )
    link = run.check(
        "set_access_token",
        "page -> /api/set_access_token -> redirect_to",
        lambda: sim.complete_link(session, public_token),
        needs=("public_token",),
    )
    callback = run.check(
        "redirect",
        "redirect to callback: "
        + ("code + unchanged state" if behaviour.state else "code, no state"),
        lambda: sim.follow_redirect(link, request),
        needs=("set_access_token", "callback_server"),
    )
    tokens: TokenResult | None = run.check(
        "token",
        f"Token Request URL: {token_style(behaviour)} (authorization_code)",
        lambda: sim.exchange_code(request, callback.code),
        needs=("redirect",),
    )
    if with_sample:
        run.check(
            "token_json",
            "Token Request URL: Kore's JSON {code} (second authorization)",
            lambda: _json_style(sim),
            needs=("token",),
        )
    refreshed: TokenResult | None = run.check(
        "refresh",
        "Refresh Token URL: grant_type=refresh_token",
        lambda: _refresh(sim, tokens),
        needs=("token",),
    )
    latest = refreshed or tokens
    access_token = latest.access_token if latest else ""
    for action in plaid_actions(settings.plaid_products):
        kind = "Kore action" if action.kore_action else "product"
        run.check(
            f"plaid:{action.path}",
            f"Plaid {action.path} ({kind}: {action.name})",
            functools.partial(_plaid_summary, sim, action, access_token),
            needs=("token", "tenant"),
        )


def _authorize_text(behaviour: KoreBehaviour) -> str:
    """``state, no PKCE`` / ``no state, PKCE S256``."""
    state = "state" if behaviour.state else "no state"
    return f"{state}, {'PKCE S256' if behaviour.pkce else 'no PKCE'}"


def _plaid_summary(sim: KoreSimulator, action: PlaidAction, access_token: str) -> str:
    return sim.call_plaid(action, access_token).summary


def _kore_callback(sim: KoreSimulator, settings: Settings) -> str:
    request = sim.authorization_request(redirect_uri=settings.plaid_redirect_uri, use_pkce=False)
    sim.get_link_token(request)
    return settings.plaid_redirect_uri


def _json_style(sim: KoreSimulator) -> str:
    request, code = sim.authorize(use_pkce=False)
    return str(sim.exchange_code_json(code, request))


def _refresh(sim: KoreSimulator, tokens: TokenResult | None) -> TokenResult:
    if tokens is None or not tokens.refresh_token:
        raise RunbookError(
            "The token response carried no refresh_token, so Kore cannot refresh.",
            fix="Update the bridge (issue 3 contract: refresh_token in every token response).",
            step=STEP_BRIDGE,
        )
    refreshed = sim.refresh(tokens.refresh_token)
    if refreshed.access_token != tokens.access_token:
        raise RunbookError(
            "The refresh answered a different access token: Kore's Plaid actions send the "
            "token Kore holds, so a new one means another Item (or none).",
            fix="The refresh grant must return the same Item's access token (the bridge's "
            "contract, issue 3).",
            step=STEP_BRIDGE,
        )
    return refreshed


def target_url(settings: Settings, explicit: str | None = None) -> str | None:
    """--url, else the tunnel's public URL, else the running bridge's URL."""
    return explicit or tunnel_public_url(settings) or bridge_url(settings)


def checked_url(settings: Settings, url: str | None = None) -> str | None:
    """The bridge to check: ``url`` (which must be http(s)), else :func:`target_url`."""
    if url is not None and not re.match(r"^https?://[^\s/?#]+", url):
        raise RunbookError(
            f"--url {url!r} is not an http(s) URL.",
            fix="Pass the bridge's URL, e.g. https://<name>.ngrok.app or http://127.0.0.1:8000.",
            step="5",
        )
    return target_url(settings, url)


def no_bridge_report() -> VerificationReport:
    """The report when no bridge can be found: that one failure."""
    report = VerificationReport(url="(no bridge)")
    report.results.append(
        CheckResult(
            "bridge answers (GET /healthz)",
            FAIL,
            0.0,
            "No bridge is running (none recorded in the state folder) and no --url was "
            "given: the bridge is down.",
            STEP_BRIDGE,
            "Start it (`kore-plaid bridge` or notebook 03_bridge), or pass --url with its URL.",
        )
    )
    return report


def verify(
    settings: Settings,
    url: str | None = None,
    tenant: str | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    behaviour: KoreBehaviour = DEFAULT_BEHAVIOUR,
) -> VerificationReport:
    """Run every check against the bridge (``url``, else :func:`target_url`), playing Kore
    as ``behaviour`` says; when no bridge can be found, a report with that one failure."""
    found = checked_url(settings, url)
    if found is None:
        return no_bridge_report()
    return run_checks(settings, found, tenant=tenant, on_result=on_result, behaviour=behaviour)
