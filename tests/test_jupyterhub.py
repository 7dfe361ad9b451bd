"""The training class on JupyterHub, for real (deploy/jupyterhub/).

A Hub (JupyterHub from the package index, configurable-http-proxy from the npm registry, both
pinned) starts on free ports with deploy/jupyterhub/jupyterhub_config.py, a test authenticator
and a spawner that needs no system users. Two trainees' servers start through the Hub's REST
API; each trainee runs notebooks 00-03, cell by cell, in kernels of their OWN server behind the
Hub's proxy (Jupyter messaging protocol v5 over the kernel's websocket), from their own copy of
the runbook. The board, a managed service of the Hub, then lists both trainees with 00-03
passed. Everything started here is stopped afterwards, also when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import yaml

from kore_plaid_nb.services import free_port
from kore_plaid_nb.settings import ENV_NAMES

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "jupyterhub"
HUB_CONFIG = DEPLOY / "jupyterhub_config.py"
PROXY = ROOT / ".tools" / "chp" / "node_modules" / ".bin" / "configurable-http-proxy"
INSTALL_PROXY = ROOT / "tools" / "install_proxy.sh"
TRAINEES = ("ada", "grace")
TRAINER = "tess"  # in the trainers' group: the only one who sees the board
NOTEBOOKS = ("00_start_here", "01_plaid_keys", "02_redirect_uri", "03_bridge")
RUNBOOK_FOLDER = "runbook"
CELL_TIMEOUT = 120.0  # seconds for one cell (03_bridge starts the emulator and the bridge)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def proxy_command() -> Path:
    """configurable-http-proxy, installed by `make install` (tools/install_proxy.sh, run here
    when it is missing). Without npm: skipped, but under CI a missing proxy fails."""
    if not PROXY.is_file():
        done = subprocess.run(
            ["bash", str(INSTALL_PROXY)], capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0 or not PROXY.is_file():
            reason = (
                "configurable-http-proxy (JupyterHub's proxy, from the npm registry) is not "
                f"installed and tools/install_proxy.sh could not install it: "
                f"{done.stderr.strip() or done.stdout.strip()}"
            )
            if os.environ.get("CI"):
                pytest.fail(f"{reason}; under CI the JupyterHub test must run")
            pytest.skip(reason)
    return PROXY


# -- processes: everything this test starts runs with its working directory under one folder --


def _state(pid: int) -> str | None:
    """A process's state letter (``Z``: a zombie), None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def processes_under(folder: Path) -> list[int]:
    """Pids of live processes whose working directory is ``folder`` or below it (the Hub, the
    proxy, the board, trainees' servers, kernels and background services all are)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if (cwd == folder or folder in cwd.parents) and _state(int(entry.name)) not in (None, "Z"):
            found.append(int(entry.name))
    return found


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:300]
    except OSError:
        return "(gone)"


def end_processes(pids: list[int], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL what is still alive after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if _state(p) not in (None, "Z")]
            if pids:
                time.sleep(0.1)
        if not pids:
            return


# -- the Hub ----------------------------------------------------------------------------------


@dataclass
class Hub:
    root: Path
    class_dir: Path
    public_url: str
    board_direct_url: str
    admin_token: str
    board_token: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no Hub log)"
        return "\n".join(text[-lines:])

    def api(self, method: str, path: str, expect: tuple[int, ...] = (200,), **kwargs) -> object:
        """Call the Hub's REST API as the admin service; the JSON answer."""
        answer = httpx.request(
            method,
            f"{self.public_url}/hub/api{path}",
            headers={"Authorization": f"token {self.admin_token}"},
            timeout=30,
            **kwargs,
        )
        assert answer.status_code in expect, (
            f"{method} /hub/api{path}: HTTP {answer.status_code} {answer.text[:500]}\n"
            f"Hub log:\n{self.log_tail()}"
        )
        return answer.json() if answer.content else None

    def trainee_home(self, name: str) -> Path:
        return self.class_dir / name


