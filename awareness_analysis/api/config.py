"""Connection settings: where the Mimecast API is and which credentials to use.

Settings come from environment variables, optionally layered over a TOML config file:

==========================  ===========================================================
``MIMECAST_BASE_URL``       API base, e.g. ``https://us-api.mimecast.com`` (API 1.0 regional
                            host) or ``https://api.services.mimecast.com`` (API 2.0 gateway,
                            the default when only API 2.0 credentials are set).
``MIMECAST_ACCESS_KEY``     API 1.0 access key.
``MIMECAST_SECRET_KEY``     API 1.0 secret key (base64, as Mimecast issues it).
``MIMECAST_APP_ID``         API 1.0 application id.
``MIMECAST_APP_KEY``        API 1.0 application key.
``MIMECAST_CLIENT_ID``      API 2.0 OAuth client id.
``MIMECAST_CLIENT_SECRET``  API 2.0 OAuth client secret.
``MIMECAST_AUTH``           ``1.0`` or ``2.0``: which scheme the campaign endpoints use when
                            both are configured.
``MIMECAST_BEHAVIOUR_AUTH`` ``1.0`` or ``2.0``: which scheme the other Awareness Training
                            endpoints (phishing, SAFE score, watch list, performance, queue;
                            ``fetch --include``) use when both are configured.
``MIMECAST_API2_BASE_URL``  the API 2.0 gateway when both schemes are in use (default
                            ``https://api.services.mimecast.com``; ``MIMECAST_BASE_URL`` is
                            then API 1.0's regional host).
``MIMECAST_CONFIG``         path of a TOML config file (also ``--config`` on the CLI).
==========================  ===========================================================

When both complete credential sets are present, each endpoint family gets the scheme it is
known on: the campaign endpoints API 1.0 (recorded traffic; the API 2.0 gateway's support for
them is unconfirmed) and the other Awareness Training endpoints API 2.0 (they are listed in
API 2.0's catalogue). ``MIMECAST_AUTH`` and ``MIMECAST_BEHAVIOUR_AUTH`` override either
choice. With one credential set, every endpoint uses it.

The config file holds the same keys in lower case without the ``MIMECAST_`` prefix, under a
``[mimecast]`` table. A secret may name an environment variable instead of holding the value,
``secret_key = { env = "MY_VAULT_SECRET" }``. Environment variables override the file.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from awareness_analysis.errors import ConfigError

log = logging.getLogger(__name__)

ENV_PREFIX = "MIMECAST_"
API2_DEFAULT_BASE_URL = "https://api.services.mimecast.com"
REGION_HOSTS = "eu, de, us, usb, ca, za, au or je"

HMAC_FIELDS = ("access_key", "secret_key", "app_id", "app_key")
OAUTH_FIELDS = ("client_id", "client_secret")
_SECRET_FIELDS = frozenset({"secret_key", "app_key", "client_secret", "access_key"})
_ALL_FIELDS = (
    "base_url",
    *HMAC_FIELDS,
    *OAUTH_FIELDS,
    "auth",
    "behaviour_auth",
    "api2_base_url",
)
#: Endpoint families and the scheme each uses by default when both credential sets are set.
PURPOSES = {"campaigns": "1.0", "behaviour": "2.0"}


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def _masked(value: str) -> str:
    # Show just enough to tell two keys apart in a support conversation, never the secret.
    return f"<{len(value)} chars>" if value else "<empty>"


@dataclass(frozen=True)
class HmacCredentials:
    """API 1.0 keys. ``repr`` shows only the access key's length, never a key."""

    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    app_id: str
    app_key: str = field(repr=False)

    @property
    def scheme(self) -> str:
        return "1.0"

    def secret_key_bytes(self) -> bytes:
        return base64.b64decode(self.secret_key, validate=True)

    def __repr__(self) -> str:
        return (
            f"HmacCredentials(access_key={_masked(self.access_key)}, secret_key=<hidden>, "
            f"app_id={self.app_id!r}, app_key=<hidden>)"
        )


@dataclass(frozen=True)
class OAuthCredentials:
    """API 2.0 client credentials. ``repr`` never shows the secret."""

    client_id: str
    client_secret: str = field(repr=False)

    @property
    def scheme(self) -> str:
        return "2.0"

    def __repr__(self) -> str:
        return f"OAuthCredentials(client_id={self.client_id!r}, client_secret=<hidden>)"


Credentials = HmacCredentials | OAuthCredentials


@dataclass(frozen=True)
class Settings:
    """Everything the client needs to reach one Mimecast account."""

    base_url: str
    credentials: Credentials
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout_s, self.read_timeout_s)


