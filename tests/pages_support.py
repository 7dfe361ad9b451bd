"""What the end-user page tests share (tests/test_pages_accessibility.py, test_pages_phones.py):
one stack for a module (emulator, an embedded-Link bridge and a Hosted Link bridge on one
store, Kore's callback stand-in of :mod:`kore_plaid_nb.kore.callback_server`), a phone's
browser context in a language, every end-user page brought to the state a user sees, axe-core
(``.tools/axe``, ``tools/install_axe.sh``), and the layout and keyboard checks.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from browser_support import CALLBACK_PATH, TIMEOUT_MS, pkce_pair, query_of
from http_support import TLS

from kore_plaid_nb import plaid_client
from kore_plaid_nb.bridge import running_bridge
from kore_plaid_nb.bridge.hosted_link import RETURN_PARAM, RETURN_PATH
from kore_plaid_nb.bridge.store import StoreUnavailable, open_bridge_store
from kore_plaid_nb.bridge.store.bridge_store import BridgeStore
from kore_plaid_nb.emulator import running_emulator
from kore_plaid_nb.kore.callback_server import CallbackReceiver
from kore_plaid_nb.serving import serve_in_thread
from kore_plaid_nb.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
AXE_JS = ROOT / ".tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
INSTALL_AXE = ROOT / "tools" / "install_axe.sh"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING = ("serious", "critical")
ITEM_LOCKED = "error_ITEM_LOCKED"  # the sandbox password that fails with ITEM_LOCKED
MIN_TARGET = 44  # CSS px: WCAG 2.5.5 (AAA) / Apple's and Google's guidelines
MIN_FONT = 16  # CSS px, body text


def missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the page tests must run here)")
    pytest.skip(reason)


def axe_script() -> Path:
    """axe.min.js, installed by `make install` (tools/install_axe.sh, run here when it is
    missing). Without npm: skipped, but under CI it fails."""
    if not AXE_JS.is_file():
        done = subprocess.run(
            ["bash", str(INSTALL_AXE)], capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0 or not AXE_JS.is_file():
            missing(
                "axe-core is not installed and tools/install_axe.sh could not install it: "
                + (done.stderr.strip() or done.stdout.strip())
            )
    return AXE_JS


def axe_version() -> str:
    return str(json.loads((AXE_JS.parent / "package.json").read_text())["version"])


# -- the stack -------------------------------------------------------------------------------


@dataclass
class PagesStack:
    """Emulator, two bridges on one store (embedded Link; Hosted Link) and Kore's callback."""

    settings: Settings
    emulator_url: str
    bridge_url: str
    hosted_url: str
    callback_url: str
    kore: CallbackReceiver
    completions: list[str] = field(default_factory=list)  # Hosted Link's return URLs

    def authorize_url(self, state: str, language: str | None = None, hosted: bool = False) -> str:
        _, challenge = pkce_pair()
        query = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": self.callback_url,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if language:
            query["ui_locales"] = language
        return f"{self.hosted_url if hosted else self.bridge_url}/?{urlencode(query)}"

    def repair_url(self, language: str | None = None) -> str:
        """A fresh repair link of a new Item, authorized (without a browser) in ``language``:
        the repair page speaks the authorization's language."""
        access_token = authorize_over_http(self, language)
        with contextlib.closing(open_bridge_store(self.settings)) as store:
            [item] = [i for i in store.item_statuses() if i.access_token == access_token]
            token = store.create_repair_link(item.ref)
        assert token is not None
        return f"{self.bridge_url}/repair/{token}"

    def expire_hosted_sessions(self) -> None:
        with contextlib.closing(sqlite3.connect(self.settings.bridge_db_path)) as db:
            db.execute(
                "UPDATE sessions SET expires_at = ? WHERE hosted_return IS NOT NULL",
                (time.time() - 1,),
            )
            db.commit()


