"""The ``command-center`` console script: one subcommand group per module, each with ``register()``.

Each module adds its subcommands to the parser and sets ``func(args) -> int`` on them; ``main`` only parses,
dispatches and turns the application's own errors into a one-line message and a non-zero exit status, so a
user never sees a traceback for a mistake they can fix.

A module imports at its top only what building the parser needs; a command imports its work when it runs,
so ``command-center --help`` and a quick command do not load the whole platform (SQLAlchemy, aiortc and PyAV,
SimPy: 2-4 s on this machine).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from command_center.cli import audit, drill, server, stream, users
from command_center.errors import CommandCenterError

__all__ = ["build_parser", "main"]

_GROUPS = (server, users, audit, drill, stream)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="command-center",
        description="Emergency command and double-blind drill platform (信访处突指挥与演练平台)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in _GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CommandCenterError as exc:
        print(f"command-center: {exc.detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
