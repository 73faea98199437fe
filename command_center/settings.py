"""Typed configuration for the whole platform, read from ``CC_*`` environment variables.

The defaults run with nothing installed: a SQLite file under ``./var/``, the in-memory broker and a local
recordings folder. PostgreSQL and Redis are switched on by URL alone.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "change-me-development-only"  # noqa: S105 - a marker that is refused in production

RoleName = Literal["admin", "commander", "duty_officer", "field_officer", "organizer", "liaison", "evaluator"]
#: The command room (指挥中心): who moves incidents through their stages unless ``CC_STAGE_ROLES`` says else.
COMMAND_ROOM: tuple[RoleName, ...] = ("commander", "duty_officer")


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
    # The deployment's STUN server for the server's own WebRTC peers (the relay, cascades, drill video,
    # `stream publish`), e.g. "stun:stun.section.local:3478". Empty: host candidates only, as on the
    # section's own network; nothing ever contacts a public STUN server (``streaming.ice_configuration``).
    webrtc_stun_server: str = Field(default="", pattern=r"^(stun:[^\s]+)?$")
    # How long a process may answer a bearer token from memory (``auth/tokens.py``): the bound on how late
    # another process notices a revocation when the broker cannot tell it (DESIGN.md section 4: 1 s).
    token_cache_seconds: float = Field(default=1.0, ge=0, le=1.0)

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
    # Request bodies over this are refused with 413 before they are read (authentication included).
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=64 * 1024)

    # The section's rules where applying them is a judgement (README, "Settings": the section's rules).
    # Who moves an incident through its stages: the command room; others record what they did.
    stage_roles: list[RoleName] = Field(default_factory=lambda: list(COMMAND_ROOM), min_length=1)
    # A collective petition (集体访) is this many people or more; fewer is refused at creation.
    collective_min_headcount: int = Field(default=5, ge=1)
    # Warn the drill organizer this many days before a quarter ends without its double-blind drill.
    drill_cadence_warning_days: int = Field(default=30, ge=0)

    # Sign-in throttling (DESIGN.md section 3): failures per account and per client address within the
    # window lock further attempts out for the lock-out time (HTTP 429 with Retry-After).
    sign_in_max_failures: int = Field(default=5, ge=1)
    sign_in_max_failures_per_address: int = Field(default=20, ge=1)
    sign_in_window_seconds: float = Field(default=900, gt=0)
    sign_in_lockout_seconds: float = Field(default=900, gt=0)
    # Audit anchoring (DESIGN.md section 11): signed checkpoints outside the table, every interval.
    audit_anchor_path: Path = Path("./var/audit-anchor.jsonl")
    audit_checkpoint_seconds: float = Field(default=60, gt=0)
    # Double-blind drills (DESIGN.md section 8): the shortest window a start time is drawn from.
    drill_min_window_minutes: float = Field(default=60, ge=0)
    # Media (DESIGN.md section 9): the only other centres and pull sources the platform contacts,
    # as base URLs (JSON list), e.g. ["https://city-centre.example/", "rtsp://10.1.2.3:554/"].
    media_allowed_targets: list[str] = Field(default_factory=list)
    # Pages may fetch from these origins besides their own (JSON list): with several processes, every
    # process's public URL, since a WHIP/WHEP request is answered 307 to the process holding the stream.
    csp_connect_sources: list[str] = Field(default_factory=list)
    # Hub trust (issue 11): every op is rate-limited per connection; connections per user are capped
    # (close 4429); the memory broker's history has a byte budget; the outbox relay polls and prunes.
    ws_op_rate: float = Field(default=100.0, gt=0, description="frames of any op per second per connection")
    ws_max_connections_per_user: int = Field(default=20, ge=1)
    # With Redis, the cap counts every process: each renews its connections' seats every third of this,
    # and a killed process's seats lapse within it (hub/seats.py).
    ws_connection_lease_seconds: float = Field(default=30.0, ge=0.3)
    hub_history_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_retention_seconds: float = Field(default=3600.0, ge=0)

    # GB/T 28181 gateway (DESIGN.md section 10). It starts only when CC_SIP_PORT is set explicitly.
    sip_port: int = Field(default=5060, ge=0, le=65535)
    sip_host: str = "0.0.0.0"  # devices are on the network
    sip_domain: str = Field(
        default="3402000000", pattern=r"^\d{10}$", description="10-digit SIP domain/realm"
    )
    sip_media_host: str = Field(default="127.0.0.1", description="the address devices send RTP to (SDP c=)")
    sip_rtp_port_min: int = Field(default=30000, ge=1, le=65535)
    sip_rtp_port_max: int = Field(default=30499, ge=1, le=65535)
    sip_media_transport: Literal["UDP", "TCP"] = "UDP"
    sip_invite_timeout_seconds: float = Field(default=5.0, gt=0)
    sip_media_timeout_seconds: float = Field(default=8.0, gt=0)
    sip_keepalive_seconds: float = Field(default=60.0, gt=0, description="offline after 3 missed")
    sip_ssrc_check: bool = True
    sip_bye_on_last_viewer: bool = True
    sip_idle_seconds: float = Field(default=15.0, ge=0, description="BYE this long after the last viewer")

    @property
    def sip_enabled(self) -> bool:
        """True when CC_SIP_PORT was given (environment or constructor), not merely defaulted."""
        return "sip_port" in self.model_fields_set

    # Streaming: this process's address for others (WHIP/WHEP 307 to a stream's owner), relay capacity
    # (beyond it WHIP/WHEP answer 503 with Retry-After); pull sources come from media_allowed_targets.
    public_url: str | None = Field(default=None, description="e.g. http://10.0.0.5:8000; default host:port")
    #: Set by ``serve --workers N`` for its workers: how many processes answer at this public URL.
    serve_workers: int = Field(default=1, ge=1)
    relay_max_streams: int = Field(default=200, ge=1)
    relay_max_viewers: int = Field(default=1000, ge=1)
    relay_retry_after_seconds: int = Field(default=10, ge=1)
    # Push-to-talk: a floor held longer than this is taken back (ptt.released, reason "timeout").
    ptt_max_hold_seconds: float = Field(default=60.0, gt=0)

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
    def audit_key(self) -> bytes:
        """The audit log's root key, derived from CC_SECRET_KEY so no second secret has to be managed."""
        return hmac.new(self.secret_key.encode(), b"command-center/audit/v1", hashlib.sha256).digest()

    @property
    def own_url(self) -> str:
        """Where other processes and redirected clients reach this one."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

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
