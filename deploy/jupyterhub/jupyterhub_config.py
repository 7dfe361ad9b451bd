# JupyterHub configuration for a kore-plaid training class on ONE server.
#
# Each trainee logs in and gets JupyterLab with:
#   - their own copy of the runbook (notebooks/*.ipynb and sanitize.cfg) in ~/runbook/, copied
#     when their server starts and only if absent, so their edits survive a restart;
#   - their own state folder and .env: KORE_PLAID_HOME=~/.kore-plaid, KORE_PLAID_ENV_FILE=~/.env;
#   - the embedded mode (the built-in Plaid emulator: no Plaid account, no internet);
#   - KORE_PLAID_TRAINEE=<their JupyterHub name> and the board's address: every step they run
#     shows on the trainer's board, sent with their OWN Hub API token (JUPYTERHUB_API_TOKEN,
#     set by the Hub): the board asks the Hub whose token it is, so a trainee's events are
#     always theirs, and a trainee cannot read the board.
# The board (`kore-plaid board`) runs as a JupyterHub managed service: the trainer opens it at
# /services/board/ on the Hub and signs in through the Hub (OAuth); only members of the Hub
# group KORE_PLAID_TRAINERS_GROUP (made from KORE_PLAID_TRAINERS) see it. Trainees' kernels post
# to it directly on loopback.
#
# How to use it
#   - The Littlest JupyterHub (TLJH): copy deploy/jupyterhub/tljh/kore_plaid.py into
#     /opt/tljh/config/jupyterhub_config.d/; it points at this file in the checkout
#     (README.md, "Running a training session").
#   - Plain JupyterHub: jupyterhub -f deploy/jupyterhub/jupyterhub_config.py
#   - tests/test_jupyterhub.py starts it with a test authenticator and spawner.
#
# Every setting is an environment variable read here (empty or unset: the default):
#   KORE_PLAID_CHECKOUT         the kore-plaid checkout (default: the one holding this file)
#   KORE_PLAID_NOTEBOOKS        the runbook copied to trainees (default: <checkout>/notebooks)
#   KORE_PLAID_RUNBOOK_FOLDER   the folder in each trainee's home that gets it (default: runbook)
#   KORE_PLAID_PYTHON           the Python with kore_plaid_nb and jupyterhub-singleuser installed,
#                               for trainees' servers and the board (default: this Hub's Python;
#                               TLJH: /opt/tljh/user/bin/python, set by the drop-in)
#   KORE_PLAID_CLASS_MODE       KORE_PLAID_MODE for trainees (default: embedded; "auto" lets a
#                               trainee who enters real Plaid keys go live)
#   KORE_PLAID_AUTHENTICATOR    who may log in (README.md here: what each one allows): unset
#                               keeps what is configured elsewhere (TLJH: tljh-config, per-user
#                               passwords; plain JupyterHub: PAM, the system's users and their
#                               own passwords); "pam"; "native" (NativeAuthenticator: each
#                               trainee signs up with their own password, a trainer approves
#                               them at /hub/authorize; the Hub refuses to start until each
#                               trainer has an account: KORE_PLAID_TRAINER_SIGNUP);
#                               "shared-password" (a demo only: ONE password for the class in
#                               KORE_PLAID_CLASS_PASSWORD, so any trainee can log in as any
#                               other; trainers log in with their own
#                               KORE_PLAID_TRAINER_PASSWORD, 32 characters or more); "dummy"
#                               (tests only: any name); or a class as "package.module.Class"
#                               (an identity provider: oauthenticator's GitHub, Google, ...)
#   KORE_PLAID_TRAINEES         comma-separated names allowed to log in (default: anyone the
#                               authenticator accepts)
#   KORE_PLAID_TRAINERS         comma-separated trainers: Hub admins, and members of the group
#                               KORE_PLAID_TRAINERS_GROUP (default kore-plaid-trainers), the only
#                               users who see the board
#   KORE_PLAID_SPAWNER          how servers start: unset keeps what is configured (TLJH: one system
#                               user per trainee, under systemd; plain JupyterHub: system users);
#                               "simple" (tests and demos only: no system users, no isolation,
#                               homes in KORE_PLAID_CLASS_DIR); "local"; or "package.module.Class"
#   KORE_PLAID_CLASS_DIR        where trainees' homes live with the "simple" spawner
#                               (default: ./kore-plaid-class beside the Hub's database)
#   KORE_PLAID_HUB_BIND_URL     where the Hub's proxy listens for browsers (JupyterHub's
#                               default: http://:8000; TLJH: ports 80/443, leave unset)
#   KORE_PLAID_HUB_PORT         the Hub's own API port on 127.0.0.1 (JupyterHub's default: 8081)
#   KORE_PLAID_PROXY_API_PORT   configurable-http-proxy's API port on 127.0.0.1 (default: 8001)
#   KORE_PLAID_PROXY_COMMAND    configurable-http-proxy's path (default: <checkout>/.tools/chp,
#                               installed by `make install`, else the one on PATH)
#   KORE_PLAID_BOARD_PORT       the board's port on 127.0.0.1 (default: 8800)
#   KORE_PLAID_BOARD_TRAINER_TOKEN  the trainer's token for scripts (`GET /api/progress`;
#                               never given to trainees; default: read from
#                               KORE_PLAID_BOARD_TRAINER_TOKEN_FILE, created there, random, on
#                               the first start)
#   KORE_PLAID_BOARD_TRAINER_TOKEN_FILE  default: <KORE_PLAID_BOARD_HOME>/trainer.token (mode
#                               0600, the file `kore-plaid board` itself uses there). Earlier
#                               versions gave every trainee the board's token: the old
#                               KORE_PLAID_BOARD_TOKEN, KORE_PLAID_BOARD_TOKEN_FILE and
#                               <KORE_PLAID_BOARD_HOME>/board.token are ignored (the file is
#                               deleted), so a past trainee's copy no longer opens the board
#   KORE_PLAID_TRAINER_SIGNUP   with "native": 1 lets the Hub start while a trainer in
#                               KORE_PLAID_TRAINERS has no account yet (sign up as each trainer,
#                               where only you reach the Hub, then restart without it)
#   KORE_PLAID_BOARD_HOME       the board's state folder (default: ./kore-plaid-board beside the
#                               Hub's database; TLJH: /opt/tljh/state/kore-plaid-board)
#   KORE_PLAID_BOARD_USER       a system user to run the board as (default: the Hub's user)
#   KORE_PLAID_HUB_ADMIN_TOKEN  when set: an API-only service "kore-plaid-admin" with this token,
#                               allowed to create users, start and stop their servers and issue
#                               their tokens (scripts, tests); unset: no such service
#
# The relative defaults ("./...") are relative to the Hub's working directory, where it keeps
# jupyterhub.sqlite and its cookie secret (TLJH: /opt/tljh/state).

