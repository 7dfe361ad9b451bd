"""The Link stand-in in a real (headless) browser: a page on another origin loads the script,
opens the dialog, and gets onSuccess / onExit as with Plaid Link. Skipped without Chromium."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from browser_support import PHONE, browser, open_tab
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from kore_plaid_nb.emulator import running_emulator
from kore_plaid_nb.emulator.webhooks import wait_for_deliveries
from kore_plaid_nb.serving import serve_in_thread
from kore_plaid_nb.settings import Settings

BROWSER = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium/Chrome on this machine")
__all__ = ["browser", "open_tab"]  # fixtures used by name

INNER = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<script src="%(script)s"></script></head><body><p>Bridge page</p><script>
var MODE = %(mode)s, TOKEN = %(token)s, events = [];
function report(obj) {
  obj.events = events;
  parent.document.getElementById("result").textContent = JSON.stringify(obj);
}
function waitFor(test, cb) {
  var t = setInterval(function () { var v = test(); if (v) { clearInterval(t); cb(v); } }, 20);
}
function byId(id) { return document.getElementById(id); }
var layout = null;
var handler = Plaid.create({
  token: TOKEN,
  receivedRedirectUri: MODE === "return" ? window.location.href : undefined,
  onSuccess: function (pt, md) { report({event: "success", public_token: pt, metadata: md,
    layout: layout}); },
  onExit: function (err, md) { report({event: "exit", error: err, metadata: md}); },
  onEvent: function (name) { events.push(name); }
});
handler.open();
waitFor(function () { return byId("plaid-standin-continue"); }, function (btn) {
  var d = byId("plaid-standin-dialog").getBoundingClientRect();
  layout = {width: d.width, left: d.left, right: d.right, innerWidth: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth, focused: document.activeElement.id,
    username: byId("plaid-standin-username").value,
    password: byId("plaid-standin-password").value,
    labelled: byId("plaid-standin-dialog").getAttribute("aria-labelledby")};
  if (MODE === "oauth") byId("plaid-standin-institution").value = "ins_127287";
  if (MODE === "exit") {
    document.dispatchEvent(new KeyboardEvent("keydown", {key: "Escape", bubbles: true}));
  } else if (MODE === "error") {
    byId("plaid-standin-password").value = "error_ITEM_LOCKED";
    btn.click();
    waitFor(function () { var e = byId("plaid-standin-error"); return e && !e.hidden && e; },
      function () { byId("plaid-standin-exit").click(); });
  } else {
    btn.click();
  }
});
</script></body></html>"""

OUTER = """<!doctype html><html><body>
<iframe id="frame" src="%(inner)s" style="width:375px;height:700px;border:0"></iframe>
<pre id="result"></pre></body></html>"""


@pytest.fixture
def emulator(home) -> Iterator[tuple[str, Settings]]:
    settings = Settings(home=home)
    with running_emulator(settings) as url:
        yield url, settings


@pytest.fixture
def page_server(emulator) -> Iterator[tuple[str, dict]]:
    """The "bridge": a page on another origin that embeds the stand-in."""
    emulator_url, _ = emulator
    state: dict = {"hooks": []}

    def inner(mode: str) -> HTMLResponse:
        values = {
            "script": emulator_url + "/link/v2/stable/link-initialize.js",
            "mode": json.dumps(mode),
            "token": json.dumps(state["token"]),
        }
        return HTMLResponse(INNER % values)

    async def outer(request: Request) -> HTMLResponse:
        mode = html.escape(request.query_params["mode"])
        return HTMLResponse(OUTER % {"inner": f"/inner?mode={mode}"})

    async def inner_page(request: Request) -> HTMLResponse:
        return inner(request.query_params["mode"])

    async def oauth_return(request: Request) -> HTMLResponse:
        return inner("return")

    async def hook(request: Request) -> HTMLResponse:
        state["hooks"].append(json.loads(await request.body()))
        return HTMLResponse("")

    async def done(request: Request) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>done</title><p id=done>Back in the app</p>")

    app = Starlette(
        routes=[
            Route("/outer", outer),
            Route("/inner", inner_page),
            Route("/oauth-return", oauth_return),
            Route("/hook", hook, methods=["POST"]),
            Route("/done", done),
        ]
    )
    with serve_in_thread(app, what="test page") as url:
        yield url, state


