"""``python -m aks_emulator``: see :mod:`aks_emulator._cli`."""

import sys

from aks_emulator._cli import main

sys.exit(main())