import os
import secrets
import shlex
import socket
import sqlite3
import stat
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (given by JupyterHub when it loads this file)


def _env(name, default=""):
    value = os.environ.get(name, "").strip()
    return value or default


def _names(name):
    return {part.strip() for part in _env(name).split(",") if part.strip()}


def _port(name, default):
    value = _env(name, str(default))
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(f"{name}={value!r} is not a TCP port")
    return int(value)


HERE = Path(__file__).resolve().parent
CHECKOUT = Path(_env("KORE_PLAID_CHECKOUT", str(HERE.parent.parent)))
NOTEBOOKS = Path(_env("KORE_PLAID_NOTEBOOKS", str(CHECKOUT / "notebooks")))
RUNBOOK_FOLDER = _env("KORE_PLAID_RUNBOOK_FOLDER", "runbook")
PYTHON = _env("KORE_PLAID_PYTHON", sys.executable)
SINGLEUSER = str(Path(PYTHON).parent / "jupyterhub-singleuser")
if not os.access(SINGLEUSER, os.X_OK):
    SINGLEUSER = "jupyterhub-singleuser"  # found on the servers' PATH
BOARD_PORT = _port("KORE_PLAID_BOARD_PORT", 8800)


def _check_board_port_free(port):
    """Refuse to start while another program holds the board's port: the Hub's proxy would
    send /services/board/ (and the trainer's sign-in) to that program."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ValueError(
                f"KORE_PLAID_BOARD_PORT={port} is already in use on 127.0.0.1, so the board "
                "cannot start there and /services/board/ would reach that other program. Set "
                "KORE_PLAID_BOARD_PORT to a free port (`lsof -i :PORT` shows who holds one) "
                "and start the Hub again."
            ) from None


_check_board_port_free(BOARD_PORT)
BOARD_HOME = Path(_env("KORE_PLAID_BOARD_HOME", "kore-plaid-board")).absolute()
BOARD_NAME = "board"
BOARD_PREFIX = f"/services/{BOARD_NAME}"
# Trainees' kernels post their progress to the board directly, on loopback (not through the
# proxy). The board serves under its prefix (JUPYTERHUB_SERVICE_PREFIX), whichever way it is
# reached.
BOARD_URL = f"http://127.0.0.1:{BOARD_PORT}{BOARD_PREFIX}"


def _say(text):
    print(f"kore-plaid: {text}", file=sys.stderr, flush=True)


def retire_old_board_token():
    """Earlier versions gave every trainee the board's token: never use it again."""
    for name in ("KORE_PLAID_BOARD_TOKEN", "KORE_PLAID_BOARD_TOKEN_FILE"):
        if _env(name):
            _say(
                f"{name} is ignored: earlier versions gave that token to every trainee. The "
                "trainer's token is KORE_PLAID_BOARD_TRAINER_TOKEN (default: a new one in "
                f"{BOARD_HOME / 'trainer.token'})"
            )
    old = BOARD_HOME / "board.token"
    try:
        info = os.lstat(old)
    except OSError:
        return
    if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
        old.unlink()
        _say(f"deleted {old}: the old board token (trainees had it) no longer opens the board")


