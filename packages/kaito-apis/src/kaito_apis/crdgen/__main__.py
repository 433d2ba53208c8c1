"""``python -m kaito_apis.crdgen --out DIR [--check]``: write (or check) the generated CRD files."""

from __future__ import annotations

import argparse
import pathlib
import sys

from kaito_apis import crdgen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kaito_apis.crdgen", description=__doc__)
    parser.add_argument("--out", type=pathlib.Path, required=True, help="directory for the YAML")
    parser.add_argument(
        "--check", action="store_true", help="only report files that differ; exit 1 if any"
    )
    args = parser.parse_args(argv)
    stale = []
    for filename, text in crdgen.render().items():
        path = args.out / filename
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    if stale:
        print("out of date (run `make crds`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
