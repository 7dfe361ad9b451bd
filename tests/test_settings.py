from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kore_plaid_nb import plaid_client, settings
from kore_plaid_nb.errors import SettingsError
from kore_plaid_nb.settings import env_writer


def test_defaults_are_embedded_with_demo_keys(home: Path) -> None:
    s = settings.load()
    assert s.mode == "embedded"
    assert s.client_id == settings.DEMO_CLIENT_ID
    assert s.secret == settings.DEMO_SECRET
    assert s.plaid_products == ("auth", "transactions", "identity", "investments", "liabilities")
    assert s.plaid_country_codes == ("US",)
    assert "APP_PORT" in s.auto_ports  # not set: chosen free, recorded, the same next time
    assert s.app_port == settings.load().app_port
    assert s.home == home
    assert s.bridge_db_path == home / "bridge.sqlite3"


def test_env_file_read_and_environment_wins(tmp_path: Path, monkeypatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "PLAID_CLIENT_ID=abc123def456abc123def456\nPLAID_SECRET=s3cr3t0000000000000000000000\n"
        "PLAID_ENV=production\nAPP_PORT=9001\nPLAID_PRODUCTS=auth, identity\n"
    )
    monkeypatch.setenv("APP_PORT", "9002")
    s = settings.load()
    assert s.mode == "live"
    assert s.plaid_env == "production"
    assert s.app_port == 9002
    assert s.plaid_products == ("auth", "identity")


def test_development_environment_is_explained() -> None:
    with pytest.raises(SettingsError) as info:
        settings.load({"PLAID_ENV": "development"})
    text = str(info.value)
    assert "2024-06-20" in text
    assert "sandbox" in text and "production" in text


@pytest.mark.parametrize(
    ("environ", "needle"),
    [
        ({"PLAID_ENV": "staging"}, "not a Plaid environment"),
        ({"PLAID_CLIENT_ID": "abc"}, "PLAID_SECRET is not set"),
        ({"APP_PORT": "eighty"}, "APP_PORT"),
        ({"APP_PORT": "70000"}, "not a TCP port"),
        ({"PLAID_REDIRECT_URI": "idp.kore.ai/callback"}, "not an http(s) URL"),
    ],
)
def test_bad_settings_say_what_to_do(environ: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError) as info:
        settings.load(environ)
    assert needle in str(info.value)
    assert "What to do:" in str(info.value)


@pytest.mark.parametrize("name", ["APP_PORT", "KORE_SIMULATOR_PORT", "BRIDGE_METRICS_PORT"])
@pytest.mark.parametrize("value", ["0", "70000"])
def test_every_port_setting_is_checked_alike_and_says_the_range_it_accepts(
    name: str, value: str
) -> None:
    with pytest.raises(SettingsError) as info:
        settings.load({name: value})
    assert info.value.message == f"{name}={value} is not a TCP port (1 to 65535)."
    assert info.value.fix.startswith(f"Set {name} to a free port from 1 to 65535 ")
    assert settings.load({name: "80"}).as_env()[name] == "80"  # accepted, as the fix says


@pytest.mark.parametrize(
    ("written", "value"),
    [("1", 1), ("true", 1), ("Yes", 1), ("0", 0), ("FALSE", 0), ("no", 0), ("", None)],
)
def test_the_loopback_callback_flag_takes_0_1_true_false_yes_no(
    tmp_path: Path, written: str, value: int | None
) -> None:
    environ = {"BRIDGE_ALLOW_LOOPBACK_CALLBACK": written, "KORE_PLAID_HOME": str(tmp_path)}
    loaded = settings.load(environ, env_file=tmp_path / ".env")
    assert loaded.bridge_allow_loopback_callback == value


