"""``python -m kaito_stack up|down``: the local demo (``make demo`` / ``make demo-down``)."""

from __future__ import annotations

import argparse
import sys

from kaito_stack._demo import demo_down, demo_up
from kaito_stack._tools import CommandError
from localcluster import BinariesMissingError, StartupError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kaito_stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down"])
    args = parser.parse_args(argv)
    try:
        return demo_up() if args.command == "up" else demo_down()
    except (BinariesMissingError, StartupError, CommandError, TimeoutError) as exc:
        print(f"kaito_stack: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
