"""Typed configuration for the whole platform, read from ``CC_*`` environment variables.

The defaults run with nothing installed: a SQLite file under ``./var/``, the in-memory broker and a local
recordings folder. PostgreSQL and Redis are switched on by URL alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "change-me-development-only"  # noqa: S105 - a marker that is refused in production


class Settings(BaseSettings):
    """Everything a process needs to know; one instance per app, never a module global."""

    model_config = SettingsConfigDict(env_prefix="CC_", env_file=None, extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./var/command_center.db"
    broker_url: str = "memory://"
    recordings_dir: Path = Path("./var/recordings")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    timezone: str = "Asia/Shanghai"
    language: Literal["zh-CN", "en"] = "zh-CN"

    secret_key: str = PLACEHOLDER_SECRET
    development: bool = False
    token_ttl_seconds: int = Field(default=12 * 3600, ge=60)

    # Hub limits (DESIGN.md section 4).
    ws_max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    ws_auth_timeout_seconds: float = Field(default=5.0, gt=0)
    ws_send_queue: int = Field(default=1024, ge=8)
    hub_history_size: int = Field(default=1000, ge=10)
    hub_history_seconds: int = Field(default=24 * 3600, ge=60)
    ws_publish_rate: float = Field(default=50.0, gt=0, description="publishes per second per connection")

    # Domain rules that are data, not code (DOMAIN.md): minutes.
    # Minutes; fractions are allowed so rehearsals and tests can run the same rules on a shorter clock.
    phone_report_minutes: float = Field(default=10, gt=0)
    written_report_minutes: float = Field(default=30, gt=0)
    deadline_warning_minutes: float = Field(default=3, ge=0)
    deadline_sweep_seconds: float = Field(default=5.0, gt=0)
    drill_tick_seconds: float = Field(default=1.0, gt=0)
    # A crashed process's drills are resumed by another one after this long.
    drill_lease_seconds: float = Field(default=15.0, gt=0)
    # The deadline sweeper and the drill runner; some tests drive them by hand instead.
    background_tasks: bool = True
    max_text_length: int = Field(default=4000, ge=100)

    # The map (一张图). A tile URL template of the office's own GIS or 天地图, e.g.
    # "https://gis.example/tiles/{z}/{x}/{y}.png"; empty = the offline view (scale, grid, labels), which
    # loads nothing from outside. The tiles' coordinate system decides how WGS-84 positions are shifted.
    map_tile_url: str = Field(default="", max_length=1000)
    map_tile_attribution: str = Field(default="", max_length=200)
    map_crs: Literal["WGS-84", "GCJ-02", "CGCS2000"] = "WGS-84"
    map_center_lat: float = Field(default=30.6598, ge=-90, le=90)
    map_center_lon: float = Field(default=104.0633, ge=-180, le=180)
    map_zoom: int = Field(default=14, ge=1, le=20)
    # An officer's position greys after this long without an update and leaves the map after the second.
    officer_stale_seconds: float = Field(default=60, gt=0)
    officer_gone_seconds: float = Field(default=600, gt=0)
    # Rectification evidence files (stored by SHA-256 under the folder).
    evidence_dir: Path = Path("./var/evidence")
    evidence_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"CC_TIMEZONE={value!r} is not a known IANA time zone, e.g. Asia/Shanghai"
            ) from exc
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.secret_key == PLACEHOLDER_SECRET and not self.development:
            raise ValueError(
                "CC_SECRET_KEY is the development placeholder; set CC_SECRET_KEY to a long random value "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`) "
                "or set CC_DEVELOPMENT=true for a local trial"
            )
        if len(self.secret_key) < 16:
            raise ValueError("CC_SECRET_KEY must be at least 16 characters long")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def database_url_redacted(self) -> str:
        return redact_url(self.database_url)

    @property
    def broker_url_redacted(self) -> str:
        return redact_url(self.broker_url)


def redact_url(url: str) -> str:
    """Hide the password in a URL so it can be printed or logged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
