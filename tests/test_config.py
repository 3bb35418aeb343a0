"""Settings from environment variables and the config file; errors name the variable."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from awareness_analysis.api.config import (
    API2_DEFAULT_BASE_URL,
    HmacCredentials,
    OAuthCredentials,
    load_settings,
)
from awareness_analysis.errors import ConfigError

SECRET_B64 = "c2VjcmV0LWtleS1mb3ItdGVzdHM="
HMAC_ENV = {
    "MIMECAST_BASE_URL": "https://us-api.mimecast.com",
    "MIMECAST_ACCESS_KEY": "access-key-value",
    "MIMECAST_SECRET_KEY": SECRET_B64,
    "MIMECAST_APP_ID": "app-id-value",
    "MIMECAST_APP_KEY": "app-key-value",
}
OAUTH_ENV = {"MIMECAST_CLIENT_ID": "client-id-value", "MIMECAST_CLIENT_SECRET": "client-secret"}


def test_api1_settings_from_environment() -> None:
    settings = load_settings(HMAC_ENV)
    assert settings.base_url == "https://us-api.mimecast.com"
    assert isinstance(settings.credentials, HmacCredentials)
    assert settings.credentials.app_id == "app-id-value"
    assert settings.host == "us-api.mimecast.com"


def test_api2_settings_default_to_the_gateway() -> None:
    settings = load_settings(OAUTH_ENV)
    assert isinstance(settings.credentials, OAuthCredentials)
    assert settings.base_url == API2_DEFAULT_BASE_URL


def test_api1_wins_when_both_sets_present_unless_told() -> None:
    both = {**HMAC_ENV, **OAUTH_ENV}
    assert isinstance(load_settings(both).credentials, HmacCredentials)
    chosen = load_settings({**both, "MIMECAST_AUTH": "2.0"})
    assert isinstance(chosen.credentials, OAuthCredentials)
    assert chosen.base_url == "https://us-api.mimecast.com"


@pytest.mark.parametrize("missing", sorted(k for k in HMAC_ENV if k != "MIMECAST_BASE_URL"))
def test_missing_api1_value_is_named(missing: str) -> None:
    env = {k: v for k, v in HMAC_ENV.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load_settings(env)


def test_missing_base_url_for_api1_names_regions() -> None:
    env = {k: v for k, v in HMAC_ENV.items() if k != "MIMECAST_BASE_URL"}
    with pytest.raises(ConfigError, match=r"MIMECAST_BASE_URL.*region"):
        load_settings(env)


def test_missing_oauth_secret_is_named() -> None:
    with pytest.raises(ConfigError, match="MIMECAST_CLIENT_SECRET"):
        load_settings({"MIMECAST_CLIENT_ID": "x"})


def test_no_credentials_explains_every_way_and_the_demo() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({})
    text = str(info.value)
    for name in ("MIMECAST_ACCESS_KEY", "MIMECAST_CLIENT_ID", "MIMECAST_BASE_URL", "demo"):
        assert name in text


def test_secret_key_not_base64_is_named_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="MIMECAST_SECRET_KEY") as info:
        load_settings({**HMAC_ENV, "MIMECAST_SECRET_KEY": "not*base64!"})
    assert "not*base64!" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "pattern"),
    [
        ("us-api.mimecast.com", "absolute URL"),
        ("ftp://us-api.mimecast.com", "absolute URL"),
        ("https://us-api.mimecast.com/api/x", "without a path"),
        ("https://user:pw@us-api.mimecast.com", "user name or password"),
        ("http://us-api.mimecast.com", "plain http"),
        ("http://10.0.0.5:8080", "plain http"),
    ],
)
def test_bad_base_url_is_refused(url: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as info:
        load_settings({**HMAC_ENV, "MIMECAST_BASE_URL": url})
    assert "MIMECAST_BASE_URL" in str(info.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"])
def test_plain_http_allowed_for_loopback(url: str) -> None:
    assert load_settings({**HMAC_ENV, "MIMECAST_BASE_URL": url}).base_url == url


def test_bad_auth_choice() -> None:
    with pytest.raises(ConfigError, match="MIMECAST_AUTH"):
        load_settings({**HMAC_ENV, "MIMECAST_AUTH": "3"})


def test_reprs_hide_secrets() -> None:
    settings = load_settings({**HMAC_ENV})
    text = repr(settings)
    for secret in ("access-key-value", SECRET_B64, "app-key-value"):
        assert secret not in text
    assert "client-secret" not in repr(load_settings(OAUTH_ENV))


def test_config_file_with_env_reference_and_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mimecast.toml"
    path.write_text(
        "[mimecast]\n"
        'base_url = "https://eu-api.mimecast.com"\n'
        'access_key = "file-access"\n'
        'secret_key = { env = "VAULT_SECRET" }\n'
        'app_id = "file-app"\n'
        'app_key = { env = "VAULT_APP_KEY" }\n'
    )
    path.chmod(0o600)
    monkeypatch.setenv("VAULT_SECRET", SECRET_B64)
    monkeypatch.setenv("VAULT_APP_KEY", "vault-app-key")
    settings = load_settings({"MIMECAST_APP_ID": "env-app"}, config_file=path)
    assert settings.base_url == "https://eu-api.mimecast.com"
    assert isinstance(settings.credentials, HmacCredentials)
    assert settings.credentials.app_key == "vault-app-key"
    assert settings.credentials.app_id == "env-app"  # environment overrides the file


def test_config_file_from_environment_variable(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[mimecast]\nclient_id = "a"\nclient_secret = { env = "HOME" }\n')
    settings = load_settings({"MIMECAST_CONFIG": str(path)})
    assert isinstance(settings.credentials, OAuthCredentials)
    assert settings.credentials.client_secret == os.environ["HOME"]


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("not toml [", "not valid TOML"),
        ("[other]\nx = 1\n", r"\[mimecast\] table"),
        ('[mimecast]\nsecret = "x"\n', "unknown key"),
        ("[mimecast]\napp_id = 5\n", "must be a string"),
        ('[mimecast]\nsecret_key = { env = "NO_SUCH_VARIABLE_X" }\n', "NO_SUCH_VARIABLE_X"),
    ],
)
def test_bad_config_file(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=pattern):
        load_settings({}, config_file=path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({}, config_file=tmp_path / "absent.toml")


def test_world_readable_config_with_secrets_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[mimecast]\nbase_url = "https://us-api.mimecast.com"\naccess_key = "a"\n'
        f'secret_key = "{SECRET_B64}"\napp_id = "b"\napp_key = "c"\n'
    )
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        load_settings({}, config_file=path)
    assert "chmod 600" in caplog.text
    assert SECRET_B64 not in caplog.text
    caplog.clear()
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        load_settings({}, config_file=path)
    assert "chmod 600" not in caplog.text


def test_each_endpoint_family_gets_the_scheme_it_is_known_on() -> None:
    both = {**HMAC_ENV, **OAUTH_ENV}
    campaigns = load_settings(both)
    behaviour = load_settings(both, purpose="behaviour")
    assert isinstance(campaigns.credentials, HmacCredentials)
    assert campaigns.base_url == "https://us-api.mimecast.com"
    # The behaviour endpoints are in API 2.0's catalogue: the gateway, not the 1.0 host.
    assert isinstance(behaviour.credentials, OAuthCredentials)
    assert behaviour.base_url == "https://api.services.mimecast.com"
    gateway = load_settings(
        {**both, "MIMECAST_API2_BASE_URL": "https://gw.example.com"}, purpose="behaviour"
    )
    assert gateway.base_url == "https://gw.example.com"
    # Either choice can be overridden.
    told = load_settings({**both, "MIMECAST_BEHAVIOUR_AUTH": "1.0"}, purpose="behaviour")
    assert told == campaigns
    # With one set, every family uses it.
    assert load_settings(HMAC_ENV, purpose="behaviour") == load_settings(HMAC_ENV)
    assert load_settings(OAUTH_ENV, purpose="behaviour") == load_settings(OAUTH_ENV)


def test_bad_behaviour_scheme_and_purpose_are_named() -> None:
    with pytest.raises(ConfigError, match=r"MIMECAST_BEHAVIOUR_AUTH must be 1\.0 or 2\.0"):
        load_settings({**HMAC_ENV, "MIMECAST_BEHAVIOUR_AUTH": "3"}, purpose="behaviour")
    with pytest.raises(ValueError, match="purpose must be one of campaigns, behaviour"):
        load_settings(HMAC_ENV, purpose="phishing")