def authorize_over_http(stack: PagesStack, language: str | None = None) -> str:
    """An authorization without a browser (the page's JSON calls): Kore's access token."""
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": stack.settings.client_id,
        "redirect_uri": stack.callback_url,
        "state": "http-" + secrets.token_hex(4),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if language:
        query["ui_locales"] = language
    with httpx.Client(timeout=15, verify=TLS) as http:
        start = http.get(
            f"{stack.bridge_url}/?{urlencode(query)}", headers={"Accept": "application/json"}
        )
        public = plaid_client.call_json(
            plaid_client.create(stack.settings),
            "sandbox_public_token_create",
            {"institution_id": "ins_109508", "initial_products": ["transactions"]},
        )["public_token"]
        done = http.post(
            stack.bridge_url + "/api/set_access_token",
            json={"session": start.json()["session"], "public_token": public},
        )
        assert done.status_code == 200, done.text
        code = query_of(done.json()["redirect_to"])["code"]
        answer = http.post(
            stack.bridge_url + "/api/send_the_access_token_AUTH",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": stack.callback_url,
                "code_verifier": verifier,
            },
            auth=(stack.settings.client_id, stack.settings.secret),
        )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


@contextlib.contextmanager
def pages_stack(home: Path) -> Iterator[PagesStack]:
    """The whole stack in this process for the ``with`` block."""
    kore = CallbackReceiver()
    completions: list[str] = []
    original = plaid_client.link_token_body  # the body the bridge sends Plaid

    def recording(*args: object, **kwargs: object) -> dict[str, object]:
        options = kwargs.get("hosted_link")
        if isinstance(options, dict):
            completions.append(str(options["completion_redirect_uri"]))
        return original(*args, **kwargs)

    base = Settings(home=home, env_file=home / ".env")
    with (
        pytest.MonkeyPatch.context() as patch,
        serve_in_thread(kore.app(CALLBACK_PATH), what="Kore callback stand-in") as kore_url,
        running_emulator(base) as emulator_url,
    ):
        patch.setattr(plaid_client, "link_token_body", recording)
        callback_url = kore_url + CALLBACK_PATH
        settings = base.with_values(plaid_api_url=emulator_url, plaid_redirect_uri=callback_url)
        with (
            running_bridge(settings) as bridge_url,
            running_bridge(settings.with_values(link_mode="hosted")) as hosted_url,
        ):
            yield PagesStack(
                settings, emulator_url, bridge_url, hosted_url, callback_url, kore, completions
            )


# -- browser contexts --------------------------------------------------------------------------


