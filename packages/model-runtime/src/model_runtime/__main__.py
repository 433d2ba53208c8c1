"""``python -m model_runtime tune|push|serve|download``."""

from __future__ import annotations

import argparse
import sys

from model_runtime import contract, logs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_runtime", description=__doc__)
    parser.add_argument("command", choices=("tune", "push", "serve", "download"))
    parser.add_argument(
        "args", nargs=argparse.REMAINDER, help="download: FILE URL pairs; others: none"
    )
    args = parser.parse_args(argv)
    if args.args and args.command != "download":
        parser.error(f"{args.command} takes no arguments")
    env = contract.process_env()
    logs.configure(debug=env.get("DEBUG_MODE", "").lower() == "true")
    if args.command == "download":
        from model_runtime import downloading  # noqa: PLC0415

        return downloading.main(env, args.args)
    if args.command == "push":
        from model_runtime import pushing  # noqa: PLC0415

        return pushing.main(env)
    if args.command == "tune":
        from model_runtime import training  # noqa: PLC0415

        return training.main(env)
    from model_runtime import serving  # noqa: PLC0415

    return serving.main(env)


if __name__ == "__main__":
    sys.exit(main())