def test_a_flag_that_is_neither_on_nor_off_says_what_to_write(tmp_path: Path) -> None:
    environ = {"BRIDGE_ALLOW_LOOPBACK_CALLBACK": "2", "KORE_PLAID_HOME": str(tmp_path)}
    with pytest.raises(SettingsError, match="BRIDGE_ALLOW_LOOPBACK_CALLBACK='2'") as caught:
        settings.load(environ, env_file=tmp_path / ".env")
    assert "0 or 1" in caught.value.fix and "sessions" not in str(caught.value)


def test_repr_and_str_never_show_secrets() -> None:
    secret = "super-secret-value-1234567890"
    token = "ngrok-token-abcdefghijklmnop"
    s = settings.load(
        {"PLAID_CLIENT_ID": "client-id-123456789", "PLAID_SECRET": secret, "NGROK_AUTHTOKEN": token}
    )
    for text in (repr(s), str(s), f"{s}"):
        assert secret not in text and token not in text
        assert "supe…7890" in text


def test_mask() -> None:
    assert settings.mask("abcdefghijklmnopwxyz") == "abcd…wxyz"
    assert settings.mask("short") == "…"
    assert settings.mask("") == ""


def test_save_keeps_other_lines_and_is_private(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# my comment\nOTHER=keep me\nPLAID_ENV=sandbox\n")
    settings.save(
        {"PLAID_ENV": "production", "PLAID_CLIENT_ID": "cid", "PLAID_SECRET": 'a b"c'}, env_file
    )
    text = env_file.read_text()
    assert "# my comment" in text and "OTHER=keep me" in text
    assert "PLAID_ENV=production" in text and "PLAID_ENV=sandbox" not in text
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    loaded = settings.load({}, env_file)
    assert loaded.plaid_secret == 'a b"c'
    settings.save({"PLAID_SECRET": None, "PLAID_CLIENT_ID": None}, env_file)
    assert "PLAID_SECRET" not in env_file.read_text()


def test_save_never_follows_a_planted_temporary_file(tmp_path: Path) -> None:
    victim = tmp_path / "elsewhere" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text("not yours\n")
    victim.chmod(0o644)
    env_file = tmp_path / ".env"
    env_file.write_text("OTHER=keep me\n")
    (tmp_path / ".env.tmp").symlink_to(victim)
    settings.save({"PLAID_SECRET": "secret-0123456789abcdef"}, env_file)
    assert victim.read_text() == "not yours\n"  # the symlink's target is untouched
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert not env_file.is_symlink()
    assert env_file.read_text() == "OTHER=keep me\nPLAID_SECRET=secret-0123456789abcdef\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "home")
    assert left == [".env", ".env.tmp", "elsewhere"]  # no temporary file of ours is left


def test_save_refuses_a_symlink_planted_at_its_own_temporary_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a symlink at the exact temporary name is not followed (O_EXCL|O_NOFOLLOW)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours\n")
    env_file = tmp_path / ".env"
    env_file.write_text("OTHER=keep me\n")
    monkeypatch.setattr(env_writer.secrets, "token_hex", lambda _n: "guessed")
    (tmp_path / "..env.guessed.tmp").symlink_to(victim)  # the name save() would use
    with pytest.raises(SettingsError) as caught:
        settings.save({"PLAID_SECRET": "secret-0123456789abcdef"}, env_file)
    assert f"Could not write {env_file}" in caught.value.message
    assert victim.read_text() == "not yours\n"
    assert env_file.read_text() == "OTHER=keep me\n"


def test_save_says_what_to_do_when_the_folder_is_not_writable(tmp_path: Path, monkeypatch) -> None:
    import os

    env_file = tmp_path / ".env"
    env_file.write_text("PLAID_ENV=sandbox\n")

    def refuse(*_: object, **__: object) -> int:
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as patch, pytest.raises(SettingsError) as info:
        patch.setattr(os, "open", refuse)  # what a read-only folder answers (even as root)
        settings.save({"PLAID_ENV": "production"}, env_file)
    assert str(info.value).startswith(f"Could not write {env_file}: permission denied.")
    assert "writable" in info.value.fix
    assert env_file.read_text() == "PLAID_ENV=sandbox\n"


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch
) -> None:
    import os

    env_file = tmp_path / ".env"
    env_file.write_text("PLAID_ENV=sandbox\n")

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SettingsError) as info:
        settings.save({"PLAID_ENV": "production"}, env_file)
    assert str(info.value).startswith(f"Could not write {env_file}: no space left on device.")
    assert env_file.read_text() == "PLAID_ENV=sandbox\n"
    assert [p.name for p in tmp_path.iterdir() if p.name != "home"] == [".env"]


