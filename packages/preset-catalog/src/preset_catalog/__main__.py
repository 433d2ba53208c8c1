"""Entry point for ``python -m preset_catalog``; the commands live in ``_cli``."""

from __future__ import annotations

from preset_catalog._cli import main

raise SystemExit(main())