def wait_for(what: str, check, timeout: float, hub: Hub | None = None) -> object:
    """Poll ``check()`` until it returns something true; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (httpx.HTTPError, OSError) as exc:
            last_error = f" (last error: {type(exc).__name__}: {exc})"
        if hub is not None and hub.process.poll() is not None:
            pytest.fail(f"the Hub exited with {hub.process.returncode}.\n{hub.log_tail()}")
        time.sleep(0.2)
    log = f"\nHub log:\n{hub.log_tail()}" if hub is not None else ""
    pytest.fail(f"{what}: not within {timeout:g} s{last_error}{log}")


def _ok(url: str, **kwargs) -> bool:
    return httpx.get(url, timeout=5, **kwargs).status_code == 200


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    pytest.importorskip("jupyterhub", reason="jupyterhub is in requirements.txt: make install")
    proxy = proxy_command()
    root = tmp_path_factory.mktemp("jupyterhub")
    class_dir = root / "class"
    public, hub_port, proxy_api, board_port = (free_port() for _ in range(4))
    admin_token, board_token = secrets.token_hex(32), secrets.token_urlsafe(32)
    drop = (*ENV_NAMES, "KORE_PLAID_HOME", "KORE_PLAID_ENV_FILE", "APP_PORT")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in drop and not key.startswith(("KORE_PLAID_", "JUPYTERHUB_", "JPY_"))
    }
    env.update(
        KORE_PLAID_AUTHENTICATOR="dummy",
        KORE_PLAID_SPAWNER="simple",
        KORE_PLAID_CLASS_DIR=str(class_dir),
        KORE_PLAID_HUB_BIND_URL=f"http://127.0.0.1:{public}",
        KORE_PLAID_HUB_PORT=str(hub_port),
        KORE_PLAID_PROXY_API_PORT=str(proxy_api),
        KORE_PLAID_PROXY_COMMAND=str(proxy),
        KORE_PLAID_BOARD_PORT=str(board_port),
        KORE_PLAID_BOARD_TRAINER_TOKEN=board_token,
        KORE_PLAID_BOARD_HOME=str(root / "board"),
        KORE_PLAID_HUB_ADMIN_TOKEN=admin_token,
        KORE_PLAID_TRAINERS=TRAINER,
        PYTHONUNBUFFERED="1",
    )
    log_path = root / "hub.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG)],
            cwd=root,  # the Hub's database, cookie secret and proxy pid file stay here
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Hub(
        root=root,
        class_dir=class_dir,
        public_url=f"http://127.0.0.1:{public}",
        board_direct_url=f"http://127.0.0.1:{board_port}/services/board",
        admin_token=admin_token,
        board_token=board_token,
        process=process,
        log_path=log_path,
    )
    try:
        wait_for(
            "the Hub answering through its proxy",
            lambda: _ok(f"{running.public_url}/hub/api/"),
            60,
            running,
        )
        wait_for(
            "the board service behind the proxy",
            lambda: _ok(f"{running.public_url}/services/board/healthz"),
            30,
            running,
        )
        yield running
    finally:
        stop_everything(running)


def stop_everything(hub: Hub) -> None:
    """Trainees' servers (REST API), their background services (`kore-plaid stop`), the Hub
    (SIGTERM: it stops its proxy and the board), then anything still running from this
    test's folder. Never raises."""
    if hub.process.poll() is None:
        for name in (*TRAINEES, TRAINER):
            with contextlib.suppress(Exception):
                httpx.delete(
                    f"{hub.public_url}/hub/api/users/{name}/server",
                    headers={"Authorization": f"token {hub.admin_token}"},
                    timeout=30,
                )
    for name in TRAINEES:
        stop_trainee_services(hub, name)
    if hub.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(hub.process.pid, signal.SIGTERM)
        try:
            hub.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(hub.process.pid, signal.SIGKILL)
            hub.process.wait(timeout=10)
    end_processes(processes_under(hub.root))


