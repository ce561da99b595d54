"""The `fastmask` command: `fastmask encode | render | bench | conformance` (one module per subcommand)."""

from __future__ import annotations

import argparse
import sys

from fastmask import FastmaskError, __version__
from fastmask.cli import bench, conformance, encode, render

SUBCOMMANDS = (encode, render, bench, conformance)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    for module in SUBCOMMANDS:
        if getattr(module, "PASS_THROUGH", False) and argv[:1] == [module.__name__.rsplit(".", 1)[-1]]:
            return module.main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="fastmask", description="Chat conversations to token ids and assistant masks."
    )
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
