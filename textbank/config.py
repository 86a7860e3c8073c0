"""Settings read once from the environment and validated in the app factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from textbank.compliance.quiet_hours import SendWindow
from textbank.replies.keywords import DEFAULT_OPT_OUT_PHRASES
from textbank.twilio.attempts import DEFAULT_QUARANTINE

SANDBOX_NUMBER = "+15005550006"
DEV_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - refused in production
MIN_SECRET_LENGTH = 32
# Keys people paste from tutorials and .env examples; anyone can sign a cookie with them.
KNOWN_SECRETS = frozenset(
    {
        DEV_SECRET_KEY, "dev", "development", "secret", "secret-key", "secret_key",
        "secretkey", "changeme", "change-me", "change_me", "password", "textbank",
        "your-secret-key", "your_secret_key", "super-secret", "supersecret",
        "please-change-me", "replace-me", "default", "insecure", "test", "flask",
    }
)  # fmt: skip


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _window(value: str) -> SendWindow:
    try:
        return SendWindow.parse(value)
    except ValueError as exc:
        raise ConfigError(f"TEXTBANK_SEND_WINDOW: {exc}") from exc


def _int(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from exc
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {number}")
    return number


def _flag(value: str | None, name: str, default: bool) -> bool:
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def check_secret_key(key: str) -> None:
    """Refuse a SECRET_KEY someone could guess: it signs every session cookie."""
    hint = "generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"
    folded = key.strip().lower()
    if folded in KNOWN_SECRETS or any(word in folded for word in ("insecure", "changeme")):
        raise ConfigError(f"SECRET_KEY is a well-known example value; {hint}")
    if len(key) < MIN_SECRET_LENGTH:
        raise ConfigError(f"SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters; {hint}")
    if len(set(key)) < 10:
        raise ConfigError(f"SECRET_KEY repeats too few characters to be random; {hint}")


def normalize_database_url(url: str) -> str:
    """Accept the postgres:// URLs hosting platforms hand out and pick the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


