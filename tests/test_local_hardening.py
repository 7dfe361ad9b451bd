"""The local machine (issue 23, findings 1, 7, 11, 12, 17): another user of the machine plants
nothing we follow, reads nothing we write, and a web page cannot talk to our loopback services.
"""

from __future__ import annotations

import json
import os
import random
import stat
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kore_plaid_nb import cli, ports, private_files, services, settings
from kore_plaid_nb.emulator import create_app
from kore_plaid_nb.emulator.store import Store
from kore_plaid_nb.errors import SettingsError
from kore_plaid_nb.kore.callback_server import CallbackReceiver
from kore_plaid_nb.kore.profile import remember_public_url
from kore_plaid_nb.progress import record
from kore_plaid_nb.runbook.report import write_html_report
from kore_plaid_nb.runbook.runner import RunReport, kernel_log
from kore_plaid_nb.settings import Settings, database_location
from kore_plaid_nb.tunnel import state as tunnel_state
from kore_plaid_nb.tunnel.standin_api import Registry, build_api

with warnings.catch_warnings():  # starlette would rather have httpx2, which is not installed
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

SOMEONE_ELSE = 4321


@pytest.fixture
def claims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This user's claims folder, in a temporary folder of the test's own."""
    folder = tmp_path / "tmp" / f"{ports.CLAIMS_PREFIX}{os.geteuid()}"
    folder.parent.mkdir()
    monkeypatch.setattr(ports, "CLAIMS", folder)
    monkeypatch.setattr(ports, "_warned", set())
    return folder


def _owned_by_someone_else(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() == 0:
        os.lchown(path, SOMEONE_ELSE, SOMEONE_ELSE)
    else:  # cannot give it away: be someone else instead
        monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 1)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# ------------------------------------------------------------- 3.1 / 3.17: the port claims


def test_a_planted_symlink_is_not_followed_and_its_target_keeps_its_mode(
    tmp_path: Path, claims: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "victim"
    target.mkdir(mode=0o755)
    target.chmod(0o755)
    claims.symlink_to(target)
    port = ports.assigned(tmp_path / "ann", "APP_PORT")
    assert 0 < port < 65536  # the bind check alone chose it
    assert _mode(target) == 0o755 and list(target.iterdir()) == []
    warning = capsys.readouterr().err
    assert str(claims) in warning and "symbolic link" in warning and "rm -rf" in warning


def test_a_claims_folder_of_another_user_is_refused(
    tmp_path: Path,
    claims: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    claims.mkdir(mode=0o777)
    claims.chmod(0o777)
    _owned_by_someone_else(claims, monkeypatch)
    ports.assigned(tmp_path / "ann", "APP_PORT")
    assert list(claims.iterdir()) == [] and _mode(claims) == 0o777
    assert "belongs to another user" in capsys.readouterr().err


def test_claims_are_private_and_name_nothing_to_other_users(tmp_path: Path, claims: Path) -> None:
    port = ports.assigned(tmp_path / "ann", "APP_PORT")
    assert _mode(claims) == 0o711  # others may test a port's name, not list the folder
    claim = claims / str(port)
    assert _mode(claim) == 0o600
    assert claim.read_text() == str((tmp_path / "ann").resolve())


def test_a_port_another_user_claimed_is_not_chosen(
    tmp_path: Path, claims: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the other user's folder is named for the uid that owns it (here: ours, so ours is
    # renamed for the test)
    monkeypatch.setattr(ports, "CLAIMS", claims.with_name("mine"))
    free = ports._free_port(tmp_path / "probe", exclude=set())
    (claims.with_name("mine") / str(free)).unlink()
    claims.mkdir(mode=0o711)
    (claims / str(free)).write_text("")
    picks = iter([free, free + 1, free + 2, free + 3])

    class Scripted:
        def randint(self, low: int, high: int) -> int:
            return next(picks)

    monkeypatch.setattr(random, "SystemRandom", Scripted)  # what ports chooses with
    chosen = ports.assigned(tmp_path / "ann", "APP_PORT")
    assert chosen != free
    assert not (claims.with_name("mine") / str(free)).exists()  # our claim was taken back
    assert (claims.with_name("mine") / str(chosen)).is_file()


# --------------------------------------------------------------------------- 3.1: the .env


def test_a_group_writable_env_file_is_refused(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("PLAID_API_URL=https://attacker.example\n")
    env.chmod(0o664)
    with pytest.raises(SettingsError) as caught:
        settings.load({"KORE_PLAID_HOME": str(tmp_path / "home")}, env_file=env)
    assert str(env) in caught.value.message
    assert f"chmod 600 {env}" in caught.value.fix
    with pytest.raises(SettingsError):
        settings.save({"APP_PORT": "8123"}, env)  # its lines would be kept: refused too
    env.chmod(0o600)
    loaded = settings.load({"KORE_PLAID_HOME": str(tmp_path / "home")}, env_file=env)
    assert loaded.plaid_api_url == "https://attacker.example"


def test_an_env_file_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / ".env"
    env.write_text("PLAID_ENV=sandbox\n")
    env.chmod(0o644)
    _owned_by_someone_else(env, monkeypatch)
    with pytest.raises(SettingsError) as caught:
        settings.load({"KORE_PLAID_HOME": str(tmp_path / "home")}, env_file=env)
    assert "belongs to another user" in caught.value.message
    assert "KORE_PLAID_ENV_FILE" in caught.value.fix


# ------------------------------------------------------------ 3.7: PostgreSQL URLs shown

PASSWORD = "Pa55w0rd-sEcret"
URL_FORMS = [
    (f"postgresql://kore:{PASSWORD}@db.internal:5432/kp", "db.internal:5432/kp"),
    (f"postgresql://kore:{PASSWORD}@db.internal/kp", "db.internal:5432/kp"),
    (f"postgres://kore:p@ss{PASSWORD}@db:6543/kp", "db:6543/kp"),  # a raw "@" inside
    (f"postgresql://kore@db/kp?password={PASSWORD}&sslmode=require", "db:5432/kp"),
    (f"postgresql://kore@db/kp?sslmode=require&password=a@{PASSWORD}", "db:5432/kp"),
    (f"postgresql://kore:{PASSWORD}%40x%2F@db:5433/kp", "db:5433/kp"),  # percent-encoded
    (f"postgresql://kore:{PASSWORD}@%2Fvar%2Frun%2Fpostgresql/kp", "/var/run/postgresql:5432/kp"),
    (f"postgresql://kore:{PASSWORD}@/kp?host=/tmp&port=5444", "/tmp:5444/kp"),
    (f"postgresql://kore:{PASSWORD}@[::1]:5432/kp", "[::1]:5432/kp"),
    (f"postgresql://kore:{PASSWORD}@h1:5432,h2/kp", "h1:5432,h2:5432/kp"),
    (f"postgresql://kore:{PASSWORD}@db", "db:5432/kore"),  # libpq: the database of the user
    (f"postgresql://kore:1234/{PASSWORD}@db/kp", "…"),  # a raw "/" in it: nothing readable
    (f"postgresql://kore:1234?{PASSWORD}@db/kp", "…"),
]


@pytest.mark.parametrize(("url", "shown"), URL_FORMS)
def test_a_postgresql_url_is_shown_as_host_port_and_database_only(url: str, shown: str) -> None:
    assert database_location(url) == shown
    loaded = settings.load({"BRIDGE_DB": url, "KORE_PLAID_HOME": "/nonexistent/kp"}, validate=False)
    for text in (loaded.bridge_store_shown, repr(loaded)):
        assert PASSWORD not in text and "kore:" not in text
    assert loaded.bridge_store_shown == shown
    assert any(PASSWORD in value for value in loaded.secret_values)  # masked in outputs


# ------------------------------------------------------------- 3.11: Hosted Link's form


@pytest.fixture
def emulator_client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(home=tmp_path), state_path=tmp_path / "emulator.sqlite3")
    with TestClient(app) as client:
        yield client


def _hosted_link_path(client: TestClient) -> str:
    body = {
        "client_id": settings.DEMO_CLIENT_ID,
        "secret": settings.DEMO_SECRET,
        "client_name": "Test",
        "language": "en",
        "country_codes": ["US"],
        "user": {"client_user_id": "user-1"},
        "products": ["auth"],
        "hosted_link": {},
    }
    created = client.post("/link/token/create", json=body)
    assert created.status_code == 200, created.text
    return str(httpx.URL(created.json()["hosted_link_url"]).path)


def test_hosted_link_refuses_a_form_past_its_limit(emulator_client: TestClient) -> None:
    path = _hosted_link_path(emulator_client)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    declared = emulator_client.post(path, content=b"a=" + b"x" * 20_000, headers=form)
    assert declared.status_code == 413 and "larger than 8192 bytes" in declared.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        for _ in range(50):
            yield b"x" * 4096

    streamed = emulator_client.post(path, content=chunks(), headers=form)
    assert streamed.status_code == 413
    ok = emulator_client.post(path, data={"action": "exit", "link_session_id": "s-1"})
    assert ok.status_code == 200


# --------------------------------------------- 3.17: loopback services answer only to us

LOCAL = "http://127.0.0.1:8100"


def _apps(tmp_path: Path) -> Iterator[tuple[str, TestClient, str]]:
    """(name, client of the app as served on 127.0.0.1:8100, a JSON path it takes)."""
    emulator = create_app(Settings(home=tmp_path), state_path=tmp_path / "emulator.sqlite3")
    with TestClient(emulator, base_url=LOCAL) as client:
        yield "emulator", client, "/item/get"
    standin = build_api(Registry(lambda *a, **k: None), "3.0.0-standin")
    with TestClient(standin, base_url=LOCAL) as client:
        yield "tunnel stand-in", client, "/api/tunnels"
    callback = CallbackReceiver().app("/workflows/callback")
    with TestClient(callback, base_url=LOCAL) as client:
        yield "Kore simulator", client, "/workflows/callback"


def test_loopback_services_refuse_a_foreign_host_name(tmp_path: Path) -> None:
    for name, client, _ in _apps(tmp_path):
        rebound = client.get("/", headers={"Host": "attacker.example:8100"})
        assert rebound.status_code == 421, name
        assert "http://127.0.0.1:8100/" in rebound.text, name
        for host in ("127.0.0.1:8100", "localhost:8100", "[::1]:8100"):
            assert client.get("/", headers={"Host": host}).status_code != 421, (name, host)


def test_loopback_services_refuse_cross_site_simple_posts(tmp_path: Path) -> None:
    for name, client, path in _apps(tmp_path):
        for origin in ("https://attacker.example", "null"):
            for media in ("text/plain", "application/x-www-form-urlencoded"):
                headers = {"Origin": origin, "Content-Type": media}
                refused = client.post(path, content=b"{}", headers=headers)
                assert refused.status_code == 403, (name, origin, media)
                assert "application/json" in refused.text
        same_site = client.post(path, content=b"{}", headers={"Origin": LOCAL})
        assert same_site.status_code != 403, name


def test_hosted_link_forms_and_other_bindings_are_left_alone(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path), state_path=tmp_path / "emulator.sqlite3")
    with TestClient(app, base_url=LOCAL) as client:
        path = _hosted_link_path(client)
        form = {"action": "exit", "link_session_id": "s-2"}
        posted = client.post(path, data=form, headers={"Origin": "null"})
        assert posted.status_code == 200  # its own page posts with Origin: null (no-referrer)
    with TestClient(app, base_url="http://emulator.internal:8100") as client:
        assert client.get("/healthz").status_code == 200  # bound elsewhere: not ours to check


# ------------------------------------------------ 3.12: private files, folders and umask


@pytest.mark.usefixtures("umask_022")
def test_what_the_runbook_writes_under_its_home_is_private(tmp_path: Path) -> None:
    home = tmp_path / "trainee"
    home.mkdir(mode=0o755)  # as JupyterHub's start script makes it (`mkdir -p`)
    home.chmod(0o755)
    logs = home / "logs"
    logs.mkdir(mode=0o755)
    (logs / "kernels.log").write_text("from an older version\n")  # 0644
    current = settings.load({"KORE_PLAID_HOME": str(home)}, env_file=tmp_path / ".env")
    kernel_log(current)
    services.write(home, services.ServiceRecord("bridge", 1, "127.0.0.1", 1, "u", "l", 0.0))
    remember_public_url(current, "https://bot.example")
    record(current, "00_start_here", "start", "pass")
    tunnel_state.write(home, tunnel_state.TunnelInfo("http://127.0.0.1:1", True, 1))
    Store(home / "emulator.sqlite3").close()
    write_html_report(RunReport.planned([Path("00_start_here.ipynb")]), home / "build", "x")
    found = [home, *home.rglob("*")]
    assert len(found) > 10
    shared = {str(p.relative_to(tmp_path)): oct(_mode(p)) for p in found if _mode(p) & 0o077}
    assert shared == {}
    assert json.loads((home / "kore-profile.json").read_text())["public_url"]


def test_the_program_entry_makes_new_files_private(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["kore-plaid", "status"])
    previous = os.umask(0o022)
    try:
        cli.main()
        assert os.umask(0o022) == private_files.PRIVATE_UMASK
    finally:
        os.umask(previous)


def test_the_board_outside_the_hub_answers_only_to_its_own_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kore_plaid_nb import serving

    served: list[object] = []
    monkeypatch.setattr(serving, "serve", lambda app, *a, **k: served.append(app))
    for name in ("JUPYTERHUB_SERVICE_URL", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_SERVICE_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    args = cli.build_parser("board").parse_args(["board", "--db", str(tmp_path / "b.sqlite3")])
    assert args.handler(args) == 0
    with TestClient(served[0], base_url=LOCAL) as client:  # type: ignore[arg-type]
        assert client.get("/healthz", headers={"Host": "attacker.example"}).status_code == 421
        assert client.get("/healthz").status_code == 200
