"""Settings come from the environment and bad values are named."""

import pytest

from textbank import create_app
from textbank.config import DEV_SECRET_KEY, ConfigError, Settings

STRONG_KEY = "7f3c9a1e5b2d8046f1a9c3e7b5d20864"
PRODUCTION = {
    "DATABASE_URL": "postgresql://db/tb",
    "REDIS_URL": "redis://r",
    "TWILIO_ACCOUNT_SID": "AC1",
    "TWILIO_AUTH_TOKEN": "t",
    "TWILIO_FROM_NUMBER": "+16175550100",
}


def test_postgres_scheme_from_hosting_platforms_is_accepted(tmp_path):
    s = Settings.from_env(
        {"DATABASE_URL": "postgres://u:p@db:5432/tb", "TEXTBANK_ENV": "test"}, str(tmp_path)
    )
    assert s.database_url == "postgresql+psycopg://u:p@db:5432/tb"


def test_dev_defaults_to_sqlite_in_instance_folder(tmp_path):
    s = Settings.from_env({}, str(tmp_path))
    assert s.env == "development"
    assert s.database_url == f"sqlite:///{tmp_path}/textbank.sqlite3"
    assert s.redis_url is None


@pytest.mark.parametrize("missing", ["SECRET_KEY", "REDIS_URL", "TWILIO_ACCOUNT_SID"])
def test_production_requires_real_settings(tmp_path, missing):
    env = {
        "DATABASE_URL": "postgresql://db/tb",
        "REDIS_URL": "redis://r",
        "SECRET_KEY": STRONG_KEY,
        "TWILIO_ACCOUNT_SID": "AC1",
        "TWILIO_AUTH_TOKEN": "t",
        "TWILIO_FROM_NUMBER": "+16175550100",
    }
    env.pop(missing)
    if missing == "TWILIO_ACCOUNT_SID":
        env.pop("TWILIO_AUTH_TOKEN")
    with pytest.raises(ConfigError, match=missing):
        Settings.from_env(env, str(tmp_path))


@pytest.mark.parametrize("value", ["8-21", "21:00-08:00", "08:00-25:00"])
def test_bad_send_window_is_named(tmp_path, value):
    with pytest.raises(ConfigError, match=f"TEXTBANK_SEND_WINDOW.*{value}"):
        Settings.from_env({"TEXTBANK_SEND_WINDOW": value}, str(tmp_path))


def test_send_window_default_and_full_day(tmp_path):
    assert Settings.from_env({}, str(tmp_path)).send_window.start_minute == 8 * 60
    full = Settings.from_env({"TEXTBANK_SEND_WINDOW": "00:00-24:00"}, str(tmp_path))
    assert (full.send_window.start_minute, full.send_window.end_minute) == (0, 1440)


def test_send_rate_must_be_positive_number(tmp_path):
    with pytest.raises(ConfigError, match="TEXTBANK_SEND_RATE"):
        Settings.from_env({"TEXTBANK_SEND_RATE": "fast"}, str(tmp_path))
    with pytest.raises(ConfigError, match="TEXTBANK_SEND_RATE"):
        Settings.from_env({"TEXTBANK_SEND_RATE": "0"}, str(tmp_path))


@pytest.mark.parametrize(
    ("name", "value"),
    [("TEXTBANK_TWILIO_TIMEOUT", "0"), ("TEXTBANK_TWILIO_TIMEOUT", "soon"),
     ("TEXTBANK_SEND_CONCURRENCY", "0"), ("TEXTBANK_CLAIM_TTL", "5")],
)  # fmt: skip
def test_bad_sender_limits_are_named(tmp_path, name, value):
    with pytest.raises(ConfigError, match=f"{name} must be"):
        Settings.from_env({name: value}, str(tmp_path))


def test_twilio_timeout_default_and_set(tmp_path):
    assert Settings.from_env({}, str(tmp_path)).twilio_timeout == 10.0
    assert Settings.from_env({"TEXTBANK_TWILIO_TIMEOUT": "3"}, str(tmp_path)).twilio_timeout == 3.0


@pytest.mark.parametrize(
    "key",
    [DEV_SECRET_KEY, "changeme", "secret", "s3cr3t-but-short", "a" * 64,
     "your-secret-key", "CHANGEME-CHANGEME-CHANGEME-CHANGEME"],
)  # fmt: skip
def test_production_refuses_a_weak_or_known_secret_key(tmp_path, key):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env({**PRODUCTION, "SECRET_KEY": key}, str(tmp_path))


def test_production_accepts_a_random_secret_key(tmp_path):
    s = Settings.from_env({**PRODUCTION, "SECRET_KEY": STRONG_KEY}, str(tmp_path))
    assert s.secret_key == STRONG_KEY and s.warnings() == []


def test_development_on_a_real_database_says_so_loudly(tmp_path, caplog):
    s = Settings.from_env(
        {"TEXTBANK_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"},
        str(tmp_path),
    )
    assert s.warnings() == []  # the ordinary dev setup: nothing to shout about
    s = Settings.from_env(
        {"TEXTBANK_ENV": "development", "DATABASE_URL": "postgresql://db/tb"}, str(tmp_path)
    )
    [warning] = s.warnings()
    assert "development" in warning and "SECRET_KEY" in warning
    with caplog.at_level("WARNING"):
        create_app(s)
    assert any("TEXTBANK_ENV=development" in r.getMessage() for r in caplog.records)
