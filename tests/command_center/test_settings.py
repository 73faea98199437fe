from pathlib import Path

import pytest
from pydantic import ValidationError

from command_center.settings import PLACEHOLDER_SECRET, Settings, redact_url


def test_defaults_need_nothing_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("CC_DATABASE_URL", "CC_BROKER_URL", "CC_SECRET_KEY"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings(development=True)
    assert settings.database_url == "sqlite+aiosqlite:///./var/command_center.db"
    assert settings.broker_url == "memory://"
    assert settings.recordings_dir == Path("./var/recordings")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.timezone == "Asia/Shanghai"
    assert settings.language == "zh-CN"
    assert (settings.phone_report_minutes, settings.written_report_minutes) == (10, 30)


def test_placeholder_secret_is_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CC_SECRET_KEY", raising=False)
    monkeypatch.delenv("CC_DEVELOPMENT", raising=False)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "CC_SECRET_KEY" in str(caught.value)
    assert Settings(development=True).secret_key == PLACEHOLDER_SECRET


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("CC_BROKER_URL", "redis://127.0.0.1:6379/2")
    monkeypatch.setenv("CC_PORT", "9001")
    monkeypatch.setenv("CC_LANGUAGE", "en")
    settings = Settings()
    assert settings.broker_url == "redis://127.0.0.1:6379/2"
    assert settings.port == 9001
    assert settings.language == "en"


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("timezone", "Mars/Olympus", "CC_TIMEZONE"),
        ("port", 0, "port"),
        ("secret_key", "short", "16"),
        ("webrtc_stun_server", "http://stun.example.org", "webrtc_stun_server"),
    ],
)
def test_bad_values_name_the_setting(field: str, value: object, needle: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(development=True, **{field: value})
    assert needle in str(caught.value)


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("postgresql+asyncpg://cc:s3cret@db:5432/cc") == "postgresql+asyncpg://cc:***@db:5432/cc"
    assert redact_url("sqlite+aiosqlite:///./var/x.db") == "sqlite+aiosqlite:///./var/x.db"
