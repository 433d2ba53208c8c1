"""Entry point for ``python -m preset_catalog``; the commands live in ``_cli``."""

from __future__ import annotations

import os
import sys

from preset_catalog._cli import main

try:
    code = main()
    sys.stdout.flush()
except BrokenPipeError:
    # The reader went away (``... | head``): stop quietly, as a shell tool does on SIGPIPE, and
    # point stdout at /dev/null so that the interpreter's final flush cannot fail again.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 128 + 13
raise SystemExit(code)