def board_token():
    """The trainer's token: the environment's, else the token file's (created on first use)."""
    retire_old_board_token()
    token = _env("KORE_PLAID_BOARD_TRAINER_TOKEN")
    if token:
        return token
    path = Path(_env("KORE_PLAID_BOARD_TRAINER_TOKEN_FILE", str(BOARD_HOME / "trainer.token")))
    if path.is_file():
        token = path.read_text().strip()
        if token:
            return token
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


BOARD_TOKEN = board_token()

# Services, roles and the servers' environment are ADDED to what was configured before (TLJH's
# idle culler and its role): append() and update() on c.* merge into the configuration that
# loads this file (TLJH loads it with load_subconfig, where `c` starts empty; an assignment
# would replace TLJH's list).

# -- who logs in ---------------------------------------------------------------------------

AUTHENTICATORS = {
    "dummy": "jupyterhub.auth.DummyAuthenticator",
    "shared-password": "jupyterhub.authenticators.shared.SharedPasswordAuthenticator",
    "pam": "jupyterhub.auth.PAMAuthenticator",
    "native": "nativeauthenticator.NativeAuthenticator",
}
TRAINERS = _names("KORE_PLAID_TRAINERS")
TRAINERS_GROUP = _env("KORE_PLAID_TRAINERS_GROUP", "kore-plaid-trainers")
TRAINER_PASSWORD_LENGTH = 32


def shared_password():
    """One password for every trainee (a demo); each trainer has their own admin password."""
    password = _env("KORE_PLAID_CLASS_PASSWORD")
    trainer_password = _env("KORE_PLAID_TRAINER_PASSWORD")
    if len(password) < 8:
        raise ValueError(
            "KORE_PLAID_AUTHENTICATOR=shared-password needs KORE_PLAID_CLASS_PASSWORD "
            "(8 characters or more): the password you give the class"
        )
    if not TRAINERS or len(trainer_password) < TRAINER_PASSWORD_LENGTH:
        raise ValueError(
            "KORE_PLAID_AUTHENTICATOR=shared-password needs KORE_PLAID_TRAINERS (the trainers' "
            "names) and KORE_PLAID_TRAINER_PASSWORD (their own password, "
            f"{TRAINER_PASSWORD_LENGTH} characters or more, e.g. `openssl rand -hex 24`); "
            "the class password never opens a trainer's account"
        )
    if trainer_password == password:
        raise ValueError("KORE_PLAID_TRAINER_PASSWORD must differ from KORE_PLAID_CLASS_PASSWORD")
    c.SharedPasswordAuthenticator.user_password = password
    c.SharedPasswordAuthenticator.admin_password = trainer_password
    print(
        "kore-plaid: shared-password: any trainee can log in as any other trainee (one password "
        "for all); use per-user passwords (pam, native) or an identity provider for a class",
        file=sys.stderr,
    )


def native_accounts():
    """The names with a NativeAuthenticator account (its users_info table in the Hub's SQLite
    database), or None when that database is not one this file can read."""
    url = c.JupyterHub.db_url if "db_url" in c.JupyterHub else "sqlite:///jupyterhub.sqlite"
    if not url.startswith("sqlite:///"):
        return None
    path = Path(url.removeprefix("sqlite:///"))
    if not path.is_file():
        return set()  # a new Hub: nobody signed up
    try:
        db = sqlite3.connect(f"file:{path.absolute()}?mode=ro", uri=True)
        try:
            return {row[0] for row in db.execute("SELECT username FROM users_info")}
        finally:
            db.close()
    except sqlite3.OperationalError as exc:
        return set() if "no such table" in str(exc) else None