def test_registered_callbacks_are_exact_and_unique() -> None:
    s = settings.load(
        {
            "PLAID_REDIRECT_URI": "https://idp.kore.ai/workflows/callback/",
            "KORE_CALLBACK_URLS": "https://idp.kore.com/workflows/callback, "
            "https://idp.kore.ai/workflows/callback/",
            "KORE_SIMULATOR_PORT": "8765",
        }
    )
    assert s.registered_callbacks == (
        "https://idp.kore.ai/workflows/callback/",
        "https://idp.kore.com/workflows/callback",
        "http://127.0.0.1:8765/workflows/callback",
    )


def test_as_env_round_trips() -> None:
    s = settings.load({"PLAID_API_URL": "http://127.0.0.1:9999/", "APP_PORT": "8123"})
    again = settings.load(s.as_env())
    assert again.plaid_api_url == "http://127.0.0.1:9999"
    assert again.app_port == 8123
    assert again.home == s.home


def test_client_factory_knows_the_hosts() -> None:
    assert plaid_client.api_host(settings.load({})) == "https://sandbox.plaid.com"
    keys = {"PLAID_CLIENT_ID": "client-id-0123456789ab", "PLAID_SECRET": "s" * 30}
    assert plaid_client.api_host(settings.load({**keys, "PLAID_ENV": "production"})) == (
        "https://production.plaid.com"
    )
    embedded = settings.load({"PLAID_API_URL": "http://127.0.0.1:5555"})
    assert plaid_client.api_host(embedded) == "http://127.0.0.1:5555"
    assert plaid_client.link_script_url(embedded) == (
        "http://127.0.0.1:5555/link/v2/stable/link-initialize.js"
    )
    assert plaid_client.link_script_url(settings.load({})).startswith("https://cdn.plaid.com/")
    client = plaid_client.create(embedded)
    assert client.api_client.configuration.host == "http://127.0.0.1:5555"


def test_mode_choice() -> None:
    keys = {"PLAID_CLIENT_ID": "client-0123456789", "PLAID_SECRET": "secret-0123456789"}
    assert settings.load(keys).mode == "live"
    forced = settings.load({**keys, "KORE_PLAID_MODE": "embedded"})
    assert forced.mode == "embedded" and forced.secret == "secret-0123456789"
    with pytest.raises(SettingsError, match="needs Plaid keys"):
        settings.load({"KORE_PLAID_MODE": "live"})
    with pytest.raises(SettingsError, match="not a mode"):
        settings.load({"KORE_PLAID_MODE": "offline"})


def test_plaid_calls_give_up_after_the_timeout() -> None:
    import time

    from plaid.model.accounts_get_request import AccountsGetRequest

    from kore_plaid_nb.emulator import faults, running_emulator

    with running_emulator(settings.load({})) as url:
        faults.inject(url, "/accounts/get", delay=2.0)
        client = plaid_client.create(settings.load({"PLAID_API_URL": url}), timeout=0.5)
        started = time.monotonic()
        with pytest.raises(Exception) as info:
            client.accounts_get(AccountsGetRequest(access_token="access-sandbox-x"))
        assert time.monotonic() - started < 3
        assert plaid_client.error_from_exception(info.value).error_type == "CONNECTION_ERROR"


