"""Settings: defaults, then ``MEDISAC_*`` environment variables, then flags.

One :class:`Settings` object is built at start-up and checked before any work
begins, so a bad value fails fast with the name of the setting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medisac.errors import ConfigError

DEFAULT_DB_FILE = "medisac.db"
# Decompressed bytes read from one input before it is rejected; protects
# against compression bombs. 256 MiB fits any real feed seen so far.
DEFAULT_MAX_INPUT_BYTES = 256 * 1024 * 1024


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret text; call only where the value is used."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def default_db_url(directory: Path | None = None) -> str:
    """Return the SQLite URL of ``medisac.db`` in ``directory`` (default: cwd)."""
    path = (directory or Path.cwd()) / DEFAULT_DB_FILE
    return f"sqlite:///{path}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting medisac reads; field names match ``MEDISAC_<NAME>``."""

    db: str = field(default_factory=default_db_url)
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES
    operator_key: Secret | None = None
    host: str = "127.0.0.1"
    port: int = 8700
    # Largest page a TAXII client may ask for, and the page size when it asks none.
    taxii_max_page: int = 10_000
    taxii_default_page: int = 1_000
    # Live delivery. Without ``redis`` everything runs in one process.
    redis: Secret | None = None
    redis_prefix: str = "medisac"
    # host:port pairs that webhooks may reach although the address is
    # loopback, private, link-local or otherwise not global.
    webhook_allow: str = ""
    # PEM file of certificate authorities for webhook and SMTP servers,
    # added to the system's; empty means the system's only.
    ca_file: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: Secret | None = None
    smtp_from: str = ""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``MEDISAC_*`` variables, then ``overrides``.

        ``None`` overrides are ignored, so unset command-line flags fall through.
        Raises :class:`ConfigError` naming the variable and the expected type.
        """
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for name, kind in (
            ("db", str),
            ("max_input_bytes", int),
            ("operator_key", Secret),
            ("host", str),
            ("port", int),
            ("taxii_max_page", int),
            ("taxii_default_page", int),
            ("redis", Secret),
            ("redis_prefix", str),
            ("webhook_allow", str),
            ("ca_file", str),
            ("smtp_host", str),
            ("smtp_port", int),
            ("smtp_user", str),
            ("smtp_password", Secret),
            ("smtp_from", str),
        ):
            raw = env.get(f"MEDISAC_{name.upper()}")
            if raw is None or raw == "":
                continue
            values[name] = _convert(f"MEDISAC_{name.upper()}", raw, kind)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = replace(cls(), **values)
        settings.check()
        return settings

    def check(self) -> None:
        """Raise :class:`ConfigError` if any value is out of range."""
        if self.max_input_bytes < 1024:
            raise ConfigError(
                "MEDISAC_MAX_INPUT_BYTES must be at least 1024, "
                f"not {self.max_input_bytes}"
            )
        if not 0 < self.port < 65536:
            raise ConfigError(f"MEDISAC_PORT must be 1-65535, not {self.port}")
        if not 0 < self.taxii_default_page <= self.taxii_max_page:
            raise ConfigError(
                "MEDISAC_TAXII_DEFAULT_PAGE must be positive and at most "
                f"MEDISAC_TAXII_MAX_PAGE ({self.taxii_max_page})"
            )
        if self.redis is not None and not self.redis.reveal().startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ConfigError(
                "MEDISAC_REDIS must be a URL such as redis://127.0.0.1:6379/0"
            )
        if not 0 < self.smtp_port < 65536:
            raise ConfigError(
                f"MEDISAC_SMTP_PORT must be 1-65535, not {self.smtp_port}"
            )
        if "://" not in self.db:
            raise ConfigError(
                f"MEDISAC_DB must be a database URL such as sqlite:///medisac.db "
                f"or postgresql://user@host/db, not {self.db!r}"
            )


def _convert(name: str, raw: str, kind: type) -> Any:
    if kind is int:
        try:
            return int(raw.replace("_", ""))
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if kind is Secret:
        return Secret(raw)
    return raw