def trainers_signed_up_first():
    """NativeAuthenticator lets whoever signs up first with an admin's name in, as an admin,
    without approval: refuse to start while a trainer has no account, unless the trainers are
    signing up now (KORE_PLAID_TRAINER_SIGNUP=1, the Hub reachable by them alone)."""
    accounts = native_accounts()
    if accounts is None:
        _say("native: sign up as each trainer before you share the Hub's address")
        return
    missing = sorted(TRAINERS - accounts)
    if not missing:
        return
    if _env("KORE_PLAID_TRAINER_SIGNUP") == "1":
        _say(
            f"native: sign up NOW as {', '.join(missing)} at /hub/signup (whoever does it first "
            "becomes that admin), then restart the Hub without KORE_PLAID_TRAINER_SIGNUP"
        )
        return
    raise ValueError(
        f"KORE_PLAID_AUTHENTICATOR=native: trainer(s) {', '.join(missing)} have no account "
        "yet, and NativeAuthenticator lets whoever signs up first with a trainer's name in as "
        "an admin. Start the Hub once with KORE_PLAID_TRAINER_SIGNUP=1 where only you reach it "
        "(e.g. KORE_PLAID_HUB_BIND_URL=http://127.0.0.1:8000 and an SSH tunnel), sign up as "
        "each trainer at /hub/signup, then restart without it and share the address"
    )


authenticator = _env("KORE_PLAID_AUTHENTICATOR")
if authenticator:
    c.JupyterHub.authenticator_class = AUTHENTICATORS.get(authenticator, authenticator)
    password = _env("KORE_PLAID_CLASS_PASSWORD")
    if authenticator == "shared-password":
        shared_password()
        if not _names("KORE_PLAID_TRAINEES"):
            c.Authenticator.allow_all = True  # anyone with the class password
    elif authenticator == "native":
        trainers_signed_up_first()
        c.NativeAuthenticator.open_signup = False  # a trainer approves each sign-up
        c.NativeAuthenticator.minimum_password_length = 10
        c.NativeAuthenticator.check_common_password = True
        c.NativeAuthenticator.allowed_failed_logins = 5
        c.NativeAuthenticator.seconds_before_next_try = 60
        if not _names("KORE_PLAID_TRAINEES"):
            c.Authenticator.allow_all = True  # anyone who signed up and was approved
    elif authenticator == "dummy" and password:
        c.DummyAuthenticator.password = password
if _names("KORE_PLAID_TRAINEES"):
    c.Authenticator.allowed_users = _names("KORE_PLAID_TRAINEES")
if TRAINERS:
    c.Authenticator.admin_users = TRAINERS

# Trainers are the members of this group: the board shows itself to them only (the Hub lets
# them through its OAuth to the board; the board checks the group). Members are added here,
# never removed: add or remove others at /hub/admin (Groups).
c.JupyterHub.load_groups.update({TRAINERS_GROUP: {"users": sorted(TRAINERS)}})

# -- each trainee's server -----------------------------------------------------------------

SPAWNERS = {
    "simple": "jupyterhub.spawner.SimpleLocalProcessSpawner",
    "local": "jupyterhub.spawner.LocalProcessSpawner",
}
spawner = _env("KORE_PLAID_SPAWNER")
if spawner:
    c.JupyterHub.spawner_class = SPAWNERS.get(spawner, spawner)
if spawner == "simple":
    class_dir = Path(_env("KORE_PLAID_CLASS_DIR", "kore-plaid-class")).absolute()
    c.SimpleLocalProcessSpawner.home_dir_template = str(class_dir / "{username}")
    if os.geteuid() == 0:
        # every trainee's server runs as the Hub's user: root here (tests, demos)
        c.Spawner.args = ["--ServerApp.allow_root=True"]

c.Spawner.default_url = "/lab"