@pytest.mark.parametrize(
    ("value", "url", "password", "shown"),
    [
        (
            "postgresql://kore:pa55-w0rd-x@db:5432/kp",
            "postgresql://kore:pa55-w0rd-x@db:5432/kp",
            "pa55-w0rd-x",
            "db:5432/kp",
        ),
        ("postgres://kore@db/kp", "postgres://kore@db/kp", "", "db:5432/kp"),
        ("/var/lib/kp/bridge.db", None, "", "/var/lib/kp/bridge.db"),
    ],
)
def test_bridge_db_is_a_postgresql_url_or_a_file(value, url, password, shown) -> None:
    s = settings.load({"BRIDGE_DB": value})
    assert (s.bridge_db_url, s.bridge_db_password, s.bridge_store_shown) == (url, password, shown)
    assert str(s.bridge_store) == value
    assert password == "" or password not in repr(s)


def test_ngrok_domain_url_takes_the_domain_with_or_without_a_scheme() -> None:
    for written in ("my-bot.ngrok.app", "https://my-bot.ngrok.app/", " http://my-bot.ngrok.app"):
        assert settings.ngrok_domain_url(written) == "https://my-bot.ngrok.app"


def test_link_mode_is_page_or_hosted_and_a_wrong_one_names_both(tmp_path: Path) -> None:
    assert settings.load({}).link_mode == "page"
    assert settings.load({"LINK_MODE": "Hosted"}).link_mode == "hosted"
    env_file = tmp_path / ".env"
    env_file.write_text("LINK_MODE=hosted\n")
    hosted = settings.load({}, env_file=env_file)
    assert hosted.link_mode == "hosted" and hosted.as_env()["LINK_MODE"] == "hosted"
    with pytest.raises(SettingsError, match="not a Link mode") as caught:
        settings.load({"LINK_MODE": "popup"})
    assert "page" in caught.value.fix and "hosted" in caught.value.fix


# A value for every declared variable, each different from its default (adding a field to
# Settings without a sample here fails the first assertion below).
SAMPLES = {
    "PLAID_CLIENT_ID": "client-id-0123456789ab",
    "PLAID_SECRET": "plaid-secret-0123456789abcdef",
    "PLAID_ENV": "production",
    "PLAID_PRODUCTS": "auth,identity",
    "PLAID_COUNTRY_CODES": "US,CA",
    "PLAID_REDIRECT_URI": "https://idp.kore.com/workflows/callback",
    "APP_PORT": "8123",
    "PLAID_API_URL": "http://127.0.0.1:5555",
    "KORE_CALLBACK_URLS": "https://de-bots-idp.kore.ai/workflows/callback",
    "LINK_REDIRECT_URI": "https://bridge.example.com/oauth-return",
    "LINK_MODE": "hosted",
    "BRIDGE_PUBLIC_URL": "https://bridge.example.com",
    "BRIDGE_SESSIONS_PER_ADDRESS": "7",
    "BRIDGE_SESSIONS_PER_MINUTE": "0",
    "BRIDGE_DB": "postgresql://kore:db-password-0123@db:5432/kp",
    "BRIDGE_ENCRYPTION_KEY": "bXktYnJpZGdlLWtleS0wMTIzNDU2Nzg5YWJjZGVmMDE=",
    "BRIDGE_ENCRYPTION_KEYS": "b2xkLWJyaWRnZS1rZXktMDEyMzQ1Njc4OWFiY2RlZjA=",
    "BRIDGE_AUDIT_DAYS": "30",
    "FORWARDED_ALLOW_IPS": "127.0.0.1,10.0.0.1",
    "BRIDGE_METRICS_PORT": "9465",
    "BRIDGE_METRICS_HOST": "10.0.0.2",
    "BRIDGE_METRICS_TOKEN": "metrics-token-0123456789abcdef",
    "BRIDGE_LOG_FORMAT": "json",
    "BRIDGE_LOG_LEVEL": "error",
    "BRIDGE_ALLOW_LOOPBACK_CALLBACK": "1",
    "NGROK_AUTHTOKEN": "ngrok-token-0123456789abcdef",
    "NGROK_DOMAIN": "my-bot.ngrok.app",
    "NGROK_REGION": "eu",
    "KORE_SIMULATOR_PORT": "8766",
    "KORE_PLAID_MODE": "live",  # embedded mode is Sandbox only (issue 29): PLAID_ENV is production
    "KORE_PLAID_BOARD_URL": "http://board.example.com:8800",
    "KORE_PLAID_BOARD_TOKEN": "board-token-0123456789abcdef",
    "KORE_PLAID_BOARD_TRAINEE_TOKEN": "kpt_trainee-token-0123456789abcdef",
}


