"""Ports nobody set: chosen free per state folder, recorded, kept; explicit ones win."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from kore_plaid_nb import ports, services, settings, stack
from kore_plaid_nb.errors import ServiceError


def test_two_state_folders_get_different_ports_that_stay(tmp_path: Path) -> None:
    first = settings.load({"KORE_PLAID_HOME": str(tmp_path / "ann")})
    second = settings.load({"KORE_PLAID_HOME": str(tmp_path / "bob")})
    assert first.auto_ports == second.auto_ports == ("APP_PORT", "KORE_SIMULATOR_PORT")
    chosen = {first.app_port, first.simulator_port, second.app_port, second.simulator_port}
    assert len(chosen) == 4
    again = settings.load({"KORE_PLAID_HOME": str(tmp_path / "ann")})
    assert (again.app_port, again.simulator_port) == (first.app_port, first.simulator_port)
    assert ports.recorded(tmp_path / "ann") == {
        "APP_PORT": first.app_port,
        "KORE_SIMULATOR_PORT": first.simulator_port,
    }
    assert ((tmp_path / "ann" / ports.FILE_NAME).stat().st_mode & 0o777) == 0o600


def test_trainees_choosing_at_once_never_share_a_port(tmp_path: Path, monkeypatch) -> None:
    """Two state folders whose random picks collide, before either binds: the claim decides."""
    monkeypatch.setattr(ports, "CLAIMS", tmp_path / "claims")
    free = ports._free_port(tmp_path / "gone", exclude=set())  # free now; "gone" never exists
    picks = iter([free, free, free, free + 1, free + 2, free + 3])

    class Colliding:
        def randint(self, low: int, high: int) -> int:
            return next(picks)

    monkeypatch.setattr(ports.random, "SystemRandom", Colliding)
    # the claim of a state folder that no longer exists is stale: ann takes the port over
    ann = ports.assigned(tmp_path / "ann", "APP_PORT")
    bob = ports.assigned(tmp_path / "bob", "APP_PORT")
    assert ann == free and bob not in (ann, None)
    assert ports.assigned(tmp_path / "ann", "APP_PORT") == ann  # kept, and still ours
    assert (tmp_path / "claims" / str(ann)).read_text() == str((tmp_path / "ann").resolve())


def test_an_explicit_port_wins_and_is_not_recorded(tmp_path: Path) -> None:
    loaded = settings.load({"KORE_PLAID_HOME": str(tmp_path), "APP_PORT": "8123"})
    assert loaded.app_port == 8123 and loaded.auto_ports == ("KORE_SIMULATOR_PORT",)
    assert "APP_PORT" not in ports.recorded(tmp_path)


def test_a_chosen_port_taken_meanwhile_is_chosen_again(home: Path, monkeypatch) -> None:
    monkeypatch.delenv("APP_PORT", raising=False)
    current = settings.load()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", current.app_port))
        squatter.listen(1)
        effective, record = stack.ensure_bridge(current)
    assert record.port != current.app_port
    assert effective.app_port == record.port == ports.recorded(home)["APP_PORT"]
    assert settings.load().app_port == record.port


def test_a_busy_explicit_port_keeps_its_clear_error(home: Path, monkeypatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        monkeypatch.setenv("APP_PORT", str(port))
        with pytest.raises(ServiceError, match=f"Port {port} on 127.0.0.1 is already in use"):
            stack.ensure_bridge(settings.load())
    assert services.read(home, "bridge") is None