def new_context(browser: Any, device: dict[str, Any], language: str, **extra: Any) -> Any:
    """A phone's context (Playwright's device descriptor, run in Chromium) in ``language``:
    its Accept-Language and navigator.language."""
    options = {k: v for k, v in device.items() if k != "default_browser_type"}
    options.update(locale=language, service_workers="block", **extra)
    context = browser.new_context(**options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


@dataclass
class Held:
    """Requests held by a route (answered never, or when released)."""

    routes: list[Any] = field(default_factory=list)

    def wait(self, page: Any, count: int = 1) -> None:
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while len(self.routes) < count:
            assert time.monotonic() < deadline, "the held request never came"
            page.wait_for_timeout(20)


def hold_first(page: Any, pattern: str) -> Held:
    """Hold the first request to ``pattern``; let the others through."""
    held = Held()

    def route(request_route: Any) -> None:
        if not held.routes:
            held.routes.append(request_route)
        else:
            request_route.continue_()

    page.route(pattern, route)
    return held


LINK_SESSION = "**/link/_standin/session"  # the Link stand-in's first call when it opens
DIALOG = "#plaid-standin-dialog"


# -- the pages, each brought to what the user sees ---------------------------------------------


@dataclass(frozen=True)
class Shown:
    """A page in the state to check; ``alert``: it shows an error."""

    name: str
    alert: bool = False
    in_dialog: bool = False  # Link's dialog is open: keyboard focus stays in it
    held: Held | None = field(default=None, compare=False)  # Link's first call, held


def open_authorize(page: Any, stack: PagesStack, language: str) -> Shown:
    """The authorization page before Link shows (Link's first call held)."""
    held = hold_first(page, LINK_SESSION)
    page.goto(stack.authorize_url("a11y-" + secrets.token_hex(4), language))
    held.wait(page)
    page.locator("#connect:enabled").wait_for()
    return Shown("authorization page")


def open_link_dialog(page: Any) -> Shown:
    page.locator(DIALOG).wait_for(state="visible")
    page.locator("#plaid-standin-institution:focus").wait_for()
    return Shown("authorization page, Link open", in_dialog=True)


def fail_link(page: Any) -> Shown:
    """In Link: a locked account, then Exit: the page explains."""
    page.fill("#plaid-standin-password", ITEM_LOCKED)
    page.click("#plaid-standin-continue")
    page.locator("#plaid-standin-error").wait_for(state="visible")
    page.click("#plaid-standin-exit")
    page.locator("#message.error").wait_for()
    page.locator("#connect:focus").wait_for()
    return Shown("authorization page, Link failed", alert=True)


def open_oauth_return_elsewhere(page: Any, stack: PagesStack, language: str) -> Shown:
    """/oauth-return in a browser that did not start the authorization."""
    page.goto(f"{stack.bridge_url}/oauth-return?oauth_state_id={secrets.token_hex(8)}")
    page.locator("#message.error").wait_for()
    return Shown("/oauth-return, another browser", alert=True)


def open_finishing(page: Any, stack: PagesStack, language: str) -> Shown:
    """Hosted Link's return before Plaid finished: the "finishing" page."""
    page.goto(stack.authorize_url("fin-" + secrets.token_hex(4), language, hosted=True))
    page.locator("#plaid-standin-continue").wait_for()
    response = page.goto(stack.completions[-1])
    assert response.status == 202, response.status
    return Shown("Hosted Link finishing page")


def open_repair(page: Any, stack: PagesStack, language: str) -> Shown:
    """The repair page while Link loads (Link's first call held; the button waits for
    Link)."""
    url = stack.repair_url(language)
    held = hold_first(page, LINK_SESSION)
    page.goto(url)
    held.wait(page)
    return Shown("repair page", held=held)


def close_repair_link(page: Any, shown: Shown) -> Shown:
    """The repair page's Link released, shown, and closed by the user (Escape)."""
    assert shown.held is not None
    shown.held.routes[0].continue_()
    page.locator("#plaid-standin-institution:focus").wait_for()
    page.keyboard.press("Escape")
    page.locator("#connect:focus").wait_for()
    return Shown("repair page, Link closed")


def open_unknown_session(page: Any, stack: PagesStack, language: str) -> Shown:
    response = page.goto(
        f"{stack.hosted_url}{RETURN_PATH}?{urlencode({RETURN_PARAM: secrets.token_hex(16)})}"
    )
    assert response.status == 400, response.status
    return Shown("error: unknown session", alert=True)


def open_expired_session(page: Any, stack: PagesStack, language: str) -> Shown:
    page.goto(stack.authorize_url("exp-" + secrets.token_hex(4), language, hosted=True))
    page.locator("#plaid-standin-continue").wait_for()
    stack.expire_hosted_sessions()
    response = page.goto(stack.completions[-1])
    assert response.status == 400, response.status
    return Shown("error: expired session", alert=True)


def open_not_found(page: Any, stack: PagesStack, language: str) -> Shown:
    response = page.goto(f"{stack.bridge_url}/no-such-page")
    assert response.status == 404, response.status
    return Shown("error: 404", alert=True)


def open_store_unavailable(page: Any, stack: PagesStack, language: str) -> Shown:
    """The store cannot answer (the repair page's read fails): 503."""

    def down(*args: object) -> object:
        raise StoreUnavailable("the database restarts")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BridgeStore, "peek_repair_link", down)
        response = page.goto(f"{stack.bridge_url}/repair/{secrets.token_urlsafe(32)}")
    assert response.status == 503, response.status
    return Shown("error: store unavailable", alert=True)


Opener = Callable[[object, PagesStack, str], Shown]
PAGES: dict[str, Opener] = {
    "authorize": open_authorize,
    "oauth-return": open_oauth_return_elsewhere,
    "finishing": open_finishing,
    "repair": open_repair,
    "unknown-session": open_unknown_session,
    "expired-session": open_expired_session,
    "not-found": open_not_found,
    "store-unavailable": open_store_unavailable,
}


SHOTS = ROOT / "build" / "screenshots" / "i27"


def private_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (0600) in a folder of its own (0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, 0o600)
    return path


def shot(page: Any, name: str, full_page: bool = True) -> Path:
    """A screenshot for the closing note: build/screenshots/i27/<name>.png."""
    return private_file(SHOTS / f"{name}.png", page.screenshot(full_page=full_page))