@dataclass(frozen=True)
class Settings:
    """Every knob textbank reads from the environment."""

    env: str
    database_url: str
    redis_url: str | None
    secret_key: str
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    twilio_from_number: str | None
    twilio_messaging_service_sid: str | None
    twilio_api_url: str
    public_base_url: str
    send_rate: float
    send_window: SendWindow
    send_concurrency: int
    claim_ttl: float
    twilio_timeout: float
    reply_window_days: int
    help_text: str | None
    opt_out_phrases: tuple[str, ...]
    org_name: str
    instance_path: str
    send_quarantine: float = DEFAULT_QUARANTINE
    call_rate: float = 1.0
    call_concurrency: int = 30
    press_9_stops_texts: bool = True

    @property
    def is_dev(self) -> bool:
        return self.env in ("development", "test")

    def warnings(self) -> list[str]:
        """What an operator must hear at start: a real database run on development secrets."""
        found = []
        if self.env == "development" and not self.database_url.startswith("sqlite"):
            found.append(
                "TEXTBANK_ENV=development with a DATABASE_URL: this instance uses development "
                "secrets and settings (a guessable SECRET_KEY when none is set, insecure "
                "cookies); never expose it. Set TEXTBANK_ENV=production."
            )
        return found

    @classmethod
    def from_env(cls, environ: Mapping[str, str], instance_path: str) -> Settings:
        """Build settings from an environment mapping; raise ConfigError naming what is wrong."""
        get = lambda name: (environ.get(name) or "").strip() or None  # noqa: E731

        database_url = get("DATABASE_URL")
        env = get("TEXTBANK_ENV") or ("production" if database_url else "development")
        if env not in ("development", "test", "production"):
            raise ConfigError(f"TEXTBANK_ENV must be development, test or production, got {env!r}")
        if not database_url:
            if env == "production":
                raise ConfigError("DATABASE_URL is required in production")
            database_url = "sqlite:///" + str(Path(instance_path) / "textbank.sqlite3")
        database_url = normalize_database_url(database_url)

        redis_url = get("REDIS_URL")
        if not redis_url and env == "production":
            raise ConfigError("REDIS_URL is required in production")

        secret_key = get("SECRET_KEY")
        if not secret_key:
            if env == "production":
                raise ConfigError("SECRET_KEY is required in production")
            secret_key = DEV_SECRET_KEY
        elif env == "production":
            check_secret_key(secret_key)

        try:
            send_rate = float(get("TEXTBANK_SEND_RATE") or "50")
        except ValueError as exc:
            raise ConfigError("TEXTBANK_SEND_RATE must be a number of messages per second") from exc
        if send_rate <= 0:
            raise ConfigError("TEXTBANK_SEND_RATE must be greater than zero")

        sid, token = get("TWILIO_ACCOUNT_SID"), get("TWILIO_AUTH_TOKEN")
        if bool(sid) != bool(token):
            raise ConfigError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set together")
        if env == "production" and not sid:
            raise ConfigError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required in production")
        from_number, service_sid = get("TWILIO_FROM_NUMBER"), get("TWILIO_MESSAGING_SERVICE_SID")
        if env == "production" and not (from_number or service_sid):
            raise ConfigError(
                "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID is required in production"
            )

        try:
            call_rate = float(get("TEXTBANK_CALL_RATE") or "1")
        except ValueError as exc:
            raise ConfigError("TEXTBANK_CALL_RATE must be a number of calls per second") from exc
        if not 0 < call_rate <= 1000:
            raise ConfigError("TEXTBANK_CALL_RATE must be above 0 and at most 1000")

        public_base_url = (get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000").rstrip("/")
        if not public_base_url.startswith(("http://", "https://")):
            raise ConfigError(f"PUBLIC_BASE_URL must be an http(s) URL, got {public_base_url!r}")

        return cls(
            env=env,
            database_url=database_url,
            redis_url=redis_url,
            secret_key=secret_key,
            # The sandbox carrier accepts these well-known dev credentials.
            twilio_account_sid=sid or "AC" + "0" * 32,
            twilio_auth_token=token or "sandbox-auth-token",
            # Twilio's magic test number stands in for ours with the sandbox carrier.
            twilio_from_number=from_number or (None if service_sid else SANDBOX_NUMBER),
            twilio_messaging_service_sid=service_sid,
            twilio_api_url=(get("TWILIO_API_URL") or "https://api.twilio.com").rstrip("/"),
            public_base_url=public_base_url,
            send_rate=send_rate,
            send_window=_window(get("TEXTBANK_SEND_WINDOW") or "08:00-21:00"),
            send_concurrency=_int(
                get("TEXTBANK_SEND_CONCURRENCY") or "96", "TEXTBANK_SEND_CONCURRENCY", 1, 1000
            ),
            claim_ttl=float(
                _int(get("TEXTBANK_CLAIM_TTL") or "90", "TEXTBANK_CLAIM_TTL", 15, 3600)
            ),
            twilio_timeout=float(
                _int(get("TEXTBANK_TWILIO_TIMEOUT") or "10", "TEXTBANK_TWILIO_TIMEOUT", 1, 60)
            ),
            org_name=get("TEXTBANK_ORG_NAME") or "textbank",
            reply_window_days=_int(
                get("TEXTBANK_REPLY_WINDOW_DAYS") or "7", "TEXTBANK_REPLY_WINDOW_DAYS", 1, 365
            ),
            help_text=get("TEXTBANK_HELP_TEXT"),
            opt_out_phrases=DEFAULT_OPT_OUT_PHRASES
            + tuple(
                p.strip() for p in (get("TEXTBANK_OPT_OUT_PHRASES") or "").split(";") if p.strip()
            ),
            instance_path=instance_path,
            send_quarantine=float(
                _int(
                    get("TEXTBANK_SEND_QUARANTINE") or str(int(DEFAULT_QUARANTINE)),
                    "TEXTBANK_SEND_QUARANTINE",
                    1,
                    86400,
                )
            ),
            call_rate=call_rate,
            call_concurrency=_int(
                get("TEXTBANK_CALL_CONCURRENCY") or "30", "TEXTBANK_CALL_CONCURRENCY", 1, 10000
            ),
            press_9_stops_texts=_flag(
                get("TEXTBANK_PRESS_9_STOPS_TEXTS"), "TEXTBANK_PRESS_9_STOPS_TEXTS", True
            ),
        )


def current_environ() -> dict[str, str]:
    """The process environment, read at call time, never at import time."""
    return dict(os.environ)
