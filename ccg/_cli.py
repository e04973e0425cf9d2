"""The `ccg` command (`python -m ccg`): `ccg demo` runs the walkthrough."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the command; return the exit code."""
    parser = argparse.ArgumentParser(prog="ccg", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "demo",
        help="run the seed's flow against a real Authlib server on 127.0.0.1 (needs ccg[demo])",
    )
    args = parser.parse_args(argv)
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
