"""Argon2id password hashing, in a small worker pool so a hash never runs on the event loop.

argon2-cffi releases the GIL while it hashes, so a hash in a worker thread leaves the loop free for everyone
else (one verify costs 50-200 ms of CPU and 64 MiB). The pool is bounded by the number of cores: a burst of
sign-ins queues for a core instead of starting dozens of 64 MiB hashes at once. Nothing is hashed at import
time; the dummy hash used for unknown users is made on first use, in the pool.

Callers must not hold a database transaction (on SQLite: the write lock) while they await these functions:
read what they need, close the transaction, hash, then write in a new one.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from command_center.auth import policy

_T = TypeVar("_T")

_hasher = PasswordHasher()  # constructing it hashes nothing; tests swap in cheaper parameters
_dummy_hash: str | None = None
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="argon2")
        return _pool


async def _in_pool(fn: Callable[..., _T], *args: object) -> _T:
    return await asyncio.get_running_loop().run_in_executor(_executor(), fn, *args)


def _dummy() -> str:
    """A hash to verify against when the user does not exist, so timing does not reveal which names exist."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("not-a-real-password")
    return _dummy_hash


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _check_and_hash(password: str, user_name: str) -> str:
    policy.check(password, user_name=user_name)
    return _hasher.hash(password)


async def hash_new_password(password: str, *, user_name: str) -> str:
    """Check the password policy, then hash; both in the pool (the policy loads its list on first use)."""
    return await _in_pool(_check_and_hash, password, user_name)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; ``None`` (no such user) costs the same time and is always False."""
    return await _in_pool(_verify, password_hash, password)


async def rehash_if_needed(password_hash: str, password: str) -> str | None:
    """A fresh hash when the stored one used older parameters, else ``None``; call only after a match."""
    if not _hasher.check_needs_rehash(password_hash):
        return None
    return await _in_pool(_hasher.hash, password)