# -- checks ------------------------------------------------------------------------------------


@dataclass
class AxeCounts:
    serious: int
    critical: int
    other: int
    blocking: list[str]  # "rule (impact): first target" of each serious/critical violation


def run_axe(page: Any) -> AxeCounts:
    """axe-core over the page as it is now (every rule of :data:`AXE_TAGS`, color-contrast
    included). The page's CSP allows no inline or foreign script, so the context that runs
    this must be made with ``bypass_csp=True``."""
    if not page.evaluate("typeof window.axe === 'object'"):  # once per document
        page.add_script_tag(path=str(axe_script()))
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        AXE_TAGS,
    )
    counts = {"serious": 0, "critical": 0, "other": 0}
    blocking = []
    for violation in results["violations"]:
        for node in violation["nodes"]:
            impact = node.get("impact") or violation.get("impact") or "minor"
            counts[impact if impact in BLOCKING else "other"] += 1
            if impact in BLOCKING:
                blocking.append(f"{violation['id']} ({impact}): {node['target']}")
    return AxeCounts(counts["serious"], counts["critical"], counts["other"], blocking)


LAYOUT_JS = """([minTarget, minFont]) => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth) {
    problems.push(`horizontal scroll: ${root.scrollWidth} > ${window.innerWidth}`);
  }
  const visible = el => {
    const s = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    return s.visibility !== 'hidden' && s.display !== 'none' && r.width > 0 && r.height > 0;
  };
  // Controls: every button and every link that is not an inline link in running text
  // (WCAG 2.5.8's inline exception: a link inside a sentence of a paragraph or list item).
  const inline = a => a.closest('p, li') && a.closest('p, li').textContent.trim() !==
    a.textContent.trim();
  // Plaid's own Link (here its stand-in's dialog) is Plaid's page, not the bridge's.
  const plaids = el => el.closest('#plaid-standin-overlay');
  for (const el of document.querySelectorAll('button, a[href], input, select')) {
    if (!visible(el) || plaids(el) || (el.matches('a') && inline(el))) continue;
    const r = el.getBoundingClientRect();
    if (r.width < minTarget || r.height < minTarget) {
      problems.push(`tap target ${el.id || el.tagName}: ${r.width}x${r.height}`);
    }
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || !visible(el) || plaids(el)) continue;
    if (el.closest('h1, h2, h3')) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < minFont) problems.push(`text ${size}px in ${el.tagName}#${el.id}`);
  }
  return problems;
}"""


def layout_problems(page: Any) -> list[str]:
    """No horizontal scroll, tap targets >= 44x44 CSS px, text >= 16px (headings are larger);
    [] when all hold."""
    return list(page.evaluate(LAYOUT_JS, [MIN_TARGET, MIN_FONT]))


FOCUSED_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
  return {id: el.id || el.textContent.trim(), ring: outline || s.boxShadow !== 'none'};
}"""

CONTROLS_JS = """inDialog => {
  const scope = inDialog ? document.querySelector('#plaid-standin-dialog') : document;
  return [...scope.querySelectorAll('a[href], button, input:not([type=hidden]), select')]
    .filter(el => !el.disabled && el.getClientRects().length &&
            getComputedStyle(el).visibility !== 'hidden' && !el.closest('[hidden]'))
    .map(el => el.id || el.textContent.trim());
}"""


def tab_through(page: Any, shown: Shown) -> tuple[list[str], list[str], list[str]]:
    """Press Tab once more than there are controls: (the controls in document order, the
    elements Tab focused in order, those without a visible focus indicator)."""
    controls = list(page.evaluate(CONTROLS_JS, shown.in_dialog))
    focused: list[str] = []
    unringed: list[str] = []
    for _ in range(len(controls) + 1):
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUSED_JS)
        if now is None:
            continue  # past the last control: the browser's own UI
        focused.append(now["id"])
        if not now["ring"]:
            unringed.append(now["id"])
    return controls, focused, unringed


def in_order(controls: list[str], focused: list[str]) -> bool:
    """Tab visited every control once in document order, starting anywhere (a cycle)."""
    if sorted(set(focused)) != sorted(controls):
        return False
    if not controls:
        return True
    start = controls.index(focused[0])
    cycle = controls[start:] + controls[:start]
    return focused[: len(controls)] == cycle
