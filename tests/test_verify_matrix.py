"""``kore-plaid verify --matrix`` and ``--as-recorded`` in embedded mode: emulator + bridge +
the Kore simulator playing every plausible Kore (issue 22)."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from verify_support import assert_nothing_secret, assert_rows_passed, verify, verify_streams

from kore_plaid_nb import cli, services, serving, settings
from kore_plaid_nb.bridge import create_app
from kore_plaid_nb.bridge.request_shapes import (
    STANDIN_USER_AGENT,
    Endpoint,
    RequestShape,
    shape_of,
)
from kore_plaid_nb.kore.behaviour import KoreBehaviour
from kore_plaid_nb.kore.profile import TOKEN_PATH
from kore_plaid_nb.kore.simulator import KoreSimulator
from kore_plaid_nb.verification import as_recorded

MATRIX_SECONDS = 60


def matrix_rows(out: str) -> list[list[str]]:
    """The table's rows, split into cells (the result cell may hold spaces)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("credentials"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        cells = line.split(maxsplit=8)
        rows.append(cells)
    return rows


def test_the_matrix_passes_24_of_24(bridge_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    start = time.perf_counter()
    code, out = verify(capsys, "--url", bridge_url, "--matrix")
    seconds = time.perf_counter() - start

    assert code == 0, out
    rows = matrix_rows(out)
    assert len(rows) == 24
    combos = {tuple(row[:4]) for row in rows}
    assert combos == set(
        itertools.product(("basic", "body", "both"), ("form", "json"), ("yes", "no"), ("yes", "no"))
    )
    assert rows[0][:4] == ["basic", "form", "yes", "no"]  # the default first
    for row in rows:
        assert row[4:] == ["pass", "pass", "pass", "7/7", "pass"], row
    assert f"24/24 combinations passed against {bridge_url}" in out
    assert_nothing_secret(out)
    print(f"matrix: {seconds:.1f} s")
    assert seconds < MATRIX_SECONDS


def test_the_matrix_as_json(bridge_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = verify_streams(capsys, "--url", bridge_url, "--matrix", "--json")
    assert code == 0, out + err
    answer = json.loads(out)
    assert (answer["ok"], answer["passed"], answer["total"]) == (True, 24, 24)
    assert [c["result"] for c in answer["common"]] == ["pass"] * 5
    assert answer["rows"][0] == {
        "credentials": "basic",
        "body": "form",
        "state": True,
        "pkce": False,
        "authorize": "pass",
        "token": "pass",
        "refresh": "pass",
        "plaid_passed": 7,
        "plaid_total": 7,
        "ok": True,
        "failed_check": None,
        "detail": None,
        "step": None,
        "fix": None,
        "seconds": answer["rows"][0]["seconds"],
    }
    assert all(row["ok"] for row in answer["rows"])
    assert_nothing_secret(out + err)


def one_way_only(app: ASGIApp) -> ASGIApp:
    """The bridge as it was before issue 22: a token request with HTTP Basic and a
    ``client_secret`` in the body gets 400 invalid_request."""

    async def bridge(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != TOKEN_PATH:
            return await app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = dict(scope["headers"])
        if headers.get(b"authorization", b"").startswith(b"Basic ") and b"client_secret" in body:
            refused = JSONResponse(
                {
                    "error": "invalid_request",
                    "error_description": "Send the client credentials one way only.",
                },
                status_code=400,
                headers={"Cache-Control": "no-store"},
            )
            return await refused(scope, receive, send)
        replayed = [{"type": "http.request", "body": body, "more_body": False}]

        async def replay() -> Message:
            return replayed.pop() if replayed else await receive()

        await app(scope, replay, send)

    return bridge


def test_a_failing_matrix_names_each_failed_combination_and_its_fix(
    embedded: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving.serve_in_thread(one_way_only(create_app(embedded))) as url:
        code, out = verify(capsys, "--url", url, "--matrix")

    assert code == 1
    rows = matrix_rows(out)
    assert len(rows) == 24
    for row in rows:
        if row[0] == "both":
            assert row[4:8] == ["pass", "FAIL", "skip", "0/7"], row
            assert row[8] == "FAIL (step 4.vii-x / 5)", row
        else:
            assert row[4:] == ["pass", "pass", "pass", "7/7", "pass"], row
    assert f"16/24 combinations passed against {url}" in out
    failures = [line for line in out.splitlines() if line.startswith("FAIL ")]
    assert len(failures) == 8
    assert failures[-1].startswith(
        "FAIL both, json, no state, PKCE: Token Request URL: json + Basic + body "
        "(authorization_code): The Token Request URL answered invalid_request (json + Basic "
        "+ body). Send the client credentials one way only. (procedure step 4.vii-x / 5)"
    )
    fixes = [line for line in out.splitlines() if line.startswith("     What to do: ")]
    assert fixes == [
        f"     What to do: The bridge must accept a token request sent as {body} + Basic + body "
        "(docs/kore-contract.md): update the bridge, then read its log if it still refuses."
        for body in ("form", "json")
    ]
    assert_nothing_secret(out)


def test_the_matrix_without_a_bridge_says_so(
    embedded: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{services.free_port()}"
    code, out = verify(capsys, "--url", url, "--matrix")
    assert code == 1
    assert f"0/24 combinations passed against {url}; a check every combination needs failed:" in out
    assert f"FAIL bridge answers (GET /healthz): Nothing answers at {url}" in out


def test_json_goes_with_the_matrix_only(
    embedded: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["verify", "--json"]) == 2
    assert "--json goes with --matrix" in capsys.readouterr().err


# --as-recorded


def kore_shape(
    endpoint: Endpoint,
    *params: str,
    basic: bool = False,
    json_body: bool = False,
    status: int = 200,
    at: float = 1_800_000_000.0,
) -> RequestShape:
    """A recorded shape of a request Kore sent with these parameter names."""
    return shape_of(
        endpoint,
        params=[(name, "x") for name in params],
        header_names=["user-agent", "content-type"] + (["authorization"] if basic else []),
        authorizations=["Basic eDp5"] if basic else [],
        content_type="application/json" if json_body else "application/x-www-form-urlencoded",
        user_agent="Kore-Platform",
        callbacks=[],
        status=status,
        at=at,
    )


AUTHORIZE = ("response_type", "client_id", "redirect_uri")
CODE_GRANT = ("grant_type", "code", "redirect_uri")


@pytest.mark.parametrize(
    ("authorize", "token", "expected"),
    [
        (
            kore_shape("authorize", *AUTHORIZE, "state"),
            kore_shape("token", *CODE_GRANT, basic=True),
            KoreBehaviour("basic", "form", True, False),
        ),
        (
            kore_shape("authorize", *AUTHORIZE, "code_challenge", "code_challenge_method"),
            kore_shape("token", *CODE_GRANT, "client_secret", "code_verifier", json_body=True),
            KoreBehaviour("body", "json", False, True),
        ),
        (
            None,
            kore_shape("token", *CODE_GRANT, "client_id", "client_secret", basic=True),
            KoreBehaviour("both", "form", True, False),
        ),
        (
            None,
            kore_shape("token", "code", "client_secret", "code_verifier", json_body=True),
            KoreBehaviour("body", "json", True, True),
        ),
    ],
)
def test_the_behaviour_recorded_shapes_show(
    authorize: RequestShape | None, token: RequestShape, expected: KoreBehaviour
) -> None:
    assert KoreBehaviour.from_shapes(authorize, token) == expected


def recorded(
    monkeypatch: pytest.MonkeyPatch, authorize: RequestShape | None, token: RequestShape | None
) -> None:
    monkeypatch.setattr(as_recorded, "latest_from_kore", lambda s: (authorize, token))


def test_as_recorded_plays_the_recorded_shape(
    bridge_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded(
        monkeypatch,
        kore_shape("authorize", *AUTHORIZE, "code_challenge", "code_challenge_method"),
        kore_shape("token", "code", "client_id", "client_secret", basic=True, json_body=True),
    )
    code, out = verify(capsys, "--url", bridge_url, "--as-recorded")

    assert code == 0, out
    assert out.startswith(
        "Playing Kore as the bridge recorded it: both, json, no state, PKCE.\n"
        "  from Kore's token request at 2027-01-15T08:00:00Z: credentials both, body "
        "application/json, grant_type (none), PKCE no, answered HTTP 200\n"
        "  and its authorization request at 2027-01-15T08:00:00Z: state no, PKCE yes, "
        "answered HTTP 200\n"
        "  Kore sent no grant_type; the simulator sends grant_type=authorization_code"
    )
    assert_rows_passed(
        out,
        (
            "Authorization URL -> Link session (no state, PKCE S256)",
            "redirect to callback: code, no state",
            "Token Request URL: json + Basic + body (authorization_code)",
            "Refresh Token URL: grant_type=refresh_token",
        ),
    )
    assert f"All 19 checks passed against {bridge_url}" in out


def test_as_recorded_reads_what_the_bridge_recorded_from_kore(
    embedded: settings.Settings, bridge_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The embedded stand-in plays a Kore other than the default; then verify replays it.
    kore = KoreBehaviour("body", "json", state=False, pkce=True)
    with KoreSimulator(
        embedded, bridge_url, behaviour=kore, user_agent=STANDIN_USER_AGENT
    ) as standin:
        request, code = standin.authorize()
        standin.exchange_code(request, code)

    code_, out = verify(capsys, "--url", bridge_url, "--as-recorded")
    assert code_ == 0, out
    assert out.startswith("Playing Kore as the bridge recorded it: body, json, no state, PKCE.")
    assert "credentials body, body application/json, grant_type authorization_code" in out
    # verify's own requests are not Kore's: a second run still replays the stand-in.
    code_, again = verify(capsys, "--url", bridge_url, "--as-recorded")
    assert code_ == 0, again
    assert again.splitlines()[:3] == out.splitlines()[:3]
    assert_nothing_secret(out + again)


def test_as_recorded_with_nothing_recorded_says_what_to_do(
    bridge_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # verify's own requests are recorded, but they are not Kore's.
    assert verify(capsys, "--url", bridge_url)[0] == 0
    assert cli.main(["verify", "--url", bridge_url, "--as-recorded"]) == 2
    err = capsys.readouterr().err
    assert "Nothing from Kore is recorded yet" in err
    assert "What to do: In Kore, open the authorization profile, click Authorize" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("authorize", "token", "message", "fix"),
    [
        (None, None, "Nothing from Kore is recorded yet", "In Kore, open the authorization"),
        (
            kore_shape("authorize", *AUTHORIZE, "state"),
            None,
            "no token request from Kore",
            "Finish Plaid Link in the window Kore opened",
        ),
        (
            kore_shape("authorize", *AUTHORIZE, "state"),
            kore_shape("token", *CODE_GRANT, "client_id", status=401),
            "carried no client credentials",
            "Fill Client ID and Client Secret Key in Kore's profile",
        ),
    ],
)
def test_as_recorded_refuses_what_it_cannot_replay(
    embedded: settings.Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    authorize: RequestShape | None,
    token: RequestShape | None,
    message: str,
    fix: str,
) -> None:
    recorded(monkeypatch, authorize, token)
    assert cli.main(["verify", "--as-recorded"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert f"What to do: {fix}" in err
    assert "Traceback" not in err
