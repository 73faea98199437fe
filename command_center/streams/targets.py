"""The media allow-list: the only other centres (cascade) and cameras (pull) the platform ever contacts.

A user names a target; the platform contacts the *configured* address that matches it, never the text the
user typed: same scheme, host and port, and a path under the configured one (``CC_MEDIA_ALLOWED_TARGETS``).
Anything else is refused before a single packet leaves, so the platform cannot be turned into a proxy into
the internal network (SSRF).
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from command_center.errors import Forbidden
from command_center.settings import Settings

_DEFAULT_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtmp": 1935}


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def _path(parts: SplitResult) -> str:
    return parts.path.rstrip("/") + "/"


def resolve(settings: Settings, url: str, *, schemes: tuple[str, ...], field: str = "source") -> str:
    """The allow-listed entry that ``url`` falls under (the string from the settings); else 403."""
    try:
        wanted = urlsplit(url.strip())
        origin = _origin(wanted)
    except ValueError:
        wanted, origin = None, None
    if wanted is not None and origin is not None and wanted.username is None and origin[0] in schemes:
        for entry in settings.media_allowed_targets:
            allowed = urlsplit(entry)
            if _origin(allowed) == origin and _path(wanted).startswith(_path(allowed)):
                return entry.rstrip("/")
    raise Forbidden(
        f"{field} is not on the media allow-list; an administrator lists the centres and cameras the "
        "platform may contact in CC_MEDIA_ALLOWED_TARGETS",
        field=field,
        params={"rule": "media.allow_list"},
    )
