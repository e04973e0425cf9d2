"""The `ccg` command (`python -m ccg`): `ccg token` prints an access token; `ccg demo` runs
the walkthrough."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from typing import Final, NoReturn

from ccg import _token_command

__all__ = ["main"]

_OPTION_NAME: Final = re.compile(r"--?[A-Za-z][A-Za-z0-9-]*")
_EXPLICIT: Final = re.compile(r"ignored explicit argument .*", re.DOTALL)
"""argparse's account of `--flag=value` for a flag, which quotes the value."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, and never repeat an unknown argument
    that is not an option name (it may be a secret put where it does not belong)."""

    def error(self, message: str) -> NoReturn:
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            message = prefix + _unrecognized(message.removeprefix(prefix).split(" "))
        message = _EXPLICIT.sub("takes no value (the one given is not shown)", message)
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _unrecognized(arguments: Sequence[str]) -> str:
    shown: list[str] = []
    hidden = 0
    for argument in arguments:
        name, equals, _ = argument.partition("=")
        if _OPTION_NAME.fullmatch(name):
            shown.append(name + ("=..." if equals else ""))
        else:
            hidden += 1
    if hidden:
        shown.append(f"{hidden} other value{'s' if hidden > 1 else ''} (not shown)")
    return ", ".join(shown)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the command; return the exit code."""
    parser = _Parser(prog="ccg", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser(
        "token",
        help="get an access token with the client credentials grant and print it",
        description=_token_command.DESCRIPTION,
        epilog=_token_command.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    _token_command.configure(token)
    commands.add_parser(
        "demo",
        help="run the seed's flow against a real Authlib server on 127.0.0.1 (needs ccg[demo])",
    )
    args = parser.parse_args(argv)
    if args.command == "token":
        return _token_command.run(
            args, environ=os.environ, stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr
        )
    if args.command == "demo":
        try:
            from ccg._demo.walkthrough import run  # noqa: PLC0415 - needs the demo extra
        except ImportError as exc:
            print(
                f"ccg demo needs the demo extra: pip install 'ccg[demo]' ({exc})", file=sys.stderr
            )
            return 2
        return run()
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
