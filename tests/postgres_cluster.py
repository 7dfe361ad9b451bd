"""A throw-away PostgreSQL cluster for tests (stdlib + psycopg 3 only, no pytest fixtures).

    with PostgresCluster() as pg:          # initdb + pg_ctl start into a fresh temp folder
        dsn = pg.create_database()         # postgresql://postgres:<pw>@127.0.0.1:<port>/t_<hex>
        pg.restart()                       # immediate stop (a crash), then start on the same port
    # leaving the block stops the server and deletes the folder

The server listens on 127.0.0.1 only (scram-sha-256 password auth) and on a unix socket inside
the folder; everything it prints goes to ``<root>/postgres.log`` (initdb and pg_ctl output to
``<root>/commands.log``). Durability stays on (fsync, synchronous_commit, full_page_writes), so
a test may kill processes and expect committed data to survive.

PostgreSQL refuses to run as root: when this process is root, every server command runs as the
``postgres`` OS user (through ``runuser``, else ``setpriv``) and the folder is given to that user.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import psycopg
from psycopg import sql

SERVER_USER = "postgres"  # OS user that runs the server when we are root
START_TIMEOUT = 30  # seconds pg_ctl waits for start / stop
_PG_ENV_PREFIXES = ("PG",)  # PGDATA, PGPORT, PGHOST... must not steer initdb / pg_ctl


class PostgresUnavailable(Exception):
    """The server binaries are missing or the cluster could not start (the message says why)."""


def find_postgres_bin() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is not installed.

    Order: ``$PG_BIN`` when set (None if it lacks the binaries), the newest
    ``/usr/lib/postgresql/<version>/bin``, then the folder of ``initdb`` on ``$PATH``.
    """

    def usable(folder: Path) -> bool:
        return all(os.access(folder / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))

    env = os.environ.get("PG_BIN")
    if env:
        folder = Path(env)
        return folder if usable(folder) else None

    def version(path: Path) -> tuple[int, ...]:
        parts = re.findall(r"\d+", path.parent.name)
        return tuple(int(part) for part in parts)

    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True):
        if usable(folder):
            return folder
    initdb = shutil.which("initdb")
    if initdb:
        folder = Path(initdb).resolve().parent  # /usr/local/bin/initdb may be a symlink
        if usable(folder):
            return folder
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _proc_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state letter, command line) for every process we can see."""
    table: dict[int, tuple[int, str, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # the process ended meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()  # the name in (...) may hold spaces
        table[int(entry.name)] = (int(fields[1]), fields[0], cmdline)
    return table


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (ended, its parent has not reaped it yet) is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


class PostgresCluster:
    """One PostgreSQL cluster in its own folder; see the module docstring."""

    def __init__(self, root: Path | None = None) -> None:
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="pgtest-"))
        self.root = Path(root).absolute()
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "run"
        self.log_file = self.root / "postgres.log"
        self.commands_log = self.root / "commands.log"
        self.bin_dir = find_postgres_bin()
        self.port = 0  # chosen at the first start, kept by restart()
        self.password = secrets.token_hex(16)
        self._as_root = os.geteuid() == 0

    # -- public API ---------------------------------------------------------------------------

    def start(self) -> None:
        """initdb (first time only), then ``pg_ctl start -w``; raises PostgresUnavailable."""
        if self.bin_dir is None:
            raise PostgresUnavailable(
                "PostgreSQL server binaries not found: set PG_BIN, or install postgresql-15 "
                "(initdb and pg_ctl in /usr/lib/postgresql/<version>/bin or on PATH)"
            )
        if self.running:
            return
        try:
            if not (self.data_dir / "PG_VERSION").exists():
                self._prepare_root()
                self._initdb()
            first = self.port == 0
            for attempt in range(3):
                if first:
                    self.port = _free_port()
                self._write_settings()
                if self._ctl("start", "-w", "-t", str(START_TIMEOUT), "-l", str(self.log_file)):
                    return
                # Another process may have taken the free port between probe and bind.
                if not (first and attempt < 2 and "could not bind" in self._tail(self.log_file)):
                    raise PostgresUnavailable(f"pg_ctl start failed on port {self.port}")
        except PostgresUnavailable as error:
            self._kill_server()  # a half-started postmaster must not outlive the failure
            raise PostgresUnavailable(f"{error}\n{self._logs()}") from None
        except BaseException:
            self._kill_server()
            raise

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m <mode>`` (smart, fast, immediate); kills the server if that fails."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown shutdown mode {mode!r}")
        if not self.running and not any(self._server_pids()):
            return
        stopped = self.bin_dir is not None and self._ctl("stop", "-m", mode, "-w", "-t", "30")
        if not stopped:
            self._kill_server()

    def restart(self, down_for: float = 0.0) -> None:
        """Crash-stop (immediate mode), wait ``down_for`` seconds, start on the same port."""
        self.stop("immediate")
        if down_for > 0:
            time.sleep(down_for)
        self.start()

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq URL for the superuser over TCP."""
        return (
            f"postgresql://postgres:{quote(self.password, safe='')}@127.0.0.1:{self.port}/"
            f"{quote(dbname, safe='')}"
        )

    def create_database(self, name: str | None = None) -> str:
        """CREATE DATABASE (``t_<hex>`` when no name is given); returns its dsn."""
        name = name or f"t_{secrets.token_hex(6)}"
        with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn(name)

    def remove(self) -> None:
        """Stop the server if it runs and delete the whole root folder; safe to call twice."""
        if self.root.exists():
            self.stop("immediate")
        self._kill_server()  # belt and braces: anything still naming the folder, and children
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def running(self) -> bool:
        """True while a postmaster serves this data folder."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return False
        return _alive(pid)

    def __enter__(self) -> PostgresCluster:
        try:
            self.start()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"PostgresCluster(root={str(self.root)!r}, port={self.port})"

    # -- internals ----------------------------------------------------------------------------

    def _command(self, *args: str) -> list[str]:
        """``args`` as the server user: unchanged unless we are root."""
        if not self._as_root:
            return list(args)
        if shutil.which("runuser"):
            return ["runuser", "-u", SERVER_USER, "--", *args]
        user = pwd.getpwnam(SERVER_USER)
        return [
            "setpriv",
            f"--reuid={user.pw_uid}",
            f"--regid={user.pw_gid}",
            "--init-groups",
            "--",
            *args,
        ]

    def _run(self, *args: str) -> bool:
        """Run a server command, its output appended to commands.log; True on success."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_PG_ENV_PREFIXES)}
        env.update(LC_ALL="C", LANG="C", TZ="UTC")
        with self.commands_log.open("a") as log:
            log.write(f"$ {' '.join(args)}\n")
            log.flush()
            try:
                result = subprocess.run(
                    self._command(*args),
                    cwd=self.root,  # the server user may not be allowed into our cwd
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=START_TIMEOUT + 30,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                log.write("(timed out)\n")
                return False
        return result.returncode == 0

    def _ctl(self, *args: str) -> bool:
        assert self.bin_dir is not None
        return self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args)

    def _give(self, path: Path) -> None:
        """Hand ``path`` to the server user when we are root."""
        if self._as_root:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(path, user.pw_uid, user.pw_gid)

    def _prepare_root(self) -> None:
        if self._as_root:
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root, but there is no {SERVER_USER!r} OS user to run the server"
                ) from None
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        self.commands_log.touch()
        for path in (self.root, self.socket_dir, self.commands_log):
            self._give(path)
        if self._as_root and not self._run(
            "test", "-w", str(self.root), "-a", "-x", str(self.root)
        ):
            raise PostgresUnavailable(
                f"the {SERVER_USER!r} OS user cannot enter {self.root} (a parent folder is "
                "private?); use a root under /tmp, or root=None"
            )

    def _initdb(self) -> None:
        assert self.bin_dir is not None
        pwfile = self.root / "pwfile"
        pwfile.touch(mode=0o600)
        pwfile.write_text(self.password + "\n")
        self._give(pwfile)
        try:
            ok = self._run(
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",  # initdb's own files only; the server still fsyncs
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if not ok:
            raise PostgresUnavailable("initdb failed")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude 'test_cluster.conf'  # written by tests/postgres_cluster.py\n")

    def _write_settings(self) -> None:
        """The test settings; rewritten before each start (the port may change on retry)."""
        socket_dir = str(self.socket_dir).replace("'", "''")
        version = int((self.data_dir / "PG_VERSION").read_text().split(".")[0])
        lines = [
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{socket_dir}'",
            "max_connections = 200",
            "password_encryption = 'scram-sha-256'",
            # Durability stays on: tests kill processes and expect commits to survive.
            "fsync = on",
            "synchronous_commit = on",
            "full_page_writes = on",
            # Fast and quiet for tests.
            "huge_pages = off",
            "jit = off",
            "timezone = 'UTC'",
            "log_timezone = 'UTC'",
            "logging_collector = off",
            "log_line_prefix = '%m [%p] %q%u@%d '",
        ]
        if version >= 14:  # one syncfs() instead of an fsync per file in crash recovery
            lines.append("recovery_init_sync_method = syncfs")
        path = self.data_dir / "test_cluster.conf"
        path.write_text("\n".join(lines) + "\n")
        self._give(path)

    def _server_pids(self) -> tuple[set[int], set[int]]:
        """Live processes whose command line names our folder (the postmaster, pg_ctl...), and
        their descendants (postmaster children rename themselves, so follow parent links)."""
        table = _proc_table()
        marker = str(self.root) + os.sep  # so that /tmp/pg does not match /tmp/pg2
        me = os.getpid()
        roots = {
            pid
            for pid, (_, state, cmdline) in table.items()
            if marker in cmdline and state != "Z" and pid != me
        }
        found = set(roots)
        grew = True
        while grew:
            more = {
                pid for pid, (ppid, state, _) in table.items() if ppid in found and state != "Z"
            }
            grew = not more <= found
            found |= more
        return roots, found - roots

    def _kill_server(self) -> None:
        """SIGKILL every process of this cluster and wait until they are gone."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            roots, descendants = self._server_pids()
            if not roots and not descendants:
                return
            # The postmaster first, so that it cannot restart the children we kill.
            for pid in [*roots, *descendants]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            while any(map(_alive, roots | descendants)) and time.monotonic() < deadline:
                time.sleep(0.02)

    @staticmethod
    def _tail(path: Path, size: int = 3000) -> str:
        try:
            with path.open("rb") as handle:
                handle.seek(max(0, path.stat().st_size - size))
                return handle.read().decode(errors="replace")
        except OSError:
            return ""

    def _logs(self) -> str:
        return (
            f"--- {self.commands_log} (end) ---\n{self._tail(self.commands_log)}"
            f"--- {self.log_file} (end) ---\n{self._tail(self.log_file)}"
        )
