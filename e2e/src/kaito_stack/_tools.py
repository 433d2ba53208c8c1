"""kubectl and helm, run as a user runs them: with a kubeconfig, failing with their stderr."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["CommandError", "Tools"]


class CommandError(RuntimeError):
    """A kubectl or helm command failed; the message carries its stderr."""

    def __init__(self, argv: list[str], result: subprocess.CompletedProcess[str]) -> None:
        self.returncode = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr
        super().__init__(
            f"{' '.join(argv[:3])} ... exited {result.returncode}: {result.stderr.strip()}"
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Tools:
    kubectl_bin: Path
    helm_bin: Path
    kubeconfig: Path

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        return self._run(
            [str(self.kubectl_bin), "--kubeconfig", str(self.kubeconfig), *args],
            stdin=stdin,
            check=check,
        )

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def helm(self, *args: str) -> str:
        return self._run([str(self.helm_bin), "--kubeconfig", str(self.kubeconfig), *args])

    def helm_manifest(self, release: str, namespace: str) -> list[dict[str, Any]]:
        """The objects of an installed release, as helm rendered them."""
        text = self.helm("get", "manifest", release, "--namespace", namespace)
        return [doc for doc in yaml.safe_load_all(text) if doc]

    @staticmethod
    def run_python(code: str, *args: str) -> str:
        """Run a snippet in a fresh interpreter of this environment (heavy imports stay there)."""
        return Tools._run([sys.executable, "-c", code, *args])

    @staticmethod
    def _run(argv: list[str], *, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=300, check=False
        )
        if check and result.returncode != 0:
            raise CommandError(argv, result)
        return result.stdout
