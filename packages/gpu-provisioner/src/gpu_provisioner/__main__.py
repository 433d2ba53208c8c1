"""``python -m gpu_provisioner``: run the provisioner with settings from the environment.

Turns Karpenter NodeClaims (and Machines) into AKS agent pools through ARM, and deletes them when
the claims go. The Kubernetes API is reached through the in-cluster service account, or
$KUBECONFIG elsewhere. SIGTERM/SIGINT stop it gracefully.
"""

import controller_kit
from gpu_provisioner.main import run
from gpu_provisioner.settings import ENV_PREFIX, Settings


def main(argv: list[str] | None = None) -> None:
    controller_kit.run_main(
        Settings,
        run,
        prefix=ENV_PREFIX,
        prog="python -m gpu_provisioner",
        description=__doc__ or "",
        argv=argv,
    )


if __name__ == "__main__":
    main()