def test_every_declared_variable_is_read_exported_and_shown(tmp_path: Path) -> None:
    from kore_plaid_nb.settings.model import VARS

    declared = [spec.name for spec in VARS.values()]
    assert sorted(declared) == sorted(SAMPLES)
    assert settings.ENV_NAMES == (*declared, "KORE_PLAID_TRAINEE")
    environ = {**SAMPLES, "KORE_PLAID_HOME": str(tmp_path / "home")}
    loaded = settings.load(environ, env_file=tmp_path / ".env")
    exported = loaded.as_env()
    text = repr(loaded)
    for name, spec in VARS.items():
        value = getattr(loaded, name)
        assert value != spec.default, f"{spec.name} was not read into {name}"
        assert exported[spec.name] == SAMPLES[spec.name]
        assert f" {name}=" in text
    assert settings.load(exported) == loaded  # load -> as_env -> load is the identity
    assert loaded.auto_ports == ()


def test_every_secret_is_masked_in_repr_and_listed_in_secret_values(tmp_path: Path) -> None:
    from kore_plaid_nb.settings.model import VARS

    loaded = settings.load(
        {**SAMPLES, "KORE_PLAID_HOME": str(tmp_path / "home")}, env_file=tmp_path / ".env"
    )
    secrets_declared = [spec.name for spec in VARS.values() if spec.secret]
    assert sorted(secrets_declared) == [
        "BRIDGE_ENCRYPTION_KEY",
        "BRIDGE_ENCRYPTION_KEYS",
        "BRIDGE_METRICS_TOKEN",
        "KORE_PLAID_BOARD_TOKEN",
        "KORE_PLAID_BOARD_TRAINEE_TOKEN",
        "NGROK_AUTHTOKEN",
        "PLAID_SECRET",
    ]
    hidden = [SAMPLES[name] for name in secrets_declared] + ["db-password-0123"]
    assert sorted(loaded.secret_values) == sorted(hidden)
    for text in (repr(loaded), str(loaded)):
        for secret in hidden:
            assert secret not in text
        for name in secrets_declared:
            assert settings.mask(SAMPLES[name]) in text
        assert "bridge_db='db:5432/kp'" in text
        assert settings.mask(SAMPLES["PLAID_CLIENT_ID"]) in text
        assert SAMPLES["PLAID_CLIENT_ID"] not in text


def test_a_variable_set_to_nothing_takes_its_default(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PLAID_PRODUCTS= , \nPLAID_ENV=\nBRIDGE_PUBLIC_URL=/\nLINK_MODE=  \n")
    loaded = settings.load({"KORE_PLAID_HOME": str(tmp_path / "home")}, env_file=env_file)
    assert loaded.plaid_products == settings.DEFAULT_PRODUCTS
    assert loaded.plaid_env == "sandbox" and loaded.link_mode == "page"
    assert loaded.bridge_public_url is None
    for nothing in ("", " ,"):
        env_file.write_text(f"PLAID_COUNTRY_CODES={nothing}\n")
        loaded = settings.load({"KORE_PLAID_HOME": str(tmp_path / "home")}, env_file=env_file)
        assert loaded.plaid_country_codes == ("US",), nothing
