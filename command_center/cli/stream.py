"""``command-center stream publish``: a field device without a browser, and the publisher tests use.

The command's work is ``command_center.cli.publishing``'s, imported when it runs, so the rest of the command
line does not load aiortc and PyAV.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path

from command_center.errors import CommandCenterError

CODEC_CHOICES = ("h264", "vp8")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stream = commands.add_parser("stream", help="live video")
    stream_commands = stream.add_subparsers(dest="stream_command", required=True, metavar="STREAM_COMMAND")
    publish = stream_commands.add_parser("publish", help="publish live video to a server (Ctrl-C to stop)")
    publish.add_argument("--server", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    publish.add_argument("--user", required=True)
    publish.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    publish.add_argument("--source", default="synthetic", help="'synthetic' (time-stamped picture) or a file")
    publish.add_argument("--incident", default=None, help="incident id to attach the stream to")
    publish.add_argument("--duration", type=float, default=None, help="stop after SECONDS (default: never)")
    publish.add_argument("--codec", choices=CODEC_CHOICES, default=None, help="video codec to offer")
    publish.add_argument(
        "--stun",
        default="",
        help="a STUN server for this device's ICE, e.g. stun:stun.section.local:3478 (default: none)",
    )
    publish.set_defaults(func=run_publish)


def run_publish(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    if args.source != "synthetic" and "://" not in args.source and not Path(args.source).is_file():
        raise CommandCenterError(f"no such media file: {args.source}")
    from command_center.cli.publishing import publish
    from streaming import StreamingError

    try:
        return asyncio.run(publish(args, password))
    except StreamingError as exc:
        raise CommandCenterError(exc.detail) from exc