def link_token(emulator_url: str, settings: Settings, **extra: object) -> str:
    body = {
        "client_name": "Kore runbook",
        "language": "en",
        "country_codes": ["US"],
        "user": {"client_user_id": "user-1"},
        "products": ["auth", "transactions"],
        **extra,
    }
    headers = {"PLAID-CLIENT-ID": settings.client_id, "PLAID-SECRET": settings.secret}
    response = httpx.post(emulator_url + "/link/token/create", json=body, headers=headers)
    return response.json()["link_token"]


def run_page(url: str) -> dict:
    completed = subprocess.run(
        [
            BROWSER,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r'<pre id="result">(.*?)</pre>', completed.stdout, re.S)
    assert match and match.group(1), f"no result in the page:\n{completed.stdout[-2000:]}"
    return json.loads(html.unescape(match.group(1)))


def test_dialog_succeeds_with_link_metadata_and_fits_375px(emulator, page_server):
    emulator_url, settings = emulator
    page_url, state = page_server
    state["token"] = link_token(emulator_url, settings)
    result = run_page(page_url + "/outer?mode=success")
    assert result["event"] == "success"
    assert result["public_token"].startswith("public-sandbox-")
    metadata = result["metadata"]
    assert metadata["institution"] == {
        "name": "First Platypus Bank",
        "institution_id": "ins_109508",
    }
    assert [a["mask"] for a in metadata["accounts"]][:2] == ["0000", "1111"]
    assert metadata["link_session_id"]
    layout = result["layout"]
    assert layout["innerWidth"] == 375
    assert 0 <= layout["left"] and layout["right"] <= 375 and layout["scrollWidth"] <= 375
    assert layout["focused"] == "plaid-standin-institution"
    assert (layout["username"], layout["password"]) == ("user_good", "pass_good")
    assert layout["labelled"] == "plaid-standin-title"
    assert result["events"][:1] == ["OPEN"] and "HANDOFF" in result["events"]
    headers = {"PLAID-CLIENT-ID": settings.client_id, "PLAID-SECRET": settings.secret}
    exchanged = httpx.post(
        emulator_url + "/item/public_token/exchange",
        json={"public_token": result["public_token"]},
        headers=headers,
    )
    assert exchanged.status_code == 200


def test_escape_exits_with_on_exit(emulator, page_server):
    emulator_url, settings = emulator
    page_url, state = page_server
    state["token"] = link_token(emulator_url, settings)
    result = run_page(page_url + "/outer?mode=exit")
    assert result["event"] == "exit"
    assert result["error"] is None
    assert result["metadata"]["link_session_id"]
    assert "EXIT" in result["events"]


def test_failed_login_shows_the_error_and_exit_reports_it(emulator, page_server):
    emulator_url, settings = emulator
    page_url, state = page_server
    state["token"] = link_token(emulator_url, settings)
    result = run_page(page_url + "/outer?mode=error")
    assert result["event"] == "exit"
    assert result["error"]["error_code"] == "ITEM_LOCKED"
    assert "ERROR" in result["events"]


def test_oauth_bank_redirects_then_completes_with_received_redirect_uri(emulator, page_server):
    emulator_url, settings = emulator
    page_url, state = page_server
    state["token"] = link_token(emulator_url, settings, redirect_uri=page_url + "/oauth-return")
    result = run_page(page_url + "/outer?mode=oauth")
    assert result["event"] == "success", result
    assert result["metadata"]["institution"]["institution_id"] == "ins_127287"
    assert result["public_token"].startswith("public-sandbox-")


def plaid_post(emulator_url: str, settings: Settings, path: str, body: dict) -> dict:
    headers = {"PLAID-CLIENT-ID": settings.client_id, "PLAID-SECRET": settings.secret}
    response = httpx.post(emulator_url + path, json=body, headers=headers, timeout=15)
    assert response.status_code == 200, response.text
    return response.json()


def webhook_codes(emulator_url: str, settings: Settings, hooks: list[dict]) -> list[str]:
    wait_for_deliveries(emulator_url, settings.client_id, settings.secret, 10)
    return [f"{h['webhook_type']} {h['webhook_code']}" for h in hooks]


def test_update_mode_repairs_the_item_and_its_webhook_hears_login_repaired(emulator, page_server):
    emulator_url, settings = emulator
    page_url, state = page_server
    public = plaid_post(emulator_url, settings, "/sandbox/public_token/create", {
        "institution_id": "ins_109508", "initial_products": ["auth"],
        "options": {"webhook": page_url + "/hook"},
    })["public_token"]  # fmt: skip
    access = plaid_post(emulator_url, settings, "/item/public_token/exchange",
                        {"public_token": public})  # fmt: skip
    plaid_post(emulator_url, settings, "/sandbox/item/reset_login",
               {"access_token": access["access_token"]})  # fmt: skip
    state["token"] = link_token(emulator_url, settings, access_token=access["access_token"])
    result = run_page(page_url + "/outer?mode=success")
    assert result["event"] == "success", result
    assert result["public_token"].startswith("public-sandbox-")
    assert result["metadata"]["institution"]["institution_id"] == "ins_109508"
    item = plaid_post(emulator_url, settings, "/item/get",
                      {"access_token": access["access_token"]})["item"]  # fmt: skip
    assert item["item_id"] == access["item_id"] and item["error"] is None
    assert webhook_codes(emulator_url, settings, state["hooks"]) == [
        "ITEM ERROR",
        "ITEM LOGIN_REPAIRED",
    ]


def test_hosted_link_page_logs_in_and_returns_to_the_app(emulator, page_server, open_tab):
    emulator_url, settings = emulator
    page_url, state = page_server
    created = plaid_post(emulator_url, settings, "/link/token/create", {
        "client_name": "Kore runbook", "language": "en", "country_codes": ["US"],
        "user": {"client_user_id": "user-1"}, "products": ["auth"],
        "webhook": page_url + "/hook",
        "hosted_link": {"completion_redirect_uri": page_url + "/done"},
    })  # fmt: skip
    tab = open_tab()
    tab.page.goto(created["hosted_link_url"])
    assert tab.page.title() == "Connect your bank"
    assert tab.page.input_value("#plaid-standin-username") == "user_good"
    assert tab.page.input_value("#plaid-standin-password") == "pass_good"
    assert tab.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    tab.shot("hosted-link-phone")
    tab.page.click("#plaid-standin-continue")
    tab.page.wait_for_url(page_url + "/done")
    assert tab.page.text_content("#done") == "Back in the app"
    assert webhook_codes(emulator_url, settings, state["hooks"]) == [
        "LINK ITEM_ADD_RESULT",
        "LINK SESSION_FINISHED",
    ]
    finished = state["hooks"][1]
    assert finished["status"] == "SUCCESS" and finished["link_token"] == created["link_token"]
    got = plaid_post(emulator_url, settings, "/link/token/get",
                     {"link_token": created["link_token"]})  # fmt: skip
    (session,) = got["link_sessions"]
    assert session["link_session_id"] == finished["link_session_id"]
    assert (
        session["results"]["item_add_results"][0]["public_token"] == (finished["public_tokens"][0])
    )
    # nothing but the page itself was loaded: no script, no third-party request
    assert {r.url.split("?")[0] for r in tab.requests if r.resource_type != "document"} == set()
