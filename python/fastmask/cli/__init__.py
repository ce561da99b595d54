"""The `fastmask` command: `fastmask encode | render | bench` (one module per subcommand)."""

from __future__ import annotations

import argparse
import sys

from fastmask import FastmaskError, __version__
from fastmask.cli import bench, encode, render

SUBCOMMANDS = (encode, render, bench)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastmask", description="Chat conversations to token ids and assistant masks.")
    parser.add_argument("--version", action="version", version=f"fastmask {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(commands)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except FastmaskError as err:
        print(f"fastmask {args.command}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"fastmask {args.command}: interrupted", file=sys.stderr)
        return 130
