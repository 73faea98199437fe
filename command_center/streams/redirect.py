"""307 to the process holding a stream, with a short ticket that stands in for the bearer token.

Browsers drop ``Authorization`` when a redirect crosses origins (the Fetch standard), and every process
has an origin of its own, so the redirect carries ``?ticket=``: an HMAC (keyed with ``CC_SECRET_KEY``,
which all processes share) over the caller's token id, the request path and an expiry 30 s ahead. The
owner accepts it for that path only and still checks that the token is neither revoked nor expired.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.auth.models import AccessToken
from command_center.auth.roles import Principal
from command_center.auth.service import to_principal
from command_center.db import utcnow
from command_center.errors import NotAuthenticated
from command_center.settings import Settings

TICKET_SECONDS = 30


def _sign(settings: Settings, token_id: str, path: str, expires: int) -> str:
    key = hashlib.sha256(b"whip-redirect:" + settings.secret_key.encode()).digest()
    message = f"{token_id}|{path}|{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def make_ticket(
    settings: Settings, principal: Principal, path: str, clock: Callable[[], float] = time.time
) -> str:
    expires = int(clock()) + TICKET_SECONDS
    return f"{principal.token_id}.{expires}.{_sign(settings, principal.token_id, path, expires)}"


async def principal_for_ticket(
    session: AsyncSession,
    settings: Settings,
    ticket: str,
    path: str,
    clock: Callable[[], float] = time.time,
) -> Principal:
    """The principal a redirect ticket stands for; 401 when it is forged, expired or for another path."""
    parts = ticket.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or len(ticket) > 200:
        raise NotAuthenticated("malformed redirect ticket")
    token_id, expires, signature = parts[0], int(parts[1]), parts[2]
    if not hmac.compare_digest(signature, _sign(settings, token_id, path, expires)):
        raise NotAuthenticated("redirect ticket does not match this request")
    if expires < clock():
        raise NotAuthenticated("redirect ticket expired; send the request again")
    row = await session.get(AccessToken, token_id)
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow() or not row.user.active:
        raise NotAuthenticated("the token behind this redirect ticket is no longer valid")
    return to_principal(row.user, row.id)


def redirect_to_owner(
    request: Request, owner_url: str, principal: Principal, settings: Settings
) -> RedirectResponse:
    """``307 Temporary Redirect`` keeps the method and the SDP body (RFC 9725 section 4.6)."""
    path = request.url.path
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "ticket"]
    query.append(("ticket", make_ticket(settings, principal, path)))
    return RedirectResponse(f"{owner_url}{path}?{urlencode(query)}", status_code=307)
