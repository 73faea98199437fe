"""Who a bearer token belongs to, remembered for a second: resolving it is the request's costliest read.

Every request resolved its token in a read session of its own: 1.5-1.9 ms of the event loop, a seventh of an
incident write (benchmarks/RESULTS.md, "Session of 2026-11-30"). A client sends the same token again and
again, so each process keeps its recent answers for ``token_cache_seconds`` (at most 1 s) and forgets them:

- at once, in the committing process, when a transaction changes a user or one of its tokens (sign-out,
  ``revoke-tokens``, deactivation, a password reset): the ``after_commit`` below runs before the response
  is sent, so the next request of a signed-out client is refused as before;
- on the other processes when the revocation's ``control`` message reaches their hub (``forget_user``);
- in any case when the entry is older than ``token_cache_seconds``, or its token has expired.

Only answers are kept, never refusals: an unknown or revoked token is looked up every time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Mapper, Session, SessionTransaction, object_session

from command_center.auth import service
from command_center.auth.models import AccessToken, User
from command_center.auth.roles import Principal
from command_center.db import Database, utcnow
from command_center.errors import NotAuthenticated
from command_center.settings import Settings

#: Each database's cache, by its engine: a flush finds it from the connection it writes on.
_caches: WeakKeyDictionary[Engine, PrincipalCache] = WeakKeyDictionary()
#: The users a transaction changed, forgotten when it commits, and the cache to forget them in.
_CHANGED = "command_center.auth.tokens.changed"
_CACHE = "command_center.auth.tokens.cache"
_HOOKED = "command_center.auth.tokens.hooked"
#: Enough for every signed-in person and device of a section many times over; beyond it, the oldest go.
_MOST_ENTRIES = 10_000


class PrincipalCache:
    """Token hash -> (principal, when it was looked up); per database, so per app."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        #: Seconds, only compared with each other (tests stop it to tell forgetting from ageing).
        self.clock = clock
        self._entries: dict[str, tuple[Principal, float]] = {}
        #: Bumped by every forget: a lookup that began before one must not store what it read.
        self.generation = 0

    def get(self, token_hash: str, max_age: float) -> Principal | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        principal, looked_up = entry
        expired = principal.expires_at is not None and principal.expires_at <= utcnow()
        if expired or self.clock() - looked_up >= max_age:
            del self._entries[token_hash]
            return None
        return principal

    def begin(self) -> tuple[int, float]:
        """Before a lookup: what ``put`` needs to tell whether the answer is still good, and its age."""
        return self.generation, self.clock()

    def put(self, token_hash: str, principal: Principal, began: tuple[int, float]) -> None:
        """Keep ``principal``, aged from when its lookup began (a slow read must not outlive the bound)."""
        generation, looked_up = began
        if generation != self.generation:
            return  # a revocation committed while this was read: the answer may be stale
        if len(self._entries) >= _MOST_ENTRIES:
            del self._entries[next(iter(self._entries))]
        self._entries[token_hash] = (principal, looked_up)

    def forget_user(self, user_id: int) -> None:
        self.generation += 1
        for key in [k for k, (principal, _) in self._entries.items() if principal.id == user_id]:
            del self._entries[key]


def cache_for(database: Database) -> PrincipalCache:
    """The database's cache (one per app), made on first use."""
    cache = _caches.get(database.engine.sync_engine)
    if cache is None:
        cache = _caches[database.engine.sync_engine] = PrincipalCache()
    return cache


async def authenticate(database: Database, token: str, *, settings: Settings) -> Principal:
    """The principal of a bearer token: from memory if looked up less than ``token_cache_seconds`` ago."""
    if not token or len(token) > 200:
        raise NotAuthenticated("missing or malformed bearer token")
    cache, key = cache_for(database), service.token_hash(settings, token)
    principal = cache.get(key, settings.token_cache_seconds)
    if principal is not None:
        return principal
    began = cache.begin()
    async with database.read_session() as session:
        principal = await service.principal_for_token_hash(session, key)
    cache.put(key, principal, began)
    return principal


# -- forgetting what a transaction changed -----------------------------------------------------------------


def _changed(_mapper: Mapper[Any], connection: Connection, target: User | AccessToken) -> None:
    session = object_session(target)
    cache = _caches.get(connection.engine)
    if session is None or cache is None:
        return  # no cache in this process (a CLI command): the servers hear of it from the hub, or in 1 s
    changed: set[int] | None = session.info.get(_CHANGED)
    if changed is None:
        changed = session.info[_CHANGED] = set()
        session.info[_CACHE] = cache
        if not session.info.get(_HOOKED):
            # Per session, not per class: only the rare sessions that change a user pay for the hooks.
            session.info[_HOOKED] = True
            event.listen(session, "after_commit", _after_commit)
            event.listen(session, "after_soft_rollback", _after_rollback)
    changed.add(target.id if isinstance(target, User) else target.user_id)


def _after_commit(session: Session) -> None:
    changed: set[int] = session.info.pop(_CHANGED, None) or set()
    cache: PrincipalCache | None = session.info.pop(_CACHE, None)
    if cache is not None:
        for user_id in changed:
            cache.forget_user(user_id)


def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    if previous.nested:
        return  # a savepoint: what the transaction revoked before it still commits (found in review)
    session.info.pop(_CHANGED, None)
    session.info.pop(_CACHE, None)


for _model in (User, AccessToken):
    event.listen(_model, "after_update", _changed)
    event.listen(_model, "after_delete", _changed)
