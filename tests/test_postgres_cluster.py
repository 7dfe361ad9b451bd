"""tests/postgres_cluster.py: a real throw-away PostgreSQL cluster starts, keeps committed data
across a crash-restart, refuses a wrong password and leaves no process or folder behind.

Without PostgreSQL the tests skip, except under CI (``$CI`` set), where they fail."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from postgres_cluster import PostgresCluster, PostgresUnavailable, find_postgres_bin


def require_postgres() -> Path:
    """The PostgreSQL bin folder; skip without it (fail under CI)."""
    folder = find_postgres_bin()
    if folder is None:
        reason = (
            "PostgreSQL server binaries (initdb, pg_ctl) not found: set PG_BIN or install "
            "postgresql-15 (.ci/run does so as root)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI is set: {reason}")
        pytest.skip(reason)
    return folder


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live (non-zombie) processes that mention ``text``, this one excepted."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def postmaster_pid(pg: PostgresCluster) -> int:
    return int((pg.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])


def gone(pid: int) -> bool:
    """The process ended (a zombie waiting for a non-reaping PID 1 counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    require_postgres()
    with PostgresCluster() as pg:
        yield pg


def test_find_postgres_bin_honours_pg_bin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PG_BIN", str(tmp_path))  # a folder without initdb
    assert find_postgres_bin() is None
    pg = PostgresCluster(tmp_path / "root")
    with pytest.raises(PostgresUnavailable, match="binaries not found"):
        pg.start()
    pg.remove()
    pg.remove()  # twice is fine
    assert not pg.root.exists()


def test_two_databases_over_tcp(cluster: PostgresCluster) -> None:
    assert cluster.dsn() == (
        f"postgresql://postgres:{cluster.password}@127.0.0.1:{cluster.port}/postgres"
    )
    first, second = cluster.create_database(), cluster.create_database("second_db")
    assert first != second and second.endswith("/second_db")
    with psycopg.connect(first, autocommit=True) as conn:
        conn.execute("CREATE TABLE only_here (id int)")
        row = conn.execute(
            "SELECT current_user, host(inet_server_addr()), current_setting('max_connections'),"
            " current_setting('fsync'), current_setting('unix_socket_directories')"
        ).fetchone()
    assert row == ("postgres", "127.0.0.1", "200", "on", str(cluster.socket_dir))
    with psycopg.connect(second) as conn:
        assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
        assert conn.execute("SELECT current_database()").fetchone() == ("second_db",)


def test_wrong_password_is_refused(cluster: PostgresCluster) -> None:
    wrong = cluster.dsn().replace(cluster.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)


def test_commit_survives_immediate_restart(cluster: PostgresCluster) -> None:
    dsn = cluster.create_database()
    port, old_pid = cluster.port, postmaster_pid(cluster)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept SELECT generate_series(1, 1000)")
    survivor = psycopg.connect(dsn)
    cluster.restart(down_for=0.1)  # immediate mode: a crash, then WAL recovery
    assert cluster.port == port and postmaster_pid(cluster) != old_pid and gone(old_pid)
    with pytest.raises(psycopg.OperationalError):  # the old session died with the server
        survivor.execute("SELECT 1")
    survivor.close()
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*), sum(n) FROM kept").fetchone() == (1000, 500500)
    assert "database system was interrupted" in cluster.log_file.read_text()


def test_remove_leaves_no_process_and_no_folder() -> None:
    require_postgres()
    pg = PostgresCluster()
    with pg:
        pid = postmaster_pid(pg)
        assert processes_mentioning(str(pg.root))  # the postmaster's -D names the folder
        pg.create_database()
    assert not pg.root.exists()
    assert gone(pid)
    assert processes_mentioning(str(pg.root)) == []
    pg.remove()  # a second remove is harmless


def test_failed_start_leaves_nothing_behind() -> None:
    require_postgres()
    pg = PostgresCluster()
    try:
        pg.start()
        pg.stop()
        with socket.socket() as blocker:  # someone else takes the port while it is down
            blocker.bind(("127.0.0.1", pg.port))
            blocker.listen()
            with pytest.raises(PostgresUnavailable, match="could not bind"):
                pg.start()
        assert processes_mentioning(str(pg.root)) == []
        assert not pg.running
    finally:
        pg.remove()
    assert not pg.root.exists()


def test_context_manager_cleans_up_when_start_fails() -> None:
    """A half-started cluster inside ``with`` is removed, and the error says why."""
    require_postgres()
    pg = PostgresCluster()
    pg.data_dir.mkdir()  # initdb refuses a data folder that is not empty
    (pg.data_dir / "junk").write_text("x")
    started = time.monotonic()
    with pytest.raises(PostgresUnavailable, match="initdb failed"), pg:
        pass
    assert time.monotonic() - started < 5
    assert not pg.root.exists() and processes_mentioning(str(pg.root)) == []