# The server starts through this script, as the trainee, in their home (any spawner: local,
# systemd under TLJH): it copies the runbook if absent and sets the state folder and .env from
# $HOME, then becomes jupyterhub-singleuser with JupyterHub's arguments ("$@"). Kernels and
# terminals inherit the variables, so `kore-plaid status` in a terminal sees the same state.
# No braces in it: SystemdSpawner (TLJH) passes every word of the command through
# str.format() to expand {USERNAME}.
_NOTEBOOKS_Q = shlex.quote(str(NOTEBOOKS))
START_SCRIPT = f"""
set -eu
runbook="$HOME/{RUNBOOK_FOLDER}"
mkdir -p "$runbook"
for source in {_NOTEBOOKS_Q}/*.ipynb {_NOTEBOOKS_Q}/sanitize.cfg; do
  [ -e "$source" ] || continue
  [ -e "$runbook/$(basename "$source")" ] || cp "$source" "$runbook/"
done
export KORE_PLAID_HOME="$HOME/.kore-plaid"
export KORE_PLAID_ENV_FILE="$HOME/.env"
mkdir -p "$KORE_PLAID_HOME"
exec {shlex.quote(SINGLEUSER)} "$@"
"""
c.Spawner.cmd = ["/bin/sh", "-c", START_SCRIPT, "kore-plaid-server"]

c.Spawner.environment.update(
    {
        "KORE_PLAID_TRAINEE": lambda spawner: spawner.user.name,
        "KORE_PLAID_MODE": _env("KORE_PLAID_CLASS_MODE", "embedded"),
        "KORE_PLAID_BOARD_URL": BOARD_URL,
        # no board token: the runbook posts with the trainee's own JUPYTERHUB_API_TOKEN, which
        # it sends only when told so here, and only to a board among the Hub's services
        "KORE_PLAID_BOARD_AUTH": "hub",
    }
)

# -- the board: a managed service, at /services/board/ through the Hub ---------------------

board = {
    "name": BOARD_NAME,
    "url": f"http://127.0.0.1:{BOARD_PORT}",
    # no --host/--port: the board binds JUPYTERHUB_SERVICE_URL (the "url" above) and serves
    # under JUPYTERHUB_SERVICE_PREFIX (/services/board/), both set by JupyterHub
    "command": [PYTHON, "-m", "kore_plaid_nb", "board"],
    "cwd": str(BOARD_HOME),
    "environment": {
        "KORE_PLAID_HOME": str(BOARD_HOME),
        "KORE_PLAID_ENV_FILE": str(BOARD_HOME / ".env"),
        "KORE_PLAID_BOARD_TRAINER_TOKEN": BOARD_TOKEN,
        "KORE_PLAID_BOARD_TRAINERS_GROUP": TRAINERS_GROUP,
        "PYTHONUNBUFFERED": "1",
    },
    "display": True,  # listed in the Hub's Services menu (for those who may open it)
    "oauth_no_confirm": True,  # the class's own board: no "authorize access?" page
}
BOARD_HOME.mkdir(parents=True, exist_ok=True, mode=0o700)
if _env("KORE_PLAID_BOARD_USER"):
    import pwd

    board["user"] = _env("KORE_PLAID_BOARD_USER")
    account = pwd.getpwnam(board["user"])
    if os.geteuid() == 0:  # the board writes its state there
        os.chown(BOARD_HOME, account.pw_uid, account.pw_gid)
c.JupyterHub.services.append(board)
c.JupyterHub.load_roles.append(
    {
        "name": "kore-plaid-trainer",
        "description": "open the trainer's board (/services/board/)",
        "scopes": [f"access:services!service={BOARD_NAME}"],
        "groups": [TRAINERS_GROUP],
    }
)

# -- optional: an API-only admin service for scripts and tests -----------------------------

admin_token = _env("KORE_PLAID_HUB_ADMIN_TOKEN")
if admin_token:
    c.JupyterHub.services.append({"name": "kore-plaid-admin", "api_token": admin_token})
    c.JupyterHub.load_roles.append(
        {
            "name": "kore-plaid-admin",
            "description": "create trainees, start and stop their servers, issue their tokens",
            "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users"],
            "services": ["kore-plaid-admin"],
        }
    )

# -- where the Hub and its proxy listen (only when set: TLJH configures its own) -----------

if _env("KORE_PLAID_HUB_BIND_URL"):
    c.JupyterHub.bind_url = _env("KORE_PLAID_HUB_BIND_URL")
if _env("KORE_PLAID_HUB_PORT"):
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = _port("KORE_PLAID_HUB_PORT", 8081)
if _env("KORE_PLAID_PROXY_API_PORT"):
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{_port('KORE_PLAID_PROXY_API_PORT', 8001)}"
proxy_command = _env("KORE_PLAID_PROXY_COMMAND")
local_proxy = CHECKOUT / ".tools" / "chp" / "node_modules" / ".bin" / "configurable-http-proxy"
if proxy_command:
    c.ConfigurableHTTPProxy.command = [proxy_command]
elif local_proxy.is_file():
    c.ConfigurableHTTPProxy.command = [str(local_proxy)]
