"""Background services: start once, outlive their starter, stop for good, say what's wrong."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from kore_plaid_nb import services
from kore_plaid_nb.errors import ServiceError


def test_a_zombie_counts_as_ended() -> None:
    # `sleep 0` exits at once; its parent execs into `sleep 5` and never reaps it.
    parent = subprocess.Popen(
        ["sh", "-c", "sleep 0 & echo $!; exec sleep 5"], stdout=subprocess.PIPE, text=True
    )
    try:
        zombie = int(parent.stdout.readline())
        deadline = time.monotonic() + 5
        while services.pid_alive(zombie) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not services.pid_alive(zombie)
        assert services.pid_alive(parent.pid)
    finally:
        parent.kill()
        parent.wait()


def test_emulator_service_is_idempotent_and_stops(home: Path) -> None:
    port = services.free_port()
    first = services.ensure_running(home, "emulator", ["sandbox", "--port", str(port)], port)
    again = services.ensure_running(home, "emulator", ["sandbox", "--port", str(port)], port)
    assert again.pid == first.pid and again.url == f"http://127.0.0.1:{port}"
    assert [r.name for r in services.running(home)] == ["emulator"]
    assert services.stop(home, "emulator")
    assert not services.pid_alive(first.pid)
    assert services.running(home) == []
    assert not services.stop(home, "emulator")


def test_a_port_in_use_says_what_to_do(home: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ServiceError) as info:
            services.ensure_running(home, "bridge", ["bridge", "--port", str(port)], port)
    assert f"Port {port}" in str(info.value) and "APP_PORT" in str(info.value)
    assert services.running(home) == []


def test_a_service_that_dies_at_start_quotes_its_log(home: Path) -> None:
    port = services.free_port()
    with pytest.raises(ServiceError) as info:
        # the process exits on its own (wait_healthy returns when it dies): the timeout only
        # bounds a machine too busy to import Python in 10 s, as CI beside other jobs
        services.ensure_running(home, "broken", ["no-such-command"], port, timeout=90)
    assert "did not start" in str(info.value) and "invalid choice" in str(info.value)
    assert services.running(home) == []
