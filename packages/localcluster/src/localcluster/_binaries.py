"""Where the control-plane binaries live, and which versions they are.

Why this module exists: the binaries are built by ``tools/localcluster/build.sh`` from the pins in
``tools/localcluster/versions.env`` into ``<cache>/bin/<name>-<version>/``. Python must find the
very same files without duplicating the pins, so it parses ``versions.env`` itself and only accepts
a component directory that carries the ``.stamp`` build.sh writes after a complete, verified build.
Nothing here starts a process; it only answers "where" and "is it there".
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

VERSIONS_RELPATH = Path("tools/localcluster/versions.env")
"""Location of the single version pin file, relative to the repository root."""

CACHE_ENV = "LOCALCLUSTER_CACHE"
"""Environment variable overriding the cache root (default ``<repo>/.cache``), as in build.sh."""


class BinariesMissingError(RuntimeError):
    """One or more control-plane binaries have not been built (run ``make localcluster-build``)."""


def find_repo_root(start: Path | None = None) -> Path:
    """The nearest ancestor of ``start`` (else of this file, then the cwd) with versions.env."""
    candidates = [start] if start is not None else [Path(__file__).resolve(), Path.cwd()]
    for base in candidates:
        for directory in [base, *base.parents]:
            if (directory / VERSIONS_RELPATH).is_file():
                return directory
    raise BinariesMissingError(f"cannot find {VERSIONS_RELPATH} above {candidates}")


def read_versions(path: Path) -> dict[str, str]:
    """Parse the ``KEY=value`` lines of versions.env (comments and blank lines ignored)."""
    versions: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}: not a KEY=value line: {raw!r}")
        versions[key.strip()] = value.strip()
    return versions


def default_cache_dir(repo_root: Path) -> Path:
    """The cache root build.sh uses: ``$LOCALCLUSTER_CACHE`` or ``<repo>/.cache``."""
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else repo_root / ".cache"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Binaries:
    """Absolute paths of every executable (and the kwok stage file) the cluster needs."""

    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    etcd: Path
    kwok: Path
    kwok_stages: Path
    kubectl: Path
    helm: Path
    kubernetes_version: str
    """The pinned Kubernetes release, e.g. ``v1.36.3`` (what ``/version`` must report)."""
    etcd_version: str

    @classmethod
    def locate(cls, *, cache_dir: Path | None = None, repo_root: Path | None = None) -> Binaries:
        """Find the built binaries, or raise :class:`BinariesMissingError` naming the missing."""
        root = repo_root or find_repo_root()
        versions = read_versions(root / VERSIONS_RELPATH)
        bin_dir = (cache_dir or default_cache_dir(root)) / "bin"

        def component(name: str, key: str) -> Path:
            return bin_dir / f"{name}-{versions[key]}"

        k8s = component("kubernetes", "K8S_VERSION")
        dirs = {
            "kubernetes": k8s,
            "etcd": component("etcd", "ETCD_VERSION"),
            "kwok": component("kwok", "KWOK_VERSION"),
            "helm": component("helm", "HELM_VERSION"),
            "kubectl": component("kubectl", "KUBECTL_VERSION"),
        }
        missing = [str(d) for d in dirs.values() if not (d / ".stamp").is_file()]
        if missing:
            raise BinariesMissingError(
                "local control-plane binaries are not built (run `make localcluster-build` or "
                "tools/localcluster/build.sh); missing: " + ", ".join(missing)
            )
        return cls(
            kube_apiserver=k8s / "kube-apiserver",
            kube_controller_manager=k8s / "kube-controller-manager",
            kube_scheduler=k8s / "kube-scheduler",
            etcd=dirs["etcd"] / "etcd",
            kwok=dirs["kwok"] / "kwok",
            kwok_stages=dirs["kwok"] / "stages.yaml",
            kubectl=dirs["kubectl"] / "kubectl",
            helm=dirs["helm"] / "helm",
            kubernetes_version=versions["K8S_VERSION"],
            etcd_version=versions["ETCD_VERSION"],
        )
