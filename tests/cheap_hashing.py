"""The suite's Argon2id parameters, and the console script run with them (``python -m tests.cheap_hashing``).

Still Argon2id, with the smallest cost, so that seeding users and signing in do not dominate the suite's time:
at the production parameters (argon2-cffi's defaults: 3 passes over 64 MiB in 4 lanes) one sign-in costs
this machine 0.2-1 s of CPU, and the browser tests sign in a few hundred times through the pages. The tests
that are about that cost (the event loop stays free while 20 sign-ins hash) run with the real parameters.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from argon2 import PasswordHasher

REPO_ROOT = str(Path(__file__).resolve().parents[1])


def cheap_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def command(*args: str) -> list[str]:
    """The argv of ``command-center ARGS...`` with cheap hashing (run it with ``environment``'s variables)."""
    return [sys.executable, "-m", "tests.cheap_hashing", *args]


def environment(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the repository on ``PYTHONPATH``, so ``tests.cheap_hashing`` imports from any folder."""
    path = env.get("PYTHONPATH")
    return {**env, "PYTHONPATH": REPO_ROOT + (os.pathsep + path if path else "")}


def main() -> int:
    from command_center.auth import passwords
    from command_center.cli import main as cli_main

    passwords._hasher = cheap_hasher()
    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
