"""``python -m gpu_provisioner``: run the provisioner with settings from the environment.

Turns Karpenter NodeClaims (and Machines) into AKS agent pools through ARM, and deletes them when
the claims go. The Kubernetes API is reached through the in-cluster service account, or
$KUBECONFIG elsewhere. SIGTERM/SIGINT stop it gracefully.
"""

import asyncio
import functools
import sys

from kubernetes_asyncio.config import ConfigException

import controller_kit
from gpu_provisioner.main import run
from gpu_provisioner.settings import ENV_PREFIX, Settings


def main(argv: list[str] | None = None) -> None:
    settings = controller_kit.settings_from_command_line(
        Settings,
        prefix=ENV_PREFIX,
        prog="python -m gpu_provisioner",
        description=__doc__ or "",
        argv=argv,
    )
    try:
        asyncio.run(controller_kit.run_until_signalled(functools.partial(run, settings)))
    except ConfigException as exc:
        print(f"python -m gpu_provisioner: no Kubernetes API configuration: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