def is_loopback_host(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def validate_base_url(url: str, *, source: str = env_name("base_url")) -> str:
    """Return ``url`` without a trailing slash, or raise naming ``source`` and the fix."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(
            f"{source} must be an absolute URL such as https://us-api.mimecast.com (got {url!r})."
        )
    if parts.username or parts.password:
        raise ConfigError(f"{source} must not contain a user name or password.")
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ConfigError(
            f"{source} must be the API base only, without a path, e.g. "
            f"https://us-api.mimecast.com (got {url!r})."
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"{source} uses plain http:// for {parts.hostname}; credentials would travel "
            "unencrypted. Use https:// (plain http is allowed only for loopback test servers)."
        )
    return f"{parts.scheme}://{parts.netloc}"


def _read_config_file(path: Path) -> dict[str, str]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"Config file {path} does not exist. Fix the path given by --config or "
            f"{env_name('config')}, or unset it to use environment variables only."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.") from None
    table = raw.get("mimecast")
    if not isinstance(table, dict):
        raise ConfigError(f"Config file {path} needs a [mimecast] table holding the settings.")
    unknown = sorted(set(table) - set(_ALL_FIELDS))
    if unknown:
        raise ConfigError(
            f"Config file {path} has unknown key(s) {', '.join(unknown)} under [mimecast]; "
            f"allowed keys: {', '.join(_ALL_FIELDS)}."
        )
    values: dict[str, str] = {}
    for key, value in table.items():
        if isinstance(value, dict) and set(value) == {"env"}:
            var = str(value["env"])
            if var not in os.environ:
                raise ConfigError(
                    f"Config file {path} takes {key} from environment variable {var}, "
                    "which is not set."
                )
            values[key] = os.environ[var]
        elif isinstance(value, str):
            values[key] = value
        else:
            raise ConfigError(
                f'Config file {path}: {key} must be a string or {{ env = "VARIABLE" }}.'
            )
    if any(key in _SECRET_FIELDS for key in table if isinstance(table[key], str)):
        _warn_if_readable_by_others(path)
    return values


def _warn_if_readable_by_others(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning(
            "Config file %s holds secrets and can be read by other users; "
            "restrict it with: chmod 600 %s",
            path,
            path,
        )


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
    *,
    purpose: str = "campaigns",
) -> Settings:
    """Build :class:`Settings` from ``environ`` (default ``os.environ``) and a config file.

    ``purpose`` is the endpoint family the settings are for: ``campaigns`` (the campaign
    endpoints) or ``behaviour`` (the other Awareness Training endpoints); with both credential
    sets configured, each family gets its scheme (see the module docstring).
    Raises :class:`ConfigError` naming the variable that is missing or malformed.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}.")
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    file_path = config_file or env.get(env_name("config"))
    if file_path:
        values.update(_read_config_file(Path(file_path).expanduser()))
    for name in _ALL_FIELDS:
        if env.get(env_name(name), "").strip():
            values[name] = env[env_name(name)].strip()

    hmac_present = [name for name in HMAC_FIELDS if values.get(name)]
    oauth_present = [name for name in OAUTH_FIELDS if values.get(name)]
    for name in ("auth", "behaviour_auth"):
        if values.get(name, "").strip() not in ("", "1.0", "2.0"):
            raise ConfigError(f"{env_name(name)} must be 1.0 or 2.0 (got {values[name]!r}).")
    both = len(hmac_present) == len(HMAC_FIELDS) and len(oauth_present) == len(OAUTH_FIELDS)

    def scheme_for(family: str) -> str:
        field_name = "auth" if family == "campaigns" else "behaviour_auth"
        chosen = values.get(field_name, "").strip()
        return chosen or (PURPOSES[family] if both else "")

    wanted = scheme_for(purpose)
    # MIMECAST_BASE_URL is API 1.0's regional host whenever some family uses API 1.0.
    api1_in_use = both and "1.0" in {scheme_for(family) for family in PURPOSES}

    if not hmac_present and not oauth_present:
        raise ConfigError(
            "No Mimecast credentials found. Set API 1.0 keys ("
            + ", ".join(env_name(n) for n in HMAC_FIELDS)
            + ") or API 2.0 client credentials ("
            + ", ".join(env_name(n) for n in OAUTH_FIELDS)
            + "), plus MIMECAST_BASE_URL, in the environment or a config file "
            "(--config / MIMECAST_CONFIG). To try the tool without an account, run "
            "`awareness-analysis demo --out demo-store`."
        )

    use_oauth = wanted == "2.0" or (wanted == "" and not hmac_present)
    if use_oauth:
        _require_all(values, OAUTH_FIELDS, "API 2.0")
        credentials: Credentials = OAuthCredentials(values["client_id"], values["client_secret"])
        own_base = None if api1_in_use else values.get("base_url")
        base_url = values.get("api2_base_url") or own_base or API2_DEFAULT_BASE_URL
    else:
        _require_all(values, HMAC_FIELDS, "API 1.0")
        credentials = HmacCredentials(
            access_key=values["access_key"],
            secret_key=values["secret_key"],
            app_id=values["app_id"],
            app_key=values["app_key"],
        )
        try:
            credentials.secret_key_bytes()
        except (binascii.Error, ValueError):
            raise ConfigError(
                f"{env_name('secret_key')} is not valid base64. Paste the secret key exactly "
                "as the Mimecast Administration Console showed it."
            ) from None
        if not values.get("base_url"):
            raise ConfigError(
                f"{env_name('base_url')} is not set. API 1.0 needs your account's regional "
                f"host, https://<region>-api.mimecast.com with region {REGION_HOSTS}."
            )
        base_url = values["base_url"]
    return Settings(base_url=validate_base_url(base_url), credentials=credentials)


def _require_all(values: Mapping[str, str], names: tuple[str, ...], scheme: str) -> None:
    missing = [env_name(n) for n in names if not values.get(n)]
    if missing:
        raise ConfigError(
            f"Incomplete {scheme} credentials: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set."
        )
