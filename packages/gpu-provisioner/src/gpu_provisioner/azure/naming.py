"""Agent pool names for claims. Pure.

AKS names Linux pools with 1-12 characters, a lowercase letter first, then lowercase letters and
digits. Kaito already names claims that way (``ws`` + 9 hex digits), so such a name is used as is,
as upstream does; any other name maps to ``n`` + 11 hex digits of a hash of kind and name. The
mapping is deterministic, so a restarted provisioner finds the pool it started creating.
"""

from __future__ import annotations

import hashlib
import re

POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")


def is_valid_pool_name(name: str) -> bool:
    return bool(POOL_NAME.match(name))


def pool_name(kind: str, name: str) -> str:
    """The agent pool that backs claim ``kind``/``name``."""
    if is_valid_pool_name(name):
        return name
    digest = hashlib.sha256(f"{kind.lower()}/{name}".encode()).hexdigest()
    return "n" + digest[:11]