def stop_trainee_services(hub: Hub, name: str) -> subprocess.CompletedProcess | None:
    state = hub.trainee_home(name) / ".kore-plaid"
    if not state.is_dir():
        return None
    env = {**os.environ, "KORE_PLAID_HOME": str(state)}
    env["KORE_PLAID_ENV_FILE"] = str(hub.trainee_home(name) / ".env")
    return subprocess.run(
        [sys.executable, "-m", "kore_plaid_nb", "stop"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- a trainee's Jupyter server, reached through the Hub's proxy with the trainee's token ----


@dataclass
class TraineeServer:
    hub: Hub
    name: str
    token: str

    @property
    def base(self) -> str:
        return f"{self.hub.public_url}/user/{self.name}"

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.base}{path}",
            headers={"Authorization": f"token {self.token}"},
            timeout=30,
            **kwargs,
        )

    def notebook(self, name: str) -> dict:
        """The trainee's own copy, read through their server's contents API."""
        answer = self.request("GET", f"/api/contents/{RUNBOOK_FOLDER}/{name}.ipynb")
        assert answer.status_code == 200, f"{self.name}: {name}: HTTP {answer.status_code}"
        return answer.json()["content"]

    @contextlib.contextmanager
    def kernel(self) -> Iterator[KernelClient]:
        answer = self.request(
            "POST", "/api/kernels", json={"name": "python3", "path": RUNBOOK_FOLDER}
        )
        assert answer.status_code == 201, (
            f"{self.name}: no kernel: {answer.status_code} {answer.text}"
        )
        kernel_id = answer.json()["id"]
        import websocket  # websocket-client, a dependency of jupyter_server

        url = self.base.replace("http://", "ws://", 1) + f"/api/kernels/{kernel_id}/channels"
        socket = websocket.create_connection(
            url, header=[f"Authorization: token {self.token}"], timeout=CELL_TIMEOUT
        )
        try:
            yield KernelClient(socket, self.name)
        finally:
            with contextlib.suppress(Exception):
                socket.close()
            with contextlib.suppress(Exception):
                self.request("DELETE", f"/api/kernels/{kernel_id}")


class CellError(AssertionError):
    pass


class KernelClient:
    """Just enough of the Jupyter messaging protocol (v5) to run cells and see their errors."""

    def __init__(self, socket, trainee: str) -> None:
        self.socket = socket
        self.trainee = trainee
        self.session = uuid.uuid4().hex

    def execute(self, code: str) -> str:
        """Run ``code``; its printed text. Raises :class:`CellError` with the error's text."""
        msg_id = uuid.uuid4().hex
        self.socket.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": self.trainee,
                        "session": self.session,
                        "msg_type": "execute_request",
                        "version": "5.3",
                        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": True,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        output: list[str] = []
        errors: list[str] = []
        reply: dict | None = None
        idle = False
        deadline = time.monotonic() + CELL_TIMEOUT
        while reply is None or not idle:
            if time.monotonic() > deadline:
                raise CellError(f"{self.trainee}: a cell ran longer than {CELL_TIMEOUT:g} s")
            message = json.loads(self.socket.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["header"]["msg_type"]
            content = message.get("content", {})
            if kind == "stream":
                output.append(content.get("text", ""))
            elif kind in ("execute_result", "display_data"):
                output.append(content.get("data", {}).get("text/plain", ""))
            elif kind == "error":
                errors.append(_error_text(content))
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
            elif kind == "execute_reply":
                reply = content
        if errors or reply.get("status") != "ok":
            text = "\n".join(errors) or _error_text(reply)
            raise CellError(f"{text}\n--- output before the error:\n{''.join(output)[-2000:]}")
        return "".join(output)


def _error_text(content: dict) -> str:
    traceback = "\n".join(content.get("traceback") or [])
    text = f"{content.get('ename', 'error')}: {content.get('evalue', '')}\n{traceback}"
    return ANSI.sub("", text).strip()


ENVIRONMENT_CELL = (
    "import json, os\nprint(json.dumps({**{k: os.environ.get(k) for k in ("
    "'KORE_PLAID_HOME', 'KORE_PLAID_ENV_FILE', 'KORE_PLAID_TRAINEE', 'KORE_PLAID_MODE', "
    "'KORE_PLAID_BOARD_URL', 'KORE_PLAID_BOARD_TOKEN', 'KORE_PLAID_BOARD_AUTH')}, "
    "'hub token set': bool(os.environ.get('JUPYTERHUB_API_TOKEN'))}))"
)


@dataclass
class TraineeRun:
    environment: dict[str, str | None]
    seconds: dict[str, float]


def run_notebooks(server: TraineeServer) -> TraineeRun:
    """Every code cell of 00-03, in order, in one kernel of the trainee's server (a kernel per
    notebook would cost each a fresh import of the runbook, seconds on a 2-core machine, and
    prove nothing more about the Hub); first, what the kernel's environment says."""
    seconds = {}
    with server.kernel() as kernel:
        environment = json.loads(kernel.execute(ENVIRONMENT_CELL))
        for name in NOTEBOOKS:
            notebook = server.notebook(name)
            started = time.monotonic()
            for index, cell in enumerate(notebook["cells"]):
                if cell["cell_type"] != "code":
                    continue
                source = cell["source"]
                try:
                    kernel.execute(source if isinstance(source, str) else "".join(source))
                except CellError as exc:
                    raise CellError(f"{server.name}: {name}, cell {index}:\n{exc}") from None
            seconds[name] = round(time.monotonic() - started, 1)
    return TraineeRun(environment, seconds)


class Phases:
    """How long each part of the class took (printed: `pytest -s`)."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.seconds: dict[str, float] = {}

    def done(self, what: str) -> None:
        now = time.monotonic()
        self.seconds[what] = round(now - self.last, 1)
        self.last = now

    def __str__(self) -> str:
        return ", ".join(f"{what} {s:g}" for what, s in self.seconds.items())


# -- the tests --------------------------------------------------------------------------------


def load_config(path: Path):
    """A JupyterHub configuration file's traitlets config, as the Hub loads it."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader(path.name, str(path.parent)).load_config()


def test_tljh_drop_in_adds_the_class_to_tljh_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What TLJH does: its own configuration (here, its idle culler), then every drop-in."""
    for name in [n for n in os.environ if n.startswith("KORE_PLAID_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("KORE_PLAID_CHECKOUT", str(ROOT))
    monkeypatch.setenv("KORE_PLAID_PYTHON", sys.executable)
    monkeypatch.setenv("KORE_PLAID_BOARD_HOME", str(tmp_path / "board"))
    tljh = tmp_path / "jupyterhub_config.py"
    tljh.write_text(
        "c.JupyterHub.services = [{'name': 'cull-idle', 'admin': True, 'command': ['cull']}]\n"
        f"load_subconfig({str(DEPLOY / 'tljh' / 'kore_plaid.py')!r})\n"
    )
    config = load_config(tljh)
    assert [s["name"] for s in config.JupyterHub.services] == ["cull-idle", "board"]
    board = config.JupyterHub.services[1]
    assert board["command"] == [sys.executable, "-m", "kore_plaid_nb", "board"]
    token_file = tmp_path / "board" / "trainer.token"  # made once, kept, private
    token = token_file.read_text().strip()
    assert len(token) >= 32 and token_file.stat().st_mode & 0o777 == 0o600
    assert (
        load_config(tljh).JupyterHub.services[1]["environment"]["KORE_PLAID_BOARD_TRAINER_TOKEN"]
        == token
    )
    environment = config.Spawner.environment.get_value({})  # added to the default: none
    assert "KORE_PLAID_BOARD_TOKEN" not in environment  # the trainer's: trainees use their own
    assert token not in json.dumps({k: v for k, v in environment.items() if isinstance(v, str)})
    assert environment["KORE_PLAID_BOARD_URL"] == "http://127.0.0.1:8800/services/board"
    assert environment["KORE_PLAID_BOARD_AUTH"] == "hub"
    assert environment["KORE_PLAID_MODE"] == "embedded"
    trainee = SimpleNamespace(user=SimpleNamespace(name="ada"))
    assert environment["KORE_PLAID_TRAINEE"](trainee) == "ada"
    assert config.Spawner.default_url == "/lab"
    # TLJH's SystemdSpawner passes every word of the command through str.format({USERNAME})
    command = list(config.Spawner.cmd)
    assert [word.format(USERNAME="ada", USERID=1) for word in command] == command
    assert "spawner_class" not in config.JupyterHub  # TLJH's own spawner and authenticator stay
    assert "authenticator_class" not in config.JupyterHub


def test_z2jh_values_parse_and_name_the_class_settings() -> None:
    values = yaml.safe_load((DEPLOY / "z2jh-values.yaml").read_text())
    singleuser, hub_values = values["singleuser"], values["hub"]
    assert singleuser["defaultUrl"] == "/lab"
    env = singleuser["extraEnv"]
    for name in ("KORE_PLAID_HOME", "KORE_PLAID_ENV_FILE", "KORE_PLAID_BOARD_URL"):
        assert name in env, name
    # trainees post with their own JUPYTERHUB_API_TOKEN (set by the Hub), never the trainer's
    assert "KORE_PLAID_BOARD_TOKEN" not in env and "KORE_PLAID_BOARD_TRAINEE_TOKEN" not in env
    assert env["KORE_PLAID_BOARD_AUTH"] == "hub"  # the Hub token goes to the Hub's board only
    assert "postStart" in singleuser["lifecycleHooks"]
    assert "board" in hub_values["services"]
    sidecar = next(c for c in hub_values["extraContainers"] if c["name"] == "kore-plaid-board")
    assert sidecar["command"][-1] == "board"
    sidecar_env = {item["name"]: item for item in sidecar["env"]}
    for name in ("JUPYTERHUB_API_TOKEN", "JUPYTERHUB_CLIENT_ID", "JUPYTERHUB_API_URL"):
        assert name in sidecar_env, name  # the board asks the Hub whose token it is
    api_token = sidecar_env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]
    # a new Secret: the old "kore-plaid-board" token was given to every trainee
    assert "KORE_PLAID_BOARD_TOKEN" not in sidecar_env  # the old name: the board ignores it
    trainer_token = sidecar_env["KORE_PLAID_BOARD_TRAINER_TOKEN"]["valueFrom"]["secretKeyRef"]
    # optional: without the Secret the board makes trainer.token on its volume
    assert trainer_token == {"name": "kore-plaid-board-trainer", "key": "token", "optional": True}
    assert api_token == {"name": "hub", "key": "hub.services.board.apiToken"}
    board = hub_values["services"]["board"]
    assert board["oauth_no_confirm"] is True and board["oauth_client_id"] == "service-board"
    # per-user passwords by default: no shared class password, trainers are admins
    config = hub_values["config"]
    assert config["JupyterHub"]["authenticator_class"] == "nativeauthenticator.NativeAuthenticator"
    assert "SharedPasswordAuthenticator" not in config
    assert config["NativeAuthenticator"]["open_signup"] is False


@pytest.fixture
def class_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Load deploy/jupyterhub/jupyterhub_config.py with these KORE_PLAID_* settings."""
    for name in [n for n in os.environ if n.startswith("KORE_PLAID_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("KORE_PLAID_BOARD_HOME", str(tmp_path / "board"))

    def load(**settings: str):
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        return load_config(HUB_CONFIG)

    return load


def test_trainers_are_admins_in_the_group_that_alone_opens_the_board(class_config) -> None:
    config = class_config(KORE_PLAID_TRAINERS="tess,tom")
    assert config.Authenticator.admin_users == {"tess", "tom"}
    groups = config.JupyterHub.load_groups.get_value({})
    assert groups == {"kore-plaid-trainers": {"users": ["tess", "tom"]}}
    [role] = [
        r for r in config.JupyterHub.load_roles.get_value([]) if r["name"] == "kore-plaid-trainer"
    ]
    assert role["scopes"] == ["access:services!service=board"]
    assert role["groups"] == ["kore-plaid-trainers"]
    [board] = config.JupyterHub.services.get_value([])
    assert board["oauth_no_confirm"] is True
    assert board["environment"]["KORE_PLAID_BOARD_TRAINERS_GROUP"] == "kore-plaid-trainers"
    environment = config.Spawner.environment.get_value({})
    assert "KORE_PLAID_BOARD_TOKEN" not in environment
    assert "JUPYTERHUB_API_TOKEN" not in environment  # the Hub sets each trainee's own


def test_a_shared_class_password_needs_trainers_with_their_own_long_password(
    class_config,
) -> None:
    base = {
        "KORE_PLAID_AUTHENTICATOR": "shared-password",
        "KORE_PLAID_CLASS_PASSWORD": "class-pw-1",
    }
    with pytest.raises(ValueError, match="KORE_PLAID_TRAINER_PASSWORD"):
        class_config(**base)  # trainers could never log in: refused
    with pytest.raises(ValueError, match="32 characters"):
        class_config(**base, KORE_PLAID_TRAINERS="tess", KORE_PLAID_TRAINER_PASSWORD="short")
    long_password = "t" * 32
    config = class_config(
        **base, KORE_PLAID_TRAINERS="tess", KORE_PLAID_TRAINER_PASSWORD=long_password
    )
    shared = config.SharedPasswordAuthenticator
    assert shared.user_password == "class-pw-1" and shared.admin_password == long_password
    assert config.Authenticator.admin_users == {"tess"}


def hub_database(folder: Path, *names: str) -> None:
    """A Hub database (jupyterhub.sqlite) in ``folder`` where ``names`` signed up with
    NativeAuthenticator (its users_info table)."""
    with contextlib.closing(sqlite3.connect(folder / "jupyterhub.sqlite")) as db:
        db.execute("CREATE TABLE users_info (id INTEGER PRIMARY KEY, username TEXT NOT NULL)")
        db.executemany("INSERT INTO users_info (username) VALUES (?)", [(n,) for n in names])
        db.commit()


def test_native_gives_each_trainee_a_password_a_trainer_approves(
    class_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the Hub's folder: the trainer has signed up already
    hub_database(tmp_path, "tess")
    config = class_config(KORE_PLAID_AUTHENTICATOR="native", KORE_PLAID_TRAINERS="tess")
    assert config.JupyterHub.authenticator_class == "nativeauthenticator.NativeAuthenticator"
    native = config.NativeAuthenticator
    assert native.open_signup is False and native.minimum_password_length >= 10
    assert native.allowed_failed_logins > 0
    assert config.Authenticator.admin_users == {"tess"}


def test_native_refuses_to_start_while_a_trainers_name_is_free_to_claim(
    class_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """NativeAuthenticator lets whoever signs up first with an admin's name in, as an admin."""
    monkeypatch.chdir(tmp_path)
    native = {"KORE_PLAID_AUTHENTICATOR": "native", "KORE_PLAID_TRAINERS": "tess,tom"}
    with pytest.raises(ValueError, match="trainer\\(s\\) tess, tom have no account yet"):
        class_config(**native)  # a new Hub: nobody signed up
    hub_database(tmp_path, "tess", "ada")
    with pytest.raises(ValueError, match="KORE_PLAID_TRAINER_SIGNUP=1"):
        class_config(**native)  # tom still free
    config = class_config(**native, KORE_PLAID_TRAINER_SIGNUP="1")  # the trainers sign up now
    assert config.Authenticator.admin_users == {"tess", "tom"}
    assert "sign up NOW as tom" in capsys.readouterr().err
    with contextlib.closing(sqlite3.connect(tmp_path / "jupyterhub.sqlite")) as db:
        db.execute("INSERT INTO users_info (username) VALUES ('tom')")
        db.commit()
    monkeypatch.delenv("KORE_PLAID_TRAINER_SIGNUP")
    assert class_config(**native).NativeAuthenticator.open_signup is False


def test_the_old_board_token_trainees_had_is_retired(
    class_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Earlier versions gave every trainee the board's token (KORE_PLAID_BOARD_TOKEN,
    board.token): the trainer's is a new one now."""
    old = "old-board-token-every-trainee-had-0123"
    board_home = tmp_path / "board"
    board_home.mkdir()
    (board_home / "board.token").write_text(old + "\n")
    config = class_config(KORE_PLAID_BOARD_TOKEN=old, KORE_PLAID_BOARD_TOKEN_FILE="/elsewhere")
    [board] = config.JupyterHub.services.get_value([])
    token = board["environment"]["KORE_PLAID_BOARD_TRAINER_TOKEN"]
    assert "KORE_PLAID_BOARD_TOKEN" not in board["environment"]
    assert token != old and len(token) >= 32
    assert (board_home / "trainer.token").read_text().strip() == token
    assert not (board_home / "board.token").exists()
    err = capsys.readouterr().err
    assert "KORE_PLAID_BOARD_TOKEN is ignored" in err and "KORE_PLAID_BOARD_TOKEN_FILE" in err
    assert old not in err
    chosen = "trainer-chosen-token-0123456789abcdef"
    config = class_config(KORE_PLAID_BOARD_TRAINER_TOKEN=chosen)
    [board] = config.JupyterHub.services.get_value([])
    assert board["environment"]["KORE_PLAID_BOARD_TRAINER_TOKEN"] == chosen


def test_the_readme_says_what_each_authenticator_allows() -> None:
    readme = (DEPLOY / "README.md").read_text()
    for name in ("pam", "native", "shared-password", "dummy", "identity provider"):
        assert f"`{name}`" in readme or name in readme, name
    assert "any trainee can log in as any other" in readme
    assert "KORE_PLAID_TRAINER_PASSWORD" in readme and "32" in readme


@pytest.mark.timeout(240)
def test_two_trainees_run_the_runbook_through_the_hub(hub: Hub) -> None:
    phases = Phases()
    # 1. the trainees exist and their servers start through the REST API
    for name in TRAINEES:
        hub.api("POST", f"/users/{name}", expect=(201, 409))
    # both at once: the Hub answers a spawn request only when the server is up, or after 10 s
    with ThreadPoolExecutor(max_workers=len(TRAINEES)) as pool:
        list(pool.map(lambda n: hub.api("POST", f"/users/{n}/server", expect=(201, 202)), TRAINEES))

    def ready(name: str) -> bool:
        model = hub.api("GET", f"/users/{name}")
        server = model.get("servers", {}).get("")
        return bool(server and server.get("ready"))

    for name in TRAINEES:
        wait_for(f"{name}'s server ready", lambda n=name: ready(n), 60, hub)
    servers = [
        TraineeServer(
            hub,
            name,
            hub.api(
                "POST",
                f"/users/{name}/tokens",
                expect=(200, 201),
                json={"note": "test_jupyterhub", "expires_in": 900},
            )["token"],
        )
        for name in TRAINEES
    ]

    phases.done("servers started")

    # 2. each server shows its trainee's own copy of the runbook, in their home
    for server in servers:
        listing = server.request("GET", f"/api/contents/{RUNBOOK_FOLDER}").json()
        names = {item["name"] for item in listing["content"]}
        assert {f"{n}.ipynb" for n in NOTEBOOKS} | {"sanitize.cfg"} <= names, names
        assert (hub.trainee_home(server.name) / RUNBOOK_FOLDER / "00_start_here.ipynb").is_file()

    phases.done("runbook copies listed")

    # 3. each trainee runs 00-03 through their own server, both at once
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        runs = dict(zip(TRAINEES, pool.map(run_notebooks, servers), strict=True))
    print(f"\nnotebook seconds per trainee: { {n: r.seconds for n, r in runs.items()} }")

    phases.done("notebooks 00-03 run")

    # 4. each kernel had its trainee's own state folder, .env, name and the board's address
    for name, run in runs.items():
        home = hub.trainee_home(name)
        assert run.environment == {
            "KORE_PLAID_HOME": str(home / ".kore-plaid"),
            "KORE_PLAID_ENV_FILE": str(home / ".env"),
            "KORE_PLAID_TRAINEE": name,
            "KORE_PLAID_MODE": "embedded",
            "KORE_PLAID_BOARD_URL": hub.board_direct_url,
            "KORE_PLAID_BOARD_TOKEN": None,  # the trainer's: never a trainee's
            "KORE_PLAID_BOARD_AUTH": "hub",  # the Hub's say-so to send its token to the board
            "hub token set": True,  # what the runbook posts to the board with
        }
        assert (home / ".kore-plaid" / "services" / "bridge.json").is_file()

    phases.done("environments checked")

    # 5. the board lists both trainees with 00-03 passed, through the Hub's proxy (as the
    # trainer sees it) and directly (as trainees' kernels reach it). Each step sends its event
    # within about a second; allow 15 s.
    via_hub = f"{hub.public_url}/services/board"
    deadline = time.monotonic() + 15
    while not everyone_passed(table := board_statuses(hub, via_hub)):
        if time.monotonic() > deadline:
            pytest.fail(f"the board does not show {NOTEBOOKS} passed for {TRAINEES}: {table}")
        time.sleep(0.3)
    assert board_statuses(hub, hub.board_direct_url) == table
    unauthorized = httpx.get(f"{via_hub}/api/progress", timeout=10)
    assert unauthorized.status_code == 401

    phases.done("board shows 00-03 passed")

    # 5b. who is who: the Hub names a token's owner; only the trainers' group reads the board
    ada = servers[0]
    posed = httpx.post(
        f"{hub.board_direct_url}/api/events",
        json={"events": [{**event_as("grace"), "step": "posed_as_grace"}]},
        headers={"Authorization": f"Bearer {ada.token}"},
        timeout=10,
    )
    assert posed.status_code == 200 and posed.json()["trainee"] == "ada", posed.text
    read = httpx.get(
        f"{via_hub}/api/progress", headers={"Authorization": f"Bearer {ada.token}"}, timeout=10
    )
    assert read.status_code == 403
    hub.api("POST", f"/users/{TRAINER}", expect=(201, 409))
    trainer_token = hub.api(
        "POST", f"/users/{TRAINER}/tokens", expect=(200, 201), json={"expires_in": 900}
    )["token"]
    answer = httpx.get(
        f"{via_hub}/api/progress",
        headers={"Authorization": f"Bearer {trainer_token}"},
        timeout=10,
    )
    assert answer.status_code == 200
    steps = {
        t["name"]: {s["step"] for n in t["notebooks"] for s in n["steps"]}
        for t in answer.json()["trainees"]
    }
    assert "posed_as_grace" in steps["ada"] and "posed_as_grace" not in steps["grace"]
    assert board_page_through_the_hub(hub, TRAINER).status_code == 200
    assert board_page_through_the_hub(hub, "ada").status_code == 403

    phases.done("board identities checked")

    # 6. servers stop through the REST API; each trainee's background services stop too
    for name in TRAINEES:
        hub.api("DELETE", f"/users/{name}/server", expect=(202, 204))
    for name in TRAINEES:
        wait_for(
            f"{name}'s server stopped",
            lambda n=name: not hub.api("GET", f"/users/{n}").get("servers"),
            30,
            hub,
        )
    # nobody runs `kore-plaid stop`: the services watch the server that started them (issue 29)
    deadline = time.monotonic() + 20
    while (left := processes_under(hub.class_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], f"still running from trainees' homes: {[(p, command_of(p)) for p in left]}"
    phases.done("servers and services stopped")
    print(f"\nseconds: {phases}")


def event_as(name: str) -> dict[str, str]:
    return {
        "trainee": name,
        "notebook": "00_start_here",
        "step": "start",
        "status": "pass",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "id": uuid.uuid4().hex,
    }


def board_page_through_the_hub(hub: Hub, name: str) -> httpx.Response:
    """A browser: log in to the Hub as ``name`` (the test authenticator), open the board; the
    last answer after the Hub's OAuth redirects (the page for a trainer)."""
    with httpx.Client(base_url=hub.public_url, timeout=30, follow_redirects=True) as browser:
        browser.get("/hub/login")
        xsrf = browser.cookies.get("_xsrf", "")
        signed = browser.post(  # not followed: the Hub's home would start a server
            "/hub/login",
            data={"username": name, "password": "", "_xsrf": xsrf},
            follow_redirects=False,
        )
        assert signed.status_code == 302, f"{name}: log-in {signed.status_code} {signed.text[:300]}"
        page = browser.get("/services/board/")
        if page.status_code == 200:
            assert "static/board.js" in page.text, page.text[:500]
        return page


def board_statuses(hub: Hub, board_url: str) -> dict[str, dict[str, str]]:
    """``GET /api/progress`` with the board's token: trainee -> notebook -> status."""
    answer = httpx.get(
        f"{board_url}/api/progress",
        headers={"Authorization": f"Bearer {hub.board_token}"},
        timeout=10,
    )
    assert answer.status_code == 200, f"{board_url}: HTTP {answer.status_code} {answer.text[:300]}"
    return {
        trainee["name"]: {n["notebook"]: n["status"] for n in trainee["notebooks"]}
        for trainee in answer.json()["trainees"]
    }


def everyone_passed(table: dict[str, dict[str, str]]) -> bool:
    return all(table.get(t, {}).get(n) == "pass" for t in TRAINEES for n in NOTEBOOKS)
